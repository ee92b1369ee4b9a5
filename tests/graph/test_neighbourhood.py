"""Breadth-first neighbourhoods in the needs graph: depth, both directions,
induced edges, the focus."""

from django.http import QueryDict

from snapshots.graph.neighbourhood import MAX_DEPTH, GraphOptions
from tests.graph.conftest import draw, ids, pairs

LOCK = "lock-demo-4242"
FLOW = "persona-scheduler-777"


def t(proc, n):
    return f"task:{proc}:{n}"


def test_depth_one_holds_what_a_node_needs_and_what_needs_it(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id=t(LOCK, 11), depth=1)
    # 11 needs account_b; account_a (held by 11) and main need 11.
    assert ids(graph) == {
        t(LOCK, 11),
        f"lock:{LOCK}:account_b",
        f"lock:{LOCK}:account_a",
        t(LOCK, 1),
    }
    assert graph.focus.id == t(LOCK, 11)
    assert graph.depth_counts == [1, 3]


def test_depth_two_reaches_two_hops_in_any_direction(example_snapshot):
    sid = example_snapshot("taskgraph_workflow").snapshot_id
    graph = draw(sid, node_id=t(FLOW, 5), depth=2)
    # transform(5) needs 2, 3, 4 and is needed by load(7); two hops add
    # gather_data(1) below, fallback_transform(6) beside, 8 and 9 above.
    assert ids(graph) == {t(FLOW, n) for n in (5, 2, 3, 4, 7, 1, 6, 8, 9)}
    depth = {n.id: n.depth for n in graph.nodes}
    assert depth[t(FLOW, 5)] == 0
    assert {depth[t(FLOW, n)] for n in (2, 3, 4, 7)} == {1}
    assert {depth[t(FLOW, n)] for n in (1, 6, 8, 9)} == {2}


def test_edges_between_two_nodes_of_the_last_hop_are_drawn(example_snapshot):
    sid = example_snapshot("taskgraph_workflow").snapshot_id
    graph = draw(sid, node_id=t(FLOW, 9), depth=2)
    # cleanup(9) -> load(7), fallback(6); then transform(5), report(8), extract_api(3):
    # transform -> extract_api joins two nodes found at the last hop.
    assert ids(graph) == {t(FLOW, n) for n in (9, 7, 6, 5, 8, 3)}
    assert (t(FLOW, 5), t(FLOW, 3)) in pairs(graph)
    # ... and only edges among drawn nodes: transform -> extract_database is not.
    assert all(s in ids(graph) and d in ids(graph) for s, d in pairs(graph))


def test_the_drawn_edges_are_every_edge_among_the_drawn_nodes(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id=t(LOCK, 11), depth=2)
    assert pairs(graph) == {
        (f"lock:{LOCK}:account_a", t(LOCK, 11)),
        (t(LOCK, 11), f"lock:{LOCK}:account_b"),
        (f"lock:{LOCK}:account_b", t(LOCK, 12)),
        (t(LOCK, 12), f"lock:{LOCK}:account_a"),
        (t(LOCK, 1), t(LOCK, 11)),
        (t(LOCK, 1), t(LOCK, 12)),
    }
    # metrics_flush has no edge: no walk reaches it.
    assert t(LOCK, 13) not in ids(graph)


def test_a_node_without_edges_is_drawn_alone(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id=t(LOCK, 13), depth=3)
    assert ids(graph) == {t(LOCK, 13)}
    assert graph.edges == []


def test_an_unknown_focus_is_reported_not_drawn(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid, node_id="task:lock-demo-4242:999")
    assert graph.focus_missing
    assert graph.nodes == []


def test_a_node_of_another_snapshot_is_not_found(example_snapshot):
    first = example_snapshot("mutex_lock_order_inversion").snapshot_id
    example_snapshot("taskgraph_workflow")
    assert draw(first, node_id=t(FLOW, 5)).focus_missing


def test_without_a_focus_the_whole_scope_is_drawn(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    graph = draw(sid)
    assert len(graph.nodes) == 6
    assert len(graph.edges) == 6
    assert graph.focus is None


def test_options_from_the_query_string_are_clamped():
    assert GraphOptions.from_query(QueryDict("depth=99")).depth == MAX_DEPTH
    assert GraphOptions.from_query(QueryDict("depth=0")).depth == 1
    assert GraphOptions.from_query(QueryDict("depth=abc")).depth == 2
    assert GraphOptions.from_query(QueryDict("")).depth == 2
    assert GraphOptions.from_query(QueryDict("colour=<b>")).colour == "state"
    options = GraphOptions.from_query(
        QueryDict("node=x&kind=task&kind=lock&process=p&merge_channels=1&hide_isolated=1")
    )
    assert options.kinds == {"task", "lock"}
    assert options.processes == {"p"}
    assert options.merge_channels and options.hide_isolated and not options.merge_rpc
