"""asyncio instrumentation: task nodes and the `needs` edges read from what
each task is really suspended on, in real asyncio programs."""

import asyncio
import sys

import pytest
from peepsweb_client import aio

from .aio_helpers import Snap, run, settle, tid


def test_a_task_awaiting_another_task_needs_it():
    async def main(inst):
        child = asyncio.create_task(asyncio.sleep(10), name="child")

        async def parent_body():
            await child

        parent = asyncio.create_task(parent_body(), name="parent")
        await settle()
        snap = Snap(aio.snapshot())
        parent.cancel()
        child.cancel()
        return snap

    snap = run(main)
    parent, child = snap.task("parent"), snap.task("child")
    assert snap.needs(parent) == {child["id"]: {"op": "await"}}
    assert parent["attrs"]["state"] == "pending"
    # The child sleeps: it needs a future labelled after the coroutine
    # awaiting it (its code: reading its frame for the delay would make a
    # frame object per sleeping task and push, see coro_chain).
    (future_id,) = snap.needs(child)
    assert snap.nodes[future_id]["kind"] == "future"
    assert snap.nodes[future_id]["label"] == "sleep"


def test_a_task_waiting_for_a_lock_needs_the_lock_and_the_lock_needs_its_holder():
    async def main(inst):
        lock = aio.Lock(name="db_pool")
        release = asyncio.Event()

        async def hold():
            async with lock:
                await release.wait()

        async def want():
            async with lock:
                pass

        holder = asyncio.create_task(hold(), name="holder")
        await settle()
        waiter = asyncio.create_task(want(), name="waiter")
        await settle()
        snap = Snap(aio.snapshot())
        release.set()
        await asyncio.gather(holder, waiter)
        after = Snap(aio.snapshot())
        return snap, after

    snap, after = run(main)
    lock = snap.node("lock", "db_pool")
    holder, waiter = snap.task("holder"), snap.task("waiter")
    assert snap.needs(waiter) == {lock["id"]: {"op": "acquire"}}
    assert snap.needs(lock) == {holder["id"]: {"held": True}}
    assert lock["attrs"]["lock_kind"] == "mutex"
    assert (lock["attrs"]["holder_count"], lock["attrs"]["waiter_count"]) == (1, 1)
    # Once both are done the lock is free: a primitive nobody holds or
    # waits on has nothing to show, and is left out.
    assert not [n for n in after.doc["nodes"] if n["kind"] == "lock"]
    assert after.task("waiter")["attrs"]["state"] == "completed"


def test_a_lock_taken_after_waiting_names_its_new_holder():
    async def main(inst):
        lock = asyncio.Lock()
        first_go, second_go = asyncio.Event(), asyncio.Event()

        async def hold(go):
            async with lock:
                await go.wait()

        first = asyncio.create_task(hold(first_go), name="first")
        await settle()
        second = asyncio.create_task(hold(second_go), name="second")
        await settle()  # second waits in acquire()
        early = lock.acquire()  # made while the lock is held, awaited later
        first_go.set()
        await settle()  # first released it; second took it and holds it
        snap = Snap(aio.snapshot())
        second_go.set()
        await asyncio.gather(first, second)
        await early  # free again by now: taken at once
        late = Snap(aio.snapshot())
        lock.release()
        return snap, late

    snap, late = run(main)
    (lock,) = [n for n in snap.doc["nodes"] if n["kind"] == "lock"]
    assert snap.needs(lock) == {snap.task("second")["id"]: {"held": True}}
    # The acquire() made while the lock was held and awaited once it was
    # free took it without its holder being seen: a held lock, no holder
    # named (rather than a wrong one).
    (lock,) = [n for n in late.doc["nodes"] if n["kind"] == "lock"]
    assert lock["attrs"]["locked"] is True
    assert late.needs(lock) == {}


def test_queue_getters_and_putters_need_the_queue_with_its_size_and_maxsize():
    async def main(inst):
        empty = aio.Queue(name="empty")
        full = aio.Queue(maxsize=2, name="full")
        full.put_nowait(1)
        full.put_nowait(2)
        getter = asyncio.create_task(empty.get(), name="getter")
        putter = asyncio.create_task(full.put(3), name="putter")
        await settle()
        snap = Snap(aio.snapshot())
        getter.cancel()
        putter.cancel()
        return snap

    snap = run(main)
    empty, full = snap.node("queue", "empty"), snap.node("queue", "full")
    assert snap.needs(snap.task("getter")) == {empty["id"]: {"op": "get"}}
    assert snap.needs(snap.task("putter")) == {full["id"]: {"op": "put"}}
    assert (
        full["attrs"].items() >= {"size": 2, "maxsize": 2, "full": True, "put_waiters": 1}.items()
    )
    assert (
        empty["attrs"].items()
        >= {"size": 0, "maxsize": 0, "get_waiters": 1, "capacity": None}.items()
    )


