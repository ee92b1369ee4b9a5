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
import logging
import threading
import time
from dataclasses import dataclass

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.dispatch import receiver
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import resolve
from django_htmx.middleware import HtmxDetails

from snapshots.live import topics
from snapshots.models import Agent, ProcessSnapshot
from snapshots.signals import process_snapshot_stored

log = logging.getLogger(__name__)

# The worker's CPU budget: rendering shares the server's CPU (and Python's
# GIL) with ingest, so on average it may use settings.PEEPSWEB_LIVE_RENDER_SHARE
# of one CPU, and up to RENDER_BURST_S of CPU time back to back after a quiet
# spell. A lone snapshot is thus rendered at once; under sustained ingest the
# pages update every (round CPU time / share) seconds, whatever the ingest
# rate, and ingest keeps the rest (bench/live.py measures both sides).
DEFAULT_RENDER_SHARE = 0.08
RENDER_BURST_S = 0.3
SEND_TIMEOUT_S = 5


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
        share = getattr(settings, "PEEPSWEB_LIVE_RENDER_SHARE", DEFAULT_RENDER_SHARE)
        budget = RenderBudget(share, RENDER_BURST_S)
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
            # Changes keep coalescing while the budget refills.
            time.sleep(budget.wait())
            with self.cond:
                changes, self.pending, self.busy = self.pending, Changes(), True
            # CPU time, not wall time: waiting for the GIL or the database
            # while ingest runs takes nothing from ingest.
            started = time.thread_time()
            try:
                self.publish(changes)
            except Exception:  # a broken page must not stop later updates
                log.exception("live: could not publish %s", changes)
            finally:
                close_old_connections()
                budget.spend(time.thread_time() - started)
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
            agents = list(Agent.objects.order_by("proc_key", "connected_at"))
            html = render_to_string("live/_agents.html", {"agents": agents})
            self.send(topics.AGENTS, fragments("agents", html))

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


class RenderBudget:
    """A token bucket of rendering CPU seconds: `share` of wall-clock time
    flows in, up to `burst`; a round spends the CPU time it took (it may go
    negative, and the next round then waits until the debt is paid)."""

    def __init__(self, share, burst):
        self.share = share
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()

    def _refill(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.share)
        self.at = now

    def wait(self):
        """Seconds to wait before the next round."""
        self._refill()
        return max(0.0, -self.tokens / self.share)

    def spend(self, seconds):
        self._refill()
        self.tokens -= seconds


publisher = Publisher()


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
