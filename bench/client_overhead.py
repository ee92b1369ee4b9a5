"""Overhead of the peepsweb client on the program it instruments: five
figures, each measured side by side in one run.

    .venv/bin/python bench/client_overhead.py                # all five (about 5 minutes)
    .venv/bin/python bench/client_overhead.py --cpu [--tasks 20000] [--rounds 30]
    .venv/bin/python bench/client_overhead.py --loop-lag [--lag-rounds 6] [--lag-seconds 8]
    .venv/bin/python bench/client_overhead.py --aiohttp [--http-rounds 10] [--http-seconds 3]
    .venv/bin/python bench/client_overhead.py --handler [--requests 20000] [--rounds 30]
    .venv/bin/python bench/client_overhead.py --pull [--pulls 20]
    .venv/bin/python bench/client_overhead.py --instructions   # --cpu counted by valgrind

1. CPU time of short tasks (--cpu). Target: instrumented <= 1.3x plain.
   Each task takes one of 8 locks, holds it across a suspension (so locks
   are contended and every release wakes a waiter), then puts an item on a
   bounded queue drained by 4 consumers. That is close to the worst case
   for the instrumentation: the tasks do nothing else, so its per-task and
   per-wake costs are all there is to compare against. Both sides use the
   stock asyncio classes; the instrumented side runs `aio.install()` (which
   patches them in place, and create_task), so it has everything a real
   install has: parents, spawn sites, holders and wakes, the pending-time
   scan every 250 ms, and one snapshot taken in the middle of each run (not
   pushed: figures 2 and 3 measure pushing).

   Timing is CPU time of this process, the two sides alternating in one
   process (install/uninstall patch and restore). On a busy machine the
   spread between rounds is wide: the headline ratio is median vs median;
   best vs best and the median of the per-round ratios (both sides of a
   round run back to back, so they see the same machine) are printed too.
   `--instructions` counts instructions under valgrind instead, which other
   processes cannot disturb (the scan interval is stretched by valgrind's
   slowdown so that the same number of scans happen per task as in a normal
   run).

2. Event-loop lag of a busy program (--loop-lag). Target: instrumented p99
   <= 2x plain. The program has 3,000 tasks: 900 contending for 30 Locks,
   600 for 10 Semaphores of 5 permits, 800 producers and consumers on 20
   bounded Queues (producers put in bursts, so queues run full as well as
   empty), 600 waiting with deadlines (`asyncio.timeout`, `wait_for`) that
   expire, and 20 TaskGroups of 4 children each. A ticker task sleeps 5 ms
   in a loop; each tick's lag is how much later than asked it woke. After
   2 s of warm-up the ticks of `--lag-seconds` are kept and their p50, p99
   and max reported. The plain side runs `python bench/client_overhead.py
   --program lag SECONDS`; the instrumented side runs the same command
   under `peepsweb-run` with PEEPSWEB_PUSH_INTERVAL=0.5, pushing a snapshot
   of all 3,000 tasks every 0.5 s to a real peepsweb server (daphne, on a
   SQLite file in a temp dir, started by this bench): whatever a push costs
   the loop thread, the pusher thread included (it holds the GIL while it
   encodes), shows up as lag. Each side is a fresh process (the
   instrumentation patches asyncio's classes in place); which side goes
   first alternates between rounds. Printed: each side's medians over the
   rounds, the program's CPU use (a busier loop lags more), the pushes the
   server stored, and the headline: the median of the per-round ratios of
   p99s.

3. aiohttp throughput (--aiohttp). Target: instrumented >= 0.95x plain
   requests/s. An aiohttp web server (`--program aiohttp`) whose handler
   holds a permit of a Semaphore of 8 (a connection pool) across a
   suspension, takes a Lock around a shared counter and puts a line on a
   Queue that a background task drains, is loaded with 32 keep-alive
   connections by this file's own load generator (`--program load`: one
   Python process, raw sockets and a selector, nothing to install; it
   takes one core of a 2-core machine, the server the other). Two
   servers run side by side, plain and under `peepsweb-run` pushing every
   0.5 s to the same peepsweb server; after a 2 s warm-up of each, the
   generator loads one of them for `--http-seconds`, then the other, alternating
   which goes first, `--http-rounds` times. The headline is the median of
   the per-round ratios of requests/s. The servers are CPU bound, but on a
   shared machine they get less than a core (their CPU use is printed), so
   requests/s move with other people's jobs; the ratio of server CPU per
   request is printed too, which they do not move: it is what the
   requests/s ratio would be on a machine of our own.

4. Figure 3's handler, HTTP aside (--handler). No target of its own: it
   is the part of figure 3's cost that the instrumentation can change,
   measured as figure 1 is (CPU time, both sides alternating in one
   process): a Semaphore held across a suspension, a Lock, a Queue put
   and its drain, per request, each request a task made as aiohttp makes
   them (asyncio.Task(..., eager_start=True)). It is steady where figure 3
   is noisy. But it is not figure 3 in small: a real server's memory does
   not stay in the CPU's caches between requests the way this loop's does,
   so what the instrumentation keeps alive or allocates costs a server
   more than it costs here (see docs/client.md on wakes that held their
   tasks).

5. A pull ("Jump to now") on figure 2's program (--pull). No target of
   its own: the loop's longest pause while another thread takes a
   snapshot (`snapshot_json_threadsafe`, as the agent does), against the
   longest pause in a window of the same length without one, in one
   process (instrumented, no pushes), `--pulls` times, alternating. The
   ticker is figure 2's (a 5 ms sleep; its lag is how much later than
   asked it woke).
"""

