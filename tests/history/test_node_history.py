"""GET /api/v1/history and the inspector's timeline strip, against a scripted
sequence of captures posted through the real ingest: a task appears, runs,
waits, disappears, comes back, and waits again."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openapi_schema_validator import OAS31Validator

from snapshots.api.openapi import document
from snapshots.history import node_history
from snapshots.models import Node
from tests.api.helpers import get_json
from tests.history.conftest import BASE_NS, KEY, S, post, task
from tests.pages.conftest import PAYLOADS, RAW_MARKERS, SCRIPT

pytestmark = pytest.mark.django_db

N = f"task:{KEY}:7"  # the task whose history the tests read
OTHER = task(1, "running")  # always there: every capture has data

# (state of N or None when absent, since_ns of its pending trace or None)
STEPS = [
    (None, None),  # c0: before N exists
    ("running", None),  # c1: first seen
    ("running", None),  # c2: nothing changed
    ("pending", None),  # c3: waits
    ("pending", None),  # c4
    (None, None),  # c5: gone
    ("queued", None),  # c6: back, runnable
    ("blocked", BASE_NS + 6 * S + S // 2),  # c7: waits again; its trace says since 6.5 s
    ("pending", BASE_NS + 6 * S + S // 2),  # c8: still waiting (another raw state)
]
STUCK_SINCE = BASE_NS + 6 * S + S // 2  # the trace's start: after c6, before c7


def push(client, nodes, at_ns, proc_key=KEY, traces=()):
    """Post a capture of `nodes`, with a pending trace per (task_id, since_ns)."""
    members = {}
    if traces:
        members["frames"] = {"1": "wait_for_db at db.py:12"}
        members["pending_traces"] = [
            {"task_id": task_id, "at_ns": at_ns, "since_ns": since, "frame_ids": [1]}
            for task_id, since in traces
        ]
    return post(client, nodes, [], at_ns, proc_key, **members)


def play(client, steps, proc_key=KEY):
    """Post one capture per step (one second apart); -> their snapshot ids."""
    ids = []
    for i, (state, since) in enumerate(steps):
        nodes = [task(1, "running", proc_key)]
        if state is not None:
            nodes.append(task(7, state, proc_key))
        traces = [(7, since)] if since is not None else ()
        ids.append(push(client, nodes, BASE_NS + i * S, proc_key, traces))
    return ids


@pytest.fixture
def script(client, db):
    return play(client, STEPS)


def history(client, query, status=200):
    return get_json(client, f"/api/v1/history?{query}", status)


def expected(ids, steps):
    from snapshots.states import state_class

    return [
        {
            "snapshot_id": sid,
            "captured_at_ns": BASE_NS + i * S,
            "present": state is not None,
            "state": state,
            "state_class": state_class(state) if state else None,
        }
        for i, (sid, (state, _)) in reversed(list(enumerate(zip(ids, steps, strict=True))))
    ]


def test_the_whole_history_newest_first(client, script):
    body = history(client, f"node={N}&per_page=100")
    assert body["node_id"] == N and body["proc_key"] == KEY
    assert body["captures"] == expected(script, STEPS)
    assert body["first_seen_snapshot_id"] == script[1]
    # Waiting since c7, but its trace says the wait began 0.5 s before it.
    assert body["stuck_since_ns"] == STUCK_SINCE
    assert (body["total"], body["page"], body["num_pages"]) == (9, 1, 1)
    OAS31Validator({"$ref": "#/components/schemas/NodeHistory", **document()}).validate(body)


def test_reading_a_history_is_two_queries_however_many_captures(script, django_assert_num_queries):
    # The lineage and the node's versions: no read of any capture's nodes.
    with django_assert_num_queries(2):
        h = node_history(N, KEY)
    assert len(h.timeline) == 9 and h.first_seen.snapshot_id == script[1]


@pytest.mark.parametrize(
    "at, stuck_since",
    [
        (4, BASE_NS + 3 * S),  # waiting since c3 (no trace): c3's time
        (3, BASE_NS + 3 * S),
        (2, None),  # running
        (5, None),  # absent
        (6, None),  # runnable
        (7, STUCK_SINCE),
    ],
)
def test_up_to_a_snapshot(client, script, at, stuck_since):
    body = history(client, f"node={N}&snapshot={script[at]}&per_page=100")
    assert body["captures"] == expected(script[: at + 1], STEPS[: at + 1])
    assert body["stuck_since_ns"] == stuck_since
    assert body["first_seen_snapshot_id"] == script[1]


def test_latest_and_live_are_the_newest_capture(client, script):
    for key in ("latest", "live"):
        body = history(client, f"node={N}&snapshot={key}")
        assert body["captures"][0]["snapshot_id"] == script[-1]
        assert body["stuck_since_ns"] == STUCK_SINCE


def test_a_trace_start_from_before_the_last_capture_not_waiting_is_not_this_wait(client, db):
    # c2 saw the task running; a trace claiming the wait began at 0.5 s
    # describes an older wait, so the run's first capture (c3) is the start.
    steps = [("pending", None), ("running", None), ("running", None)]
    steps += [("pending", BASE_NS + S // 2), ("pending", BASE_NS + S // 2)]
    play(client, steps)
    assert history(client, f"node={N}")["stuck_since_ns"] == BASE_NS + 3 * S


def test_a_node_waiting_since_the_oldest_capture_takes_the_earlier_trace_start(client, db):
    play(client, [("pending", BASE_NS - 60 * S), ("pending", BASE_NS - 60 * S)])
    body = history(client, f"node={N}")
    assert body["stuck_since_ns"] == BASE_NS - 60 * S
    assert [c["state_class"] for c in body["captures"]] == ["waiting", "waiting"]


def test_pages(client, script):
    first = history(client, f"node={N}&per_page=4")
    assert [c["snapshot_id"] for c in first["captures"]] == script[8:4:-1]
    assert (first["total"], first["num_pages"], first["previous"]) == (9, 3, None)
    assert "page=2" in first["next"] and "per_page=4" in first["next"]
    second = get_json(client, first["next"])
    assert [c["snapshot_id"] for c in second["captures"]] == script[4:0:-1]
    last = history(client, f"node={N}&per_page=4&page=3")
    assert [c["snapshot_id"] for c in last["captures"]] == [script[0]]
    assert last["captures"][0]["present"] is False and last["next"] is None
    # Past the end: an empty list, the totals still there.
    beyond = history(client, f"node={N}&per_page=4&page=9")
    assert beyond["captures"] == [] and beyond["total"] == 9
    assert beyond["stuck_since_ns"] == STUCK_SINCE


@pytest.mark.parametrize(
    "query, path",
    [
        ("", "node"),
        ("node=", "node"),
        ("node=a%00b", "node"),
        (f"node={N}&process=Not%20A%20Key", "process"),
        (f"node={N}&snapshot=abc", "snapshot"),
        (f"node={N}&snapshot=-1", "snapshot"),
        (f"node={N}&page=0", "page"),
        (f"node={N}&page=x", "page"),
        (f"node={N}&per_page=501", "per_page"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, db, query, path):
    # Checked before anything is read: no captures needed.
    body = history(client, query, 400)
    assert body["path"] == path, body
    OAS31Validator({"$ref": "#/components/schemas/Error", **document()}).validate(body)


def test_unknown_node_process_or_snapshot_is_a_404_naming_it(client, script):
    body = history(client, "node=task:svc-1:404", 404)
    assert body["path"] == "node" and "task:svc-1:404" in body["error"]
    body = history(client, f"node={N}&process=svc-9", 404)
    assert body["path"] == "node" and "svc-9" in body["error"]
    body = history(client, f"node={N}&snapshot=999999", 404)
    assert body["path"] == "snapshot"
    # c0 has the process but not yet the node.
    body = history(client, f"node={N}&snapshot={script[0]}", 404)
    assert body["path"] == "node"


def test_a_node_id_in_several_processes_needs_process(client, db):
    shared = "lock:svc-1:shared"
    push(client, [task(1, "running"), {"id": shared, "kind": "lock"}], BASE_NS)
    theirs = {"id": "lock:svc-2:shared", "kind": "lock"}
    other = push(client, [task(1, "running", "svc-2"), theirs], BASE_NS + S, "svc-2")
    # Ingest holds senders to `{kind}:{proc_key}:{rest}`, so only rows
    # stored some other way can share an id across processes: rename one.
    Node.objects.filter(node_id=theirs["id"]).update(node_id=shared)
    body = history(client, f"node={shared}", 400)
    assert body["path"] == "process"
    assert "svc-1, svc-2" in body["error"]
    body = history(client, f"node={shared}&process=svc-2")
    assert body["proc_key"] == "svc-2" and body["first_seen_snapshot_id"] == other
    # A non-task node has no state, and is never stuck.
    assert body["captures"][0]["state"] is None and body["stuck_since_ns"] is None
    # A snapshot narrows the candidates to its processes.
    assert history(client, f"node={shared}&snapshot={other}")["proc_key"] == "svc-2"
    # ... and a process it has no capture of is a 404 naming the snapshot.
    body = history(client, f"node={shared}&process=svc-1&snapshot={other}", 404)
    assert body["path"] == "snapshot" and "svc-1" in body["error"]


def test_hostile_node_ids_come_back_as_sent(client, db):
    for payload in PAYLOADS:
        node_id = f"task:{KEY}:{payload}"
        push(client, [{**task(5, "pending"), "id": node_id}], BASE_NS)
        response = client.get("/api/v1/history", {"node": node_id})
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        assert response.json()["node_id"] == node_id


# -- the inspector's strip ----------------------------------------------------


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def strip(body):
    start = body.index('<section id="node-history"')
    return body[start : body.index("</section>", start)]


def facts(client, body):
    """The strip's whole-history facts: the fragment it loads after the page."""
    url = html.unescape(body.split('hx-get="', 1)[1].split('"', 1)[0])
    return page(client, url)


