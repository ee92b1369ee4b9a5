"""Websocket routes. The live-updates and agent consumers register here."""

websocket_urlpatterns = []
