"""peeps push compatibility: length-prefixed JSON frames over TCP.

With PEEPS_DASHBOARD=host:port set, a peeps-instrumented Rust process opens
one long-lived TCP connection and writes, every push interval, a frame:

    4-byte big-endian payload length | payload: UTF-8 JSON ProcessDump

It never reads anything back. Each frame is ingested exactly like a POST
(`ingest_document(doc, source="tcp")`); a refused document is recorded by
ingest as an IngestEvent and the connection goes on, since the next frame
may well be fine. A frame that cannot be read — a length over
PEEPSWEB_MAX_BODY_BYTES (checked from the header, before any payload is
read), an empty or truncated frame, a payload that is not a UTF-8 JSON
object — means the stream can no longer be trusted to be in step: it is
recorded as an IngestEvent and the connection is closed cleanly (FIN, then
the rest of what the peer sends is read and discarded for a moment, so the
peer sees a close rather than a reset). Memory per connection is bounded by
the frame limit: a payload buffer is never larger than the length it
announced, and it is decoded by the HTTP body's decoder
(snapshots.ingest.body.decode_json: big lists kept as undecoded slices, the
same error messages and paths as a POST).

Ingest tokens. Once a token exists (`manage.py createtoken`), every frame
needs one, as every POST does. peeps cannot send an Authorization header,
so a connection authenticates with a frame of its own, sent first:
`{"token": "<token>"}`. A connection without a valid token is closed before
anything is stored. For peeps itself, which cannot send that frame, the
operator may choose `allow_unauthenticated` (`--allow-unauthenticated`),
which only listens on a loopback address: then only programs on this
machine can push.

Starvation. A slot (`max_connections`) is only held by a connection that
gets going: the first frame must start within `first_frame_timeout`
(seconds; peeps writes as soon as it connects), the long idle timeout only
applies between frames, and one peer address holds at most `max_per_peer`
connections. Over either limit a connection is refused in the accepting
thread, before a thread is started and without a database write, so a
flood of idle sockets costs the listener next to nothing.

`python manage.py listentcp` runs TcpIngestServer (one thread per
connection, like peeps' own dashboard).
"""

import ipaddress
import logging
import socket
import socketserver
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import close_old_connections, connections

from snapshots.auth import AuthError, check_authorization
from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.body import decode_json
from snapshots.ingest.events import record_event
from snapshots.models import IngestEvent

log = logging.getLogger(__name__)

SOURCE = "tcp"
HEADER_BYTES = 4
CHUNK = 256 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9119
FIRST_FRAME_TIMEOUT_S = 10.0  # from connecting to the first frame's header
IDLE_TIMEOUT_S = 600  # between frames; peeps pushes every few seconds
FRAME_TIMEOUT_S = 60  # inside a frame
MAX_CONNECTIONS = 256
MAX_PER_PEER = 32
DRAIN_S = 1.0
DRAIN_BYTES = 4 * 1024 * 1024
TOKEN_KEY = frozenset({"token"})
TOKEN_NEEDED = 'an ingest token is required: send {"token": "<token>"} as the first frame'


class FrameError(Exception):
    """The stream is out of step: record, then close the connection."""

    def __init__(self, kind, status, detail):
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.detail = detail


