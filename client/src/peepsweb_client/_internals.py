"""Every read of asyncio's private internals, and the in-place patches of its
classes, in one module.

Checked against CPython 3.12 and 3.13 (both tested in CI); the 3.14 path uses
the public call-graph API (`asyncio.capture_call_graph`) where 3.14 has it.
The rest of the client asks this module, never asyncio's underscored names.

The patches instrument the classes the program already uses, in place:
`asyncio.Lock`, `Semaphore` (and `BoundedSemaphore`), `Event`, `Condition`
and `Queue` (and `PriorityQueue`, `LifoQueue`, subclasses included) learn
who holds them, who recently put and got, where each was made, and report
the wakes they cause; `BaseEventLoop.create_task` learns each task's parent
and spawn site. Each patch calls asyncio's own method for the real work, so
behaviour is asyncio's; `unpatch()` puts every original back.
"""

import asyncio
import sys
import time
import types
import weakref
from asyncio import base_events, locks, queues, taskgroups
from asyncio import futures as _futures
from asyncio import tasks as _tasks

PY = sys.version_info[:2]

_current_task = asyncio.current_task
_time_ns = time.time_ns
_weakref = weakref.ref
_Task = asyncio.Task
_GatheringFuture = getattr(_tasks, "_GatheringFuture", ())
_WAIT_CODE = getattr(getattr(_tasks, "_wait", None), "__code__", None)
RECENT = 4  # distinct recent putters / getters remembered per queue
MAX_CHAIN = 64  # coroutine frames walked per task


# -- tasks -----------------------------------------------------------------------------


def fut_waiter(task):
    """The future a suspended task waits on (None when it is not suspended)."""
    return task._fut_waiter


class ScanMark(int):
    """The serial of a scan, as left on a future by set_scan_mark (its own
    type: a cancel message a program passes is never taken for one)."""


def scan_mark(fut):
    """The ScanMark set_scan_mark left on `fut`, or None."""
    if type(fut) is not asyncio.Future:
        return None
    mark = fut._cancel_message
    return mark if type(mark) is ScanMark else None


def set_scan_mark(fut, mark):
    """Leave `mark` on a pending asyncio.Future without allocating anything:
    in its cancel message, which nothing reads before cancel() overwrites
    it (3.12, 3.13: C and Python futures alike). A setattr would make a
    __dict__ per future, thousands per scan, each counting towards the
    program's next garbage collection. False for other types (a Task, a
    third-party future): those cannot be marked."""
    if type(fut) is not asyncio.Future:
        return False
    if not fut.done():
        fut._cancel_message = mark
    return True


def live_members(weakset):
    """The objects of a WeakSet, from its set of weak references copied in
    one C call: safe against another thread changing it (no RuntimeError),
    and about twice as fast as iterating the WeakSet (a Python generator)."""
    return [x for ref in list(weakset.data) if (x := ref()) is not None]


def loop_tasks(loop):
    """Every task of `loop`, finished-but-referenced ones included on 3.12 and
    3.13 (asyncio.all_tasks leaves those out). It runs on the loop thread at
    every scan and capture: one comprehension over the registry's weak
    references."""
    if PY >= (3, 14):
        return list(asyncio.all_tasks(loop))
    refs = list(_tasks._scheduled_tasks.data)  # as in live_members
    tasks = [t for ref in refs if (t := ref()) is not None and t.get_loop() is loop]
    tasks += [t for t in list(_tasks._eager_tasks) if t.get_loop() is loop]
    return tasks


def waiting(tasks):
    """{task: the future it waits on} of the tasks that are suspended. A dict
    made in one comprehension: no tuple per task (on the loop thread every
    object that outlives the call counts towards the next garbage
    collection, which then walks the program's own young objects)."""
    return {t: w for t in tasks if (w := t._fut_waiter) is not None}


def waiter_task(fut):
    """The task whose wake-up callback sits on `fut` (a Task adds its bound
    wake-up method as a done callback of what it awaits)."""
    for cb, _ctx in fut._callbacks or ():
        owner = getattr(cb, "__self__", None)
        if isinstance(owner, asyncio.Task):
            return owner
    return None


