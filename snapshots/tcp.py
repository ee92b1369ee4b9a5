"""peeps push compatibility: length-prefixed JSON frames over TCP.

With PEEPS_DASHBOARD=host:port set, a peeps-instrumented Rust process opens
one long-lived TCP connection and writes, every push interval, a frame:

    4-byte big-endian payload length | payload: UTF-8 JSON ProcessDump

It never reads anything back. Each frame is ingested exactly like a POST
(`ingest_document(doc, source="tcp")`); a refused document is recorded by
ingest as an IngestEvent and the connection goes on, since the next frame
may well be fine. A frame that cannot be read — a length over
PEEPSWEB_MAX_BODY_BYTES (checked from the header, before any payload is
read), an empty or truncated frame, bytes that are not UTF-8 JSON — means
the stream can no longer be trusted to be in step: it is recorded as an
IngestEvent and the connection is closed cleanly (FIN, then the rest of
what the peer sends is read and discarded for a moment, so the peer sees a
close rather than a reset). Memory per connection is bounded by the frame
limit: a payload buffer is never larger than the length it announced.

`python manage.py listentcp` runs TcpIngestServer (one thread per
connection, like peeps' own dashboard).
"""

import logging
import socket
import socketserver
import threading
import time

import orjson
from django.conf import settings
from django.db import close_old_connections, connections

from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.events import record_event
from snapshots.models import IngestEvent

log = logging.getLogger(__name__)

SOURCE = "tcp"
HEADER_BYTES = 4
CHUNK = 256 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9119
IDLE_TIMEOUT_S = 600  # between frames; peeps pushes every few seconds
FRAME_TIMEOUT_S = 60  # inside a frame
DRAIN_S = 1.0
DRAIN_BYTES = 4 * 1024 * 1024


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


def read_frame(sock, max_bytes):
    """The next frame's payload, None at a clean end of stream (EOF between
    frames). FrameError for anything that leaves the stream out of step."""
    sock.settimeout(IDLE_TIMEOUT_S or None)
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
    try:
        doc = orjson.loads(payload)  # also rejects invalid UTF-8
    except orjson.JSONDecodeError as exc:
        raise FrameError(IngestEvent.DECODE_ERROR, 400, f"frame is not UTF-8 JSON: {exc}") from None
    return doc


class ConnectionStats:
    def __init__(self, peer):
        self.peer = peer
        self.frames = 0
        self.stored = 0
        self.rejected = 0
        self.closed_for = ""  # why the server closed the connection, if it did


def serve_connection(sock, peer="", *, max_bytes=None, on_frame=None, around_frame=None):
    """Read and ingest frames from one connection until it ends; returns its
    ConnectionStats. Closes the socket. `around_frame()` is called before and
    after each ingest (the server passes close_old_connections: a frame is
    to this long-lived thread what a request is to a web worker)."""
    max_bytes = settings.PEEPSWEB_MAX_BODY_BYTES if max_bytes is None else max_bytes
    stats = ConnectionStats(peer)
    try:
        while True:
            try:
                payload = read_frame(sock, max_bytes)
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
            if around_frame:
                around_frame()
            try:
                proc = ingest_document(doc, source=SOURCE)
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


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        server = self.server
        host, port = self.client_address[:2]
        peer = f"{host}:{port}"
        sock = self.request
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if not server.slots.acquire(blocking=False):
            record_event(
                IngestEvent.REJECTED,
                status=503,
                detail=f"too many TCP connections ({server.max_connections}); closed {peer}",
                source=SOURCE,
            )
            close_cleanly(sock)
            sock.close()
            return
        try:
            stats = serve_connection(
                sock,
                peer,
                max_bytes=server.max_bytes,
                on_frame=server.on_frame,
                around_frame=close_old_connections,
            )
            if server.on_close:
                server.on_close(stats)
        finally:
            server.slots.release()
            connections.close_all()  # this thread's database connection


class TcpIngestServer(socketserver.ThreadingTCPServer):
    """Accepts peeps push connections; one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address=(DEFAULT_HOST, DEFAULT_PORT),
        *,
        max_bytes=None,
        max_connections=256,
        on_frame=None,
        on_close=None,
    ):
        self.max_bytes = settings.PEEPSWEB_MAX_BODY_BYTES if max_bytes is None else max_bytes
        self.max_connections = max_connections
        self.slots = threading.BoundedSemaphore(max_connections)
        self.on_frame = on_frame
        self.on_close = on_close
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def port(self):
        return self.server_address[1]


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
