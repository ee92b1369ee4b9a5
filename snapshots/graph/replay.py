"""Replay of the live graph: step back through the last captures with a
stable layout (docs/live.md, "Replay").

A replay *window* is pinned by `until`, a complete snapshot id (the newest
one with data of the live view's processes when replay starts; pinned, so
that captures arriving meanwhile change nothing on the page):

- the processes in view: the proc_keys with a capture received within
  PEEPSWEB_LIVE_WINDOW_S before snapshot `until` (what the live view showed
  then);
- the steps: the last STEPS complete snapshots up to `until` that hold a
  capture of one of them, in id (arrival) order;
- a step shows, for each of those processes, its newest capture in that
  snapshot or an earlier one. For one process pushing, that is each of its
  captures in turn; for several, the live union as it stood at that moment.

A step is a URL, `?at=<snapshot id>&until=<snapshot id>`, on the live graph.
Its graph is built like any scope's (filters, merging, cap, cycle marks),
then drawn on one layout of the union of every step's drawn nodes and
edges, so nodes keep their places; nodes of the union absent from the step
are drawn as ghosts. The union is computed once per window and options and
cached (each step's scope is immutable captures, so it cannot go stale).
"""

import hashlib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from snapshots.graph.layout import layout
from snapshots.graph.neighbourhood import build_graph, max_edges, max_nodes
from snapshots.graph.svg import NODE_H, draw, node_size
from snapshots.models import ProcessSnapshot, Snapshot
from snapshots.queries import QueryError
from snapshots.scope import HAS_DATA, LIVE, Scope

STEPS = 60
CACHE_S = 600
UNION_VERSION = 1  # bump when what the cached union holds changes


@dataclass
class Step:
    snapshot_id: int
    created_at: object  # datetime: when the server received the snapshot
    captured_at_ns: int | None
    snapshot_of: dict  # proc_key -> the snapshot id of its capture shown at this step
    captures: tuple  # ProcessSnapshot ids shown at this step

    def scope(self):
        return Scope(key=LIVE, snapshot=None, process_ids=list(self.captures))


@dataclass
class Window:
    until: int | None
    proc_keys: list = field(default_factory=list)
    steps: list = field(default_factory=list)

    def step_ids(self):
        return ",".join(str(s.snapshot_id) for s in self.steps)

    def index_of(self, snapshot_id):
        for i, step in enumerate(self.steps):
            if step.snapshot_id == snapshot_id:
                return i
        return None


def _data_captures():
    return ProcessSnapshot.objects.filter(
        status__in=HAS_DATA, segment_id__isnull=False, snapshot__status=Snapshot.COMPLETE
    )


def newest_until():
    """The newest complete snapshot with data of a process the live view
    shows now (None when it shows nothing)."""
    cutoff = _cutoff(None)
    return _data_captures().filter(received_at__gte=cutoff).aggregate(n=Max("snapshot_id"))["n"]


def _cutoff(created_at):
    return (created_at or timezone.now()) - timedelta(seconds=settings.PEEPSWEB_LIVE_WINDOW_S)


def window(until=None):
    """The replay window ending at snapshot `until` (default: newest_until()).
    Http404 when `until` is not a complete snapshot."""
    if until is None:
        until = newest_until()
        if until is None:
            return Window(until=None)
    end = Snapshot.objects.filter(id=until, status=Snapshot.COMPLETE).first()
    if end is None:
        raise Http404(f"No complete snapshot {until} to replay up to: it may have been pruned.")
    data = _data_captures().filter(snapshot_id__lte=until)
    recent = data.filter(received_at__gte=_cutoff(end.created_at))
    proc_keys = sorted(set(recent.values_list("proc_key", flat=True)))
    ours = data.filter(proc_key__in=proc_keys)
    step_ids = ours.order_by("-snapshot_id").values_list("snapshot_id", flat=True).distinct()
    step_ids = sorted(step_ids[:STEPS])
    if not step_ids:
        return Window(until=until, proc_keys=proc_keys)
    first = step_ids[0]
    # Each process's newest capture before the window: what the first step shows of it.
    before = ours.filter(snapshot_id__lt=first).values("proc_key").annotate(last=Max("id"))
    earlier = ProcessSnapshot.objects.filter(id__in=[b["last"] for b in before])
    rows = list(earlier.values_list("id", "proc_key", "snapshot_id"))
    rows += (
        ours.filter(snapshot_id__gte=first)
        .order_by("snapshot_id", "id")
        .values_list("id", "proc_key", "snapshot_id")
    )
    times = {
        s[0]: s[1:]
        for s in Snapshot.objects.filter(id__in=step_ids).values_list(
            "id", "created_at", "captured_at_ns"
        )
    }
    shown = {}  # proc_key -> (capture id, snapshot id)
    steps, i = [], 0
    for step_id in step_ids:
        while i < len(rows) and rows[i][2] <= step_id:
            capture_id, proc_key, snapshot_id = rows[i]
            shown[proc_key] = (capture_id, snapshot_id)
            i += 1
        created_at, captured_at_ns = times[step_id]
        steps.append(
            Step(
                snapshot_id=step_id,
                created_at=created_at,
                captured_at_ns=captured_at_ns,
                snapshot_of={k: sid for k, (_, sid) in shown.items()},
                captures=tuple(sorted(c for c, _ in shown.values())),
            )
        )
    return Window(until=until, proc_keys=proc_keys, steps=steps)


