"""Write one validated process snapshot in one transaction, with bulk writes.

PostgreSQL gets `COPY ... FROM STDIN` through the psycopg connection under
Django's; SQLite gets batched `executemany`. Never per-row ORM saves: a
100,000-node snapshot would take minutes.

Edges are written first, straight from the validating iterator, because the
node rows carry per-node edge counts (needs_count / needed_by_count) that are
only known once every edge has been seen. PostgreSQL inserts the edges while
Python still validates the next ones. On PostgreSQL a big capture's edges
and nodes go into tables of their own, attached as partitions once loaded
(snapshots/partitions.py).
"""

import time
from collections import Counter
from functools import partial

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from snapshots import partitions, versions
from snapshots.ingest.errors import IngestError
from snapshots.ingest.validate import LOCAL
from snapshots.models import (
    Edge,
    Frame,
    Node,
    PendingTrace,
    ProcessSnapshot,
    Snapshot,
    UnresolvedEdge,
    WakeEvent,
    node_counts,
)
from snapshots.signals import process_snapshot_stored

SQLITE_BATCH = 2000
# The cycles of a capture with more local edges than this are not looked for
# at ingest (for retention's landmarks: about 0.3 s at 200,000 edges); the
# capture counts as a landmark instead.
CYCLE_KEY_MAX_EDGES = 50_000


def store_parsed(parsed):
    """Store `parsed` (validate.Parsed); returns the ProcessSnapshot.

    Raises IngestError(409) for a reply to a pull that is not open, and
    IngestError(400) for a bad edge found while streaming; either way the
    transaction rolls back and nothing is left behind."""
    now = timezone.now()
    now_ns = int(now.timestamp() * 1_000_000_000)
    captured = parsed.captured_at_ns if parsed.captured_at_ns is not None else now_ns
    with transaction.atomic():
        if parsed.snapshot_id is None:
            snapshot = Snapshot.objects.create(
                kind=Snapshot.PUSH,
                status=Snapshot.COMPLETE,
                created_at=now,
                captured_at_ns=captured,
            )
            proc = ProcessSnapshot(snapshot=snapshot, status=ProcessSnapshot.PUSHED)
        else:
            proc = _claim_pull_slot(parsed, now)
            proc.status = ProcessSnapshot.RESPONDED
        proc.process = parsed.process
        proc.pid = parsed.pid
        proc.proc_key = parsed.proc_key
        proc.captured_at_ns = captured
        proc.received_at = now
        proc.save()

        write_rows(proc, parsed)

        proc.node_count = len(parsed.nodes)
        proc.edge_count = parsed.edge_count
        proc.unresolved_count = parsed.unresolved_count
        proc.wake_count = len(parsed.wakes)
        proc.trace_count = len(parsed.traces)
        # Counted here, where the rows are at hand: counted on the list's
        # first read, several captures' rows had to be read back.
        kinds = Counter((row[1], row[6]) for row in parsed.nodes)
        proc.count_cache = node_counts((kind, cls, n) for (kind, cls), n in kinds.items())
        # Free the rows before the listeners run (they may be hungry too).
        parsed.release()
        proc.save(
            update_fields=[
                "node_count",
                "edge_count",
                "unresolved_count",
                "wake_count",
                "trace_count",
                "count_cache",
                "segment_id",
                "changed_rows",
                "landmark",
                "same_tasks",
                "cycle_key",
            ]
        )
        if parsed.snapshot_id is None:
            Snapshot.objects.filter(id=proc.snapshot_id).update(
                node_count=proc.node_count, edge_count=proc.edge_count
            )
        else:
            # Several replies of one pull may commit concurrently: increment in SQL.
            Snapshot.objects.filter(id=proc.snapshot_id).update(
                node_count=F("node_count") + proc.node_count,
                edge_count=F("edge_count") + proc.edge_count,
                captured_at_ns=Least(Coalesce(F("captured_at_ns"), captured), captured),
            )
        commit_started = time.perf_counter()
        # Listeners broadcast to browsers: never announce rows a rollback could
        # take back. robust: a failing listener is logged, and the snapshot it
        # could not announce is still stored and still answered with a 201.
        transaction.on_commit(lambda: _announce(proc), robust=True)
    proc.timings["commit"] = (
        time.perf_counter() - commit_started - getattr(proc, "announce_seconds", 0.0)
    )
    return proc


