"""The page-updates socket: what a page receives when a snapshot lands."""

import orjson
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from peepsweb.asgi import application
from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Snapshot
from tests.live.conftest import page_socket, settled
from tests.support.examples import read_example

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ingest = database_sync_to_async(ingest_document)


async def fragment_of(path):
    """What the page's own view answers htmx for `path`: the broadcast must be
    exactly this, so a live update can never differ from a reload."""
    response = await AsyncClient().get(path, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


async def test_a_page_is_told_the_latest_complete_snapshot_when_it_connects():
    await ingest(read_example("rpc_backend"))
    latest = await ingest(read_example("rpc_frontend"))
    await settled()
    await database_sync_to_async(Snapshot.objects.create)(
        kind=Snapshot.PULL, status=Snapshot.OPEN
    )  # open pulls are not "latest"

    communicator = WebsocketCommunicator(
        application, "/ws/updates/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect()
    try:
        assert connected
        assert await communicator.receive_json_from(timeout=5) == {
            "event": "hello",
            "snapshot_id": latest.snapshot_id,
        }
        assert await communicator.receive_nothing()
    finally:
        await communicator.disconnect()


async def test_every_page_hears_of_a_pushed_snapshot_once_it_is_committed():
    async with page_socket() as page:
        proc = await ingest(read_example("rpc_backend"))

        assert await page.receive_json_from(timeout=5) == {
            "event": "snapshot",
            "snapshot_id": proc.snapshot_id,
        }
        # A page that shows neither the list nor the live graph gets nothing else.
        await settled()
        assert await page.receive_nothing()


async def test_the_snapshot_list_page_gets_its_first_page_rendered_by_its_own_view():
    async with page_socket("list") as page:
        proc = await ingest(read_example("rpc_backend"))

        notice = await page.receive_json_from(timeout=5)
        fragments = await page.receive_json_from(timeout=5)

        assert fragments == {
            "event": "fragments",
            "topic": "list",
            "html": await fragment_of("/"),
        }
        assert f'id="snapshot-{proc.snapshot_id}"' in fragments["html"]
        assert notice == {"event": "snapshot", "snapshot_id": proc.snapshot_id}
        await settled()
        assert await page.receive_nothing()


async def test_the_live_overview_gets_counts_state_bars_and_the_banner():
    async with page_socket("overview") as page:
        proc = await ingest(read_example("rpc_frontend"))

        notice = await page.receive_json_from(timeout=5)
        message = await page.receive_json_from(timeout=5)

        assert notice == {"event": "snapshot", "snapshot_id": proc.snapshot_id}
        assert message["event"] == "fragments"
        assert message["topic"] == "overview"
        assert message["html"] == await fragment_of("/snapshots/live/")
        assert 'id="overview-body"' in message["html"]
        assert 'id="scope-banner"' in message["html"]
        assert "frontend-100" in message["html"]
        await settled()
        assert await page.receive_nothing()


async def test_the_live_task_table_gets_its_unfiltered_rows():
    async with page_socket("tasks") as page:
        proc = await ingest(read_example("taskgraph_workflow"))

        notice = await page.receive_json_from(timeout=5)
        message = await page.receive_json_from(timeout=5)

        assert notice == {"event": "snapshot", "snapshot_id": proc.snapshot_id}
        assert message == {
            "event": "fragments",
            "topic": "tasks",
            "html": await fragment_of("/snapshots/live/tasks/"),
        }
        assert "persona-scheduler-777" in message["html"]
        await settled()
        assert await page.receive_nothing()


async def test_a_refused_snapshot_announces_nothing():
    doc = read_example("rpc_backend")
    doc["edges"].append({"src_id": "task:backend-200:nope", "dst_id": "x:y:z", "kind": "needs"})
    async with page_socket("list,overview,tasks") as page:
        with pytest.raises(IngestError):
            await ingest(doc)

        await settled()
        assert await page.receive_nothing()


async def test_snapshot_text_is_escaped_in_the_broadcast_html():
    doc = read_example("taskgraph_workflow")
    doc["process"] = "<script>alert(1)</script>"
    async with page_socket("overview") as page:
        await ingest(doc)

        assert (await page.receive_json_from(timeout=5))["event"] == "snapshot"
        html = (await page.receive_json_from(timeout=5))["html"]

        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_unknown_topics_are_ignored():
    async with page_socket("nonsense,,tasks") as page:
        proc = await ingest(read_example("rpc_backend"))

        assert await page.receive_json_from(timeout=5) == {
            "event": "snapshot",
            "snapshot_id": proc.snapshot_id,
        }
        assert (await page.receive_json_from(timeout=5))["topic"] == "tasks"
        await settled()
        assert await page.receive_nothing()


async def test_a_page_from_another_site_cannot_listen():
    communicator = WebsocketCommunicator(
        application, "/ws/updates/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    try:
        assert not connected
    finally:
        await communicator.disconnect()


async def test_pages_answer_pings_and_ignore_anything_else():
    async with page_socket() as page:
        await page.send_to(text_data="ping")
        assert await page.receive_from() == "pong"
        await page.send_to(text_data=orjson.dumps({"type": "hello"}).decode())
        await settled()
        assert await page.receive_nothing()


async def test_the_live_cycles_banner_appears_when_a_deadlock_lands():
    async with page_socket("overview") as page:
        await ingest(read_example("rpc_backend"))
        await settled()
        while await page.receive_nothing() is False:
            await page.receive_from()
        await ingest(read_example("mutex_lock_order_inversion"))

        assert (await page.receive_json_from(timeout=5))["event"] == "snapshot"
        html = (await page.receive_json_from(timeout=5))["html"]

    assert 'id="cycles-banner"' in html
    assert "live view" in html


async def test_after_a_burst_of_snapshots_the_last_update_shows_the_final_state():
    async with page_socket("list,tasks") as page:
        for name in ("rpc_backend", "rpc_frontend", "taskgraph_workflow", "rpc_backend"):
            await ingest(read_example(name))
        await settled()

        last = {}
        while await page.receive_nothing() is False:
            message = await page.receive_json_from()
            if message["event"] == "fragments":
                last[message["topic"]] = message["html"]

    # Coalesced or not, what a page last received is what a reload shows.
    assert last == {
        "list": await fragment_of("/"),
        "tasks": await fragment_of("/snapshots/live/tasks/"),
    }
