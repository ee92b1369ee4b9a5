"""The `needs` graph around a node (or of a whole scope), ready to draw.

`build_graph(scope, options)` walks the graph breadth-first in both directions
(what a node needs and what needs it) up to `options.depth` hops, one indexed
query per frontier and direction (Edge indexes `(process, src)` and
`(process, dst)`), plus the scope's resolved cross-process edges, which are few
and held in memory. Without a focus node it takes every node of the scope that
passes the filters. It then applies the noise controls (merging channel
endpoint pairs and request/response pairs into one drawn node, hiding nodes
without edges) and marks cycle members.

Filters (kind, process, name) say which nodes may appear at all: the walk
never goes *through* a node that fails them, which is what makes a kind filter
narrow a graph that is too big. The focus node always stays.

Nothing here draws; see layout.py, svg.py and views.py beside it.
Above the size cap the result is `too_big` with what was counted, so the page
can offer a narrower graph instead of freezing the browser.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import batched

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.fields.json import KT

from snapshots.cycles import service
from snapshots.graph.svg import shape_of
from snapshots.node_kinds import (
    RECEIVER_SUFFIX,
    REQUEST,
    RESPONSE,
    RPC,
    channel_end,
    channel_family,
    is_sender,
)
from snapshots.queries import IN_BATCH
from snapshots.states import state_class

MAX_DEPTH = 6
# Stop counting a graph that is too big once this many nodes were seen, so a
# hub with 100,000 waiters costs a bounded amount of work.
COUNT_LIMIT_FACTOR = 10
COLOUR_MODES = ("state", "process", "cycle")


def max_nodes():
    return settings.PEEPSWEB_GRAPH_MAX_NODES


def max_edges():
    return settings.PEEPSWEB_GRAPH_MAX_EDGES


@dataclass(frozen=True)
class GraphOptions:
    node_id: str = ""  # the focus; empty means the whole scope
    depth: int = 2
    kinds: frozenset = frozenset()  # empty means every kind
    processes: frozenset = frozenset()  # proc_keys; empty means every process
    q: str = ""  # case-insensitive substring of label or node id
    merge_channels: bool = False
    merge_rpc: bool = False
    hide_isolated: bool = False
    colour: str = "state"

    @classmethod
    def from_query(cls, params):
        """Options from a QueryDict (GET parameters); bad values fall back."""
        try:
            depth = int(params.get("depth", 2))
        except (TypeError, ValueError):
            depth = 2
        colour = params.get("colour", "state")
        return cls(
            node_id=params.get("node", "")[:1024],  # exact: ids may hold any text
            depth=min(max(depth, 1), MAX_DEPTH),
            kinds=frozenset(k[:64] for k in params.getlist("kind") if k),
            processes=frozenset(p[:64] for p in params.getlist("process") if p),
            q=params.get("q", "").strip()[:200],
            merge_channels=params.get("merge_channels") == "1",
            merge_rpc=params.get("merge_rpc") == "1",
            hide_isolated=params.get("hide_isolated") == "1",
            colour=colour if colour in COLOUR_MODES else "state",
        )

    def accepts(self, row):
        if self.kinds and row["kind"] not in self.kinds:
            return False
        if self.processes and row["proc_key"] not in self.processes:
            return False
        if self.q:
            q = self.q.lower()
            return q in row["label"].lower() or q in row["node_id"].lower()
        return True


@dataclass
class DrawnNode:
    id: str  # a node id, or a made-up id for a merged pair
    kind: str  # the node kind, or "channel" / "rpc" for a merged pair
    shape: str  # task, future, lock, channel_tx, channel_rx, channel, semaphore,
    #             request, response, rpc, oncecell, unknown
    label: str
    proc_key: str
    state: str  # raw state (or status) text, may be empty
    state_class: str  # one of STATE_CLASSES, or "" for nodes without a state
    members: list  # the raw node ids drawn as this node (two when merged)
    depth: int = 0  # hops from the focus
    focus: bool = False
    group: str = ""  # what the "colour by" mode groups on
    home: str = ""  # the proc_key it is grouped under (a merged pair: its first half's)
    cycle: int | None = None  # index into Graph.cycles
    pending_us: int | None = None  # longest pending trace of its members, if any
    ghost: str = ""  # replay: why it is drawn faded ("gone: last seen at capture 3 of 60")


@dataclass
class DrawnEdge:
    src: str
    dst: str
    cross_process: bool = False
    in_cycle: bool = False


@dataclass
class Graph:
    options: GraphOptions
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    focus: DrawnNode | None = None
    focus_missing: bool = False  # a node id was asked for and is not in the scope
    too_big: bool = False
    node_count: int = 0  # what was counted, possibly a lower bound
    edge_count: int = 0
    exact: bool = True  # False: counting stopped early, the counts are lower bounds
    depth_counts: list = field(default_factory=list)  # new nodes per hop, hop 0 = focus
    kind_counts: dict = field(default_factory=dict)
    cycles: list = field(default_factory=list)  # lists of raw member ids

    def fitting_depth(self):
        """The largest depth whose neighbourhood fits the node cap, or None."""
        total, best = 0, None
        for depth, n in enumerate(self.depth_counts):
            total += n
            if depth and total <= max_nodes():
                best = depth
        return best


def build_graph(scope, options, marks=True):
    """marks=False skips cycle marks and colour groups: what replay.py needs
    to lay out the union of a window's steps."""
    graph = Graph(options=options)
    if options.node_id:
        rows, edges = _neighbourhood(scope, options, graph)
    else:
        rows, edges = _whole_scope(scope, options, graph)
    if graph.focus_missing or graph.too_big:
        return graph
    nodes, edges = _drawn(rows, edges, options)
    if options.hide_isolated:
        linked = {e.src for e in edges} | {e.dst for e in edges}
        nodes = [n for n in nodes if n.id in linked or n.focus]
    graph.nodes, graph.edges = nodes, edges
    graph.node_count, graph.edge_count = len(nodes), len(edges)
    if len(nodes) > max_nodes() or len(edges) > max_edges():
        graph.too_big = True
        graph.kind_counts = _count_kinds(rows.values())
        graph.nodes, graph.edges = [], []
        return graph
    graph.focus = next((n for n in nodes if n.focus), None)
    if marks:
        _mark_cycles(scope, graph)
        _assign_groups(graph)
    return graph


