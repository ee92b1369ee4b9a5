"""Jump to now: the pull protocol between POST /api/v1/jump-now and agents."""

import asyncio
from datetime import timedelta

import orjson
import pytest
from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from django.test import AsyncClient
from django.utils import timezone

from snapshots.models import IngestEvent, IngestToken, ProcessSnapshot, Snapshot
from snapshots.scope import resolve_scope
from tests.live.conftest import agent_socket, hello_of, page_socket, settled
from tests.support.examples import read_example

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def jump_now(timeout_ms=5000, client=None, **extra):
    return await request(
        (client or AsyncClient()).post,
        "/api/v1/jump-now",
        {"timeout_ms": timeout_ms},
        content_type="application/json",
        **extra,
    )


async def request(method, *args, **kwargs):
    # As daphne does (Django's ASGIHandler), and AsyncClient does not: the
    # request's sync code gets a thread of its own, so a request that waits
    # does not hold up the consumers' database calls.
    async with ThreadSensitiveContext():
        return await method(*args, **kwargs)


async def post_snapshot(doc):
    return await request(
        AsyncClient().post, "/api/v1/snapshots", doc, content_type="application/json"
    )


def reply(snapshot_id, doc):
    return {"type": "snapshot", "snapshot_id": snapshot_id, "snapshot": doc}


async def request_for(agent):
    message = await agent.receive_json_from(timeout=5)
    assert message["type"] == "snapshot_request"
    return message["snapshot_id"]


@database_sync_to_async
def statuses(snapshot_id):
    return dict(
        ProcessSnapshot.objects.filter(snapshot_id=snapshot_id).values_list("proc_key", "status")
    )


@database_sync_to_async
def late_events():
    return list(
        IngestEvent.objects.filter(kind=IngestEvent.LATE_REPLY).values_list(
            "source", "proc_key", "status"
        )
    )


async def test_jump_now_makes_one_snapshot_of_every_connected_agent():
    front, back = read_example("rpc_frontend"), read_example("rpc_backend")
    async with agent_socket(hello_of(front)) as a, agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(a)
        assert await request_for(b) == sid

        # One reply over the socket, the other POSTed: both count.
        await a.send_json_to(reply(sid, front))
        ack = await a.receive_json_from()
        posted = await post_snapshot({**back, "snapshot_id": sid})
        response = await pull

    assert ack == {
        "type": "snapshot_ack",
        "status": 201,
        "snapshot_id": sid,
        "process": "frontend",
        "proc_key": "frontend-100",
        "nodes": 5,
        "edges": ack["edges"],
        "unresolved_edges": ack["unresolved_edges"],
        "wake_events": ack["wake_events"],
        "pending_traces": ack["pending_traces"],
    }
    assert posted.status_code == 201
    assert response.status_code == 201
    assert response.json() == {
        "snapshot_id": sid,
        "status": "complete",
        "requested": 2,
        "responded": 2,
        "timed_out": 0,
        "disconnected": 0,
        "errors": 0,
        "processes": [
            {
                "process": "backend",
                "pid": 200,
                "proc_key": "backend-200",
                "status": "responded",
                "detail": "",
            },
            {
                "process": "frontend",
                "pid": 100,
                "proc_key": "frontend-100",
                "status": "responded",
                "detail": "",
            },
        ],
    }
    # The frontend's edges into the backend resolve inside this one snapshot.
    scope = await database_sync_to_async(resolve_scope)(str(sid))
    resolved, unresolved = await database_sync_to_async(scope.cross_edges)()
    cross = ack["unresolved_edges"] + posted.json()["unresolved_edges"]
    assert cross > 0
    assert (len(resolved), unresolved) == (cross, [])


async def test_a_silent_agent_times_out_and_the_others_still_count():
    front, back = read_example("rpc_frontend"), read_example("rpc_backend")
    async with agent_socket(hello_of(front)) as a, agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=300))
        sid = await request_for(a)
        await request_for(b)  # ...and never answers
        await a.send_json_to(reply(sid, front))
        await a.receive_json_from()
        body = (await pull).json()

    assert (body["requested"], body["responded"], body["timed_out"]) == (2, 1, 1)
    assert await statuses(sid) == {"frontend-100": "responded", "backend-200": "timeout"}


