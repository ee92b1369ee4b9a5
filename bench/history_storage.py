"""Storage of history (issue 13): a full 2,000-node + 2,000-edge capture vs
the captures of the same process in which 2% of the nodes changed, and one
hour of those at 1 push/s, extrapolated from K captures.

    .venv/bin/python bench/history_storage.py [K] [state|attrs]      # SQLite, a temp file
    bash scripts/pg run .venv/bin/python bench/history_storage.py 120 state

`state`: 2% of the tasks flip pending <-> running in each capture, so every
capture is a landmark that retention never thins. `attrs`: 2% bump a
counter attr instead; the run then applies retention as if an hour had
passed and prints what thinning removed.
"""

import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import setup_django  # noqa: E402

setup_django("history")

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from snapshots.ingest import ingest_document  # noqa: E402
from snapshots.models import ProcessSnapshot  # noqa: E402
from snapshots.retention import prune_snapshots, stored_bytes  # noqa: E402

N = 2000
T0 = 1_763_772_000_000_000_000


def document(states, counters, k):
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
        "captured_at_ns": T0 + k * 1_000_000_000,
        "nodes": nodes,
        "edges": edges,
    }


def main():
    captures = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    mode = sys.argv[2] if len(sys.argv) > 2 else "state"
    rng = random.Random(1)
    states, counters = ["pending"] * N, [0] * N
    base = stored_bytes()
    ingest_document(document(states, counters, 0))
    full = stored_bytes() - base
    started = time.perf_counter()
    for k in range(1, captures + 1):
        for i in rng.sample(range(N), N * 2 // 100):
            if mode == "state":
                states[i] = "running" if states[i] == "pending" else "pending"
            else:
                counters[i] += 1
        ingest_document(document(states, counters, k))
    ingest_ms = (time.perf_counter() - started) / captures * 1000
    each = (stored_bytes() - base - full) / captures
    print(
        f"{connection.vendor}: full capture {full / 1e3:,.0f} kB; {captures} captures with 2% "
        f"changed ({mode}): {each / 1e3:,.1f} kB each = {each / full:.1%} of a full one; "
        f"ingest {ingest_ms:.1f} ms each; one hour at 1/s without thinning: "
        f"{(full + each * 3600) / 1e6:,.0f} MB"
    )
    if mode != "state":
        before = stored_bytes()
        removed = prune_snapshots(now=timezone.now() + timedelta(hours=1))
        print(
            f"thinning an hour later removed {removed} of {captures + 1} captures, kept "
            f"{ProcessSnapshot.objects.count()}; stored {stored_bytes() / 1e6:.1f} MB, was "
            f"{before / 1e6:.1f} (PostgreSQL reuses the space after VACUUM)"
        )


if __name__ == "__main__":
    main()
