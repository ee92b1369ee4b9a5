"""Since when a cycle candidate has been there: the start of the unbroken run
of captures, ending at the shown ones, in which its members were in a cycle.

    first_seen.annotate(scope, candidates, as_json)  # adds the keys below

Each candidate's JSON gets

    first_seen_ns            captured_at_ns of the capture that begins the run
    first_seen_snapshot_id   the snapshot holding that capture
    present_for_ns           the shown captures' time minus first_seen_ns
    first_seen_capped        true when the walk stopped at its bound, not at a
                             capture without the cycle: it may be older ("≥")
    first_seen_oldest_stored true when the run reaches back to the oldest
                             capture still stored of a process: retention
                             may have removed older ones that had it too
                             (or the process began with it)

*Present* in a set of captures (one per process of the candidate) means:
every member is a node there and the members are strongly connected by the
needs edges among themselves (local and resolved cross-process ones). A
cycle that grew or shrank is a different candidate; one that sat inside a
larger component for a while still counts as present.

The walk goes back one capture at a time, always moving the process whose
capture is newest (ids follow ingest order) to its previous capture, and
stops at the first set of captures without the cycle; the run then begins
at the capture it moved from. Cheap steps first:

- for a cycle inside one process, a capture with the same cycle_key as the
  one after it (versions.cycle_key, a digest of that process's own cycles)
  has the same local cycles: skipped without reading a row. "?" (not
  looked for) and "" (none, which a capture with one of our cycles cannot
  have unless it predates cycle keys: migration 0003 left those "") settle
  nothing (models.NO_CYCLE_KEYS). A candidate whose walk gets to the
  process's oldest capture that way reads nothing.
- otherwise (the key changes or is "?", not looked for; or the cycle spans
  processes) the versions of the members' rows over the walked captures are
  read, for every such candidate of the scope in one go: the needs edges
  among the members, and across processes the unresolved edges and the
  members' nodes. A version covers a range of captures, so a step that
  crosses no version's start or end changes nothing and is skipped; at the
  others the members are checked, in memory.

Bounds: WALK captures per process, CHECKS checks per candidate,
SCOPE_CHECKS per scope; at a bound the run's start is the oldest capture
checked and `first_seen_capped` says so. The oldest stored capture of a
process is not a bound: a cycle there since then counts from it.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from django.db import connection

from snapshots.cycles.finder import factorize, strong_components
from snapshots.models import NO_CYCLE_KEYS, Edge, Node, ProcessSnapshot, UnresolvedEdge
from snapshots.scope import HAS_DATA

WALK = 5000  # captures read per process, newest first
CHECKS = 40  # member checks per candidate
SCOPE_CHECKS = 400  # and per scope (a thousand candidates stay cheap)


@dataclass(frozen=True)
class Step:
    id: int
    snapshot_id: int
    segment_id: int
    captured_at_ns: int | None
    cycle_key: str


def lineage_back(capture_id, proc_key):
    """The captures with data of proc_key up to capture_id, newest first, at
    most WALK (one query; the (proc_key, id) index)."""
    rows = (
        ProcessSnapshot.objects.filter(
            proc_key=proc_key, id__lte=capture_id, status__in=HAS_DATA, segment_id__isnull=False
        )
        .order_by("-id")
        .values_list("id", "snapshot_id", "segment_id", "captured_at_ns", "cycle_key")[:WALK]
    )
    return [Step(*row) for row in rows]


@dataclass
class Walk:
    """One candidate's walk: its members, the captures of its processes
    (newest first) and, once read, the versions of its rows by segment."""

    members: set
    lineages: dict  # proc_key -> [Step]
    edges: dict = field(default_factory=dict)  # segment -> [(seg, first, last, src, dst)]
    nodes: dict = field(default_factory=dict)  # segment -> [(seg, first, last, node_id)]
    bounds: dict = field(default_factory=dict)  # segment -> (sorted firsts, sorted lasts)

    @property
    def cross(self):
        return len(self.lineages) > 1

    def settled_by_keys(self):
        """Whether cycle_key alone carries the walk to the oldest capture."""
        if self.cross:
            return False
        [steps] = self.lineages.values()
        key = steps[0].cycle_key
        return key not in NO_CYCLE_KEYS and all(s.cycle_key == key for s in steps)

    def add(self, rows, row):
        rows.setdefault(row[0], []).append(row)
        firsts, lasts = self.bounds.setdefault(row[0], ([], []))
        firsts.append(row[1])
        lasts.append(row[2])

    def changed(self, newer, older):
        """Whether two consecutive captures of one process see different rows."""
        if newer.segment_id != older.segment_id:
            return True
        firsts, lasts = self.bounds.get(newer.segment_id, ((), ()))
        # A version begins after older (older < first <= newer) or ends
        # before newer (older <= last < newer).
        return bisect_right(firsts, newer.id) > bisect_right(firsts, older.id) or (
            bisect_left(lasts, newer.id) > bisect_left(lasts, older.id)
        )

    def present(self, view):
        """Whether the members are nodes of the captures `view` ({proc_key:
        Step}) and strongly connected by the needs edges among themselves."""
        pairs = [
            (row[3], row[4])
            for step in view.values()
            for row in self.edges.get(step.segment_id, ())
            if row[1] <= step.id <= row[2]
        ]
        if self.cross:
            found = {
                row[3]
                for step in view.values()
                for row in self.nodes.get(step.segment_id, ())
                if row[1] <= step.id <= row[2]
            }
            if found != self.members:
                return False
        if not pairs:
            return False
        graph = factorize(pairs)
        if set(graph.ids) != self.members:
            return False
        labels = strong_components(graph)
        return bool((labels == labels[0]).all())  # one member: its self-loop


class _Segments:
    """What select_in needs of a scope, selecting every row of some
    segments (every version, not the rows one capture sees)."""

    def __init__(self, segment_ids):
        self.segment_ids = sorted(segment_ids)
        self.captures = [(None, s, None) for s in self.segment_ids]

    def sql_filter(self, alias=""):
        column = (f"{alias}." if alias else "") + connection.ops.quote_name("segment_id")
        marks = ", ".join(["%s"] * len(self.segment_ids))
        return f"{column} IN ({marks})", list(self.segment_ids)


def read_rows(walks):
    """Read the versions of these walks' rows, one query per table for all
    of them (on PostgreSQL a query per candidate scanned a fresh partition
    each time). Candidates are strongly connected components, so a node is
    a member of one candidate at most."""
    from snapshots.cycles.service import select_in  # the service imports this module

    if not walks:
        return
    owner = {m: walk for walk in walks for m in walk.members}
    segments = _Segments({s.segment_id for w in walks for ss in w.lineages.values() for s in ss})
    fields = ("segment_id", "first_id", "last_id", "src", "dst")
    cross = {m: w for m, w in owner.items() if w.cross}
    for model, ends in ((Edge, owner), (UnresolvedEdge, cross)):
        for row in select_in(model, fields, segments, "src", ends):
            walk = ends[row[3]]
            if row[4] in walk.members:
                walk.add(walk.edges, row)
    # Across processes, an edge resolves when both ends are nodes of the view.
    fields = ("segment_id", "first_id", "last_id", "node_id")
    for row in select_in(Node, fields, segments, "node_id", cross):
        walk = cross[row[3]]
        walk.add(walk.nodes, row)
    for walk in walks:
        for firsts, lasts in walk.bounds.values():
            firsts.sort()
            lasts.sort()


def walk_back(walk, budget):
    """(Step that begins the run, capped, the shown captures' time, checks
    used, whether the step is its process's oldest stored capture),
    checking the members at most `budget` times."""
    lineages = walk.lineages
    pos = dict.fromkeys(lineages, 0)
    times = [steps[0].captured_at_ns for steps in lineages.values()]
    shown_ns = max((t for t in times if t is not None), default=None)
    used = 0
    while True:
        # The newest capture of the view goes back one.
        key = max(lineages, key=lambda k: lineages[k][pos[k]].id)
        steps, i = lineages[key], pos[key]
        newer = steps[i]
        if i + 1 == len(steps):
            # The oldest capture read: the oldest stored, or the walk's bound.
            capped = len(steps) == WALK
            return newer, capped, shown_ns, used, not capped
        older = steps[i + 1]
        pos[key] = i + 1
        if not walk.cross and newer.cycle_key == older.cycle_key not in NO_CYCLE_KEYS:
            continue  # the process's own cycles are the same
        if not walk.changed(newer, older):
            continue
        if used == budget:
            return newer, True, shown_ns, used, False
        used += 1
        if not walk.present({k: lineages[k][pos[k]] for k in lineages}):
            return newer, False, shown_ns, used, False


def annotate(scope, candidates, as_json):
    """Add the first-seen keys to each candidate's JSON (`as_json`, in the
    same order as the finder's `candidates`)."""
    shown = {p.proc_key: p.id for p in scope.processes()}
    lineages = {}
    walks = []
    for candidate in candidates:
        keys = [k for k in candidate.processes if k in shown]
        for k in keys:
            if k not in lineages:
                lineages[k] = lineage_back(shown[k], k)
        # A member of no process of the scope (never, short of a broken
        # row): nothing to walk, first seen unknown.
        known = keys and len(keys) == len(candidate.processes)
        walks.append(Walk(set(candidate.members), {k: lineages[k] for k in keys} if known else {}))
    read_rows([w for w in walks if w.lineages and not w.settled_by_keys()])
    checks_left = SCOPE_CHECKS
    for walk, out in zip(walks, as_json, strict=True):
        step, capped, shown_ns, oldest = None, True, None, False
        if walk.lineages:
            budget = min(CHECKS, checks_left)
            step, capped, shown_ns, used, oldest = walk_back(walk, budget)
            checks_left -= used
        first_ns = step.captured_at_ns if step else None
        out["first_seen_ns"] = first_ns
        out["first_seen_snapshot_id"] = step.snapshot_id if step else None
        out["present_for_ns"] = (
            shown_ns - first_ns if shown_ns is not None and first_ns is not None else None
        )
        out["first_seen_capped"] = capped
        out["first_seen_oldest_stored"] = oldest
