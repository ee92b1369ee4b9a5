"""The deadlock report as plain text, in the spirit of a JVM thread dump:

    Found 1 deadlock(s).

    Deadlock 1 of 1: danger, confidence high, score 19.3
    ...
    "transfer_a_to_b" task:lock-demo-4242:11, pending, waiting 41.5 s, process lock-demo
      waits on lock account_b [lock:lock-demo-4242:account_b]
      which is held by task transfer_b_to_a [task:lock-demo-4242:12]

    Pending backtraces of the participants:
    ...

`render_report` is a pure function of the cached result (service.py), so the
report costs nothing once the cycles are known and is tested against a golden
file. Snapshot text goes out as text/plain: control characters are dropped,
nothing else needs escaping.
"""

import re
from datetime import UTC, datetime

from snapshots.cycles import explain

MAX_OTHER_MEMBERS = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text):
    return _CONTROL.sub("", str(text))


def fmt_duration_ns(ns):
    if not ns:
        return "unknown"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.0f} ms"
    seconds = ns / 1e9
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def fmt_time_ns(ns):
    if not isinstance(ns, int):
        return "unknown time"
    try:
        at = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ns} ns"
    return at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d} UTC"


def _node(result, node_id):
    return result.get("nodes", {}).get(node_id) or {"kind": "", "name": node_id}


def _noun(node, node_id):
    name = node.get("name") or explain.id_tail(node_id)
    return f"{explain.kind_word(node.get('kind') or '')} {name}"


def _predicate(sentence, subject):
    """ "lock a is held by task t" -> "is held by task t"; None for a sentence
    that does not start with its subject ("TaskGroup of task main waits ...")."""
    prefix = subject + " "
    return sentence[len(prefix) :] if sentence.startswith(prefix) else None


def participant_header(result, node_id):
    node = _node(result, node_id)
    bits = [clean(node_id)]
    if node.get("state"):
        bits.append(clean(node["state"]))
    if node.get("wait_ns"):
        bits.append(f"waiting {fmt_duration_ns(node['wait_ns'])}")
    bits.append(f"process {clean(node.get('process') or node.get('proc_key') or '?')}")
    return f'"{clean(node.get("name") or node_id)}" ' + ", ".join(bits)


def participant_chains(result, candidate):
    """[(participant id, [lines])]: each task on the cycle with what it waits
    for, link by link, up to the next task ("which is held by ...")."""
    cycle = candidate["cycle"]
    edges = candidate["edges"]
    anchors = [i for i, m in enumerate(cycle) if _node(result, m).get("kind") == "task"]
    anchors = anchors or list(range(len(cycle)))
    chains = []
    for a, start in enumerate(anchors):
        stop = anchors[(a + 1) % len(anchors)]
        steps = (stop - start) % len(cycle) or len(cycle)
        lines = []
        for k in range(steps):
            edge = edges[(start + k) % len(edges)]
            src = edge["src_id"]
            text = _predicate(edge["explanation"], _noun(_node(result, src), src))
            if text is None:  # the whole sentence, joined as the next step
                text = ("" if k == 0 else "then ") + edge["explanation"]
            elif k > 0:
                text = "which " + text
            lines.append(f"{clean(text)} [{clean(edge['dst_id'])}]")
        chains.append((cycle[start], lines))
    return chains


def first_seen_line(candidate):
    """ "first seen <time> (snapshot N), present for <duration>", saying when
    that is a minimum: the look back stopped at its bound, or reached the
    oldest capture retention kept (first_seen.py). None for a result cached
    before first seen existed."""
    if "first_seen_ns" not in candidate:
        return None
    if candidate["first_seen_ns"] is None:
        return "first seen: unknown (no capture time)"
    capped = candidate.get("first_seen_capped")
    at = fmt_time_ns(candidate["first_seen_ns"])
    sid = candidate.get("first_seen_snapshot_id")
    text = f"first seen {'at or before ' if capped else ''}{at}"
    text += f" (snapshot {sid})" if sid is not None else ""
    present = candidate.get("present_for_ns")
    if present is not None:
        duration = fmt_duration_ns(present) if present else "0 s"  # "unknown" is for 0 waits
        text += f", present for {'at least ' if capped else ''}{duration}"
    if capped:
        text += " (the look back stopped at its bound)"
    elif candidate.get("first_seen_oldest_stored"):
        text += " (the oldest stored capture: retention may have pruned older ones)"
    return text


