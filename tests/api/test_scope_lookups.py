"""Small scope-wide lookups the pages use beside the API."""

import pytest

from snapshots import queries
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope
from tests.api.helpers import load
from tests.support.examples import read_example

pytestmark = pytest.mark.django_db


def test_kind_counts_are_biggest_first(rpc_pair):
    assert queries.kind_counts(resolve_scope("live")) == {
        "task": 3,
        "request": 2,
        "response": 2,
        "lock": 1,
    }


def test_state_facets_list_raw_states_most_frequent_first(db):
    scope = resolve_scope(load("taskgraph_workflow").snapshot_id)
    assert queries.state_facets(scope)[:2] == [("pending", 3), ("succeeded", 2)]


def test_node_briefs_describe_only_nodes_of_the_scope(rpc_pair):
    front, back = rpc_pair
    briefs = queries.node_briefs(
        resolve_scope(back.snapshot_id), ["task:backend-200:9", "task:frontend-100:5", ""]
    )
    assert list(briefs) == ["task:backend-200:9"]
    assert briefs["task:backend-200:9"]["state_class"] == "waiting"


def test_scope_pending_traces_keep_each_tasks_newest_trace_with_frame_texts(db):
    doc = read_example("rpc_backend")
    doc["pending_traces"].insert(0, {"task_id": 9, "at_ns": 1, "duration_us": 5, "frame_ids": [2]})
    ingest_document(doc)
    load("rpc_frontend")
    traces = queries.scope_pending_traces(resolve_scope("live"))
    assert sorted((t["node_id"], t["proc_key"]) for t in traces) == [
        ("task:backend-200:9", "backend-200"),
        ("task:frontend-100:6", "frontend-100"),
    ]
    back = next(t for t in traces if t["node_id"] == "task:backend-200:9")
    assert back["at_ns"] == 1763772000000000000  # as of the capture
    assert back["frames"][0]["text"].startswith("roam::Caller::call")