# -- collecting ------------------------------------------------------------------


def _node_rows(queryset):
    """Node rows as dicts, with the few attrs the graph needs pulled out in SQL
    so that 64 KiB attrs blobs are never loaded."""
    rows = queryset.annotate(
        attr_state=KT("attrs__state"),
        attr_status=KT("attrs__status"),
        attr_corr=KT("attrs__correlation_key"),
    ).values(
        "node_id", "kind", "proc_key", "label", "state", "state_class", "pending_us",
        "attr_state", "attr_status", "attr_corr",
    )  # fmt: skip
    return {r["node_id"]: r for r in rows}


class _Walker:
    """Edge and node look-ups for one scope, by batches of node ids."""

    def __init__(self, scope, limit):
        self.scope = scope
        self.limit = limit
        self.truncated = False
        resolved, _ = scope.cross_edges()
        self.cross_out = defaultdict(set)
        self.cross_in = defaultdict(set)
        for e in resolved:
            self.cross_out[e.src].add(e.dst)
            self.cross_in[e.dst].add(e.src)

    def edges_touching(self, ids):
        """(src, dst) pairs with src or dst in ids. At most `limit` rows per
        query: more means the graph is too big anyway (`truncated`)."""
        pairs = set()
        local = self.scope.local_edges()
        for chunk in batched(ids, IN_BATCH):
            for side in ("src", "dst"):
                found = list(
                    local.filter(**{f"{side}__in": chunk}).values_list("src", "dst")[: self.limit]
                )
                self.truncated |= len(found) == self.limit
                pairs.update(found)
        for node_id in ids:
            pairs.update((node_id, dst) for dst in self.cross_out.get(node_id, ()))
            pairs.update((src, node_id) for src in self.cross_in.get(node_id, ()))
        return pairs

    def edges_among(self, sources, ids):
        """(src, dst) pairs with src in sources and dst in ids (a few hundred)."""
        ids = set(ids)
        pairs = set()
        local = self.scope.local_edges()
        for chunk in batched(sources, IN_BATCH):
            pairs.update(local.filter(src__in=chunk, dst__in=ids).values_list("src", "dst"))
        for node_id in sources:
            pairs.update((node_id, dst) for dst in self.cross_out.get(node_id, ()) if dst in ids)
        return pairs

    def rows(self, ids):
        found = {}
        for chunk in batched(ids, IN_BATCH):
            found.update(_node_rows(self.scope.nodes().filter(node_id__in=chunk)))
        return found

    def siblings(self, rows, options):
        """Ids drawn together with these rows once merged: the other end of a
        channel, the other half of a request/response pair."""
        wanted, keys = set(), set()
        for row in rows.values():
            if options.merge_channels and channel_end(row["kind"]):
                other = _other_endpoint(row["node_id"])
                if other:
                    wanted.add(other)
            if options.merge_rpc and row["kind"] in RPC and row["attr_corr"]:
                keys.add(row["attr_corr"])
        found = self.rows(wanted) if wanted else {}
        for chunk in batched(keys, IN_BATCH):
            found.update(
                _node_rows(
                    self.scope.nodes().filter(kind__in=RPC, attrs__correlation_key__in=chunk)
                )
            )
        return {k: v for k, v in found.items() if k not in rows}


