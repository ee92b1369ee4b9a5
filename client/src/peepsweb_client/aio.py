"""asyncio instrumentation: who waits on whom, measured, never guessed.

    from peepsweb_client import aio

    async def main():
        aio.install(url="http://127.0.0.1:8000", push_interval=5)   # on the running loop
        lock = aio.Lock(name="db_pool")          # drop-in asyncio.Lock
        ...
        doc = aio.snapshot()                     # a snapshot body, on demand

What a snapshot holds:

- every task of the loop as a `task` node: name, state (running, pending,
  scheduled, completed, failed, cancelled), parent task (the task that was
  running when it was created), spawn location, what it awaits;
- `needs` edges read from what each task is actually suspended on: asyncio
  keeps it in `task._fut_waiter`. When that future is a task, the edge goes
  to the task; when it is a waiter future of an instrumented Lock, Semaphore,
  Event, Condition or Queue, it goes to that primitive; `gather()` and
  `wait()` futures point at the children they wait for; any other future
  becomes a `future` node labelled with the coroutine frame awaiting it (and
  an uninstrumented asyncio primitive found as `self` of that frame becomes
  a node of its own). Held locks and semaphores point at their holders;
- wake events: which task released/set/put/notified and which waiter that
  woke, with the loop thread's native id as the worker;
- pending traces: the coroutine stack ("function\\n    at file:line", innermost
  first) of every task that stayed suspended on the same future longer than
  `pending_threshold` (1 s by default). A light scan on the loop notices how
  long each task has waited, so durations are exact to one scan interval.

Everything runs on the loop thread except HTTP, which a Pusher thread does.
The task state vocabulary uses "completed" (not "done") for tasks that
returned, so the dashboard's state classes recognise it.
"""

import asyncio
import collections
import concurrent.futures
import gc
import heapq
import itertools
import logging
import os
import re
import sys
import threading
import time
import weakref
from asyncio import tasks as _asyncio_tasks

from peepsweb_client.builder import SnapshotBuilder, default_process_name, format_frame

log = logging.getLogger("peepsweb_client")

_current_task = asyncio.current_task
_Task = asyncio.Task
_time_ns = time.time_ns
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_THIS_FILE = __file__
_DEFAULT_TASK_NAME = re.compile(r"Task-\d+")
_GatheringFuture = getattr(_asyncio_tasks, "_GatheringFuture", ())
_WAIT_CODE = getattr(getattr(_asyncio_tasks, "_wait", None), "__code__", None)

# id(loop) -> Instrumenter. A plain dict keyed by id (checked against
# inst.loop on use): looking a loop up in a WeakKeyDictionary makes a weakref
# per call, and this lookup runs on every contended release.
_INSTRUMENTERS = {}
_PRIMITIVES = weakref.WeakSet()
_task_ids = itertools.count(1)
_primitive_ids = itertools.count(1)
# id(code) -> (code, is_user_code), for finding the user frame that created
# a task or primitive without asyncio's frames and ours. Keyed by id: hashing
# a code object hashes its bytecode, far too slow for every create_task.
_code_is_user = {}

MAX_CHAIN = 64  # coroutine frames walked per task
MAX_DONE_TASKS = 1000  # finished-but-alive tasks reported per snapshot
MAX_WAKE_EVENTS = 2000
# Raw wakes (tasks, not ids) held between scan ticks. Small on purpose: each
# holds two tasks, and thousands of finished tasks kept alive cost a busy
# program about a third of the instrumentation's overhead (memory traffic,
# the cyclic GC). A loop waking faster than that between two ticks keeps the
# newest RAW_WAKES of each scan interval.
RAW_WAKES = 256
MAX_TRACE_HISTORY = 256
MAX_TEXT = 2000


# -- per-task bookkeeping ---------------------------------------------------------


# Per task: id(task) -> (task_id, parent_task_id, spawned_at_ns, site), where
# site is (code, lasti) of the spawning user frame (lasti: its instruction
# offset) as the frame has them, or None: nothing is computed per task (the
# line number is worked out only when a snapshot shows it; code objects are
# not tracked by the garbage collector, so neither are these tuples after
# their first collection), and tasks spawned from the same place in a row
# share one site tuple.
# Written by the task factory for every task the program creates, so it is
# a plain dict keyed by id: an attribute on the task would need a Task
# subclass (and awaiting a subclass leaves asyncio's C fast path), a
# WeakKeyDictionary a weakref each. Entries of dead tasks are dropped by the
# scan (prune_task_info); an id reused by a new task is overwritten by the
# factory.
_TASK_INFO = {}
TASK_ID, PARENT_ID, SPAWNED_AT, SITE = range(4)
_UNSET = object()


def _user_frame_depth(depth):
    """The depth, counted from the caller, of the first frame from `depth` up
    that is neither asyncio's nor this module's (past the stack's end if
    there is none). It runs for every task created, so it looks at module
    names (sys._getframemodulename builds no frame object; None past the
    end) and keeps its loop to a few bytecodes: skip[name] is True (look
    further), False (a user frame) or missing (not classified yet)."""
    modulename, skip = _getframemodulename, _skip_module
    d = depth + 1  # this function's own frame
    module = modulename(d)
    skipped = skip.get(module)
    while skipped is not False:
        if skipped is None:
            skipped = skip[module] = module is not None and module.startswith(_SKIP_MODULES)
            continue
        d += 1
        module = modulename(d)
        skipped = skip.get(module)
    return d - 1


def _caller_frame(depth):
    """The first frame, from `depth` up, that is neither asyncio's nor this
    module's (None if there is none); only that frame is materialized."""
    try:
        return sys._getframe(_user_frame_depth(depth + 1))
    except ValueError:  # ran out of frames
        return None


def _caller_frame_slow(depth):
    # Pythons without sys._getframemodulename (before 3.12).
    getframe = sys._getframe
    for d in range(depth + 1, depth + 12):
        try:
            f = getframe(d)
        except ValueError:
            return None
        code = f.f_code
        known = _code_is_user.get(id(code))
        if known is None or known[0] is not code:
            name = code.co_filename
            known = (code, not (name.startswith(_ASYNCIO_DIR) or name == _THIS_FILE))
            _code_is_user[id(code)] = known
        if known[1]:
            return f
    return None


