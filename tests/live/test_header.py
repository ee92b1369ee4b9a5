"""The live controls every page's header carries: what its socket listens
to, the follow-latest toggle, Jump to now and the connection indicator."""

import re

import pytest

pytestmark = pytest.mark.django_db


def status_of(html):
    """The attributes of the connection indicator (#live-status)."""
    tag = re.search(r'<span id="live-status"[^>]*>', html, re.S).group(0)
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag))


@pytest.fixture
def snapshot_id(example_snapshot):
    return example_snapshot("taskgraph_workflow").snapshot_id


@pytest.mark.parametrize(
    "path, topics",
    [
        ("/", "list"),
        ("/?page=1", "list"),
        ("/snapshots/live/tasks/", "tasks"),
        ("/?page=2", "list"),  # re-reads its own page (its URL has a query)
        ("/snapshots/live/", "overview"),
        ("/snapshots/live/cycles/", "cycles"),
        ("/snapshots/live/backtraces/", "live"),
        ("/snapshots/live/graph/?node=task:persona-scheduler-777:1", "live"),
        ("/snapshots/live/kinds/", "live"),
        ("/agents/", "agents"),
        ("/snapshots/latest/", ""),
    ],
)
def test_each_page_listens_to_what_it_shows(client, snapshot_id, path, topics):
    html = client.get(path).content.decode()
    assert status_of(html)["data-topics"] == topics


def test_a_numbered_snapshot_page_listens_to_no_live_fragment_and_offers_follow(
    client, snapshot_id
):
    html = client.get(f"/snapshots/{snapshot_id}/tasks/").content.decode()

    assert status_of(html) == {
        "data-state": "connecting",
        "data-ws-path": "/ws/updates/",
        "data-topics": "",
        "data-on-update": "swap",
        "data-scope": str(snapshot_id),
        "data-url-scope": str(snapshot_id),
    }
    assert '<input type="checkbox" id="live-follow">' in html


def test_the_latest_page_follows_by_default(client, snapshot_id):
    html = client.get("/snapshots/latest/").content.decode()

    assert status_of(html)["data-url-scope"] == "latest"
    assert '<input type="checkbox" id="live-follow" data-default="on">' in html


def test_the_live_view_has_nothing_to_follow(client, snapshot_id):
    assert 'id="live-follow"' not in client.get("/snapshots/live/").content.decode()


def test_every_page_has_jump_to_now_with_a_csrf_token(client, snapshot_id):
    html = client.get("/").content.decode()

    assert 'hx-post="/api/v1/jump-now"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'src="/static/js/live.js"' in html
