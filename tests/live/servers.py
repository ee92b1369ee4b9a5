"""Helpers of the tests that drive real daphne servers from a real browser."""

import json
import urllib.request


def post(server, doc):
    """POST a snapshot to `server`; its snapshot id."""
    request = urllib.request.Request(
        server.url + "/api/v1/snapshots",
        data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())["snapshot_id"]


def open_live(page, url):
    """Open `url` and wait until its update socket is connected; marks the
    window so that a reload would show (the mark would be gone)."""
    page.goto(url)
    page.wait_for_selector('#live-status[data-state="live"]')
    page.evaluate("window.__not_reloaded = true")


def not_reloaded(page):
    return page.evaluate("window.__not_reloaded === true")
