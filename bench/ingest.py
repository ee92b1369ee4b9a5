"""Ingest benchmark (issue 2): a 100,000-node, 200,000-edge snapshot POSTed
through the real HTTP endpoint (a daphne subprocess) into PostgreSQL, side
by side with the same rows written by a raw psycopg COPY and by Django's
bulk_create, into the same tables of the same database.

    .venv/bin/python bench/ingest.py            # DATABASE_URL, or a throwaway
                                                # server via scripts/pg
    .venv/bin/python bench/ingest.py --nodes 20000 --edges 40000 --repeat 1

Targets: ours <= 1.3x raw COPY; bulk_create >= 5x ours; the server's peak
memory for the POST <= 4x the body size.

- "ours": client-measured time of the POST (send, decode, validate, store,
  commit, 201).
- "raw COPY": the rows ingest stores (taken from ingest's own parse, so they
  are identical), pre-built as tuples, written with psycopg `COPY ... FROM
  STDIN` on a separate connection, one transaction, commit included, into
  the tables as they are (on PostgreSQL the node and edge rows land in the
  default partition, indexes live).
- "raw COPY into own partitions" (no target, for reference): the same, but
  the nodes and edges go into tables with no index, indexed and attached as
  partitions once loaded, which is what ingest does
  (snapshots/partitions.py). It is the database's share of our path, so
  ours / this is what our own Python costs.
- "bulk_create": the same rows as model instances through
  `Model.objects.bulk_create(batch_size=2000)` in one transaction
  (instance construction included: that is what using bulk_create costs).
- Peak memory: the daphne process's VmHWM (peak RSS) minus its VmRSS just
  before the first big POST (a small POST has warmed it up), and VmHWM
  itself. Both are printed against the body size.

Each round times ours and both COPYs back to back (reversing the order
every other round), and the first --bulk-repeat rounds bulk_create too;
ratios are the medians of per-round ratios, so a machine whose load drifts compares runs
made under the same load. Every run's rows are deleted (and the tables
vacuumed) before the next, so each writes into tables of the same size.
The server's Server-Timing laps are printed: read, decode, ingest (and
inside it validate, edges, nodes, other_rows, attach, commit), announce.
"""

import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402
from bench.procstat import status_bytes  # noqa: E402

STATES = ["pending"] * 5 + ["running", "ready", "completed", "failed", "sleeping"]
KINDS = ["future", "lock", "mpsc_tx", "mpsc_rx", "semaphore", "request", "oneshot_rx"]


