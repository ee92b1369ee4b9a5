"""The one publisher of page updates.

Ingest sends `process_snapshot_stored` after its transaction commits (never
before: a rollback must not leave browsers showing rows that do not exist);
a pull calls `snapshot_completed` when it closes; the agent socket calls
`agents_changed`. Each change is rendered ONCE, by the very views and
partial templates the pages use (an htmx request for the fragment, made
in-process), serialized once, and sent to a channel-layer group; consumers
forward the text unchanged.

Rendering is not done in the ingest request: the live view's fragments cost
a few hundred milliseconds of queries and templates (bench/live.py prints
it), which every POST would pay. The receiver only records what changed and
wakes one worker thread per process, which renders what has listeners and
sends it. Changes that arrive while it works are coalesced into its next
round, so a burst of snapshots costs a few renders, not one per snapshot,
and a POST returns as soon as it has committed. No browser can slow it
down: a group_send queues one reference per member (in memory) or runs one
Redis script, and a full queue of a stalled browser drops that browser's
message rather than wait.

Messages (JSON text): {"event": "snapshot", "snapshot_id": N} when N is the
newest complete snapshot; {"event": "fragments", "topic": "...", "html":
"..."} where html holds elements whose ids name what they replace.
"""

import asyncio
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.dispatch import receiver
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import resolve
from django_htmx.middleware import HtmxDetails

from snapshots.live import topics
from snapshots.models import ProcessSnapshot
from snapshots.signals import process_snapshot_stored

log = logging.getLogger(__name__)

# The worker's budget. Rendering shares the server's CPU (and Python's GIL)
# with ingest, and on PostgreSQL part of a round's cost is the database
# backend's work for its queries, in another process. So a round is charged
# its own CPU time plus that backend's (RoundCost), and the budget refills
# at two rates (RenderBudget, ServerActivity):
# - while the server has served no HTTP request for QUIET_AFTER_S, at
#   IDLE_RATE: nothing is competing, so a lone snapshot (or a process
#   pushing every second) is rendered at once, every time;
# - while a request is in flight, at settings.PEEPSWEB_LIVE_RENDER_SHARE of
#   one CPU, so under sustained ingest pages update every (round cost /
#   share) seconds, whatever the ingest rate, and ingest keeps the rest.
# bench/live.py measures both sides.
DEFAULT_RENDER_SHARE = 0.04
IDLE_RATE = 1.0
RENDER_BURST_S = 0.1
SEND_TIMEOUT_S = 5
# Gaps shorter than this between requests are still "serving".
QUIET_AFTER_S = 0.1
# A request whose end was never signalled (an exception in the server
# itself) must not keep the server "busy" for ever.
STALE_REQUEST_S = 120


class ServerActivity:
    """Counts the HTTP requests in flight in this process (Django's
    request_started / request_finished) and the wall time during which the
    server was serving: with a request in flight, or within `grace` seconds
    of the last one's end (the gap between two POSTs of a busy client is not
    a quiet spell). That is the time rendering would compete with serving."""

    def __init__(self, clock=time.monotonic, grace=QUIET_AFTER_S):
        self.clock = clock
        self.grace = grace
        self.lock = threading.Lock()
        self.in_flight = 0
        self.busy_total = 0.0  # busy seconds before busy_since / tail_from
        self.busy_since = None  # start of the current spell with requests
        self.tail_from = None  # when the last request ended (in_flight == 0)
        self.last_event = clock()

    def started(self):
        with self.lock:
            now = self.clock()
            self._expire(now)
            if self.in_flight == 0:
                self.busy_total += self._tail(now)
                self.tail_from = None
                self.busy_since = now
            self.in_flight += 1
            self.last_event = now

    def finished(self):
        with self.lock:
            now = self.clock()
            if self.in_flight > 0:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self.busy_total += now - self.busy_since
                    self.tail_from = now
            self.last_event = now

    def busy_seconds(self):
        """Wall seconds spent serving, ever (monotonic)."""
        with self.lock:
            now = self.clock()
            self._expire(now)
            if self.in_flight:
                return self.busy_total + (now - self.busy_since)
            return self.busy_total + self._tail(now)

    def _tail(self, now):
        if self.tail_from is None:
            return 0.0
        return min(now - self.tail_from, self.grace)

    def _expire(self, now):
        if self.in_flight and now - self.last_event > STALE_REQUEST_S:
            self.busy_total += now - self.busy_since
            self.in_flight = 0
            self.tail_from = None

    @contextlib.contextmanager
    def serving(self):
        """Count work that is not an HTTP request (an agent's snapshot
        arriving over its socket) as serving too."""
        self.started()
        try:
            yield
        finally:
            self.finished()


server_activity = ServerActivity()


@receiver(request_started, dispatch_uid="live.activity.started")
def on_request_started(sender, **kwargs):
    server_activity.started()


@receiver(request_finished, dispatch_uid="live.activity.finished")
def on_request_finished(sender, **kwargs):
    server_activity.finished()


