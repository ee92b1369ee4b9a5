"""A tiny HTTP server for client tests: it answers with canned responses
first (a real 503 with Retry-After, say), then forwards requests to a real
peepsweb server and relays its answers. It records when each request came."""

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Proxy:
    def __init__(self, target_url=None, canned=(), port=0):
        """`canned`: (status, headers dict, body bytes) answered in order
        before forwarding starts."""
        self.target = urlsplit(target_url) if target_url else None
        self.canned = list(canned)
        self.requests = []  # (monotonic time, method, path, headers dict)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with proxy._lock:
                    proxy.requests.append(
                        (time.monotonic(), "POST", self.path, dict(self.headers.items()))
                    )
                    canned = proxy.canned.pop(0) if proxy.canned else None
                if canned is None:
                    canned = proxy.forward(self.path, dict(self.headers.items()), body)
                status, headers, data = canned
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, path, headers, body):
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        try:
            keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request("POST", path, body=body, headers=keep)
            resp = conn.getresponse()
            data = resp.read()
            relay = {
                k: v
                for k, v in resp.getheaders()
                if k.lower() in ("content-type", "retry-after", "location")
            }
            return resp.status, relay, data
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
