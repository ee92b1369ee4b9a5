import pytest

from snapshots.models import ProcessSnapshot, Snapshot
from snapshots.queries import scope_summary
from snapshots.scope import resolve_scope
from tests.api.helpers import CAPTURED_NS, get_json, load

pytestmark = pytest.mark.django_db


def open_pull(*proc_keys):
    """A jump-now pull waiting for replies from these processes."""
    snapshot = Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.OPEN)
    for key in proc_keys:
        ProcessSnapshot.objects.create(
            snapshot=snapshot, process=key, proc_key=key, status=ProcessSnapshot.PENDING
        )
    return snapshot


def test_it_counts_nodes_by_kind_and_tasks_by_state_class(client):
    proc = load("taskgraph_workflow")
    body = get_json(client, f"/api/v1/snapshots/{proc.snapshot_id}")
    assert body["snapshot_id"] == proc.snapshot_id
    assert body["live"] is False
    assert body["kinds"] == {"task": 9, "semaphore": 1}
    assert body["task_states"] == {
        "running": 1,
        "runnable": 1,
        "waiting": 3,
        "done": 2,
        "failed": 1,
        "skipped": 1,
        "unknown": 0,
    }
    assert (body["node_count"], body["edge_count"]) == (10, 11)
    assert [p["proc_key"] for p in body["processes"]] == ["persona-scheduler-777"]
    assert body["links"]["nodes"] == f"/api/v1/snapshots/{proc.snapshot_id}/nodes"


def test_it_lists_kinds_biggest_first(client):
    proc = load("channel_full_stall")
    body = get_json(client, f"/api/v1/snapshots/{proc.snapshot_id}")
    assert list(body["kinds"]) == ["task", "mpsc_rx", "mpsc_tx", "oneshot_rx", "oneshot_tx"]


def test_it_counts_wake_events_and_pending_traces(client):
    proc = load("channel_full_stall")
    body = get_json(client, f"/api/v1/snapshots/{proc.snapshot_id}")
    assert (body["wake_event_count"], body["pending_trace_count"]) == (16, 2)


def test_a_snapshot_with_one_side_of_an_rpc_counts_its_edge_as_unresolved(client, rpc_pair):
    front, back = rpc_pair
    body = get_json(client, f"/api/v1/snapshots/{back.snapshot_id}")
    assert body["unresolved_edge_count"] == 1
    assert body["cross_edge_count"] == 0
    assert body["edge_count"] == 2


def test_the_live_view_resolves_edges_between_its_processes(client, rpc_pair):
    body = get_json(client, "/api/v1/snapshots/live")
    assert body["snapshot_id"] == "live"
    assert body["live"] is True
    assert [p["proc_key"] for p in body["processes"]] == ["backend-200", "frontend-100"]
    assert body["unresolved_edge_count"] == 0
    assert body["cross_edge_count"] == 2
    assert body["edge_count"] == 2 + 4 + 2
    assert body["node_count"] == 8


def test_it_reports_the_ingest_skew_across_processes(client):
    load("rpc_frontend", captured_at_ns=CAPTURED_NS)
    load("rpc_backend", captured_at_ns=CAPTURED_NS + 2_500_000_000)
    body = get_json(client, "/api/v1/snapshots/live")
    assert body["skew_ns"] == 2_500_000_000
    assert body["captured_at_ns"] == CAPTURED_NS


def test_a_single_process_snapshot_has_no_skew(client):
    proc = load("rpc_frontend")
    assert get_json(client, f"/api/v1/snapshots/{proc.snapshot_id}")["skew_ns"] is None


def test_a_pull_snapshot_resolves_the_edges_between_the_processes_that_replied(db):
    pull = open_pull("frontend-100", "backend-200")
    load("rpc_frontend", snapshot_id=pull.id, captured_at_ns=CAPTURED_NS)
    load("rpc_backend", snapshot_id=pull.id, captured_at_ns=CAPTURED_NS + 1000)
    summary = scope_summary(resolve_scope(pull.id))
    assert summary.unresolved_edge_count == 0
    assert summary.cross_edge_count == 2
    assert summary.skew_ns == 1000
    assert summary.node_count == 8


def test_a_pull_leaves_processes_that_did_not_reply_out_of_the_counts(db):
    pull = open_pull("frontend-100", "backend-200")
    load("rpc_frontend", snapshot_id=pull.id)
    summary = scope_summary(resolve_scope(pull.id))
    assert [p.proc_key for p in summary.processes] == ["frontend-100"]
    assert summary.unresolved_edge_count == 1
    assert summary.state_counts["waiting"] == 2
