"""Wait chains: follow `needs` from one node, hop by hop, until the chain
ends, loops or leaves the scope, each hop said in the finder's sentence
(explain.py): "task transfer_a_to_b waits on lock account_b", "lock account_b
is held by task transfer_b_to_a", ...

    from snapshots.cycles.chain import wait_chain, render_chain
    chain = wait_chain(scope, "task:lock-demo-4242:11", max_hops=50)
    print(render_chain(chain))

Where a node needs several things, one is followed and the others are
listed with the hop. The one followed is, in this order: a node already on
the chain (the chain loops: that is a cycle, the strongest finding), a node
that itself needs something (the chain goes on), else the first in the
inspector's order. Each hop costs a handful of indexed queries, so a chain
is bounded by `max_hops`, never by the size of the capture.
"""

from dataclasses import dataclass, field

from snapshots import queries
from snapshots.cycles import explain
from snapshots.cycles.report import clean, fmt_duration_ns
from snapshots.cycles.service import ScopeNodes, scope_label

DEFAULT_HOPS = 50
MAX_HOPS = 200
OTHERS_LISTED = 5  # per hop, of the needs not followed

# How a chain ends.
NEEDS_NOTHING = "needs_nothing"
LOOPS = "loops"
LEAVES_SCOPE = "leaves_scope"
CUT = "cut"


@dataclass
class Hop:
    src: str
    dst: str
    explanation: str
    cross_process: bool = False
    unresolved: bool = False  # dst is not in the scope (another process's node)
    others: list = field(default_factory=list)  # other needs of src: ids, first OTHERS_LISTED
    others_total: int = 0


@dataclass
class WaitChain:
    scope: object
    start: str
    hops: list  # Hop
    end: str  # NEEDS_NOTHING, LOOPS, LEAVES_SCOPE or CUT
    loop_hop: int | None  # LOOPS: the 1-based hop whose source the chain returned to
    nodes: dict  # node id -> NodeInfo, for every node of the chain found in the scope

    @property
    def last(self):
        return self.hops[-1].dst if self.hops else self.start


def _leading(scope, node_ids):
    """The ids among these that need something themselves."""
    ids = list(node_ids)[: queries.EDGE_LIST_CAP]
    return set(
        scope.nodes().filter(node_id__in=ids, needs_count__gt=0).values_list("node_id", flat=True)
    )


def _pick(rows, on_chain, leading):
    """The edge row to follow (see the module docstring)."""
    resolved = [r for r in rows if not r["unresolved"]]
    for r in resolved:
        if r["other_id"] in on_chain:
            return r
    for r in resolved:
        if r["other_id"] in leading:
            return r
    return (resolved or rows)[0]


def _outside(src, row, scope):
    where = row.get("referenced_proc_key") or "another process"
    other = explain.one_line(row["other_id"])
    return (
        f"{explain.noun(src)} needs {other} in {explain.one_line(where)}, "
        f"which is not in {scope_label(scope)}"
    )


def wait_chain(scope, node_id, max_hops=DEFAULT_HOPS):
    """Follow `needs` from node_id; NodeNotFound when it is not in the scope."""
    queries.get_node(scope, node_id)
    source = ScopeNodes(scope)
    nodes = source.info({node_id})
    on_chain = {node_id: 0}  # node id -> index of the hop leaving it
    hops = []
    current = node_id
    while True:
        rows, total = queries.node_edges(scope, current, outgoing=True)
        if not rows:
            return WaitChain(scope, node_id, hops, NEEDS_NOTHING, None, nodes)
        if len(hops) >= max_hops:
            return WaitChain(scope, node_id, hops, CUT, None, nodes)
        targets = {r["other_id"] for r in rows if not r["unresolved"]}
        nodes.update(source.info(targets - nodes.keys()))
        row = _pick(rows, on_chain, _leading(scope, targets - on_chain.keys()))
        dst = row["other_id"]
        others = [r["other_id"] for r in rows if r is not row]
        src = nodes[current]
        if row["unresolved"] or dst not in nodes:
            text = _outside(src, row, scope)
            hops.append(Hop(current, dst, text, True, True, others[:OTHERS_LISTED], total - 1))
            return WaitChain(scope, node_id, hops, LEAVES_SCOPE, None, nodes)
        hops.append(
            Hop(
                current,
                dst,
                explain.explain_edge(src, nodes[dst], row["attrs"], nodes),
                cross_process=row["cross_process"],
                others=others[:OTHERS_LISTED],
                others_total=total - 1,
            )
        )
        if dst in on_chain:
            return WaitChain(scope, node_id, hops, LOOPS, on_chain[dst] + 1, nodes)
        on_chain[dst] = len(hops)
        current = dst


