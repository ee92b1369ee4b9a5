"""Awaits the way asyncio really chains them, with the stock classes only:
as_completed, wait_for, timeout, eager tasks, tasks made with asyncio.Task
directly, TaskGroup, shield; parents and spawn sites right or absent."""

import asyncio
import gc
import json
import threading
import time

from peepsweb_client import _internals as ai
from peepsweb_client import aio

from .aio_helpers import Snap, run, settle, tid


def test_as_completed_waits_on_the_futures_it_has_left():
    async def main(inst):
        slow = asyncio.create_task(asyncio.sleep(10), name="slow")
        quick = asyncio.create_task(asyncio.sleep(0), name="quick")

        async def collect():
            for step in asyncio.as_completed([slow, quick]):
                await step

        collector = asyncio.create_task(collect(), name="collector")
        await asyncio.sleep(0.05)
        snap = Snap(aio.snapshot())
        collector.cancel()
        slow.cancel()
        return snap

    snap = run(main)
    (future_id,) = snap.needs(snap.task("collector"))
    future = snap.nodes[future_id]
    assert future["label"] == "as_completed"
    assert snap.needs(future) == {snap.task("slow")["id"]: {}}


def test_wait_for_and_timeout_wait_on_the_awaited_task_itself():
    async def main(inst):
        target = asyncio.create_task(asyncio.sleep(10), name="target")

        async def bounded():
            await asyncio.wait_for(target, timeout=30)

        async def scoped():
            async with asyncio.timeout(30):
                await target

        tasks = [
            asyncio.create_task(bounded(), name="bounded"),
            asyncio.create_task(scoped(), name="scoped"),
        ]
        await settle()
        snap = Snap(aio.snapshot())
        for t in [*tasks, target]:
            t.cancel()
        return snap

    snap = run(main)
    target = snap.task("target")["id"]
    assert snap.needs(snap.task("bounded")) == {target: {"op": "await"}}
    assert snap.needs(snap.task("scoped")) == {target: {"op": "await"}}


def test_eager_tasks_keep_their_parent_and_their_childrens_parent():
    async def main(inst):
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        try:

            async def child():
                await asyncio.sleep(10)

            async def eager_parent():
                # Runs inside create_task (eagerly) and spawns before it returns.
                kid = asyncio.create_task(child(), name="kid")
                await kid

            parent = asyncio.create_task(eager_parent(), name="eager_parent")
            await settle()
            snap = Snap(aio.snapshot())
            parent.cancel()
            await asyncio.gather(parent, return_exceptions=True)
            return snap
        finally:
            loop.set_task_factory(None)

    snap = run(main)
    parent, kid = snap.task("eager_parent"), snap.task("kid")
    assert kid["attrs"]["parent_task_id"] == tid(parent)
    assert "parent_task_id" in parent["attrs"]  # main spawned it
    assert "asyncio.create_task(eager_parent()" in parent["attrs"]["spawn_backtrace"]


def test_a_task_made_with_asyncio_task_directly_has_no_parent_never_a_stale_one():
    async def main(inst):
        async def nap():
            await asyncio.sleep(10)

        # Many tasks come and go, so ids of dead tasks are there to be reused.
        for _ in range(200):
            t = asyncio.create_task(asyncio.sleep(0))
            await t
        del t
        gc.collect()
        loop = asyncio.get_running_loop()
        direct = [asyncio.Task(nap(), loop=loop, name=f"direct{i}") for i in range(50)]
        await settle()
        snap = Snap(aio.snapshot())
        for t in direct:
            t.cancel()
        return snap

    snap = run(main)
    for i in range(50):
        attrs = snap.task(f"direct{i}")["attrs"]
        assert "parent_task_id" not in attrs and "spawn_backtrace" not in attrs


def test_unnamed_tasks_keep_asyncios_names():
    # A task factory made Python 3.13.0 rename every unnamed task "None";
    # the instrumentation sets none, so names stay asyncio's own.
    async def main(inst):
        t = asyncio.create_task(asyncio.sleep(10))
        name = t.get_name()
        t.cancel()
        return name

    assert run(main).startswith("Task-")


def test_a_trace_follows_the_await_into_the_awaited_task():
    async def main(inst):
        lock = asyncio.Lock()
        await lock.acquire()

        async def worker():
            async with lock:
                pass

        async def boss(w):
            await w

        w = asyncio.create_task(worker(), name="worker")
        b = asyncio.create_task(boss(w), name="boss")
        await asyncio.sleep(0.4)
        snap = Snap(aio.snapshot())
        b.cancel()
        w.cancel()
        return snap

    snap = run(main, pending_threshold=0.2)
    (trace,) = snap.traces_of(snap.task("boss"))
    functions = [f.split("\n")[0] for f in trace["frames"]]
    # innermost first: where the worker it awaits is stuck, then its own await
    assert functions[0].endswith("worker [task worker]")
    assert functions[-1].endswith("boss")


