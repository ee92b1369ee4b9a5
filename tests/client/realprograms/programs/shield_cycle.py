"""A task waits, behind asyncio.shield, for a task that waits for it."""

import asyncio


async def guard(box):
    await asyncio.sleep(0.01)
    await asyncio.shield(box["worker"])


async def worker(box):
    await box["guard"]


async def main():
    box = {}
    box["guard"] = asyncio.create_task(guard(box), name="guard")
    box["worker"] = asyncio.create_task(worker(box), name="worker")
    await box["guard"]


asyncio.run(main())
