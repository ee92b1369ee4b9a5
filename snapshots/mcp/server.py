"""The MCP tools: what an agent asks about stuck services, answered from the
read layer the JSON API and the pages use (snapshots/queries.py, scope.py,
cycles/service.py, cycles/chain.py, live/pull.py). Nothing here queries the
database itself or words an explanation of its own.

Each tool returns plain text for a reader (the text report's and the
pages' sentences) plus the same facts as structured content for programs.
Both are bounded: lists stop at the tool's `limit` (whose maximum is in the
schema), text at MAX_TEXT_CHARS, and each says what was cut and how to see
the rest. Bad arguments (an unknown snapshot or node, a limit out of range)
come back as tool errors (isError) saying what was wrong; the SDK turns an
unexpected exception into a tool error too, logging it, never a crash.

Database reads run in threads through `database_sync_to_async`: asgiref's
sync_to_async, thread-sensitive like Django's sync views, which also closes
the thread's connection afterwards as a finished request would (the same
helper the consumers and Jump to now use).
"""

import functools
import inspect
from typing import Annotated

import orjson
from channels.db import database_sync_to_async
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from pydantic.fields import FieldInfo

from snapshots import queries
from snapshots.cycles import chain as chains
from snapshots.cycles import explain, service
from snapshots.cycles.finder import NodeInfo
from snapshots.cycles.report import clean, fmt_duration_ns, fmt_time_ns, render_report
from snapshots.diffs import diff as diffs
from snapshots.live import pull
from snapshots.pages import integrations
from snapshots.pages.traces import trace_as_text
from snapshots.scope import ScopeNotFound, resolve_scope

MAX_TEXT_CHARS = 20_000
MAX_LIST = 200
MAX_ATTRS_CHARS = 2_000  # one node's attrs, as compact JSON
MAX_FRAMES = 20  # per pending trace
MAX_FRAME_CHARS = 300
MAX_CYCLE_ITEMS = 100  # edges and members listed per deadlock candidate
MAX_CYCLE_TRACES = 20  # newest pending traces per deadlock candidate
MAX_TRACES = 5  # pending traces shown per node
PARKED_FRAMES = 3  # innermost frames saying where a stuck task is parked

INSTRUCTIONS = """\
peepsweb holds snapshots of async programs: their tasks, locks, channels and
requests as nodes and what each waits on as `needs` edges. Start with
list_snapshots or deadlock_candidates(snapshot="latest"); follow a stuck task
with wait_chain; look at one node with node; compare two captures with
diff_snapshots; jump_now asks the connected programs for a fresh snapshot.
`snapshot` is a number from list_snapshots, "latest" or "live" (each
process's newest capture of the last seconds)."""

mcp = MCPServer("peepsweb", instructions=INSTRUCTIONS)

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)

Snapshot = Annotated[
    int | str,
    Field(description='a snapshot number (see list_snapshots), "latest" or "live"'),
]
NodeId = Annotated[
    str, Field(description="a node id, e.g. task:lock-demo-4242:11", max_length=4096)
]


def limit_arg(high=MAX_LIST, what="items listed"):
    return Annotated[int, Field(ge=1, le=high, description=f"{what} (1-{high})")]


# --- shared pieces ----------------------------------------------------------------


async def read(fn, *args):
    """fn(*args) in a thread; the read layer's refusals become tool errors."""
    try:
        return await database_sync_to_async(fn)(*args)
    except ScopeNotFound as e:
        raise ToolError(f'{e}: use a number from list_snapshots, "latest" or "live"') from None
    except queries.NodeNotFound as e:
        raise ToolError(
            f"{e}: node ids are listed by deadlock_candidates, stuck_tasks or node"
        ) from None
    except queries.QueryError as e:
        raise ToolError(f"{e.param}: {e.message}") from None


