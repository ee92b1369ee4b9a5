import pytest

from snapshots import queries
from snapshots.scope import resolve_scope
from tests.api.helpers import node, push

pytestmark = pytest.mark.django_db

S = 1_000_000_000


def test_a_snapshot_lists_the_edges_it_cannot_resolve_with_the_present_end(rpc_pair):
    front, back = rpc_pair
    (edge,) = queries.unresolved_edges(resolve_scope(back.snapshot_id))
    assert (edge["src"], edge["dst"]) == (
        "request:frontend-100:conn_1:7",
        "response:backend-200:conn_1:7",
    )
    assert edge["process"] == "backend-200"
    assert edge["missing_side"] == "src"
    assert edge["referenced_proc_key"] == "frontend-100"
    assert edge["src_node"] is None
    assert edge["dst_node"]["label"] == "Backend.fetch"


def test_the_live_view_has_no_unresolved_edge_once_both_sides_are_in(rpc_pair):
    assert queries.unresolved_edges(resolve_scope("live")) == []


def test_stuck_requests_lists_requests_without_an_answer_oldest_first(rpc_pair):
    stuck = queries.stuck_requests(resolve_scope("live"), older_than_ns=5 * S)
    assert [(n.node_id, n.elapsed_ns) for n in stuck] == [
        ("request:frontend-100:conn_1:7", 12 * S),
        ("response:backend-200:conn_1:7", 12 * S),
        ("request:backend-200:conn_2:3", 11 * S),
        ("response:frontend-100:conn_2:3", 11 * S),
    ]
    first = stuck[0]
    assert (first.method, first.peer, first.correlation_key) == (
        "Backend.fetch",
        "backend",
        "conn_1:7",
    )
    assert first.process.proc_key == "frontend-100"


def test_stuck_requests_honours_the_threshold(rpc_pair):
    stuck = queries.stuck_requests(resolve_scope("live"), older_than_ns=11 * S)
    assert {n.node_id for n in stuck} == {
        "request:frontend-100:conn_1:7",
        "response:backend-200:conn_1:7",
    }


def test_stuck_requests_defaults_to_the_configured_threshold(rpc_pair, settings):
    settings.PEEPSWEB_STUCK_REQUEST_S = 60
    assert queries.stuck_requests(resolve_scope("live")) == []


def test_answered_requests_and_odd_elapsed_values_are_not_stuck(db):
    sid = push(
        "p-1",
        [
            node("request", "p-1", "done", "A.done", elapsed_ns=60 * S, status="ok"),
            node("request", "p-1", "failed", "A.failed", elapsed_ns=60 * S, status="error"),
            node("request", "p-1", "text", "A.text", elapsed_ns="a minute"),
            node("request", "p-1", "bool", "A.bool", elapsed_ns=True),
            node("request", "p-1", "none", "A.none"),
            node("request", "p-1", "dash", "A.dash", elapsed_ns=60 * S, status="In-Flight"),
            node("response", "p-1", "null", "A.null", elapsed_ns=7 * S, status=None),
            node("future", "p-1", "other", "not a request", elapsed_ns=60 * S),
        ],
    ).snapshot_id
    stuck = queries.stuck_requests(resolve_scope(sid), older_than_ns=5 * S)
    assert [n.label for n in stuck] == ["A.dash", "A.null"]


def test_the_example_snapshots_alone_each_show_their_stuck_side(rpc_pair):
    front, back = rpc_pair
    stuck = queries.stuck_requests(resolve_scope(back.snapshot_id), older_than_ns=5 * S)
    assert [n.node_id for n in stuck] == [
        "response:backend-200:conn_1:7",
        "request:backend-200:conn_2:3",
    ]
