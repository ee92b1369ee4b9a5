"""The two "since" times of a waiting node (issue 13), named apart and read
from the same functions wherever they are shown: "waiting since" (the
history API's stuck_since_ns: the current unbroken waiting period) and "no
progress since" (the overview's Stuck across snapshots: waiting, unchanged,
not woken). A scripted sequence where they differ: worker1 waits from c0
on, in the same state, but its attrs move at c2 (it made progress)."""

import html

import pytest

from snapshots.templatetags.peeps import duration_ns, format_ns_datetime
from tests.api.helpers import get_json
from tests.history.conftest import BASE_NS, KEY, T1, S
from tests.history.test_stuck_since import push

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(client):
    # c0..c4 one second apart; from c2 on, worker1 has polled once more.
    return [push(client, n, attrs={"polls": int(n >= 2)}) for n in range(5)]


def section(body, start, end):
    body = body[body.index(start) :]
    return body[: body.index(end)]


def test_inspector_overview_and_api_agree_on_no_progress_and_name_the_wait_apart(client, ids):
    api = get_json(client, f"/api/v1/history?node={T1}&process={KEY}")
    assert api["stuck_since_ns"] == BASE_NS  # waiting since c0
    assert api["no_progress_since_ns"] == BASE_NS + 2 * S  # moved at c2
    assert api["no_progress_since_snapshot_id"] == ids[2]

    overview = client.get(f"/snapshots/{ids[-1]}/").content.decode()
    stuck = section(overview, 'id="stuck-across"', "</section>")
    assert "no progress for" in stuck and "no progress since" in stuck
    assert f'<td class="num">{duration_ns(2 * S)}</td>' in stuck
    assert f'href="/snapshots/{ids[2]}/">#{ids[2]}</a>' in stuck

    page = client.get(f"/snapshots/{ids[-1]}/nodes/{T1}/").content.decode()
    url = html.unescape(page.split('hx-get="', 1)[1].split('"', 1)[0])
    facts = client.get(url).content.decode()
    assert "stuck since" not in facts
    waiting = section(facts, 'class="stuck-since"', "</p>")
    assert "waiting since" in waiting and format_ns_datetime(BASE_NS) in waiting
    no_progress = section(facts, 'id="no-progress"', "</p>")
    assert format_ns_datetime(BASE_NS + 2 * S) in no_progress
    assert duration_ns(2 * S) in no_progress and "3 captures" in no_progress
    assert f'href="/snapshots/{ids[2]}/">snapshot {ids[2]}</a>' in no_progress


def test_a_running_node_has_neither(client):
    ids = [push(client, n, state="running") for n in range(3)]
    api = get_json(client, f"/api/v1/history?node={T1}&process={KEY}")
    assert api["stuck_since_ns"] is None and api["no_progress_since_ns"] is None
    assert api["no_progress_since_snapshot_id"] is None and ids
