"""POST /api/v1/snapshots end to end through Django's test client."""

import orjson
import pytest

from snapshots import versions
from snapshots.models import IngestEvent, Node, ProcessSnapshot, Snapshot

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def test_it_answers_201_with_exactly_the_contract_body(post):
    response = post(small_doc())
    assert response.status_code == 201
    snapshot = Snapshot.objects.get()
    assert response.json() == {
        "snapshot_id": snapshot.id,
        "process": "svc",
        "proc_key": "svc-1",
        "nodes": 3,
        "edges": 2,
        "unresolved_edges": 0,
        "wake_events": 1,
        "pending_traces": 1,
    }
    assert response["Location"] == f"/api/v1/snapshots/{snapshot.id}"


def test_a_push_opens_a_complete_push_snapshot(post):
    post(small_doc())
    snapshot = Snapshot.objects.get()
    assert (snapshot.kind, snapshot.status) == (Snapshot.PUSH, Snapshot.COMPLETE)
    assert (snapshot.node_count, snapshot.edge_count) == (3, 2)
    assert snapshot.captured_at_ns == 1_763_772_000_000_000_000
    proc = ProcessSnapshot.objects.get()
    assert proc.status == ProcessSnapshot.PUSHED
    assert proc.received_at is not None
    assert (proc.process, proc.pid, proc.proc_key) == ("svc", 1, "svc-1")


def test_each_push_is_a_new_snapshot(post):
    first = post(small_doc()).json()["snapshot_id"]
    second = post(small_doc()).json()["snapshot_id"]
    assert second > first
    assert versions.of_snapshot(Node, second).count() == 3


def test_it_accepts_a_gzip_body(post):
    response = post(small_doc(), gzipped=True)
    assert response.status_code == 201
    assert response.json()["nodes"] == 3


def test_it_accepts_a_json_content_type_with_a_charset(post):
    response = post(small_doc(), content_type="application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_it_answers_415_to_a_body_that_is_not_json(post, content_type):
    response = post(small_doc(), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert response.json()["path"] == ""
    assert_nothing_stored()


def test_it_answers_415_to_an_unknown_content_encoding(post):
    response = post(small_doc(), headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["error"]


def test_it_answers_400_to_a_body_that_does_not_decode(post, events):
    response = post(b'{"process": "svc", "nodes": [')
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")
    assert response.json()["path"] == ""
    assert events() == [(IngestEvent.DECODE_ERROR, 400)]
    assert_nothing_stored()


def test_it_answers_400_to_a_body_that_is_not_an_object(post):
    response = post(b"[1, 2]")
    assert response.status_code == 400
    assert response.json() == {"error": "the body must be a JSON object", "path": ""}


def test_it_answers_400_to_broken_gzip(post):
    response = post(b"\x1f\x8b\x08\x00 this is not deflate", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


def test_it_answers_400_to_truncated_gzip(post):
    import gzip

    body = gzip.compress(orjson.dumps(small_doc()))[:-12]
    response = post(body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"] == "the gzip body is truncated"


def test_it_names_the_offending_field_in_a_400(post):
    doc = small_doc()
    doc["nodes"][1]["id"] = 17
    response = post(doc)
    assert response.status_code == 400
    assert response.json() == {"error": "a non-empty string id is required", "path": "nodes[1].id"}
    assert_nothing_stored()


def test_it_does_not_need_a_csrf_token(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/api/v1/snapshots", orjson.dumps(small_doc()), "application/json")
    assert response.status_code == 201


def test_get_on_the_same_url_still_lists_snapshots(post, client):
    post(small_doc())
    response = client.get("/api/v1/snapshots")
    assert response.status_code == 200
