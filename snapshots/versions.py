"""Versioned rows: consecutive captures of one process share what did not change.

A capture is a ProcessSnapshot. Captures of one proc_key form a *lineage*,
cut into *segments*: a segment starts with a capture that writes every row
(its id is the segment id) and goes on with captures that write only what
changed. Every node, edge, unresolved edge, pending trace and frame row
carries

    segment_id, first_id, last_id, digest

and is seen by the captures of its segment whose id lies in
[first_id, last_id]. A row the newest capture still has is open
(last_id = OPEN). When the next capture of the process arrives, its rows are
compared with the open rows by `digest` (a 64-bit hash of the row's
content): a row with the same digest is left alone, an open row whose digest
is gone is closed (last_id = the previous capture), and only new content is
inserted. A capture that changes nothing writes nothing but its capture row.

A segment ends, and the next capture writes everything again, when the rows
added since its start reach PEEPSWEB_SEGMENT_REWRITE times the rows it
started with: this bounds how many versions a read of one capture walks past
(the readers' indexes lead with segment_id), at a storage cost of 1 /
PEEPSWEB_SEGMENT_REWRITE of the changes. Measured alternatives and the
choice: docs/ingest.md#history-storage.

Volatile numbers would defeat the sharing: a pending trace stores when the
wait began (since_ns), not its duration, and a node the start of its longest
pending trace; readers get `pending_us`, `at_ns` and `duration_us` as of
their capture through annotate().

The ProcessHead row of a proc_key names its newest capture. Ingest locks it
for the whole transaction, so two captures of one process never diff
against the same head; its open rows' digests (and CLOSE_BY values, which
find a gone row by an index the readers have anyway) are cached per server
process and reloaded from the database when another process or a restart
moved the head.
"""

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from itertools import batched

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.db.models.functions import Cast
from xxhash import xxh3_64_intdigest

from snapshots.cycles.finder import cyclic_components, factorize, strong_components
from snapshots.models import (
    Edge,
    Frame,
    Node,
    PendingTrace,
    ProcessHead,
    ProcessSnapshot,
    UnresolvedEdge,
    WakeEvent,
)

OPEN = 2**63 - 1
# Edges before nodes: the order ingest writes and retention deletes them in.
VERSIONED = (Edge, Node, UnresolvedEdge, PendingTrace, Frame, WakeEvent)
KEYS = ("segment_id", "first_id", "last_id", "digest")
IN_LIST = 500
# What closing finds a gone row by: a column an index already leads with
# after segment_id (the readers' indexes), and its place in the content
# tuples ingest writes; the digest then tells the row's version. An index
# on (segment_id, digest) for closing alone was 3.2 MB of the 58 MB of one
# process's hour on PostgreSQL (docs/ingest.md#history-storage).
CLOSE_BY = {
    Edge: ("src", 0),
    Node: ("node_id", 1),  # after proc_key
    UnresolvedEdge: ("src", 0),
    PendingTrace: ("node_id", 0),
    Frame: ("frame_key", 0),
    WakeEvent: ("woken", 2),  # after at_ns, waker
}


def digest(row):
    """64-bit content hash of a row tuple (str, int, None), stable across
    processes: XXH3-64 of its JSON, shifted into a signed bigint.

    It runs for every row of every capture: 0.28 us a row against 0.89 for
    the 8-byte BLAKE2b it replaced (bench/ingest.py's capture has 325,200).
    XXH3 passes SMHasher's distribution tests, so two different rows share
    a digest with the odds of any 64-bit hash (about 1 in 10^8 for a
    segment of 600,000 rows); like any 64-bit hash it is no defence against
    a sender crafting a collision, which could only hide a change to its
    own rows. Stored digests are compared with digests computed now: a
    change of this function makes each process's next capture write all
    its rows once (nothing else needs equal digests across it)."""
    return xxh3_64_intdigest(orjson.dumps(row)) - 2**63


# -- reading ------------------------------------------------------------------


def visible(captures):
    """Q for the rows seen by `captures`: (capture id, segment id) pairs."""
    return seen_between((segment_id, c, c) for c, segment_id in captures)


def seen_between(ranges):
    """Q for the rows seen by some capture of segment s with an id in
    [lo, hi], for (s, lo, hi) triples whose lo and hi are captures of s (a
    row is seen by the captures of its segment from first_id to last_id)."""
    q = Q(pk__in=[])
    for segment_id, lo, hi in ranges:
        q |= Q(segment_id=segment_id, first_id__lte=hi, last_id__gte=lo)
    return q


