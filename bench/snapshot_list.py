"""The snapshot list on a long fleet history (issue 13 item 4): N snapshots
(default 50,000) of P processes pushing in turn, 1% of captures landmarks,
one process with a cycle for a stretch, cycle counts already cached (as
after a first visit). The list reads only snapshot and capture rows, so the
rows are written directly (bulk), not through ingest: a capture's nodes are
never read by the list (count_cache is filled, as the first read leaves it).

    .venv/bin/python bench/snapshot_list.py [snapshots] [processes]   # SQLite
    bash scripts/pg run .venv/bin/python bench/snapshot_list.py

Prints, in one run, medians of REPEAT interleaved requests through Django's
test client: the list as it was (25 rows, COUNT + OFFSET: `?fold=0` is that
very query), the folded list (100 snapshots per page), a deep page, each
filter, a jump (?at=), the API; and the old snapshot_list query beside the
new one (page 1 and a deep page), with ratios.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import setup_django  # noqa: E402

setup_django("snapshot_list")

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from snapshots import queries  # noqa: E402
from snapshots.models import CycleReport, ProcessSnapshot, Snapshot  # noqa: E402

T0 = 1_763_772_000_000_000_000
S = 1_000_000_000
REPEAT = 9
COUNTS = {"kinds": {"task": 2000}, "task_state_classes": {"running": 1500, "waiting": 500}}


def build(n, procs):
    batch = 5_000
    with transaction.atomic():
        for start in range(0, n, batch):
            snaps = Snapshot.objects.bulk_create(
                Snapshot(captured_at_ns=T0 + i * S // procs, node_count=2000, edge_count=2000)
                for i in range(start, min(n, start + batch))
            )
            captures, reports = [], []
            for i, s in zip(range(start, start + len(snaps)), snaps, strict=True):
                p = i % procs
                # process 3 holds a cycle over the middle tenth of the history
                cycle = p == 3 and 0.45 * n <= i < 0.55 * n
                captures.append(
                    ProcessSnapshot(
                        snapshot=s,
                        process=f"svc{p}",
                        proc_key=f"svc{p}-1",
                        captured_at_ns=s.captured_at_ns,
                        node_count=2000,
                        edge_count=2000,
                        count_cache=COUNTS,
                        segment_id=1,
                        changed_rows=0 if i % 100 else 40,
                        landmark=i % 100 == 0 or i < procs,
                        cycle_key="c" * 32 if cycle else "",
                    )
                )
                reports.append(CycleReport(snapshot=s, candidate_count=int(cycle)))
            ProcessSnapshot.objects.bulk_create(captures)
            CycleReport.objects.bulk_create(reports)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def old_snapshot_list(page, per_page):
    """snapshot_list as it was before the filters (7f14461^): COUNT + OFFSET."""
    qs = Snapshot.objects.order_by("-id")
    total = qs.count()
    snapshots = list(qs[(page - 1) * per_page : page * per_page])
    ids = [s.id for s in snapshots]
    processes = list(ProcessSnapshot.objects.filter(snapshot_id__in=ids).order_by("proc_key"))
    queries._fill_count_caches(processes)
    cycles = dict(
        CycleReport.objects.filter(snapshot_id__in=ids).values_list(
            "snapshot_id", "candidate_count"
        )
    )
    return total, processes, cycles


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    t = time.perf_counter()
    build(n, procs)
    print(
        f"{connection.vendor}: {n:,} snapshots of {procs} processes built in "
        f"{time.perf_counter() - t:.1f} s"
    )
    client = Client()
    deep = n // 25 - 1
    mid_ns = T0 + (n // 2) * S // procs
    cases = {
        "page, as before (?fold=0, 25 rows)": "/?fold=0",
        "page, folded (100 snapshots)": "/",
        f"page {deep:,} (?fold=0, OFFSET {25 * (deep - 1):,})": f"/?fold=0&page={deep}",
        "page ?process=svc7 (folded)": "/?process=svc7",
        "page ?has_cycle=1 (folded)": "/?has_cycle=1",
        "page ?at=<middle> (redirect)": f"/?at={mid_ns}",
        "page ?page=999999 (empty state)": "/?page=999999",
        "API ?per_page=50": "/api/v1/snapshots?per_page=50",
        "API ?process=svc7&has_cycle=1": "/api/v1/snapshots?process=svc7&has_cycle=1",
    }
    funcs = {path: (lambda path=path: client.get(path)) for path in cases.values()}
    funcs["old query p1"] = lambda: old_snapshot_list(1, 25)
    funcs["new query p1"] = lambda: queries.snapshot_list(1, 25)
    funcs["old query deep"] = lambda: old_snapshot_list(deep, 25)
    funcs["new query deep"] = lambda: queries.snapshot_list(deep, 25)
    for f in funcs.values():  # warm up (and check the pages answer)
        f()
    for path in cases.values():
        status = client.get(path).status_code
        assert status in (200, 302), (path, status)
    times = {k: [] for k in funcs}
    for _ in range(REPEAT):
        for k, f in funcs.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    base = med["/?fold=0"]
    for name, path in cases.items():
        print(f"  {name:45s} {med[path]:8.1f} ms  {med[path] / base:5.2f}x the page as before")
    for which in ("p1", "deep"):
        old, new = med[f"old query {which}"], med[f"new query {which}"]
        print(f"  snapshot_list {which:4s}: old {old:.1f} ms, new {new:.1f} ms, {new / old:.2f}x")


if __name__ == "__main__":
    main()
