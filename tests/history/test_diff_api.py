"""GET /api/v1/snapshots/{a}/diff/{b} against a scripted sequence of captures."""

import pytest

from tests.api.helpers import get_json
from tests.history.conftest import BASE_NS, KEY, LOCK, T1, T2, T3, S, post, task

pytestmark = pytest.mark.django_db

EMPTY = {
    "nodes_added": 0,
    "nodes_removed": 0,
    "nodes_changed": 0,
    "edges_added": 0,
    "edges_removed": 0,
    "cycles_appeared": 0,
    "cycles_resolved": 0,
}


def diff(client, a, b, query=""):
    return get_json(client, f"/api/v1/snapshots/{a}/diff/{b}{query}")


def edge(src, dst):
    return {"src_id": src, "dst_id": dst, "attrs": {}, "cross_process": False}


def test_a_node_appears_one_changes_state_and_an_edge_is_added(client, captures):
    c1, c2, _, _ = captures
    body = diff(client, c1, c2)
    assert body["a"]["snapshot_id"] == c1 and body["b"]["snapshot_id"] == c2
    assert body["a"]["captured_at_ns"] == BASE_NS
    # The lock's needed_by count changed too (its row differs), but none of
    # the fields a diff reports: it is not listed.
    assert body["counts"] == {**EMPTY, "nodes_added": 1, "nodes_changed": 1, "edges_added": 1}
    assert body["nodes_added"] == [
        {
            "id": T3,
            "kind": "task",
            "label": "worker3",
            "state": "running",
            "state_class": "running",
            "proc_key": KEY,
        }
    ]
    [changed] = body["nodes_changed"]
    assert changed["id"] == T2
    assert changed["before"] == {"state": "running"}
    assert changed["after"] == {"state": "pending"}
    assert body["edges_added"] == [edge(T2, LOCK)]
    assert body["nodes_removed"] == body["edges_removed"] == []
    assert body["cycles_appeared"] == body["cycles_resolved"] == []


def test_a_node_goes_an_edge_goes_and_a_cycle_forms(client, captures):
    _, c2, c3, _ = captures
    body = diff(client, c2, c3)
    assert body["counts"] == {
        **EMPTY,
        "nodes_removed": 1,
        "edges_added": 1,
        "edges_removed": 1,
        "cycles_appeared": 1,
    }
    assert [n["id"] for n in body["nodes_removed"]] == [T3]
    assert body["nodes_removed"][0]["state"] == "running"  # as it was in a
    assert body["edges_added"] == [edge(LOCK, T2)]
    assert body["edges_removed"] == [edge(T1, LOCK)]
    [cycle] = body["cycles_appeared"]
    assert cycle["members"] == sorted([LOCK, T2])
    assert sorted(cycle["cycle"]) == sorted([LOCK, T2])


def test_the_cycle_resolves(client, captures):
    _, _, c3, c4 = captures
    body = diff(client, c3, c4)
    assert body["counts"] == {**EMPTY, "edges_removed": 1, "cycles_resolved": 1}
    assert body["edges_removed"] == [edge(LOCK, T2)]
    assert [c["members"] for c in body["cycles_resolved"]] == [sorted([LOCK, T2])]


def test_across_the_whole_script_and_backwards(client, captures):
    c1, _, _, c4 = captures
    forward = diff(client, c1, c4)
    assert forward["counts"] == {
        **EMPTY,
        "nodes_changed": 1,
        "edges_added": 1,
        "edges_removed": 1,
    }
    backward = diff(client, c4, c1)
    assert backward["edges_added"] == forward["edges_removed"]
    assert backward["edges_removed"] == forward["edges_added"]
    [changed] = backward["nodes_changed"]
    assert (changed["before"], changed["after"]) == ({"state": "pending"}, {"state": "running"})


def test_a_capture_against_itself_and_latest(client, captures):
    c4 = captures[-1]
    assert diff(client, c4, c4)["counts"] == EMPTY
    body = diff(client, captures[2], "latest")
    assert body["b"]["snapshot_id"] == c4
    assert body["counts"]["cycles_resolved"] == 1


def test_live_is_the_newest_capture_of_each_process(client, captures):
    body = diff(client, captures[2], "live")
    assert body["b"] == {"snapshot_id": "live", "live": True, "captured_at_ns": BASE_NS + 3 * S}
    assert body["counts"]["cycles_resolved"] == 1


