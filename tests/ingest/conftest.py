"""Helpers for the ingest tests: a tiny valid document and a POST helper."""

import gzip

import orjson
import pytest

from snapshots.models import (
    Edge,
    Frame,
    IngestEvent,
    Node,
    PendingTrace,
    ProcessSnapshot,
    Snapshot,
    UnresolvedEdge,
    WakeEvent,
)

DATA_MODELS = [
    Snapshot,
    ProcessSnapshot,
    Node,
    Edge,
    UnresolvedEdge,
    WakeEvent,
    Frame,
    PendingTrace,
]


def small_doc(proc_key="svc-1", **extra):
    """A valid process snapshot: two tasks, a lock, edges, a wake, a trace."""
    doc = {
        "process": "svc",
        "pid": 1,
        "proc_key": proc_key,
        "captured_at_ns": 1_763_772_000_000_000_000,
        "snapshot_id": None,
        "nodes": [
            {
                "id": f"task:{proc_key}:7",
                "kind": "task",
                "label": "conn_handler",
                "attrs": {
                    "task_id": 7,
                    "name": "conn_handler",
                    "state": "pending",
                    "spawned_at_ns": 1_763_771_990_000_000_000,
                },
            },
            {
                "id": f"task:{proc_key}:3",
                "kind": "task",
                "attrs": {"task_id": 3, "name": "acceptor", "state": "Running"},
            },
            {
                "id": f"lock:{proc_key}:db_pool",
                "kind": "lock",
                "attrs": {"name": "db_pool", "lock_kind": "mutex", "holder_count": 1},
            },
        ],
        "edges": [
            {
                "src_id": f"task:{proc_key}:7",
                "dst_id": f"lock:{proc_key}:db_pool",
                "kind": "needs",
                "attrs": {},
            },
            {"src_id": f"lock:{proc_key}:db_pool", "dst_id": f"task:{proc_key}:3", "kind": "needs"},
        ],
        "wake_events": [
            {"at_ns": 10, "waker_task_id": 3, "woken_task_id": 7, "target_worker": 1},
        ],
        "frames": {"1": "tokio::sync::Mutex::lock", "2": "svc::handle"},
        "pending_traces": [
            {"task_id": 7, "at_ns": 20, "duration_us": 5_200_000, "frame_ids": [1, 2]},
        ],
    }
    doc.update(extra)
    return doc


def row_counts():
    return {model.__name__: model.objects.count() for model in DATA_MODELS}


def assert_nothing_stored():
    assert row_counts() == {model.__name__: 0 for model in DATA_MODELS}


@pytest.fixture
def post(client):
    """post(doc | bytes, gzip=False, content_type=..., token=None) -> response."""

    def send(doc, *, gzipped=False, content_type="application/json", token=None, headers=None):
        body = doc if isinstance(doc, bytes | bytearray) else orjson.dumps(doc)
        extra = dict(headers or {})
        if gzipped:
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        if token is not None:
            extra["Authorization"] = f"Bearer {token}"
        return client.generic(
            "POST", "/api/v1/snapshots", body, content_type=content_type, headers=extra
        )

    return send


@pytest.fixture
def events():
    """The IngestEvents recorded so far, oldest first, as (kind, status) pairs."""
    return lambda: list(IngestEvent.objects.order_by("id").values_list("kind", "status"))
