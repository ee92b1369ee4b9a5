"""The read-layer functions the tools added (the pages may use them too):
wait chains, edge sentences, the longest-pending tasks, and
the inspector's edge lists looked up by the right index."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from snapshots import queries
from snapshots.cycles import chain
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope
from tests.support.examples import read_example

T1, T11, T12 = "task:lock-demo-4242:1", "task:lock-demo-4242:11", "task:lock-demo-4242:12"
LOCK_A = "lock:lock-demo-4242:account_a"


@pytest.fixture
def lock_demo(example_snapshot):
    return resolve_scope(example_snapshot("mutex_lock_order_inversion").snapshot_id)


def test_a_wait_chain_prefers_the_need_that_closes_a_loop(lock_demo):
    c = chain.wait_chain(lock_demo, T1)
    assert [h.dst for h in c.hops] == [T11, "lock:lock-demo-4242:account_b", T12, LOCK_A, T11]
    assert (c.end, c.loop_hop) == (chain.LOOPS, 2)
    assert (c.hops[0].others, c.hops[0].others_total) == ([T12], 1)


def test_a_wait_chain_is_cut_at_max_hops(lock_demo):
    c = chain.wait_chain(lock_demo, T11, max_hops=2)
    assert (c.end, len(c.hops)) == (chain.CUT, 2)
    assert c.last == T12


def test_a_wait_chain_from_a_node_needing_nothing_has_no_hop(lock_demo):
    c = chain.wait_chain(lock_demo, "task:lock-demo-4242:13")
    assert (c.end, c.hops) == (chain.NEEDS_NOTHING, [])
    assert "needs nothing: it is not waiting on anything." in chain.render_chain(c)


def test_a_wait_chain_says_where_it_leaves_the_snapshot(db):
    doc = read_example("rpc_frontend")  # its request waits on the backend's response
    request, response = "request:frontend-100:conn_1:7", "response:backend-200:conn_1:7"
    doc["edges"].append({"src_id": request, "dst_id": response, "kind": "needs"})
    scope = resolve_scope(ingest_document(doc).snapshot_id)
    c = chain.wait_chain(scope, "task:frontend-100:5")
    assert c.end == chain.LEAVES_SCOPE
    assert [h.dst for h in c.hops] == [request, response]
    assert c.hops[-1].explanation == (
        f"request Backend.fetch needs {response} in backend-200,"
        f" which is not in snapshot {scope.key}"
    )
    assert chain.render_chain(c).endswith(
        f"The chain leaves snapshot {scope.key} at {response}: load a snapshot or the live view"
        " that includes that process to follow it further.\n"
    )


def test_edge_sentences_say_both_directions(lock_demo):
    rows, _ = queries.node_edges(lock_demo, T11, outgoing=False)
    assert chain.edge_sentences(lock_demo, T11, rows, outgoing=False) == [
        "lock account_a is held by task transfer_a_to_b",
        "task main waits for task transfer_a_to_b",
    ]


def test_longest_pending_tasks_skip_finished_ones_and_count_all(lock_demo):
    # Pending at the capture: T11 42.0 s, T12 41.4 s (traces taken 0.5 s before it).
    tasks, total = queries.longest_pending_tasks(lock_demo, 41_700_000, limit=10)
    assert ([t.node_id for t in tasks], total) == ([T11], 1)
    tasks, total = queries.longest_pending_tasks(lock_demo, 0, limit=1)
    assert ([t.node_id for t in tasks], total) == ([T11], 2)
    traces = queries.newest_pending_traces(lock_demo, tasks)
    assert traces[T11]["frames"][0]["text"].startswith("std::sync::Mutex<T>::lock")


@pytest.mark.parametrize("outgoing", [True, False])
def test_a_nodes_edges_are_looked_up_by_its_own_end(lock_demo, outgoing):
    """SQLite answered `src = x ORDER BY dst` by walking the (process, dst)
    index over every edge of the capture, to save sorting a handful of rows:
    40 ms per inspector or wait-chain hop on a 100,000-edge capture, where
    looking x up by (process, src) takes 0.4 ms."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner costs both plans")
    with CaptureQueriesContext(connection) as queries_run:
        queries.node_edges(lock_demo, T11, outgoing=outgoing)
    mine = "src" if outgoing else "dst"
    listing = next(
        q["sql"]
        for q in queries_run.captured_queries
        if "ORDER BY" in q["sql"] and "edge" in q["sql"]
    )
    with connection.cursor() as cursor:
        plan = " ".join(str(row) for row in cursor.execute("EXPLAIN QUERY PLAN " + listing))
    assert f"edge_segment_{mine} (segment_id=? AND {mine}=?)" in plan
