"""Jump to now: ask every connected agent for a snapshot tagged with one id.

`run_pull` allocates an open pull Snapshot with a deadline and one pending
ProcessSnapshot per connected process, sends each agent a snapshot_request
through the channel layer, and waits. Replies are stored by ingest (over the
agent's socket or POST /api/v1/snapshots), which fills the pending row only
while the pull is open and before its deadline. When every row has left
`pending`, or the deadline passes, the pull is closed: a row still pending
becomes `timeout` (its agent is still connected) or `disconnected`.

Everything lives in the database, not in this process's memory, so a reply
or a disconnect seen by another daphne process counts, and a pull left open
by a server that died is closed by the next one.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from snapshots.live import publish
from snapshots.models import Agent, ProcessSnapshot, Snapshot

# How often the waiting request looks at the pending rows. Replies land
# through other requests (or other server processes), so polling the one
# indexed count is the simplest signal that works everywhere.
POLL_S = 0.05
MIN_TIMEOUT_MS = 100
MAX_TIMEOUT_MS = 60_000


class PullRefused(Exception):
    """No pull was started (409): one is in flight, or no agent is connected."""


@dataclass
class PullResult:
    snapshot: Snapshot
    processes: list = field(default_factory=list)

    def counts(self):
        by_status = {}
        for proc in self.processes:
            by_status[proc.status] = by_status.get(proc.status, 0) + 1
        return {
            "requested": len(self.processes),
            "responded": by_status.get(ProcessSnapshot.RESPONDED, 0),
            "timed_out": by_status.get(ProcessSnapshot.TIMEOUT, 0),
            "disconnected": by_status.get(ProcessSnapshot.DISCONNECTED, 0),
            "errors": by_status.get(ProcessSnapshot.ERROR, 0),
        }

    def as_json(self):
        return {
            "snapshot_id": self.snapshot.id,
            "status": self.snapshot.status,
            **self.counts(),
            "processes": [
                {
                    "process": p.process,
                    "pid": p.pid,
                    "proc_key": p.proc_key,
                    "status": p.status,
                    "detail": p.status_detail,
                }
                for p in self.processes
            ],
        }


def clamp_timeout_ms(value):
    if value is None:
        value = settings.PEEPSWEB_PULL_TIMEOUT_MS
    return max(MIN_TIMEOUT_MS, min(MAX_TIMEOUT_MS, int(value)))


async def run_pull(timeout_ms=None):
    """Start a pull, wait for its replies, close it; returns a PullResult.

    Raises PullRefused when another pull is open or no agent is connected."""
    timeout_ms = clamp_timeout_ms(timeout_ms)
    publish.remember_loop()
    snapshot, targets = await database_sync_to_async(start_pull)(timeout_ms)
    layer = get_channel_layer()
    request = {"type": "snapshot.request", "snapshot_id": snapshot.id, "timeout_ms": timeout_ms}
    for channel_name in targets:
        await layer.send(channel_name, request)
    while timezone.now() < snapshot.deadline:
        if not await database_sync_to_async(pending_count)(snapshot.id):
            break
        await asyncio.sleep(POLL_S)
    return await database_sync_to_async(finish_pull)(snapshot.id)


def start_pull(timeout_ms, now=None):
    """Allocate the pull: (Snapshot, [agent channel names to ask])."""
    now = now or timezone.now()
    close_expired_pulls(now)
    agents = connected_agents()
    if not agents:
        raise PullRefused("no agent is connected")
    if Snapshot.objects.filter(kind=Snapshot.PULL, status=Snapshot.OPEN).exists():
        raise PullRefused("a pull is already in flight")
    try:
        with transaction.atomic():
            # The `one_open_pull` constraint settles a race between two servers.
            snapshot = Snapshot.objects.create(
                kind=Snapshot.PULL,
                status=Snapshot.OPEN,
                created_at=now,
                deadline=now + timedelta(milliseconds=timeout_ms),
            )
            ProcessSnapshot.objects.bulk_create(
                ProcessSnapshot(
                    snapshot=snapshot,
                    process=agent.process,
                    pid=agent.pid,
                    proc_key=agent.proc_key,
                    status=ProcessSnapshot.PENDING,
                )
                for agent in agents
            )
    except IntegrityError:
        raise PullRefused("a pull is already in flight") from None
    return snapshot, [agent.channel_name for agent in agents]


def connected_agents():
    """One agent per proc_key (the most recently seen connection): a pull
    holds one capture per process."""
    Agent.objects.stale().delete()  # left behind by a server that died
    newest = {}
    for agent in Agent.objects.alive().order_by("last_seen_at", "id"):
        newest[agent.proc_key] = agent
    return [newest[key] for key in sorted(newest)]


def pending_count(snapshot_id):
    return ProcessSnapshot.objects.filter(
        snapshot_id=snapshot_id, status=ProcessSnapshot.PENDING
    ).count()


def finish_pull(snapshot_id):
    """Close the pull: rows still pending become timeout or disconnected."""
    with transaction.atomic():
        pending = ProcessSnapshot.objects.filter(
            snapshot_id=snapshot_id, status=ProcessSnapshot.PENDING
        )
        still_connected = Agent.objects.alive().values("proc_key")
        pending.filter(proc_key__in=still_connected).update(
            status=ProcessSnapshot.TIMEOUT, status_detail="no reply before the deadline"
        )
        pending.update(
            status=ProcessSnapshot.DISCONNECTED, status_detail="the agent went away before replying"
        )
        closed = Snapshot.objects.filter(id=snapshot_id, status=Snapshot.OPEN).update(
            status=Snapshot.COMPLETE
        )
        if closed:
            # Announce it once, and only once it is committed (see signals.py).
            transaction.on_commit(lambda: publish.snapshot_completed(snapshot_id))
    snapshot = Snapshot.objects.get(id=snapshot_id)
    return PullResult(snapshot, list(snapshot.processes.order_by("proc_key")))


def close_expired_pulls(now=None):
    """Close pulls whose deadline passed while nobody waited on them (the
    server running them died); otherwise no pull could ever start again."""
    now = now or timezone.now()
    expired = Snapshot.objects.filter(kind=Snapshot.PULL, status=Snapshot.OPEN, deadline__lt=now)
    for snapshot_id in expired.values_list("id", flat=True):
        finish_pull(snapshot_id)


def mark_pending(snapshot_id, proc_key, status, detail):
    """Settle one process of an open pull without a reply (error, disconnect).
    Returns whether a pending row was there to settle."""
    return bool(
        ProcessSnapshot.objects.filter(
            snapshot_id=snapshot_id,
            proc_key=proc_key,
            status=ProcessSnapshot.PENDING,
            snapshot__kind=Snapshot.PULL,
            snapshot__status=Snapshot.OPEN,
        ).update(status=status, status_detail=detail[:2000])
    )


def mark_disconnected(proc_key):
    """An agent left: its pending rows in open pulls will never be answered."""
    open_pulls = Snapshot.objects.filter(kind=Snapshot.PULL, status=Snapshot.OPEN)
    ProcessSnapshot.objects.filter(
        snapshot__in=open_pulls, proc_key=proc_key, status=ProcessSnapshot.PENDING
    ).update(
        status=ProcessSnapshot.DISCONNECTED,
        status_detail="the agent disconnected before replying",
    )
