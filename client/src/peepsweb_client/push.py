"""Send snapshot bodies to a peepsweb server.

`post_snapshot()` is one synchronous POST. `Pusher` is what an instrumented
program uses: `push(body)` hands a body (a dict, ready bytes, or a
zero-argument callable returning a dict, called on the pusher's thread) to a
background thread and returns at once, so a slow, refusing or absent server
never blocks or breaks the program. The thread encodes (gzip of compact
JSON), sends with the bearer token, and retries transient failures
(connection errors, 429, 5xx) with exponential backoff, honouring
`Retry-After`. Memory stays bounded whatever the server does: encoded bodies
waiting to be sent are kept within `max_bytes` (the oldest are dropped first,
and counted: a newer snapshot supersedes them), a callable pushed replaces
any older one not yet called, and at most `max_queue` dicts wait for the
thread while it is busy. A refusal is logged once per status and message on
the "peepsweb.client" logger, with the server's own words. `close()` never
waits on the network longer than its timeout (0.1 s): it cuts the connection
in flight.
"""

import contextlib
import email.utils
import gc
import http.client
import json
import logging
import random
import socket
import threading
import time
import zlib
from collections import deque
from urllib.parse import urlsplit

INGEST_PATH = "/api/v1/snapshots"
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_RESPONSE_BYTES = 1024 * 1024
CHUNK = 64 * 1024


def ingest_url(url):
    """A server base URL (or the full ingest URL) -> the ingest URL."""
    url = url.rstrip("/")
    return url if url.endswith(INGEST_PATH) else url + INGEST_PATH


ENCODE_SLICE = 64  # list items or dict entries per json.dumps call (~0.3 ms)


@contextlib.contextmanager
def _paused_gc():
    """While this thread encodes a dict body, the cyclic garbage collector
    is paused. A body is tens of thousands of dicts and lists, none in a
    cycle: collections meanwhile would only promote it to the older
    generations and end in full collections of the whole program. The
    caller frees the body before the collector is back, so its count of
    allocations returns to where it was. (A program that disables the
    collector itself meanwhile gets it back enabled afterwards.)"""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dumps_sliced(value):
    """JSON of a list or dict, made ENCODE_SLICE items per json.dumps call."""
    if isinstance(value, list):
        chunks = (
            _dumps(value[i : i + ENCODE_SLICE])[1:-1] for i in range(0, len(value), ENCODE_SLICE)
        )
        return "[" + ",".join(chunks) + "]"
    items = list(value.items())
    chunks = (
        _dumps(dict(items[i : i + ENCODE_SLICE]))[1:-1] for i in range(0, len(items), ENCODE_SLICE)
    )
    return "{" + ",".join(chunks) + "}"


def encode(doc, compress=True):
    # The big members (nodes, edges, frames...) are encoded a slice at a
    # time: json.dumps holds the GIL for its whole run (20-50 ms for a
    # 3,000-task body), and between slices the program's event loop thread
    # gets its turn. gzip releases the GIL by itself.
    raw = (
        "{"
        + ",".join(
            _dumps(key)
            + ":"
            + (
                _dumps_sliced(v)
                if isinstance(v, list | dict) and len(v) > ENCODE_SLICE
                else _dumps(v)
            )
            for key, v in doc.items()
        )
        + "}"
    ).encode()
    return gzip_body([raw]) if compress else raw


def gzip_body(chunks):
    """A gzip stream (mtime 0) of the byte strings one after the other,
    compressed chunk by chunk: no copy of the whole body is made, which would
    hold the GIL (zlib releases it while it works)."""
    # Level 5: most of level 9's ratio on JSON at a fraction of its CPU.
    z = zlib.compressobj(5, zlib.DEFLATED, 31)  # 31: a gzip header, mtime 0
    out = [z.compress(chunk) for chunk in chunks]
    out.append(z.flush())
    return b"".join(out)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self):
        return self.body.decode("utf-8", "replace")


class PushError(Exception):
    """A body the server refused (status set) or could not be reached (None)."""

    def __init__(self, message, status=None, response=None, retry_after=None):
        super().__init__(message)
        self.status = status
        self.response = response
        self.retry_after = retry_after  # seconds, from the server's Retry-After

    @property
    def retryable(self):
        """Worth trying again: unreachable, or a transient status (503, 429...)."""
        return self.status is None or self.status in RETRYABLE_STATUSES

    @property
    def path(self):
        data = self.response.json() if self.response is not None else None
        return data.get("path") if isinstance(data, dict) else None


