"""Cross-process edges: resolved in the live view (and in pull snapshots),
absent while the other process is not in the scope."""

from tests.graph.conftest import draw, ids, pairs

CALLER = "task:frontend-100:5"
REQUEST = "request:frontend-100:conn_1:7"
RESPONSE = "response:backend-200:conn_1:7"


def test_the_live_view_walks_across_processes(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    graph = draw("live", node_id=CALLER, depth=2)
    assert RESPONSE in ids(graph)
    (edge,) = [e for e in graph.edges if (e.src, e.dst) == (REQUEST, RESPONSE)]
    assert edge.cross_process
    assert not [e for e in graph.edges if e.src == CALLER][0].cross_process


def test_the_two_process_cycle_is_marked_in_the_live_view(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    graph = draw("live", node_id=CALLER, depth=6)
    assert len(graph.nodes) == 8
    assert {n.cycle for n in graph.nodes} == {0}
    assert all(e.in_cycle for e in graph.edges)
    assert {n.proc_key for n in graph.nodes} == {"frontend-100", "backend-200"}


def test_a_push_snapshot_alone_does_not_reach_the_other_process(example_snapshot):
    frontend = example_snapshot("rpc_frontend").snapshot_id
    example_snapshot("rpc_backend")
    graph = draw(frontend, node_id=CALLER, depth=3)
    assert {n.proc_key for n in graph.nodes} == {"frontend-100"}
    assert (REQUEST, RESPONSE) not in pairs(graph)
    # ... and no cycle is claimed from the half it sees.
    assert all(n.cycle is None for n in graph.nodes)
