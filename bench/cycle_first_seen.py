"""What "first seen" costs the cycle finder's first call (issue 13): the
cycles of the newest of N identical captures of bench/cycles.py's graph,
computed with the first-seen walk (snapshots/cycles/first_seen.py) and
without it, alternately in one run; medians and their ratio.

    .venv/bin/python bench/cycle_first_seen.py                  # temp SQLite
    scripts/pg run .venv/bin/python bench/cycle_first_seen.py   # PostgreSQL

Options: --edges N (default 200000), --captures N (default 10), --repeat N
(default 3). Over 50,000 edges a capture's own cycles are not looked for at
ingest (cycle_key "?"), so the walk reads the candidates' edge versions
(one query per table for all of them); at or under 50,000 the steps are
skipped by cycle_key and nothing is read.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--captures", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    setup_django("cycle-first-seen")
    from django.db import connection

    from bench.cycles import build
    from snapshots.cycles import first_seen, service
    from snapshots.ingest import ingest_document
    from snapshots.models import ProcessSnapshot, Snapshot
    from snapshots.scope import resolve_scope

    print(f"database: {connection.vendor}")
    doc, planted = build(args.edges)
    ids = []
    t = time.perf_counter()
    for _ in range(args.captures):
        doc["captured_at_ns"] += 1_000_000_000
        ids.append(ingest_document(doc, source="bench").snapshot_id)
    key = ProcessSnapshot.objects.get(snapshot_id=ids[-1]).cycle_key
    print(
        f"{args.captures} captures of {len(doc['edges']):,} edges, {len(planted)} planted "
        f"cyclic components, ingested in {time.perf_counter() - t:.1f}s; cycle_key {key!r}"
    )
    del doc
    annotate, present = first_seen.annotate, first_seen.Walk.present
    checks = []

    def counted(*a):
        checks[-1] += 1
        return present(*a)

    first_seen.Walk.present = counted
    with_walk, without = [], []
    try:
        for _ in range(args.repeat):
            for times, walk in ((with_walk, annotate), (without, lambda *a: None)):
                first_seen.annotate = walk
                checks.append(0)
                scope = resolve_scope(ids[-1])
                t = time.perf_counter()
                result = service.compute(scope)
                times.append(time.perf_counter() - t)
    finally:
        first_seen.annotate, first_seen.Walk.present = annotate, present
        Snapshot.objects.filter(id__in=ids).delete()
    a, b = statistics.median(with_walk), statistics.median(without)
    print(f"candidates: {len(result['candidates'])}; presence checks per walk: {max(checks)}")
    print(f"cycles first call with first seen:    {a * 1000:8.1f} ms (median of {args.repeat})")
    print(f"cycles first call without first seen: {b * 1000:8.1f} ms")
    print(f"ratio: {a / b:.2f}x")


if __name__ == "__main__":
    main()
