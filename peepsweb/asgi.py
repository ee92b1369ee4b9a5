import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peepsweb.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from snapshots.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin checks are per route (snapshots/routing.py): browser pages are
        # checked against ALLOWED_HOSTS; agents send no Origin and use a token.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