def test_event_semaphore_and_condition_waiters_need_them():
    async def main(inst):
        event = aio.Event(name="ready")
        sem = aio.Semaphore(1, name="slots")
        cond = aio.Condition(name="changed")
        await sem.acquire()  # held by main

        async def on_cond():
            async with cond:
                await cond.wait()

        tasks = [
            asyncio.create_task(event.wait(), name="on_event"),
            asyncio.create_task(sem.acquire(), name="on_sem"),
            asyncio.create_task(on_cond(), name="on_cond"),
        ]
        await settle()
        snap = Snap(aio.snapshot())
        for t in tasks:
            t.cancel()
        return snap

    snap = run(main)
    sem = snap.node("semaphore", "slots")
    assert snap.needs(snap.task("on_event")) == {snap.node("event", "ready")["id"]: {"op": "wait"}}
    assert snap.needs(snap.task("on_sem")) == {sem["id"]: {"op": "acquire"}}
    assert snap.needs(snap.task("on_cond")) == {
        snap.node("condition", "changed")["id"]: {"op": "wait"}
    }
    # The semaphore's permit is held by the main task (the running one).
    (main_task,) = [n for n in snap.doc["nodes"] if n["attrs"].get("state") == "running"]
    assert snap.needs(sem) == {main_task["id"]: {"held": True, "permits": 1}}
    assert (
        sem["attrs"].items() >= {"permits_total": 1, "permits_available": 0, "waiters": 1}.items()
    )


def test_gather_points_at_the_tasks_it_waits_for():
    async def main(inst):
        a = asyncio.create_task(asyncio.sleep(10), name="a")
        b = asyncio.create_task(asyncio.sleep(10), name="b")

        async def both():
            await asyncio.gather(a, b)

        waiter = asyncio.create_task(both(), name="waiter")
        await settle()
        snap = Snap(aio.snapshot())
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        return snap

    snap = run(main)
    (gather_id,) = snap.needs(snap.task("waiter"))
    assert snap.nodes[gather_id]["label"] == "gather"
    assert set(snap.needs(snap.nodes[gather_id])) == {snap.task("a")["id"], snap.task("b")["id"]}


def test_a_stock_asyncio_lock_is_instrumented_in_place_and_named_after_its_line():
    async def main(inst):
        plain = asyncio.Lock()  # the stock class, no name: named after this line
        await plain.acquire()

        async def want():
            async with plain:
                pass

        waiter = asyncio.create_task(want(), name="waiter")
        await settle()
        snap = Snap(aio.snapshot())
        waiter.cancel()
        return snap

    snap = run(main)
    (lock_id,) = snap.needs(snap.task("waiter"))
    lock = snap.nodes[lock_id]
    assert lock["kind"] == "lock"
    assert lock["attrs"]["locked"] is True
    assert lock["attrs"]["name"] == f"Lock@test_aio_edges.py:{_line_of('plain = asyncio.Lock()')}"
    assert "| plain = asyncio.Lock()" in lock["attrs"]["created_at"]
    (holder_id,) = snap.needs(lock)
    assert snap.nodes[holder_id]["attrs"]["coro"] == "run.<locals>.main"


def _line_of(text):
    with open(__file__) as f:
        return next(n for n, line in enumerate(f, 1) if text in line and "_line_of" not in line)


