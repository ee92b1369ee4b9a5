"""Check a decoded snapshot body against SNAPSHOT_FORMAT.md and turn it into
compact rows ready for storage.

The rules themselves are client/src/peepsweb_client/contract.py, shared with the client's
validator so that both refuse the same bodies with the same messages. This
module runs them the server's way: orjson for JSON, list elements decoded
one at a time as validation reaches them (see body.py), rows with the
derived columns the database needs.

Everything except the edges is checked up front by `parse_document`. Edges
are checked by `Parsed.iter_edges()` while they stream into the database
(see store.py): that keeps 200,000 edge rows out of memory and lets the
database insert while Python still validates. A bad edge raises inside the
ingest transaction, so the rollback still leaves nothing behind.

Every error names the offending field (`nodes[3].id`); limit violations are
413, anything else 400.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial

import orjson
from django.conf import settings
from msgspec import Raw
from peepsweb_client.contract import (
    INT64_MAX,
    INT64_MIN,
    PROC_KEY_RE,
    PROCESS_MAX_CHARS,
    Header,
    Limits,
    Rules,
    ValidationError,
    proc_key_of,
)

from snapshots.ingest.errors import IngestError
from snapshots.states import state_class

__all__ = [
    "LOCAL",
    "PROCESS_MAX_CHARS",
    "PROC_KEY_RE",
    "UNRESOLVED",
    "LazyDocument",
    "Limits",
    "Parsed",
    "load_element",
    "parse_document",
    "proc_key_of",
]

STATE_MAX_CHARS = 256  # Node.state column; attrs keep the full text

LOCAL = "local"
UNRESOLVED = "unresolved"


class LazyDocument(dict):
    """A document from body.decode_json: its big lists are undecoded slices
    of the body. parse_document takes its contents over (leaving it empty),
    so that the body can be freed as soon as ingest is done with it."""


def load_element(raw, where, i):
    """Element `where[i]` of a big list, kept undecoded by body.decode_json
    until now. The path is only built for the error (hot on 200,000 edges)."""
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, f"not valid JSON: {exc}", f"{where}[{i}]") from None


def _render(value):
    return orjson.dumps(value, default=repr).decode()


class OrjsonCodec:
    """The codec of the contract's Rules on the server (see peepsweb_client.contract)."""

    loads = staticmethod(orjson.loads)
    dumps = staticmethod(orjson.dumps)
    render = staticmethod(_render)
    lazy = Raw
    load_element = staticmethod(load_element)


class Checked:
    """What passed the contract's check in each process's latest capture, by
    the exact bytes of its JSON element: {proc_key: (limits, {bytes: result})}.
    Bounded, least recently used first out, by PEEPSWEB_HEAD_CACHE_ROWS / 2
    elements each (the digests' cache, versions.HEADS, takes the same
    setting): 100 processes of 2,000 nodes and 2,000 edges fit, about
    200 MB (a node about 0.7 KB, an edge 0.3 KB)."""

    def __init__(self):
        self.lock = threading.Lock()  # ingests run in threads of one server process
        self.entries = OrderedDict()
        self.size = 0

    def get(self, proc_key, limits):
        with self.lock:
            entry = self.entries.get(proc_key)
            if entry is None or entry[0] != limits:
                return {}
            self.entries.move_to_end(proc_key)
            return entry[1]

    def put(self, proc_key, limits, checked):
        bound = settings.PEEPSWEB_HEAD_CACHE_ROWS // 2
        with self.lock:
            old = self.entries.pop(proc_key, None)
            if old is not None:
                self.size -= len(old[1])
            if len(checked) > bound:
                return
            self.entries[proc_key] = (limits, checked)
            self.size += len(checked)
            while self.size > bound:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.size -= len(dropped)

    def clear(self):
        with self.lock:
            self.entries.clear()
            self.size = 0


CHECKED_NODES = Checked()
CHECKED_EDGES = Checked()  # {bytes: (src, dst, attrs, attrs_text)} of local edges
# Nodes and edges are remembered only in bodies of up to this many of them:
# a big capture's results would hold about 0.7 KB a node in the server (a
# 100,000-node POST peaked at 7.4x its body instead of under 4x), and a big
# body's edge elements are dropped as they are checked (memory), so they
# could not be checked again from the start for the contract's own error.
REMEMBER_MAX = 20_000