def bounded(text, hint):
    """`text`, cut at a line end before MAX_TEXT_CHARS with a note saying
    how much was cut and how to see it (`hint`)."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_TEXT_CHARS - 300) + 1 or MAX_TEXT_CHARS - 300
    rest = text[cut:]
    lines = rest.count("\n") + 1
    return text[:cut] + f"[cut: {lines} more lines ({len(rest)} characters) not shown; {hint}]\n"


def answer(text, data, hint):
    return CallToolResult(
        content=[TextContent(type="text", text=bounded(text, hint))], structured_content=data
    )


def where(scope):
    label = service.scope_label(scope)
    if scope.is_live and not scope.process_ids:
        return f"{label} (empty: no process pushed a snapshot in the live window)"
    return label


def scope_id(scope):
    return "live" if scope.is_live else int(scope.key)


def named(brief, node_id):
    """ "task transfer_a_to_b [task:lock-demo-4242:11]" from a node brief."""
    if not brief:
        return f"[{clean(explain.one_line(node_id))}]"
    name = explain.one_line(brief.get("label") or explain.id_tail(node_id))
    return f"{explain.kind_word(brief.get('kind') or '')} {clean(name)} [{clean(node_id)}]"


def attrs_json(attrs, api_url):
    """A node's attrs, or a note where they are too long to carry here."""
    text = orjson.dumps(attrs, option=orjson.OPT_NON_STR_KEYS).decode()
    if len(text) <= MAX_ATTRS_CHARS:
        return attrs, text
    note = f"{len(text)} characters of attrs, not shown: GET {api_url}"
    return {"cut": note}, f"({note})"


def trace_json(trace, frames=MAX_FRAMES):
    """A pending trace of the read layer with its first `frames` frames
    (innermost first), each cut at MAX_FRAME_CHARS."""
    all_frames = trace.get("frames") or []
    return {
        "at_ns": trace.get("at_ns"),
        "duration_us": trace.get("duration_us"),
        "frame_count": len(all_frames),
        "frames": [
            clean(f.get("text") or f"<frame {f.get('id')} missing>")[:MAX_FRAME_CHARS]
            for f in all_frames[:frames]
        ],
    }


# --- tools: each one's sync half reads and writes the answer in a thread ---------


def _list_snapshots(limit, page, process="", has_cycle=False, at=""):
    query = {"process": process, "has_cycle": "1" if has_cycle else "", "at": at}
    filters = queries.ListFilters.parse(query)
    result = queries.snapshot_list(page, limit, filters)
    integrations.fill_cycle_counts(result.items)  # as the snapshot list page does
    first = (result.page - 1) * result.per_page + 1
    lines = [
        f"Snapshots, newest first: {first}-{first + len(result.items) - 1} of {result.total}."
        if result.items
        else f"No snapshot on page {result.page} ({result.total} stored)."
    ]
    items = []
    for row in result.items:
        s = row.snapshot
        processes = ", ".join(f"{clean(p.process)} ({clean(p.proc_key)})" for p in row.processes)
        states = ", ".join(f"{n} {cls}" for cls, n in row.state_counts.items() if n) or "none"
        if row.cycle_candidates is None:
            cycles = "deadlock candidates not computed yet (deadlock_candidates computes them)"
        else:
            cycles = f"{row.cycle_candidates} deadlock candidate(s)"
        lines.append(
            f"snapshot {s.id} ({s.kind}, {s.status}), captured {fmt_time_ns(row.captured_at_ns)}: "
            f"{processes or 'no process'}; {s.node_count} nodes, {s.edge_count} edges; "
            f"tasks: {states}; {cycles}"
        )
        items.append(
            {
                "snapshot_id": s.id,
                "kind": s.kind,
                "status": s.status,
                "captured_at_ns": row.captured_at_ns,
                "processes": [
                    {"process": p.process, "proc_key": p.proc_key, "pid": p.pid, "status": p.status}
                    for p in row.processes
                ],
                "node_count": s.node_count,
                "edge_count": s.edge_count,
                "task_states": row.state_counts,
                "cycle_candidates": row.cycle_candidates,
            }
        )
    if result.has_next:
        lines.append(f"More: page={result.page + 1}.")
    data = {"snapshots": items, "page": result.page, "per_page": result.per_page}
    data["total"] = result.total
    return answer("\n".join(lines) + "\n", data, "ask for fewer per page (limit)")


@mcp.tool(annotations=READ)
async def list_snapshots(
    limit: limit_arg(100, "snapshots per page") = 20,
    page: Annotated[int, Field(ge=1, le=queries.MAX_PAGE, description="page number, from 1")] = 1,
    process: Annotated[
        str, Field(max_length=128, description="only snapshots of this process (name or proc_key)")
    ] = "",
    has_cycle: Annotated[bool, Field(description="only snapshots holding a needs cycle")] = False,
    at: Annotated[
        str,
        Field(
            max_length=64,
            description="the page holding the newest snapshot captured at or before this "
            "time (ISO 8601 UTC or Unix ns); page is then ignored",
        ),
    ] = "",
) -> CallToolResult:
    """The stored snapshots, newest first: each one's processes, node and edge
    counts, task states and number of deadlock candidates."""
    return await read(_list_snapshots, limit, page, process, has_cycle, at)


