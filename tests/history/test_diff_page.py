"""The diff page against the scripted captures: content, show more, links
from the snapshot list and the overview, hostile text, errors."""

import html

import pytest

from tests.history.conftest import BASE_NS, KEY, LOCK, T1, T2, T3, S, post, task
from tests.pages.conftest import PAYLOADS, RAW_MARKERS, SCRIPT

pytestmark = pytest.mark.django_db


def get_page(client, url, status=200, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == status, (url, response.status_code, response.content[:500])
    return response.content.decode()


def section(body, name):
    """The markup of one section of the page."""
    start = body.index(f'<section class="card" id="{name}"')
    return body[start : body.index("</section>", start)]


def test_the_page_lists_what_changed_with_links_into_each_capture(client, captures):
    c1, c2, c3, c4 = captures
    body = get_page(client, f"/snapshots/{c2}/diff/{c3}/")
    counts = body[body.index('id="diff-counts"') :]
    assert '<a class="value" href="#nodes_removed">1</a>' in counts
    assert '<a class="value" href="#cycles_appeared">1</a>' in counts
    assert '<a class="value" href="#nodes_added">0</a>' in counts
    # A removed node links to the inspector of the capture that has it: a.
    removed = section(body, "nodes_removed")
    assert f'href="/snapshots/{c2}/nodes/{T3}/"' in removed and "worker3" in removed
    # Edges in words, each end linked in its capture.
    added = section(body, "edges_added")
    assert f'href="/snapshots/{c3}/nodes/{LOCK}/"' in added
    assert " needs " in added and "worker2" in added
    gone = section(body, "edges_removed")
    assert f'href="/snapshots/{c2}/nodes/{T1}/"' in gone and "worker1" in gone
    cycle = section(body, "cycles_appeared")
    assert f'href="/snapshots/{c3}/nodes/{T2}/"' in cycle
    assert f'href="/snapshots/{c3}/cycles/"' in cycle
    assert "None." in section(body, "cycles_resolved")

    changed = section(get_page(client, f"/snapshots/{c1}/diff/{c2}/"), "nodes_changed")
    assert f'href="/snapshots/{c2}/nodes/{T2}/"' in changed
    assert "state: " in changed and "running</span> → " in changed and "pending</span>" in changed

    resolved = section(get_page(client, f"/snapshots/{c3}/diff/{c4}/"), "cycles_resolved")
    assert f'href="/snapshots/{c3}/nodes/{LOCK}/"' in resolved


def test_show_more_brings_the_next_rows_of_one_section(client, db):
    a = post(client, [task(1, "running")], [], BASE_NS)
    b = post(client, [task(i, "running") for i in range(1, 121)], [], BASE_NS + S)
    body = get_page(client, f"/snapshots/{a}/diff/{b}/")
    added = section(body, "nodes_added")
    ids = sorted(f"task:{KEY}:{i}" for i in range(2, 121))
    assert added.count("<li><a href=") == 50
    assert ids[49] in added and ids[50] not in added
    assert 'hx-get="?section=nodes_added&amp;page=2"' in added
    assert "(69 not shown yet)" in added
    more = get_page(
        client, f"/snapshots/{a}/diff/{b}/?section=nodes_added&page=2", HX_Request="true"
    )
    assert "<html" not in more and "<section" not in more
    assert more.count("<li><a href=") == 50
    assert ids[50] in more and ids[99] in more and ids[100] not in more
    assert 'hx-get="?section=nodes_added&amp;page=3"' in more
    last = get_page(
        client, f"/snapshots/{a}/diff/{b}/?section=nodes_added&page=3", HX_Request="true"
    )
    assert last.count("<li><a href=") == 19 and "Show more" not in last
    # Without JavaScript the link is a full page.
    full = get_page(client, f"/snapshots/{a}/diff/{b}/?section=nodes_added&page=3")
    assert "<html" in full and ids[-1] in section(full, "nodes_added")


def test_compare_with_previous_from_the_snapshot_list(client, captures):
    c1, c2, _, _ = captures
    other = post(client, [task(1, "running", "other-1")], [], BASE_NS + 9 * S, "other-1")
    home = get_page(client, "/")
    assert f'href="/snapshots/{c2}/compare/"' in home
    # The previous capture of the same process, not the newest older snapshot.
    response = client.get(f"/snapshots/{other}/compare/")
    assert response.status_code == 404  # its first capture
    response = client.get(f"/snapshots/{c2}/compare/")
    assert response.status_code == 302
    assert response["Location"] == f"/snapshots/{c1}/diff/{c2}/"
    response = client.get(f"/snapshots/{captures[3]}/compare/")
    assert response["Location"] == f"/snapshots/{captures[2]}/diff/{captures[3]}/"


def test_compare_with_any_snapshot_from_the_overview(client, captures):
    c1, c2, _, c4 = captures
    overview = get_page(client, f"/snapshots/{c2}/")
    assert f'action="/snapshots/{c2}/compare/"' in overview and 'name="with"' in overview
    response = client.get(f"/snapshots/{c2}/compare/?with={c4}")
    assert response["Location"] == f"/snapshots/{c2}/diff/{c4}/"
    # The earlier snapshot goes first, live last.
    response = client.get(f"/snapshots/{c2}/compare/?with={c1}")
    assert response["Location"] == f"/snapshots/{c1}/diff/{c2}/"
    response = client.get(f"/snapshots/{c2}/compare/?with=live")
    assert response["Location"] == f"/snapshots/{c2}/diff/live/"
    assert client.get(f"/snapshots/{c2}/compare/?with=nope").status_code == 404


def test_a_changed_instant_reads_as_a_time_and_a_counter_as_itself(client, db):
    def worker(since_ns, polls):
        node = task(1, "pending")
        node["attrs"] |= {"pending_since_ns": since_ns, "polls": polls}
        return node

    a = post(client, [worker(BASE_NS - 5 * S, 1)], [], BASE_NS)
    b = post(client, [worker(BASE_NS + S // 2, 2)], [], BASE_NS + S)
    changed = section(get_page(client, f"/snapshots/{a}/diff/{b}/"), "nodes_changed")
    # The inspector's rendering: the UTC time, then the raw value.
    assert "attrs.pending_since_ns:" in changed
    assert "2025-11-22 00:39:55" in changed and "2025-11-22 00:40:00.5" in changed
    assert f"{BASE_NS + S // 2}" in changed
    assert "attrs.polls:" in changed and '<span class="break">2</span>' in changed


def test_hostile_ids_labels_states_and_attrs_are_escaped(client, db):
    key = "evil-1"
    victim, lock = f"task:{key}:{SCRIPT}/v", f'lock:{key}:{SCRIPT}"x'

    def node(node_id, kind, payload, **attrs):
        return {"id": node_id, "kind": kind, "label": payload, "attrs": attrs}

    def hostile(i, state):
        return node(f"task:{key}:{PAYLOADS[i]}", "task", PAYLOADS[i], task_id=i, state=state)

    a = post(
        client,
        [
            node(victim, "task", PAYLOADS[1], task_id=9, state="pending"),
            node(lock, "lock", PAYLOADS[2]),
            hostile(3, f"<b>{SCRIPT}</b>"),
        ],
        [(victim, lock)],
        BASE_NS,
        proc_key=key,
    )
    b = post(
        client,
        [
            node(victim, "task", PAYLOADS[3], task_id=9, state=SCRIPT, **{PAYLOADS[0]: SCRIPT}),
            node(lock, "lock", PAYLOADS[2]),
            hostile(0, "running"),
        ],
        [(lock, victim), (victim, lock)],
        BASE_NS + S,
        proc_key=key,
    )
    body = get_page(client, f"/snapshots/{a}/diff/{b}/")
    for name in ("nodes_added", "nodes_removed", "nodes_changed", "edges_added", "cycles_appeared"):
        assert "None." not in section(body, name), name
    for marker in RAW_MARKERS:
        assert marker not in body, marker
    assert html.escape(SCRIPT, quote=False) in body or "&lt;script&gt;" in body
    more = get_page(
        client, f"/snapshots/{a}/diff/{b}/?section=nodes_changed&page=1", HX_Request="true"
    )
    for marker in RAW_MARKERS:
        assert marker not in more, marker


def test_unknown_snapshots_are_404_and_bad_parameters_400(client, captures):
    c1 = captures[0]
    assert client.get(f"/snapshots/{c1}/diff/999999/").status_code == 404
    assert client.get(f"/snapshots/999999/diff/{c1}/").status_code == 404
    response = client.get(f"/snapshots/{c1}/diff/latest/?section=%3Cscript%3E")
    assert response.status_code == 400
    assert b"<script>" not in response.content
    assert client.get(f"/snapshots/{c1}/diff/latest/?page=0").status_code == 400
    assert client.get(f"/snapshots/{c1}/diff/live/").status_code == 200
