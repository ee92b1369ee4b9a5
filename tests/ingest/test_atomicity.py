"""One process snapshot is one transaction: a failure in the middle of the
writes leaves zero rows in every table, and nothing is announced."""

import pytest
from django.db import DatabaseError, connection

from snapshots.ingest import IngestError, ingest_document, store
from snapshots.signals import process_snapshot_stored

from .conftest import assert_nothing_stored, row_counts, small_doc
from .test_partitions import loading_table_counts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored_signals():
    received = []

    def receiver(sender, process_snapshot, **kwargs):
        received.append(process_snapshot.id)

    process_snapshot_stored.connect(receiver)
    yield received
    process_snapshot_stored.disconnect(receiver)


@pytest.fixture
def failing_wake_inserts():
    """A real database trigger that makes every wake event insert fail.

    Wake events are written after the edges and the nodes, so the failure
    hits a transaction that already holds rows in several tables."""
    table = "snapshots_wakeevent"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION peepsweb_fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER peepsweb_fail BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION peepsweb_fail()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER peepsweb_fail BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TRIGGER peepsweb_fail ON {table}"
            if connection.vendor == "postgresql"
            else "DROP TRIGGER peepsweb_fail"
        )
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION peepsweb_fail()")


def test_a_database_failure_mid_write_leaves_zero_rows(failing_wake_inserts, stored_signals):
    with pytest.raises(DatabaseError, match="injected failure"):
        ingest_document(small_doc())
    assert_nothing_stored()
    assert stored_signals == []


# PostgreSQL: a small capture goes to the default partition, a big one into
# tables of its own (snapshots/partitions.py); SQLite ignores the setting.
@pytest.mark.parametrize("partition_min_rows", [10_000, 1], ids=["small", "big"])
def test_a_failure_after_nodes_and_edges_were_written_leaves_zero_rows(
    monkeypatch, stored_signals, settings, partition_min_rows
):
    settings.PEEPSWEB_PARTITION_MIN_ROWS = partition_min_rows
    seen = {}

    def fail(writer, rows):
        # The nodes and edges are in the database (inside the transaction) by
        # now; a big capture's in its own tables, attached last (PostgreSQL).
        seen.update(row_counts())
        for model, count in loading_table_counts().items():
            seen[model] += count
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "write_traces", fail)
    with pytest.raises(RuntimeError):
        ingest_document(small_doc())
    assert (seen["Node"], seen["Edge"], seen["WakeEvent"]) == (3, 2, 1)
    assert_nothing_stored()
    assert stored_signals == []


def test_a_bad_edge_found_after_thousands_were_written_leaves_zero_rows():
    doc = small_doc()
    doc["nodes"] += [{"id": f"future:svc-1:{i}", "kind": "future"} for i in range(5000)]
    doc["edges"] += [
        {"src_id": "task:svc-1:7", "dst_id": f"future:svc-1:{i}", "kind": "needs"}
        for i in range(5000)
    ]
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "future:svc-1:gone", "kind": "needs"})
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (400, "edges[5002].dst_id")
    assert_nothing_stored()


def test_the_stored_signal_is_sent_once_after_commit(stored_signals):
    proc = ingest_document(small_doc())
    assert stored_signals == [proc.id]


def test_a_failing_listener_does_not_turn_a_stored_snapshot_into_an_error():
    def broken(sender, **kwargs):
        raise RuntimeError("listener bug")

    process_snapshot_stored.connect(broken)
    try:
        proc = ingest_document(small_doc())
    finally:
        process_snapshot_stored.disconnect(broken)
    assert proc.node_count == 3
    assert row_counts()["Node"] == 3
