"""Sentences for the edges the asyncio client measures on unmodified
programs: queues both ways, semaphore permits, events, conditions, the
TaskGroup and shield futures (SNAPSHOT_FORMAT.md v1.1 patterns)."""

import pytest

from snapshots.cycles.explain import explain_edge

from .helpers import info

PRODUCER = info("task:p:1", attrs={"task_id": 1, "name": "producer"})
WORKER = info("task:p:2", attrs={"task_id": 2, "name": "worker"})
FEEDER = info("task:p:3", attrs={"task_id": 3, "name": "feeder"})
FULL = info(
    "queue:p:jobs",
    attrs={"name": "jobs", "size": 100, "maxsize": 100, "full": True, "last_get_task_id": 2},
)
EMPTY = info("queue:p:jobs", attrs={"name": "jobs", "size": 0, "maxsize": 100, "full": False})
POOL = info("semaphore:p:pool", attrs={"name": "pool", "permits_total": 2})
READY = info("event:p:ready", attrs={"name": "ready"})
COND = info("condition:p:c", attrs={"name": "c"})
MAIN = info("task:p:10", attrs={"task_id": 10, "name": "main"})
FETCH = info("task:p:11", attrs={"task_id": 11, "name": "fetch_a"})
GROUP = info("future:p:f1", attrs={"label": "TaskGroup", "owner_task_id": 10})
SHIELD = info("future:p:f2", attrs={"label": "shield"})
INNER = info("task:p:12", attrs={"task_id": 12, "name": "inner"})
CONSUMER = {"queue": "full", "role": "consumer", "last_get_at_ns": 1_763_771_999_000_000_000}
PRODUCER_ROLE = {"queue": "empty", "role": "producer", "last_put_at_ns": 1_763_771_999_000_000_000}


@pytest.mark.parametrize(
    "src, dst, attrs, sentence",
    [
        (PRODUCER, FULL, {"op": "put"}, "task producer waits to put on queue jobs (100/100, full)"),
        (WORKER, EMPTY, {"op": "get"}, "task worker waits for an item from queue jobs (empty)"),
        (WORKER, FULL, {}, "task worker waits on queue jobs"),
        (
            FULL,
            WORKER,
            CONSUMER,
            "queue jobs is full (100/100) and needs task worker, which took its last item",
        ),
        (
            FULL,
            PRODUCER,
            CONSUMER,
            "queue jobs is full (100/100) and needs task producer, its recent consumer, "
            "to take an item",
        ),
        (
            FULL,
            WORKER,
            {**CONSUMER, "recent_count": 1},
            "queue jobs is full (100/100) and needs task worker, which took its last item "
            "(the only task that took items recently)",
        ),
        (
            EMPTY,
            FEEDER,
            PRODUCER_ROLE,
            "queue jobs is empty and needs task feeder, its recent producer, to put an item",
        ),
        (
            EMPTY,
            FEEDER,
            {**PRODUCER_ROLE, "recent_count": 3},
            "queue jobs is empty and needs task feeder, its recent producer, to put an item "
            "(one of 3 tasks that put items recently)",
        ),
        (FULL, WORKER, {}, "queue jobs needs task worker to make progress"),
        (
            POOL,
            WORKER,
            {"held": True, "permits": 2},
            "semaphore pool has its permits held by task worker (2 permits)",
        ),
        (
            POOL,
            WORKER,
            {"held": True, "permits": 1},
            "semaphore pool has its permits held by task worker (1 permit)",
        ),
        (POOL, WORKER, {"held": True}, "semaphore pool has its permits held by task worker"),
        (READY, WORKER, None, "event ready needs task worker to make progress"),
        (WORKER, READY, {"op": "wait"}, "task worker waits for event ready to be set"),
        (WORKER, COND, {"op": "wait"}, "task worker waits on condition c to be notified"),
        (WORKER, COND, {"op": "acquire"}, "task worker waits for the lock of condition c"),
        (COND, PRODUCER, {"held": True}, "condition c has its lock held by task producer"),
        (MAIN, GROUP, {"op": "await"}, "task main waits for its TaskGroup to finish"),
        (GROUP, FETCH, None, "TaskGroup of task main waits for child task fetch_a"),
        (SHIELD, INNER, None, "shield waits on task inner"),
        (MAIN, SHIELD, None, "task main awaits future shield"),
    ],
)
def test_each_asyncio_pattern_reads_as_a_sentence(src, dst, attrs, sentence):
    nodes = {n.node_id: n for n in (MAIN, FETCH, GROUP)}
    assert explain_edge(src, dst, attrs, nodes) == sentence


def test_a_taskgroup_whose_owner_is_not_known_still_reads():
    group = info("future:p:f3", attrs={"label": "TaskGroup"})
    assert explain_edge(MAIN, group) == "task main waits for its TaskGroup to finish"
    assert explain_edge(group, FETCH) == "TaskGroup waits for child task fetch_a"
    # an owner id without its node among those given: named by its id
    assert explain_edge(GROUP, FETCH) == "TaskGroup of task 10 waits for child task fetch_a"


def test_a_taskgroup_awaited_by_another_task_names_its_owner():
    nodes = {MAIN.node_id: MAIN}
    assert explain_edge(FETCH, GROUP, None, nodes) == (
        "task fetch_a waits for the TaskGroup of task main to finish"
    )


def test_queue_counts_say_only_what_the_attrs_hold():
    bare = info("queue:p:q", attrs={"name": "q"})
    assert explain_edge(PRODUCER, bare, {"op": "put"}) == "task producer waits to put on queue q"
    assert explain_edge(WORKER, bare, {"op": "get"}) == "task worker waits for an item from queue q"
    assert explain_edge(bare, WORKER, {"role": "consumer"}) == (
        "queue q is full and needs task worker, its recent consumer, to take an item"
    )
    unbounded = info("queue:p:u", attrs={"name": "u", "size": 5, "maxsize": 0})
    assert explain_edge(WORKER, unbounded, {"op": "get"}) == (
        "task worker waits for an item from queue u (5 queued)"
    )


def test_hostile_attrs_are_ignored_or_flattened():
    odd = info(
        "queue:p:x",
        attrs={"name": "a\n<b>" + "q" * 200, "size": "100", "maxsize": True, "full": "yes"},
    )
    text = explain_edge(PRODUCER, odd, {"op": ["put"]})
    assert text.startswith("task producer waits on queue a <b>qqq")
    assert "\n" not in text and len(text) < 200
    group = info("future:p:g", attrs={"label": "TaskGroup", "owner_task_id": "10"})
    assert explain_edge(group, FETCH) == "TaskGroup waits for child task fetch_a"
    assert explain_edge(POOL, WORKER, {"permits": True}) == (
        "semaphore pool has its permits held by task worker"
    )
    assert explain_edge(POOL, WORKER, "not a dict") == (
        "semaphore pool has its permits held by task worker"
    )
