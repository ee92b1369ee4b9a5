"""Every tool through the SDK's client, on the example snapshots, against a
real daphne server; bad arguments are tool errors."""

from peepsweb_client.agent import Agent

from snapshots.ingest import ingest_document
from tests.mcp.conftest import mcp_call, mcp_tools, text
from tests.support.examples import read_example

TOOLS = {
    "list_snapshots",
    "deadlock_candidates",
    "wait_chain",
    "node",
    "stuck_tasks",
    "diff_snapshots",
    "jump_now",
}
T11, T12 = "task:lock-demo-4242:11", "task:lock-demo-4242:12"
LOCK_A, LOCK_B = "lock:lock-demo-4242:account_a", "lock:lock-demo-4242:account_b"


def test_the_tools_are_listed_and_list_snapshots_counts_each_snapshots_deadlocks(
    examples_server,
):
    server, ids = examples_server
    tools = {t.name: t for t in mcp_tools(server)}
    assert set(tools) == TOOLS
    assert set(tools["diff_snapshots"].input_schema["properties"]) == {"from", "to", "limit"}
    assert tools["wait_chain"].input_schema["required"] == ["snapshot", "node_id"]
    assert tools["list_snapshots"].annotations.read_only_hint is True
    assert tools["jump_now"].annotations.read_only_hint is False
    assert {t.name for t in mcp_tools(server, path="/mcp/")} == TOOLS  # /mcp/ is /mcp

    (result,) = mcp_call(server, [("list_snapshots", {})])
    assert not result.is_error
    rows = result.structured_content["snapshots"]
    assert [r["snapshot_id"] for r in rows] == sorted(ids.values(), reverse=True)
    lock_demo = next(r for r in rows if r["snapshot_id"] == ids["mutex_lock_order_inversion"])
    assert lock_demo["cycle_candidates"] == 1
    assert lock_demo["processes"][0]["proc_key"] == "lock-demo-4242"
    lines = text(result).splitlines()
    assert lines[0] == f"Snapshots, newest first: 1-{len(ids)} of {len(ids)}."
    line = next(x for x in lines if x.startswith(f"snapshot {ids['mutex_lock_order_inversion']} "))
    assert "lock-demo (lock-demo-4242); 6 nodes, 6 edges" in line
    assert "tasks: 3 waiting, 1 done; 1 deadlock candidate(s)" in line


def test_deadlock_candidates_and_the_wait_chain_explain_the_lock_inversion(examples_server):
    server, ids = examples_server
    (result,) = mcp_call(
        server, [("deadlock_candidates", {"snapshot": ids["mutex_lock_order_inversion"]})]
    )
    assert not result.is_error
    report = text(result)
    assert "Found 1 deadlock(s)." in report
    assert '"transfer_a_to_b" task:lock-demo-4242:11, pending, waiting 42.0 s' in report
    assert "  waits on lock account_b [lock:lock-demo-4242:account_b]" in report
    assert "  which is held by task transfer_b_to_a [task:lock-demo-4242:12]" in report
    assert "  waits on lock account_a [lock:lock-demo-4242:account_a]" in report
    assert "lock_demo::transfer_a_to_b::{{closure}}" in report  # the newest pending trace
    (c,) = result.structured_content["candidates"]
    assert (c["severity"], c["score"], c["blocked_task_count"]) == ("danger", 19.3, 3)
    assert [e["explanation"] for e in c["edges"]] == [
        "task transfer_a_to_b waits on lock account_b",
        "lock account_b is held by task transfer_b_to_a",
        "task transfer_b_to_a waits on lock account_a",
        "lock account_a is held by task transfer_a_to_b",
    ]
    assert {m["node_id"] for m in c["members"]} == {T11, T12, LOCK_A, LOCK_B}
    assert set(c["newest_pending_traces"]) == {T11, T12}
    assert c["newest_pending_traces"][T11]["frames"][0].startswith("std::sync::Mutex<T>::lock")

    # The wait chain from one of the tasks walks the cycle back to it.
    snapshot = ids["mutex_lock_order_inversion"]
    (result,) = mcp_call(server, [("wait_chain", {"snapshot": snapshot, "node_id": T11})])
    assert not result.is_error
    assert text(result) == (
        f"Wait chain from task transfer_a_to_b [{T11}] in snapshot {snapshot}"
        " (state pending, waiting 42.0 s):\n"
        f"  1. task transfer_a_to_b waits on lock account_b [{LOCK_B}]\n"
        f"  2. lock account_b is held by task transfer_b_to_a [{T12}]\n"
        f"  3. task transfer_b_to_a waits on lock account_a [{LOCK_A}]\n"
        f"  4. lock account_a is held by task transfer_a_to_b [{T11}]\n"
        f"The chain loops back to task transfer_a_to_b [{T11}] (hop 1): a cycle of 4 node(s),"
        " a deadlock unless something outside it steps in.\n"
    )
    data = result.structured_content
    assert (data["end"], data["loop_hop"]) == ("loops", 1)
    assert [h["dst"] for h in data["hops"]] == [LOCK_B, T12, LOCK_A, T11]

    # It lists the needs it does not follow, and says where a chain ends.
    main, frontend = "task:lock-demo-4242:1", "response:frontend-100:conn_2:3"
    results = mcp_call(
        server,
        [
            ("wait_chain", {"snapshot": ids["mutex_lock_order_inversion"], "node_id": main}),
            ("wait_chain", {"snapshot": ids["rpc_frontend"], "node_id": frontend}),
        ],
    )
    into_cycle, to_the_end = (text(r) for r in results)
    assert f"  1. task main waits for task transfer_a_to_b [{T11}]\n" in into_cycle
    assert f"     (it also needs task transfer_b_to_a [{T12}]; not followed)\n" in into_cycle
    assert "The chain loops back to task transfer_a_to_b" in into_cycle
    assert to_the_end.splitlines()[-1] == (
        "The chain ends at request Backend.fetch [request:frontend-100:conn_1:7],"
        " which needs nothing (waiting 12.0 s)."
    )
    assert results[1].structured_content["end"] == "needs_nothing"


