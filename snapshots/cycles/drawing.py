"""Coordinates for drawing one cycle as a small SVG ring.

Only numbers are computed here; the template writes the SVG and escapes every
label (no markup is built in Python). Nodes sit on a circle in cycle order,
clockwise from the top, so the arrows read like the explanation chain.
"""

import math

from snapshots.cycles.explain import kind_word

MAX_DRAWN = 24  # longer cycles are listed, not drawn
NODE_R = 16
LABEL_CHARS = 22


def _label_place(x, y, cx, cy):
    """Labels sit outside the ring: left of nodes on the left half (anchored
    at their end), right of those on the right, above/below at the poles."""
    if abs(x - cx) <= 1:
        dy = -NODE_R - 6 if y < cy else NODE_R + 16
        return {"anchor": "middle", "label_x": round(x, 1), "label_y": round(y + dy, 1)}
    if x < cx:
        return {"anchor": "end", "label_x": round(x - NODE_R - 4, 1), "label_y": round(y + 4, 1)}
    return {"anchor": "start", "label_x": round(x + NODE_R + 4, 1), "label_y": round(y + 4, 1)}


def ring(cycle, nodes, link=None):
    """A dict for templates/cycles/_cycle_svg.html, or None when too long.

    `nodes`: the cached result's node details by id; `link(node_id)`: the
    inspector URL or None."""
    n = len(cycle)
    if n == 0 or n > MAX_DRAWN:
        return None
    radius = 0 if n == 1 else max(70, n * 26)
    margin = 150  # room for labels (up to LABEL_CHARS) on the left and right
    width = 2 * (radius + margin)
    height = 2 * radius + 130
    cx, cy = width / 2, radius + 70
    points = []
    for i, node_id in enumerate(cycle):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        node = nodes.get(node_id) or {}
        name = node.get("name") or node_id
        points.append(
            {
                "id": node_id,
                "x": round(x, 1),
                "y": round(y, 1),
                "kind": node.get("kind") or "",
                "caption": kind_word(node.get("kind") or ""),
                "shape": "circle" if node.get("kind") == "task" else "rect",
                "box_x": round(x - NODE_R, 1),
                "box_y": round(y - NODE_R, 1),
                "label": name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…",
                "full_label": name,
                "process": node.get("process") or node.get("proc_key") or "",
                "state_class": node.get("state_class") or "",
                "href": link(node_id) if link else None,
                **_label_place(x, y, cx, cy),
            }
        )
    edges = []
    if n == 1:
        p = points[0]
        # a self-loop: a small arc above the node
        x, y = p["x"], p["y"]
        edges.append(
            {
                "path": f"M{x - 8:.1f},{y - NODE_R + 2:.1f} C{x - 34:.1f},{y - 60:.1f} "
                f"{x + 34:.1f},{y - 60:.1f} {x + 8:.1f},{y - NODE_R + 2:.1f}"
            }
        )
        p["label_y"] = round(y + NODE_R + 16, 1)
    else:
        for i, a in enumerate(points):
            b = points[(i + 1) % n]
            dx, dy = b["x"] - a["x"], b["y"] - a["y"]
            length = math.hypot(dx, dy) or 1.0
            ux, uy = dx / length, dy / length
            x1, y1 = a["x"] + ux * (NODE_R + 2), a["y"] + uy * (NODE_R + 2)
            x2, y2 = b["x"] - ux * (NODE_R + 4), b["y"] - uy * (NODE_R + 4)
            edges.append({"path": f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"})
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
        "edges": edges,
        "r": NODE_R,
        "box": 2 * NODE_R,
    }
