"""End to end, posted through the ingest endpoint: the cycles the asyncio
client reports for unmodified programs, explained in words by the API, the
page and the text report. A producer holding a lock while blocked on a full
queue whose consumer waits for that lock; a TaskGroup child awaiting the
group's owner."""

import pytest
from peepsweb_client.builder import SnapshotBuilder

from .helpers import producer_consumer_document

SENTENCES = [
    "task producer waits to put on queue jobs (100/100, full)",
    "queue jobs is full (100/100) and needs task consumer, which took its last item",
    "task consumer waits on lock db",
    "lock db is held by task producer",
]


@pytest.fixture
def shop(client, db):
    response = client.post(
        "/api/v1/snapshots", data=producer_consumer_document(), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["snapshot_id"]


def test_the_api_explains_each_edge_of_the_queue_cycle(client, shop):
    body = client.get(f"/api/v1/snapshots/{shop}/cycles").json()
    (candidate,) = body["candidates"]
    assert sorted(candidate["members"]) == [
        "lock:shop-77:db", "queue:shop-77:jobs", "task:shop-77:1", "task:shop-77:2"
    ]  # fmt: skip
    # the cycle starts at a longest-waiting task; compare it as a ring
    explained = [e["explanation"] for e in candidate["edges"]]
    start = explained.index(SENTENCES[0])
    assert explained[start:] + explained[:start] == SENTENCES


def test_the_page_and_the_text_report_say_the_same(client, shop):
    html = client.get(f"/snapshots/{shop}/cycles/").content.decode()
    for sentence in SENTENCES:
        assert f"<li>{sentence}" in html
    report = client.get(f"/api/v1/snapshots/{shop}/cycles.txt").content.decode()
    assert "  waits to put on queue jobs (100/100, full) [queue:shop-77:jobs]" in report
    assert (
        "  which is full (100/100) and needs task consumer, which took its last item"
        " [task:shop-77:2]" in report
    )
    assert "  waits on lock db [lock:shop-77:db]" in report
    assert "  which is held by task producer [task:shop-77:1]" in report


def test_a_taskgroup_cycle_names_the_owner_and_its_child(client, db):
    b = SnapshotBuilder("tg", pid=5)
    main = b.task(1, "main")
    child = b.task(2, "fetch_a")
    group = b.node("future", "7f00", "TaskGroup", attrs={"label": "TaskGroup", "owner_task_id": 1})
    b.needs(main, group, op="await")
    b.needs(group, child)
    b.needs(child, main)
    response = client.post("/api/v1/snapshots", data=b.build(), content_type="application/json")
    snapshot = response.json()["snapshot_id"]
    (candidate,) = client.get(f"/api/v1/snapshots/{snapshot}/cycles").json()["candidates"]
    assert {e["explanation"] for e in candidate["edges"]} == {
        "task main waits for its TaskGroup to finish",
        "TaskGroup of task main waits for child task fetch_a",
        "task fetch_a waits for task main",
    }
    # The report joins a sentence that does not start with its subject as a
    # step of its own, not as "which TaskGroup of ...".
    report = client.get(f"/api/v1/snapshots/{snapshot}/cycles.txt").content.decode()
    assert (
        "  waits for its TaskGroup to finish [future:tg-5:7f00]\n"
        "  then TaskGroup of task main waits for child task fetch_a [task:tg-5:2]\n"
    ) in report