def _other_endpoint(node_id):
    if node_id.endswith(":tx"):
        return node_id[:-3] + ":rx"
    if node_id.endswith(":rx"):
        return node_id[:-3] + ":tx"
    return None


def _neighbourhood(scope, options, graph):
    limit = max_nodes() * COUNT_LIMIT_FACTOR
    walker = _Walker(scope, limit)
    rows = walker.rows([options.node_id])
    if not rows:
        graph.focus_missing = True
        return {}, set()
    depth_of = {options.node_id: 0}
    rejected = set()
    pairs = set()
    frontier = set(rows)
    graph.depth_counts = [1]

    def accept(found, depth):
        taken = {}
        for node_id, row in found.items():
            if node_id in depth_of or node_id in rejected:
                continue
            if options.accepts(row):
                taken[node_id] = row
                depth_of[node_id] = depth
            else:
                rejected.add(node_id)
        return taken

    # Merged siblings stand at the same depth, so a hop through a channel
    # counts once, as it is drawn.
    new = accept(walker.siblings(rows, options), 0)
    rows.update(new)
    frontier |= set(new)
    graph.depth_counts[0] += len(new)

    for depth in range(1, options.depth + 1):
        touching = walker.edges_touching(frontier)
        pairs |= touching
        ids = {n for pair in touching for n in pair} - depth_of.keys() - rejected
        if walker.truncated or len(depth_of) + len(ids) > limit:
            # Too many to look at one by one: report a lower bound.
            graph.depth_counts.append(len(ids))
            graph.exact = False
            break
        new = accept(walker.rows(ids), depth)
        new.update(accept(walker.siblings(new, options), depth))
        rows.update(new)
        graph.depth_counts.append(len(new))
        frontier = set(new)
        if not frontier:
            break
    else:
        if len(rows) <= max_nodes():
            # Edges between two nodes of the last hop were not fetched yet.
            pairs |= walker.edges_among(frontier, rows)

    pairs = {(s, d) for s, d in pairs if s in rows and d in rows}
    graph.node_count = sum(graph.depth_counts)
    # Over the node cap the last hop's edges were not fetched: no edge count.
    graph.edge_count = len(pairs) if graph.node_count <= max_nodes() else 0
    if not graph.exact or graph.node_count > max_nodes() or len(pairs) > max_edges():
        graph.too_big = True
        graph.kind_counts = _count_kinds(rows.values())
        return rows, pairs
    for node_id, row in rows.items():
        row["depth"] = depth_of[node_id]
    return rows, pairs


def _whole_scope(scope, options, graph):
    qs = scope.nodes()
    if options.kinds:
        qs = qs.filter(kind__in=options.kinds)
    if options.processes:
        qs = qs.filter(proc_key__in=options.processes)
    if options.q:
        qs = qs.filter(Q(label__icontains=options.q) | Q(node_id__icontains=options.q))
    if options.hide_isolated:
        # Ingest counts every edge a node has (cross-process ones included), so
        # this keeps a superset of the linked nodes; the exact check follows.
        qs = qs.filter(Q(needs_count__gt=0) | Q(needed_by_count__gt=0))
    count = qs.count()
    graph.node_count = count
    if count > max_nodes():
        graph.too_big = True
        graph.kind_counts = dict(
            qs.values_list("kind").annotate(n=Count("id")).order_by("-n", "kind")
        )
        return {}, set()
    rows = _node_rows(qs)
    pairs = _Walker(scope, 0).edges_among(rows, rows)
    graph.edge_count = len(pairs)
    for row in rows.values():
        row["depth"] = 0
    return rows, pairs


def _count_kinds(rows):
    counts = defaultdict(int)
    for row in rows:
        counts[row["kind"]] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# -- turning rows into drawn nodes ---------------------------------------------


def _state_of(row):
    """Tasks have a derived state class; other nodes may carry a state or
    status attr (a oneshot `pending`, a response `in_flight`)."""
    if row["state_class"]:
        return row["state"], row["state_class"]
    raw = row["attr_state"] or row["attr_status"] or ""
    return raw, (state_class(raw) if raw else "")


def _drawn_node(row, focus_id):
    raw, cls = _state_of(row)
    return DrawnNode(
        id=row["node_id"],
        kind=row["kind"],
        shape=shape_of(row["kind"]),
        label=row["label"] or row["node_id"],
        proc_key=row["proc_key"],
        state=raw,
        state_class=cls,
        members=[row["node_id"]],
        depth=row.get("depth", 0),
        focus=row["node_id"] == focus_id,
        home=row["proc_key"],
        pending_us=row.get("pending_us"),
    )


