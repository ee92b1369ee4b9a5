"""Storage for snapshots, following the peeps schema: nodes + `needs` edges.

A Snapshot is one coherent capture; it holds one ProcessSnapshot per process
(one for a push, one per agent for a pull), a *capture*. A *scope* (a
snapshot, or the live graph: the newest capture per proc_key) is a set of
captures; see snapshots/scope.py. Snapshots are immutable once complete.

Consecutive captures of one proc_key share the rows that did not change
(nodes, edges, traces, frames): each row is valid over a range of capture
ids within a *segment*, and a capture sees the rows of its segment valid at
its id. snapshots/versions.py writes and reads them; wake events stay per
capture (they are what happened since the previous one).
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
        indexes = [
            models.Index(fields=["created_at"], name="snapshot_created"),  # retention
            models.Index(fields=["captured_at_ns", "id"], name="snapshot_captured"),  # list ?at=
        ]
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


# cycle_key values that say nothing of a cycle: none (""; also every capture
# from before migration 0003) and not looked for ("?", versions.UNKNOWN_CYCLES).
NO_CYCLE_KEYS = ("", "?")


def node_counts(rows):
    """A capture's count_cache from (kind, state_class, n) rows."""
    kinds, classes = {}, {}
    for kind, cls, n in rows:
        kinds[kind] = kinds.get(kind, 0) + n
        if kind == "task":
            cls = cls or "unknown"
            classes[cls] = classes.get(cls, 0) + n
    return {"kinds": kinds, "task_state_classes": classes}


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
    # {"kinds": {kind: n}, "task_state_classes": {class: n}} (node_counts),
    # filled at ingest, or on first read by snapshots.queries for captures
    # stored before (a capture never changes once it has data), so the home
    # page does not re-count 100,000 tasks per snapshot per visit.
    count_cache = models.JSONField(null=True, blank=True, default=None)
    # Versioned storage (snapshots/versions.py): the rows this capture sees
    # are those of its segment valid at its id. Null until it has data.
    segment_id = models.BigIntegerField(null=True)
    # Against the previous capture of the same proc_key: how many rows were
    # added or ended (0: nothing changed; null: no previous capture); whether
    # it is a landmark, where a node present in both changed state class or
    # this process's needs cycles changed (retention never thins those); and
    # those cycles (a digest of their members; "" when there are none, "?"
    # when they were not looked for: NO_CYCLE_KEYS).
    changed_rows = models.IntegerField(null=True)
    landmark = models.BooleanField(default=True)
    # Whether it has the same tasks (nodes with a state class) as the
    # previous capture. No landmark and the same tasks: no task changed
    # state (the snapshot list folds runs of such captures). Null: no
    # previous capture, or stored before this column.
    same_tasks = models.BooleanField(null=True)
    # Retention looked at it while thinning and keeps it.
    kept = models.BooleanField(default=False)
    cycle_key = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes = [
            # live view: newest capture per proc_key within the freshness window
            models.Index(fields=["proc_key", "-received_at"], name="proc_key_received"),
            models.Index(fields=["proc_key", "id"], name="proc_key_id"),  # lineage
            models.Index(fields=["segment_id", "id"], name="capture_segment"),  # retention
            models.Index(fields=["kept", "received_at"], name="capture_thinning"),  # retention
            # the snapshot list's filters: by process name, and "has a cycle"
            # (few captures have one: a partial index stays small)
            models.Index(fields=["process"], name="capture_process"),
            models.Index(
                fields=["snapshot"],
                condition=~models.Q(cycle_key__in=list(NO_CYCLE_KEYS)),
                name="capture_with_cycle",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "proc_key"], name="one_capture_per_process"
            ),
        ]

    def __str__(self):
        return f"{self.proc_key} in snapshot {self.snapshot_id}"


class ProcessHead(models.Model):
    """The newest capture of a proc_key and the segment it writes into.
    Ingest locks this row (versions.py), so two captures of one process are
    never diffed against the same head at once."""

    proc_key = models.CharField(max_length=64, unique=True)
    capture_id = models.BigIntegerField()
    segment_id = models.BigIntegerField()
    segment_rows = models.BigIntegerField(default=0)  # rows its first capture wrote
    added_rows = models.BigIntegerField(default=0)  # rows written since

    def __str__(self):
        return f"{self.proc_key} at capture {self.capture_id}"


