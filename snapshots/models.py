"""Storage for snapshots, following the peeps schema: nodes + `needs` edges.

A Snapshot is one coherent capture; it holds one ProcessSnapshot per process
(one for a push, one per agent for a pull). Every row below a snapshot points
at its ProcessSnapshot, so a *scope* (a snapshot, or the live graph: the newest
ProcessSnapshot per proc_key) is simply a set of ProcessSnapshot ids; see
snapshots/scope.py. Snapshots are immutable once complete.
"""

import hashlib
import secrets
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import models
from django.utils import timezone


class Snapshot(models.Model):
    PUSH = "push"
    PULL = "pull"
    KIND_CHOICES = [(PUSH, "push"), (PULL, "pull")]

    OPEN = "open"  # a pull still collecting replies
    COMPLETE = "complete"
    STATUS_CHOICES = [(OPEN, "open"), (COMPLETE, "complete")]

    kind = models.CharField(max_length=8, choices=KIND_CHOICES, default=PUSH)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=COMPLETE)
    created_at = models.DateTimeField(default=timezone.now)
    # Earliest captured_at_ns of its processes; the receive time when absent.
    captured_at_ns = models.BigIntegerField(null=True)
    # Pulls only: when the server stops waiting for replies.
    deadline = models.DateTimeField(null=True, blank=True)
    node_count = models.IntegerField(default=0)
    edge_count = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Only one pull in flight (live/pull.py): settles a race between
            # two requests, or two server processes, starting a pull at once.
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind="pull", status="open"),
                name="one_open_pull",
            ),
        ]

    def __str__(self):
        return f"snapshot {self.id}"


class ProcessSnapshot(models.Model):
    """One process's capture inside a snapshot (a "snapshot process")."""

    PUSHED = "pushed"
    RESPONDED = "responded"
    PENDING = "pending"  # asked in a pull, no reply yet
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    STATUS_CHOICES = [(s, s) for s in (PUSHED, RESPONDED, PENDING, TIMEOUT, DISCONNECTED, ERROR)]

    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="processes")
    process = models.CharField(max_length=128)
    pid = models.BigIntegerField(null=True)
    proc_key = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=PUSHED)
    status_detail = models.TextField(blank=True, default="")
    captured_at_ns = models.BigIntegerField(null=True)
    received_at = models.DateTimeField(null=True)
    node_count = models.IntegerField(default=0)
    edge_count = models.IntegerField(default=0)
    unresolved_count = models.IntegerField(default=0)
    wake_count = models.IntegerField(default=0)
    trace_count = models.IntegerField(default=0)
    # {"kinds": {kind: n}, "task_state_classes": {class: n}}, filled on first
    # read by snapshots.queries (a capture never changes once it has data), so
    # the home page does not re-count 100,000 tasks per snapshot per visit.
    count_cache = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        indexes = [
            # live view: newest capture per proc_key within the freshness window
            models.Index(fields=["proc_key", "-received_at"], name="proc_key_received"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "proc_key"], name="one_capture_per_process"
            ),
        ]

    def __str__(self):
        return f"{self.proc_key} in snapshot {self.snapshot_id}"


class Node(models.Model):
    """A runtime entity. Columns beside `attrs` are derived at ingest so the
    task table can filter and sort 100,000 rows in SQL.

    On PostgreSQL a big capture's nodes (and edges) are a partition of their
    own (snapshots/partitions.py). Attaching a partition with foreign keys
    locks the referenced tables against every concurrent ingest, and two
    ingests waiting on each other deadlock, so the keys of Node and Edge are
    not database constraints (db_constraint=False): only ingest writes these
    rows, next to the capture it has just created or locked, and Django and
    retention still delete them with it."""

    # db_index=False on both keys, here and on Edge: no reader looks rows up
    # by snapshot (the scope's process ids select them), the composite
    # indexes below lead with process, and every index is paid on each row.
    snapshot = models.ForeignKey(
        Snapshot, models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    process = models.ForeignKey(
        ProcessSnapshot, models.CASCADE, related_name="nodes", db_index=False, db_constraint=False
    )
    node_id = models.CharField(max_length=1024)
    kind = models.CharField(max_length=64)
    proc_key = models.CharField(max_length=64)
    label = models.TextField(blank=True, default="")
    attrs = models.JSONField(default=dict)
    # Derived for tasks (null elsewhere):
    task_id = models.BigIntegerField(null=True)
    state = models.CharField(max_length=256, blank=True, default="")
    state_class = models.CharField(max_length=16, blank=True, default="")
    spawned_at_ns = models.BigIntegerField(null=True)
    pending_us = models.BigIntegerField(null=True)  # longest pending trace
    last_waker = models.CharField(max_length=1024, blank=True, default="")
    needs_count = models.IntegerField(default=0)
    needed_by_count = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["process", "node_id"], name="node_process_id"),  # inspector
            models.Index(fields=["process", "kind", "state_class"], name="node_state"),  # filters
            models.Index(fields=["process", "task_id"], name="node_task_id"),  # wake resolution
        ]

    def __str__(self):
        return self.node_id