def coro_chain(coro):
    """[(awaitable, code)] from the outermost coroutine to the innermost one
    that is suspended (following cr_await / gi_yieldfrom / ag_await).

    No coroutine frame is touched on the way: since 3.11 a coroutine's
    frame object is made on first access and lives as long as the
    coroutine, so a capture that asked every chain for its frames made
    thousands per push (one per short-lived coroutine: sleep, acquire,
    get...), each counting towards the program's next garbage collection:
    a collection of the program's young objects per push (bench/
    client_overhead.py --loop-lag). frame_of() makes one where it is
    needed: a line number or a local."""
    out = []
    while coro is not None and len(out) < MAX_CHAIN:
        code = getattr(coro, "cr_code", None)
        if code is not None:
            # A finished coroutine has no frame; asking costs a frame only
            # for one neither suspended nor running (not started yet).
            if not (coro.cr_suspended or coro.cr_running) and coro.cr_frame is None:
                break
            nxt = coro.cr_await
        else:
            frame = getattr(coro, "gi_frame", None)
            if frame is not None:
                nxt = coro.gi_yieldfrom
            else:
                frame = getattr(coro, "ag_frame", None)
                if frame is None:
                    break
                nxt = coro.ag_await
            code = frame.f_code
        out.append((coro, code))
        coro = nxt
    return out


def frame_of(link):
    """The frame of a chain link (a coroutine, generator or async generator
    from coro_chain, or a frame already); None once it has finished."""
    if isinstance(link, types.FrameType):
        return link
    for name in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(link, name, None)
        if frame is not None:
            return frame
    return None


def await_links(task):
    """[(code, link)] of a task's await chain, innermost first, where
    frame_of(link) is the frame: on 3.14+ from the public call graph
    (asyncio.capture_call_graph, which has made the frames), before it
    from the coroutines' cr_await links (which make none)."""
    if PY >= (3, 14):
        graph = asyncio.capture_call_graph(task, limit=MAX_CHAIN)
        if graph is None:
            return []
        return [(entry.frame.f_code, entry.frame) for entry in graph.call_stack]
    return [(code, coro) for coro, code in reversed(coro_chain(task.get_coro()))]


# -- what a future stands for -------------------------------------------------------------


def gather_children(fut):
    """The children of a gather() future, or None when it is not one."""
    if _GatheringFuture and isinstance(fut, _GatheringFuture):
        return list(fut._children or ())
    return None


def _inner_codes(fn, name):
    """The code of the function `name` defined in `fn` (a closure it makes)."""
    codes = [c for c in fn.__code__.co_consts if isinstance(c, types.CodeType)]
    return {c for c in codes if c.co_name == name}


_SHIELD_OUTER = _inner_codes(_tasks.shield, "_outer_done_callback")
# The callback wrap_future (run_in_executor, to_thread) leaves on its asyncio
# future: it cancels the concurrent.futures.Future the asyncio one mirrors.
_CHAIN_CHECK_CANCEL = _inner_codes(_futures._chain_future, "_call_check_cancel")


def mirrored(fut):
    """("shield", the inner awaitable) for an asyncio.shield() outer future,
    ("executor", the concurrent.futures.Future) for one wrap_future made
    (loop.run_in_executor, asyncio.to_thread), else None: read from the
    closure of the done callback each leaves on the future, in one pass
    over the callbacks (C futures make a list of them per read)."""
    for cb, _ctx in fut._callbacks or ():
        code = getattr(cb, "__code__", None)
        if code in _SHIELD_OUTER:
            return "shield", cb.__closure__[code.co_freevars.index("inner")].cell_contents
        if code in _CHAIN_CHECK_CANCEL:
            return "executor", cb.__closure__[code.co_freevars.index("source")].cell_contents
    return None


def _frames_above(frame, stop=None):
    """([(code, line)] of `frame` and its callers, innermost first, at most
    MAX_CHAIN, up to the frame running code `stop`; that frame or None).
    Copied as (code, line): a thread other than this one goes on running."""
    stack = []
    while frame is not None and len(stack) < MAX_CHAIN:
        if frame.f_code is stop:
            return stack, frame
        stack.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return stack, None


def thread_stack(ident):
    """[(code, line)] of what thread `ident` runs now, innermost first."""
    return _frames_above(sys._current_frames().get(ident))[0]


