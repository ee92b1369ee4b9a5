"""Validation of a process snapshot body against SNAPSHOT_FORMAT.md v1, with
the server's rules, messages and paths, in the standard library only.

The rules are client/src/peepsweb_client/contract.py, the very code the server runs (see
snapshots/ingest/validate.py); this module runs them the client's way, over
an in-memory document with the standard `json` module, and keeps the body in
canonical form. tests/client/test_validate_parity.py still runs one corpus of
good and bad bodies through both sides, since the JSON libraries differ.

`check_document(doc, limits)` returns a `CheckedDocument` (the body in
canonical form: ProcessDump converted, attrs parsed, duplicate edges
collapsed, cross-process edges split out) or raises
`ValidationError(status, message, path)`; status is 400, or 413 for a limit.
"""

import json
from dataclasses import dataclass, field

from peepsweb_client.contract import (
    DEFAULT_LIMITS,
    INT64_MIN,
    Header,
    Limits,
    Rules,
    ValidationError,
    derive_proc_key,
    slug,
)

__all__ = [
    "DEFAULT_LIMITS",
    "CheckedDocument",
    "Limits",
    "ValidationError",
    "check_document",
    "derive_proc_key",
    "slug",
    "validate",
]


@dataclass
class CheckedDocument(Header):
    """The body in canonical form (see the module docstring); `prefix` is
    "graph." for a ProcessDump body."""

    nodes: list = field(default_factory=list)  # {"id", "kind", "label", "attrs"}
    edges: list = field(default_factory=list)  # {"src", "dst", "attrs"}
    # {"src", "dst", "attrs", "missing_side", "referenced_proc_key", "reason"}
    unresolved_edges: list = field(default_factory=list)
    # {"at_ns", "waker", "woken", "target_worker"}: task node ids, waker "" if null
    wake_events: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)  # int -> text
    # {"node_id", "task_id", "at_ns", "duration_us", "frame_ids"}
    pending_traces: list = field(default_factory=list)
    index: dict = field(default_factory=dict, repr=False)  # node id -> position

    def add_nodes(self, checked):
        for node_id, kind, label, attrs, _text in checked:
            self.nodes.append({"id": node_id, "kind": kind, "label": label, "attrs": attrs})

    def add_frames(self, frames):
        self.frames = frames

    def add_traces(self, checked):
        for node_id, task_id, since_ns, frame_ids in checked:
            self.pending_traces.append(
                {
                    "node_id": node_id,
                    "task_id": task_id,
                    "since_ns": since_ns,  # when the wait began (contract.Rules.traces)
                    "frame_ids": list(frame_ids),
                }
            )

    def add_wakes(self, checked):
        for at_ns, waker, woken, worker in checked:
            self.wake_events.append(
                {"at_ns": at_ns, "waker": waker, "woken": woken, "target_worker": worker}
            )

    def add_edges(self, checked):
        for _si, _di, src, dst, attrs, _text, unresolved in checked:
            edge = {"src": src, "dst": dst, "attrs": attrs or {}}
            if unresolved is None:
                self.edges.append(edge)
                continue
            missing_side, referenced, reason = unresolved
            edge.update(missing_side=missing_side, referenced_proc_key=referenced, reason=reason)
            self.unresolved_edges.append(edge)


def check_document(doc, limits=DEFAULT_LIMITS):
    """Validate one process snapshot body; see the module docstring."""
    rules = Rules(limits, JsonCodec)
    out, edges = rules.check(doc, CheckedDocument)
    out.add_edges(rules.edges(edges, out.proc_key, out.prefix, out.index))
    return out


def validate(doc, limits=DEFAULT_LIMITS):
    """True, or raise ValidationError."""
    check_document(doc, limits)
    return True


# -- JSON the way the server's orjson does it ------------------------------------


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


def dumps_like_server(value):
    """Compact UTF-8 JSON bytes, refusing what the server cannot store
    (integers beyond 64 bits, with its words); NaN is refused too, since it
    is not JSON and could never reach the server."""
    if has_big_int(value):
        raise ValueError("Integer exceeds 64-bit range")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def render(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)


def has_big_int(value):
    if type(value) is int:
        return not INT64_MIN <= value <= 2**64 - 1
    if type(value) is dict:
        return any(map(has_big_int, value.values()))
    if type(value) is list:
        return any(map(has_big_int, value))
    return False


class JsonCodec:
    """The codec of the contract's Rules on the client (see peepsweb_client.contract)."""

    loads = staticmethod(loads_like_server)
    dumps = staticmethod(dumps_like_server)
    render = staticmethod(render)
    lazy = None  # an in-memory document has no undecoded elements
    load_element = None