def _merge_groups(rows, options):
    """Lists of raw ids to draw as one node: (kind, label, members)."""
    groups = []
    if options.merge_channels:
        for node_id, row in rows.items():
            kind = row["kind"]
            if is_sender(kind) and node_id.endswith(":tx"):
                rx = rows.get(node_id[:-3] + ":rx")
                if rx and rx["kind"] == channel_family(kind) + RECEIVER_SUFFIX:
                    groups.append((channel_family(kind), [node_id, rx["node_id"]]))
    if options.merge_rpc:
        by_key = defaultdict(lambda: {REQUEST: [], RESPONSE: []})
        for node_id, row in rows.items():
            if row["kind"] in RPC and row["attr_corr"]:
                by_key[row["attr_corr"]][row["kind"]].append(node_id)
        for halves in by_key.values():
            # Only an unambiguous pair: two requests sharing a key (a reused
            # connection name in two peers) stay apart rather than lie.
            if len(halves[REQUEST]) == 1 and len(halves[RESPONSE]) == 1:
                groups.append(("rpc", halves[REQUEST] + halves[RESPONSE]))
    return groups


def _drawn(rows, pairs, options):
    focus_id = options.node_id
    drawn = {node_id: _drawn_node(row, focus_id) for node_id, row in rows.items()}
    target = {node_id: node_id for node_id in rows}
    for kind, members in _merge_groups(rows, options):
        first, second = (drawn.pop(m) for m in members)
        merged_id = "+".join(members)
        while merged_id in rows:  # hostile ids cannot collide with it
            merged_id += "~"
        cls = first.state_class or second.state_class
        merged = DrawnNode(
            id=merged_id,
            kind=kind,
            shape="channel" if kind != "rpc" else "rpc",
            label=first.label if kind == "rpc" else _channel_name(first),
            proc_key=first.proc_key
            if first.proc_key == second.proc_key
            else f"{first.proc_key} → {second.proc_key}",
            state=first.state if first.state_class else second.state,
            state_class=cls,
            members=members,
            depth=min(first.depth, second.depth),
            focus=first.focus or second.focus,
            home=first.proc_key,
            pending_us=max((h.pending_us for h in (first, second) if h.pending_us), default=None),
        )
        drawn[merged_id] = merged
        for m in members:
            target[m] = merged_id

    edges = {}
    for src, dst in sorted(pairs):
        s, d = target[src], target[dst]
        if s == d and src != dst:
            continue  # the tx -> rx edge inside a merged channel
        if (s, d) not in edges:
            edges[(s, d)] = DrawnEdge(
                s, d, cross_process=rows[src]["proc_key"] != rows[dst]["proc_key"]
            )
        elif rows[src]["proc_key"] != rows[dst]["proc_key"]:
            edges[(s, d)].cross_process = True
    nodes = sorted(drawn.values(), key=lambda n: (not n.focus, n.depth, n.proc_key, n.kind, n.id))
    return nodes, list(edges.values())


def _channel_name(endpoint):
    """`work_queue` out of `mpsc:p-1:work_queue:tx`, else the tx label."""
    parts = endpoint.id.split(":")
    if len(parts) >= 4:
        return ":".join(parts[2:-1])
    return endpoint.label


# -- cycles and groups ------------------------------------------------------------


def _mark_cycles(scope, graph):
    """Mark members of `needs` cycles: the cycle finder's candidates over the
    whole scope (cached per snapshot), so the graph and the cycles page agree
    on what is a cycle, even one that leaves the drawing."""
    by_raw = {m: n for n in graph.nodes for m in n.members}
    cycles = [list(c["members"]) for c in service.cycle_result(scope)["candidates"]]
    graph.cycles = [c for c in cycles if any(m in by_raw for m in c)]
    for index, members in enumerate(graph.cycles):
        for m in members:
            if m in by_raw and by_raw[m].cycle is None:
                by_raw[m].cycle = index
    node_of = {n.id: n for n in graph.nodes}
    for e in graph.edges:
        s, d = node_of.get(e.src), node_of.get(e.dst)
        e.in_cycle = s is not None and d is not None and s.cycle is not None and s.cycle == d.cycle


def _assign_groups(graph):
    mode = graph.options.colour
    for n in graph.nodes:
        if mode == "process":
            n.group = n.home
        elif mode == "cycle":
            n.group = f"cycle {n.cycle + 1}" if n.cycle is not None else ""
        else:
            n.group = n.state_class
