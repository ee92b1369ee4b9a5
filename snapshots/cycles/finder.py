"""Deadlock candidates: the cycles of the `needs` graph.

Pure graph code over (src, dst) node-id pairs plus a `NodeSource` that tells
it about nodes (kind, label, attrs, wait); no Django here, so it is tested
directly against networkx and reused by the service with a database-backed
source.

Pipeline (`find_candidates`):

1. `factorize` maps node ids to 0..n-1 (one dict pass; this, not the graph
   work, is the expensive part on a million edges).
2. `strong_components` labels every node with its strongly connected
   component, in C (scipy.sparse.csgraph, connection="strong"; iterative, so
   a chain of a million nodes is fine). The graph page marks cycles from
   this result too (snapshots/graph): there is no other SCC code.
3. One candidate per component with a cycle: two or more members, or one
   member with a self-loop.
4. Per candidate, one simple cycle: the shortest cycle through the
   longest-waiting task (BFS inside the component, so every consecutive pair
   and last -> first is a real edge and no node repeats).
5. Signals and ranking, documented here and in docs/cycles.md:

   - `worst_wait_ns`: the longest wait among members, a member's wait being
     the larger of its longest pending trace (`pending_us` * 1000) and its
     `attrs.elapsed_ns` (requests/responses); 0 when nothing says.
   - `blocked_task_count`: tasks that transitively need any member (reverse
     reachability in the whole graph), members included. They cannot make
     progress until the cycle breaks. `blocked_tasks` names the first
     BLOCKED_NAMED of them: the members on the cycle, the other members, then
     the tasks stalled upstream (a producer behind a stuck consumer).
   - `confidence`: "high" unless some member can be completed from outside
     the cycle, then "medium" with `confidence_reason`:
       * a receiver endpoint (`*_rx`) - another sender may feed it (unless
         the channel's only sender is itself in the cycle);
       * a socket, timer, sleep, timeout, pipe or signal - the outside world
         or the clock completes it;
       * a request whose response is not in the cycle - its peer may answer
         or it may time out;
       * a task that is not waiting (running/runnable: it is making progress;
         done/failed: the edge is stale).
   - `score` = weight * (blocked_task_count + 10 * log10(1 + worst_wait_s)),
     weight 1.0 for high confidence and 0.5 for medium, rounded to 0.1. One
     more blocked task is worth as much as the wait growing by ~26%; a
     deadlock blocking 3 tasks for 41 s scores 19.3.
   - `severity`: "danger" for high confidence unless the wait is known and
     under 1 s (a capture taken mid-handoff can show a short-lived cycle);
     "warn" otherwise.

   Candidates are sorted danger first, then by score, wait and size.

6. A component of at most DRAWN_MAX members keeps its internal edges
   (`component_edges`), so the whole component can be drawn, not only the
   reported cycle. Result.nodes holds the details of every node a page
   names: the cycles' nodes, the members of drawn components and the named
   blocked tasks.
"""

import functools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order, connected_components

from snapshots.cycles import explain
from snapshots.node_kinds import channel_family, is_receiver, is_sender

# More cyclic components than this (a hostile or broken snapshot) are not all
# analysed: the largest ones are kept and the result says it was truncated.
MAX_CANDIDATES = 1000
# A Python BFS over reverse edges is fastest for small upstream sets; past
# this many visited nodes one C BFS over the whole graph is cheaper.
PY_BFS_BUDGET = 20_000
KEEP_UPSTREAM = 10_000
DANGER_MIN_WAIT_NS = 1_000_000_000
BLOCKED_NAMED = 12  # blocked tasks named per candidate; the count says how many in all
DRAWN_MAX = 24  # components this small are drawn whole (snapshots/cycles/drawing.py)

EXTERNAL_TOKENS = {
    "socket", "tcp", "udp", "fd", "io", "pipe", "timer", "sleep", "interval",
    "timeout", "deadline", "delay", "signal",
}  # fmt: skip


@dataclass
class NodeInfo:
    """What the finder needs to know about one node."""

    node_id: str
    kind: str = ""
    label: str = ""
    attrs: dict = field(default_factory=dict)
    state: str = ""
    state_class: str = ""
    proc_key: str = ""
    process: str = ""  # the process name; proc_key when unknown
    pending_us: int | None = None

    @property
    def wait_ns(self):
        waits = [0]
        if isinstance(self.pending_us, int) and self.pending_us > 0:
            waits.append(self.pending_us * 1000)
        elapsed = self.attrs.get("elapsed_ns") if isinstance(self.attrs, dict) else None
        if isinstance(elapsed, int) and not isinstance(elapsed, bool) and elapsed > 0:
            waits.append(elapsed)
        return max(waits)


