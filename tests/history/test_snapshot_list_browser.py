"""In Chromium: the snapshot list's filter form (README: filter by process or
"has a cycle", jump to a time) and its folded runs of unchanged captures."""

from playwright.sync_api import expect

from snapshots.templatetags.peeps import format_ns_datetime
from tests.history.conftest import BASE_NS, S, post, task
from tests.history.test_snapshot_list import CALM, STUCK


def test_filter_jump_and_fold_in_the_browser(client, daphne_server, browser_page):
    at = iter(BASE_NS + i * S for i in range(100))
    calm = [post(client, *CALM, next(at)) for _ in range(4)]
    other = post(client, [task(1, "running", "other-1")], [], next(at), proc_key="other-1")
    stuck = post(client, *STUCK, next(at))
    server = daphne_server()
    page = browser_page
    page.goto(server.url + "/")
    rows = page.locator("#snapshot-table tbody tr")
    # The 3 quiet calm captures after the first fold into one row.
    expect(page.locator("#snapshot-table")).to_contain_text("3 captures, no change")
    expect(rows).to_have_count(4)  # stuck, other, the fold, calm[0]

    page.get_by_label("has a cycle").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"#snapshot-{stuck}")).to_be_visible()
    expect(rows).to_have_count(1)

    page.get_by_label("has a cycle").uncheck()
    page.get_by_label("Process").fill("other-1")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"#snapshot-{other}")).to_be_visible()
    expect(rows).to_have_count(1)

    # Jump to the second calm capture's time: its row is shown and marked,
    # never folded away.
    page.get_by_label("Process").fill("")
    page.get_by_label("Jump to time").fill(format_ns_datetime(BASE_NS + S).removesuffix(" UTC"))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"#snapshot-{calm[1]}.shown")).to_be_visible()
