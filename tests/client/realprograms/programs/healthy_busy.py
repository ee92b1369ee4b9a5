"""A busy, healthy program: contended locks and semaphores, a flowing
bounded queue, events, conditions, timeouts, task groups, gathers and
shields. It never deadlocks; it runs until it is stopped."""

import asyncio
import random


async def account_work(locks):
    while True:
        # Always in the same order: contended, never inverted.
        async with locks[0]:
            async with locks[1]:
                await asyncio.sleep(random.random() / 500)


async def pooled(sem):
    while True:
        async with sem:
            await asyncio.sleep(random.random() / 500)


async def produce(jobs):
    n = 0
    while True:
        await jobs.put(n)
        n += 1


async def consume(jobs):
    while True:
        await jobs.get()
        await asyncio.sleep(random.random() / 1000)
        jobs.task_done()


async def ping(event, cond):
    while True:
        await asyncio.sleep(0.003)
        event.set()
        async with cond:
            cond.notify_all()


async def pong(event, cond):
    while True:
        await event.wait()
        event.clear()
        async with cond:
            try:
                await asyncio.wait_for(cond.wait(), timeout=0.05)
            except TimeoutError:
                pass


async def deadlines():
    while True:
        try:
            async with asyncio.timeout(0.005):
                await asyncio.sleep(1)
        except TimeoutError:
            pass


async def groups():
    while True:
        async with asyncio.TaskGroup() as tg:
            for _ in range(5):
                tg.create_task(asyncio.sleep(random.random() / 200))
        await asyncio.gather(*(asyncio.sleep(0.001) for _ in range(3)))
        await asyncio.shield(asyncio.create_task(asyncio.sleep(0.002)))


async def main():
    locks = [asyncio.Lock(), asyncio.Lock()]
    sem = asyncio.Semaphore(2)
    jobs = asyncio.Queue(maxsize=4)
    event, cond = asyncio.Event(), asyncio.Condition()
    async with asyncio.TaskGroup() as tg:
        for i in range(4):
            tg.create_task(account_work(locks), name=f"account{i}")
            tg.create_task(pooled(sem), name=f"pooled{i}")
        for i in range(2):
            tg.create_task(produce(jobs), name=f"producer{i}")
            tg.create_task(consume(jobs), name=f"consumer{i}")
        tg.create_task(ping(event, cond), name="ping")
        tg.create_task(pong(event, cond), name="pong")
        tg.create_task(deadlines(), name="deadlines")
        tg.create_task(groups(), name="groups")


asyncio.run(main())