class NodeSource:
    """Answers the finder's questions about nodes. The default answers from
    plain dicts (tests, benchmarks); the service subclasses it over a Scope."""

    def __init__(self, nodes=None, edge_attrs=None):
        self._nodes = nodes or {}
        self._edge_attrs = edge_attrs or {}

    def info(self, ids: Iterable[str]) -> dict[str, NodeInfo]:
        return {i: self._nodes.get(i) or NodeInfo(node_id=i) for i in ids}

    def task_ids(self, ids: set[str]) -> set[str]:
        return {i for i in ids if (n := self._nodes.get(i)) is not None and n.kind == "task"}

    def edge_attrs(self, pairs: Iterable[tuple[str, str]]) -> dict:
        return {p: self._edge_attrs[p] for p in pairs if p in self._edge_attrs}


@dataclass
class Graph:
    ids: list[str]  # index -> node id
    src: np.ndarray  # int32 edge arrays, aligned
    dst: np.ndarray

    def __post_init__(self):
        n = len(self.ids)
        ones = np.ones(len(self.src), dtype=np.int8)
        self.forward = csr_array((ones, (self.src, self.dst)), shape=(n, n))
        self._reverse = None

    @property
    def n(self):
        return len(self.ids)

    @property
    def reverse(self):
        if self._reverse is None:
            n = self.n
            ones = np.ones(len(self.src), dtype=np.int8)
            self._reverse = csr_array((ones, (self.dst, self.src)), shape=(n, n))
        return self._reverse

    def successors(self, u):
        f = self.forward
        return f.indices[f.indptr[u] : f.indptr[u + 1]]


@dataclass
class Candidate:
    members: list[str]
    cycle: list[str]
    edges: list[dict]  # {"src_id", "dst_id", "explanation"}
    cross_process: bool
    severity: str
    score: float
    worst_wait_ns: int
    blocked_task_count: int
    confidence: str
    confidence_reason: str
    processes: list[str] = field(default_factory=list)
    blocked_tasks: list[str] = field(default_factory=list)  # the first BLOCKED_NAMED
    component_edges: list[tuple[str, str]] | None = None  # when len(members) <= DRAWN_MAX

    def as_json(self):
        """The candidate object of the contract (plus confidence)."""
        return {
            "members": self.members,
            "cycle": self.cycle,
            "edges": self.edges,
            "cross_process": self.cross_process,
            "severity": self.severity,
            "score": self.score,
            "worst_wait_ns": self.worst_wait_ns,
            "blocked_task_count": self.blocked_task_count,
            "confidence": self.confidence,
            "confidence_reason": self.confidence_reason,
        }


@dataclass
class Result:
    candidates: list[Candidate]
    nodes: dict[str, NodeInfo]  # every node a report or page names (step 6)
    truncated_from: int = 0  # number of cyclic components when over the cap


# ---------------------------------------------------------------- graph work


def factorize(pairs):
    """(src, dst) string pairs -> Graph with dense integer ids.

    Ids are numbered in order of first appearance. One generator over the
    flattened pairs feeds numpy directly; no intermediate Python lists."""
    pairs = pairs if isinstance(pairs, list) else list(pairs)
    index = {}
    setdefault = index.setdefault
    flat = np.fromiter(
        (setdefault(x, len(index)) for pair in pairs for x in pair),
        dtype=np.int32,
        count=2 * len(pairs),
    )
    return Graph(ids=list(index), src=flat[0::2], dst=flat[1::2])


def strong_components(graph):
    """Component label per node (scipy; C, iterative)."""
    if graph.n == 0:
        return np.zeros(0, dtype=np.int32)
    _, labels = connected_components(graph.forward, directed=True, connection="strong")
    return labels


def cyclic_components(graph, labels):
    """Lists of member indexes, one per component holding a cycle."""
    if graph.n == 0:
        return []
    sizes = np.bincount(labels)
    cyclic = sizes >= 2
    loops = graph.src[graph.src == graph.dst]
    if len(loops):
        cyclic[labels[loops]] = True
    wanted = np.flatnonzero(cyclic)
    if len(wanted) == 0:
        return []
    # Group member indexes by label with one sort instead of a scan per label.
    members = np.flatnonzero(cyclic[labels])
    members = members[np.argsort(labels[members], kind="stable")]
    bounds = np.cumsum(sizes[wanted])[:-1]
    return [part.tolist() for part in np.split(members, bounds)]


def shortest_cycle_through(graph, start, labels):
    """The shortest cycle through `start` inside its component, as a list of
    node indexes beginning at `start` (BFS, so it is simple)."""
    comp = labels[start]
    parent = {start: None}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in graph.successors(u).tolist():
            if v == start:
                path = [u]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                path.reverse()
                return path
            if v not in parent and labels[v] == comp:
                parent[v] = u
                queue.append(v)
    raise AssertionError("a node of a cyclic component lies on a cycle")  # pragma: no cover


