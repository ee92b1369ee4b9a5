"""Snapshot text is hostile: labels, states, attrs (keys and values), node
ids, process names and frame texts must reach every page as text, never as
markup."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from tests.pages.conftest import ATTR_BREAK, IMG, RAW_MARKERS, SCRIPT, SVG

KEY = "evil-1"
NODE_IDS = [
    f"task:{KEY}:1",
    f"task:{KEY}:2",
    f'lock:{KEY}:{SCRIPT}"x',
    f"weird:{KEY}:{IMG}",
    f"request:{KEY}:c:1",
]


def pages(snapshot):
    urls = [
        reverse("pages:home"),
        reverse("pages:overview", args=[snapshot]),
        reverse("pages:overview", args=["live"]),
        reverse("pages:tasks", args=[snapshot]),
        reverse("pages:tasks", args=[snapshot]) + "?q=" + quote(SCRIPT) + "&sort=label",
        reverse("pages:tasks", args=[snapshot]) + "?state=" + quote(f"<b>{SCRIPT}</b>"),
        reverse("pages:kinds", args=[snapshot]),
        reverse("pages:kind", args=[snapshot, "locks"]),
        reverse("pages:kind", args=[snapshot, "weird-kind"]),
        reverse("pages:kind", args=[snapshot, "requests"]),
        reverse("pages:backtraces", args=[snapshot]),
        reverse("pages:unresolved", args=[snapshot]),
        reverse("pages:stuck_requests", args=[snapshot]),
    ]
    urls += [reverse("pages:node", args=[snapshot, node_id]) for node_id in NODE_IDS]
    return urls


def assert_no_markup(body):
    for marker in RAW_MARKERS:
        assert marker not in body, f"unescaped {marker!r}"


def test_no_page_lets_snapshot_markup_through(client, hostile):
    for url in pages(hostile):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_markup(response.content.decode())


def test_the_htmx_fragments_escape_too(client, hostile):
    for url in pages(hostile):
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200, url
        assert_no_markup(response.content.decode())


def test_hostile_text_is_shown_escaped_not_dropped(client, hostile):
    body = client.get(reverse("pages:node", args=[hostile, f"task:{KEY}:1"])).content.decode()
    assert "&lt;script&gt;alert(&#x27;pw&#x27;)&lt;/script&gt;" in body  # an attr value
    assert "&lt;svg onload=alert(2)&gt;" in body  # the label
    assert "&quot; onmouseover=&quot;alert(1)&quot; x=&quot;" in body
    assert "&lt;/pre&gt;&lt;/ol&gt;&lt;img src=x onerror=alert(3)&gt;" in body  # a frame


def test_a_node_id_with_quotes_and_markup_round_trips_through_its_url(client, hostile):
    node_id = f'lock:{KEY}:{SCRIPT}"x'
    url = reverse("pages:node", args=[hostile, node_id])
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["node"].node_id == node_id


def test_the_trace_text_download_is_plain_text_that_browsers_do_not_sniff(client, hostile):
    url = reverse("pages:trace_text", args=[hostile])
    response = client.get(url, {"node": f"task:{KEY}:1", "download": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    # Text stays verbatim in a text file: that is what the user copies.
    assert SCRIPT in response.content.decode()
    assert '"' not in response["Content-Disposition"].split('filename="')[1][:-1]


@pytest.mark.parametrize("payload", [SCRIPT, ATTR_BREAK, SVG, IMG])
def test_a_search_for_markup_is_echoed_escaped(client, hostile, payload):
    url = reverse("pages:tasks", args=[hostile])
    body = client.get(url, {"q": payload}).content.decode()
    assert_no_markup(body)
