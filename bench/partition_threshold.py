"""Where a capture's own partitions start to pay (PostgreSQL), for
PEEPSWEB_PARTITION_MIN_ROWS (snapshots/partitions.py).

    scripts/pg run .venv/bin/python bench/partition_threshold.py

For each capture size, `ingest_document` (validate, store, commit, prune)
runs alternately with the capture going to the default partition and into
partitions of its own (the threshold set to never / always), and prints the
median of each and their ratio. Retention keeps 50 snapshots, so pruning
(DELETE from the default partition, DROP of own partitions) is paid as in
a steady state.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import setup_django  # noqa: E402
from bench.ingest import make_doc  # noqa: E402

SIZES = (10, 100, 1000, 5000, 10_000, 20_000, 50_000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    setup_django("partition-threshold")
    from django.conf import settings
    from django.db import connection

    from snapshots.ingest import ingest_document

    if connection.vendor != "postgresql":
        sys.exit("partitions are PostgreSQL's: run it under scripts/pg run")
    settings.PEEPSWEB_KEEP_SNAPSHOTS = 50
    modes = {"default partition": 10**12, "own partitions": 1}
    print(f"{'nodes + edges':>15} {'default':>10} {'own':>10} {'own / default':>14}")
    for n in SIZES:
        times = {mode: [] for mode in modes}
        for r in range(args.rounds):
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            for mode in order:
                settings.PEEPSWEB_PARTITION_MIN_ROWS = modes[mode]
                doc = make_doc(n, n, 0, 0, seed=r)
                started = time.perf_counter()
                ingest_document(doc)
                times[mode].append(time.perf_counter() - started)
        default, own = (statistics.median(times[mode]) * 1000 for mode in modes)
        print(f"{f'{n:,} + {n:,}':>15} {default:8.1f}ms {own:8.1f}ms {own / default:14.2f}")


if __name__ == "__main__":
    main()