def _find_site(d):
    """For the task factory: (depth, (code, lasti)) of the spawning frame, the
    first from depth `d` of the factory's frame up that is neither asyncio's nor
    this module's; (0, None) if there is none."""
    d = _user_frame_depth(d + 1)  # + 1: this function's own frame
    try:
        f = sys._getframe(d)
    except ValueError:  # ran out of frames
        return 0, None
    return d - 1, (f.f_code, f.f_lasti)


def _caller_site(depth):
    """(code, instruction offset) of _caller_frame(depth + 1), or None."""
    f = _caller_frame(depth + 1)
    return None if f is None else (f.f_code, f.f_lasti)


_getframemodulename = getattr(sys, "_getframemodulename", None)
_SKIP_MODULES = ("asyncio.", __name__)
_skip_module = {}  # module name -> whether spawn sites look past it
if _getframemodulename is None:
    _caller_frame = _caller_frame_slow  # noqa: F811


def _line_of(code, lasti):
    key = (id(code), lasti)
    known = _LINES.get(key)
    if known is not None and known[0] is code:
        return known[1]
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= lasti < end and number is not None:
            line = number
            break
    if len(_LINES) > 10_000:
        _LINES.clear()
    _LINES[key] = (code, line)
    return line


_LINES = {}  # (id(code), offset) -> (code, line number)


def _site_text(site):
    if site is None:
        return None
    code, lasti = site
    return format_frame(code.co_qualname, code.co_filename, _line_of(code, lasti))


def _site_place(site):
    """`file.py:42` of a site, for default names."""
    if site is None:
        return "?"
    code, lasti = site
    return f"{os.path.basename(code.co_filename)}:{_line_of(code, lasti)}"


def _info(task):
    """The info tuple of a task, made on first sight for tasks created before
    install() or outside the factory."""
    info = _TASK_INFO.get(id(task))
    if info is None:
        info = _TASK_INFO[id(task)] = (next(_task_ids), None, None, None)
    return info


def prune_task_info():
    """Forget tasks that no longer exist (asyncio's registry of live tasks,
    all loops, is the reference)."""
    for _ in range(100):
        try:
            alive = {id(t) for t in list(_asyncio_tasks._scheduled_tasks)}
            alive.update(id(t) for t in list(_asyncio_tasks._eager_tasks))
            break
        except RuntimeError:  # changed by another thread meanwhile
            continue
    else:
        return
    for key in [k for k in _TASK_INFO if k not in alive]:
        del _TASK_INFO[key]


def task_id_of(task):
    return None if task is None else _info(task)[TASK_ID]


# -- the coroutine chain ------------------------------------------------------------


def coro_chain(coro):
    """[(awaitable, frame)] from the outermost coroutine to the innermost one
    that is suspended (following cr_await / gi_yieldfrom / ag_await)."""
    out = []
    while coro is not None and len(out) < MAX_CHAIN:
        frame = getattr(coro, "cr_frame", None)
        nxt = None
        if frame is not None:
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
        out.append((coro, frame))
        coro = nxt
    return out


def stack_frames(task):
    """The task's coroutine stack as frame texts, innermost first."""
    frames = []
    for _, frame in reversed(coro_chain(task.get_coro())):
        code = frame.f_code
        frames.append(format_frame(code.co_qualname, code.co_filename, frame.f_lineno))
    return frames


def _innermost_frame(task):
    chain = coro_chain(task.get_coro())
    return chain[-1][1] if chain else None


def _waiter_task(fut):
    """The task whose wake-up callback sits on `fut` (asyncio's Task adds
    its bound wakeup method as a done callback of what it awaits)."""
    for cb, _ctx in fut._callbacks or ():
        owner = getattr(cb, "__self__", None)
        if isinstance(owner, asyncio.Task):
            return owner
    return None


def _first_pending(waiters):
    """(future, its task) of the first waiter not done yet: the one asyncio
    wakes on release/put/get; (None, None) when there is none."""
    for fut in waiters:
        if not fut.done():
            # The waiting task's wake-up method is the future's first (usually
            # only) callback; the general search is for anything unusual.
            try:
                owner = fut._callbacks[0][0].__self__
            except (TypeError, IndexError, AttributeError):
                return fut, _waiter_task(fut)
            return fut, (owner if type(owner) is _Task else _waiter_task(fut))
    return None, None


def _pending_waiters(waiters):
    return [(fut, _waiter_task(fut)) for fut in waiters if not fut.done()]


def _wake_recorder(primitive):
    """The raw wake deque's append of the Instrumenter of a primitive's loop,
    or None. A primitive is bound to one loop for life: it is looked up once
    and kept on the primitive (uninstall() takes it back)."""
    loop = getattr(primitive, "_loop", None)
    inst = _INSTRUMENTERS.get(id(loop))
    if inst is None or inst.loop is not loop or not inst._installed:
        return None
    primitive._pw_wakes = inst.raw_wakes.append
    return primitive._pw_wakes


def _record_wake(primitive, woken):
    """A release/set/put/get/notify just completed `woken`'s waiter future:
    the waker is the task running now (None from a plain callback)."""
    record = primitive._pw_wakes
    if record is None:
        record = _wake_recorder(primitive)
        if record is None:
            return
    record((_time_ns(), _current_task(), woken))


def _record_wakes(primitive, pending):
    for fut, task in pending:
        if task is not None and fut.done():
            _record_wake(primitive, task)


def _settled_wakes(raw):
    """(at_ns, waker id or None, woken id) of raw (at_ns, waker, woken) wakes."""
    info = _TASK_INFO.get
    out = []
    for at_ns, waker, woken in raw:
        if waker is not None:
            known = info(id(waker))
            waker = known[0] if known is not None else _info(waker)[0]
        known = info(id(woken))
        out.append((at_ns, waker, known[0] if known is not None else _info(woken)[0]))
    return out


# -- instrumented primitives -----------------------------------------------------------