class Edge(models.Model):
    """`src needs dst`, both endpoints inside the same process capture.
    Partitioned like Node, with no database foreign keys for the same reason."""

    snapshot = models.ForeignKey(
        Snapshot, models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    process = models.ForeignKey(
        ProcessSnapshot, models.CASCADE, related_name="edges", db_index=False, db_constraint=False
    )
    src = models.CharField(max_length=1024)
    dst = models.CharField(max_length=1024)
    attrs = models.JSONField(default=dict)

    class Meta:
        indexes = [
            # Every reader filters by the scope's process ids (scope.py), so
            # one index per direction serves a snapshot and the live view.
            models.Index(fields=["process", "src"], name="edge_process_src"),  # needs
            models.Index(fields=["process", "dst"], name="edge_process_dst"),  # needed_by
        ]

    def __str__(self):
        return f"{self.src} needs {self.dst}"


class UnresolvedEdge(models.Model):
    """An edge with an endpoint owned by another process. It resolves when that
    process's nodes are in the same scope (a pull snapshot or the live view)."""

    SRC = "src"
    DST = "dst"
    BOTH = "both"

    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="+")
    process = models.ForeignKey(ProcessSnapshot, models.CASCADE, related_name="unresolved_edges")
    src = models.CharField(max_length=1024)
    dst = models.CharField(max_length=1024)
    attrs = models.JSONField(default=dict)
    missing_side = models.CharField(max_length=4)
    referenced_proc_key = models.CharField(max_length=64)
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["process"], name="unresolved_process")]

    def __str__(self):
        return f"{self.src} needs {self.dst} (unresolved {self.missing_side})"


class WakeEvent(models.Model):
    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="+")
    process = models.ForeignKey(ProcessSnapshot, models.CASCADE, related_name="wake_events")
    at_ns = models.BigIntegerField()
    # Resolved to task node ids; waker is empty when woken from outside any task.
    waker = models.CharField(max_length=1024, blank=True, default="")
    woken = models.CharField(max_length=1024)
    target_worker = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["process", "woken"], name="wake_woken")]  # wake sources

    def __str__(self):
        return f"{self.waker or 'outside'} woke {self.woken}"


class Frame(models.Model):
    """Interned frame text of one process capture, keyed by the sender's frame id."""

    process = models.ForeignKey(ProcessSnapshot, models.CASCADE, related_name="frames")
    frame_key = models.BigIntegerField()
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["process", "frame_key"], name="frame_per_process"),
        ]

    def __str__(self):
        return f"frame {self.frame_key}"


class PendingTrace(models.Model):
    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="+")
    process = models.ForeignKey(ProcessSnapshot, models.CASCADE, related_name="pending_traces")
    node_id = models.CharField(max_length=1024)
    task_id = models.BigIntegerField()
    at_ns = models.BigIntegerField()
    duration_us = models.BigIntegerField(null=True)
    frame_ids = models.JSONField(default=list)  # innermost first

    class Meta:
        indexes = [models.Index(fields=["process", "node_id"], name="trace_node")]  # inspector

    def __str__(self):
        return f"trace of {self.node_id}"


class IngestEvent(models.Model):
    """Something ingest refused or noticed: late/unknown pull replies, bodies
    that failed to decode, oversize TCP frames. Shown to operators; never data."""

    REJECTED = "rejected"
    LATE_REPLY = "late_reply"
    DECODE_ERROR = "decode_error"
    OVERSIZE = "oversize"

    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32)
    source = models.CharField(max_length=64, blank=True, default="")  # http, tcp, ws
    proc_key = models.CharField(max_length=64, blank=True, default="")
    snapshot_id = models.BigIntegerField(null=True)
    status = models.IntegerField(null=True)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.kind} {self.proc_key}"


class IngestToken(models.Model):
    """A bearer token for ingest and agents. Only a SHA-256 of it is stored."""

    name = models.CharField(max_length=128, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    def __str__(self):
        return self.name

    @staticmethod
    def hash(raw):
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def create(cls, name):
        """Make a token; the raw value is returned once and never stored."""
        raw = "pw_" + secrets.token_urlsafe(32)
        cls.objects.create(name=name, token_hash=cls.hash(raw))
        return raw


class CycleReport(models.Model):
    """Cached result of the cycle finder. Complete snapshots never change, so
    the result is computed once per snapshot and reused."""

    snapshot = models.OneToOneField(Snapshot, models.CASCADE, related_name="cycle_report")
    computed_at = models.DateTimeField(default=timezone.now)
    candidate_count = models.IntegerField(default=0)
    # JSON text (orjson), not a JSONField: a result with a 10,000-node cycle
    # is megabytes, which jsonb parses on the way in and prints on the way
    # out (bench/cycles.py's 4 MB result: stored in 150 ms as jsonb, 60 ms
    # as text).
    result_json = models.TextField(default="{}")

    def __str__(self):
        return f"cycles of snapshot {self.snapshot_id}"

    @property
    def result(self):
        return orjson.loads(self.result_json)

    @result.setter
    def result(self, value):
        self.result_json = orjson.dumps(value).decode()


class AgentQuerySet(models.QuerySet):
    def alive(self):
        """Connections whose server still holds the socket. The consumer
        refreshes last_seen_at every PEEPSWEB_AGENT_HEARTBEAT_S; the rows of
        a server that died (killed, crashed) stop being refreshed and drop
        out here instead of counting as connected for ever."""
        return self.filter(last_seen_at__gte=self._cutoff())

    def stale(self):
        return self.filter(last_seen_at__lt=self._cutoff())

    def _cutoff(self):
        return timezone.now() - timedelta(seconds=3 * settings.PEEPSWEB_AGENT_HEARTBEAT_S)


class Agent(models.Model):
    """An instrumented process connected at /ws/agent/, for Jump to now.

    Kept in the database (not in consumer memory) so that every server
    process sees every agent when several daphne processes run."""

    channel_name = models.CharField(max_length=256, unique=True)
    process = models.CharField(max_length=128)
    pid = models.BigIntegerField(null=True)
    proc_key = models.CharField(max_length=64)
    connected_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["proc_key"]

    def __str__(self):
        return self.proc_key
