"""A candidate as Chromium shows it: the client demo's deadlock names every
blocked task (the producer stalled behind the consumer too) and explains its
score; a 6-node component is drawn with all 6 nodes, in the graph page's
shapes, each inside the drawing."""

import asyncio
import re

import pytest
from playwright.sync_api import expect

from snapshots.ingest import ingest_document

from .test_candidate_view import six_document
from .test_stuck_progress import _demo_captures


@pytest.fixture
def demo_body():
    """One snapshot body of the client demo, taken before Playwright starts
    (its event loop would refuse asyncio.run)."""
    [body] = asyncio.run(_demo_captures(1, 1.2))  # past the 1 s pending threshold: traces
    return body


def test_the_demo_cycle_names_its_blocked_tasks_and_explains_its_score(
    demo_body, daphne_server, browser_page
):
    proc = ingest_document(demo_body)
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{proc.snapshot_id}/cycles/")
    card = page.locator("#cycle-1")
    blocked = card.locator(".cycle-blocked")
    expect(blocked).to_contain_text("4 tasks blocked:")
    for name in ("transfer_a_to_b", "transfer_b_to_a", "consumer", "producer"):
        expect(blocked.get_by_role("link", name=name, exact=True)).to_be_visible()
    text = blocked.inner_text()
    assert "consumer (stalled behind the cycle)" in text
    assert "producer (stalled behind the cycle)" in text

    why = card.locator("details.score-why")
    score = card.locator(".stat").first.locator(".value").inner_text()
    expect(why.locator("p").first).to_be_hidden()
    why.locator("summary").click()
    expect(why).to_contain_text(f"= {score}.")
    expect(why).to_contain_text("4 blocked tasks +")
    expect(why).to_contain_text("10 × log10(1 + ")


def test_a_six_node_component_is_drawn_whole(daphne_server, browser_page):
    proc = ingest_document(six_document())
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{proc.snapshot_id}/cycles/")
    svg = page.locator("#cycle-1 svg.cycle-svg")
    expect(svg.locator("g.cycle-node")).to_have_count(6)
    box = svg.bounding_box()
    for i in range(6):
        node = svg.locator("g.cycle-node path.cshape").nth(i).bounding_box()
        assert node["width"] > 20 and node["height"] > 10
        assert box["x"] <= node["x"] and node["x"] + node["width"] <= box["x"] + box["width"]
        assert box["y"] <= node["y"] and node["y"] + node["height"] <= box["y"] + box["height"]
    # the same outline as the graph page draws for a lock
    lock = svg.locator("g.cycle-node.shape-lock path.cshape").first.get_attribute("d")
    page.goto(f"{server.url}/snapshots/{proc.snapshot_id}/graph/?node=lock:p:2")
    graph_lock = page.locator("a.gnode.shape-lock path.gshape").first.get_attribute("d")
    octagon = r"M8,0 H\d+(\.\d+)? L\d+(\.\d+)?,8 V\d+(\.\d+)? L"
    assert re.match(octagon, lock) and re.match(octagon, graph_lock)