def render_candidate(result, index, total, candidate):
    out = []
    out.append(
        f"Deadlock {index} of {total}: {candidate['severity']}, "
        f"confidence {candidate.get('confidence', 'high')}, score {candidate['score']}"
    )
    processes = sorted(
        {
            clean(_node(result, m).get("process") or _node(result, m).get("proc_key") or "?")
            for m in candidate["cycle"]
        }
    )
    where = (
        "across processes " + ", ".join(processes)
        if len(processes) > 1
        else f"in process {processes[0]}"
    )
    out.append(
        f"  cycle of {len(candidate['cycle'])} node(s) {where}; "
        f"{candidate['blocked_task_count']} task(s) blocked; "
        f"longest wait {fmt_duration_ns(candidate['worst_wait_ns'])}"
    )
    first_seen = first_seen_line(candidate)
    if first_seen:
        out.append(f"  {first_seen}")
    if candidate.get("confidence_reason"):
        out.append(f"  not certain: {clean(candidate['confidence_reason'])}")
    others = candidate["members"][len(candidate["cycle"]) :]
    if others:
        shown = ", ".join(clean(m) for m in others[:MAX_OTHER_MEMBERS])
        extra = len(others) - MAX_OTHER_MEMBERS
        more = f" and {extra} more" if extra > 0 else ""
        out.append(f"  {len(others)} more member(s) in the same component: {shown}{more}")
    out.append("")
    for node_id, lines in participant_chains(result, candidate):
        out.append(participant_header(result, node_id))
        out.extend(f"  {line}" for line in lines)
        out.append("")
    return out[:-1]


def render_traces(result, node_ids):
    out = []
    for node_id in node_ids:
        traces = result.get("traces", {}).get(node_id) or []
        if not traces:
            continue
        trace = traces[0]
        node = _node(result, node_id)
        pending = fmt_duration_ns((trace.get("duration_us") or 0) * 1000)
        out.append(
            f'"{clean(node.get("name") or node_id)}" {clean(node_id)}, pending {pending}, '
            f"captured {fmt_time_ns(trace.get('at_ns'))}"
        )
        for frame in trace.get("frames") or []:
            for line in clean(frame).splitlines() or [""]:
                out.append(f"    {line}")
        hidden = (trace.get("frame_count") or 0) - len(trace.get("frames") or [])
        if hidden > 0:
            out.append(f"    ... {hidden} more frame(s)")
        out.append("")
    return out


def render_report(result, scope_label, limit=None):
    """The whole report for one scope's cached cycle result; with `limit`,
    only the first `limit` candidates (the MCP tool's bound), saying so."""
    candidates = result.get("candidates") or []
    out = [f"peepsweb deadlock report for {clean(scope_label)}"]
    for p in result.get("processes") or []:
        pid = f", pid {p['pid']}" if p.get("pid") is not None else ""
        out.append(
            f"  process {clean(p['process'])} ({clean(p['proc_key'])}{pid}), "
            f"captured {fmt_time_ns(p.get('captured_at_ns'))}"
        )
    out.append("")
    if not candidates:
        out.append("Found no deadlocks: the needs graph has no cycle.")
        return "\n".join(out) + "\n"
    out.append(f"Found {len(candidates)} deadlock(s).")
    if result.get("truncated_from"):
        out.append(
            f"(The graph has {result['truncated_from']} cyclic components; "
            f"the {len(candidates)} largest are analysed.)"
        )
    shown = candidates if limit is None else candidates[:limit]
    if len(shown) < len(candidates):
        out.append(f"The first {len(shown)} are shown here.")
    out.append("")
    participants = {}  # ordered set: cycle order, first candidate first
    for i, candidate in enumerate(shown, 1):
        out.append("=" * 72)
        out.extend(render_candidate(result, i, len(candidates), candidate))
        out.append("")
        participants.update(dict.fromkeys(candidate["cycle"]))
    traces = render_traces(result, participants)
    if traces:
        out.append("=" * 72)
        out.append("Pending backtraces of the participants (newest per task, innermost first):")
        out.append("")
        out.extend(traces)
    return "\n".join(out).rstrip("\n") + "\n"
