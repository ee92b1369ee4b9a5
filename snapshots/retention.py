"""Retention: what history is kept, and deleting the rest in bulk.

Policy (settings.py, docs/ingest.md#retention):
- every capture of the last PEEPSWEB_KEEP_FULL;
- older than that and up to PEEPSWEB_KEEP_HOURS, at most one capture per
  process per PEEPSWEB_THIN_INTERVAL, plus every capture where a node
  changed state class or the process's cycles changed (a cycle appeared or
  resolved), and each process's newest capture: *thinning*;
- nothing older than PEEPSWEB_KEEP_HOURS;
- the oldest first while the stored rows exceed PEEPSWEB_KEEP_MAX_MB, or
  the snapshots exceed PEEPSWEB_KEEP_SNAPSHOTS (0: no such cap).

Deleting a capture deletes the versioned rows (snapshots/versions.py) that
no remaining capture of their segment sees; a segment none of whose
captures remain loses all its rows (on PostgreSQL, a big one its partition).

Django's `QuerySet.delete()` runs the cascade collector, which loads every
row into Python before deleting it: minutes for one 100,000-node snapshot.
Here every table gets one DELETE per chunk of ids instead, in one
transaction per chunk.

Every ingest prunes after itself, so under load many prunes start at once
and pick the same old snapshots. On PostgreSQL a chunk is deleted under a
transaction-level advisory lock: one chunk at a time, and a prune after an
ingest that finds the lock taken skips its turn (the running prune deletes
those snapshots; the next ingest prunes what remains). A transaction lock,
not a session one: it ends with the chunk's transaction whatever happens,
and leaves nothing behind on a pooled connection.
"""

import logging
import time
from datetime import timedelta
from itertools import batched

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from psycopg.errors import LockNotAvailable

from snapshots import partitions, versions
from snapshots.models import IngestEvent, ProcessHead, ProcessSnapshot, Snapshot

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


def snapshots_to_prune(keep=None, now=None):
    """Ids of complete snapshots the policy deletes, oldest first (open pulls
    are never pruned): older than KEEP_HOURS, thinned, beyond the newest
    `keep` (default KEEP_SNAPSHOTS; 0 keeps any number)."""
    now = now or timezone.now()
    keep = settings.PEEPSWEB_KEEP_SNAPSHOTS if keep is None else keep
    done = Snapshot.objects.exclude(status=Snapshot.OPEN)
    ids = set(
        done.filter(created_at__lt=now - timedelta(hours=settings.PEEPSWEB_KEEP_HOURS))
        .values_list("id", flat=True)
        .order_by()
    )
    ids.update(thinned(now))
    if keep and int(keep) > 0:
        # The id of the keep-th newest; everything older goes. One index probe.
        newest = Snapshot.objects.order_by("-id").values_list("id", flat=True)
        boundary = list(newest[keep - 1 : keep])
        if boundary:
            ids.update(done.filter(id__lt=boundary[0]).values_list("id", flat=True).order_by())
    return sorted(ids)


def thinned(now, limit=20_000):
    """Snapshot ids that thinning removes; marks the captures it keeps.

    Looks at pushed captures older than KEEP_FULL not looked at before, per
    process in id order: a capture is kept when it is a landmark (a node
    changed state class, or cycles changed), when it is its process's
    newest, or when THIN_INTERVAL has passed since the last capture kept."""
    interval_ns = int(settings.PEEPSWEB_THIN_INTERVAL * 1_000_000_000)
    rows = list(
        ProcessSnapshot.objects.filter(
            received_at__lt=now - timedelta(seconds=settings.PEEPSWEB_KEEP_FULL),
            kept=False,
            status=ProcessSnapshot.PUSHED,
        )
        .order_by("proc_key", "id")
        .values_list("id", "snapshot_id", "proc_key", "captured_at_ns", "landmark")[:limit]
    )
    if not rows:
        return []
    keys = {r[2] for r in rows}
    heads = set(ProcessHead.objects.filter(proc_key__in=keys).values_list("capture_id", flat=True))
    kept, gone = [], []
    last_kept = {}
    for capture_id, snapshot_id, key, captured, landmark in rows:
        if key not in last_kept:
            last_kept[key] = (
                ProcessSnapshot.objects.filter(proc_key=key, kept=True, id__lt=capture_id)
                .order_by("-id")
                .values_list("captured_at_ns", flat=True)
                .first()
            )
        previous = last_kept[key]
        due = previous is None or captured is None or captured - previous >= interval_ns
        if landmark or due or capture_id in heads:
            kept.append(capture_id)
            last_kept[key] = captured if captured is not None else previous
        else:
            gone.append(snapshot_id)
    for chunk in batched(kept, IN_LIST):
        ProcessSnapshot.objects.filter(id__in=chunk).update(kept=True)
    return gone


