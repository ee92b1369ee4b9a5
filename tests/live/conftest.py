"""Fixtures of the live tests: a fresh in-memory channel layer per test, and
websocket clients speaking to the real ASGI application."""

import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from peepsweb.asgi import application
from snapshots.live.publish import publisher

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    # Changing the setting makes channels build a new layer: no message or
    # group survives from one test (and its event loop) to the next.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Tests wait for the publisher (settled()), not for its pacing interval.
    settings.PEEPSWEB_LIVE_INTERVAL_S = 0.01
    # Nothing a test submitted may reach the next test's sockets: the
    # publisher is the process's, and it may still have a round to send.
    assert publisher.flush()
    yield
    assert publisher.flush()


async def settled():
    """Wait until the publisher has sent everything submitted so far (it
    renders in its own thread, after the ingest that caused it returned)."""
    assert await sync_to_async(publisher.flush, thread_sensitive=False)()


@contextlib.asynccontextmanager
async def page_socket(topics=""):
    """A browser page's socket to /ws/updates/, already past the hello."""
    path = "/ws/updates/" + (f"?topics={topics}" if topics else "")
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    try:
        hello = await communicator.receive_json_from()
        assert hello["event"] == "hello"
        yield communicator
    finally:
        await communicator.disconnect()


@contextlib.asynccontextmanager
async def agent_socket(hello=None, token=None):
    """An agent's socket to /ws/agent/; says `hello` (a dict) first if given."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        if hello is not None:
            await communicator.send_json_to({"type": "hello", **hello})
            welcome = await communicator.receive_json_from()
            assert welcome == {"type": "welcome", "proc_key": hello["proc_key"]}
        yield communicator
    finally:
        await communicator.disconnect()


def hello_of(doc):
    """The hello an agent sending `doc` would say."""
    return {"process": doc["process"], "pid": doc["pid"], "proc_key": doc["proc_key"]}
