"""Reads across a process's captures: its lineage and a node's versions.

Captures of one proc_key share rows (snapshots/versions.py), so a node's
history is a handful of versions, each valid over a range of captures, not
one row per capture:

    lineage("svc-1")                  -> [Capture], oldest first
    recent("svc-1", up_to, 60)        -> the last 60 of them (the strip)
    node_versions("svc-1", ["task:svc-1:7"])
        -> {"task:svc-1:7": [Version], oldest first}
    timeline(lineage, versions)       -> [(Capture, Version | None)], per capture
    node_history(node_id, proc_key)   -> NodeHistory: the three, plus first
                                         seen and stuck since (the history
                                         API and the inspector's strip)
"""

from dataclasses import dataclass
from itertools import batched

from snapshots.models import Node, ProcessSnapshot
from snapshots.queries import IN_BATCH
from snapshots.scope import HAS_DATA

# The state class of a task that waits (snapshots/states.py): a node is
# stuck while its captures have it in this class.
WAITING = "waiting"


@dataclass(frozen=True)
class Capture:
    id: int  # the ProcessSnapshot
    snapshot_id: int
    segment_id: int
    captured_at_ns: int | None


@dataclass(frozen=True)
class Version:
    node_id: str
    segment_id: int
    first_id: int  # the captures of segment_id in [first_id, last_id] see it
    last_id: int
    kind: str
    label: str
    attrs: dict
    state: str
    state_class: str
    pending_since_ns: int | None
    last_waker: str

    def seen_by(self, capture):
        return capture.segment_id == self.segment_id and self.first_id <= capture.id <= self.last_id


def lineage(proc_key, up_to=None):
    """The captures with data of one proc_key (a process instance), oldest
    first; those up to capture id `up_to` when given."""
    qs = ProcessSnapshot.objects.filter(
        proc_key=proc_key, status__in=HAS_DATA, segment_id__isnull=False
    )
    if up_to is not None:
        qs = qs.filter(id__lte=up_to)
    rows = qs.order_by("id").values_list("id", "snapshot_id", "segment_id", "captured_at_ns")
    return [Capture(*row) for row in rows]


def recent(proc_key, up_to, n):
    """The last `n` captures of lineage(proc_key, up_to), oldest first: one
    query whose cost does not grow with the history (the inspector's strip
    shows these; the whole history's facts load apart)."""
    qs = ProcessSnapshot.objects.filter(
        proc_key=proc_key, status__in=HAS_DATA, segment_id__isnull=False, id__lte=up_to
    )
    rows = qs.order_by("-id").values_list("id", "snapshot_id", "segment_id", "captured_at_ns")[:n]
    return [Capture(*row) for row in reversed(rows)]


def node_versions(captures, node_ids):
    """{node_id: [Version]} over these captures' segments, oldest first."""
    segments = sorted({c.segment_id for c in captures})
    out = {node_id: [] for node_id in node_ids}
    if not segments or not node_ids:
        return out
    rows = (
        Node.objects.filter(segment_id__in=segments, node_id__in=list(node_ids))
        .order_by("segment_id", "first_id", "id")
        .values_list(
            "node_id",
            "segment_id",
            "first_id",
            "last_id",
            "kind",
            "label",
            "attrs",
            "state",
            "state_class",
            "pending_since_ns",
            "last_waker",
        )
    )
    for row in rows:
        out[row[0]].append(Version(*row[:6], row[6] or {}, *row[7:]))
    return out


def timeline(captures, versions):
    """[(capture, the version it sees or None)] for each capture, in order."""
    out = []
    i = 0
    for capture in captures:
        # Versions are in capture order: skip those that ended before it.
        while i < len(versions) and (
            versions[i].segment_id < capture.segment_id
            or (versions[i].segment_id == capture.segment_id and versions[i].last_id < capture.id)
        ):
            i += 1
        seen = versions[i] if i < len(versions) and versions[i].seen_by(capture) else None
        out.append((capture, seen))
    return out


@dataclass(frozen=True)
class NodeHistory:
    node_id: str
    proc_key: str
    timeline: list  # [(Capture, Version | None)], oldest first, up to the capture asked for
    first_seen: Capture  # the oldest capture still stored that has the node
    stuck_since_ns: int | None


def node_history(node_id, proc_key, up_to=None):
    """The node's history over the captures of `proc_key` (up to capture id
    `up_to` when given); None when none of them has the node. Two queries
    whatever the length of the history: the lineage, and the node's versions
    (a version covers a range of captures)."""
    captures = lineage(proc_key, up_to)
    steps = timeline(captures, node_versions(captures, [node_id])[node_id])
    first_seen = next((c for c, v in steps if v is not None), None)
    if first_seen is None:
        return None
    return NodeHistory(node_id, proc_key, steps, first_seen, _stuck_since(steps))


def _stuck_since(steps):
    """When the current unbroken wait began: the first capture of the newest
    run of captures that have the node waiting, or, earlier and more precise,
    the wait's start its pending traces gave (pending_since_ns) when that
    lies after the capture before the run (before it, the node was seen not
    waiting, so the start belongs to an older wait). None when the newest
    capture does not have it waiting."""

    def waiting(step):
        return step[1] is not None and step[1].state_class == WAITING

    start = len(steps)
    while start > 0 and waiting(steps[start - 1]):
        start -= 1
    if start == len(steps):
        return None
    after_ns = steps[start - 1][0].captured_at_ns if start > 0 else None
    candidates = [steps[start][0].captured_at_ns] + [
        v.pending_since_ns
        for _, v in steps[start:]
        if v.pending_since_ns is not None and (after_ns is None or v.pending_since_ns > after_ns)
    ]
    return min((ns for ns in candidates if ns is not None), default=None)


def proc_keys_with(node_id):
    """The proc_keys whose stored captures had `node_id`, sorted. Node ids are free
    text, scoped per process only by the senders' convention, so this does
    not parse them: it probes every segment through the (segment_id,
    node_id) index, a batch of segments per query."""
    segments = (
        ProcessSnapshot.objects.filter(segment_id__isnull=False)
        .order_by()
        .values_list("segment_id", flat=True)
        .distinct()
    )
    captures = ProcessSnapshot.objects.filter(status__in=HAS_DATA).order_by()
    proc_keys = set()
    for batch in batched(segments, IN_BATCH):
        rows = Node.objects.filter(segment_id__in=batch, node_id=node_id).order_by()
        hit = list(rows.values_list("segment_id", flat=True).distinct())
        if hit:
            proc_keys.update(
                captures.filter(segment_id__in=hit).values_list("proc_key", flat=True).distinct()
            )
    return sorted(proc_keys)
