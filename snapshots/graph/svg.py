"""Geometry for the graph page: node sizes, shapes and edge paths, as numbers
and plain strings for templates/pages/_graph_svg.html to put into an SVG.

Snapshot text (labels, ids, states) is passed through untouched and escaped
by the template; what is built here from it is only its length.
"""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from snapshots.graph.layout import layout
from snapshots.node_kinds import (
    FUTURE,
    LOCK,
    ONCECELL,
    REQUEST,
    RESPONSE,
    SEMAPHORE,
    TASK,
    channel_end,
)
from snapshots.pages.formatting import NS_PER_US, format_duration_ns

LABEL_CHARS = 36  # longer labels are cut in the drawing (full text on hover)
CHAR_W = 7.3  # 12px monospace
SMALL_CHAR_W = 6.1  # 10px monospace
PAD = 10
NODE_H = 36
MIN_W, MAX_W = 64, 300
GROUP_COLOURS = 10  # --graph-group-0 .. -9 in static/css/graph.css

# Shapes carry the kind (the small text line says it too): the canonical
# kinds with a shape of their own, a channel end's, merged pairs' (channel,
# rpc), and "unknown" for any other kind.
SHAPED_KINDS = frozenset({TASK, FUTURE, LOCK, SEMAPHORE, REQUEST, RESPONSE, ONCECELL})


def shape_of(kind):
    if kind in SHAPED_KINDS:
        return kind
    end = channel_end(kind)
    return f"channel_{end}" if end else "unknown"


# Extra width for pointed ends, and a path in a w x h box.
_POINTY = {"semaphore": 16, "request": 10, "response": 10, "rpc": 20, "channel_tx": 10,
           "channel_rx": 10, "channel": 12}  # fmt: skip
SHAPE_NAMES = {
    "channel_tx": "channel tx",
    "channel_rx": "channel rx",
    "channel": "channel (tx+rx)",
    "rpc": "request+response",
    "unknown": "other",
}


def shape_path(shape, w, h):
    m = h / 2
    if shape == "task":
        r = 6
        return (f"M{r},0 H{w - r} A{r},{r} 0 0 1 {w},{r} V{h - r} A{r},{r} 0 0 1 {w - r},{h} "
                f"H{r} A{r},{r} 0 0 1 0,{h - r} V{r} A{r},{r} 0 0 1 {r},0 Z")  # fmt: skip
    if shape == "future":
        return f"M{m},0 H{w - m} A{m},{m} 0 0 1 {w - m},{h} H{m} A{m},{m} 0 0 1 {m},0 Z"
    if shape == "lock":
        c = 8
        return f"M{c},0 H{w - c} L{w},{c} V{h - c} L{w - c},{h} H{c} L0,{h - c} V{c} Z"
    if shape == "semaphore":
        c = 12
        return f"M{c},0 H{w - c} L{w},{m} L{w - c},{h} H{c} L0,{m} Z"
    if shape == "channel_tx":
        return f"M0,0 H{w - 10} L{w},{h} H10 Z"
    if shape == "channel_rx":
        return f"M10,0 H{w} L{w - 10},{h} H0 Z"
    if shape == "channel":
        # A pipe: tx end on the left, rx end on the right.
        r = 6
        return (f"M{r},0 H{w - r} A{r},{m} 0 0 1 {w - r},{h} H{r} A{r},{m} 0 0 1 {r},0 Z "
                f"M{w - r},0 A{r},{m} 0 0 0 {w - r},{h}")  # fmt: skip
    if shape == "request":
        return f"M0,0 H{w - 10} L{w},{m} L{w - 10},{h} H0 Z"
    if shape == "response":
        return f"M0,0 H{w} V{h} H0 L10,{m} Z"
    if shape == "rpc":
        return f"M0,0 H{w - 10} L{w},{m} L{w - 10},{h} H0 L10,{m} Z"
    if shape == "oncecell":
        c = 9
        return f"M0,0 H{w - c} L{w},{c} V{h} H0 Z"
    return f"M0,0 H{w} V{h} H0 Z"


@dataclass
class DrawnNodeView:
    node: object  # snapshots.graph.neighbourhood.DrawnNode
    index: int
    x: float
    y: float
    w: float
    h: float
    path: str
    short_label: str
    caption: str  # "task · pending"
    href: str  # the inspector of the first member
    classes: str
    text_x: float
    hover_label: str  # the label, cut at a length a tooltip can show
    title: str  # the no-JS tooltip
    links: list  # [(text, inspector href)] per member, for the list
    recentre: str  # query string of the graph centred on this node
    trace: str = ""  # "9.00s": its longest pending trace, when it has one


