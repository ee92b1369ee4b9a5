"""A layered (Sugiyama-style) layout, left to right, for graphs of a few
hundred nodes: "A needs B" reads as A left of B.

Steps, per connected component: break cycles by reversing DFS back edges;
longest-path layering (sources then pulled right next to what they need);
a dummy point per layer a long edge crosses; barycenter sweeps to reduce
crossings (keeping the best order seen); then vertical positions that pull
each node towards its neighbours while keeping the order and the spacing
(isotonic regression, so each pass is exact and linear). Components are
stacked top to bottom, isolated nodes packed in a grid at the end.

Pure Python and deterministic (the same graph always gives the same picture),
with no Django import, so it is easy to test and to time (bench/graph.py).
Everything it returns is numbers; the SVG is built by a template.
"""

from collections import defaultdict
from dataclasses import dataclass, field

LAYER_GAP = 56  # horizontal space between two layers, for the edges
NODE_GAP = 12  # vertical space between two nodes of a layer
DUMMY_GAP = 6  # ... and around a long edge passing through a layer
COMPONENT_GAP = 36
MARGIN = 16
SWEEPS = 12
PLACEMENT_ROUNDS = 4


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass
class Route:
    src: str
    dst: str
    points: list  # [(x, y), ...] from src to dst
    self_loop: bool = False

    def path(self):
        """SVG path data: horizontal-tangent curves through the points (whole
        pixels: a 600-edge drawing is a quarter smaller)."""
        if self.self_loop:
            (x, y), (w, _h) = self.points
            a, b = x + w * 0.55, x + w * 0.85
            return f"M{a:.0f},{y:.0f} C{a:.0f},{y - 26:.0f} {b:.0f},{y - 26:.0f} {b:.0f},{y:.0f}"
        (x0, y0), rest = self.points[0], self.points[1:]
        parts = [f"M{x0:.0f},{y0:.0f}"]
        for x1, y1 in rest:
            mid = (x1 - x0) / 2
            if abs(y1 - y0) < 0.5:
                parts.append(f"L{x1:.0f},{y1:.0f}")
            else:
                parts.append(f"C{x0 + mid:.0f},{y0:.0f} {x1 - mid:.0f},{y1:.0f} {x1:.0f},{y1:.0f}")
            x0, y0 = x1, y1
        return " ".join(parts)


@dataclass
class Layout:
    width: float = 0
    height: float = 0
    boxes: dict = field(default_factory=dict)  # node id -> Box
    routes: list = field(default_factory=list)  # Route per edge, in input order


def layout(nodes, edges):
    """nodes: [(id, width, height)] in a preferred order (the focus first);
    edges: [(src, dst)] between those ids. Returns a Layout."""
    sizes = {node_id: (w, h) for node_id, w, h in nodes}
    order = [node_id for node_id, _, _ in nodes]
    result = Layout()
    comps, isolated = _components(order, edges)
    routes = {}
    y = MARGIN
    width = 0
    for comp_nodes, comp_edges in comps:
        boxes, comp_routes, w, h = _layout_component(comp_nodes, comp_edges, sizes)
        for node_id, b in boxes.items():
            result.boxes[node_id] = Box(b.x + MARGIN, b.y + y, b.w, b.h)
        for key, pts in comp_routes.items():
            routes[key] = [(px + MARGIN, py + y) for px, py in pts]
        y += h + COMPONENT_GAP
        width = max(width, w)
    if isolated:
        y = _pack_grid(isolated, sizes, result.boxes, y, max(width, 640))
        width = max(width, max(b.x + b.w for b in result.boxes.values()) - MARGIN)
    else:
        y -= COMPONENT_GAP
    result.width = width + 2 * MARGIN
    result.height = y + MARGIN
    for src, dst in edges:
        if src == dst:
            b = result.boxes[src]
            result.routes.append(Route(src, dst, [(b.x, b.y), (b.w, b.h)], self_loop=True))
        else:
            result.routes.append(Route(src, dst, routes[(src, dst)]))
    return result


def _components(order, edges):
    parent = {n: n for n in order}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    linked = set()
    for s, d in edges:
        if s != d:
            parent[find(s)] = find(d)
            linked.update((s, d))
    members = defaultdict(list)
    isolated = []
    for n in order:
        (members[find(n)] if n in linked else isolated).append(n)
    comp_edges = defaultdict(list)
    for s, d in edges:
        if s != d:
            comp_edges[find(s)].append((s, d))
    # In order of first appearance: the focus's component comes first.
    comps = [(nodes, comp_edges[root]) for root, nodes in members.items()]
    return comps, isolated