FIRST_SEEN_KEYS = (
    "first_seen_ns",
    "first_seen_snapshot_id",
    "present_for_ns",
    "first_seen_capped",
    "first_seen_oldest_stored",
)


def _candidate_json(result, candidate):
    nodes = result.get("nodes", {})
    traces = {}
    for member in candidate["cycle"][:MAX_CYCLE_ITEMS]:
        newest = (result.get("traces", {}).get(member) or [None])[0]
        if newest is not None and len(traces) < MAX_CYCLE_TRACES:
            frames = [clean(f)[:MAX_FRAME_CHARS] for f in newest["frames"][:MAX_FRAMES]]
            traces[member] = {**newest, "frames": frames}
    return {
        "severity": candidate["severity"],
        "confidence": candidate.get("confidence"),
        "confidence_reason": candidate.get("confidence_reason") or None,
        "score": candidate["score"],
        "blocked_task_count": candidate["blocked_task_count"],
        "worst_wait_ns": candidate["worst_wait_ns"],
        "cross_process": candidate["cross_process"],
        # Since when it is there (cycles/first_seen.py): the report's
        # "first seen" line, as numbers.
        **{key: candidate.get(key) for key in FIRST_SEEN_KEYS},
        "cycle_length": len(candidate["cycle"]),
        "member_count": len(candidate["members"]),
        # The cycle's edges in order, each with its sentence; members past
        # the cycle's are in the same strongly connected component.
        "edges": candidate["edges"][:MAX_CYCLE_ITEMS],
        "members": [
            {"node_id": m, **(nodes.get(m) or {})} for m in candidate["members"][:MAX_CYCLE_ITEMS]
        ],
        "newest_pending_traces": traces,
    }


def _deadlock_candidates(snapshot, limit):
    scope = resolve_scope(snapshot)
    result = service.cycle_result(scope)
    candidates = result["candidates"]
    data = {
        "snapshot": scope_id(scope),
        "candidate_total": len(candidates),
        "candidates": [_candidate_json(result, c) for c in candidates[:limit]],
        "cut": {
            "candidates": max(0, len(candidates) - limit),
            "cyclic_components_not_analysed": max(
                0, (result.get("truncated_from") or 0) - len(candidates)
            ),
            "items_per_candidate": MAX_CYCLE_ITEMS,
        },
    }
    text = render_report(result, where(scope), limit=limit)
    hint = f"the whole report is GET /api/v1/snapshots/{scope.key}/cycles.txt"
    return answer(text, data, hint)


@mcp.tool(annotations=READ)
async def deadlock_candidates(
    snapshot: Snapshot = "latest", limit: limit_arg(50, "candidates, worst first") = 5
) -> CallToolResult:
    """Deadlock candidates (cycles of `needs`), worst first: each edge of the
    cycle in words, the score, how many tasks are blocked behind it and each
    task's newest pending trace. The text is the cycles page's deadlock
    report."""
    return await read(_deadlock_candidates, snapshot, limit)


def _wait_chain(snapshot, node_id, max_hops):
    chain = chains.wait_chain(resolve_scope(snapshot), node_id, max_hops)
    data = {
        "snapshot": scope_id(chain.scope),
        "start": node_id,
        "end": chain.end,
        "loop_hop": chain.loop_hop,
        "hops": [
            {
                "src": h.src,
                "dst": h.dst,
                "explanation": h.explanation,
                "cross_process": h.cross_process,
                "unresolved": h.unresolved,
                "also_needs": h.others,
                "also_needs_total": h.others_total,
            }
            for h in chain.hops
        ],
    }
    return answer(chains.render_chain(chain), data, "ask for fewer hops (max_hops)")


@mcp.tool(annotations=READ)
async def wait_chain(
    snapshot: Snapshot,
    node_id: NodeId,
    max_hops: Annotated[
        int, Field(ge=1, le=chains.MAX_HOPS, description=f"hops to follow (1-{chains.MAX_HOPS})")
    ] = chains.DEFAULT_HOPS,
) -> CallToolResult:
    """Follow what a node waits on (`needs`), hop by hop, until the chain ends,
    loops (a cycle: a deadlock) or leaves the snapshot, explaining each hop:
    "task transfer_a_to_b waits on lock account_b", "lock account_b is held by
    task transfer_b_to_a", ... Where a node needs several things, one is
    followed (one on the chain first, then one that waits on something itself)
    and the others are listed."""
    return await read(_wait_chain, snapshot, node_id, max_hops)


