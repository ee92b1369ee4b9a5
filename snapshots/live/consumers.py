"""Websocket consumers: page updates for browsers, and agents for Jump to now.

Browsers (`/ws/updates/`) only listen: a page joins the groups of what it
shows and gets, per change, one message that the publisher (publish.py)
rendered and serialized once for everybody. The consumer forwards the text
as it is: no database query and no rendering per broadcast per client.

Agents (`/ws/agent/`) are instrumented processes that stay connected so a
pull can ask them for a snapshot. The protocol (JSON text frames; a binary
frame holds the same JSON, gzip-compressed or not):

    agent -> server  {"type": "hello", "process": "vx-vfsd", "pid": 51859,
                      "proc_key": "vx-vfsd-51859"}
    server -> agent  {"type": "welcome", "proc_key": "vx-vfsd-51859"}
    server -> agent  {"type": "snapshot_request", "snapshot_id": 17, "timeout_ms": 5000}
    agent -> server  {"type": "snapshot", "snapshot_id": 17, "snapshot": {...a
                      POST /api/v1/snapshots body...}}
    server -> agent  {"type": "snapshot_ack", "snapshot_id": 17, "status": 201, ...counts}
    agent -> server  {"type": "snapshot_error", "snapshot_id": 17, "error": "why"}
    agent -> server  {"type": "ping"}            server -> agent  {"type": "pong"}
    server -> agent  {"type": "error", "status": 409, "error": "...", "path": "..."}

An agent may instead POST its reply to /api/v1/snapshots with the
snapshot_id; ingest applies the same checks to both. The server keeps one
`Agent` row per connection (keyed by channel name) so that every server
process sees every agent when several daphne processes share a Redis layer.
"""

import asyncio
from urllib.parse import urlparse

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings

from snapshots.auth import bearer_token
from snapshots.ingest.body import inflate_gzip
from snapshots.ingest.errors import IngestError
from snapshots.live import agents, publish, topics
from snapshots.models import IngestEvent, Snapshot

GZIP_MAGIC = b"\x1f\x8b"


class UpdatesConsumer(AsyncWebsocketConsumer):
    """A browser page. `?topics=overview,tasks` names what the page shows
    beyond the snapshot notices that every page gets (see topics.py)."""

    async def connect(self):
        publish.remember_loop()
        query = self.scope.get("query_string", b"").decode("latin1")
        self.joined = topics.groups_for_query(query)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # Once per connection (not per broadcast): a page that reconnects
        # learns whether it missed a snapshot while it was away.
        latest = await database_sync_to_async(latest_complete_snapshot_id)()
        await self.send(text_data=orjson.dumps({"event": "hello", "snapshot_id": latest}).decode())

    async def disconnect(self, code):
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # Pages only listen; a ping lets a page check the socket is alive.
        if text_data == "ping":
            await self.send(text_data="pong")

    async def page_update(self, event):
        await self.send(text_data=event["text"])


