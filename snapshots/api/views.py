"""The read API of SNAPSHOT_FORMAT.md: parse parameters, call
snapshots.queries, answer JSON. Errors are `{"error": ..., "path": ...}` where
`path` names the offending input: a query parameter (`sort`) or a URL part
(`id`, `node_id`)."""

from functools import wraps
from urllib.parse import urlencode

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from snapshots import history, queries
from snapshots.api import openapi
from snapshots.cycles import stuck
from snapshots.diffs import diff as diffs
from snapshots.ingest.validate import PROC_KEY_RE
from snapshots.models import ProcessSnapshot
from snapshots.queries import NodeNotFound, QueryError, ns_to_datetime
from snapshots.scope import ScopeNotFound, resolve_scope


def json_response(data, status=200, headers=None):
    # orjson: a 500-row page of attrs serializes several times faster than json.
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    return HttpResponse(body, status=status, content_type="application/json", headers=headers)


def json_error(status, message, path="", headers=None):
    return json_response({"error": message, "path": path}, status=status, headers=headers)


def method_not_allowed(request, allowed):
    """The JSON 405 of every JSON endpoint; `allowed` is the Allow header's list."""
    return json_error(
        405, f"method {request.method} not allowed", "", headers={"Allow": ", ".join(allowed)}
    )


def read_view(view):
    """GET/HEAD only, and read errors become JSON: unknown snapshot or node
    404, bad parameter 400."""

    # Exempt: a read view changes nothing and answers any other method with
    # its own JSON 405, which the CSRF check would otherwise pre-empt with
    # an HTML 403.
    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, ("GET", "HEAD"))
        try:
            return view(request, *args, **kwargs)
        except ScopeNotFound as e:
            return json_error(404, str(e), "id")
        except NodeNotFound as e:
            return json_error(404, str(e), "node_id")
        except QueryError as e:
            return json_error(400, e.message, e.param)

    return wrapper


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def _page_links(request, page, **fixed):
    """Pagination of `page`; `fixed` parameters are set in its links."""

    def link(number):
        params = request.GET.copy()
        for name, value in fixed.items():
            params[name] = value  # replaces; QueryDict.update would append
        params["page"] = str(number)
        return f"{request.path}?{urlencode(params, doseq=True)}"

    return {
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "num_pages": page.num_pages,
        "next": link(page.page + 1) if page.has_next else None,
        "previous": link(page.page - 1) if page.has_previous else None,
    }


def _process_json(p):
    return {
        "process": p.process,
        "proc_key": p.proc_key,
        "pid": p.pid,
        "status": p.status,
        "captured_at_ns": p.captured_at_ns,
        "received_at": _iso(p.received_at),
        "node_count": p.node_count,
        "edge_count": p.edge_count,
    }


def node_json(n):
    return {
        "node_id": n.node_id,
        "kind": n.kind,
        "label": n.label,
        "proc_key": n.proc_key,
        "process": n.process.process,
        "attrs": n.attrs,
        "task_id": n.task_id,
        "state": n.state or None,
        "state_class": n.state_class or None,
        "spawned_at_ns": n.spawned_at_ns,
        "age_ns": n.age_ns,
        "pending_us": n.pending_us,
        "needs_count": n.needs_count,
        "needed_by_count": n.needed_by_count,
        "last_waker": n.last_waker or None,
    }


def _scope_id(scope):
    return "live" if scope.is_live else int(scope.key)


@read_view
def snapshot_list(request):
    filters = queries.ListFilters.parse(request.GET)
    page = queries.snapshot_list(request.GET.get("page"), request.GET.get("per_page"), filters)
    items = [
        {
            "snapshot_id": row.snapshot_id,
            "kind": row.snapshot.kind,
            "status": row.snapshot.status,
            "captured_at": _iso(row.captured_at),
            "captured_at_ns": row.captured_at_ns,
            "processes": [_process_json(p) for p in row.processes],
            "node_count": row.snapshot.node_count,
            "edge_count": row.snapshot.edge_count,
            "task_states": row.state_counts,
            "cycle_candidates": row.cycle_candidates,
            "quiet": row.quiet,
            "local_cycle": row.has_local_cycle,
        }
        for row in page.items
    ]
    # After an ?at= jump the links page from where it landed, without `at`.
    fixed = {"at": ""} if filters.at_ns is not None else {}
    return json_response(
        {"snapshots": items, "at_snapshot_id": page.at_id, **_page_links(request, page, **fixed)}
    )