class _Primitive:
    """Mixin: registration, a name, and the node a snapshot shows."""

    _pw_kind = "primitive"
    _pw_wakes = None  # its loop's raw wake recorder, found on the first wake

    def _pw_init(self, name):
        self._pw_wakes = None  # set here so every instance has the same attribute layout
        self._pw_id = next(_primitive_ids)
        site = _caller_site(1)
        self._pw_site = site
        if name is None:
            name = f"{type(self).__name__}@{_site_place(site)}"
        self._pw_name = str(name)[:200]
        _PRIMITIVES.add(self)

    def _pw_belongs_to(self, loop):
        own = getattr(self, "_loop", None)
        return own is None or own is loop

    def _pw_node_rest(self):
        return f"{self._pw_name}-{self._pw_id}"

    def _pw_common_attrs(self):
        return {
            "name": self._pw_name,
            "instrumented": True,
            "created_at": _site_text(self._pw_site),
        }


# The base methods, called directly on the hot paths (no super() object).


class Lock(_Primitive, asyncio.Lock):
    """asyncio.Lock that knows its holder and reports wakes.

    acquire() and __aenter__ are asyncio's acquire (3.12) with the holder
    bookkeeping written in, and release() is asyncio's release and
    _wake_up_first in one: `async with lock` then runs one coroutine where
    asyncio runs two (__aenter__ awaiting acquire), which pays for the
    bookkeeping on the path every contended task takes."""

    _pw_kind = "lock"

    def __init__(self, name=None):
        super().__init__()
        self._pw_init(name)
        self._pw_holder = None
        # The tasks waiting in acquire(), in the order of asyncio's _waiters
        # futures (both are appended and removed at the same moments), so
        # release() knows whom it wakes without searching.
        self._pw_queue = collections.deque()

    async def acquire(self):
        waiters = self._waiters
        if not self._locked and (waiters is None or all(w.cancelled() for w in waiters)):
            self._locked = True
            self._pw_holder = _current_task()
            return True
        if waiters is None:
            waiters = self._waiters = collections.deque()
        fut = self._get_loop().create_future()
        task = _current_task()
        queue = self._pw_queue
        waiters.append(fut)
        queue.append(task)
        try:
            try:
                await fut
            finally:
                waiters.remove(fut)
                queue.remove(task)
        except asyncio.CancelledError:
            if not self._locked:
                self._wake_up_first()
            raise
        self._locked = True
        self._pw_holder = task
        return True

    async def __aenter__(self):
        # acquire(), inlined (see the class docstring); returns None like asyncio's.
        waiters = self._waiters
        if not self._locked and (waiters is None or all(w.cancelled() for w in waiters)):
            self._locked = True
            self._pw_holder = _current_task()
            return None
        if waiters is None:
            waiters = self._waiters = collections.deque()
        fut = self._get_loop().create_future()
        task = _current_task()
        queue = self._pw_queue
        waiters.append(fut)
        queue.append(task)
        try:
            try:
                await fut
            finally:
                waiters.remove(fut)
                queue.remove(task)
        except asyncio.CancelledError:
            if not self._locked:
                self._wake_up_first()
            raise
        self._locked = True
        self._pw_holder = task
        return None

    # In traces it is the lock's acquire, as asyncio's own frames would say.
    __aenter__.__code__ = __aenter__.__code__.replace(
        co_name="acquire", co_qualname=acquire.__code__.co_qualname
    )

    def release(self):
        if not self._locked:
            raise RuntimeError("Lock is not acquired.")
        self._locked = False
        self._pw_holder = None
        waiters = self._waiters
        if waiters:
            # asyncio's _wake_up_first: the first waiter, unless it is done.
            fut = waiters[0]
            if not fut.done():
                queue = self._pw_queue
                woken = queue[0] if len(queue) == len(waiters) else _waiter_task(fut)
                fut.set_result(True)
                # The wake, recorded here rather than in a helper: this runs
                # on every contended release (tasks, not ids: see raw_wakes).
                record = self._pw_wakes
                if record is None and _INSTRUMENTERS:
                    record = _wake_recorder(self)
                if record is not None and woken is not None:
                    record((_time_ns(), _current_task(), woken))

    def _pw_describe(self):
        waiters = self._waiters or ()
        attrs = {
            **self._pw_common_attrs(),
            "lock_kind": "mutex",
            "locked": self._locked,
            "holder_count": 1 if self._locked else 0,
            "waiter_count": sum(1 for w in waiters if not w.cancelled()),
        }
        holders = [self._pw_holder] if self._locked and self._pw_holder is not None else []
        return attrs, [(waiters, "acquire")], holders


class Semaphore(_Primitive, asyncio.Semaphore):
    _pw_kind = "semaphore"

    def __init__(self, value=1, name=None):
        super().__init__(value)
        self._pw_init(name)
        self._pw_total = value
        self._pw_holders = {}  # task -> permits held

    async def acquire(self):
        if not self.locked():
            self._value -= 1
        else:
            await super().acquire()
        t = _current_task()
        if t is not None:
            self._pw_holders[t] = self._pw_holders.get(t, 0) + 1
        return True

    def release(self):
        waiters = self._waiters
        fut, woken = _first_pending(waiters) if waiters else (None, None)
        super().release()
        holders = self._pw_holders
        t = _current_task()
        if t not in holders:  # released by another task than the acquirer
            t = next(iter(holders), None)
        if t is not None:
            if holders[t] <= 1:
                del holders[t]
            else:
                holders[t] -= 1
        if woken is not None and fut.done():
            _record_wake(self, woken)

    def _pw_describe(self):
        waiters = self._waiters or ()
        attrs = {
            **self._pw_common_attrs(),
            "permits_total": self._pw_total,
            "permits_available": self._value,
            "waiters": sum(1 for w in waiters if not w.cancelled()),
            "holder_count": len(self._pw_holders),
        }
        return attrs, [(waiters, "acquire")], list(self._pw_holders)


class BoundedSemaphore(Semaphore):
    def __init__(self, value=1, name=None):
        self._bound_value = value
        super().__init__(value, name)

    def release(self):
        if self._value >= self._bound_value:
            raise ValueError("BoundedSemaphore released too many times")
        super().release()


