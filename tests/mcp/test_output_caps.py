"""Every tool's answer stays bounded, and says what it cut, on a capture of
100,000 tasks: one needs cycle through all of them, a lock 2,000 of them
wait on, 1,000 pending traces with long frames, a node with big attrs."""

import gzip
import json
import urllib.request

from snapshots.mcp.server import MAX_TEXT_CHARS
from tests.mcp.conftest import mcp_call, text

N = 100_000
WAITERS = 2_000
TRACED = 1_000
KEY = "big-1"
# Text is cut at a line end before MAX_TEXT_CHARS, then a one-line note.
MAX_TEXT = MAX_TEXT_CHARS + 400
MAX_STRUCTURED = 256 * 1024  # bytes of JSON


def big_capture():
    task = [f"task:{KEY}:{i}" for i in range(N)]
    nodes = [
        {"id": task[i], "kind": "task", "attrs": {"task_id": i, "state": "pending"}}
        for i in range(N)
    ]
    nodes[0]["attrs"]["blob"] = "y" * 30_000
    hub = f"lock:{KEY}:hub"
    nodes.append({"id": hub, "kind": "lock", "attrs": {"name": "hub"}})
    pairs = [(task[i], task[(i + 1) % N]) for i in range(N)]
    pairs += [(task[i], hub) for i in range(1, WAITERS + 1)]
    pairs.append((hub, task[0]))
    edges = [{"src_id": src, "dst_id": dst, "kind": "needs"} for src, dst in pairs]
    return {
        "process": "big",
        "pid": 1,
        "proc_key": KEY,
        "captured_at_ns": 1_763_772_000_000_000_000,
        "nodes": nodes,
        "edges": edges,
        "frames": {"1": "f" * 5_000, "2": "main\n    at src/main.rs:1:1"},
        "pending_traces": [
            {
                "task_id": i,
                "at_ns": 1_763_771_999_000_000_000,
                "duration_us": 1_000_000 + i,
                "frame_ids": [1] * 70 + [2],
            }
            for i in range(TRACED)
        ],
    }


def post_gzip(server, doc):
    request = urllib.request.Request(
        server.url + "/api/v1/snapshots",
        data=gzip.compress(json.dumps(doc).encode(), 1),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 201
        return json.loads(response.read())["snapshot_id"]


def test_every_answer_is_bounded_on_a_100000_node_capture(daphne_server, example_snapshot):
    small = example_snapshot("mutex_lock_order_inversion").snapshot_id
    server = daphne_server()
    big = post_gzip(server, big_capture())
    t0, hub = f"task:{KEY}:0", f"lock:{KEY}:hub"
    calls = [
        ("list_snapshots", {"limit": 100}),
        ("deadlock_candidates", {"snapshot": big, "limit": 50}),
        ("wait_chain", {"snapshot": big, "node_id": f"task:{KEY}:5000", "max_hops": 200}),
        ("node", {"snapshot": big, "node_id": hub, "limit": 200}),
        ("node", {"snapshot": big, "node_id": t0, "limit": 200}),
        ("stuck_tasks", {"snapshot": big, "min_pending_s": 0, "limit": 100}),
        ("diff_snapshots", {"from": big, "to": small, "limit": 200}),
    ]
    results = mcp_call(server, calls)
    for (name, _), result in zip(calls, results, strict=True):
        assert not result.is_error, (name, text(result))
        assert len(text(result)) <= MAX_TEXT, name
        assert len(json.dumps(result.structured_content)) <= MAX_STRUCTURED, name
    _, cycles, chain, lock, task, stuck, diff = results

    # The report names the cut and where the rest is.
    assert (
        text(cycles)
        .rstrip()
        .endswith(f"not shown; the whole report is GET /api/v1/snapshots/{big}/cycles.txt]")
    )
    (candidate,) = cycles.structured_content["candidates"]
    # The shortest cycle through the longest waiter, task 999: via the hub lock.
    assert (candidate["member_count"], candidate["cycle_length"]) == (N + 1, TRACED + 1)
    assert len(candidate["edges"]) == len(candidate["members"]) == 100
    assert len(candidate["newest_pending_traces"]) <= 20

    assert chain.structured_content["end"] == "cut"
    assert len(chain.structured_content["hops"]) == 200
    assert "Cut after 200 hops (max_hops); follow on from task" in text(chain)

    assert lock.structured_content["needed_by_total"] == WAITERS
    assert len(lock.structured_content["needed_by"]) == 200
    assert f"  ... {WAITERS - 200} more (limit)" in text(lock)

    attrs = json.dumps({"task_id": 0, "state": "pending", "blob": "y" * 30_000}).replace(" ", "")
    url = f"/api/v1/snapshots/{big}/nodes/{t0}"
    assert task.structured_content["node"]["attrs"] == {
        "cut": f"{len(attrs)} characters of attrs, not shown: GET {url}"
    }

    assert stuck.structured_content["total"] == TRACED
    tasks = stuck.structured_content["tasks"]
    assert len(tasks) == 100
    assert tasks[0]["node_id"] == f"task:{KEY}:{TRACED - 1}"  # the longest pending
    trace = tasks[0]["newest_pending_trace"]
    assert trace["frame_count"] == 71
    assert len(trace["frames"]) == 3  # where it is parked
    assert all(len(f) <= 300 for f in trace["frames"])
    assert text(stuck).startswith(
        f"Tasks pending at least 0 s in snapshot {big}, longest first: 100 of {TRACED}.\n"
    )

    counts = diff.structured_content["counts"]
    assert counts["nodes_removed"] == N + 1
    assert counts["edges_removed"] == N + WAITERS + 1
    assert len(diff.structured_content["nodes_removed"]) == 200
    assert f"Removed nodes ({N + 1}, first 200 by id):" in text(diff)
