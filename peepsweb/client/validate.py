"""Validation of a process snapshot body against SNAPSHOT_FORMAT.md v1,
with the server's rules, messages and paths, in the standard library only.

The server's validator (snapshots/ingest/validate.py) is fused with the
storage path (orjson, Django settings, edges validated while they stream
into the database), so the client cannot import it. This module mirrors it
rule for rule, in the same order (nodes, frames, pending traces, wake
events, then edges), so the first error reported is the same one;
tests/client/test_validate_parity.py runs one corpus of good and bad bodies
through both and fails on any difference in status, path or message.

`check_document(doc, limits)` returns a `CheckedDocument` (the body in
canonical form: ProcessDump converted, attrs parsed, duplicate edges
collapsed, cross-process edges split out) or raises
`ValidationError(status, message, path)`; status is 400, or 413 for a limit.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

PROC_KEY_RE = re.compile(r"[a-z0-9._-]{1,64}")
KIND_RE = re.compile(r"[a-z0-9_-]{1,64}")
NODE_FIELDS = frozenset({"id", "kind", "label", "attrs", "attrs_json"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ID_MAX_CHARS = 1024
PROCESS_MAX_CHARS = 128


@dataclass(frozen=True)
class Limits:
    body_bytes: int = 64 * 1024 * 1024
    nodes: int = 1_000_000
    edges: int = 2_000_000
    string_bytes: int = 64 * 1024
    attrs_bytes: int = 64 * 1024
    attrs_depth: int = 16

    @classmethod
    def from_settings(cls, settings):
        """The limits configured in Django settings (PEEPSWEB_MAX_*)."""
        return cls(
            body_bytes=settings.PEEPSWEB_MAX_BODY_BYTES,
            nodes=settings.PEEPSWEB_MAX_NODES,
            edges=settings.PEEPSWEB_MAX_EDGES,
            string_bytes=settings.PEEPSWEB_MAX_STRING_BYTES,
            attrs_bytes=settings.PEEPSWEB_MAX_ATTRS_BYTES,
            attrs_depth=settings.PEEPSWEB_MAX_ATTRS_DEPTH,
        )


DEFAULT_LIMITS = Limits()


class ValidationError(Exception):
    """A body the contract refuses; the same (status, message, path) as the
    server's IngestError, i.e. its `{"error": ..., "path": ...}` answer."""

    def __init__(self, status, message, path=""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path

    def as_json(self):
        return {"error": self.message, "path": self.path}

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self):
        return f"ValidationError({self.status}, {self.message!r}, {self.path!r})"


@dataclass
class CheckedDocument:
    process: str
    pid: int | None
    proc_key: str
    captured_at_ns: int | None
    snapshot_id: int | None
    nodes: list = field(default_factory=list)  # {"id", "kind", "label", "attrs"}
    edges: list = field(default_factory=list)  # {"src", "dst", "attrs"}
    # {"src", "dst", "attrs", "missing_side", "referenced_proc_key", "reason"}
    unresolved_edges: list = field(default_factory=list)
    # {"at_ns", "waker", "woken", "target_worker"}: task node ids, waker "" if null
    wake_events: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)  # int -> text
    # {"node_id", "task_id", "at_ns", "duration_us", "frame_ids"}
    pending_traces: list = field(default_factory=list)
    prefix: str = ""  # "graph." for a ProcessDump body
    index: dict = field(default_factory=dict, repr=False)  # node id -> position


def fail(status, message, path=""):
    raise ValidationError(status, message, path)


