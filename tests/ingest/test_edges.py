"""needs edges: kind, duplicates, and endpoints outside the process."""

import pytest

from snapshots import versions
from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Edge, UnresolvedEdge

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def edge(src, dst, **extra):
    return {"src_id": src, "dst_id": dst, "kind": "needs", **extra}


def rejects(doc, status, path, message=None):
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (status, path), caught.value
    if message:
        assert message in caught.value.message
    assert_nothing_stored()


def test_edges_are_stored_as_src_needs_dst():
    proc = ingest_document(small_doc())
    pairs = set(versions.of(Edge, proc).values_list("src", "dst"))
    assert pairs == {("task:svc-1:7", "lock:svc-1:db_pool"), ("lock:svc-1:db_pool", "task:svc-1:3")}


@pytest.mark.parametrize("kind", ["wakes", "", None, "NEEDS"])
def test_an_edge_kind_other_than_needs_is_a_400(kind):
    doc = small_doc()
    doc["edges"][1]["kind"] = kind
    rejects(doc, 400, "edges[1].kind", '"needs"')


def test_an_edge_without_a_kind_is_a_400():
    doc = small_doc()
    del doc["edges"][0]["kind"]
    rejects(doc, 400, "edges[0].kind")


def test_an_edge_without_src_id_is_a_400():
    doc = small_doc()
    del doc["edges"][1]["src_id"]
    rejects(doc, 400, "edges[1].src_id")


def test_an_edge_must_be_an_object():
    doc = small_doc()
    doc["edges"].append(["a", "b"])
    rejects(doc, 400, "edges[2]")


def test_duplicate_src_dst_pairs_collapse_to_one_edge():
    doc = small_doc()
    doc["edges"].append(edge("task:svc-1:7", "lock:svc-1:db_pool", attrs={"again": True}))
    doc["edges"].append(edge("task:svc-1:7", "lock:svc-1:db_pool"))
    proc = ingest_document(doc)
    assert proc.edge_count == 2
    assert Edge.objects.filter(src="task:svc-1:7").count() == 1
    # the first occurrence wins
    assert Edge.objects.get(src="task:svc-1:7").attrs == {}


def test_the_reverse_pair_is_a_different_edge():
    doc = small_doc()
    doc["edges"].append(edge("lock:svc-1:db_pool", "task:svc-1:7"))
    assert ingest_document(doc).edge_count == 3


def test_a_self_loop_is_kept():
    doc = small_doc()
    doc["edges"].append(edge("task:svc-1:7", "task:svc-1:7"))
    assert ingest_document(doc).edge_count == 3


def test_edge_attrs_and_attrs_json_are_stored():
    doc = small_doc()
    doc["edges"][0]["attrs"] = {"since_ns": 5}
    doc["edges"][1]["attrs_json"] = '{"held": true}'
    ingest_document(doc)
    assert Edge.objects.get(dst="lock:svc-1:db_pool").attrs == {"since_ns": 5}
    assert Edge.objects.get(src="lock:svc-1:db_pool").attrs == {"held": True}


def test_a_missing_endpoint_of_this_process_is_a_400():
    doc = small_doc()
    doc["edges"].append(edge("task:svc-1:7", "future:svc-1:404"))
    rejects(doc, 400, "edges[2].dst_id", "must emit every node")


def test_a_missing_src_of_this_process_is_a_400():
    doc = small_doc()
    doc["edges"].append(edge("future:svc-1:404", "task:svc-1:7"))
    rejects(doc, 400, "edges[2].src_id")


def test_a_missing_endpoint_with_no_proc_key_segment_is_a_400():
    doc = small_doc()
    doc["edges"].append(edge("task:svc-1:7", "nowhere"))
    rejects(doc, 400, "edges[2].dst_id", "owning process is unknown")


def test_an_endpoint_owned_by_another_process_is_kept_as_an_unresolved_edge():
    doc = small_doc()
    doc["edges"].append(edge("task:svc-1:7", "response:backend-200:conn_1:7"))
    proc = ingest_document(doc)
    assert (proc.edge_count, proc.unresolved_count) == (2, 1)
    row = UnresolvedEdge.objects.get()
    assert (row.src, row.dst) == ("task:svc-1:7", "response:backend-200:conn_1:7")
    assert (row.missing_side, row.referenced_proc_key) == ("dst", "backend-200")
    assert "backend-200" in row.reason
    assert not Edge.objects.filter(dst="response:backend-200:conn_1:7").exists()


def test_a_missing_src_of_another_process_is_unresolved_on_the_src_side():
    doc = small_doc()
    doc["edges"].append(edge("request:frontend-100:conn_1:7", "task:svc-1:3"))
    ingest_document(doc)
    row = UnresolvedEdge.objects.get()
    assert (row.missing_side, row.referenced_proc_key) == ("src", "frontend-100")


def test_both_endpoints_in_other_processes_are_unresolved_on_both_sides():
    doc = small_doc()
    doc["edges"].append(edge("request:a-1:x", "response:b-2:x"))
    ingest_document(doc)
    row = UnresolvedEdge.objects.get()
    assert (row.missing_side, row.referenced_proc_key) == ("both", "a-1")
    assert "a-1" in row.reason and "b-2" in row.reason


def test_duplicate_unresolved_edges_collapse_too():
    doc = small_doc()
    doc["edges"] += [edge("task:svc-1:7", "response:b-2:x")] * 3
    assert ingest_document(doc).unresolved_count == 1
    assert UnresolvedEdge.objects.count() == 1


def test_edges_over_two_processes_resolve_in_one_rpc_example(example_document):
    frontend = ingest_document(example_document("rpc_frontend"))
    row = versions.of(UnresolvedEdge, frontend).get()
    assert (row.src, row.dst) == ("request:backend-200:conn_2:3", "response:frontend-100:conn_2:3")
    assert (row.missing_side, row.referenced_proc_key) == ("src", "backend-200")
