"""The graph page through the Django test client: what is drawn, links,
htmx fragments, errors and hostile labels."""

import re

import pytest

from tests.graph.conftest import document

LOCK = "lock-demo-4242"


@pytest.fixture
def lock_demo(example_snapshot):
    return example_snapshot("mutex_lock_order_inversion").snapshot_id


def test_it_draws_every_node_as_a_link_to_its_inspector(client, lock_demo):
    response = client.get(f"/snapshots/{lock_demo}/graph/", {"node": f"task:{LOCK}:11"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="gnode ') == 5
    assert f'href="/snapshots/{lock_demo}/nodes/task:{LOCK}:11/"' in html
    assert f'href="/snapshots/{lock_demo}/nodes/lock:{LOCK}:account_b/"' in html
    assert html.count('data-s="') == 6
    assert html.count('class="gedge cyc" data-s=') == 4  # the lock-order cycle


def test_nodes_carry_their_state_class_and_kind_shape(client, example_snapshot):
    sid = example_snapshot("taskgraph_workflow").snapshot_id
    html = client.get(f"/snapshots/{sid}/graph/").content.decode()
    assert re.search(r'class="gnode shape-task state-failed"[^>]*data-label="extract_api"', html)
    assert re.search(r'class="gnode shape-task state-running"[^>]*data-label="extract_files"', html)
    assert re.search(r'class="gnode shape-semaphore state-none"', html)
    # The legend names every state class, with the shared colours.
    for cls in ("running", "runnable", "waiting", "done", "failed", "skipped", "unknown"):
        assert f'class="swatch state-{cls}"' in html


def test_the_focus_is_marked_and_named_in_title_and_breadcrumbs(client, lock_demo):
    html = client.get(
        f"/snapshots/{lock_demo}/graph/", {"node": f"task:{LOCK}:11"}
    ).content.decode()
    assert re.search(r'class="gnode shape-task state-waiting in-cycle focus has-trace"', html)
    assert "<title>Graph · transfer_a_to_b · snapshot" in html
    assert f'<li><a href="/snapshots/{lock_demo}/nodes/task:{LOCK}:11/"' in html


def test_the_depth_select_and_filters_reflect_the_query(client, lock_demo):
    html = client.get(
        f"/snapshots/{lock_demo}/graph/",
        {"node": f"task:{LOCK}:11", "depth": "3", "kind": "task", "merge_rpc": "1"},
    ).content.decode()
    assert '<option value="3" selected>' in html
    assert '<input type="checkbox" name="kind" value="task" checked>' in html
    assert '<input type="checkbox" name="kind" value="lock">' in html
    assert 'name="merge_rpc" value="1" checked' in html


def test_the_list_fallback_names_every_node_and_edge(client, lock_demo):
    html = client.get(f"/snapshots/{lock_demo}/graph/", {"node": f"task:{LOCK}:1"}).content.decode()
    table = html[html.index('id="graph-node-table"') :]
    for label in ("main", "transfer_a_to_b", "transfer_b_to_a"):
        assert label in table
    assert "centre graph here" in table
    assert f"task:{LOCK}:1 → task:{LOCK}:11" in html


def test_an_htmx_request_gets_only_the_graph(client, lock_demo):
    response = client.get(
        f"/snapshots/{lock_demo}/graph/", {"node": f"task:{LOCK}:11"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="graph-body">')
    assert "<form" not in html and "<html" not in html
    assert 'class="gnode ' in html
    assert "HX-Request" in response["Vary"]


def test_an_unknown_node_says_so(client, lock_demo):
    response = client.get(f"/snapshots/{lock_demo}/graph/", {"node": "task:nope:1"})
    assert response.status_code == 200
    assert b"No node" in response.content
    assert b'class="gnode' not in response.content


def test_an_unknown_snapshot_is_a_404(client, db):
    assert client.get("/snapshots/999/graph/").status_code == 404
    assert client.get("/snapshots/nope/graph/").status_code == 404


def test_colour_by_process_gives_one_colour_per_process(client, example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    html = client.get(
        "/snapshots/live/graph/", {"node": "task:frontend-100:5", "depth": "6", "colour": "process"}
    ).content.decode()
    legend = html[html.index('aria-label="Colours: process"') :]
    assert 'class="swatch grp-0"' in legend and "backend-200" in legend
    assert 'class="swatch grp-1"' in legend and "frontend-100" in legend
    assert re.search(
        r'class="gnode shape-task state-waiting grp-1[^"]*"[^>]*data-label="handle_http"', html
    )


HOSTILE = ["<script>alert(1)</script>", '"><svg onload=alert(2)>', "'><img src=x onerror=alert(3)>"]


def test_hostile_labels_ids_and_states_are_escaped(client, ingest):
    nodes = [
        (f"task:evil-1:{i}", "task", label, {"task_id": i, "state": label})
        for i, label in enumerate(HOSTILE, start=1)
    ]
    nodes.append(('lock:evil-1:"><svg onload=alert(4)>', "lock", "x", {}))
    edges = [("task:evil-1:1", "task:evil-1:2"), ("task:evil-1:2", "task:evil-1:3"),
             ("task:evil-1:3", 'lock:evil-1:"><svg onload=alert(4)>')]  # fmt: skip
    sid = ingest(document("evil-1", nodes, edges, process="<b>evil</b>"))
    for params in (
        {"node": "task:evil-1:2"},
        {"node": "task:evil-1:2", "merge_rpc": "1", "colour": "process"},
        {},
    ):
        html = client.get(f"/snapshots/{sid}/graph/", params).content.decode()
        assert html.count('class="gnode ') == 4
        for raw in HOSTILE + ["<svg onload=alert(4)>", "<b>evil</b>"]:
            assert raw not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&quot;&gt;&lt;svg onload=alert(2)&gt;" in html
        assert "onerror=alert(3)" in html and "&#x27;&gt;&lt;img" in html
    # Nor in the focus-not-found message, which echoes the query.
    html = client.get(f"/snapshots/{sid}/graph/", {"node": HOSTILE[0]}).content.decode()
    assert HOSTILE[0] not in html
