"""Builders for the cycle tests: plain graphs for the finder, documents for ingest."""

from django.utils import timezone

from snapshots.cycles.finder import NodeInfo, NodeSource
from snapshots.ingest import ingest_document
from snapshots.models import ProcessSnapshot, Snapshot


def info(node_id, kind=None, **kwargs):
    """NodeInfo whose kind defaults to the id's first segment (`task:p:1` -> task)."""
    kind = kind or node_id.split(":", 1)[0]
    proc_key = kwargs.pop("proc_key", node_id.split(":")[1] if node_id.count(":") >= 2 else "")
    return NodeInfo(node_id=node_id, kind=kind, proc_key=proc_key, **kwargs)


def source(*infos, edge_attrs=None):
    return NodeSource({i.node_id: i for i in infos}, edge_attrs=edge_attrs)


def tasks_source(pairs):
    """Every endpoint a task of process p (`n` -> task:p:n)."""
    ids = {x for pair in pairs for x in pair}
    return NodeSource({i: NodeInfo(node_id=i, kind="task", proc_key="p") for i in ids})


def assert_real_simple_cycle(cycle, edges):
    """Consecutive pairs and last -> first are edges; no node repeats."""
    edges = set(edges)
    assert cycle, "empty cycle"
    assert len(set(cycle)) == len(cycle), f"cycle repeats a node: {cycle}"
    for k, src in enumerate(cycle):
        dst = cycle[(k + 1) % len(cycle)]
        assert (src, dst) in edges, f"{src} -> {dst} is not an edge"


def document(proc_key, nodes, edges, traces=(), frames=None, process=None, snapshot_id=None):
    """An ingest body. nodes: (id, kind, attrs) or (id, kind, attrs, label)."""
    body = {
        "process": process or proc_key.rsplit("-", 1)[0],
        "proc_key": proc_key,
        "captured_at_ns": 1763772000000000000,
        "nodes": [
            {"id": n[0], "kind": n[1], "attrs": n[2], **({"label": n[3]} if len(n) > 3 else {})}
            for n in nodes
        ],
        "edges": [{"src_id": s, "dst_id": d, "kind": "needs"} for s, d in edges],
        "frames": frames or {},
        "pending_traces": list(traces),
    }
    if snapshot_id is not None:
        body["snapshot_id"] = snapshot_id
    return body


def task(proc_key, n, name=None, state="pending"):
    return (f"task:{proc_key}:{n}", "task", {"task_id": n, "name": name or f"t{n}", "state": state})


def pull_snapshot(*docs):
    """Store docs as the replies of one pull (Jump to now), then complete it."""
    snapshot = Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.OPEN)
    for doc in docs:
        ProcessSnapshot.objects.create(
            snapshot=snapshot,
            process=doc.get("process", doc["proc_key"]),
            proc_key=doc["proc_key"],
            status=ProcessSnapshot.PENDING,
        )
    for doc in docs:
        ingest_document({**doc, "snapshot_id": snapshot.id}, source="test")
    Snapshot.objects.filter(id=snapshot.id).update(status=Snapshot.COMPLETE)
    snapshot.refresh_from_db()
    return snapshot


def age_captures(seconds):
    """Move every stored capture `seconds` into the past (out of the live window)."""
    ProcessSnapshot.objects.update(received_at=timezone.now() - timezone.timedelta(seconds=seconds))


# -- a producer holding a lock while blocked on a full queue ------------------

SHOP_FRAMES = {
    # (task, frames innermost first): the program's own await lines; the
    # source text carries markup and a "|" to prove it is shown escaped
    1: [
        ("produce", "shop/app.py", 12, '    await jobs.put(f"<order {n}>")  # a | in code\n'),
        ("main", "shop/app.py", 30, "    await asyncio.gather(produce(), consume())\n"),
    ],
    2: [("consume", "shop/app.py", 20, "        async with db:  # <b>orders</b>\n")],
}


def producer_consumer_document():
    """What the asyncio client sends for: `producer` holds lock db while
    blocked on the full queue jobs; `consumer`, the only task that took items
    from jobs, waits for lock db. Built with the client's own builder."""
    from peepsweb_client.builder import SnapshotBuilder

    b = SnapshotBuilder("shop", pid=77)
    producer = b.task(1, "producer", state="pending")
    consumer = b.task(2, "consumer", state="pending")
    jobs = b.node(
        "queue", "jobs", name="jobs", size=100, maxsize=100, full=True,
        put_waiters=1, get_waiters=0, last_put_task_id=1, last_get_task_id=2,
    )  # fmt: skip
    db = b.node("lock", "db", name="db", lock_kind="mutex", holder_count=1, waiter_count=1)
    b.needs(producer, jobs, op="put")
    b.needs(jobs, consumer, queue="full", role="consumer", last_get_at_ns=1763771998000000000)
    b.needs(consumer, db, op="acquire")
    b.needs(db, producer, held=True)
    for task_id, frames in SHOP_FRAMES.items():
        b.pending_trace(task_id, frames, duration_us=7_000_000, at_ns=1763772000000000000)
    return b.build(captured_at_ns=1763772000000000000)
