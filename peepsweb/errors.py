"""Project-wide error handlers: API clients get JSON, people get the page.

A database that cannot be reached (down, restarting, out of connections) is
a 503 with Retry-After for every request, pages and API alike, with its
cause logged: the next request reconnects, so the server recovers by itself
once the database is back. Ingest answers the same 503 (snapshots/api/ingest.py).
"""

import logging

from django.db import InterfaceError, OperationalError
from django.shortcuts import render

from snapshots.api.ingest import RETRY_AFTER_S
from snapshots.api.views import json_error

log = logging.getLogger(__name__)
# What Django raises when the connection cannot be opened, was lost, or the
# database refuses more work for now (too many clients, a lock timeout).
STORAGE_ERRORS = (OperationalError, InterfaceError)


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return json_error(404, f"no API endpoint at {request.path}", path="url")
    # A view's Http404 says why in words; a URL that no route matches gets
    # the resolver's exception, whose only words are its class name
    # ("Resolver404"): the page then says that nothing lives at the path.
    message = exception.args[0] if exception.args else ""
    context = {
        "request_path": request.path,
        "exception": message if isinstance(message, str) else "",
    }
    return render(request, "404.html", context, status=404)


def storage_unavailable(request, exc):
    """The 503 for a request that hit STORAGE_ERRORS: JSON under /api/, a page otherwise."""
    # One line with the cause, no traceback: during an outage every request
    # fails the same way.
    log.warning(
        "storage unavailable, answering 503 to %s %s: %s: %s",
        request.method,
        request.path,
        type(exc).__name__,
        str(exc).strip() or repr(exc),
    )
    if request.path.startswith("/api/"):
        response = json_error(503, "storage unavailable, try again later")
    else:
        response = render(request, "503.html", {"retry_after_s": RETRY_AFTER_S}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class StorageUnavailableMiddleware:
    """Turns STORAGE_ERRORS raised by any view into storage_unavailable's 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, STORAGE_ERRORS):
            return storage_unavailable(request, exception)
        return None