def _pack_grid(ids, sizes, boxes, y, width):
    col_w = max(sizes[n][0] for n in ids) + NODE_GAP
    row_h = max(sizes[n][1] for n in ids) + NODE_GAP
    per_row = max(1, int(width // col_w))
    for i, n in enumerate(ids):
        w, h = sizes[n]
        boxes[n] = Box(MARGIN + (i % per_row) * col_w, y + (i // per_row) * row_h, w, h)
    return y + ((len(ids) - 1) // per_row + 1) * row_h - NODE_GAP


def _layout_component(nodes, edges, sizes):
    dag = _break_cycles(nodes, edges)  # [(upper, lower, original key)]
    layer = _layers(nodes, dag)

    # Chains of dummy points for edges that span several layers.
    succ = defaultdict(list)
    pred = defaultdict(list)
    chains = {}
    dummy_layer = {}
    for u, v, key in dag:
        chain = [u]
        for lay in range(layer[u] + 1, layer[v]):
            d = ("dummy", key, lay)
            dummy_layer[d] = lay
            chain.append(d)
        chain.append(v)
        for a, b in zip(chain, chain[1:], strict=False):
            succ[a].append(b)
            pred[b].append(a)
        chains[key] = chain
    layer.update(dummy_layer)

    n_layers = max(layer.values()) + 1
    layers = [[] for _ in range(n_layers)]
    for n in nodes:  # input order first: a stable, meaningful start
        layers[layer[n]].append(n)
    rank = {n: i for i, n in enumerate(nodes)}
    for d in sorted(dummy_layer, key=lambda d: (dummy_layer[d], rank[d[1][0]], rank[d[1][1]])):
        layers[dummy_layer[d]].append(d)
    layers = _order(layers, succ, pred)

    def size(n):
        return (0, 2) if isinstance(n, tuple) else sizes[n]

    centers = _place(layers, succ, pred, size)

    # Columns: each layer as wide as its widest node, nodes centred in it.
    col_x, x = [], 0.0
    col_w = []
    for lay in layers:
        w = max((size(n)[0] for n in lay), default=0)
        col_x.append(x)
        col_w.append(w)
        x += w + LAYER_GAP
    width = x - LAYER_GAP
    top = min(centers[n] - size(n)[1] / 2 for lay in layers for n in lay)
    boxes = {}
    for i, lay in enumerate(layers):
        for n in lay:
            if isinstance(n, tuple):
                continue
            w, h = size(n)
            boxes[n] = Box(col_x[i] + (col_w[i] - w) / 2, centers[n] - h / 2 - top, w, h)
    height = max(b.y + b.h for b in boxes.values())

    routes = {}
    for u, v, key in dag:
        pts = []
        for n in chains[key]:
            if isinstance(n, tuple):
                i = layer[n]
                cy = centers[n] - top
                pts += [(col_x[i] - 1, cy), (col_x[i] + col_w[i] + 1, cy)]
            else:
                b = boxes[n]
                cy = b.y + b.h / 2
                pts.append((b.x + b.w, cy) if n == u else (b.x, cy))
        # A reversed edge was laid out upper -> lower; draw it as it is.
        routes[key] = pts if key == (u, v) else pts[::-1]
    return boxes, routes, width, height


def _break_cycles(nodes, edges):
    """Edges as (upper, lower, key): DFS back edges reversed so the rest is
    acyclic. Iterative, so a long chain cannot hit the recursion limit."""
    succ = defaultdict(list)
    for s, d in edges:
        succ[s].append(d)
    has_pred = {d for _, d in edges}
    state = {}  # 1 on the stack, 2 done
    back = set()
    starts = [n for n in nodes if n not in has_pred] + nodes
    for root in starts:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if w not in state:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    return [((d, s, (s, d)) if (s, d) in back else (s, d, (s, d))) for s, d in edges]


def _layers(nodes, dag):
    succ = defaultdict(list)
    indeg = dict.fromkeys(nodes, 0)
    for u, v, _ in dag:
        succ[u].append(v)
        indeg[v] += 1
    layer = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indeg[n] == 0]
    topo = []
    while ready:
        u = ready.pop()
        topo.append(u)
        for v in succ[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    # Shorten edges (fewer dummy points, a narrower picture): a node with
    # more edges in than out moves right, as far as its successors allow, and
    # the other way round. Each move lowers the total edge span, so it ends.
    pred = defaultdict(list)
    for u, v, _ in dag:
        pred[v].append(u)
    for _ in range(8):
        moved = False
        for u in topo:
            lo = max((layer[p] + 1 for p in pred[u]), default=None)
            hi = min((layer[s] - 1 for s in succ[u]), default=None)
            if len(pred[u]) < len(succ[u]) or (not pred[u] and succ[u]):
                best = hi
            elif len(pred[u]) > len(succ[u]):
                best = lo
            else:
                continue
            if best is not None and best != layer[u]:
                layer[u] = best
                moved = True
        if not moved:
            break
    low = min(layer.values())
    return {n: lay - low for n, lay in layer.items()}


def _order(layers, succ, pred):
    """Barycenter sweeps, alternating direction; keeps the best order."""
    best = [list(lay) for lay in layers]
    best_crossings = _crossings(best, succ)
    current = [list(lay) for lay in layers]
    stale = 0
    for sweep in range(_effort(layers, SWEEPS)):
        if best_crossings == 0 or stale >= 4:
            break
        down = sweep % 2 == 0
        indexes = range(1, len(current)) if down else range(len(current) - 2, -1, -1)
        links = pred if down else succ
        for i in indexes:
            ref = current[i - 1] if down else current[i + 1]
            pos = {n: k for k, n in enumerate(ref)}
            keyed = []
            for k, n in enumerate(current[i]):
                near = links[n]
                # (barycenter, old position) is unique: nodes are never compared.
                keyed.append((sum(pos[m] for m in near) / len(near) if near else k, k, n))
            keyed.sort()
            current[i] = [n for _, _, n in keyed]
        c = _crossings(current, succ)
        if c < best_crossings:
            best, best_crossings, stale = [list(lay) for lay in current], c, 0
        else:
            stale += 1
    return best


def _effort(layers, rounds):
    """Fewer passes on drawings with thousands of long-edge points (random
    graphs at the cap), so a worst case stays well under a second."""
    items = sum(len(lay) for lay in layers)
    return rounds if items <= 3000 else max(2, rounds // 3)


def _crossings(layers, succ):
    total = 0
    for upper, lower in zip(layers, layers[1:], strict=False):
        pos = {n: k for k, n in enumerate(lower)}
        ends = sorted((i, pos[m]) for i, n in enumerate(upper) for m in succ[n])
        # Count inversions of the lower ends with a Fenwick tree.
        size = len(lower)
        tree = [0] * (size + 1)
        for seen, (_, p) in enumerate(ends):
            j, not_greater = p + 1, 0
            while j > 0:
                not_greater += tree[j]
                j -= j & -j
            total += seen - not_greater
            j = p + 1
            while j <= size:
                tree[j] += 1
                j += j & -j
    return total


def _place(layers, succ, pred, size):
    """Vertical centres: start stacked, then pull each node towards the mean
    of its neighbours in the adjacent layer(s), keeping order and gaps."""

    def gap(a, b):
        g = DUMMY_GAP if isinstance(a, tuple) or isinstance(b, tuple) else NODE_GAP
        return (size(a)[1] + size(b)[1]) / 2 + g

    offsets = []
    for lay in layers:
        off = [0.0]
        for a, b in zip(lay, lay[1:], strict=False):
            off.append(off[-1] + gap(a, b))
        offsets.append(off)
    centers = {}
    tallest = max(off[-1] for off in offsets)
    for lay, off in zip(layers, offsets, strict=False):
        shift = (tallest - off[-1]) / 2
        for n, o in zip(lay, off, strict=False):
            centers[n] = o + shift

    def settle(i, links):
        lay, off = layers[i], offsets[i]
        desired, weights = [], []
        for n, o in zip(lay, off, strict=False):
            near = [centers[m] for link in links for m in link[n]]
            desired.append((sum(near) / len(near) if near else centers[n]) - o)
            # Long-edge points bend more easily than real nodes.
            weights.append(0.3 if isinstance(n, tuple) else 1.0)
        for n, z, o in zip(lay, _isotonic(desired, weights), off, strict=False):
            centers[n] = z + o

    for _ in range(_effort(layers, PLACEMENT_ROUNDS)):
        for i in range(1, len(layers)):
            settle(i, (pred,))
        for i in range(len(layers) - 2, -1, -1):
            settle(i, (succ,))
    for i in range(len(layers)):
        settle(i, (pred, succ))
    return centers


def _isotonic(values, weights):
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    blocks = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=False):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out = []
    for m, _, c in blocks:
        out.extend([m] * c)
    return out
