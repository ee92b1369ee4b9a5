"""peeps TCP compatibility: 4-byte big-endian length + UTF-8 JSON frames on a
long-lived connection, each ingested like a POST; oversize, truncated and
garbage frames recorded as ingest events, the connection closed cleanly."""

import io
import json
import socket
import threading
import time

import pytest
from django.core.management import call_command

from snapshots import tcp
from snapshots.management.commands import listentcp
from snapshots.models import IngestEvent, ProcessSnapshot
from tests.support.examples import read_example


def frame(doc):
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return len(payload).to_bytes(4, "big") + payload


def serve(data, max_bytes=None, close_writer=True):
    """Feed `data` to serve_connection through a real socket pair."""
    server_end, client_end = socket.socketpair()
    client_end.sendall(data)
    if close_writer:
        client_end.shutdown(socket.SHUT_WR)
    stats = tcp.serve_connection(server_end, "test-peer", max_bytes=max_bytes)
    return stats, client_end


def events(kind=None):
    rows = IngestEvent.objects.filter(source="tcp")
    return list(rows.filter(kind=kind) if kind else rows)


@pytest.mark.django_db
def test_each_frame_of_a_long_lived_connection_is_ingested():
    dump = read_example("peeps_processdump")
    stats, _ = serve(frame(dump) + frame(dump) + frame(read_example("rpc_backend")))
    assert (stats.frames, stats.stored, stats.closed_for) == (3, 3, "")
    keys = list(ProcessSnapshot.objects.order_by("id").values_list("proc_key", flat=True))
    assert keys == ["vx-vfsd-51859", "vx-vfsd-51859", "backend-200"]
    assert events() == []


@pytest.mark.django_db
def test_a_refused_document_is_recorded_and_the_connection_goes_on():
    bad = {"process_name": "x", "pid": 1, "graph": {"nodes": [7]}}
    stats, _ = serve(frame(bad) + frame(read_example("peeps_processdump")))
    assert (stats.frames, stats.stored, stats.rejected, stats.closed_for) == (2, 1, 1, "")
    (event,) = events()
    assert (event.kind, event.status) == (IngestEvent.REJECTED, 400)
    assert "graph.nodes[0]" in event.detail


@pytest.mark.django_db
def test_an_oversize_frame_is_refused_from_its_header_without_reading_it():
    # Announce 1 GB and send only a few bytes of it: the server must decide
    # from the header alone, and never wait for (or buffer) the payload.
    stats, client = serve(
        frame(read_example("rpc_backend")) + (10**9).to_bytes(4, "big") + b"{...",
        max_bytes=10_000,
        close_writer=False,
    )
    assert stats.stored == 1
    assert "1000000000 bytes is over the limit of 10000 bytes" in stats.closed_for
    (event,) = events()
    assert (event.kind, event.status) == (IngestEvent.OVERSIZE, 413)
    # Closed cleanly: the client reads an orderly end of stream, not a reset.
    assert client.recv(10) == b""


@pytest.mark.django_db
def test_a_frame_exactly_at_the_limit_is_accepted():
    payload = json.dumps(read_example("rpc_backend")).encode()
    stats, _ = serve(frame(payload), max_bytes=len(payload))
    assert stats.stored == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data, detail",
    [
        (
            b"\x00\x00\x01\x00" + b'{"process"',
            "truncated frame: the connection closed after 10 of 256",
        ),
        (b"\x00\x00", "truncated frame: the connection closed inside a header"),
        (frame(b"\xff\xfe not utf-8"), "frame is not UTF-8 JSON"),
        (frame(b"{not json"), "frame is not UTF-8 JSON"),
        (b"\x00\x00\x00\x00", "empty frame"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "over the limit"),  # garbage
    ],
    ids=["truncated payload", "truncated header", "not utf-8", "not json", "empty", "http"],
)
def test_unreadable_frames_are_recorded_and_close_the_connection(data, detail):
    good = frame(read_example("peeps_processdump"))
    # A truncated frame ends the stream; any other bad frame is followed by a
    # good one that must not be ingested: the stream is out of step.
    after = b"" if detail.startswith("truncated") else good
    stats, client = serve(good + data + after, max_bytes=64 * 1024 * 1024)
    assert (stats.stored, stats.frames >= 1) == (1, True)
    (event,) = events()
    assert detail in event.detail
    assert event.kind in (IngestEvent.DECODE_ERROR, IngestEvent.OVERSIZE)
    assert ProcessSnapshot.objects.count() == 1
    assert client.recv(10) == b""


@pytest.fixture
def running_server(transactional_db):
    server = tcp.TcpIngestServer(("127.0.0.1", 0), max_bytes=100_000)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_server_handles_several_connections_at_once(running_server):
    port = running_server.port
    dump = read_example("peeps_processdump")
    a = socket.create_connection(("127.0.0.1", port))
    b = socket.create_connection(("127.0.0.1", port))
    a.sendall(frame(dump))
    b.sendall(frame(read_example("rpc_frontend")))
    b.sendall(b"\x00\x00\x00\x05{")  # b is truncated below
    b.close()
    a.sendall(frame(dump))
    a.close()
    wait_until(lambda: ProcessSnapshot.objects.count() == 3 and len(events()) == 1)
    assert sorted(ProcessSnapshot.objects.values_list("proc_key", flat=True)) == [
        "frontend-100",
        "vx-vfsd-51859",
        "vx-vfsd-51859",
    ]


def test_the_command_listens_and_reports(transactional_db, monkeypatch):
    started = []

    class Recorded(tcp.TcpIngestServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(listentcp, "TcpIngestServer", Recorded)
    out, err = io.StringIO(), io.StringIO()
    thread = threading.Thread(
        target=call_command,
        args=("listentcp", "127.0.0.1:0"),
        kwargs={"stdout": out, "stderr": err},
    )
    thread.start()
    wait_until(lambda: started)
    server = started[0]
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(frame(read_example("peeps_processdump")) + b"\xff\xff\xff\xff")
        assert conn.recv(1) == b""
    wait_until(lambda: "connection closed" in err.getvalue())
    server.shutdown()
    thread.join(10)
    assert f"Listening for peeps pushes on 127.0.0.1:{server.port}" in out.getvalue()
    assert "snapshot" in out.getvalue() and "vx-vfsd-51859" in out.getvalue()
    assert "Stopped: 1 snapshots stored, 0 refused, from 1 connections." in out.getvalue()
    assert "4294967295 bytes is over the limit" in err.getvalue()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ("127.0.0.1", 9119)),
        ("9000", ("127.0.0.1", 9000)),
        ("0.0.0.0:9119", ("0.0.0.0", 9119)),
        (":7000", ("127.0.0.1", 7000)),
        ("[::1]:9119", ("::1", 9119)),
        ("localhost", ("localhost", 9119)),
    ],
)
def test_addresses_parse_like_peeps_listen(text, expected):
    assert tcp.parse_address(text) == expected


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