import argparse
import asyncio
import gc
import json
import os
import random
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds  # noqa: E402

VALGRIND_SLOWDOWN = 40  # roughly, for cachegrind without cache simulation
PUSH_INTERVAL = "0.5"
WARMUP = 2  # seconds each program runs before it is measured
TICK = 0.005  # the loop-lag ticker's sleep


# -- 1. CPU time of short tasks -----------------------------------------------------


async def workload(n_tasks, snapshot=None):
    locks = [asyncio.Lock() for _ in range(8)]
    queue = asyncio.Queue(maxsize=64)
    done = asyncio.Event()
    consumed = 0

    async def worker(i):
        lock = locks[i % len(locks)]
        async with lock:
            await asyncio.sleep(0)  # hold it across a suspension: real contention
        await queue.put(i)

    async def consumer():
        nonlocal consumed
        while consumed < n_tasks:
            await queue.get()
            consumed += 1
            queue.task_done()
        done.set()

    consumers = [asyncio.create_task(consumer()) for _ in range(4)]
    batch = 500
    for start in range(0, n_tasks, batch):
        await asyncio.gather(*(worker(i) for i in range(start, min(n_tasks, start + batch))))
        if snapshot is not None and start == (n_tasks // 2 // batch) * batch:
            snapshot()
    await done.wait()
    for c in consumers:
        c.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


def run_plain(n, work=None):
    return timed(lambda: (work or workload)(n))


def run_instrumented(n, scan_stretch=1, work=None):
    from peepsweb_client import aio

    async def main():
        inst = aio.install(process="bench", pending_threshold=1.0)
        inst.scan_interval *= scan_stretch
        try:
            await (work or workload)(n, snapshot=inst.snapshot)
        finally:
            inst.uninstall()

    return timed(main)


def timed(main):
    """CPU time of this process (the workload is single-threaded and CPU
    bound): other processes competing for the CPU do not inflate it the way
    they inflate wall time."""
    gc.collect()
    start = time.process_time()
    asyncio.run(main())
    return time.process_time() - start


def count_instructions(mode, n):
    """(instructions, modelled cycles) of one run of `mode` (plain |
    instrumented | none) under cachegrind. Modelled cycles are cachegrind's
    usual estimate, Ir + 10 x L1 data misses + 100 x last-level misses, with
    the last level modelled as a 2 MB cache (an L2's size: valgrind would
    otherwise take the host's whole shared L3)."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--LL=2097152,16,64",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--one",
            mode,
            "--tasks",
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr

    def count(label):
        return int(re.search(label + r":\s+([\d,]+)", out).group(1).replace(",", ""))

    instructions = count(r"I\s+refs")
    return instructions, instructions + 10 * count("D1  misses") + 100 * count("LL misses")


def instructions(n):
    if not shutil.which("valgrind"):
        print("valgrind is not installed")
        return 1
    base = count_instructions("none", n)  # interpreter start-up and imports
    plain, inst = (
        [a - b for a, b in zip(count_instructions(mode, n), base, strict=True)]
        for mode in ("plain", "instrumented")
    )
    print(f"workload: {n} short tasks, counted by valgrind (start-up excluded)")
    for name, (ir, cycles) in (("plain asyncio", plain), ("instrumented", inst)):
        print(
            f"{name:14}: {ir / 1e6:7.1f} M instructions ({ir / n / 1000:.1f} k/task), "
            f"{cycles / 1e6:7.1f} M modelled cycles"
        )
    print(f"ratio instrumented/plain, instructions:    {inst[0] / plain[0]:.2f}x (target <= 1.30x)")
    print(f"ratio instrumented/plain, modelled cycles: {inst[1] / plain[1]:.2f}x")
    return 0


def cpu_time(n, rounds, work=None, title=None, unit="task", target=1.3):
    run_plain(2000, work)  # warm up imports and caches
    run_instrumented(2000, work=work)
    plain, instrumented = [], []
    for r in range(rounds):
        # Interleaved, so both sides see the same machine, round after round,
        # and each goes first in half the rounds (what ran just before leaves
        # its caches and heap behind).
        if r % 2 == 0:
            plain.append(run_plain(n, work))
            instrumented.append(run_instrumented(n, work=work))
        else:
            instrumented.append(run_instrumented(n, work=work))
            plain.append(run_plain(n, work))
    title = title or f"1. CPU time: {n} short tasks x {rounds} rounds (8 locks, queue maxsize 64)"
    print(f"\n{title}, load average {os.getloadavg()[0]:.1f}")
    for name, runs in (("plain asyncio", plain), ("instrumented", instrumented)):
        best, median = min(runs), statistics.median(runs)
        print(
            f"   {name:14}: best {best * 1000:7.1f} ms ({best / n * 1e6:5.2f} us/{unit})  "
            f"median {median * 1000:7.1f} ms ({median / n * 1e6:5.2f} us/{unit})"
        )
    best = min(instrumented) / min(plain)
    pairs = sorted(i / p for p, i in zip(plain, instrumented, strict=True))
    print(f"   ratio best vs best: {best:.2f}x")
    print(
        f"   per-round ratios (each round runs both sides back to back): median "
        f"{statistics.median(pairs):.2f}x, spread {pairs[0]:.2f}x..{pairs[-1]:.2f}x"
    )
    ratio = statistics.median(instrumented) / statistics.median(plain)
    extra = (statistics.median(instrumented) - statistics.median(plain)) / n * 1e6
    if target is None:
        print(f"   => instrumented/plain (median vs median): {ratio:.2f}x, +{extra:.2f} us/{unit}")
        return
    verdict = "OK" if ratio <= target else "OVER"
    print(
        f"   => instrumented/plain (median vs median): {ratio:.2f}x (target <= {target:.2f}x)"
        f" {verdict}"
    )


# -- 2. loop lag: the program ----------------------------------------------------------


def pause(low, high):
    return asyncio.sleep(random.uniform(low, high))


async def lock_user(lock):
    while True:
        async with lock:
            await pause(0.001, 0.005)
        await pause(0.1, 0.4)


async def semaphore_user(sem):
    while True:
        async with sem:
            await pause(0.005, 0.02)
        await pause(0.1, 0.4)


async def producer(queue):
    while True:
        for _ in range(3):  # a burst: the queue (maxsize 4) fills up at times
            await queue.put(object())
        await pause(0.5, 1.5)


async def consumer(queue):
    while True:
        await queue.get()
        await pause(0.01, 0.05)
        queue.task_done()


async def with_deadline(never):
    while True:
        try:
            async with asyncio.timeout(random.uniform(0.05, 0.3)):
                await never.wait()
        except TimeoutError:
            pass
        try:
            await asyncio.wait_for(never.wait(), random.uniform(0.05, 0.3))
        except TimeoutError:
            pass


async def group_owner():
    while True:
        async with asyncio.TaskGroup() as tg:
            for _ in range(4):
                tg.create_task(pause(0.05, 0.3))
        await pause(0.05, 0.2)


def start_busy_tasks():
    """The 3,000 tasks of the module docstring (part 2)."""
    locks = [asyncio.Lock() for _ in range(30)]
    sems = [asyncio.Semaphore(5) for _ in range(10)]
    queues = [asyncio.Queue(maxsize=4) for _ in range(20)]
    never = asyncio.Event()
    coros = [lock_user(locks[i % 30]) for i in range(900)]
    coros += [semaphore_user(sems[i % 10]) for i in range(600)]
    coros += [producer(queues[i % 20]) for i in range(400)]
    coros += [consumer(queues[i % 20]) for i in range(400)]
    coros += [with_deadline(never) for _ in range(600)]
    coros += [group_owner() for _ in range(20)]  # + 4 children each: 100 tasks
    return [asyncio.create_task(c) for c in coros]


async def lag_program(seconds):
    """Prints one JSON line: the ticks' lags (ms) and the CPU the process used."""
    tasks = start_busy_tasks()
    await asyncio.sleep(WARMUP)
    lags = []
    cpu_start, end = time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < end:
        asked = time.perf_counter() + TICK
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - asked) * 1000)
    cpu = (time.process_time() - cpu_start) / seconds
    print(json.dumps({"lags": lags, "cpu": cpu, "tasks": len(asyncio.all_tasks())}), flush=True)
    for task in tasks:
        task.cancel()


