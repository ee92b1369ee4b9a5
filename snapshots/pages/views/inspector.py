"""The node inspector and the plain-text download of pending traces."""

from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify

from snapshots import history, queries
from snapshots.cycles import stuck
from snapshots.models import ProcessSnapshot
from snapshots.pages import integrations, kinds
from snapshots.pages.formatting import format_ns_datetime
from snapshots.pages.traces import readable_attrs, trace_as_text
from snapshots.pages.views.common import render_page, scoped_page
from snapshots.queries import QueryError
from snapshots.scope import HAS_DATA
from snapshots.templatetags.peeps import css_state, node_path

# The inspector's timeline strip: the node in this many captures of its
# process, up to the one shown.
STRIP_CAPTURES = 60


def _detail_or_404(scope, node_id):
    try:
        return queries.node_detail(scope, node_id)
    except queries.NodeNotFound:
        raise _not_found(scope, node_id) from None


def _not_found(scope, node_id):
    where = "the live view" if scope.is_live else f"snapshot {scope.key}"
    return Http404(f"No node {node_id!r} in {where}.")


@scoped_page
def node(request, node_id):
    return _node(request, node_id)


def _node(request, node_id):
    scope = request.snapshot_scope
    try:
        detail = queries.node_detail(scope, node_id)
    except queries.NodeNotFound:
        left = _left_live_view(request, node_id) if scope.is_live else None
        if left is None:
            raise _not_found(scope, node_id) from None
        return left
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
    context["history"] = _history_strip(n)
    return render_page(request, "pages/node.html", context)


def _history_strip(n):
    """The node's state in the last STRIP_CAPTURES captures of its process up
    to the shown one, a cell each. Two queries whatever the history's
    length; the whole history's facts (first seen, waiting since) are a
    fragment the page loads after (node_history_facts), so the page's cost
    does not grow with the hours retention keeps."""
    captures = history.recent(n.proc_key, n.process_id, STRIP_CAPTURES)
    versions = history.node_versions(captures, [n.node_id])[n.node_id]
    cells = []
    for capture, version in history.timeline(captures, versions):
        if version is None:  # the capture has no such node: link the capture
            cls, state = "absent", "absent"
            url = reverse("pages:overview", args=[capture.snapshot_id])
        elif not version.state_class:  # not a task: no state, just there
            cls, state = "present", "present"
            url = node_path(capture.snapshot_id, n.node_id)
        else:
            cls = f"state-{css_state(version.state_class)}"
            state = version.state or version.state_class
            url = node_path(capture.snapshot_id, n.node_id)
        cells.append(
            {
                "cls": cls,
                # Formatted here, once: the template's filters per cell cost
                # more than the two queries.
                "title": f"{format_ns_datetime(capture.captured_at_ns)} · {state}",
                "url": url,
                "current": capture.id == n.process_id,
            }
        )
    facts_url = reverse("pages:node_history_facts", args=[n.process.snapshot_id])
    query = urlencode({"id": n.node_id, "capture": n.process_id})
    return {"cells": cells, "facts_url": f"{facts_url}?{query}"}


@scoped_page
def node_history_facts(request):
    """?id=<node id>&capture=<process capture id>: the facts of the node's
    whole history up to that capture (first seen, waiting since, no
    progress since, how many captures), the fragment the inspector's strip
    loads after the page."""
    node_id = request.GET.get("id") or ""
    capture_id = request.GET.get("capture") or ""
    if not (capture_id.isascii() and capture_id.isdigit()):
        return render(
            request,
            "pages/bad_request.html",
            {"error": QueryError("capture", "capture must be a process capture id")},
            status=400,
        )
    h = capture = None
    if int(capture_id) in request.snapshot_scope.process_ids:
        # None when retention just removed it.
        capture = ProcessSnapshot.objects.filter(id=int(capture_id)).first()
    if capture is not None:
        h = history.node_history(node_id, capture.proc_key, up_to=capture.id)
    if h is None:
        raise Http404(f"No node {node_id!r} in that capture.")
    context = {
        "h": h,
        # The overview's "Stuck across snapshots" figure for this node, from
        # the same function: two different "since" times, named apart.
        "no_progress": stuck.no_progress_since(capture, node_id, [step[0] for step in h.timeline]),
        "node_id": node_id,
        "shown": h.timeline[-1][0],
        "first_seen_url": node_path(h.first_seen.snapshot_id, node_id),
    }
    return render(request, "pages/_node_history_facts.html", context)


def _left_live_view(request, node_id):
    """A 404 page for a node that is not in the live view but was captured
    before: it says why (its process went quiet, or its newest capture does
    not have it) and links to the node's last capture. None if the live view
    has the node, or no capture ever did."""
    scope = request.snapshot_scope
    # Node ids are `{kind}:{proc_key}:{rest}`: only that process's captures
    # can hold it, and its versions are indexed by (segment, node_id).
    parts = node_id.split(":", 2)
    if len(parts) < 3:
        return None
    lineage = history.lineage(parts[1])
    versions = history.node_versions(lineage, [node_id])[node_id]
    seen = [c for c, v in history.timeline(lineage, versions) if v is not None]
    if not seen:
        return None
    captures = ProcessSnapshot.objects.filter(proc_key=parts[1], status__in=HAS_DATA)
    last = captures.get(id=seen[-1].id)
    context = {
        "node_id": node_id,
        "proc_key": parts[1],
        "last": last,
        "last_url": node_path(last.snapshot_id, node_id),
        "process_live": captures.filter(id__in=scope.process_ids).exists(),
        "window_s": settings.PEEPSWEB_LIVE_WINDOW_S,
    }
    response = render_page(request, "pages/node_left_live.html", context)
    response.status_code = 404
    return response


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