class ServerRules(Rules):
    """The contract's Rules, minus the work for nodes and edges a process sent before.

    A pushing process resends mostly the same nodes. Checking a node is a
    function of its JSON element's bytes, the proc_key, the limits, and
    whether its id came earlier in the list (duplicates). So an element
    byte for byte equal to one that passed the full check in the previous
    capture of the same proc_key, under the same limits, passes again with
    the same result: it gets that result, and only its id is checked against
    the ids before it. Anything else gets the contract's full check. On any
    error the whole list is checked again by the contract from the start, so
    the error (first in document order, its message and path) is the
    contract's own. Only lazy elements (undecoded slices of an HTTP or TCP
    body) of lists up to REMEMBER_MAX are compared; others are checked in full."""

    def nodes(self, items, proc_key, where, index):
        lazy, full = self.codec.lazy, super().nodes
        if not items or type(items[0]) is not lazy or len(items) > REMEMBER_MAX:
            yield from full(items, proc_key, where, index)
            return
        before = CHECKED_NODES.get(proc_key, self.limits)
        now = {}
        try:
            for i, raw in enumerate(items):
                key = bytes(raw) if type(raw) is lazy else None
                node = before.get(key)
                if node is None or node[0] in index:
                    (node,) = full([raw], proc_key, where, index)
                    # The contract numbered it 0, alone in its list.
                if key is not None:
                    # add_nodes reads the attrs of tasks only: others' are not kept.
                    now[key] = node if node[1] == "task" else (*node[:3], None, node[4])
                index[node[0]] = i
                yield node
        except (ValidationError, IngestError):  # IngestError: an element that is not JSON
            index.clear()
            for _ in full(items, proc_key, where, index):
                pass
            raise  # not reached: the full check raised its own error first
        CHECKED_NODES.put(proc_key, self.limits, now)

    def edges(self, items, proc_key, prefix, index, consume=False):
        """The same for edges: an element equal to a local edge that passed
        in the previous capture, whose ends are both among this capture's
        nodes again, gets its result with this capture's node positions;
        duplicate (src, dst) pairs are collapsed here for every edge, the
        first one kept, as the contract does."""
        lazy, full = self.codec.lazy, super().edges
        if not items or type(items[0]) is not lazy or len(items) > REMEMBER_MAX:
            yield from full(items, proc_key, prefix, index, consume)
            return
        before = CHECKED_EDGES.get(proc_key, self.limits)
        now = {}
        n = len(index) + 1
        seen, seen_unresolved = set(), set()
        try:
            for raw in items:
                key = bytes(raw) if type(raw) is lazy else None
                edge = before.get(key)
                si = di = None
                if edge is not None:
                    src, dst, attrs, text = edge
                    si, di = index.get(src), index.get(dst)
                if si is None or di is None:
                    ((si, di, src, dst, attrs, text, unresolved),) = full(
                        [raw], proc_key, prefix, index
                    )
                    if unresolved is not None:
                        if (src, dst) not in seen_unresolved:
                            seen_unresolved.add((src, dst))
                            yield si, di, src, dst, attrs, text, unresolved
                        continue
                if key is not None:
                    now[key] = (src, dst, attrs, text)
                if si * n + di not in seen:
                    seen.add(si * n + di)
                    yield si, di, src, dst, attrs, text, None
        except (ValidationError, IngestError):
            for _ in full(items, proc_key, prefix, index):
                pass
            raise  # not reached: the full check raised its own error first
        CHECKED_EDGES.put(proc_key, self.limits, now)


def _ingest_error(exc):
    """A contract error as the IngestError the rest of ingest expects."""
    if isinstance(exc, IngestError):
        return exc
    return IngestError(exc.status, exc.message, exc.path)