@read_view
def snapshot_summary(request, scope):
    scope = resolve_scope(scope)
    s = queries.scope_summary(scope)
    base = f"/api/v1/snapshots/{scope.key}"
    return json_response(
        {
            "snapshot_id": _scope_id(scope),
            "live": scope.is_live,
            "status": scope.snapshot.status if scope.snapshot else None,
            "captured_at": _iso(ns_to_datetime(s.captured_at_ns)),
            "captured_at_ns": s.captured_at_ns,
            "skew_ns": s.skew_ns,
            "processes": [_process_json(p) for p in s.processes],
            "node_count": s.node_count,
            "edge_count": s.edge_count,
            "cross_edge_count": s.cross_edge_count,
            "unresolved_edge_count": s.unresolved_edge_count,
            "wake_event_count": s.wake_event_count,
            "pending_trace_count": s.pending_trace_count,
            "kinds": s.kind_counts,
            "task_states": s.state_counts,
            "links": {"nodes": f"{base}/nodes", "cycles": f"{base}/cycles"},
        }
    )


@read_view
def node_list(request, scope):
    scope = resolve_scope(scope)
    kwargs = queries.node_page_kwargs(request.GET)
    page = queries.node_page(scope, **kwargs)
    return json_response(
        {
            "snapshot_id": _scope_id(scope),
            "sort": kwargs["sort"],
            "nodes": [node_json(n) for n in page.items],
            **_page_links(request, page),
        }
    )


@read_view
def node_detail(request, scope, node_id):
    scope = resolve_scope(scope)
    d = queries.node_detail(scope, node_id)
    return json_response(
        {
            "snapshot_id": _scope_id(scope),
            "node": node_json(d.node),
            "needs": d.needs,
            "needs_total": d.needs_total,
            "needed_by": d.needed_by,
            "needed_by_total": d.needed_by_total,
            "wake_sources": d.wake_sources,
            "wake_events": d.wake_events,
            "wake_event_total": d.wake_event_total,
            "pending_traces": d.pending_traces,
            "pending_trace_total": d.pending_trace_total,
        }
    )


def _diff_side(scope):
    return {
        "snapshot_id": _scope_id(scope),
        "live": scope.is_live,
        "captured_at_ns": max((c[2] or 0 for c in scope.captures), default=None) or None,
    }


@read_view
def snapshot_diff(request, a, b):
    """What changed from scope `a` to scope `b`: every section's count, and
    one page of each section (or of `section` only)."""
    scopes = {}
    for name, key in (("a", a), ("b", b)):
        try:
            scopes[name] = resolve_scope(key)
        except ScopeNotFound as e:
            return json_error(404, str(e), name)
    section = request.GET.get("section") or None
    if section is not None and section not in diffs.SECTIONS:
        raise QueryError(
            "section", f"unknown section {section!r}; use one of " + ", ".join(diffs.SECTIONS)
        )
    # The node list's page/per_page rules (queries._check_page, not public yet).
    page, per_page = queries._check_page(request.GET.get("page"), request.GET.get("per_page"))
    d = diffs.diff(scopes["a"], scopes["b"])
    body = {
        "a": _diff_side(scopes["a"]),
        "b": _diff_side(scopes["b"]),
        "counts": d.counts(),
        "page": page,
        "per_page": per_page,
    }
    for name in diffs.SECTIONS if section is None else (section,):
        body[name] = d.items(name, page, per_page)
        # Each section pages alone: its links name it with `section`.
        body.setdefault("pages", {})[name] = _page_links(
            request, queries.Page([], d.count(name), page, per_page), section=name
        )
    return json_response(body)