def visible_sql(captures, alias=""):
    """The same as SQL: (text, params) for a WHERE clause."""
    qn = connection.ops.quote_name
    prefix = f"{alias}." if alias else ""
    seg, first, last = (prefix + qn(c) for c in ("segment_id", "first_id", "last_id"))
    parts, params = [], []
    for capture_id, segment_id in captures:
        parts.append(f"({seg} = %s AND {first} <= %s AND {last} >= %s)")
        params += [segment_id, capture_id, capture_id]
    return ("(" + " OR ".join(parts) + ")") if parts else "(1 = 0)", params


# Columns readers ask for that are not stored: the capture that sees a row,
# and durations as of that capture.
DERIVED = {
    Node: {"process": (0, None), "pending_us": (2, "pending_since_ns")},
    PendingTrace: {"process": (0, None), "at_ns": (2, None), "duration_us": (2, "since_ns")},
}


def select_sql(model, fields, captures, alias="t"):
    """(SELECT list text, params) for raw SQL readers of `model`'s rows seen
    by `captures` ([(id, segment id, captured_at_ns)]); `fields` may name the
    derived columns (DERIVED) as well as stored ones."""
    qn = connection.ops.quote_name
    derived = DERIVED.get(model, {"process": (0, None)})
    parts, params = [], []
    for name in fields:
        if name not in derived:
            parts.append(f"{alias}.{qn(model._meta.get_field(name).column)}")
            continue
        position, since = derived[name]
        case = " ".join("WHEN %s THEN %s" for _ in captures)
        expr = f"CASE {alias}.{qn('segment_id')} {case} END"
        for capture in captures:
            params += [capture[1], capture[position]]
        if since is not None:
            expr = f"(({expr}) - {alias}.{qn(since)}) / 1000"
        parts.append(expr)
    return ", ".join(parts), params


def per_segment(captures, values):
    """An SQL expression worth values[i] on rows of captures[i]'s segment.
    captures: [(capture id, segment id)]; values: ints (or None)."""
    if len(values) == 1:
        return Value(values[0], output_field=BigIntegerField())
    return Case(
        *(
            When(segment_id=segment_id, then=Value(value))
            for (_, segment_id), value in zip(captures, values, strict=True)
        ),
        output_field=BigIntegerField(),
    )


def rows(model, captures):
    """Rows of `model` seen by `captures` ([(id, segment id, captured_at_ns)]),
    with `process_id` (the capture that sees each row) annotated, and for
    nodes `pending_us`, for traces `at_ns` and `duration_us`, as of it.
    The captures must be of distinct segments (a scope's are: one per
    process): the annotations tell captures apart by segment, so of two
    captures sharing one, each row would be given to one of them only."""
    pairs = [(c[0], c[1]) for c in captures]
    qs = model.objects.filter(visible(pairs))
    if not pairs:  # no rows; the annotations still exist for order_by and values
        captures = [(None, None, None)]
    qs = qs.annotate(process_id=per_segment(pairs, [c[0] for c in captures]))
    captured = per_segment(pairs, [c[2] for c in captures])
    if model is Node:
        qs = qs.annotate(pending_us=_micros_since(captured, "pending_since_ns"))
    elif model is PendingTrace:
        qs = qs.annotate(at_ns=captured, duration_us=_micros_since(captured, "since_ns"))
    return qs


def _micros_since(captured, column):
    # Integer division in SQL on both databases (bigint / bigint).
    return Cast((captured - F(column)) / Value(1000), BigIntegerField())


def of(model, *captures):
    """Rows of `model` that these captures (ProcessSnapshots or their ids)
    see, annotated like rows(): for tests, commands and one-off readers."""
    ids = [getattr(c, "id", c) for c in captures]
    return rows(model, captures_of(ids))


def of_snapshot(model, snapshot_id):
    """Rows of `model` that the captures of one snapshot see."""
    ids = ProcessSnapshot.objects.filter(snapshot_id=getattr(snapshot_id, "id", snapshot_id))
    return rows(model, captures_of(ids.values_list("id", flat=True)))


def captures_of(process_ids):
    """[(id, segment id, captured_at_ns)] of these captures, those with data."""
    return list(
        ProcessSnapshot.objects.filter(id__in=list(process_ids), segment_id__isnull=False)
        .order_by("id")
        .values_list("id", "segment_id", "captured_at_ns")
    )


# -- writing ------------------------------------------------------------------


@dataclass
class Head:
    """What the next capture of a proc_key is compared with."""

    capture_id: int
    segment_id: int
    open: dict  # model -> {digest: count} of the rows the head capture sees
    keys: dict | None  # model -> {digest: its rows' CLOSE_BY value}; None: not kept
    states: dict  # task node id -> state class (the nodes that have one)
    wakers: dict  # node id -> last_waker, the non-empty ones
    cycle_key: str

    def size(self):
        return sum(len(d) for d in self.open.values()) + len(self.states) + len(self.wakers)