def test_node_and_stuck_tasks_say_what_the_inspector_and_task_table_show(examples_server):
    server, ids = examples_server
    (result,) = mcp_call(
        server, [("node", {"snapshot": ids["mutex_lock_order_inversion"], "node_id": T11})]
    )
    assert not result.is_error
    body = text(result)
    assert "state pending (waiting); longest pending trace 42.0 s" in body
    assert "on a deadlock candidate" in body
    assert f"Needs (1):\n  task transfer_a_to_b waits on lock account_b [{LOCK_B}]\n" in body
    assert f"  lock account_a is held by task transfer_a_to_b [{LOCK_A}]\n" in body
    assert "task main [task:lock-demo-4242:1]: 1 time(s)" in body
    assert "#2   lock_demo::transfer_a_to_b::{{closure}}" in body  # the inspector's trace text
    data = result.structured_content
    assert data["node"]["attrs"]["name"] == "transfer_a_to_b"
    assert (data["needs_total"], data["needed_by_total"], data["pending_trace_total"]) == (1, 2, 1)
    assert data["wake_sources"][0]["waker"] == "task:lock-demo-4242:1"

    # Stuck tasks come longest first, with where they are parked.
    snapshot = ids["mutex_lock_order_inversion"]
    results = mcp_call(
        server,
        [
            ("stuck_tasks", {"snapshot": snapshot}),
            ("stuck_tasks", {"snapshot": snapshot, "min_pending_s": 41.7}),
        ],
    )
    assert [t["node_id"] for t in results[0].structured_content["tasks"]] == [T11, T12]
    lines = text(results[0]).splitlines()
    assert lines[1] == (
        f"1. task transfer_a_to_b [{T11}], process lock-demo, state pending: pending 42.0 s"
    )
    assert lines[2] == (
        "   parked at: std::sync::Mutex<T>::lock <- lock_demo::transfer"
        " <- lock_demo::transfer_a_to_b::{{closure}}"
    )
    assert lines[3] == "   waits: task transfer_a_to_b waits on lock account_b"
    assert [t["node_id"] for t in results[1].structured_content["tasks"]] == [T11]