def executor_jobs():
    """{id(concurrent.futures.Future): (thread ident, the job's callable,
    [(code, line)] of the thread's frames above the job, innermost first)}
    of the jobs ThreadPoolExecutor threads are running now. (No thread pool
    before its module is imported.)"""
    jobs = {}
    pool = sys.modules.get("concurrent.futures.thread")
    if pool is None:
        return jobs
    run = pool._WorkItem.run.__code__
    for ident, frame in sys._current_frames().items():
        stack, job_frame = _frames_above(frame, run)
        item = job_frame.f_locals.get("self") if job_frame is not None else None
        if item is not None:
            jobs[id(item.future)] = (ident, item.fn, stack)
    return jobs


def _locals_of(link, code, name):
    """`name` in the frame of a chain link whose code is `code` (None when
    absent); the frame is made only here, for the few links that need it."""
    frame = frame_of(link)
    if frame is None or frame.f_code is not code:
        return None
    try:
        return frame.f_locals.get(name)
    except Exception:  # noqa: BLE001 (a frame being torn down)
        return None


_PRIMITIVE_FILES = {locks.__file__, queues.__file__}


def primitive_self(link, code):
    """The primitive (lock, queue...) whose method a chain link is, or None."""
    if code.co_filename not in _PRIMITIVE_FILES:
        return None
    return _locals_of(link, code, "self")


def taskgroup_children(link, code):
    """(TaskGroup, its unfinished tasks) when a chain link is a TaskGroup
    waiting in its exit for its children; None otherwise."""
    if code.co_name not in ("__aexit__", "_aexit"):
        return None
    tg = _locals_of(link, code, "self")
    if isinstance(tg, taskgroups.TaskGroup):
        return tg, [t for t in tg._tasks if not t.done()]
    return None


def as_completed_todo(link, code):
    """The futures an as_completed() step still waits for, when a chain link
    is that step (3.12: the _wait_for_one closure; 3.13: its method)."""
    if code.co_name != "_wait_for_one" or code.co_filename != _tasks.__file__:
        return None
    try:
        if PY >= (3, 13):
            return list(_locals_of(link, code, "self")._todo)
        # 3.12: the step sees only the queue of done futures; the patched
        # as_completed() left the set still to do on it.
        return list(_locals_of(link, code, "done").__dict__["_pw_todo"])
    except (KeyError, AttributeError, TypeError):
        return None


def wait_children(link, code):
    """The futures of an asyncio.wait() call suspended in a chain link, or None."""
    if code is _WAIT_CODE:
        return list(_locals_of(link, code, "fs") or ())
    return None


def loop_thread_id(loop):
    """The thread id of the thread running `loop` (None when not running)."""
    return getattr(loop, "_thread_id", None)


def task_exception(task):
    """The exception a finished, not cancelled task raised, or None."""
    return task._exception


# -- primitives -------------------------------------------------------------------------


_KINDS = ((locks.Lock, "lock"), (locks.Semaphore, "semaphore"), (locks.Event, "event"))
_KINDS += ((locks.Condition, "condition"), (queues.Queue, "queue"))
_kind_of_class = {}  # class -> node kind or None, for the captures (a few classes)


def primitive_kind(obj):
    """The node kind of an asyncio primitive, or None."""
    cls = type(obj)
    kind = _kind_of_class.get(cls, False)
    if kind is False:
        kind = next((k for base, k in _KINDS if issubclass(cls, base)), None)
        if len(_kind_of_class) > 1000:  # classes made on the fly
            _kind_of_class.clear()
        _kind_of_class[cls] = kind
    return kind


def bound_loop(obj):
    """The loop a primitive is bound to (None until something waited on it)."""
    return obj._loop


def is_active(obj, kind):
    """Whether a primitive has anything to show: held, waited on, or (a
    queue) holding items."""
    if kind == "lock" and obj._locked:
        return True
    if kind == "semaphore" and obj.__dict__.get("_pw_holders"):
        return True
    if kind == "queue":
        return obj.qsize() > 0 or _live(obj._putters) > 0 or _live(obj._getters) > 0
    return _live(obj._waiters) > 0


def waiter_ids(obj, kind):
    """[(ids of the waiter futures, operation)] of a primitive: ids, not the
    futures, which a capture would keep alive past the program's use (see
    aio._Capture). Copies made in one C call each: the pusher's thread may
    ask while the loop changes the deques (iterating a deque across
    bytecodes would then fail)."""
    if kind == "queue":
        return [(list(map(id, obj._putters)), "put"), (list(map(id, obj._getters)), "get")]
    op = "wait" if kind in ("event", "condition") else "acquire"
    return [(list(map(id, obj._waiters or ())), op)]