def _named(chain, node_id):
    info = chain.nodes.get(node_id)
    name = explain.noun(info) if info is not None else explain.one_line(node_id)
    return f"{clean(name)} [{clean(node_id)}]"


def _state(info):
    bits = []
    if info.state:
        bits.append(f"state {clean(explain.one_line(info.state))}")
    if info.wait_ns:
        bits.append(f"waiting {fmt_duration_ns(info.wait_ns)}")
    return f" ({', '.join(bits)})" if bits else ""


def render_chain(chain):
    """The chain as plain text, one numbered line per hop."""
    where = scope_label(chain.scope)
    start = chain.nodes[chain.start]
    out = [f"Wait chain from {_named(chain, chain.start)} in {where}{_state(start)}:"]
    if not chain.hops:
        out.append(f"{_named(chain, chain.start)} needs nothing: it is not waiting on anything.")
        return "\n".join(out) + "\n"
    for i, hop in enumerate(chain.hops, 1):
        out.append(f"  {i}. {clean(hop.explanation)} [{clean(hop.dst)}]")
        if hop.others_total:
            listed = ", ".join(_named(chain, o) for o in hop.others)
            more = hop.others_total - len(hop.others)
            listed += f" and {more} more" if more > 0 else ""
            out.append(f"     (it also needs {listed}; not followed)")
    last = chain.last
    if chain.end == LOOPS:
        length = len(chain.hops) - chain.loop_hop + 1
        out.append(
            f"The chain loops back to {_named(chain, last)} (hop {chain.loop_hop}): "
            f"a cycle of {length} node(s), a deadlock unless something outside it steps in."
        )
    elif chain.end == NEEDS_NOTHING:
        out.append(
            f"The chain ends at {_named(chain, last)}, which needs nothing"
            f"{_state(chain.nodes[last])}."
        )
    elif chain.end == LEAVES_SCOPE:
        out.append(
            f"The chain leaves {scope_label(chain.scope)} at {clean(explain.one_line(last))}: "
            "load a snapshot or the live view that includes that process to follow it further."
        )
    else:
        out.append(
            f"Cut after {len(chain.hops)} hops (max_hops); follow on from {_named(chain, last)}."
        )
    return "\n".join(out) + "\n"


def edge_sentences(scope, node_id, rows, outgoing=True):
    """The sentence for each edge row of queries.node_edges(scope, node_id,
    outgoing): what the node needs, or what needs it, said as the chain and
    the cycles page say it."""
    source = ScopeNodes(scope)
    nodes = source.info({node_id} | {r["other_id"] for r in rows if not r["unresolved"]})
    me = nodes[node_id]
    out = []
    for row in rows:
        other = nodes.get(row["other_id"])
        if other is None and outgoing:
            text = _outside(me, row, scope)
        elif other is None:
            where = explain.one_line(row.get("referenced_proc_key") or "another process")
            text = f"{explain.one_line(row['other_id'])} in {where} needs {explain.noun(me)}"
        elif outgoing:
            text = explain.explain_edge(me, other, row["attrs"], nodes)
        else:
            text = explain.explain_edge(other, me, row["attrs"], nodes)
        out.append(text)
    return out