def check_document(doc, limits=DEFAULT_LIMITS):
    """Validate one process snapshot body; see the module docstring."""
    if type(doc) is not dict:
        fail(400, "the body must be a JSON object", "")
    prefix = ""
    if "graph" in doc and "process_name" in doc and "nodes" not in doc:
        doc, prefix = from_process_dump(doc), "graph."

    process = doc.get("process")
    if type(process) is not str or not 0 < len(process) <= PROCESS_MAX_CHARS:
        fail(400, "process is required: a string of 1 to 128 characters", "process")
    check_text(process, "process", limits)
    pid = opt_int(doc.get("pid"), "pid")
    proc_key = doc.get("proc_key")
    if type(proc_key) is not str or not PROC_KEY_RE.fullmatch(proc_key):
        fail(
            400,
            "proc_key is required: 1 to 64 characters of [a-z0-9._-] (no ':'), "
            "e.g. {process_slug}-{pid}",
            "proc_key",
        )
    captured = opt_int(doc.get("captured_at_ns"), "captured_at_ns")
    if captured is not None and captured < 0:
        fail(400, "captured_at_ns must be a Unix time in nanoseconds", "captured_at_ns")
    snapshot_id = opt_int(doc.get("snapshot_id"), "snapshot_id")
    if snapshot_id is not None and snapshot_id <= 0:
        fail(400, "snapshot_id must be a positive integer or null", "snapshot_id")

    nodes = opt_list(doc, "nodes", prefix)
    edges = opt_list(doc, "edges", prefix)
    if len(nodes) > limits.nodes:
        fail(413, f"{len(nodes)} nodes is over the limit of {limits.nodes}", prefix + "nodes")
    if len(edges) > limits.edges:
        fail(413, f"{len(edges)} edges is over the limit of {limits.edges}", prefix + "edges")

    out = CheckedDocument(process, pid, proc_key, captured, snapshot_id, prefix=prefix)
    check_nodes(out, nodes, limits)
    frame_keys = check_frames(out, doc.get("frames"), limits)
    check_traces(out, opt_list(doc, "pending_traces", ""), frame_keys)
    check_wakes(out, opt_list(doc, "wake_events", ""))
    check_edges(out, edges, limits)
    return out


def validate(doc, limits=DEFAULT_LIMITS):
    """True, or raise ValidationError."""
    check_document(doc, limits)
    return True


# -- nodes ------------------------------------------------------------------


def check_nodes(out, nodes, limits):
    proc_key = out.proc_key
    index = out.index
    where = out.prefix + "nodes"
    for i, node in enumerate(nodes):
        if type(node) is not dict:
            fail(400, "a node must be an object", f"{where}[{i}]")
        node_id = node.get("id")
        if not (
            type(node_id) is str and 0 < len(node_id) <= ID_MAX_CHARS and "\x00" not in node_id
        ):
            bad_id(node_id, f"{where}[{i}].id")
        parts = node_id.split(":", 2)
        if len(parts) != 3 or parts[1] != proc_key or not parts[0] or not parts[2]:
            fail(
                400,
                f"node id {clip(node_id)} must have the form {{kind}}:{proc_key}:{{rest}} "
                "(its second segment is the owning proc_key)",
                f"{where}[{i}].id",
            )
        if node_id in index:
            fail(
                400,
                f"duplicate node id {clip(node_id)} (first at {where}[{index[node_id]}])",
                f"{where}[{i}].id",
            )
        kind = node.get("kind")
        if type(kind) is not str or not KIND_RE.fullmatch(kind):
            fail(400, "kind is required: 1 to 64 characters of [a-z0-9_-]", f"{where}[{i}].kind")

        attrs = attrs_object(node, f"{where}[{i}]")
        extra = node.keys() - NODE_FIELDS
        if extra:
            # Unknown node fields are kept (contract), without overriding attrs.
            attrs = dict(attrs)
            for key in extra:
                attrs.setdefault(key, node[key])
        check_attrs(attrs, limits, f"{where}[{i}].attrs")

        label = node.get("label")
        if label is None:
            label = fallback_label(attrs)
        elif type(label) is not str:
            fail(400, "label must be a string", f"{where}[{i}].label")
        else:
            check_text(label, f"{where}[{i}].label", limits)
        index[node_id] = len(out.nodes)
        out.nodes.append({"id": node_id, "kind": kind, "label": label, "attrs": attrs})


