"""Wake events name the task that released/set/put/got/notified and the
waiter it woke; pending traces appear once a task has waited past the
threshold, with its coroutine stack innermost first."""

import asyncio
import threading
import weakref

from peepsweb_client import _internals as ai
from peepsweb_client import aio

from .aio_helpers import Snap, run, settle, tid


def test_a_lock_release_records_the_releaser_waking_the_waiter():
    async def main(inst):
        lock = aio.Lock(name="l")
        go = asyncio.Event()

        async def holder():
            async with lock:
                await go.wait()

        async def waiter():
            async with lock:
                pass

        h = asyncio.create_task(holder(), name="holder")
        await settle()
        w = asyncio.create_task(waiter(), name="waiter")
        await settle()
        go.set()
        await asyncio.gather(h, w)
        return Snap(aio.snapshot())

    snap = run(main)
    holder, waiter = tid(snap.task("holder")), tid(snap.task("waiter"))
    # go.set() (a stock Event, instrumented too) woke the holder, whose
    # release woke the waiter.
    (main,) = [tid(n) for n in snap.doc["nodes"] if n["label"] == "run.<locals>.main"]
    assert snap.wakes() == [(main, holder), (holder, waiter)]
    assert {w["target_worker"] for w in snap.doc["wake_events"]} == {threading.get_native_id()}
    assert snap.task("waiter")["attrs"]["last_wake_from_task_id"] == tid(snap.task("holder"))


def test_an_uncontended_release_records_no_wake():
    async def main(inst):
        lock = aio.Lock(name="l")
        for _ in range(3):
            async with lock:
                pass
        return Snap(aio.snapshot())

    assert run(main).wakes() == []


def test_event_set_wakes_every_waiter_and_names_the_setter():
    async def main(inst):
        event = aio.Event(name="e")
        waiters = [asyncio.create_task(event.wait(), name=f"w{i}") for i in range(3)]
        await settle()

        async def setter():
            event.set()

        await asyncio.create_task(setter(), name="setter")
        await asyncio.gather(*waiters)
        return Snap(aio.snapshot())

    snap = run(main)
    setter = tid(snap.task("setter"))
    assert sorted(snap.wakes()) == sorted((setter, tid(snap.task(f"w{i}"))) for i in range(3))


def test_queue_put_wakes_a_getter_and_get_wakes_a_putter():
    async def main(inst):
        q = aio.Queue(maxsize=1, name="q")
        getter = asyncio.create_task(q.get(), name="getter")
        await settle()

        async def producer():
            await q.put("a")  # wakes getter; "a" stays until getter runs
            await q.put("b")  # the queue is full: waits; getter taking "a" wakes it
            await q.put("c")  # waits again until consumer takes "b"

        p = asyncio.create_task(producer(), name="producer")
        await settle()

        async def consumer():
            return q.get_nowait()  # wakes producer

        await asyncio.create_task(consumer(), name="consumer")
        await asyncio.gather(getter, p)
        return Snap(aio.snapshot())

    snap = run(main)
    ids = {n: tid(snap.task(n)) for n in ("getter", "producer", "consumer")}
    assert snap.wakes() == [
        (ids["producer"], ids["getter"]),
        (ids["getter"], ids["producer"]),
        (ids["consumer"], ids["producer"]),
    ]


def test_condition_notify_and_semaphore_release_record_wakes():
    async def main(inst):
        cond = aio.Condition(name="c")
        sem = aio.Semaphore(0, name="s")

        async def cond_waiter():
            async with cond:
                await cond.wait()

        cw = asyncio.create_task(cond_waiter(), name="cond_waiter")
        sw = asyncio.create_task(sem.acquire(), name="sem_waiter")
        await settle()

        async def notifier():
            async with cond:
                cond.notify()
            sem.release()

        await asyncio.create_task(notifier(), name="notifier")
        await asyncio.gather(cw, sw)
        return Snap(aio.snapshot())

    snap = run(main)
    n = tid(snap.task("notifier"))
    assert (n, tid(snap.task("cond_waiter"))) in snap.wakes()
    assert (n, tid(snap.task("sem_waiter"))) in snap.wakes()


