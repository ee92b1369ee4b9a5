"""In Chromium: the inspector's history facts ("waiting since", "no progress
since", first seen) are a fragment htmx loads after the page (README: the
node inspector shows both); the strip's cells are there at first byte."""

from playwright.sync_api import expect

from snapshots.templatetags.peeps import format_ns_datetime
from tests.history.conftest import BASE_NS, T1, S
from tests.history.test_stuck_since import push


def test_the_inspector_loads_its_history_facts_after_the_page(client, daphne_server, browser_page):
    # worker1 waits from c0 on; its attrs move at c2 (it made progress then).
    ids = [push(client, n, attrs={"polls": int(n >= 2)}) for n in range(4)]
    server = daphne_server()
    page = browser_page
    page.goto(f"{server.url}/snapshots/{ids[-1]}/nodes/{T1}/")
    facts = page.locator("#node-history-facts")
    expect(facts.locator(".stuck-since").first).to_contain_text(
        f"waiting since {format_ns_datetime(BASE_NS)}"
    )
    expect(facts.locator("#no-progress")).to_contain_text(
        f"no progress since {format_ns_datetime(BASE_NS + 2 * S)}"
    )
    expect(facts).to_contain_text("4 captures stored")
    expect(page.locator(".history-strip a.cell")).to_have_count(4)
