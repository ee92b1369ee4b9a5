"""Reads across a process's captures: its lineage and a node's versions.

Captures of one proc_key share rows (snapshots/versions.py), so a node's
history is a handful of versions, each valid over a range of captures, not
one row per capture:

    lineage("svc-1")                  -> [Capture], oldest first
    node_versions("svc-1", ["task:svc-1:7"])
        -> {"task:svc-1:7": [Version], oldest first}
    timeline(lineage, versions)       -> [(Capture, Version | None)], per capture
"""

from dataclasses import dataclass

from snapshots.models import Node, ProcessSnapshot
from snapshots.scope import HAS_DATA


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
