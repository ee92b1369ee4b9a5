"""Cross-process cycles resolve in the live view (and in one pull)."""

from snapshots.cycles import service
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope

from .helpers import age_captures, assert_real_simple_cycle, document, pull_snapshot, task


def rpc_ring(keys):
    """Process i calls process i+1 while holding the lock process i-1 needs.

    In process P: task:P:1 holds lock:P:l and waits on request:P:out (to the
    next process); the response:P:in to the previous process's request waits
    for its handler task:P:2, which waits on lock:P:l. Each process emits the
    edge from the previous process's request to its own response (the server
    side knows the correlation), so every cross edge is unresolved alone."""
    docs = []
    for i, key in enumerate(keys):
        prev = keys[i - 1]
        nodes = [
            task(key, 1, f"{key}_caller"),
            task(key, 2, f"{key}_handler"),
            (f"lock:{key}:l", "lock", {"name": f"{key}_lock", "lock_kind": "mutex"}),
            (f"request:{key}:out", "request", {"method": "Next.call", "peer": "next"}),
            (f"response:{key}:in", "response", {"method": "Next.call", "status": "in_flight"}),
        ]
        edges = [
            (f"task:{key}:1", f"request:{key}:out"),
            (f"response:{key}:in", f"task:{key}:2"),
            (f"task:{key}:2", f"lock:{key}:l"),
            (f"lock:{key}:l", f"task:{key}:1"),
            (f"request:{prev}:out", f"response:{key}:in"),
        ]
        docs.append(document(key, nodes, edges))
    return docs


def all_edges(docs):
    return {(e["src_id"], e["dst_id"]) for d in docs for e in d["edges"]}


def live_candidates():
    return service.cycles_json(resolve_scope("live"))["candidates"]


def test_a_cycle_spanning_two_processes_resolves_in_the_live_view(db):
    docs = rpc_ring(["alpha-1", "beta-2"])
    for doc in docs:
        ingest_document(doc)
    [c] = live_candidates()
    assert len(c["cycle"]) == 10
    assert c["cross_process"] is True
    assert_real_simple_cycle(c["cycle"], all_edges(docs))
    assert {m.split(":")[1] for m in c["members"]} == {"alpha-1", "beta-2"}
    assert "request Next.call waits for its response in process beta" in [
        e["explanation"] for e in c["edges"]
    ]


def test_a_cycle_spanning_three_processes_resolves_in_the_live_view(db):
    docs = rpc_ring(["alpha-1", "beta-2", "gamma-3"])
    for doc in docs:
        ingest_document(doc)
    [c] = live_candidates()
    assert len(c["cycle"]) == 15
    assert_real_simple_cycle(c["cycle"], all_edges(docs))
    assert {m.split(":")[1] for m in c["members"]} == {"alpha-1", "beta-2", "gamma-3"}
    assert c["blocked_task_count"] == 6
    assert c["confidence"] == "high"


def test_with_one_process_of_three_missing_there_is_no_cycle(db):
    docs = rpc_ring(["alpha-1", "beta-2", "gamma-3"])
    for doc in docs[:2]:
        ingest_document(doc)
    assert live_candidates() == []


def test_each_process_alone_has_no_cycle_in_its_own_snapshot(db):
    for doc in rpc_ring(["alpha-1", "beta-2", "gamma-3"]):
        proc = ingest_document(doc)
        assert service.cycles_json(resolve_scope(proc.snapshot_id))["candidates"] == []


def test_a_three_process_cycle_resolves_in_one_pull_snapshot(db):
    snapshot = pull_snapshot(*rpc_ring(["alpha-1", "beta-2", "gamma-3"]))
    [c] = service.cycles_json(resolve_scope(snapshot.id))["candidates"]
    assert len(c["members"]) == 15


def test_captures_older_than_the_live_window_are_left_out(db, settings):
    settings.PEEPSWEB_LIVE_WINDOW_S = 30
    for doc in rpc_ring(["alpha-1", "beta-2"]):
        ingest_document(doc)
    age_captures(31)
    assert live_candidates() == []


def test_a_newer_capture_of_a_process_replaces_its_older_one(db):
    docs = rpc_ring(["alpha-1", "beta-2"])
    for doc in docs:
        ingest_document(doc)
    assert len(live_candidates()) == 1
    # beta's handler finished: its newer capture no longer waits on the lock
    healed = dict(docs[1])
    healed["edges"] = [e for e in docs[1]["edges"] if e["src_id"] != "task:beta-2:2"]
    ingest_document(healed)
    assert live_candidates() == []
