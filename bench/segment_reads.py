"""What a segment's old versions cost reads (issue 13): the capture at the
end of a segment (the most versions a read walks past before the next
rewrite) against the same content stored as a full capture, in one run.

    .venv/bin/python bench/segment_reads.py [REWRITE ...]          # SQLite, a temp file
    bash scripts/pg run .venv/bin/python bench/segment_reads.py 4 16 [--no-analyze]

For each PEEPSWEB_SEGMENT_REWRITE given (default: the setting), one process
of 2,000 tasks + 2,000 needs edges (bench/history_storage.py's documents, 2%
of the tasks flipping state per capture) is pushed until its segment is one
capture short of a rewrite; the last document is then pushed again, and
starts the next segment: the same content as a full capture. Timed, median of REPEAT
interleaved rounds: the task table page (default order, and sorted by
pending time), the inspector page of a node, and the cycle finder's first
call (snapshots.cycles.service.compute, uncached).
Printed: each read on both and the ratio end-of-segment / full (target
<= 1.2x).

On PostgreSQL the node and edge tables are analyzed before the reads: the
segment's hundreds of captures are pushed in seconds, before autovacuum
(a one-minute naptime) has looked at them, where a real segment takes as
many seconds as it has captures. Without statistics the planner guesses one
row per segment and reads node ids through the state index, past every
version of the segment: --no-analyze measures that case.
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

# Sets Django up (a temp SQLite file without DATABASE_URL) and makes the documents.
from bench.benchdb import median_times  # noqa: E402
from bench.history_storage import N, document  # noqa: E402
from snapshots.cycles import service  # noqa: E402
from snapshots.ingest import ingest_document  # noqa: E402
from snapshots.models import ProcessHead  # noqa: E402
from snapshots.scope import resolve_scope  # noqa: E402

REPEAT = 11


def push(doc, proc_key, k):
    """Ingest history_storage's document as process proc_key (ids name it)."""

    def own(node_id):
        return node_id.replace(":fleet-1:", f":{proc_key}:")

    nodes = [dict(n, id=own(n["id"])) for n in doc["nodes"]]
    edges = [dict(e, src_id=own(e["src_id"]), dst_id=own(e["dst_id"])) for e in doc["edges"]]
    doc = dict(doc, proc_key=proc_key, nodes=nodes, edges=edges)
    doc["captured_at_ns"] += k
    return ingest_document(doc, source="bench")


def reads(client, snapshot_id, proc_key):
    node = f"/snapshots/{snapshot_id}/nodes/task:{proc_key}:7/"
    tasks = f"/snapshots/{snapshot_id}/tasks/"
    # A sorted page needs every visible row's sort key: it walks the
    # segment's versions, where the default order (node id) reads by index.
    by_pending = tasks + "?sort=-pending_us"
    for url in (node, tasks, by_pending):
        assert client.get(url).status_code == 200, url
    return [
        ("task table page", lambda: client.get(tasks)),
        ("task table, sorted", lambda: client.get(by_pending)),
        ("inspector page", lambda: client.get(node)),
        ("cycles, first call", lambda: service.compute(resolve_scope(snapshot_id))),
    ]


def main(rewrites, analyze=True):
    client = Client()
    pg = connection.vendor == "postgresql"
    print(
        f"{connection.vendor}: {N} tasks + {N} edges, 2% flip per capture; median of {REPEAT}"
        + (f"; {'analyzed' if analyze else 'not analyzed'} before the reads" if pg else "")
    )
    for rewrite in rewrites:
        settings.PEEPSWEB_SEGMENT_REWRITE = rewrite
        key = f"seg-{rewrite:g}"
        rng = random.Random(1)
        states, counters = ["pending"] * N, [0] * N
        k = 0
        last = push(document(states, counters, 0), key, 0)
        head = ProcessHead.objects.get(proc_key=key)
        while head.added_rows < rewrite * head.segment_rows:  # until the next one rewrites
            k += 1
            for i in rng.sample(range(N), N * 2 // 100):
                states[i] = "running" if states[i] == "pending" else "pending"
            last = push(document(states, counters, k), key, 0)
            head.refresh_from_db()
        # The same document again: the segment is full, so this capture
        # starts the next one and writes every row (a full capture, same
        # lineage, so the cycles' first-seen walk is the same length).
        full = push(document(states, counters, k), key, 1)
        assert ProcessHead.objects.get(proc_key=key).added_rows == 0
        versions = head.segment_rows + head.added_rows
        if analyze and pg:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE snapshots_node, snapshots_edge")  # and their partitions
        ends = reads(client, last.snapshot_id, key)
        fulls = reads(client, full.snapshot_id, key)
        seconds = median_times([fn for _, fn in ends] + [fn for _, fn in fulls], REPEAT)
        measured = [1000 * s for s in seconds]
        print(
            f"REWRITE={rewrite:g}: capture {k} of its segment, {versions:,} rows in the segment"
            f" ({versions / head.segment_rows:.1f}x a full capture)"
        )
        for i, (name, _) in enumerate(ends):
            end, whole = measured[i], measured[len(ends) + i]
            print(
                f"  {name:18} end of segment {end:7.1f} ms, full {whole:7.1f} ms:"
                f" {end / whole:.2f}x"
            )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-analyze"]
    main(
        [float(a) for a in args] or [settings.PEEPSWEB_SEGMENT_REWRITE],
        analyze="--no-analyze" not in sys.argv,
    )
