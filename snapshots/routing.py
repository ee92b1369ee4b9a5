"""Websocket routes. The live-updates and agent consumers register here.

Each route states its own origin policy: browser pages are checked against
ALLOWED_HOSTS (a foreign site must not read a user's updates), agents are
programs that send no Origin header and authenticate with the ingest bearer
token instead (snapshots/live/consumers.py).
"""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from snapshots.live.consumers import AgentConsumer, UpdatesConsumer

websocket_urlpatterns = [
    path("ws/updates/", AllowedHostsOriginValidator(UpdatesConsumer.as_asgi())),
    path("ws/agent/", AgentConsumer.as_asgi()),
]
