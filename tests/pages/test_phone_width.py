"""At phone width the cycle badge of a snapshot-list row is the first thing
in the row, on screen, not 840 px to the right behind a sideways scroll."""

from playwright.sync_api import expect

from snapshots.ingest import ingest_document
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
