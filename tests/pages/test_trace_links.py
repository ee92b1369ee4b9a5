"""Pending traces name their task by its process-local task_id; the pages
link the task node that has it, whatever shape its node id has."""

from django.urls import reverse

from snapshots import queries
from tests.pages.conftest import BASE_NS, document, task

KEY = "odd-1"
# The contract shape is task:{proc_key}:{task_id}; this task's id is not.
ODD_ID = f"task:{KEY}:worker/7"


def odd_document():
    odd = task(KEY, 7, "worker")
    odd["id"] = ODD_ID
    return document(
        KEY,
        [odd, task(KEY, 8, "plain")],
        frames={"1": "Mutex::lock\n    at src/db.rs:42:17"},
        pending_traces=[
            {"task_id": task_id, "at_ns": BASE_NS, "duration_us": 5_000_000, "frame_ids": [1]}
            for task_id in (7, 8, 9)  # 9: a task the snapshot does not hold
        ],
    )


def assert_backtraces_link_real_node_ids(client, snapshot):
    body = client.get(reverse("pages:backtraces", args=[snapshot])).content.decode()
    odd_url = reverse("pages:node", args=[snapshot, ODD_ID])
    assert f'href="{odd_url}#traces"' in body
    assert f'href="/snapshots/{snapshot}/nodes/task:{KEY}:8/#traces"' in body
    assert f"task:{KEY}:7" not in body  # the id the trace is filed under, which no node has
    # A task missing from the snapshot is named, not linked to a 404.
    assert f"task:{KEY}:9" in body
    assert f"/nodes/task:{KEY}:9/" not in body


def test_the_backtraces_page_links_a_task_by_its_real_node_id(client, ingest):
    snapshot = ingest(odd_document())
    assert_backtraces_link_real_node_ids(client, snapshot)
    odd_url = reverse("pages:node", args=[snapshot, ODD_ID])

    inspector = client.get(odd_url)
    assert inspector.status_code == 200
    assert [t["duration_us"] for t in inspector.context["traces"]] == [5_000_000]
    text = client.get(reverse("pages:trace_text", args=[snapshot]), {"node": ODD_ID})
    assert text.status_code == 200
    assert "Mutex::lock" in text.content.decode()


def test_with_more_traced_tasks_than_an_in_list_every_task_is_read_once(
    client, ingest, monkeypatch
):
    """Over IN_BATCH traced tasks, queries._task_nodes reads all the
    capture's tasks in one query and keeps those it wants: same links."""
    monkeypatch.setattr(queries, "IN_BATCH", 2)
    assert_backtraces_link_real_node_ids(client, ingest(odd_document()))