def _announce(proc):
    started = time.perf_counter()
    process_snapshot_stored.send(sender=ProcessSnapshot, process_snapshot=proc)
    # Reported in the POST's Server-Timing header: listeners run in the request.
    proc.announce_seconds = time.perf_counter() - started


def _claim_pull_slot(parsed, now):
    """The pending ProcessSnapshot this reply fills, locked; else 409."""
    slot = (
        ProcessSnapshot.objects.select_for_update(of=("self",))
        .select_related("snapshot")
        .filter(
            snapshot_id=parsed.snapshot_id,
            proc_key=parsed.proc_key,
            status=ProcessSnapshot.PENDING,
            snapshot__kind=Snapshot.PULL,
            snapshot__status=Snapshot.OPEN,
        )
        .first()
    )
    deadline = slot and slot.snapshot.deadline
    if slot is not None and (deadline is None or deadline > now):
        return slot
    raise IngestError(409, _why_not_open(parsed, now), "snapshot_id")


def _why_not_open(parsed, now):
    sid, key = parsed.snapshot_id, parsed.proc_key
    snapshot = Snapshot.objects.filter(id=sid).first()
    if snapshot is None:
        return f"snapshot {sid} does not exist"
    if snapshot.kind != Snapshot.PULL:
        return f"snapshot {sid} is not a pull, so it takes no replies"
    if snapshot.status != Snapshot.OPEN or (snapshot.deadline and snapshot.deadline <= now):
        return f"pull {sid} is closed: the reply came too late"
    slot = ProcessSnapshot.objects.filter(snapshot=snapshot, proc_key=key).first()
    if slot is None:
        return f"pull {sid} did not ask process {key}"
    return f"pull {sid} already has a reply from {key} ({slot.status})"


# -- bulk writes --------------------------------------------------------------


def _columns(model, names):
    fields = [model._meta.get_field(name) for name in names]
    return model._meta.db_table, [f.column for f in fields]


EDGE_COLS = _columns(Edge, [*versions.KEYS, "src", "dst", "attrs"])
UNRESOLVED_COLS = _columns(
    UnresolvedEdge,
    [*versions.KEYS, "src", "dst", "attrs", "missing_side", "referenced_proc_key", "reason"],
)
NODE_COLS = _columns(
    Node,
    [
        *versions.KEYS,
        "proc_key",
        "node_id",
        "kind",
        "label",
        "attrs",
        "task_id",
        "state",
        "state_class",
        "spawned_at_ns",
        "pending_since_ns",
        "last_waker",
        "needs_count",
        "needed_by_count",
    ],
)
WAKE_COLS = _columns(WakeEvent, [*versions.KEYS, "at_ns", "waker", "woken", "target_worker"])
TRACE_COLS = _columns(PendingTrace, [*versions.KEYS, "node_id", "task_id", "since_ns", "frame_ids"])
FRAME_COLS = _columns(Frame, [*versions.KEYS, "frame_key", "text"])