def recv_exact(sock, n, *, eof_ok=False):
    """Exactly n bytes; None on EOF before the first byte when `eof_ok`.
    The buffer is sized by n, which the caller has already bounded."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(CHUNK, n - len(buf)))
        if not chunk:
            if eof_ok and not buf:
                return None
            raise FrameError(
                IngestEvent.DECODE_ERROR,
                400,
                f"truncated frame: the connection closed after {len(buf)} of {n} bytes",
            )
        buf += chunk
    return bytes(buf)


def read_frame(sock, max_bytes, wait=IDLE_TIMEOUT_S):
    """The next frame's payload, None at a clean end of stream (EOF between
    frames). FrameError for anything that leaves the stream out of step;
    TimeoutError when no header byte came for `wait` seconds (a header is 4
    bytes, so a peer dribbling it holds on for 4 x `wait` at most)."""
    sock.settimeout(wait or None)
    try:
        header = recv_exact(sock, HEADER_BYTES, eof_ok=True)
    except FrameError:
        raise FrameError(
            IngestEvent.DECODE_ERROR, 400, "truncated frame: the connection closed inside a header"
        ) from None
    if header is None:
        return None
    length = int.from_bytes(header, "big")
    if length > max_bytes:
        # Decided from the header alone: the payload is never read.
        raise FrameError(
            IngestEvent.OVERSIZE,
            413,
            f"frame of {length} bytes is over the limit of {max_bytes} bytes",
        )
    if length == 0:
        raise FrameError(IngestEvent.DECODE_ERROR, 400, "empty frame (length 0)")
    sock.settimeout(FRAME_TIMEOUT_S)
    return recv_exact(sock, length)


def decode_frame(payload):
    """A frame's payload -> the document, as a POST body is decoded; the
    top-level `token` key is kept for token_frame."""
    try:
        return decode_json(payload, extra_keys=TOKEN_KEY)
    except IngestError as exc:
        where = f" at {exc.path}" if exc.path else ""
        raise FrameError(IngestEvent.DECODE_ERROR, exc.status, exc.message + where) from None


def token_frame(doc):
    """The token of a `{"token": "..."}` frame; None for any other document.
    (The decoder drops keys ingest does not read, so a token with only such
    keys beside it counts as a token frame too.)"""
    if doc.keys() == TOKEN_KEY and isinstance(doc["token"], str):
        return doc["token"]
    return None


class ConnectionStats:
    def __init__(self, peer):
        self.peer = peer
        self.frames = 0
        self.stored = 0
        self.rejected = 0
        self.closed_for = ""  # why the server closed the connection, if it did


def serve_connection(
    sock,
    peer="",
    *,
    max_bytes=None,
    on_frame=None,
    around_frame=None,
    first_frame_timeout=FIRST_FRAME_TIMEOUT_S,
    allow_unauthenticated=False,
):
    """Read and ingest frames from one connection until it ends; returns its
    ConnectionStats. Closes the socket. `around_frame()` is called before and
    after each ingest (the server passes close_old_connections: a frame is
    to this long-lived thread what a request is to a web worker)."""
    max_bytes = settings.PEEPSWEB_MAX_BODY_BYTES if max_bytes is None else max_bytes
    stats = ConnectionStats(peer)
    authorization = None  # "Bearer <token>" once a token frame came
    try:
        while True:
            wait = IDLE_TIMEOUT_S if stats.frames else first_frame_timeout
            try:
                payload = read_frame(sock, max_bytes, wait)
                if payload is None:
                    break
                stats.frames += 1
                doc = decode_frame(payload)
            except FrameError as err:
                stats.closed_for = err.detail
                record_event(
                    err.kind, status=err.status, detail=f"{err.detail} (from {peer})", source=SOURCE
                )
                close_cleanly(sock)
                break
            except TimeoutError:
                if not stats.frames:
                    # Never said anything: a stray or hostile socket, not an
                    # ingest event (no database write per idle socket), and
                    # nothing to drain: its slot is freed at once.
                    stats.closed_for = f"no frame within {first_frame_timeout:g} s of connecting"
                    break
                stats.closed_for = "timed out"
                record_event(
                    IngestEvent.DECODE_ERROR,
                    status=408,
                    detail=f"no complete frame within the timeout (from {peer})",
                    source=SOURCE,
                )
                close_cleanly(sock)
                break
            del payload  # the next frame may be as large: hold one at a time
            token = token_frame(doc)
            if token is not None:
                authorization = f"Bearer {token}"
            if around_frame:
                around_frame()
            try:
                # Checked on every frame, as on every POST: a token revoked
                # (or the first one created) while connected applies at once.
                if token is not None or not allow_unauthenticated:
                    check_authorization(authorization)
                if token is not None:
                    continue
                proc = ingest_document(doc, source=SOURCE)
            except AuthError as err:
                # Like a refused POST, not an ingest event: the peer is told
                # by the close, the operator by the listener's output.
                stats.closed_for = TOKEN_NEEDED if err.status == 401 else err.message
                close_cleanly(sock)
                break
            except IngestError as err:
                # Recorded by ingest itself; the framing is intact, go on.
                stats.rejected += 1
                if on_frame:
                    on_frame(stats, None, err)
                continue
            except Exception as exc:  # a server bug must not end the stream
                log.exception("tcp ingest from %s failed", peer)
                stats.rejected += 1
                record_event(
                    IngestEvent.REJECTED, status=500, detail=f"server error: {exc!r}", source=SOURCE
                )
                continue
            finally:
                if around_frame:
                    around_frame()
            stats.stored += 1
            if on_frame:
                on_frame(stats, proc, None)
    except OSError as exc:  # reset by the peer, etc.
        stats.closed_for = stats.closed_for or f"socket error: {exc}"
    finally:
        try:
            sock.close()
        except OSError:
            pass
    return stats


def close_cleanly(sock):
    """FIN first; then read and drop what the peer still sends for a moment.
    Closing with unread data would make the kernel answer with a reset."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.2)
        deadline = time.monotonic() + DRAIN_S
        drained = 0
        while time.monotonic() < deadline and drained < DRAIN_BYTES:
            try:
                chunk = sock.recv(CHUNK)
            except TimeoutError:
                continue
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


