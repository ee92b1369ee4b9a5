"""Ingest tokens: `Authorization: Bearer <token>` for POSTs and agent websockets.

Only a SHA-256 of each token is stored (IngestToken). While no token exists
the server is open, which is what local use wants; as soon as one token has
been created (even if since revoked) every ingest must carry a valid one.
Revoking the last token must not silently reopen the server.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from snapshots.models import IngestToken

# last_used_at is informative; writing it on every POST would add a row
# lock to every ingest, so it is refreshed at most once a minute.
TOUCH_EVERY = timedelta(minutes=1)


class AuthError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(header):
    """'Bearer abc' -> 'abc'; None for a missing or other kind of header."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_authorization(header):
    """Check an Authorization header value. Returns the IngestToken used (None
    when the server is open); raises AuthError(401) when a token is needed
    but missing and AuthError(403) when it is unknown or revoked."""
    raw = bearer_token(header)
    if raw is None:
        if IngestToken.objects.exists():
            raise AuthError(401, "an ingest token is required: Authorization: Bearer <token>")
        return None
    token = IngestToken.objects.filter(token_hash=IngestToken.hash(raw)).first()
    if token is None:
        if not IngestToken.objects.exists():
            return None  # open server: a token is welcome but not checked
        raise AuthError(403, "unknown ingest token")
    if token.revoked_at is not None:
        raise AuthError(403, f"ingest token {token.name!r} has been revoked")
    now = timezone.now()
    IngestToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_EVERY), pk=token.pk
    ).update(last_used_at=now)
    return token


def token_allows(header):
    """True when an Authorization header value may ingest (websocket handshakes)."""
    try:
        check_authorization(header)
    except AuthError:
        return False
    return True
