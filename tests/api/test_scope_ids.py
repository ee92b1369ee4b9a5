from datetime import timedelta

import pytest
from django.utils import timezone

from snapshots.models import ProcessSnapshot, Snapshot
from tests.api.helpers import get_json, load

pytestmark = pytest.mark.django_db


def test_latest_stands_for_the_newest_complete_snapshot(client, all_examples):
    newest = max(p.snapshot_id for p in all_examples.values())
    Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.OPEN)  # still collecting
    assert get_json(client, "/api/v1/snapshots/latest")["snapshot_id"] == newest
    nodes = get_json(client, "/api/v1/snapshots/latest/nodes")
    assert nodes["snapshot_id"] == newest
    assert nodes["total"] == 10  # taskgraph_workflow, the last one loaded


def test_latest_works_for_the_node_inspector(client):
    load("rpc_backend")
    body = get_json(client, "/api/v1/snapshots/latest/nodes/task:backend-200:9")
    assert body["node"]["label"] == "fetch_handler"


def test_live_leaves_out_processes_not_heard_from_within_the_window(client, settings):
    settings.PEEPSWEB_LIVE_WINDOW_S = 30
    old = load("rpc_frontend")
    ProcessSnapshot.objects.filter(id=old.id).update(
        received_at=timezone.now() - timedelta(seconds=31)
    )
    load("rpc_backend")
    body = get_json(client, "/api/v1/snapshots/live")
    assert [p["proc_key"] for p in body["processes"]] == ["backend-200"]
    assert body["unresolved_edge_count"] == 1


def test_live_takes_the_newest_capture_of_each_process(client):
    load("rpc_backend")
    newer = load("rpc_backend", captured_at_ns=1_763_772_001_000_000_000)
    body = get_json(client, "/api/v1/snapshots/live")
    assert len(body["processes"]) == 1
    assert body["captured_at_ns"] == newer.captured_at_ns
    assert body["node_count"] == 3


def test_live_with_nothing_received_is_an_empty_graph(client, db):
    body = get_json(client, "/api/v1/snapshots/live")
    assert body["processes"] == []
    assert body["node_count"] == 0
    assert get_json(client, "/api/v1/snapshots/live/nodes")["nodes"] == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/snapshots/999",
        "/api/v1/snapshots/latest",
        "/api/v1/snapshots/abc",
        "/api/v1/snapshots/-1",
        "/api/v1/snapshots/99999999999999999999999",
        "/api/v1/snapshots/999/nodes",
        "/api/v1/snapshots/999/nodes/task:x-1:1",
    ],
)
def test_an_unknown_snapshot_is_a_json_404_naming_the_id(client, db, url):
    body = get_json(client, url, status=404)
    assert body["path"] == "id"
    assert "no snapshot" in body["error"]


def test_an_unknown_node_is_a_json_404_naming_the_node_id(client):
    proc = load("rpc_backend")
    body = get_json(client, f"/api/v1/snapshots/{proc.snapshot_id}/nodes/task:backend-200:99", 404)
    assert body == {
        "error": f"no node 'task:backend-200:99' in snapshot {proc.snapshot_id}",
        "path": "node_id",
    }


def test_a_node_of_another_snapshot_is_not_found(client, rpc_pair):
    front, back = rpc_pair
    url = f"/api/v1/snapshots/{front.snapshot_id}/nodes/task:backend-200:9"
    assert get_json(client, url, 404)["path"] == "node_id"
