"""Project-wide error handlers: API clients get JSON, people get the page."""

from django.views import defaults

from snapshots.api.views import json_error


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return json_error(404, f"no API endpoint at {request.path}", path="url")
    return defaults.page_not_found(request, exception)