def fallback_label(attrs):
    for key in ("name", "label", "method"):
        value = attrs.get(key)
        if type(value) is str:
            return value[:256]
    return ""


# -- frames, traces, wakes --------------------------------------------------------


def check_frames(out, frames, limits):
    if frames is None:
        return set()
    if type(frames) is not dict:
        fail(400, "frames must be an object of frame id -> text", "frames")
    keys = set()
    for raw_key, text in frames.items():
        path = f"frames[{show(raw_key)}]"
        try:
            key = int(raw_key)
        except ValueError:
            fail(400, "a frame id must be an integer", path)
        if not INT64_MIN <= key <= INT64_MAX:
            fail(400, "a frame id must fit in 64 bits", path)
        if key in keys:
            fail(400, f"frame id {key} is given twice", path)
        if type(text) is not str:
            fail(400, "a frame's text must be a string", path)
        check_text(text, path, limits)
        keys.add(key)
        out.frames[key] = text
    return keys


def check_traces(out, traces, frame_keys):
    for i, trace in enumerate(traces):
        path = f"pending_traces[{i}]"
        if type(trace) is not dict:
            fail(400, "a pending trace must be an object", path)
        task_id = req_int(trace.get("task_id"), f"{path}.task_id")
        at_ns = req_int(trace.get("at_ns"), f"{path}.at_ns")
        duration = opt_int(trace.get("duration_us"), f"{path}.duration_us")
        frame_ids = trace.get("frame_ids")
        if frame_ids is None:
            frame_ids = []
        if type(frame_ids) is not list:
            fail(400, "frame_ids must be a list of frame ids", f"{path}.frame_ids")
        for j, frame_id in enumerate(frame_ids):
            if type(frame_id) is not int or frame_id not in frame_keys:
                fail(400, f"frame id {show(frame_id)} is not in frames", f"{path}.frame_ids[{j}]")
        out.pending_traces.append(
            {
                "node_id": f"task:{out.proc_key}:{task_id}",
                "task_id": task_id,
                "at_ns": at_ns,
                "duration_us": duration,
                "frame_ids": list(frame_ids),
            }
        )


def check_wakes(out, wakes):
    for i, wake in enumerate(wakes):
        path = f"wake_events[{i}]"
        if type(wake) is not dict:
            fail(400, "a wake event must be an object", path)
        at_ns = req_int(wake.get("at_ns"), f"{path}.at_ns")
        woken_id = req_int(wake.get("woken_task_id"), f"{path}.woken_task_id")
        waker_id = opt_int(wake.get("waker_task_id"), f"{path}.waker_task_id")
        worker = opt_int(wake.get("target_worker"), f"{path}.target_worker")
        out.wake_events.append(
            {
                "at_ns": at_ns,
                "woken": f"task:{out.proc_key}:{woken_id}",
                "waker": "" if waker_id is None else f"task:{out.proc_key}:{waker_id}",
                "target_worker": worker,
            }
        )


# -- edges ------------------------------------------------------------------------


