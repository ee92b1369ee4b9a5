"""Pending backtraces of a scope, grouped by identical stack: the groups
longest wait first, collapsed, a page of them at a time ("show more groups"
appends the next one with htmx, or opens it as a page without JavaScript),
searchable by frame text and filtered by how long a task has been pending."""

from snapshots import queries
from snapshots.gc_pause import paused_gc
from snapshots.pages import integrations, stacks
from snapshots.pages.views.common import render_page, scoped_page

# Groups per page: at 5,000 distinct stacks the page must stay under 300 KB.
GROUPS_PER_PAGE = 40
MAX_MIN_MS = 10**12  # 31 years: any bigger bound is a typo
MAX_OFFSET = 10**9


@scoped_page
def backtraces(request):
    scope = request.snapshot_scope
    context = {"active": "backtraces", **integrations.cycle_context(scope)}
    try:
        q, min_ms, offset = _filters(request.GET)
    except queries.QueryError as e:
        context.update(error=e, q=request.GET.get("q", ""), min_ms=request.GET.get("min_ms", ""))
        response = render_page(request, "pages/backtraces.html", context, partial="results")
        response.status_code = 400
        return response

    # Tens of thousands of small dicts (traces, frames, the tree's nodes)
    # and no reference cycle: the collector's passes over them were 80% of
    # the tree's time at 5,000 stacks.
    with paused_gc():
        traces = queries.scope_pending_traces(scope)
        total_traces = len(traces)
        if min_ms:
            traces = [t for t in traces if (t["duration_us"] or 0) >= min_ms * 1000]
        buckets = stacks.group_by_stack(traces)
        if q:
            buckets = stacks.search(buckets, q)
        tree, tree_complete = stacks.stack_tree(buckets)
    shown = buckets[offset : offset + GROUPS_PER_PAGE]
    for row in tree:
        if row.get("bucket"):
            row["bucket"].href = _group_href(request.GET, row["bucket"].number, offset)
    next_offset = offset + GROUPS_PER_PAGE if offset + GROUPS_PER_PAGE < len(buckets) else None
    context.update(
        {
            "q": q,
            "min_ms": min_ms or "",
            "total_traces": total_traces,
            "matching_traces": sum(b.count for b in buckets),
            "group_count": len(buckets),
            "buckets": shown,
            "offset": offset,
            "next_offset": next_offset,
            "remaining": len(buckets) - offset - len(shown),
            "next_count": min(GROUPS_PER_PAGE, len(buckets) - offset - len(shown)),
            "tree": tree,
            "tree_complete": tree_complete,
            "nodes": queries.node_briefs(
                scope, [t["node_id"] for b in shown for t in b.shown_traces]
            ),
        }
    )
    # "Show more groups" asks for a later offset and gets only the groups and
    # the next button; the search form (offset 0) gets the whole result.
    partial = "more-groups" if offset else "results"
    return render_page(request, "pages/backtraces.html", context, partial=partial)


def _filters(get):
    """(q, min_ms, offset) from the URL; QueryError naming a bad one."""
    q = (get.get("q") or "").strip()
    queries.refuse_nul("q", q)
    if len(q) > queries.MAX_Q_CHARS:
        raise queries.QueryError("q", f"q is longer than {queries.MAX_Q_CHARS} characters")
    min_ms = _whole_number(get, "min_ms", MAX_MIN_MS, "a whole number of milliseconds")
    offset = _whole_number(get, "offset", MAX_OFFSET, "a whole number of groups")
    return q, min_ms, offset


def _whole_number(get, name, maximum, what):
    value = (get.get(name) or "").strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        raise queries.QueryError(name, f"{name} must be {what} from 0 to {maximum:,}")
    return int(value)


def _group_href(get, number, offset):
    """The tree's link to group `number`: its anchor when this page lists it,
    else the page (offset) that lists it, filters kept."""
    if offset < number <= offset + GROUPS_PER_PAGE:
        return f"#stack-{number}"
    params = get.copy()
    params.pop("offset", None)
    page_offset = (number - 1) // GROUPS_PER_PAGE * GROUPS_PER_PAGE
    if page_offset:
        params["offset"] = str(page_offset)
    return f"?{params.urlencode()}#stack-{number}"
