"""Check a decoded snapshot body against SNAPSHOT_FORMAT.md and turn it into
compact rows ready for storage.

Everything except the edges is checked up front by `parse_document`. Edges
are checked by `Parsed.iter_edges()` while they stream into the database
(see store.py): that keeps 200,000 edge rows out of memory and lets the
database insert while Python still validates. A bad edge raises inside the
ingest transaction, so the rollback still leaves nothing behind.

Every error names the offending field (`nodes[3].id`); limit violations are
413, anything else 400.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from msgspec import Raw

from snapshots.ingest.errors import IngestError
from snapshots.states import state_class

PROC_KEY_RE = re.compile(r"[a-z0-9._-]{1,64}")
KIND_RE = re.compile(r"[a-z0-9_-]{1,64}")
NODE_FIELDS = frozenset({"id", "kind", "label", "attrs", "attrs_json"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ID_MAX_CHARS = 1024  # Node.node_id / Edge.src / Edge.dst columns
STATE_MAX_CHARS = 256  # Node.state column; attrs keep the full text
PROCESS_MAX_CHARS = 128
EMPTY_ATTRS = "{}"

LOCAL = "local"
UNRESOLVED = "unresolved"


class LazyDocument(dict):
    """A document from body.decode_json: its big lists are undecoded slices
    of the body. parse_document takes its contents over (leaving it empty),
    so that the body can be freed as soon as ingest is done with it."""


@dataclass
class Limits:
    body_bytes: int
    nodes: int
    edges: int
    string_bytes: int
    attrs_bytes: int
    attrs_depth: int

    @classmethod
    def from_settings(cls):
        return cls(
            body_bytes=settings.PEEPSWEB_MAX_BODY_BYTES,
            nodes=settings.PEEPSWEB_MAX_NODES,
            edges=settings.PEEPSWEB_MAX_EDGES,
            string_bytes=settings.PEEPSWEB_MAX_STRING_BYTES,
            attrs_bytes=settings.PEEPSWEB_MAX_ATTRS_BYTES,
            attrs_depth=settings.PEEPSWEB_MAX_ATTRS_DEPTH,
        )


@dataclass
class Parsed:
    """A validated process snapshot (edges still to be iterated)."""

    process: str
    pid: int | None
    proc_key: str
    captured_at_ns: int | None
    snapshot_id: int | None
    # (node_id, kind, label, attrs_json, task_id, state, state_class, spawned_at_ns)
    nodes: list = field(default_factory=list)
    index: dict = field(default_factory=dict)  # node id -> position in nodes
    frames: list = field(default_factory=list)  # (frame_key, text)
    # (node_id, task_id, at_ns, duration_us, frame_ids_json)
    traces: list = field(default_factory=list)
    wakes: list = field(default_factory=list)  # (at_ns, waker, woken, target_worker)
    pending_us: dict = field(default_factory=dict)  # node position -> longest trace
    last_waker: dict = field(default_factory=dict)  # node position -> (at_ns, waker id)
    needs_count: list = field(default_factory=list)
    needed_by_count: list = field(default_factory=list)
    edge_count: int = 0
    unresolved_count: int = 0
    raw_edges: list = field(default_factory=list, repr=False)
    prefix: str = ""  # "graph." for the ProcessDump shape, so paths name real fields
    owns_input: bool = False  # raw_edges came from a LazyDocument: ours to empty
    limits: Limits | None = field(default=None, repr=False)

    def node_rows(self):
        """Node tuples with the derived columns that need the whole body:
        (node_id, kind, label, attrs, task_id, state, state_class, spawned_at_ns,
        pending_us, last_waker, needs_count, needed_by_count)."""
        pending = self.pending_us
        wakers = self.last_waker
        needs = self.needs_count
        needed_by = self.needed_by_count
        for i, row in enumerate(self.nodes):
            waker = wakers.get(i)
            yield (
                *row,
                pending.get(i),
                waker[1] if waker else "",
                needs[i],
                needed_by[i],
            )

    def release(self):
        """Drop everything big once it is written (the rows, the raw edges)."""
        self.nodes = self.frames = self.traces = self.wakes = self.raw_edges = []
        self.index = self.pending_us = self.last_waker = {}
        self.needs_count = self.needed_by_count = []

    def iter_edges(self):
        """Validate and yield edges, collapsing duplicate (src, dst) pairs:
        (LOCAL, (src, dst, attrs)) or
        (UNRESOLVED, (src, dst, attrs, missing_side, referenced_proc_key, reason)).

        Fills needs_count/needed_by_count, edge_count and unresolved_count."""
        index = self.index
        needs = self.needs_count
        needed_by = self.needed_by_count
        n = len(self.nodes) + 1
        seen = set()
        seen_unresolved = set()
        where = self.prefix + "edges"
        limits = self.limits
        raw_edges = self.raw_edges
        release = self.owns_input
        # Paths (f-strings) are only built on the way to an error: at
        # 200,000 edges every avoidable allocation shows.
        for i, edge in enumerate(raw_edges):
            if release:
                raw_edges[i] = None  # the dedup set grows while this shrinks
            if type(edge) is Raw:
                edge = load_element(edge, where, i)
            # Fast path first: most edges join two known nodes, whose ids were
            # checked with the nodes; anything odd goes to _edge_error.
            try:
                src = edge["src_id"]
                dst = edge["dst_id"]
                si = index.get(src)
                di = index.get(dst)
                if edge["kind"] != "needs":
                    raise KeyError
            except (KeyError, TypeError):
                _edge_error(edge, f"{where}[{i}]")
            if si is None or di is None:
                # Ids before attrs, in the order the client validator checks.
                _check_id(src, f"{where}[{i}].src_id")
                _check_id(dst, f"{where}[{i}].dst_id")
            attrs = edge.get("attrs")
            if (attrs is None or attrs == {}) and "attrs_json" not in edge:
                attrs = EMPTY_ATTRS
            else:
                attrs = _attrs_text(edge, limits, f"{where}[{i}]")
            if si is not None and di is not None:
                key = si * n + di
                if key in seen:
                    continue
                seen.add(key)
                needs[si] += 1
                needed_by[di] += 1
                self.edge_count += 1
                yield LOCAL, (src, dst, attrs)
                continue
            # At least one endpoint is not among this capture's nodes: fine if
            # another process owns it (a cross-process edge), a 400 if we do.
            if (src, dst) in seen_unresolved:
                continue
            seen_unresolved.add((src, dst))
            owners = []
            if si is None:
                owners.append(("src", src, self._foreign_owner(src, f"{where}[{i}].src_id")))
            if di is None:
                owners.append(("dst", dst, self._foreign_owner(dst, f"{where}[{i}].dst_id")))
            missing_side = owners[0][0] if len(owners) == 1 else "both"
            referenced = owners[0][2]
            reason = "; ".join(
                f"{side} {node_id} belongs to process {owner}, not in this capture"
                for side, node_id, owner in owners
            )
            if si is not None:
                needs[si] += 1
            if di is not None:
                needed_by[di] += 1
            self.unresolved_count += 1
            yield UNRESOLVED, (src, dst, attrs, missing_side, referenced, reason)

    def _foreign_owner(self, node_id, path):
        owner = proc_key_of(node_id)
        if owner is None:
            raise IngestError(
                400,
                f"{_clip(node_id)} is not among nodes and is not of the form "
                "{kind}:{proc_key}:{rest}, so its owning process is unknown",
                path,
            )
        if owner == self.proc_key:
            raise IngestError(
                400,
                f"{_clip(node_id)} belongs to this process ({owner}) but is not among "
                "its nodes; a process must emit every node of its own that it references",
                path,
            )
        return owner


def _edge_error(edge, path):
    """Raise the precise error for an edge that failed the fast path."""
    if type(edge) is not dict:
        raise IngestError(400, "an edge must be an object", path)
    _check_id(edge.get("src_id"), f"{path}.src_id")
    _check_id(edge.get("dst_id"), f"{path}.dst_id")
    raise IngestError(
        400, f'edge kind must be "needs", not {_show(edge.get("kind"))}', f"{path}.kind"
    )


def _check_id(value, path):
    if not (type(value) is str and 0 < len(value) <= ID_MAX_CHARS and "\x00" not in value):
        _bad_id(value, path)


def load_element(raw, where, i):
    """Element `where[i]` of a big list, kept undecoded by body.decode_json
    until now. The path is only built for the error (hot on 200,000 edges)."""
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, f"not valid JSON: {exc}", f"{where}[{i}]") from None


def proc_key_of(node_id):
    """The owning proc_key of `{kind}:{proc_key}:{rest}`, or None."""
    parts = node_id.split(":", 2)
    if len(parts) == 3 and parts[0] and parts[2] and PROC_KEY_RE.fullmatch(parts[1]):
        return parts[1]
    return None


def parse_document(doc, limits=None):
    """Validate everything but the edges; raise IngestError on the first problem."""
    limits = limits or Limits.from_settings()
    owns_input = type(doc) is LazyDocument
    if owns_input:
        doc, taken = dict(doc), doc
        taken.clear()
    if type(doc) is not dict:
        raise IngestError(400, "the body must be a JSON object", "")
    prefix = ""
    if "graph" in doc and "process_name" in doc and "nodes" not in doc:
        doc, prefix = _from_process_dump(doc), "graph."

    process = doc.get("process")
    if type(process) is not str or not 0 < len(process) <= PROCESS_MAX_CHARS:
        raise IngestError(400, "process is required: a string of 1 to 128 characters", "process")
    _check_text(process, "process", limits)
    pid = _opt_int(doc.get("pid"), "pid")
    proc_key = doc.get("proc_key")
    if type(proc_key) is not str or not PROC_KEY_RE.fullmatch(proc_key):
        raise IngestError(
            400,
            "proc_key is required: 1 to 64 characters of [a-z0-9._-] (no ':'), "
            "e.g. {process_slug}-{pid}",
            "proc_key",
        )
    captured = _opt_int(doc.get("captured_at_ns"), "captured_at_ns")
    if captured is not None and captured < 0:
        raise IngestError(
            400, "captured_at_ns must be a Unix time in nanoseconds", "captured_at_ns"
        )
    snapshot_id = _opt_int(doc.get("snapshot_id"), "snapshot_id")
    if snapshot_id is not None and snapshot_id <= 0:
        raise IngestError(400, "snapshot_id must be a positive integer or null", "snapshot_id")

    nodes = _opt_list(doc, "nodes", prefix)
    edges = _opt_list(doc, "edges", prefix)
    if len(nodes) > limits.nodes:
        raise IngestError(
            413, f"{len(nodes)} nodes is over the limit of {limits.nodes}", prefix + "nodes"
        )
    if len(edges) > limits.edges:
        raise IngestError(
            413, f"{len(edges)} edges is over the limit of {limits.edges}", prefix + "edges"
        )

    parsed = Parsed(
        process=process,
        pid=pid,
        proc_key=proc_key,
        captured_at_ns=captured,
        snapshot_id=snapshot_id,
        raw_edges=edges,
        prefix=prefix,
        owns_input=owns_input,
        limits=limits,
    )
    _parse_nodes(parsed, nodes, limits)
    frame_keys = _parse_frames(parsed, doc.get("frames"), limits)
    _parse_traces(parsed, _opt_list(doc, "pending_traces", ""), frame_keys)
    _parse_wakes(parsed, _opt_list(doc, "wake_events", ""))
    return parsed


def _parse_nodes(parsed, nodes, limits):
    proc_key = parsed.proc_key
    index = parsed.index
    rows = parsed.nodes
    append = rows.append
    known_kinds = {}  # kind -> one shared str object (also: already checked)
    states = {}  # raw state -> one shared str object
    where = parsed.prefix + "nodes"
    dumps = orjson.dumps
    # Below this many characters a string cannot exceed the byte limit.
    short_text = limits.string_bytes // 4
    # Paths (f-strings) are only built on the way to an error.
    for i, node in enumerate(nodes):
        if type(node) is Raw:
            node = load_element(node, where, i)
        try:
            node_id = node["id"]
            kind = node["kind"]
            parts = node_id.split(":", 2)
            if (
                len(node_id) > ID_MAX_CHARS
                or "\x00" in node_id
                or len(parts) != 3
                or parts[1] != proc_key
                or not parts[0]
                or not parts[2]
                or node_id in index
                or (kind not in known_kinds and not _good_kind(kind, known_kinds))
            ):
                raise KeyError
            kind = known_kinds[kind]
        except (KeyError, TypeError, AttributeError):
            _node_error(node, f"{where}[{i}]", proc_key, index, where)

        attrs = node.get("attrs")
        if type(attrs) is not dict or "attrs_json" in node:
            attrs = _attrs_object(node, f"{where}[{i}]")
        if not node.keys() <= NODE_FIELDS:
            # Unknown node fields are kept (contract), without overriding attrs.
            attrs = dict(attrs)
            for key in node.keys() - NODE_FIELDS:
                attrs.setdefault(key, node[key])
        if attrs:
            try:
                attrs_text = dumps(attrs)
            except (orjson.JSONEncodeError, TypeError) as exc:
                raise IngestError(
                    400, f"attrs cannot be stored as JSON: {exc}", f"{where}[{i}].attrs"
                ) from None
            if (
                len(attrs_text) > limits.attrs_bytes
                or attrs_text.count(b"{") + attrs_text.count(b"[") > limits.attrs_depth
                or b"\\u0000" in attrs_text
            ):
                _check_attrs(attrs, attrs_text, limits, f"{where}[{i}].attrs")
            attrs_text = attrs_text.decode()
        else:
            attrs_text = EMPTY_ATTRS

        label = node.get("label")
        if type(label) is str:
            if len(label) > short_text or "\x00" in label:
                _check_text(label, f"{where}[{i}].label", limits)
        elif label is None:
            label = _fallback_label(attrs)
        else:
            raise IngestError(400, "label must be a string", f"{where}[{i}].label")

        if kind == "task":
            task_id = attrs.get("task_id")
            if type(task_id) is not int or not INT64_MIN <= task_id <= INT64_MAX:
                task_id = _int64_or_none(int(parts[2])) if parts[2].isdigit() else None
            state = attrs.get("state")
            if type(state) is str:
                state = state[:STATE_MAX_CHARS]
                state = states.setdefault(state, state)
            else:
                state = ""
            spawned = attrs.get("spawned_at_ns")
            if type(spawned) is not int or not INT64_MIN <= spawned <= INT64_MAX:
                spawned = None
            index[node_id] = len(rows)
            append((node_id, kind, label, attrs_text, task_id, state, state_class(state), spawned))
        else:
            index[node_id] = len(rows)
            append((node_id, kind, label, attrs_text, None, "", "", None))
    parsed.needs_count = [0] * len(rows)
    parsed.needed_by_count = [0] * len(rows)


def _good_kind(kind, known_kinds):
    if type(kind) is str and KIND_RE.fullmatch(kind):
        known_kinds[kind] = kind
        return True
    return False


def _node_error(node, path, proc_key, index, where):
    """Raise the precise error for a node that failed the fast path."""
    if type(node) is not dict:
        raise IngestError(400, "a node must be an object", path)
    node_id = node.get("id")
    _check_id(node_id, f"{path}.id")
    parts = node_id.split(":", 2)
    if len(parts) != 3 or parts[1] != proc_key or not parts[0] or not parts[2]:
        raise IngestError(
            400,
            f"node id {_clip(node_id)} must have the form {{kind}}:{proc_key}:{{rest}} "
            "(its second segment is the owning proc_key)",
            f"{path}.id",
        )
    if node_id in index:
        raise IngestError(
            400,
            f"duplicate node id {_clip(node_id)} (first at {where}[{index[node_id]}])",
            f"{path}.id",
        )
    raise IngestError(400, "kind is required: 1 to 64 characters of [a-z0-9_-]", f"{path}.kind")


def _fallback_label(attrs):
    # A node without a label still needs a human name in lists and graphs.
    for key in ("name", "label", "method"):
        value = attrs.get(key)
        if type(value) is str:
            return value[:256]
    return ""


def _parse_frames(parsed, frames, limits):
    if frames is None:
        return set()
    if type(frames) is not dict:
        raise IngestError(400, "frames must be an object of frame id -> text", "frames")
    keys = set()
    for raw_key, text in frames.items():
        path = f"frames[{_show(raw_key)}]"
        try:
            key = int(raw_key)
        except ValueError:
            raise IngestError(400, "a frame id must be an integer", path) from None
        if not INT64_MIN <= key <= INT64_MAX:
            raise IngestError(400, "a frame id must fit in 64 bits", path)
        if key in keys:
            raise IngestError(400, f"frame id {key} is given twice", path)
        if type(text) is not str:
            raise IngestError(400, "a frame's text must be a string", path)
        _check_text(text, path, limits)
        keys.add(key)
        parsed.frames.append((key, text))
    return keys


def _parse_traces(parsed, traces, frame_keys):
    for i, trace in enumerate(traces):
        path = f"pending_traces[{i}]"
        if type(trace) is Raw:
            trace = load_element(trace, "pending_traces", i)
        if type(trace) is not dict:
            raise IngestError(400, "a pending trace must be an object", path)
        task_id = _req_int(trace.get("task_id"), f"{path}.task_id")
        at_ns = _req_int(trace.get("at_ns"), f"{path}.at_ns")
        duration = _opt_int(trace.get("duration_us"), f"{path}.duration_us")
        frame_ids = trace.get("frame_ids")
        if frame_ids is None:
            frame_ids = []
        if type(frame_ids) is not list:
            raise IngestError(400, "frame_ids must be a list of frame ids", f"{path}.frame_ids")
        for j, frame_id in enumerate(frame_ids):
            if type(frame_id) is not int or frame_id not in frame_keys:
                raise IngestError(
                    400,
                    f"frame id {_show(frame_id)} is not in frames",
                    f"{path}.frame_ids[{j}]",
                )
        node_id = _task_node_id(parsed, task_id)
        parsed.traces.append((node_id, task_id, at_ns, duration, orjson.dumps(frame_ids).decode()))
        pos = parsed.index.get(node_id)
        if pos is not None and duration is not None:
            if duration > parsed.pending_us.get(pos, -1):
                parsed.pending_us[pos] = duration


def _parse_wakes(parsed, wakes):
    for i, wake in enumerate(wakes):
        path = f"wake_events[{i}]"
        if type(wake) is Raw:
            wake = load_element(wake, "wake_events", i)
        if type(wake) is not dict:
            raise IngestError(400, "a wake event must be an object", path)
        at_ns = _req_int(wake.get("at_ns"), f"{path}.at_ns")
        woken_id = _req_int(wake.get("woken_task_id"), f"{path}.woken_task_id")
        waker_id = _opt_int(wake.get("waker_task_id"), f"{path}.waker_task_id")
        worker = _opt_int(wake.get("target_worker"), f"{path}.target_worker")
        woken = _task_node_id(parsed, woken_id)
        waker = "" if waker_id is None else _task_node_id(parsed, waker_id)
        parsed.wakes.append((at_ns, waker, woken, worker))
        pos = parsed.index.get(woken)
        if pos is not None:
            newest = parsed.last_waker.get(pos)
            if newest is None or at_ns >= newest[0]:
                parsed.last_waker[pos] = (at_ns, waker)


def _task_node_id(parsed, task_id):
    """Process-local task id -> node id. Contract: `task:{proc_key}:{id}`."""
    return f"task:{parsed.proc_key}:{task_id}"


def _from_process_dump(dump):
    """The peeps ProcessDump shape -> the contract's shape (unused fields dropped)."""
    graph = dump.get("graph")
    if type(graph) is not dict:
        raise IngestError(400, "graph must be an object with nodes and edges", "graph")
    name = dump.get("process_name")
    if type(name) is not str or not name:
        raise IngestError(400, "process_name must be a non-empty string", "process_name")
    pid = _opt_int(dump.get("pid"), "pid")
    slug = re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-") or "process"
    suffix = "" if pid is None else f"-{pid}"
    captured = dump.get("captured_at_ns")
    if captured is None:
        captured = _iso_to_ns(dump.get("timestamp"))
    return {
        "process": name[:PROCESS_MAX_CHARS],
        "pid": pid,
        "proc_key": slug[: 64 - len(suffix)] + suffix,
        "captured_at_ns": captured,
        "snapshot_id": dump.get("snapshot_id"),
        "nodes": graph.get("nodes"),
        "edges": graph.get("edges"),
    }


