"""Stuck across snapshots: waiting, no progress, k consecutive captures."""

from django.template.loader import render_to_string

from snapshots.cycles.stuck import fingerprint, stuck_context, stuck_nodes
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope
from snapshots.templatetags.peeps import duration_ns

from .helpers import document

SECOND = 1_000_000_000
T0 = 1763772000000000000


def capture(n, *, worker_state="pending", acquires=3, extra_nodes=(), key="svc-1"):
    """Capture number n of process svc-1, 10 s apart."""
    nodes = [
        (f"task:{key}:1", "task", {"task_id": 1, "name": "worker", "state": worker_state,
                                   "spawned_at_ns": T0}),
        (f"task:{key}:2", "task", {"task_id": 2, "name": "ticker", "state": "running"}),
        (f"lock:{key}:db", "lock", {"name": "db", "acquires": acquires, "releases": 2}),
        *extra_nodes,
    ]  # fmt: skip
    edges = [(f"task:{key}:1", f"lock:{key}:db"), (f"lock:{key}:db", f"task:{key}:2")]
    doc = document(key, nodes, edges)
    doc["captured_at_ns"] = T0 + n * 10 * SECOND
    return ingest_document(doc)


def test_a_node_waiting_for_three_captures_is_stuck_with_its_duration(db):
    for n in range(3):
        last = capture(n)
    stuck = stuck_nodes(resolve_scope(last.snapshot_id), k=3)
    by_id = {s.node_id: s for s in stuck}
    assert set(by_id) == {"task:svc-1:1", "lock:svc-1:db"}
    worker = by_id["task:svc-1:1"]
    assert (worker.name, worker.streak, worker.stuck_for_ns) == ("worker", 3, 20 * SECOND)
    assert worker.state_class == "waiting"


def test_two_captures_are_not_enough_for_k_three(db):
    capture(0)
    last = capture(1)
    assert stuck_nodes(resolve_scope(last.snapshot_id), k=3) == []


def test_a_counter_that_moved_breaks_the_streak(db):
    capture(0, acquires=3)
    capture(1, acquires=4)  # the lock was taken again: progress
    capture(2, acquires=4)
    last = capture(3, acquires=4)
    stuck = {s.node_id: s.streak for s in stuck_nodes(resolve_scope(last.snapshot_id), k=3)}
    assert stuck == {"task:svc-1:1": 4, "lock:svc-1:db": 3}


def test_a_node_that_stopped_waiting_in_between_is_not_stuck(db):
    capture(0)
    capture(1, worker_state="polling")
    last = capture(2)
    ids = {s.node_id for s in stuck_nodes(resolve_scope(last.snapshot_id), k=3)}
    assert "task:svc-1:1" not in ids


def test_running_tasks_are_never_stuck(db):
    for n in range(4):
        last = capture(n)
    ids = {s.node_id for s in stuck_nodes(resolve_scope(last.snapshot_id), k=2)}
    assert "task:svc-1:2" not in ids


def test_the_live_view_looks_back_over_each_process(db):
    for n in range(3):
        capture(n)
        capture(n, key="other-2")
    stuck = stuck_nodes(resolve_scope("live"), k=3)
    assert {s.proc_key for s in stuck} == {"svc-1", "other-2"}


def test_an_older_snapshot_only_looks_at_its_own_past(db):
    first = capture(0)
    capture(1)
    capture(2)
    assert stuck_nodes(resolve_scope(first.snapshot_id), k=2) == []


def test_time_like_attrs_do_not_count_as_progress():
    a = fingerprint("pending", {"name": "x", "elapsed_ns": 1, "total_pending_ns": 5, "age_s": 1})
    b = fingerprint("pending", {"name": "x", "elapsed_ns": 9, "total_pending_ns": 7, "age_s": 3})
    assert a == b
    assert fingerprint("pending", {"ready_count": 1}) != fingerprint("pending", {"ready_count": 2})


def test_the_partial_lists_stuck_nodes_with_links(db):
    for n in range(3):
        last = capture(n)
    scope = resolve_scope(last.snapshot_id)
    html = render_to_string("cycles/_stuck.html", {"scope": scope, **stuck_context(scope)})
    assert "worker" in html
    assert f'<td class="num">{duration_ns(20 * SECOND)}</td>' in html
    assert f"/snapshots/{scope.key}/nodes/task:svc-1:1/" in html


def test_the_partial_says_when_nothing_is_stuck(db):
    last = capture(0)
    scope = resolve_scope(last.snapshot_id)
    html = render_to_string("cycles/_stuck.html", {"scope": scope, **stuck_context(scope)})
    assert 'id="no-stuck"' in html
