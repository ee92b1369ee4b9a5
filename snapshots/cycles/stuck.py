"""Stuck across snapshots: nodes that stayed waiting, with no progress, for k
consecutive captures of the same process.

A cycle is proof of a deadlock at one instant; a node that has not moved for
several captures is the other half of the evidence (a stall without a
measured cycle, e.g. a missing edge, or waiting on something outside).

For each process capture of a scope, its history is the captures of the same
proc_key (a proc_key names one process instance: it includes the pid) up to
and including it, newest first. Pushes and pull replies both count: each is an
observation of the process.

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
- its newest waker (Node.last_waker, from the wake events) is the same; and
- the newer capture records no wake of it after the older one was taken.

    from snapshots.cycles.stuck import stuck_nodes
    stuck_nodes(scope, k=3)  -> [StuckNode], longest streak first

The overview page includes templates/cycles/_stuck.html with `stuck` (that
list) and `stuck_k`; `stuck_context(scope)` builds both.
"""

from dataclasses import dataclass
from itertools import batched

from django.db.models import Q

from snapshots import versions
from snapshots.cycles.explain import display_name
from snapshots.cycles.finder import NodeInfo
from snapshots.models import Node, ProcessSnapshot, WakeEvent
from snapshots.queries import IN_BATCH
from snapshots.scope import HAS_DATA

DEFAULT_K = 3
LOOKBACK = 20  # captures looked at per process; streaks are reported as ">= 20"
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
    capped: bool  # the streak reached LOOKBACK: it may be longer
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


def fingerprint(state, attrs, last_waker=""):
    if not isinstance(attrs, dict):
        return (state, last_waker)
    items = []
    for key, value in attrs.items():
        if _is_duration(key):
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            items.append((key, value))
    return (state, last_waker, tuple(sorted(items, key=lambda kv: kv[0])))


def _row_fingerprint(row):
    return fingerprint(row[3], row[5], row[6])


WAITING = Q(kind="task", state_class="waiting") | (~Q(kind="task") & Q(needs_count__gt=0))
FIELDS = ("node_id", "kind", "label", "state", "state_class", "attrs", "last_waker")


def _waiting(process_id, only=None):
    """{node_id: row} of the waiting nodes of one capture (optionally among `only`)."""
    qs = versions.of(Node, process_id).filter(WAITING)
    if only is None or len(only) > 20 * IN_BATCH:
        rows = qs.values_list(*FIELDS).iterator(chunk_size=5000)
        return {r[0]: r for r in rows if only is None or r[0] in only}
    out = {}
    for batch in batched(sorted(only), IN_BATCH):
        for r in qs.filter(node_id__in=batch).values_list(*FIELDS):
            out[r[0]] = r
    return out


def _woken_after(process_id, node_ids, after_ns):
    """The nodes among `node_ids` that one capture saw woken after `after_ns`."""
    if after_ns is None or not node_ids:
        return set()
    qs = WakeEvent.objects.filter(process_id=process_id, at_ns__gt=after_ns)
    woken = set()
    for batch in batched(sorted(node_ids), IN_BATCH):
        woken.update(qs.filter(woken__in=batch).values_list("woken", flat=True))
    return woken


def stuck_in_process(capture, k=DEFAULT_K, lookback=LOOKBACK):
    """StuckNodes of one ProcessSnapshot, looking back over its proc_key's history."""
    history = list(
        ProcessSnapshot.objects.filter(
            proc_key=capture.proc_key, id__lte=capture.id, status__in=HAS_DATA
        )
        .order_by("-id")
        .only("id", "snapshot_id", "captured_at_ns")[:lookback]
    )
    if len(history) < k:
        return []
    newest = _waiting(capture.id)
    alive = {nid: _row_fingerprint(r) for nid, r in newest.items()}
    streak = dict.fromkeys(alive, 1)
    for depth, older in enumerate(history[1:], start=2):
        if not alive:
            break
        rows = _waiting(older.id, only=set(alive))
        # Woken between the two captures: it ran, even if it is waiting again
        # in the same state with the same attrs.
        woken = _woken_after(history[depth - 2].id, set(alive), older.captured_at_ns)
        alive = {
            nid: fp
            for nid, fp in alive.items()
            if nid in rows and nid not in woken and _row_fingerprint(rows[nid]) == fp
        }
        for nid in alive:
            streak[nid] = depth
    out = []
    for nid, n in streak.items():
        if n < k:
            continue
        _, kind, label, state, cls, attrs, _ = newest[nid]
        first = history[n - 1]
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
                capped=n == len(history) == lookback,
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


def stuck_nodes(scope, k=DEFAULT_K, lookback=LOOKBACK, limit=LIMIT):
    """Nodes of the scope stuck for >= k consecutive captures, longest first."""
    k = max(2, int(k))
    lookback = max(k, int(lookback))
    found = []
    for capture in scope.processes():
        found.extend(stuck_in_process(capture, k=k, lookback=lookback))
    found.sort(key=lambda s: (-s.streak, -(s.stuck_for_ns or 0), s.node_id))
    return found[:limit]


def stuck_context(scope, k=DEFAULT_K):
    """Context for templates/cycles/_stuck.html."""
    return {"stuck": stuck_nodes(scope, k=k), "stuck_k": k}
