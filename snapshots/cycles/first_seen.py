"""Since when a cycle candidate has been there: the start of the unbroken run
of captures, ending at the shown ones, in which its members were in a cycle.

    first_seen.annotate(scope, candidates, as_json)  # adds the keys below

Each candidate's JSON gets

    first_seen_ns            captured_at_ns of the capture that begins the run
    first_seen_snapshot_id   the snapshot holding that capture
    present_for_ns           the shown captures' time minus first_seen_ns
    first_seen_capped        true when the walk stopped at its bound, not at a
                             capture without the cycle: it may be older ("≥")

*Present* in a set of captures (one per process of the candidate) means:
every member is a node there and the members are strongly connected by the
needs edges among themselves (local and resolved cross-process ones). A
cycle that grew or shrank is a different candidate; one that sat inside a
larger component for a while still counts as present.

The walk goes back one capture at a time, always moving the process whose
capture is newest (ids follow ingest order) to its previous capture, and
stops at the first set of captures without the cycle; the run then begins
at the capture it moved from. Cheap steps first: for a cycle inside one
process, a capture with the same cycle_key as the one after it
(versions.cycle_key, a digest of that process's own cycles) has the same
local cycles, so it is skipped without reading a row; only where the key
changes (or is "?", not looked for) are the members' edges read. A
cross-process cycle is checked at every step. The walk is bounded
(WALK captures per process, CHECKS reads per candidate, SCOPE_CHECKS per
scope); at the bound the run's start is the oldest capture checked and
`first_seen_capped` says so. The oldest stored capture of a process is not
a bound: a cycle there since then counts from it.
"""

from dataclasses import dataclass

from snapshots.cycles.finder import factorize, strong_components
from snapshots.models import Edge, Node, ProcessSnapshot, UnresolvedEdge
from snapshots.scope import HAS_DATA, Scope

WALK = 5000  # captures read per process, newest first
CHECKS = 40  # reads of the members' edges per candidate
SCOPE_CHECKS = 400  # and per scope (a thousand candidates stay cheap)
UNKNOWN = "?"  # versions.UNKNOWN_CYCLES: cycles not looked for


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


def present(view, members, cross):
    """Whether `members` are nodes of the captures `view` ({proc_key: Step})
    and strongly connected by the needs edges among themselves."""
    from snapshots.cycles.service import select_in  # the service imports this module

    steps = list(view.values())
    scope = Scope(key="history", snapshot=None, process_ids=[s.id for s in steps])
    scope.captures = [(s.id, s.segment_id, s.captured_at_ns) for s in steps]
    wanted = set(members)
    pairs = [
        (src, dst)
        for src, dst in select_in(Edge, ("src", "dst"), scope, "src", wanted)
        if dst in wanted
    ]
    if cross:
        # Cross-process edges resolve when both ends are nodes of the view.
        found = {row[0] for row in select_in(Node, ("node_id",), scope, "node_id", wanted)}
        if found != wanted:
            return False
        pairs += [
            (src, dst)
            for src, dst in select_in(UnresolvedEdge, ("src", "dst"), scope, "src", wanted)
            if dst in wanted
        ]
    if not pairs:
        return False
    graph = factorize(pairs)
    if set(graph.ids) != wanted:
        return False
    labels = strong_components(graph)
    if len(wanted) == 1:
        return True  # a self-loop: its only edge
    return bool((labels == labels[0]).all())


class Walker:
    """Per scope: the lineages read so far and the checks left."""

    def __init__(self, scope):
        self.shown = {p.proc_key: p for p in scope.processes()}
        self.lineages = {}
        self.checks_left = SCOPE_CHECKS

    def lineage(self, proc_key):
        if proc_key not in self.lineages:
            shown = self.shown[proc_key]
            self.lineages[proc_key] = lineage_back(shown.id, proc_key)
        return self.lineages[proc_key]

    def first_seen(self, members, proc_keys):
        """(Step that begins the run, capped, the shown captures' time)."""
        lineages = {k: self.lineage(k) for k in proc_keys if k in self.shown}
        if not lineages or any(not steps for steps in lineages.values()):
            return None, True, None
        pos = dict.fromkeys(lineages, 0)
        times = [steps[0].captured_at_ns for steps in lineages.values()]
        shown_ns = max((t for t in times if t is not None), default=None)
        cross = len(lineages) > 1
        checks = CHECKS
        while True:
            # The newest capture of the view goes back one.
            key = max(lineages, key=lambda k: lineages[k][pos[k]].id)
            steps, i = lineages[key], pos[key]
            newer = steps[i]
            if i + 1 == len(steps):
                # The oldest capture read: the oldest stored, or the walk's bound.
                return newer, len(steps) == WALK, shown_ns
            older = steps[i + 1]
            same = not cross and newer.cycle_key == older.cycle_key != UNKNOWN
            if not same:
                if checks == 0 or self.checks_left == 0:
                    return newer, True, shown_ns
                checks -= 1
                self.checks_left -= 1
                view = {k: lineages[k][pos[k]] for k in lineages} | {key: older}
                if not present(view, members, cross):
                    return newer, False, shown_ns
            pos[key] = i + 1


def annotate(scope, candidates, as_json):
    """Add the first-seen keys to each candidate's JSON (`as_json`, in the
    same order as the finder's `candidates`)."""
    walker = Walker(scope)
    for candidate, out in zip(candidates, as_json, strict=True):
        step, capped, shown_ns = walker.first_seen(candidate.members, candidate.processes)
        first_ns = step.captured_at_ns if step else None
        out["first_seen_ns"] = first_ns
        out["first_seen_snapshot_id"] = step.snapshot_id if step else None
        out["present_for_ns"] = (
            shown_ns - first_ns if shown_ns is not None and first_ns is not None else None
        )
        out["first_seen_capped"] = capped
