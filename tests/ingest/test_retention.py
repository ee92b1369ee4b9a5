"""Keep the newest PEEPSWEB_KEEP_SNAPSHOTS snapshots, deleting in bulk."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from snapshots import versions
from snapshots.ingest import ingest_document
from snapshots.models import (
    CycleReport,
    IngestEvent,
    Node,
    ProcessSnapshot,
    Snapshot,
)
from snapshots.retention import delete_snapshots, prune_ingest_events, prune_snapshots

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def push(n=1):
    doc = small_doc()
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "x:other-1:y", "kind": "needs"})
    return [ingest_document(doc).snapshot_id for _ in range(n)]


def test_ingest_prunes_beyond_the_newest_n(settings):
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 3
    ids = push(5)
    assert list(Snapshot.objects.order_by("id").values_list("id", flat=True)) == ids[-3:]


def test_pruning_removes_every_row_below_the_old_snapshots(settings):
    ids = push(3)
    CycleReport.objects.create(snapshot_id=ids[0])
    assert prune_snapshots(keep=1) == 2
    assert set(ProcessSnapshot.objects.values_list("snapshot_id", flat=True)) == {ids[2]}
    # Versioned rows: those the remaining capture sees stay, and nothing else.
    kept = ProcessSnapshot.objects.get()
    for model in versions.VERSIONED:
        assert model.objects.count() == versions.of(model, kept).count() > 0, model
    assert not CycleReport.objects.exists()


def test_pruning_keeps_shared_rows_and_deletes_those_only_old_captures_saw():
    first = ingest_document(small_doc())
    doc = small_doc()
    doc["nodes"][0]["attrs"]["state"] = "running"  # task:svc-1:7 changes
    second = ingest_document(doc)
    assert Node.objects.filter(node_id="task:svc-1:7").count() == 2  # two versions
    assert Node.objects.count() == 4  # the two others are shared
    delete_snapshots([first.snapshot_id])
    assert Node.objects.count() == 3
    assert versions.of(Node, second).get(node_id="task:svc-1:7").state == "running"
    delete_snapshots([second.snapshot_id])
    for model in versions.VERSIONED:
        assert not model.objects.exists(), model


def test_deleting_a_snapshot_is_one_statement_per_table_not_per_row():
    doc = small_doc()
    doc["nodes"] += [{"id": f"future:svc-1:{i}", "kind": "future"} for i in range(300)]
    snapshot_id = ingest_document(doc).snapshot_id
    with CaptureQueriesContext(connection) as queries:
        delete_snapshots([snapshot_id])
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert not Node.objects.exists()
    # a handful of DELETEs (two per table and parent), whatever the row count
    assert len(deletes) < 30
    # no node row is read into Python (looking its partition up in the catalog is fine)
    assert not any(
        q["sql"].startswith("SELECT") and 'FROM "snapshots_node"' in q["sql"] for q in queries
    )


def test_open_pulls_are_never_pruned():
    pull = Snapshot.objects.create(
        kind=Snapshot.PULL, status=Snapshot.OPEN, deadline=timezone.now() + timedelta(seconds=5)
    )
    push(2)
    prune_snapshots(keep=1)
    assert Snapshot.objects.filter(id=pull.id).exists()


def test_nothing_is_pruned_while_under_the_limit():
    push(2)
    assert prune_snapshots(keep=5) == 0
    assert Snapshot.objects.count() == 2


def test_the_prunesnapshots_command_reports_what_it_did(capsys):
    for state in ("pending", "running", "pending", "running"):
        doc = small_doc()
        doc["nodes"][0]["attrs"]["state"] = state
        ingest_document(doc)
    call_command("prunesnapshots", "--keep", "1")
    out = capsys.readouterr().out.strip()
    # Three old versions of the changing task go; the kept capture's rows stay.
    assert out.startswith("Pruned 3 snapshots (3 node rows; 0 ingest events); stored "), out
    assert Snapshot.objects.count() == 1


def test_old_ingest_events_are_pruned():
    IngestEvent.objects.bulk_create(IngestEvent(kind="rejected") for _ in range(10))
    newest = IngestEvent.objects.order_by("-id")[:4]
    keep = set(newest.values_list("id", flat=True))
    assert prune_ingest_events(keep=4) == 6
    assert set(IngestEvent.objects.values_list("id", flat=True)) == keep