def check_edges(out, edges, limits):
    index = out.index
    seen = set()
    seen_unresolved = set()
    where = out.prefix + "edges"
    for i, edge in enumerate(edges):
        if type(edge) is not dict:
            fail(400, "an edge must be an object", f"{where}[{i}]")
        src = edge.get("src_id")
        dst = edge.get("dst_id")
        if not (type(src) is str and 0 < len(src) <= ID_MAX_CHARS and "\x00" not in src):
            bad_id(src, f"{where}[{i}].src_id")
        if not (type(dst) is str and 0 < len(dst) <= ID_MAX_CHARS and "\x00" not in dst):
            bad_id(dst, f"{where}[{i}].dst_id")
        if edge.get("kind") != "needs":
            fail(
                400,
                f'edge kind must be "needs", not {show(edge.get("kind"))}',
                f"{where}[{i}].kind",
            )
        attrs = {}
        if "attrs" in edge or "attrs_json" in edge:
            attrs = attrs_object(edge, f"{where}[{i}]")
            if attrs:
                check_attrs(attrs, limits, f"{where}[{i}].attrs")
        if src in index and dst in index:
            if (src, dst) in seen:
                continue
            seen.add((src, dst))
            out.edges.append({"src": src, "dst": dst, "attrs": attrs})
            continue
        # An endpoint is not among this capture's nodes: fine if another
        # process owns it (a cross-process edge), a 400 if this one does.
        if (src, dst) in seen_unresolved:
            continue
        seen_unresolved.add((src, dst))
        owners = []
        if src not in index:
            owners.append(("src", src, foreign_owner(out, src, f"{where}[{i}].src_id")))
        if dst not in index:
            owners.append(("dst", dst, foreign_owner(out, dst, f"{where}[{i}].dst_id")))
        out.unresolved_edges.append(
            {
                "src": src,
                "dst": dst,
                "attrs": attrs,
                "missing_side": owners[0][0] if len(owners) == 1 else "both",
                "referenced_proc_key": owners[0][2],
                "reason": "; ".join(
                    f"{side} {node_id} belongs to process {owner}, not in this capture"
                    for side, node_id, owner in owners
                ),
            }
        )


def proc_key_of(node_id):
    """The owning proc_key of `{kind}:{proc_key}:{rest}`, or None."""
    parts = node_id.split(":", 2)
    if len(parts) == 3 and parts[0] and parts[2] and PROC_KEY_RE.fullmatch(parts[1]):
        return parts[1]
    return None


def foreign_owner(out, node_id, path):
    owner = proc_key_of(node_id)
    if owner is None:
        fail(
            400,
            f"{clip(node_id)} is not among nodes and is not of the form "
            "{kind}:{proc_key}:{rest}, so its owning process is unknown",
            path,
        )
    if owner == out.proc_key:
        fail(
            400,
            f"{clip(node_id)} belongs to this process ({owner}) but is not among "
            "its nodes; a process must emit every node of its own that it references",
            path,
        )
    return owner


# -- ProcessDump --------------------------------------------------------------------


def slug(name):
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-") or "process"


def derive_proc_key(process, pid=None):
    """`{slug(process)}-{pid}` within 64 characters, as the server derives it."""
    suffix = "" if pid is None else f"-{pid}"
    return slug(process)[: 64 - len(suffix)] + suffix


def from_process_dump(dump):
    """The peeps ProcessDump shape -> the contract's shape (unused fields dropped)."""
    graph = dump.get("graph")
    if type(graph) is not dict:
        fail(400, "graph must be an object with nodes and edges", "graph")
    name = dump.get("process_name")
    if type(name) is not str or not name:
        fail(400, "process_name must be a non-empty string", "process_name")
    pid = opt_int(dump.get("pid"), "pid")
    captured = dump.get("captured_at_ns")
    if captured is None:
        captured = iso_to_ns(dump.get("timestamp"))
    return {
        "process": name[:PROCESS_MAX_CHARS],
        "pid": pid,
        "proc_key": derive_proc_key(name, pid),
        "captured_at_ns": captured,
        "snapshot_id": dump.get("snapshot_id"),
        "nodes": graph.get("nodes"),
        "edges": graph.get("edges"),
    }


def iso_to_ns(value):
    if type(value) is not str:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


# -- attrs ----------------------------------------------------------------------------


def attrs_object(item, path):
    """`attrs` (an object) or `attrs_json` (a string holding one) -> dict."""
    attrs = item.get("attrs")
    attrs_json = item.get("attrs_json")
    if attrs is not None and attrs_json is not None:
        fail(400, "give attrs or attrs_json, not both", f"{path}.attrs_json")
    if attrs_json is not None:
        if type(attrs_json) is not str:
            fail(400, "attrs_json must be a string holding a JSON object", f"{path}.attrs_json")
        try:
            attrs = loads_like_server(attrs_json)
        except (ValueError, RecursionError) as exc:
            # The server quotes its own JSON parser's words after the colon.
            fail(400, f"attrs_json is not valid JSON: {exc}", f"{path}.attrs_json")
        if type(attrs) is not dict:
            fail(400, "attrs_json must hold a JSON object", f"{path}.attrs_json")
        return attrs
    if attrs is None:
        return {}
    if type(attrs) is not dict:
        fail(400, "attrs must be an object", f"{path}.attrs")
    return attrs


