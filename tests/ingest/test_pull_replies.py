"""A body with a snapshot_id is a reply to a server-requested pull."""

from datetime import timedelta

import pytest
from django.utils import timezone

from snapshots import versions
from snapshots.ingest import IngestError, ingest_document
from snapshots.models import IngestEvent, Node, ProcessSnapshot, Snapshot

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def open_pull(*proc_keys, deadline_s=30, status=Snapshot.OPEN):
    snapshot = Snapshot.objects.create(
        kind=Snapshot.PULL,
        status=status,
        deadline=timezone.now() + timedelta(seconds=deadline_s),
    )
    for key in proc_keys:
        ProcessSnapshot.objects.create(
            snapshot=snapshot, process=key, proc_key=key, status=ProcessSnapshot.PENDING
        )
    return snapshot


def refused(doc):
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (409, "snapshot_id")
    return caught.value


def test_a_reply_fills_the_pending_row_in_place():
    pull = open_pull("svc-1", "other-2")
    pending = ProcessSnapshot.objects.get(proc_key="svc-1")
    proc = ingest_document(small_doc(snapshot_id=pull.id))
    assert proc.id == pending.id
    proc.refresh_from_db()
    assert (proc.status, proc.node_count, proc.edge_count, proc.wake_count) == (
        ProcessSnapshot.RESPONDED,
        3,
        2,
        1,
    )
    assert proc.received_at is not None and proc.pid == 1
    assert versions.of(Node, proc).count() == 3
    assert Snapshot.objects.count() == 1  # no new snapshot for a reply


def test_replies_add_up_on_the_pull_snapshot():
    pull = open_pull("svc-1", "other-2")
    ingest_document(small_doc(snapshot_id=pull.id, captured_at_ns=500))
    ingest_document(small_doc(proc_key="other-2", snapshot_id=pull.id, captured_at_ns=300))
    pull.refresh_from_db()
    assert (pull.node_count, pull.edge_count, pull.captured_at_ns) == (6, 4, 300)
    assert pull.status == Snapshot.OPEN  # closing the pull is the pull's business


def test_a_reply_over_http_answers_201_with_the_pull_id(post):
    pull = open_pull("svc-1")
    response = post(small_doc(snapshot_id=pull.id))
    assert response.status_code == 201
    assert response.json()["snapshot_id"] == pull.id


def test_an_unknown_snapshot_id_is_a_409_recorded_as_a_late_reply(post):
    response = post(small_doc(snapshot_id=999))
    assert response.status_code == 409
    assert response.json() == {"error": "snapshot 999 does not exist", "path": "snapshot_id"}
    event = IngestEvent.objects.get()
    assert (event.kind, event.status, event.proc_key, event.snapshot_id, event.source) == (
        IngestEvent.LATE_REPLY,
        409,
        "svc-1",
        999,
        "http",
    )


def test_a_reply_after_the_deadline_is_a_409_and_stores_nothing():
    pull = open_pull("svc-1", deadline_s=-1)
    error = refused(small_doc(snapshot_id=pull.id))
    assert "too late" in error.message
    assert not Node.objects.exists()
    assert ProcessSnapshot.objects.get().status == ProcessSnapshot.PENDING
    assert IngestEvent.objects.get().kind == IngestEvent.LATE_REPLY


def test_a_reply_to_a_closed_pull_is_a_409():
    pull = open_pull("svc-1", status=Snapshot.COMPLETE)
    assert "too late" in refused(small_doc(snapshot_id=pull.id)).message


def test_a_reply_to_a_push_snapshot_is_a_409():
    push = ingest_document(small_doc()).snapshot
    assert "not a pull" in refused(small_doc(snapshot_id=push.id)).message


def test_a_reply_from_a_process_the_pull_did_not_ask_is_a_409():
    pull = open_pull("other-2")
    assert "did not ask" in refused(small_doc(snapshot_id=pull.id)).message


def test_a_second_reply_from_the_same_process_is_a_409():
    pull = open_pull("svc-1")
    ingest_document(small_doc(snapshot_id=pull.id))
    assert "already has a reply" in refused(small_doc(snapshot_id=pull.id)).message
    assert Node.objects.count() == 3


def test_a_reply_with_a_timed_out_row_is_a_409():
    pull = open_pull("svc-1")
    ProcessSnapshot.objects.update(status=ProcessSnapshot.TIMEOUT)
    refused(small_doc(snapshot_id=pull.id))