# A node id in several processes: the 400 names this many of them.
HISTORY_CANDIDATES_SHOWN = 20


@read_view
def node_history(request):
    """?node=<id>[&process=<proc_key>][&snapshot=<scope key>]: the node in
    each capture of its process up to the one in `snapshot` (default: all),
    newest first, with when it was first seen and since when it has been
    waiting."""
    node_id = request.GET.get("node") or ""
    if not node_id:
        raise QueryError("node", "node is required: a node id")
    queries.refuse_nul("node", node_id)
    proc_key = request.GET.get("process") or None
    if proc_key is not None and not PROC_KEY_RE.fullmatch(proc_key):
        raise QueryError("process", "process must be a proc_key: [a-z0-9._-]{1,64}")
    snapshot = request.GET.get("snapshot") or None
    if snapshot is not None and not (
        snapshot in ("latest", "live") or (snapshot.isascii() and snapshot.isdigit())
    ):
        raise QueryError("snapshot", "snapshot must be a snapshot id, latest or live")
    page, per_page = queries._check_page(request.GET.get("page"), request.GET.get("per_page"))
    # The captures of the scope asked for, by proc_key: the history ends at them.
    in_scope = None
    if snapshot is not None:
        try:
            scope = resolve_scope(snapshot)
        except ScopeNotFound as e:
            return json_error(404, str(e), "snapshot")
        in_scope = {p.proc_key: p.id for p in scope.processes()}
    where = f" in snapshot {snapshot}" if snapshot is not None else ""

    if proc_key is None:
        # Node ids are scoped per process only by convention: when several
        # processes had this one, the caller says which.
        candidates = history.proc_keys_with(node_id)
        if in_scope is not None:
            candidates = [k for k in candidates if k in in_scope]
        if not candidates:
            return json_error(404, f"no node {node_id!r}{where}", "node")
        if len(candidates) > 1:
            named = ", ".join(candidates[:HISTORY_CANDIDATES_SHOWN])
            more = len(candidates) - HISTORY_CANDIDATES_SHOWN
            return json_error(
                400,
                f"node {node_id!r} is in {len(candidates)} processes; name one with "
                f"process: {named}" + (f" and {more} more" if more > 0 else ""),
                "process",
            )
        [proc_key] = candidates
    if in_scope is not None and proc_key not in in_scope:
        return json_error(404, f"snapshot {snapshot} has no capture of {proc_key!r}", "snapshot")
    up_to = in_scope[proc_key] if in_scope is not None else None
    h = history.node_history(node_id, proc_key, up_to)
    if h is None:
        return json_error(404, f"no node {node_id!r} in process {proc_key!r}{where}", "node")

    # The overview's "no progress since", from the same function, so the
    # two places never disagree (docs/history.md#two-kinds-of-since).
    shown = ProcessSnapshot.objects.filter(id=h.timeline[-1][0].id).first()
    lineage = [capture for capture, _ in h.timeline]
    no_progress = stuck.no_progress_since(shown, node_id, lineage) if shown else None  # pruned
    newest_first = h.timeline[::-1]
    start = (page - 1) * per_page
    captures = [
        {
            "snapshot_id": capture.snapshot_id,
            "captured_at_ns": capture.captured_at_ns,
            "present": version is not None,
            "state": (version.state or None) if version else None,
            "state_class": (version.state_class or None) if version else None,
        }
        for capture, version in newest_first[start : start + per_page]
    ]
    return json_response(
        {
            "node_id": node_id,
            "proc_key": proc_key,
            "first_seen_snapshot_id": h.first_seen.snapshot_id,
            "stuck_since_ns": h.stuck_since_ns,
            "no_progress_since_ns": no_progress.since_ns if no_progress else None,
            "no_progress_since_snapshot_id": (
                no_progress.first_snapshot_id if no_progress else None
            ),
            "captures": captures,
            **_page_links(request, queries.Page([], len(newest_first), page, per_page)),
        }
    )


@read_view
def openapi_document(request):
    return json_response(openapi.document())
