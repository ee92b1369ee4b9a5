"""The task table: filters, sort, pagination in the URL; htmx swaps only the
table; a fixed number of queries whatever the page size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.pages.conftest import BASE_NS, S, document, task


def shop_document():
    """Six tasks over two processes' worth of names and every kind of state."""
    key = "shop-1"
    nodes = [
        task(key, 1, "accept_loop", "running", spawned_s=300),
        task(key, 2, "conn_handler_2", "pending", spawned_s=50),
        task(key, 3, "conn_handler_3", "pending", spawned_s=40),
        task(key, 4, "flush", "completed", spawned_s=200),
        task(key, 5, "retry", "Timeout", spawned_s=100),
        task(key, 6, "odd_one", "frobnicating", spawned_s=10),
    ]
    return document(
        key,
        nodes,
        edges=[
            (f"task:{key}:2", f"task:{key}:1"),
            (f"task:{key}:3", f"task:{key}:1"),
            (f"task:{key}:3", f"task:{key}:2"),
        ],
        wake_events=[
            {"at_ns": BASE_NS - 2 * S, "waker_task_id": 1, "woken_task_id": 2, "target_worker": 0},
            {"at_ns": BASE_NS - S, "waker_task_id": 4, "woken_task_id": 3, "target_worker": 1},
        ],
        frames={"1": "park\n    at src/x.rs:1:1"},
        pending_traces=[
            {"task_id": 2, "at_ns": BASE_NS - S, "duration_us": 9_000_000, "frame_ids": [1]},
            {"task_id": 3, "at_ns": BASE_NS - S, "duration_us": 4_000_000, "frame_ids": [1]},
        ],
    )


@pytest.fixture
def shop(ingest):
    return ingest(shop_document())


def task_ids(response):
    return [n.task_id for n in response.context["page"].items]


def get(client, snapshot, **params):
    return client.get(reverse("pages:tasks", args=[snapshot]), params)


def test_it_lists_every_task_with_its_columns(client, shop):
    response = get(client, shop)
    assert response.status_code == 200
    assert task_ids(response) == [1, 2, 3, 4, 5, 6]
    body = response.content.decode()
    assert "conn_handler_2" in body
    assert "frobnicating" in body  # raw state shown as is
    assert 'class="badge state-unknown"' in body  # ... and classed unknown
    assert 'class="badge state-failed"' in body  # Timeout, case-insensitive
    assert "10.0s" in body  # pending duration of task 2 at the capture (9 s, 1 s before it)
    assert "50.0s" in body  # age at capture of task 2
    # The last waker of task 2 is task 1, linked by name.
    assert f'href="{reverse("pages:node", args=[shop, "task:shop-1:1"])}"' in body


def test_it_filters_by_state_class(client, shop):
    assert task_ids(get(client, shop, state_class="waiting")) == [2, 3]
    response = client.get(
        reverse("pages:tasks", args=[shop]) + "?state_class=running&state_class=failed"
    )
    assert task_ids(response) == [1, 5]


def test_it_filters_by_raw_state(client, shop):
    assert task_ids(get(client, shop, state="frobnicating")) == [6]


def test_it_filters_by_process(client, shop, ingest):
    other = ingest(document("other-2", [task("other-2", 1, "x")]))
    assert other != shop
    assert task_ids(get(client, shop, process="shop-1")) == [1, 2, 3, 4, 5, 6]
    assert task_ids(get(client, shop, process="nope")) == []


def test_it_searches_names_as_text_or_regex(client, shop):
    assert task_ids(get(client, shop, q="conn_handler")) == [2, 3]
    assert task_ids(get(client, shop, q="/^(flush|retry)$/")) == [4, 5]
    assert task_ids(get(client, shop, q="/^ACCEPT/i")) == [1]


def test_a_bad_regex_is_a_400_that_says_why_and_keeps_the_page(client, shop):
    response = get(client, shop, q="/conn(/")
    assert response.status_code == 400
    body = response.content.decode()
    assert "not a valid regular expression" in body
    assert 'id="task-filters"' in body  # the user can fix it in place


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("task_id", [1, 2, 3, 4, 5, 6]),
        ("-task_id", [6, 5, 4, 3, 2, 1]),
        ("label", [1, 2, 3, 4, 6, 5]),
        ("-age", [1, 4, 5, 2, 3, 6]),
        ("age", [6, 3, 2, 5, 4, 1]),
        ("-pending_us", [2, 3, 1, 4, 5, 6]),
        ("-needs_count", [3, 2, 1, 4, 5, 6]),
        ("state_class", [1, 2, 3, 4, 5, 6]),
        ("state", [5, 4, 6, 2, 3, 1]),
    ],
)
def test_it_sorts_by_any_column(client, shop, sort, expected):
    assert task_ids(get(client, shop, sort=sort)) == expected