def _iso_to_ns(value):
    if type(value) is not str:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


# -- attrs ------------------------------------------------------------------


def _attrs_object(item, path):
    """`attrs` (an object) or `attrs_json` (a string holding one) -> dict."""
    attrs = item.get("attrs")
    attrs_json = item.get("attrs_json")
    if attrs is not None and attrs_json is not None:
        raise IngestError(400, "give attrs or attrs_json, not both", f"{path}.attrs_json")
    if attrs_json is not None:
        if type(attrs_json) is not str:
            raise IngestError(
                400, "attrs_json must be a string holding a JSON object", f"{path}.attrs_json"
            )
        try:
            attrs = orjson.loads(attrs_json)
        except orjson.JSONDecodeError as exc:
            raise IngestError(
                400, f"attrs_json is not valid JSON: {exc}", f"{path}.attrs_json"
            ) from None
        if type(attrs) is not dict:
            raise IngestError(400, "attrs_json must hold a JSON object", f"{path}.attrs_json")
        return attrs
    if attrs is None:
        return {}
    if type(attrs) is not dict:
        raise IngestError(400, "attrs must be an object", f"{path}.attrs")
    return attrs


def _attrs_text(item, limits, path):
    attrs = _attrs_object(item, path)
    if not attrs:
        return EMPTY_ATTRS
    return _dump_attrs(attrs, limits, f"{path}.attrs")


