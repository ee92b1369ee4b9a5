"""The task table and the tables of other node kinds.

Filtering, sorting and pagination happen in SQL (snapshots.queries.node_page);
these views only read the URL, add what the filter menus need, and render.
A page costs a fixed handful of queries whatever its size: nothing in the
templates touches the database per row."""

from dataclasses import dataclass

from django.core.cache import cache
from django.http import Http404
from django.urls import reverse

from snapshots import queries
from snapshots.pages import integrations
from snapshots.pages import kinds as kind_tables
from snapshots.pages.formatting import format_duration_ns
from snapshots.pages.views.common import render_fragment, render_page, scoped_page
from snapshots.states import STATE_CLASSES
from snapshots.templatetags.peeps import node_path

PER_PAGE_CHOICES = (50, 100, 200, 500)
# (sort key, column title, numeric)
TASK_COLUMNS = (
    ("task_id", "id", True),
    ("label", "name", False),
    ("state", "state", False),
    ("state_class", "class", False),
    ("process", "process", False),
    ("age", "age", True),
    ("pending_us", "pending", True),
    # What it waits on: named by the row (waits_on), sorted by how many.
    ("needs_count", "waits on", False),
    ("last_waker", "last waker", False),
)


def _raw_states(scope):
    """Raw task states for the filter menu. A GROUP BY over 100,000 tasks is
    the slowest query of the page, and captures never change, so it is cached
    per set of captures (which is what a scope is, live included)."""
    key = "pages:states:" + ",".join(map(str, scope.process_ids))
    states = cache.get(key)
    if states is None:
        states = queries.state_facets(scope, kind="task")
        cache.set(key, states, 3600)
    return states


def _node_page(scope, query, **fixed):
    """node_page over the URL's filters; a bad filter becomes a message shown
    above an empty table (status 400) instead of an error page."""
    params = queries.node_page_kwargs(query)
    params.update(fixed)
    try:
        return queries.node_page(scope, **params), None
    except queries.QueryError as e:
        empty = queries.Page(items=[], total=0, page=1, per_page=queries.DEFAULT_PER_PAGE)
        return empty, e


@dataclass
class NodeName:
    """A node named in a cell: its kind, label (or id) and link; href ""
    when it is not in the scope."""

    node_id: str
    label: str
    kind: str = ""
    href: str = ""


def node_name(scope, node_id, briefs):
    brief = briefs.get(node_id)
    if brief is None:
        return NodeName(node_id, node_id)
    href = node_path(scope.key, node_id)
    return NodeName(node_id, brief["label"] or node_id, brief["kind"], href)


@dataclass
class TaskRow:
    """One task table row, formatted here rather than by a dozen filters per
    row: the table of 500 rows renders several times faster this way. Values
    are plain text; the template escapes them."""

    node: object
    href: str
    age: str
    pending: str
    in_cycle: bool
    waker_href: str = ""
    waker_label: str = ""
    waker_class: str = ""  # "" when the waker is not in the scope
    waits: NodeName | None = None  # the first thing it needs
    waits_more: int = 0  # how many more it needs
    holder: NodeName | None = None  # who holds what it waits on
    holders_more: int = 0


def task_rows(scope, nodes, briefs, waits, cycle_members):
    """`briefs`: node_briefs of the rows' last wakers and of what they wait
    on (`waits`, queries.waits_on) and its holders, fetched in one call."""
    rows = []
    for n in nodes:
        row = TaskRow(
            node=n,
            href=node_path(scope.key, n.node_id),
            age=format_duration_ns(n.age_ns),
            pending=format_duration_ns(n.pending_us * 1000) if n.pending_us is not None else "",
            in_cycle=n.node_id in cycle_members,
        )
        if n.last_waker:
            waker = briefs.get(n.last_waker)
            row.waker_label = (waker and waker["label"]) or n.last_waker
            if waker:
                row.waker_href = node_path(scope.key, n.last_waker)
                row.waker_class = (
                    waker["state_class"] if waker["state_class"] in STATE_CLASSES else "unknown"
                )
        w = waits.get(n.node_id)
        if w is not None:
            row.waits = node_name(scope, w.target, briefs)
            row.waits_more = max(0, n.needs_count - 1)
            if w.holder is not None:
                row.holder = node_name(scope, w.holder, briefs)
                row.holders_more = w.holders - 1
        rows.append(row)
    return rows