def test_a_notify_without_the_lock_raises_and_records_no_wake():
    async def main(inst):
        cond = asyncio.Condition()

        async def cond_waiter():
            async with cond:
                await cond.wait()

        cw = asyncio.create_task(cond_waiter(), name="cond_waiter")
        await settle()
        try:
            cond.notify()  # asyncio refuses: the lock is not held
        except RuntimeError:
            pass
        else:
            raise AssertionError("notify() without the lock did not raise")
        snap = Snap(aio.snapshot())
        cw.cancel()
        return snap

    assert run(main).wakes() == []


def test_a_semaphore_released_by_another_task_frees_the_oldest_holders_permit():
    async def main(inst):
        sem = asyncio.Semaphore(3)
        done = asyncio.Event()

        async def holder():
            await sem.acquire()  # and never releases it itself
            await done.wait()

        first = asyncio.create_task(holder(), name="first")
        await settle()
        second = asyncio.create_task(holder(), name="second")
        await settle()

        async def releaser():
            async with sem:  # its own permit, released by itself
                pass
            sem.release()  # someone else's: the oldest holder's

        await asyncio.create_task(releaser(), name="releaser")
        snap = Snap(aio.snapshot())
        done.set()
        await asyncio.gather(first, second)
        return snap

    snap = run(main)
    (sem,) = [n for n in snap.doc["nodes"] if n["kind"] == "semaphore"]
    assert snap.needs(sem) == {snap.task("second")["id"]: {"held": True, "permits": 1}}
    assert sem["attrs"]["permits_available"] == 2


def test_a_wake_from_a_plain_callback_has_no_waker():
    async def main(inst):
        event = aio.Event(name="e")
        w = asyncio.create_task(event.wait(), name="w")
        await settle()
        asyncio.get_running_loop().call_soon(event.set)
        await w
        return Snap(aio.snapshot())

    snap = run(main)
    assert snap.wakes() == [(None, tid(snap.task("w")))]


def test_no_pending_trace_before_the_threshold():
    async def main(inst):
        t = asyncio.create_task(asyncio.sleep(10), name="sleeper")
        await asyncio.sleep(0.05)
        snap = Snap(aio.snapshot())
        t.cancel()
        return snap

    snap = run(main, pending_threshold=1.0)
    assert snap.traces_of(snap.task("sleeper")) == []


def test_a_task_pending_past_the_threshold_gets_its_coroutine_stack():
    async def innermost(lock):
        async with lock:
            pass

    async def middle(lock):
        await innermost(lock)

    async def main(inst):
        lock = aio.Lock(name="l")
        await lock.acquire()
        t = asyncio.create_task(middle(lock), name="stuck")
        await asyncio.sleep(0.4)
        snap = Snap(aio.snapshot())
        t.cancel()
        return snap

    snap = run(main, pending_threshold=0.2)
    (trace,) = snap.traces_of(snap.task("stuck"))
    assert trace["duration_us"] >= 150_000  # waited ~0.4 s, seen to within a scan
    functions = [f.split("\n")[0] for f in trace["frames"]]
    # innermost first, the program's own frames only: its `async with lock`
    # line, not asyncio's acquire nor the instrumentation's
    assert functions == [
        "test_a_task_pending_past_the_threshold_gets_its_coroutine_stack.<locals>.innermost",
        "test_a_task_pending_past_the_threshold_gets_its_coroutine_stack.<locals>.middle",
    ]
    sources = []
    for frame in trace["frames"]:
        function, at, source = frame.split("\n")
        assert at.startswith("    at ") and at.rsplit(":", 1)[1].isdigit()
        sources.append(source)
    assert sources == ["    | async with lock:", "    | await innermost(lock)"]
    attrs = snap.task("stuck")["attrs"]
    assert attrs["pending_since_ns"] == trace["since_ns"]


