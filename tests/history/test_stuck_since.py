"""Stuck across snapshots over the whole history (issue 13): "stuck since"
is the first capture of the node's unbroken wait, however many captures ago,
not at most 20 captures back; a wake or a state change between two captures
still ends a wait (issue 14)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from snapshots.cycles import stuck as stuck_module
from snapshots.cycles.stuck import stuck_nodes
from snapshots.models import ProcessSnapshot
from snapshots.scope import resolve_scope
from snapshots.templatetags.peeps import duration_ns
from tests.history.conftest import BASE_NS, KEY, LOCK, LOCK_NODE, T1, S, post, task

pytestmark = pytest.mark.django_db


def push(client, n, *, state="pending", wakes=(), attrs=None):
    """Capture n of svc-1, n seconds after BASE_NS: worker1 (in `state`,
    with extra `attrs`) needs the lock, worker2 runs."""
    worker = task(1, state)
    worker["attrs"].update(attrs or {})
    wake_events = [{"at_ns": at, "waker_task_id": 2, "woken_task_id": 1} for at in wakes]
    nodes = [worker, task(2, "running"), LOCK_NODE]
    return post(client, nodes, [(T1, LOCK)], BASE_NS + n * S, wake_events=wake_events)


def worker(snapshot_id):
    return {s.node_id: s for s in stuck_nodes(resolve_scope(snapshot_id))}.get(T1)


def test_a_wait_over_100_captures_is_stuck_since_the_first(client):
    ids = [push(client, n) for n in range(100)]
    stuck = worker(ids[-1])
    assert stuck.streak == 100
    assert stuck.since_ns == BASE_NS
    assert stuck.stuck_for_ns == 99 * S
    assert stuck.first_snapshot_id == ids[0]


def test_a_growing_duration_makes_a_version_per_capture_and_is_still_one_wait(client):
    # elapsed_ns changes every capture, so every capture writes a new row
    # (and new segments start): the fingerprint ignores durations.
    ids = [push(client, n, attrs={"elapsed_ns": n * S}) for n in range(30)]
    segments = ProcessSnapshot.objects.filter(proc_key=KEY).values("segment_id").distinct()
    assert segments.count() > 1
    stuck = worker(ids[-1])
    assert (stuck.streak, stuck.since_ns) == (30, BASE_NS)


def test_a_state_change_long_ago_starts_the_wait_after_it(client):
    for n in range(40):
        push(client, n, state="running" if n == 9 else "pending")
    last = push(client, 40)
    stuck = worker(last)
    assert (stuck.streak, stuck.since_ns) == (31, BASE_NS + 10 * S)


@pytest.mark.parametrize("scan", [False, True], ids=["by-id", "scan"])
def test_a_wake_between_captures_long_ago_starts_the_wait_after_it(client, monkeypatch, scan):
    if scan:  # as for a capture whose waiting nodes are too many to look up by id
        monkeypatch.setattr(stuck_module, "IN_BATCH", 0)
    # Every capture recalls an old wake by worker2 (the same newest waker
    # throughout); from capture 15 on they also recall one between captures
    # 14 and 15: the task ran then, and waits again in the same state.
    old, new = BASE_NS - S, BASE_NS + 14 * S + S // 2
    for n in range(40):
        push(client, n, wakes=[old, new] if n >= 15 else [old])
    last = push(client, 40, wakes=[old, new])
    stuck = worker(last)
    assert (stuck.streak, stuck.since_ns) == (26, BASE_NS + 15 * S)


def test_an_older_snapshot_counts_its_own_past_only(client):
    ids = [push(client, n) for n in range(50)]
    stuck = worker(ids[29])
    assert (stuck.streak, stuck.since_ns, stuck.stuck_for_ns) == (30, BASE_NS, 29 * S)


def test_the_number_of_queries_does_not_grow_with_the_history(client):
    ids = [push(client, n) for n in range(100)]
    scopes = [resolve_scope(ids[9]), resolve_scope(ids[-1])]
    counts = []
    for scope in scopes:
        with CaptureQueriesContext(connection) as queries:
            assert worker(scope.key) is not None
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_overview_says_stuck_for_the_whole_wait(client):
    ids = [push(client, n) for n in range(80)]
    html = client.get(f"/snapshots/{ids[-1]}/").content.decode()
    section = html[html.index('id="stuck-across"') :]
    section = section[: section.index("</section>")]
    assert "worker1" in section
    assert f'<td class="num">{duration_ns(79 * S)}</td>' in section
    assert "≥" not in section
