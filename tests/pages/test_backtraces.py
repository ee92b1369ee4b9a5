"""Pending traces grouped by identical stack, with the stacks merged into a
tree on their common (innermost) frames."""

from django.urls import reverse

from snapshots.pages.stacks import group_by_stack, stack_tree
from tests.pages.conftest import BASE_NS, S, document, task

LOCK = "Mutex::lock\n    at src/db.rs:42:17"
POOL = "Pool::get\n    at src/db.rs:88:5"
CONN = "conn::handle\n    at src/conn.rs:118:9"
FLUSH = "flush::run\n    at src/flush.rs:30:13"
SLEEP = "time::sleep\n    at src/retry.rs:9:5"


def parked_document():
    key = "parked-1"
    frames = {"1": LOCK, "2": POOL, "3": CONN, "4": FLUSH, "5": SLEEP}
    stacks = {1: [1, 2, 3], 2: [1, 2, 3], 3: [1, 2, 3], 4: [1, 2, 4], 5: [5]}
    durations = {1: 2, 2: 9, 3: 4, 4: 7, 5: 1}
    return document(
        key,
        [task(key, i, f"t{i}") for i in stacks],
        frames=frames,
        pending_traces=[
            # an older trace of task 1 elsewhere: only the newest one counts
            {"task_id": 1, "at_ns": BASE_NS - 9 * S, "duration_us": 100, "frame_ids": [5]},
        ]
        + [
            {
                "task_id": i,
                "at_ns": BASE_NS,
                "duration_us": durations[i] * 1_000_000,
                "frame_ids": ids,
            }
            for i, ids in stacks.items()
        ],
    )


def test_it_groups_tasks_by_identical_stack_longest_wait_first(client, ingest):
    snapshot = ingest(parked_document())
    response = client.get(reverse("pages:backtraces", args=[snapshot]))
    assert response.status_code == 200
    buckets = response.context["buckets"]
    assert [b.count for b in buckets] == [3, 1, 1]
    assert buckets[0].frames == (LOCK, POOL, CONN)
    assert buckets[0].longest_us == 9_000_000
    assert [t["node_id"] for t in buckets[0].traces] == [
        "task:parked-1:2", "task:parked-1:3", "task:parked-1:1"
    ]  # fmt: skip
    body = response.content.decode()
    assert "Group 1 · 3 tasks · longest pending 9.00s" in body
    assert f'href="/snapshots/{snapshot}/nodes/task:parked-1:2/#traces"' in body


def test_the_tree_merges_common_innermost_frames():
    traces = [
        {"node_id": f"t{i}", "duration_us": 1, "frames": [{"id": 0, "text": t} for t in stack]}
        for i, stack in enumerate(
            [[LOCK, POOL, CONN], [LOCK, POOL, CONN], [LOCK, POOL, FLUSH], [SLEEP]]
        )
    ]
    buckets = group_by_stack(traces)
    rows, complete = stack_tree(buckets)
    assert complete
    assert [(r["depth"], r["frames"], r["count"]) for r in rows] == [
        (0, [LOCK, POOL], 3),
        (1, [CONN], 2),
        (1, [FLUSH], 1),
        (0, [SLEEP], 1),
    ]
    assert rows[1]["bucket"].count == 2
    # Nesting: the first row opens a level that its last child closes.
    assert [(r["opens"], len(r["closes"])) for r in rows] == [
        (True, 0), (False, 0), (False, 1), (False, 0)
    ]  # fmt: skip


def test_a_very_deep_stack_renders_without_recursion(client, ingest):
    key = "deep-1"
    depth = 3000
    frames = {str(i): f"f{i}" for i in range(1, depth + 1)}
    doc = document(
        key,
        [task(key, 1, "a"), task(key, 2, "b")],
        frames=frames,
        pending_traces=[
            {
                "task_id": 1,
                "at_ns": BASE_NS,
                "duration_us": 1,
                "frame_ids": list(range(1, depth + 1)),
            },
            {
                "task_id": 2,
                "at_ns": BASE_NS,
                "duration_us": 1,
                "frame_ids": list(range(1, depth)) + [1],
            },
        ],
    )
    snapshot = ingest(doc)
    response = client.get(reverse("pages:backtraces", args=[snapshot]))
    assert response.status_code == 200
    assert [r["depth"] for r in response.context["tree"]] == [0, 1, 1]
    assert response.context["tree_complete"]


def test_missing_frames_are_named_not_dropped(client, ingest):
    from snapshots.models import Frame

    snapshot = ingest(parked_document())
    Frame.objects.filter(frame_key=5).delete()
    body = client.get(reverse("pages:backtraces", args=[snapshot])).content.decode()
    assert "&lt;frame 5 missing from the snapshot&gt;" in body


def test_it_says_so_when_there_is_no_trace(client, examples):
    body = client.get(
        reverse("pages:backtraces", args=[examples["taskgraph_workflow"]])
    ).content.decode()
    assert "No pending traces" in body
