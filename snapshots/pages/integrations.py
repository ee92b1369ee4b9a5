"""Where the pages show what the cycles area computes: the cycle finder
(banner, badges, markers) and "stuck across snapshots". That area owns its
logic and partial templates; this module only turns its results into the
context the pages' templates read."""

from snapshots.cycles import service
from snapshots.cycles.stuck import stuck_context
from snapshots.models import Snapshot
from snapshots.scope import ScopeNotFound, resolve_scope

__all__ = ["cycle_context", "fill_cycle_counts", "stuck_context"]

# The snapshot list computes cycles itself only for snapshots this small;
# bigger ones show their count once something (the cycles page, the API,
# any snapshot page) has computed and cached it.
LIST_COMPUTE_LIMIT = 20_000


def cycle_context(scope):
    """{"cycles": {"count", "danger", "warn"}, "cycle_count": n,
    "cycle_members": {node ids}} for the banner and the ⟳ markers.
    The finder caches its result per snapshot (and per set of live
    captures), so this is one cached read after the first call."""
    result = service.cycle_result(scope)
    summary = service.summarize(result)
    members = {m for c in result["candidates"] for m in c["members"]}
    return {"cycles": summary, "cycle_count": summary["count"], "cycle_members": members}


def fill_cycle_counts(rows):
    """Give snapshot-list rows without a cached count one, when the snapshot
    is small enough to analyse on the spot (see LIST_COMPUTE_LIMIT)."""
    for row in rows:
        s = row.snapshot
        small = s.node_count + s.edge_count <= LIST_COMPUTE_LIMIT
        if row.cycle_candidates is None and small and s.status == Snapshot.COMPLETE:
            try:
                scope = resolve_scope(s.id)
            except ScopeNotFound:  # pruned since the list was read: no count to show
                continue
            row.cycle_candidates = len(service.cycle_result(scope)["candidates"])
    return rows
