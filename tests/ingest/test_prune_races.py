"""Prunes running at once, and rows stored under a snapshot being pruned
(issue 16, items 6 and 17): real threads on real connections."""

import logging
import threading

import pytest
from django.db import connection, connections

from snapshots import partitions
from snapshots.cycles.service import cycle_result
from snapshots.ingest import ingest_document
from snapshots.models import CycleReport, Node, Snapshot
from snapshots.retention import prune_after_ingest, prune_snapshots
from snapshots.scope import resolve_scope
from tests.support.interleave import StatementGate, sessions_waiting_on_a_lock, wait_until

from .conftest import small_doc

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions and row locks are PostgreSQL's"
)


@pytest.fixture(autouse=True)
def no_orphan_partitions():
    if partitions.enabled():
        with connection.cursor() as cursor:
            partitions.drop(cursor, [])


def errors_logged(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def own_partitions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relname ~ '^snapshots_(node|edge)_p[0-9]+$'"
        )
        return cursor.fetchone()[0]


@postgresql_only
def test_a_prune_started_while_another_runs_is_skipped_without_an_error(settings, caplog):
    """The second prune used to drop the partitions the first was about to
    drop: the first then failed with UndefinedTable and a traceback."""
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 1  # every capture in partitions of its own
    settings.PEEPSWEB_SEGMENT_REWRITE = 0  # each capture a segment (versions.py)
    ids = [ingest_document(small_doc()).snapshot_id for _ in range(3)]
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 1
    first = StatementGate(prune_after_ingest, stop_before=lambda sql: sql.startswith("DROP TABLE"))
    with caplog.at_level(logging.DEBUG, logger="snapshots.retention"):
        first.start()
        assert first.wait_stopped()
        prune_after_ingest()  # meanwhile, another ingest's prune
        first.go()
    assert first.error is None
    assert errors_logged(caplog) == []
    assert list(Snapshot.objects.values_list("id", flat=True)) == ids[-1:]
    assert own_partitions() == 2  # the newest capture's node and edge tables


def test_many_prunes_at_once_leave_the_newest_and_log_no_error(settings, caplog):
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 1
    settings.PEEPSWEB_SEGMENT_REWRITE = 0
    ids = [ingest_document(small_doc()).snapshot_id for _ in range(8)]
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 2
    start = threading.Barrier(6)

    def prune():
        try:
            start.wait()
            prune_after_ingest()
        finally:
            connections.close_all()

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=prune) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors_logged(caplog) == []
    prune_snapshots()  # whatever a skipped prune left (none here, but a prune may skip)
    assert list(Snapshot.objects.order_by("id").values_list("id", flat=True)) == ids[-2:]
    assert Node.objects.count() == 2 * 3


@postgresql_only
def test_a_cycle_report_stored_during_the_prune_of_its_snapshot_does_not_fail_the_prune():
    """A page computed the cycles of a snapshot being pruned and stored them
    between the prune's DELETE of CycleReport and its DELETE of the snapshot:
    the prune failed its foreign key check and was rolled back."""
    old = ingest_document(small_doc()).snapshot_id
    ingest_document(small_doc())
    scope = resolve_scope(str(old))
    prune = StatementGate(
        lambda: prune_snapshots(keep=1),
        stop_before=lambda sql: sql.startswith('DELETE FROM "snapshots_snapshot"'),
    )
    prune.start()
    assert prune.wait_stopped()
    store = StatementGate(lambda: cycle_result(scope))
    store.start()
    # It either commits its report now (the race) or waits for the prune.
    wait_until(lambda: not store.is_alive() or sessions_waiting_on_a_lock())
    prune.go()
    store.go()
    assert prune.error is None, prune.error
    assert prune.result == 1
    assert store.error is None  # cycle_result answers; only its report is not kept
    assert not Snapshot.objects.filter(id=old).exists()
    assert not CycleReport.objects.exists()
