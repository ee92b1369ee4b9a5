"""GET /api/v1/snapshots/{id}/cycles and /cycles.txt."""

import pytest

from snapshots.cycles import service
from snapshots.ingest import ingest_document
from snapshots.models import CycleReport, ProcessSnapshot, Snapshot

CANDIDATE_KEYS = {
    "members", "cycle", "edges", "cross_process", "severity", "score", "worst_wait_ns",
    "blocked_task_count", "confidence", "confidence_reason",
    "first_seen_ns", "first_seen_snapshot_id", "present_for_ns", "first_seen_capped",
    "first_seen_oldest_stored",
}  # fmt: skip


def test_it_answers_exactly_the_contract_shape(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    response = client.get(f"/api/v1/snapshots/{proc.snapshot_id}/cycles")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"snapshot_id", "candidates"}
    assert body["snapshot_id"] == proc.snapshot_id
    [c] = body["candidates"]
    assert set(c) == CANDIDATE_KEYS
    assert all(isinstance(m, str) for m in c["members"])
    assert all(set(e) == {"src_id", "dst_id", "explanation"} for e in c["edges"])
    assert isinstance(c["cross_process"], bool)
    assert c["severity"] in ("warn", "danger")
    assert isinstance(c["score"], float)
    assert isinstance(c["worst_wait_ns"], int)
    assert isinstance(c["blocked_task_count"], int)
    assert c["confidence"] in ("high", "medium")
    # its only capture: seen first there, present for no time yet
    assert c["first_seen_snapshot_id"] == proc.snapshot_id
    assert (c["present_for_ns"], c["first_seen_capped"]) == (0, False)
    # the edges are the cycle's, in order, closing back to the first
    assert [e["src_id"] for e in c["edges"]] == c["cycle"]
    assert [e["dst_id"] for e in c["edges"]] == c["cycle"][1:] + c["cycle"][:1]


def test_a_snapshot_without_cycles_has_an_empty_list(client, example_snapshot):
    proc = example_snapshot("taskgraph_workflow")
    body = client.get(f"/api/v1/snapshots/{proc.snapshot_id}/cycles").json()
    assert body == {"snapshot_id": proc.snapshot_id, "candidates": []}


def test_latest_names_the_newest_snapshot(client, example_snapshot):
    example_snapshot("mutex_lock_order_inversion")
    newest = example_snapshot("channel_full_stall")
    body = client.get("/api/v1/snapshots/latest/cycles").json()
    assert body == {"snapshot_id": newest.snapshot_id, "candidates": []}


def test_live_names_itself(client, example_snapshot):
    example_snapshot("mutex_lock_order_inversion")
    body = client.get("/api/v1/snapshots/live/cycles").json()
    assert body["snapshot_id"] == "live"
    assert len(body["candidates"]) == 1


@pytest.mark.parametrize("key", ["999999", "nope", "-1", "1" * 30])
def test_an_unknown_snapshot_is_a_json_404(client, db, key):
    response = client.get(f"/api/v1/snapshots/{key}/cycles")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["path"] == "id"
    assert "error" in body


def test_it_refuses_other_methods_in_json(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    response = client.post(f"/api/v1/snapshots/{proc.snapshot_id}/cycles")
    assert response.status_code == 405
    assert response.json()["error"] == "method POST not allowed"


def test_a_complete_snapshot_is_computed_once_and_then_read_from_the_cache(
    client, example_snapshot
):
    proc = example_snapshot("mutex_lock_order_inversion")
    url = f"/api/v1/snapshots/{proc.snapshot_id}/cycles"
    first = client.get(url).json()
    report = CycleReport.objects.get(snapshot_id=proc.snapshot_id)
    assert report.candidate_count == 1
    # Prove the second answer comes from the stored result, not a new computation.
    result = report.result
    result["candidates"][0]["score"] = 1234.5
    report.result = result
    report.save()
    second = client.get(url).json()
    assert second["candidates"][0]["score"] == 1234.5
    assert {**second["candidates"][0], "score": first["candidates"][0]["score"]} == first[
        "candidates"
    ][0]


def test_a_result_of_an_older_finder_version_is_recomputed(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    CycleReport.objects.create(
        snapshot_id=proc.snapshot_id, candidate_count=0, result={"version": 0, "candidates": []}
    )
    body = client.get(f"/api/v1/snapshots/{proc.snapshot_id}/cycles").json()
    assert len(body["candidates"]) == 1
    stored = CycleReport.objects.get(snapshot_id=proc.snapshot_id)
    assert stored.result["version"] == service.VERSION
    assert stored.candidate_count == 1


def test_the_live_view_is_cached_by_its_captures_and_changes_with_them(client, example_snapshot):
    example_snapshot("rpc_frontend")
    assert client.get("/api/v1/snapshots/live/cycles").json()["candidates"] == []
    example_snapshot("rpc_backend")  # a new capture: a new key, a new answer
    assert len(client.get("/api/v1/snapshots/live/cycles").json()["candidates"]) == 1
    assert CycleReport.objects.count() == 0  # live results never go to the table


def test_the_text_report_is_a_download(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    response = client.get(f"/api/v1/snapshots/{proc.snapshot_id}/cycles.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="peepsweb-deadlocks-snapshot-{proc.snapshot_id}.txt"'
    )
    text = response.content.decode()
    assert "Found 1 deadlock(s)." in text
    assert "which is held by task transfer_b_to_a" in text


def test_the_text_report_can_be_shown_inline(client, example_snapshot):
    example_snapshot("mutex_lock_order_inversion")
    response = client.get("/api/v1/snapshots/live/cycles.txt?inline=1")
    assert "Content-Disposition" not in response
    assert response.content.decode().startswith("peepsweb deadlock report for the live view")


def test_the_text_report_of_an_unknown_snapshot_is_a_json_404(client, db):
    response = client.get("/api/v1/snapshots/424242/cycles.txt")
    assert response.status_code == 404
    assert response.json()["path"] == "id"


def test_an_empty_live_view_has_no_candidates(client, db):
    body = client.get("/api/v1/snapshots/live/cycles").json()
    assert body == {"snapshot_id": "live", "candidates": []}


def test_a_pull_whose_processes_all_timed_out_has_no_candidates(client, db):
    snapshot = Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.COMPLETE)
    ProcessSnapshot.objects.create(
        snapshot=snapshot, process="x", proc_key="x-1", status=ProcessSnapshot.TIMEOUT
    )
    body = client.get(f"/api/v1/snapshots/{snapshot.id}/cycles").json()
    assert body == {"snapshot_id": snapshot.id, "candidates": []}


def test_an_open_pull_is_computed_on_every_call_and_never_stored(client, db, example_document):
    snapshot = Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.OPEN)
    for name, key in (("rpc_frontend", "frontend-100"), ("rpc_backend", "backend-200")):
        ProcessSnapshot.objects.create(
            snapshot=snapshot, process=name, proc_key=key, status=ProcessSnapshot.PENDING
        )
    url = f"/api/v1/snapshots/{snapshot.id}/cycles"
    ingest_document({**example_document("rpc_frontend"), "snapshot_id": snapshot.id})
    assert client.get(url).json()["candidates"] == []
    ingest_document({**example_document("rpc_backend"), "snapshot_id": snapshot.id})
    assert len(client.get(url).json()["candidates"]) == 1  # the second reply completed it
    assert not CycleReport.objects.filter(snapshot_id=snapshot.id).exists()