def _dump_attrs(attrs, limits, path):
    """Serialize attrs once (the text goes straight into the attrs column) and
    check the limits on the serialized form: a string inside can never be
    longer than the whole, so the size check covers every attr value."""
    if not attrs:
        return EMPTY_ATTRS
    try:
        text = orjson.dumps(attrs)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise IngestError(400, f"attrs cannot be stored as JSON: {exc}", path) from None
    _check_attrs(attrs, text, limits, path)
    return text.decode()


def _check_attrs(attrs, text, limits, path):
    """The exact checks behind the cheap ones in _parse_nodes / _dump_attrs."""
    if len(text) > limits.attrs_bytes:
        raise IngestError(
            413,
            f"attrs are {len(text)} bytes serialized, over the limit of {limits.attrs_bytes}",
            path,
        )
    # Nesting can't be deeper than the number of brackets: walk only then.
    if text.count(b"{") + text.count(b"[") > limits.attrs_depth and (
        _depth(attrs) > limits.attrs_depth
    ):
        raise IngestError(413, f"attrs are nested deeper than {limits.attrs_depth} levels", path)
    # PostgreSQL can store neither NUL in text nor \u0000 in jsonb.
    if b"\\u0000" in text and _has_nul(attrs):
        raise IngestError(400, "attrs contain a NUL character", path)