class HeadCache:
    """Heads of recently seen proc_keys, bounded by the digests they hold."""

    def __init__(self):
        self.heads = OrderedDict()
        self.size = 0

    def get(self, proc_key, capture_id):
        head = self.heads.get(proc_key)
        if head is None or head.capture_id != capture_id:
            return None
        self.heads.move_to_end(proc_key)
        return head

    @staticmethod
    def fits(size):
        """Whether a head of `size` rows may be kept. A big capture's next
        one reloads its digests instead (tenths of a second), and its writer
        keeps no CLOSE_BY values (a 300,000-row capture's took 30 MB)."""
        return size <= settings.PEEPSWEB_HEAD_CACHE_ROWS // 4

    def put(self, proc_key, head):
        old = self.heads.pop(proc_key, None)
        if old is not None:
            self.size -= old.size()
        if head.keys is None or not self.fits(head.size()):
            return
        self.heads[proc_key] = head
        self.size += head.size()
        while self.size > settings.PEEPSWEB_HEAD_CACHE_ROWS and len(self.heads) > 1:
            _, dropped = self.heads.popitem(last=False)
            self.size -= dropped.size()

    def clear(self):
        self.heads.clear()
        self.size = 0


HEADS = HeadCache()


def lock_head(proc_key):
    """The ProcessHead row of proc_key, locked until the transaction ends
    (created if missing); None when it names no capture that still exists."""
    head = ProcessHead.objects.select_for_update().filter(proc_key=proc_key).first()
    if head is None:
        try:
            with transaction.atomic():
                ProcessHead.objects.create(proc_key=proc_key, capture_id=0, segment_id=0)
        except IntegrityError:
            pass  # another ingest of this proc_key made it first
        head = ProcessHead.objects.select_for_update().get(proc_key=proc_key)
    return head


def load_head(row):
    """The Head to diff against, from the cache or the database; None when
    the head capture is gone (pruned) or there is none yet."""
    if not row.capture_id:
        return None
    cached = HEADS.get(row.proc_key, row.capture_id)
    if cached is not None:
        return cached
    capture = (
        ProcessSnapshot.objects.filter(id=row.capture_id, segment_id=row.segment_id)
        .values_list("cycle_key", flat=True)
        .first()
    )
    if capture is None:
        return None
    pair = [(row.capture_id, row.segment_id)]
    open_rows, keys = {}, {}
    for model in VERSIONED:
        counts, closing = open_rows[model], keys[model] = {}, {}
        found = model.objects.filter(visible(pair)).values_list("digest", CLOSE_BY[model][0])
        for d, key in found.iterator():
            counts[d] = counts.get(d, 0) + 1
            closing[d] = key
    states, wakers = {}, {}
    found = Node.objects.filter(visible(pair)).values_list("node_id", "state_class", "last_waker")
    for node_id, state_class, waker in found.iterator():
        if state_class:  # tasks, as ingest keeps them (store.write_rows)
            states[node_id] = state_class
        if waker:
            wakers[node_id] = waker
    return Head(row.capture_id, row.segment_id, open_rows, keys, states, wakers, capture)


