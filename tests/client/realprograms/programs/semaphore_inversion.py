"""Two jobs take a Semaphore and a BoundedSemaphore in opposite orders."""

import asyncio


async def job(first, second):
    async with first:
        await asyncio.sleep(0.05)
        async with second:
            pass


async def main():
    db_pool = asyncio.Semaphore(1)
    cache_slots = asyncio.BoundedSemaphore(1)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(job(db_pool, cache_slots), name="reporter")
        tg.create_task(job(cache_slots, db_pool), name="indexer")


asyncio.run(main())