async def pull_pauses(pulls):
    """Figure 5: [(pull's worst lag, same-length window's worst lag, pull's
    seconds)] per pull, in ms and s."""
    from peepsweb_client import aio

    inst = aio.install(process="bench-pull", pid=os.getpid())
    tasks = start_busy_tasks()
    await asyncio.sleep(WARMUP)

    async def worst_lag_while(job):
        worst, started = 0.0, time.perf_counter()
        while not job.done():
            asked = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - asked)
        await job
        return worst * 1000, time.perf_counter() - started

    results = []
    for _ in range(pulls):
        pulled, seconds = await worst_lag_while(
            asyncio.ensure_future(asyncio.to_thread(inst.snapshot_json_threadsafe))
        )
        quiet, _ = await worst_lag_while(asyncio.ensure_future(asyncio.sleep(seconds)))
        results.append((pulled, quiet, seconds))
    for task in tasks:
        task.cancel()
    inst.uninstall()
    return results


def pull_figure(pulls):
    results = asyncio.run(pull_pauses(pulls))
    print(f"\n5. a pull on figure 2's 3,000 tasks, {pulls} pulls, load {os.getloadavg()[0]:.1f}")
    pulled = statistics.median(r[0] for r in results)
    quiet = statistics.median(r[1] for r in results)
    seconds = statistics.median(r[2] for r in results)
    worst = max(r[0] for r in results)
    print(f"   worst loop lag during a pull: median {pulled:.1f} ms, max {worst:.1f} ms")
    print(f"   worst loop lag in as long without one: median {quiet:.1f} ms")
    print(f"   a pull took {seconds * 1000:.0f} ms (median)")


