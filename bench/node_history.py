"""A node's history (issue 13): GET /api/v1/history and the inspector's
strip, on one process of 2,000 tasks pushed CAPTURES times with 5% of the
tasks changing state per push, beside OTHERS small processes (their
segments are what resolving a node's process without `process` probes).

    .venv/bin/python bench/node_history.py [captures] [others]    # SQLite
    bash scripts/pg run .venv/bin/python bench/node_history.py

Prints, in one run: history.node_history (lineage + versions), the
process resolution, the API with and without `process`, the strip's context
alone, its whole-history facts fragment (loaded after the page), the
inspector's node read, and the whole inspector page of the node in the
newest capture with and without the strip, each the median of REPEAT
(interleaved), and the page's ratio with/without.
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchdb import median_times, setup_django  # noqa: E402

setup_django("node_history")

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from snapshots import history, queries  # noqa: E402
from snapshots.ingest import ingest_document  # noqa: E402
from snapshots.pages.views import inspector  # noqa: E402
from snapshots.scope import resolve_scope  # noqa: E402

T0 = 1_763_772_000_000_000_000
KEY = "big-1"
TASKS = 2_000
REPEAT = 15
STATES = ("running", "pending", "queued")


def document(proc_key, states, k):
    return {
        "process": proc_key.rsplit("-", 1)[0],
        "pid": 1,
        "proc_key": proc_key,
        "captured_at_ns": T0 + k * 1_000_000_000,
        "nodes": [
            {
                "id": f"task:{proc_key}:{i}",
                "kind": "task",
                "label": f"worker_{i}",
                "attrs": {"task_id": i, "state": s},
            }
            for i, s in enumerate(states)
        ],
        "edges": [],
    }


def main(captures=600, others=100):
    rng = random.Random(13)
    states = [rng.choice(STATES) for _ in range(TASKS)]
    last = None
    for k in range(captures):
        for i in rng.sample(range(TASKS), TASKS // 20):
            states[i] = rng.choice(STATES)
        last = ingest_document(document(KEY, states, k), source="bench")
    for p in range(others):
        for k in range(5):
            ingest_document(document(f"other-{p}", ["running"] * 50, k), source="bench")
    node_id = f"task:{KEY}:7"
    client = Client()
    scope = resolve_scope(last.snapshot_id)
    page_url = f"/snapshots/{last.snapshot_id}/nodes/{node_id}/"
    assert client.get(page_url).status_code == 200

    def detail():
        return queries.node_detail(scope, node_id)

    node = detail().node
    facts_url = inspector._history_strip(node)["facts_url"]

    def page_without_strip():
        # The page as before the strip, in the same run: its context is None.
        strip, inspector._history_strip = inspector._history_strip, lambda n: None
        try:
            return client.get(page_url)
        finally:
            inspector._history_strip = strip

    rows = [
        ("history.node_history (lineage + versions)", lambda: history.node_history(node_id, KEY)),
        ("history.proc_keys_with (no process given)", lambda: history.proc_keys_with(node_id)),
        ("API, process given", lambda: client.get(f"/api/v1/history?node={node_id}&process={KEY}")),
        ("API, process resolved", lambda: client.get(f"/api/v1/history?node={node_id}")),
        ("the strip's context (inspector._history_strip)", lambda: inspector._history_strip(node)),
        ("queries.node_detail (the page's read before the strip)", detail),
        ("the strip's facts fragment (loaded after the page)", lambda: client.get(facts_url)),
        ("inspector page, strip included", lambda: client.get(page_url)),
        ("inspector page, strip left out", page_without_strip),
    ]
    print(
        f"{connection.vendor}: {captures} captures of {TASKS} tasks (5% change per push), "
        f"{others} other processes x 5 captures; median of {REPEAT}"
    )
    h = history.node_history(node_id, KEY)
    changes = sum(1 for a, b in zip(h.timeline, h.timeline[1:], strict=False) if a[1] != b[1])
    print(f"  the node: {len(h.timeline)} captures, {changes} version changes")
    measured = median_times([fn for _, fn in rows], REPEAT)
    for (name, _), seconds in zip(rows, measured, strict=True):
        print(f"  {name:<58} {seconds * 1000:8.2f} ms")
    print(f"  page with / without the strip: {measured[-2] / measured[-1]:.2f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
