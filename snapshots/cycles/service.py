"""The cycle finder over a Scope, computed once and cached.

    from snapshots.cycles import service
    result = service.cycle_result(scope)     # dict, see below
    service.cycles_json(scope)               # the API body of the contract
    service.report_text(scope)               # the text deadlock report
    service.cycle_member_ids(scope)          # {node ids} to mark in tables
    service.summary(scope)                   # {"count", "danger", "warn"}

Caching:
- A complete snapshot never changes, so its result is stored once in
  CycleReport (database: shared by every server process, survives restarts)
  and reused; `VERSION` bumps invalidate results of an older finder.
- An open pull is still collecting replies: computed on every call.
- The live graph is fully determined by its set of process captures (each
  capture is immutable, and cross-process edges resolve from those captures
  only), so its result is cached in Django's cache (per server process by
  default) under a key made of those captures (id, receive time, sizes). A
  new push changes the set and so the key; nothing can go stale.

The stored result (CycleReport.result, JSON text):
    {"version": VERSION,
     "candidates": [contract candidate objects, worst first, each with
                    first_seen_ns, first_seen_snapshot_id, present_for_ns and
                    first_seen_capped, first_seen_oldest_stored
                    (first_seen.py)],
     "truncated_from": 0 | number of cyclic components when over the cap,
     "details": [{"blocked_tasks": [task ids, the first few],
                  "component_edges": [[src, dst], ...] or None}], one per
                candidate, in the same order (not part of the API's contract),
     "nodes": {id: {kind, name, label, state, state_class, proc_key, process,
                    wait_ns}} for every node on a reported cycle, every member
              of a component small enough to draw and every named blocked task,
     "traces": {task id: [{"at_ns", "duration_us", "frames": [text, ...]}]}
               newest first, for the tasks on the reported cycles,
     "processes": [{"proc_key", "process", "pid", "captured_at_ns"}]}
"""

import hashlib
from itertools import batched

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction

from snapshots import versions
from snapshots.cycles import explain, first_seen
from snapshots.cycles.finder import NodeInfo, NodeSource, find_candidates
from snapshots.gc_pause import paused_gc
from snapshots.models import CycleReport, Edge, Node, PendingTrace, Snapshot

# 2: sentences for queue, event, condition and TaskGroup/shield edges (explain.py).
# 3: "details" (blocked tasks named, small components' edges) and their nodes.
# 4: candidates say since when they are there (first_seen.py).
# 5: and whether that is the oldest stored capture (first_seen_oldest_stored).
# 6: a task asyncio named by default is called "label (Task-7)" (explain.py).
VERSION = 6
# Scan the scope's nodes instead of looking ids up when ids * SCAN_SHARE
# exceed the node count (an index lookup costs several sequential rows).
SCAN_SHARE = 8
TRACES_PER_TASK = 1  # the report and page show the newest one
FRAMES_PER_TRACE = 64
MAX_FRAME_CHARS = 2000


def fetch_edge_pairs(scope, resolved=None):
    """Every (src, dst) needs edge of the scope, cross-process ones included.

    Same result as Scope.edge_pairs(), through one raw cursor and fetchall:
    no per-row converters or chunking (bench/cycles.py prints the two side
    by side). `resolved`: the scope's resolved cross edges, if already known."""
    if not scope.captures:
        return []
    where, params = scope.sql_filter("t")
    table, (src, dst) = _quoted(Edge, "src", "dst")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t.{src}, t.{dst} FROM {table} AS t WHERE {where}", params)
        pairs = cursor.fetchall()
    if resolved is None:
        resolved, _ = scope.cross_edges()
    pairs.extend((r.src, r.dst) for r in resolved)
    return pairs


def _quoted(model, *fields):
    q = connection.ops.quote_name
    return q(model._meta.db_table), [q(model._meta.get_field(f).column) for f in fields]


def _in_batch_size():
    """SQLite: as many ids per IN list as its parameter limit allows."""
    return max(100, min(10_000, (connection.features.max_query_params or 999) - 50))


def select_in(model, fields, scope, key_field, keys):
    """Rows of `fields` of `model` in these captures whose text `key_field`
    is one of `keys`, through a raw cursor (the ORM's per-query overhead
    dominates once a cycle has thousands of nodes).

    PostgreSQL gets the keys as one JSON array joined to the table, so the
    planner probes the (process, key) index once per key; `= ANY(array)`
    sent the same keys as an array literal that psycopg quotes element by
    element, and past a few thousand keys the planner scanned the table
    instead (measured on 12,000 node ids of the 1M-edge benchmark: 400 ms vs
    240 ms). SQLite gets IN lists as long as it allows."""
    if not scope.captures or not keys:
        return
    columns, select_params = versions.select_sql(model, fields, scope.captures)
    where, where_params = scope.sql_filter("t")
    table = connection.ops.quote_name(model._meta.db_table)
    key_col = "t." + connection.ops.quote_name(model._meta.get_field(key_field).column)
    keys = list(keys)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT {columns}"
                f" FROM jsonb_array_elements_text(%s::jsonb) AS k(v)"
                f" JOIN {table} AS t ON {key_col} = k.v WHERE {where}",
                [*select_params, orjson.dumps(keys).decode(), *where_params],
            )
            yield from cursor.fetchall()
            return
        size = max(100, _in_batch_size() - len(select_params) - len(where_params))
        for batch in batched(keys, size):
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(
                f"SELECT {columns} FROM {table} AS t WHERE {where} AND {key_col} IN ({marks})",
                [*select_params, *where_params, *batch],
            )
            yield from cursor.fetchall()