@dataclass
class DrawnEdgeView:
    edge: object  # snapshots.graph.neighbourhood.DrawnEdge
    src: int
    dst: int
    path: str
    classes: str


@dataclass
class Drawing:
    width: float
    height: float
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    groups: list = field(default_factory=list)  # [(name, colour index)] for the legend
    shapes: list = field(default_factory=list)  # [(shape, path of a sample)] for the legend


def _caption(node):
    kind = {"rpc": "request/response"}.get(node.kind, node.kind)
    if node.shape == "channel":
        kind += " channel"
    return f"{kind} · {node.state}" if node.state else kind


def _short(text, n):
    return text if len(text) <= n else text[: n - 1] + "…"


def node_size(node):
    """(short label, caption, pointy extra, width) of a drawn node."""
    short = _short(node.label.replace("\n", " "), LABEL_CHARS)
    caption = _short(_caption(node), LABEL_CHARS + 6)
    extra = _POINTY.get(node.shape, 0)
    w = max(len(short) * CHAR_W, len(caption) * SMALL_CHAR_W) + 2 * PAD + extra
    return short, caption, extra, round(min(max(w, MIN_W), MAX_W))


def draw(graph, scope_key, recentre_query="", placed=None):
    """Lay out and shape a (not too big) Graph. Strings the template would
    otherwise assemble per node are made here once: on 300 nodes and 600
    edges each template variable costs (docs/graph.md).

    `placed`: a Layout made beforehand for a superset of these nodes and
    edges (replay.py: the union of a replay window), used as it is so that
    nodes keep their places from one step to the next."""
    views = []
    sizes = []
    for node in graph.nodes:
        short, caption, extra, w = node_size(node)
        sizes.append((node.id, w, NODE_H))
        views.append((node, short, caption, extra))
    result = placed or layout(sizes, [(e.src, e.dst) for e in graph.edges])
    route_of = {(r.src, r.dst): r for r in result.routes}

    groups = sorted({n.group for n in graph.nodes if n.group})
    colour_of = {g: i % GROUP_COLOURS for i, g in enumerate(groups)}
    drawing = Drawing(width=round(result.width), height=round(result.height))
    index_of = {}
    for i, (node, short, caption, extra) in enumerate(views):
        box = result.boxes[node.id]
        index_of[node.id] = i
        classes = ["gnode", f"shape-{node.shape}", f"state-{node.state_class or 'none'}"]
        if graph.options.colour != "state":
            classes.append(f"grp-{colour_of[node.group]}" if node.group else "grp-none")
        if node.cycle is not None:
            classes.append("in-cycle")
        if node.ghost:
            classes.append("ghost")
        if node.focus:
            classes.append("focus")
        # A pending trace says where it is stuck: marked, and one click away.
        trace = format_duration_ns(node.pending_us * NS_PER_US) if node.pending_us else ""
        if trace:
            classes.append("has-trace")
        hover_label = _short(node.label, 300)
        title = f"{hover_label} — {caption} — {node.proc_key}"
        if node.cycle is not None:
            title += " — in a needs cycle"
        if trace:
            title += f" — pending trace {trace}"
        if node.ghost:
            title += f" — {node.ghost}"
        links = [
            (hover_label if k == 0 else member, reverse("pages:node", args=[scope_key, member]))
            for k, member in enumerate(node.members)
        ]
        recentre = urlencode({"node": node.members[0]})
        drawing.nodes.append(
            DrawnNodeView(
                node=node,
                index=i,
                x=round(box.x, 1),
                y=round(box.y, 1),
                w=box.w,
                h=box.h,
                path=shape_path(node.shape, box.w, box.h),
                short_label=short,
                caption=caption,
                href=links[0][1],
                classes=" ".join(classes),
                text_x=PAD + (extra / 2 if node.shape not in ("request", "oncecell") else 0),
                hover_label=hover_label,
                title=title,
                links=links,
                recentre=f"{recentre}&{recentre_query}" if recentre_query else recentre,
                trace=trace,
            )
        )
    for edge in graph.edges:
        route = route_of[(edge.src, edge.dst)]
        classes = ["gedge"]
        if edge.cross_process:
            classes.append("cross")
        if edge.in_cycle:
            classes.append("cyc")
        drawing.edges.append(
            DrawnEdgeView(
                edge=edge,
                src=index_of[edge.src],
                dst=index_of[edge.dst],
                path=route.path(),
                classes=" ".join(classes),
            )
        )
    if graph.options.colour != "state":
        drawing.groups = [(g, colour_of[g]) for g in groups]
    seen = []
    for node in graph.nodes:
        if node.shape not in seen:
            seen.append(node.shape)
    drawing.shapes = [(s, shape_path(s, 40, 16), SHAPE_NAMES.get(s, s)) for s in sorted(seen)]
    return drawing