def test_label_kind_and_attrs_changes_are_listed_with_only_those_fields(client, db):
    a = post(client, [task(1, "pending"), {"id": LOCK, "kind": "lock", "label": "db"}], [], BASE_NS)
    renamed = {**task(1, "pending"), "label": "renamed"}
    renamed["attrs"] = {**renamed["attrs"], "extra": [1, 2]}
    b = post(client, [renamed, {"id": LOCK, "kind": "semaphore", "label": "db"}], [], BASE_NS + S)
    body = diff(client, a, b)
    by_id = {n["id"]: n for n in body["nodes_changed"]}
    assert by_id[LOCK]["before"] == {"kind": "lock"}
    assert by_id[LOCK]["after"] == {"kind": "semaphore"}
    t1 = by_id[T1]
    assert set(t1["before"]) == set(t1["after"]) == {"label", "attrs"}
    assert (t1["before"]["label"], t1["after"]["label"]) == ("worker1", "renamed")
    # Only the attrs keys that changed; the one the earlier capture lacked
    # is absent from `before`.
    assert (t1["before"]["attrs"], t1["after"]["attrs"]) == ({}, {"extra": [1, 2]})


def test_resolved_cross_process_edges_count_as_edges(client, db):
    front, back = "front-1", "back-1"
    caller, handler = f"task:{front}:1", f"task:{back}:1"

    a = post(client, [{**task(1, "pending"), "id": caller}], [], BASE_NS, proc_key=front)
    post(client, [{**task(1, "running"), "id": handler}], [], BASE_NS, proc_key=back)
    # The front end's next capture needs the back end's handler: resolved
    # in the live graph, which holds both processes.
    edges = [(caller, handler)]
    post(client, [{**task(1, "pending"), "id": caller}], edges, BASE_NS + S, proc_key=front)
    body = diff(client, a, "live")
    assert body["edges_added"] == [
        {"src_id": caller, "dst_id": handler, "attrs": {}, "cross_process": True}
    ]
    assert body["counts"]["edges_added"] == 1
    assert [n["id"] for n in body["nodes_added"]] == [handler]


def many_tasks(count, state="running"):
    return [task(i, state) for i in range(1, count + 1)]


def test_sections_are_capped_and_paged_with_links_naming_the_section(client, db):
    a = post(client, many_tasks(3), [], BASE_NS)
    b = post(client, many_tasks(8), [], BASE_NS + S)
    body = diff(client, a, b, "?per_page=2")
    assert body["counts"]["nodes_added"] == 5
    added = [f"task:{KEY}:{i}" for i in range(4, 9)]
    assert [n["id"] for n in body["nodes_added"]] == sorted(added)[:2]
    links = body["pages"]["nodes_added"]
    assert (links["total"], links["num_pages"], links["previous"]) == (5, 3, None)
    assert "section=nodes_added" in links["next"] and "page=2" in links["next"]
    seen = []
    url = f"/api/v1/snapshots/{a}/diff/{b}?per_page=2&section=nodes_added"
    while url:
        page = get_json(client, url)
        assert set(page) >= {"nodes_added", "counts"} and "nodes_removed" not in page
        seen += [n["id"] for n in page["nodes_added"]]
        url = page["pages"]["nodes_added"]["next"]
    assert seen == sorted(added)
    # Past the end: an empty list, as the node list answers.
    past = diff(client, a, b, "?section=nodes_added&page=9")
    assert past["nodes_added"] == [] and past["counts"]["nodes_added"] == 5


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?page=0", "page"),
        ("?page=x", "page"),
        ("?per_page=501", "per_page"),
        ("?section=nodes", "section"),
        ("?section=%00", "section"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, captures, query, param):
    response = client.get(f"/api/v1/snapshots/{captures[0]}/diff/{captures[1]}{query}")
    assert response.status_code == 400, response.content
    assert response.json()["path"] == param


@pytest.mark.parametrize(
    ("a", "b", "side"),
    [("999999", "latest", "a"), ("latest", "999999", "b"), ("x<y>", "1", "a"), ("1", "١٧", "b")],
)
def test_an_unknown_snapshot_is_a_404_naming_it(client, captures, a, b, side):
    a = a if a != "1" else captures[0]
    b = b if b != "1" else captures[0]
    response = client.get(f"/api/v1/snapshots/{a}/diff/{b}")
    assert response.status_code == 404
    body = response.json()
    assert body["path"] == side
    assert repr(a if side == "a" else b) in body["error"]


def test_responses_match_the_openapi_schema(client, captures):
    from openapi_schema_validator import OAS31Validator

    from snapshots.api.openapi import document

    validator = OAS31Validator({"$ref": "#/components/schemas/Diff", **document()})
    for a, b in zip(captures, captures[1:], strict=False):
        validator.validate(diff(client, a, b))
    validator.validate(diff(client, captures[0], "live", "?section=cycles_appeared"))
