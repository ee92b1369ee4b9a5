"""Layout: at phone width the cycle badge of a snapshot-list row is the first
thing in the row, on screen, not 840 px to the right behind a sideways
scroll; long attr values scroll inside the inspector, not the page."""

from playwright.sync_api import expect

from snapshots.ingest import ingest_document
from tests.ingest.conftest import small_doc
from tests.support.examples import read_example


def test_the_cycle_badge_comes_first_in_a_row_on_a_phone(daphne_server, browser_page):
    sid = ingest_document(read_example("mutex_lock_order_inversion")).snapshot_id
    server = daphne_server()
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    row = page.locator(f"#snapshot-{sid}")
    badge = row.locator("a.badge.danger")
    expect(badge).to_have_text("⚠ 1 cycle")
    row_box, badge_box = row.bounding_box(), badge.bounding_box()
    assert badge_box["x"] - row_box["x"] < 40
    assert badge_box["x"] + badge_box["width"] <= 390  # on screen without scrolling
    badge.click()
    expect(page).to_have_url(f"{server.url}/snapshots/{sid}/cycles/")


def test_long_attr_values_stay_inside_the_inspector(daphne_server, browser_page):
    doc = small_doc()
    stack = "\n".join(f"frame_{i}\n    at /srv/app/{'deep/' * 30}module.py:{i}" for i in range(5))
    doc["nodes"][0]["attrs"] |= {"spawn_backtrace": stack, "token": "x" * 400}
    sid = ingest_document(doc).snapshot_id
    server = daphne_server()
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{server.url}/snapshots/{sid}/nodes/task:svc-1:7/")
    expect(page.locator("#attrs pre.attr-text")).to_contain_text("frame_4")
    # Before: the stack's long lines made the attributes card, and the page,
    # wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
