"""The pusher against real servers that misbehave: one that accepts and never
answers, a real daphne answering 413, a 503 with Retry-After, and no server
at all. The program pushing never blocks, never raises, holds a bounded
number of bytes, hears of a refusal once, and closes at once."""

import asyncio
import base64
import logging
import os
import threading
import time

from peepsweb_client import Pusher, SnapshotBuilder, aio
from peepsweb_client.push import encode

from snapshots.models import ProcessSnapshot

from .peers import HangingServer
from .proxy import Proxy
from .test_pusher import free_port, wait_until


def doc(n=0, proc="peer", filler=0):
    b = SnapshotBuilder(proc, pid=n)
    # Random text compresses little: the encoded size follows `filler`.
    label = base64.b64encode(os.urandom(filler)).decode() if filler else f"task-{n}"
    b.task(1, label)
    return b.build()


def test_a_hanging_server_never_blocks_the_loop_and_close_returns_at_once():
    with HangingServer() as server:
        pusher = Pusher(server.url, timeout=30, max_queue=4)
        lags = []
        push_times = []

        async def program():
            async def ticker():
                while True:
                    before = time.monotonic()
                    await asyncio.sleep(0.005)
                    lags.append(time.monotonic() - before - 0.005)

            tick = asyncio.create_task(ticker())
            for n in range(50):
                started = time.monotonic()
                # Dicts and callables, as aio pushes them; a build is a
                # snapshot made later, on the pusher's thread.
                pusher.push(doc(n) if n % 2 else (lambda n=n: doc(n)))
                push_times.append(time.monotonic() - started)
                await asyncio.sleep(0.01)
            tick.cancel()

        asyncio.run(program())
        wait_until(lambda: server.accepted)  # the thread is stuck on that server
        # One body in flight, the 4 newest dicts, and the newest build only.
        assert pusher.pending() == 1 + 4 + 1
        started = time.monotonic()
        pusher.close()
        closed_in = time.monotonic() - started
        wait_until(lambda: not pusher._thread.is_alive(), timeout=5)  # not after 30 s
    print(
        f"push max {max(push_times) * 1e3:.2f} ms, loop lag max {max(lags) * 1e3:.1f} ms, "
        f"close {closed_in * 1e3:.1f} ms"
    )
    # Bounds far from the failure they catch: blocking on this server
    # would take its 30 s timeout.
    assert max(push_times) < 0.5
    assert max(lags) < 1.0
    assert closed_in < 1.0
    assert pusher.sent == 0


def test_a_413_is_logged_once_with_the_servers_message_and_later_bodies_still_go(
    daphne_server, caplog
):
    server = daphne_server(env={"PEEPSWEB_MAX_BODY_BYTES": "4000"})
    pusher = Pusher(server.url, backoff=0.01)
    with caplog.at_level(logging.WARNING, logger="peepsweb.client"):
        for n in range(3):
            pusher.push(doc(n, filler=6000))
        pusher.push(doc(9, proc="small"))
        assert pusher.flush(timeout=30)
    pusher.close()
    assert [r.getMessage() for r in caplog.records] == [
        "peepsweb: snapshot refused: HTTP 413: the body is over the limit of 4000 bytes"
    ]
    assert caplog.records[0].name == "peepsweb.client"
    assert (pusher.failed, pusher.retries, pusher.sent) == (3, 0, 1)
    assert set(ProcessSnapshot.objects.values_list("proc_key", flat=True)) == {"small-9"}


