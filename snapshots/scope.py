"""A scope is what a read URL's `{id}` names: one snapshot, `latest`, or
`live` (the union of each process's newest capture within the freshness
window). Every reader (API, pages, cycles) works on a Scope, so the live
graph behaves exactly like a snapshot.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from snapshots.models import Edge, Node, ProcessSnapshot, Snapshot, UnresolvedEdge

LIVE = "live"
LATEST = "latest"
HAS_DATA = (ProcessSnapshot.PUSHED, ProcessSnapshot.RESPONDED)


class ScopeNotFound(Exception):
    pass


@dataclass
class Scope:
    key: str  # the snapshot id as text, or "live"
    snapshot: Snapshot | None  # None for the live graph
    process_ids: list[int] = field(default_factory=list)

    @property
    def is_live(self):
        return self.snapshot is None

    def processes(self):
        return ProcessSnapshot.objects.filter(id__in=self.process_ids).order_by("proc_key")

    def nodes(self):
        return Node.objects.filter(process_id__in=self.process_ids)

    def local_edges(self):
        return Edge.objects.filter(process_id__in=self.process_ids)

    def cross_edges(self):
        """Edges to other processes, split into (resolved, unresolved).

        An unresolved edge resolves when every endpoint it misses is a node in
        this scope. There are few of them, so this is done in Python."""
        rows = list(UnresolvedEdge.objects.filter(process_id__in=self.process_ids))
        if not rows:
            return [], []
        wanted = {r.src for r in rows} | {r.dst for r in rows}
        present = set(self.nodes().filter(node_id__in=wanted).values_list("node_id", flat=True))
        resolved, unresolved = [], []
        for r in rows:
            (resolved if r.src in present and r.dst in present else unresolved).append(r)
        return resolved, unresolved

    def edge_pairs(self):
        """Every (src, dst) needs edge of the scope, cross-process ones included."""
        pairs = list(self.local_edges().values_list("src", "dst"))
        resolved, _ = self.cross_edges()
        pairs.extend((r.src, r.dst) for r in resolved)
        return pairs


def live_process_ids(now=None):
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PEEPSWEB_LIVE_WINDOW_S)
    newest = (
        ProcessSnapshot.objects.filter(received_at__gte=cutoff, status__in=HAS_DATA)
        .values("proc_key")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)
    )
    return sorted(newest)


def resolve_scope(key):
    """`17`, `latest` or `live` -> Scope; ScopeNotFound for anything else."""
    key = str(key)
    if key == LIVE:
        return Scope(key=LIVE, snapshot=None, process_ids=live_process_ids())
    complete = Snapshot.objects.filter(status=Snapshot.COMPLETE)
    if key == LATEST:
        snapshot = complete.order_by("-id").first()
    elif key.isascii() and key.isdigit() and len(key) < 19:
        # isascii: isdigit() also takes "²" and "⑴", which int() refuses,
        # and int() reads "١٧" as 17: an id is spelled in ASCII digits only.
        snapshot = Snapshot.objects.filter(id=int(key)).first()
    else:
        snapshot = None
    if snapshot is None:
        raise ScopeNotFound(f"no snapshot {key!r}")
    ids = list(snapshot.processes.filter(status__in=HAS_DATA).values_list("id", flat=True))
    return Scope(key=str(snapshot.id), snapshot=snapshot, process_ids=ids)
