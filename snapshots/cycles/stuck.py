"""Stuck across snapshots: nodes that stayed waiting, with no progress, for k
consecutive captures of the same process.

A cycle is proof of a deadlock at one instant; a node that has not moved for
several captures is the other half of the evidence (a stall without a
measured cycle, e.g. a missing edge, or waiting on something outside).

For each process capture of a scope, its history is every stored capture of
the same proc_key (a proc_key names one process instance: it includes the
pid) up to and including it. Pushes and pull replies both count: each is an
observation of the process. The history is read as versions (history.py): a
node that waits unchanged over a thousand captures is one row per segment,
so the queries are a handful per process whatever the history's length, and
a streak is as long as the stored history allows (retention keeps hours of
it; a wait that began before the oldest stored capture counts from there).

A node is *waiting* in a capture when it is a task whose state is in the
waiting class, or a non-task node that needs something (needs_count > 0: a
lock held, a sender blocked, a request in flight). It made *no progress*
between an older and a newer capture when

- its state and its attrs fingerprint are equal: every scalar attr except the
  durations (keys ending in _ns, _us, _ms, _s, or named elapsed/age), which
  grow while a node is stuck. Counters like acquires/releases,
  sent_total/recv_total, queue_len, ready_count, last_wake_from_task_id
  changing means it moved; so does an instant (a time key whose name ends in
  _at or _since before its unit, e.g. `pending_since_ns`: when the current
  wait began): a task that sleeps and wakes every second is pending in every
  capture, but each time in a new wait;
- no capture records a wake of it after the older one was taken (wake
  events are per capture: the newest wake of the node over the history
  bounds its streak). Its newest waker as a capture records it
  (Node.last_waker) is not compared: a sender that sends each wake once
  records it on one capture only, and one that sends a window of recent
  wakes loses it when it falls out; either way the next capture would
  look changed, one capture or many after the wake.

    from snapshots.cycles.stuck import stuck_nodes
    stuck_nodes(scope, k=3)  -> [StuckNode], longest streak first

The overview page includes templates/cycles/_stuck.html with `stuck` (that
list) and `stuck_k`; `stuck_context(scope)` builds both.
"""

from bisect import bisect_left
from dataclasses import dataclass
from itertools import batched
from typing import NamedTuple

from django.db.models import Max, Q

from snapshots import history, versions
from snapshots.cycles.explain import display_name
from snapshots.cycles.finder import NodeInfo
from snapshots.models import Node, WakeEvent
from snapshots.queries import IN_BATCH

DEFAULT_K = 3
LIMIT = 100
TIME_SUFFIXES = ("_ns", "_us", "_ms", "_s")
INSTANTS = ("_at", "_since")  # before the unit: spawned_at_ns, pending_since_ns
TIME_KEYS = {"elapsed", "age", "meta"}


@dataclass
class StuckNode:
    node_id: str
    kind: str
    name: str
    state: str
    state_class: str
    proc_key: str
    process: str
    streak: int  # consecutive captures it stayed waiting without progress
    since_ns: int | None  # captured_at_ns of the oldest capture of the streak
    stuck_for_ns: int | None  # newest capture minus since_ns
    first_process_snapshot_id: int
    first_snapshot_id: int


def _is_duration(key):
    """Durations grow while a node is stuck; instants change only when
    something happens (a new wait began), so they stay in the fingerprint."""
    if key in TIME_KEYS:
        return True
    for suffix in TIME_SUFFIXES:
        if key.endswith(suffix):
            return not key[: -len(suffix)].endswith(INSTANTS)
    return False


def fingerprint(state, attrs):
    if not isinstance(attrs, dict):
        return (state,)
    items = []
    for key, value in attrs.items():
        if _is_duration(key):
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            items.append((key, value))
    return (state, tuple(sorted(items, key=lambda kv: kv[0])))


def _row_fingerprint(row):
    return fingerprint(row[3], row[5])


WAITING = Q(kind="task", state_class="waiting") | (~Q(kind="task") & Q(needs_count__gt=0))
FIELDS = ("node_id", "kind", "label", "state", "state_class", "attrs")


