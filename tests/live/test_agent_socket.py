"""The agent socket: authentication, hello, and the Agent rows behind it."""

import asyncio
import gzip
from datetime import timedelta

import orjson
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from peepsweb.asgi import application
from snapshots.models import Agent, IngestEvent, IngestToken
from tests.live.conftest import agent_socket, page_socket, settled

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

HELLO = {"process": "vx-vfsd", "pid": 51859, "proc_key": "vx-vfsd-51859"}


@database_sync_to_async
def agents():
    return list(Agent.objects.values("process", "pid", "proc_key"))


@database_sync_to_async
def events():
    return list(IngestEvent.objects.values("kind", "source", "status", "proc_key"))


async def test_an_agent_is_listed_from_hello_until_it_disconnects():
    async with agent_socket(HELLO):
        assert await agents() == [HELLO]
    assert await agents() == []


async def test_a_second_hello_updates_the_agent_but_cannot_change_its_proc_key():
    async with agent_socket(HELLO) as agent:
        await agent.send_json_to({"type": "hello", **HELLO, "pid": 7})
        assert await agent.receive_json_from() == {"type": "welcome", "proc_key": HELLO["proc_key"]}
        await agent.send_json_to({"type": "hello", **HELLO, "proc_key": "other-1"})
        assert await agent.receive_json_from() == {
            "type": "error",
            "status": 409,
            "error": "proc_key cannot change",
            "path": "proc_key",
        }
        assert await agents() == [{**HELLO, "pid": 7}]


async def test_two_connections_are_two_agents():
    async with agent_socket(HELLO), agent_socket({**HELLO, "proc_key": "vx-vfsd-2", "pid": 2}):
        assert sorted(a["proc_key"] for a in await agents()) == ["vx-vfsd-2", "vx-vfsd-51859"]


async def test_anything_before_hello_is_refused():
    async with agent_socket() as agent:
        await agent.send_json_to({"type": "snapshot", "snapshot_id": 1, "snapshot": {}})
        assert await agent.receive_json_from() == {
            "type": "error",
            "status": 409,
            "error": "say hello first",
            "path": "type",
        }
        assert await agents() == []


@pytest.mark.parametrize(
    "hello, path",
    [
        ({"process": "", "pid": 1, "proc_key": "a-1"}, "process"),
        ({"process": "a", "pid": 1, "proc_key": "A:1"}, "proc_key"),
        ({"process": "a", "pid": "1", "proc_key": "a-1"}, "pid"),
        ({"pid": 1, "proc_key": "a-1"}, "process"),
    ],
)
async def test_a_bad_hello_is_refused_with_the_field_named(hello, path):
    async with agent_socket() as agent:
        await agent.send_json_to({"type": "hello", **hello})
        reply = await agent.receive_json_from()
        assert (reply["type"], reply["status"], reply["path"]) == ("error", 400, path)
        assert await agents() == []


async def test_a_ping_is_answered_and_counts_as_contact():
    async with agent_socket(HELLO) as agent:
        before = await database_sync_to_async(Agent.objects.get)()
        await agent.send_json_to({"type": "ping"})
        assert await agent.receive_json_from() == {"type": "pong"}
        after = await database_sync_to_async(Agent.objects.get)()
        assert after.last_seen_at > before.last_seen_at


async def test_an_unknown_message_type_is_refused():
    async with agent_socket(HELLO) as agent:
        await agent.send_json_to({"type": "dance"})
        assert await agent.receive_json_from() == {
            "type": "error",
            "status": 400,
            "error": "unknown message type 'dance'",
            "path": "type",
        }


async def test_a_frame_that_is_not_json_is_refused_and_recorded():
    async with agent_socket(HELLO) as agent:
        await agent.send_to(text_data="{nope")
        reply = await agent.receive_json_from()
        assert (reply["type"], reply["status"], reply["path"]) == ("error", 400, "")
        await agent.send_to(text_data="[1, 2]")
        assert await agent.receive_json_from() == {
            "type": "error",
            "status": 400,
            "error": "message must be a JSON object",
            "path": "",
        }
    assert (
        await events()
        == [{"kind": "decode_error", "source": "ws", "status": 400, "proc_key": "vx-vfsd-51859"}]
        * 2
    )


