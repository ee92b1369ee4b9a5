"""asyncio instrumentation: who waits on whom in an unmodified program,
measured, never guessed.

    peepsweb-run python app.py            # no code change (see run.py)

    from peepsweb_client import aio       # or in code, on the running loop:
    aio.install(url="http://127.0.0.1:8000", push_interval=5)
    doc = aio.snapshot()                  # a snapshot body, on demand

install() patches asyncio's own classes in place (`_internals`): the
`asyncio.Lock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`,
`Queue`, `PriorityQueue` and `LifoQueue` the program already uses, its
subclasses of them included, learn who holds them, who recently put and
got, and where each was made; `loop.create_task` learns each task's parent
and spawn site. What a snapshot holds:

- every task of the loop as a `task` node: name, state (running, pending,
  scheduled, completed, failed, cancelled), parent task, spawn site;
- `needs` edges from what each suspended task really awaits (asyncio keeps
  it as the task's waiter future): a task; a lock, semaphore, event,
  condition or queue (found as `self` of the frame awaiting it); a
  `gather()`, `asyncio.wait()`, `as_completed()`, `shield()` or TaskGroup
  exit, as a `future` node that needs what it waits for; anything else as a
  `future` node labelled after the awaiting frame. A held lock needs its
  holder, a semaphore each task holding permits; a full queue with blocked
  putters needs the tasks that recently got from it, an empty queue with
  blocked getters needs its recent putters (edge attrs say which);
- wake events: which task released/set/put/got/notified and whom that woke;
- pending traces: the await chain of every task suspended on the same
  future for longer than `pending_threshold`, innermost first, the
  program's own frames (with their source line), continued into the task it
  awaits.

Everything runs on the loop thread except HTTP, which a Pusher thread does.
"""

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import itertools
import json
import linecache
import logging
import os
import sys
import threading
import time
import weakref

from peepsweb_client import _internals as ai
from peepsweb_client.builder import SnapshotBuilder, default_process_name, format_frame
from peepsweb_client.contract import DEFAULT_TASK_NAME
from peepsweb_client.push import Pusher

log = logging.getLogger("peepsweb.client")

_current_task = asyncio.current_task
_time_ns = time.time_ns
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_CLIENT_DIR = os.path.dirname(__file__) + os.sep

# id(loop) -> Instrumenter. A plain dict keyed by id (checked against
# inst.loop on use): looking a loop up in a WeakKeyDictionary makes a weakref
# per call, and this lookup runs on every wake.
_INSTRUMENTERS = {}
_PRIMITIVES = weakref.WeakSet()  # every primitive made since install()
_task_ids = itertools.count(1)
_primitive_ids = itertools.count(1)

MAX_AWAITED_TASKS = 4  # tasks a trace follows into (a awaits b awaits c ...)
MAX_DONE_TASKS = 1000  # finished-but-alive tasks reported per snapshot
MAX_WAKE_EVENTS = 2000
# Raw wakes (tasks, not ids) held between scan ticks. Small on purpose: each
# holds two tasks, and thousands of finished tasks kept alive cost a busy
# program about a third of the instrumentation's overhead (memory traffic,
# the cyclic GC). A loop waking faster than that between two ticks keeps the
# newest RAW_WAKES of each scan interval.
RAW_WAKES = 256
MAX_TRACE_HISTORY = 256
# The periodic scan and push run a slice per loop iteration (Instrumenter.
# _drive): SLICE_S of loop time, or SLICE_SHARE of the time since the slice
# before if that is more; a scan step looks at SCAN_STEP tasks (~0.15 ms).
# bench/client_overhead.py --loop-lag: 0.3 ms slices and 500-task steps gave
# a p99 lag 2.0-2.5x plain, these 1.15-1.4x.
SCAN_STEP = 150
# A pull whose build on the loop goes on stepping is waited for up to this
# many times its timeout (see Instrumenter.snapshot_json_threadsafe).
PULL_PATIENCE = 2
SLICE_S = 0.0001
SLICE_SHARE = 0.1
JOIN_SLICE = 500  # body elements joined into one string per build step
# Scans are numbered across instrumenters: a future's mark (see _scan_part)
# stays meaningful when a loop is instrumented again.
_SCAN_SERIALS = itertools.count(1)
MAX_TEXT = 2000
NO_FRAME = "<no coroutine frame>\n    at ?:0"
MAX_NAME = 200


# -- spawn sites ------------------------------------------------------------------------

_SKIP_MODULES = ("asyncio.", "peepsweb_client.")
_skip_module = {}  # module name -> whether spawn sites look past it
_getframemodulename = sys._getframemodulename


def _user_frame_depth(depth):
    """The depth, counted from the caller, of the first frame from `depth` up
    that is neither asyncio's nor this package's (past the stack's end if
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


def _find_site(d):
    """(depth, (code, lasti)) of the first frame from depth `d` of the
    caller's frame up that is neither asyncio's nor this package's; (0, None)
    if there is none."""
    d = _user_frame_depth(d + 1)  # + 1: this function's own frame
    try:
        f = sys._getframe(d)
    except ValueError:  # ran out of frames
        return 0, None
    return d - 1, (f.f_code, f.f_lasti)


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


def _frame_text(function, filename, lineno):
    """A frame text with its source line (linecache), as the contract has it."""
    return format_frame(function, filename, lineno, source=linecache.getline(filename, lineno))


def _site_text(site):
    if site is None:
        return None
    code, lasti = site
    return _frame_text(code.co_qualname, code.co_filename, _line_of(code, lasti))


def _site_place(site):
    """`file.py:42` of a site, for default names."""
    code, lasti = site
    return f"{os.path.basename(code.co_filename)}:{_line_of(code, lasti)}"


# -- per-task bookkeeping ---------------------------------------------------------------

# Per task: id(task) -> (task_id, parent_task_id, spawned_at_ns, site, ref),
# where site is (code, lasti) of the spawning user frame (lasti: its
# instruction offset) or None, and ref a weak reference to the task: an
# entry whose ref no longer answers the task asking is another's, left
# under a reused id, and is replaced (never a stale parent or site).
# Written by create_task for every task the program creates, so it is a
# plain dict keyed by id: an attribute on the task would need a Task
# subclass (awaiting one leaves asyncio's C fast path), a WeakKeyDictionary
# a lookup weakref each. An entry goes when its task does (its reference's
# callback), not in a sweep later: the program frees its tasks' objects as
# it goes, and so do we (a pile of dead entries freed at once, or kept,
# makes the cyclic garbage collector run more often).
_TASK_INFO = {}
TASK_ID, PARENT_ID, SPAWNED_AT, SITE, REF = range(5)
_NO_INFO = (None,) * 5


class _TaskRef(weakref.ref):
    """A weak reference to a task that knows the task's key in _TASK_INFO."""

    __slots__ = ("key",)


