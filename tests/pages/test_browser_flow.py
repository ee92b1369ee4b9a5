"""End to end in Debian's Chromium: from the task table to a stuck task, to
its pending trace, to its graph neighbourhood, on the example snapshots."""

import re

from playwright.sync_api import expect


def test_from_the_task_table_to_a_stuck_tasks_trace_and_graph(
    daphne_server, load_examples, browser_page
):
    snapshot = load_examples["mutex_lock_order_inversion"].snapshot_id
    server = daphne_server()
    page = browser_page
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{server.url}/snapshots/{snapshot}/tasks/")
    expect(page).to_have_title(re.compile(r"^Tasks · snapshot \d+ · peepsweb$"))
    rows = page.locator("#tasks tbody tr")
    expect(rows).to_have_count(4)
    # Marks this document: it must survive the htmx swaps (no page reload).
    page.evaluate("window.peepswebMarker = 1")

    # Filter to waiting tasks, then sort by pending time, longest first.
    page.get_by_role("checkbox", name="waiting").check()
    expect(page).to_have_url(re.compile(r"state_class=waiting"))
    expect(rows).to_have_count(3)
    page.get_by_role("link", name="pending", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=pending_us"))
    page.get_by_role("link", name="pending", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=-pending_us"))
    expect(rows.first).to_contain_text("transfer_a_to_b")
    expect(rows.first).to_contain_text("42.0s")  # pending at the capture
    assert page.evaluate("window.peepswebMarker") == 1

    # The stuck task's inspector: what it needs, who woke it, where it is parked.
    rows.first.get_by_role("link", name="transfer_a_to_b").click()
    expect(page.locator("h1")).to_contain_text("transfer_a_to_b")
    expect(page.locator("nav.breadcrumbs")).to_contain_text("Tasks")
    expect(page.locator("#h-needs + ul")).to_contain_text("account_b")
    expect(page.locator("#wake-sources")).to_contain_text("main")
    trace = page.locator("#trace-1")
    expect(trace).to_contain_text("pending 42.0s")
    frames = trace.locator("ol.frames li")
    expect(frames).to_have_count(3)
    expect(frames.first).to_contain_text("std::sync::Mutex<T>::lock")
    expect(frames.last).to_contain_text("transfer_a_to_b::{{closure}}")
    # The plain-text view holds the same frames; the trace is collapsible.
    text_url = trace.get_by_role("link", name="view as text").get_attribute("href")
    assert "#0   std::sync::Mutex<T>::lock" in page.request.get(server.url + text_url).text()
    trace.locator("summary").click()
    expect(frames.first).to_be_hidden()

    # Its needs neighbourhood in the graph view.
    page.get_by_role("link", name="Graph neighbourhood").click()
    expect(page).to_have_url(re.compile(r"/graph/\?node=task%3Alock-demo-4242%3A11"))
    expect(page.locator("main")).to_contain_text("task:lock-demo-4242:11")
    expect(page.locator("main svg").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("account_b")
    assert errors == []


def test_slash_focuses_the_search_and_the_table_follows_the_typing(
    daphne_server, load_examples, browser_page
):
    snapshot = load_examples["taskgraph_workflow"].snapshot_id
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{snapshot}/tasks/")
    page.locator("body").press("/")
    search = page.locator("input[name=q]")
    expect(search).to_be_focused()
    search.type("/^extract/")
    expect(page).to_have_url(re.compile(r"q=%2F%5Eextract%2F"))
    expect(page.locator("#tasks tbody tr")).to_have_count(3)
    # Back restores the unfiltered table (htmx history).
    page.go_back()
    expect(page.locator("#tasks tbody tr")).to_have_count(9)
