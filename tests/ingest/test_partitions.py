"""PostgreSQL: a big capture's nodes and edges are loaded into tables of
their own and attached as partitions; retention drops them."""

import logging
import threading

import psycopg
import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from snapshots import partitions, versions
from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Edge, Node, ProcessSnapshot
from snapshots.retention import prune_after_ingest, prune_snapshots

from .conftest import assert_nothing_stored, small_doc
from .test_pull_replies import open_pull

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's"),
]


@pytest.fixture(autouse=True)
def no_orphan_partitions():
    """Tables left by transactional tests' flushes (TRUNCATE keeps partitions)
    would count as this test's: retention's sweep drops them."""
    with connection.cursor() as cursor:
        partitions.drop(cursor, [])


@pytest.fixture
def every_capture_big(settings):
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 1
    settings.PEEPSWEB_SEGMENT_REWRITE = 0  # each capture a segment of its own


def big_doc():
    """small_doc (3 nodes + 2 edges) and one node more: 6 rows."""
    doc = small_doc()
    doc["nodes"].append({"id": "future:svc-1:extra", "kind": "future"})
    return doc


def names(pid):
    return {f"snapshots_edge_p{pid}", f"snapshots_node_p{pid}"}


def own_partitions():
    """{table name: partition bound} of every capture's own node/edge partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent IN ('snapshots_node'::regclass, 'snapshots_edge'::regclass)"
            " AND c.relname NOT LIKE '%%_default'"
        )
        return dict(cursor.fetchall())


def loading_table_counts():
    """{"Node": n, "Edge": n}: rows in the captures' tables not attached yet
    (on SQLite, where there are none, {})."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition"
            " AND relname ~ '^snapshots_(node|edge)_p[0-9]+$'"
        )
        counts = {"Node": 0, "Edge": 0}
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts["Node" if "_node_" in table else "Edge"] += cursor.fetchone()[0]
        return counts


def tables_named_like_partitions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relname ~ '^snapshots_(node|edge)_p[0-9]+$'"
        )
        return {row[0] for row in cursor.fetchall()}


def test_a_big_capture_is_attached_as_partitions_of_its_own(every_capture_big):
    pid = ingest_document(small_doc()).id
    assert own_partitions() == {
        f"snapshots_edge_p{pid}": f"FOR VALUES IN ('{pid}')",
        f"snapshots_node_p{pid}": f"FOR VALUES IN ('{pid}')",
    }
    # Read through the parent tables like every page does, with the derived columns.
    node = versions.of(Node, pid).get(node_id="task:svc-1:7")
    assert (node.needs_count, node.state_class, node.last_waker) == (1, "waiting", "task:svc-1:3")
    assert versions.of(Edge, pid).count() == 2
    with connection.cursor() as cursor:
        # the parent's indexes, built before the attach and adopted by it
        cursor.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass",
            [f"snapshots_node_p{pid}"],
        )
        assert cursor.fetchone()[0] == len(Node._meta.indexes)
        # and no foreign key: attaching one would lock out concurrent ingests
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [f"snapshots_node_p{pid}"],
        )
        assert cursor.fetchone()[0] == 0


def test_a_small_capture_goes_to_the_default_partition(settings):
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 6
    settings.PEEPSWEB_SEGMENT_REWRITE = 0  # each capture starts a segment
    small = ingest_document(small_doc())  # 5 rows
    assert own_partitions() == {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM snapshots_node_default WHERE segment_id = %s", [small.id]
        )
        assert cursor.fetchone()[0] == 3
    big = ingest_document(big_doc())  # 6 rows
    assert set(own_partitions()) == names(big.id)


def test_replies_to_one_pull_get_partitions_of_their_own(settings):
    """Each reply fills its capture (created when the pull opened) in place."""
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 6
    pull = open_pull("svc-1", "svc-2")
    first = ingest_document(big_doc() | {"snapshot_id": pull.id})
    second = ingest_document(small_doc("svc-2", snapshot_id=pull.id))
    assert set(own_partitions()) == names(first.id)
    assert versions.of(Node, first.id, second.id).count() == 4 + 3
    pull.refresh_from_db()
    assert pull.node_count == 7


def test_ids_come_from_one_sequence_across_partitions(settings):
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 6
    settings.PEEPSWEB_SEGMENT_REWRITE = 0  # each capture writes all its rows
    ingest_document(small_doc())
    ingest_document(big_doc())
    ingest_document(small_doc())
    ids = list(Node.objects.values_list("id", flat=True))
    assert len(ids) == len(set(ids)) == 10


