"""A task gathers two tasks, one of which waits for it."""

import asyncio


async def fetch(box):
    await asyncio.sleep(0.01)
    await box["coordinator"]


async def coordinator(box):
    await asyncio.sleep(0.01)
    await asyncio.gather(box["fetch_a"], box["fetch_b"])


async def main():
    box = {}
    box["coordinator"] = asyncio.create_task(coordinator(box), name="coordinator")
    box["fetch_a"] = asyncio.create_task(fetch(box), name="fetch_a")
    box["fetch_b"] = asyncio.create_task(asyncio.sleep(3600), name="fetch_b")
    await box["coordinator"]


asyncio.run(main())