def post_bytes(
    url, body, headers, *, timeout=10.0, progress=None, method="POST", on_connection=None
):
    """One HTTP request with a bytes body, sent in chunks (`progress(n)` is
    called after each). Returns a Response; raises OSError when unreachable.
    `on_connection(conn)` is called with the connection before it is used and
    with None after it is closed (Pusher.close() cuts it from another thread)."""
    parts = urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if on_connection:
        on_connection(conn)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            view = memoryview(body)
            for start in range(0, len(body), CHUNK):
                conn.send(view[start : start + CHUNK])
                if progress:
                    progress(min(CHUNK, len(body) - start))
        except OSError as send_error:
            # The server may answer (413, 401) and close before reading the
            # whole body; its answer is more useful than the broken pipe.
            try:
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException):
                raise send_error from None
        else:
            resp = conn.getresponse()
        data = resp.read(MAX_RESPONSE_BYTES)
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except http.client.HTTPException as e:
        raise ConnectionError(f"bad HTTP response: {e!r}") from e
    finally:
        conn.close()
        if on_connection:
            on_connection(None)


def request_headers(token=None, compressed=True):
    headers = {"Content-Type": "application/json", "User-Agent": "peepsweb-client/1"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def retry_after_seconds(value, now=None):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def describe_failure(resp):
    """The server's error, verbatim when it is the contract's JSON."""
    data = resp.json()
    if isinstance(data, dict) and "error" in data:
        path = f" (at {data['path']})" if data.get("path") else ""
        return f"HTTP {resp.status}: {data['error']}{path}"
    text = resp.text().strip()
    return f"HTTP {resp.status}: {text[:2000]}" if text else f"HTTP {resp.status}"


def post_snapshot(url, doc_or_bytes, *, token=None, timeout=10.0, compress=True, progress=None):
    """POST one body (a dict, or ready bytes) once. Returns the Response."""
    body = doc_or_bytes if isinstance(doc_or_bytes, bytes) else encode(doc_or_bytes, compress)
    return post_bytes(
        ingest_url(url), body, request_headers(token, compress), timeout=timeout, progress=progress
    )


log = logging.getLogger("peepsweb.client")

MAX_LOGGED = 64  # distinct failures logged per pusher; more are only counted


class _Waiting:
    """An encoded body waiting to be sent, and how often it was tried."""

    __slots__ = ("body", "attempts")

    def __init__(self, body):
        self.body = body
        self.attempts = 0


class Pusher:
    def __init__(
        self,
        url,
        token=None,
        *,
        max_bytes=16 * 1024 * 1024,
        max_queue=8,
        timeout=10.0,
        max_attempts=5,
        backoff=0.5,
        max_backoff=30.0,
        compress=True,
    ):
        """`max_bytes`: encoded bodies waiting to be sent (the oldest are
        dropped beyond it); `max_queue`: dicts waiting to be encoded while the
        thread is busy; `timeout`: seconds for one request's socket operations;
        `max_attempts` per body, with backoff between them."""
        self.url = ingest_url(url)
        self.token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.compress = compress
        self.max_bytes = max_bytes
        self.max_queue = max_queue
        self._cond = threading.Condition()
        self._inbox = deque()  # dicts and bytes pushed, not yet encoded
        self._build = None  # the newest callable pushed, not yet called
        self._waiting = deque()  # _Waiting, oldest first
        self._waiting_bytes = 0
        self._busy = False  # the thread is encoding or sending
        self._retry_at = 0.0  # monotonic time before which nothing is sent
        self._delay = backoff
        self._conn = None  # the connection in flight, for close()
        self._closed = False
        self._thread = None
        self._logged = set()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.dropped_bytes = 0
        self.retries = 0
        self.last_error = None
        self.last_response = None

    # -- synchronous -----------------------------------------------------------

    def _attempt(self, body, timeout):
        """One POST. (Response, None) when stored; (Response | None, PushError)
        otherwise, the error's `retry_after` set when it is worth retrying."""
        try:
            resp = post_bytes(
                self.url,
                body,
                request_headers(self.token, self.compress),
                timeout=timeout,
                on_connection=self._set_connection,
            )
        except OSError as e:
            return None, PushError(f"cannot reach {self.url}: {e}")
        self.last_response = resp
        if resp.ok:
            return resp, None
        retry_after = retry_after_seconds(resp.headers.get("retry-after"))
        return resp, PushError(describe_failure(resp), resp.status, resp, retry_after)

    def _set_connection(self, conn):
        with self._cond:
            self._conn = conn

    def _wait_after(self, error, delay):
        """Seconds before the next attempt: the server's Retry-After when it
        gave one, else `delay` (doubled by the caller each time) with jitter."""
        if error.retry_after is not None:
            return min(self.max_backoff, error.retry_after)
        return min(self.max_backoff, delay) * (0.75 + random.random() / 2)

    def send(self, doc, *, deadline=None):
        """POST with retries, on the calling thread; returns the 2xx Response
        or raises PushError. `deadline` (a time.monotonic() value) bounds the
        whole attempt."""
        body = doc if isinstance(doc, bytes) else encode(doc, self.compress)
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            timeout = self.timeout
            if deadline is not None:
                timeout = max(0.1, min(timeout, deadline - time.monotonic()))
            resp, error = self._attempt(body, timeout)
            if error is None:
                return resp
            self.last_error = str(error)
            if not error.retryable or attempt == self.max_attempts:
                raise error
            wait = self._wait_after(error, delay)
            delay *= 2
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise error
            self.retries += 1
            with self._cond:
                if not self._closed:
                    self._cond.wait(wait)
                if self._closed:
                    raise error
        raise AssertionError("unreachable")

    # -- background --------------------------------------------------------------

    def push(self, doc):
        """Hand a body to the background thread and return at once: a dict,
        encoded bytes, or a zero-argument callable returning a dict (called
        on the thread; a newer callable replaces one not yet called)."""
        with self._cond:
            if self._closed:
                self.dropped += 1
                return
            if callable(doc):
                if self._build is not None:
                    self.dropped += 1  # superseded before it was built
                self._build = doc
            else:
                if len(self._inbox) >= self.max_queue:
                    self._inbox.popleft()
                    self.dropped += 1
                self._inbox.append(doc)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="peepsweb-pusher", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while not self._closed:
                    if self._inbox or self._build is not None:
                        break
                    wait = self._retry_at - time.monotonic()
                    if self._waiting and wait <= 0:
                        break
                    self._cond.wait(wait if self._waiting else None)
                if self._closed:
                    return
                items = list(self._inbox)
                self._inbox.clear()
                if self._build is not None:
                    items.append(self._build)
                    self._build = None
                self._busy = True
            try:
                self._encode(items)
                self._send_oldest()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def body_of(self, chunks):
        """The body to send for compact JSON, as byte strings to concatenate."""
        return gzip_body(chunks) if self.compress else b"".join(chunks)

    def _encode(self, items):
        for item in items:
            try:
                with _paused_gc():
                    doc = item() if callable(item) else item
                    body = doc if isinstance(doc, bytes) else encode(doc, self.compress)
                    del doc, item  # freed by reference counting, the collector still paused
            except Exception as e:  # a bad body must not stop the thread
                self.failed += 1
                self.last_error = repr(e)
                self._log_once(("build", type(e).__name__), "snapshot not built: %r", e)
                continue
            with self._cond:
                self._waiting.append(_Waiting(body))
                self._waiting_bytes += len(body)
                # Oldest first, but never the newest: one body over the
                # budget is still sent (the server has its own limit).
                while self._waiting_bytes > self.max_bytes and len(self._waiting) > 1:
                    old = self._waiting.popleft()
                    self._waiting_bytes -= len(old.body)
                    self.dropped += 1
                    self.dropped_bytes += len(old.body)

    def _send_oldest(self):
        with self._cond:
            if not self._waiting or self._closed or time.monotonic() < self._retry_at:
                return
            item = self._waiting[0]
        item.attempts += 1
        resp, error = self._attempt(item.body, self.timeout)
        with self._cond:
            if error is None:
                self.sent += 1
                self._delay = self.backoff
                self._retry_at = 0.0
            elif error.retryable and item.attempts < self.max_attempts:
                self.retries += 1
                self.last_error = str(error)
                self._retry_at = time.monotonic() + self._wait_after(error, self._delay)
                self._delay *= 2
                return  # stays first in line
            if self._waiting and self._waiting[0] is item:
                self._waiting.popleft()
                self._waiting_bytes -= len(item.body)
        if error is not None:
            self.failed += 1
            self.last_error = str(error)
            verb = "dropped" if error.retryable else "refused"
            # Unreachable: one key whatever the errno, the address is the news.
            key = (error.status, str(error) if error.status is not None else self.url)
            self._log_once(key, "snapshot %s: %s", verb, error)

    def _log_once(self, key, message, *args):
        if key in self._logged or len(self._logged) >= MAX_LOGGED:
            return
        self._logged.add(key)
        log.warning("peepsweb: " + message, *args)

    def pending(self):
        """Bodies not yet sent or given up: pushed, encoded, or in flight."""
        with self._cond:
            return (
                len(self._inbox)
                + (self._build is not None)
                + len(self._waiting)
                + (self._busy and not self._waiting)
            )

    def pending_bytes(self):
        """Bytes of encoded bodies waiting (what max_bytes bounds)."""
        with self._cond:
            return self._waiting_bytes

    def flush(self, timeout=None):
        """Wait until everything pushed was sent or given up; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._inbox or self._build is not None or self._waiting or self._busy:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is None else min(left, 0.05))
        return True

    def close(self, timeout=0.1):
        """Stop the thread; what waits is dropped and a request in flight is
        cut, so this returns within `timeout` whatever the server does."""
        with self._cond:
            self._closed = True
            self.dropped += len(self._inbox) + (self._build is not None) + len(self._waiting)
            self.dropped_bytes += self._waiting_bytes
            self._inbox.clear()
            self._build = None
            self._waiting.clear()
            self._waiting_bytes = 0
            conn = self._conn
            self._cond.notify_all()
        if conn is not None and conn.sock is not None:
            try:
                # Wakes a thread blocked in connect/send/recv on it at once.
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self):
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "dropped_bytes": self.dropped_bytes,
            "retries": self.retries,
            "queued": self.pending(),
            "queued_bytes": self.pending_bytes(),
            "last_error": self.last_error,
        }
