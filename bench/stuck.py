"""Stuck across snapshots over the whole history (issue 13): the time of
stuck_nodes on the newest capture of one process, after H captures, for
several H in one run. The work should not grow with H beyond reading the
lineage (one small row per capture).

    .venv/bin/python bench/stuck.py                  # temp SQLite
    scripts/pg run .venv/bin/python bench/stuck.py   # PostgreSQL

Options: --nodes N (default 2000 tasks, half of them waiting on 50 locks
held by the others), --change 0.05 (the share of tasks changing state per
capture), --histories 20,200,1000, --repeat 3 (medians).
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402

KEY = "bench-stuck-1"
SECOND = 1_000_000_000


def document(states, at_ns):
    nodes = [
        {"id": f"lock:{KEY}:{i}", "kind": "lock", "attrs": {"name": f"l{i}"}} for i in range(50)
    ]
    edges = []
    for i, state in enumerate(states):
        task = f"task:{KEY}:{i + 1}"
        attrs = {"task_id": i + 1, "name": f"t{i + 1}", "state": state}
        nodes.append({"id": task, "kind": "task", "attrs": attrs})
        if state == "pending":
            edges.append({"src_id": task, "dst_id": f"lock:{KEY}:{i % 50}", "kind": "needs"})
    return {"process": "bench-stuck", "pid": 1, "proc_key": KEY, "captured_at_ns": at_ns,
            "nodes": nodes, "edges": edges}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--change", type=float, default=0.05)
    parser.add_argument("--histories", default="20,200,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    setup_django("stuck")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from snapshots.cycles.stuck import stuck_nodes
    from snapshots.ingest import ingest_document
    from snapshots.models import Snapshot
    from snapshots.scope import resolve_scope

    print(f"database: {connection.vendor}")
    rng = random.Random(13)
    # Even tasks wait all along; odd ones flip between running and pending.
    states = ["pending" if i % 2 == 0 else "running" for i in range(args.nodes)]
    odd = list(range(1, args.nodes, 2))
    ids = []
    at = 1763772000000000000
    try:
        for h in sorted(int(x) for x in args.histories.split(",")):
            while len(ids) < h:
                for i in rng.sample(odd, int(args.change * args.nodes)):
                    states[i] = "running" if states[i] == "pending" else "pending"
                at += SECOND
                ids.append(ingest_document(document(states, at)).snapshot_id)
            times = []
            for _ in range(args.repeat):
                scope = resolve_scope(ids[-1])
                with CaptureQueriesContext(connection) as queries:
                    t = time.perf_counter()
                    found = stuck_nodes(scope)
                    times.append(time.perf_counter() - t)
            top = found[0] if found else None
            print(
                f"history {h:5d} captures: {statistics.median(times) * 1000:7.1f} ms, "
                f"{len(queries)} queries, {len(found)} listed"
                + (f", longest streak {top.streak}" if top else "")
            )
    finally:
        Snapshot.objects.filter(id__in=ids).delete()


if __name__ == "__main__":
    main()