def test_a_task_that_waits_on_is_the_same_node_in_the_next_capture():
    # SNAPSHOT_FORMAT v1.2: the server shares unchanged nodes between
    # captures, so nothing in a waiting task's node may grow on its own (a
    # pending duration, an age): it sends when the wait began.
    async def main(inst):
        t = asyncio.create_task(asyncio.Event().wait(), name="stuck")
        await asyncio.sleep(0.3)  # past a scan tick: the wait has its start
        first = Snap(aio.snapshot())
        await asyncio.sleep(0.3)
        second = Snap(aio.snapshot())
        t.cancel()
        return first, second

    first, second = run(main, pending_threshold=0.2)
    assert "pending_since_ns" in first.task("stuck")["attrs"]
    assert first.task("stuck") == second.task("stuck")


def test_scans_keep_no_waited_future_alive_after_its_wait():
    # A scan's view holding the futures of the waits it saw freed them all
    # at once at the next scan: the program's garbage collections then ran
    # several times as often (bench/client_overhead.py --loop-lag).
    async def main(inst):
        fut = asyncio.get_running_loop().create_future()

        async def waiter(f):
            await f

        t = asyncio.create_task(waiter(fut), name="w")
        await settle()
        inst.scan(now_ns=1_000)
        inst.scan(now_ns=2_000)
        seen_again = inst.wait_since[t] == 1_000
        ref = weakref.ref(fut)
        fut.set_result(None)
        await t
        del fut
        return seen_again, ref

    seen_again, ref = run(main, pending_threshold=100)
    assert seen_again  # the same wait, from the first scan that saw it
    assert ref() is None  # freed by reference counting, no scan in between


def test_a_new_future_at_a_freed_ones_address_starts_a_new_wait():
    # Scans remember a wait by its future's id: a future that takes a freed
    # one's address must not continue the old wait. Reusing an address
    # cannot be forced, so the last view is given the new future's id.
    async def main(inst):
        old, new = asyncio.Event(), asyncio.Event()

        async def waiter():
            await old.wait()
            await new.wait()

        t = asyncio.create_task(waiter(), name="w")
        await settle()
        inst.scan(now_ns=1_000)
        inst.scan(now_ns=2_000)  # the same wait, from 1_000
        same = inst.wait_since[t]
        old.set()
        await settle()
        inst.wait_futs = {t: id(ai.fut_waiter(t))}  # as if at the old one's address
        inst.scan(now_ns=3_000)
        moved_on = inst.wait_since[t]
        inst.scan(now_ns=4_000)
        again = inst.wait_since[t]
        t.cancel()
        return same, moved_on, again

    assert run(main, pending_threshold=100) == (1_000, 3_000, 3_000)


def test_a_new_future_at_a_freed_ones_address_is_another_node():
    # A future node's id was its address: a later future at the same address
    # was "the same node" to history (its diff, timeline, stuck-since). It
    # happens often, but cannot be forced: here one future stays (the same
    # node in every capture) and is then made to look new, as a future at
    # its address would be (no scan has seen it).
    async def main(inst):
        fut = asyncio.get_running_loop().create_future()
        t = asyncio.create_task(asyncio.wait_for(fut, 30), name="w")
        await settle()
        ids = []
        for _ in range(2):
            snap = Snap(aio.snapshot())
            ids.append([n["id"] for n in snap.doc["nodes"] if n["kind"] == "future"])
        fut._cancel_message = None  # what a new future carries
        snap = Snap(aio.snapshot())
        ids.append([n["id"] for n in snap.doc["nodes"] if n["kind"] == "future"])
        fut.set_result(None)
        await t
        return ids

    (first,), (again,), (new,) = run(main)
    assert first == again
    assert new != first


def test_a_long_wait_that_ended_keeps_its_trace_with_its_duration():
    async def main(inst):
        event = aio.Event(name="e")
        t = asyncio.create_task(event.wait(), name="was_stuck")
        await asyncio.sleep(0.35)
        event.set()
        await t
        await asyncio.sleep(0.1)
        return Snap(aio.snapshot())

    snap = run(main, pending_threshold=0.1)
    (trace,) = snap.traces_of(snap.task("was_stuck"))
    assert 100_000 <= trace["duration_us"] <= 2_000_000
