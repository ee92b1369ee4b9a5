"""Fixtures of the page tests: snapshots stored through ingest, a document
builder, and hostile text for the escaping tests."""

import pytest

from snapshots.ingest import ingest_document

BASE_NS = 1_763_772_000_000_000_000
S = 1_000_000_000

# Strings a snapshot may carry that must never reach the page as markup.
SCRIPT = "<script>alert('pw')</script>"
ATTR_BREAK = '" onmouseover="alert(1)" x="'
SVG = "<svg onload=alert(2)>"
IMG = "<img src=x onerror=alert(3)>"
PAYLOADS = (SCRIPT, ATTR_BREAK, SVG, IMG)
# What must not appear in any page once escaped (HTML-significant pieces).
RAW_MARKERS = ("<script>alert", 'onmouseover="alert', "<svg onload", "<img src=x")


def task(proc_key, task_id, name, state="pending", spawned_s=10, **attrs):
    """A task node dict, spawned `spawned_s` seconds before BASE_NS."""
    return {
        "id": f"task:{proc_key}:{task_id}",
        "kind": "task",
        "label": name,
        "attrs": {
            "task_id": task_id,
            "name": name,
            "state": state,
            "spawned_at_ns": BASE_NS - spawned_s * S,
            **attrs,
        },
    }


def document(proc_key, nodes, edges=(), process=None, **extra):
    return {
        "process": process or proc_key,
        "pid": 1,
        "proc_key": proc_key,
        "captured_at_ns": BASE_NS,
        "nodes": list(nodes),
        "edges": [{"src_id": s, "dst_id": d, "kind": "needs"} for s, d in edges],
        **extra,
    }


@pytest.fixture
def ingest(db):
    """ingest(doc) -> the snapshot id as text."""

    def store(doc):
        return str(ingest_document(doc, source="test").snapshot_id)

    return store


@pytest.fixture
def examples(load_examples):
    """Every example snapshot: {name: snapshot id as text}."""
    return {name: str(p.snapshot_id) for name, p in load_examples.items()}


def hostile_document():
    """Every field a page shows, filled with markup."""
    key = "evil-1"
    victim = f"task:{key}:1"
    holder = f'lock:{key}:{SCRIPT}"x'
    return document(
        key,
        process=f"{SCRIPT} svc",
        nodes=[
            task(
                key,
                1,
                f"{SVG}{ATTR_BREAK}",
                state=f"<b>{SCRIPT}</b>",
                **{
                    f"{IMG}key": SCRIPT,
                    "nested": {"deep": [SVG, {"x": ATTR_BREAK}]},
                    "meta": {"owner": IMG},
                },
            ),
            task(key, 2, SCRIPT, state="running"),
            {
                "id": holder,
                "kind": "lock",
                "label": ATTR_BREAK,
                "attrs": {"name": SVG, "holder_count": 1, "waiter_count": SCRIPT},
            },
            {
                "id": f"weird:{key}:{IMG}",
                "kind": "weird-kind",
                "label": IMG,
                "attrs": {SCRIPT: SVG, "status": ATTR_BREAK},
            },
            {
                "id": f"request:{key}:c:1",
                "kind": "request",
                "label": SCRIPT,
                "attrs": {
                    "method": SVG,
                    "elapsed_ns": 60 * S,
                    "peer": IMG,
                    "correlation_key": ATTR_BREAK,
                },
            },
        ],
        edges=[
            (victim, holder),
            (holder, f"task:{key}:2"),
            (victim, f"task:other-9:{SCRIPT}"),
        ],
        wake_events=[
            {"at_ns": BASE_NS - S, "waker_task_id": 2, "woken_task_id": 1, "target_worker": 0}
        ],
        frames={"1": f"{SCRIPT}\n    at {SVG}", "2": f"</pre></ol>{IMG}\n    at {ATTR_BREAK}"},
        pending_traces=[
            {"task_id": 1, "at_ns": BASE_NS, "duration_us": 3_000_000, "frame_ids": [1, 2]},
            {"task_id": 2, "at_ns": BASE_NS, "duration_us": 1_000_000, "frame_ids": [1, 2]},
        ],
    )


@pytest.fixture
def hostile(ingest):
    """A stored snapshot whose every string is hostile; its id as text."""
    return ingest(hostile_document())