def _filter_context(scope, get):
    return {
        "q": get.get("q", ""),
        "sort": get.get("sort", ""),
        "selected_classes": get.getlist("state_class"),
        "selected_states": get.getlist("state"),
        "selected_processes": get.getlist("process"),
        "per_page": get.get("per_page", ""),
        "per_page_choices": PER_PAGE_CHOICES,
        "processes": list(scope.processes()),
        # Each row links to the graph centred on it: reversed once per table.
        "graph_url": reverse("pages:graph", args=[scope.key]),
    }


@scoped_page
def tasks(request):
    context = tasks_context(request.snapshot_scope, request.GET)
    response = render_page(request, "pages/tasks.html", context, partial="task-table")
    if context["error"]:
        response.status_code = 400
    return response


def tasks_context(scope, query):
    page, error = _node_page(scope, query, kind="task")
    cycles = integrations.cycle_context(scope)
    waits = queries.waits_on(scope, page.items)
    # One look-up names every node a row mentions.
    named = [n.last_waker for n in page.items]
    named += [w.target for w in waits.values()] + [w.holder for w in waits.values()]
    briefs = queries.node_briefs(scope, named)
    return {
        "scope": scope,
        "active": "tasks",
        "page": page,
        "rows": task_rows(scope, page.items, briefs, waits, cycles["cycle_members"]),
        "error": error,
        "columns": TASK_COLUMNS,
        "raw_states": _raw_states(scope),
        **cycles,
        **_filter_context(scope, query),
    }


def tasks_fragment(scope, query):
    """The task table's htmx fragment for `query`; pushed live for no query."""
    return render_fragment("pages/tasks.html", "task-table", tasks_context(scope, query))


@scoped_page
def kinds(request):
    summary_kinds = queries.kind_counts(request.snapshot_scope)
    context = {"active": "kinds", "kind_links": kind_tables.kind_links(summary_kinds)}
    return render_page(request, "pages/kinds.html", context)


# Names per cell of the locks and semaphores tables; the rest is "+N more".
NAMES_CAP = 3


def name_holders_and_waiters(scope, rows):
    """Give each row (a lock or semaphore) `held_by` and `waiters`: the first
    NAMES_CAP NodeNames, with `held_by_more` and `waiters_more` counting the
    rest. Three queries for the page whatever the crowds."""
    ids = [row["node"].node_id for row in rows]
    holders = queries.edge_ends(
        scope, ids, outgoing=True, cap=NAMES_CAP, only=queries.holder_edges(scope)
    )
    waiters = queries.edge_ends(scope, ids, outgoing=False, cap=NAMES_CAP)
    named = [i for found in (holders, waiters) for others, _ in found.values() for i in others]
    briefs = queries.node_briefs(scope, named)
    for row in rows:
        node = row["node"]
        held, held_total = holders.get(node.node_id, ([], 0))
        waiting, _ = waiters.get(node.node_id, ([], 0))
        row["held_by"] = [node_name(scope, i, briefs) for i in held]
        row["held_by_more"] = held_total - len(held)
        row["waiters"] = [node_name(scope, i, briefs) for i in waiting]
        # needed_by_count counts the waiters in other processes too.
        row["waiters_more"] = max(0, node.needed_by_count - len(waiting))


@scoped_page
def kind_table(request, kind):
    scope = request.snapshot_scope
    if kind == "task":
        raise Http404("Tasks have their own table.")
    kind_counts = queries.kind_counts(scope)
    group = kind_tables.GROUPS.get(kind) or kind_tables.GROUPS.get(kind_tables.group_of(kind))
    raw_kinds = kind_tables.kinds_in(kind, kind_counts)
    page, error = _node_page(scope, request.GET, kind=raw_kinds)
    columns = kind_tables.columns_for(group, page.items)
    rows = [
        {
            "node": n,
            "href": node_path(scope.key, n.node_id),
            "cells": [kind_tables.cell(c, n.attrs) for c in columns],
        }
        for n in page.items
    ]
    names_holders = group is not None and group.names_holders
    if names_holders:
        name_holders_and_waiters(scope, rows)
    context = {
        "active": "kinds",
        "kind": kind,
        "title": kind_tables.GROUPS[kind].title if kind in kind_tables.GROUPS else kind,
        "raw_kinds": raw_kinds,
        "show_kind": len(raw_kinds) > 1,
        "page": page,
        "rows": rows,
        "error": error,
        "columns": columns,
        "names_holders": names_holders,
        "kind_links": kind_tables.kind_links(kind_counts),
        **_filter_context(scope, request.GET),
    }
    response = render_page(request, "pages/kind_table.html", context, partial="node-table")
    if error:
        response.status_code = 400
    return response
