"""Agent mode: stay connected to the server so "Jump to now" can ask this
process for a snapshot.

The agent keeps a websocket to `/ws/agent/` (bearer token in the handshake,
like ingest), says hello with process/pid/proc_key, and answers each

    {"type": "snapshot_request", "snapshot_id": N, "timeout_ms": T}

with a snapshot tagged N, sent back over the same socket as
`{"type": "snapshot", "snapshot_id": N, "snapshot": {...}}` in a gzip-
compressed binary frame (the server accepts both; the socket avoids a second
connection and carries the server's ack or error back). If the snapshot
cannot be taken it says `{"type": "snapshot_error", ...}` instead. If the
socket send fails it falls back to POST /api/v1/snapshots with the
snapshot_id, which ingest treats the same way. It reconnects with backoff
when the connection drops, and pings every `ping_interval` seconds.

The standard library has no websocket client; client/src/peepsweb_client/ws.py is a
minimal RFC 6455 one.
"""

import gzip
import json
import logging
import random
import threading
import time

from peepsweb_client.push import Pusher, PushError, gzip_body
from peepsweb_client.ws import (
    BINARY,
    PONG,
    ConnectionClosed,
    HandshakeError,
    WebSocket,
    WebSocketError,
    websocket_url,
)

log = logging.getLogger("peepsweb.client.agent")
AGENT_PATH = "/ws/agent/"


class Agent:
    def __init__(
        self,
        url,
        *,
        token=None,
        process,
        pid,
        proc_key,
        snapshot,
        ping_interval=20.0,
        reconnect_max=30.0,
    ):
        """`snapshot(timeout=seconds, snapshot_id=N)` returns the body: JSON
        bytes that carry that snapshot_id (Instrumenter.snapshot_json_threadsafe
        fits), or a dict (its snapshot_id is set here)."""
        self.url = url
        self.ws_url = websocket_url(url, AGENT_PATH)
        self.token = token
        self.hello = {"type": "hello", "process": process, "pid": pid, "proc_key": proc_key}
        self.snapshot = snapshot
        self.ping_interval = ping_interval
        self.reconnect_max = reconnect_max
        self.connected = threading.Event()
        self.welcomed = threading.Event()
        self._stop = threading.Event()
        self._ws = None
        self._thread = None
        self.requests = 0
        self.replies = 0
        self.errors = 0
        self.acks = []  # the server's snapshot_ack / error answers, newest last (bounded)
        self.last_error = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="peepsweb-agent", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout=2.0):
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_welcomed(self, timeout=None):
        return self.welcomed.wait(timeout)

    # -- the connection loop ------------------------------------------------------------

    def _run(self):
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._session()
                delay = 0.5  # a session that got going resets the backoff
            except HandshakeError as e:
                self.last_error = str(e)
                if e.status in (401, 403):
                    log.warning("peepsweb agent: %s (check the token)", e)
            except (OSError, WebSocketError) as e:
                self.last_error = str(e)
            finally:
                self.connected.clear()
                self.welcomed.clear()
                self._ws = None
            if self._stop.wait(delay * (0.75 + random.random() / 2)):
                return
            delay = min(self.reconnect_max, delay * 2)

    def _session(self):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        ws = WebSocket.connect(self.ws_url, headers=headers, timeout=10.0)
        self._ws = ws
        if self._stop.is_set():
            ws.close()
            return
        self.connected.set()
        self._send_json(ws, self.hello)
        last_ping = time.monotonic()
        try:
            while not self._stop.is_set():
                wait = max(0.05, self.ping_interval - (time.monotonic() - last_ping))
                try:
                    opcode, data = ws.recv(timeout=wait)
                except TimeoutError:
                    self._send_json(ws, {"type": "ping"})
                    last_ping = time.monotonic()
                    continue
                if opcode == PONG:
                    continue
                try:
                    if opcode == BINARY and data[:2] == b"\x1f\x8b":
                        data = gzip.decompress(data)
                    message = json.loads(data)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self._handle(ws, message)
        except ConnectionClosed:
            if not self._stop.is_set():
                raise
        finally:
            ws.close()

    def _handle(self, ws, message):
        kind = message.get("type")
        if kind == "welcome":
            self.welcomed.set()
        elif kind == "snapshot_request":
            self._answer(ws, message)
        elif kind in ("snapshot_ack", "error", "snapshot_error_ack"):
            self.acks = (self.acks + [message])[-50:]
            if kind == "error":
                self.last_error = f"HTTP {message.get('status')}: {message.get('error')}"

    def _answer(self, ws, request):
        snapshot_id = request.get("snapshot_id")
        if type(snapshot_id) is not int:
            return
        self.requests += 1
        timeout_ms = request.get("timeout_ms")
        budget = (timeout_ms if isinstance(timeout_ms, int | float) else 5000) / 1000
        try:
            # Leave most of the server's deadline for the transfer and ingest.
            body = self.snapshot(timeout=max(0.05, budget * 0.4), snapshot_id=snapshot_id)
            if isinstance(body, dict):
                body = json.dumps({**body, "snapshot_id": snapshot_id}, ensure_ascii=False)
                body = body.encode()
        except Exception as e:
            self.errors += 1
            self._send_json(
                ws, {"type": "snapshot_error", "snapshot_id": snapshot_id, "error": repr(e)[:500]}
            )
            return
        # The body goes in as it is: decoding and encoding it again here
        # held the GIL, and with it the program's loop, for tens of ms.
        head = f'{{"type":"snapshot","snapshot_id":{snapshot_id},"snapshot":'.encode()
        try:
            ws.send_binary(gzip_body([head, body, b"}"]))
            self.replies += 1
        except OSError:
            # The socket is gone: the reply can still make the deadline by POST.
            self._post_reply(body, budget)
            raise

    def _post_reply(self, body, budget):
        try:
            Pusher(self.url, self.token, max_attempts=2, timeout=max(1.0, budget)).send(
                gzip_body([body]), deadline=time.monotonic() + budget
            )
            self.replies += 1
        except PushError as e:
            self.errors += 1
            self.last_error = str(e)

    @staticmethod
    def _send_json(ws, payload):
        ws.send_text(json.dumps(payload, separators=(",", ":")))