@receiver(process_snapshot_stored, dispatch_uid="live.publish")
def on_process_snapshot_stored(sender, process_snapshot, **kwargs):
    if process_snapshot.status == ProcessSnapshot.PUSHED:
        # A push is a complete snapshot on its own.
        publisher.submit(
            Changes(snapshot_list=True, live=True, newest=process_snapshot.snapshot_id)
        )
    else:
        # A pull reply: the list shows the open pull filling up.
        publisher.submit(Changes(snapshot_list=True, live=True))


def snapshot_completed(snapshot_id):
    """A pull closed (pull.py calls this on commit)."""
    publisher.submit(Changes(snapshot_list=True, newest=snapshot_id))


def agents_changed():
    """An agent connected or left."""
    publisher.submit(Changes(agents=True))


@dataclass
class Changes:
    snapshot_list: bool = False
    live: bool = False
    agents: bool = False
    newest: int | None = None  # the newest complete snapshot announced

    def merge(self, other):
        newest = max((n for n in (self.newest, other.newest) if n is not None), default=None)
        return Changes(
            snapshot_list=self.snapshot_list or other.snapshot_list,
            live=self.live or other.live,
            agents=self.agents or other.agents,
            newest=newest,
        )

    def __bool__(self):
        return self.snapshot_list or self.live or self.agents or self.newest is not None


