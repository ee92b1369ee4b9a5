"""One plain-English sentence per `needs` edge, chosen by the endpoint kinds
and their attrs: "task transfer_a_to_b waits on lock account_b".

Sentences are plain text (templates escape them; the text report prints them
as they are). Names come from snapshot data, so they are flattened to one
line and capped. Counts and roles come from the node and edge attrs the
sender measured (SNAPSHOT_FORMAT.md, "Conventional needs patterns"): a
sentence says what they say and nothing it would have to guess.
"""

import re

from peepsweb_client.contract import DEFAULT_TASK_NAME, task_node_id

from snapshots.node_kinds import (
    CONDITION,
    EVENT,
    FUTURE,
    LOCK,
    ONCECELL,
    QUEUE,
    REQUEST,
    RESPONSE,
    RPC,
    SEMAPHORE,
    TASK,
    channel_end,
    channel_family,
    is_receiver,
    is_sender,
    word,
)

MAX_NAME = 80
_SPACE = re.compile(r"\s+")


def _text(attrs, key):
    value = attrs.get(key) if isinstance(attrs, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _int(attrs, key):
    value = attrs.get(key) if isinstance(attrs, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attr(info, key):
    return _text(info.attrs, key)


def _int_attr(info, key):
    return _int(info.attrs, key)


def one_line(text):
    """Snapshot text flattened to one line and capped at MAX_NAME characters."""
    text = _SPACE.sub(" ", str(text)).strip()
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def id_tail(node_id):
    """`task:proc:7` -> `7`: the part after the owning proc_key."""
    parts = node_id.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[2] else node_id


def display_name(info):
    """The short name a person would use for a node (memoized on `info`:
    a long cycle names each node three or four times)."""
    name = getattr(info, "_display_name", None)
    if name is None:
        name = _display_name(info)
        try:
            info._display_name = name
        except AttributeError:  # a slotted or frozen object: just recompute next time
            pass
    return name


def _display_name(info):
    kind = info.kind
    if kind in RPC:
        name = _attr(info, "method") or info.label or _attr(info, "name")
    elif kind == FUTURE:
        name = _attr(info, "label") or info.label or _attr(info, "name")
    else:
        name = _attr(info, "name") or info.label or _attr(info, "label")
        if kind == TASK and info.label and name != info.label and DEFAULT_TASK_NAME.fullmatch(name):
            name = f"{info.label} ({name})"  # see DEFAULT_TASK_NAME
    name = one_line(name) if name else one_line(id_tail(info.node_id))
    if is_sender(kind) or is_receiver(kind):
        end = channel_end(kind)
        if not name.endswith((f" {end}", f":{end}", f"_{end}")):
            name = f"{name} {end}"
    return name


def kind_word(kind):
    """The word a sentence uses for a kind: "sender", "once-cell", or the kind."""
    if is_sender(kind):
        return "sender"
    if is_receiver(kind):
        return "receiver"
    return word(kind) or one_line(kind) or "node"


def noun(info):
    """ "lock account_b", "sender work_queue tx", "thing x" for unknown kinds."""
    return f"{kind_word(info.kind)} {display_name(info)}"


def process_name(info):
    return one_line(info.process or info.proc_key or "?")


def _queue_counts(*infos):
    """ "16/16 queued" from the first endpoint that has both numbers."""
    for info in infos:
        queued, capacity = _int_attr(info, "queue_len"), _int_attr(info, "capacity")
        if queued is not None and capacity is not None:
            return f"{queued}/{capacity} queued"
    for info in infos:
        queued = _int_attr(info, "queue_len")
        if queued is not None:
            return f"{queued} queued"
    return None


def _same_channel(a, b):
    same_family = channel_family(a.kind) == channel_family(b.kind)
    return same_family and display_name(a)[:-3] == display_name(b)[:-3]


def _queue_fill(queue):
    """ "100/100" for a bounded queue that says its size, else None."""
    size, maxsize = _int_attr(queue, "size"), _int_attr(queue, "maxsize")
    return f"{size}/{maxsize}" if size is not None and maxsize and maxsize > 0 else None


def _is_task(info, task_id):
    return task_id is not None and info.kind == TASK and _int_attr(info, "task_id") == task_id


def _recent(edge_attrs, did):
    """ " (the only task that took items recently)" when the edge says how
    many tasks the queue's recent history holds in this role."""
    count = _int(edge_attrs, "recent_count")
    if count == 1:
        return f" (the only task that {did} items recently)"
    if count is not None and count > 1:
        return f" (one of {count} tasks that {did} items recently)"
    return ""


def _queue_waiter(task, queue, op):
    """task -> queue: a putter on a full queue or a getter on an empty one."""
    if op == "put":
        full = isinstance(queue.attrs, dict) and queue.attrs.get("full") is True
        state = [_queue_fill(queue), "full" if full else None]
        state = ", ".join(bit for bit in state if bit)
        return f"{noun(task)} waits to put on {noun(queue)}" + (f" ({state})" if state else "")
    if op == "get":
        size = _int_attr(queue, "size")
        state = "empty" if size == 0 else (f"{size} queued" if size is not None else None)
        return f"{noun(task)} waits for an item from {noun(queue)}" + (
            f" ({state})" if state else ""
        )
    return f"{noun(task)} waits on {noun(queue)}"


def _queue_needs(queue, task, edge_attrs):
    """queue -> task: from the queue's measured history, a full queue needs
    the tasks that recently took items from it, an empty one its recent
    putters (the edge's `queue` and `role` attrs say which)."""
    state, role = _text(edge_attrs, "queue"), _text(edge_attrs, "role")
    if state == "full" or (state is None and role == "consumer"):
        fill = _queue_fill(queue)
        fill = f" ({fill})" if fill else ""
        text = f"{noun(queue)} is full{fill} and needs {noun(task)}"
        if _is_task(task, _int_attr(queue, "last_get_task_id")):
            text += ", which took its last item"
        else:
            text += ", its recent consumer, to take an item"
        return text + _recent(edge_attrs, "took")
    if state == "empty" or (state is None and role == "producer"):
        text = f"{noun(queue)} is empty and needs {noun(task)}, its recent producer, to put an item"
        return text + _recent(edge_attrs, "put")
    return None


def _owner(future, nodes):
    """ "task main": the task whose TaskGroup this future is, when known."""
    owner_id = _int_attr(future, "owner_task_id")
    if owner_id is None:
        return None
    owner = (nodes or {}).get(task_node_id(future.proc_key, owner_id))
    return noun(owner) if owner is not None and owner.kind == TASK else f"task {owner_id}"


def _sentence(src, dst, edge_attrs, nodes):
    """The sentence for src -> dst, or None when no specific pattern fits."""
    s, d = src.kind, dst.kind
    if d == LOCK:
        mode = {"rwlock_read": " for reading", "rwlock_write": " for writing"}.get(
            _attr(dst, "lock_kind") or "", ""
        )
        return f"{noun(src)} waits on {noun(dst)}{mode}"
    if s == LOCK:
        return f"{noun(src)} is held by {noun(dst)}"
    if d == SEMAPHORE:
        total, free = _int_attr(dst, "permits_total"), _int_attr(dst, "permits_available")
        counts = f" ({free}/{total} available)" if total is not None and free is not None else ""
        return f"{noun(src)} waits for a permit of {noun(dst)}{counts}"
    if s == SEMAPHORE:
        permits = _int(edge_attrs, "permits")
        held = f" ({permits} permit{'s' if permits != 1 else ''})" if permits is not None else ""
        return f"{noun(src)} has its permits held by {noun(dst)}{held}"
    if d == QUEUE:
        return _queue_waiter(src, dst, _text(edge_attrs, "op"))
    if s == QUEUE and d == TASK:
        return _queue_needs(src, dst, edge_attrs)
    if d == EVENT:
        return f"{noun(src)} waits for {noun(dst)} to be set"
    if d == CONDITION:
        if _text(edge_attrs, "op") == "acquire":
            return f"{noun(src)} waits for the lock of {noun(dst)}"
        return f"{noun(src)} waits on {noun(dst)} to be notified"
    if s == CONDITION:
        return f"{noun(src)} has its lock held by {noun(dst)}"
    if is_sender(s) and is_receiver(d):
        whom = "the receiver" if _same_channel(src, dst) else noun(dst)
        if channel_family(s) == "oneshot":
            return f"{noun(src)} waits for {whom} to take the value"
        counts = _queue_counts(src, dst)
        return f"{noun(src)} waits for {whom} to drain" + (f" ({counts})" if counts else "")
    if is_receiver(s) and is_sender(d):
        whom = "the sender" if _same_channel(src, dst) else noun(dst)
        counts = _queue_counts(src, dst)
        return f"{noun(src)} waits for a value from {whom}" + (f" ({counts})" if counts else "")
    if is_sender(d):
        return f"{noun(src)} waits to send on {display_name(dst)}"
    if is_receiver(d):
        return f"{noun(src)} waits to receive on {display_name(dst)}"
    if is_sender(s) and d == TASK:
        return f"{noun(src)} is owned by {noun(dst)}, which has not sent yet"
    if is_receiver(s) and d == TASK:
        return f"{noun(src)} is owned by {noun(dst)}, which has not received yet"
    if s == REQUEST and d == RESPONSE:
        return f"{noun(src)} waits for its response in process {process_name(dst)}"
    if s == RESPONSE and d == TASK:
        return f"{noun(src)} waits for its handler {noun(dst)}"
    if s == REQUEST and d == REQUEST:
        return f"{noun(src)} waits on downstream {noun(dst)}"
    if d == REQUEST:
        peer = _attr(dst, "peer")
        to = f" to {one_line(peer)}" if peer else ""
        return f"{noun(src)} waits on {noun(dst)}{to}"
    if d == ONCECELL:
        return f"{noun(src)} waits for {noun(dst)} to be initialized"
    if s == ONCECELL and d == TASK:
        return f"{noun(src)} is being initialized by {noun(dst)}"
    if s == TASK and d == FUTURE and _attr(dst, "label") == "TaskGroup":
        # The owner task, in `async with TaskGroup()`'s exit, waits for its children.
        owner_id = _int_attr(dst, "owner_task_id")
        if owner_id is None or owner_id == _int_attr(src, "task_id"):
            return f"{noun(src)} waits for its TaskGroup to finish"
        return f"{noun(src)} waits for the TaskGroup of {_owner(dst, nodes)} to finish"
    if s == TASK and d == FUTURE:
        return f"{noun(src)} awaits {noun(dst)}"
    if s == TASK and d == TASK:
        return f"{noun(src)} waits for {noun(dst)}"
    if s == FUTURE and _attr(src, "label") == "TaskGroup":
        owner = _owner(src, nodes)
        group = f"TaskGroup of {owner}" if owner else "TaskGroup"
        return f"{group} waits for {'child ' if d == 'task' else ''}{noun(dst)}"
    if s == FUTURE and _attr(src, "label") == "shield":
        return f"shield waits on {noun(dst)}"
    if s == FUTURE:
        return f"{noun(src)} waits on {noun(dst)}"
    return None


def explain_edge(src, dst, edge_attrs=None, nodes=None):
    """The sentence for the edge `src needs dst` (both NodeInfo), with the
    edge's attrs; `nodes` (id -> NodeInfo, e.g. the cycle's members) names
    the owner of a TaskGroup."""
    text = _sentence(src, dst, edge_attrs, nodes)
    if text is None:
        text = f"{noun(src)} needs {noun(dst)} to make progress"
    crosses = src.proc_key and dst.proc_key and src.proc_key != dst.proc_key
    said_process = src.kind == REQUEST and dst.kind == RESPONSE
    if crosses and not said_process:
        text += f" in process {process_name(dst)}"
    note = None
    if isinstance(edge_attrs, dict):
        note = edge_attrs.get("reason") or edge_attrs.get("label")
    if isinstance(note, str) and note.strip():
        text += f" ({one_line(note)})"
    return text
