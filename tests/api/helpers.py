"""Building and loading snapshots for the read-API tests, through real ingest."""

from snapshots.ingest import ingest_document
from tests.support.examples import read_example

CAPTURED_NS = 1_763_772_000_000_000_000


def load(name, **changes):
    """Ingest one example snapshot (top-level fields changed); -> ProcessSnapshot."""
    doc = read_example(name)
    doc.update(changes)
    return ingest_document(doc, source="test")


def task(proc_key, task_id, name, state="pending", **attrs):
    return {
        "id": f"task:{proc_key}:{task_id}",
        "kind": "task",
        "label": name,
        "attrs": {"task_id": task_id, "name": name, "state": state, **attrs},
    }


def node(kind, proc_key, rest, label="", **attrs):
    return {"id": f"{kind}:{proc_key}:{rest}", "kind": kind, "label": label, "attrs": attrs}


def needs(src, dst):
    return {
        "src_id": src["id"] if isinstance(src, dict) else src,
        "dst_id": dst["id"] if isinstance(dst, dict) else dst,
        "kind": "needs",
    }


def push(proc_key, nodes, edges=(), **extra):
    """Ingest a hand-made process snapshot; -> ProcessSnapshot."""
    doc = {
        "process": extra.pop("process", proc_key.rsplit("-", 1)[0]),
        "pid": 1,
        "proc_key": proc_key,
        "captured_at_ns": extra.pop("captured_at_ns", CAPTURED_NS),
        "nodes": list(nodes),
        "edges": list(edges),
        **extra,
    }
    return ingest_document(doc, source="test")


def get_json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    return response.json()