# -- 2. loop lag: the measurement -------------------------------------------------------


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stored_snapshots(url):
    """(snapshots the server holds, node count of the newest)."""
    with urllib.request.urlopen(url + "/api/v1/snapshots?per_page=1", timeout=30) as response:
        data = json.loads(response.read())
    return data["total"], (data["snapshots"][0]["node_count"] if data["snapshots"] else 0)


def program_command(side, *args):
    """The same program, plain or under peepsweb-run (its environment says where to push)."""
    program = [sys.executable, __file__, "--program", *args]
    if side == "plain":
        return program
    return [sys.executable, "-m", "peepsweb_client", "run", *program]


def program_env(url):
    env = dict(os.environ, PEEPSWEB_URL=url, PEEPSWEB_PUSH_INTERVAL=PUSH_INTERVAL)
    env.pop("PYTHONPATH", None)  # no plain side instrumented by an inherited sitecustomize
    return env


def rounds_of(rounds, measure):
    """{side: [measure(side) per round]}, the sides alternating which goes first."""
    results = {"plain": [], "instrumented": []}
    for r in range(rounds):
        order = ["plain", "instrumented"] if r % 2 == 0 else ["instrumented", "plain"]
        for side in order:
            results[side].append(measure(side))
    return results


def loop_lag(server, rounds, seconds):
    url = server.url

    def measure(side):
        before = stored_snapshots(url)[0]
        server_cpu, started = cpu_seconds(server.process.pid), time.monotonic()
        done = subprocess.run(
            program_command(side, "lag", str(seconds)),
            env=program_env(url),
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{side} lag program failed:\n{done.stdout}\n{done.stderr}")
        result = json.loads(done.stdout.splitlines()[-1])
        lags = result["lags"]
        server_cpu = (cpu_seconds(server.process.pid) - server_cpu) / (time.monotonic() - started)
        stored, nodes = stored_snapshots(url)
        return {
            "p50": percentile(lags, 0.50),
            "p99": percentile(lags, 0.99),
            "max": max(lags),
            "ticks": len(lags),
            "cpu": result["cpu"],
            "tasks": result["tasks"],
            "pushes": stored - before,
            "nodes": nodes,
            "server_cpu": server_cpu,
        }

    results = rounds_of(rounds, measure)
    print(
        f"\n2. loop lag: 3,000 tasks, a {TICK * 1000:g} ms ticker for {seconds:g} s x {rounds}"
        f" rounds, pushes every {PUSH_INTERVAL} s, load average {os.getloadavg()[0]:.1f}"
    )
    for side, runs in results.items():
        med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        line = (
            f"   {side:13} lag p50 {med['p50']:6.2f} ms  p99 {med['p99']:6.2f} ms"
            f"  max {med['max']:7.2f} ms  ({med['ticks']:.0f} ticks, {med['tasks']:.0f} tasks,"
            f" CPU {med['cpu']:.0%} of a core)"
        )
        if side == "instrumented":
            line += (
                f"; stored {med['pushes']:.0f} pushes of {med['nodes']:.0f} nodes per run"
                f" (the peepsweb server's CPU meanwhile: {med['server_cpu']:.0%} of a core)"
            )
        print(line)
    ratios = sorted(
        i["p99"] / p["p99"] for p, i in zip(results["plain"], results["instrumented"], strict=True)
    )
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio <= 2 else "OVER"
    print(f"   per-round ratios of p99: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"   => p99 instrumented/plain (median of rounds): {ratio:.2f}x (target <= 2x) {verdict}")


# -- 3. aiohttp: the program ------------------------------------------------------------


class Service:
    """What the aiohttp program's handler does for a request, HTTP aside
    (figure 4 runs it alone)."""

    def __init__(self):
        self.pool = asyncio.Semaphore(8)  # like a database connection pool
        self.counter_lock = asyncio.Lock()
        self.audit = asyncio.Queue(maxsize=1000)
        self.hits = 0

    async def handle(self, path):
        async with self.pool:
            await asyncio.sleep(0)  # the "query": a suspension with the permit held
        async with self.counter_lock:
            self.hits += 1
            count = self.hits
        await self.audit.put(path)
        return count

    async def auditor(self):
        while True:
            await self.audit.get()
            self.audit.task_done()


async def handler_load(n_requests, snapshot=None, connections=32):
    """Figure 4: n_requests through Service.handle from `connections`
    concurrent "connections", each request its own task made as aiohttp
    makes them on 3.12+ (asyncio.Task(..., eager_start=True), which never
    reaches create_task); one snapshot in the middle, as figure 1 takes."""
    service = Service()
    drain = asyncio.create_task(service.auditor())
    loop = asyncio.get_running_loop()
    per_connection = n_requests // connections

    async def connection(c):
        for i in range(per_connection):
            await asyncio.Task(service.handle("/"), loop=loop, eager_start=True)
            if snapshot is not None and c == 0 and i == per_connection // 2:
                snapshot()

    await asyncio.gather(*(connection(c) for c in range(connections)))
    drain.cancel()


async def aiohttp_program():
    """Serves on a free port (printed) until stdin closes."""
    from aiohttp import web

    service = Service()

    async def handle(request):
        return web.json_response({"hits": await service.handle(request.path)})

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, backlog=128).start()
    drain = asyncio.create_task(service.auditor())
    print(sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    drain.cancel()
    await runner.cleanup()


# -- 3. aiohttp: the measurement ----------------------------------------------------------


def load_program(port, connections, seconds):
    """The load generator (a child process): `connections` keep-alive
    HTTP/1.1 connections, each sending its next GET as soon as the answer
    to the last one is in, for `seconds`. Raw sockets and one selector, no
    asyncio: a few microseconds of Python per request, so on a 2-core
    machine it takes one core and leaves the server the other. Prints one
    JSON line: requests answered in the window, and how many were not 200."""
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    length_re = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
    sel = selectors.DefaultSelector()
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, bytearray())
        sock.sendall(request)
    answered = not_ok = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for key, _events in sel.select(timeout=0.1):
            sock, buf = key.fileobj, key.data
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection")
            buf += data
            # Every complete answer in the buffer (one usually) is counted
            # and followed by the connection's next request.
            while (head_end := buf.find(b"\r\n\r\n")) >= 0:
                head = bytes(buf[:head_end])
                total = head_end + 4 + int(length_re.search(head).group(1))
                if len(buf) < total:
                    break
                not_ok += not head.startswith(b"HTTP/1.1 200")
                del buf[:total]
                answered += 1
                sock.sendall(request)
    print(json.dumps({"answered": answered, "not_ok": not_ok}), flush=True)
    for key in list(sel.get_map().values()):
        key.fileobj.close()


def load(port, connections, seconds):
    """Requests/s the load generator (load_program, in its own process) got
    answered by the server on `port`."""
    out = subprocess.run(
        program_command("plain", "load", str(port), str(connections), str(seconds)),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    result = json.loads(out.splitlines()[-1])
    if result["not_ok"]:
        raise RuntimeError(f"{result['not_ok']} answers were not 200")
    return result["answered"] / seconds


def aiohttp_load(url, rounds, seconds, connections):
    # Both servers stay up for the whole part and the load generator loads one at a time,
    # alternating: adjacent runs see the same machine (on a shared one the
    # CPU left to us drifts over seconds), and no run pays a process start.
    # The idle one costs next to nothing (the instrumented one pushes a
    # snapshot of a dozen tasks every 0.5 s).
    before, started = stored_snapshots(url)[0], time.monotonic()
    servers, ports = {}, {}
    try:
        for side in ("plain", "instrumented"):
            servers[side] = subprocess.Popen(
                program_command(side, "aiohttp"),
                env=program_env(url),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            ports[side] = int(servers[side].stdout.readline())
            load(ports[side], connections, WARMUP)

        def measure(side):
            cpu = cpu_seconds(servers[side].pid)
            rate = load(ports[side], connections, seconds)
            cpu = (cpu_seconds(servers[side].pid) - cpu) / seconds
            return {"rate": rate, "cpu": cpu, "cpu_per_request": cpu / rate}

        results = rounds_of(rounds, measure)
        pushes = stored_snapshots(url)[0] - before
        pushing = time.monotonic() - started
    finally:
        for server in servers.values():
            server.stdin.close()
            server.wait(30)
    print(
        f"\n3. aiohttp: {connections} keep-alive connections, {seconds:g} s x {rounds} rounds,"
        f" pushes every {PUSH_INTERVAL} s, load average {os.getloadavg()[0]:.1f}"
    )
    for side, runs in results.items():
        rate = statistics.median(run["rate"] for run in runs)
        cpu = statistics.median(run["cpu"] for run in runs)
        per_request = statistics.median(run["cpu_per_request"] for run in runs)
        print(
            f"   {side:13} {rate:8.0f} requests/s  (server CPU {cpu:.0%} of a core,"
            f" {per_request * 1e6:.0f} us per request)"
        )
    print(f"   stored {pushes} pushes of the instrumented server in {pushing:.0f} s")
    pairs = list(zip(results["plain"], results["instrumented"], strict=True))
    # Other processes taking the CPU from the server lower its requests/s,
    # not its CPU per request: the steadier of the two figures.
    cost = statistics.median(i["cpu_per_request"] / p["cpu_per_request"] for p, i in pairs)
    print(f"   server CPU per request instrumented/plain (median of rounds): {cost:.3f}x")
    ratios = sorted(i["rate"] / p["rate"] for p, i in pairs)
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio >= 0.95 else "UNDER"
    print(f"   per-round ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"   => instrumented/plain (median of rounds): {ratio:.3f}x (target >= 0.95x) {verdict}")
    return 0


# -- the peepsweb server both figures push to ----------------------------------------------


def start_peepsweb():
    from bench.benchdb import setup_django
    from tests.support.processes import start_daphne

    setup_django("client-overhead")
    log_dir = tempfile.mkdtemp(prefix="peepsweb-bench-client-log-")
    # Every push kept, so that the bench can count them.
    env = dict(os.environ, PEEPSWEB_KEEP_SNAPSHOTS="100000", PYTHONUNBUFFERED="1")
    return start_daphne(env, Path(log_dir) / "daphne.log", timeout=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="figure 1: CPU time of short tasks")
    parser.add_argument("--loop-lag", action="store_true", help="figure 2: loop lag, 3,000 tasks")
    parser.add_argument("--aiohttp", action="store_true", help="figure 3: aiohttp requests/s")
    parser.add_argument(
        "--handler", action="store_true", help="figure 4: figure 3's handler, HTTP aside"
    )
    parser.add_argument("--requests", type=int, default=20000, help="figure 4: per run")
    parser.add_argument("--pull", action="store_true", help="figure 5: loop lag during a pull")
    parser.add_argument("--pulls", type=int, default=20, help="figure 5: pulls")
    parser.add_argument("--instructions", action="store_true", help="figure 1 under valgrind")
    parser.add_argument("--tasks", type=int, default=20000, help="figure 1: tasks per run")
    parser.add_argument("--rounds", type=int, default=30, help="figure 1: rounds")
    parser.add_argument("--lag-rounds", type=int, default=6, help="figure 2: rounds")
    parser.add_argument("--lag-seconds", type=int, default=8, help="figure 2: seconds per run")
    parser.add_argument("--http-rounds", type=int, default=10, help="figure 3: rounds")
    parser.add_argument("--http-seconds", type=int, default=3, help="figure 3: seconds per run")
    parser.add_argument("--connections", type=int, default=32, help="figure 3: connections")
    parser.add_argument("--one", choices=["none", "plain", "instrumented"], help=argparse.SUPPRESS)
    parser.add_argument("--program", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.program:  # a child: the program of figure 2 or 3
        if args.program[0] == "lag":
            asyncio.run(lag_program(float(args.program[1])))
        elif args.program[0] == "load":
            load_program(*(int(a) for a in args.program[1:3]), float(args.program[3]))
        else:
            asyncio.run(aiohttp_program())
        return 0
    if args.one:  # a single run, for --instructions
        # Imported in every mode, so that "none" (the baseline subtracted
        # from both sides) counts the import too.
        from peepsweb_client import aio  # noqa: F401

        if args.one == "plain":
            run_plain(args.tasks)
        elif args.one == "instrumented":
            run_instrumented(args.tasks, scan_stretch=VALGRIND_SLOWDOWN)
        return 0
    if args.instructions:
        return instructions(args.tasks)

    everything = not (args.cpu or args.loop_lag or args.aiohttp or args.handler or args.pull)
    status = 0
    if args.cpu or everything:
        cpu_time(args.tasks, args.rounds)
    if args.handler or everything:
        title = (
            f"4. CPU time: figure 3's handler, HTTP aside, {args.requests} requests from 32"
            f" connections x {args.rounds} rounds"
        )
        cpu_time(args.requests, args.rounds, handler_load, title, unit="request", target=None)
    if args.pull or everything:
        pull_figure(args.pulls)
    if args.loop_lag or args.aiohttp or everything:
        server = start_peepsweb()
        print(f"\npeepsweb server (daphne, SQLite) at {server.url}")
        try:
            if args.loop_lag or everything:
                loop_lag(server, args.lag_rounds, args.lag_seconds)
            if args.aiohttp or everything:
                status = aiohttp_load(
                    server.url, args.http_rounds, args.http_seconds, args.connections
                )
        except BaseException:
            print(f"--- server log ---\n{server.log()}")
            raise
        finally:
            server.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
