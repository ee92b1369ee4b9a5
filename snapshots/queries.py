"""Read functions over a Scope, shared by the JSON API and the htmx pages.

Everything here takes a `Scope` (snapshots/scope.py), so one snapshot,
`latest` and the live graph read alike. Functions return model instances,
small dataclasses and plain dicts, never HTML or HTTP responses; bad input
raises `QueryError` (naming the parameter) and a missing node `NodeNotFound`.

Costs matter: a snapshot may hold 100,000 tasks. Lists filter, sort and
paginate in SQL; the lookups per page are a fixed handful of queries whatever
the page size (no query per row).
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import batched, chain

import re2
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Max,
    Q,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Concat, RowNumber
from peepsweb_client.contract import task_node_id

from snapshots import versions
from snapshots.models import (
    NO_CYCLE_KEYS,
    CycleReport,
    Node,
    ProcessHead,
    ProcessSnapshot,
    Snapshot,
    node_counts,
)
from snapshots.node_kinds import HELD, RPC
from snapshots.scope import HAS_DATA, Scope, ScopeNotFound
from snapshots.states import STATE_CLASSES

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
MAX_Q_CHARS = 512
# Per node in the inspector: a lock with 50,000 waiters must not produce a
# 50,000-row page. Totals are always reported beside the capped lists.
# Ids per `__in` list of a look-up by id: a bounded SQL statement (SQLite
# allows 999 parameters by default) in few round trips.
IN_BATCH = 500
EDGE_LIST_CAP = 500
WAKE_SOURCE_CAP = 200
WAKE_EVENT_CAP = 50
TRACE_CAP = 100


class QueryError(ValueError):
    """A bad read parameter; `param` names it (the API answers 400 with it)."""

    def __init__(self, param, message):
        super().__init__(message)
        self.param = param
        self.message = message


class NodeNotFound(LookupError):
    pass


def refuse_nul(param, value):
    """A NUL byte is never a valid read parameter, and PostgreSQL text cannot
    even hold one (psycopg refuses to send it): a 400 naming the parameter."""
    if "\x00" in value:
        raise QueryError(param, f"{param} must not contain a NUL byte")


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int
    at_id: int | None = None  # snapshot_list: the snapshot `at` jumped to

    @property
    def num_pages(self):
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self):
        return self.page < self.num_pages

    @property
    def has_previous(self):
        return self.page > 1


def ns_to_datetime(ns):
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def scope_processes(scope):
    """The scope's ProcessSnapshots by proc_key, fetched once per Scope
    object (a scope's set of captures is fixed when it is resolved)."""
    cached = scope.__dict__.get("_processes")
    if cached is None:
        cached = scope.__dict__["_processes"] = list(scope.processes())
    return cached


# --- per-process counts, cached on the capture ------------------------------


COUNT_BATCH = 200  # captures counted per query (SQLite allows 500 SELECTs in a compound one)


def _fill_count_caches(processes):
    """Make sure every capture with data has `count_cache`: ingest fills it,
    and captures stored before it did are counted here, COUNT_BATCH a query."""
    missing = [p for p in processes if p.count_cache is None and p.status in HAS_DATA]
    if not missing:
        return
    rows = {p.id: [] for p in missing}
    # A count per capture, COUNT_BATCH captures a query: several of them may share a
    # segment (a list page's quiet captures share all their rows), where
    # one grouped query over versions.rows() would give each row to one of
    # them only.
    per_capture = [
        Node.objects.filter(versions.visible([(p.id, p.segment_id)]))
        .annotate(capture=Value(p.id, output_field=IntegerField()))
        .values_list("capture", "kind", "state_class")
        .annotate(n=Count("id"))
        .order_by()
        for p in missing
        if p.segment_id is not None
    ]
    for process_id, kind, cls, n in chain.from_iterable(
        first.union(*rest, all=True) for first, *rest in batched(per_capture, COUNT_BATCH)
    ):
        rows[process_id].append((kind, cls, n))
    for p in missing:
        p.count_cache = node_counts(rows[p.id])
    # Only captures with data are cached, and those never change again.
    ProcessSnapshot.objects.bulk_update(missing, ["count_cache"])


def _sum_counts(processes, key):
    total = {}
    for p in processes:
        for name, n in ((p.count_cache or {}).get(key) or {}).items():
            total[name] = total.get(name, 0) + n
    return total


def _state_counts(processes):
    counts = _sum_counts(processes, "task_state_classes")
    return {cls: counts.get(cls, 0) for cls in STATE_CLASSES}


def _kind_counts(processes):
    counts = _sum_counts(processes, "kinds")
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --- snapshot list ------------------------------------------------------------


@dataclass
class SnapshotRow:
    snapshot: Snapshot
    processes: list  # ProcessSnapshot, by proc_key
    state_counts: dict  # every class of STATE_CLASSES, in that order
    cycle_candidates: int | None  # None until the cycle finder ran

    @property
    def snapshot_id(self):
        return self.snapshot.id

    @property
    def captured_at_ns(self):
        return self.snapshot.captured_at_ns

    @property
    def captured_at(self):
        if self.snapshot.captured_at_ns is not None:
            return ns_to_datetime(self.snapshot.captured_at_ns)
        return self.snapshot.created_at

    @property
    def task_count(self):
        return sum(self.state_counts.values())

    @property
    def quiet(self):
        """No task changed state in any of its captures since the previous
        capture of the same process: no landmark (a state-class change, a
        cycle appearing or resolving) and the same tasks (none appeared or
        went). Attrs, edges and traces may have changed (a counter, a
        different lock waited on): the diff says what. Captures stored
        before same_tasks (null) are quiet only when no row at all was
        added or ended (changed_rows 0; None: no previous capture). The
        list folds runs of these into one row."""
        return bool(self.processes) and all(
            not p.landmark and (p.same_tasks or p.changed_rows == 0) for p in self.processes
        )

    @property
    def has_local_cycle(self):
        return any(p.cycle_key not in NO_CYCLE_KEYS for p in self.processes)


MAX_PROCESS_CHARS = 128


@dataclass
class ListFilters:
    """The snapshot list's filters (the page, the API and MCP share them)."""

    process: str = ""  # a process name or a proc_key, exact
    has_cycle: bool = False
    at_ns: int | None = None  # jump to the newest snapshot captured at or before

    @classmethod
    def parse(cls, query):
        """From request parameters; QueryError naming the bad one."""
        process = query.get("process") or ""
        refuse_nul("process", process)
        if len(process) > MAX_PROCESS_CHARS:
            raise QueryError("process", f"process must be at most {MAX_PROCESS_CHARS} characters")
        has_cycle = query.get("has_cycle") or ""
        if has_cycle not in ("", "0", "1", "true", "false"):
            raise QueryError("has_cycle", "has_cycle must be 1 or 0")
        return cls(
            process=process.strip(),
            has_cycle=has_cycle in ("1", "true"),
            at_ns=parse_time_ns("at", query.get("at")),
        )

    def params(self):
        """The filters as query parameters (for links), without `at`."""
        out = {}
        if self.process:
            out["process"] = self.process
        if self.has_cycle:
            out["has_cycle"] = "1"
        return out


# What a time parameter takes (the OpenAPI document states the same patterns):
# nanoseconds since the epoch, or an ISO 8601 time without week or ordinal
# dates, UTC unless it names an offset. Spaces around are ignored.
TIME_NS_PATTERN = r"^ *[0-9]{1,19} *$"


def time_iso_pattern(last_day="31"):
    """The ISO form's pattern; the OpenAPI document states it with days up to
    28, so that every time it allows exists (the server checks the calendar)."""
    day = "(0[1-9]|[12][0-9]|3[01])" if last_day == "31" else "(0[1-9]|1[0-9]|2[0-8])"
    return (
        r"^ *[1-9][0-9]{3}-(0[1-9]|1[0-2])-" + day + r"([T ]([01][0-9]|2[0-3]):[0-5][0-9]"
        r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)? *$"
    )


