"""The diff between two captures (issue 13) on a 100,000-node + 100,000-edge
pair of captures of one process, the second with 5% of the tasks changing
state, 1% gone, 1% new, their edges with them, and a cycle formed.

    .venv/bin/python bench/diff.py [nodes]        # SQLite, a temp file
    bash scripts/pg run .venv/bin/python bench/diff.py

Prints, in one run: the full diff (snapshots.diffs.diff.diff, both cycle
results already cached), its parts, the first page of every section, the
cycle results computed cold. (Until it was removed, the MCP tool's older
diff, queries.scope_diff, was timed on the same pair too: docs/history.md.)
"""

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import setup_django  # noqa: E402

setup_django("diff")

from django.db import connection  # noqa: E402

from snapshots.cycles import service  # noqa: E402
from snapshots.diffs import diff as diffs  # noqa: E402
from snapshots.ingest import ingest_document  # noqa: E402
from snapshots.scope import resolve_scope  # noqa: E402

T0 = 1_763_772_000_000_000_000
KEY = "big-1"


def document(ids, states, k, cycle=False):
    nodes = [
        {
            "id": f"task:{KEY}:{i}",
            "kind": "task",
            "label": f"worker_{i}",
            "attrs": {"task_id": i, "state": states[i]},
        }
        for i in ids
    ]
    present = set(ids)
    # Chains of 50 (no cycle), plus one 3-cycle in the second capture.
    edges = [(i, i + 1) for i in ids if (i + 1) % 50 and i + 1 in present]
    if cycle:
        edges += [(ids[0], ids[1]), (ids[1], ids[2]), (ids[2], ids[0])]
    return {
        "process": "big",
        "pid": 1,
        "proc_key": KEY,
        "captured_at_ns": T0 + k * 1_000_000_000,
        "nodes": nodes,
        "edges": [
            {"src_id": f"task:{KEY}:{s}", "dst_id": f"task:{KEY}:{d}", "kind": "needs"}
            for s, d in edges
        ],
    }


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(1)
    states = {i: "pending" for i in range(n + n // 100)}
    ids = list(range(n))
    a = ingest_document(document(ids, states, 0)).snapshot_id
    for i in rng.sample(ids, n // 20):
        states[i] = "running"
    gone = set(rng.sample(ids, n // 100))
    ids = [i for i in ids if i not in gone] + list(range(n, n + n // 100))
    b = ingest_document(document(ids, states, 1, cycle=True)).snapshot_id
    before, after = resolve_scope(a), resolve_scope(b)
    print(f"{connection.vendor}: snapshots {a} and {b}, {n:,} nodes each")

    _, cold_a = timed(service.cycle_result, before)
    _, cold_b = timed(service.cycle_result, after)
    print(
        f"cycle results, cold (computed once per snapshot, then stored): "
        f"{cold_a:.2f} s + {cold_b:.2f} s"
    )

    d, total = timed(diffs.diff, before, after)
    print("counts:", d.counts())
    _, nodes = timed(diffs._node_digests, before)
    _, edges = timed(diffs._edge_keys, before)
    _, cycles = timed(diffs._cycles, before)
    old, new = diffs._node_digests(before), diffs._node_digests(after)
    suspects = [i for i in old.keys() & new.keys() if old[i] != new[i]]
    _, fields = timed(diffs._changed_fields, before, after, suspects)
    print(
        f"diff: {total:.2f} s (one side: node ids+digests {nodes:.2f} s, "
        f"edge pairs {edges:.2f} s, cached cycles {cycles:.3f} s; both sides: "
        f"{len(suspects):,} nodes whose digest differs read in full {fields:.2f} s)"
    )
    _, pages = timed(lambda: [d.items(s, 1, 50) for s in diffs.SECTIONS])
    print(f"first page of every section (50 rows each): {pages:.3f} s")


if __name__ == "__main__":
    main()
