"""Pending backtraces of a scope, grouped by identical stack."""

from snapshots import queries
from snapshots.pages import integrations, stacks
from snapshots.pages.views.common import render_page, scoped_page


@scoped_page
def backtraces(request):
    scope = request.snapshot_scope
    traces = queries.scope_pending_traces(scope)
    buckets, hidden = stacks.group_by_stack(traces)
    shown_ids = [t["node_id"] for b in buckets for t in b.shown_traces]
    context = {
        "active": "backtraces",
        "trace_count": len(traces),
        "buckets": buckets,
        "hidden_buckets": hidden,
        "tree": stacks.stack_tree(buckets),
        "nodes": queries.node_briefs(scope, shown_ids),
        **integrations.cycle_context(scope),
    }
    return render_page(request, "pages/backtraces.html", context)
