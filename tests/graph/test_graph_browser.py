"""The graph view in a real browser (daphne + Debian's Chromium): it draws,
hovering tells a node's state, clicking opens its inspector, filters redraw
in place, and hostile labels stay text."""

import re
from urllib.parse import unquote

from playwright.sync_api import expect

from snapshots.ingest import ingest_document
from tests.graph.conftest import document
from tests.support.examples import read_example

LOCK = "lock-demo-4242"


def test_the_graph_renders_and_a_click_opens_the_inspector(daphne_server, browser_page):
    sid = ingest_document(read_example("mutex_lock_order_inversion")).snapshot_id
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{sid}/graph/?node=task:{LOCK}:11&depth=2")

    nodes = page.locator("svg.graph-svg a.gnode")
    expect(nodes).to_have_count(5)
    expect(page.locator("svg.graph-svg path.gedge")).to_have_count(6)
    expect(page.locator("#graph-canvas")).to_have_class(re.compile(r"\bjs\b"))  # pan/zoom on

    lock = page.locator('a.gnode[data-node-id="lock:lock-demo-4242:account_b"]')
    lock.hover()
    tip = page.locator("#graph-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("account_b")
    expect(tip).to_contain_text("in a needs cycle")
    # Hover highlights the node's neighbours and fades the rest.
    expect(page.locator("svg.graph-svg")).to_have_class(re.compile(r"\bhl\b"))
    expect(page.locator('a.gnode.on[data-node-id="task:lock-demo-4242:12"]')).to_have_count(1)
    expect(page.locator('a.gnode.on[data-node-id="task:lock-demo-4242:1"]')).to_have_count(0)

    lock.click()
    page.wait_for_url(re.compile(r"/nodes/"))
    assert unquote(page.url).endswith(f"/snapshots/{sid}/nodes/lock:{LOCK}:account_b/")
    expect(page.locator("main")).to_contain_text("account_b")


def test_changing_the_depth_redraws_in_place(daphne_server, browser_page):
    sid = ingest_document(read_example("taskgraph_workflow")).snapshot_id
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{sid}/graph/?node=task:persona-scheduler-777:5")
    expect(page.locator("a.gnode")).to_have_count(9)
    page.select_option("select[name=depth]", "1")
    expect(page.locator("a.gnode")).to_have_count(5)
    assert "depth=1" in page.url  # the view stays shareable
    expect(page.locator("#graph-canvas")).to_have_class(re.compile(r"\bjs\b"))
    page.locator("#graph-canvas").focus()
    before = page.get_attribute("#graph-svg", "viewBox")
    page.keyboard.press("+")
    # Waited for, not read at once: the key's handler may run a moment later.
    expect(page.locator("#graph-svg")).not_to_have_attribute("viewBox", before)


def test_hostile_labels_stay_text(daphne_server, browser_page):
    evil = '"><svg onload=alert(1)><script>alert(2)</script>'
    doc = document(
        "evil-1",
        [
            (
                "task:evil-1:1",
                "task",
                evil,
                {"task_id": 1, "state": "<img src=x onerror=alert(3)>"},
            ),
            ("task:evil-1:2", "task", "victim", {"task_id": 2, "state": "pending"}),
        ],
        [("task:evil-1:1", "task:evil-1:2")],
    )
    sid = ingest_document(doc).snapshot_id
    server = daphne_server()
    page = browser_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/snapshots/{sid}/graph/?node=task:evil-1:2")
    evil_node = page.locator('a.gnode[data-node-id="task:evil-1:1"]')
    expect(evil_node).to_have_count(1)
    evil_node.hover()
    expect(page.locator("#graph-tip .tip-label")).to_have_text(evil)
    assert page.locator("svg.graph-svg script, #graph-tip img, #graph-tip svg").count() == 0
    assert dialogs == []


def test_without_javascript_nodes_are_still_links_and_listed(daphne_server, browser_page):
    sid = ingest_document(read_example("mutex_lock_order_inversion")).snapshot_id
    server = daphne_server()
    context = browser_page.context.browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/snapshots/{sid}/graph/?node=task:{LOCK}:11")
    expect(page.locator("svg.graph-svg a.gnode")).to_have_count(5)
    expect(page.locator("#graph-canvas")).not_to_have_class(re.compile(r"\bjs\b"))
    expect(page.locator(".graph-zoom")).to_be_hidden()  # needs the script
    page.locator("#graph-list summary").click()
    expect(page.locator("#graph-node-table tbody tr")).to_have_count(5)
    page.locator('a.gnode[data-node-id="task:lock-demo-4242:12"]').click()
    page.wait_for_url(re.compile(r"/nodes/"))
    assert unquote(page.url).endswith(f"/nodes/task:{LOCK}:12/")
    context.close()
