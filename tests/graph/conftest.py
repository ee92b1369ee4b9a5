"""Helpers of the graph tests: build a neighbourhood from stored snapshots."""

import pytest

from snapshots.graph.neighbourhood import GraphOptions, build_graph
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope


def draw(scope_key, **options):
    """build_graph over a scope key ("live", "17", ...) with these options."""
    return build_graph(resolve_scope(str(scope_key)), GraphOptions(**options))


def ids(graph):
    return {n.id for n in graph.nodes}


def pairs(graph):
    return {(e.src, e.dst) for e in graph.edges}


def document(proc_key, nodes, edges=(), process=None):
    """A minimal snapshot body: nodes as (id, kind, label, attrs)."""
    return {
        "process": process or proc_key,
        "proc_key": proc_key,
        "nodes": [
            {"id": node_id, "kind": kind, "label": label, "attrs": attrs or {}}
            for node_id, kind, label, attrs in nodes
        ],
        "edges": [{"src_id": s, "dst_id": d, "kind": "needs"} for s, d in edges],
    }


@pytest.fixture
def ingest(db):
    """ingest(doc) -> the snapshot id, as text."""

    def store(doc):
        return str(ingest_document(doc).snapshot_id)

    return store


@pytest.fixture
def hub(ingest):
    """One lock held by task 0 and awaited by 40 tasks: a wide neighbourhood."""
    waiters = [(f"task:hub-1:{i}", "task", f"waiter_{i}", {"task_id": i, "state": "pending"})
               for i in range(1, 41)]  # fmt: skip
    nodes = [
        ("lock:hub-1:big", "lock", "big", {"name": "big"}),
        ("task:hub-1:0", "task", "holder", {"task_id": 0, "state": "running"}),
        *waiters,
    ]
    edges = [("lock:hub-1:big", "task:hub-1:0")] + [(w[0], "lock:hub-1:big") for w in waiters]
    return ingest(document("hub-1", nodes, edges))