def test_a_503_with_retry_after_is_waited_out_in_the_background(daphne_server):
    server = daphne_server()
    busy = (
        503,
        {"Retry-After": "1", "Content-Type": "application/json"},
        b'{"error": "storage unavailable, try again later", "path": ""}',
    )
    with Proxy(server.url, canned=[busy]) as proxy:
        pusher = Pusher(proxy.url, backoff=0.01)
        pusher.push(doc(1))
        wait_until(lambda: pusher.retries == 1)
        started = time.monotonic()
        pusher.push(doc(2))  # during the server's pause: queued, not blocked
        assert time.monotonic() - started < 0.5
        assert pusher.flush(timeout=30)
        pusher.close()
    first, second, third = proxy.requests
    assert second[0] - first[0] >= 0.9  # the 1 s asked for, not the 10 ms backoff
    assert pusher.sent == 2
    assert set(ProcessSnapshot.objects.values_list("proc_key", flat=True)) == {
        "peer-1",
        "peer-2",
    }


def test_with_no_server_the_bytes_held_stay_within_the_budget():
    budget = 100_000
    body_size = len(encode(doc(0, filler=10_000)))
    pusher = Pusher(
        f"http://127.0.0.1:{free_port()}",
        max_bytes=budget,
        backoff=0.01,
        max_backoff=0.05,
        max_attempts=10_000,
    )
    held = []
    for n in range(100):  # 100 bodies of ~13 KB: 13 times the budget
        pusher.push(doc(n, filler=10_000))
        held.append(pusher.pending_bytes())
        time.sleep(0.002)
    wait_until(lambda: pusher.pending() == len(pusher._waiting))  # all encoded
    held.append(pusher.pending_bytes())
    pusher.close()
    print(f"body {body_size} B, budget {budget} B, most held {max(held)} B")
    assert max(held) <= budget
    assert held[-1] > budget - body_size  # full, not emptied
    assert pusher.dropped_bytes >= 100 * body_size * 0.9 - budget
    assert pusher.sent == 0 and pusher.retries > 0


def test_a_callable_runs_on_the_pushers_thread_and_its_body_is_stored(daphne_server):
    server = daphne_server()
    threads = []

    def build():
        threads.append(threading.current_thread().name)
        return doc(7, proc="built")

    pusher = Pusher(server.url)
    pusher.push(build)
    assert pusher.flush(timeout=30)
    pusher.close()
    assert threads == ["peepsweb-pusher"]
    assert set(ProcessSnapshot.objects.values_list("proc_key", flat=True)) == {"built-7"}


def test_a_failing_callable_is_counted_and_logged_once_and_the_thread_goes_on(
    daphne_server, caplog
):
    server = daphne_server()
    pusher = Pusher(server.url)
    with caplog.at_level(logging.WARNING, logger="peepsweb.client"):
        for _ in range(2):
            pusher.push(lambda: 1 / 0)
            assert pusher.flush(timeout=30)
        pusher.push(doc(3))
        assert pusher.flush(timeout=30)
    pusher.close()
    assert [r.getMessage() for r in caplog.records] == [
        "peepsweb: snapshot not built: ZeroDivisionError('division by zero')"
    ]
    assert (pusher.failed, pusher.sent) == (2, 1)


def test_bodies_given_up_on_an_absent_server_are_logged_once(caplog):
    url = f"http://127.0.0.1:{free_port()}"
    pusher = Pusher(url, max_attempts=2, backoff=0.01)
    with caplog.at_level(logging.WARNING, logger="peepsweb.client"):
        for n in range(3):
            pusher.push(doc(n))
        assert pusher.flush(timeout=30)
    pusher.close()
    assert pusher.failed == 3
    (record,) = caplog.records
    assert record.getMessage().startswith(f"peepsweb: snapshot dropped: cannot reach {url}")


def test_uninstall_with_an_agent_and_a_pusher_returns_at_once_while_the_server_hangs():
    # The agent's websocket and the pusher's POST both hang on a server that
    # accepts and never answers; uninstall() must not wait on either.
    async def main():
        with HangingServer() as server:
            inst = aio.install(url=server.url, push_interval=0.05, agent=True)
            await asyncio.sleep(0.3)  # pushes and the agent's handshake are in flight
            started = time.perf_counter()
            inst.uninstall()
            return time.perf_counter() - started

    took = asyncio.run(main())
    print(f"uninstall took {took * 1000:.1f} ms")
    assert took < 0.5