def test_the_inspector_shows_a_cell_per_capture_up_to_the_shown_one(client, script):
    body = strip(page(client, f"/snapshots/{script[7]}/nodes/{N}/"))
    cells = body.split('class="cell ')[1:]
    assert len(cells) == 8  # c0 .. c7
    classes = [cell.split('"', 1)[0] for cell in cells]
    assert classes == [
        "absent",
        "state-running",
        "state-running",
        "state-waiting",
        "state-waiting",
        "absent",
        "state-runnable",
        "state-waiting current",
    ]
    # Each cell links to the node in its capture (absent ones to the capture).
    assert f'href="/snapshots/{script[3]}/nodes/{N}/"' in cells[3]
    assert f'href="/snapshots/{script[5]}/"' in cells[5]
    assert 'title="2025-11-22 00:40:03.000 UTC · pending"' in cells[3]
    more = facts(client, body)
    assert "waiting since" in more and "(500ms)" in more
    assert f'href="/snapshots/{script[1]}/nodes/{N}/">snapshot {script[1]}</a>' in more
    assert "8 captures stored" in more


def test_the_strip_is_the_last_60_captures_and_says_nothing_stuck_when_running(client, db):
    ids = play(client, [("running", None)] * 61)
    body = strip(page(client, f"/snapshots/{ids[-1]}/nodes/{N}/"))
    cells = body[: body.index("</ol>")]
    assert cells.count('class="cell ') == 60
    assert f'href="/snapshots/{ids[1]}/nodes/{N}/"' in cells
    assert f'href="/snapshots/{ids[0]}/nodes/{N}/"' not in cells
    more = facts(client, body)
    assert f'First seen in <a href="/snapshots/{ids[0]}/nodes/{N}/">' in more
    assert "waiting since" not in more and "61 captures stored" in more
    # On the live view, the strip ends at the process's newest capture.
    live = strip(page(client, f"/snapshots/live/nodes/{N}/"))
    assert f'href="/snapshots/{ids[-1]}/nodes/{N}/"' in live


