"""Fleet benchmark (issue 13, "Performance"): P processes each POST a
2,000-node + 2,000-edge capture every second, 5% of the nodes changing per
push, to a real server (`python -m peepsweb.server`, daphne), on PostgreSQL or
SQLite. How many processes does it hold with no backlog, against the same
rows written as full captures by raw COPY in the same run?

    bash scripts/pg run .venv/bin/python bench/fleet.py          # PostgreSQL, <= 10 min
    .venv/bin/python bench/fleet.py                              # SQLite (a temp file)
    .venv/bin/python bench/fleet.py --quick                      # 1-2 min check

It measures through HTTP only, never through the storage's internals.

1. Fleet throughput. P is stepped up (--steps) until a step is not held,
   then the gap is bisected once. Each simulated process is a thread of this
   bench process that POSTs at its own fixed 1 s schedule (processes spread
   evenly over the second), one push in flight at a time: a push that comes
   due while the previous one is still in flight is sent late, so lateness
   is the queue. A step is held when, over its --window seconds (after
   --warmup seconds), every push due was sent and answered 201, every
   process's mean round trip is <= 1 s, and the lateness at the end of the
   window is < 1 s (no growing queue). The server is its own process
   (daphne); the pushers build each body by changing 5% of their node dicts
   in place and one orjson.dumps (about 1-2 ms), and the CPU of the server,
   of the pushers and of the machine is printed per step. --servers N runs
   N daphne processes, process i of the fleet pushing to server i % N (a
   balancer routing by process); --pool N gives the server psycopg's pool.
2. Raw COPY of full captures, in the same run, into the tables as the fleet
   left them: bench/ingest.py's raw_copy (every node, edge, trace and frame
   row of one capture of the fleet, COPY into the tables, one transaction and
   connection per capture) by --copy-workers processes for --copy-seconds.
   On SQLite, the same rows by store.py's batched executemany (SQLite has no
   COPY; one writer at a time, so one worker). If a process costs one full
   capture per second, captures/s = processes held.

The ingest targets (single big capture <= 1.3x raw COPY, bulk_create >= 5x
slower) are bench/ingest.py's. Storage per capture: bench/history_storage.py.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402
from bench.procstat import cpu_seconds, load, machine_cpu  # noqa: E402

N_NODES = 2000
N_EDGES = 2000
T0 = 1_764_000_000_000_000_000  # captured_at_ns of every process's first push
SECOND = 1_000_000_000
TASK_STATES = ["pending", "running", "idle"]
RESOURCES = ["lock", "mpsc_tx", "mpsc_rx", "semaphore", "oneshot_rx", "future"]
N_FRAMES = 24
TRACED_EVERY = 40  # every 40th task is pending with a backtrace (never flips)


class Proc:
    """One instrumented process: 500 tasks, 1,500 resources (locks, channel
    ends, semaphores, futures), 2,000 `needs` edges (each resource is needed
    by a task; every third resource is held by the next task, and every
    100th by the task that waits on it: a cycle), pending traces with frames.

    step(fraction) changes that fraction of the nodes: two futures are
    removed and two added (their edges with them), half of the rest are
    task state flips (pending <-> running, with pending_since_ns), half
    resource attr changes (a counter). Deterministic for a seed, whatever the
    key, so two processes with the same seed and steps hold the same content."""

    def __init__(self, key, seed=1):
        self.key = key
        self.rng = random.Random(seed)
        self.k = 0  # pushes so far; the next is captured at T0 + k s
        self.next_future = 0
        self.nodes = {}  # id -> node dict, in document order
        self.edges = {}  # (src, dst) -> edge dict
        n_tasks = N_NODES // 4
        self.tasks = [self.add_task(t) for t in range(n_tasks)]
        self.flippable = [t for t in range(n_tasks) if t % TRACED_EVERY]
        self.resources = []
        for r in range(N_NODES - n_tasks):
            kind = RESOURCES[r % len(RESOURCES)]
            if kind == "future":
                self.add_future()
                continue
            rid = f"{kind}:{key}:{r}"
            self.nodes[rid] = {
                "id": rid,
                "kind": kind,
                "label": f"{kind} {r}",
                "attrs": {"name": f"{kind}_{r}", "created_at": f"src/pool.rs:{r}", "waiters": 0},
            }
            self.resources.append(rid)
            waiter = self.tasks[r % n_tasks]
            self.add_edge(waiter, rid)
        # Holders: edges resource -> task until there are N_EDGES edges.
        for i, rid in enumerate(self.resources):
            if len(self.edges) >= N_EDGES:
                break
            waiter = self.tasks[(int(rid.rsplit(":", 1)[1])) % n_tasks]
            nxt = self.tasks[(self.tasks.index(waiter) + 1) % n_tasks]
            holder = waiter if i % 100 == 0 else nxt
            self.add_edge(rid, holder)
        self.frames = {
            str(f): f"crate::module_{f}::function_{f}\n    at src/m{f}.rs:{f}:9"
            for f in range(1, N_FRAMES + 1)
        }

    def add_task(self, t):
        tid = f"task:{self.key}:{t}"
        traced = t % TRACED_EVERY == 0
        state = "pending" if traced else TASK_STATES[t % len(TASK_STATES)]
        attrs = {
            "task_id": t,
            "name": f"worker::handle_connection#{t}",
            "state": state,
            "spawned_at_ns": T0 - (t + 1) * 1_000_000,
            "polls": t,
        }
        if state == "pending":
            attrs["pending_since_ns"] = T0 - (t + 1) * 1_000
        self.nodes[tid] = {"id": tid, "kind": "task", "label": attrs["name"], "attrs": attrs}
        return tid

    def add_future(self):
        n = self.next_future
        self.next_future += 1
        fid = f"future:{self.key}:f{n}"
        self.nodes[fid] = {
            "id": fid,
            "kind": "future",
            "label": f"future f{n}",
            "attrs": {"name": f"Sleep#{n}", "created_at": "src/timer.rs:12"},
        }
        self.add_edge(self.tasks[n % len(self.tasks)], fid)
        return fid

    def add_edge(self, src, dst):
        self.edges[(src, dst)] = {"src_id": src, "dst_id": dst, "kind": "needs"}

    def step(self, fraction):
        changes = round(N_NODES * fraction)
        rng = self.rng
        futures = [n for n in self.nodes if n.startswith("future:")]
        for fid in rng.sample(futures, 2):
            del self.nodes[fid]
            for key in [e for e in self.edges if e[1] == fid]:
                del self.edges[key]
            self.add_future()
        now = T0 + (self.k + 1) * SECOND
        rest = max(changes - 4, 0)
        for t in rng.sample(self.flippable, rest // 2):
            attrs = self.nodes[self.tasks[t]]["attrs"]
            if attrs["state"] == "pending":
                attrs["state"] = "running"
                attrs.pop("pending_since_ns", None)
            else:
                attrs["state"] = "pending"
                attrs["pending_since_ns"] = now - 1_000
            attrs["polls"] += 1
        for rid in rng.sample(self.resources, rest - rest // 2):
            self.nodes[rid]["attrs"]["waiters"] += 1

    def document(self):
        at = T0 + self.k * SECOND
        traces = []
        for t in range(0, len(self.tasks), TRACED_EVERY):
            since = self.nodes[self.tasks[t]]["attrs"]["pending_since_ns"]
            # at_ns and duration_us (accepted by every format version): the
            # start, at_ns - duration_us, stays the same from push to push.
            traces.append(
                {
                    "task_id": t,
                    "at_ns": at,
                    "duration_us": (at - since) // 1000,
                    "frame_ids": [1 + (t + i) % N_FRAMES for i in range(6)],
                }
            )
        return {
            "process": f"fleet-{self.key}",
            "pid": 10_000 + abs(hash(self.key)) % 50_000,
            "proc_key": self.key,
            "captured_at_ns": at,
            "nodes": list(self.nodes.values()),
            "edges": list(self.edges.values()),
            "frames": self.frames,
            "pending_traces": traces,
        }

    def body(self):
        return orjson.dumps(self.document())


def post(port, body, timeout=120):
    """POST a capture; returns (status, answer or error text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/snapshots", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
    except OSError as exc:
        return type(exc).__name__, str(exc)
    finally:
        conn.close()
    if response.status != 201:
        return response.status, payload[:300].decode(errors="replace")
    return 201, orjson.loads(payload)


def push(port, proc, fraction):
    """The next capture of `proc` (changed by `fraction` unless it is the first)."""
    if proc.k:
        proc.step(fraction)
    status, answer = post(port, proc.body())
    proc.k += 1
    if status != 201:
        raise RuntimeError(f"POST of {proc.key} #{proc.k} answered {status}: {answer}")
    return answer["snapshot_id"]


# -- machine figures -------------------------------------------------------------


def machine_busy():
    """(busy, total) CPU seconds over all cores since boot."""
    busy, _interrupts, total = machine_cpu()
    return busy, total


# -- the server and the database ---------------------------------------------------


class Server:
    """`count` daphne processes, each on a port of its own; process i of the
    fleet pushes to port i % count (a balancer that routes by process, so
    each server's caches see every capture of its processes)."""

    def __init__(self, count=1, **env):
        from tests.support.processes import start_daphne

        full_env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING", **env)
        full_env.pop("REDIS_URL", None)
        log_dir = Path(tempfile.mkdtemp(prefix="peepsweb-bench-fleet-"))
        self.log_paths = [log_dir / f"daphne-{i}.log" for i in range(count)]
        self.servers = [start_daphne(full_env, path, timeout=120) for path in self.log_paths]
        self.ports = [server.port for server in self.servers]
        self.pids = [server.process.pid for server in self.servers]

    def stop(self):
        for server, path in zip(self.servers, self.log_paths, strict=True):
            server.stop()
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                print("--- the server logged tracebacks (last 30 lines) ---")
                print("\n".join(text.splitlines()[-30:]))


# -- 1. fleet throughput -------------------------------------------------------------


class Step:
    """P pusher threads on their 1 s schedules for warmup + window seconds."""

    def __init__(self, ports, procs, warmup, window, fraction):
        self.ports, self.procs, self.fraction = ports, procs, fraction
        self.start = time.monotonic() + 0.5
        self.window_start = self.start + warmup
        self.end = self.window_start + window
        self.results = {p.key: [] for p in procs}  # (due, sent, done, status)

    def run(self):
        threads = [
            threading.Thread(target=self.pusher, args=(i, proc), daemon=True)
            for i, proc in enumerate(self.procs)
        ]
        for thread in threads:
            thread.start()
        time.sleep(max(self.window_start - time.monotonic(), 0))
        server_cpu_start, busy_start = sum(map(cpu_seconds, self.server_pids)), machine_busy()
        pushers_start = time.process_time()
        time.sleep(max(self.end - time.monotonic(), 0))
        server_cpu = sum(map(cpu_seconds, self.server_pids)) - server_cpu_start
        pushers_cpu = time.process_time() - pushers_start
        busy_end = machine_busy()
        for thread in threads:
            thread.join()
        window = self.end - self.window_start
        self.cpu = {
            "server": server_cpu / window,
            "pushers": pushers_cpu / window,
            "machine": (busy_end[0] - busy_start[0]) / max(busy_end[1] - busy_start[1], 1),
        }

    def pusher(self, i, proc):
        offset = i / len(self.procs)  # spread over the second
        k = 0
        while True:
            due = self.start + offset + k
            if due >= self.end:
                return
            now = time.monotonic()
            if now > self.end + 5:  # hopelessly behind: the rest count as missed
                return
            if due > now:
                time.sleep(due - now)
            sent = time.monotonic()
            proc.step(self.fraction)
            status, _ = post(self.ports[i % len(self.ports)], proc.body())
            proc.k += 1
            self.results[proc.key].append((due, sent, time.monotonic(), status))
            k += 1

    def verdict(self):
        due_in_window = 0
        sent, errors, late_end = 0, 0, 0.0
        worst_mean, all_rtt = 0.0, []
        for i, proc in enumerate(self.procs):
            everything = self.results[proc.key]
            results = [r for r in everything if r[0] >= self.window_start]
            offset = i / len(self.procs)
            dues = [self.start + offset + k for k in range(int(self.end - self.start) + 2)]
            due_in_window += sum(1 for d in dues if self.window_start <= d < self.end)
            sent += len(results)
            errors += sum(1 for r in results if r[3] != 201)
            rtts = [r[2] - r[1] for r in results]
            all_rtt += rtts
            if rtts:
                worst_mean = max(worst_mean, statistics.mean(rtts))
            # The queue when the window closed: how long overdue the first
            # push not yet sent by then was (pushes go out in order).
            sent_by_end = sum(1 for r in everything if r[1] < self.end)
            if dues[sent_by_end] < self.end:
                late_end = max(late_end, self.end - dues[sent_by_end])
        all_rtt.sort()
        missed = due_in_window - sent
        held = errors == 0 and missed == 0 and worst_mean <= 1.0 and late_end < 1.0
        return {
            "held": held,
            "due": due_in_window,
            "missed": missed,
            "errors": errors,
            "worst_mean_rtt": worst_mean,
            "median_rtt": statistics.median(all_rtt) if all_rtt else 0.0,
            "p99_rtt": all_rtt[int(len(all_rtt) * 0.99) - 1] if all_rtt else 0.0,
            "late_end": late_end,
        }


def fleet(args, procs):
    """Step P up until a step is not held, then bisect once; returns the best P."""
    # --pool: the server takes PostgreSQL connections from psycopg's pool
    # instead of opening one per request (about 10 ms each here).
    env = {"DB_POOL_MAX_SIZE": str(args.pool)} if args.pool else {}
    server = Server(args.servers, **env)
    try:
        print(f"\n1. fleet throughput ({args.window:g} s windows after {args.warmup:g} s warm-up)")
        print(
            "   P     pushes  missed errors  rtt median  p99   worst proc mean  queue at end"
            "   CPU: server pushers machine   held  load"
        )
        best, failed = 0, None
        plan = list(args.steps)
        tried = set()
        while plan:
            p = plan.pop(0)
            tried.add(p)
            while len(procs) < p:
                proc = Proc(f"fleet-{len(procs)}", seed=len(procs))
                push(
                    server.ports[len(procs) % len(server.ports)], proc, 0
                )  # first capture: written in full, not timed
                procs.append(proc)
            step = Step(server.ports, procs[:p], args.warmup, args.window, args.change)
            step.server_pids = server.pids
            step.run()
            v = step.verdict()
            cpu = step.cpu
            print(
                f"   {p:<5} {v['due']:6} {v['missed']:7} {v['errors']:6}"
                f"  {v['median_rtt'] * 1000:7.0f} ms {v['p99_rtt'] * 1000:5.0f} ms"
                f"  {v['worst_mean_rtt'] * 1000:9.0f} ms {v['late_end']:9.2f} s"
                f"   {cpu['server']:9.0%} {cpu['pushers']:7.0%} {cpu['machine']:7.0%}"
                f"   {'yes' if v['held'] else 'NO':4}  {load()}",
                flush=True,
            )
            if v["held"]:
                best = max(best, p)
            else:
                failed = p if failed is None else min(failed, p)
                plan = [q for q in plan if q < p]
                if not plan and best and failed - best > args.bisect_min:
                    mid = (best + failed) // 2
                    if mid not in tried:
                        plan = [mid]
            time.sleep(2)  # the server drains what a failed step left
    finally:
        server.stop()
    return best, failed


def raw_insert(rows):
    """SQLite's raw_copy: the same rows by store.py's batched executemany,
    one transaction; returns (seconds, snapshot id)."""
    from django.db import connection, transaction

    from bench.ingest import full_capture_tables, new_capture
    from snapshots.ingest import store

    sid, pid = new_capture()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table_cols, table_rows in full_capture_tables(rows, pid):
            store._insert_batches(cursor, table_cols, table_rows)
    return time.perf_counter() - started, sid


def copy_worker(rows, seconds, start_at, queue):
    from django.db import connection, connections

    connections.close_all()  # a forked child must not share the parent's connection
    from bench.ingest import raw_copy

    write = raw_copy if connection.vendor == "postgresql" else raw_insert
    done, spent = 0, 0.0
    time.sleep(max(start_at - time.time(), 0))
    end = time.time() + seconds
    while time.time() < end:
        elapsed, _ = write(rows)
        done += 1
        spent += elapsed
    connections.close_all()
    queue.put((done, spent))


def raw_copy_equivalent(args, proc):
    """Full captures of `proc`'s current content written raw, per second."""
    from django.db import connection, connections

    from bench.ingest import rows_of

    rows = rows_of(proc.document())
    workers = args.copy_workers if connection.vendor == "postgresql" else 1
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 1
    busy_start = machine_busy()
    procs = [
        ctx.Process(target=copy_worker, args=(rows, args.copy_seconds, start_at, queue))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    busy_end = machine_busy()
    done = sum(r[0] for r in results)
    per_capture = sum(r[1] for r in results) / max(done, 1)
    rate = done / args.copy_seconds
    machine = (busy_end[0] - busy_start[0]) / max(busy_end[1] - busy_start[1], 1)
    how = "COPY" if connection.vendor == "postgresql" else "executemany (SQLite has no COPY)"
    print(
        f"\n2. raw {how} of full captures ({len(rows[0]):,} node + {len(rows[1]):,} edge rows,"
        f" {len(rows[4])} traces, {len(rows[5])} frames each), {workers} process(es),"
        f" {args.copy_seconds:g} s: {done} captures = {rate:.1f} captures/s"
        f" ({per_capture * 1000:.0f} ms each; machine {machine:.0%} busy; {load()})"
    )
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short windows, fewer steps")
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",")],
        default=None,
        help="P values to try, in order (default 10,20,40,60,80,100,120,150)",
    )
    parser.add_argument("--window", type=float, default=None, help="measured seconds per step (20)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--bisect-min", type=int, default=5)
    parser.add_argument("--change", type=float, default=0.05, help="nodes changed per push")
    parser.add_argument("--servers", type=int, default=1, help="daphne processes (1)")
    parser.add_argument(
        "--pool", type=int, default=0, help="the server's DB_POOL_MAX_SIZE (PostgreSQL)"
    )
    parser.add_argument("--copy-workers", type=int, default=2)
    parser.add_argument("--copy-seconds", type=float, default=None, help="(10)")
    args = parser.parse_args()
    quick = args.quick
    args.steps = args.steps or (
        [10, 25, 50, 75, 100] if quick else [10, 20, 40, 60, 80, 100, 120, 150]
    )
    args.window = args.window or (8.0 if quick else 20.0)
    args.copy_seconds = args.copy_seconds or (5.0 if quick else 10.0)
    if quick:
        args.bisect_min = 10**6  # no bisection

    setup_django("fleet")
    from django.db import connection

    print(
        f"{connection.vendor}, {os.cpu_count()} CPUs, {load()};"
        f" {args.servers} server process(es), DB_POOL_MAX_SIZE={args.pool};"
        f" captures of {N_NODES:,} nodes + {N_EDGES:,} edges, {args.change:.0%} changed per push"
    )
    procs = []
    best, failed = fleet(args, procs)
    print(
        f"   => held with no backlog: {best} processes"
        + (f" (not held at {failed})" if failed else " (every step held: try higher --steps)")
    )
    rate = raw_copy_equivalent(args, procs[0])
    print(
        f"\nsummary {connection.vendor}: held {best} processes; raw full captures {rate:.0f}/s"
        f" in the same run; held / raw = {best / rate:.2f}"
        + ("  (target on PostgreSQL: >= 100 held)" if connection.vendor == "postgresql" else "")
    )
    print(
        "json "
        + json.dumps(
            {
                "vendor": connection.vendor,
                "held": best,
                "failed": failed,
                "raw_per_s": round(rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
