"""Storage of history (issue 13): a full 2,000-node + 2,000-edge capture vs
the captures of the same process in which 2% of the nodes changed, and one
hour of those at 1 push/s, stored for real with the real retention.

    .venv/bin/python bench/history_storage.py [SECONDS] [state|attrs] [WAKES]  # SQLite: a temp file
    bash scripts/pg run .venv/bin/python bench/history_storage.py 3600 state

It ingests SECONDS captures (default 3600: one hour) one simulated second
apart, on a simulated clock: each capture is received at its capture time,
and retention (snapshots/retention.py, the settings' KEEP_FULL and
THIN_INTERVAL) runs every PEEPSWEB_PRUNE_EVERY_S of that clock, as a
server's ingests run it. Nothing is extrapolated: segment rewrites
(PEEPSWEB_SEGMENT_REWRITE), thinning, and on PostgreSQL the dead tuples of
closed rows and whatever autovacuum did meanwhile are all in the figure.
The run takes far less than an hour, so autovacuum has had less time than
it would: the end figure is the less flattering one.

`state`: 2% of the tasks flip pending <-> running each capture (a change
of state class). `attrs`: 2% bump a counter attr instead.

WAKES (default 0): each capture also carries the newest WAKES wake events,
as the Python client sends them (its newest 2,000), with one new wake per
changed task per capture; the wake rows stored are printed (each wake is
one row however many captures carry it).

Printed: the full capture; the mean of the first 120 changed captures (the
10% target); the size after the whole run (the 50 MB/hour target), the
captures retention kept, and per table the bytes (PostgreSQL: heap, indexes,
TOAST; dead tuples).
"""

import collections
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import setup_django  # noqa: E402

setup_django("history")

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from snapshots.ingest import ingest_document  # noqa: E402
from snapshots.models import ProcessSnapshot, WakeEvent  # noqa: E402
from snapshots.retention import prune_snapshots, stored_bytes  # noqa: E402

N = 2000
FIRST = 120  # captures averaged for "per 2%-changed capture"
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def document(states, counters, k, wakes=()):
    nodes = [
        {
            "id": f"task:fleet-1:{i}",
            "kind": "task",
            "label": f"worker_{i}",
            "attrs": {"task_id": i, "state": states[i], "polls": counters[i]},
        }
        for i in range(N)
    ]
    edges = [
        {
            "src_id": f"task:fleet-1:{i}",
            "dst_id": f"task:fleet-1:{(7 * i + 1) % N}",
            "kind": "needs",
        }
        for i in range(N)
    ]
    return {
        "process": "fleet",
        "pid": 1,
        "proc_key": "fleet-1",
        "captured_at_ns": int((T0 + timedelta(seconds=k)).timestamp()) * 1_000_000_000,
        "nodes": nodes,
        "edges": edges,
        "wake_events": list(wakes),
    }


def tables():
    """[(table, total, heap, indexes, toast, dead tuples)] of the snapshot
    tables holding anything, biggest first (SQLite: from dbstat when it has
    it; no TOAST or dead tuples there)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")  # fresh n_dead_tup counts
            cursor.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),"
                " pg_indexes_size(c.oid), COALESCE(pg_total_relation_size(c.reltoastrelid), 0),"
                " COALESCE(s.n_dead_tup, 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                " AND c.relname LIKE 'snapshots%%' AND pg_total_relation_size(c.oid) > 16384"
                " ORDER BY 2 DESC"
            )
            return cursor.fetchall()
        try:
            cursor.execute(
                "SELECT m.tbl_name, SUM(d.pgsize),"
                " SUM(CASE WHEN m.type = 'table' THEN d.pgsize ELSE 0 END),"
                " SUM(CASE WHEN m.type = 'index' THEN d.pgsize ELSE 0 END), 0, 0"
                " FROM dbstat d JOIN sqlite_master m ON m.name = d.name"
                " WHERE m.tbl_name LIKE 'snapshots%%' GROUP BY m.tbl_name"
                " HAVING SUM(d.pgsize) > 16384 ORDER BY 2 DESC"
            )
        except Exception:  # noqa: BLE001 - SQLite built without dbstat
            return []
        return cursor.fetchall()


def index_sizes():
    """[(index, bytes)] of the snapshot tables' indexes over 1 MB (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'i'"
            " AND pg_relation_size(c.oid) > 1000000 ORDER BY 2 DESC"
        )
        return cursor.fetchall()


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 3600
    mode = sys.argv[2] if len(sys.argv) > 2 else "state"
    wakes = collections.deque(maxlen=int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    sent = 0
    rng = random.Random(1)
    states, counters = ["pending"] * N, [0] * N
    clock = [T0]
    # Retention every PEEPSWEB_PRUNE_EVERY_S of simulated time, as a server
    # prunes after ingests at most that often (of real time): the run calls
    # it itself, on the simulated clock.
    prune_every = max(1, round(settings.PEEPSWEB_PRUNE_EVERY_S))
    settings.PEEPSWEB_PRUNE_EVERY_S = float("inf")
    base = stored_bytes()
    started = time.perf_counter()
    with mock.patch("django.utils.timezone.now", lambda: clock[0]):
        ingest_document(document(states, counters, 0))
        full = stored_bytes() - base
        for k in range(1, seconds + 1):
            for i in rng.sample(range(N), N * 2 // 100):
                if wakes.maxlen:
                    at_ns = int((T0 + timedelta(seconds=k)).timestamp()) * 1_000_000_000 + i
                    wakes.append({"at_ns": at_ns, "waker_task_id": (i + 1) % N, "woken_task_id": i})
                if mode == "state":
                    states[i] = "running" if states[i] == "pending" else "pending"
                else:
                    counters[i] += 1
            clock[0] = T0 + timedelta(seconds=k)
            ingest_document(document(states, counters, k, wakes))
            sent += len(wakes)
            if k % prune_every == 0:
                prune_snapshots(wait=False)
            if k == FIRST:
                each = (stored_bytes() - base - full) / FIRST
    ingest_ms = (time.perf_counter() - started) / (seconds + 1) * 1000
    total = stored_bytes() - base
    kept = ProcessSnapshot.objects.count()
    print(
        f"{connection.vendor}: full capture {full / 1e3:,.0f} kB; first {FIRST} captures with"
        f" 2% changed ({mode}): {each / 1e3:,.1f} kB each = {each / full:.1%} of a full one"
    )
    print(
        f"after {seconds} captures at 1/s ({seconds / 3600:.2f} h) with retention"
        f" (keep all {settings.PEEPSWEB_KEEP_FULL:.0f} s, then one per"
        f" {settings.PEEPSWEB_THIN_INTERVAL:.0f} s + landmarks): {kept} captures kept,"
        f" {total / 1e6:.1f} MB stored; ingest + prune {ingest_ms:.1f} ms each"
    )
    if wakes.maxlen:
        print(
            f"wake events: {sent:,} sent (the newest {wakes.maxlen:,} with each capture),"
            f" {WakeEvent.objects.count():,} rows stored after retention"
        )
    for name, size, heap, indexes, toast, dead in tables():
        print(
            f"  {name:32} {size / 1e6:6.1f} MB: heap {heap / 1e6:6.1f}  indexes"
            f" {indexes / 1e6:6.1f}  toast {toast / 1e6:5.1f}  dead tuples {dead:,}"
        )
    for name, size in index_sizes():
        print(f"    index {name:40} {size / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()
