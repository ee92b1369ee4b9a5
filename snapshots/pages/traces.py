"""Pending traces as text (copy, download) and attrs made readable: plain
functions shared by the inspector and the backtraces page. Everything returns
text or plain data; templates escape it."""

from peepsweb_client.contract import FRAME_AT, FRAME_SOURCE, FRAME_SOURCE_MAX_CHARS

from snapshots.pages.formatting import format_duration_ns, format_ns_datetime

# An int `*_ns` attr above this is a Unix timestamp (after 1973), below it a
# duration: no real wait lasts three years, and no clock reads 1970.
TIMESTAMP_MIN_NS = 10**17
MISSING_FRAME = "<frame {} missing from the snapshot>"


# A frame is at most 64 KiB of sender text: a page shows this much of each
# part and says how much it left out, so one frame cannot swamp a page.
FRAME_PART_CHARS = 500
FRAME_MORE_CHARS = 2000
FRAME_MORE_LINES = 20


def frame_text(frame):
    text = frame.get("text")
    return text if text is not None else MISSING_FRAME.format(frame.get("id"))


def frame_parts(text):
    """A frame text -> {function, location, source, more, cut} for display.

    Lines "function", "    at file:line" and "    | source" (SNAPSHOT_FORMAT.md)
    fill the first three, each capped; whatever does not follow the format
    (extra lines, a "|" anywhere else, no "at" line) goes to `more`, shown as
    it is, like any frame before v1.1, up to FRAME_MORE_LINES lines. `cut`:
    characters left out."""
    lines = text.split("\n", 3)
    full = {"function": lines[0], "location": "", "source": "", "more": ""}
    used = 1
    if len(lines) > 1 and lines[1].startswith(FRAME_AT):
        full["location"], used = lines[1][len(FRAME_AT) :], 2
        if len(lines) > 2 and lines[2].startswith(FRAME_SOURCE):
            full["source"], used = lines[2][len(FRAME_SOURCE) :], 3
    full["more"] = "\n".join(lines[used:])
    caps = {
        "function": FRAME_PART_CHARS,
        "location": FRAME_PART_CHARS,
        "source": FRAME_SOURCE_MAX_CHARS,
        "more": FRAME_MORE_CHARS,
    }
    parts = {key: value[: caps[key]] for key, value in full.items()}
    # HTML reads a CR as a line break: the one-line parts must stay one line.
    for key in ("function", "location", "source"):
        parts[key] = parts[key].replace("\r", " ")
    # Lines too: a frame of a thousand short lines would be a page long.
    more_lines = parts["more"].split("\n", FRAME_MORE_LINES)
    parts["more"] = "\n".join(more_lines[:FRAME_MORE_LINES])
    parts["cut"] = sum(len(full[key]) - len(parts[key]) for key in caps)
    return parts


def trace_as_text(node, trace):
    """One pending trace as plain text, innermost frame first, numbered like
    a debugger's backtrace. Used for the copy button and the download."""
    lines = [
        f"{node.kind} {node.label or node.node_id} ({node.node_id}) in {node.proc_key}",
        f"pending trace captured {format_ns_datetime(trace.get('at_ns'))}"
        + (
            f", pending for {format_duration_ns(trace['duration_us'] * 1000)}"
            if isinstance(trace.get("duration_us"), int)
            else ""
        ),
        "frames, innermost first:",
    ]
    for i, frame in enumerate(trace.get("frames") or []):
        text = frame_text(frame).rstrip("\n")
        first, *rest = text.split("\n") or [""]
        lines.append(f"#{i:<3} {first}")
        lines.extend(f"     {line}" for line in rest)
    return "\n".join(lines) + "\n"


def readable_attrs(attrs, captured_ns):
    """attrs -> [{key, type, value, ...}] in the sender's order, where type is
    timestamp (with its age at capture), duration, scalar, text (a string
    of several lines) or json."""
    if not isinstance(attrs, dict):
        return [{"key": "(attrs)", "type": "json", "value": attrs}]
    rows = []
    for key, value in attrs.items():
        row = {"key": key, "value": value, "type": "scalar"}
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, dict | list):
            row["type"] = "json"
        elif isinstance(value, str) and "\n" in value:
            row["type"] = "text"  # a stack, a message: shown with its lines
        elif is_int and isinstance(key, str) and key.endswith("_ns"):
            if value >= TIMESTAMP_MIN_NS:
                row["type"] = "timestamp"
                row["age_ns"] = captured_ns - value if captured_ns is not None else None
            else:
                row["type"] = "duration"
        elif is_int and isinstance(key, str) and key.endswith("_us"):
            row["type"] = "duration"
            row["value_ns"] = value * 1000
        rows.append(row)
    return rows
