"""Big segments' nodes and edges are partitions of their own (PostgreSQL).

On PostgreSQL the node and edge tables are partitioned by segment_id
(migrations 0002, 0003). A segment (snapshots/versions.py) starts with a
capture that writes every row; the captures after it write only what
changed, into the same segment. Every reader filters by the segment ids of
its scope, so the planner opens only the partitions it needs:

- A capture that starts a segment with PEEPSWEB_PARTITION_MIN_ROWS nodes +
  edges or more is COPYed into two new tables with no index; the indexes
  are built once the rows are in (by sorting, instead of updating the
  indexes row by row) and the tables are attached as partitions. For
  300,000 rows the database's work is about half of a COPY into the tables
  as they are (docs/ingest.md). The captures that follow in the segment
  insert into the parent table, which routes their rows to the partition.
  Retention drops the tables once no capture of the segment remains.
- Smaller segments go into the default partition like any insert. Two
  tables per segment cost 20-35 ms (bench/partition_threshold.py), and
  hundreds of partitions slow every page's planning and every ingest's
  catalog work.

Attaching a partition locks the default partition (ACCESS EXCLUSIVE) and
scans it for rows of the new segment, until commit; so ATTACH is the last
statement of the ingest, and the threshold bounds the default partition's
size. The tables are named after the segment (`snapshots_node_p42`); DDL is
transactional, so a rolled-back ingest leaves no table behind.
"""

from django.conf import settings
from django.db import connection

from snapshots.models import Edge, Node, ProcessSnapshot

# Edges before nodes: the order in which ingest writes and attaches them
# and retention deletes and drops them, so that two of them never wait on
# each other in opposite orders.
PARTITIONED = (Edge, Node)


def enabled():
    return connection.vendor == "postgresql"


def wanted(row_count):
    """Whether a capture of `row_count` nodes + edges gets partitions of its own."""
    return enabled() and row_count >= settings.PEEPSWEB_PARTITION_MIN_ROWS


def name(model, segment_id):
    return f"{model._meta.db_table}_p{int(segment_id)}"


def create_loading_tables(cursor, segment_id):
    """Empty tables shaped like the node and edge tables (same columns and
    defaults, so ids still come from the shared sequence), for COPY.

    Their CHECK on segment_id spares ATTACH a scan of the whole table to
    prove it (PostgreSQL's advice), while it holds the default partition."""
    qn = connection.ops.quote_name
    for model in PARTITIONED:
        cursor.execute(
            f"CREATE TABLE {qn(name(model, segment_id))} "
            f"(LIKE {qn(model._meta.db_table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
            f" CHECK ({qn('segment_id')} = {int(segment_id)}))"
        )


def attach(cursor, segment_id):
    """Index the loaded tables, then make them partitions.

    The indexes are built before ATTACH (which adopts them), while only the
    new tables are locked. From ATTACH on, until the commit that follows,
    the transaction holds the default partition against readers and writers
    of small captures, and the parent against the next ATTACH."""
    qn = connection.ops.quote_name
    for model in PARTITIONED:
        table = name(model, segment_id)
        for statement in _index_statements(cursor, model, table):
            cursor.execute(statement)
        cursor.execute(
            f"ALTER TABLE {qn(model._meta.db_table)} ATTACH PARTITION "
            f"{qn(table)} FOR VALUES IN ({int(segment_id)})"
        )


def _index_statements(cursor, model, table):
    """The parent table's indexes, as statements building them on `table`."""
    cursor.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
        [model._meta.db_table],
    )
    for (definition,) in cursor.fetchall():
        # "CREATE INDEX node_state ON ONLY public.snapshots_node USING btree (...)"
        unique = "UNIQUE " if definition.startswith("CREATE UNIQUE ") else ""
        method_and_columns = definition[definition.index(" USING ") :]
        yield f"CREATE {unique}INDEX ON {connection.ops.quote_name(table)}{method_and_columns}"


def drop(cursor, segment_ids):
    """Drop the partitions of these segments (small ones have none), and any
    whose segment has no capture left (deleted some other way: Django's
    cascade, a TRUNCATE). Call inside the transaction deleting the captures."""
    tables = [model._meta.db_table for model in PARTITIONED]
    names = [name(model, seg) for model in PARTITIONED for seg in segment_ids]
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = ANY(%s::regclass[]) AND c.relname ~ '_p[0-9]+$'"
        " AND (c.relname = ANY(%s) OR NOT EXISTS ("
        f" SELECT 1 FROM {connection.ops.quote_name(ProcessSnapshot._meta.db_table)} p"
        " WHERE p.segment_id = substring(c.relname from '_p([0-9]+)$')::bigint))"
        " ORDER BY i.inhparent = %s::regclass DESC, c.relname",
        [tables, names, tables[0]],
    )
    for (table,) in cursor.fetchall():  # edges first
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