async def test_an_agent_that_disconnects_mid_pull_is_recorded_as_disconnected():
    front, back = read_example("rpc_frontend"), read_example("rpc_backend")
    async with agent_socket(hello_of(front)) as a:
        async with agent_socket(hello_of(back)) as b:
            pull = asyncio.create_task(jump_now(timeout_ms=5000))
            sid = await request_for(a)
            await request_for(b)
        # b is gone; a answers.
        await a.send_json_to(reply(sid, front))
        await a.receive_json_from()
        body = (await pull).json()

    assert (body["requested"], body["responded"], body["disconnected"]) == (2, 1, 1)
    assert await statuses(sid) == {"frontend-100": "responded", "backend-200": "disconnected"}


async def test_a_late_reply_is_refused_with_409_and_recorded():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=200))
        sid = await request_for(b)
        assert (await pull).json()["timed_out"] == 1

        await b.send_json_to(reply(sid, back))
        refusal = await b.receive_json_from()
        posted = await post_snapshot({**back, "snapshot_id": sid})

    assert refusal == {
        "type": "error",
        "status": 409,
        "error": f"pull {sid} is closed: the reply came too late",
        "path": "snapshot_id",
        "snapshot_id": sid,
    }
    assert posted.status_code == 409
    assert await late_events() == [("http", "backend-200", 409), ("ws", "backend-200", 409)]
    assert await statuses(sid) == {"backend-200": "timeout"}


async def test_a_reply_with_the_wrong_snapshot_id_is_refused_and_the_right_one_still_counts():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        await b.send_json_to(reply(sid + 1000, back))
        refusal = await b.receive_json_from()
        await b.send_json_to(reply(sid, back))
        ack = await b.receive_json_from()
        body = (await pull).json()

    assert refusal == {
        "type": "error",
        "status": 409,
        "error": f"snapshot {sid + 1000} does not exist",
        "path": "snapshot_id",
        "snapshot_id": sid + 1000,
    }
    assert ack["type"] == "snapshot_ack"
    assert body["responded"] == 1
    assert await late_events() == [("ws", "backend-200", 409)]


async def test_an_agent_cannot_answer_for_another_process():
    front, back = read_example("rpc_frontend"), read_example("rpc_backend")
    async with agent_socket(hello_of(front)) as a, agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=300))
        sid = await request_for(a)
        await request_for(b)
        await a.send_json_to(reply(sid, back))
        refusal = await a.receive_json_from()
        body = (await pull).json()

    assert refusal == {
        "type": "error",
        "status": 409,
        "error": "the reply's proc_key is not this agent's",
        "path": "snapshot.proc_key",
        "snapshot_id": sid,
    }
    assert body["responded"] == 0
    assert await late_events() == [("ws", "frontend-100", 409)]


async def test_a_second_pull_while_one_is_in_flight_is_refused():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        first = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        second = await jump_now()
        await b.send_json_to(reply(sid, back))
        await b.receive_json_from()
        assert (await first).status_code == 201
        # Once the first is complete another may start.
        third = asyncio.create_task(jump_now(timeout_ms=200))
        assert await request_for(b) == sid + 1
        assert (await third).status_code == 201

    assert second.status_code == 409
    assert second.json() == {"error": "a pull is already in flight", "path": ""}


async def test_jump_now_without_any_agent_is_refused():
    response = await jump_now()
    assert response.status_code == 409
    assert response.json() == {"error": "no agent is connected", "path": ""}
    assert await database_sync_to_async(Snapshot.objects.count)() == 0


async def test_an_agent_that_cannot_take_a_snapshot_is_recorded_as_error():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        await b.send_json_to(
            {"type": "snapshot_error", "snapshot_id": sid, "error": "runtime busy"}
        )
        assert await b.receive_json_from() == {"type": "snapshot_error_ack", "snapshot_id": sid}
        body = (await pull).json()

    assert body["errors"] == 1
    assert body["processes"][0]["status"] == "error"
    assert body["processes"][0]["detail"] == "agent: runtime busy"


async def test_an_invalid_reply_is_refused_and_the_process_recorded_as_error():
    back = read_example("rpc_backend")
    back["nodes"][0]["id"] = ""
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        await b.send_json_to(reply(sid, back))
        refusal = await b.receive_json_from()
        body = (await pull).json()

    assert (refusal["type"], refusal["status"], refusal["path"]) == ("error", 400, "nodes[0].id")
    assert (body["errors"], body["processes"][0]["status"]) == (1, "error")


