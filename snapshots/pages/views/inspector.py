"""The node inspector and the plain-text download of pending traces."""

from django.http import Http404, HttpResponse
from django.utils.text import slugify

from snapshots import queries
from snapshots.pages import integrations, kinds
from snapshots.pages.traces import readable_attrs, trace_as_text
from snapshots.pages.views.common import render_page, scoped_page


def _detail_or_404(scope, node_id):
    try:
        return queries.node_detail(scope, node_id)
    except queries.NodeNotFound:
        where = "the live view" if scope.is_live else f"snapshot {scope.key}"
        raise Http404(f"No node {node_id!r} in {where}.") from None


@scoped_page
def node(request, node_id):
    return _node(request, node_id)


def _node(request, node_id):
    scope = request.snapshot_scope
    detail = _detail_or_404(scope, node_id)
    n = detail.node
    captured_ns = n.process.captured_at_ns
    traces = [dict(t, text=trace_as_text(n, t)) for t in detail.pending_traces]
    context = {
        "detail": detail,
        "node": n,
        "captured_ns": captured_ns,
        "attrs": readable_attrs(n.attrs, captured_ns),
        "traces": traces,
        "kind_slug": kinds.group_of(n.kind) or n.kind,
        **integrations.cycle_context(scope),
    }
    context["in_cycle"] = n.node_id in context["cycle_members"]
    return render_page(request, "pages/node.html", context)


@scoped_page
def node_by_query(request):
    return _node(request, request.GET.get("id") or "")


@scoped_page
def trace_text(request):
    """?node=<id>[&at_ns=<ns>] as text/plain: one trace, or all of the node's
    (newest first). `download=1` makes the browser save it as a file."""
    scope = request.snapshot_scope
    node_id = request.GET.get("node") or ""
    detail = _detail_or_404(scope, node_id)
    traces = detail.pending_traces
    at_ns = request.GET.get("at_ns")
    if at_ns:
        traces = [t for t in traces if str(t["at_ns"]) == at_ns]
    if not traces:
        raise Http404("No such pending trace.")
    body = "\n".join(trace_as_text(detail.node, t) for t in traces)
    # text/plain plus nosniff (SecurityMiddleware): frame text is never HTML here.
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    if request.GET.get("download"):
        name = slugify(f"trace-{scope.key}-{node_id}")[:120] or "trace"
        response["Content-Disposition"] = f'attachment; filename="{name}.txt"'
    return response