def describe(obj, kind):
    """(attrs, holders) of a primitive: its state in numbers, and the tasks
    holding it (a held lock, semaphore permits: task -> permits)."""
    if kind == "lock":
        holder = obj.__dict__.get("_pw_holder")
        held = obj._locked
        attrs = {
            "lock_kind": "mutex",
            "locked": held,
            "holder_count": 1 if held else 0,
            "waiter_count": _live(obj._waiters),
        }
        return attrs, ({holder: 1} if held and holder is not None else {})
    if kind == "semaphore":
        holders = obj.__dict__.get("_pw_holders") or {}
        attrs = {
            "permits_total": obj.__dict__.get("_pw_total", obj._value + sum(holders.values())),
            "permits_available": obj._value,
            "waiters": _live(obj._waiters),
            "holder_count": len(holders),
        }
        if isinstance(obj, locks.BoundedSemaphore):
            attrs["permits_total"] = obj._bound_value
        return attrs, dict(holders)
    if kind == "event":
        return {"is_set": obj._value, "waiters": _live(obj._waiters)}, {}
    if kind == "condition":
        lock = obj._lock
        attrs = {"waiters": _live(obj._waiters), "locked": lock.locked()}
        return attrs, {}
    size, maxsize = obj.qsize(), obj.maxsize
    attrs = {
        "size": size,
        "maxsize": maxsize,
        "queue_len": size,
        "capacity": maxsize if maxsize > 0 else None,
        "bounded": maxsize > 0,
        "full": obj.full(),
        "put_waiters": _live(obj._putters),
        "get_waiters": _live(obj._getters),
        "unfinished_tasks": obj._unfinished_tasks,
    }
    return attrs, {}


_NO_RECENT = {"put": {}, "get": {}}  # shared: a capture allocates nothing for it


def recent_tasks(obj, kind):
    """{"put": {task: at_ns}, "get": {...}}: the tasks that recently put on
    and got from a queue, with the time of each one's last put or get
    (empty for other primitives)."""
    if kind != "queue":
        return _NO_RECENT
    d = obj.__dict__
    return {"put": dict(d.get("_pw_putters") or {}), "get": dict(d.get("_pw_getters") or {})}


def condition_lock(obj):
    return obj._lock


def _live(waiters):
    return sum(1 for w in list(waiters or ()) if not w.done())  # a copy: see waiter_ids


# -- the patches ---------------------------------------------------------------------------
#
# Hooks the instrumentation sets (module globals, read on every call):
#   on_create(primitive): a primitive was just made (its site, its name).
#   on_task(loop, task): create_task just made `task` (parent, spawn site).

on_create = None
on_task = None

# asyncio's own methods, as they were when this module was imported.
_LOCK_INIT, _LOCK_ACQUIRE = locks.Lock.__init__, locks.Lock.acquire
_SEM_INIT, _SEM_ACQUIRE = locks.Semaphore.__init__, locks.Semaphore.acquire
_EVENT_INIT, _EVENT_SET = locks.Event.__init__, locks.Event.set
_COND_INIT, _COND_NOTIFY = locks.Condition.__init__, locks.Condition.notify
_QUEUE_INIT, _QUEUE_PUT_NOWAIT = queues.Queue.__init__, queues.Queue.put_nowait
_QUEUE_GET_NOWAIT = queues.Queue.get_nowait
_CREATE_TASK = base_events.BaseEventLoop.create_task
_AS_COMPLETED = _tasks.as_completed


def _noting_creation(init):
    """asyncio's __init__ of a primitive, then the on_create hook."""

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if on_create is not None:
            on_create(self)

    return __init__


# Where wakes are recorded: loop -> the deque of its instrumenter's raw
# wakes (flat: at_ns, weak reference to the waker task or None, weak
# reference to the woken task, at_ns, ...; see aio.Instrumenter). A loop
# that is not instrumented records none.
wake_logs = {}


