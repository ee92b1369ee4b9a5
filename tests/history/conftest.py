"""Fixtures of the history tests: a scripted sequence of captures of one
process, posted through the real ingest endpoint."""

import orjson
import pytest

BASE_NS = 1_763_772_000_000_000_000
S = 1_000_000_000
KEY = "svc-1"
T1, T2, T3 = (f"task:{KEY}:{i}" for i in (1, 2, 3))
LOCK = f"lock:{KEY}:db"


def task(task_id, state, proc_key=KEY):
    name = f"worker{task_id}"
    return {
        "id": f"task:{proc_key}:{task_id}",
        "kind": "task",
        "label": name,
        "attrs": {"task_id": task_id, "name": name, "state": state},
    }


LOCK_NODE = {"id": LOCK, "kind": "lock", "label": "db", "attrs": {"name": "db"}}

# Capture by capture: what changes from the one before.
SCRIPT = [
    # c1: worker1 waits on the lock.
    ([task(1, "pending"), task(2, "running"), LOCK_NODE], [(T1, LOCK)]),
    # c2: worker3 appears, worker2 goes pending and needs the lock too.
    (
        [task(1, "pending"), task(2, "pending"), task(3, "running"), LOCK_NODE],
        [(T1, LOCK), (T2, LOCK)],
    ),
    # c3: worker3 is gone, worker1 stops waiting, the lock needs worker2: a cycle.
    ([task(1, "pending"), task(2, "pending"), LOCK_NODE], [(T2, LOCK), (LOCK, T2)]),
    # c4: the lock no longer needs worker2: the cycle resolves.
    ([task(1, "pending"), task(2, "pending"), LOCK_NODE], [(T2, LOCK)]),
]


def post(client, nodes, edges, at_ns, proc_key=KEY, **members):
    """Post one capture (`edges`: (src, dst) needs pairs; `members`: more
    members of the body, e.g. pending_traces); -> its snapshot id."""
    doc = {
        "process": "svc",
        "pid": 1,
        "proc_key": proc_key,
        "captured_at_ns": at_ns,
        "nodes": nodes,
        "edges": [{"src_id": s, "dst_id": d, "kind": "needs"} for s, d in edges],
        **members,
    }
    response = client.post("/api/v1/snapshots", orjson.dumps(doc), "application/json")
    assert response.status_code == 201, response.content
    return response.json()["snapshot_id"]


@pytest.fixture
def captures(client, db):
    """The snapshot ids of SCRIPT's captures, in order."""
    return [post(client, nodes, edges, BASE_NS + i * S) for i, (nodes, edges) in enumerate(SCRIPT)]
