"""The snapshot list (home) and one snapshot's overview."""

from django.conf import settings
from django.http import Http404
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from snapshots import queries
from snapshots.pages import integrations, kinds
from snapshots.pages.views.common import render_page, scoped_page


@require_safe
@vary_on_headers("HX-Request")
def home(request):
    try:
        page = queries.snapshot_list(page=request.GET.get("page"), per_page=25)
    except queries.QueryError:
        raise Http404("No such page of snapshots.") from None
    rows = page.items
    integrations.fill_cycle_counts(rows)
    context = {
        "active": "home",
        "page": page,
        "rows": rows,
        "live_window_s": settings.PEEPSWEB_LIVE_WINDOW_S,
    }
    return render_page(request, "pages/home.html", context, partial="snapshot-list")


@scoped_page
def overview(request):
    scope = request.snapshot_scope
    summary = queries.scope_summary(scope)
    context = {
        "active": "overview",
        "summary": summary,
        "kind_links": kinds.kind_links(summary.kind_counts),
        "max_state": max(summary.state_counts.values(), default=0),
        "max_kind": max(summary.kind_counts.values(), default=0),
        "stuck_request_s": settings.PEEPSWEB_STUCK_REQUEST_S,
    }
    context.update(integrations.cycle_context(scope))
    context.update(integrations.stuck_context(scope))
    return render_page(request, "pages/overview.html", context, partial="overview-body")