def _waiting(process_id, node_ids=None):
    """{node_id: row} of the waiting nodes of one capture (of those in
    `node_ids` when given)."""
    rows = versions.of(Node, process_id).filter(WAITING)
    if node_ids is not None:
        rows = rows.filter(node_id__in=list(node_ids))
    rows = rows.values_list(*FIELDS)
    return {r[0]: r for r in rows.iterator(chunk_size=5000)}


class _Version(NamedTuple):
    """A waiting version of a node: seen by the captures of its segment
    whose id lies in [first_id, last_id] (snapshots/versions.py)."""

    node_id: str
    segment_id: int
    first_id: int
    last_id: int
    digest: int  # of the whole row: equal digests, equal fingerprints
    state: str
    attrs: dict


def _waiting_versions(segments, node_ids):
    """{node_id: [_Version]} of these nodes in these segments, oldest first,
    waiting versions only: a capture that sees no version of a node had it
    absent or not waiting, which ends a streak just the same. One query per
    IN_BATCH nodes, whatever the history's length: a node that waits
    unchanged over a thousand captures is one row per segment."""
    out = {node_id: [] for node_id in node_ids}
    qs = Node.objects.filter(WAITING, segment_id__in=segments).order_by(
        "segment_id", "first_id", "id"
    )
    # Most of a capture's nodes: one pass over the waiting versions beats
    # hundreds of batches of ids.
    many = len(node_ids) > 20 * IN_BATCH
    batches = [None] if many else batched(sorted(node_ids), IN_BATCH)
    for batch in batches:
        rows = qs if batch is None else qs.filter(node_id__in=batch)
        for row in rows.values_list(*_Version._fields).iterator(chunk_size=5000):
            if row[0] in out:
                out[row[0]].append(_Version(*row))
    return out


def _last_wakes(captures, spans, node_ids):
    """{node_id: at_ns of its newest wake} seen by any of `captures` (a
    lineage; `spans`: segment id -> [first index, last index + 1] in it).
    Per segment, one range of the lineage's captures there."""
    ranges = ((s, captures[lo].id, captures[hi - 1].id) for s, (lo, hi) in spans.items())
    qs = WakeEvent.objects.filter(versions.seen_between(ranges))
    many = len(node_ids) > 20 * IN_BATCH  # as in _waiting_versions
    batches = [None] if many else batched(sorted(node_ids), IN_BATCH)
    out = {}
    for batch in batches:
        rows = qs if batch is None else qs.filter(woken__in=batch)
        rows = rows.order_by().values("woken").annotate(at=Max("at_ns"))
        out.update((w, at) for w, at in rows.values_list("woken", "at") if w in node_ids)
    return out


def _streak_start(captures, ids, spans, node_versions, fp, fingerprints):
    """Index in `captures` (`ids` their ids) of the oldest capture of the
    node's streak ending at the newest one: a capture that sees a waiting
    version of it with fingerprint `fp`, and every capture after it too.
    Walks the versions, not the captures: a version covers a range of them.
    `fingerprints` memoizes them by digest (a node unchanged over many
    segments has one row, and one digest, in each)."""
    pos = len(captures) - 1  # the oldest capture of the streak is after pos
    for v in reversed(node_versions):
        if pos < 0:
            break
        newest = captures[pos]
        if v.segment_id != newest.segment_id or not v.first_id <= newest.id <= v.last_id:
            if v.segment_id > newest.segment_id or v.first_id > newest.id:
                continue  # seen only by captures after the newest one looked at
            break  # captures[pos] has it absent or not waiting
        if v.digest not in fingerprints:
            fingerprints[v.digest] = fingerprint(v.state, v.attrs)
        if fingerprints[v.digest] != fp:
            break
        # Every capture of v's segment from v.first_id on sees v: jump over them.
        lo, _ = spans[v.segment_id]
        pos = max(lo, bisect_left(ids, v.first_id, lo, pos + 1)) - 1
    return pos + 1


def _not_before(captures):
    """A list, non-decreasing, whose bisect_left at t is the index of the
    first capture after the last one taken before t: where a streak of a
    node woken at t can begin at the earliest. Capture times come from the
    sender, so they need not follow ids; a missing one is never "before"."""
    out = [0] * len(captures)
    low = None
    for i in range(len(captures) - 1, -1, -1):
        at = captures[i].captured_at_ns
        if at is not None:
            low = at if low is None else min(low, at)
        out[i] = low if low is not None else float("inf")
    return out


