"""Replay of the live graph, server side (snapshots/graph/replay.py): the
window and its steps, stable positions, ghosts, cycles at the right step,
errors for bad `at` / `until`, hostile labels escaped."""

import re

import pytest

from snapshots.graph import replay
from tests.graph.conftest import document

P = "rp-1"


def task(n, label=None, state="pending"):
    return (f"task:{P}:{n}", "task", label or f"job_{n}", {"task_id": n, "state": state})


def t(n):
    return f"task:{P}:{n}"


# A node appears (4), another disappears (1), then an edge closes a cycle 2 -> 3 -> 4 -> 2.
SEQUENCE = [
    ([task(1), task(2), task(3)], [(t(1), t(2)), (t(2), t(3))]),
    ([task(1), task(2), task(3), task(4)], [(t(1), t(2)), (t(2), t(3)), (t(3), t(4))]),
    ([task(2), task(3), task(4)], [(t(2), t(3)), (t(3), t(4))]),
    ([task(2), task(3), task(4)], [(t(2), t(3)), (t(3), t(4)), (t(4), t(2))]),
]


def push_sequence(ingest, proc_key=P, sequence=SEQUENCE):
    return [int(ingest(document(proc_key, nodes, edges))) for nodes, edges in sequence]


def positions(html):
    """{node id: (x, y)} of the drawn nodes, ghosts included."""
    found = re.findall(r'data-node-id="([^"]+)"[^>]*transform="translate\(([^,]+),([^)]+)\)"', html)
    return {node_id: (x, y) for node_id, x, y in found}


def node_tag(html, node_id):
    return re.search(rf'<a [^>]*data-node-id="{re.escape(node_id)}"[^>]*>\s*<title>[^<]*', html)[0]


def step(client, at, until, **params):
    return client.get("/snapshots/live/graph/", {"at": at, "until": until, **params})


def test_the_window_steps_through_one_process_captures(ingest):
    sids = push_sequence(ingest)
    window = replay.window()
    assert window.until == sids[-1]
    assert [s.snapshot_id for s in window.steps] == sids
    # Each step shows that process's capture of that snapshot.
    assert [s.snapshot_of for s in window.steps] == [{P: sid} for sid in sids]


def test_with_several_processes_a_step_shows_each_newest_capture_so_far(ingest):
    a1 = int(ingest(document("a-1", [("task:a-1:1", "task", "a", {"task_id": 1})])))
    b1 = int(ingest(document("b-1", [("task:b-1:1", "task", "b", {"task_id": 1})])))
    a2 = int(ingest(document("a-1", [("task:a-1:2", "task", "a2", {"task_id": 2})])))
    steps = replay.window().steps
    assert [s.snapshot_id for s in steps] == [a1, b1, a2]
    assert [s.snapshot_of for s in steps] == [
        {"a-1": a1},
        {"a-1": a1, "b-1": b1},
        {"a-1": a2, "b-1": b1},
    ]


def test_the_window_keeps_the_last_steps(ingest, monkeypatch):
    monkeypatch.setattr(replay, "STEPS", 3)
    sids = push_sequence(ingest)
    steps = replay.window().steps
    assert [s.snapshot_id for s in steps] == sids[1:]
    # The first step still shows the process: its capture is in the window.
    assert steps[0].snapshot_of == {P: sids[1]}


def test_positions_stay_and_gone_nodes_are_ghosts(client, ingest):
    sids = push_sequence(ingest)
    until = sids[-1]
    pages = [step(client, sid, until).content.decode() for sid in sids]
    places = [positions(html) for html in pages]
    # Every step draws the union of the window's nodes at the same places.
    assert all(p == places[0] for p in places)
    assert set(places[0]) == {t(1), t(2), t(3), t(4)}
    # Step 1: 4 is not there yet; step 3: 1 is gone.
    assert "ghost" in node_tag(pages[0], t(4)) and "not here yet" in node_tag(pages[0], t(4))
    assert "ghost" not in node_tag(pages[1], t(4))
    gone = node_tag(pages[2], t(1))
    assert "ghost" in gone and "gone: last seen at capture 2 of 4" in gone
    assert "Replaying capture 3 of 4" in pages[2]


def test_the_cycle_shows_at_its_step_only(client, ingest):
    sids = push_sequence(ingest)
    pages = [step(client, sid, sids[-1]).content.decode() for sid in sids]
    for html in pages[:3]:
        assert not re.search(r'class="gnode [^"]*in-cycle', html)
        assert 'class="gedge cyc" data-s=' not in html
    assert "in a needs cycle" in node_tag(pages[3], t(4))
    assert pages[3].count('class="gedge cyc" data-s=') == 3


