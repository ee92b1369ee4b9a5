"""The Cycles page end to end in Debian's Chromium, on the example snapshots."""

import re

from playwright.sync_api import expect


def test_the_cycles_page_explains_both_deadlocks_and_links_into_them(
    daphne_server, load_examples, browser_page
):
    server = daphne_server()
    page = browser_page
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # From the live overview, the scope navigation leads to the Cycles page.
    page.goto(f"{server.url}/snapshots/live/")
    page.locator("nav.scope-nav").get_by_role("link", name="Cycles").click()
    expect(page).to_have_url(re.compile(r"/snapshots/live/cycles/$"))
    expect(page).to_have_title(re.compile(r"^Cycles · live · peepsweb$"))
    expect(page.locator("#cycles-banner")).to_contain_text("2 needs cycles")

    # Worst first: the lock-order inversion (41.5 s), then the two-process RPC cycle.
    first, second = page.locator("#cycle-1"), page.locator("#cycle-2")
    expect(first.locator("h2")).to_contain_text("4 nodes in lock-demo")
    expect(first.locator(".cycle-chain li").first).to_contain_text(
        "task transfer_a_to_b waits on lock account_b"
    )
    expect(second.locator("h2")).to_contain_text("across processes backend, frontend")
    expect(second.locator(".cycle-chain")).to_contain_text(
        "request Backend.fetch waits for its response in process backend"
    )
    # Each cycle is drawn: one arrow per edge.
    expect(first.locator("svg.cycle-svg path.cycle-edge")).to_have_count(4)
    expect(second.locator("svg.cycle-svg path.cycle-edge")).to_have_count(8)
    expect(first.locator("svg.cycle-svg")).to_be_visible()

    # The pending backtrace of a participant unfolds in place.
    trace = first.locator(".participant-trace").first
    trace.locator("summary").click()
    expect(trace.locator("ol.frames")).to_contain_text("std::sync::Mutex<T>::lock")

    # The text report is on the page and downloadable.
    expect(page.locator("#cycle-report")).to_contain_text("Found 2 deadlock(s).")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the text report").click()
    assert download.value.suggested_filename == "peepsweb-deadlocks-live.txt"
    text = open(download.value.path()).read()
    assert "which is held by task transfer_b_to_a" in text

    # A member in the drawing opens its inspector.
    first.locator("svg.cycle-svg a").first.click()
    expect(page).to_have_url(re.compile(r"/snapshots/live/nodes/task:lock-demo-4242:11/$"))
    expect(page.locator("h1")).to_contain_text("transfer_a_to_b")
    assert errors == []
