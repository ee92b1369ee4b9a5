"""Agent mode against a live daphne server: an instrumented asyncio program
keeps /ws/agent/ open and answers Jump to now with a snapshot of itself."""

import asyncio
import json
import threading
import time
import urllib.request

from peepsweb_client import aio
from peepsweb_client.ws import WebSocket, websocket_url

from snapshots import versions
from snapshots.models import Edge, Node, ProcessSnapshot


class Program:
    """An instrumented asyncio program on its own thread, in agent mode."""

    def __init__(self, url, block_loop_s=0.0):
        self.url = url
        self.block_loop_s = block_loop_s
        self.ready = threading.Event()
        self.stop = None
        self.inst = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True)

    async def main(self):
        self.inst = aio.install(process="agent-test", url=self.url, push_interval=3600, agent=True)
        self.stop = asyncio.Event()
        lock = aio.Lock(name="guarded")
        await lock.acquire()

        async def blocked():
            async with lock:
                pass

        task = asyncio.create_task(blocked(), name="blocked_on_lock")
        self.ready.set()
        if self.block_loop_s:
            await asyncio.sleep(0.2)
            time.sleep(self.block_loop_s)  # synchronous code hogging the loop
        await self.stop.wait()
        task.cancel()
        self.inst.uninstall()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        assert self.inst.agent.wait_welcomed(10), self.inst.agent.last_error
        return self

    def __exit__(self, *exc):
        self.inst.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


def jump_now(server, timeout_ms=3000):
    request = urllib.request.Request(
        server.url + "/api/v1/jump-now",
        data=json.dumps({"timeout_ms": timeout_ms}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer none"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_jump_now_gets_a_snapshot_of_the_running_program(daphne_server):
    server = daphne_server()
    with Program(server.url) as program:
        result = jump_now(server)
        proc_key = program.inst.proc_key
    assert (result["requested"], result["responded"]) == (1, 1), result
    (proc,) = ProcessSnapshot.objects.filter(snapshot_id=result["snapshot_id"])
    assert (proc.proc_key, proc.status) == (proc_key, ProcessSnapshot.RESPONDED)
    task = versions.of(Node, proc).get(kind="task", label="blocked_on_lock")
    lock = versions.of(Node, proc).get(kind="lock", label="guarded")
    assert versions.of(Edge, proc).filter(src=task.node_id, dst=lock.node_id).exists()
    assert program.inst.agent.replies == 1
    assert program.inst.agent.acks[-1]["type"] == "snapshot_ack"


def test_a_program_whose_loop_is_blocked_still_answers(daphne_server):
    server = daphne_server()
    with Program(server.url, block_loop_s=4) as program:
        time.sleep(0.5)  # the loop thread is now inside time.sleep
        result = jump_now(server, timeout_ms=3000)
        proc_key = program.inst.proc_key
    assert result["responded"] == 1, result
    proc = ProcessSnapshot.objects.get(snapshot_id=result["snapshot_id"], proc_key=proc_key)
    thread = versions.of(Node, proc).get(kind="thread")
    assert thread.attrs["state"] == "blocked"
    assert "Program.main" in thread.attrs["stack"]


def test_the_websocket_client_speaks_to_the_real_server(daphne_server):
    server = daphne_server()
    ws = WebSocket.connect(websocket_url(server.url, "/ws/agent/"))
    try:
        ws.send_text(json.dumps({"type": "ping"}))
        _, text = ws.recv(timeout=10)
        assert json.loads(text)["type"] == "error"  # no hello yet
        ws.send_text(json.dumps({"type": "hello", "process": "p", "pid": 1, "proc_key": "p-1"}))
        _, text = ws.recv(timeout=10)
        assert json.loads(text) == {"type": "welcome", "proc_key": "p-1"}
        ws.send_binary(b"x" * 70000)  # a 64-bit length frame, not JSON
        _, text = ws.recv(timeout=10)
        assert json.loads(text)["status"] == 400
        ws.ping(b"hi")
        assert ws.recv(timeout=10) == (0xA, b"hi")
    finally:
        ws.close()