def test_tasks_carry_state_parent_and_spawn_location():
    async def main(inst):
        async def fail():
            raise ValueError("boom")

        async def spawner():
            inner = asyncio.create_task(asyncio.sleep(10), name="grandchild")
            await inner

        failed = asyncio.create_task(fail(), name="failed")
        cancelled = asyncio.create_task(asyncio.sleep(10), name="cancelled")
        done = asyncio.create_task(asyncio.sleep(0), name="done")
        child = asyncio.create_task(spawner(), name="child")
        await settle()
        cancelled.cancel()
        await settle()
        snap = Snap(aio.snapshot())
        child.cancel()
        await asyncio.gather(failed, child, return_exceptions=True)
        return snap, (failed, cancelled, done)

    snap, keep_alive = run(main)
    states = {
        name: snap.task(name)["attrs"]["state"]
        for name in ("failed", "cancelled", "done", "child", "grandchild")
    }
    assert states == {
        "failed": "failed",
        "cancelled": "cancelled",
        "done": "completed",
        "child": "pending",
        "grandchild": "pending",
    }
    assert "ValueError('boom')" in snap.task("failed")["attrs"]["exception"]
    child, grandchild = snap.task("child"), snap.task("grandchild")
    assert grandchild["attrs"]["parent_task_id"] == tid(child)
    (running,) = [n for n in snap.doc["nodes"] if n["attrs"].get("state") == "running"]
    assert child["attrs"]["parent_task_id"] == tid(running)
    assert grandchild["attrs"]["spawn_backtrace"].startswith(
        "test_tasks_carry_state_parent_and_spawn_location.<locals>.main.<locals>.spawner\n    at "
    )
    assert __file__ in grandchild["attrs"]["spawn_backtrace"]
    assert grandchild["attrs"]["spawned_at_ns"] > 0


def test_a_snapshot_never_emits_an_edge_to_a_node_it_did_not_emit():
    # A lock held by a task that already finished still needs a node for it.
    async def main(inst):
        lock = aio.Lock(name="leaked")

        async def take_and_leave():
            await lock.acquire()

        await asyncio.create_task(take_and_leave(), name="leaker")
        return Snap(aio.snapshot())

    snap = run(main)
    lock = snap.node("lock", "leaked")
    assert snap.needs(lock) == {snap.task("leaker")["id"]: {"held": True}}
    assert snap.task("leaker")["attrs"]["state"] == "completed"


def test_install_is_per_loop_sets_no_task_factory_and_uninstall_restores_asyncio():
    original = (asyncio.Lock.acquire, asyncio.Queue.put_nowait, asyncio.Event.set)

    async def main():
        loop = asyncio.get_running_loop()
        inst = aio.install(process="t")
        assert aio.install() is inst
        # No task factory (a factory renames unnamed tasks "None" on 3.13.0):
        # create_task itself is instrumented, in place.
        assert loop.get_task_factory() is None
        assert asyncio.Lock.acquire is not original[0]
        inst.uninstall()
        assert (asyncio.Lock.acquire, asyncio.Queue.put_nowait, asyncio.Event.set) == original
        with pytest.raises(RuntimeError):
            aio.snapshot()

    asyncio.run(main())


def test_a_snapshot_can_be_taken_from_another_thread_while_the_loop_is_blocked():
    import threading
    import time

    async def main(inst):
        blocker_started = threading.Event()
        result = {}

        def from_thread():
            blocker_started.wait()
            result["doc"] = inst.snapshot_threadsafe(timeout=0.2)

        thread = threading.Thread(target=from_thread)
        thread.start()
        blocker_started.set()
        time.sleep(0.6)  # the loop thread is blocked in synchronous code
        thread.join()
        return Snap(result["doc"])

    snap = run(main)
    thread = snap.nodes[f"thread:{snap.doc['proc_key']}:loop"]
    assert thread["attrs"]["state"] == "blocked"
    stack = thread["attrs"]["stack"]
    functions = [line for line in stack.splitlines() if not line.startswith("    ")]
    assert "time.sleep" not in functions  # a C call has no Python frame
    assert functions[0].endswith("_loop_is_blocked.<locals>.main")
    # Each frame with its source line, as in pending traces.
    assert "    | time.sleep(0.6)  # the loop thread is blocked in synchronous code" in stack


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
def test_it_works_under_the_eager_task_factory():
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        inst = aio.install(process="t")
        lock = aio.Lock(name="l")
        await lock.acquire()
        waiter = asyncio.create_task(lock.acquire(), name="eager_waiter")
        await settle()
        snap = Snap(aio.snapshot())
        waiter.cancel()
        inst.uninstall()
        assert loop.get_task_factory() is asyncio.eager_task_factory
        return snap

    snap = asyncio.run(main())
    assert snap.needs(snap.task("eager_waiter")) == {
        snap.node("lock", "l")["id"]: {"op": "acquire"}
    }
