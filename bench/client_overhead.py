"""Overhead of peepsweb_client.aio on a workload of many short tasks that
use locks and queues: the same workload, plain asyncio vs instrumented, in
the same run, rounds interleaved. Target: instrumented <= 1.3x plain.

    .venv/bin/python bench/client_overhead.py [--tasks 20000] [--rounds 30]
    .venv/bin/python bench/client_overhead.py --instructions   # needs valgrind

Each task takes one of 8 locks, holds it across a suspension (so locks are
contended and every release wakes a waiter), then puts an item on a bounded
queue drained by 4 consumers. That is close to the worst case for the
instrumentation: the tasks do nothing else, so its per-task and per-wake
costs are all there is to compare against.

The instrumented run has everything a real install has: the task factory
(parent, spawn site, spawn time of every task), instrumented Lock/Queue/
Event with wake events, the pending-time scan every 250 ms, and one snapshot
taken in the middle of each run (not pushed: HTTP happens on another thread
and is not what is measured).

Timing is CPU time of this process. On a busy machine the spread between
rounds is wide: the headline ratio is median vs median; best vs best and
the median of the per-round ratios (both sides of a round run back to back,
so they see the same machine) are printed too. `--instructions` counts
instructions under valgrind instead, which other processes cannot disturb
(the scan interval is stretched by valgrind's slowdown so that the same
number of scans happen per task as in a normal run).
"""

import argparse
import asyncio
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peepsweb_client import aio  # noqa: E402

VALGRIND_SLOWDOWN = 40  # roughly, for cachegrind without cache simulation


async def workload(n_tasks, Lock, Queue, Event, snapshot=None):
    locks = [Lock() for _ in range(8)]
    queue = Queue(maxsize=64)
    done = Event()
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


def run_plain(n):
    async def main():
        await workload(n, asyncio.Lock, asyncio.Queue, asyncio.Event)

    return timed(main)


def run_instrumented(n, scan_stretch=1):
    async def main():
        inst = aio.install(process="bench", pending_threshold=1.0)
        inst.scan_interval *= scan_stretch
        try:
            await workload(n, aio.Lock, aio.Queue, aio.Event, snapshot=inst.snapshot)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--instructions", action="store_true", help="count with valgrind")
    parser.add_argument("--one", choices=["none", "plain", "instrumented"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a single run, for --instructions
        if args.one == "plain":
            run_plain(args.tasks)
        elif args.one == "instrumented":
            run_instrumented(args.tasks, scan_stretch=VALGRIND_SLOWDOWN)
        return 0
    if args.instructions:
        return instructions(args.tasks)

    run_plain(2000)  # warm up imports and caches
    run_instrumented(2000)
    plain, instrumented = [], []
    for r in range(args.rounds):
        # Interleaved, so both sides see the same machine, round after round,
        # and each goes first in half the rounds (what ran just before leaves
        # its caches and heap behind).
        if r % 2 == 0:
            plain.append(run_plain(args.tasks))
            instrumented.append(run_instrumented(args.tasks))
        else:
            instrumented.append(run_instrumented(args.tasks))
            plain.append(run_plain(args.tasks))
    n = args.tasks
    print(
        f"workload: {n} short tasks x {args.rounds} rounds (8 locks, queue maxsize 64), "
        f"CPU time, load average {os.getloadavg()[0]:.1f}"
    )
    for name, runs in (("plain asyncio", plain), ("instrumented", instrumented)):
        best, median = min(runs), statistics.median(runs)
        print(
            f"{name:14}: best {best * 1000:7.1f} ms ({best / n * 1e6:5.2f} us/task)  "
            f"median {median * 1000:7.1f} ms"
        )
    best = min(instrumented) / min(plain)
    pairs = sorted(i / p for p, i in zip(plain, instrumented, strict=True))
    print(f"ratio best vs best: {best:.2f}x")
    print(
        f"per-round ratios (each round runs both sides back to back): median "
        f"{statistics.median(pairs):.2f}x, spread {pairs[0]:.2f}x..{pairs[-1]:.2f}x"
    )
    ratio = statistics.median(instrumented) / statistics.median(plain)
    verdict = "OK" if ratio <= 1.3 else "OVER"
    print(f"ratio instrumented/plain (median vs median): {ratio:.2f}x (target <= 1.30x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
