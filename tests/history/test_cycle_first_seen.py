"""Since when a cycle is there (issue 13): each candidate of the cycles API
and page says when it was first seen and for how long it has been present,
against scripted sequences of captures posted through the real ingest."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from snapshots.cycles import first_seen, service
from snapshots.ingest import store
from snapshots.models import ProcessSnapshot
from snapshots.scope import resolve_scope
from snapshots.templatetags.peeps import duration_ns, ns_datetime
from tests.api.helpers import get_json
from tests.history.conftest import BASE_NS, LOCK, LOCK_NODE, T2, T3, S, post, task

pytestmark = pytest.mark.django_db

LOCK2 = "lock:svc-1:cache"
LOCK2_NODE = {"id": LOCK2, "kind": "lock", "label": "cache", "attrs": {"name": "cache"}}


def capture(client, n, *, cycle=False, second=False):
    """Capture n of svc-1, n seconds after BASE_NS. worker2 needs the lock;
    with `cycle` the lock is held by worker2 (a cycle of two); with
    `second` worker3 and the cache lock make another cycle."""
    nodes = [task(1, "running"), task(2, "pending"), task(3, "pending"), LOCK_NODE, LOCK2_NODE]
    edges = [(T2, LOCK), (T3, LOCK2)]
    if cycle:
        edges.append((LOCK, T2))
    if second:
        edges.append((LOCK2, T3))
    return post(client, nodes, edges, BASE_NS + n * S)


def candidates(client, scope):
    return get_json(client, f"/api/v1/snapshots/{scope}/cycles")["candidates"]


def by_members(cands):
    return {frozenset(c["members"]): c for c in cands}


def test_a_cycle_that_forms_at_capture_3_is_first_seen_there(client):
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 9)]
    [c] = candidates(client, ids[-1])
    assert c["first_seen_ns"] == BASE_NS + 3 * S
    assert c["first_seen_snapshot_id"] == ids[2]
    assert c["present_for_ns"] == 5 * S
    assert c["first_seen_capped"] is False
    # An older snapshot counts its own past only.
    [c] = candidates(client, ids[4])
    assert (c["first_seen_ns"], c["present_for_ns"]) == (BASE_NS + 3 * S, 2 * S)


def test_a_cycle_that_resolved_and_formed_again_is_first_seen_at_the_re_formation(client):
    ids = [capture(client, n, cycle=n in (2, 3, 6, 7, 8)) for n in range(1, 9)]
    [c] = candidates(client, ids[-1])
    assert (c["first_seen_ns"], c["first_seen_snapshot_id"]) == (BASE_NS + 6 * S, ids[5])
    assert c["present_for_ns"] == 2 * S


def test_another_cycle_of_the_process_coming_and_going_does_not_restart_it(client):
    # The process's cycle_key changes at captures 5 and 7 (a second cycle
    # forms, then resolves): the walk checks the first cycle's members there.
    ids = [capture(client, n, cycle=n >= 2, second=n in (5, 6)) for n in range(1, 9)]
    [c] = candidates(client, ids[-1])
    assert c["first_seen_ns"] == BASE_NS + 2 * S
    found = by_members(candidates(client, ids[5]))
    assert found[frozenset({T2, LOCK})]["first_seen_ns"] == BASE_NS + 2 * S
    assert found[frozenset({T3, LOCK2})]["first_seen_ns"] == BASE_NS + 5 * S
    assert found[frozenset({T3, LOCK2})]["present_for_ns"] == S


def test_a_long_unchanged_cycle_costs_no_query_per_capture(client):
    # Captures with the cycle_key of the one after them are skipped unread.
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 61)]
    counts = []
    for snapshot_id in (ids[9], ids[-1]):
        scope = resolve_scope(snapshot_id)
        with CaptureQueriesContext(connection) as queries:
            [c] = service.compute(scope)["candidates"]
        counts.append(len(queries))
    assert c["first_seen_ns"] == BASE_NS + 3 * S
    assert counts[0] == counts[1]


def test_captures_whose_cycles_were_not_looked_for_are_walked_by_their_rows(client, monkeypatch):
    # Over CYCLE_KEY_MAX_EDGES ingest does not look for a capture's cycles
    # (cycle_key "?"): the members' edge versions, read once, tell the steps
    # where nothing changed.
    monkeypatch.setattr(store, "CYCLE_KEY_MAX_EDGES", 1)
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 41)]
    assert set(ProcessSnapshot.objects.values_list("cycle_key", flat=True)) == {"?"}
    counts = []
    for snapshot_id in (ids[9], ids[-1]):
        with CaptureQueriesContext(connection) as queries:
            [c] = service.compute(resolve_scope(snapshot_id))["candidates"]
        counts.append(len(queries))
        assert (c["first_seen_ns"], c["first_seen_capped"]) == (BASE_NS + 3 * S, False)
    assert counts[0] == counts[1]


def test_captures_from_before_cycle_keys_are_walked_by_their_rows(client):
    # Migration 0003 left the cycle_key of older captures "": equal keys
    # there say nothing about the cycle.
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 9)]
    ProcessSnapshot.objects.filter(snapshot_id__in=ids[:5]).update(cycle_key="")
    [c] = candidates(client, ids[-1])
    assert (c["first_seen_ns"], c["first_seen_capped"]) == (BASE_NS + 3 * S, False)


ALPHA, BETA = "alpha-1", "beta-2"
A1, B1 = f"task:{ALPHA}:1", f"task:{BETA}:1"


def cross_round(client, n, *, beta_waits, churn=False):
    """Round n: alpha's task waits on beta's (always); beta's task waits on
    alpha's from the round `beta_waits` says. Alpha pushes first; with
    `churn` its task's attrs change every round (a new row each time)."""
    alpha = task(1, "pending", ALPHA)
    if churn:
        alpha["attrs"]["polls"] = n
    post(client, [alpha], [(A1, B1)], BASE_NS + n * S, proc_key=ALPHA)
    edges = [(B1, A1)] if beta_waits else []
    return post(client, [task(1, "pending", BETA)], edges, BASE_NS + n * S + S // 2, BETA)


def test_a_cross_process_cycle_in_the_live_view_is_first_seen_when_it_closed(client):
    formed = None
    for n in range(1, 7):
        snapshot_id = cross_round(client, n, beta_waits=n >= 3)
        if n == 3:
            formed = snapshot_id
    [c] = candidates(client, "live")
    assert c["cross_process"] is True
    assert (c["first_seen_ns"], c["first_seen_snapshot_id"]) == (BASE_NS + 3 * S + S // 2, formed)
    assert c["present_for_ns"] == 3 * S
    assert c["first_seen_capped"] is False


def test_a_walk_that_hits_its_bound_says_at_least(client, monkeypatch):
    monkeypatch.setattr(first_seen, "CHECKS", 3)
    for n in range(1, 9):
        cross_round(client, n, beta_waits=n >= 2, churn=True)
    [c] = candidates(client, "live")
    # Beta's captures change nothing and are stepped over unread; each of
    # alpha's is a new version of a member: three checks reach round 5.
    assert c["first_seen_capped"] is True
    assert c["first_seen_ns"] == BASE_NS + 5 * S
    assert c["present_for_ns"] == 3 * S + S // 2
    html = client.get("/snapshots/live/cycles/").content.decode()
    assert f"present for ≥ {duration_ns(3 * S + S // 2)}" in html


def test_rows_that_change_without_breaking_the_cycle_keep_it_present(client):
    for n in range(1, 9):
        snapshot_id = cross_round(client, n, beta_waits=n >= 2, churn=True)
        if n == 2:
            formed = snapshot_id
    [c] = candidates(client, "live")
    assert (c["first_seen_snapshot_id"], c["first_seen_capped"]) == (formed, False)


def test_the_cycles_page_says_first_seen_and_present_for(client):
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 9)]
    html = client.get(f"/snapshots/{ids[-1]}/cycles/").content.decode()
    line = html[html.index('id="cycle-1-first-seen"') :]
    line = line[: line.index("</p>")]
    assert f"First seen <time>{ns_datetime(BASE_NS + 3 * S)}</time>" in line
    assert f'href="/snapshots/{ids[2]}/cycles/">snapshot #{ids[2]}</a>' in line
    assert f"present for {duration_ns(5 * S)}." in line
    assert "≥" not in line
