import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from snapshots import queries
from snapshots.models import CycleReport, ProcessSnapshot
from tests.api.helpers import get_json, load, push, task
from tests.support.examples import read_example

pytestmark = pytest.mark.django_db


def test_it_lists_snapshots_newest_first_with_their_processes_and_counts(client, all_examples):
    body = get_json(client, "/api/v1/snapshots")
    ids = [s["snapshot_id"] for s in body["snapshots"]]
    assert ids == sorted((p.snapshot_id for p in all_examples.values()), reverse=True)

    lock = next(s for s in body["snapshots"] if s["processes"][0]["proc_key"] == "lock-demo-4242")
    assert lock["node_count"] == 6
    assert lock["edge_count"] == 6
    assert lock["captured_at"] == "2025-11-22T00:40:00Z"
    assert lock["processes"] == [
        {
            "process": "lock-demo",
            "proc_key": "lock-demo-4242",
            "pid": 4242,
            "status": "pushed",
            "captured_at_ns": 1763772000000000000,
            "received_at": lock["processes"][0]["received_at"],
            "node_count": 6,
            "edge_count": 6,
        }
    ]
    assert client.get("/api/v1/snapshots").status_code == 200


def test_it_counts_the_tasks_of_each_snapshot_by_state_class(client):
    load("taskgraph_workflow")
    (row,) = get_json(client, "/api/v1/snapshots")["snapshots"]
    assert row["task_states"] == {
        "running": 1,
        "runnable": 1,
        "waiting": 3,
        "done": 2,
        "failed": 1,
        "skipped": 1,
        "unknown": 0,
    }


def test_it_paginates_and_links_the_next_and_previous_pages(client, all_examples):
    first = get_json(client, "/api/v1/snapshots?per_page=4")
    assert len(first["snapshots"]) == 4
    assert (first["total"], first["num_pages"], first["page"]) == (6, 2, 1)
    assert first["previous"] is None
    second = get_json(client, first["next"])
    assert [s["snapshot_id"] for s in second["snapshots"]] == [
        all_examples["channel_full_stall"].snapshot_id + 1,
        all_examples["channel_full_stall"].snapshot_id,
    ]
    assert second["next"] is None
    assert second["previous"] == "/api/v1/snapshots?per_page=4&page=1"


def test_it_answers_an_empty_list_past_the_last_page(client, all_examples):
    body = get_json(client, "/api/v1/snapshots?page=9")
    assert body["snapshots"] == []
    assert body["total"] == 6


@pytest.mark.parametrize(
    "query, param",
    [
        ("per_page=501", "per_page"),
        ("per_page=0", "per_page"),
        ("page=x", "page"),
        ("page=-1", "page"),
    ],
)
def test_it_rejects_bad_paging_parameters_naming_them(client, query, param):
    body = get_json(client, f"/api/v1/snapshots?{query}", status=400)
    assert body["path"] == param
    assert param in body["error"]


def test_the_number_of_queries_does_not_grow_with_the_number_of_snapshots(db):
    def count_queries():
        queries.snapshot_list()  # fills the count caches
        with CaptureQueriesContext(connection) as ctx:
            page = queries.snapshot_list()
            [row.task_count for row in page.items]
            [p.proc_key for row in page.items for p in row.processes]
        return len(ctx.captured_queries)

    push("a-1", [task("a-1", 1, "one")])
    few = count_queries()
    for i in range(2, 12):
        push(f"a-{i}", [task(f"a-{i}", 1, "one"), task(f"a-{i}", 2, "two", "running")])
    assert count_queries() == few


def test_it_counts_each_capture_once_and_keeps_the_counts(db):
    proc = push("a-1", [task("a-1", 1, "one"), task("a-1", 2, "two", "failed")])
    counts = {"kinds": {"task": 2}, "task_state_classes": {"waiting": 1, "failed": 1}}
    assert ProcessSnapshot.objects.get(id=proc.id).count_cache == counts  # by ingest
    ProcessSnapshot.objects.update(count_cache=None)  # as stored before ingest counted
    queries.snapshot_list()
    assert ProcessSnapshot.objects.get(id=proc.id).count_cache == counts


def test_it_shows_the_cycle_candidate_count_once_the_finder_ran(client):
    proc = load("mutex_lock_order_inversion")
    load("taskgraph_workflow")
    CycleReport.objects.create(snapshot_id=proc.snapshot_id, candidate_count=1)
    rows = {s["snapshot_id"]: s for s in get_json(client, "/api/v1/snapshots")["snapshots"]}
    assert rows[proc.snapshot_id]["cycle_candidates"] == 1
    assert rows[proc.snapshot_id + 1]["cycle_candidates"] is None


def test_it_refuses_methods_other_than_get_and_post_with_json(client):
    response = client.delete("/api/v1/snapshots")
    assert response.status_code == 405
    assert response.json()["error"] == "method DELETE not allowed"


def test_the_same_url_takes_a_post_for_ingest_without_a_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    body = json.dumps(read_example("rpc_backend"))
    response = client.post("/api/v1/snapshots", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    listed = get_json(client, "/api/v1/snapshots")["snapshots"]
    assert [s["snapshot_id"] for s in listed] == [response.json()["snapshot_id"]]