TIME_ISO_RE = re.compile(time_iso_pattern(), re.ASCII)


def parse_time_ns(param, value):
    """A time parameter (TIME_NS_PATTERN or the ISO pattern:
    "2026-12-05T10:30:00Z", "2026-12-05 10:30:00.25"); None when empty."""
    value = value or ""
    if not value.strip(" "):
        return None
    if re.fullmatch(TIME_NS_PATTERN, value, re.ASCII):
        return _clamp_ns(int(value))
    try:
        if not TIME_ISO_RE.fullmatch(value):
            raise ValueError
        dt = datetime.fromisoformat(value.strip(" "))
    except ValueError:
        raise QueryError(
            param, f"{param} must be an ISO 8601 time in UTC (2026-12-05T10:30:00Z) or nanoseconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # Whole microseconds to ns, without float rounding.
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return _clamp_ns(
        (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    )


def _clamp_ns(ns):
    """Into the 64-bit column's range (years 1677-2262): a time past either
    end compares the same, and SQLite refuses a larger integer outright."""
    return max(-(2**63), min(ns, 2**63 - 1))


def _filtered_snapshots(filters):
    qs = Snapshot.objects.all()
    if filters.process:
        # Process names and proc_keys are both indexed: a subquery, not a
        # join, so a snapshot of several matching processes shows once.
        qs = qs.filter(
            id__in=ProcessSnapshot.objects.filter(
                Q(proc_key=filters.process) | Q(process=filters.process)
            ).values("snapshot_id")
        )
    if filters.has_cycle:
        # "Has a cycle": one of its captures has a needs cycle within its own
        # process (cycle_key, found at ingest; partial index), or the deadlock
        # finder, when it has run for the snapshot, found a candidate (cycles
        # across processes are only known that way).
        local = ProcessSnapshot.objects.exclude(cycle_key__in=NO_CYCLE_KEYS).values("snapshot_id")
        found = CycleReport.objects.filter(candidate_count__gt=0).values("snapshot_id")
        qs = qs.filter(Q(id__in=local) | Q(id__in=found))
    return qs


def snapshot_list(page=1, per_page=DEFAULT_PER_PAGE, filters=None):
    """Snapshots newest first (by id) with their processes and task-state
    counts, in five queries for any page size. With `filters.at_ns` the page
    is the one holding the newest matching snapshot captured at or before
    that time (`Page.at_id` names it; None when there is none). A page past
    the end is an empty page with the total, not an error."""
    filters = filters or ListFilters()
    page, per_page = _check_page(page, per_page)
    qs = _filtered_snapshots(filters)
    at_id = None
    if filters.at_ns is not None:
        at_id = (
            qs.filter(captured_at_ns__lte=filters.at_ns)
            .order_by("-captured_at_ns", "-id")
            .values_list("id", flat=True)
            .first()
        )
        if at_id is not None:
            page = qs.filter(id__gt=at_id).count() // per_page + 1
    total = qs.count()
    start = (page - 1) * per_page
    snapshots = list(qs.order_by("-id")[start : start + per_page])
    ids = [s.id for s in snapshots]
    by_snapshot = {i: [] for i in ids}
    processes = list(ProcessSnapshot.objects.filter(snapshot_id__in=ids).order_by("proc_key"))
    _fill_count_caches(processes)
    for p in processes:
        by_snapshot[p.snapshot_id].append(p)
    cycles = dict(
        CycleReport.objects.filter(snapshot_id__in=ids).values_list(
            "snapshot_id", "candidate_count"
        )
    )
    rows = [
        SnapshotRow(
            snapshot=s,
            processes=by_snapshot[s.id],
            state_counts=_state_counts(by_snapshot[s.id]),
            cycle_candidates=cycles.get(s.id),
        )
        for s in snapshots
    ]
    return Page(items=rows, total=total, page=page, per_page=per_page, at_id=at_id)


def known_processes(limit=500):
    """[(process, proc_key)] of each proc_key's newest capture, by name,
    for the list's process field (read from the heads, not the captures)."""
    heads = ProcessHead.objects.values("capture_id")
    return list(
        ProcessSnapshot.objects.filter(id__in=heads)
        .order_by("process", "proc_key")
        .values_list("process", "proc_key")[:limit]
    )


FOLD_MIN_RUN = 3


@dataclass
class Fold:
    """A run of consecutive quiet snapshots of a listing, shown as one row."""

    rows: list  # SnapshotRow, in the listing's order (newest first)

    @property
    def count(self):
        return len(self.rows)

    @property
    def newest(self):
        return self.rows[0]

    @property
    def oldest(self):
        return self.rows[-1]

    @property
    def cycle_throughout(self):
        """A cycle present in the run (it did not change: quiet rows have no
        landmark), so the folded row still says so."""
        return any(r.has_local_cycle or r.cycle_candidates for r in self.rows)


def fold(rows, min_run=FOLD_MIN_RUN, keep=None):
    """`rows` with each run of at least `min_run` consecutive quiet rows
    replaced by a Fold. A landmark (a cycle appearing or resolving, a
    state-class change) or any added or ended row is never quiet, so it is
    never folded away; nor is the row of snapshot `keep` (a jump's target)."""
    out, run = [], []
    for row in [*rows, None]:
        if row is not None and row.quiet and row.snapshot_id != keep:
            run.append(row)
            continue
        out.extend([Fold(run)] if len(run) >= min_run else run)
        run = []
        if row is not None:
            out.append(row)
    return out


# --- scope summary --------------------------------------------------------------


@dataclass
class ScopeSummary:
    scope: Scope
    processes: list  # ProcessSnapshot with data, by proc_key
    kind_counts: dict  # kind -> nodes, biggest first
    state_counts: dict  # task state class -> tasks, in STATE_CLASSES order
    node_count: int
    edge_count: int  # local edges + cross-process edges resolved in this scope
    cross_edge_count: int  # cross-process edges resolved in this scope
    unresolved_edge_count: int
    wake_event_count: int
    pending_trace_count: int
    captured_at_ns: int | None  # earliest capture of the scope
    skew_ns: int | None  # spread of captured_at_ns across processes

    @property
    def task_count(self):
        return sum(self.state_counts.values())

    @property
    def captured_at(self):
        return ns_to_datetime(self.captured_at_ns)


def scope_summary(scope):
    processes = scope_processes(scope)
    _fill_count_caches(processes)
    resolved, unresolved = scope.cross_edges()
    kinds = _kind_counts(processes)
    captured = [p.captured_at_ns for p in processes if p.captured_at_ns is not None]
    summary = ScopeSummary(
        scope=scope,
        processes=processes,
        kind_counts=kinds,
        state_counts=_state_counts(processes),
        node_count=sum(kinds.values()),
        edge_count=scope.local_edges().count() + len(resolved),
        cross_edge_count=len(resolved),
        unresolved_edge_count=len(unresolved),
        wake_event_count=scope.wakes().count(),
        pending_trace_count=scope.traces().count(),
        captured_at_ns=min(captured) if captured else None,
        skew_ns=(max(captured) - min(captured)) if len(captured) > 1 else None,
    )
    _check_not_pruned(scope)
    return summary


def _check_not_pruned(scope):
    """ScopeNotFound if retention deleted the snapshot while it was read.

    The summary reads the capture in several statements (counts cached on
    its row, edges counted live), each seeing what was committed when it
    started. A prune deletes a snapshot's row and all its rows in one
    transaction: if the row is still there after the last read, no read
    started after that commit and all saw the whole capture; if it is gone,
    some may have seen a mix (the nodes, and 0 edges). The live scope's
    captures are the newest ones, which retention keeps."""
    snapshot = scope.snapshot
    if snapshot is not None and not Snapshot.objects.filter(id=snapshot.id).exists():
        raise ScopeNotFound(f"snapshot {snapshot.id} was pruned while it was being read")


def state_facets(scope, kind="task", limit=100):
    """Raw states present among `kind` nodes, most frequent first, for the
    filter menus: [(state, count)]."""
    rows = (
        scope.nodes()
        .filter(kind=kind)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by("-n", "state")[:limit]
    )
    return [(state, n) for state, n in rows]


# --- node lists -----------------------------------------------------------------

_STATE_CLASS_RANK = Case(
    *[When(state_class=cls, then=Value(i)) for i, cls in enumerate(STATE_CLASSES)],
    default=Value(len(STATE_CLASSES)),
    output_field=IntegerField(),
)

# sort key -> (expression, reversed). `age` grows as spawned_at_ns shrinks.
SORTS = {
    "node_id": (F("node_id"), False),
    "label": (F("label"), False),
    "kind": (F("kind"), False),
    "task_id": (F("task_id"), False),
    "state": (F("state"), False),
    "state_class": (_STATE_CLASS_RANK, False),
    "proc_key": (F("proc_key"), False),
    "process": (F("proc_key"), False),
    "spawned_at_ns": (F("spawned_at_ns"), False),
    "age": (F("spawned_at_ns"), True),
    "pending_us": (F("pending_us"), False),
    "needs_count": (F("needs_count"), False),
    "needed_by_count": (F("needed_by_count"), False),
    "last_waker": (F("last_waker"), False),
}
_ATTR_SORT = re.compile(r"attrs\.([A-Za-z0-9_]{1,64})")


def _order_by(sort):
    """`name` ascending, `-name` descending; nulls last either way, then the
    row id so that pages never overlap or skip rows. Without a sort: by
    node id."""
    if not sort:
        # Node id order, not row id order. Row ids are storage order: a
        # versioned capture's rows carry the id of the capture that last
        # changed them, so the same content listed in another order at the
        # end of a segment than as a full capture, and a task moved when
        # its state changed. Node ids list every capture of a process alike,
        # and the (segment_id, node_id) index serves them: a page of one
        # capture reads its LIMIT rows' versions, not every version of the
        # segment (at the end of a REWRITE 6 segment, 26,000 rows for 2,000
        # tasks: docs/ingest.md#history-storage).
        return [F("node_id").asc(), F("id").asc()]
    name = sort[1:] if sort.startswith("-") else sort
    descending = sort.startswith("-")
    if name in SORTS:
        expr, flip = SORTS[name]
        descending ^= flip
    elif m := _ATTR_SORT.fullmatch(name):
        # Kind-specific columns (queue_len, holder_count, ...): JSON values
        # compare as numbers on both PostgreSQL (jsonb) and SQLite (json_extract).
        expr = KeyTransform(m.group(1), "attrs")
    else:
        choices = ", ".join(sorted(SORTS)) + ", attrs.<key>"
        raise QueryError(
            "sort", f"unknown sort {sort!r}; use one of {choices} (prefix - to reverse)"
        )
    ordered = expr.desc(nulls_last=True) if descending else expr.asc(nulls_last=True)
    return [ordered, F("id").asc()]


def _values(param, value, check=None):
    """A filter value may be one string or several (?state=a&state=b)."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    out = []
    for v in values:
        if not isinstance(v, str):
            raise QueryError(param, f"{param} must be text")
        refuse_nul(param, v)
        v = v.strip()
        if not v:
            continue
        if len(v) > 1024:
            raise QueryError(param, f"{param} is too long")
        if check:
            check(v)
        out.append(v)
    return out


def _check_state_class(v):
    if v not in STATE_CLASSES:
        raise QueryError(
            "state_class", f"unknown state_class {v!r}; use one of {', '.join(STATE_CLASSES)}"
        )


def _check_page(page, per_page):
    try:
        page = int(page) if page not in (None, "") else 1
    except (TypeError, ValueError):
        raise QueryError("page", "page must be a whole number") from None
    try:
        per_page = int(per_page) if per_page not in (None, "") else DEFAULT_PER_PAGE
    except (TypeError, ValueError):
        raise QueryError("per_page", "per_page must be a whole number") from None
    if not 1 <= page <= MAX_PAGE:
        raise QueryError("page", f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise QueryError("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}")
    return page, per_page


# User patterns run in RE2, which matches in time linear in the text: no
# pattern can backtrack for ever (`(a+)+$` against "aaa...b"). The price is
# RE2's dialect: no backreferences, no lookaround. log_errors off: a typo is
# the user's 400, not a line in the server log.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


def compile_pattern(pattern):
    """RE2's compiled `pattern` (cached by re2), or re2.error."""
    return re2.compile(pattern, RE2_OPTIONS)


def parse_search(q):
    """The ORM lookup and value for a name search: `conn` -> ("icontains",
    "conn"); `/^conn_\\d+$/` -> ("regex", ...); `/.../i` -> ("iregex", ...).

    A pattern must compile in RE2 on every database, so both accept the same
    patterns: SQLite runs it in RE2 (use_re2_for_sqlite_regexp), PostgreSQL
    in its own engine, which does not backtrack without backreferences."""
    if q is None:
        return None
    if not isinstance(q, str):
        raise QueryError("q", "q must be text")
    refuse_nul("q", q)
    q = q.strip()
    if not q:
        return None
    if len(q) > MAX_Q_CHARS:
        raise QueryError("q", f"q is longer than {MAX_Q_CHARS} characters")
    m = re.fullmatch(r"/(.+)/(i?)", q, re.DOTALL)
    if not m:
        return ("icontains", q)
    pattern, flag = m.groups()
    try:
        compile_pattern(pattern)
    except re2.error as e:
        reason = e.args[0] if e.args else "invalid"
        if isinstance(reason, bytes):  # RE2's own messages come as bytes
            reason = reason.decode(errors="replace")
        raise QueryError(
            "q",
            f"q is not a valid regular expression: {reason} "
            "(RE2 syntax: no backreferences or lookaround)",
        ) from None
    return ("iregex" if flag else "regex", pattern)


def _re2_regexp(pattern, string):
    """SQLite's REGEXP(pattern, string), as Django's own but in RE2. The
    `iregex` lookup sends '(?i)' + pattern, which RE2 reads alike."""
    if pattern is None or string is None:
        return None
    return compile_pattern(pattern).search(str(string)) is not None


def use_re2_for_sqlite_regexp(sender, connection, **kwargs):
    """connection_created receiver (snapshots/apps.py): Django registers a
    REGEXP function on every SQLite connection that runs Python's `re`,
    which backtracks without bound while holding the GIL, freezing every
    thread of the server. Redefining it here makes every REGEXP of this
    process run in RE2."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("REGEXP", 2, _re2_regexp, deterministic=True)


@dataclass
class NodeFilters:
    """Validated node-list filters; empty lists mean "any"."""

    kinds: list
    states: list
    classes: list
    process_ids: list | None  # None: every process of the scope
    search: tuple | None  # (ORM lookup, text), see parse_search
    segment_ids: list | None = None  # those processes' segments

    @classmethod
    def parse(cls, scope, *, kind=None, state=None, state_class=None, process=None, q=None):
        process_ids = segment_ids = None
        procs = _values("process", process)
        if procs:
            # The proc_key or the process name; filtering on segment_id uses
            # the column every node index starts with.
            wanted = set(procs)
            chosen = [p for p in scope_processes(scope) if wanted & {p.proc_key, p.process}]
            process_ids = [p.id for p in chosen]
            segment_ids = [p.segment_id for p in chosen]
        return cls(
            kinds=_values("kind", kind),
            states=_values("state", state),
            classes=_values("state_class", state_class, _check_state_class),
            process_ids=process_ids,
            search=parse_search(q),
            segment_ids=segment_ids,
        )

    def apply(self, qs):
        if self.kinds:
            qs = qs.filter(kind__in=self.kinds)
        if self.states:
            qs = qs.filter(state__in=self.states)
        if self.classes:
            qs = qs.filter(state_class__in=self.classes)
        if self.process_ids is not None:
            qs = qs.filter(segment_id__in=self.segment_ids)
        if self.search:
            lookup, text = self.search
            qs = qs.filter(Q(**{f"label__{lookup}": text}) | Q(**{f"node_id__{lookup}": text}))
        return qs

    def cached_total(self, scope):
        """The row count from the captures' count caches when the filters
        allow it (kind, task state class, process), else None. It spares the
        COUNT(*) of the plain task table: 100,000 index entries on every page."""
        if self.states or self.search:
            return None
        if self.classes and self.kinds != ["task"]:
            return None  # state classes are counted for tasks only
        processes = scope_processes(scope)
        if self.process_ids is not None:
            processes = [p for p in processes if p.id in self.process_ids]
        _fill_count_caches(processes)
        if self.classes:
            counts = _sum_counts(processes, "task_state_classes")
            return sum(counts.get(c, 0) for c in set(self.classes))
        counts = _sum_counts(processes, "kinds")
        if self.kinds:
            return sum(counts.get(k, 0) for k in set(self.kinds))
        return sum(counts.values())


def node_queryset(
    scope, *, kind=None, state=None, state_class=None, process=None, q=None, sort=None
):
    """The filtered, ordered queryset behind `node_page`. Filter values are
    strings or lists of strings."""
    filters = NodeFilters.parse(
        scope, kind=kind, state=state, state_class=state_class, process=process, q=q
    )
    return filters.apply(scope.nodes()).order_by(*_order_by(sort))


def node_page(
    scope,
    *,
    kind=None,
    state=None,
    state_class=None,
    process=None,
    q=None,
    sort=None,
    page=1,
    per_page=DEFAULT_PER_PAGE,
):
    """One page of a scope's nodes, filtered and sorted in SQL: the page
    query, a COUNT(*) unless the count caches know the total, and the scope's
    processes (once per Scope object).

    Rows are Node instances with `.process` already attached (no query per
    row in templates) and `.age_ns` = capture time - spawned_at_ns."""
    page, per_page = _check_page(page, per_page)
    filters = NodeFilters.parse(
        scope, kind=kind, state=state, state_class=state_class, process=process, q=q
    )
    qs = filters.apply(scope.nodes()).order_by(*_order_by(sort))
    start = (page - 1) * per_page
    total = filters.cached_total(scope)
    regex = filters.search is not None and filters.search[0] != "icontains"
    try:
        if regex and connection.vendor == "postgresql":
            # PostgreSQL's regex dialect differs from Python's in corners; its
            # error must become a 400, and inside a savepoint it does not
            # poison the caller's transaction.
            with transaction.atomic():
                total = qs.count()
                rows = list(qs[start : start + per_page])
        else:
            if total is None:
                total = qs.count()
            rows = list(qs[start : start + per_page]) if start < total else []
    except DatabaseError as e:
        if not regex:
            raise
        raise QueryError("q", f"q is not a regular expression the database accepts: {e}") from None
    _attach_processes(scope, rows)
    return Page(items=rows, total=total, page=page, per_page=per_page)


def node_page_kwargs(params):
    """Query parameters (a QueryDict or a dict) -> keyword arguments for
    node_page, so the API and the pages read URLs the same way."""
    getlist = params.getlist if hasattr(params, "getlist") else None

    def many(name):
        if getlist:
            return getlist(name)
        return params.get(name)

    return {
        "kind": many("kind"),
        "state": many("state"),
        "state_class": many("state_class"),
        "process": many("process"),
        "q": params.get("q"),
        "sort": params.get("sort") or None,
        "page": params.get("page"),
        "per_page": params.get("per_page"),
    }


def _attach_processes(scope, nodes):
    processes = {p.id: p for p in scope_processes(scope)}
    for n in nodes:
        p = processes.get(n.process_id)
        if p is not None:
            n.process = p  # fills the FK cache
        captured = p.captured_at_ns if p is not None else None
        n.age_ns = (
            captured - n.spawned_at_ns
            if captured is not None and n.spawned_at_ns is not None
            else None
        )
    return nodes


# --- node detail -----------------------------------------------------------------

NODE_BRIEF_FIELDS = ("node_id", "kind", "label", "proc_key", "state", "state_class")


def node_briefs(scope, node_ids):
    """node_id -> {node_id, kind, label, proc_key, state, state_class} for
    those present in the scope."""
    node_ids = [n for n in set(node_ids) if n]
    out = {}
    for batch in batched(node_ids, IN_BATCH):
        rows = scope.nodes().filter(node_id__in=batch).values(*NODE_BRIEF_FIELDS)
        for r in rows:
            # Only tasks have a state; say so with None rather than "".
            r["state"] = r["state"] or None
            r["state_class"] = r["state_class"] or None
            out.setdefault(r["node_id"], r)
    return out


@dataclass
class NodeDetail:
    scope: Scope
    node: Node  # with .process attached and .age_ns
    needs: list = field(default_factory=list)  # edge dicts, see _edge_rows
    needed_by: list = field(default_factory=list)
    needs_total: int = 0
    needed_by_total: int = 0
    wake_sources: list = field(default_factory=list)
    wake_events: list = field(default_factory=list)  # the newest ones, oldest first
    wake_event_total: int = 0
    pending_traces: list = field(default_factory=list)  # newest first
    pending_trace_total: int = 0


def _edge_rows(scope, node_id, outgoing):
    """Edges from (outgoing) or to the node: local ones, then cross-process
    ones, which are flagged `unresolved` when the other end is not in scope.

    Each row: {src, dst, other_id, other (brief or None), attrs,
    cross_process, unresolved, missing_side, referenced_proc_key, reason}."""
    mine, theirs = ("src", "dst") if outgoing else ("dst", "src")
    local_qs = scope.local_edges().filter(**{mine: node_id})
    local_total = local_qs.count()
    # Ordered by an expression, not the column: for `src = x ORDER BY dst`
    # SQLite walked the (process, dst) index over every edge of the capture
    # to spare sorting x's few edges (40 ms per call at 100,000 edges, where
    # looking them up by (process, src) and sorting takes 0.4 ms).
    order = Concat(theirs, Value(""), output_field=CharField())
    local = list(local_qs.order_by(order, "id").values("src", "dst", "attrs")[:EDGE_LIST_CAP])
    cross = list(
        scope.unresolved_edges()
        .filter(**{mine: node_id})
        .order_by(theirs, "id")
        .values("src", "dst", "attrs", "missing_side", "referenced_proc_key", "reason")
    )
    seen = {(e["src"], e["dst"]) for e in local}
    cross_unique = []
    for e in cross:
        if (e["src"], e["dst"]) not in seen:
            seen.add((e["src"], e["dst"]))
            cross_unique.append(e)
    total = local_total + len(cross_unique)
    cross_unique = cross_unique[: max(0, EDGE_LIST_CAP - len(local))]
    briefs = node_briefs(scope, [e[theirs] for e in local] + [e[theirs] for e in cross_unique])
    rows = []
    for e in local:
        rows.append(
            {
                "src": e["src"],
                "dst": e["dst"],
                "other_id": e[theirs],
                "other": briefs.get(e[theirs]),
                "attrs": e["attrs"],
                "cross_process": False,
                "unresolved": False,
                "missing_side": None,
                "referenced_proc_key": None,
                "reason": None,
            }
        )
    for e in cross_unique:
        other = briefs.get(e[theirs])
        rows.append(
            {
                "src": e["src"],
                "dst": e["dst"],
                "other_id": e[theirs],
                "other": other,
                "attrs": e["attrs"],
                "cross_process": True,
                "unresolved": other is None,
                "missing_side": e["missing_side"] if other is None else None,
                "referenced_proc_key": e["referenced_proc_key"],
                "reason": e["reason"] if other is None else None,
            }
        )
    return rows, total


def _wake_info(scope, node_id):
    events = scope.wakes().filter(woken=node_id)
    groups = list(
        events.values("waker")
        .annotate(count=Count("id"), last_at_ns=Max("at_ns"))
        .order_by("-last_at_ns", "waker")
    )
    total = sum(g["count"] for g in groups)
    groups = groups[:WAKE_SOURCE_CAP]
    workers = {}
    for waker, worker in (
        events.exclude(target_worker=None)
        .filter(waker__in=[g["waker"] for g in groups])
        .values_list("waker", "target_worker")
        .distinct()
    ):
        workers.setdefault(waker, set()).add(worker)
    recent = list(
        events.order_by("-at_ns", "-id").values("at_ns", "waker", "target_worker")[:WAKE_EVENT_CAP]
    )
    recent.reverse()
    briefs = node_briefs(scope, [g["waker"] for g in groups] + [e["waker"] for e in recent])
    sources = [
        {
            # An empty waker means woken from outside any task.
            "waker": g["waker"] or None,
            "waker_node": briefs.get(g["waker"]),
            "count": g["count"],
            "last_at_ns": g["last_at_ns"],
            "target_workers": sorted(workers.get(g["waker"], ())),
        }
        for g in groups
    ]
    recent = [
        {
            "at_ns": e["at_ns"],
            "waker": e["waker"] or None,
            "waker_node": briefs.get(e["waker"]),
            "target_worker": e["target_worker"],
        }
        for e in recent
    ]
    return sources, recent, total


def _trace_dicts(scope, rows):
    """PendingTrace value rows -> dicts with frames resolved to text. Frame
    ids are per process capture, so the lookup is keyed by (process, id)."""
    wanted = {}
    for t in rows:
        keys = wanted.setdefault(t["process_id"], set())
        keys.update(k for k in map(_frame_key, t["frame_ids"] or []) if k is not None)
    texts = scope.frame_texts(wanted)
    return [
        {
            "node_id": t["node_id"],
            "task_id": t["task_id"],
            "at_ns": t["at_ns"],
            "duration_us": t["duration_us"],
            # innermost first; text None when the id is not among the frames
            "frames": [
                {"id": fid, "text": texts.get((t["process_id"], _frame_key(fid)))}
                for fid in t["frame_ids"] or []
            ],
        }
        for t in rows
    ]


# The newest trace is the wait that began last (traces keep since_ns, not
# the time they were taken: versions.py).
NEWEST_TRACE_FIRST = (F("since_ns").desc(nulls_last=True), "-id")
TRACE_FIELDS = ("process_id", "node_id", "task_id", "at_ns", "duration_us", "frame_ids")


def _trace_node_ids(node):
    """The node ids the node's pending traces are filed under. A sender names
    a trace's task by its process-local task_id, which ingest files under the
    contract's `task:{proc_key}:{task_id}` whatever id the task node has
    (`task:svc-1:worker-7`, say)."""
    ids = {node.node_id}
    if node.kind == "task" and node.task_id is not None:
        ids.add(task_node_id(node.process.proc_key, node.task_id))
    return ids


def _traces(scope, node):
    qs = scope.traces().filter(node_id__in=_trace_node_ids(node))
    total = qs.count()
    rows = list(qs.order_by(*NEWEST_TRACE_FIRST).values(*TRACE_FIELDS)[:TRACE_CAP])
    traces = _trace_dicts(scope, rows)
    for t in traces:
        del t["node_id"]  # the node's own
    return traces, total


def get_node(scope, node_id):
    refuse_nul("node_id", node_id)
    node = scope.nodes().filter(node_id=node_id).order_by("process_id").first()
    if node is None:
        raise NodeNotFound(f"no node {node_id!r} in snapshot {scope.key}")
    _attach_processes(scope, [node])
    return node


def node_detail(scope, node_id):
    node = get_node(scope, node_id)
    needs, needs_total = _edge_rows(scope, node_id, outgoing=True)
    needed_by, needed_by_total = _edge_rows(scope, node_id, outgoing=False)
    sources, recent, wake_total = _wake_info(scope, node_id)
    traces, trace_total = _traces(scope, node)
    return NodeDetail(
        scope=scope,
        node=node,
        needs=needs,
        needed_by=needed_by,
        needs_total=needs_total,
        needed_by_total=needed_by_total,
        wake_sources=sources,
        wake_events=recent,
        wake_event_total=wake_total,
        pending_traces=traces,
        pending_trace_total=trace_total,
    )


# --- unresolved edges, stuck requests --------------------------------------------


def unresolved_edges(scope):
    """Cross-process edges whose other end is not in this scope, with the
    present end described: [{src, dst, process (owning proc_key),
    missing_side, referenced_proc_key, reason, attrs, src_node, dst_node}]."""
    _, unresolved = scope.cross_edges()
    owners = {p.id: p.proc_key for p in scope_processes(scope)}
    briefs = node_briefs(scope, [e.src for e in unresolved] + [e.dst for e in unresolved])
    rows = [
        {
            "src": e.src,
            "dst": e.dst,
            "process": owners.get(e.process_id),
            "missing_side": e.missing_side,
            "referenced_proc_key": e.referenced_proc_key,
            "reason": e.reason,
            "attrs": e.attrs,
            "src_node": briefs.get(e.src),
            "dst_node": briefs.get(e.dst),
        }
        for e in unresolved
    ]
    rows.sort(key=lambda r: (r["referenced_proc_key"], r["src"], r["dst"]))
    return rows


# Request/response statuses that mean "no answer yet"; a missing status too.
IN_FLIGHT = {
    "in_flight",
    "inflight",
    "pending",
    "sent",
    "waiting",
    "queued",
    "started",
    "running",
    "in_progress",
    "open",
}


def _status_in_flight(status):
    if status is None:
        return True
    if not isinstance(status, str):
        return False
    s = status.strip().lower().replace("-", "_").replace(" ", "_")
    return s == "" or s in IN_FLIGHT


def stuck_requests(scope, older_than_ns=None, limit=1000):
    """request/response nodes with no answer yet (status missing or in flight)
    whose elapsed_ns is over the threshold, oldest first. Each Node gets
    .elapsed_ns, .status, .method, .peer and .correlation_key."""
    if older_than_ns is None:
        older_than_ns = settings.PEEPSWEB_STUCK_REQUEST_S * 1_000_000_000
    # SQL narrows by kind and elapsed; Python then checks types and status,
    # since attrs are whatever the sender wrote.
    qs = scope.nodes().filter(kind__in=RPC, attrs__elapsed_ns__gt=older_than_ns)
    out = []
    for node in qs.order_by("id").iterator(chunk_size=2000):
        attrs = node.attrs if isinstance(node.attrs, dict) else {}
        elapsed = attrs.get("elapsed_ns")
        if isinstance(elapsed, bool) or not isinstance(elapsed, int | float):
            continue
        if elapsed <= older_than_ns or not _status_in_flight(attrs.get("status")):
            continue
        node.elapsed_ns = int(elapsed)
        node.status = attrs.get("status")
        node.method = attrs.get("method")
        node.peer = attrs.get("peer")
        node.correlation_key = attrs.get("correlation_key")
        out.append(node)
    out.sort(key=lambda n: (-n.elapsed_ns, n.node_id))
    out = out[:limit]
    return _attach_processes(scope, out)


# --- small public lookups for the pages (added by the pages helper) -------------


def kind_counts(scope):
    """kind -> node count of the scope, biggest first, from the per-capture
    count cache (no scan of the nodes once cached)."""
    processes = scope_processes(scope)
    _fill_count_caches(processes)
    return _kind_counts(processes)


def scope_pending_traces(scope, limit=100_000):
    """Every task's newest pending trace in the scope, frames resolved to text
    (innermost first), for the backtraces page: [{node_id, proc_key, task_id,
    at_ns, duration_us, frames: [{id, text}]}], at most `limit` traces read.
    Frame texts are fetched once per distinct frame, not per trace."""
    owners = {p.id: p.proc_key for p in scope_processes(scope)}
    newest = {}
    rows = scope.traces().order_by(*NEWEST_TRACE_FIRST).values(*TRACE_FIELDS)
    for row in rows[:limit]:
        newest.setdefault((row["process_id"], row["node_id"]), row)
    rows = list(newest.values())
    traces = _trace_dicts(scope, rows)
    tasks = _task_nodes(scope, rows)
    for row, trace in zip(rows, traces, strict=True):
        trace["proc_key"] = owners.get(row["process_id"])
        # Link the task's real node id, which may not be the contract-shaped
        # id the trace is filed under (see _trace_node_ids).
        candidates = tasks.get((row["process_id"], row["task_id"]), ())
        if candidates and row["node_id"] not in candidates:
            trace["node_id"] = candidates[0]
    return traces


def _task_nodes(scope, rows):
    """(process_id, task_id) -> ids of the task nodes with that task_id, in
    storage order, for rows with process_id and task_id.

    No index leads with task_id (an hour of one process's history would pay
    2.3 MB for it on PostgreSQL, and this page is its only reader): one pass
    over each capture's tasks (node_state), with the ids in the query when
    they are few."""
    wanted = {}
    for row in rows:
        wanted.setdefault(row["process_id"], set()).add(row["task_id"])
    captures = {c[0]: c for c in scope.captures}
    found = {}
    for process_id, task_ids in wanted.items():
        nodes = versions.rows(Node, [captures[process_id]]).filter(kind="task")
        if len(task_ids) <= IN_BATCH:
            nodes = nodes.filter(task_id__in=task_ids)
        for task_id, node_id in nodes.order_by("id").values_list("task_id", "node_id"):
            if task_id in task_ids:
                found.setdefault((process_id, task_id), []).append(node_id)
    return found


def _frame_key(fid):
    if isinstance(fid, int) and not isinstance(fid, bool):
        return fid
    if isinstance(fid, str) and fid.isascii() and fid.isdigit():
        return int(fid)
    return None


# --- for wait chains, stuck tasks and diffs (the MCP tools; pages may use them) ----


def node_edges(scope, node_id, outgoing=True):
    """What the node needs (outgoing) or what needs it, as the inspector
    lists them: (edge rows as in NodeDetail.needs / needed_by, total)."""
    return _edge_rows(scope, node_id, outgoing)


# --- who waits on whom, for a page of rows (the task table, locks, semaphores) ---


def edge_ends(scope, node_ids, *, outgoing, cap, only=None):
    """node_id -> (ids at the other end of its first `cap` local needs edges,
    in the sender's order; how many such edges it has), for those of
    `node_ids` that have one. `outgoing`: what each needs, else what needs
    it; `only`: a Q narrowing the edges. One query per IN_BATCH ids whatever
    the fan-out: a window numbers each node's edges and only the first `cap`
    come back, so a lock with 50,000 waiters is `cap` rows, not 50,000."""
    mine, theirs = ("src", "dst") if outgoing else ("dst", "src")
    edges = scope.local_edges()
    if only is not None:
        edges = edges.filter(only)
    out = {}
    for batch in batched(sorted(set(node_ids)), IN_BATCH):
        rows = (
            edges.filter(**{f"{mine}__in": batch})
            .annotate(
                rank=Window(RowNumber(), partition_by=[F(mine)], order_by=[F("id").asc()]),
                total=Window(Count("id"), partition_by=[F(mine)]),
            )
            .filter(rank__lte=cap)
            .order_by(mine, "rank")
            .values_list(mine, theirs, "total")
        )
        for me, other, total in rows:
            out.setdefault(me, ([], total))[0].append(other)
    return out


def holder_edges(scope):
    """The needs edges that point at a holder: `held: true`, or any edge out
    of a lock, semaphore or condition (node_kinds.HELD)."""
    held_kinds = scope.nodes().filter(kind__in=HELD).values("node_id")
    return Q(attrs__held=True) | Q(src__in=held_kinds)


@dataclass
class WaitsOn:
    target: str  # the node id of the first thing the task needs
    holder: str | None = None  # who holds that, when an edge says so
    holders: int = 0  # how many hold it


def waits_on(scope, nodes):
    """node_id -> WaitsOn for those of `nodes` (Node rows of one page) that
    need something: their first needs edge (local ones first, then those to
    other processes), and its target's first holder. Two queries for a page
    of local edges, a third only when a row's edges all leave its process;
    the caller names the ids with one node_briefs call."""
    needing = [n.node_id for n in nodes if n.needs_count]
    found = {
        src: WaitsOn(target=dsts[0])
        for src, (dsts, _) in edge_ends(scope, needing, outgoing=True, cap=1).items()
    }
    elsewhere = [n for n in needing if n not in found]
    for batch in batched(elsewhere, IN_BATCH):
        rows = scope.unresolved_edges().filter(src__in=batch)
        for src, dst in rows.order_by("id").values_list("src", "dst"):
            found.setdefault(src, WaitsOn(target=dst))
    targets = {w.target for w in found.values()}
    holders = edge_ends(scope, targets, outgoing=True, cap=1, only=holder_edges(scope))
    for w in found.values():
        if w.target in holders:
            (w.holder,), w.holders = holders[w.target]
    return found


# A finished task's old pending trace says nothing about being stuck now.
FINISHED_STATE_CLASSES = ("done", "failed", "skipped")


def longest_pending_tasks(scope, min_pending_us=0, limit=DEFAULT_PER_PAGE):
    """Unfinished tasks whose longest pending trace lasted at least
    min_pending_us, longest first (the task table's `-pending_us` order):
    (Nodes with .process attached, total)."""
    qs = (
        node_queryset(scope, kind="task", sort="-pending_us")
        .filter(pending_us__gte=min_pending_us)
        .exclude(state_class__in=FINISHED_STATE_CLASSES)
    )
    total = qs.count()
    return _attach_processes(scope, list(qs[:limit])), total


def newest_pending_traces(scope, nodes):
    """node_id -> its newest pending trace, frames resolved (as in
    NodeDetail.pending_traces), for those of `nodes` (with .process attached)
    that have one. One query per node: meant for a page of them."""
    found = []
    for node in nodes:
        row = (
            scope.traces()
            .filter(node_id__in=_trace_node_ids(node))
            .order_by(*NEWEST_TRACE_FIRST)
            .values(*TRACE_FIELDS)
            .first()
        )
        if row is not None:
            found.append((node.node_id, row))
    traces = _trace_dicts(scope, [row for _, row in found])
    return {node_id: trace for (node_id, _), trace in zip(found, traces, strict=True)}
