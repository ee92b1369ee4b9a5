"""Jump to now (POST /api/v1/jump-now) and the connected agents (API + page)."""

from functools import wraps

import orjson
from asgiref.sync import sync_to_async
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from snapshots.api.views import json_error, json_response, method_not_allowed, read_view
from snapshots.auth import AuthError, bearer_token, check_authorization
from snapshots.live import pull
from snapshots.models import Agent
from snapshots.pages.views.common import render_fragment, render_page


def _no_view(request):  # CsrfViewMiddleware wants a get_response
    return None


def bearer_or_csrf(view):
    """Scripts send the ingest bearer token; the header's button sends the
    CSRF token. A bearer token cannot be forged by another site: browsers
    never add one by themselves, and a page cannot set it cross-site without
    a CORS preflight this server never grants. So a valid one replaces the
    CSRF check. Any other Authorization header (Basic, Digest, Negotiate)
    may be the browser's cached credentials riding along on a cross-site
    form POST: those requests get the CSRF check like any other."""

    @csrf_exempt
    @wraps(view)
    async def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization")
        if bearer_token(header) is not None:
            try:
                await sync_to_async(check_authorization)(header)
            except AuthError as err:
                return json_error(err.status, err.message, "Authorization")
        else:
            refused = CsrfViewMiddleware(_no_view).process_view(request, None, (), {})
            if refused is not None:
                return json_error(403, "CSRF check failed: reload the page", "")
        return await view(request, *args, **kwargs)

    return wrapper


def timeout_from(request):
    """`timeout_ms` from a JSON body, a form field or the query string."""
    raw = request.GET.get("timeout_ms") or request.POST.get("timeout_ms")
    if raw is None and request.content_type == "application/json" and request.body:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise ValueError("body is not JSON") from None
        raw = body.get("timeout_ms") if isinstance(body, dict) else None
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ValueError("timeout_ms must be an integer") from None


@bearer_or_csrf
async def jump_now(request):
    """Take one snapshot of every connected agent; answer when it is complete
    (every agent replied, or the timeout passed)."""
    if request.method != "POST":
        return method_not_allowed(request, ("POST",))
    try:
        timeout_ms = timeout_from(request)
    except ValueError as err:
        return json_error(400, str(err), "timeout_ms")
    try:
        result = await pull.run_pull(timeout_ms)
    except pull.PullRefused as err:
        # JSON for the header's button too, like every other error: live.js
        # shows any error's message the same way.
        return json_error(409, str(err))
    if request.htmx:
        return render(request, "live/_jump_result.html", {"result": result, **result.counts()})
    return json_response(result.as_json(), status=201)


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def agent_list():
    return list(Agent.objects.alive().order_by("proc_key", "connected_at"))


@read_view  # JSON errors, and a JSON 405 for any other method (before a CSRF 403)
def agents_api(request):
    return json_response(
        {
            "agents": [
                {
                    "process": a.process,
                    "pid": a.pid,
                    "proc_key": a.proc_key,
                    "connected_at": _iso(a.connected_at),
                    "last_seen_at": _iso(a.last_seen_at),
                }
                for a in agent_list()
            ]
        }
    )


@require_GET
@vary_on_headers("HX-Request")
def agents_page(request):
    context = {"active": "agents", "agents": agent_list()}
    return render_page(request, "live/agents.html", context, partial="agents-table")


def agents_fragment():
    """The agents table; pushed live."""
    return render_fragment("live/agents.html", "agents-table", {"agents": agent_list()})
