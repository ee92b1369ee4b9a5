"""The registry of live topics (snapshots/live/topics.py) against the pages
it describes: what a topic pushes replaces elements its pages have, and is
what htmx gets for the page's URL."""

import re

import pytest

from snapshots.live import topics

pytestmark = pytest.mark.django_db

PAGES = {
    "list": "/",
    "overview": "/snapshots/live/",
    "tasks": "/snapshots/live/tasks/",
    "cycles": "/snapshots/live/cycles/",
    "agents": "/agents/",
}


def top_level_ids(html):
    """Ids of the top-level elements of a fragment, as live.js sees them."""
    depth, ids = 0, []
    for closing, name, attrs, self_closing in re.findall(
        r"<(/?)([a-zA-Z][\w-]*)([^>]*?)(/?)>", html
    ):
        if name.lower() in ("input", "br", "img", "meta", "link", "hr"):
            if depth == 0:
                ids.append(re.search(r'id="([^"]+)"', attrs).group(1))
            continue
        if closing:
            depth -= 1
        else:
            if depth == 0:
                ids.append(re.search(r'id="([^"]+)"', attrs).group(1))
            depth += 0 if self_closing else 1
    return ids


def test_every_pushed_topic_has_a_page_here():
    assert {t.name for t in topics.TOPICS if t.pushes} == set(PAGES)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_push_replaces_what_its_page_has_and_equals_the_htmx_fragment(
    client, load_examples, name
):
    topic = topics.BY_NAME[name]
    page = client.get(PAGES[name]).content.decode()
    htmx = client.get(PAGES[name], headers={"HX-Request": "true"}).content.decode()

    message = topic.message()

    assert message == {"event": "fragments", "topic": name, "html": htmx}
    assert top_level_ids(message["html"]) == list(topic.swaps)
    for element_id in topic.swaps:
        assert page.count(f'id="{element_id}"') == 1, element_id


def test_the_other_live_pages_get_a_notice():
    assert topics.BY_NAME["live"].message() == {"event": "changed", "topic": "live"}
