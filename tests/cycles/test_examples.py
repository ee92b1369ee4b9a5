"""The example snapshots: the two deadlocks are found, the rest have none."""

import pytest

from snapshots.cycles import service
from snapshots.scope import resolve_scope

from .helpers import pull_snapshot


def candidates_of(key):
    return service.cycles_json(resolve_scope(key))["candidates"]


def test_the_lock_order_inversion_is_one_danger_candidate(example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    [c] = candidates_of(proc.snapshot_id)
    assert c["cycle"] == [
        "task:lock-demo-4242:11",
        "lock:lock-demo-4242:account_b",
        "task:lock-demo-4242:12",
        "lock:lock-demo-4242:account_a",
    ]
    assert sorted(c["members"]) == sorted(c["cycle"])
    assert [e["explanation"] for e in c["edges"]] == [
        "task transfer_a_to_b waits on lock account_b",
        "lock account_b is held by task transfer_b_to_a",
        "task transfer_b_to_a waits on lock account_a",
        "lock account_a is held by task transfer_a_to_b",
    ]
    assert c["cross_process"] is False
    assert c["severity"] == "danger"
    assert c["confidence"] == "high"
    assert c["worst_wait_ns"] == 42_000_000_000  # transfer_a_to_b pending at the capture
    assert c["blocked_task_count"] == 3  # both transfers and main, which awaits them
    assert c["score"] == 19.3


@pytest.mark.parametrize(
    "name", ["channel_full_stall", "taskgraph_workflow", "peeps_processdump", "rpc_frontend"]
)
def test_acyclic_examples_have_no_candidate(example_snapshot, name):
    proc = example_snapshot(name)
    assert candidates_of(proc.snapshot_id) == []


RPC_CYCLE = [
    "task:backend-200:9",
    "request:backend-200:conn_2:3",
    "response:frontend-100:conn_2:3",
    "task:frontend-100:6",
    "lock:frontend-100:session_cache",
    "task:frontend-100:5",
    "request:frontend-100:conn_1:7",
    "response:backend-200:conn_1:7",
]
RPC_EXPLANATIONS = [
    "task fetch_handler waits on request Frontend.invalidate to frontend",
    "request Frontend.invalidate waits for its response in process frontend",
    "response Frontend.invalidate waits for its handler task serve_invalidate",
    "task serve_invalidate waits on lock session_cache",
    "lock session_cache is held by task handle_http",
    "task handle_http waits on request Backend.fetch to backend",
    "request Backend.fetch waits for its response in process backend",
    "response Backend.fetch waits for its handler task fetch_handler",
]


def assert_rpc_cycle(candidates):
    [c] = candidates
    assert c["cycle"] == RPC_CYCLE  # through fetch_handler, the longest-waiting task
    assert [e["explanation"] for e in c["edges"]] == RPC_EXPLANATIONS
    assert c["cross_process"] is True
    assert c["confidence"] == "high"  # each request's response is inside the cycle
    assert c["severity"] == "danger"
    assert c["worst_wait_ns"] == 12_000_000_000
    assert c["blocked_task_count"] == 3


def test_the_rpc_cycle_is_found_in_the_live_view(example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    assert_rpc_cycle(candidates_of("live"))


def test_the_rpc_cycle_is_found_in_one_pull_snapshot(example_document, db):
    snapshot = pull_snapshot(example_document("rpc_frontend"), example_document("rpc_backend"))
    assert_rpc_cycle(candidates_of(snapshot.id))


def test_each_rpc_half_alone_has_no_cycle(example_snapshot):
    front = example_snapshot("rpc_frontend")
    back = example_snapshot("rpc_backend")
    assert candidates_of(front.snapshot_id) == []
    assert candidates_of(back.snapshot_id) == []


def test_all_examples_together_in_the_live_view_give_exactly_the_two_deadlocks(load_examples):
    cycles = [sorted(c["members"]) for c in candidates_of("live")]
    assert sorted(cycles) == sorted([sorted(RPC_CYCLE), sorted([
        "task:lock-demo-4242:11", "lock:lock-demo-4242:account_b",
        "task:lock-demo-4242:12", "lock:lock-demo-4242:account_a",
    ])])  # fmt: skip