def _snapshot_id(params, name):
    value = params.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) < 19):
        raise QueryError(name, "a snapshot id (digits) is expected")
    return int(value)


def from_query(scope, params, options):
    """The Replay a graph URL asks for (`at`, `until`), or None without `at`.
    QueryError (400) for a malformed id or replay outside the live view;
    Http404 for a snapshot that is not a step of the window."""
    if "at" not in params and "until" not in params:
        return None
    if not scope.is_live:
        raise QueryError("at", "replay is for the live view (/snapshots/live/graph/)")
    at = _snapshot_id(params, "at")
    until = _snapshot_id(params, "until") if "until" in params else None
    win = window(until)
    index = win.index_of(at)
    if index is None:
        raise Http404(
            f"Snapshot {at} is not one of the {len(win.steps)} steps of the replay"
            f" up to snapshot {win.until}: it is older, newer or of other processes."
        )
    return Replay(window=win, index=index, options=options)


@dataclass
class Union:
    """Every drawn node and edge of a window's steps, laid out once."""

    order: list  # drawn node ids, in order of first appearance
    present: dict  # drawn node id -> sorted step indexes that have it
    nodes: dict  # drawn node id -> a DrawnNode of it (its last appearance)
    too_big: bool = False
    layout: object = None  # layout.Layout, None when too big


@dataclass
class Replay:
    window: Window
    index: int
    options: object  # GraphOptions
    focus_gone: bool = False  # the focus node is not in this step's captures

    @property
    def step(self):
        return self.window.steps[self.index]

    @cached_property
    def scope(self):
        return self.step.scope()

    @property
    def number(self):
        return self.index + 1

    @property
    def prev_id(self):
        return self.window.steps[self.index - 1].snapshot_id if self.index > 0 else None

    @property
    def next_id(self):
        steps = self.window.steps
        return steps[self.index + 1].snapshot_id if self.index + 1 < len(steps) else None

    @cached_property
    def union(self):
        # Captures never change; ids with their arrival times name them even
        # where ids are reused (a test database rolled back, SQLite).
        steps = [(s.snapshot_id, s.created_at.isoformat(), s.captures) for s in self.window.steps]
        caps = (max_nodes(), max_edges())
        key = hashlib.sha256(repr((UNION_VERSION, self.options, caps, steps)).encode()).hexdigest()
        key = f"peepsweb.replay.{key}"
        union = cache.get(key)
        if union is None:
            union = _union(self.window.steps, self.options)
            cache.set(key, union, CACHE_S)
        return union

    def draw(self, graph, recentre_query):
        """The step's graph drawn on the union's layout, with ghosts; or on
        a layout of its own when the union is over the size cap."""
        if graph.too_big:
            return None
        union = self.union
        if union.too_big:
            if not graph.nodes:
                return None
            drawing = draw(graph, LIVE, recentre_query)
            self._relink(drawing, union)
            return drawing
        here = {n.id for n in graph.nodes}
        ghosts = []
        for node_id in union.order:
            if node_id in here:
                continue
            seen = union.present[node_id]
            earlier = [i for i in seen if i < self.index]
            if earlier:
                text = f"gone: last seen at capture {earlier[-1] + 1} of {len(self.window.steps)}"
            else:
                text = f"gone: not here yet, first seen at capture {seen[0] + 1}"
            node = union.nodes[node_id]
            ghosts.append(replace(node, ghost=text, focus=False, cycle=None, group=""))
        if not graph.nodes and not ghosts:
            return None
        both = replace(graph, nodes=graph.nodes + ghosts)
        drawing = draw(both, LIVE, recentre_query, union.layout)
        self._relink(drawing, union)
        return drawing

    def _relink(self, drawing, union):
        """Inspector links go to the numbered snapshot of each node's capture
        at this step (a ghost: at the nearest step that had it); the live
        inspector would show the node as it is now, or not at all."""
        steps = self.window.steps
        for view in drawing.nodes:
            node = view.node
            seen = union.present.get(node.id, [self.index])
            at = self.index if not node.ghost else min(seen, key=lambda i: abs(i - self.index))
            snapshot_id = steps[at].snapshot_of.get(node.home)
            if snapshot_id is None:
                continue
            view.links = [
                (text, reverse("pages:node", args=[snapshot_id, member]))
                for (text, _), member in zip(view.links, node.members, strict=True)
            ]
            view.href = view.links[0][1]


def _union(steps, options):
    order, present, nodes, widths, edges = [], {}, {}, {}, {}
    for index, step in enumerate(steps):
        graph = build_graph(step.scope(), options, marks=False)
        if graph.too_big or graph.focus_missing:
            continue
        for node in graph.nodes:
            if node.id not in present:
                order.append(node.id)
                present[node.id] = []
            present[node.id].append(index)
            nodes[node.id] = node
            widths[node.id] = max(widths.get(node.id, 0), node_size(node)[3])
        for edge in graph.edges:
            edges.setdefault((edge.src, edge.dst), None)
    union = Union(order=order, present=present, nodes=nodes)
    if len(order) > max_nodes() or len(edges) > max_edges():
        union.too_big = True
        return union
    # The focus first, as build_graph orders a single graph.
    order.sort(key=lambda n: not nodes[n].focus)
    union.layout = layout([(n, widths[n], NODE_H) for n in order], list(edges))
    return union