# Task id -> the task id of what last woke it (None: a callback), for as
# long as the task lives: a snapshot's wake events are only the newest
# MAX_WAKE_EVENTS, and a task that waits long after its last wake would lose
# its `last_wake_from_task_id` when that wake falls out of them (and look as
# if it moved: snapshots/cycles/stuck.py compares the attr).
_LAST_WAKER = {}


def _forget(ref):
    """A task died: drop its entries, unless a newer task has the id already."""
    key = ref.key
    info = _TASK_INFO.get(key, _NO_INFO)
    if info[REF] is ref:
        _TASK_INFO.pop(key, None)
        _LAST_WAKER.pop(info[TASK_ID], None)


def _task_ref(task, key):
    ref = _TaskRef(task, _forget)
    ref.key = key
    return ref


_UNSET = object()
# [the last parent seen, its task id]: a task usually spawns several in a
# row, and an identity test is far cheaper than the lookup by id. The strong
# reference is dropped by every scan tick.
_PARENT_CACHE = [None, None]


def _info(task):
    """The info tuple of a task; made on first sight for tasks created before
    install() or outside create_task (asyncio.Task(...) directly): those
    have no parent or site rather than a wrong one."""
    key = id(task)
    info = _TASK_INFO.get(key)
    if info is None or info[REF]() is not task:
        info = _TASK_INFO[key] = (next(_task_ids), None, None, None, _task_ref(task, key))
    return info


def _make_on_task():
    """The hook create_task calls with every new task. It runs for every
    task the program creates, so everything it uses is a closure variable
    and it does only what cannot wait: the parent, the time and the spawning
    frame exist only now. Tasks stay asyncio's C Task (a subclass would leave
    its fast path for every `await task`)."""
    info, new_id, current, now, ref = _TASK_INFO, _task_ids, _current_task, _time_ns, _task_ref
    cache = _PARENT_CACHE
    getframe = sys._getframe
    # The last spawn site: the spawning frame's depth (from this hook's
    # frame), its code and instruction offset, and the (code, lasti) tuple
    # recorded. Tasks come in runs from one place (a loop, a gather): when
    # the frame at that depth is at the same code and instruction again, it
    # is the same call site and the search (a module name per frame) is
    # skipped.
    site_d, site_code, site_lasti, site = 0, None, -1, None

    def on_task(loop, task):
        nonlocal site_d, site_code, site_lasti, site
        key = id(task)
        known = info.get(key)
        # An eager task that spawned tasks while it ran inside create_task
        # already has its id: keep it, so its children's parent stays right.
        task_id = known[0] if known is not None and known[4]() is task else next(new_id)
        parent = current(loop)
        if parent is not None:
            if parent is cache[0]:
                parent = cache[1]
            else:
                cache[0], cache[1] = parent, _info(parent)[0]
                parent = cache[1]
        try:
            f = getframe(site_d)
        except ValueError:  # the stack is shallower than last time
            f = None
        if f is None or f.f_code is not site_code or f.f_lasti != site_lasti:
            site_d, site = _find_site(1)
            site_code, site_lasti = site or (None, -1)
        info[key] = (task_id, parent, now(), site, ref(task, key))

    return on_task


_site_counts = {}  # (id(code), line, class) -> primitives of that class made there so far


def _on_primitive(obj):
    """A lock, semaphore, event, condition or queue was just made: note
    where, so its name says so (`Lock@app.py:12`, then `#2`, `#3` ... for
    further ones made on the same line)."""
    _depth, site = _find_site(1)
    obj._pw_serial = next(_primitive_ids)
    obj._pw_site = site
    _PRIMITIVES.add(obj)
    if site is not None:
        key = (id(site[0]), _line_of(*site), type(obj))
        if len(_site_counts) > 10_000:
            _site_counts.clear()
        n = _site_counts[key] = _site_counts.get(key, 0) + 1
        if n > 1:
            obj._pw_nth = n


def _settled_wakes(raw, last_wakers=None):
    """Raw wakes (flat: at_ns, waker ref or None, woken ref, ...) as a flat
    list: at_ns, waker id or None, woken id, at_ns, ... Flat, because on the
    loop thread a tuple per wake that outlives the call counts towards the
    next garbage collection (and a collection there walks the program's own
    young objects). A task that died since its wake gets an id of its own
    (it is in no capture from now on). With `last_wakers`, each woken task
    still alive has its waker noted there."""
    out = []
    append = out.append
    gone = {}  # id(ref) -> the id given to a task that died since
    each = iter(raw)
    for at_ns, waker, woken in zip(each, each, each, strict=True):
        waker_id = None if waker is None else _wake_id(waker, gone)
        woken_id = _wake_id(woken, gone)
        append(at_ns)
        append(waker_id)
        append(woken_id)
        if last_wakers is not None and woken() is not None:
            last_wakers[woken_id] = waker_id
    return out


def _wake_id(ref, gone):
    task = ref()
    if task is not None:
        return _info(task)[0]
    key = id(ref)
    task_id = gone.get(key)
    if task_id is None:
        task_id = gone[key] = next(_task_ids)
    return task_id


def _wake_triples(flat):
    """(at_ns, waker id, woken id) of a flat list of wakes."""
    return zip(flat[0::3], flat[1::3], flat[2::3], strict=True)


def _hook():
    """Patch asyncio's classes and point their hooks here (idempotent)."""
    if ai.on_task is None:
        ai.on_task = _make_on_task()
    ai.on_create = _on_primitive
    ai.patch()


def _unhook():
    ai.unpatch()
    ai.on_task = ai.on_create = None


# -- primitive names -----------------------------------------------------------------------


def _primitive_serial(obj):
    serial = obj.__dict__.get("_pw_serial")
    if serial is None:  # made before install(): numbered on first sight
        serial = obj._pw_serial = next(_primitive_ids)
    return serial


def primitive_name(obj):
    """The name given to a drop-in, else where it was made."""
    d = obj.__dict__
    name = d.get("_pw_name")
    if name is not None:
        return name
    site = d.get("_pw_site")
    if site is None:
        return f"{type(obj).__name__}#{_primitive_serial(obj)}"
    nth = d.get("_pw_nth")
    return f"{type(obj).__name__}@{_site_place(site)}" + (f"#{nth}" if nth else "")


def _named(base):
    """A drop-in: the asyncio class with an optional `name=` for the
    dashboard. Nothing requires them; the stock classes are instrumented."""

    def __init__(self, *args, name=None, **kwargs):
        base.__init__(self, *args, **kwargs)
        if name is not None:
            self._pw_name = str(name)[:MAX_NAME]

    return type(base.__name__, (base,), {"__init__": __init__, "__module__": __name__})


