"""The one publisher of page updates.

Ingest sends `process_snapshot_stored` after its transaction commits (never
before: a rollback must not leave browsers showing rows that do not exist);
a pull calls `snapshot_completed` when it closes; the agent socket calls
`agents_changed`. Each change is rendered ONCE per topic that follows it
(snapshots/live/topics.py: the pages' own fragment functions and partial
templates), serialized once, and sent to the topic's channel-layer group;
consumers forward the text unchanged.

Rendering is not done in the ingest request: the live view's fragments cost
tens to hundreds of milliseconds of queries and templates (bench/live.py
prints it), which every POST would pay. The receiver only records what
changed and wakes one worker thread per process. Its pacing is a fixed
interval (PEEPSWEB_LIVE_INTERVAL_S, 1 s): a round starts at most once per
interval, and never sooner after the last one ended than that one took, so
rendering takes at most half a core, and about (round cost / interval)
under sustained ingest. Changes that arrive in between are merged into the
next round: a burst of snapshots costs a couple of rounds, and a lone one
(or a process pushing every second) shows at once. A POST returns as soon
as it has committed. No browser can slow the sender: a group_send queues
one reference per member (in memory) or runs one Redis script, and a full
queue of a stalled browser drops that browser's message rather than wait.
"""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.dispatch import receiver

from snapshots.live import topics
from snapshots.models import ProcessSnapshot
from snapshots.signals import process_snapshot_stored

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5


@receiver(process_snapshot_stored, dispatch_uid="live.publish")
def on_process_snapshot_stored(sender, process_snapshot, **kwargs):
    if process_snapshot.status == ProcessSnapshot.PUSHED:
        # A push is a complete snapshot on its own.
        publisher.submit(Changes({topics.LIST, topics.LIVE}, newest=process_snapshot.snapshot_id))
    else:
        # A pull reply: the list shows the open pull filling up.
        publisher.submit(Changes({topics.LIST, topics.LIVE}))


def snapshot_completed(snapshot_id):
    """A pull closed (pull.py calls this on commit)."""
    publisher.submit(Changes({topics.LIST}, newest=snapshot_id))


def agents_changed():
    """An agent connected or left."""
    publisher.submit(Changes({topics.AGENTS}))


@dataclass
class Changes:
    what: set = field(default_factory=set)  # topics.LIST, LIVE, AGENTS
    newest: int | None = None  # the newest complete snapshot announced

    def merge(self, other):
        newest = max((n for n in (self.newest, other.newest) if n is not None), default=None)
        return Changes(self.what | other.what, newest)

    def __bool__(self):
        return bool(self.what) or self.newest is not None


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
        self.rounds = 0  # rounds published so far (tests)

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
        next_at = 0.0
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
            # Changes keep merging while the interval runs out.
            time.sleep(max(0.0, next_at - time.monotonic()))
            with self.cond:
                changes, self.pending, self.busy = self.pending, Changes(), True
            started = time.monotonic()
            try:
                self.publish(changes)
            except Exception:  # a broken page must not stop later updates
                log.exception("live: could not publish %s", changes)
            finally:
                close_old_connections()
                ended = time.monotonic()
                # A round slower than the interval (huge captures) is
                # followed by as long a pause: at most half a core.
                next_at = max(started + settings.PEEPSWEB_LIVE_INTERVAL_S, 2 * ended - started)
                with self.cond:
                    self.rounds += 1
                    self.busy = False
                    self.cond.notify_all()

    def publish(self, changes):
        if changes.newest is not None:
            self.send(topics.SNAPSHOTS, {"event": "snapshot", "snapshot_id": changes.newest})
        for topic in topics.TOPICS:
            if topic.change in changes.what and self.has_listeners(topic.group):
                self.send(topic.group, topic.message())

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


publisher = Publisher()


def remember_loop():
    """Called by consumers (on the server's event loop)."""
    publisher.loop = asyncio.get_running_loop()