def test_diff_snapshots_compares_two_captures(examples_server):
    server, ids = examples_server
    doc = read_example("mutex_lock_order_inversion")
    doc["nodes"][0]["attrs"]["state"] = "completed"
    later = ingest_document(doc).snapshot_id
    before, after = ids["rpc_frontend"], ids["rpc_backend"]
    (result,) = mcp_call(server, [("diff_snapshots", {"from": before, "to": str(after)})])
    assert not result.is_error
    data = result.structured_content
    assert (data["from"], data["to"]) == (before, after)
    assert data["counts"] == {
        "nodes_added": 3,
        "nodes_removed": 5,
        "nodes_changed": 0,
        "edges_added": 2,
        "edges_removed": 4,
        "cycles_appeared": 0,
        "cycles_resolved": 0,
    }
    body = text(result)
    assert "processes: frontend (frontend-100) -> backend (backend-200)" in body
    assert "  task fetch_handler [task:backend-200:9] (pending)\n" in body
    assert "  task:frontend-100:5 needs request:frontend-100:conn_1:7\n" in body

    earlier = ids["mutex_lock_order_inversion"]
    (result,) = mcp_call(server, [("diff_snapshots", {"from": earlier, "to": later})])
    assert result.structured_content["counts"]["nodes_changed"] == 1
    assert f"task transfer_a_to_b [{T11}]: pending -> completed" in text(result)


def test_jump_now_takes_a_snapshot_of_the_connected_agents(daphne_server):
    server = daphne_server()
    (refused,) = mcp_call(server, [("jump_now", {})])
    assert refused.is_error
    assert text(refused).endswith("no snapshot was taken: no agent is connected")

    doc = read_example("rpc_backend")
    agent = Agent(
        server.url,
        process=doc["process"],
        pid=doc["pid"],
        proc_key=doc["proc_key"],
        snapshot=lambda timeout, snapshot_id: read_example("rpc_backend"),
    ).start()
    try:
        assert agent.wait_welcomed(10), agent.last_error
        (result,) = mcp_call(server, [("jump_now", {"timeout_ms": 5000})])
    finally:
        agent.stop()
    assert not result.is_error
    data = result.structured_content
    assert (data["status"], data["requested"], data["responded"]) == ("complete", 1, 1)
    assert text(result).startswith(
        f"Jump to now: snapshot {data['snapshot_id']} is complete. Asked 1 program(s): 1 responded"
    )
    (chain,) = mcp_call(
        server,
        [("stuck_tasks", {"snapshot": data["snapshot_id"], "min_pending_s": 0})],
    )
    assert not chain.is_error


def test_bad_arguments_are_tool_errors_that_say_what_is_wrong(examples_server):
    server, ids = examples_server
    lock_demo = ids["mutex_lock_order_inversion"]
    calls = [
        ("node", {"snapshot": 999_999, "node_id": T11}),
        ("wait_chain", {"snapshot": "yesterday", "node_id": T11}),
        ("node", {"snapshot": lock_demo, "node_id": "task:nowhere:1"}),
        ("wait_chain", {"snapshot": lock_demo, "node_id": "nul\x00byte"}),
        ("list_snapshots", {"limit": 10**12}),
        ("wait_chain", {"snapshot": lock_demo, "node_id": T11, "max_hops": 10**9}),
        ("stuck_tasks", {"snapshot": lock_demo, "min_pending_s": -1}),
        ("diff_snapshots", {"from": lock_demo}),
        ("deadlock_candidates", {"snapshot": ["latest"]}),
        ("jump_now", {"timeout_ms": 10**9}),
        ("no_such_tool", {}),
    ]
    results = mcp_call(server, calls)
    assert all(r.is_error for r in results), [text(r) for r in results]
    said = [text(r) for r in results]
    assert said[0].endswith(
        'no snapshot \'999999\': use a number from list_snapshots, "latest" or "live"'
    )
    assert "no snapshot 'yesterday'" in said[1]
    assert f"no node 'task:nowhere:1' in snapshot {lock_demo}" in said[2]
    assert "node_id: node_id must not contain a NUL byte" in said[3]
    assert "limit\n  Input should be less than or equal to 100" in said[4]
    assert "max_hops\n  Input should be less than or equal to 200" in said[5]
    assert "min_pending_s\n  Input should be greater than or equal to 0" in said[6]
    assert "to\n  Field required" in said[7]
    assert "snapshot" in said[8]
    assert "timeout_ms\n  Input should be less than or equal to 60000" in said[9]
    assert "no_such_tool" in said[10]
    # The server is still there, and answers.
    (after,) = mcp_call(server, [("list_snapshots", {"limit": 1})])
    assert not after.is_error
