"""Keep the newest PEEPSWEB_KEEP_SNAPSHOTS snapshots; delete the rest in bulk.

Django's `QuerySet.delete()` runs the cascade collector, which loads every
node and edge row into Python before deleting it: minutes for one
100,000-node snapshot. Here every table below Snapshot gets one DELETE per
chunk of snapshot ids instead, children first, all in one transaction per
chunk. The tables are found from the models' relations, so a model added
later with a foreign key to Snapshot or ProcessSnapshot is pruned too.

Every ingest prunes after itself, so under load many prunes start at once
and pick the same old snapshots. On PostgreSQL a chunk is deleted under a
transaction-level advisory lock: one chunk at a time, and a prune after an
ingest that finds the lock taken skips its turn (the running prune deletes
those snapshots; the next ingest prunes what remains). Racing prunes used
to drop the same partition twice (UndefinedTable) or wait on each other's
locks until they timed out. A transaction lock, not a session one: it ends
with the chunk's transaction whatever happens, and leaves nothing behind on
a pooled connection.
"""

import logging
from itertools import batched

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from psycopg.errors import LockNotAvailable

from snapshots import partitions
from snapshots.models import IngestEvent, ProcessSnapshot, Snapshot

log = logging.getLogger(__name__)
CHUNK = 50  # snapshots per transaction: short locks, bounded IN lists
IN_LIST = 500  # rows per DELETE/UPDATE ... IN (...)
# PostgreSQL: dropping a big capture's partition locks its parent table
# against every reader, and an ingest attaching one locks the default
# partition. Do not queue page queries behind a prune, or wait on an
# ingest: give up after this long; the next prune retries.
LOCK_TIMEOUT = "500ms"
# Advisory lock key of "a prune is deleting" (a constant no other code uses:
# the bytes of "peepsprn").
PRUNE_LOCK = 0x7065657073707276


def snapshots_to_prune(keep=None):
    """Ids of complete snapshots beyond the newest `keep` (open pulls are never pruned)."""
    keep = settings.PEEPSWEB_KEEP_SNAPSHOTS if keep is None else keep
    keep = max(int(keep), 1)
    # The id of the keep-th newest; everything older goes. One index probe.
    boundary = Snapshot.objects.order_by("-id").values_list("id", flat=True)[keep - 1 : keep]
    boundary = list(boundary)
    if not boundary:
        return []
    return list(
        Snapshot.objects.filter(id__lt=boundary[0])
        .exclude(status=Snapshot.OPEN)
        .order_by("id")
        .values_list("id", flat=True)
    )


def prune_snapshots(keep=None, *, wait=True):
    """Delete old snapshots; returns how many this call deleted. When another
    prune is deleting: wait for it, or with wait=False stop there."""
    ids = snapshots_to_prune(keep)
    deleted = 0
    for chunk in batched(ids, CHUNK):
        count = delete_snapshots(chunk, wait=wait)
        if count is None:
            log.debug("another prune is deleting; this one skips its turn")
            break
        deleted += count
    return deleted


def prune_after_ingest():
    """Called after every ingest. Cheap when there is nothing to do (one
    indexed query), and never fails the ingest that triggered it."""
    try:
        prune_snapshots(wait=False)
        prune_ingest_events()
    except DatabaseError as exc:
        if isinstance(exc.__cause__, LockNotAvailable):
            # By design (LOCK_TIMEOUT) under load: a line, not a traceback.
            log.warning("pruning gave up on a busy table (%s); the next ingest will retry", exc)
        else:
            log.exception("pruning old snapshots failed; the next ingest will retry")


def prune_ingest_events(keep=None):
    """Ingest events are an operator's log, not data: keep the newest few thousand."""
    if keep is None:
        keep = settings.PEEPSWEB_KEEP_INGEST_EVENTS
    newest_first = IngestEvent.objects.order_by("-id").values_list("id", flat=True)
    boundary = list(newest_first[keep : keep + 1])
    if not boundary:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_qn(IngestEvent._meta.db_table)} WHERE {_qn('id')} <= %s",
            [boundary[0]],
        )
        return cursor.rowcount


def delete_snapshots(ids, *, wait=True):
    """Delete snapshots `ids` and every row below them, one DELETE per table;
    returns how many snapshots were deleted (some may be gone already), or
    None when wait=False and another prune holds PRUNE_LOCK."""
    ids = list(ids)
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        if partitions.enabled():
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PRUNE_LOCK])
            else:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [PRUNE_LOCK])
                if not cursor.fetchone()[0]:
                    return None
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # The snapshot rows first. A row that a concurrent transaction adds
        # under one of them (a page storing its CycleReport) then waits for
        # this prune, and fails its foreign key itself (cycle_result expects
        # that), instead of being committed between our DELETE of its table
        # and the DELETE of the snapshot, which failed the prune.
        list(Snapshot.objects.select_for_update().filter(id__in=ids).values_list("id"))
        proc_ids = list(
            ProcessSnapshot.objects.filter(snapshot_id__in=ids).values_list("id", flat=True)
        )
        if partitions.enabled():
            partitions.drop(cursor, proc_ids)  # big captures' nodes and edges
        # Children of ProcessSnapshot first (Node, Edge, Frame, ... ), then
        # children of Snapshot that hang on it directly, then the two parents.
        for parent, parent_ids in ((ProcessSnapshot, proc_ids), (Snapshot, ids)):
            for model, column, on_delete in _children(parent):
                if model is ProcessSnapshot:
                    continue
                if parent is Snapshot and model in partitions.PARTITIONED:
                    # Deleted by process above (a row's process is in its
                    # snapshot); by snapshot id, PostgreSQL would have to
                    # open every partition.
                    continue
                _delete_or_detach(cursor, model, column, on_delete, parent_ids)
        _delete_where_in(cursor, ProcessSnapshot._meta.db_table, "id", proc_ids)
        return _delete_where_in(cursor, Snapshot._meta.db_table, "id", ids)


def _children(parent):
    """(model, fk column, on_delete) for every model with a foreign key to
    parent; edges before nodes, in the order ingest locks them."""
    rels = [r for r in parent._meta.related_objects if r.field.concrete and not r.many_to_many]
    order = {model: i for i, model in enumerate(partitions.PARTITIONED)}
    rels.sort(key=lambda rel: order.get(rel.related_model, len(order)))
    for rel in rels:
        yield rel.related_model, rel.field.column, rel.on_delete


def _delete_or_detach(cursor, model, column, on_delete, parent_ids):
    table = model._meta.db_table
    if on_delete is models.CASCADE:
        _delete_where_in(cursor, table, column, parent_ids)
    elif on_delete is models.SET_NULL:
        for chunk in batched(parent_ids, IN_LIST):
            cursor.execute(
                f"UPDATE {_qn(table)} SET {_qn(column)} = NULL "
                f"WHERE {_qn(column)} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
    # PROTECT / DO_NOTHING: leave the rows; the database will say if that is wrong.


def _delete_where_in(cursor, table, column, values):
    """Returns how many rows were deleted."""
    deleted = 0
    for chunk in batched(values, IN_LIST):
        cursor.execute(
            f"DELETE FROM {_qn(table)} WHERE {_qn(column)} IN ({', '.join(['%s'] * len(chunk))})",
            chunk,
        )
        deleted += cursor.rowcount
    return deleted


def _qn(name):
    return connection.ops.quote_name(name)
