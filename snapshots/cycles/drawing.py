"""Coordinates for drawing one cycle's component as a small SVG ring.

Only numbers are computed here; the template writes the SVG and escapes every
label (no markup is built in Python). Nodes sit on a circle, clockwise from
the top: the reported cycle in order, so its arrows read like the
explanation chain, and the component's other members each next to a node
that needs it. Every edge inside the component is drawn (the cycle's in
full, the others thinner), so a 6-member component shows 6 nodes even when
its shortest cycle has 4.

Node shapes are the graph page's (snapshots.graph.svg.shape_of picks the shape
of a kind, snapshots.graph.svg.shape_path draws it), so a lock looks
the same on both pages.
"""

import math

from snapshots.cycles.explain import kind_word
from snapshots.cycles.finder import DRAWN_MAX
from snapshots.graph.svg import shape_of, shape_path

MAX_DRAWN = DRAWN_MAX  # bigger components are listed, not drawn
NODE_W, NODE_H = 48, 24
LABEL_CHARS = 22
BEND = 14  # how far the two edges of a pair a -> b, b -> a bow apart


def _label_place(x, y, cx, cy):
    """Labels sit outside the ring: left of nodes on the left half (anchored
    at their end), right of those on the right, above/below at the poles."""
    hw, hh = NODE_W / 2, NODE_H / 2
    if abs(x - cx) <= 1:
        dy = -hh - 6 if y < cy else hh + 16
        return {"anchor": "middle", "label_x": round(x, 1), "label_y": round(y + dy, 1)}
    if x < cx:
        return {"anchor": "end", "label_x": round(x - hw - 4, 1), "label_y": round(y + 4, 1)}
    return {"anchor": "start", "label_x": round(x + hw + 4, 1), "label_y": round(y + 4, 1)}


def _order(cycle, members, edges):
    """Ring order: the cycle, then each other member right after a placed
    node that needs it (else right before one it needs), so the arrows
    keep running clockwise where they can."""
    order = list(cycle)
    placed = set(order)
    rest = [m for m in members if m not in placed]
    while rest:
        m, at = rest[0], len(order)  # not linked to a placed node: appended
        after = [(s, d) for s, d in edges if d in rest and s in placed]
        before = [(s, d) for s, d in edges if s in rest and d in placed]
        if after:
            pred, m = after[0]
            at = order.index(pred) + 1
        elif before:
            m, succ = before[0]
            at = order.index(succ)
        order.insert(at, m)
        placed.add(m)
        rest.remove(m)
    return order


def _border(ux, uy, gap):
    """Distance from a node's centre to its box's edge along (ux, uy), plus gap."""
    tx = (NODE_W / 2) / abs(ux) if ux else math.inf
    ty = (NODE_H / 2) / abs(uy) if uy else math.inf
    return min(tx, ty) + gap


def _edge_path(a, b, bend):
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    x1, y1 = a["x"] + ux * _border(ux, uy, 2), a["y"] + uy * _border(ux, uy, 2)
    x2, y2 = b["x"] - ux * _border(ux, uy, 4), b["y"] - uy * _border(ux, uy, 4)
    if not bend:
        return f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
    # Bow to the left of the direction of travel: the reverse edge bows the other way.
    mx, my = (x1 + x2) / 2 + uy * bend, (y1 + y2) / 2 - ux * bend
    return f"M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}"


def _self_loop(p, cx, cy):
    """A small arc on the outer side of the node (above a lone node)."""
    x, y = p["x"], p["y"]
    dx, dy = x - cx, y - cy
    length = math.hypot(dx, dy)
    ux, uy = (dx / length, dy / length) if length else (0.0, -1.0)
    px, py = -uy, ux  # across the arc
    start = (x + ux * NODE_H / 2 - px * 8, y + uy * NODE_H / 2 - py * 8)
    end = (x + ux * NODE_H / 2 + px * 8, y + uy * NODE_H / 2 + py * 8)
    c1 = (x + ux * 48 - px * 30, y + uy * 48 - py * 30)
    c2 = (x + ux * 48 + px * 30, y + uy * 48 + py * 30)
    return (
        f"M{start[0]:.1f},{start[1]:.1f} C{c1[0]:.1f},{c1[1]:.1f} "
        f"{c2[0]:.1f},{c2[1]:.1f} {end[0]:.1f},{end[1]:.1f}"
    )


def ring(cycle, nodes, link=None, members=None, edges=None):
    """A dict for templates/cycles/_cycle_svg.html, or None when too big.

    `cycle`: the reported cycle; `members` and `edges`: the whole component
    and its internal (src, dst) edges when known (the finder keeps them for
    components of up to MAX_DRAWN members), else the cycle alone is drawn.
    `nodes`: the cached result's node details by id; `link(node_id)`: the
    inspector URL or None."""
    if edges is None or members is None:
        members = cycle
        edges = [(a, cycle[(i + 1) % len(cycle)]) for i, a in enumerate(cycle)]
    edges = [tuple(e) for e in edges]
    order = _order(cycle, members, edges)
    n = len(order)
    if n == 0 or n > MAX_DRAWN:
        return None
    radius = 0 if n == 1 else max(70, n * 26)
    margin = 160  # room for labels (up to LABEL_CHARS) on the left and right
    width = 2 * (radius + margin)
    height = 2 * radius + 150
    cx, cy = width / 2, radius + 80
    points = []
    for i, node_id in enumerate(order):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        node = nodes.get(node_id) or {}
        name = node.get("name") or node_id
        shape = shape_of(node.get("kind") or "")
        points.append(
            {
                "id": node_id,
                "x": round(x, 1),
                "y": round(y, 1),
                "kind": node.get("kind") or "",
                "caption": kind_word(node.get("kind") or ""),
                "shape": shape,
                "path": shape_path(shape, NODE_W, NODE_H),
                "box_x": round(x - NODE_W / 2, 1),
                "box_y": round(y - NODE_H / 2, 1),
                "label": name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…",
                "full_label": name,
                "process": node.get("process") or node.get("proc_key") or "",
                "state_class": node.get("state_class") or "",
                "on_cycle": node_id in cycle,
                "href": link(node_id) if link else None,
                **_label_place(x, y, cx, cy),
            }
        )
    at = {p["id"]: p for p in points}
    cycle_pairs = {(a, cycle[(i + 1) % len(cycle)]) for i, a in enumerate(cycle)}
    pairs = set(edges)
    drawn = []
    for src, dst in sorted(pairs, key=lambda e: (e not in cycle_pairs, e)):
        if src not in at or dst not in at:
            continue
        if src == dst:
            path = _self_loop(at[src], cx, cy)
            if n == 1:
                at[src]["label_y"] = round(at[src]["y"] + NODE_H / 2 + 16, 1)
        else:
            path = _edge_path(at[src], at[dst], BEND if (dst, src) in pairs else 0)
        drawn.append({"path": path, "on_cycle": (src, dst) in cycle_pairs})
    processes = {p["process"] for p in points}
    for p in points:
        p["sub_y"] = round(p["label_y"] + 12, 1)
        if p["anchor"] == "middle" and p["y"] < cy and len(processes) > 1:
            # above the top node the process line goes under the name, not on the node
            p["sub_y"], p["label_y"] = p["label_y"], round(p["label_y"] - 12, 1)
    return {
        "cross_process": len(processes) > 1,
        "width": round(width),
        "height": round(height),
        "nodes": points,
        "edges": drawn,
        "w": NODE_W,
        "h": NODE_H,
    }