def test_a_failure_after_the_attach_leaves_no_table_and_no_row(every_capture_big, monkeypatch):
    attach = partitions.attach

    def attach_then_fail(cursor, process_id):
        attach(cursor, process_id)
        assert Node.objects.count() == 3  # attached, inside the transaction
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(partitions, "attach", attach_then_fail)
    before = tables_named_like_partitions()
    with pytest.raises(RuntimeError):
        ingest_document(small_doc())
    assert_nothing_stored()
    assert tables_named_like_partitions() == before


def test_a_bad_edge_while_loading_leaves_no_table(every_capture_big):
    doc = small_doc()
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "future:svc-1:gone", "kind": "needs"})
    before = tables_named_like_partitions()
    with pytest.raises(IngestError):
        ingest_document(doc)
    assert_nothing_stored()
    assert tables_named_like_partitions() == before


def test_retention_drops_the_partitions_of_pruned_captures(every_capture_big, settings):
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 1000
    first, second, third = (ingest_document(small_doc()) for _ in range(3))
    assert prune_snapshots(keep=1) == 2
    assert set(own_partitions()) == names(third.id)
    assert tables_named_like_partitions() == set(own_partitions())
    assert versions.of(Node, first.id, second.id).count() == 0
    assert versions.of(Node, third.id).count() == 3


@pytest.mark.django_db(transaction=True)
def test_retention_gives_up_on_a_busy_table_and_the_next_prune_retries(
    every_capture_big, settings, caplog
):
    """Dropping a partition locks its parent against readers: a long reader
    makes the prune give up (after retention.LOCK_TIMEOUT), not wait with every
    page query queued behind it."""
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 1000
    old = ingest_document(small_doc())
    ingest_document(small_doc())
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 1
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as reader:
        reader.execute("LOCK TABLE ONLY snapshots_edge IN ACCESS SHARE MODE")
        with caplog.at_level(logging.WARNING, logger="snapshots.retention"):
            prune_after_ingest()
        # Expected under load, and retried: one line, no traceback.
        assert "pruning gave up on a busy table" in caplog.text
        assert not any(r.exc_info for r in caplog.records)
        assert f"snapshots_edge_p{old.id}" in own_partitions()
        assert versions.of(Node, old.id).count() == 3
    prune_after_ingest()
    assert f"snapshots_edge_p{old.id}" not in own_partitions()
    assert not versions.of(Node, old.id).exists()


def test_pruning_a_capture_without_partitions_locks_no_parent_table():
    """A small capture has no partitions: one catalog query, no DROP (which
    would lock out every reader)."""
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        partitions.drop(cursor, [10**9])
    assert len(queries) == 1
    assert "pg_inherits" in queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_rows_both_ways():
    first = ingest_document(small_doc())
    executor = MigrationExecutor(connection)
    try:
        state = executor.migrate([("snapshots", "0001_initial")])
        assert _relkind("snapshots_node") == "r"
        assert Node.objects.count() == 3 and Edge.objects.count() == 2
        # A row written while the table was plain: its identity carries on.
        OldNode = state.apps.get_model("snapshots", "Node")
        legacy = OldNode.objects.create(
            snapshot_id=first.snapshot_id,
            process_id=first.id,
            node_id="task:svc-1:99",
            kind="task",
            proc_key="svc-1",
        )
        executor = MigrationExecutor(connection)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert _relkind("snapshots_node") == "p"
    assert own_partitions() == {}  # the rows are in the default partition
    assert versions.of(Node, first.id).count() == 4
    assert Node.objects.get(node_id="task:svc-1:99").id == legacy.id
    ingest_document(small_doc())  # the partitioned table's sequence starts past it
    ids = list(Node.objects.values_list("id", flat=True))
    assert len(ids) == len(set(ids)) == 7


def _relkind(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingests_and_prunes_do_not_deadlock(settings):
    """Big and small captures at once, each ingest pruning after itself.
    With foreign keys on the partitioned tables, ATTACH locked the referenced
    tables against the others' inserts and two ingests deadlocked (a 503)."""
    settings.PEEPSWEB_PARTITION_MIN_ROWS = 6
    settings.PEEPSWEB_SEGMENT_REWRITE = 0  # each capture writes all its rows
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 6
    errors = []

    def sender(make_doc):
        try:
            for _ in range(6):
                ingest_document(make_doc())
        except Exception as exc:  # reported below, with its type
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender, args=(doc,)) for doc in [big_doc, small_doc] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    prune_snapshots()  # whatever a prune gave up on (a lock wait) goes now
    kept = list(ProcessSnapshot.objects.values_list("id", "node_count"))
    assert len(kept) == 6
    assert Node.objects.count() == sum(count for _, count in kept)
    big = {pid for pid, count in kept if count == 4}
    assert set(own_partitions()) == {name for pid in big for name in names(pid)}
