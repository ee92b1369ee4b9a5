"""`python -m peepsweb_client demo`: an asyncio program that really deadlocks.

Two bank transfers take the same two locks in opposite orders (a lock-order
inversion: each holds one and waits for the other, forever). A consumer that
books each job under account_a's lock is stuck behind them, so the producer
fills the bounded `jobs` queue and stalls on `put()`. A heartbeat task keeps
beating to show what healthy tasks look like.

Everything is instrumented with peepsweb_client.aio and pushed every few
seconds, so the dashboard shows the cycle
transfer_a_to_b -> account_b -> transfer_b_to_a -> account_a -> transfer_a_to_b.
"""

import asyncio

from peepsweb_client import aio

PROCESS = "peepsweb-demo"


async def transfer(name, first, second, amount, both_hold_one):
    async with first:
        both_hold_one.set()
        # Let the other transfer take its first lock too: the inversion bites.
        await asyncio.sleep(0.05)
        async with second:
            return f"{name}: moved {amount}"


async def producer(jobs):
    for n in range(1000):
        await jobs.put({"job": n})


async def consumer(jobs, ledger_lock):
    while True:
        job = await jobs.get()
        async with ledger_lock:
            job["booked"] = True
        jobs.task_done()


async def heartbeat(beats):
    while True:
        beats.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.5)


async def scenario():
    """Start the stuck program; returns its tasks once the deadlock is set."""
    account_a = aio.Lock(name="account_a")
    account_b = aio.Lock(name="account_b")
    jobs = aio.Queue(maxsize=8, name="jobs")
    started = aio.Event(name="both_hold_one")
    beats = []
    tasks = [
        asyncio.create_task(
            transfer("a->b", account_a, account_b, 10, started), name="transfer_a_to_b"
        ),
        asyncio.create_task(
            transfer("b->a", account_b, account_a, 20, started), name="transfer_b_to_a"
        ),
    ]
    await started.wait()
    await asyncio.sleep(0.1)  # both transfers now hold one lock each and wait for the other
    tasks += [
        asyncio.create_task(consumer(jobs, account_a), name="consumer"),
        asyncio.create_task(producer(jobs), name="producer"),
        asyncio.create_task(heartbeat(beats), name="heartbeat"),
    ]
    await asyncio.sleep(0.1)
    return tasks


async def run(
    url=None, token=None, interval=2.0, duration=None, once=False, agent=False, out=print
):
    inst = aio.install(
        process=PROCESS,
        url=url,
        token=token,
        push_interval=None if once else interval,
        agent=agent,
    )
    tasks = await scenario()
    out(
        "deadlocked: transfer_a_to_b and transfer_b_to_a each hold one account lock and wait "
        "for the other;\n  the consumer waits on account_a, so the producer is stalled on the "
        "full 'jobs' queue."
    )
    # Past the 1 s pending threshold, so the snapshot carries pending traces.
    await asyncio.sleep(1.2)
    result = None
    if once:
        if inst.pusher is None:
            raise SystemExit("demo --once needs a server url")
        result = await asyncio.to_thread(inst.pusher.send, inst.snapshot())
        body = result.json() or {}
        out(
            f"pushed snapshot {body.get('snapshot_id')}: {body.get('nodes')} nodes, "
            f"{body.get('edges')} edges -> {url.rstrip('/')}/snapshots/{body.get('snapshot_id')}/"
        )
    else:
        if inst.pusher is not None:
            inst.pusher.push(inst.snapshot())
            out(
                f"pushing a snapshot every {interval:g}s to {url} "
                f"(open {url.rstrip('/')}/snapshots/live/)"
                + ("; answering Jump to now" if agent else "")
                + ". Ctrl-C to stop."
            )
        try:
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
        finally:
            if inst.pusher is not None:
                inst.pusher.push(inst.snapshot())
                await asyncio.to_thread(inst.pusher.flush, 5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    inst.uninstall()
    return result