class Writer:
    """Writes one capture's rows against its process's head.

    add(model, stream) writes the rows of `stream` that are new (in the
    head's segment, or all of them in a new segment); finish() closes the
    head's rows that the capture no longer has and returns the counts."""

    def __init__(self, proc, head, row, write, tables, size):
        """`size`: at most how many rows the capture's Head will hold."""
        self.proc = proc
        self.head = head  # None: nothing to compare with
        self.write = write
        self.tables = tables  # model -> (table, columns) to write into
        rewrite = settings.PEEPSWEB_SEGMENT_REWRITE
        self.new_segment = head is None or row.added_rows >= rewrite * max(row.segment_rows, 1)
        self.segment_id = proc.id if self.new_segment else head.segment_id
        self.open = {m: {} for m in VERSIONED}  # digest -> count seen in this capture
        # digest -> CLOSE_BY value, for the head cache; None when it cannot keep this one
        self.keys = {m: {} for m in VERSIONED} if HEADS.fits(size) else None
        self.matched = dict.fromkeys(VERSIONED, 0)  # rows the head has too
        self.added = dict.fromkeys(VERSIONED, 0)  # rows it does not
        self.changes = dict.fromkeys(VERSIONED, None)  # added + ended, after finish()
        self.written = 0

    def add(self, model, stream):
        """Write what is new among `stream`'s content tuples (all of them
        in a new segment); returns how many rows were written."""
        pid, seg = self.proc.id, self.segment_id
        head = None if self.head is None else self.head.open[model]
        share = not self.new_segment
        seen = self.open[model]
        keys = self.keys and self.keys[model]
        at = CLOSE_BY[model][1]
        written = matched = 0

        def all_rows():
            # Nothing to compare with, and a Head too big to keep
            # (HeadCache.fits): every row is new and only its digest is needed.
            nonlocal written
            for row in stream:
                written += 1
                yield (seg, pid, OPEN, digest(row), *row)

        def new_rows():
            nonlocal written, matched
            for row in stream:
                d = digest(row)
                count = seen.get(d, 0)
                seen[d] = count + 1
                if keys is not None:
                    keys[d] = row[at]
                if head is not None and head.get(d, 0) > count:
                    matched += 1
                    if share:
                        continue
                written += 1
                yield (seg, pid, OPEN, d, *row)

        fresh = head is None and keys is None
        self.write(self.tables[model], all_rows() if fresh else new_rows())
        self.written += written
        self.matched[model] += matched
        self.added[model] += written if share else written - matched
        return written

    def finish(self, cursor):
        """Close the head's rows this capture does not have; returns the
        number of rows added or ended against the head (None: no head)."""
        if self.head is None:
            return None
        changed = 0
        for model in VERSIONED:
            before, now = self.head.open[model], self.open[model]
            removed = sum(before.values()) - self.matched[model]
            self.changes[model] = self.added[model] + removed
            changed += self.changes[model]
            if self.new_segment or not removed:
                continue  # a new segment leaves the old one's rows as they are
            gone = [(d, n - now.get(d, 0)) for d, n in before.items() if now.get(d, 0) < n]
            self._close(cursor, model, [d for d, k in gone if k == before[d]])
            for d, k in gone:  # a row the head has several times, fewer now
                if k < before[d]:
                    self._close_some(cursor, model, d, k)
        return changed

    def _close_some(self, cursor, model, d, count):
        """Close `count` of the head's open rows with digest d."""
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        seg, last, first, dig, pk, key = (
            qn(c) for c in ("segment_id", "last_id", "first_id", "digest", "id", CLOSE_BY[model][0])
        )
        cursor.execute(
            f"UPDATE {table} SET {last} = %s WHERE {seg} = %s AND {pk} IN (SELECT {pk} FROM"
            f" {table} WHERE {seg} = %s AND {key} = %s AND {dig} = %s AND {last} = %s"
            f" AND {first} < %s LIMIT %s)",
            [
                *(self.head.capture_id, self.segment_id, self.segment_id),
                *(self.head.keys[model][d], d, OPEN, self.proc.id, count),
            ],
        )

    def _close(self, cursor, model, digests):
        """Close the head's open rows with these digests: found by their
        CLOSE_BY column's index, told apart by digest (which covers that
        column, so any row with both a listed key and a listed digest is
        one of them)."""
        if not digests:
            return
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        seg, last, first, dig, key = (
            qn(c) for c in ("segment_id", "last_id", "first_id", "digest", CLOSE_BY[model][0])
        )
        keys = self.head.keys[model]
        for chunk in batched(digests, IN_LIST):
            values = list({keys[d]: None for d in chunk})  # distinct, in order
            cursor.execute(
                f"UPDATE {table} SET {last} = %s WHERE {seg} = %s"
                f" AND {key} IN ({', '.join(['%s'] * len(values))})"
                f" AND {dig} IN ({', '.join(['%s'] * len(chunk))})"
                f" AND {last} = %s AND {first} < %s",
                [self.head.capture_id, self.segment_id, *values, *chunk, OPEN, self.proc.id],
            )


UNKNOWN_CYCLES = "?"  # a capture whose cycles were not looked for


def cycle_key(pairs):
    """A digest of the needs cycles among (src, dst) pairs; "" when none."""
    if not pairs:
        return ""
    graph = factorize(pairs)
    cycles = cyclic_components(graph, strong_components(graph))
    if not cycles:
        return ""
    members = sorted(sorted(graph.ids[i] for i in cycle) for cycle in cycles)
    return hashlib.blake2b(orjson.dumps(members), digest_size=16).hexdigest()


def state_changed(head, states):
    """Whether a node present in both captures changed state class."""
    if head is None:
        return True
    before = head.states
    return any(before.get(node_id, cls) != cls for node_id, cls in states.items())


def remember(proc, writer, states, wakers, key):
    """After commit: the capture just written is the head of its proc_key
    (the writer's digest counts become the head's; nothing copies them)."""
    head = Head(proc.id, writer.segment_id, writer.open, writer.keys, states, wakers, key)
    HEADS.put(proc.proc_key, head)


def advance_head(row, proc, writer):
    row.capture_id = proc.id
    if writer.new_segment:
        row.segment_id = writer.segment_id
        row.segment_rows = writer.written
        row.added_rows = 0
    else:
        row.added_rows += writer.written
    row.save(update_fields=["capture_id", "segment_id", "segment_rows", "added_rows"])