def _note_wake(fut):
    """The task waiting on `fut` (None if none), with a wake recorded: the
    running task (None: a plain callback) wakes it. Called just before
    fut.set_result(), after which `fut` no longer names its waiter: a Task
    waiting on a future is its first done callback, as a rule (else every
    callback is looked at). It runs on every contended release, put, get,
    set and notify."""
    try:
        woken = fut._callbacks[0][0].__self__
    except (TypeError, IndexError, AttributeError):
        woken = None
    if type(woken) is not _Task:
        woken = waiter_task(fut)
        if woken is None:
            return None
    log = wake_logs.get(fut.get_loop())
    if log is not None:
        # Weak references (one per task, made once and shared): a wake must
        # not keep a finished task, and all it holds, alive until the wakes
        # are settled. In a web server that meant the last few hundred
        # requests' objects: the program's memory moved out of the CPU's
        # caches (docs/client.md, "What it costs the program").
        waker = _current_task()
        log.extend((_time_ns(), None if waker is None else _weakref(waker), _weakref(woken)))
    return woken


def _lock_acquire(self):
    # A lock held now is waited for by asyncio's own acquire, unwrapped (one
    # coroutine less per contended acquire): its holder is noted when
    # release wakes it (_lock_wake_up_first). Otherwise _lock_take. (An
    # acquire() made while the lock is held and awaited once it is free
    # takes it unseen: the lock then shows no holder, or, in the rarer case
    # that the last task woken for it was cancelled before it ran, that one.)
    if self._locked:
        return _LOCK_ACQUIRE(self)
    return _lock_take(self)


async def _lock_take(self):
    # asyncio's fast path (3.12, 3.13), with the holder noted; if the lock
    # was taken between acquire() and the await, asyncio's own acquire.
    waiters = self._waiters
    if not self._locked and (not waiters or all(w.cancelled() for w in waiters)):
        self._locked = True
        self._pw_holder = _current_task()
        return True
    return await _LOCK_ACQUIRE(self)


def _lock_release(self):
    # asyncio's release (3.12, 3.13), with the holder let go in line.
    if self._locked:
        self._locked = False
        self._pw_holder = None
        self._wake_up_first()
    else:
        raise RuntimeError("Lock is not acquired.")


# The three wake-ups below are asyncio's own (the same in 3.12 and 3.13),
# with the wake noted in line: they run on every contended release, put and
# get, where a call to asyncio's method and a helper or two cost the
# program as much again.


def _lock_wake_up_first(self):
    # On release, and when a woken waiter is cancelled before it runs: the
    # first waiter, unless it is done already.
    waiters = self._waiters
    if not waiters:
        return
    fut = waiters[0]
    if not fut.done():
        # The woken task takes the lock when it runs (asyncio lets no other
        # task take it first), so it is the holder from now on.
        self._pw_holder = _note_wake(fut)
        fut.set_result(True)


def _semaphore_init(self, *args, **kwargs):
    _SEM_INIT(self, *args, **kwargs)
    self._pw_total = self._value
    if on_create is not None:
        on_create(self)


async def _semaphore_acquire(self):
    if not self.locked():
        self._value -= 1
    else:
        await _SEM_ACQUIRE(self)
    # The permit's holder, noted in line (this runs on every acquire).
    task = _current_task()
    if task is not None:
        holders = self._pw_holders
        if holders is None:
            holders = self._pw_holders = {}
        holders[task] = holders.get(task, 0) + 1
    return True


def _semaphore_release(self):
    # asyncio's release (3.12, 3.13), then the holder's permit let go: the
    # running task's, or the oldest holder's when another task releases.
    self._value += 1
    self._wake_up_next()
    holders = self._pw_holders
    if holders:
        task = _current_task()
        n = holders.get(task)
        if n is None:
            task = next(iter(holders))
            n = holders[task]
        if n <= 1:
            del holders[task]
        else:
            holders[task] = n - 1


def _semaphore_wake_up_next(self):
    # The first waiter not done takes a permit. (3.13's callers use the
    # result, whether one was woken; 3.12's return None and ignore it.)
    waiters = self._waiters
    if not waiters:
        return False
    for fut in waiters:
        if not fut.done():
            self._value -= 1
            _note_wake(fut)
            fut.set_result(True)
            return True
    return False


def _event_set(self):
    # set() wakes every waiter not done yet, the first time.
    if not self._value:
        for fut in self._waiters:
            if not fut.done():
                _note_wake(fut)
    _EVENT_SET(self)


def _condition_notify(self, n=1):
    # notify() wakes up to n waiters not done yet, with the lock held (else
    # it raises and wakes none).
    if self.locked():
        for fut in [f for f in self._waiters if not f.done()][:n]:
            _note_wake(fut)
    _COND_NOTIFY(self, n)


