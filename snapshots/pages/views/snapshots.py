"""The snapshot list (home) and one snapshot's overview."""

from django.conf import settings
from django.http import Http404
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from snapshots import queries
from snapshots.pages import integrations, kinds
from snapshots.pages.views.common import render_fragment, render_page, scoped_page


@require_safe
@vary_on_headers("HX-Request")
def home(request):
    context = home_context(request.GET)
    return render_page(request, "pages/home.html", context, partial="snapshot-list")


def home_context(query):
    try:
        page = queries.snapshot_list(page=query.get("page"), per_page=25)
    except queries.QueryError:
        raise Http404("No such page of snapshots.") from None
    rows = page.items
    integrations.fill_cycle_counts(rows)
    return {
        "active": "home",
        "page": page,
        "rows": rows,
        "live_window_s": settings.PEEPSWEB_LIVE_WINDOW_S,
    }


def home_fragment(query):
    """The list's htmx fragment for `query`; pushed live for no query."""
    return render_fragment("pages/home.html", "snapshot-list", home_context(query))


# The banner is pushed with the body: a cycle forming or resolving while the
# overview is open must show (or clear) it.
OVERVIEW_PARTIALS = ("overview-body", "scope-banner")


@scoped_page
def overview(request):
    context = overview_context(request.snapshot_scope)
    return render_page(request, "pages/overview.html", context, partial=OVERVIEW_PARTIALS)


def overview_context(scope):
    summary = queries.scope_summary(scope)
    context = {
        "scope": scope,
        "active": "overview",
        "summary": summary,
        "kind_links": kinds.kind_links(summary.kind_counts),
        "max_state": max(summary.state_counts.values(), default=0),
        "max_kind": max(summary.kind_counts.values(), default=0),
        "stuck_request_s": settings.PEEPSWEB_STUCK_REQUEST_S,
    }
    context.update(integrations.cycle_context(scope))
    context.update(integrations.stuck_context(scope))
    return context


def overview_fragment(scope):
    """The overview's htmx fragment (body and banner); pushed live."""
    return render_fragment("pages/overview.html", OVERVIEW_PARTIALS, overview_context(scope))
