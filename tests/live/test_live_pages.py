"""Open pages of the live view stay true while captures arrive, in Chromium
against a real daphne: the overview's deadlock banner comes and goes, the
cycles page follows, the other live pages offer "new data: refresh", Jump to
now shows why it was refused, and the inspector says where a node that left
the live window went."""

from datetime import timedelta

from django.utils import timezone

from snapshots.models import ProcessSnapshot
from tests.live.servers import not_reloaded, open_live, post
from tests.support.examples import read_example

DEADLOCK = "mutex_lock_order_inversion"


def deadlock_resolved():
    """The deadlock's process, next capture: task 12 got account_a, so the
    lock-order cycle is gone."""
    doc = read_example(DEADLOCK)
    doc["captured_at_ns"] += 2_000_000_000
    doc["edges"] = [
        e
        for e in doc["edges"]
        if (e["src_id"], e["dst_id"]) != ("task:lock-demo-4242:12", "lock:lock-demo-4242:account_a")
    ]
    return doc


def test_the_live_overview_shows_the_deadlock_banner_come_and_go(daphne_server, browser_page):
    server = daphne_server()
    post(server, read_example("rpc_backend"))
    open_live(browser_page, server.url + "/snapshots/live/")
    assert browser_page.locator("#cycles-banner").count() == 0

    post(server, read_example(DEADLOCK))
    banner = browser_page.wait_for_selector("#cycles-banner")
    assert "1 needs cycle" in banner.inner_text()
    # The rest of the overview moved too (it is the same push).
    assert "lock-demo-4242" in browser_page.inner_text("#overview-body")

    post(server, deadlock_resolved())
    browser_page.wait_for_selector("#cycles-banner", state="detached")
    assert browser_page.locator("#scope-banner").count() == 1  # ready for the next one
    assert not_reloaded(browser_page)


def test_an_open_live_cycles_page_shows_a_new_cycle_without_reload(daphne_server, browser_page):
    server = daphne_server()
    post(server, read_example("rpc_backend"))
    open_live(browser_page, server.url + "/snapshots/live/cycles/")
    browser_page.wait_for_selector("#no-cycles")

    post(server, read_example(DEADLOCK))
    browser_page.wait_for_function(
        "document.querySelector('#cycle-list').innerText.includes('account_a')"
    )
    assert browser_page.locator("#no-cycles").count() == 0
    assert "1 needs cycle" in browser_page.inner_text("#cycles-banner")
    assert "account_a" in browser_page.inner_text("#cycle-report")

    post(server, deadlock_resolved())
    browser_page.wait_for_selector("#no-cycles")
    assert browser_page.locator("#cycles-banner").count() == 0
    assert not_reloaded(browser_page)


def test_other_live_pages_offer_new_data_refresh(daphne_server, browser_page):
    server = daphne_server()
    post(server, read_example("rpc_backend"))
    node = "task:backend-200:9"
    paths = [
        f"/snapshots/live/nodes/{node}/",
        f"/snapshots/live/graph/?node={node}",
        "/snapshots/live/backtraces/",
        "/snapshots/live/kinds/",
        "/snapshots/live/kinds/request/",
        "/snapshots/live/unresolved/",
        "/snapshots/live/stuck-requests/",
    ]
    for n, path in enumerate(paths):
        open_live(browser_page, server.url + path)
        assert browser_page.locator("#live-stale").is_hidden(), path

        doc = read_example("rpc_frontend")
        doc["captured_at_ns"] += n * 1_000_000_000
        post(server, doc)

        notice = browser_page.wait_for_selector("#live-stale", state="visible")
        assert notice.inner_text() == "new data: refresh", path
        assert not_reloaded(browser_page), path

    # The notice is a link to the page itself: following it shows the new data.
    browser_page.click("#live-stale")
    browser_page.wait_for_function("window.__not_reloaded === undefined")
    browser_page.wait_for_selector('#live-status[data-state="live"]')
    assert browser_page.locator("#live-stale").is_hidden()
    assert browser_page.url == server.url + paths[-1]


def test_jump_to_now_shows_the_servers_refusal_in_the_header(daphne_server, browser_page):
    server = daphne_server()
    open_live(browser_page, server.url + "/")

    browser_page.click("text=Jump to now")  # no agent is connected: 409
    result = browser_page.wait_for_selector("#jump-result .badge")
    assert result.inner_text() == "Jump to now: no agent is connected"

    browser_page.context.clear_cookies()  # the CSRF cookie is gone: 403
    browser_page.click("text=Jump to now")
    browser_page.wait_for_function(
        "document.querySelector('#jump-result').innerText.includes('CSRF')"
    )
    assert browser_page.inner_text("#jump-result") == (
        "Jump to now: CSRF check failed: reload the page"
    )

    server.stop()  # no answer at all
    browser_page.click("text=Jump to now")
    browser_page.wait_for_function(
        "document.querySelector('#jump-result').innerText.includes('did not answer')"
    )
    assert browser_page.inner_text("#jump-result") == "Jump to now: the server did not answer"


def test_the_live_inspector_links_a_node_that_left_the_window_to_its_last_capture(
    daphne_server, browser_page
):
    server = daphne_server()
    snapshot_id = post(server, read_example("rpc_backend"))
    post(server, read_example("rpc_frontend"))
    # backend-200 has been silent for a minute: out of the 30 s live window.
    ProcessSnapshot.objects.filter(proc_key="backend-200").update(
        received_at=timezone.now() - timedelta(seconds=60)
    )
    node = "task:backend-200:9"

    response = browser_page.goto(f"{server.url}/snapshots/live/nodes/{node}/")

    assert response.status == 404
    text = browser_page.inner_text("main")
    assert f"{node} is no longer in the live view" in text
    assert "backend-200 has sent no capture for over 30 s" in text
    assert "snapshots are pruned" not in text.lower()
    browser_page.click(f"text=its last capture, snapshot #{snapshot_id}")
    browser_page.wait_for_url(f"{server.url}/snapshots/{snapshot_id}/nodes/{node}/")
    assert node in browser_page.inner_text("main")
