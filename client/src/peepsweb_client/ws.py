"""A minimal websocket client (RFC 6455) in the standard library.

Enough for the agent: the opening handshake (with extra headers such as
Authorization), text and binary messages (fragmented ones reassembled),
masking of everything the client sends, ping/pong, and the closing
handshake. No extensions (no permessage-deflate), no subprotocols.
Blocking sockets; one thread reads, any thread may send.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 16 * 1024
DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


class WebSocketError(Exception):
    pass


class HandshakeError(WebSocketError):
    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class ConnectionClosed(WebSocketError):
    def __init__(self, code=None, reason=""):
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


def websocket_url(base, path):
    """http(s)://host:port[/prefix] + path -> ws(s)://host:port/prefix/path."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"


class WebSocket:
    def __init__(self, sock, buffered=b"", max_message=DEFAULT_MAX_MESSAGE):
        self.sock = sock
        self._buf = bytearray(buffered)
        self._send_lock = threading.Lock()
        self.max_message = max_message
        self.closed = False

    # -- opening ----------------------------------------------------------------

    @classmethod
    def connect(cls, url, headers=None, timeout=10.0, **kw):
        parts = urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        host = parts.hostname
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host_header = host if parts.port is None else f"{host}:{parts.port}"
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {host_header}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
            ]
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
            status, response_headers, rest = read_http_head(sock)
            if status != 101:
                raise HandshakeError(f"websocket handshake refused: HTTP {status}", status)
            expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            if response_headers.get("sec-websocket-accept") != expected:
                raise HandshakeError("websocket handshake: bad Sec-WebSocket-Accept", status)
        except BaseException:
            sock.close()
            raise
        return cls(sock, rest, **kw)

    # -- sending ------------------------------------------------------------------

    def send_frame(self, opcode, payload, fin=True):
        if self.closed and opcode != CLOSE:
            raise ConnectionClosed(None, "already closed")
        header = bytearray([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        with self._send_lock:
            self.sock.sendall(bytes(header) + mask_bytes(payload, mask))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode())

    def send_binary(self, data):
        self.send_frame(BINARY, bytes(data))

    def ping(self, data=b""):
        self.send_frame(PING, data)

    def close(self, code=1000, reason=""):
        """Send a close frame (once) and close the socket."""
        if not self.closed:
            try:
                self.send_frame(CLOSE, struct.pack("!H", code) + reason.encode()[:120])
            except OSError:
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving ------------------------------------------------------------------

    def _read_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                self.closed = True
                raise ConnectionClosed(1006, "connection lost")
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_frame(self):
        b0, b1 = self._read_exact(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            raise WebSocketError("reserved bits set: no extension was negotiated")
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8))
        if n > self.max_message:
            raise WebSocketError(f"frame of {n} bytes is over the {self.max_message} limit")
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(n)
        if mask:
            payload = mask_bytes(payload, mask)
        return fin, opcode, payload

    def recv(self, timeout=None):
        """The next message as (TEXT, str) or (BINARY, bytes). Pings are
        answered on the way; PONG frames are returned as (PONG, bytes).
        Raises socket.timeout (TimeoutError) after `timeout` seconds and
        ConnectionClosed when the server closes."""
        self.sock.settimeout(timeout)
        parts, first_opcode, size = [], None, 0
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode == PONG:
                return PONG, payload
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                if not self.closed:
                    try:
                        self.send_frame(CLOSE, payload[:2])
                    except OSError:
                        pass
                    self.closed = True
                self.sock.close()
                raise ConnectionClosed(code, reason)
            if opcode == CONT:
                if first_opcode is None:
                    raise WebSocketError("continuation frame without a first frame")
            elif opcode in (TEXT, BINARY):
                if first_opcode is not None:
                    raise WebSocketError("new message inside a fragmented one")
                first_opcode = opcode
            else:
                raise WebSocketError(f"unknown opcode {opcode}")
            size += len(payload)
            if size > self.max_message:
                raise WebSocketError(f"message over the {self.max_message} byte limit")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                return (TEXT, data.decode()) if first_opcode == TEXT else (BINARY, data)


def mask_bytes(payload, mask):
    """XOR with the 4-byte mask, a machine word at a time (fast enough for
    snapshots of megabytes without a C extension)."""
    n = len(payload)
    if not n:
        return b""
    key = int.from_bytes(mask * ((n + 3) // 4), "little")
    value = int.from_bytes(payload, "little") ^ (key & ((1 << (8 * n)) - 1))
    return value.to_bytes(n, "little")


def read_http_head(sock):
    """(status, {lower-cased header: value}, bytes read past the head)."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise HandshakeError("connection closed during the websocket handshake")
        data += chunk
        if len(data) > MAX_HANDSHAKE:
            raise HandshakeError("websocket handshake response too large")
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise HandshakeError(f"not an HTTP response: {lines[0][:80]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest
