"""Load test (issue 16, item 4): 20 pushers against a real daphne on PostgreSQL.

    scripts/pg run .venv/bin/python bench/pushers.py              # 60 s, settings as configured
    scripts/pg run .venv/bin/python bench/pushers.py --seconds 20 --compare

A daphne subprocess serves the PostgreSQL database of DATABASE_URL (under
`scripts/pg run`: a throwaway server with max_connections = 200). 20 threads
play 20 instrumented processes, each POSTing its own snapshot to
/api/v1/snapshots again and again, as fast as the server answers, for N
seconds. The snapshots are what a tokio service sends: tasks, locks, channel
ends and futures waiting on each other, wake events and pending backtraces;
the 20 processes have 60 to 3,000 nodes (most small, a few big). Retention
keeps 100 snapshots (--keep), so after the first 100 POSTs every ingest also
prunes, as on a server that has been running for a while. The 3,000-node
captures (9,000 rows) get partitions of their own (--partition-min-rows
5000), so prunes drop tables too, while other ingests attach theirs.

Printed per setting: responses by status (201 expected; anything else, or
no HTTP answer at all, is an error), snapshots/s, the POST round trip
(median, p99), the peak number of the server's connections to the database
(sampled every 20 ms from pg_stat_activity, by application_name), FATAL lines
in PostgreSQL's log (scripts/pg's server.log, e.g. "sorry, too many clients
already"), and the tracebacks, 503 causes and prunes that gave up on a lock in the
server's log.

--compare runs every connection setting in turn, each against a fresh
daphne on the same database: `persistent` (CONN_MAX_AGE=60, the default
until issue 16), `per-request` (CONN_MAX_AGE=0: a connection per request),
and `pool` (psycopg's pool, DB_POOL_MAX_SIZE connections shared by every
request); the snapshots/s of each is also printed as a ratio to the first.
"""

import argparse
import collections
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402

SERVER_APP = "peepsweb-bench-server"  # the daphne's application_name (PGAPPNAME)
SIZES = [60, 60, 150, 150, 300, 300, 600, 1000, 1000, 3000]  # nodes, one per pusher (cycled)
SETTINGS = {
    "persistent": {"DB_CONN_MAX_AGE": "60", "DB_POOL_MAX_SIZE": "0"},
    "per-request": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "0"},
    "pool of 4": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "4"},
    "pool of 8": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "8"},
    "pool of 16": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "16"},
}


def make_doc(pusher, nodes):
    """One tokio-like process: a quarter of the nodes are tasks, the rest
    locks, channel ends and futures; each task needs a resource held by the
    next task (chains, occasionally closing into a cycle), with wakes and
    pending traces for the tasks."""
    key = f"pusher-{pusher}"
    tasks = max(nodes // 4, 2)
    states = ["pending", "pending", "running", "idle", "completed"]
    kinds = ["lock", "mpsc_tx", "mpsc_rx", "semaphore", "future", "request"]
    doc_nodes, edges = [], []
    for t in range(tasks):
        doc_nodes.append(
            {
                "id": f"task:{key}:{t}",
                "kind": "task",
                "label": f"worker::handle_connection#{t}",
                "attrs": {
                    "task_id": t,
                    "name": f"worker::handle_connection#{t}",
                    "state": states[t % len(states)],
                    "spawned_at_ns": 1_763_771_990_000_000_000 + t,
                    "pending_us": 1000 * t,
                },
            }
        )
    for r in range(nodes - tasks):
        kind = kinds[r % len(kinds)]
        doc_nodes.append(
            {
                "id": f"{kind}:{key}:{r}",
                "kind": kind,
                "label": f"{kind} {r}",
                "attrs": {"name": f"{kind}_{r}", "created_at": "src/pool.rs:42"},
            }
        )
        task = r % tasks
        edges.append(
            {"src_id": f"task:{key}:{task}", "dst_id": f"{kind}:{key}:{r}", "kind": "needs"}
        )
        holder = (task + 1) % tasks if r % 50 else task  # every 50th: a self-wait
        edges.append(
            {"src_id": f"{kind}:{key}:{r}", "dst_id": f"task:{key}:{holder}", "kind": "needs"}
        )
    return {
        "process": f"bench-pusher-{pusher}",
        "pid": 1000 + pusher,
        "proc_key": key,
        "captured_at_ns": None,
        "snapshot_id": None,
        "nodes": doc_nodes,
        "edges": edges,
        "wake_events": [
            {"at_ns": i, "waker_task_id": i % tasks, "woken_task_id": (i + 1) % tasks}
            for i in range(min(tasks, 100))
        ],
        "frames": {"1": "tokio::sync::Mutex::lock", "2": "worker::handle_connection"},
        "pending_traces": [
            {"task_id": t, "at_ns": t, "duration_us": 5_000_000, "frame_ids": [1, 2]}
            for t in range(0, tasks, 10)
        ],
    }


class Pushers:
    """`count` threads POSTing their snapshot until `stop` is set."""

    def __init__(self, url, count):
        self.url = url + "/api/v1/snapshots"
        self.bodies = [
            json.dumps(make_doc(i, SIZES[i % len(SIZES)])).encode() for i in range(count)
        ]
        self.statuses = collections.Counter()
        self.failures = collections.Counter()  # a sample of error bodies
        self.times = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self, seconds):
        threads = [threading.Thread(target=self.push, args=(body,)) for body in self.bodies]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        self.stop.wait(seconds)
        self.stop.set()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    def push(self, body):
        while not self.stop.is_set():
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                    status, detail = response.status, None
            except urllib.error.HTTPError as exc:
                status, detail = exc.code, exc.read()[:200].decode(errors="replace")
            except OSError as exc:  # no HTTP answer: refused, reset, timed out
                status, detail = type(exc).__name__, str(exc)[:200]
            elapsed = time.perf_counter() - start
            with self.lock:
                self.statuses[status] += 1
                self.times.append(elapsed)
                if detail is not None:
                    self.failures[f"{status}: {detail}"] += 1


class ConnectionSampler:
    """Peak number of the server's connections, from pg_stat_activity."""

    def __init__(self, every=0.02):
        from django.db import connection

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.params = params
        self.every = every
        self.peak = 0
        self.peak_active = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def sample(self):
        import psycopg

        with psycopg.connect(**self.params, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                total, active = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state = 'active')"
                    " FROM pg_stat_activity WHERE application_name = %s",
                    [SERVER_APP],
                ).fetchone()
                self.peak = max(self.peak, total)
                self.peak_active = max(self.peak_active, active)


def pg_log_fatals():
    """FATAL lines of scripts/pg's server log so far."""
    pg_dir = os.environ.get("PEEPSWEB_PG_DIR")
    if not pg_dir:
        return []
    try:
        text = Path(pg_dir, "server.log").read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if "FATAL" in line]


def run_setting(name, env, args):
    from django.db import connection

    from snapshots.models import Snapshot
    from tests.support.processes import start_daphne

    full_env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        PEEPSWEB_KEEP_SNAPSHOTS=str(args.keep),
        PEEPSWEB_PARTITION_MIN_ROWS=str(args.partition_min_rows),
        LOG_LEVEL="WARNING",
        PGAPPNAME=SERVER_APP,
        **env,
    )
    full_env.pop("REDIS_URL", None)
    log_path = Path(tempfile.mkdtemp(prefix="peepsweb-bench-pushers-")) / f"{name}.log"
    fatals_before = len(pg_log_fatals())
    server = start_daphne(full_env, log_path, timeout=120)
    try:
        pushers = Pushers(server.url, args.pushers)
        with ConnectionSampler() as sampler:
            wall = pushers.run(args.seconds)
    finally:
        server.stop()
    connection.close()
    log = log_path.read_text(errors="replace")
    ok = pushers.statuses.get(201, 0)
    times = sorted(pushers.times)
    return {
        "name": name,
        "env": env,
        "statuses": dict(pushers.statuses),
        "errors": sum(n for status, n in pushers.statuses.items() if status != 201),
        "failures": pushers.failures.most_common(5),
        "rate": ok / wall,
        "median_ms": 1000 * statistics.median(times) if times else 0.0,
        "p99_ms": 1000 * times[int(len(times) * 0.99) - 1] if times else 0.0,
        "peak_connections": sampler.peak,
        "peak_active": sampler.peak_active,
        "pg_fatals": pg_log_fatals()[fatals_before:],
        "tracebacks": log.count("Traceback (most recent call last)"),
        "log_503": re.findall(r"^.*storage unavailable.*$", log, re.M)[:5],
        "prunes_gave_up": log.count("pruning gave up on a busy table"),
        "stored": Snapshot.objects.count(),
    }


