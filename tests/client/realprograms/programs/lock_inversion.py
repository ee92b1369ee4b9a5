"""Two transfers take two plain asyncio.Locks in opposite orders."""

import asyncio


async def transfer(first, second):
    async with first:
        await asyncio.sleep(0.05)
        async with second:
            pass


async def main():
    account_a = asyncio.Lock()
    account_b = asyncio.Lock()
    await asyncio.gather(
        asyncio.create_task(transfer(account_a, account_b), name="transfer_a_to_b"),
        asyncio.create_task(transfer(account_b, account_a), name="transfer_b_to_a"),
    )


asyncio.run(main())
