"""Nodes a process sent before are not checked again (validate.ServerRules):
only elements byte for byte equal to ones that passed in the previous capture
of the same proc_key skip the contract's node check, and errors are still the
contract's own, first in document order, naming the right field."""

import copy

import pytest

from snapshots import versions
from snapshots.ingest import validate
from snapshots.models import Edge, Node, ProcessSnapshot

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def many_nodes(n=50):
    doc = small_doc()
    for i in range(n):
        doc["nodes"].append(
            {"id": f"future:svc-1:f{i}", "kind": "future", "attrs": {"name": f"Sleep#{i}"}}
        )
    return doc


@pytest.fixture
def decoded(monkeypatch):
    """The node and edge elements the contract decodes (one per full check)."""
    calls = []
    load = validate.load_element

    def counting(raw, where, i):
        if where in ("nodes", "edges"):
            calls.append((where, i))
        return load(raw, where, i)

    monkeypatch.setattr(validate.OrjsonCodec, "load_element", staticmethod(counting))
    validate.CHECKED_NODES.clear()
    validate.CHECKED_EDGES.clear()
    return calls


def test_only_changed_nodes_get_the_full_check(post, decoded):
    doc = many_nodes()
    assert post(doc).status_code == 201
    assert len(decoded) == len(doc["nodes"]) + len(doc["edges"])
    decoded.clear()
    doc["nodes"][10]["attrs"]["name"] = "Sleep#changed"
    doc["edges"][1]["attrs"] = {"note": "changed"}
    assert post(doc).status_code == 201
    assert decoded == [("nodes", 0), ("edges", 0)]  # one element each, checked alone
    # ...and the capture reads what was sent, in the sent order's positions.
    proc = ProcessSnapshot.objects.latest("id")
    assert proc.node_count == len(doc["nodes"])
    assert "Sleep#changed" in str(
        validate.CHECKED_NODES.get("svc-1", validate.Limits.from_settings(validate.settings))
    )


@pytest.mark.parametrize(
    "bad, path, message",
    [
        ({"id": "future:other-9:x", "kind": "future"}, "nodes[20].id", "other-9"),
        ({"id": "future:svc-1:f3", "kind": "future"}, "nodes[20].id", "nodes[6]"),
    ],
)
def test_an_error_after_remembered_nodes_is_the_contracts_own(post, decoded, bad, path, message):
    doc = many_nodes()
    assert post(doc).status_code == 201
    count = ProcessSnapshot.objects.count()
    second = copy.deepcopy(doc)
    second["nodes"][20] = bad  # a wrong proc_key; a repeat of a remembered node's id
    answer = post(second)
    fresh = fresh_answer(post, second)
    assert answer.status_code == fresh.status_code == 400
    assert answer.json() == fresh.json()
    assert answer.json()["path"] == path and message in answer.json()["error"]
    assert ProcessSnapshot.objects.count() == count


def fresh_answer(post, doc):
    validate.CHECKED_NODES.clear()  # what a server that remembers nothing answers
    validate.CHECKED_EDGES.clear()
    return post(doc)


def test_an_edge_error_after_remembered_edges_is_the_contracts_own(post, decoded):
    doc = small_doc()
    assert post(doc).status_code == 201
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "task:svc-1:3", "kind": "wakes"})
    answer = post(doc)
    fresh = fresh_answer(post, doc)
    assert answer.status_code == fresh.status_code == 400
    assert answer.json() == fresh.json() and answer.json()["path"] == "edges[2].kind"


def test_edges_are_collapsed_and_counted_as_without_memory(post, decoded):
    doc = small_doc()
    assert post(doc).status_code == 201
    # A repeat of a remembered pair with other attrs (the first one is kept),
    # and remembered edges whose nodes moved (needs counts by position).
    doc["edges"].append(dict(doc["edges"][0], attrs={"later": 1}))
    doc["nodes"].reverse()
    stored = []
    for answer in (post(doc), fresh_answer(post, doc)):
        assert answer.status_code == 201, answer.json()
        proc = ProcessSnapshot.objects.latest("id")
        stored.append(
            (
                proc.edge_count,
                sorted(versions.of(Edge, proc).values_list("src", "dst", "attrs")),
                sorted(
                    versions.of(Node, proc).values_list("node_id", "needs_count", "needed_by_count")
                ),
            )
        )
    assert stored[0] == stored[1] and stored[0][0] == 2


def test_a_remembered_node_is_only_reused_for_its_own_process(post, decoded):
    assert post(many_nodes()).status_code == 201
    decoded.clear()
    other = many_nodes()
    other["proc_key"] = "svc-2"  # same bytes, but its ids name svc-1: refused
    answer = post(other)
    assert answer.status_code == 400 and answer.json()["path"] == "nodes[0].id"


def test_big_bodies_are_not_remembered(post, decoded, monkeypatch):
    monkeypatch.setattr(validate, "REMEMBER_MAX", 10)  # the server's memory for big captures
    doc = many_nodes()
    for _ in range(2):
        decoded.clear()
        assert post(doc).status_code == 201
        nodes = [i for where, i in decoded if where == "nodes"]
        assert nodes == list(range(len(doc["nodes"])))  # every node checked in full, both times