def _edge_json(row, sentence):
    return {
        "node_id": row["other_id"],
        "node": row["other"],
        "explanation": sentence,
        "cross_process": row["cross_process"],
        "unresolved": row["unresolved"],
    }


def _node(snapshot, node_id, limit):
    scope = resolve_scope(snapshot)
    d = queries.node_detail(scope, node_id)
    n = d.node
    needs, needed_by = d.needs[:limit], d.needed_by[:limit]
    need_lines = chains.edge_sentences(scope, node_id, needs, outgoing=True)
    needed_lines = chains.edge_sentences(scope, node_id, needed_by, outgoing=False)
    in_cycle = node_id in integrations.cycle_context(scope)["cycle_members"]  # as the inspector
    api_url = f"/api/v1/snapshots/{scope.key}/nodes/{n.node_id}"
    attrs, attrs_text = attrs_json(n.attrs, api_url)
    info = NodeInfo(node_id=n.node_id, kind=n.kind, label=n.label, attrs=n.attrs or {})
    facts = []
    if n.state:
        facts.append(f"state {clean(explain.one_line(n.state))} ({n.state_class or 'unknown'})")
    if n.pending_us:
        facts.append(f"longest pending trace {fmt_duration_ns(n.pending_us * 1000)}")
    if n.age_ns:
        facts.append(f"age {fmt_duration_ns(n.age_ns)}")
    if in_cycle:
        facts.append("on a deadlock candidate (see deadlock_candidates)")
    lines = [
        f"{clean(explain.noun(info))} [{clean(n.node_id)}] in {where(scope)}, "
        f"process {clean(n.process.process)} ({clean(n.proc_key)})"
    ]
    if facts:
        lines.append("  " + "; ".join(facts))
    lines.append(f"  attrs: {clean(attrs_text)}")
    for title, rows, total, said in (
        ("Needs", needs, d.needs_total, need_lines),
        ("Needed by", needed_by, d.needed_by_total, needed_lines),
    ):
        lines.append(f"{title} ({total}):" if total else f"{title}: nothing.")
        lines.extend(
            f"  {clean(s)} [{clean(r['other_id'])}]" for r, s in zip(rows, said, strict=True)
        )
        if total > len(rows):
            lines.append(f"  ... {total - len(rows)} more (limit)")
    sources = d.wake_sources[:limit]
    if sources:
        lines.append(f"Woken by ({d.wake_event_total} wake(s) recorded):")
        for s in sources:
            waker = named(s["waker_node"], s["waker"]) if s["waker"] else "outside any task"
            lines.append(f"  {waker}: {s['count']} time(s), last {fmt_time_ns(s['last_at_ns'])}")
        if len(d.wake_sources) > len(sources):
            lines.append(f"  ... {len(d.wake_sources) - len(sources)} more source(s) (limit)")
    shown = [dict(t, frames=t["frames"][:MAX_FRAMES]) for t in d.pending_traces[:MAX_TRACES]]
    if shown:
        lines.append(f"Pending traces ({d.pending_trace_total}, newest first):")
        lines.extend(trace_as_text(n, t) for t in shown)  # the inspector's copy text
        if d.pending_trace_total > len(shown):
            lines.append(f"... {d.pending_trace_total - len(shown)} more trace(s)")
    data = {
        "snapshot": scope_id(scope),
        "node": {
            "node_id": n.node_id,
            "kind": n.kind,
            "label": n.label,
            "process": n.process.process,
            "proc_key": n.proc_key,
            "state": n.state or None,
            "state_class": n.state_class or None,
            "pending_us": n.pending_us,
            "age_ns": n.age_ns,
            "attrs": attrs,
            "in_deadlock_candidate": in_cycle,
        },
        "needs": [_edge_json(r, s) for r, s in zip(needs, need_lines, strict=True)],
        "needs_total": d.needs_total,
        "needed_by": [_edge_json(r, s) for r, s in zip(needed_by, needed_lines, strict=True)],
        "needed_by_total": d.needed_by_total,
        "wake_sources": sources,
        "wake_event_total": d.wake_event_total,
        "pending_traces": [trace_json(t) for t in shown],
        "pending_trace_total": d.pending_trace_total,
    }
    return answer("\n".join(lines) + "\n", data, f"lower limit, or GET {api_url}")