def upstream(graph, start):
    """Indexes of every node that transitively needs `start` (itself included)."""
    rev = graph.reverse
    indptr, indices = rev.indptr, rev.indices
    seen = {start}
    queue = [start]
    while queue:
        u = queue.pop()
        for v in indices[indptr[u] : indptr[u + 1]].tolist():
            if v not in seen:
                seen.add(v)
                queue.append(v)
        if len(seen) > PY_BFS_BUDGET:
            return breadth_first_order(rev, start, directed=True, return_predecessors=False)
    return np.fromiter(seen, dtype=np.int64, count=len(seen))


# ------------------------------------------------------------------- signals


def _channel_key(info):
    family = channel_family(info.kind)
    name = info.attrs.get("name") if isinstance(info.attrs, dict) else None
    return family, name if isinstance(name, str) else info.label


@functools.cache
def _kind_tokens(kind):
    return frozenset(kind.replace("-", "_").split("_"))


def confidence_of(members, infos, graph, member_index):
    """("high"|"medium", reason). See the module docstring for the rules."""
    reasons = []
    member_set = set(member_index.values())
    tx_in_cycle = {_channel_key(infos[m]) for m in members if is_sender(infos[m].kind)}
    for node_id in members:
        info = infos[node_id]
        kind = info.kind
        tokens = _kind_tokens(kind)
        if is_receiver(kind) or "receiver" in tokens:
            senders = info.attrs.get("sender_count") if isinstance(info.attrs, dict) else None
            own_sender = is_receiver(kind) and _channel_key(info) in tx_in_cycle
            if not (own_sender and senders in (None, 0, 1)):
                name = explain.display_name(info)
                reasons.append(f"receiver {name} can be fed by a sender outside the cycle")
        elif tokens & EXTERNAL_TOKENS:
            name = explain.display_name(info)
            reasons.append(f"{explain.one_line(kind)} {name} can be completed by I/O or the clock")
        elif kind == "request":
            u = member_index[node_id]
            answered_inside = any(
                v in member_set and infos[graph.ids[v]].kind == "response"
                for v in graph.successors(u).tolist()
            )
            if not answered_inside:
                peer = info.attrs.get("peer") if isinstance(info.attrs, dict) else None
                whom = (
                    f"peer {explain.one_line(peer)}"
                    if isinstance(peer, str) and peer
                    else "its peer"
                )
                reasons.append(
                    f"request {explain.display_name(info)} can be answered or time out "
                    f"from {whom} outside the cycle"
                )
        elif kind == "task" and info.state_class in ("running", "runnable"):
            state = explain.one_line(info.state or info.state_class)
            reasons.append(f"task {explain.display_name(info)} is {state}, not waiting")
        elif kind == "task" and info.state_class in ("done", "failed", "skipped"):
            state = explain.one_line(info.state or info.state_class)
            reasons.append(
                f"task {explain.display_name(info)} is already {state}; the edge may be stale"
            )
    if not reasons:
        return "high", ""
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return "medium", "; ".join(reasons[:3]) + more


def score_parts(confidence, blocked, worst_wait_ns):
    """The score and what it is made of (the cycles page explains it)."""
    weight = 1.0 if confidence == "high" else 0.5
    wait_s = worst_wait_ns / 1e9
    wait_points = 10 * math.log10(1 + wait_s)
    return {
        "weight": weight,
        "blocked": blocked,
        "wait_s": wait_s,
        "wait_points": round(wait_points, 1),
        "score": round(weight * (blocked + wait_points), 1),
    }


def score_of(confidence, blocked, worst_wait_ns):
    return score_parts(confidence, blocked, worst_wait_ns)["score"]


def severity_of(confidence, worst_wait_ns):
    if confidence == "high" and (worst_wait_ns == 0 or worst_wait_ns >= DANGER_MIN_WAIT_NS):
        return "danger"
    return "warn"


def rank_key(c):
    return (c.severity != "danger", -c.score, -c.worst_wait_ns, -len(c.members), c.cycle)


# -------------------------------------------------------------------- driver


