"""In Chromium: from the snapshot list's "compare with previous" to the
diff page, and its "show more" fetching the next rows of one section."""

from playwright.sync_api import expect

from tests.history.conftest import BASE_NS, KEY, S, post, task


def test_compare_with_previous_and_show_more(client, daphne_server, browser_page):
    a = post(client, [task(1, "running")], [], BASE_NS)
    b = post(client, [task(i, "running") for i in range(1, 121)], [], BASE_NS + S)
    server = daphne_server()
    page = browser_page
    page.goto(server.url + "/")
    page.locator(f"#snapshot-{b}").get_by_text("compare with previous").click()
    expect(page).to_have_url(f"{server.url}/snapshots/{a}/diff/{b}/")
    expect(page.locator('#diff-counts a[href="#nodes_added"]')).to_have_text("119")
    rows = page.locator("#rows-nodes_added > li > a[title]")
    expect(rows).to_have_count(50)
    page.locator("#more-nodes_added a").click()
    expect(rows).to_have_count(100)
    page.locator("#more-nodes_added a").click()
    expect(rows).to_have_count(119)
    expect(page.locator("#more-nodes_added")).to_have_count(0)
    ids = rows.evaluate_all("links => links.map(a => a.title)")
    assert ids == sorted(f"task:{KEY}:{i}" for i in range(2, 121))
    expect(page).to_have_url(f"{server.url}/snapshots/{a}/diff/{b}/")  # not pushed
