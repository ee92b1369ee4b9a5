import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peepsweb.settings")

# Django's handler with a body reader that does not hop threads per 8 KB
# chunk (large snapshot POSTs; see the module). It also sets Django up, which
# must happen before anything imports models (the consumers do).
from peepsweb.handler import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from snapshots.mcp.asgi import with_mcp  # noqa: E402
from snapshots.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # /mcp is the MCP server (snapshots/mcp/), everything else Django.
        "http": with_mcp(django_asgi_app),
        # Origin checks are per route (snapshots/routing.py): browser pages are
        # checked against ALLOWED_HOSTS; agents send no Origin and use a token.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