def peer_name(client_address):
    host, port = client_address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        server = self.server
        sock = self.request
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            stats = serve_connection(
                sock,
                peer_name(self.client_address),
                max_bytes=server.max_bytes,
                on_frame=server.on_frame,
                around_frame=close_old_connections,
                first_frame_timeout=server.first_frame_timeout,
                allow_unauthenticated=server.allow_unauthenticated,
            )
            if server.on_close:
                server.on_close(stats)
        finally:
            connections.close_all()  # this thread's database connection


class TcpIngestServer(socketserver.ThreadingTCPServer):
    """Accepts peeps push connections; one thread per admitted connection."""

    daemon_threads = True
    allow_reuse_address = True
    # A burst of connects must wait in the kernel's queue, not be dropped
    # there (socketserver's default is 5): admission is decided by us.
    request_queue_size = 128

    def __init__(
        self,
        address=(DEFAULT_HOST, DEFAULT_PORT),
        *,
        max_bytes=None,
        max_connections=MAX_CONNECTIONS,
        max_per_peer=MAX_PER_PEER,
        first_frame_timeout=FIRST_FRAME_TIMEOUT_S,
        allow_unauthenticated=False,
        on_frame=None,
        on_close=None,
        on_refuse=None,
    ):
        self.max_bytes = settings.PEEPSWEB_MAX_BODY_BYTES if max_bytes is None else max_bytes
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.first_frame_timeout = first_frame_timeout
        self.allow_unauthenticated = allow_unauthenticated
        self.on_frame = on_frame
        self.on_close = on_close
        self.on_refuse = on_refuse
        self.held = Counter()  # open connections by peer host
        self.held_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        # Checked on the address actually bound: "localhost" or "::1" pass,
        # "0.0.0.0" or a LAN address do not.
        if allow_unauthenticated and not ipaddress.ip_address(self.server_address[0]).is_loopback:
            self.server_close()
            raise ValueError(
                f"--allow-unauthenticated binds to loopback only, not {self.server_address[0]}"
            )

    @property
    def port(self):
        return self.server_address[1]

    def verify_request(self, request, client_address):
        """Admission, in the accepting thread: a refused connection costs no
        thread and no database write (socketserver closes it)."""
        host = client_address[0]
        with self.held_lock:
            if self.held.total() >= self.max_connections:
                reason = f"too many connections ({self.max_connections}, --max-connections)"
            elif self.held[host] >= self.max_per_peer:
                reason = f"too many connections from {host} ({self.max_per_peer}, --max-per-peer)"
            else:
                self.held[host] += 1
                return True
        if self.on_refuse:
            self.on_refuse(peer_name(client_address), reason)
        return False

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.held_lock:
                self.held[client_address[0]] -= 1
                if not self.held[client_address[0]]:
                    del self.held[client_address[0]]


def parse_address(text, default_port=DEFAULT_PORT):
    """'host:port', ':port', 'host' or 'port' -> (host, port)."""
    text = (text or "").strip()
    if not text:
        return DEFAULT_HOST, default_port
    if text.isdigit():
        return DEFAULT_HOST, int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text.strip("[]"), default_port
    return (host.strip("[]") or DEFAULT_HOST), int(port)
