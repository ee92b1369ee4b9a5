import json
from pathlib import Path

import pytest

from snapshots import versions
from snapshots.ingest import ingest_document, response_body
from snapshots.models import Edge, Node, UnresolvedEdge

EXAMPLES = Path(__file__).resolve().parents[2] / "snapshots" / "example_snapshots"

# Counted by hand from the files: nodes, local edges, unresolved edges, wake
# events, pending traces.
EXPECTED = {
    "channel_full_stall.json": ("channel-full-stall-3111", 6, 4, 0, 16, 2),
    "mutex_lock_order_inversion.json": ("lock-demo-4242", 6, 6, 0, 3, 2),
    "peeps_processdump.json": ("vx-vfsd-51859", 2, 1, 0, 0, 0),
    "rpc_backend.json": ("backend-200", 3, 2, 1, 0, 1),
    "rpc_frontend.json": ("frontend-100", 5, 4, 1, 0, 1),
    "taskgraph_workflow.json": ("persona-scheduler-777", 10, 11, 0, 0, 0),
}


def test_every_example_file_has_expected_counts():
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_ingests_the_example_with_the_expected_counts(name):
    doc = json.loads((EXAMPLES / name).read_text())
    proc = ingest_document(doc)
    proc_key, nodes, edges, unresolved, wakes, traces = EXPECTED[name]
    body = response_body(proc)
    assert body == {
        "snapshot_id": proc.snapshot_id,
        "process": doc.get("process", doc.get("process_name")),
        "proc_key": proc_key,
        "nodes": nodes,
        "edges": edges,
        "unresolved_edges": unresolved,
        "wake_events": wakes,
        "pending_traces": traces,
    }
    assert versions.of(Node, proc).count() == nodes
    assert versions.of(Edge, proc).count() == edges
    assert versions.of(UnresolvedEdge, proc).count() == unresolved
