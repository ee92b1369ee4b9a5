"""Replay of the live graph (docs/live.md, "Replay"): what a step costs
against the live graph page itself, in one run.

    .venv/bin/python bench/replay.py
    scripts/pg run .venv/bin/python bench/replay.py     # on PostgreSQL

It stores --captures captures of one process pushing a --nodes-task graph
(1 in 20 tasks changes state per capture, two edges in three kept), then
times through the test client, median of --repeat runs:

  live       the live graph page (whole scope), as the replay bar opens it
  cold step  a replay step whose window's union is not cached yet: one
             build_graph per step of the window, then one layout of the union
  warm step  another step of the same window (the union cached)

and prints cold / live and warm / live.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402

KEY = "replay-1"


def documents(captures, nodes, seed=1):
    rng = random.Random(seed)
    states = ["pending"] * nodes
    for _ in range(captures):
        for i in rng.sample(range(nodes), max(1, nodes // 20)):
            states[i] = rng.choice(["pending", "running", "ready"])
        yield {
            "process": KEY,
            "proc_key": KEY,
            "nodes": [
                {
                    "id": f"task:{KEY}:{i}",
                    "kind": "task",
                    "label": f"worker_{i}",
                    "attrs": {"task_id": i, "state": states[i]},
                }
                for i in range(nodes)
            ],
            "edges": [
                {
                    "src_id": f"task:{KEY}:{i}",
                    "dst_id": f"task:{KEY}:{(i * 7 + 3) % nodes}",
                    "kind": "needs",
                }
                for i in range(nodes)
                if i % 3
            ],
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=60)
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django("replay")

    from django.core.cache import cache
    from django.test import Client

    from snapshots.graph import replay
    from snapshots.ingest import ingest_document

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    sids = [ingest_document(d).snapshot_id for d in documents(args.captures, args.nodes)]
    client = Client()
    url = "/snapshots/live/graph/"

    def timed(params):
        t0 = time.perf_counter()
        response = client.get(url, params)
        assert response.status_code == 200, response.status_code
        return (time.perf_counter() - t0) * 1000

    timed({})  # warm-up: imports, the newest capture's cycle result
    live, cold, warm = [], [], []
    until = sids[-1]
    steps = len(replay.window(until).steps)
    for k in range(args.repeat):
        live.append(timed({}))
        cache.clear()  # the union, and every step's cycle result with it
        cold.append(timed({"at": sids[-2 - k], "until": until}))
        warm.append(timed({"at": sids[-3 - k], "until": until}))
    live, cold, warm = (statistics.median(x) for x in (live, cold, warm))
    print(f"{args.captures} captures of {args.nodes} tasks, window of {steps} steps")
    print(f"live graph page   {live:7.0f} ms")
    print(f"cold replay step  {cold:7.0f} ms   {cold / live:5.2f}x the live page")
    print(f"warm replay step  {warm:7.0f} ms   {warm / live:5.2f}x the live page")


if __name__ == "__main__":
    main()
