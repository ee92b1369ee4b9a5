"""The snapshot list (home) and one snapshot's overview."""

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.http import urlencode
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from snapshots import queries
from snapshots.pages import integrations, kinds
from snapshots.pages.views.common import render_fragment, render_page, scoped_page
from snapshots.scope import newest_snapshot

# A folded list reads more snapshots per page: in a fleet pushing every
# second most of them fold away, and 25 would leave a page of one row.
PER_PAGE = 25
PER_PAGE_FOLDED = 100


@require_safe
@vary_on_headers("HX-Request")
def home(request):
    context = home_context(request.GET)
    jump = context.pop("jump", None)
    if jump:
        # ?at= becomes the page it lands on, so the pager and a reload
        # page from there instead of jumping again.
        return HttpResponseRedirect(jump)
    response = render_page(request, "pages/home.html", context, partial="snapshot-list")
    if context["error"]:
        response.status_code = 400
    return response


def home_context(query):
    folded = query.get("fold") != "0"
    per_page = PER_PAGE_FOLDED if folded else PER_PAGE
    context = {
        "active": "home",
        "folded": folded,
        "live_window_s": settings.PEEPSWEB_LIVE_WINDOW_S,
        "known_processes": queries.known_processes(),
        "fold_min_run": queries.FOLD_MIN_RUN,
        "error": None,
        "filters": queries.ListFilters(),
        "rows": [],
        "page": None,
    }
    try:
        filters = context["filters"] = queries.ListFilters.parse(query)
        page = queries.snapshot_list(query.get("page"), per_page, filters)
    except queries.QueryError as e:
        context["error"] = e
        return context
    if filters.at_ns is not None and page.at_id is not None:
        params = {**filters.params(), "page": page.page}
        if not folded:
            params["fold"] = "0"
        # `shown` keeps the target out of a fold and marks it on the page.
        params["shown"] = page.at_id
        context["jump"] = f"?{urlencode(params)}#snapshot-{page.at_id}"
        return context
    shown = query.get("shown", "")
    shown = int(shown) if shown.isdigit() and len(shown) <= 18 else None  # only a mark: no 400
    rows = queries.fold(page.items, keep=shown) if folded else page.items
    # The cycle finder runs for shown rows only; a fold says whether a cycle
    # of its own process was there all along (cycle_key) without it.
    integrations.fill_cycle_counts([r for r in rows if isinstance(r, queries.SnapshotRow)])
    context.update(page=page, rows=rows, shown=shown, at_missed=filters.at_ns is not None)
    return context


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
    if scope.is_live and not summary.processes:
        # Nothing in the window: the fleet stopped pushing (or the service
        # is stuck so hard that it cannot). Say where the newest data is.
        context["newest"] = newest_snapshot()
        context["live_window_s"] = settings.PEEPSWEB_LIVE_WINDOW_S
    return context


def overview_fragment(scope):
    """The overview's htmx fragment (body and banner); pushed live."""
    return render_fragment("pages/overview.html", OVERVIEW_PARTIALS, overview_context(scope))
