"""Nodes with a pending trace are marked on the graph: a clock on the node,
its longest trace in the tooltip, and the mark in the legend."""

from playwright.sync_api import expect

from snapshots.ingest import ingest_document
from tests.support.examples import read_example

LOCK = "lock-demo-4242"


def graph_url(sid):
    return f"/snapshots/{sid}/graph/?node=task:{LOCK}:11&depth=2"


def test_only_the_nodes_with_a_pending_trace_carry_the_mark(client, db):
    sid = ingest_document(read_example("mutex_lock_order_inversion")).snapshot_id
    html = client.get(graph_url(sid)).content.decode()
    marked = [
        chunk.split('"', 1)[0]
        for chunk in html.split('data-node-id="')[1:]
        if 'class="trace-mark"' in chunk.split("</a>", 1)[0]
    ]
    assert sorted(marked) == [f"task:{LOCK}:11", f"task:{LOCK}:12"]
    assert "— pending trace 42.0s</title>" in html
    assert 'aria-label="Marks"' in html  # the legend explains it


def test_the_mark_shows_on_the_node_and_its_tooltip_says_how_long(daphne_server, browser_page):
    sid = ingest_document(read_example("mutex_lock_order_inversion")).snapshot_id
    server = daphne_server()
    page = browser_page
    page.goto(server.url + graph_url(sid))
    task = page.locator(f'a.gnode[data-node-id="task:{LOCK}:11"]')
    mark = task.locator(".trace-mark")
    expect(mark).to_be_visible()
    # on the node's top-right corner (boxes include the stroke: a few px of slack)
    node, clock = task.locator("path.gshape").bounding_box(), mark.bounding_box()
    assert abs((clock["x"] + clock["width"] / 2) - (node["x"] + node["width"])) < 8
    assert abs((clock["y"] + clock["height"] / 2) - node["y"]) < 8
    lock = page.locator(f'a.gnode[data-node-id="lock:{LOCK}:account_a"]')
    expect(lock.locator(".trace-mark")).to_have_count(0)
    task.hover()
    expect(page.locator("#graph-tip")).to_contain_text("pending trace 42.0s")