def test_hostile_ids_and_states_are_escaped_in_the_strip(client, db):
    node_id = f"task:{KEY}:{SCRIPT}{PAYLOADS[1]}"
    hostile = {**task(5, SCRIPT), "id": node_id, "label": PAYLOADS[2]}
    sid = push(client, [hostile], BASE_NS)
    response = client.get(f"/snapshots/{sid}/node/", {"id": node_id})
    assert response.status_code == 200
    body = strip(response.content.decode())
    for marker in RAW_MARKERS:
        assert marker not in body
    assert html.escape(SCRIPT) in body  # the state, in the cell's title
    more = facts(client, body)
    for marker in RAW_MARKERS:
        assert marker not in more


def test_the_strip_reads_only_its_captures(client, db):
    """The page reads the last 60 captures, not the whole lineage: its queries
    do not see the oldest capture's id; the fragment reads them all."""
    ids = play(client, [("running", None)] * 65)
    with CaptureQueriesContext(connection) as read:
        body = page(client, f"/snapshots/{ids[-1]}/nodes/{N}/")
    # The reads of a process's captures by proc_key (the lineage's).
    lineage = [
        q["sql"]
        for q in read.captured_queries
        if '"snapshots_processsnapshot"."proc_key" =' in q["sql"] and '"status" IN' in q["sql"]
    ]
    assert len(lineage) == 1 and "LIMIT 60" in lineage[0], lineage
    assert strip(body).count('class="cell ') == 60


def test_the_facts_fragment_refuses_a_bad_capture_and_404s_another_scope(client, script):
    bad = client.get(f"/snapshots/{script[7]}/node-history/", {"id": N, "capture": "x"})
    assert bad.status_code == 400 and b"capture" in bad.content
    other = page(client, f"/snapshots/{script[6]}/nodes/{N}/")
    url = html.unescape(other.split('hx-get="', 1)[1].split('"', 1)[0])
    capture = url.rsplit("capture=", 1)[1]
    # A capture that is not in the snapshot asked for is not found there.
    response = client.get(f"/snapshots/{script[7]}/node-history/", {"id": N, "capture": capture})
    assert response.status_code == 404