@mcp.tool(annotations=READ)
async def node(snapshot: Snapshot, node_id: NodeId, limit: limit_arg() = 20) -> CallToolResult:
    """One node as the inspector shows it: kind, state, process, attrs, what it
    needs and what needs it (in words), who woke it, its pending traces."""
    return await read(_node, snapshot, node_id, limit)


def _stuck_tasks(snapshot, min_pending_s, limit):
    scope = resolve_scope(snapshot)
    tasks, total = queries.longest_pending_tasks(scope, round(min_pending_s * 1_000_000), limit)
    traces = queries.newest_pending_traces(scope, tasks)
    lines = [
        f"Tasks pending at least {min_pending_s:g} s in {where(scope)}, longest first: "
        f"{len(tasks)} of {total}."
    ]
    items = []
    for i, t in enumerate(tasks, 1):
        info = NodeInfo(node_id=t.node_id, kind=t.kind, label=t.label, attrs=t.attrs or {})
        state = clean(explain.one_line(t.state or "?"))
        lines.append(
            f"{i}. {clean(explain.noun(info))} [{clean(t.node_id)}], "
            f"process {clean(t.process.process)}, state {state}: "
            f"pending {fmt_duration_ns(t.pending_us * 1000)}"
        )
        trace = traces.get(t.node_id)
        trace = trace_json(trace, PARKED_FRAMES) if trace else None
        if trace:
            parked = [explain.one_line(f.splitlines()[0] if f else "?") for f in trace["frames"]]
            lines.append("   parked at: " + " <- ".join(parked))
        rows, needs_total = queries.node_edges(scope, t.node_id, outgoing=True)
        said = chains.edge_sentences(scope, t.node_id, rows[:1])
        if said:
            more = f" (and {needs_total - 1} more)" if needs_total > 1 else ""
            lines.append(f"   waits: {clean(said[0])}{more}")
        items.append(
            {
                "node_id": t.node_id,
                "name": explain.display_name(info),
                "process": t.process.process,
                "proc_key": t.proc_key,
                "state": t.state or None,
                "state_class": t.state_class or None,
                "pending_us": t.pending_us,
                "newest_pending_trace": trace,
                "waits": said[0] if said else None,
                "needs_total": needs_total,
            }
        )
    if total > len(tasks):
        lines.append(f"... {total - len(tasks)} more (limit, or raise min_pending_s)")
    data = {"snapshot": scope_id(scope), "total": total, "tasks": items}
    return answer("\n".join(lines) + "\n", data, "ask for fewer tasks (limit)")


@mcp.tool(annotations=READ)
async def stuck_tasks(
    snapshot: Snapshot = "latest",
    min_pending_s: Annotated[
        float, Field(ge=0, le=10_000_000, description="shortest pending time listed, in seconds")
    ] = 1.0,
    limit: limit_arg(100, "tasks, longest pending first") = 20,
) -> CallToolResult:
    """Unfinished tasks pending at least min_pending_s (by their longest
    pending trace), longest first, each with where it is parked (the innermost
    frames of its newest pending trace) and what it waits on."""
    return await read(_stuck_tasks, snapshot, min_pending_s, limit)


def _processes(scope):
    names = [f"{clean(p.process)} ({clean(p.proc_key)})" for p in queries.scope_processes(scope)]
    return ", ".join(names) or "no process"


def _with_state(item):
    state = f" ({clean(explain.one_line(item['state']))})" if item.get("state") else ""
    return named(item, item["id"]) + state


def _change(item):
    """ "task x [id]: pending -> completed; label a -> b" from a changed node."""
    before, after = item["before"], item["after"]
    parts = []
    for field in diffs.COMPARED:
        if field in before or field in after:
            old, new = (
                clean(explain.one_line(str(side.get(field, "")))) for side in (before, after)
            )
            parts.append(
                f"{old or '-'} -> {new or '-'}" if field == "state" else f"{field} {old} -> {new}"
            )
    return f"{named(item, item['id'])}: " + "; ".join(parts)


