"""Node kinds other than tasks: how they group into tables and which attrs
become columns. Canonical kinds come from SNAPSHOT_FORMAT.md; any other kind
gets a generic table whose columns are its most common attrs."""

import json
import re
from dataclasses import dataclass, field

from snapshots.node_kinds import (
    CHANNEL_KINDS,
    CHANNEL_SUFFIXES,
    FUTURE,
    LOCK,
    ONCECELL,
    RPC,
    SEMAPHORE,
    TASK,
)
from snapshots.pages.formatting import format_duration_ns


@dataclass(frozen=True)
class Column:
    key: str  # attrs key, or a Node field for `field=True`
    title: str
    fmt: str = "text"  # text | num | duration_ns | bool | json
    field: bool = False  # a Node column rather than an attrs key

    @property
    def numeric(self):
        return self.fmt in ("num", "duration_ns")

    @property
    def sortable(self):
        return self.field or bool(SORTABLE_KEY.fullmatch(self.key))

    @property
    def sort(self):
        return self.key if self.field else f"attrs.{self.key}"


@dataclass(frozen=True)
class KindGroup:
    slug: str
    title: str
    kinds: tuple  # exact kinds; channel kinds are matched by suffix too
    columns: tuple = field(default_factory=tuple)
    # Name who holds each row and who waits on it (its needs edges point at
    # its holders, node_kinds.HELD; the edges to it come from its waiters).
    names_holders: bool = False


def _c(key, title, fmt="text"):
    return Column(key, title, fmt)


GROUPS = {
    g.slug: g
    for g in (
        KindGroup(
            "futures",
            "Futures",
            (FUTURE,),
            (
                _c("future_id", "future id", "num"),
                _c("pending_count", "pending polls", "num"),
                _c("ready_count", "ready polls", "num"),
                _c("total_pending_ns", "total pending", "duration_ns"),
            ),
        ),
        KindGroup(
            "locks",
            "Locks",
            (LOCK,),
            (
                _c("lock_kind", "lock kind"),
                _c("holder_count", "holders", "num"),
                _c("waiter_count", "waiters", "num"),
            ),
            names_holders=True,
        ),
        KindGroup(
            "channels",
            "Channels",
            CHANNEL_KINDS,
            (
                _c("queue_len", "queue len", "num"),
                _c("capacity", "capacity", "num"),
                _c("closed", "closed", "bool"),
                _c("tx_closed", "tx closed", "bool"),
                _c("rx_closed", "rx closed", "bool"),
            ),
        ),
        KindGroup(
            "semaphores",
            "Semaphores",
            (SEMAPHORE,),
            (
                _c("permits_total", "permits total", "num"),
                _c("permits_available", "available", "num"),
                _c("waiters", "waiters", "num"),
            ),
            names_holders=True,
        ),
        KindGroup(
            "requests",
            "Requests and responses",
            RPC,
            (
                _c("method", "method"),
                _c("status", "status"),
                _c("elapsed_ns", "elapsed", "duration_ns"),
                _c("peer", "peer"),
                _c("direction", "direction"),
                _c("correlation_key", "correlation key"),
            ),
        ),
        KindGroup("oncecells", "Once-cells", (ONCECELL,), ()),
    )
}

COLUMN_CAP = 9
# Shown elsewhere in the row (the label) or too bulky for a cell.
HIDDEN_KEYS = {"name", "label", "meta"}
SORTABLE_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def group_of(kind):
    """The group slug a raw kind belongs to, or None for tasks/unknown kinds."""
    for group in GROUPS.values():
        if kind in group.kinds:
            return group.slug
    if kind.endswith(CHANNEL_SUFFIXES):
        return "channels"
    return None


def kinds_in(slug, kind_counts):
    """The raw kinds a table shows: a group's kinds present in the scope (its
    canonical ones when none is), or the raw kind itself."""
    if slug in GROUPS:
        present = [k for k in kind_counts if group_of(k) == slug]
        return present or list(GROUPS[slug].kinds)
    return [slug]


def kind_links(kind_counts):
    """Entries for the overview and the kinds index, biggest first:
    [{slug, title, kinds: [(kind, n)], count, is_task}]."""
    entries = {}
    for kind, n in kind_counts.items():
        if kind == TASK:
            slug, title = TASK, "Tasks"
        else:
            slug = group_of(kind) or kind
            title = GROUPS[slug].title if slug in GROUPS else kind
        e = entries.setdefault(
            slug, {"slug": slug, "title": title, "kinds": [], "count": 0, "is_task": kind == TASK}
        )
        e["kinds"].append((kind, n))
        e["count"] += n
    return sorted(entries.values(), key=lambda e: (not e["is_task"], -e["count"], e["slug"]))


def columns_for(group, nodes):
    """The attrs columns of a page of nodes: the group's known columns that
    some row has, then the other keys the rows carry (most common first),
    capped so the table stays readable. Unknown kinds get only the latter."""
    seen, types = {}, {}
    for node in nodes:
        attrs = node.attrs if isinstance(node.attrs, dict) else {}
        for key, value in attrs.items():
            if isinstance(key, str) and key not in HIDDEN_KEYS:
                seen[key] = seen.get(key, 0) + 1
                types.setdefault(key, set()).add(_value_type(value))
    known = [c for c in (group.columns if group else ()) if c.key in seen]
    taken = {c.key for c in known}
    extra = sorted((k for k in seen if k not in taken), key=lambda k: -seen[k])
    extra = extra[: max(0, COLUMN_CAP - len(known))]
    return tuple(known) + tuple(Column(k, k, _fmt(k, types[k])) for k in extra)


def _value_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return "text"


def _fmt(key, types):
    if types == {"num"}:
        return "duration_ns" if key.endswith(("elapsed_ns", "pending_ns")) else "num"
    return "bool" if types == {"bool"} else "text"


@dataclass
class Cell:
    text: str
    title: str = ""
    numeric: bool = False
    code: bool = False  # a JSON value, shown as code


def cell(column, attrs):
    """One attrs cell as text (the template escapes it); formatted here, not
    by an include per cell, so a page of 500 rows stays cheap."""
    value = attrs.get(column.key) if isinstance(attrs, dict) else None
    if value is None:
        return Cell("", numeric=column.numeric)
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        title = json.dumps(value, ensure_ascii=False, indent=2)
        return Cell(text if len(text) <= 80 else text[:79] + "…", title=title, code=True)
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if column.fmt == "duration_ns" and isinstance(value, int | float):
        return Cell(format_duration_ns(value), title=f"{value} ns", numeric=True)
    return Cell(str(value), numeric=column.numeric)
