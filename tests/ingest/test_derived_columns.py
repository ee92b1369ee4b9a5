"""Columns computed at ingest so task tables filter and sort in SQL."""

import pytest

from snapshots import versions
from snapshots.ingest import ingest_document
from snapshots.models import Node, ProcessSnapshot

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def node(node_id):
    return versions.rows(Node, versions.captures_of([ProcessSnapshot.objects.latest("id").id])).get(
        node_id=node_id
    )


def test_task_columns_come_from_attrs():
    ingest_document(small_doc())
    task = node("task:svc-1:7")
    assert (task.task_id, task.state, task.state_class, task.spawned_at_ns) == (
        7,
        "pending",
        "waiting",
        1_763_771_990_000_000_000,
    )
    assert (task.proc_key, task.label) == ("svc-1", "conn_handler")


def test_the_raw_state_is_kept_and_its_class_is_case_insensitive():
    ingest_document(small_doc())
    task = node("task:svc-1:3")
    assert (task.state, task.state_class) == ("Running", "running")


def test_non_task_nodes_have_no_task_columns():
    ingest_document(small_doc())
    lock = node("lock:svc-1:db_pool")
    assert (lock.task_id, lock.state, lock.state_class, lock.spawned_at_ns) == (None, "", "", None)


def test_a_task_without_state_is_unknown():
    doc = small_doc()
    del doc["nodes"][0]["attrs"]["state"]
    ingest_document(doc)
    assert node("task:svc-1:7").state_class == "unknown"


def test_a_task_id_missing_from_attrs_comes_from_the_node_id():
    doc = small_doc()
    del doc["nodes"][0]["attrs"]["task_id"]
    ingest_document(doc)
    assert node("task:svc-1:7").task_id == 7


def test_a_node_id_ending_in_a_superscript_digit_gives_no_task_id():
    # "²" is a digit to str.isdigit() but not to int(): once a 500.
    doc = small_doc()
    del doc["nodes"][0]["attrs"]["task_id"]
    doc["nodes"][0]["id"] = "task:svc-1:²"
    doc["edges"] = []
    ingest_document(doc)
    assert node("task:svc-1:²").task_id is None


def test_a_task_id_beyond_64_bits_is_left_in_attrs_only():
    doc = small_doc()
    doc["nodes"][0]["attrs"]["task_id"] = 2**63
    doc["nodes"][0]["id"] = "task:svc-1:big"
    doc["edges"] = []
    ingest_document(doc)
    assert node("task:svc-1:big").task_id is None


def test_needs_and_needed_by_counts():
    doc = small_doc()
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "response:b-2:x", "kind": "needs"})
    ingest_document(doc)
    counts = {n.node_id: (n.needs_count, n.needed_by_count) for n in Node.objects.all()}
    assert counts == {
        "task:svc-1:7": (2, 0),  # the lock, and a node of another process
        "lock:svc-1:db_pool": (1, 1),
        "task:svc-1:3": (0, 1),
    }


def test_pending_us_is_the_longest_pending_trace_as_of_the_capture():
    doc = small_doc()
    at = doc["captured_at_ns"]
    doc["pending_traces"] = [
        {"task_id": 7, "at_ns": at, "duration_us": 9_000_000},
        {"task_id": 7, "at_ns": at, "duration_us": 1},
        {"task_id": 7, "at_ns": at - 1000, "since_ns": at - 2_000_000},
    ]
    ingest_document(doc)
    task = node("task:svc-1:7")
    # Stored as when the wait began, so the row stays the same while it waits.
    assert task.pending_since_ns == at - 9_000_000_000
    assert task.pending_us == 9_000_000
    assert node("task:svc-1:3").pending_us is None


def test_last_waker_is_the_waker_of_the_newest_wake_event():
    doc = small_doc()
    doc["nodes"].append({"id": "task:svc-1:9", "kind": "task", "attrs": {"task_id": 9}})
    doc["wake_events"] = [
        {"at_ns": 30, "waker_task_id": 9, "woken_task_id": 7},
        {"at_ns": 50, "waker_task_id": 3, "woken_task_id": 7},
        {"at_ns": 40, "waker_task_id": 9, "woken_task_id": 7},
    ]
    ingest_document(doc)
    assert node("task:svc-1:7").last_waker == "task:svc-1:3"
    assert node("task:svc-1:3").last_waker == ""


def test_last_waker_is_empty_when_the_newest_wake_came_from_outside_any_task():
    doc = small_doc()
    doc["wake_events"].append({"at_ns": 99, "waker_task_id": None, "woken_task_id": 7})
    ingest_document(doc)
    assert node("task:svc-1:7").last_waker == ""