class Event(_Primitive, asyncio.Event):
    _pw_kind = "event"

    def __init__(self, name=None):
        super().__init__()
        self._pw_init(name)
        self._pw_set_by = None

    def set(self):
        if not self._value:
            self._pw_set_by = _current_task()
            waiters = self._waiters
            if waiters:
                pending = _pending_waiters(waiters)
                super().set()
                _record_wakes(self, pending)
                return
        super().set()

    def _pw_describe(self):
        attrs = {
            **self._pw_common_attrs(),
            "is_set": self._value,
            "waiters": sum(1 for w in self._waiters if not w.done()),
            "set_by_task_id": task_id_of(self._pw_set_by),
        }
        return attrs, [(self._waiters, "wait")], []


class Condition(_Primitive, asyncio.Condition):
    _pw_kind = "condition"

    def __init__(self, lock=None, name=None):
        if lock is None:
            lock = Lock(name=f"{name}.lock" if name else None)
        super().__init__(lock)
        self._pw_init(name)

    def notify(self, n=1):
        waiters = self._waiters
        if not waiters:
            return super().notify(n)
        pending = _pending_waiters(waiters)[:n]
        super().notify(n)
        _record_wakes(self, pending)

    def _pw_describe(self):
        lock = self._lock
        attrs = {
            **self._pw_common_attrs(),
            "waiters": sum(1 for w in self._waiters if not w.done()),
            "lock": getattr(lock, "_pw_name", None),
            "locked": lock.locked(),
        }
        return attrs, [(self._waiters, "wait")], []


class _QueueMixin(_Primitive):
    _pw_kind = "queue"

    def _pw_setup(self, name):
        self._pw_init(name)
        self._pw_last_getter = None
        self._pw_last_putter = None

    # asyncio's put_nowait/get_nowait call _put/_get once per item and then
    # _wakeup_next: the bookkeeping goes into those (no extra call layer on
    # the queue's hot path). _put/_get are defined per queue class below.

    # put() and get() are asyncio's (3.12) with put_nowait/get_nowait and the
    # full()/empty()/qsize() calls written in: asyncio's put() makes eight
    # Python calls per item, this one three, which pays for the bookkeeping
    # (as Lock's single coroutine does). A subclass that overrides one of
    # those methods, and Pythons whose Queue differs (3.13 added shutdown),
    # get asyncio's own put() and get().
    _pw_lean = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._pw_lean = sys.version_info < (3, 13) and all(
            getattr(cls, name) is getattr(asyncio.Queue, name)
            for name in ("full", "empty", "qsize", "put_nowait", "get_nowait")
        )

    async def put(self, item):
        if not self._pw_lean:
            return await asyncio.Queue.put(self, item)
        maxsize = self._maxsize
        while 0 < maxsize <= len(self._queue):
            putter = self._get_loop().create_future()
            self._putters.append(putter)
            try:
                await putter
            except:  # noqa: E722 (asyncio's: whatever interrupts the wait)
                putter.cancel()  # Just in case putter is not done yet.
                try:
                    # Clean self._putters from canceled putters.
                    self._putters.remove(putter)
                except ValueError:
                    # The putter could be removed from self._putters by a
                    # previous get_nowait call.
                    pass
                if not (0 < maxsize <= len(self._queue)) and not putter.cancelled():
                    # We were woken up by get_nowait(), but can't take
                    # the call.  Wake up the next in line.
                    self._wakeup_next(self._putters)
                raise
        self._put(item)
        self._unfinished_tasks += 1
        self._finished.clear()
        self._wakeup_next(self._getters)

    async def get(self):
        if not self._pw_lean:
            return await asyncio.Queue.get(self)
        while not self._queue:
            getter = self._get_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except:  # noqa: E722 (asyncio's: whatever interrupts the wait)
                getter.cancel()  # Just in case getter is not done yet.
                try:
                    # Clean self._getters from canceled getters.
                    self._getters.remove(getter)
                except ValueError:
                    # The getter could be removed from self._getters by a
                    # previous put_nowait call.
                    pass
                if self._queue and not getter.cancelled():
                    # We were woken up by put_nowait(), but can't take
                    # the call.  Wake up the next in line.
                    self._wakeup_next(self._getters)
                raise
        item = self._get()
        self._wakeup_next(self._putters)
        return item

    def _wakeup_next(self, waiters):
        # asyncio's, plus the wake: the task calling put/get (or passing on
        # a wake it cannot take) wakes the first waiter not done yet.
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                record = self._pw_wakes
                if record is None and _INSTRUMENTERS:
                    record = _wake_recorder(self)
                if record is None:
                    waiter.set_result(None)
                    break
                try:
                    woken = waiter._callbacks[0][0].__self__
                    if type(woken) is not _Task:
                        woken = _waiter_task(waiter)
                except (TypeError, IndexError, AttributeError):
                    woken = _waiter_task(waiter)
                waiter.set_result(None)
                # The wake, recorded inline (this runs on most put/get).
                if woken is not None:
                    record((_time_ns(), _current_task(), woken))
                break

    def _pw_describe(self):
        size, maxsize = self.qsize(), self.maxsize
        attrs = {
            **self._pw_common_attrs(),
            "size": size,
            "maxsize": maxsize,
            "queue_len": size,
            "capacity": maxsize if maxsize > 0 else None,
            "bounded": maxsize > 0,
            "full": self.full(),
            "put_waiters": sum(1 for w in self._putters if not w.done()),
            "get_waiters": sum(1 for w in self._getters if not w.done()),
            "unfinished_tasks": self._unfinished_tasks,
            "last_put_task_id": task_id_of(self._pw_last_putter),
            "last_get_task_id": task_id_of(self._pw_last_getter),
        }
        return attrs, [(self._putters, "put"), (self._getters, "get")], []


class Queue(_QueueMixin, asyncio.Queue):
    def __init__(self, maxsize=0, name=None):
        super().__init__(maxsize)
        self._pw_setup(name)

    def _put(self, item):
        self._pw_last_putter = _current_task()
        self._queue.append(item)

    def _get(self):
        self._pw_last_getter = _current_task()
        return self._queue.popleft()


class LifoQueue(_QueueMixin, asyncio.LifoQueue):
    def __init__(self, maxsize=0, name=None):
        super().__init__(maxsize)
        self._pw_setup(name)

    def _put(self, item):
        self._pw_last_putter = _current_task()
        self._queue.append(item)

    def _get(self):
        self._pw_last_getter = _current_task()
        return self._queue.pop()


