"""Where distributed stalls hide: cross-process edges that do not resolve,
and requests that never got an answer."""

from django.conf import settings

from snapshots import queries
from snapshots.pages import integrations
from snapshots.pages.views.common import render_page, scoped_page

MAX_THRESHOLD_S = 10**9  # keeps the ns threshold inside a BIGINT


@scoped_page
def unresolved(request):
    scope = request.snapshot_scope
    context = {
        "active": "unresolved",
        "edges": queries.unresolved_edges(scope),
        **integrations.cycle_context(scope),
    }
    return render_page(request, "pages/unresolved.html", context)


def _threshold_s(raw):
    """?older_than=<seconds> (decimals allowed); the setting when absent or bad."""
    default = settings.PEEPSWEB_STUCK_REQUEST_S
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default, raw not in (None, "")
    if not 0 <= value <= MAX_THRESHOLD_S:
        return default, True
    return value, False


@scoped_page
def stuck_requests(request):
    scope = request.snapshot_scope
    threshold_s, bad = _threshold_s(request.GET.get("older_than"))
    rows = queries.stuck_requests(scope, older_than_ns=int(threshold_s * 1_000_000_000))
    context = {
        "active": "stuck_requests",
        "rows": rows,
        "threshold_s": threshold_s,
        "bad_threshold": bad,
        "default_threshold_s": settings.PEEPSWEB_STUCK_REQUEST_S,
        **integrations.cycle_context(scope),
    }
    return render_page(request, "pages/stuck_requests.html", context, partial="stuck-table")