Lock = _named(asyncio.Lock)
Semaphore = _named(asyncio.Semaphore)
BoundedSemaphore = _named(asyncio.BoundedSemaphore)
Event = _named(asyncio.Event)
Condition = _named(asyncio.Condition)
Queue = _named(asyncio.Queue)
LifoQueue = _named(asyncio.LifoQueue)
PriorityQueue = _named(asyncio.PriorityQueue)


# -- the await chain ---------------------------------------------------------------------------


def _is_library(code):
    name = code.co_filename
    return name.startswith(_ASYNCIO_DIR) or name.startswith(_CLIENT_DIR)


def raw_stack(task):
    """The task's await chain as [(code, line, via)], innermost first, where
    `via` names the awaited task a frame belongs to (None: the task's own).
    Frames of asyncio and of this package are left out when the program has
    frames of its own, so the innermost frame is the program's `await`
    line. When the task awaits another task, that task's chain comes first
    (up to MAX_AWAITED_TASKS deep): where the wait really is."""
    out, seen, via = [], set(), None
    while task is not None and id(task) not in seen and len(seen) <= MAX_AWAITED_TASKS:
        seen.add(id(task))
        links = ai.await_links(task)
        own = [(code, link) for code, link in links if not _is_library(code)]
        frames = [(code, ai.frame_of(link)) for code, link in (own or links)]
        out[:0] = [(code, f.f_lineno, via) for code, f in frames if f is not None]
        waiter = ai.fut_waiter(task) if not task.done() else None
        task = waiter if isinstance(waiter, asyncio.Task) else None
        via = task.get_name() if task is not None else None
    return out


def _format_raw(frames, cache):
    texts = []
    for code, line, via in frames:
        key = (id(code), line, via)
        text = cache.get(key)
        if text is None:
            function = code.co_qualname if via is None else f"{code.co_qualname} [task {via}]"
            text = cache[key] = _frame_text(function, code.co_filename, line)
        texts.append(text)
    return texts


# -- the instrumenter ---------------------------------------------------------------------