def make_doc(n_nodes, n_edges, n_wakes, n_traces, seed=7):
    """A process snapshot: half tasks, half resources, random distinct edges."""
    rng = random.Random(seed)
    key = "bench-4242"
    base = 1_763_772_000_000_000_000
    n_tasks = n_nodes // 2
    nodes = []
    for i in range(n_tasks):
        nodes.append(
            {
                "id": f"task:{key}:{i}",
                "kind": "task",
                "label": f"handler_{i % 97}",
                "attrs": {
                    "task_id": i,
                    "name": f"handler_{i % 97}",
                    "state": STATES[i % len(STATES)],
                    "spawned_at_ns": base - rng.randrange(10**12),
                    "parent_task_id": i // 2,
                },
            }
        )
    for j in range(n_nodes - n_tasks):
        kind = KINDS[j % len(KINDS)]
        nodes.append(
            {
                "id": f"{kind}:{key}:{j}",
                "kind": kind,
                "label": f"{kind}_{j}",
                "attrs": {"name": f"{kind}_{j}", "pending_count": j % 13, "ready_count": j % 7},
            }
        )
    ids = [n["id"] for n in nodes]
    seen, edges = set(), []
    while len(edges) < n_edges:
        a, b = rng.randrange(n_nodes), rng.randrange(n_nodes)
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append({"src_id": ids[a], "dst_id": ids[b], "kind": "needs", "attrs": {}})
    wakes = [
        {
            "at_ns": base - rng.randrange(10**10),
            "waker_task_id": rng.randrange(n_tasks),
            "woken_task_id": rng.randrange(n_tasks),
            "target_worker": rng.randrange(8),
        }
        for _ in range(n_wakes)
    ]
    frames = {
        str(f): f"crate::module_{f}::function_{f}\n    at src/m{f}.rs:{f}:9" for f in range(1, 201)
    }
    traces = [
        {
            "task_id": rng.randrange(n_tasks),
            "at_ns": base,
            "duration_us": rng.randrange(10**7),
            "frame_ids": [rng.randrange(1, 201) for _ in range(6)],
        }
        for _ in range(n_traces)
    ]
    return {
        "process": "bench",
        "pid": 4242,
        "proc_key": key,
        "captured_at_ns": base,
        "nodes": nodes,
        "edges": edges,
        "wake_events": wakes,
        "frames": frames,
        "pending_traces": traces,
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_timing(header):
    """'read;dur=1.5, decode;dur=2' -> {"read": 0.0015, "decode": 0.002}."""
    laps = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            laps[name] = float(dur) / 1000
    return laps


class Server:
    def __init__(self, log_dir, app):
        self.port = free_port()
        self.timings = []
        self.log = open(Path(log_dir) / "daphne.log", "wb")  # noqa: SIM115
        env = dict(os.environ, PEEPSWEB_KEEP_SNAPSHOTS="100000", PYTHONUNBUFFERED="1")
        daphne = Path(sys.executable).with_name("daphne")
        self.process = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), app],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("daphne did not start; see daphne.log") from None
                time.sleep(0.1)

    def post(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        started = time.perf_counter()
        conn.request(
            "POST",
            "/api/v1/snapshots",
            body,
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
        )
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        if response.status != 201:
            raise RuntimeError(f"POST answered {response.status}: {payload[:500]!r}")
        import orjson

        self.timings.append(server_timing(response.getheader("Server-Timing", "")))
        return elapsed, orjson.loads(payload)

    def rss(self):
        return status_bytes(self.process.pid, "VmRSS")

    def peak_rss(self):
        return status_bytes(self.process.pid, "VmHWM")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        text = Path(self.log.name).read_text(errors="replace")
        if "Traceback" in text or "ERROR" in text:
            print("--- the server logged errors (last 40 lines) ---")
            print("\n".join(text.splitlines()[-40:]))


# -- the rows ingest stores, for COPY and bulk_create ---------------------------


def rows_of(doc):
    """(node rows, edge rows, unresolved rows, wake rows, trace rows, frame rows)
    exactly as ingest writes them into a new segment, minus the segment and
    capture ids: each versioned row starts with its digest (versions.py)."""
    import orjson

    from snapshots.ingest.validate import LOCAL, parse_document
    from snapshots.versions import digest

    parsed = parse_document(orjson.loads(orjson.dumps(doc)))
    edges, unresolved = [], []
    for kind, row in parsed.iter_edges():
        (edges if kind is LOCAL else unresolved).append(row)
    nodes = [(parsed.proc_key, *row) for row in parsed.node_rows({}, {})]
    versioned = [
        [(digest(row), *row) for row in table]
        for table in (nodes, edges, unresolved, parsed.wakes, parsed.traces, parsed.frames)
    ]
    return tuple(versioned)


def new_capture():
    from django.utils import timezone

    from snapshots.models import ProcessSnapshot, Snapshot

    snapshot = Snapshot.objects.create(kind=Snapshot.PUSH, status=Snapshot.COMPLETE)
    proc = ProcessSnapshot.objects.create(
        snapshot=snapshot, process="bench", proc_key="bench-4242", received_at=timezone.now()
    )
    ProcessSnapshot.objects.filter(id=proc.id).update(segment_id=proc.id)  # its own segment
    return snapshot.id, proc.id


def full_capture_tables(rows, pid):
    """(columns, rows) per table for `rows` (rows_of) written as one full
    capture `pid`: every row opens its own segment."""
    from snapshots.ingest import store
    from snapshots.versions import OPEN

    nodes, edges, unresolved, wakes, traces, frames = rows
    keys = (pid, pid, OPEN)  # segment, first and last capture (versions.py)
    return [
        (store.EDGE_COLS, [(*keys, *r) for r in edges]),
        (store.NODE_COLS, [(*keys, *r) for r in nodes]),
        (store.UNRESOLVED_COLS, [(*keys, *r) for r in unresolved]),
        (store.WAKE_COLS, [(*keys, *r) for r in wakes]),
        (store.TRACE_COLS, [(*keys, *r) for r in traces]),
        (store.FRAME_COLS, [(*keys, *r) for r in frames]),
    ]


def raw_copy(rows, own_partitions=False):
    """psycopg COPY on its own connection; returns (seconds, snapshot id).

    own_partitions: COPY the nodes and edges into tables of their own and
    attach them, as ingest does (the database's share of our path), instead
    of into the tables as they are."""
    import psycopg

    from snapshots import partitions

    sid, pid = new_capture()
    # own_partitions: the node and edge rows go to the capture's loading tables.
    loading_table = {
        model._meta.db_table: partitions.name(model, pid)
        for model in (partitions.PARTITIONED if own_partitions else ())
    }
    tables = full_capture_tables(rows, pid)
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor:
            if own_partitions:
                partitions.create_loading_tables(cursor, pid)
            for (table, cols), table_rows in tables:
                table = loading_table.get(table, table)
                sql = f'COPY "{table}" ({", ".join(cols)}) FROM STDIN'
                with cursor.copy(sql) as copy:
                    for row in table_rows:
                        copy.write_row(row)
            if own_partitions:
                partitions.attach(cursor, pid)
        conn.commit()
        return time.perf_counter() - started, sid


def orm_bulk_create(rows):
    """Django bulk_create of the same rows; returns (seconds, snapshot id)."""
    import orjson
    from django.db import transaction

    from snapshots.models import Edge, Frame, Node, PendingTrace, UnresolvedEdge, WakeEvent
    from snapshots.versions import OPEN

    sid, pid = new_capture()
    nodes, edges, unresolved, wakes, traces, frames = rows

    def keys(d):
        return {"segment_id": pid, "first_id": pid, "last_id": OPEN, "digest": d}

    started = time.perf_counter()
    with transaction.atomic():
        Edge.objects.bulk_create(
            (Edge(**keys(h), src=s, dst=d, attrs=orjson.loads(a)) for h, s, d, a in edges),
            batch_size=2000,
        )
        Node.objects.bulk_create(
            (
                Node(
                    **keys(h),
                    proc_key=r[0],
                    node_id=r[1],
                    kind=r[2],
                    label=r[3],
                    attrs=orjson.loads(r[4]),
                    task_id=r[5],
                    state=r[6],
                    state_class=r[7],
                    spawned_at_ns=r[8],
                    pending_since_ns=r[9],
                    last_waker=r[10],
                    needs_count=r[11],
                    needed_by_count=r[12],
                )
                for h, *r in nodes
            ),
            batch_size=2000,
        )
        UnresolvedEdge.objects.bulk_create(
            (
                UnresolvedEdge(
                    **keys(h),
                    src=r[0],
                    dst=r[1],
                    attrs=orjson.loads(r[2]),
                    missing_side=r[3],
                    referenced_proc_key=r[4],
                    reason=r[5],
                )
                for h, *r in unresolved
            ),
            batch_size=2000,
        )
        WakeEvent.objects.bulk_create(
            (
                WakeEvent(**keys(h), at_ns=a, waker=w, woken=k, target_worker=t)
                for h, a, w, k, t in wakes
            ),
            batch_size=2000,
        )
        PendingTrace.objects.bulk_create(
            (
                PendingTrace(
                    **keys(h),
                    node_id=n,
                    task_id=t,
                    since_ns=since,
                    frame_ids=orjson.loads(f),
                )
                for h, n, t, since, f in traces
            ),
            batch_size=2000,
        )
        Frame.objects.bulk_create(
            (Frame(**keys(h), frame_key=k, text=t) for h, k, t in frames), batch_size=2000
        )
    return time.perf_counter() - started, sid


def clean(snapshot_id):
    """Delete a run's rows and vacuum, so every run writes into equal tables."""
    from django.db import connection

    from snapshots.models import Edge, Frame, Node, PendingTrace, UnresolvedEdge, WakeEvent
    from snapshots.retention import delete_snapshots

    delete_snapshots([snapshot_id])
    with connection.cursor() as cursor:
        for model in (Node, Edge, UnresolvedEdge, WakeEvent, PendingTrace, Frame):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')


def mb(n):
    return f"{n / 1e6:.1f} MB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--wakes", type=int, default=20_000)
    parser.add_argument("--traces", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of ours + COPY")
    parser.add_argument(
        "--bulk-repeat", type=int, default=2, help="rounds that also time bulk_create (slow)"
    )
    parser.add_argument(
        "--app", default="peepsweb.asgi:application", help="the ASGI application daphne serves"
    )
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL"):
        pg = ROOT / "scripts" / "pg"
        print("DATABASE_URL is not set: running on a throwaway PostgreSQL (scripts/pg run)")
        sys.stdout.flush()
        os.execv(str(pg), [str(pg), "run", sys.executable, *sys.argv])

    setup_django("ingest")
    import orjson
    from django.db import connection

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, {os.cpu_count()} CPUs")
    doc = make_doc(args.nodes, args.edges, args.wakes, args.traces)
    body = orjson.dumps(doc)
    rows = rows_of(doc)
    del doc
    print(
        f"snapshot: {len(rows[0]):,} nodes, {len(rows[1]):,} edges, {len(rows[3]):,} wake "
        f"events, {len(rows[4]):,} pending traces, {len(rows[5])} frames; body {mb(len(body))}"
    )

    log_dir = tempfile.mkdtemp(prefix="peepsweb-bench-")
    server = Server(log_dir, args.app)
    try:
        small = orjson.dumps(make_doc(50, 50, 5, 5, seed=1))
        _, answer = server.post(small)  # imports, connections, first-request work
        clean(answer["snapshot_id"])
        baseline = server.rss()

        times = {"ours": [], "copy": [], "attached": [], "bulk_create": []}
        ratios, attached_ratios, bulk_ratios = [], [], []
        runs = {
            "ours": lambda: (lambda t, a: (t, a["snapshot_id"]))(*server.post(body)),
            "copy": lambda: raw_copy(rows),
            "attached": lambda: raw_copy(rows, own_partitions=True),
            "bulk_create": lambda: orm_bulk_create(rows),
        }
        # Each round times ours and both COPYs back to back (every other round
        # in reverse order), so a ratio compares runs made under the same
        # machine load; the medians of the per-round ratios are reported.
        for r in range(args.repeat):
            order = ["ours", "copy", "attached"]
            if r % 2:
                order.reverse()
            if r < args.bulk_repeat:
                order.append("bulk_create")
            round_times = {}
            for name in order:
                seconds, snapshot_id = runs[name]()
                round_times[name] = seconds
                times[name].append(seconds)
                print(f"  round {r + 1} {name:<12} {seconds:7.2f} s", flush=True)
                clean(snapshot_id)
            ratios.append(round_times["ours"] / round_times["copy"])
            attached_ratios.append(round_times["ours"] / round_times["attached"])
            if "bulk_create" in round_times:
                bulk_ratios.append(round_times["bulk_create"] / round_times["ours"])
        peak = server.peak_rss()
        # the warm-up POST is timings[0]
        laps = {
            name: statistics.median(t.get(name, 0.0) for t in server.timings[1:])
            for name in server.timings[-1]
        }
    finally:
        server.stop()
        shutil.rmtree(log_dir, ignore_errors=True)

    ours, copy, attached, bulk = (
        statistics.median(times[k]) for k in ("ours", "copy", "attached", "bulk_create")
    )
    print()
    print(f"ours (HTTP POST, median of {args.repeat}): {ours:7.2f} s")
    top_laps = ("read", "decode", "ingest", "announce")
    before_view = ours - sum(laps.get(name, 0.0) for name in top_laps)
    print(f"raw psycopg COPY:                    {copy:7.2f} s")
    print(
        f"raw COPY into own partitions:        {attached:7.2f} s  (attached after, as ingest does)"
    )
    print(f"Django bulk_create:                  {bulk:7.2f} s")
    print(
        "  of which, in the server: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in laps.items())
        + " (validate..commit are the parts of ingest; announce = the"
        + " process_snapshot_stored listeners, i.e. live updates);"
        + f" sending the body and daphne/Django reading it before the view: {before_view:.2f} s"
    )
    print(
        f"ours / raw COPY      = {statistics.median(ratios):5.2f}   (target <= 1.3; "
        f"per round: {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    print(
        f"ours / COPY attached = {statistics.median(attached_ratios):5.2f}   (no target: what our "
        "Python costs on top of the database's share of the same path)"
    )
    print(
        f"bulk_create / ours   = {statistics.median(bulk_ratios):5.2f}   (target >= 5; "
        f"per round: {', '.join(f'{x:.2f}' for x in bulk_ratios)}; "
        f"bulk_create / raw COPY = {bulk / copy:.2f})"
    )
    print(
        f"server peak RSS for the POST = {mb(peak - baseline)} over its idle "
        f"{mb(baseline)} = {(peak - baseline) / len(body):.2f}x the body "
        f"(target <= 4); whole process {mb(peak)} = {peak / len(body):.2f}x"
    )


if __name__ == "__main__":
    main()
