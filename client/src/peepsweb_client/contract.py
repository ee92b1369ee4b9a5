"""The validation rules of SNAPSHOT_FORMAT.md v1, in the standard library only,
for the server and the client alike.

The server (snapshots/ingest/validate.py) applies them while it streams a
body into the database; the client (client/src/peepsweb_client/validate.py) applies them
to an in-memory document before sending it. One set of rules means both
refuse the same bodies with the same status, message and path.

What differs between the two is passed in:

- a codec (see `Rules`): the JSON functions behind `attrs_json`, the stored
  attrs text and the values quoted in messages (orjson on the server, `json`
  on the client), and how to decode a list element the server's body decoder
  left undecoded;
- what to keep: each section is checked by a generator that yields every
  valid element's fields, and the caller builds its own rows from them.

The order of the checks is part of the contract, since the first problem is
the one reported: the header, nodes, frames, pending traces, wake events,
then edges. Paths (f-strings) are only built on the way to an error in the
loops over nodes and edges: at 200,000 edges every avoidable allocation shows.

This module must stay importable without Django or any other package.
"""

import re
from dataclasses import dataclass
from datetime import datetime

PROC_KEY_RE = re.compile(r"[a-z0-9._-]{1,64}")
KIND_RE = re.compile(r"[a-z0-9_-]{1,64}")
# What asyncio names a task the program did not name ("Task-7"): it says
# nothing about the task, so the Python client labels such a task with its
# coroutine, and the dashboard names it "label (Task-7)".
DEFAULT_TASK_NAME = re.compile(r"Task-\d+")
NODE_FIELDS = frozenset({"id", "kind", "label", "attrs", "attrs_json"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ID_MAX_CHARS = 1024  # Node.node_id / Edge.src / Edge.dst columns
PROCESS_MAX_CHARS = 128
EMPTY_ATTRS = "{}"
# A frame's text (SNAPSHOT_FORMAT.md, "Frames"): lines "function", FRAME_AT +
# "file:line" and, since v1.1, optionally FRAME_SOURCE + the stripped source
# line (at most FRAME_SOURCE_MAX_CHARS). Only displays read these parts: no
# frame is refused for its shape, and old senders' two-line frames stay valid.
FRAME_AT = "    at "
FRAME_SOURCE = "    | "
FRAME_SOURCE_MAX_CHARS = 200


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
    """A body the contract refuses: `status` is the HTTP status the server
    answers with (400, or 413 for a limit), `path` names the offending field
    (`nodes[3].id`, "" for the whole body). The server's IngestError is a
    subclass."""

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
        return f"{type(self).__name__}({self.status}, {self.message!r}, {self.path!r})"


def fail(status, message, path=""):
    raise ValidationError(status, message, path)


@dataclass
class Header:
    """The top-level fields of a body, checked: what both sides' results
    (the server's Parsed, the client's CheckedDocument) start from."""

    process: str
    pid: int | None
    proc_key: str
    captured_at_ns: int | None
    snapshot_id: int | None
    prefix: str = ""  # "graph." for the ProcessDump shape, so paths name real fields


class Rules:
    """The contract's checks under some limits, with a codec, an object with:

    - `loads(text)`: an `attrs_json` string -> a value; ValueError (the
      parser's own words) when it is not JSON;
    - `dumps(value)`: attrs -> compact UTF-8 JSON bytes, as stored;
      TypeError/ValueError (its words) when they cannot be stored;
    - `render(value)`: a value -> JSON text, for quoting it in a message;
    - `lazy`: the type of a list element left undecoded (None: none is), and
      `load_element(raw, where, i)` to decode one.
    """

    def __init__(self, limits, codec):
        self.limits = limits
        self.codec = codec

    def check(self, doc, start):
        """Check everything but the edges, in the contract's order.

        `start(**header_fields)` makes the caller's result (a Header
        subclass), which is then handed each section as it is checked, as a
        generator to drain (frames: a dict): `add_nodes`, `add_frames`,
        `add_traces`, `add_wakes`; its `index` (node id -> position) is
        filled by the nodes. Returns that result and the edges list, left for
        `edges()`."""
        head, doc, nodes, edges = self.header(doc)
        out = start(**vars(head))
        out.add_nodes(self.nodes(nodes, out.proc_key, out.prefix + "nodes", out.index))
        frames = self.frames(doc.get("frames"))
        out.add_frames(frames)
        out.add_traces(self.traces(self.opt_list(doc, "pending_traces", ""), out.proc_key, frames))
        out.add_wakes(self.wakes(self.opt_list(doc, "wake_events", ""), out.proc_key))
        return out, edges

    # -- the top level ---------------------------------------------------------

    def header(self, doc):
        """-> (Header, the body in the contract's shape (a ProcessDump
        converted), its nodes list, its edges list)."""
        if type(doc) is not dict:
            fail(400, "the body must be a JSON object", "")
        prefix = ""
        if "graph" in doc and "process_name" in doc and "nodes" not in doc:
            doc, prefix = self.from_process_dump(doc), "graph."

        process = doc.get("process")
        if type(process) is not str or not 0 < len(process) <= PROCESS_MAX_CHARS:
            fail(400, "process is required: a string of 1 to 128 characters", "process")
        self.check_text(process, "process")
        pid = self.opt_int(doc.get("pid"), "pid")
        proc_key = doc.get("proc_key")
        if type(proc_key) is not str or not PROC_KEY_RE.fullmatch(proc_key):
            fail(
                400,
                "proc_key is required: 1 to 64 characters of [a-z0-9._-] (no ':'), "
                "e.g. {process_slug}-{pid}",
                "proc_key",
            )
        captured = self.opt_int(doc.get("captured_at_ns"), "captured_at_ns")
        if captured is not None and captured < 0:
            fail(400, "captured_at_ns must be a Unix time in nanoseconds", "captured_at_ns")
        snapshot_id = self.opt_int(doc.get("snapshot_id"), "snapshot_id")
        if snapshot_id is not None and snapshot_id <= 0:
            fail(400, "snapshot_id must be a positive integer or null", "snapshot_id")

        limits = self.limits
        nodes = self.opt_list(doc, "nodes", prefix)
        edges = self.opt_list(doc, "edges", prefix)
        if len(nodes) > limits.nodes:
            fail(413, f"{len(nodes)} nodes is over the limit of {limits.nodes}", prefix + "nodes")
        if len(edges) > limits.edges:
            fail(413, f"{len(edges)} edges is over the limit of {limits.edges}", prefix + "edges")
        head = Header(process, pid, proc_key, captured, snapshot_id, prefix)
        return head, doc, nodes, edges

    def from_process_dump(self, dump):
        """The peeps ProcessDump shape -> the contract's shape (unused fields dropped)."""
        graph = dump.get("graph")
        if type(graph) is not dict:
            fail(400, "graph must be an object with nodes and edges", "graph")
        name = dump.get("process_name")
        if type(name) is not str or not name:
            fail(400, "process_name must be a non-empty string", "process_name")
        pid = self.opt_int(dump.get("pid"), "pid")
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

    # -- nodes -----------------------------------------------------------------

    def nodes(self, items, proc_key, where, index):
        """Check each node; yield (node_id, kind, label, attrs, attrs_text)
        and record its position in `index` (node id -> position)."""
        lazy = self.codec.lazy
        load = self.codec.load_element
        dumps = self.codec.dumps
        limits = self.limits
        known_kinds = {}  # kind -> one shared str object (also: already checked)
        # Below this many characters a string cannot exceed the byte limit.
        short_text = limits.string_bytes // 4
        for i, node in enumerate(items):
            if type(node) is lazy:
                node = load(node, where, i)
            # Fast path first; anything odd goes to _node_error for its message.
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
                attrs = self.attrs_object(node, f"{where}[{i}]")
            if not node.keys() <= NODE_FIELDS:
                # Unknown node fields are kept (contract), without overriding attrs.
                attrs = dict(attrs)
                for key in node.keys() - NODE_FIELDS:
                    attrs.setdefault(key, node[key])
            if attrs:
                try:
                    text = dumps(attrs)
                except (TypeError, ValueError, RecursionError) as exc:
                    fail(400, f"attrs cannot be stored as JSON: {exc}", f"{where}[{i}].attrs")
                if (
                    len(text) > limits.attrs_bytes
                    or text.count(b"{") + text.count(b"[") > limits.attrs_depth
                    or b"\\u0000" in text
                ):
                    self.check_attrs(attrs, text, f"{where}[{i}].attrs")
                text = text.decode()
            else:
                text = EMPTY_ATTRS

            label = node.get("label")
            if type(label) is str:
                if len(label) > short_text or "\x00" in label:
                    self.check_text(label, f"{where}[{i}].label")
            elif label is None:
                label = fallback_label(attrs)
            else:
                fail(400, "label must be a string", f"{where}[{i}].label")
            index[node_id] = i
            yield node_id, kind, label, attrs, text

    # -- frames, traces, wakes -------------------------------------------------

    def frames(self, frames):
        """The frames object -> {frame id: text}."""
        if frames is None:
            return {}
        if type(frames) is not dict:
            fail(400, "frames must be an object of frame id -> text", "frames")
        out = {}
        for raw_key, text in frames.items():
            path = f"frames[{self.show(raw_key)}]"
            try:
                key = int(raw_key)
            except ValueError:
                fail(400, "a frame id must be an integer", path)
            if not INT64_MIN <= key <= INT64_MAX:
                fail(400, "a frame id must fit in 64 bits", path)
            if key in out:
                fail(400, f"frame id {key} is given twice", path)
            if type(text) is not str:
                fail(400, "a frame's text must be a string", path)
            self.check_text(text, path)
            out[key] = text
        return out

    def objects(self, items, where, what):
        """(path, element) for each element of the list `where`, each of
        which must be an object."""
        lazy = self.codec.lazy
        for i, item in enumerate(items):
            path = f"{where}[{i}]"
            if type(item) is lazy:
                item = self.codec.load_element(item, where, i)
            if type(item) is not dict:
                fail(400, f"a {what} must be an object", path)
            yield path, item

    def traces(self, items, proc_key, frames):
        """Check each pending trace; yield (node_id, task_id, since_ns,
        frame_ids). since_ns is when the wait began: the trace's own, else
        at_ns - duration_us, else None. A duration grows with every capture
        of the same wait, its start does not (the server shares unchanged
        rows between captures)."""
        for path, trace in self.objects(items, "pending_traces", "pending trace"):
            task_id = self.req_int(trace.get("task_id"), f"{path}.task_id")
            at_ns = self.req_int(trace.get("at_ns"), f"{path}.at_ns")
            duration = self.opt_int(trace.get("duration_us"), f"{path}.duration_us")
            since = self.opt_int(trace.get("since_ns"), f"{path}.since_ns")
            if since is None and duration is not None:
                since = at_ns - duration * 1000
                if not INT64_MIN <= since <= INT64_MAX:
                    fail(400, "duration_us reaches before the year 1678", f"{path}.duration_us")
            frame_ids = trace.get("frame_ids")
            if frame_ids is None:
                frame_ids = []
            if type(frame_ids) is not list:
                fail(400, "frame_ids must be a list of frame ids", f"{path}.frame_ids")
            for j, frame_id in enumerate(frame_ids):
                if type(frame_id) is not int or frame_id not in frames:
                    fail(
                        400,
                        f"frame id {self.show(frame_id)} is not in frames",
                        f"{path}.frame_ids[{j}]",
                    )
            yield task_node_id(proc_key, task_id), task_id, since, frame_ids

    def wakes(self, items, proc_key):
        """Check each wake event; yield (at_ns, waker, woken, target_worker)
        with task node ids, the waker "" when it is null."""
        for path, wake in self.objects(items, "wake_events", "wake event"):
            at_ns = self.req_int(wake.get("at_ns"), f"{path}.at_ns")
            woken_id = self.req_int(wake.get("woken_task_id"), f"{path}.woken_task_id")
            waker_id = self.opt_int(wake.get("waker_task_id"), f"{path}.waker_task_id")
            worker = self.opt_int(wake.get("target_worker"), f"{path}.target_worker")
            waker = "" if waker_id is None else task_node_id(proc_key, waker_id)
            yield at_ns, waker, task_node_id(proc_key, woken_id), worker

    # -- edges -----------------------------------------------------------------

    def edges(self, items, proc_key, prefix, index, consume=False):
        """Check each edge against the nodes' `index`, collapsing duplicate
        (src, dst) pairs (the first one's attrs are kept); yield
        (src_pos, dst_pos, src, dst, attrs, attrs_text, unresolved) where a
        position is None for an endpoint not among the nodes, and
        `unresolved` is None for a local edge, else (missing_side,
        referenced_proc_key, reason). `attrs` is None or {} when empty.
        `consume`: empty `items` as it goes (memory)."""
        lazy = self.codec.lazy
        load = self.codec.load_element
        n = len(index) + 1
        seen = set()
        seen_unresolved = set()
        where = prefix + "edges"
        for i, edge in enumerate(items):
            if consume:
                items[i] = None  # the dedup set grows while this shrinks
            if type(edge) is lazy:
                edge = load(edge, where, i)
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
                _edge_error(edge, f"{where}[{i}]", self.show)
            if si is None or di is None:
                check_id(src, f"{where}[{i}].src_id")
                check_id(dst, f"{where}[{i}].dst_id")
            attrs = edge.get("attrs")
            if (attrs is None or attrs == {}) and "attrs_json" not in edge:
                text = EMPTY_ATTRS
            else:
                attrs = self.attrs_object(edge, f"{where}[{i}]")
                text = self.dump_attrs(attrs, f"{where}[{i}].attrs")
            if si is not None and di is not None:
                key = si * n + di
                if key in seen:
                    continue
                seen.add(key)
                yield si, di, src, dst, attrs, text, None
                continue
            # At least one endpoint is not among this capture's nodes: fine if
            # another process owns it (a cross-process edge), a 400 if we do.
            if (src, dst) in seen_unresolved:
                continue
            seen_unresolved.add((src, dst))
            owners = []
            if si is None:
                owners.append(("src", src, foreign_owner(proc_key, src, f"{where}[{i}].src_id")))
            if di is None:
                owners.append(("dst", dst, foreign_owner(proc_key, dst, f"{where}[{i}].dst_id")))
            reason = "; ".join(
                f"{side} {node_id} belongs to process {owner}, not in this capture"
                for side, node_id, owner in owners
            )
            missing_side = owners[0][0] if len(owners) == 1 else "both"
            yield si, di, src, dst, attrs, text, (missing_side, owners[0][2], reason)

    # -- attrs -----------------------------------------------------------------

    def attrs_object(self, item, path):
        """`attrs` (an object) or `attrs_json` (a string holding one) -> dict."""
        attrs = item.get("attrs")
        attrs_json = item.get("attrs_json")
        if attrs is not None and attrs_json is not None:
            fail(400, "give attrs or attrs_json, not both", f"{path}.attrs_json")
        if attrs_json is not None:
            if type(attrs_json) is not str:
                fail(400, "attrs_json must be a string holding a JSON object", f"{path}.attrs_json")
            try:
                attrs = self.codec.loads(attrs_json)
            except (ValueError, RecursionError) as exc:
                fail(400, f"attrs_json is not valid JSON: {exc}", f"{path}.attrs_json")
            if type(attrs) is not dict:
                fail(400, "attrs_json must hold a JSON object", f"{path}.attrs_json")
            return attrs
        if attrs is None:
            return {}
        if type(attrs) is not dict:
            fail(400, "attrs must be an object", f"{path}.attrs")
        return attrs

    def dump_attrs(self, attrs, path):
        """Serialize attrs once (the text is what the server stores) and check
        the limits on the serialized form: a string inside can never be
        longer than the whole, so the size check covers every attr value."""
        if not attrs:
            return EMPTY_ATTRS
        try:
            text = self.codec.dumps(attrs)
        except (TypeError, ValueError, RecursionError) as exc:
            fail(400, f"attrs cannot be stored as JSON: {exc}", path)
        self.check_attrs(attrs, text, path)
        return text.decode()

    def check_attrs(self, attrs, text, path):
        """The exact checks behind the cheap ones in nodes()."""
        limits = self.limits
        if len(text) > limits.attrs_bytes:
            fail(
                413,
                f"attrs are {len(text)} bytes serialized, over the limit of {limits.attrs_bytes}",
                path,
            )
        # Nesting can't be deeper than the number of brackets: walk only then.
        if text.count(b"{") + text.count(b"[") > limits.attrs_depth and (
            depth(attrs) > limits.attrs_depth
        ):
            fail(413, f"attrs are nested deeper than {limits.attrs_depth} levels", path)
        # PostgreSQL can store neither NUL in text nor \u0000 in jsonb.
        if b"\\u0000" in text and has_nul(attrs):
            fail(400, "attrs contain a NUL character", path)

    # -- scalars ---------------------------------------------------------------

    def check_text(self, text, path):
        # Bytes are what the limit counts; encode only when it could matter.
        limit = self.limits.string_bytes
        if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
            fail(413, f"text is over the limit of {limit} bytes", path)
        if "\x00" in text:
            fail(400, "text contains a NUL character", path)

    def req_int(self, value, path):
        if value is None:
            fail(400, "an integer is required", path)
        return self.opt_int(value, path)

    def opt_int(self, value, path):
        if value is None:
            return None
        if type(value) is not int:
            fail(400, f"must be an integer, not {self.show(value)}", path)
        if not INT64_MIN <= value <= INT64_MAX:
            fail(400, "must fit in a signed 64-bit integer", path)
        return value

    def opt_list(self, doc, key, prefix):
        value = doc.get(key)
        if value is None:
            return []
        if type(value) is not list:
            fail(400, f"{key} must be a list", prefix + key)
        return value

    def show(self, value):
        """A short JSON rendering of a value, for messages."""
        try:
            text = self.codec.render(value)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
        return clip(text, 60)


def _good_kind(kind, known_kinds):
    if type(kind) is str and KIND_RE.fullmatch(kind):
        known_kinds[kind] = kind
        return True
    return False


def _node_error(node, path, proc_key, index, where):
    """Raise the precise error for a node that failed the fast path."""
    if type(node) is not dict:
        fail(400, "a node must be an object", path)
    node_id = node.get("id")
    check_id(node_id, f"{path}.id")
    parts = node_id.split(":", 2)
    if len(parts) != 3 or parts[1] != proc_key or not parts[0] or not parts[2]:
        fail(
            400,
            f"node id {clip(node_id)} must have the form {{kind}}:{proc_key}:{{rest}} "
            "(its second segment is the owning proc_key)",
            f"{path}.id",
        )
    if node_id in index:
        fail(
            400,
            f"duplicate node id {clip(node_id)} (first at {where}[{index[node_id]}])",
            f"{path}.id",
        )
    fail(400, "kind is required: 1 to 64 characters of [a-z0-9_-]", f"{path}.kind")


def _edge_error(edge, path, show):
    """Raise the precise error for an edge that failed the fast path."""
    if type(edge) is not dict:
        fail(400, "an edge must be an object", path)
    check_id(edge.get("src_id"), f"{path}.src_id")
    check_id(edge.get("dst_id"), f"{path}.dst_id")
    fail(400, f'edge kind must be "needs", not {show(edge.get("kind"))}', f"{path}.kind")


def fallback_label(attrs):
    # A node without a label still needs a human name in lists and graphs.
    for key in ("name", "label", "method"):
        value = attrs.get(key)
        if type(value) is str:
            return value[:256]
    return ""


def task_node_id(proc_key, task_id):
    """Process-local task id -> node id. Contract: `task:{proc_key}:{id}`."""
    return f"task:{proc_key}:{task_id}"


def proc_key_of(node_id):
    """The owning proc_key of `{kind}:{proc_key}:{rest}`, or None."""
    parts = node_id.split(":", 2)
    if len(parts) == 3 and parts[0] and parts[2] and PROC_KEY_RE.fullmatch(parts[1]):
        return parts[1]
    return None


def foreign_owner(proc_key, node_id, path):
    """The proc_key owning `node_id`, which is not among this capture's nodes."""
    owner = proc_key_of(node_id)
    if owner is None:
        fail(
            400,
            f"{clip(node_id)} is not among nodes and is not of the form "
            "{kind}:{proc_key}:{rest}, so its owning process is unknown",
            path,
        )
    if owner == proc_key:
        fail(
            400,
            f"{clip(node_id)} belongs to this process ({owner}) but is not among "
            "its nodes; a process must emit every node of its own that it references",
            path,
        )
    return owner


def check_id(value, path):
    if not (type(value) is str and 0 < len(value) <= ID_MAX_CHARS and "\x00" not in value):
        if type(value) is not str or not value:
            fail(400, "a non-empty string id is required", path)
        if len(value) > ID_MAX_CHARS:
            fail(413, f"an id is limited to {ID_MAX_CHARS} characters", path)
        fail(400, "an id cannot contain a NUL character", path)


def slug(name):
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-") or "process"


def derive_proc_key(process, pid=None):
    """`{slug(process)}-{pid}` within 64 characters, as for a ProcessDump."""
    suffix = "" if pid is None else f"-{pid}"
    return slug(process)[: 64 - len(suffix)] + suffix


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


def clip(text, n=120):
    return text if len(text) <= n else text[:n] + "…"
