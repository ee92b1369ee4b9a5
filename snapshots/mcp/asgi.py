"""/mcp on the project's ASGI application, served by daphne like the rest.

`with_mcp(django_app)` sends `/mcp` and `/mcp/` to the MCP SDK's Streamable
HTTP app (server.py's tools) and everything else to Django, unchanged. The
protocol is all the SDK's; this module only:

- starts the SDK's session manager (below);
- checks the bearer token when PEEPSWEB_MCP_TOKEN_REQUIRED=1, with the
  ingest token check (snapshots/auth.py): reads are otherwise open, as the
  read API is;
- configures the SDK's DNS-rebinding protection (Host and Origin checks)
  from ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS, the rules the pages' CSRF
  check and the browser websocket apply: a page on another site cannot call
  the tools from a user's browser, and programs, which send no Origin, can.

Stateless, with plain JSON answers (`stateless_http`, `json_response`): each
POST is answered on its own, with no session kept in this process and no SSE
stream, so any daphne process behind a balancer can answer any request and
a restart loses nothing. The tools only read (and jump_now waits for its
pull), so there is nothing a session or a stream would carry.
"""

import asyncio

from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse

from snapshots.auth import AuthError, check_authorization
from snapshots.mcp.server import mcp

PATHS = ("/mcp", "/mcp/")
SCHEMES = ("http", "https")


def transport_security():
    """The SDK's Host/Origin checks, from the project's settings.

    Django accepts a Host in ALLOWED_HOSTS; the browser websocket accepts an
    Origin whose host is in ALLOWED_HOSTS, any scheme and port; the CSRF
    check also accepts CSRF_TRUSTED_ORIGINS. The SDK matches exact values or
    `value:*` for any port. It has no pattern for subdomains, so a
    `.example.com` entry allows example.com itself only."""
    hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = list(settings.CSRF_TRUSTED_ORIGINS)
    for host in hosts:
        origins += [f"{scheme}://{host}{port}" for scheme in SCHEMES for port in ("", ":*")]
    return TransportSecuritySettings(
        allowed_hosts=[form for host in hosts for form in (host, f"{host}:*")],
        allowed_origins=origins,
    )


class MCPApp:
    """The SDK's app, with its session manager running.

    The session manager serves requests from a task group that only exists
    inside its `run()` context, which an ASGI server enters through the
    lifespan protocol (`lifespan.startup`). daphne implements no lifespan
    protocol, so the context is entered here, on the first /mcp request, in a
    task of its own that holds it for the life of the event loop (daphne's is
    the process's). anyio lets the request tasks start work in that task
    group, as they would under a lifespan. The first request's task sets
    everything up before its first await, so concurrent first requests share
    one manager. The SDK's manager runs once only: another event loop (a test
    running the app in its own loop) gets an app and a manager of its own.
    """

    def __init__(self):
        self.loop = None
        self.app = None
        self.started = None
        self.task = None

    async def running_app(self):
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop, self.started = loop, asyncio.Event()
            self.app = mcp.streamable_http_app(
                streamable_http_path=PATHS[0],
                stateless_http=True,
                json_response=True,
                transport_security=transport_security(),
            )
            self.task = loop.create_task(self._hold(mcp.session_manager, self.started))
        if not self.started.is_set():
            await asyncio.wait(
                [self.task, asyncio.ensure_future(self.started.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self.task.done():
                self.task.result()  # run() failed: raise its error here
        return self.app

    @staticmethod
    async def _hold(manager, started):
        async with manager.run():
            started.set()
            await asyncio.Future()  # until the loop ends

    async def __call__(self, scope, receive, send):
        if settings.PEEPSWEB_MCP_TOKEN_REQUIRED:
            refused = await refusal(scope)
            if refused is not None:
                return await refused(scope, receive, send)
        app = await self.running_app()
        # Thread-sensitive database calls (server.read) of this request run
        # in a thread of its own, as Django gives each request, instead of
        # queueing behind every other request's in one shared thread. The
        # tools run in tasks the SDK starts from this one, which inherit it.
        async with ThreadSensitiveContext():
            await app(dict(scope, path=PATHS[0]), receive, send)


async def refusal(scope):
    """None when the request may use /mcp, else the JSON error to answer:
    401 without a token (once any exists), 403 for an unknown or revoked one."""
    header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    try:
        await database_sync_to_async(check_authorization)(header.decode("latin-1"))
    except AuthError as e:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse(
            {"error": e.message, "path": "Authorization"}, status_code=e.status, headers=headers
        )
    return None


def with_mcp(django_app):
    """The HTTP application: /mcp to the MCP server, the rest to Django."""
    mcp_app = MCPApp()

    async def app(scope, receive, send):
        if scope["path"] in PATHS:
            return await mcp_app(scope, receive, send)
        return await django_app(scope, receive, send)

    return app
