"""Stuck across snapshots: a task that ran between captures is not stuck,
even when every capture finds it waiting in the same state with the same
attrs (a heartbeat asleep in each capture, woken in between)."""

import asyncio

from peepsweb_client import aio, demo

from snapshots.cycles.stuck import fingerprint, stuck_nodes
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope

from .helpers import document

SECOND = 1_000_000_000
T0 = 1763772000000000000


def capture(n, *, beat_since=None, wakes=(), waker=None):
    """Capture n of process svc-1, 10 s apart: `stalled` waits on lock db
    held by `holder`; `beat` sleeps in each capture (a wait that began at
    `beat_since`, default the same wait all along)."""
    at = T0 + n * 10 * SECOND
    beat = {"task_id": 3, "name": "beat", "state": "pending", "pending_since_ns": T0}
    if beat_since is not None:
        beat["pending_since_ns"] = beat_since
    nodes = [
        ("task:svc-1:1", "task", {"task_id": 1, "name": "stalled", "state": "pending",
                                  "pending_since_ns": T0 - SECOND}),
        ("task:svc-1:2", "task", {"task_id": 2, "name": "holder", "state": "running"}),
        ("task:svc-1:3", "task", beat),
        ("lock:svc-1:db", "lock", {"name": "db"}),
    ]  # fmt: skip
    doc = document("svc-1", nodes, [("task:svc-1:1", "lock:svc-1:db")])
    doc["captured_at_ns"] = at
    doc["wake_events"] = [
        {"at_ns": at_ns, "waker_task_id": waker, "woken_task_id": 3} for at_ns in wakes
    ]
    return ingest_document(doc)


def stuck_ids(last):
    return {s.node_id for s in stuck_nodes(resolve_scope(last.snapshot_id), k=3)}


def test_a_task_in_a_new_wait_in_each_capture_is_not_stuck(db):
    for n in range(3):
        # the heartbeat went back to sleep just before each capture
        last = capture(n, beat_since=T0 + n * 10 * SECOND - SECOND // 2)
    assert stuck_ids(last) == {"task:svc-1:1"}


def test_a_task_woken_between_captures_is_not_stuck(db):
    capture(0)
    capture(1, wakes=[T0 + 5 * SECOND])  # woken between capture 0 and capture 1
    last = capture(2, wakes=[T0 + 15 * SECOND])
    assert stuck_ids(last) == {"task:svc-1:1"}


def test_a_wake_before_the_older_capture_is_not_progress_since(db):
    capture(0, wakes=[T0 - SECOND])
    capture(1, wakes=[T0 - SECOND])  # the same old wake, still in the window
    last = capture(2, wakes=[T0 - SECOND])
    assert stuck_ids(last) == {"task:svc-1:1", "task:svc-1:3"}


def test_instants_count_as_progress_and_durations_do_not():
    a = fingerprint("pending", {"pending_since_ns": 1, "pending_ns": 5, "spawned_at_ns": 0})
    b = fingerprint("pending", {"pending_since_ns": 1, "pending_ns": 9, "spawned_at_ns": 0})
    c = fingerprint("pending", {"pending_since_ns": 7, "pending_ns": 5, "spawned_at_ns": 0})
    assert a == b
    assert a != c


async def _demo_captures(n, gap_s):
    """n snapshot bodies of the client demo, `gap_s` apart (its heartbeat
    sleeps 0.5 s at a time, so it waits in every capture)."""
    inst = aio.install(process="peepsweb-demo", url=None, push_interval=None)
    tasks = await demo.scenario()
    bodies = []
    try:
        for _ in range(n):
            await asyncio.sleep(gap_s)
            bodies.append(inst.snapshot())
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        inst.uninstall()
    return bodies


def test_the_demo_heartbeat_is_not_listed_as_stuck_on_the_overview(client, db):
    for body in asyncio.run(_demo_captures(3, 0.6)):
        last = ingest_document(body)
    html = client.get(f"/snapshots/{last.snapshot_id}/").content.decode()
    stuck = html[html.index('id="stuck-across"') :]
    stuck = stuck[: stuck.index("</section>")]
    assert ">transfer_a_to_b</a>" in stuck
    assert ">transfer_b_to_a</a>" in stuck
    assert "heartbeat" not in stuck


def test_no_progress_since_starts_at_the_first_capture_after_a_wake_sent_once(db):
    # A sender that sends each wake once (with the capture after it): the
    # beat ran between captures 0 and 1, then waits in the same state with
    # the same attrs in captures 1, 2 and 3. It has made no progress since
    # capture 1, which is where its streak starts: 3 captures, not 2.
    capture(0)
    capture(1, wakes=[T0 + 5 * SECOND], waker=2)  # woken by `holder`
    capture(2)
    last = capture(3)
    found = {s.node_id: s for s in stuck_nodes(resolve_scope(last.snapshot_id), k=1)}
    beat = found["task:svc-1:3"]
    assert beat.streak == 3
    assert beat.since_ns == T0 + 10 * SECOND
