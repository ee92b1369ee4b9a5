"""Replay of the live graph in a real browser: captures POSTed to a real
daphne server, the page scrubbed with the slider and the [ ] keys, a push
during replay, and Escape back to live."""

import re

from playwright.sync_api import expect

from tests.graph.conftest import document
from tests.graph.test_replay import SEQUENCE, P, t, task
from tests.live.servers import not_reloaded, open_live, post

PLACES = """els => Object.fromEntries(els.map(e => {
  const r = e.getBoundingClientRect();
  return [e.dataset.nodeId, [e.getAttribute("transform"), Math.round(r.x), Math.round(r.y)]];
}))"""


def places(page):
    return page.eval_on_selector_all("svg.graph-svg a.gnode", PLACES)


def at_step(page, n, of=4):
    expect(page.locator("#replay-state")).to_contain_text(f"Replaying capture {n} of {of}")


def test_replay_scrubs_the_live_graph(daphne_server, browser_page):
    server = daphne_server()
    sids = [post(server, document(P, nodes, edges)) for nodes, edges in SEQUENCE]
    page = browser_page
    open_live(page, f"{server.url}/snapshots/live/graph/")
    expect(page.locator("#replay-bar")).to_be_visible()
    expect(page.locator("#replay-state")).to_have_count(0)  # live

    # [ from live: the capture before the newest (1 is gone there).
    page.locator("body").press("[")
    at_step(page, 3)
    assert f"at={sids[2]}" in page.url and f"until={sids[3]}" in page.url
    expect(page.locator(f'a.gnode.ghost[data-node-id="{t(1)}"]')).to_have_count(1)
    # graph.js moves each node's <title> into its aria-label.
    gone = page.locator(f'a.gnode.ghost[data-node-id="{t(1)}"]')
    expect(gone).to_have_attribute("aria-label", re.compile(r"— gone: last seen at capture 2"))
    third = places(page)

    # The slider to the first capture: 4 is not there yet, 1 is.
    page.locator("#replay-slider").fill("0")
    at_step(page, 1)
    expect(page.locator(f'a.gnode.ghost[data-node-id="{t(4)}"]')).to_have_count(1)
    expect(page.locator(f'a.gnode.ghost[data-node-id="{t(1)}"]')).to_have_count(0)
    first = places(page)
    # Same nodes (ghosts too), same places in the SVG and on the screen.
    assert first == third
    expect(page.locator("a.gnode.in-cycle")).to_have_count(0)

    # ] steps forward; the cycle 2 -> 3 -> 4 -> 2 appears at the fourth capture only.
    page.locator("body").press("]")
    at_step(page, 2)
    expect(page.locator("a.gnode.ghost")).to_have_count(0)
    page.locator("body").press("]")
    at_step(page, 3)
    expect(page.locator("a.gnode.in-cycle")).to_have_count(0)
    page.locator("body").press("]")
    at_step(page, 4)
    expect(page.locator("a.gnode.in-cycle")).to_have_count(3)
    expect(page.locator("#replay-slider")).to_have_value("3")
    fourth = places(page)
    assert {k: v for k, v in fourth.items()} == first

    # A push while replaying counts up and moves nothing.
    post(server, document(P, [task(2), task(3), task(4), task(5)], [(t(4), t(5))]))
    expect(page.locator("#replay-new")).to_contain_text("1 new snapshot")
    at_step(page, 4)
    assert places(page) == fourth and f"at={sids[3]}" in page.url
    assert not_reloaded(page)
    expect(page.locator(f'a.gnode[data-node-id="{t(5)}"]')).to_have_count(0)

    # A step is a URL: reloaded, it is the same step on the same layout.
    page.reload()
    at_step(page, 4)
    assert places(page) == fourth

    # Escape: back to the live graph, which has the new node.
    page.locator("body").press("Escape")
    page.wait_for_url(re.compile(r"/snapshots/live/graph/$"))
    expect(page.locator("#replay-state")).to_have_count(0)
    expect(page.locator(f'a.gnode[data-node-id="{t(5)}"]')).to_have_count(1)
