"""A TaskGroup child awaits the task that owns its group."""

import asyncio


async def child(owner):
    await owner


async def owner():
    async with asyncio.TaskGroup() as tg:
        tg.create_task(child(asyncio.current_task()), name="child")


async def main():
    await asyncio.create_task(owner(), name="owner")


asyncio.run(main())