def test_a_column_header_links_to_the_reverse_order_once_sorted(client, shop):
    body = get(client, shop, sort="label", state_class="waiting").content.decode()
    assert 'href="?state_class=waiting&amp;sort=-label"' in body
    assert 'aria-sort="ascending"' in body


def test_it_paginates_server_side_and_keeps_filters_in_the_links(client, ingest):
    snapshot = ingest(document("many-1", [task("many-1", i, f"t{i}") for i in range(1, 121)]))
    page2 = get(client, snapshot, per_page=50, page=2, sort="task_id")
    assert task_ids(page2) == list(range(51, 101))
    body = page2.content.decode()
    assert "page 2 of 3" in body
    assert 'href="?per_page=50&amp;sort=task_id&amp;page=3"' in body
    assert 'href="?per_page=50&amp;sort=task_id&amp;page=1"' in body


def test_an_htmx_request_gets_only_the_table(client, shop):
    url = reverse("pages:tasks", args=[shop])
    full = client.get(url, {"state_class": "waiting"})
    part = client.get(url, {"state_class": "waiting"}, headers={"HX-Request": "true"})
    assert "HX-Request" in full["Vary"] and "HX-Request" in part["Vary"]
    assert "<html" in full.content.decode()
    fragment = part.content.decode()
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="task-table"')
    assert "conn_handler_3" in fragment and "retry" not in fragment
    # The form's hidden sort field follows the table (out-of-band swap).
    assert 'id="filter-sort" value="" hx-swap-oob="true"' in fragment


def test_every_table_link_also_works_without_javascript(client, shop):
    body = get(client, shop).content.decode()
    assert 'hx-get="?sort=label"' in body
    assert 'href="?sort=label"' in body
    assert 'method="get" action="/snapshots/' in body  # the filter form


def test_every_row_links_to_its_inspector_and_to_the_graph_centred_on_it(client, shop):
    for headers in ({}, {"HX-Request": "true"}):  # the page and its htmx fragment
        body = client.get(reverse("pages:tasks", args=[shop]), headers=headers).content.decode()
        assert f'href="/snapshots/{shop}/graph/?node=task%3Ashop-1%3A3"' in body


def test_unknown_snapshots_are_a_404_page(client, db):
    response = client.get(reverse("pages:tasks", args=["404"]))
    assert response.status_code == 404
    assert "No snapshot" in response.content.decode()


def test_latest_and_live_name_scopes_too(client, shop):
    assert task_ids(get(client, "latest")) == [1, 2, 3, 4, 5, 6]
    assert task_ids(get(client, "live")) == [1, 2, 3, 4, 5, 6]


def many_tasks(n):
    key = f"size-{n}"
    nodes = [task(key, i, f"t{i}", "pending") for i in range(1, n + 1)]
    wakes = [
        {"at_ns": BASE_NS - S, "waker_task_id": i - 1, "woken_task_id": i, "target_worker": 0}
        for i in range(2, n + 1)
    ]
    edges = [(f"task:{key}:{i}", f"task:{key}:{i - 1}") for i in range(2, n + 1)]
    return document(key, nodes, edges=edges, wake_events=wakes)


def count_queries(client, url):
    client.get(url)  # warm the caches (cycle report, state menu)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_a_page_costs_the_same_queries_for_10_or_500_rows(client, ingest):
    small = ingest(many_tasks(10))
    big = ingest(many_tasks(500))
    url = reverse("pages:tasks", args=[small]) + "?per_page=500"
    n_small = count_queries(client, url)
    n_big = count_queries(client, reverse("pages:tasks", args=[big]) + "?per_page=500")
    assert n_small == n_big


def test_a_page_of_500_tasks_needs_a_handful_of_queries(
    client, ingest, django_assert_max_num_queries
):
    snapshot = ingest(many_tasks(500))
    url = reverse("pages:tasks", args=[snapshot]) + "?per_page=500&sort=-age&state_class=waiting"
    client.get(url)
    with django_assert_max_num_queries(10):
        client.get(url)
