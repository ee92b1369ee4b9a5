"""Build one process snapshot body (SNAPSHOT_FORMAT.md v1) in plain Python.

    b = SnapshotBuilder("billing", pid=os.getpid())
    t = b.task(7, "conn_handler", state="pending")
    lock = b.node("lock", "db_pool", name="db_pool", lock_kind="mutex")
    b.needs(t, lock)
    b.wake(woken_task_id=7, waker_task_id=3)
    b.pending_trace(7, ["db::lock\\n    at db.py:42", "conn::handle\\n    at conn.py:118"],
                    duration_us=5_200_000)
    body = b.build()   # a dict, validated with the server's own rules

Node ids are made for you as `{kind}:{proc_key}:{rest}`; frames are interned
so a frame text shared by many traces is sent once.
"""

import os
import sys
import time

from peepsweb_client.contract import FRAME_AT, FRAME_SOURCE, FRAME_SOURCE_MAX_CHARS
from peepsweb_client.validate import DEFAULT_LIMITS, check_document, derive_proc_key


def default_process_name():
    name = os.path.basename(sys.argv[0] or "") if sys.argv else ""
    if name in ("", "-c", "-m", "__main__.py"):
        return "python"
    return name.removesuffix(".py") or "python"


def format_frame(function, filename, lineno, source=None):
    """The contract's frame text: "function\\n    at file:line", plus
    "\\n    | source" (v1.1) when `source`, e.g. `linecache.getline(...)`,
    holds code: stripped, its first line only, capped, NUL removed (the
    server refuses a whole body over one NUL)."""
    text = f"{function}\n{FRAME_AT}{filename}:{lineno}"
    if source:
        lines = source.replace("\x00", "").strip().splitlines()
        if lines and (line := lines[0].strip()):
            if len(line) > FRAME_SOURCE_MAX_CHARS:
                line = line[: FRAME_SOURCE_MAX_CHARS - 1] + "…"
            text += f"\n{FRAME_SOURCE}{line}"
    return text


class SnapshotBuilder:
    def __init__(self, process=None, pid=None, proc_key=None):
        self.process = process or default_process_name()
        self.pid = os.getpid() if pid is None else pid
        self.proc_key = proc_key or derive_proc_key(self.process, self.pid)
        self._nodes = {}  # id -> node dict, in insertion order
        self._edges = {}  # (src, dst) -> edge dict
        self._wakes = []
        self._frames = {}  # text -> id
        self._traces = []

    # -- ids -------------------------------------------------------------------

    def node_id(self, kind, rest):
        """`{kind}:{proc_key}:{rest}` (rest may itself contain colons)."""
        return f"{kind}:{self.proc_key}:{rest}"

    def task_node_id(self, task_id):
        return self.node_id("task", task_id)

    # -- content ---------------------------------------------------------------

    def node(self, kind, rest, label=None, *, id_prefix=None, attrs=None, **more_attrs):
        """Add (or replace) a node and return its id. Attrs come as keywords,
        or as `attrs=` (for names that clash: `label`, `kind`). `id_prefix`
        overrides the first id segment, e.g. kind "mpsc_tx" with id
        "mpsc:pk:jobs:tx"."""
        attrs = {**(attrs or {}), **more_attrs}
        node_id = self.node_id(id_prefix or kind, rest)
        node = {"id": node_id, "kind": kind, "attrs": attrs}
        if label is not None:
            node["label"] = label
        self._nodes[node_id] = node
        return node_id

    def add_node(self, node_id, kind, label, attrs):
        """Add a node as given (id made by the caller): the fast path for
        instrumentation that emits thousands of nodes."""
        self._nodes[node_id] = {"id": node_id, "kind": kind, "label": label, "attrs": attrs}
        return node_id

    def task(
        self,
        task_id,
        name,
        state="pending",
        *,
        spawned_at_ns=None,
        parent_task_id=None,
        label=None,
        **attrs,
    ):
        """Add a task node (kind "task", id `task:{proc_key}:{task_id}`)."""
        attrs = {"task_id": task_id, "name": name, "state": state, **attrs}
        if spawned_at_ns is not None:
            attrs["spawned_at_ns"] = spawned_at_ns
        if parent_task_id is not None:
            attrs["parent_task_id"] = parent_task_id
        return self.node("task", task_id, label if label is not None else name, attrs=attrs)

    def has_node(self, node_id):
        return node_id in self._nodes

    def needs(self, src, dst, **attrs):
        """`src needs dst`. Duplicate pairs collapse (the last attrs win)."""
        self._edges[(src, dst)] = {"src_id": src, "dst_id": dst, "kind": "needs", "attrs": attrs}

    def wake(self, woken_task_id, waker_task_id=None, *, at_ns=None, target_worker=None):
        self._wakes.append(
            {
                "at_ns": time.time_ns() if at_ns is None else at_ns,
                "waker_task_id": waker_task_id,
                "woken_task_id": woken_task_id,
                "target_worker": target_worker,
            }
        )

    def add_wakes(self, wakes):
        """Add wake events as given (dicts with the keys wake() writes): the
        fast path for instrumentation that emits thousands of them."""
        self._wakes.extend(wakes)

    def frame(self, text):
        """Intern a frame text; returns its id."""
        fid = self._frames.get(text)
        if fid is None:
            fid = self._frames[text] = len(self._frames) + 1
        return fid

    def pending_trace(self, task_id, frames, *, duration_us=None, at_ns=None, since_ns=None):
        """`frames`: texts (or (function, file, line[, source]) tuples, see
        format_frame), innermost first."""
        ids = []
        for f in frames:
            if isinstance(f, tuple):
                f = format_frame(*f)
            ids.append(self.frame(f))
        self._traces.append(
            {
                "task_id": task_id,
                "at_ns": time.time_ns() if at_ns is None else at_ns,
                "duration_us": duration_us,
                # When the wait began: unlike the duration, it stays the
                # same across captures of one wait.
                "since_ns": since_ns,
                "frame_ids": ids,
            }
        )

    # -- output ----------------------------------------------------------------

    def build(self, *, snapshot_id=None, captured_at_ns=None, validate=True, limits=None):
        """The body as a dict. With `validate` (the default) it is checked with
        the server's rules and ValidationError is raised here, not on upload."""
        doc = {
            "process": self.process,
            "pid": self.pid,
            "proc_key": self.proc_key,
            "captured_at_ns": time.time_ns() if captured_at_ns is None else captured_at_ns,
            "snapshot_id": snapshot_id,
            "nodes": list(self._nodes.values()),
            "edges": list(self._edges.values()),
            "wake_events": list(self._wakes),
            "frames": {str(fid): text for text, fid in self._frames.items()},
            "pending_traces": list(self._traces),
        }
        if validate:
            check_document(doc, limits or DEFAULT_LIMITS)
        return doc