def find_candidates(pairs, source=None, *, graph=None):
    """Deadlock candidates of a needs graph, worst first.

    `pairs`: (src_id, dst_id) edges; `source`: a NodeSource. A prebuilt
    `graph` (from `factorize`) may be passed instead of pairs."""
    source = source or NodeSource()
    graph = graph or factorize(pairs)
    labels = strong_components(graph)
    components = cyclic_components(graph, labels)
    truncated_from = 0
    if len(components) > MAX_CANDIDATES:
        truncated_from = len(components)
        components = sorted(components, key=len, reverse=True)[:MAX_CANDIDATES]

    ids = graph.ids
    member_ids = [ids[i] for comp in components for i in comp]
    infos = source.info(member_ids)
    for node_id in member_ids:
        infos.setdefault(node_id, NodeInfo(node_id=node_id))

    drafts = []
    union = np.zeros(graph.n, dtype=bool)
    for comp in components:
        members = [ids[i] for i in comp]
        index = dict(zip(members, comp, strict=True))
        start = _longest_waiting(members, infos)
        cycle = [ids[i] for i in shortest_cycle_through(graph, index[start], labels)]
        confidence, reason = confidence_of(members, infos, graph, index)
        up = upstream(graph, comp[0])
        union[up] = True
        # Large upstream sets are recomputed below rather than kept: a
        # thousand cycles under one huge join tree would hold gigabytes.
        drafts.append(
            (members, cycle, confidence, reason, up if len(up) <= KEEP_UPSTREAM else None)
        )

    # One task lookup for the union of every upstream set; the members'
    # kinds are known already, and in a big cycle they are most of it.
    union_ids = np.flatnonzero(union).tolist()
    member_set = set(member_ids)
    tasks = source.task_ids({ids[i] for i in union_ids} - member_set)
    tasks.update(m for m in member_set if infos[m].kind == "task")
    is_task = np.zeros(graph.n, dtype=bool)
    is_task[[i for i in union_ids if ids[i] in tasks]] = True

    cycle_pairs = [(c[k], c[(k + 1) % len(c)]) for _, c, *_ in drafts for k in range(len(c))]
    edge_attrs = source.edge_attrs(cycle_pairs)

    named = set()
    candidates = []
    for (members, cycle, confidence, reason, up), comp in zip(drafts, components, strict=True):
        if up is None:
            up = upstream(graph, comp[0])
        blocked = int(is_task[up].sum())
        blocked_tasks = _blocked_tasks(cycle, members, infos, ids, up[is_task[up]], comp)
        named.update(blocked_tasks)
        component_edges = None
        if len(members) <= DRAWN_MAX:
            component_edges = _internal_edges(graph, comp, labels)
            named.update(members)
        worst = max(infos[m].wait_ns for m in members)
        edges = []
        for k, src in enumerate(cycle):
            dst = cycle[(k + 1) % len(cycle)]
            text = explain.explain_edge(infos[src], infos[dst], edge_attrs.get((src, dst)), infos)
            edges.append({"src_id": src, "dst_id": dst, "explanation": text})
        in_cycle = set(cycle)
        ordered = cycle + sorted(m for m in members if m not in in_cycle)
        processes = sorted({infos[m].proc_key for m in members})
        candidates.append(
            Candidate(
                members=ordered,
                cycle=cycle,
                edges=edges,
                cross_process=len(processes) > 1,
                severity=severity_of(confidence, worst),
                score=score_of(confidence, blocked, worst),
                worst_wait_ns=worst,
                blocked_task_count=blocked,
                confidence=confidence,
                confidence_reason=reason,
                processes=processes,
                blocked_tasks=blocked_tasks,
                component_edges=component_edges,
            )
        )
    candidates.sort(key=rank_key)
    named.update(m for c in candidates for m in c.cycle)
    # Upstream tasks are not members: their details are looked up here.
    infos.update(source.info(named - infos.keys()))
    return Result(
        candidates=candidates,
        nodes={m: infos.get(m) or NodeInfo(node_id=m) for m in named},
        truncated_from=truncated_from,
    )


def _blocked_tasks(cycle, members, infos, ids, upstream_tasks, comp):
    """The first BLOCKED_NAMED blocked tasks: the cycle's, the other members',
    then upstream ones in index order (the order the edges named them)."""
    tasks = [m for m in cycle if infos[m].kind == "task"]
    in_cycle = set(cycle)
    tasks += sorted(m for m in members if m not in in_cycle and infos[m].kind == "task")
    if len(tasks) < BLOCKED_NAMED:
        outside = np.sort(upstream_tasks[~np.isin(upstream_tasks, comp)])
        tasks += [ids[i] for i in outside[: BLOCKED_NAMED - len(tasks)].tolist()]
    return tasks[:BLOCKED_NAMED]


def _internal_edges(graph, comp, labels):
    """(src, dst) ids of every edge inside one component, sorted."""
    ids = graph.ids
    label = labels[comp[0]]
    return sorted(
        (ids[u], ids[v]) for u in comp for v in graph.successors(u).tolist() if labels[v] == label
    )


def _longest_waiting(members, infos):
    """The member the reported cycle goes through: the longest-waiting task,
    else the longest-waiting member; ties go to the smallest id."""
    tasks = [m for m in members if infos[m].kind == "task"]
    pool = tasks or members
    return min(pool, key=lambda m: (-infos[m].wait_ns, m))
