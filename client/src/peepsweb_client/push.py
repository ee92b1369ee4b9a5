"""Send snapshot bodies to a peepsweb server.

`post_snapshot()` is one synchronous POST. `Pusher` is what an instrumented
program uses: `push(doc)` hands a body to a background thread and returns at
once, so a slow or absent server never blocks the program. The thread
gzips, sends with the bearer token, retries transient failures (connection
errors, 429, 5xx) with exponential backoff, honouring `Retry-After`, and
keeps at most `max_queue` bodies waiting: when the server is down the oldest
waiting body is dropped (and counted), since a newer snapshot supersedes it.
"""

import email.utils
import gzip
import http.client
import json
import random
import threading
import time
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


def encode(doc, compress=True):
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    # Level 5: most of level 9's ratio on JSON at a fraction of its CPU.
    return gzip.compress(raw, compresslevel=5, mtime=0) if compress else raw


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

    def __init__(self, message, status=None, response=None):
        super().__init__(message)
        self.status = status
        self.response = response

    @property
    def path(self):
        data = self.response.json() if self.response is not None else None
        return data.get("path") if isinstance(data, dict) else None


def post_bytes(url, body, headers, *, timeout=10.0, progress=None, method="POST"):
    """One HTTP request with a bytes body, sent in chunks (`progress(n)` is
    called after each). Returns a Response; raises OSError when unreachable."""
    parts = urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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


class Pusher:
    def __init__(
        self,
        url,
        token=None,
        *,
        max_queue=8,
        timeout=10.0,
        max_attempts=5,
        backoff=0.5,
        max_backoff=30.0,
        compress=True,
        on_result=None,
    ):
        self.url = ingest_url(url)
        self.token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.compress = compress
        self.on_result = on_result  # called (doc, Response | None, error | None) on the thread
        self._queue = deque()
        self._max_queue = max_queue
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.retries = 0
        self.last_error = None
        self.last_response = None

    # -- synchronous -----------------------------------------------------------

    def send(self, doc, *, deadline=None):
        """POST with retries; returns the 2xx Response or raises PushError.
        `deadline` (a time.monotonic() value) bounds the whole attempt."""
        body = doc if isinstance(doc, bytes) else encode(doc, self.compress)
        headers = request_headers(self.token, self.compress)
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            timeout = self.timeout
            if deadline is not None:
                timeout = max(0.1, min(timeout, deadline - time.monotonic()))
            try:
                resp = post_bytes(self.url, body, headers, timeout=timeout)
            except OSError as e:
                resp, error = None, PushError(f"cannot reach {self.url}: {e}")
            else:
                self.last_response = resp
                if resp.ok:
                    return resp
                error = PushError(describe_failure(resp), resp.status, resp)
                if resp.status not in RETRYABLE_STATUSES:
                    raise error
            self.last_error = str(error)
            if attempt == self.max_attempts:
                raise error
            wait = min(self.max_backoff, delay) * (0.75 + random.random() / 2)
            if resp is not None:
                hinted = retry_after_seconds(resp.headers.get("retry-after"))
                if hinted is not None:
                    wait = min(self.max_backoff, hinted)
            delay *= 2
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise error
            self.retries += 1
            if self._sleep(wait):
                raise error  # closing
        raise AssertionError("unreachable")

    def _sleep(self, seconds):
        """Sleep unless closed meanwhile; True when closing."""
        with self._cond:
            if not self._closed:
                self._cond.wait(seconds)
            return self._closed

    # -- background --------------------------------------------------------------

    def push(self, doc):
        """Queue a body for the background thread; never blocks."""
        with self._cond:
            if self._closed:
                self.dropped += 1
                return
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(doc)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="peepsweb-pusher", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                doc = self._queue.popleft()
                self._busy = True
            resp = error = None
            try:
                resp = self.send(doc)
                self.sent += 1
            except PushError as e:
                error = e
                self.failed += 1
            except Exception as e:  # never let the thread die on a bad body
                error = e
                self.failed += 1
                self.last_error = repr(e)
            if self.on_result is not None:
                try:
                    self.on_result(doc, resp, error)
                except Exception:
                    pass
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def pending(self):
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def flush(self, timeout=None):
        """Wait until everything queued was sent or given up; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout=2.0):
        """Stop the thread after the body in flight; waiting bodies are dropped."""
        with self._cond:
            self._closed = True
            self.dropped += len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self):
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "retries": self.retries,
            "queued": self.pending(),
            "last_error": self.last_error,
        }