class Collect:
    """A pusher that keeps what it is given (the body callables)."""

    def __init__(self):
        self.items = []
        self.dropped = 0

    def push(self, body):
        self.items.append(body)

    def body_of(self, chunks):
        return b"".join(chunks)

    def close(self, timeout=None):
        pass


def slices_of(monkeypatch, name):
    """{steps generator named `name` (held: no id reused): loop iterations
    Instrumenter._drive gave it}, filled as the instrumentation runs."""
    slices = {}
    drive = aio.Instrumenter._drive

    def counting(inst, steps, last_end=None):
        if steps.__name__ == name:
            slices[steps] = slices.get(steps, 0) + 1
        drive(inst, steps, last_end)

    monkeypatch.setattr(aio.Instrumenter, "_drive", counting)
    return slices


def a_waiter_and_3000_sleepers():
    """Must run on the loop: a task waiting on a held lock, and 3,000 more."""
    lock = asyncio.Lock()
    lock._locked = True  # held by nobody in particular: the waiter waits for good
    return [
        asyncio.create_task(lock.acquire(), name="waiter"),
        *(asyncio.create_task(asyncio.sleep(10)) for _ in range(3000)),
    ]


def test_the_periodic_push_is_built_on_the_loop_a_slice_at_a_time(monkeypatch):
    pusher = Collect()
    slices = slices_of(monkeypatch, "_push_steps")

    async def main(inst):
        tasks = a_waiter_and_3000_sleepers()
        # A push is built within about 0.35 s; up to 5 s on a machine whose
        # other work (the other database's test pass) takes the CPU.
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(pusher.items) >= 2:
                break
        for task in tasks:
            task.cancel()

    run(main, pusher=pusher, push_interval=0.1)
    assert pusher.items and all(callable(item) for item in pusher.items)
    # 3,000 tasks are far more than one slice (aio.SLICE_S) of the loop.
    assert slices and min(slices.values()) > 3
    snap = Snap(json.loads(pusher.items[-1]()))
    assert snap.needs(snap.task("waiter"))
    assert len(snap.doc["nodes"]) > 3000


def test_a_pull_from_another_thread_is_built_on_the_loop_a_slice_at_a_time(monkeypatch):
    """A pull (the agent's thread asking for "Jump to now") is built as the
    periodic push is: in one go, 3,000 tasks held the loop for 20-40 ms."""
    slices = slices_of(monkeypatch, "_pull_steps")

    async def main(inst):
        tasks = a_waiter_and_3000_sleepers()
        await settle()
        body = await asyncio.to_thread(inst.snapshot_json_threadsafe, 5.0, 42)
        for task in tasks:
            task.cancel()
        return Snap(json.loads(body))

    snap = run(main)
    # 3,000 tasks are far more than one slice (aio.SLICE_S) of the loop.
    assert slices and min(slices.values()) > 3
    assert snap.doc["snapshot_id"] == 42
    assert snap.needs(snap.task("waiter"))
    assert len(snap.doc["nodes"]) > 3000
    assert f"thread:{snap.doc['proc_key']}:loop" not in snap.nodes  # the loop was not blocked


def test_an_empty_queue_needs_its_recent_producer_and_a_full_one_its_consumer():
    async def main(inst):
        ledger = asyncio.Lock()
        inbox = asyncio.Queue()

        async def feeder():
            await inbox.put("first")  # noted as the queue's recent producer
            await asyncio.sleep(0.01)
            async with ledger:  # ...then needs the lock the worker holds
                await inbox.put("second")

        async def worker():
            await inbox.get()
            async with ledger:
                await inbox.get()  # waits on the empty queue holding the lock

        tasks = [
            asyncio.create_task(feeder(), name="feeder"),
            asyncio.create_task(worker(), name="worker"),
        ]
        await asyncio.sleep(0.05)
        snap = Snap(aio.snapshot())
        for t in tasks:
            t.cancel()
        return snap

    snap = run(main)
    feeder, worker = snap.task("feeder"), snap.task("worker")
    (queue_id,) = [i for i in snap.needs(worker) if i.startswith("queue:")]
    assert snap.needs(worker)[queue_id] == {"op": "get"}
    (edge,) = snap.needs(snap.nodes[queue_id]).items()
    assert edge[0] == feeder["id"]
    assert {k: v for k, v in edge[1].items() if k != "last_put_at_ns"} == {
        "queue": "empty",
        "role": "producer",
    }


def test_a_task_name_that_is_not_valid_unicode_does_not_stop_snapshots():
    async def main(inst):
        task = asyncio.create_task(asyncio.sleep(10), name="bad\ud800name")
        await settle()
        snap = Snap(inst.snapshot())
        task.cancel()
        return snap

    snap = run(main)
    assert snap.task("bad?name")