def _diff_snapshots(before, after, limit):
    a, b = resolve_scope(before), resolve_scope(after)
    d = diffs.diff(a, b)
    c = d.counts()
    items = {section: d.items(section, 1, limit) for section in diffs.SECTIONS}
    lines = [
        f"From {where(a)} to {where(b)}, compared capture to capture by node id:",
        f"  processes: {_processes(a)} -> {_processes(b)}",
        f"  nodes: {c['nodes_added']} added, {c['nodes_removed']} removed, "
        f"{c['nodes_changed']} changed; needs edges: {c['edges_added']} added, "
        f"{c['edges_removed']} removed; cycles: {c['cycles_appeared']} appeared, "
        f"{c['cycles_resolved']} resolved",
    ]
    for title, section, render in (
        ("Added nodes", "nodes_added", _with_state),
        ("Removed nodes", "nodes_removed", _with_state),
        ("Changed nodes", "nodes_changed", _change),
        ("Added needs edges", "edges_added", lambda e: _pair((e["src_id"], e["dst_id"]))),
        ("Removed needs edges", "edges_removed", lambda e: _pair((e["src_id"], e["dst_id"]))),
        ("Cycles appeared", "cycles_appeared", _members),
        ("Cycles resolved", "cycles_resolved", _members),
    ):
        total, shown = c[section], items[section]
        if total:
            first = "" if total == len(shown) else f", first {len(shown)} by id"
            lines.append(f"{title} ({total}{first}):")
            lines.extend(f"  {render(item)}" for item in shown)
    data = {"from": scope_id(a), "to": scope_id(b), "counts": c, **items}
    return answer("\n".join(lines) + "\n", data, "ask for fewer items (limit)")


def _members(cycle):
    return ", ".join(clean(explain.one_line(m)) for m in cycle["members"])


def _pair(pair):
    src, dst = pair
    return f"{clean(explain.one_line(src))} needs {clean(explain.one_line(dst))}"


def by_alias(fn):
    """The SDK builds a tool's input schema from its signature, aliases
    included, then calls it with the aliases as keyword names: `from` and
    `to` are the argument names the tool needs, but not Python parameters."""
    names = {}
    for name, param in inspect.signature(fn).parameters.items():
        for meta in getattr(param.annotation, "__metadata__", ()):
            if isinstance(meta, FieldInfo) and meta.alias:
                names[meta.alias] = name

    @functools.wraps(fn)
    async def call(**kwargs):
        return await fn(**{names.get(k, k): v for k, v in kwargs.items()})

    return call


@mcp.tool(name="diff_snapshots", annotations=READ)
@by_alias
async def diff_snapshots(
    before: Annotated[Snapshot, Field(alias="from")],
    after: Annotated[Snapshot, Field(alias="to")],
    limit: limit_arg(200, "items listed per kind of change") = 20,
) -> CallToolResult:
    """What changed from one snapshot to another: nodes and `needs` edges
    added and removed, nodes whose kind, label, state or attrs changed, and
    cycles that appeared or resolved (the same diff as
    GET /api/v1/snapshots/{a}/diff/{b})."""
    return await read(_diff_snapshots, before, after, limit)


@mcp.tool(
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
)
async def jump_now(
    timeout_ms: Annotated[
        int | None,
        Field(
            ge=pull.MIN_TIMEOUT_MS,
            le=pull.MAX_TIMEOUT_MS,
            description="how long to wait for the programs' replies (default: the server's)",
        ),
    ] = None,
) -> CallToolResult:
    """Jump to now: ask every connected program (agent) for a fresh snapshot,
    wait for the replies, and say which snapshot holds them."""
    try:
        result = await pull.run_pull(timeout_ms)  # it does its own reads in threads
    except pull.PullRefused as e:
        raise ToolError(f"no snapshot was taken: {e}") from None
    c = result.counts()
    s = result.snapshot
    lines = [
        f"Jump to now: snapshot {s.id} is {s.status}. Asked {c['requested']} program(s): "
        f"{c['responded']} responded, {c['timed_out']} timed out, "
        f"{c['disconnected']} disconnected, {c['errors']} failed."
    ]
    for p in result.processes:
        detail = f" ({clean(explain.one_line(p.status_detail))})" if p.status_detail else ""
        lines.append(f"  process {clean(p.process)} ({clean(p.proc_key)}): {p.status}{detail}")
    lines.append(
        f"Read it with deadlock_candidates(snapshot={s.id}) or stuck_tasks(snapshot={s.id})."
    )
    return answer("\n".join(lines) + "\n", result.as_json(), "")
