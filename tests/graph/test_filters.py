"""Kind, process and name filters: the walk never passes through a node that
fails them; the focus always stays."""

from tests.graph.conftest import draw, ids

LOCK = "lock-demo-4242"


def test_a_kind_filter_stops_the_walk_at_other_kinds(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id=f"task:{LOCK}:11", depth=2, kinds=frozenset({"task"}))
    # The locks are gone, so transfer_b_to_a is reached only through main.
    assert ids(graph) == {f"task:{LOCK}:11", f"task:{LOCK}:1", f"task:{LOCK}:12"}
    assert {n.depth for n in graph.nodes if n.id == f"task:{LOCK}:12"} == {2}


def test_the_focus_stays_even_when_it_fails_the_filter(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id=f"lock:{LOCK}:account_a", depth=1, kinds=frozenset({"task"}))
    assert ids(graph) == {f"lock:{LOCK}:account_a", f"task:{LOCK}:11", f"task:{LOCK}:12"}


def test_a_process_filter_keeps_the_walk_in_those_processes(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    everywhere = draw("live", node_id="task:frontend-100:5", depth=3)
    assert "task:backend-200:9" in ids(everywhere)
    frontend = draw(
        "live", node_id="task:frontend-100:5", depth=3, processes=frozenset({"frontend-100"})
    )
    assert {n.proc_key for n in frontend.nodes} == {"frontend-100"}
    assert "request:frontend-100:conn_1:7" in ids(frontend)


def test_a_name_filter_matches_labels_and_ids_case_insensitively(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    assert ids(draw(sid, q="TRANSFER")) == {f"task:{LOCK}:11", f"task:{LOCK}:12"}
    assert ids(draw(sid, q="lock:")) == {f"lock:{LOCK}:account_a", f"lock:{LOCK}:account_b"}


def test_whole_scope_filters_combine(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    graph = draw("live", kinds=frozenset({"task"}), processes=frozenset({"backend-200"}))
    assert ids(graph) == {"task:backend-200:9"}
