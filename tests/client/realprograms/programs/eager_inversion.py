"""Lock inversion between eager tasks (asyncio.eager_task_factory)."""

import asyncio


async def transfer(first, second):
    async with first:
        await asyncio.sleep(0.05)
        async with second:
            pass


async def main():
    asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    account_a, account_b = asyncio.Lock(), asyncio.Lock()
    await asyncio.gather(
        asyncio.create_task(transfer(account_a, account_b), name="eager_a_to_b"),
        asyncio.create_task(transfer(account_b, account_a), name="eager_b_to_a"),
    )


asyncio.run(main())
