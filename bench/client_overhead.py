"""Overhead of peepsweb.client.aio on a workload of many short tasks that
use locks and queues: the same workload, plain asyncio vs instrumented, in
the same run, rounds interleaved, median of each. Target: <= 1.3x.

    .venv/bin/python bench/client_overhead.py [--tasks 20000] [--rounds 7]

The instrumented run has everything a real install has on: the task
factory, instrumented Lock/Queue/Event, the pending-time scan every 250 ms,
and one snapshot taken in the middle of each run (it is not pushed: HTTP
happens on another thread and is not what is measured here).
"""

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peepsweb.client import aio  # noqa: E402


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


def run_instrumented(n):
    async def main():
        inst = aio.install(process="bench", pending_threshold=1.0)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    run_plain(2000)  # warm up imports and caches
    run_instrumented(2000)
    plain, instrumented, ratios = [], [], []
    for _ in range(args.rounds):
        # Interleaved, so both sides of each pair see the same machine load.
        p = run_plain(args.tasks)
        i = run_instrumented(args.tasks)
        plain.append(p)
        instrumented.append(i)
        ratios.append(i / p)
    n = args.tasks
    print(f"workload: {n} short tasks x {args.rounds} rounds (8 locks, queue maxsize 64), CPU time")
    for name, runs in (("plain asyncio", plain), ("instrumented", instrumented)):
        best, median = min(runs), statistics.median(runs)
        print(
            f"{name:14}: best {best * 1000:7.1f} ms ({best / n * 1e6:5.2f} us/task)  "
            f"median {median * 1000:7.1f} ms"
        )
    ratio = statistics.median(ratios)
    print(f"ratio of best runs: {min(instrumented) / min(plain):.2f}x")
    verdict = "OK" if ratio <= 1.3 else "OVER"
    print(
        f"ratio instrumented/plain (median of paired rounds): {ratio:.2f}x "
        f"(target <= 1.30x) {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
