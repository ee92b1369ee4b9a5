"""A raw HTTP/1.1 POST that reads the answer while the body is still going out.

http.client and urllib send the whole body before they read anything, so
they cannot tell an answer given at once from one given after the last byte
(and a server that answers early and closes makes them fail on a reset). Here
a thread sends the body while the caller waits for the answer.
"""

import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int | None  # None: no answer within the timeout
    headers: dict
    body: bytes
    seconds: float  # from the end of the request head to the whole answer
    sent: int  # body bytes handed to the socket before the answer was read


def chunked(chunks):
    """The chunked transfer coding of an iterable of byte strings."""
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def post(port, path, headers, body_chunks, timeout=30.0):
    """POST to 127.0.0.1:port; `headers` are sent as given (a Content-Length
    or Transfer-Encoding among them); `body_chunks` is an iterable of bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(head.encode() + b"\r\n")
    started = time.monotonic()
    sent = 0
    answered = threading.Event()

    def send():
        nonlocal sent
        try:
            for chunk in body_chunks:
                if answered.is_set():
                    return
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed or reset the connection: the answer tells why

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    data = b""
    status, headers_in, body = None, {}, b""
    try:
        while True:
            if b"\r\n\r\n" in data:
                head_in, _, body = data.partition(b"\r\n\r\n")
                lines = head_in.decode("latin-1").split("\r\n")
                headers_in = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:])
                }
                length = int(headers_in.get("content-length", -1))
                if 0 <= length <= len(body):
                    status, body = int(lines[0].split()[1]), body[:length]
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    seconds = time.monotonic() - started
    answered.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a sender blocked in sendall
    except OSError:
        pass
    sender.join(timeout=timeout)
    sock.close()
    return Answer(status, headers_in, body, seconds, sent)
