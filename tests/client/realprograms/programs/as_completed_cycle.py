"""A collector takes results as they complete, from a task that waits for
the collector."""

import asyncio


async def collect(box):
    await asyncio.sleep(0.01)
    for step in asyncio.as_completed([box["report"]]):
        await step


async def report(box):
    await box["collector"]


async def main():
    box = {}
    box["collector"] = asyncio.create_task(collect(box), name="collector")
    box["report"] = asyncio.create_task(report(box), name="report")
    await box["collector"]


asyncio.run(main())