def write_rows(proc, parsed):
    """Write the rows of `parsed` that its process's previous capture does
    not already have (snapshots/versions.py), and fill proc's lineage
    fields; proc.timings gets seconds per step."""
    pid, key = proc.id, proc.proc_key
    timings = proc.timings = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    head_row = versions.lock_head(key)
    # A pull reply fills a capture made when the pull began: when a push of
    # the process committed since, the reply starts a segment of its own and
    # the head stays the newer capture (ranges follow capture ids).
    older = pid < head_row.capture_id
    head = None if older else versions.load_head(head_row)
    lap("head")
    unresolved = []
    pairs = []
    with connection.cursor() as cursor:
        write = _copy if connection.vendor == "postgresql" else _insert_batches
        tables = {
            Edge: EDGE_COLS,
            Node: NODE_COLS,
            UnresolvedEdge: UNRESOLVED_COLS,
            PendingTrace: TRACE_COLS,
            Frame: FRAME_COLS,
            WakeEvent: WAKE_COLS,
        }
        # The Head it becomes holds each row's digest and each task's state.
        size = 3 * len(parsed.nodes) + len(parsed.raw_edges) + len(parsed.traces)
        size += len(parsed.frames) + len(parsed.wakes)
        writer = versions.Writer(proc, head, head_row, partial(write, cursor), tables, size)
        partitioned = writer.new_segment and partitions.wanted(
            len(parsed.nodes) + len(parsed.raw_edges)
        )
        if partitioned:
            partitions.create_loading_tables(cursor, pid)
            tables[Edge] = (partitions.name(Edge, pid), EDGE_COLS[1])
            tables[Node] = (partitions.name(Node, pid), NODE_COLS[1])

        def edge_rows():
            for kind, row in parsed.iter_edges():
                if kind is LOCAL:
                    if len(pairs) <= CYCLE_KEY_MAX_EDGES:
                        pairs.append((row[0], row[1]))
                    yield row
                else:
                    unresolved.append(row)

        write_edges(writer, edge_rows())
        lap("edges")
        # Tasks' state classes (other nodes have none), for landmarks.
        states = {row[0]: row[6] for row in parsed.nodes if row[6]}
        wakers = {}
        earlier_wakers = {} if head is None else head.wakers
        write_nodes(writer, ((key, *row) for row in parsed.node_rows(earlier_wakers, wakers)))
        lap("nodes")
        write_unresolved(writer, unresolved)
        write_wakes(writer, parsed.wakes)
        write_traces(writer, parsed.traces)
        write_frames(writer, parsed.frames)
        proc.changed_rows = writer.finish(cursor)
        lap("other_rows")
        if partitioned:
            partitions.attach(cursor, pid)
            lap("attach")
    # The needs cycles of this process alone, for retention's "never thin a
    # capture where a cycle appeared or resolved": recomputed only when its
    # edges changed.
    if writer.changes[Edge] == 0:
        proc.cycle_key = head.cycle_key
    elif len(pairs) > CYCLE_KEY_MAX_EDGES:
        proc.cycle_key = versions.UNKNOWN_CYCLES
    else:
        proc.cycle_key = versions.cycle_key(pairs)
    cycles_changed = head is None or proc.cycle_key != head.cycle_key
    if proc.cycle_key == versions.UNKNOWN_CYCLES and writer.changes[Edge]:
        cycles_changed = True  # edges changed and nobody looked: keep it
    proc.landmark = cycles_changed or versions.state_changed(head, states)
    proc.same_tasks = None if head is None else states.keys() == head.states.keys()
    proc.segment_id = writer.segment_id
    if not older:
        versions.advance_head(head_row, proc, writer)
        transaction.on_commit(
            lambda: versions.remember(proc, writer, states, wakers, proc.cycle_key)
        )


# One function per table, so a test can make one step fail mid-write.
def write_edges(writer, rows):
    return writer.add(Edge, rows)


def write_nodes(writer, rows):
    return writer.add(Node, rows)


def write_unresolved(writer, rows):
    return writer.add(UnresolvedEdge, rows)


def write_wakes(writer, rows):
    return writer.add(WakeEvent, rows)


def write_traces(writer, rows):
    return writer.add(PendingTrace, rows)


def write_frames(writer, rows):
    return writer.add(Frame, rows)


def _copy(cursor, table_cols, rows):
    """PostgreSQL: COPY through the psycopg cursor under Django's wrapper."""
    table, cols = table_cols
    qn = connection.ops.quote_name
    sql = f"COPY {qn(table)} ({', '.join(map(qn, cols))}) FROM STDIN"
    # psycopg errors -> django.db errors, as for any query through the ORM.
    with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def _insert_batches(cursor, table_cols, rows):
    """SQLite (and anything else): batched executemany."""
    table, cols = table_cols
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(table)} ({', '.join(map(qn, cols))}) "
        f"VALUES ({', '.join(['%s'] * len(cols))})"
    )
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= SQLITE_BATCH:
            cursor.executemany(sql, batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)