class Episode:
    """A task suspended on one future for longer than the threshold."""

    __slots__ = ("task_id", "since_ns", "last_seen_ns", "frames", "task_ref")

    def __init__(self, task_id, since_ns, now_ns, frames, task):
        self.task_id = task_id
        self.since_ns = since_ns
        self.last_seen_ns = now_ns
        self.frames = frames  # raw_stack() at the moment the threshold passed
        self.task_ref = weakref.ref(task)


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
        if pusher is not None and push_interval:
            # A push waits for the next scan (see _scan_tick).
            self.scan_interval = min(self.scan_interval, push_interval)
        self.pusher = pusher
        self.push_interval = push_interval
        self.worker = None  # native id of the loop thread
        # Wakes as recorded on the hot paths: (at_ns, waker task or None, woken
        # task), the tasks as weak references (see ai._note_wake). Turning
        # tasks into ids costs two dict lookups per wake, so it
        # waits for settle_wakes() (every scan tick, and snapshots): a busy
        # loop pushes most raw wakes off the end before that, and they are
        # never converted. See RAW_WAKES for the bound.
        # Flat (at_ns, waker, woken, at_ns, ...): no tuple per wake lives on
        # to be counted by the collector. extend() adds a wake in one C call,
        # so another thread never sees part of one.
        self.raw_wakes = collections.deque(maxlen=3 * RAW_WAKES)
        # Settled wakes, flat (see _settled_wakes): at_ns, waker id, woken id, ...
        self.wakes = collections.deque(maxlen=3 * MAX_WAKE_EVENTS)
        # As of the last scan (see scan()): task -> the future it waits on,
        # and task -> since when (ns). Two dicts rather than one of tuples:
        # nothing is allocated per task.
        self.wait_futs = {}
        self.wait_since = {}
        self.episodes = {}  # id(task) -> open Episode
        self.history = collections.deque(maxlen=MAX_TRACE_HISTORY)  # closed Episodes
        self.agent = None
        self.errors = 0
        self._scans = 0  # the serial of the newest scan; a sliced scan stops when another began
        self._push_due = False  # the next scan ends in a capture for the pusher
        self._pushing = False  # a push is being built (see _drive)
        self._handles = {}  # periodic job -> its next timer handle
        self._installed = False

    # -- lifecycle ----------------------------------------------------------------

    def install(self):
        """Start on the loop; it need not be running yet (its first scan and
        push are scheduled on it)."""
        _hook()
        _INSTRUMENTERS[id(self.loop)] = self
        ai.wake_logs[self.loop] = self.raw_wakes
        self._installed = True
        self._schedule(self.scan_interval, self._scan_tick)
        if self.pusher is not None and self.push_interval:
            self._schedule(self.push_interval, self._push_tick)
        if _on_loop_thread(self.loop):
            self.worker = threading.get_native_id()
        return self

    def uninstall(self):
        if not self._installed:
            return
        self._installed = False
        self.settle_wakes()
        for h in self._handles.values():
            h.cancel()
        self._handles.clear()
        if _INSTRUMENTERS.get(id(self.loop)) is self:
            del _INSTRUMENTERS[id(self.loop)]
        if ai.wake_logs.get(self.loop) is self.raw_wakes:
            del ai.wake_logs[self.loop]
        if not _INSTRUMENTERS:
            _unhook()
        # Neither waits on the network for more than a moment: the program
        # may be exiting, and a hung server must not hold it.
        if self.agent is not None:
            self.agent.stop(timeout=0.1)
        if self.pusher is not None:
            self.pusher.close(timeout=0.1)

    def _schedule(self, delay, fn):
        # One handle per job: the ones that ran are let go (a list of every
        # handle ever made grew by six a second).
        self._handles[fn.__name__] = self.loop.call_later(delay, fn)

    # -- wakes ----------------------------------------------------------------------

    def record_wake(self, waker, woken):
        """Record that `waker` (a task or None) woke `woken`, now: for wakes
        the instrumented primitives cannot see (your own primitives)."""
        waker = None if waker is None else weakref.ref(waker)
        self.raw_wakes.extend((_time_ns(), waker, weakref.ref(woken)))

    def settle_wakes(self):
        """Turn the tasks of raw wakes into task ids, and let go of every task
        the hot paths hold on to (so only the program keeps tasks alive)."""
        _PARENT_CACHE[0] = None
        raw = self.raw_wakes
        if raw:
            self.wakes.extend(_settled_wakes(raw, _LAST_WAKER))
            raw.clear()

    def wake_list(self, settle=True):
        """[at_ns, waker id, woken id, at_ns, ...], flat, oldest first.
        settle=False leaves the raw wakes alone (for a thread other than the
        loop's)."""
        if settle:
            self.settle_wakes()
            return list(self.wakes)
        return (list(self.wakes) + _settled_wakes(list(self.raw_wakes)))[-3 * MAX_WAKE_EVENTS :]

    # -- periodic work on the loop ----------------------------------------------------

    def _scan_tick(self):
        """The periodic scan, in slices (see _drive): on a loop of thousands
        of tasks one pass would hold the loop for milliseconds at a time. A
        push that is due is captured by the scan as it goes (the suspended
        tasks of each slice), so a push adds no pass of its own over the
        tasks."""
        if not self._installed:
            return
        try:
            if self.worker is None:
                self.worker = threading.get_native_id()
            self.settle_wakes()
            self._scans = next(_SCAN_SERIALS)
            waiting = {} if self._push_due else None
            self._push_due = False
            steps = self._scan_steps(_time_ns(), self._tasks(), self._scans, waiting)
        except Exception:
            self._note_error("pending scan")
            self._schedule(self.scan_interval, self._scan_tick)
            return
        self._drive(steps)

    def _scan_steps(self, now, tasks, scan, waiting):
        try:
            futs, since = {}, {}
            for start in range(0, len(tasks), SCAN_STEP):
                if scan != self._scans:  # a whole scan() ran meanwhile
                    return
                # Each slice reads what its tasks wait on when it runs: a
                # task's wait is timed from the first scan that sees it.
                part = ai.waiting(tasks[start : start + SCAN_STEP])
                self._scan_part(now, part, futs, since)
                if waiting is not None:
                    waiting.update(_wait_ids(part))
                yield
            self._scan_done(futs, since)
            if waiting is not None:
                self._push(_Capture(self, now, tasks, waiting, _current_task(self.loop)))
        finally:
            # Whatever happened to this one (done, superseded, failed), the
            # next scan comes: the pushes ride on the scans.
            if self._installed:
                self._schedule(self.scan_interval, self._scan_tick)

    def _push_tick(self):
        """A push is due: the next scan captures it (see _scan_tick)."""
        if not self._installed:
            return
        self._push_due = True
        self._schedule(self.push_interval, self._push_tick)

    def _push(self, capture):
        if self._pushing:
            self.pusher.dropped += 1  # the last one is still being built
            return
        self._pushing = True
        self.loop.call_soon(self._drive, self._push_steps(capture))

    def _push_steps(self, capture):
        """A periodic push, as steps: built on the loop thread, a slice per
        loop iteration (see _drive), compressed and sent on the pusher's
        thread. (Built on the pusher's thread, it shared the GIL with the
        loop for the whole build, in turns the loop does not choose; here
        nothing else waits for more than a slice.)"""
        try:
            yield from capture.steps()
            chunks = yield from _SnapshotPass(self, capture).steps(None)
            # zlib releases the GIL: compressing on the pusher's thread is free.
            self.pusher.push(lambda: self.pusher.body_of(chunks))
        finally:
            self._pushing = False

    def _drive(self, steps, last_end=None):
        """Run a generator of small steps (a scan, a push) on the loop, a
        slice per loop iteration: SLICE_S, or SLICE_SHARE of the time
        since its last slice ended (`last_end`) if that is more. On a busy
        loop iterations are short, and no callback of the program waits
        behind a slice for more than 0.1 ms; a loop whose callbacks take
        long (CPU-bound code) still gets its scans and pushes done within a
        few iterations, at a tenth of what its own callbacks make it wait."""
        if not self._installed:
            steps.close()
            return
        clock = time.perf_counter
        start = clock()
        budget = SLICE_S
        if last_end is not None:
            budget = max(budget, SLICE_SHARE * (start - last_end))
        try:
            for _ in steps:
                if clock() - start >= budget:
                    self.loop.call_soon(self._drive, steps, clock())
                    return
        except Exception:
            self._note_error("pending scan or periodic snapshot")

    def _note_error(self, what):
        # Instrumentation must never take the program down; say it once.
        self.errors += 1
        if self.errors == 1:
            log.exception("peepsweb: %s failed (further errors are counted, not logged)", what)

    def _tasks(self):
        """Every task of this loop still alive, finished ones included."""
        return ai.loop_tasks(self.loop)

    def scan(self, now_ns=None, tasks=None):
        """Track how long each task has been suspended on the same future and
        record a trace when that passes the threshold, in one pass; returns
        {task: the future it waits on} of the suspended tasks."""
        self._scans = next(_SCAN_SERIALS)
        waiting = ai.waiting(tasks if tasks is not None else self._tasks())
        futs, since = {}, {}
        self._scan_part(now_ns or _time_ns(), waiting, futs, since)
        self._scan_done(futs, since)
        return waiting

    def _scan_part(self, now, waiting, futs, since):
        """Scan some suspended tasks ({task: future}) into the new view
        (`futs`, `since`), rebuilt each scan from the tasks suspended now, so
        finished tasks drop out by themselves. The common case (still
        waiting, not long yet) costs two lookups and two stores, and
        allocates nothing.

        Waits are remembered by their future's id, not the future: most
        waits end within a scan interval, and a view holding finished
        futures until the next scan freed them in one batch there, which
        made the program's own garbage collections run several times as
        often (bench/client_overhead.py --loop-lag: a batch of frees
        cannot lower the collector's count below zero, so the allocations
        they balanced are counted anyway). A future a scan sees is marked
        with that scan's serial (ai.set_scan_mark): a wait seen again is
        the same wait only if its future has the same id AND was marked by
        an earlier scan. A new future at a freed one's address was made
        after the last scan, so it cannot carry an earlier mark. (What
        cannot be marked, a task awaited or a third-party future, is held
        as before.)"""
        cutoff = now - self.pending_threshold_ns
        episodes = self.episodes
        last_fut, last_since = self.wait_futs.get, self.wait_since.get
        scan = self._scans
        new_mark = ai.ScanMark(scan)
        for t, waiter in waiting.items():
            last = last_fut(t)
            mark = ai.scan_mark(waiter)
            if last is not waiter and (last != id(waiter) or mark is None or mark >= scan):
                since[t] = now
                futs[t] = id(waiter)
                # Not marked again when marked: another task may await it too.
                if mark is None and not ai.set_scan_mark(waiter, new_mark):
                    futs[t] = waiter
                continue
            futs[t] = last
            began = since[t] = last_since(t)
            if began > cutoff:
                continue
            key = id(t)
            ep = episodes.get(key)
            if ep is not None and ep.task_ref() is t and ep.since_ns == began:
                ep.last_seen_ns = now
            else:
                episodes[key] = Episode(_info(t)[TASK_ID], began, now, raw_stack(t), t)

    def _scan_done(self, futs, since):
        """The scan's new view replaces the last (never changed afterwards: a
        capture keeps the one it saw); episodes whose task moved on,
        finished or vanished are closed."""
        self.wait_futs, self.wait_since = futs, since
        episodes = self.episodes
        for key, ep in list(episodes.items()):
            t = ep.task_ref()
            if t is None or since.get(t) != ep.since_ns:
                del episodes[key]
                self.history.append(ep)

    # -- snapshot ------------------------------------------------------------------------

    def capture(self):
        """On the loop thread: everything a snapshot needs that the program
        can change, copied in one go (references and small tuples: no text
        is formatted here). build() turns it into a body, on any thread.
        (The periodic push is captured by a sliced scan instead: see
        _scan_tick.)"""
        self.settle_wakes()  # first: tasks only raw wakes kept alive are gone
        now = _time_ns()
        tasks = self._tasks()
        waiting = _wait_ids(self.scan(now, tasks))
        capture = _Capture(self, now, tasks, waiting, _current_task(self.loop))
        _run(capture.steps())
        return capture

    def build(self, capture, snapshot_id=None):
        """A snapshot body (a dict) from a capture; any thread."""
        return json.loads(self._body(capture, snapshot_id))

    def _body(self, capture, snapshot_id):
        return b"".join(_run(_SnapshotPass(self, capture).steps(snapshot_id)))

    def snapshot(self, snapshot_id=None):
        """Build a snapshot body (a dict). Call it on the loop thread, or use
        snapshot_threadsafe() from another thread."""
        return self.build(self.capture(), snapshot_id)

    def snapshot_threadsafe(self, timeout=2.0, snapshot_id=None):
        """From any thread: a body dict (see snapshot_json_threadsafe)."""
        return json.loads(self.snapshot_json_threadsafe(timeout, snapshot_id))

    def snapshot_json_threadsafe(self, timeout=2.0, snapshot_id=None):
        """From any thread (the agent's, for a pull): a snapshot body as
        JSON bytes, built on the loop as the periodic push is, a slice per
        loop iteration (see _drive): built in one go, a pull of 3,000 tasks
        held the loop for 20-40 ms. If the loop takes no step of it for
        `timeout` (its thread is blocked), it is captured and built here
        instead, with the loop thread as a `thread` node and its current
        stack. A build that goes on stepping gets up to PULL_PATIENCE
        timeouts in all, then TimeoutError."""
        if _on_loop_thread(self.loop):
            return self._body(self.capture(), snapshot_id)
        done = concurrent.futures.Future()
        pull = _PullState()

        def on_loop():
            if not pull.abandoned:
                self._drive(self._pull_steps(snapshot_id, done, pull))

        try:
            self.loop.call_soon_threadsafe(on_loop)
        except RuntimeError:  # the loop is closed
            pull.abandoned = True
        seen, end = 0, time.monotonic() + PULL_PATIENCE * timeout
        while not pull.abandoned:
            try:
                return done.result(timeout)
            except concurrent.futures.TimeoutError:
                if pull.steps == seen:
                    pull.abandoned = True  # not a step in `timeout`: the loop is blocked
                elif time.monotonic() >= end:
                    pull.abandoned = True
                    raise
                seen = pull.steps
        if done.done():  # it finished just as it was given up
            return done.result()
        for attempt in range(5):
            try:
                tasks = self._tasks()
                waiting = ai.waiting(tasks)
                capture = _Capture(
                    self, _time_ns(), tasks, _wait_ids(waiting), None, loop_blocked=True
                )
                _run(capture.steps())
                return self._body(capture, snapshot_id)
            except RuntimeError:  # structures changed under us: the loop woke up
                if attempt == 4:
                    raise
        return None

    def _pull_steps(self, snapshot_id, done, pull):
        """A pull as steps, its body the result of `done`: a pass over the
        tasks for what each waits on, a slice at a time, the capture and the
        build. It runs no scan of its own: its pending times are the last
        scan's (at most scan_interval old), as a push's are."""
        try:
            self.settle_wakes()
            now, tasks, waiting = _time_ns(), self._tasks(), {}
            for start in range(0, len(tasks), SCAN_STEP):
                if pull.abandoned:
                    return
                part = ai.waiting(tasks[start : start + SCAN_STEP])
                waiting.update(_wait_ids(part))
                pull.steps += 1
                yield
            capture = _Capture(self, now, tasks, waiting, _current_task(self.loop))
            del tasks, waiting
            yield from pull.follow(capture.steps())
            chunks = yield from pull.follow(_SnapshotPass(self, capture).steps(snapshot_id))
            if not pull.abandoned:
                done.set_result(b"".join(chunks))
        except Exception as e:
            done.set_exception(e)