class PriorityQueue(_QueueMixin, asyncio.PriorityQueue):
    def __init__(self, maxsize=0, name=None):
        super().__init__(maxsize)
        self._pw_setup(name)

    def _put(self, item, heappush=heapq.heappush):
        self._pw_last_putter = _current_task()
        heappush(self._queue, item)

    def _get(self, heappop=heapq.heappop):
        self._pw_last_getter = _current_task()
        return heappop(self._queue)


# Uninstrumented asyncio primitives found as `self` of the frame awaiting a
# future: (class, node kind, waiter attribute names and their operation).
_PLAIN_PRIMITIVES = [
    (asyncio.Lock, "lock", [("_waiters", "acquire")]),
    (asyncio.Semaphore, "semaphore", [("_waiters", "acquire")]),
    (asyncio.Event, "event", [("_waiters", "wait")]),
    (asyncio.Condition, "condition", [("_waiters", "wait")]),
    (asyncio.Queue, "queue", [("_putters", "put"), ("_getters", "get")]),
]


def _plain_primitive_kind(obj):
    for cls, kind, _ in _PLAIN_PRIMITIVES:
        if isinstance(obj, cls):
            return kind
    return None


# -- the instrumenter ---------------------------------------------------------------------


class Episode:
    """A task suspended on one future for longer than the threshold."""

    __slots__ = ("task_id", "since_ns", "last_seen_ns", "frames", "task_ref", "waiter_ref")

    def __init__(self, task_id, since_ns, now_ns, frames, task, waiter):
        self.task_id = task_id
        self.since_ns = since_ns
        self.last_seen_ns = now_ns
        self.frames = frames
        self.task_ref = weakref.ref(task)
        self.waiter_ref = _weak_or_none(waiter)


def _weak_or_none(obj):
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