def test_a_loop_whose_callbacks_take_long_still_gets_its_pushes():
    pusher = Collect()

    async def main(inst):
        sleepers = [asyncio.create_task(asyncio.sleep(30)) for _ in range(3000)]

        async def hog():  # 50 ms of CPU per loop iteration
            while True:
                started = time.perf_counter()
                while time.perf_counter() - started < 0.05:
                    pass
                await asyncio.sleep(0)

        hogs = asyncio.create_task(hog())
        # Two pushes come within about 2 s; up to 8 s on a machine whose
        # other work takes the CPU from this test.
        for _ in range(80):
            await asyncio.sleep(0.1)
            if len(pusher.items) >= 2:
                break
        for task in [hogs, *sleepers]:
            task.cancel()

    run(main, pusher=pusher, push_interval=0.2)
    # At 0.1 ms a slice, a scan and a build of 3,000 tasks would take some
    # 300 iterations of 50 ms each (15 s): no push at all in 8 s.
    assert len(pusher.items) >= 2
    assert len(Snap(json.loads(pusher.items[-1]())).doc["nodes"]) > 3000


def test_a_snapshot_taken_during_a_periodic_scan_does_not_stop_the_pushes():
    pusher = Collect()

    async def main(inst):
        sleepers = [asyncio.create_task(asyncio.sleep(30)) for _ in range(3000)]
        # Snapshots on the loop while the periodic scans run in slices: each
        # one supersedes the scan in progress.
        stop = time.perf_counter() + 0.6
        while time.perf_counter() < stop:
            inst.snapshot()
            await asyncio.sleep(0)
        pushed = len(pusher.items)
        # Two more pushes come within about 0.6 s; up to 5 s on a busy machine.
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(pusher.items) > pushed + 1:
                break
        for task in sleepers:
            task.cancel()
        return pushed

    pushed_during = run(main, pusher=pusher, push_interval=0.1)
    assert len(pusher.items) > pushed_during + 1  # the pushes went on afterwards


def test_a_task_keeps_its_last_waker_after_the_wake_falls_out_of_the_wake_events(monkeypatch):
    monkeypatch.setattr(aio, "MAX_WAKE_EVENTS", 10)

    async def main(inst):
        lock = asyncio.Lock()
        await lock.acquire()

        async def waiter():
            async with lock:
                pass
            await asyncio.Event().wait()  # then waits for good

        task = asyncio.create_task(waiter(), name="waiter")
        await settle()
        lock.release()  # this task wakes the waiter
        await settle()
        for _ in range(30):  # 30 more wakes: the waiter's is not among the newest 10
            event = asyncio.Event()
            other = asyncio.create_task(event.wait())
            await settle()
            event.set()
            await settle()
            await other
        snap = Snap(inst.snapshot())
        task.cancel()
        return snap, asyncio.current_task().get_name()

    snap, main_name = run(main)
    assert len(snap.wakes()) == 10
    assert snap.task("waiter")["attrs"]["last_wake_from_task_id"] == tid(snap.task(main_name))


def test_a_task_awaiting_a_thread_pool_job_needs_the_thread_running_it():
    # run_in_executor and to_thread: the task's future needs the pool thread
    # running its job, shown with where that thread is now.
    gate = threading.Event()

    def blocking_job():
        gate.wait()

    def to_thread_job(n):
        gate.wait()
        return n

    async def main(inst):
        loop = asyncio.get_running_loop()
        a = asyncio.create_task(asyncio.to_thread(to_thread_job, 1), name="via_to_thread")
        b = asyncio.ensure_future(loop.run_in_executor(None, blocking_job))
        waiter = asyncio.create_task(asyncio.wait_for(b, 30), name="via_executor")
        for _ in range(100):  # until both jobs run in their threads
            await asyncio.sleep(0.01)
            if len(ai.executor_jobs()) >= 2:
                break
        snap = Snap(aio.snapshot())
        gate.set()
        await asyncio.gather(a, waiter)
        return snap

    snap = run(main)
    jobs = [("via_to_thread", "to_thread_job"), ("via_executor", "blocking_job")]
    for task_name, function in jobs:
        node = snap.task(task_name)
        path = [node]
        while node["kind"] != "thread":  # task -> (wait_for's task ->) future -> thread
            (nxt,) = snap.needs(node)
            node = snap.nodes[nxt]
            path.append(node)
        future, thread = path[-2], path[-1]
        assert future["label"] == "run_in_executor"
        assert future["attrs"]["function"].endswith(function)
        assert future["attrs"]["job"] == "running"
        assert function in thread["attrs"]["stack"]  # where the job is now
        assert thread["attrs"]["state"] == "running"