class _PullState:
    """What a pull's steps on the loop and the thread waiting for them share."""

    steps = 0  # taken so far
    abandoned = False  # the waiting thread gave up on them

    def follow(self, steps):
        """Take `steps` (a generator), counted, until they end (their
        value) or the waiting thread gives up (None)."""
        while not self.abandoned:
            try:
                next(steps)
            except StopIteration as end:
                return end.value
            self.steps += 1
            yield
        steps.close()
        return None


def _same_wait(last, waiter):
    """Whether a scan's record of a task's wait (its future, or the future's
    id: see Instrumenter._scan_part) is `waiter`."""
    return last is waiter or last == id(waiter)


def _on_loop_thread(loop):
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Capture:
    """The moving parts of one snapshot, read on the loop thread: each
    suspended task with the future it waits on, the state of every active
    primitive (holders, waiters, recent putters and getters), wakes, and
    traces. What stays put while a task is suspended (its coroutine frames,
    its name, a finished task's result) is read later, by build().
    `waiting`: suspended task -> the id of the future it waits on, not the
    future: most futures are done and let go by the program long before
    the body is built, and a capture holding thousands of them past the
    program's garbage collections made those collections run more often
    (see Instrumenter._scan_part). The build reads each again.

    The rest is read by steps(), a primitive at a time: on the loop of a
    periodic push, each step is a slice of a loop iteration (see
    Instrumenter._drive)."""

    def __init__(self, inst, now, tasks, waiting, current, loop_blocked=False):
        self.inst = inst
        self.now = now
        self.tasks = tasks
        self.waiting = waiting
        self.current = current
        self.loop_blocked = loop_blocked
        # The last scan's view (replaced by the next scan, never changed).
        self.wait_futs, self.wait_since = inst.wait_futs, inst.wait_since
        self.wakes = []  # flat, see _settled_wakes
        self.primitives = []  # (primitive, kind, state, holders, [([waiter id], op)], recent)
        self.closed_waits = self.open_waits = ()

    def steps(self):
        inst = self.inst
        self.wakes = inst.wake_list(settle=not self.loop_blocked)
        yield
        loop = inst.loop
        for obj in ai.live_members(_PRIMITIVES):
            kind = ai.primitive_kind(obj)
            if ai.bound_loop(obj) in (None, loop) and ai.is_active(obj, kind):
                state, holders = ai.describe(obj, kind)
                waiters = ai.waiter_ids(obj, kind)
                recent = ai.recent_tasks(obj, kind)
                self.primitives.append((obj, kind, state, holders, waiters, recent))
                yield
        # The long waits: closed ones (never changed again) and open ones,
        # which end now (only their last_seen_ns changes, and it is not read).
        self.closed_waits = list(inst.history)
        self.open_waits = list(inst.episodes.values())


