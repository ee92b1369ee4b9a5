"""A scope is what a read URL's `{id}` names: one snapshot, `latest`, or
`live` (the union of each process's newest capture within the freshness
window). Every reader (API, pages, cycles) works on a Scope, so the live
graph behaves exactly like a snapshot.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from itertools import batched

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from snapshots import versions
from snapshots.models import (
    Edge,
    Frame,
    Node,
    PendingTrace,
    ProcessSnapshot,
    Snapshot,
    UnresolvedEdge,
    WakeEvent,
)

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

    @cached_property
    def captures(self):
        """[(capture id, segment id, captured_at_ns)]: what the row readers need."""
        return versions.captures_of(self.process_ids)

    # Rows carry `process_id`, the capture of this scope that sees them
    # (versions.rows), so readers group by capture as they always did.
    def nodes(self):
        return versions.rows(Node, self.captures)

    def local_edges(self):
        return versions.rows(Edge, self.captures)

    def unresolved_edges(self):
        return versions.rows(UnresolvedEdge, self.captures)

    def traces(self):
        return versions.rows(PendingTrace, self.captures)

    def frames(self):
        return versions.rows(Frame, self.captures)

    def wakes(self):
        return versions.rows(WakeEvent, self.captures)

    def frame_texts(self, wanted):
        """{process_id: frame keys} -> {(process_id, key): text}. Frame ids
        are the sender's, per capture."""
        by_id = {c[0]: c for c in self.captures}
        texts = {}
        for process_id, keys in wanted.items():
            capture = by_id.get(process_id)
            if capture is None:
                continue
            frames = versions.rows(Frame, [capture]).values_list("frame_key", "text")
            for batch in batched(sorted(keys), versions.IN_LIST):
                for key, text in frames.filter(frame_key__in=batch):
                    texts[(process_id, key)] = text
        return texts

    def sql_filter(self, alias=""):
        """(WHERE text, params) selecting this scope's rows, for raw SQL readers."""
        return versions.visible_sql([(c[0], c[1]) for c in self.captures], alias)

    def cross_edges(self):
        """Edges to other processes, split into (resolved, unresolved).

        An unresolved edge resolves when every endpoint it misses is a node in
        this scope. There are few of them, so this is done in Python."""
        rows = list(self.unresolved_edges())
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


def newest_snapshot():
    """The newest complete snapshot (what `latest` names), or None."""
    return Snapshot.objects.filter(status=Snapshot.COMPLETE).order_by("-id").first()


def resolve_scope(key):
    """`17`, `latest` or `live` -> Scope; ScopeNotFound for anything else."""
    key = str(key)
    if key == LIVE:
        return Scope(key=LIVE, snapshot=None, process_ids=live_process_ids())
    if key == LATEST:
        snapshot = newest_snapshot()
    elif key.isascii() and key.isdigit() and len(key) < 19:
        # isascii: isdigit() also takes "²" and "⑴", which int() refuses,
        # and int() reads "١٧" as 17: an id is spelled in ASCII digits only.
        snapshot = Snapshot.objects.filter(id=int(key)).first()
    else:
        snapshot = None
    if snapshot is None:
        raise ScopeNotFound(f"no snapshot {key!r}")
    rows = snapshot.processes.filter(status__in=HAS_DATA).order_by("id")
    rows = list(rows.values_list("id", "segment_id", "captured_at_ns"))
    scope = Scope(key=str(snapshot.id), snapshot=snapshot, process_ids=[r[0] for r in rows])
    scope.captures = [r for r in rows if r[1] is not None]  # spares captures_of's query
    return scope
