"""The hot paths kept cheap by caching and deferring (spawn sites, parents,
raw wakes, Queue's put/get written in one piece) still record exactly what
the plain versions did."""

import asyncio
import gc
import inspect
import itertools
import weakref

from peepsweb_client import aio

from .aio_helpers import Snap, run, settle, tid


def line_of(spawn_backtrace):
    return int(spawn_backtrace.split("\n")[1].rsplit(":", 1)[1])


def test_tasks_spawned_in_a_row_from_different_places_each_get_their_own_line():
    async def main(inst):
        async def nap():
            await asyncio.sleep(10)

        def spawn_via_helper(name):
            return asyncio.create_task(nap(), name=name)  # helper line

        here = inspect.currentframe().f_lineno
        tasks = [asyncio.create_task(nap(), name=f"loop{i}") for i in range(3)]  # here + 1
        tasks.append(asyncio.create_task(nap(), name="next_line"))  # here + 2
        tasks += [spawn_via_helper(f"helper{i}") for i in range(2)]  # here + 3
        gathered = asyncio.gather(nap(), nap())  # here + 4
        tasks.append(asyncio.get_running_loop().create_task(nap(), name="loop_method"))  # + 5
        await settle()
        snap = Snap(aio.snapshot())
        for t in tasks:
            t.cancel()
        gathered.cancel()
        await asyncio.gather(*tasks, gathered, return_exceptions=True)
        return snap, here, spawn_via_helper.__code__.co_firstlineno + 1

    snap, here, helper_line = run(main)
    lines = {
        n["attrs"]["name"]: line_of(n["attrs"]["spawn_backtrace"])
        for n in snap.doc["nodes"]
        if n["kind"] == "task" and "spawn_backtrace" in n["attrs"]
    }
    assert [lines[f"loop{i}"] for i in range(3)] == [here + 1] * 3
    assert lines["next_line"] == here + 2
    assert [lines[f"helper{i}"] for i in range(2)] == [helper_line] * 2
    gather_children = [v for k, v in lines.items() if k.startswith("Task-") and v != here]
    assert gather_children == [here + 4] * 2
    assert lines["loop_method"] == here + 5


def test_children_of_different_parents_in_turn_name_the_right_parent():
    async def main(inst):
        async def parent(i):
            child = asyncio.create_task(asyncio.sleep(10), name=f"child{i}")
            await child

        parents = [asyncio.create_task(parent(i), name=f"parent{i}") for i in range(3)]
        await settle()
        snap = Snap(aio.snapshot())
        for p in parents:
            p.cancel()
        await asyncio.gather(*parents, return_exceptions=True)
        return snap

    snap = run(main)
    for i in range(3):
        assert snap.task(f"child{i}")["attrs"]["parent_task_id"] == tid(snap.task(f"parent{i}"))


def test_wake_records_do_not_keep_finished_tasks_alive_past_a_snapshot():
    async def main(inst):
        lock = aio.Lock(name="l")

        async def worker():
            async with lock:
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(worker()) for _ in range(3)]
        await asyncio.gather(*tasks)
        refs = [weakref.ref(t) for t in tasks]
        del tasks
        snap = Snap(aio.snapshot())  # settles the raw wakes: ids, not tasks
        gc.collect()
        return snap, refs

    snap, refs = run(main)
    assert len(snap.wakes()) == 2  # each release but the last woke the next worker
    assert [r() for r in refs] == [None, None, None]


async def lock_relay(lock, n, name="w"):
    """n tasks through one lock, each holding it across a suspension: every
    release but the last wakes the next one. Returns the finished tasks."""

    async def worker():
        async with lock:
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(worker(), name=f"{name}{i}") for i in range(n)]
    await asyncio.wait(tasks)  # (gather's future would keep them all alive)
    return tasks


def test_a_burst_of_wakes_keeps_no_finished_task_alive():
    # Raw wakes hold weak references: before, each held its tasks (and all
    # they held) until the next scan tick settled it, up to RAW_WAKES of them.
    async def main(inst):
        lock = aio.Lock(name="l")
        tasks = await lock_relay(lock, aio.RAW_WAKES * 3)
        refs = [weakref.ref(t) for t in tasks]
        del tasks
        gc.collect()  # no snapshot, no scan tick in between
        recorded = len(inst.raw_wakes) // 3
        return sum(r() is not None for r in refs), recorded, Snap(aio.snapshot())

    alive, recorded, snap = run(main)
    assert alive == 0
    assert recorded == aio.RAW_WAKES  # the newest ones, still recorded
    # Settled after their tasks died: each wake still names two tasks, one id
    # per task (the waker of one wake is the task woken by the one before).
    wakes = snap.wakes()
    assert len(wakes) == aio.RAW_WAKES
    assert all(woken == waker for (_, woken), (waker, _) in itertools.pairwise(wakes))


def test_a_scan_tick_keeps_earlier_wakes_that_a_later_burst_would_push_out():
    async def main(inst):
        lock = aio.Lock(name="l")
        early = await lock_relay(lock, 3, name="early")
        inst._scan_tick()  # what the loop runs every scan_interval
        await lock_relay(lock, aio.RAW_WAKES * 2, name="late")
        return Snap(aio.snapshot()), early

    snap, _ = run(main)
    early = [tid(snap.task(f"early{i}")) for i in range(3)]
    assert (early[0], early[1]) in snap.wakes()
    assert (early[1], early[2]) in snap.wakes()
    assert len(snap.wakes()) <= 2 + aio.RAW_WAKES  # the burst: its newest RAW_WAKES


def test_a_getter_cancelled_after_its_wake_passes_it_on_and_no_item_is_lost():
    async def main(inst):
        q = aio.Queue(name="q")
        first = asyncio.create_task(q.get(), name="first")
        second = asyncio.create_task(q.get(), name="second")
        await settle()
        q.put_nowait("item")  # wakes first...
        first.cancel()  # ...which is cancelled before it runs: second gets the item
        await settle()
        snap = Snap(aio.snapshot())
        return snap, await second, first.cancelled()

    snap, item, first_cancelled = run(main)
    assert (item, first_cancelled) == ("item", True)
    second = tid(snap.task("second"))
    assert [w for w in snap.wakes() if w[1] == second]


def test_a_full_queue_put_waits_and_resumes_with_asyncio_semantics():
    async def main(inst):
        q = aio.Queue(maxsize=1, name="q")
        await q.put(1)
        putter = asyncio.create_task(q.put(2), name="putter")
        await settle()
        assert not putter.done() and q.full()
        assert await q.get() == 1
        await putter
        return q.get_nowait(), q.empty(), q._unfinished_tasks

    assert run(main) == (2, True, 2)


def test_a_queue_subclass_overriding_full_keeps_its_behaviour():
    class NeverFull(asyncio.Queue):
        def full(self):
            return False

    async def main(inst):
        q = NeverFull(maxsize=1)
        await q.put(1)
        await q.put(2)  # asyncio's put() asks full(): never waits
        return q.qsize()

    assert run(main) == 2