def _wait_ids(waiting):
    """{task: future} -> {task: id(future)} (see _Capture)."""
    return dict(zip(waiting, map(id, waiting.values()), strict=True))


# JSON text, made as the body is built: a node is a string from the moment
# it exists. A body of dicts is tens of thousands of containers alive until
# it is encoded: they make the program's garbage collector run, promote the
# body to the older generations and end in full collections of the whole
# program (20-30 ms with the GIL held); pausing the collector instead piles
# the program's own garbage into one long collection when it is back. Strings
# are not tracked by the collector, and each node's few temporaries are freed
# before the next. It is also half the CPU of dicts then json.dumps.
_json_str = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _stack_text(stack):
    """A thread's stack, [(code, line)] innermost first, as frame texts."""
    frames = [_frame_text(code.co_qualname, code.co_filename, line) for code, line in stack]
    return "\n".join(frames)[: 60 * 1024]


def _callable_name(fn):
    """What a thread pool job runs: asyncio.to_thread's job is
    partial(context.run, func, ...), named after func."""
    if isinstance(fn, functools.partial):
        inner = fn.func
        is_context_run = isinstance(getattr(inner, "__self__", None), contextvars.Context)
        fn = fn.args[0] if is_context_run and fn.args else inner
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return str(name)[:MAX_NAME]


def _utf8(text):
    # A lone surrogate in a name the program chose becomes "?": the body
    # stays UTF-8, which the server requires.
    return text.encode("utf-8", "replace")


def _json_int(value):
    return "null" if value is None else str(int(value))