def check_attrs(attrs, limits, path):
    """Serialized size, nesting depth and NUL, on the compact serialized form
    the server stores (a string inside can't be longer than the whole)."""
    if not attrs:
        return
    if has_big_int(attrs):
        fail(400, "attrs cannot be stored as JSON: Integer exceeds 64-bit range", path)
    try:
        text = json.dumps(attrs, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        fail(400, f"attrs cannot be stored as JSON: {exc}", path)
    except (TypeError, RecursionError) as exc:
        fail(400, f"attrs cannot be stored as JSON: {exc}", path)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.attrs_bytes:
        fail(
            413,
            f"attrs are {size} bytes serialized, over the limit of {limits.attrs_bytes}",
            path,
        )
    if text.count("{") + text.count("[") > limits.attrs_depth and (
        depth(attrs) > limits.attrs_depth
    ):
        fail(413, f"attrs are nested deeper than {limits.attrs_depth} levels", path)
    if "\\u0000" in text and has_nul(attrs):
        fail(400, "attrs contain a NUL character", path)


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _int_like_server(text):
    # The server's parser turns integers beyond 64 bits into floats.
    value = int(text)
    return value if INT64_MIN <= value <= 2**64 - 1 else float(text)


def loads_like_server(text):
    """json.loads with the server parser's edges: no NaN/Infinity literals,
    integers beyond 64 bits read as floats."""
    return json.loads(text, parse_constant=_no_constant, parse_int=_int_like_server)


def depth(value):
    """Nesting depth; the attrs object itself is level 1."""
    if type(value) is dict:
        return 1 + max(map(depth, value.values()), default=0)
    if type(value) is list:
        return 1 + max(map(depth, value), default=0)
    return 0


def has_nul(value):
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if type(value) is list:
        return any(map(has_nul, value))
    return False


def has_big_int(value):
    if type(value) is int:
        return not INT64_MIN <= value <= 2**64 - 1
    if type(value) is dict:
        return any(map(has_big_int, value.values()))
    if type(value) is list:
        return any(map(has_big_int, value))
    return False


# -- scalars --------------------------------------------------------------------------


def check_text(text, path, limits):
    if len(text) * 4 > limits.string_bytes and (
        len(text.encode("utf-8", "surrogatepass")) > limits.string_bytes
    ):
        fail(413, f"text is over the limit of {limits.string_bytes} bytes", path)
    if "\x00" in text:
        fail(400, "text contains a NUL character", path)


def bad_id(value, path):
    if type(value) is not str or not value:
        fail(400, "a non-empty string id is required", path)
    if len(value) > ID_MAX_CHARS:
        fail(413, f"an id is limited to {ID_MAX_CHARS} characters", path)
    fail(400, "an id cannot contain a NUL character", path)


def req_int(value, path):
    if value is None:
        fail(400, "an integer is required", path)
    return opt_int(value, path)


def opt_int(value, path):
    if value is None:
        return None
    if type(value) is not int:
        fail(400, f"must be an integer, not {show(value)}", path)
    if not INT64_MIN <= value <= INT64_MAX:
        fail(400, "must fit in a signed 64-bit integer", path)
    return value


def opt_list(doc, key, prefix):
    value = doc.get(key)
    if value is None:
        return []
    if type(value) is not list:
        fail(400, f"{key} must be a list", prefix + key)
    return value


def clip(text, n=120):
    return text if len(text) <= n else text[:n] + "…"


def show(value):
    """A short JSON rendering of a value for messages, like the server's."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return clip(text, 60)
