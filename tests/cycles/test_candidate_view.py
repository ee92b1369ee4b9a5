"""What a candidate on the Cycles page says about itself: every blocked task
named (upstream victims too), the score explained with its own numbers, and
the whole component drawn with the graph page's shapes."""

import re

from snapshots.cycles.drawing import NODE_H, NODE_W, ring
from snapshots.cycles.finder import DRAWN_MAX, find_candidates
from snapshots.graph.svg import shape_of, shape_path
from snapshots.ingest import ingest_document

from .helpers import document, info, source, task

S = 1_000_000_000

# Six nodes, one component; its shortest cycle through t1 has four:
# t1 -> L2 -> t2 -> S -> t1, and S -> t3 -> L3 -> t2 closes the other loop.
SIX = [
    ("task:p:1", "lock:p:2"), ("lock:p:2", "task:p:2"), ("task:p:2", "semaphore:p:s"),
    ("semaphore:p:s", "task:p:1"), ("semaphore:p:s", "task:p:3"), ("task:p:3", "lock:p:3"),
    ("lock:p:3", "task:p:2"),
]  # fmt: skip


def six_document():
    trace = {"task_id": 1, "at_ns": 1763771999000000000, "duration_us": 9_000_000, "frame_ids": []}
    nodes = [
        task("p", 1, "first"), task("p", 2, "second"), task("p", 3, "third"),
        ("lock:p:2", "lock", {"name": "two"}), ("lock:p:3", "lock", {"name": "three"}),
        ("semaphore:p:s", "semaphore", {"name": "pool", "permits_total": 2}),
    ]  # fmt: skip
    return document("p", nodes, SIX, traces=[trace])


def test_the_finder_keeps_a_small_components_edges_and_names_upstream_tasks():
    pairs = [*SIX, ("task:p:9", "task:p:1"), ("task:p:8", "task:p:9")]
    infos = [info(i) for pair in pairs for i in pair]
    infos = {i.node_id: i for i in infos}.values()
    [c] = find_candidates(pairs, source(*infos, info("task:p:1", pending_us=9_000_000))).candidates
    assert len(c.cycle) == 4 and len(c.members) == 6
    assert sorted(c.component_edges) == sorted(SIX)
    # the cycle's tasks, the other member, then the two stalled upstream
    assert c.blocked_tasks[:2] == ["task:p:1", "task:p:2"]
    assert set(c.blocked_tasks) == {"task:p:1", "task:p:2", "task:p:3", "task:p:8", "task:p:9"}
    assert c.blocked_task_count == 5


def test_a_component_too_big_to_draw_keeps_no_edges():
    pairs = [(f"task:p:{i}", f"task:p:{(i + 1) % (DRAWN_MAX + 1)}") for i in range(DRAWN_MAX + 1)]
    [c] = find_candidates(pairs, source(*(info(a) for a, _ in pairs))).candidates
    assert c.component_edges is None


def test_the_drawing_shows_all_six_members_and_every_edge():
    nodes = {
        "task:p:1": {"kind": "task"}, "task:p:2": {"kind": "task"}, "task:p:3": {"kind": "task"},
        "lock:p:2": {"kind": "lock"}, "lock:p:3": {"kind": "lock"},
        "semaphore:p:s": {"kind": "semaphore"},
    }  # fmt: skip
    cycle = ["task:p:1", "lock:p:2", "task:p:2", "semaphore:p:s"]
    drawing = ring(cycle, nodes, members=list(nodes), edges=SIX)
    assert {p["id"] for p in drawing["nodes"]} == set(nodes)
    assert len(drawing["edges"]) == 7
    assert sum(e["on_cycle"] for e in drawing["edges"]) == 4
    # the reported cycle keeps its order, clockwise from the top
    on_ring = [p["id"] for p in drawing["nodes"] if p["on_cycle"]]
    assert on_ring == cycle
    for p in drawing["nodes"]:
        assert 0 <= p["box_x"] and p["box_x"] + NODE_W <= drawing["width"]
        assert 0 <= p["box_y"] and p["box_y"] + NODE_H <= drawing["height"]


def test_the_drawing_uses_the_graph_pages_shape_of_each_kind():
    nodes = {"task:a:1": {"kind": "task"}, "lock:a:l": {"kind": "lock"},
             "mpsc_tx:a:q": {"kind": "mpsc_tx"}, "widget:a:w": {"kind": "widget"}}  # fmt: skip
    drawing = ring(list(nodes), nodes)
    for p in drawing["nodes"]:
        shape = shape_of(p["kind"])
        assert (p["shape"], p["path"]) == (shape, shape_path(shape, NODE_W, NODE_H))
    assert [p["shape"] for p in drawing["nodes"]] == ["task", "lock", "channel_tx", "unknown"]


def test_the_page_draws_the_six_node_component_whole(client, db):
    proc = ingest_document(six_document())
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    assert "Cycle 1: 4 nodes" in html
    assert html.count('<g class="cycle-node') == 6
    assert html.count('class="cycle-edge"') == 4
    assert html.count('class="comp-edge"') == 3
    assert html.count("shape-lock") == 2 and html.count("shape-semaphore") == 1


def test_the_page_names_every_blocked_task_and_explains_the_score(client, db):
    from .helpers import producer_consumer_document

    doc = producer_consumer_document()
    # main awaits the producer: blocked behind the cycle without being in it
    doc["nodes"].append(
        {"id": "task:shop-77:9", "kind": "task", "label": "main",
         "attrs": {"task_id": 9, "name": "main", "state": "pending"}}
    )  # fmt: skip
    doc["edges"].append({"src_id": "task:shop-77:9", "dst_id": "task:shop-77:1", "kind": "needs"})
    proc = ingest_document(doc)
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    blocked = re.search(r'<p class="cycle-blocked">(.*?)</p>', html, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", blocked)
    text = re.sub(r"\s+", " ", text).strip()
    assert text.startswith("3 tasks blocked:")
    for name in ("producer", "consumer"):
        assert f">{name}</a>" in blocked
    assert "main (stalled behind the cycle)" in text
    # score = 1.0 x (3 + 10 log10(1 + 7)) = 3 + 9.0 = 12.0
    why = re.search(r'<details class="score-why">(.*?)</details>', html, re.S).group(1)
    why = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", why))
    assert "Why score 12.0?" in why
    assert "score = 1.0 (high confidence) × (3 blocked tasks + 9.0 for the longest wait" in why
    assert "of 7.00s: 10 × log10(1 + 7.0 s)) = 12.0." in why