def over_size_cap():
    """Oldest snapshot ids to delete while the stored rows exceed KEEP_MAX_MB:
    a tenth of the snapshots per call (space freed by PostgreSQL's DELETE is
    reused after autovacuum, so the measure lags; the next call goes on)."""
    cap = settings.PEEPSWEB_KEEP_MAX_MB
    if cap <= 0 or stored_bytes() <= cap * 1024 * 1024:
        return []
    done = Snapshot.objects.exclude(status=Snapshot.OPEN).order_by("id")
    count = done.count()
    return list(done.values_list("id", flat=True)[: max(1, count // 10)])


def stored_bytes():
    """Bytes the database holds for snapshots (tables and indexes)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                " AND c.relname LIKE 'snapshots%%'"
            )
            return int(cursor.fetchone()[0])
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA freelist_count")
        free = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return (pages - free) * cursor.fetchone()[0]


def prune_snapshots(keep=None, *, wait=True, now=None):
    """Delete what the policy does not keep; returns how many snapshots this
    call deleted. When another prune is deleting: wait for it, or with
    wait=False stop there."""
    ids = snapshots_to_prune(keep, now) or over_size_cap()
    deleted = 0
    for chunk in batched(ids, CHUNK):
        count = delete_snapshots(chunk, wait=wait)
        if count is None:
            log.debug("another prune is deleting; this one skips its turn")
            break
        deleted += count
    return deleted


_last_prune = 0.0


def prune_after_ingest():
    """Called after every ingest, at most once per PEEPSWEB_PRUNE_EVERY_S per
    server process (a push fleet ingests hundreds of captures a second), and
    never fails the ingest that triggered it."""
    global _last_prune
    started = time.monotonic()
    if started - _last_prune < settings.PEEPSWEB_PRUNE_EVERY_S:
        return
    _last_prune = started
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
    """Delete snapshots `ids`, their captures and wake events, and the
    versioned rows no remaining capture sees, one DELETE per table; returns
    how many snapshots were deleted (some may be gone already), or None when
    wait=False and another prune holds PRUNE_LOCK."""
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
        captures = list(
            ProcessSnapshot.objects.filter(snapshot_id__in=ids).values_list("id", "segment_id")
        )
        proc_ids = [c for c, _ in captures]
        # A process whose newest capture goes starts a new segment with its
        # next one: its head is locked (against an ingest diffing against
        # it) and removed.
        for chunk in batched(proc_ids, IN_LIST):
            heads = ProcessHead.objects.select_for_update().filter(capture_id__in=chunk)
            ProcessHead.objects.filter(id__in=list(heads.values_list("id", flat=True))).delete()
        for parent, parent_ids in ((ProcessSnapshot, proc_ids), (Snapshot, ids)):
            for model, column, on_delete in _children(parent):
                if model is not ProcessSnapshot:
                    _delete_or_detach(cursor, model, column, on_delete, parent_ids)
        _delete_where_in(cursor, ProcessSnapshot._meta.db_table, "id", proc_ids)
        deleted = _delete_where_in(cursor, Snapshot._meta.db_table, "id", ids)
        collect_rows(cursor, {s for _, s in captures if s is not None})
        return deleted


def collect_rows(cursor, segment_ids):
    """Delete the versioned rows of these segments that no remaining capture
    sees; a segment with no capture left loses all (and its partitions)."""
    if not segment_ids:
        return
    alive = set(
        ProcessSnapshot.objects.filter(segment_id__in=list(segment_ids))
        .values_list("segment_id", flat=True)
        .distinct()
    )
    dead = sorted(segment_ids - alive)
    if partitions.enabled():
        partitions.drop(cursor, dead)
    captures = _qn(ProcessSnapshot._meta.db_table)
    seg, first, last, cid = (_qn(c) for c in ("segment_id", "first_id", "last_id", "id"))
    for model in versions.VERSIONED:
        table = _qn(model._meta.db_table)
        _delete_where_in(cursor, model._meta.db_table, "segment_id", dead)
        for segment in sorted(alive):
            cursor.execute(
                f"DELETE FROM {table} WHERE {seg} = %s AND NOT EXISTS (SELECT 1 FROM {captures} p"
                f" WHERE p.{seg} = %s AND p.{cid} BETWEEN {table}.{first} AND {table}.{last})",
                [segment, segment],
            )


def _children(parent):
    """(model, fk column, on_delete) for every model with a foreign key to parent."""
    for rel in parent._meta.related_objects:
        if rel.field.concrete and not rel.many_to_many:
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