def select_all(model, fields, scope):
    columns, select_params = versions.select_sql(model, fields, scope.captures)
    where, where_params = scope.sql_filter("t")
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {table} AS t WHERE {where}",
            [*select_params, *where_params],
        )
        while rows := cursor.fetchmany(10_000):
            yield from rows


def _decoded(value, kind):
    """A JSON column read through a raw cursor, as a `kind` (dict or list):
    text on SQLite (and for TextFields), already decoded by psycopg from
    jsonb on PostgreSQL. Anything else, or nothing, is an empty `kind`."""
    if isinstance(value, (str, bytes)):
        try:
            value = orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            return kind()
    return value if isinstance(value, kind) else kind()


class ScopeNodes(NodeSource):
    """NodeSource answering from the database rows of a scope."""

    def __init__(self, scope, resolved=None):
        self.scope = scope
        self.resolved = resolved  # the scope's resolved cross-process edges, when known
        processes = list(scope.processes())
        self.names = {p.id: p.process for p in processes}
        self.node_total = sum(p.node_count for p in processes)

    def _node_rows(self, ids, fields):
        """Node rows (node_id first) for these ids: batched lookups by the
        (process, node_id) index, or one scan of the scope's nodes when the
        ids are a large share of them."""
        ids = ids if isinstance(ids, set) else set(ids)
        if not ids or not self.scope.captures:
            return
        if len(ids) * SCAN_SHARE > self.node_total:
            for row in select_all(Node, fields, self.scope):
                if row[0] in ids:
                    yield row
        else:
            yield from select_in(Node, fields, self.scope, "node_id", ids)

    def info(self, ids):
        fields = (
            "node_id", "kind", "label", "attrs", "state", "state_class",
            "proc_key", "process", "pending_us",
        )  # fmt: skip
        out = {}
        for node_id, kind, label, attrs, state, cls, key, pid, pending in self._node_rows(
            ids, fields
        ):
            if node_id in out:
                continue
            out[node_id] = NodeInfo(
                node_id=node_id,
                kind=kind,
                label=label or "",
                attrs=_decoded(attrs, dict),
                state=state or "",
                state_class=cls or "",
                proc_key=key,
                process=self.names.get(pid) or key,
                pending_us=pending,
            )
        return out

    def task_ids(self, ids):
        # The kind is checked here, not in SQL: with `kind = 'task'` in the
        # WHERE, SQLite walks the (process, kind) index over every task of
        # the scope instead of looking the ids up (measured 4x slower).
        return {
            node_id for node_id, kind in self._node_rows(ids, ("node_id", "kind")) if kind == "task"
        }

    def edge_attrs(self, pairs):
        pairs = set(pairs)
        out = {}
        rows = select_in(Edge, ("src", "dst", "attrs"), self.scope, "src", {s for s, _ in pairs})
        for src, dst, attrs in rows:
            if (src, dst) in pairs and attrs not in (None, "{}", {}):
                out[(src, dst)] = _decoded(attrs, dict)
        resolved = self.resolved
        if resolved is None:
            resolved, _ = self.scope.cross_edges()
        for r in resolved:
            if (r.src, r.dst) in pairs and r.attrs:
                out[(r.src, r.dst)] = r.attrs
        return out


def _node_json(info):
    return {
        "kind": info.kind,
        "name": explain.display_name(info),
        "label": info.label,
        "state": info.state,
        "state_class": info.state_class,
        "proc_key": info.proc_key,
        "process": info.process,
        "wait_ns": info.wait_ns,
    }


def _traces(scope, task_ids):
    """Newest pending traces of these tasks (the wait that began last),
    frames resolved to text."""
    fields = ("node_id", "since_ns", "id", "process", "at_ns", "duration_us", "frame_ids")
    rows = select_in(PendingTrace, fields, scope, "node_id", task_ids)
    traces = {}
    newest_first = sorted(
        rows, key=lambda r: (r[0], r[1] is not None, r[1] or 0, r[2]), reverse=True
    )
    for node_id, _, _, process_id, at_ns, duration_us, frame_ids in newest_first:
        kept = traces.setdefault(node_id, [])
        if len(kept) < TRACES_PER_TASK:
            frame_ids = _decoded(frame_ids, list)
            kept.append((process_id, at_ns, duration_us, frame_ids))
    keys = {}
    for kept in traces.values():
        for process_id, _, _, frame_ids in kept:
            for fid in frame_ids[:FRAMES_PER_TRACE]:
                if isinstance(fid, int) and not isinstance(fid, bool):
                    keys.setdefault(process_id, set()).add(fid)
    texts = {k: text[:MAX_FRAME_CHARS] for k, text in scope.frame_texts(keys).items()}
    return {
        node_id: [
            {
                "at_ns": at_ns,
                "duration_us": duration_us,
                "frame_count": len(frame_ids),
                "frames": [
                    texts.get((process_id, fid), f"<frame {fid} missing>")
                    for fid in frame_ids[:FRAMES_PER_TRACE]
                ],
            }
            for process_id, at_ns, duration_us, frame_ids in kept
        ]
        for node_id, kept in traces.items()
    }


