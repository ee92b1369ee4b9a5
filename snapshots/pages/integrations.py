"""Where the pages show what other areas compute: the cycle finder (banner,
badges, markers) and "stuck across snapshots". Those areas own their logic
and partial templates; this module only fetches their context, so a page
never depends on their internals. If one of them fails, the page still
renders (without that part) and the error is logged: a broken add-on must
not hide the task table from someone whose service is down."""

import logging

from snapshots.models import Snapshot

log = logging.getLogger(__name__)

# The snapshot list computes cycles itself only for snapshots this small;
# bigger ones show their count once something (the cycles page, the API,
# any snapshot page) has computed and cached it.
LIST_COMPUTE_LIMIT = 20_000


def _service():
    try:
        from snapshots.cycles import service
    except ImportError:
        return None
    return service


def cycle_context(scope):
    """{"cycles": {"count", "danger", "warn"} or None, "cycle_count": n or
    None, "cycle_members": {node ids}} for the banner and the ⟳ markers.
    The finder caches its result per snapshot (and per set of live
    captures), so this is one cached read after the first call."""
    service = _service()
    if service is None:
        return {"cycles": None, "cycle_count": None, "cycle_members": set()}
    try:
        result = service.cycle_result(scope)
        summary = service.summarize(result)
    except Exception:
        log.exception("cycle finder failed on %s", scope.key)
        return {"cycles": None, "cycle_count": None, "cycle_members": set()}
    members = {m for c in result["candidates"] for m in c["members"]}
    return {"cycles": summary, "cycle_count": summary["count"], "cycle_members": members}


def fill_cycle_counts(rows):
    """Give snapshot-list rows without a cached count one, when the snapshot
    is small enough to analyse on the spot (see LIST_COMPUTE_LIMIT)."""
    service = _service()
    if service is None:
        return rows
    from snapshots.scope import resolve_scope

    for row in rows:
        s = row.snapshot
        small = s.node_count + s.edge_count <= LIST_COMPUTE_LIMIT
        if row.cycle_candidates is None and small and s.status == Snapshot.COMPLETE:
            try:
                row.cycle_candidates = len(service.cycle_result(resolve_scope(s.id))["candidates"])
            except Exception:
                log.exception("cycle finder failed on snapshot %s", s.id)
    return rows


def stuck_context(scope):
    """{"stuck": [...], "stuck_k": k} for templates/cycles/_stuck.html, or {}."""
    try:
        from snapshots.cycles.stuck import stuck_context as stuck
    except ImportError:
        return {}
    try:
        return stuck(scope)
    except Exception:
        log.exception("stuck-across-snapshots failed on %s", scope.key)
        return {}
