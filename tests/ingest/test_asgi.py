"""The inline-body ASGI handler serves a chunked POST like Django's own."""

import asyncio

import orjson
import pytest

from peepsweb.handler import InlineBodyASGIHandler
from snapshots.models import Node

from .conftest import small_doc

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def call(app, body, chunk=7):
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/snapshots",
        "raw_path": b"/api/v1/snapshots",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, orjson.loads(content)


async def test_a_body_in_many_chunks_arrives_whole(settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100  # roll over to disk, as big bodies do
    status, body = await call(InlineBodyASGIHandler(), orjson.dumps(small_doc()))
    assert status == 201
    assert body["nodes"] == 3
    assert await Node.objects.acount() == 3
