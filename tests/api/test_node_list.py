import pytest
from django.db import connection

from snapshots import queries
from snapshots.queries import QueryError
from snapshots.scope import resolve_scope
from tests.api.helpers import get_json, load, node, push, task

pytestmark = pytest.mark.django_db


def ids(body):
    return [n["node_id"] for n in body["nodes"]]


@pytest.fixture
def workflow(db):
    return load("taskgraph_workflow").snapshot_id


def url(sid, query=""):
    return f"/api/v1/snapshots/{sid}/nodes" + (f"?{query}" if query else "")


def test_it_lists_every_node_of_a_snapshot_in_node_id_order(client, workflow):
    body = get_json(client, url(workflow))
    assert body["total"] == 10
    assert ids(body) == sorted(ids(body))
    assert ids(body)[:3] == [
        "semaphore:persona-scheduler-777:action:extraction",
        "task:persona-scheduler-777:1",
        "task:persona-scheduler-777:2",
    ]
    first = body["nodes"][1]
    assert first["label"] == "gather_data"
    assert first["process"] == "persona-scheduler"
    assert first["state"] == "succeeded"
    assert first["state_class"] == "done"
    assert first["attrs"]["action_name"] == "gather"
    assert first["age_ns"] == 1763772000000000000 - 1763771901000000000
    assert first["needed_by_count"] == 3


def test_it_filters_by_kind(client, workflow):
    body = get_json(client, url(workflow, "kind=semaphore"))
    assert ids(body) == ["semaphore:persona-scheduler-777:action:extraction"]


def test_it_filters_by_raw_state(client, workflow):
    body = get_json(client, url(workflow, "state=pending"))
    assert ids(body) == [f"task:persona-scheduler-777:{i}" for i in (5, 7, 9)]


def test_it_filters_by_state_class_taking_several_values(client, workflow):
    body = get_json(client, url(workflow, "state_class=failed&state_class=skipped"))
    assert ids(body) == ["task:persona-scheduler-777:3", "task:persona-scheduler-777:8"]


def test_it_rejects_an_unknown_state_class_naming_the_param(client, workflow):
    body = get_json(client, url(workflow, "state_class=stuck"), status=400)
    assert body["path"] == "state_class"
    assert "running, runnable, waiting" in body["error"]


def test_it_filters_by_process_key_or_name_in_the_live_view(client, rpc_pair):
    by_key = get_json(client, url("live", "process=backend-200"))
    by_name = get_json(client, url("live", "process=backend"))
    assert ids(by_key) == ids(by_name)
    assert {n["proc_key"] for n in by_key["nodes"]} == {"backend-200"}
    assert by_key["total"] == 3
    assert get_json(client, url("live", "process=nobody"))["total"] == 0


def test_it_searches_labels_and_node_ids_ignoring_case(client, workflow):
    assert ids(get_json(client, url(workflow, "q=EXTRACT_"))) == [
        f"task:persona-scheduler-777:{i}" for i in (2, 3, 4)
    ]
    assert ids(get_json(client, url(workflow, "q=action:extr"))) == [
        "semaphore:persona-scheduler-777:action:extraction"
    ]


def test_it_searches_with_a_regex_between_slashes(client, workflow):
    body = get_json(client, url(workflow, "q=/^(load|cleanup)$/"))
    assert ids(body) == ["task:persona-scheduler-777:7", "task:persona-scheduler-777:9"]
    assert get_json(client, url(workflow, "q=/^LOAD$/"))["total"] == 0
    assert get_json(client, url(workflow, "q=/^LOAD$/i"))["total"] == 1


def test_a_substring_search_treats_percent_and_underscore_literally(client):
    proc = push("p-1", [task("p-1", 1, "100%_done"), task("p-1", 2, "100x done")])
    assert get_json(client, url(proc.snapshot_id, "q=100%25_"))["total"] == 1


def test_it_rejects_an_invalid_regex_naming_q(client, workflow):
    body = get_json(client, url(workflow, "q=/(unclosed/"), status=400)
    assert body["path"] == "q"
    assert "regular expression" in body["error"]


def test_it_combines_filters(client, workflow):
    body = get_json(client, url(workflow, "kind=task&state_class=waiting&q=/^[lc]/"))
    assert ids(body) == ["task:persona-scheduler-777:7", "task:persona-scheduler-777:9"]


def test_it_sorts_by_label_both_ways(client, workflow):
    up = get_json(client, url(workflow, "kind=task&sort=label"))
    down = get_json(client, url(workflow, "kind=task&sort=-label"))
    labels = [n["label"] for n in up["nodes"]]
    assert labels == sorted(labels)
    assert ids(down) == ids(up)[::-1]
    assert up["sort"] == "label"


def test_it_sorts_by_age_oldest_first_with_a_minus(client, workflow):
    body = get_json(client, url(workflow, "kind=task&sort=-age"))
    ages = [n["age_ns"] for n in body["nodes"]]
    assert ages == sorted(ages, reverse=True)
    assert body["nodes"][0]["label"] == "gather_data"


def test_it_puts_missing_values_last_in_both_directions(client):
    proc = load("channel_full_stall")  # only tasks have a pending duration
    for sort in ("pending_us", "-pending_us"):
        body = get_json(client, url(proc.snapshot_id, f"sort={sort}"))
        assert [n["pending_us"] is None for n in body["nodes"]] == [False] * 2 + [True] * 4
    longest = get_json(client, url(proc.snapshot_id, "sort=-pending_us"))["nodes"][0]
    assert longest["node_id"] == "task:channel-full-stall-3111:3"