def stuck_in_process(capture, k=DEFAULT_K, node_ids=None, captures=None):
    """StuckNodes of one ProcessSnapshot (among `node_ids` when given), over
    its proc_key's whole stored history: a bounded number of queries (the
    lineage, the waiting nodes, their versions and wakes, a batch of nodes
    each), whatever its length. `captures`: that lineage, when the caller
    has read it already."""
    if captures is None:
        captures = history.lineage(capture.proc_key, up_to=capture.id)
    if len(captures) < k or captures[-1].id != capture.id:
        return []
    newest = _waiting(capture.id, node_ids)
    if not newest:
        return []
    fingerprints = {nid: _row_fingerprint(r) for nid, r in newest.items()}
    spans = {}  # segment id -> [first index, last index + 1] in captures
    for i, c in enumerate(captures):
        spans.setdefault(c.segment_id, [i, i])[1] = i + 1
    # The newest segment first, then the older ones for the nodes whose
    # streak reaches back past its start: most streaks end there, and a
    # node that keeps changing has many versions in the older segments.
    ids = [c.id for c in captures]
    memo = {}

    def start_of(nid, node_versions):
        return _streak_start(captures, ids, spans, node_versions, fingerprints[nid], memo)

    newest_segment = captures[-1].segment_id
    node_versions = _waiting_versions([newest_segment], fingerprints)
    starts = {nid: start_of(nid, node_versions[nid]) for nid in fingerprints}
    lo = spans[newest_segment][0]
    older = [nid for nid, start in starts.items() if start == lo > 0]
    if older:
        before = _waiting_versions(sorted(set(spans) - {newest_segment}), older)
        for nid in older:
            starts[nid] = start_of(nid, before[nid] + node_versions[nid])
    wakes = _last_wakes(captures, spans, fingerprints)
    not_before = _not_before(captures)
    out = []
    for nid, start in starts.items():
        if nid in wakes:
            # Woken between two captures: it ran, even if it is waiting
            # again in the same state with the same attrs (issue 14).
            start = max(start, bisect_left(not_before, wakes[nid]))
        n = len(captures) - start
        if n < k:
            continue
        _, kind, label, state, cls, attrs = newest[nid]
        first = captures[start]
        info = NodeInfo(node_id=nid, kind=kind, label=label, attrs=attrs or {})
        since = first.captured_at_ns
        out.append(
            StuckNode(
                node_id=nid,
                kind=kind,
                name=display_name(info),
                state=state or "",
                state_class=cls or "",
                proc_key=capture.proc_key,
                process=capture.process,
                streak=n,
                since_ns=since,
                stuck_for_ns=(
                    capture.captured_at_ns - since
                    if capture.captured_at_ns is not None and since is not None
                    else None
                ),
                first_process_snapshot_id=first.id,
                first_snapshot_id=first.snapshot_id,
            )
        )
    return out


def no_progress_since(capture, node_id, captures=None):
    """The node's StuckNode in this ProcessSnapshot however short its streak
    (one capture is a streak of 1), or None when it is not waiting there:
    what the overview's table says of it, for the inspector and the history
    API ("no progress since"; docs/history.md#two-kinds-of-since).
    `captures`: history.lineage up to the capture, when already read."""
    found = stuck_in_process(capture, k=1, node_ids=[node_id], captures=captures)
    return found[0] if found else None


def stuck_nodes(scope, k=DEFAULT_K, limit=LIMIT):
    """Nodes of the scope stuck for >= k consecutive captures, longest first."""
    k = max(2, int(k))
    found = []
    for capture in scope.processes():
        found.extend(stuck_in_process(capture, k=k))
    found.sort(key=lambda s: (-s.streak, -(s.stuck_for_ns or 0), s.node_id))
    return found[:limit]


def stuck_context(scope, k=DEFAULT_K):
    """Context for templates/cycles/_stuck.html."""
    return {"stuck": stuck_nodes(scope, k=k), "stuck_k": k}
