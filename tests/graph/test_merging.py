"""Noise controls: channel tx/rx pairs and request/response pairs drawn as
one node, nodes without edges hidden."""

from tests.graph.conftest import document, draw, ids, pairs

STALL = "channel-full-stall-3111"
TX = f"mpsc:{STALL}:work_queue:tx"
RX = f"mpsc:{STALL}:work_queue:rx"
PRODUCER = f"task:{STALL}:2"
CONSUMER = f"task:{STALL}:3"


def test_without_merging_each_channel_end_is_its_own_node(example_snapshot):
    sid = example_snapshot("channel_full_stall").snapshot_id
    graph = draw(sid, node_id=PRODUCER, depth=2)
    assert ids(graph) == {PRODUCER, TX, RX}
    assert pairs(graph) == {(PRODUCER, TX), (TX, RX)}


def test_merging_draws_a_channel_as_one_node_and_drops_its_inner_edge(example_snapshot):
    sid = example_snapshot("channel_full_stall").snapshot_id
    graph = draw(sid, node_id=PRODUCER, depth=1, merge_channels=True)
    (channel,) = [n for n in graph.nodes if n.shape == "channel"]
    assert channel.members == [TX, RX]
    assert channel.kind == "mpsc"
    assert channel.label == "work_queue"
    # One hop reaches the whole channel: its two ends count as one node.
    assert ids(graph) == {PRODUCER, channel.id}
    assert pairs(graph) == {(PRODUCER, channel.id)}


def test_a_oneshot_pair_merges_whichever_end_is_reached_first(example_snapshot):
    sid = example_snapshot("channel_full_stall").snapshot_id
    graph = draw(sid, node_id=CONSUMER, depth=1, merge_channels=True)
    (gate,) = [n for n in graph.nodes if n.shape == "channel"]
    assert gate.members == [f"oneshot:{STALL}:start_gate:tx", f"oneshot:{STALL}:start_gate:rx"]
    assert gate.state_class == "waiting"  # its attrs say pending
    assert pairs(graph) == {(CONSUMER, gate.id)}


def test_a_request_and_its_response_merge_across_processes(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    graph = draw("live", node_id="task:frontend-100:5", depth=1, merge_rpc=True)
    (call,) = [n for n in graph.nodes if n.members[0] == "request:frontend-100:conn_1:7"]
    assert call.shape == "rpc"
    assert call.members == ["request:frontend-100:conn_1:7", "response:backend-200:conn_1:7"]
    assert call.label == "Backend.fetch"
    assert call.proc_key == "frontend-100 → backend-200"
    assert call.home == "frontend-100"  # coloured with the caller's process
    # The handler behind the response is one hop from the merged call.
    assert "task:backend-200:9" not in ids(graph)
    deeper = draw("live", node_id="task:frontend-100:5", depth=2, merge_rpc=True)
    assert (call.id, "task:backend-200:9") in pairs(deeper)


def test_requests_sharing_a_correlation_key_ambiguously_stay_apart(ingest):
    attrs = {"correlation_key": "conn_1:1", "method": "M"}
    doc = document(
        "amb-1",
        [
            ("task:amb-1:1", "task", "caller", {"task_id": 1, "state": "pending"}),
            ("request:amb-1:a", "request", "M", attrs),
            ("request:amb-1:b", "request", "M", attrs),
            ("response:amb-1:c", "response", "M", attrs),
        ],
        [
            ("task:amb-1:1", "request:amb-1:a"),
            ("task:amb-1:1", "request:amb-1:b"),
            ("request:amb-1:a", "response:amb-1:c"),
        ],
    )
    graph = draw(ingest(doc), node_id="task:amb-1:1", depth=2, merge_rpc=True)
    assert not [n for n in graph.nodes if n.shape == "rpc"]
    assert len(graph.nodes) == 4


def test_hiding_nodes_without_edges(example_snapshot):
    sid = example_snapshot("mutex_lock_order_inversion").snapshot_id
    assert "task:lock-demo-4242:13" in ids(draw(sid))
    assert "task:lock-demo-4242:13" not in ids(draw(sid, hide_isolated=True))


def test_hiding_catches_channels_whose_only_edge_was_inside_the_pair(ingest):
    doc = document(
        "ch-1",
        [
            ("mpsc:ch-1:q:tx", "mpsc_tx", "q tx", {}),
            ("mpsc:ch-1:q:rx", "mpsc_rx", "q rx", {}),
            ("task:ch-1:1", "task", "idle", {"task_id": 1, "state": "idle"}),
        ],
        [("mpsc:ch-1:q:tx", "mpsc:ch-1:q:rx")],
    )
    sid = ingest(doc)
    assert len(draw(sid, merge_channels=True).nodes) == 2
    assert draw(sid, merge_channels=True, hide_isolated=True).nodes == []


def test_a_self_loop_is_kept_and_is_a_cycle(ingest):
    doc = document(
        "self-1",
        [("task:self-1:1", "task", "narcissus", {"task_id": 1, "state": "pending"})],
        [("task:self-1:1", "task:self-1:1")],
    )
    graph = draw(ingest(doc), node_id="task:self-1:1")
    assert pairs(graph) == {("task:self-1:1", "task:self-1:1")}
    assert graph.nodes[0].cycle == 0
    assert graph.edges[0].in_cycle
