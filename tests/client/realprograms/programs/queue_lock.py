"""A producer holds a lock while it puts on a full queue; the consumer needs
that lock for each item it takes."""

import asyncio


async def producer(jobs, ledger):
    async with ledger:
        for i in range(10):
            await jobs.put(i)


async def consumer(jobs, ledger):
    while True:
        await jobs.get()
        async with ledger:
            jobs.task_done()


async def main():
    jobs = asyncio.Queue(maxsize=2)
    ledger = asyncio.Lock()
    await asyncio.gather(
        asyncio.create_task(producer(jobs, ledger), name="producer"),
        asyncio.create_task(consumer(jobs, ledger), name="consumer"),
    )


asyncio.run(main())