class Instrumenter:
    def __init__(
        self,
        loop,
        *,
        process=None,
        pid=None,
        proc_key=None,
        pending_threshold=1.0,
        pusher=None,
        push_interval=None,
    ):
        self.loop = loop
        probe = SnapshotBuilder(process or default_process_name(), pid, proc_key)
        self.process, self.pid, self.proc_key = probe.process, probe.pid, probe.proc_key
        self.pending_threshold_ns = int(pending_threshold * 1e9)
        self.scan_interval = max(0.05, min(1.0, pending_threshold / 4))
        self.pusher = pusher
        self.push_interval = push_interval
        self.worker = None  # native id of the loop thread
        # Wakes as recorded on the hot paths: (at_ns, waker task or None, woken
        # task). Turning tasks into ids costs two dict lookups per wake, so it
        # waits for settle_wakes() (every scan tick, and snapshots): a busy
        # loop pushes most raw wakes off the end before that, and they are
        # never converted. See RAW_WAKES for the bound.
        self.raw_wakes = collections.deque(maxlen=RAW_WAKES)
        self.wakes = collections.deque(maxlen=MAX_WAKE_EVENTS)  # (at_ns, waker id, woken id)
        self.waits = {}  # id(task) -> (task, future it waits on, since ns); see scan()
        self.episodes = {}  # id(task) -> open Episode
        self.history = collections.deque(maxlen=MAX_TRACE_HISTORY)  # closed Episodes
        self.agent = None
        self.errors = 0
        self._prune_at = 20_000
        self._prev_factory = None
        self._parent_cache = [None, None]  # see _make_task_factory
        self._handles = []
        self._installed = False

    # -- lifecycle ----------------------------------------------------------------

    def install(self):
        loop = self.loop
        self._prev_factory = loop.get_task_factory()
        self._task_factory = self._make_task_factory(self._prev_factory)
        loop.set_task_factory(self._task_factory)
        _INSTRUMENTERS[id(loop)] = self
        self._installed = True
        for t in _asyncio_tasks.all_tasks(loop):
            # A fresh entry: one found under its id may be left from a dead
            # task whose address it reuses (entries are pruned lazily).
            _TASK_INFO[id(t)] = (next(_task_ids), None, None, None)
        self._schedule(self.scan_interval, self._scan_tick)
        if self.pusher is not None and self.push_interval:
            self._schedule(self.push_interval, self._push_tick)
        if loop.is_running() and _on_loop_thread(loop):
            self.worker = threading.get_native_id()
        return self

    def uninstall(self):
        if not self._installed:
            return
        self._installed = False
        if self.loop.get_task_factory() is self._task_factory:
            self.loop.set_task_factory(self._prev_factory)
        self.settle_wakes()
        for prim in list(_PRIMITIVES):
            if prim._pw_wakes is not None and prim._pw_belongs_to(self.loop):
                prim._pw_wakes = None
        for h in self._handles:
            h.cancel()
        self._handles.clear()
        if _INSTRUMENTERS.get(id(self.loop)) is self:
            del _INSTRUMENTERS[id(self.loop)]
        if self.agent is not None:
            self.agent.stop()
        if self.pusher is not None:
            self.pusher.close()

    def _schedule(self, delay, fn):
        self._handles = [h for h in self._handles if not h.cancelled()]
        self._handles.append(self.loop.call_later(delay, fn))

    def _make_task_factory(self, prev):
        """The factory set on the loop. It runs for every task the program
        creates, so everything it uses is a closure variable (no attribute
        or global lookups) and it does only what cannot wait: the parent,
        the time and the spawning frame exist only now. Every bytecode costs
        about as much as a C call here. Tasks stay asyncio's C Task (a
        subclass would leave its fast path for every `await task`), and
        loop.create_task is left alone (an instance attribute on the loop
        turns every attribute lookup of asyncio's own code on it slow)."""
        info, new_id, current, now, caller = (
            _TASK_INFO,
            _task_ids,
            _current_task,
            _time_ns,
            _caller_frame,
        )
        task_cls = _Task
        # [the last parent seen, its task id]: a task usually spawns several
        # in a row, and an identity test is far cheaper than the dict lookup
        # by id. The strong reference is dropped by every scan tick.
        cache = self._parent_cache

        def parent_id(parent):
            known = info.get(id(parent))
            cache[0] = parent
            cache[1] = known[0] if known is not None else _info(parent)[0]
            return cache[1]

        def peepsweb_task_factory(loop, coro, **kwargs):
            if prev is None:
                task = task_cls(coro, loop=loop, **kwargs)
            else:
                task = prev(loop, coro, **kwargs)
            parent = current(loop)
            if parent is not None:
                parent = cache[1] if parent is cache[0] else parent_id(parent)
            f = caller(2)
            site = None if f is None else (f.f_code, f.f_lasti)
            info[id(task)] = (next(new_id), parent, now(), site)
            return task

        if prev is not None or sys.version_info >= (3, 13) or _getframemodulename is None:
            return peepsweb_task_factory

        getframe = sys._getframe
        # The last spawn site: the spawning frame's depth (from the factory's
        # frame), its code and instruction offset, and the (code, lasti)
        # tuple recorded. Tasks come in runs from one place (a loop, a
        # gather): when the frame at that depth is at the same code and
        # instruction again, it is the same call site and the search (a
        # module name per frame) is skipped.
        site_d, site_code, site_lasti, site = 0, None, -1, None

        def peepsweb_task_factory(loop, coro, context=None):  # noqa: F811
            # 3.12's loop.create_task passes at most `context`: a signature
            # without **kwargs builds no dict per task.
            nonlocal site_d, site_code, site_lasti, site
            task = task_cls(coro, loop=loop, context=context)
            parent = current(loop)
            if parent is not None:
                parent = cache[1] if parent is cache[0] else parent_id(parent)
            try:
                f = getframe(site_d)
            except ValueError:  # the stack is shallower than last time
                f = None
            if f is None or f.f_code is not site_code or f.f_lasti != site_lasti:
                # Frame 1 is asyncio's create_task: the search starts at its caller.
                site_d, site = _find_site(2)
                site_code, site_lasti = site or (None, -1)
            info[id(task)] = (next(new_id), parent, now(), site)
            return task

        return peepsweb_task_factory

    # -- wakes ----------------------------------------------------------------------

    def record_wake(self, waker, woken):
        """Record that `waker` (a task or None) woke `woken`, now: for wakes
        the instrumented primitives cannot see (your own primitives)."""
        self.raw_wakes.append((_time_ns(), waker, woken))

    def settle_wakes(self):
        """Turn the tasks of raw wakes into task ids, and let go of every task
        the hot paths hold on to (so only the program keeps tasks alive)."""
        self._parent_cache[0] = None
        raw = self.raw_wakes
        if raw:
            self.wakes.extend(_settled_wakes(raw))
            raw.clear()

    def wake_list(self, settle=True):
        """[(at_ns, waker id, woken id)], oldest first. settle=False leaves
        the raw wakes alone (for a thread other than the loop's)."""
        if settle:
            self.settle_wakes()
            return list(self.wakes)
        return (list(self.wakes) + _settled_wakes(list(self.raw_wakes)))[-MAX_WAKE_EVENTS:]

    # -- periodic work on the loop ----------------------------------------------------

    def _scan_tick(self):
        if not self._installed:
            return
        try:
            self.settle_wakes()
            self.scan()
            # Pruning walks every entry: only once dead tasks' entries clearly
            # outnumber the live ones (memory stays proportional to them).
            if len(_TASK_INFO) > self._prune_at:
                prune_task_info()
                self._prune_at = 2 * len(_TASK_INFO) + 20_000
        except Exception:
            self._note_error("pending scan")
        self._schedule(self.scan_interval, self._scan_tick)

    def _push_tick(self):
        if not self._installed:
            return
        try:
            self.pusher.push(self.snapshot())
        except Exception:
            self._note_error("periodic snapshot")
        self._schedule(self.push_interval, self._push_tick)

    def _note_error(self, what):
        # Instrumentation must never take the program down; say it once.
        self.errors += 1
        if self.errors == 1:
            log.exception("peepsweb: %s failed (further errors are counted, not logged)", what)

    def _tasks(self):
        """Every task of this loop still alive, finished ones included."""
        for _ in range(100):
            try:
                tasks = list(_asyncio_tasks._scheduled_tasks)
                tasks.extend(_asyncio_tasks._eager_tasks)
                break
            except RuntimeError:  # the WeakSet changed under us (another thread)
                continue
        else:
            tasks = list(_asyncio_tasks.all_tasks(self.loop))
        loop = self.loop
        return [t for t in tasks if t.get_loop() is loop]

    def scan(self, now_ns=None, tasks=None):
        """Track how long each task has been suspended on the same future and
        record a trace when that exceeds the threshold."""
        if self.worker is None and _on_loop_thread(self.loop):
            self.worker = threading.get_native_id()
        now = now_ns or _time_ns()
        threshold = self.pending_threshold_ns
        episodes = self.episodes
        # id(task) -> (task, waiter, since). Rebuilt each scan from the tasks
        # suspended now, so finished tasks drop out by themselves; the old
        # entry's task is compared by identity in case an id was reused.
        old, waits = self.waits, {}
        for t in tasks if tasks is not None else self._tasks():
            if t.done():
                continue
            waiter = t._fut_waiter
            if waiter is None:
                continue
            key = id(t)
            seen = old.get(key)
            if seen is None or seen[1] is not waiter or seen[0] is not t:
                waits[key] = (t, waiter, now)
                continue
            waits[key] = seen
            since = seen[2]
            ep = episodes.get(key)
            if ep is not None and ep.task_ref() is t and ep.since_ns == since:
                ep.last_seen_ns = now
            elif now - since >= threshold:
                episodes[key] = Episode(_info(t)[TASK_ID], since, now, stack_frames(t), t, waiter)
        self.waits = waits
        # Close episodes whose task moved on, finished or vanished.
        for key, ep in list(episodes.items()):
            seen = waits.get(key)
            if seen is None or seen[0] is not ep.task_ref() or seen[2] != ep.since_ns:
                del episodes[key]
                self.history.append(ep)

    # -- snapshot ------------------------------------------------------------------------

    def snapshot(self, snapshot_id=None):
        """Build a snapshot body (a dict). Call it on the loop thread, or use
        snapshot_threadsafe() from another thread."""
        self.settle_wakes()  # first: tasks only raw wakes kept alive are gone
        # The body is thousands of fresh dicts and lists, none in a cycle:
        # collections while it grows would only walk it again and again.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            now = _time_ns()
            tasks = self._tasks()
            self.scan(now, tasks)
            return _SnapshotPass(self, now, tasks).build(snapshot_id)
        finally:
            if gc_was_enabled:
                gc.enable()

    def snapshot_threadsafe(self, timeout=2.0, snapshot_id=None):
        """From any thread: ask the loop for a snapshot; if the loop does not
        answer in time (its thread is blocked), build it from here and add
        the loop thread with its current stack as a `thread` node."""
        if _on_loop_thread(self.loop):
            return self.snapshot(snapshot_id)
        done = concurrent.futures.Future()

        def on_loop():
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(self.snapshot(snapshot_id))
                except BaseException as e:
                    done.set_exception(e)

        try:
            self.loop.call_soon_threadsafe(on_loop)
            return done.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            done.cancel()
        for attempt in range(5):
            try:
                now = _time_ns()
                tasks = self._tasks()
                return _SnapshotPass(self, now, tasks, loop_blocked=True).build(snapshot_id)
            except RuntimeError:  # structures changed under us: the loop woke up
                if attempt == 4:
                    raise
        return None


