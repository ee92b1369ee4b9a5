"""peeps TCP compatibility: 4-byte big-endian length + UTF-8 JSON frames on a
long-lived connection, each ingested like a POST; oversize, truncated and
garbage frames recorded as ingest events, the connection closed cleanly."""

import io
import json
import re
import socket
import threading
import time
from pathlib import Path

import msgspec
import pytest
from django.core.management import CommandError, call_command

from snapshots.ingest import tcp
from snapshots.management.commands import listentcp
from snapshots.models import IngestEvent, IngestToken, ProcessSnapshot
from tests.support.examples import read_example

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_frame_is_decoded_like_a_post_body_with_its_big_lists_left_undecoded():
    # The same decoder as HTTP (snapshots.ingest.body.decode_json): each node
    # stays a slice of the payload until validation reaches it, so a frame
    # never costs its whole decoded size at once.
    doc = tcp.decode_frame(json.dumps(read_example("rpc_backend")).encode())
    assert doc["nodes"] and all(isinstance(n, msgspec.Raw) for n in doc["nodes"])
    assert tcp.token_frame(tcp.decode_frame(b'{"token": "t"}')) == "t"


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
        (frame(b"\xff\xfe not utf-8"), "the body is not valid JSON: JSON is malformed"),
        (frame(b"{not json"), "the body is not valid JSON: JSON is malformed"),
        (frame(b"[1, 2]"), "the body must be a JSON object"),
        (b"\x00\x00\x00\x00", "empty frame"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "over the limit"),  # garbage
    ],
    ids=["truncated payload", "truncated header", "not utf-8", "not json", "list", "empty", "http"],
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


@pytest.mark.django_db
def test_once_a_token_exists_a_connection_without_one_stores_nothing():
    IngestToken.create("ops")
    stats, client = serve(
        frame(read_example("peeps_processdump")) + frame(read_example("rpc_backend"))
    )
    assert (stats.frames, stats.stored) == (1, 0)
    assert stats.closed_for == (
        'an ingest token is required: send {"token": "<token>"} as the first frame'
    )
    assert ProcessSnapshot.objects.count() == 0
    assert client.recv(10) == b""


@pytest.mark.django_db
def test_a_first_frame_carrying_the_token_lets_the_stream_in():
    raw = IngestToken.create("ops")
    dump = read_example("peeps_processdump")
    stats, _ = serve(frame({"token": raw}) + frame(dump) + frame(dump))
    assert (stats.frames, stats.stored, stats.rejected, stats.closed_for) == (3, 2, 0, "")
    assert events() == []


@pytest.mark.django_db
@pytest.mark.parametrize("revoked", [False, True], ids=["unknown", "revoked"])
def test_a_wrong_or_revoked_token_closes_the_connection(revoked):
    raw = IngestToken.create("ops")
    if revoked:
        call_command("revoketoken", "ops", stdout=io.StringIO())
    sent = raw if revoked else "pw_wrong"
    stats, client = serve(frame({"token": sent}) + frame(read_example("peeps_processdump")))
    assert stats.stored == 0
    assert stats.closed_for in ("unknown ingest token", "ingest token 'ops' has been revoked")
    assert ProcessSnapshot.objects.count() == 0
    assert client.recv(10) == b""


@pytest.fixture
def start_server(transactional_db):
    """Start TcpIngestServer(**kwargs) on a free loopback port."""
    servers = []

    def start(address=("127.0.0.1", 0), **kwargs):
        server = tcp.TcpIngestServer(address, **{"max_bytes": 100_000, **kwargs})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def running_server(start_server):
    return start_server()


def test_allow_unauthenticated_lets_tokenless_peeps_in_on_loopback(start_server):
    IngestToken.create("ops")
    server = start_server(allow_unauthenticated=True)
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(frame(read_example("peeps_processdump")))
        wait_until(lambda: ProcessSnapshot.objects.count() == 1)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_allow_unauthenticated_refuses_any_address_but_loopback(transactional_db, host):
    with pytest.raises(ValueError, match="binds to loopback only"):
        tcp.TcpIngestServer((host, 0), allow_unauthenticated=True)
    with pytest.raises(CommandError, match="binds to loopback only"):
        call_command("listentcp", f"[{host}]:0", "--allow-unauthenticated", stdout=io.StringIO())


def idle_sockets(port, count, source):
    """`count` connections from `source` that never send a byte."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        held.append(sock)
    return held


def test_a_pusher_gets_in_while_another_address_holds_300_idle_sockets(start_server):
    # The flood comes from 127.0.0.2 (all of 127/8 is loopback on Linux);
    # it gets its per-address share and no more, so it never takes the
    # slot a pusher needs, even within the first-frame timeout.
    server = start_server(max_connections=256, max_per_peer=8, first_frame_timeout=60)
    held = idle_sockets(server.port, 300, "127.0.0.2")
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as pusher:
            pusher.sendall(frame(read_example("peeps_processdump")))
            wait_until(lambda: ProcessSnapshot.objects.count() == 1)
        # The other 292 were closed at once, before any thread or query.
        wait_until(lambda: sum(map(closed_by_server, held)) == 300 - 8)
    finally:
        for sock in held:
            sock.close()


def test_idle_sockets_from_the_pushers_own_address_are_dropped_before_a_first_frame(start_server):
    # Every slot taken by sockets that never send: they are closed after the
    # short first-frame timeout, not the idle timeout between frames, and a
    # pusher that reconnects, as peeps does, then gets a slot.
    server = start_server(max_connections=4, first_frame_timeout=0.2)
    held = idle_sockets(server.port, 4, "127.0.0.1")
    try:
        wait_until(lambda: all(map(closed_by_server, held)))
        dump = frame(read_example("peeps_processdump"))
        while ProcessSnapshot.objects.count() == 0:
            with socket.create_connection(("127.0.0.1", server.port)) as pusher:
                pusher.sendall(dump)
                wait_until(lambda: ProcessSnapshot.objects.count() or closed_by_server(pusher))
    finally:
        for sock in held:
            sock.close()
    assert events() == []  # an idle socket is not an ingest event


def test_after_its_first_frame_a_pusher_may_pause_longer_than_the_first_frame_timeout(
    start_server,
):
    server = start_server(first_frame_timeout=0.1)
    dump = read_example("peeps_processdump")
    with socket.create_connection(("127.0.0.1", server.port)) as pusher:
        pusher.sendall(frame(dump))
        wait_until(lambda: ProcessSnapshot.objects.count() == 1)
        time.sleep(0.5)
        pusher.sendall(frame(dump))
        wait_until(lambda: ProcessSnapshot.objects.count() == 2)


def closed_by_server(sock):
    """True when the server has closed its end (EOF or reset); never waits."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_the_readme_shows_the_listentcp_options_the_command_takes():
    readme = (ROOT / "README.md").read_text()
    (usage,) = re.findall(r"`manage.py listentcp([^`]*)`", readme)
    parser = listentcp.Command().create_parser("manage.py", "listentcp")
    known = {option for action in parser._actions for option in action.option_strings}
    assert re.findall(r"--[a-z-]+", usage)  # the options are shown...
    assert set(re.findall(r"--[a-z-]+", usage)) <= known  # ...as the command spells them
    # ...and the address is positional, as in peeps (PEEPS_LISTEN=host:port).
    args = parser.parse_args(["127.0.0.1:9119"])
    assert args.address == "127.0.0.1:9119"


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