def compute(scope):
    """Run the finder over a scope; the JSON-able result described above."""
    with paused_gc():
        return _compute(scope)


def _compute(scope):
    resolved, _ = scope.cross_edges()
    pairs = fetch_edge_pairs(scope, resolved)
    result = find_candidates(pairs, ScopeNodes(scope, resolved))
    del pairs  # a million tuples: free them before building the JSON
    on_cycles = {m for c in result.candidates for m in c.cycle}
    tasks = sorted(m for m in on_cycles if result.nodes[m].kind == "task")
    candidates = [c.as_json() for c in result.candidates]
    first_seen.annotate(scope, result.candidates, candidates)
    return {
        "version": VERSION,
        "candidates": candidates,
        "details": [
            {"blocked_tasks": c.blocked_tasks, "component_edges": c.component_edges}
            for c in result.candidates
        ],
        "truncated_from": result.truncated_from,
        "nodes": {m: _node_json(info) for m, info in sorted(result.nodes.items())},
        "traces": _traces(scope, tasks),
        "processes": [
            {
                "proc_key": p.proc_key,
                "process": p.process,
                "pid": p.pid,
                "captured_at_ns": p.captured_at_ns,
            }
            for p in scope.processes()
        ],
    }


def _live_key(scope):
    """The captures' ids, plus their receive times and sizes: an id alone could
    come back after the database was emptied or rolled back (tests), while the
    server's cache lives on."""
    rows = (
        scope.processes()
        .order_by("id")
        .values_list("id", "received_at", "node_count", "edge_count")
    )
    text = ";".join(f"{i},{at.isoformat() if at else ''},{n},{e}" for i, at, n, e in rows)
    return f"peepsweb:cycles:v{VERSION}:live:" + hashlib.sha256(text.encode()).hexdigest()


def _stored_result(snapshot_id):
    """CycleReport.result, decoded by orjson (megabytes for a big cycle)."""
    rows = CycleReport.objects.filter(snapshot_id=snapshot_id).values_list("result_json")
    text = next(iter(rows), (None,))[0]
    return _decoded(text, dict) or None


def cycle_result(scope):
    """The finder's result for a scope, from the cache when it can be."""
    if scope.is_live:
        key = _live_key(scope)
        result = cache.get(key)
        if result is None:
            result = compute(scope)
            cache.set(key, result, timeout=max(60, 4 * settings.PEEPSWEB_LIVE_WINDOW_S))
        return result
    snapshot = scope.snapshot
    if snapshot.status != Snapshot.COMPLETE:
        return compute(scope)
    stored = _stored_result(snapshot.id)
    if stored is not None and stored.get("version") == VERSION:
        return stored
    result = compute(scope)
    fields = {"candidate_count": len(result["candidates"]), "result": result}
    try:
        with transaction.atomic():
            CycleReport.objects.update_or_create(snapshot_id=snapshot.id, defaults=fields)
    except IntegrityError:
        pass  # another request stored the same result first, or the snapshot was pruned
    return result


def cycles_json(scope):
    """The body of GET /api/v1/snapshots/{id}/cycles."""
    result = cycle_result(scope)
    body = {
        "snapshot_id": scope.snapshot.id if scope.snapshot else scope.key,
        "candidates": result["candidates"],
    }
    if result.get("truncated_from"):
        # Only present when over the cap, so the usual shape is the contract's.
        body["truncated"] = True
        body["candidate_total"] = result["truncated_from"]
    return body


def cycle_member_ids(scope):
    """Every member of every candidate: what tables, the inspector and the
    graph view mark as "in a cycle"."""
    return {m for c in cycle_result(scope)["candidates"] for m in c["members"]}


def summary(scope):
    """{"count", "danger", "warn"} for banners and badges."""
    return summarize(cycle_result(scope))


def summarize(result):
    candidates = result["candidates"]
    danger = sum(1 for c in candidates if c["severity"] == "danger")
    return {"count": len(candidates), "danger": danger, "warn": len(candidates) - danger}


def report_text(scope):
    from snapshots.cycles.report import render_report

    return render_report(cycle_result(scope), scope_label(scope))


def scope_label(scope):
    return "the live view" if scope.is_live else f"snapshot {scope.key}"