def _on_loop_thread(loop):
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _SnapshotPass:
    """One snapshot's worth of work: nodes for tasks and primitives, edges
    from what each task awaits."""

    def __init__(self, inst, now, tasks, loop_blocked=False):
        self.inst = inst
        self.now = now
        self.tasks = tasks
        self.loop_blocked = loop_blocked
        self.b = SnapshotBuilder(inst.process, inst.pid, inst.proc_key)
        self.proc_key = inst.proc_key
        self.site_texts = {}  # site -> frame text (sites are shared by many tasks)
        self.task_nodes = {}  # id(task) -> node id
        self.waiter_owner = {}  # id(future) -> (node id, operation)
        self.future_nodes = {}  # id(future) -> node id
        self.plain_nodes = {}  # id(uninstrumented primitive) -> node id
        self.current = None if loop_blocked else _current_task(inst.loop)
        self.wakes = inst.wake_list(settle=not loop_blocked)
        # The newest wake of each task (wakes are recorded in time order).
        self.last_waker = {woken: waker for _at, waker, woken in self.wakes}

    def build(self, snapshot_id):
        live = [t for t in self.tasks if not t.done()]
        done = [t for t in self.tasks if t.done()]
        if len(done) > MAX_DONE_TASKS:
            done.sort(key=lambda t: _info(t)[TASK_ID])
            done = done[-MAX_DONE_TASKS:]
        for t in live + done:
            self.task_node(t)
        for prim in list(_PRIMITIVES):
            if prim._pw_belongs_to(self.inst.loop):
                self.primitive_node(prim)
        for t in live:
            self.awaiting_edges(t)
        self.wake_events()
        self.pending_traces()
        if self.loop_blocked:
            self.loop_thread_node()
        return self.b.build(snapshot_id=snapshot_id, captured_at_ns=self.now, validate=False)

    # -- tasks ---------------------------------------------------------------------------

    def task_state(self, t):
        if t.done():
            if t.cancelled():
                return "cancelled"
            return "failed" if t._exception is not None else "completed"
        if t is self.current:
            return "running"
        waiter = t._fut_waiter
        if waiter is None or waiter.done():
            return "scheduled"  # on the ready queue
        return "pending"

    def task_node(self, t):
        key = id(t)
        node_id = self.task_nodes.get(key)
        if node_id is not None:
            return node_id
        task_id, parent_id, spawned_at_ns, site = _info(t)
        name = t.get_name()
        coro = t.get_coro()
        coro_name = getattr(coro, "__qualname__", None) or type(coro).__name__
        state = self.task_state(t)
        attrs = {"task_id": task_id, "name": name, "state": state, "coro": coro_name}
        if spawned_at_ns is not None:
            attrs["spawned_at_ns"] = spawned_at_ns
        if parent_id is not None:
            attrs["parent_task_id"] = parent_id
        if site is not None:
            site_key = (id(site[0]), site[1])  # hashing a code object hashes its bytecode
            text = self.site_texts.get(site_key)
            if text is None:
                text = self.site_texts[site_key] = _site_text(site)
            attrs["spawn_backtrace"] = text
        waker = self.last_waker.get(task_id, _UNSET)
        if waker is not _UNSET:
            attrs["last_wake_from_task_id"] = waker
        if state == "pending":
            seen = self.inst.waits.get(key)
            if seen is not None and seen[0] is t and seen[1] is t._fut_waiter:
                attrs["pending_since_ns"] = seen[2]
                attrs["pending_ns"] = max(0, self.now - seen[2])
        elif state == "failed":
            attrs["exception"] = repr(t._exception)[:MAX_TEXT]
        if name.startswith("Task-") and _DEFAULT_TASK_NAME.fullmatch(name):
            name = coro_name
        node_id = self.task_nodes[key] = self.b.add_node(
            f"task:{self.proc_key}:{task_id}", "task", name, attrs
        )
        return node_id

    # -- primitives ------------------------------------------------------------------------

    def primitive_node(self, prim):
        attrs, waiter_lists, holders = prim._pw_describe()
        node_id = self.b.node(prim._pw_kind, prim._pw_node_rest(), prim._pw_name, attrs=attrs)
        for waiters, op in waiter_lists:
            for fut in waiters:
                self.waiter_owner[id(fut)] = (node_id, op)
        for holder in holders:
            self.b.needs(node_id, self.task_node(holder), held=True)
        return node_id

    def plain_primitive_node(self, obj, kind):
        """A stock asyncio primitive: a node without holder knowledge."""
        key = id(obj)
        node_id = self.plain_nodes.get(key)
        if node_id is not None:
            return node_id
        name = f"{type(obj).__name__}@{key:x}"
        attrs = {"name": name, "instrumented": False}
        if kind == "queue":
            attrs.update(size=obj.qsize(), maxsize=obj.maxsize, full=obj.full())
        elif kind == "lock":
            attrs.update(lock_kind="mutex", locked=obj.locked())
        node_id = self.b.node(kind, f"plain-{key:x}", name, attrs=attrs)
        self.plain_nodes[key] = node_id
        for cls, _kind, waiter_attrs in _PLAIN_PRIMITIVES:
            if isinstance(obj, cls):
                for attr, op in waiter_attrs:
                    for fut in getattr(obj, attr, None) or ():
                        self.waiter_owner[id(fut)] = (node_id, op)
                break
        return node_id

    # -- edges ---------------------------------------------------------------------------------

    def awaiting_edges(self, t):
        waiter = t._fut_waiter
        if waiter is None:
            return
        src = self.task_node(t)
        dst, attrs = self.target_of(waiter, t)
        if dst is not None:
            self.b.needs(src, dst, **attrs)

    def target_of(self, fut, task, depth=0):
        """(node id, edge attrs) for what `task` is suspended on."""
        owner = self.waiter_owner.get(id(fut))
        if owner is not None:
            return owner[0], {"op": owner[1]}
        if isinstance(fut, asyncio.Task):
            return self.task_node(fut), {"op": "await"}
        frame = _innermost_frame(task) if task is not None else None
        if frame is not None:
            obj = frame.f_locals.get("self")
            kind = _plain_primitive_kind(obj) if obj is not None else None
            if kind is not None:
                self.plain_primitive_node(obj, kind)
                owner = self.waiter_owner.get(id(fut))
                if owner is not None:
                    return owner[0], {"op": owner[1]}
        return self.future_node(fut, frame, depth), {"op": "await"}

    def future_node(self, fut, frame, depth=0):
        key = id(fut)
        node_id = self.future_nodes.get(key)
        if node_id is not None:
            return node_id
        children = []
        if _GatheringFuture and isinstance(fut, _GatheringFuture):
            label = "gather"
            children = list(getattr(fut, "_children", ()) or ())
        elif frame is not None and frame.f_code is _WAIT_CODE:
            label = "asyncio.wait"
            children = list(frame.f_locals.get("fs", ()) or ())
        elif frame is not None:
            label = frame.f_code.co_qualname
        else:
            label = type(fut).__name__
        attrs = {"future_id": key, "label": label, "type": type(fut).__name__}
        if frame is not None:
            code = frame.f_code
            attrs["awaited_at"] = format_frame(code.co_qualname, code.co_filename, frame.f_lineno)
            if label == "sleep" and "delay" in frame.f_locals:
                delay = frame.f_locals["delay"]
                if isinstance(delay, int | float):
                    attrs["delay_s"] = delay
                    label = f"sleep({delay:g})"
        node_id = self.b.node("future", f"{key:x}", label, attrs=attrs)
        self.future_nodes[key] = node_id
        if depth < 4:
            for child in children:
                if child.done():
                    continue
                if isinstance(child, asyncio.Task):
                    self.b.needs(node_id, self.task_node(child))
                else:
                    self.b.needs(node_id, self.future_node(child, None, depth + 1))
        return node_id

    # -- wakes and traces --------------------------------------------------------------------

    def wake_events(self):
        worker = self.inst.worker
        self.b.add_wakes(
            {
                "at_ns": at_ns,
                "waker_task_id": waker,
                "woken_task_id": woken,
                "target_worker": worker,
            }
            for at_ns, waker, woken in self.wakes
        )

    def pending_traces(self):
        inst = self.inst
        for ep in list(inst.history) + list(inst.episodes.values()):
            is_open = inst.episodes.get(id(ep.task_ref())) is ep
            end = self.now if is_open else ep.last_seen_ns
            self.b.pending_trace(
                ep.task_id,
                ep.frames or ["<no coroutine frame>\n    at ?:0"],
                duration_us=max(0, end - ep.since_ns) // 1000,
                at_ns=end,
            )

    def loop_thread_node(self):
        """The loop thread did not answer: show it, with what it is running."""
        thread = getattr(self.inst.loop, "_thread_id", None)
        frames = []
        if thread is not None:
            frame = sys._current_frames().get(thread)
            while frame is not None and len(frames) < MAX_CHAIN:
                code = frame.f_code
                frames.append(format_frame(code.co_qualname, code.co_filename, frame.f_lineno))
                frame = frame.f_back
        self.b.node(
            "thread",
            "loop",
            "event loop thread (not responding)",
            name="event loop",
            state="blocked",
            native_id=self.inst.worker,
            stack="\n".join(frames)[: 60 * 1024],
        )


