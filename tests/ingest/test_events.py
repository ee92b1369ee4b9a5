"""Refused bodies leave an IngestEvent for operators (and nothing else)."""

import pytest

from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.events import DETAIL_MAX, record_event
from snapshots.models import IngestEvent

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def test_a_400_is_recorded_as_a_rejection_with_the_field(post):
    doc = small_doc()
    doc["edges"][0]["kind"] = "wakes"
    assert post(doc).status_code == 400
    event = IngestEvent.objects.get()
    assert (event.kind, event.status, event.source, event.proc_key) == (
        IngestEvent.REJECTED,
        400,
        "http",
        "svc-1",
    )
    assert event.detail.startswith('edges[0].kind: edge kind must be "needs"')


def test_a_415_is_recorded(post, events):
    post(small_doc(), content_type="text/plain")
    assert events() == [(IngestEvent.REJECTED, 415)]


def test_the_source_is_whatever_the_caller_says():
    with pytest.raises(IngestError):
        ingest_document({"process": "x"}, source="cli")
    assert IngestEvent.objects.get().source == "cli"


def test_a_long_detail_is_truncated():
    record_event(IngestEvent.DECODE_ERROR, status=400, detail="x" * 5000, source="tcp")
    assert len(IngestEvent.objects.get().detail) == DETAIL_MAX


def test_auth_failures_are_not_recorded(post):
    from snapshots.models import IngestToken

    IngestToken.create("ci")
    assert post(small_doc()).status_code == 401
    assert not IngestEvent.objects.exists()


def test_a_stored_snapshot_records_no_event(post):
    assert post(small_doc()).status_code == 201
    assert not IngestEvent.objects.exists()