def test_it_sorts_state_classes_in_their_documented_order(client, workflow):
    body = get_json(client, url(workflow, "kind=task&sort=state_class"))
    classes = [n["state_class"] for n in body["nodes"]]
    assert classes == [
        "running",
        "runnable",
        "waiting",
        "waiting",
        "waiting",
        "done",
        "done",
        "failed",
        "skipped",
    ]


@pytest.mark.parametrize(
    "sort",
    [
        "node_id",
        "label",
        "state",
        "state_class",
        "proc_key",
        "spawned_at_ns",
        "age",
        "pending_us",
        "needs_count",
        "last_waker",
        "task_id",
        "needed_by_count",
        "kind",
    ],
)
def test_every_column_sort_pages_through_every_node_exactly_once(client, sort):
    proc = push(
        "p-1",
        [
            task("p-1", i, f"t{i % 3}", ("pending", "running")[i % 2], spawned_at_ns=i % 4)
            for i in range(1, 24)
        ],
    )
    for direction in ("", "-"):
        seen = []
        for page in range(1, 7):
            body = get_json(
                client, url(proc.snapshot_id, f"sort={direction}{sort}&per_page=4&page={page}")
            )
            seen += ids(body)
        assert sorted(seen) == sorted(f"task:p-1:{i}" for i in range(1, 24))


def test_it_sorts_by_a_kind_specific_attribute_as_a_number(client):
    proc = push(
        "p-1",
        [
            node("mpsc_tx", "p-1", q, f"queue {q}", queue_len=q, capacity=100)
            for q in (9, 10, 2, 100)
        ],
    )
    body = get_json(client, url(proc.snapshot_id, "kind=mpsc_tx&sort=-attrs.queue_len"))
    assert [n["attrs"]["queue_len"] for n in body["nodes"]] == [100, 10, 9, 2]


@pytest.mark.parametrize("sort", ["bogus", "attrs.", "attrs.a-b", "-", "id; drop table"])
def test_it_rejects_an_unknown_sort_naming_the_param(client, workflow, sort):
    body = get_json(client, url(workflow, f"sort={sort}"), status=400)
    assert body["path"] == "sort"


def test_it_paginates_and_keeps_the_filters_in_the_page_links(client, workflow):
    first = get_json(client, url(workflow, "kind=task&sort=label&per_page=4"))
    assert (first["total"], first["num_pages"], len(first["nodes"])) == (9, 3, 4)
    assert first["next"] == url(workflow, "kind=task&sort=label&per_page=4&page=2")
    third = get_json(client, url(workflow, "kind=task&sort=label&per_page=4&page=3"))
    assert len(third["nodes"]) == 1
    assert third["next"] is None
    assert third["previous"] == url(workflow, "kind=task&sort=label&per_page=4&page=2")


@pytest.mark.parametrize(
    "query, param",
    [
        ("page=0", "page"),
        ("page=two", "page"),
        ("per_page=1000", "per_page"),
        ("q=" + "x" * 513, "q"),
    ],
)
def test_it_rejects_bad_parameters_naming_them(client, workflow, query, param):
    assert get_json(client, url(workflow, query), status=400)["path"] == param


def test_the_live_view_lists_nodes_of_every_live_process(client, rpc_pair):
    body = get_json(client, url("live", "kind=task&sort=proc_key"))
    assert ids(body) == ["task:backend-200:9", "task:frontend-100:5", "task:frontend-100:6"]


def test_node_page_attaches_each_rows_process_without_a_query_per_row(
    workflow, django_assert_num_queries
):
    queries.node_page(resolve_scope(workflow))  # counts the capture once, for good
    scope = resolve_scope(workflow)
    with django_assert_num_queries(2):  # the scope's processes, the page
        page = queries.node_page(scope, kind="task", per_page=9)
        assert {n.process.process for n in page.items} == {"persona-scheduler"}


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"kind": "task"},
        {"kind": ["task", "semaphore"]},
        {"kind": "task", "state_class": ["waiting", "failed"]},
        {"state_class": "waiting"},
        {"kind": "semaphore", "state_class": "waiting"},
        {"kind": "task", "process": "frontend"},
        {"process": ["backend-200", "frontend-100"], "kind": "task"},
        {"process": "nobody"},
        {"kind": "task", "state": "pending"},
        {"q": "fetch"},
    ],
)
def test_the_total_always_equals_a_count_of_the_matching_rows(rpc_pair, filters):
    load("taskgraph_workflow")
    scope = resolve_scope("live")
    page = queries.node_page(scope, **filters)
    assert page.total == queries.node_queryset(scope, **filters).count()


def test_node_page_kwargs_reads_repeated_parameters_from_a_querydict():
    from django.http import QueryDict

    kwargs = queries.node_page_kwargs(QueryDict("state_class=waiting&state_class=done&sort=-age"))
    assert kwargs["state_class"] == ["waiting", "done"]
    assert kwargs["sort"] == "-age"


def test_node_page_reports_the_parameter_of_a_bad_value(workflow):
    with pytest.raises(QueryError) as e:
        queries.node_page(resolve_scope(workflow), per_page="many")
    assert e.value.param == "per_page"


def test_a_regex_the_database_rejects_is_a_400_and_the_connection_stays_usable(client, workflow):
    # Python accepts named groups; PostgreSQL's regex dialect does not.
    response = client.get(url(workflow, "q=/(?P<n>^load$)/"))
    if connection.vendor == "postgresql":
        assert response.status_code == 400
        assert response.json()["path"] == "q"
    else:
        assert ids(response.json()) == ["task:persona-scheduler-777:7"]
    assert get_json(client, url(workflow, "q=/^load$/"))["total"] == 1