async def test_a_gzip_binary_frame_is_read_like_text(settings):
    async with agent_socket() as agent:
        await agent.send_to(bytes_data=gzip.compress(orjson.dumps({"type": "hello", **HELLO})))
        assert await agent.receive_json_from() == {"type": "welcome", "proc_key": HELLO["proc_key"]}


async def test_a_frame_over_the_body_limit_is_refused_even_when_gzip_hides_it(settings):
    settings.PEEPSWEB_MAX_BODY_BYTES = 1000
    bomb = gzip.compress(b" " * 100_000)  # a few hundred bytes that inflate to 100 kB
    async with agent_socket(HELLO) as agent:
        await agent.send_to(bytes_data=bomb)
        reply = await agent.receive_json_from()
        assert (reply["type"], reply["status"]) == ("error", 413)
        # The HTTP body's capped inflater (snapshots.ingest.body.inflate_gzip).
        assert reply["error"] == "the body is over the limit of 1000 bytes after gzip decoding"
        await agent.send_to(text_data=" " * 1001)
        reply = await agent.receive_json_from()
        assert (reply["type"], reply["status"]) == ("error", 413)
    assert [e["kind"] for e in await events()] == ["oversize", "oversize"]


async def test_agents_need_the_ingest_token_once_the_server_has_one():
    raw = await database_sync_to_async(IngestToken.create)("agents")

    for headers in ([], [(b"authorization", b"Bearer pw_wrong")]):
        communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
        connected, _ = await communicator.connect()
        assert not connected
        await communicator.disconnect()

    async with agent_socket(HELLO, token=raw):
        assert await agents() == [HELLO]


async def test_agents_need_no_origin_but_pages_do():
    # Agents are programs: they send no Origin header and are still welcome.
    async with agent_socket(HELLO):
        assert await agents() == [HELLO]
    communicator = WebsocketCommunicator(application, "/ws/updates/")
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def connects(headers):
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


async def test_a_web_page_of_another_site_cannot_pose_as_an_agent():
    # No token exists (an open server): a browser sends its page's Origin,
    # which must be one of ALLOWED_HOSTS, as for /ws/updates/.
    assert not await connects([(b"origin", b"http://evil.example")])
    assert not await connects([(b"origin", b"null")])  # sandboxed iframe, file://
    assert await connects([(b"origin", b"http://127.0.0.1:8000")])
    assert await connects([])  # a program: no Origin at all
    assert await agents() == []


async def test_an_agent_with_a_valid_token_may_send_any_origin():
    # A page cannot put a bearer token on a websocket handshake, so a valid
    # one proves a program; a wrong one is refused whatever the Origin.
    raw = await database_sync_to_async(IngestToken.create)("agents")
    foreign = (b"origin", b"http://evil.example")
    assert await connects([foreign, (b"authorization", f"Bearer {raw}".encode())])
    assert not await connects([foreign, (b"authorization", b"Bearer pw_wrong")])
    assert not await connects([foreign])


async def test_the_agents_page_is_refreshed_when_an_agent_comes_and_goes():
    async with page_socket("agents") as page:
        async with agent_socket(HELLO):
            arrived = await page.receive_json_from(timeout=5)
        left = await page.receive_json_from(timeout=5)
        await settled()
        assert await page.receive_nothing()

    assert (arrived["event"], arrived["topic"]) == ("fragments", "agents")
    assert arrived["html"].strip().startswith('<div id="agents-table"')
    assert "vx-vfsd-51859" in arrived["html"]
    assert "vx-vfsd-51859" not in left["html"] and "No agent is connected" in left["html"]


async def test_the_server_refreshes_the_row_while_it_holds_the_socket(settings):
    settings.PEEPSWEB_AGENT_HEARTBEAT_S = 0.05
    async with agent_socket(HELLO):
        long_ago = timezone.now() - timedelta(hours=1)
        await database_sync_to_async(Agent.objects.update)(last_seen_at=long_ago)
        await asyncio.sleep(0.5)
        seen = await database_sync_to_async(lambda: Agent.objects.get().last_seen_at)()
        assert seen > long_ago + timedelta(minutes=59)
