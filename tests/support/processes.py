"""Real helper processes for tests: a daphne server, a redis-server.

Both bind loopback only, log to a file whose tail is shown when they fail to
start, and die with the test process even when it is killed outright (so an
interrupted run does not leave servers behind).
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def in_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing_tool(message):
    """Skip locally, fail in CI: there scripts/test must have installed it."""
    if in_ci():
        pytest.fail(f"{message} (CI must provide it: scripts/test installs it)", pytrace=False)
    pytest.skip(f"{message}; scripts/test installs it")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the kernel sends SIGTERM when the test process dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class DaphneServer:
    """A running `python -m peepsweb.server peepsweb.asgi:application` (daphne) subprocess."""

    def __init__(self, process, port, log_path):
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def __repr__(self):
        return f"<DaphneServer {self.url}>"

    def log(self):
        """The server's output so far (access log and errors), for failure messages."""
        return _tail(self.log_path, lines=200)

    def stop(self):
        _stop(self.process)


def start_daphne(env, log_path, timeout=60.0, command=None):
    """Start daphne on a free loopback port and wait until it answers HTTP.
    `command` replaces `python -m peepsweb.server` (bench/live.py wraps it).

    The test process binds and listens on the socket itself and hands it over
    with --fd, so no other process can grab the port between choosing and
    binding it.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            # peepsweb.server is daphne with request bodies held to the limit
            # as they arrive: what scripts/serve runs.
            (command or [sys.executable, "-m", "peepsweb.server"])
            + ["--fd", str(listener.fileno()), "peepsweb.asgi:application"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
            preexec_fn=_die_with_parent,
        )
    listener.close()
    server = DaphneServer(process, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{server.log()}")
        try:
            urllib.request.urlopen(server.url + "/", timeout=2).close()
            return server
        except urllib.error.HTTPError:
            return server  # any HTTP answer, even an error page, means it is up
        except (urllib.error.URLError, OSError):
            # still importing Django: the connection waits in the backlog
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"daphne did not answer within {timeout}s:\n{server.log()}")
        time.sleep(0.1)


def redis_call(port, *args):
    """Send one command to redis and return its first reply line (e.g. "+PONG")."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode(errors="replace").strip()


class RedisServer:
    def __init__(self, process, port, log_path):
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"redis://127.0.0.1:{port}/0"

    def stop(self):
        _stop(self.process)


def start_redis(binary, workdir, timeout=10.0):
    """Start redis-server on a free loopback port, without persistence."""
    for _attempt in range(3):  # a chosen port can be taken before redis binds it
        port = free_port()
        log_path = Path(workdir) / f"redis-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        server = RedisServer(process, port, log_path)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if redis_call(port, "PING") == "+PONG":
                    return server
            except OSError:
                pass
            time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"redis-server did not start:\n{_tail(log_path)}")
