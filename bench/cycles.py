"""Cycle finder benchmark (issue 4): GET /api/v1/snapshots/{id}/cycles on a
snapshot of 1,000,000 needs edges, side by side with
  (a) fetching the same edge list from the database alone (raw cursor), and
  (b) scipy's strongly connected components on it in memory (ids mapped to
      integers, CSR built, csgraph.connected_components(connection="strong")),
and with networkx and a pure-Python iterative Tarjan on the same edges.
Targets: first call <= 1.5 x (a)+(b); a cached call near-instant.

    .venv/bin/python bench/cycles.py                 # a temp SQLite file
    scripts/pg run .venv/bin/python bench/cycles.py  # a throwaway PostgreSQL
    DATABASE_URL=postgres://... .venv/bin/python bench/cycles.py

Options: --edges N (default 1000000), --repeat N (default 3; medians are kept),
--skip-networkx, --skip-tarjan.

The graph is mostly acyclic and shaped like a busy service: worker tasks in a
join tree, each awaiting a future that needs two of 5,000 shared locks (each
held by a holder task) and sending on one of 2,000 channels drained by
consumer tasks. Planted cycles of several shapes and sizes: lock-order
inversions (4 nodes), self-loops, RPC-like rings (6-12), channel loops
(medium confidence), one dense component of 300 nodes, one ring of 10,000
nodes; some workers need cycle members, so blocked-task counts are non-trivial.
The result is checked against networkx. The benchmark snapshot is deleted at
the end (it matters with DATABASE_URL).
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402

KEY = "bench-cycles-1"


class Builder:
    def __init__(self):
        self.nodes = {}
        self.edges = []
        self.traces = []
        self.seen = set()
        self.rng = random.Random(4)

    def node(self, kind, rest, **attrs):
        node_id = f"{kind}:{KEY}:{rest}"
        if node_id not in self.nodes:
            real_kind = {"tx": "mpsc_tx", "rx": "mpsc_rx"}.get(kind, kind)
            self.nodes[node_id] = {"id": node_id, "kind": real_kind, "attrs": attrs}
        return node_id

    def task(self, rest, state="pending", wait_us=None):
        node_id = self.node("task", rest, task_id=len(self.nodes) + 1, name=rest, state=state)
        if wait_us:
            task_id = self.nodes[node_id]["attrs"]["task_id"]
            self.traces.append(
                {"task_id": task_id, "at_ns": 1, "duration_us": wait_us, "frame_ids": [1, 2]}
            )
        return node_id

    def edge(self, src, dst):
        if (src, dst) not in self.seen:  # ingest collapses duplicates; count real edges
            self.seen.add((src, dst))
            self.edges.append({"src_id": src, "dst_id": dst, "kind": "needs"})


def build(n_edges):
    """(document, planted) where planted lists the planted cyclic components."""
    b = Builder()
    rng = b.rng
    planted = []

    def plant(members):
        planted.append(frozenset(members))
        return members

    # -- planted cycles
    for i in range(50):  # lock-order inversions
        t1, t2 = b.task(f"inv{i}a", wait_us=rng.randint(1, 60) * 10**6), b.task(f"inv{i}b")
        la, lb = b.node("lock", f"inv{i}a", name=f"acct{i}a"), b.node("lock", f"inv{i}b")
        for s, d in ((t1, lb), (lb, t2), (t2, la), (la, t1)):
            b.edge(s, d)
        plant([t1, t2, la, lb])
    for i in range(20):  # self-loops
        t = b.task(f"self{i}", wait_us=5 * 10**6)
        b.edge(t, t)
        plant([t])
    for i in range(20):  # RPC-like rings of 6..12 nodes
        size = 6 + i % 7
        ring = [
            b.task(f"rpc{i}_{k}") if k % 2 == 0 else b.node("request", f"rpc{i}_{k}", method="M")
            for k in range(size)
        ]
        for k in range(size):
            b.edge(ring[k], ring[(k + 1) % size])
        plant(ring)
    for i in range(5):  # channel loops: task -> tx -> rx -> task
        t = b.task(f"chan{i}")
        tx, rx = (
            b.node("tx", f"loop{i}", name=f"loop{i}"),
            b.node("rx", f"loop{i}", name=f"loop{i}"),
        )
        for s, d in ((t, tx), (tx, rx), (rx, t)):
            b.edge(s, d)
        plant([t, tx, rx])
    dense = [b.task(f"dense{k}") for k in range(300)]  # one dense component
    for k in range(300):
        b.edge(dense[k], dense[(k + 1) % 300])
    for _ in range(2700):
        b.edge(rng.choice(dense), rng.choice(dense))
    plant(dense)
    big = [b.task(f"ring{k}") if k % 2 == 0 else b.node("lock", f"ring{k}") for k in range(10_000)]
    for k in range(10_000):
        b.edge(big[k], big[(k + 1) % 10_000])
    plant(big)
    cycle_nodes = [m for comp in planted for m in comp]

    # -- acyclic background
    locks = [b.node("lock", f"l{j}", name=f"pool{j}", lock_kind="mutex") for j in range(5000)]
    for j, lock in enumerate(locks):
        holder = b.task(f"h{j}")
        b.edge(lock, holder)
        b.edge(holder, b.node("future", f"hf{j}", label=f"io{j}"))
    channels = []
    for k in range(2000):
        tx = b.node("tx", f"q{k}", name=f"q{k}", capacity=16, queue_len=16)
        rx = b.node("rx", f"q{k}", name=f"q{k}", capacity=16, queue_len=16)
        b.edge(tx, rx)
        b.edge(rx, b.task(f"c{k}", state="running"))
        channels.append(tx)
    i = 0
    while len(b.edges) < n_edges:
        w = b.task(f"w{i}", wait_us=rng.randint(1, 10**6) if i % 50 == 0 else None)
        if i:
            b.edge(b.nodes[f"task:{KEY}:w{(i - 1) // 4}"]["id"], w)  # parent joins child
        fut = b.node("future", f"w{i}", label=f"work{i}")
        b.edge(w, fut)
        b.edge(fut, rng.choice(locks))
        b.edge(fut, rng.choice(locks))
        b.edge(w, rng.choice(channels))
        if i % 100 == 0:  # a few workers are stuck behind a cycle
            b.edge(w, rng.choice(cycle_nodes))
        i += 1
    del b.edges[n_edges:]
    doc = {
        "process": "bench-cycles",
        "pid": 1,
        "proc_key": KEY,
        "captured_at_ns": 1763772000000000000,
        "nodes": list(b.nodes.values()),
        "edges": b.edges,
        "frames": {"1": "std::sync::Mutex<T>::lock", "2": "bench::work"},
        "pending_traces": b.traces,
    }
    return doc, planted


def timed(fn):
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--skip-tarjan", action="store_true")
    args = parser.parse_args()

    setup_django("cycles")
    from django.db import connection

    from snapshots.ingest import ingest_document
    from snapshots.models import CycleReport, Snapshot

    print(f"database: {connection.vendor}")
    t = time.perf_counter()
    doc, planted = build(args.edges)
    print(
        f"built {len(doc['nodes']):,} nodes, {len(doc['edges']):,} edges, "
        f"{len(planted)} planted cyclic components in {time.perf_counter() - t:.1f}s"
    )
    t = time.perf_counter()
    proc = ingest_document(doc, source="bench")
    print(f"ingested in {time.perf_counter() - t:.1f}s (snapshot {proc.snapshot_id})")
    pairs_in_doc = [(e["src_id"], e["dst_id"]) for e in doc["edges"]]
    del doc
    try:
        run(args, proc, planted, len(pairs_in_doc))
    finally:
        Snapshot.objects.filter(id=proc.snapshot_id).delete()
        CycleReport.objects.filter(snapshot_id=proc.snapshot_id).delete()


def tarjan_components(n, indptr, indices):
    """Iterative Tarjan over a CSR adjacency: component label per node.

    The pure-Python baseline the finder's scipy step is measured against
    (not used by peepsweb itself). An explicit stack of (node, next edge
    position) replaces recursion, so a chain of a million nodes is fine."""
    indptr = indptr.tolist() if hasattr(indptr, "tolist") else indptr
    indices = indices.tolist() if hasattr(indices, "tolist") else indices
    order = [-1] * n  # discovery index
    low = [0] * n
    on_stack = [False] * n
    labels = [-1] * n
    stack = []
    counter = 0
    n_components = 0
    for root in range(n):
        if order[root] != -1:
            continue
        work = [(root, indptr[root])]
        order[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, pos = work[-1]
            end = indptr[v + 1]
            while pos < end:
                w = indices[pos]
                pos += 1
                if order[w] == -1:
                    work[-1] = (v, pos)
                    order[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, indptr[w]))
                    break
                if on_stack[w] and order[w] < low[v]:
                    low[v] = order[w]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[v] < low[parent]:
                        low[parent] = low[v]
                if low[v] == order[v]:
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        labels[w] = n_components
                        if w == v:
                            break
                    n_components += 1
    return labels


def run(args, proc, planted, edge_count):
    import networkx as nx
    from django.test import Client

    from snapshots.cycles import finder, service
    from snapshots.gc_pause import paused_gc
    from snapshots.models import CycleReport
    from snapshots.scope import resolve_scope

    scope = resolve_scope(proc.snapshot_id)
    client = Client()
    url = f"/api/v1/snapshots/{proc.snapshot_id}/cycles"

    def call():
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        return response

    def scc(pairs):
        graph = finder.factorize(pairs)
        return graph, finder.strong_components(graph)

    # Rounds interleave every measurement, so load from other processes on the
    # machine hits them alike; medians are reported.
    times = {
        k: [] for k in ("first", "cached", "fetch", "orm", "scc", "factorize", "scc_only", "paused")
    }
    for _ in range(args.repeat):
        CycleReport.objects.filter(snapshot_id=proc.snapshot_id).delete()
        t, response = timed(call)
        times["first"].append(t)
        for _ in range(3):
            times["cached"].append(timed(call)[0])
        t, pairs = timed(lambda: service.fetch_edge_pairs(scope))
        times["fetch"].append(t)
        times["orm"].append(timed(scope.edge_pairs)[0])
        t, (graph, labels) = timed(lambda: scc(pairs))  # noqa: B023
        times["scc"].append(t)
        times["factorize"].append(timed(lambda: finder.factorize(pairs))[0])  # noqa: B023
        times["scc_only"].append(timed(lambda: finder.strong_components(graph))[0])  # noqa: B023
        del pairs, graph, labels
        # (a)+(b) again with the cyclic GC paused, as the endpoint runs them
        with paused_gc():
            t, pairs = timed(lambda: service.fetch_edge_pairs(scope))
            t2, (graph, labels) = timed(lambda: scc(pairs))  # noqa: B023
        times["paused"].append(t + t2)
    med = {k: statistics.median(v) for k, v in times.items()}
    assert len(pairs) == edge_count

    # correctness: candidates = planted components = scipy's = networkx's
    body = response.json()
    found = {frozenset(c["members"]) for c in body["candidates"]}
    assert found == set(planted), "candidates differ from the planted cycles"
    comps = finder.cyclic_components(graph, labels)
    assert {frozenset(graph.ids[i] for i in comp) for comp in comps} == set(planted)

    print()
    print(f"candidates: {len(body['candidates'])} (planted {len(planted)}), all match")
    worst = body["candidates"][0]
    print(
        f"worst: {worst['severity']}, score {worst['score']}, {len(worst['members'])} members, "
        f"blocked {worst['blocked_task_count']}, {worst['edges'][0]['explanation']!r}"
    )
    print(f"response body: {len(response.content) / 1e6:.2f} MB; medians of {args.repeat} rounds")
    print()
    rows = [
        ("cycles endpoint, first call", med["first"]),
        ("cycles endpoint, cached call", med["cached"]),
        ("(a) edge list from the DB (raw cursor)", med["fetch"]),
        ("    same through the ORM (scope.edge_pairs)", med["orm"]),
        ("(b) scipy SCC in memory, ids mapped", med["scc"]),
        ("    of which mapping ids to integers", med["factorize"]),
        ("    of which connected_components", med["scc_only"]),
        ("(a)+(b) with the cyclic GC paused (as ours)", med["paused"]),
    ]
    t_nx = t_tarjan = None
    if not args.skip_networkx:

        def networkx():
            g = nx.DiGraph()
            g.add_edges_from(pairs)
            return [c for c in nx.strongly_connected_components(g) if len(c) > 1]

        t_nx, comps_nx = timed(networkx)
        assert {frozenset(c) for c in comps_nx} == {c for c in planted if len(c) > 1}
        rows.append(("networkx SCC in memory (DiGraph + SCC)", t_nx))
    if not args.skip_tarjan:
        fwd = graph.forward
        t_tarjan, _ = timed(lambda: tarjan_components(graph.n, fwd.indptr, fwd.indices))
        rows.append(("SCC only: iterative Tarjan (pure Python)", t_tarjan))
    for name, t in rows:
        print(f"{name:46s} {t * 1000:9.1f} ms")

    print()
    base = med["fetch"] + med["scc"]
    print(f"first call / ((a)+(b))       = {med['first'] / base:6.2f}   (target <= 1.5)")
    print(f"first call / paused (a)+(b)  = {med['first'] / med['paused']:6.2f}")
    print(f"cached call / first call     = {med['cached'] / med['first']:8.4f}")
    if t_nx:
        print(f"networkx / (b) scipy         = {t_nx / med['scc']:6.1f}x")
        print(f"first call / ((a)+networkx)  = {med['first'] / (med['fetch'] + t_nx):6.2f}")
    if t_tarjan:
        print(f"Tarjan / scipy (SCC only)    = {t_tarjan / med['scc_only']:6.0f}x")
    print(f"ORM fetch / raw cursor       = {med['orm'] / med['fetch']:6.2f}")


if __name__ == "__main__":
    main()
