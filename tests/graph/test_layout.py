"""The layered layout: every node placed, none overlapping, edges reading
left to right, cycles and long chains handled, the same picture every time."""

import random

from snapshots.graph.layout import layout


def boxes_overlap(a, b):
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def random_graph(seed, n, m):
    rnd = random.Random(seed)
    nodes = [(f"n{i}", rnd.randint(64, 300), 36) for i in range(n)]
    edges = sorted({(f"n{rnd.randrange(n)}", f"n{rnd.randrange(n)}") for _ in range(m)})
    return nodes, edges


def test_every_node_gets_a_box_and_no_two_boxes_overlap():
    for seed in range(25):
        rnd = random.Random(seed)
        nodes, edges = random_graph(seed, rnd.randint(1, 60), rnd.randint(0, 120))
        result = layout(nodes, edges)
        assert set(result.boxes) == {n for n, _, _ in nodes}
        placed = list(result.boxes.values())
        for i, a in enumerate(placed):
            assert 0 <= a.x and a.x + a.w <= result.width
            assert 0 <= a.y and a.y + a.h <= result.height
            for b in placed[i + 1 :]:
                assert not boxes_overlap(a, b), (seed, a, b)
        assert len(result.routes) == len(edges)


def test_in_an_acyclic_graph_every_edge_goes_left_to_right():
    nodes = [(f"n{i}", 100, 36) for i in range(8)]
    edges = [("n0", "n1"), ("n0", "n2"), ("n1", "n3"), ("n2", "n3"), ("n3", "n4"),
             ("n0", "n4"), ("n5", "n4"), ("n6", "n7")]  # fmt: skip
    result = layout(nodes, edges)
    for src, dst in edges:
        assert result.boxes[src].x + result.boxes[src].w < result.boxes[dst].x
    for route in result.routes:
        (x0, _), (x1, _) = route.points[0], route.points[-1]
        assert x0 < x1
        assert route.path().startswith("M")


def test_a_route_starts_at_its_source_and_ends_at_its_target_even_against_a_cycle():
    nodes = [("a", 80, 36), ("b", 80, 36), ("c", 80, 36)]
    edges = [("a", "b"), ("b", "c"), ("c", "a")]
    result = layout(nodes, edges)
    for route in result.routes:
        src, dst = result.boxes[route.src], result.boxes[route.dst]
        (x0, y0), (x1, y1) = route.points[0], route.points[-1]
        assert x0 in (src.x, src.x + src.w) and src.y <= y0 <= src.y + src.h
        assert x1 in (dst.x, dst.x + dst.w) and dst.y <= y1 <= dst.y + dst.h


def test_a_self_loop_is_drawn_as_a_loop_on_its_node():
    result = layout([("a", 80, 36)], [("a", "a")])
    (route,) = result.routes
    assert route.self_loop
    assert route.path().startswith("M")


def test_unlinked_nodes_are_packed_in_a_grid_below_the_linked_ones():
    nodes = [("a", 80, 36), ("b", 80, 36)] + [(f"lone{i}", 80, 36) for i in range(20)]
    result = layout(nodes, [("a", "b")])
    linked_bottom = max(result.boxes[n].y + result.boxes[n].h for n in ("a", "b"))
    lone = [result.boxes[f"lone{i}"] for i in range(20)]
    assert min(b.y for b in lone) > linked_bottom
    assert len({b.y for b in lone}) < 20  # several per row


def test_a_long_chain_does_not_recurse():
    n = 1500
    nodes = [(f"n{i}", 70, 36) for i in range(n)]
    edges = [(f"n{i}", f"n{i + 1}") for i in range(n - 1)] + [(f"n{n - 1}", "n0")]
    result = layout(nodes, edges)
    assert len(result.boxes) == n


def test_the_same_graph_gives_the_same_picture():
    nodes, edges = random_graph(7, 80, 160)
    first, second = layout(nodes, edges), layout(list(nodes), list(edges))
    assert first.boxes == second.boxes
    assert [r.path() for r in first.routes] == [r.path() for r in second.routes]


def test_crossings_are_reduced_on_a_crossed_bipartite_graph():
    # a0..a3 -> b3..b0: drawn in input order every edge would cross every other.
    nodes = [("r", 60, 36)] + [(f"a{i}", 60, 36) for i in range(4)]
    nodes += [(f"b{i}", 60, 36) for i in range(4)]
    crossed = [(f"a{i}", f"b{3 - i}") for i in range(4)]
    result = layout(nodes, [("r", f"a{i}") for i in range(4)] + crossed)
    ys = [(result.boxes[s].y, result.boxes[d].y) for s, d in crossed]
    for a1, b1 in ys:
        for a2, b2 in ys:
            assert (a1 - a2) * (b1 - b2) >= 0  # same order on both sides
