"""The pusher against a live daphne server: push, retry after a real 503
honouring Retry-After, server down and back, tokens. Servers that hang,
refuse or vanish: test_pusher_misbehaving_peers.py."""

import gzip
import json
import socket
import time

import pytest
from peepsweb_client import Pusher, PushError, SnapshotBuilder
from peepsweb_client.push import encode, retry_after_seconds

from snapshots.models import IngestToken, ProcessSnapshot

from .proxy import Proxy


def doc(n=0, proc="pushed"):
    b = SnapshotBuilder(proc, pid=n)
    t = b.task(1, f"task-{n}")
    lock = b.node("lock", "l", "l")
    b.needs(t, lock)
    return b.build()


def stored_keys():
    return set(ProcessSnapshot.objects.values_list("proc_key", flat=True))


def test_it_pushes_gzipped_json_and_the_server_stores_it(daphne_server):
    server = daphne_server()
    with Proxy(server.url) as proxy:
        resp = Pusher(proxy.url).send(doc(1))
    assert resp.status == 201
    assert resp.json()["nodes"] == 2
    assert stored_keys() == {"pushed-1"}
    ((_, _, path, headers),) = proxy.requests
    assert path == "/api/v1/snapshots"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"


def test_it_retries_after_a_503_waiting_as_long_as_retry_after_says(daphne_server):
    server = daphne_server()
    busy = (
        503,
        {"Retry-After": "1", "Content-Type": "application/json"},
        b'{"error": "storage unavailable, try again later", "path": ""}',
    )
    with Proxy(server.url, canned=[busy]) as proxy:
        pusher = Pusher(proxy.url, backoff=0.01)
        resp = pusher.send(doc(2))
    assert resp.status == 201
    assert pusher.retries == 1
    first, second = proxy.requests
    # The 1 s the server asked for, not the 10 ms backoff.
    assert second[0] - first[0] >= 0.9
    assert stored_keys() == {"pushed-2"}


def test_it_does_not_retry_what_the_server_refused_and_shows_its_error(daphne_server):
    server = daphne_server()
    pusher = Pusher(server.url, backoff=0.01)
    bad = doc(3)
    bad["nodes"][0]["kind"] = "Not Valid"
    with pytest.raises(PushError) as caught:
        pusher.send(bad)
    assert caught.value.status == 400
    assert caught.value.path == "nodes[0].kind"
    assert "kind is required" in str(caught.value)
    assert pusher.retries == 0


def test_it_sends_the_bearer_token(daphne_server):
    token = IngestToken.create("tests")
    server = daphne_server()
    with pytest.raises(PushError) as caught:
        Pusher(server.url).send(doc(4))
    assert caught.value.status == 401
    assert Pusher(server.url, token=token).send(doc(5)).status == 201
    assert stored_keys() == {"pushed-5"}


def test_pushes_made_while_the_server_is_down_arrive_when_it_is_back(daphne_server):
    server = daphne_server()
    port = free_port()
    size = len(encode(doc(0, proc="offline")))
    pusher = Pusher(
        f"http://127.0.0.1:{port}",
        max_bytes=int(2.5 * size),  # room for two bodies
        backoff=0.05,
        max_backoff=0.2,
        max_attempts=1000,
    )
    for n in range(6):
        pusher.push(doc(n, proc="offline"))
    # Nothing listens: the thread retries, and keeps what fits the byte
    # budget, dropping the oldest.
    wait_until(lambda: pusher.retries >= 2 and pusher.pending() == 2)
    assert pusher.dropped == 4
    assert size < pusher.pending_bytes() <= 2.5 * size
    with Proxy(server.url, port=port):
        assert pusher.flush(timeout=30)
    pusher.close()
    assert pusher.sent == 2
    # The newest bodies are the ones kept.
    assert stored_keys() == {"offline-4", "offline-5"}


def test_the_body_is_gzip_of_compact_json():
    body = encode(doc(1))
    assert json.loads(gzip.decompress(body))["proc_key"] == "pushed-1"


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