# -- module-level API ----------------------------------------------------------------


def install(
    loop=None,
    *,
    process=None,
    pid=None,
    proc_key=None,
    url=None,
    token=None,
    push_interval=None,
    pending_threshold=1.0,
    agent=False,
    pusher=None,
):
    """Instrument a loop (the running one by default) and return its
    Instrumenter. With `url`, snapshots are pushed every `push_interval`
    seconds (5 by default) from a background thread; with `agent=True` the
    process also answers the server's "Jump to now" requests."""
    loop = loop or asyncio.get_running_loop()
    existing = _INSTRUMENTERS.get(id(loop))
    if existing is not None and existing.loop is loop:
        return existing
    if url and pusher is None:
        from peepsweb_client.push import Pusher

        pusher = Pusher(url, token)
    if pusher is not None and push_interval is None:
        push_interval = 5.0
    inst = Instrumenter(
        loop,
        process=process,
        pid=pid,
        proc_key=proc_key,
        pending_threshold=pending_threshold,
        pusher=pusher,
        push_interval=push_interval,
    ).install()
    if agent:
        if not url:
            raise ValueError("agent mode needs the server url")
        from peepsweb_client.agent import Agent

        inst.agent = Agent(
            url,
            token=token,
            process=inst.process,
            pid=inst.pid,
            proc_key=inst.proc_key,
            snapshot=inst.snapshot_threadsafe,
        )
        inst.agent.start()
    return inst


def instrumenter(loop=None):
    loop = loop or asyncio.get_running_loop()
    inst = _INSTRUMENTERS.get(id(loop))
    if inst is None or inst.loop is not loop:
        raise RuntimeError("peepsweb: install() was not called on this loop")
    return inst


def snapshot(loop=None, snapshot_id=None):
    """A snapshot body of the (running) loop, as a dict."""
    return instrumenter(loop).snapshot(snapshot_id)


def uninstall(loop=None):
    loop = loop or asyncio.get_running_loop()
    inst = _INSTRUMENTERS.get(id(loop))
    if inst is not None and inst.loop is loop:
        inst.uninstall()