async def test_two_connections_of_one_process_are_asked_once():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as old, agent_socket(hello_of(back)) as new:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(new)  # the most recently seen connection
        assert await old.receive_nothing()
        await new.send_json_to(reply(sid, back))
        await new.receive_json_from()
        body = (await pull).json()

    assert (body["requested"], body["responded"]) == (1, 1)


async def test_a_pull_left_open_by_a_dead_server_is_closed_by_the_next_one():
    @database_sync_to_async
    def abandoned_pull():
        past = timezone.now() - timedelta(minutes=5)
        snapshot = Snapshot.objects.create(kind=Snapshot.PULL, status=Snapshot.OPEN, deadline=past)
        ProcessSnapshot.objects.create(
            snapshot=snapshot, process="gone", proc_key="gone-1", status=ProcessSnapshot.PENDING
        )
        return snapshot.id

    old = await abandoned_pull()
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        await b.send_json_to(reply(sid, back))
        await b.receive_json_from()
        assert (await pull).status_code == 201

    closed = await database_sync_to_async(Snapshot.objects.get)(id=old)
    assert closed.status == "complete"
    assert await statuses(old) == {"gone-1": "disconnected"}


async def test_the_header_button_gets_a_fragment_with_the_counts():
    back = read_example("rpc_backend")
    async with agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(
            request(
                AsyncClient().post,
                "/api/v1/jump-now",
                {"timeout_ms": "5000"},
                headers={"HX-Request": "true"},
            )
        )
        sid = await request_for(b)
        await b.send_json_to(reply(sid, back))
        await b.receive_json_from()
        response = await pull

    html = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert f'href="/snapshots/{sid}/"' in html
    assert f"#{sid}: 1/1 responded" in html


async def test_the_header_button_gets_a_refusal_as_the_json_error_scripts_get():
    # live.js shows any error's message in the header (tests/live/test_live_pages.py).
    response = await AsyncClient().post("/api/v1/jump-now", headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert response.json() == {"error": "no agent is connected", "path": ""}


async def test_a_browser_needs_the_csrf_token_and_a_script_the_bearer_token():
    strict = AsyncClient(enforce_csrf_checks=True)
    assert (await jump_now(client=strict)).status_code == 403

    raw = await database_sync_to_async(IngestToken.create)("ops")
    wrong = await jump_now(client=strict, headers={"Authorization": "Bearer pw_nope"})
    right = await jump_now(client=strict, headers={"Authorization": f"Bearer {raw}"})

    assert wrong.status_code == 403
    # Past the gate: refused only because no agent is connected.
    assert (right.status_code, right.json()["error"]) == (409, "no agent is connected")


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNzd29yZA==", 'Digest username="u"', "Negotiate YIIB", "Bearer "],
)
async def test_credentials_a_browser_adds_by_itself_do_not_skip_the_csrf_check(authorization):
    # A cross-site form POST carries the browser's cached credentials for
    # this host (Basic from a proxy in front, Kerberos...); only a bearer
    # token, which no browser adds unasked, replaces the CSRF token.
    strict = AsyncClient(enforce_csrf_checks=True)
    response = await request(
        strict.post,
        "/api/v1/jump-now",
        {"timeout_ms": "500"},
        headers={"Authorization": authorization, "Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert response.json() == {"error": "CSRF check failed: reload the page", "path": ""}


@pytest.mark.parametrize("timeout_ms", ["soon", "1.5"])
async def test_a_bad_timeout_is_a_400(timeout_ms):
    response = await AsyncClient().post(
        "/api/v1/jump-now",
        orjson.dumps({"timeout_ms": timeout_ms}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"error": "timeout_ms must be an integer", "path": "timeout_ms"}


async def test_jump_now_only_takes_post():
    response = await AsyncClient().get("/api/v1/jump-now")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


async def test_pages_hear_of_a_pull_once_it_is_complete():
    back = read_example("rpc_backend")
    async with page_socket() as page, agent_socket(hello_of(back)) as b:
        pull = asyncio.create_task(jump_now(timeout_ms=5000))
        sid = await request_for(b)
        await b.send_json_to(reply(sid, back))
        await b.receive_json_from()
        await pull
        # The reply alone announces nothing: the pull was still open.
        assert await page.receive_json_from(timeout=5) == {"event": "snapshot", "snapshot_id": sid}
        await settled()
        assert await page.receive_nothing()