class Node(models.Model):
    """A runtime entity. Columns beside `attrs` are derived at ingest so the
    task table can filter and sort 100,000 rows in SQL.

    On PostgreSQL a big segment's nodes (and edges) are a partition of their
    own (snapshots/partitions.py). Versioned rows have no foreign keys: a
    row outlives the capture that wrote it, and retention deletes it when no
    capture of its segment sees it any more."""

    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. `digest`
    # identifies the content, so the next capture finds what is unchanged.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
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
    # Start of the longest pending trace; readers get `pending_us` as of
    # their capture (versions.annotate): a duration would change every capture.
    pending_since_ns = models.BigIntegerField(null=True)
    last_waker = models.CharField(max_length=1024, blank=True, default="")
    needs_count = models.IntegerField(default=0)
    needed_by_count = models.IntegerField(default=0)

    class Meta:
        indexes = [
            # the inspector, and ingest closing gone rows (versions.CLOSE_BY)
            models.Index(fields=["segment_id", "node_id"], name="node_segment_id"),
            # the tables filter
            models.Index(fields=["segment_id", "kind", "state_class"], name="node_state"),
        ]

    def __str__(self):
        return self.node_id


class Edge(models.Model):
    """`src needs dst`, both endpoints inside the same process capture.
    Partitioned like Node, with no database foreign keys for the same reason."""

    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. `digest`
    # identifies the content, so the next capture finds what is unchanged.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
    src = models.CharField(max_length=1024)
    dst = models.CharField(max_length=1024)
    attrs = models.JSONField(default=dict)

    class Meta:
        indexes = [
            # Every reader filters by the scope's process ids (scope.py), so
            # one index per direction serves a snapshot and the live view.
            models.Index(fields=["segment_id", "src"], name="edge_segment_src"),  # needs
            models.Index(fields=["segment_id", "dst"], name="edge_segment_dst"),  # needed_by
        ]

    def __str__(self):
        return f"{self.src} needs {self.dst}"


class UnresolvedEdge(models.Model):
    """An edge with an endpoint owned by another process. It resolves when that
    process's nodes are in the same scope (a pull snapshot or the live view)."""

    SRC = "src"
    DST = "dst"
    BOTH = "both"

    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. `digest`
    # identifies the content, so the next capture finds what is unchanged.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
    src = models.CharField(max_length=1024)
    dst = models.CharField(max_length=1024)
    attrs = models.JSONField(default=dict)
    missing_side = models.CharField(max_length=4)
    referenced_proc_key = models.CharField(max_length=64)
    reason = models.TextField()

    class Meta:
        # waits_on, and ingest closing gone rows (versions.CLOSE_BY)
        indexes = [models.Index(fields=["segment_id", "src"], name="unresolved_src")]

    def __str__(self):
        return f"{self.src} needs {self.dst} (unresolved {self.missing_side})"


class WakeEvent(models.Model):
    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. A sender
    # sends its newest wakes with every capture, most of them sent before:
    # each is stored once.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
    at_ns = models.BigIntegerField()
    # Resolved to task node ids; waker is empty when woken from outside any task.
    waker = models.CharField(max_length=1024, blank=True, default="")
    woken = models.CharField(max_length=1024)
    target_worker = models.BigIntegerField(null=True)

    class Meta:
        # Wake sources of a node, and what closing finds a gone row by.
        indexes = [models.Index(fields=["segment_id", "woken"], name="wake_segment_woken")]

    def __str__(self):
        return f"{self.waker or 'outside'} woke {self.woken}"


class Frame(models.Model):
    """Interned frame text of one process capture, keyed by the sender's frame id."""

    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. `digest`
    # identifies the content, so the next capture finds what is unchanged.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
    frame_key = models.BigIntegerField()
    text = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["segment_id", "frame_key"], name="frame_segment_key"),
        ]

    def __str__(self):
        return f"frame {self.frame_key}"


class PendingTrace(models.Model):
    # Versioned rows (snapshots/versions.py): valid in the captures of
    # segment `segment_id` whose id lies in [first_id, last_id]; last_id is
    # versions.OPEN while the newest capture still has the row. `digest`
    # identifies the content, so the next capture finds what is unchanged.
    segment_id = models.BigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    digest = models.BigIntegerField()
    node_id = models.CharField(max_length=1024)
    task_id = models.BigIntegerField()
    # When the task began to wait (the sender's since_ns, else at_ns minus
    # duration_us); readers get at_ns and duration_us as of their capture.
    since_ns = models.BigIntegerField(null=True)
    frame_ids = models.JSONField(default=list)  # innermost first

    class Meta:
        indexes = [
            models.Index(fields=["segment_id", "node_id"], name="trace_node"),  # inspector
        ]

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

    class Meta:
        indexes = [
            # the snapshot list's "has a cycle" (few reports find one)
            models.Index(
                fields=["snapshot"], condition=models.Q(candidate_count__gt=0), name="report_found"
            ),
        ]

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