def _noted(recent, task):
    """A queue's recent putters (getters), `recent` (None at first), with
    `task` noted now: a small dict of at most RECENT tasks with the time of
    each one's latest put (get), the first noted evicted first. It runs on
    every put and get."""
    if recent is None:
        recent = {}
    recent[task] = _time_ns()
    if len(recent) > RECENT:
        del recent[next(iter(recent))]
    return recent


def _queue_put_nowait(self, item):
    _QUEUE_PUT_NOWAIT(self, item)
    task = _current_task()
    if task is not None:
        self._pw_putters = _noted(self._pw_putters, task)


def _queue_get_nowait(self):
    item = _QUEUE_GET_NOWAIT(self)
    task = _current_task()
    if task is not None:
        self._pw_getters = _noted(self._pw_getters, task)
    return item


def _queue_wakeup_next(self, waiters):
    # The next waiter that is not done (cancelled ones are dropped).
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            _note_wake(fut)
            fut.set_result(None)
            break


def _as_completed(fs, *, timeout=None):
    # 3.12's as_completed is a generator whose steps await a private queue of
    # done futures; the set of futures still to do is a local of the
    # generator, read once it started and left on that queue for the steps.
    steps = _AS_COMPLETED(fs, timeout=timeout)
    for n, step in enumerate(steps):
        if n == 0:
            local = steps.gi_frame.f_locals
            if "done" in local and "todo" in local:
                local["done"]._pw_todo = local["todo"]
        yield step


def _create_task(self, coro, **kwargs):
    task = _CREATE_TASK(self, coro, **kwargs)
    if on_task is not None:
        on_task(self, task)
    return task


_PATCHES = [
    (locks.Lock, "__init__", _noting_creation(_LOCK_INIT)),
    (locks.Lock, "acquire", _lock_acquire),
    (locks.Lock, "release", _lock_release),
    (locks.Lock, "_wake_up_first", _lock_wake_up_first),
    (locks.Semaphore, "__init__", _semaphore_init),
    (locks.Semaphore, "acquire", _semaphore_acquire),
    (locks.Semaphore, "release", _semaphore_release),
    (locks.Semaphore, "_wake_up_next", _semaphore_wake_up_next),
    (locks.Event, "__init__", _noting_creation(_EVENT_INIT)),
    (locks.Event, "set", _event_set),
    (locks.Condition, "__init__", _noting_creation(_COND_INIT)),
    (locks.Condition, "notify", _condition_notify),
    (queues.Queue, "__init__", _noting_creation(_QUEUE_INIT)),
    (queues.Queue, "put_nowait", _queue_put_nowait),
    (queues.Queue, "get_nowait", _queue_get_nowait),
    (queues.Queue, "_wakeup_next", _queue_wakeup_next),
    (base_events.BaseEventLoop, "create_task", _create_task),
]
if PY < (3, 13):  # both names the program may call it by
    _PATCHES += [(_tasks, "as_completed", _as_completed), (asyncio, "as_completed", _as_completed)]

# In pending traces the patched methods read as asyncio's own.
for _cls, _name, _fn in _PATCHES:
    _fn.__qualname__ = f"{_cls.__name__}.{_name}"
    _fn.__name__ = _name
    _fn.__code__ = _fn.__code__.replace(co_name=_name, co_qualname=f"{_cls.__name__}.{_name}")


# What the patched methods note on a primitive, None until they do: class
# attributes, so that the hot paths read a plain attribute (primitives made
# before patch() have none of their own).
_NOTES = [
    (locks.Lock, "_pw_holder"),
    (locks.Semaphore, "_pw_holders"),
    (queues.Queue, "_pw_putters"),
    (queues.Queue, "_pw_getters"),
]


def patch():
    """Instrument asyncio's classes in place (idempotent)."""
    for cls, name, fn in _PATCHES:
        setattr(cls, name, fn)
    for cls, name in _NOTES:
        setattr(cls, name, None)


def unpatch():
    """Put asyncio's own methods back."""
    for cls, name, _fn in _PATCHES:
        setattr(cls, name, _ORIGINAL[cls, name])
    for cls, name in _NOTES:
        if name in cls.__dict__:
            delattr(cls, name)


_ORIGINAL = {(cls, name): cls.__dict__[name] for cls, name, _fn in _PATCHES}
