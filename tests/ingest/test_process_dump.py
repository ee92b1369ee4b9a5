"""The peeps ProcessDump compatibility shape."""

import pytest

from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Edge, Node

from .conftest import assert_nothing_stored

pytestmark = pytest.mark.django_db


def dump(**extra):
    return {
        "process_name": "Vx VFSd",
        "pid": 51859,
        "timestamp": "2025-11-22T00:40:00Z",
        "tasks": [],
        "threads": [],
        "graph": {
            "nodes": [
                {
                    "id": "task:vx-vfsd-51859:1",
                    "kind": "task",
                    "process": "Vx VFSd",
                    "label": "accept_loop",
                    "task_id": 1,
                    "source_line": 40,
                    "attrs_json": '{"task_id": 1, "state": "pending"}',
                },
            ],
            "edges": [
                {
                    "id": "e1",
                    "src_id": "task:vx-vfsd-51859:1",
                    "dst_id": "future:other-1:9",
                    "kind": "needs",
                    "attrs_json": "{}",
                    "origin": "Explicit",
                },
            ],
        },
        **extra,
    }


def test_the_proc_key_is_derived_from_the_slugged_process_name_and_pid():
    proc = ingest_document(dump())
    assert (proc.process, proc.pid, proc.proc_key) == ("Vx VFSd", 51859, "vx-vfsd-51859")


def test_the_example_processdump_ingests(example_document):
    proc = ingest_document(example_document("peeps_processdump"))
    assert (proc.proc_key, proc.node_count, proc.edge_count) == ("vx-vfsd-51859", 2, 1)
    assert Edge.objects.get().src == "task:vx-vfsd-51859:1"


def test_attrs_json_and_unknown_node_fields_end_up_in_attrs():
    ingest_document(dump())
    node = Node.objects.get()
    assert node.attrs == {"task_id": 1, "state": "pending", "process": "Vx VFSd", "source_line": 40}
    assert (node.task_id, node.state_class, node.label) == (1, "waiting", "accept_loop")


def test_the_timestamp_becomes_captured_at_ns():
    proc = ingest_document(dump())
    assert proc.captured_at_ns == 1_763_772_000_000_000_000


def test_cross_process_edges_work_in_the_dump_shape_too():
    proc = ingest_document(dump())
    assert proc.unresolved_count == 1


def test_errors_name_the_field_inside_graph():
    doc = dump()
    doc["graph"]["nodes"][0]["kind"] = "Task"
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert caught.value.path == "graph.nodes[0].kind"
    assert_nothing_stored()


def test_graph_must_be_an_object():
    with pytest.raises(IngestError) as caught:
        ingest_document(dump(graph=[]))
    assert (caught.value.status, caught.value.path) == (400, "graph")