def test_the_live_page_offers_the_window_and_a_step_links_its_captures(client, ingest):
    sids = push_sequence(ingest)
    html = client.get("/snapshots/live/graph/").content.decode()
    assert f'data-steps="{",".join(map(str, sids))}"' in html
    assert f'data-until="{sids[-1]}"' in html
    assert 'id="replay-state"' not in html  # live, not replaying
    html = step(client, sids[1], sids[-1]).content.decode()
    # Inspector links go to the step's numbered capture, not the live view.
    assert f'href="/snapshots/{sids[1]}/nodes/{t(4)}/"' in html
    assert f"at={sids[0]}&amp;until={sids[-1]}" in html  # previous capture, no JS needed
    assert f'name="at" value="{sids[1]}"' in html  # the filter form stays in replay


def test_an_htmx_step_is_the_graph_body_with_its_state(client, ingest):
    sids = push_sequence(ingest)
    response = client.get(
        "/snapshots/live/graph/", {"at": sids[0], "until": sids[-1]}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="graph-body">')
    assert "Replaying capture 1 of 4" in html and 'id="replay-bar"' not in html


def test_a_missing_focus_leaves_its_neighbourhood_as_ghosts(client, ingest):
    sids = push_sequence(ingest)
    html = step(client, sids[2], sids[-1], node=t(1)).content.decode()
    assert "The focus node is not in this capture" in html
    assert "ghost" in node_tag(html, t(1)) and "ghost" in node_tag(html, t(2))


@pytest.mark.parametrize(
    "params, param",
    [
        ({"at": "abc"}, "at"),
        ({"at": "1", "until": "-3"}, "until"),
        ({"at": "١٧"}, "at"),
        ({"at": "9" * 30}, "at"),
        ({"until": "5"}, "at"),
    ],
)
def test_a_malformed_step_is_a_400_naming_the_parameter(client, ingest, params, param):
    push_sequence(ingest)
    response = client.get("/snapshots/live/graph/", params)
    assert response.status_code == 400
    assert f"<code>{param}</code>" in response.content.decode()


def test_replay_of_a_numbered_snapshot_is_a_400(client, ingest):
    sids = push_sequence(ingest)
    response = client.get(f"/snapshots/{sids[0]}/graph/", {"at": sids[0]})
    assert response.status_code == 400
    assert "replay is for the live view" in response.content.decode()


def test_a_step_outside_the_window_is_a_404(client, ingest, monkeypatch):
    sids = push_sequence(ingest)
    other = int(ingest(document("other-1", [("task:other-1:1", "task", "x", {"task_id": 1})])))
    monkeypatch.setattr(replay, "STEPS", 2)
    cases = [
        (sids[0], sids[-1], "not one of the 2 steps"),  # older than the window
        (other, sids[-1], "not one of the 2 steps"),  # newer than until
        (sids[-1], 10**12, "No complete snapshot"),  # until does not exist
    ]
    for at, until, words in cases:
        response = step(client, at, until)
        assert response.status_code == 404
        assert words in response.content.decode()


def test_hostile_labels_are_escaped_in_steps_and_ghosts(client, ingest):
    evil = '"><svg onload=alert(1)><script>alert(2)</script>'
    first = ([task(1, evil, state="<img src=x onerror=alert(3)>"), task(2)], [(t(1), t(2))])
    second = ([task(2)], [])
    sids = push_sequence(ingest, sequence=[first, second])
    for sid in sids:
        html = step(client, sid, sids[-1]).content.decode()
        assert "<svg onload" not in html and "<script>alert" not in html and "<img src" not in html
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "ghost" in node_tag(step(client, sids[1], sids[-1]).content.decode(), t(1))


def test_over_the_cap_across_steps_each_step_is_laid_out_alone(client, ingest, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 4
    seq = [([task(1), task(2), task(3)], []), ([task(4), task(5), task(6)], [])]
    sids = push_sequence(ingest, sequence=seq)
    html = step(client, sids[0], sids[-1]).content.decode()
    assert "each capture is laid out on its own" in html
    assert set(positions(html)) == {t(1), t(2), t(3)}  # no ghosts
    assert f'href="/snapshots/{sids[0]}/nodes/{t(1)}/"' in html