def report(result):
    print(f"\n{result['name']}  {' '.join(f'{k}={v}' for k, v in result['env'].items())}")
    statuses = ", ".join(
        f"{status}: {n}" for status, n in sorted(result["statuses"].items(), key=str)
    )
    print(f"   responses            {statuses}")
    print(f"   errors (not 201)     {result['errors']}")
    print(f"   snapshots/s          {result['rate']:.1f}")
    median, p99 = result["median_ms"], result["p99_ms"]
    print(f"   POST round trip      median {median:.0f} ms, p99 {p99:.0f} ms")
    print(
        f"   peak connections     {result['peak_connections']}"
        f" (of which active at once: {result['peak_active']})"
    )
    print(f"   PostgreSQL FATAL     {len(result['pg_fatals'])}")
    for line in result["pg_fatals"][:3]:
        print(f"      {line[:160]}")
    print(f"   server tracebacks    {result['tracebacks']}")
    print(
        f"   prunes that gave up  {result['prunes_gave_up']} (lock timeout; the next one retries)"
    )
    for line in result["log_503"]:
        print(f"      {line[:200]}")
    for failure, n in result["failures"]:
        print(f"      {n} x {failure[:200]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pushers", type=int, default=20)
    parser.add_argument("--keep", type=int, default=100, help="retention (PEEPSWEB_KEEP_SNAPSHOTS)")
    parser.add_argument(
        "--partition-min-rows",
        type=int,
        default=5000,
        help="PEEPSWEB_PARTITION_MIN_ROWS: the 3,000-node captures (9,000 rows) get partitions",
    )
    parser.add_argument(
        "--compare", action="store_true", help=f"run each of: {', '.join(SETTINGS)}"
    )
    parser.add_argument(
        "--cycles", type=int, default=1, help="runs per setting, every other cycle reversed"
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("bench/pushers.py measures PostgreSQL connections: run it under scripts/pg run")
    setup_django("pushers")
    from django.conf import settings

    db = settings.DATABASES["default"]
    print(
        f"{args.pushers} pushers, {args.seconds:g} s per setting, keep {args.keep};"
        f" snapshots of {', '.join(map(str, sorted(set(SIZES))))} nodes"
    )
    print(
        f"configured: CONN_MAX_AGE={db['CONN_MAX_AGE']},"
        f" pool={db.get('OPTIONS', {}).get('pool', False)}"
    )
    settings_to_run = SETTINGS if args.compare else {"as configured": {}}
    results = {name: [] for name in settings_to_run}
    for cycle in range(args.cycles):
        # Every other cycle in reverse order: no setting always runs first,
        # on the emptiest database, or while the machine is in the same mood.
        order = list(settings_to_run) if cycle % 2 == 0 else list(reversed(settings_to_run))
        for name in order:
            result = run_setting(name, settings_to_run[name], args)
            report(result)
            results[name].append(result)
    if len(results) > 1 or args.cycles > 1:
        summary(results)
    sys.exit(1 if any(r["errors"] for runs in results.values() for r in runs) else 0)


def summary(results):
    rates = {name: statistics.median(r["rate"] for r in runs) for name, runs in results.items()}
    base = next(iter(rates.values()))
    first = next(iter(rates))
    print(f"\nsummary ({len(next(iter(results.values())))} run(s) per setting, medians)")
    print(f"   {'setting':14}{'snapshots/s':>12}{'/ ' + first:>16}{'errors':>8}{'peak conns':>12}")
    for name, runs in results.items():
        print(
            f"   {name:14}{rates[name]:12.1f}{rates[name] / base:16.2f}"
            f"{sum(r['errors'] for r in runs):8}{max(r['peak_connections'] for r in runs):12}"
        )


if __name__ == "__main__":
    main()