def _run(steps):
    """Run a generator of steps (see _SnapshotPass.steps) to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


class _Body:
    """A snapshot body (SNAPSHOT_FORMAT.md v1) kept as JSON text per
    element: what SnapshotBuilder does with dicts, for the instrumenter."""

    def __init__(self, inst):
        self.head = {"process": inst.process, "pid": inst.pid, "proc_key": inst.proc_key}
        self.nodes = {}  # id -> JSON text
        self.edges = {}  # "src\0dst" -> JSON text (a pair once; the last attrs win)
        self.wakes = []
        self.frames = {}  # text -> id
        self.traces = []

    def node(self, node_id, kind, label, attrs):
        self.nodes[node_id] = _json({"id": node_id, "kind": kind, "label": label, "attrs": attrs})
        return node_id

    def node_text(self, node_id, text):
        self.nodes[node_id] = text
        return node_id

    def needs(self, src, dst, attrs_text="{}"):
        self.edges[f"{src}\0{dst}"] = (
            f'{{"src_id":{_json_str(src)},"dst_id":{_json_str(dst)},'
            f'"kind":"needs","attrs":{attrs_text}}}'
        )

    def frame(self, text):
        fid = self.frames.get(text)
        if fid is None:
            fid = self.frames[text] = len(self.frames) + 1
        return fid

    def steps(self, captured_at_ns, snapshot_id):
        """The body as UTF-8 byte strings to concatenate, JOIN_SLICE
        elements per step (never joined here: a copy of the whole body
        holds the GIL for a millisecond or two, see push.gzip_body)."""
        head = _json({**self.head, "captured_at_ns": captured_at_ns, "snapshot_id": snapshot_id})
        chunks = [_utf8(head[:-1])]
        for key, items in (
            ("nodes", list(self.nodes.values())),
            ("edges", list(self.edges.values())),
            ("wake_events", self.wakes),
            ("pending_traces", self.traces),
        ):
            chunks.append(_utf8(f',"{key}":['))
            for i in range(0, len(items), JOIN_SLICE):
                comma = "," if i else ""
                chunks.append(_utf8(comma + ",".join(items[i : i + JOIN_SLICE])))
                yield
            chunks.append(b"]")
        frames = {str(fid): text for text, fid in self.frames.items()}
        chunks.append(_utf8(f',"frames":{_json(frames)}}}'))
        return chunks


_OP_ATTRS = {}  # op -> its edge attrs' JSON


def _op_attrs(op):
    text = _OP_ATTRS.get(op)
    if text is None:
        text = _OP_ATTRS[op] = _json({"op": op})
    return text


class _SnapshotPass:
    """One snapshot body built from a capture: nodes for tasks, and edges
    from what each task awaits, with the primitives and futures found on
    the way."""

    def __init__(self, inst, capture):
        self.inst = inst
        self.c = capture
        self.now = capture.now
        self.b = _Body(inst)
        self.proc_key = inst.proc_key
        self.site_texts = {}  # site -> frame text, as JSON (sites are shared by many tasks)
        self.frame_texts = {}  # (id(code), line, via) -> frame text
        self.task_nodes = {}  # task id -> node id
        # id(future) -> the primitive's node id, and -> the operation: two
        # dicts, no tuple per waiter (see _Body on the collector).
        self.waiter_node = {}
        self.waiter_op = {}
        self.future_nodes = {}  # id(future) -> node id
        self.primitive_nodes = {}  # id(primitive) -> node id
        self._jobs = None  # see executor_jobs

    def steps(self, snapshot_id):
        """The build as a generator that yields between small pieces of work
        (a task, a primitive...) and returns the body's bytes.

        The capture's references to tasks are let go of as the build goes:
        built a slice per loop iteration, it lasts tens of milliseconds,
        and everything a task that ends meanwhile holds would otherwise
        live on until the end. Those objects counted towards the program's
        next garbage collection (an extra collection per push, 3-5 ms each
        on a loop of 3,000 tasks: bench/client_overhead.py --loop-lag)."""
        c = self.c
        tasks, c.tasks = c.tasks, None
        live = [t for t in tasks if t in c.waiting or not t.done()]
        yield
        done = [t for t in tasks if t not in c.waiting and t.done()]
        del tasks
        if len(done) > MAX_DONE_TASKS:
            done.sort(key=lambda t: _info(t)[TASK_ID])
            done = done[-MAX_DONE_TASKS:]
        order = live + done
        del live, done
        yield
        # Primitives first: a task's edge to what it waits on needs them.
        for captured in c.primitives:
            self.primitive_node(*captured)
            yield
        c.primitives = None
        for i, t in enumerate(order):
            order[i] = None
            node_id = self.task_node(t)
            key = c.waiting.pop(t, _UNSET)
            if key is not _UNSET:
                dst, attrs = self.target_of(self.waiter(t, key), t, key)
                if dst is not None:
                    self.b.needs(node_id, dst, attrs)
            yield
        yield from self.wake_events()
        yield from self.pending_traces()
        if c.loop_blocked:
            self.loop_thread_node()
        return (yield from self.b.steps(self.now, snapshot_id))

    # -- tasks ---------------------------------------------------------------------------

    def waiter(self, t, key):
        """For a task suspended at the capture on the future of id `key`:
        that future if the task still waits on it; None when it has moved
        on since (it was woken: "scheduled", and nothing it awaited then is
        known any more)."""
        waiter = ai.fut_waiter(t)
        return waiter if waiter is not None and id(waiter) == key else None

    def task_state(self, t, waiter):
        """`waiter`: see waiter(); _UNSET for a task not suspended at the capture."""
        if waiter is not _UNSET:
            # A future already done: its task is on the ready queue.
            return "scheduled" if waiter is None or waiter.done() else "pending"
        if t is self.c.current:
            return "running"
        if t.done():
            if t.cancelled():
                return "cancelled"
            return "failed" if ai.task_exception(t) is not None else "completed"
        return "scheduled"

    def task_node(self, t):
        """The task's node, as JSON text made in one go (the commonest node
        by far: see _Body)."""
        # By task id, not id(t): the build lets go of the capture's tasks,
        # and a task made meanwhile may have the address of one that ended.
        task_id, parent_id, spawned_at_ns, site, _ref = _info(t)
        node_id = self.task_nodes.get(task_id)
        if node_id is not None:
            return node_id
        name = t.get_name()
        coro = t.get_coro()
        coro_name = getattr(coro, "__qualname__", None) or type(coro).__name__
        captured = self.c.waiting.get(t, _UNSET)
        waiter = _UNSET if captured is _UNSET else self.waiter(t, captured)
        state = self.task_state(t, waiter)
        label = name
        if name.startswith("Task-") and DEFAULT_TASK_NAME.fullmatch(name):
            label = coro_name
        node_id = self.task_nodes[task_id] = f"task:{self.proc_key}:{task_id}"
        text = [
            f'{{"id":{_json_str(node_id)},"kind":"task","label":{_json_str(label)},'
            f'"attrs":{{"task_id":{task_id},"name":{_json_str(name)},"state":"{state}",'
            f'"coro":{_json_str(coro_name)}'
        ]
        if spawned_at_ns is not None:
            text.append(f',"spawned_at_ns":{spawned_at_ns}')
        if parent_id is not None:
            text.append(f',"parent_task_id":{parent_id}')
        if site is not None:
            site_key = (id(site[0]), site[1])  # hashing a code object hashes its bytecode
            site_json = self.site_texts.get(site_key)
            if site_json is None:
                site_json = self.site_texts[site_key] = _json_str(_site_text(site))
            text.append(f',"spawn_backtrace":{site_json}')
        waker = _LAST_WAKER.get(task_id, _UNSET)
        if waker is not _UNSET:
            text.append(f',"last_wake_from_task_id":{_json_int(waker)}')
        if state == "pending" and _same_wait(self.c.wait_futs.get(t), waiter):
            # When the wait began, not how long it has lasted: a duration
            # would change the node at every capture (SNAPSHOT_FORMAT v1.2).
            text.append(f',"pending_since_ns":{self.c.wait_since[t]}')
        elif state == "failed":
            text.append(f',"exception":{_json_str(repr(ai.task_exception(t))[:MAX_TEXT])}')
        text.append("}}")
        return self.b.node_text(node_id, "".join(text))

    # -- primitives ------------------------------------------------------------------------

    def primitive_node(self, obj, kind, state, holders, waiters, recent):
        """A lock, semaphore, event, condition or queue as captured: its
        state, its waiters (for the tasks' edges to it), and what it needs:
        the tasks holding it, or for a queue that blocks its putters
        (getters), the tasks that recently got from (put on) it."""
        name = primitive_name(obj)
        attrs = {"name": name, "created_at": _site_text(obj.__dict__.get("_pw_site")), **state}
        if kind == "condition":
            attrs["lock"] = primitive_name(ai.condition_lock(obj))
        node_id = self.primitive_nodes[id(obj)] = self.b.node(
            f"{kind}:{self.proc_key}:{_primitive_serial(obj)}", kind, name, attrs
        )
        for keys, op in waiters:
            for key in keys:
                self.waiter_node[key] = node_id
                self.waiter_op[key] = op
        for task, permits in holders.items():
            held = {"held": True} if kind == "lock" else {"held": True, "permits": permits}
            self.b.needs(node_id, self.task_node(task), _json(held))
        if kind == "queue":
            self.queue_edges(node_id, state, recent)
        return node_id

    def found_primitive(self, obj, kind):
        """A primitive found as `self` of a frame awaiting a future, not in
        the capture (made before install()): described now."""
        node_id = self.primitive_nodes.get(id(obj))
        if node_id is not None:
            return node_id
        state, holders = ai.describe(obj, kind)
        waiters = ai.waiter_ids(obj, kind)
        return self.primitive_node(obj, kind, state, holders, waiters, ai.recent_tasks(obj, kind))

    def queue_edges(self, node_id, state, recent):
        """A full queue with blocked putters needs the tasks that recently got
        from it; an empty one with blocked getters, its recent putters."""
        for blocked, queue, role, op in (
            (state["full"] and state["put_waiters"], "full", "consumer", "get"),
            (state["size"] == 0 and state["get_waiters"], "empty", "producer", "put"),
        ):
            if not blocked:
                continue
            for task, at_ns in recent[op].items():
                if not task.done():
                    attrs = {"queue": queue, "role": role, f"last_{op}_at_ns": at_ns}
                    self.b.needs(node_id, self.task_node(task), _json(attrs))

    # -- edges ---------------------------------------------------------------------------------

    def target_of(self, fut, task, key):
        """(node id, edge attrs) for what `task` is suspended on: `fut`, whose
        id was `key` at the capture; (None, None) when that is not known, or
        the task has moved on since (`fut` None). A task that moved on gets
        no edge, even when a primitive's waiters, captured, still name its
        future: the capture is read over several loop iterations and the
        build after it, and edges of tasks that ran meanwhile joined with
        holders read at another moment made cycles of a healthy program
        (tests/client/realprograms: test_a_busy_healthy_program_reports_no_cycle)."""
        if fut is None:
            return None, None
        owner = self.waiter_node.get(key)
        if owner is not None and not (self.waiter_op[key] == "get" and owner.startswith("queue:")):
            return owner, _op_attrs(self.waiter_op[key])
        if isinstance(fut, asyncio.Task):
            return self.task_node(fut), _op_attrs("await")
        # (A getter may be as_completed() waiting on its own queue: the
        # futures it has left are what it needs.)
        # The frames of a task suspended on a future stay as they are until
        # it resumes: walked here, off the loop thread, and trusted only if
        # the task still waits on the same future afterwards.
        chain = ai.coro_chain(task.get_coro())
        if ai.fut_waiter(task) is not fut:
            return None, None
        inner = chain[-1] if chain else None  # (coroutine, code)
        for outer in chain[-2:]:
            todo = ai.as_completed_todo(*outer)
            if todo is not None:
                return self.future_node(fut, outer, "as_completed", todo), _op_attrs("await")
        if owner is not None:
            return owner, _op_attrs(self.waiter_op[key])
        if inner is not None:
            group = ai.taskgroup_children(*inner)
            if group is not None:
                node = self.future_node(fut, inner, "TaskGroup", group[1], owner=task)
                return node, _op_attrs("await")
            obj = ai.primitive_self(*inner)
            kind = ai.primitive_kind(obj) if obj is not None else None
            if kind is not None:
                self.found_primitive(obj, kind)
                owner = self.waiter_node.get(id(fut))
                if owner is not None:
                    return owner, _op_attrs(self.waiter_op[id(fut)])
        return self.future_node(fut, inner), _op_attrs("await")

    def future_node(self, fut, link, label=None, children=None, owner=None, depth=0):
        """A `future` node for what a task awaits, needing the tasks and
        futures it waits for (gather's children, a TaskGroup's, a shield's
        inner task...). `link`: the (coroutine, code) awaiting it, or None."""
        key = id(fut)
        node_id = self.future_nodes.get(key)
        if node_id is not None:
            return node_id
        job = run = None  # a thread pool's job the future mirrors, and where it runs
        if children is None:
            children = ai.gather_children(fut)
            if children is not None:
                label = "gather"
            elif link is not None and (children := ai.wait_children(*link)) is not None:
                label = "asyncio.wait"
            else:
                children = []
                link_kind, other = ai.mirrored(fut) or (None, None)
                if link_kind == "shield":
                    label, children = "shield", [other]
                elif link_kind == "executor":
                    label, job = "run_in_executor", other
        if label is None:
            label = link[1].co_qualname if link is not None else type(fut).__name__
        attrs = {"future_id": key, "label": label, "type": type(fut).__name__}
        if job is not None:
            run = self.executor_jobs().get(id(job))
            if run is not None:
                attrs["function"] = _callable_name(run[1])
            attrs["job"] = "running" if run is not None else "not running (queued, or done)"
        if owner is not None:
            attrs["owner_task_id"] = _info(owner)[TASK_ID]
        # Where the program's own code awaits the future (asyncio's lines,
        # sleep's above all, would each cost a frame object: see coro_chain).
        if link is not None and not _is_library(link[1]):
            frame = ai.frame_of(link[0])
            if frame is not None:
                where = [(link[1], frame.f_lineno, None)]
                attrs["awaited_at"] = _format_raw(where, self.frame_texts)[0]
        node_id = self.future_nodes[key] = self.b.node(
            f"future:{self.proc_key}:{self.future_name(fut)}", "future", label, attrs
        )
        if run is not None:
            self.b.needs(node_id, self.pool_thread_node(run[0], run[2]))
        if depth < 4:
            for child in children:
                if child.done():
                    continue
                if isinstance(child, asyncio.Task):
                    self.b.needs(node_id, self.task_node(child))
                else:
                    self.b.needs(node_id, self.future_node(child, None, depth=depth + 1))
        return node_id

    def executor_jobs(self):
        """The jobs thread pools run now (ai.executor_jobs), read once per
        snapshot, when a task is found awaiting one."""
        if self._jobs is None:
            self._jobs = ai.executor_jobs()
        return self._jobs

    def pool_thread_node(self, ident, stack):
        """A thread pool's thread running a job a task awaits, with its stack
        above the job, innermost first: where the job is now."""
        thread = next((t for t in threading.enumerate() if t.ident == ident), None)
        name = thread.name if thread is not None else str(ident)
        native_id = thread.native_id if thread is not None else None
        attrs = {"name": name, "state": "running", "native_id": native_id}
        attrs["stack"] = _stack_text(stack)
        node_id = f"thread:{self.proc_key}:{native_id or ident}"
        return self.b.node(node_id, "thread", f"thread {name}"[:MAX_NAME], attrs)

    def future_name(self, fut):
        """The future's address, and for an asyncio.Future the serial of the
        first scan (or build) that saw it: a later future at a freed one's
        address gets another node id, so history never takes two futures
        for one node. (Other futures cannot be marked: the address alone.)"""
        mark = ai.scan_mark(fut)
        if mark is None:
            mark = ai.ScanMark(self.inst._scans)
            if not ai.set_scan_mark(fut, mark):
                return f"{id(fut):x}"
        return f"{id(fut):x}.{mark}"

    # -- wakes and traces --------------------------------------------------------------------

    def wake_events(self):
        worker = _json_int(self.inst.worker)
        wakes = self.b.wakes
        for i, (at_ns, waker, woken) in enumerate(_wake_triples(self.c.wakes)):
            wakes.append(
                f'{{"at_ns":{at_ns},"waker_task_id":{_json_int(waker)},'
                f'"woken_task_id":{woken},"target_worker":{worker}}}'
            )
            if i % 256 == 255:
                yield

    def pending_traces(self):
        closed = [(ep, ep.last_seen_ns) for ep in self.c.closed_waits]
        for ep, end in closed + [(ep, self.now) for ep in self.c.open_waits]:
            frames = _format_raw(ep.frames, self.frame_texts) or [NO_FRAME]
            trace = {
                "task_id": ep.task_id,
                "at_ns": end,
                "duration_us": max(0, end - ep.since_ns) // 1000,
                # When the wait began: unlike the duration, it stays the
                # same across captures of one wait.
                "since_ns": ep.since_ns,
                "frame_ids": [self.b.frame(f) for f in frames],
            }
            self.b.traces.append(_json(trace))
            yield

    def loop_thread_node(self):
        """The loop thread did not answer: show it, with what it is running."""
        thread = ai.loop_thread_id(self.inst.loop)
        stack = ai.thread_stack(thread) if thread is not None else []
        attrs = {
            "name": "event loop",
            "state": "blocked",
            "native_id": self.inst.worker,
            "stack": _stack_text(stack),
        }
        label = "event loop thread (not responding)"
        self.b.node(f"thread:{self.proc_key}:loop", "thread", label, attrs)


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
    """Instrument a loop (the running one by default; a loop that is not
    running yet works too) and return its Instrumenter. With `url`,
    snapshots are pushed every `push_interval` seconds (5 by default) from a
    background thread; with `agent=True` the process also answers the
    server's "Jump to now" requests."""
    loop = loop or asyncio.get_running_loop()
    existing = _INSTRUMENTERS.get(id(loop))
    if existing is not None and existing.loop is loop:
        return existing
    if url and pusher is None:
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
            snapshot=inst.snapshot_json_threadsafe,
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
