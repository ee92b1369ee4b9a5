"""Reading snapshot bodies made by peepsweb_client.aio in tests."""

import asyncio

from peepsweb_client import aio
from peepsweb_client.validate import check_document


def run(coro_fn, **install_kwargs):
    """Run `coro_fn(inst)` on a fresh loop with the instrumentation installed."""

    async def main():
        inst = aio.install(process="test", pid=1, **install_kwargs)
        try:
            return await coro_fn(inst)
        finally:
            inst.uninstall()

    return asyncio.run(main())


async def settle(n=5):
    """Let every ready task run until it blocks."""
    for _ in range(n):
        await asyncio.sleep(0)


class Snap:
    """A snapshot body, checked with the server's rules, with lookups."""

    def __init__(self, doc):
        check_document(doc)
        self.doc = doc
        self.nodes = {n["id"]: n for n in doc["nodes"]}
        self.edges = {(e["src_id"], e["dst_id"]): e.get("attrs", {}) for e in doc["edges"]}

    def task(self, name):
        found = [n for n in self.doc["nodes"] if n["kind"] == "task" and n["attrs"]["name"] == name]
        assert len(found) == 1, f"{len(found)} tasks named {name!r}"
        return found[0]

    def node(self, kind, name):
        found = [
            n for n in self.doc["nodes"] if n["kind"] == kind and n["attrs"].get("name") == name
        ]
        assert len(found) == 1, f"{len(found)} {kind} nodes named {name!r}"
        return found[0]

    def needs(self, src):
        return {dst: attrs for (s, dst), attrs in self.edges.items() if s == src["id"]}

    def has_edge(self, src, dst):
        return (src["id"], dst["id"]) in self.edges

    def wakes(self):
        return [(w["waker_task_id"], w["woken_task_id"]) for w in self.doc["wake_events"]]

    def traces_of(self, task):
        tid = task["attrs"]["task_id"]
        frames = self.doc["frames"]
        return [
            {"frames": [frames[str(f)] for f in tr["frame_ids"]], **tr}
            for tr in self.doc["pending_traces"]
            if tr["task_id"] == tid
        ]


def tid(node):
    return node["attrs"]["task_id"]