class Publisher:
    """One worker thread per process, started on first use."""

    def __init__(self):
        self.pending = Changes()
        self.busy = False
        self.cond = threading.Condition()
        self.thread = None
        # The server's event loop, recorded by the consumers: the in-memory
        # layer's queues belong to it, so its group_send must run there.
        self.loop = None
        self.own_loop = None
        self.last_round = None  # the RoundCost of the latest round

    def submit(self, changes):
        with self.cond:
            self.pending = self.pending.merge(changes)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="live-publisher", daemon=True)
                self.thread.start()
            self.cond.notify_all()

    def flush(self, timeout=10):
        """Wait until everything submitted so far has been sent (tests, bench)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending or self.busy:
                if not self.cond.wait(max(0, deadline - time.monotonic())):
                    return False
        return True

    def run(self):
        name_os_thread("live-publisher")
        share = getattr(settings, "PEEPSWEB_LIVE_RENDER_SHARE", DEFAULT_RENDER_SHARE)
        budget = RenderBudget(share, RENDER_BURST_S)
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
            # Changes keep coalescing while the budget refills.
            budget.wait_until_ready()
            with self.cond:
                changes, self.pending, self.busy = self.pending, Changes(), True
            cost = RoundCost()
            try:
                with cost.measure():
                    self.publish(changes)
            except Exception:  # a broken page must not stop later updates
                log.exception("live: could not publish %s", changes)
            finally:
                close_old_connections()
                budget.spend(cost.seconds)
                self.last_round = cost
                log.debug(
                    "live: round of %s: cpu %.1f ms, database %.1f ms, %d queries",
                    changes,
                    cost.cpu * 1000,
                    cost.db_cpu * 1000,
                    cost.queries,
                )
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def publish(self, changes):
        if changes.snapshot_list and self.has_listeners(topics.SNAPSHOT_LIST):
            # The first page, whole: it also carries the total and the pager,
            # and stays right when several snapshots land at once.
            self.send(topics.SNAPSHOT_LIST, fragments("list", render_view("/")))
        if changes.newest is not None:
            self.send(topics.SNAPSHOTS, {"event": "snapshot", "snapshot_id": changes.newest})
        if changes.live:
            if self.has_listeners(topics.LIVE_OVERVIEW):
                html = render_view("/snapshots/live/") + render_banner("live")
                self.send(topics.LIVE_OVERVIEW, fragments("overview", html))
            if self.has_listeners(topics.LIVE_TASKS):
                # As it looks unfiltered; a filtered table fetches its own rows.
                html = render_view("/snapshots/live/tasks/")
                self.send(topics.LIVE_TASKS, fragments("tasks", html))
        if changes.agents and self.has_listeners(topics.AGENTS):
            self.send(topics.AGENTS, fragments("agents", render_view("/agents/")))

    def has_listeners(self, group):
        """Skip rendering for nobody. Only the in-memory layer can tell
        cheaply; with Redis a page on another server may listen."""
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer):
            return bool(layer.groups.get(group)) and self.server_loop() is not None
        return True

    def server_loop(self):
        loop = self.loop
        return loop if loop is not None and loop.is_running() else None

    def send(self, group, payload):
        message = {"type": "page.update", "text": orjson.dumps(payload).decode()}
        layer = get_channel_layer()
        loop = self.server_loop()
        if loop is not None:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.result(SEND_TIMEOUT_S)
        elif not isinstance(layer, InMemoryChannelLayer):
            # No page socket in this process (say, the `ingest` command):
            # Redis still reaches the other servers' pages.
            if self.own_loop is None:
                self.own_loop = asyncio.new_event_loop()
            self.own_loop.run_until_complete(layer.group_send(group, message))


class RoundCost:
    """What a round takes from the server's CPUs: its thread's CPU time
    (which includes SQLite's work: it runs in the thread), plus the CPU time
    of the PostgreSQL backend that ran its queries when that runs on this
    machine (read from /proc; there it competes with ingest for the same
    cores). Wall time would be wrong: under load it mostly measures waiting
    for the GIL and for a core, while ingest uses them."""

    def __init__(self):
        self.cpu = 0.0
        self.db_cpu = 0.0
        self.queries = 0
        self._backend = None  # (stat path, CPU seconds at the round's first query)

    @property
    def seconds(self):
        return self.cpu + self.db_cpu

    @contextlib.contextmanager
    def measure(self):
        started = time.thread_time()
        try:
            with connection.execute_wrapper(self._query):
                yield
        finally:
            self.cpu += time.thread_time() - started
            if self._backend is not None:
                path, before = self._backend
                self.db_cpu += max(0.0, (process_cpu(path) or before) - before)

    def _query(self, execute, sql, params, many, context):
        if self.queries == 0:
            path = local_backend_stat(context["connection"])
            before = process_cpu(path) if path else None
            self._backend = (path, before) if before is not None else None
        self.queries += 1
        return execute(sql, params, many, context)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


def local_backend_stat(db):
    """/proc/PID/stat of the PostgreSQL backend serving `db` (a Django
    connection wrapper) when the server runs on this machine, else None."""
    if db.vendor != "postgresql" or db.settings_dict.get("HOST", "") not in LOCAL_HOSTS:
        return None
    try:
        pid = db.connection.info.backend_pid
        with open(f"/proc/{pid}/comm") as comm:
            if comm.read().strip() != "postgres":
                return None
    except (AttributeError, OSError):
        return None
    return f"/proc/{pid}/stat"


def process_cpu(stat_path):
    """User + system CPU seconds of a process, or None if it is gone."""
    try:
        with open(stat_path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class RenderBudget:
    """A token bucket of rendering seconds (RoundCost). It refills at
    `share` per second while the server is serving a request and at
    `idle_rate` per second while it is not, up to `burst`; a round spends
    what it cost (the balance may go negative) and the next round waits
    until the balance is back to zero."""

    def __init__(self, share, burst, idle_rate=IDLE_RATE, activity=None):
        self.share = share
        self.burst = burst
        self.idle_rate = idle_rate
        self.activity = activity if activity is not None else server_activity
        self.clock = self.activity.clock
        self.tokens = burst
        self.at = self.clock()
        self.busy_at = self.activity.busy_seconds()

    def _refill(self):
        now, busy = self.clock(), self.activity.busy_seconds()
        busy_dt = min(busy - self.busy_at, now - self.at)
        idle_dt = (now - self.at) - busy_dt
        self.tokens = min(self.burst, self.tokens + busy_dt * self.share + idle_dt * self.idle_rate)
        self.at, self.busy_at = now, busy

    def wait(self):
        """Seconds to wait before the next round if the server stays busy."""
        self._refill()
        return max(0.0, -self.tokens / self.share)

    def wait_until_ready(self, step=0.05):
        """Sleep until the balance is back to zero; in short steps, since the
        server going idle speeds the refill up."""
        while (needed := self.wait()) > 0:
            time.sleep(min(step, needed))

    def spend(self, seconds):
        self._refill()
        self.tokens -= seconds


publisher = Publisher()


def name_os_thread(name):
    """Give the calling thread an OS-level name (Linux), so that per-thread
    CPU accounting (/proc/PID/task/*/comm, top -H; bench/live.py) can tell
    the publisher from the request threads. Best effort."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def remember_loop():
    """Called by consumers (on the server's event loop)."""
    publisher.loop = asyncio.get_running_loop()


def fragments(topic, html):
    return {"event": "fragments", "topic": topic, "html": html}


def render_view(path):
    """The fragment a page's own view returns to htmx for `path` (GET, no
    query): the same view code and partial the page uses, so the broadcast
    can never drift from what a reload would show. "" if it is not 200."""
    match = resolve(path)
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.GET = QueryDict()
    request.META = {
        "HTTP_HX_REQUEST": "true",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
    }
    request.resolver_match = match
    request.htmx = HtmxDetails(request)
    response = match.func(request, *match.args, **match.kwargs)
    if response.status_code != 200:
        log.warning("live: %s answered %s", path, response.status_code)
        return ""
    return response.content.decode()


def render_banner(scope_key):
    """The page's scope banner (cycles warning), wrapped in #scope-banner."""
    from snapshots.pages import integrations
    from snapshots.scope import resolve_scope

    scope = resolve_scope(scope_key)
    return render_to_string(
        "pages/_scope_banner.html", {"scope": scope, **integrations.cycle_context(scope)}
    )