def _depth(value):
    """Nesting depth; the attrs object itself is level 1."""
    if type(value) is dict:
        return 1 + max(map(_depth, value.values()), default=0)
    if type(value) is list:
        return 1 + max(map(_depth, value), default=0)
    return 0


def _has_nul(value):
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if type(value) is list:
        return any(map(_has_nul, value))
    return False


# -- scalars ----------------------------------------------------------------


def _check_text(text, path, limits):
    # Bytes are what the limit counts; encode only when it could matter.
    if len(text) * 4 > limits.string_bytes and len(text.encode()) > limits.string_bytes:
        raise IngestError(413, f"text is over the limit of {limits.string_bytes} bytes", path)
    if "\x00" in text:
        raise IngestError(400, "text contains a NUL character", path)


def _bad_id(value, path):
    if type(value) is not str or not value:
        raise IngestError(400, "a non-empty string id is required", path)
    if len(value) > ID_MAX_CHARS:
        raise IngestError(413, f"an id is limited to {ID_MAX_CHARS} characters", path)
    raise IngestError(400, "an id cannot contain a NUL character", path)


def _int64_or_none(value):
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def _req_int(value, path):
    if value is None:
        raise IngestError(400, "an integer is required", path)
    return _opt_int(value, path)


def _opt_int(value, path):
    if value is None:
        return None
    if type(value) is not int:
        raise IngestError(400, f"must be an integer, not {_show(value)}", path)
    if not INT64_MIN <= value <= INT64_MAX:
        raise IngestError(400, "must fit in a signed 64-bit integer", path)
    return value


def _opt_list(doc, key, prefix):
    value = doc.get(key)
    if value is None:
        return []
    if type(value) is not list:
        raise IngestError(400, f"{key} must be a list", prefix + key)
    return value


def _clip(text, n=120):
    return text if len(text) <= n else text[:n] + "…"


def _show(value):
    try:
        text = orjson.dumps(value, default=repr).decode()
    except orjson.JSONEncodeError:
        text = repr(value)
    return _clip(text, 60)