@dataclass
class Parsed(Header):
    """A validated process snapshot (edges still to be iterated)."""

    # (node_id, kind, label, attrs_json, task_id, state, state_class, spawned_at_ns)
    nodes: list = field(default_factory=list)
    index: dict = field(default_factory=dict)  # node id -> position in nodes
    frames: list = field(default_factory=list)  # (frame_key, text)
    # (node_id, task_id, since_ns, frame_ids_json)
    traces: list = field(default_factory=list)
    wakes: list = field(default_factory=list)  # (at_ns, waker, woken, target_worker)
    pending_since: dict = field(default_factory=dict)  # node position -> longest trace's start
    last_waker: dict = field(default_factory=dict)  # node position -> (at_ns, waker id)
    needs_count: list = field(default_factory=list)
    needed_by_count: list = field(default_factory=list)
    edge_count: int = 0
    unresolved_count: int = 0
    raw_edges: list = field(default_factory=list, repr=False)
    owns_input: bool = False  # raw_edges came from a LazyDocument: ours to empty
    rules: Rules | None = field(default=None, repr=False)

    def add_nodes(self, checked):
        """The node rows, with the derived columns of task nodes."""
        append = self.nodes.append
        states = {}  # raw state -> (one shared str object, its class)
        for node_id, kind, label, attrs, attrs_text in checked:
            if kind != "task":
                append((node_id, kind, label, attrs_text, None, "", "", None))
                continue
            task_id = attrs.get("task_id")
            if type(task_id) is not int or not INT64_MIN <= task_id <= INT64_MAX:
                rest = node_id.split(":", 2)[2]
                task_id = _int64_or_none(int(rest)) if rest.isdecimal() else None
            state = attrs.get("state")
            state = state[:STATE_MAX_CHARS] if type(state) is str else ""
            known = states.get(state)
            if known is None:
                known = states[state] = (state, state_class(state))
            spawned = attrs.get("spawned_at_ns")
            if type(spawned) is not int or not INT64_MIN <= spawned <= INT64_MAX:
                spawned = None
            append((node_id, kind, label, attrs_text, task_id, *known, spawned))
        self.needs_count = [0] * len(self.nodes)
        self.needed_by_count = [0] * len(self.nodes)

    def add_frames(self, frames):
        self.frames = list(frames.items())

    def add_traces(self, checked):
        index = self.index
        pending_since = self.pending_since
        for node_id, task_id, since_ns, frame_ids in checked:
            self.traces.append((node_id, task_id, since_ns, orjson.dumps(frame_ids).decode()))
            pos = index.get(node_id)
            if pos is not None and since_ns is not None:
                if since_ns < pending_since.get(pos, INT64_MAX):
                    pending_since[pos] = since_ns

    def add_wakes(self, checked):
        index = self.index
        last_waker = self.last_waker
        for wake in checked:
            self.wakes.append(wake)
            at_ns, waker, woken, _worker = wake
            pos = index.get(woken)
            if pos is not None:
                newest = last_waker.get(pos)
                if newest is None or at_ns >= newest[0]:
                    last_waker[pos] = (at_ns, waker)

    def node_rows(self, earlier_wakers, wakers_out):
        """Node tuples with the derived columns that need the whole body:
        (node_id, kind, label, attrs, task_id, state, state_class, spawned_at_ns,
        pending_since_ns, last_waker, needs_count, needed_by_count).

        last_waker is the waker of the node's newest wake event in the body,
        else the one `earlier_wakers` (node id -> waker, the process's
        previous capture) names: senders send a window of recent wakes, and
        a waker that went when its wake left the window would change the
        row (a new version) for nothing. `wakers_out` gets every node's
        non-empty last_waker, for the next capture."""
        pending = self.pending_since
        wakers = self.last_waker
        needs = self.needs_count
        needed_by = self.needed_by_count
        for i, row in enumerate(self.nodes):
            waker = wakers.get(i)
            waker = waker[1] if waker else earlier_wakers.get(row[0], "")
            if waker:
                wakers_out[row[0]] = waker
            yield (
                *row,
                pending.get(i),
                waker,
                needs[i],
                needed_by[i],
            )

    def release(self):
        """Drop everything big once it is written (the rows, the raw edges)."""
        self.nodes = self.frames = self.traces = self.wakes = self.raw_edges = []
        self.index = self.pending_since = self.last_waker = {}
        self.needs_count = self.needed_by_count = []

    def iter_edges(self):
        """Validate and yield edges, collapsing duplicate (src, dst) pairs:
        (LOCAL, (src, dst, attrs)) or
        (UNRESOLVED, (src, dst, attrs, missing_side, referenced_proc_key, reason)).

        Fills needs_count/needed_by_count, edge_count and unresolved_count."""
        needs = self.needs_count
        needed_by = self.needed_by_count
        checked = self.rules.edges(
            self.raw_edges, self.proc_key, self.prefix, self.index, consume=self.owns_input
        )
        local = unresolved_count = 0
        try:
            for si, di, src, dst, _attrs, attrs_text, unresolved in checked:
                if unresolved is None:
                    needs[si] += 1
                    needed_by[di] += 1
                    local += 1
                    yield LOCAL, (src, dst, attrs_text)
                    continue
                # Counted on its present side, as the contract's derived columns say.
                if si is not None:
                    needs[si] += 1
                if di is not None:
                    needed_by[di] += 1
                unresolved_count += 1
                yield UNRESOLVED, (src, dst, attrs_text, *unresolved)
        except ValidationError as exc:
            raise _ingest_error(exc) from None
        finally:
            self.edge_count += local
            self.unresolved_count += unresolved_count


def parse_document(doc, limits=None):
    """Validate everything but the edges; raise IngestError on the first problem."""
    rules = ServerRules(limits or Limits.from_settings(settings), OrjsonCodec)
    owns_input = type(doc) is LazyDocument
    if owns_input:
        doc, taken = dict(doc), doc
        taken.clear()
    try:
        parsed, edges = rules.check(doc, partial(Parsed, rules=rules, owns_input=owns_input))
    except ValidationError as exc:
        raise _ingest_error(exc) from None
    parsed.raw_edges = edges
    return parsed


def _int64_or_none(value):
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    return None