class AgentConsumer(AsyncWebsocketConsumer):
    """An instrumented process (see the module docstring for the protocol)."""

    agent = None  # the hello, once received: {"process", "pid", "proc_key"}
    heartbeat = None  # the task refreshing this connection's Agent row

    async def connect(self):
        publish.remember_loop()
        allowed = origin_allowed(self.scope) and await database_sync_to_async(agents.token_allows)(
            self.scope
        )
        if not allowed:
            # Closing before accept refuses the handshake (HTTP 403).
            await self.close()
            return
        await self.accept()

    async def disconnect(self, code):
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.agent is not None:
            await database_sync_to_async(agents.forget)(self.channel_name, self.agent["proc_key"])

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = decode_frame(text_data, bytes_data)
        except IngestError as err:
            await database_sync_to_async(agents.record_refusal)(
                self.agent, None, err, IngestEvent.DECODE_ERROR
            )
            await self.send_error(err)
            return
        kind = message.get("type")
        if kind == "hello":
            await self.hello(message)
        elif self.agent is None:
            await self.send_error(IngestError(409, "say hello first", "type"))
        elif kind == "snapshot":
            await self.snapshot(message)
        elif kind == "snapshot_error":
            await self.snapshot_error(message)
        elif kind == "ping":
            await database_sync_to_async(agents.touch)(self.channel_name)
            await self.send_json({"type": "pong"})
        else:
            await self.send_error(IngestError(400, f"unknown message type {kind!r}", "type"))

    async def hello(self, message):
        try:
            hello = agents.parse_hello(message)
        except IngestError as err:
            await self.send_error(err)
            return
        if self.agent is not None and self.agent["proc_key"] != hello["proc_key"]:
            await self.send_error(IngestError(409, "proc_key cannot change", "proc_key"))
            return
        self.agent = hello
        await database_sync_to_async(agents.register)(self.channel_name, hello)
        if self.heartbeat is None:
            self.heartbeat = asyncio.create_task(self.keep_alive())
        await self.send_json({"type": "welcome", "proc_key": hello["proc_key"]})

    async def keep_alive(self):
        """Refresh the Agent row while this server holds the socket: if the
        server dies, nobody calls disconnect(), and the row going stale is
        what tells the other servers (Agent.objects.alive())."""
        while True:
            await asyncio.sleep(settings.PEEPSWEB_AGENT_HEARTBEAT_S)
            await database_sync_to_async(agents.touch)(self.channel_name)

    async def snapshot(self, message):
        snapshot_id = message.get("snapshot_id")
        try:
            # Not thread-sensitive: a big snapshot must not hold up the one
            # thread every other consumer's database calls go through.
            result = await database_sync_to_async(agents.ingest_reply, thread_sensitive=False)(
                self.channel_name, self.agent, message
            )
        except IngestError as err:
            await self.send_error(err, snapshot_id=snapshot_id)
            return
        await self.send_json({"type": "snapshot_ack", "snapshot_id": snapshot_id, **result})

    async def snapshot_error(self, message):
        snapshot_id = message.get("snapshot_id")
        try:
            await database_sync_to_async(agents.record_agent_error)(
                self.channel_name, self.agent, message
            )
        except IngestError as err:
            await self.send_error(err, snapshot_id=snapshot_id)
            return
        await self.send_json({"type": "snapshot_error_ack", "snapshot_id": snapshot_id})

    async def snapshot_request(self, event):
        """From pull.py through the channel layer: ask the agent for a snapshot."""
        await self.send_json(
            {
                "type": "snapshot_request",
                "snapshot_id": event["snapshot_id"],
                "timeout_ms": event["timeout_ms"],
            }
        )

    async def send_json(self, payload):
        await self.send(text_data=orjson.dumps(payload).decode())

    async def send_error(self, err, snapshot_id=None):
        payload = {"type": "error", "status": err.status, **err.as_json()}
        if isinstance(snapshot_id, int):
            payload["snapshot_id"] = snapshot_id
        await self.send_json(payload)


def origin_allowed(scope):
    """The Origin check /ws/updates/ gets (AllowedHostsOriginValidator), for
    handshakes made by a browser. Without it any page a developer opens could
    pose as an agent while the server is open (no token yet). Agents are
    programs: they send no Origin, or a bearer token, which a page cannot put
    on a websocket handshake (token_allows then checks it)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    if origin is None or bearer_token(headers.get(b"authorization", b"").decode("latin1")):
        return True
    return AllowedHostsOriginValidator(None).valid_origin(urlparse(origin.decode("latin1")))


def latest_complete_snapshot_id():
    return (
        Snapshot.objects.filter(status=Snapshot.COMPLETE)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def decode_frame(text_data, bytes_data):
    """One websocket frame -> a JSON object, never past the body size limit."""
    limit = settings.PEEPSWEB_MAX_BODY_BYTES
    if text_data is not None:
        if len(text_data) > limit:  # chars <= bytes, so this never refuses a legal frame
            raise IngestError(413, f"message is larger than {limit} bytes")
        raw = text_data
    else:
        raw = bytes_data or b""
        if raw[:2] == GZIP_MAGIC:
            raw = inflate_gzip((raw,), limit)
        elif len(raw) > limit:
            raise IngestError(413, f"message is larger than {limit} bytes")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, f"message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise IngestError(400, "message must be a JSON object")
    return message
