"""The graph page: the `needs` neighbourhood of a node, drawn as server-side
SVG (links, tooltips and a list work without JavaScript; static/js/graph.js
adds pan, zoom and hover highlighting). See docs/graph.md for why SVG."""

from django.http import QueryDict
from django.shortcuts import render

from snapshots.graph import replay as replays
from snapshots.graph.neighbourhood import (
    COLOUR_MODES,
    MAX_DEPTH,
    GraphOptions,
    build_graph,
    max_edges,
    max_nodes,
)
from snapshots.graph.svg import draw
from snapshots.pages.views.common import render_page, scoped_page
from snapshots.queries import QueryError
from snapshots.states import STATE_CLASSES


@scoped_page
def graph(request):
    scope = request.snapshot_scope
    options = GraphOptions.from_query(request.GET)
    try:
        replay = replays.from_query(scope, request.GET, options)
    except QueryError as e:
        return render(request, "pages/bad_request.html", {"error": e}, status=400)
    # The live view offers replay: its window, pinned now (a replay's own).
    window = replay.window if replay else (replays.window() if scope.is_live else None)
    if replay:
        scope = replay.scope  # the captures of the step: drawn like any scope
    result = build_graph(scope, options)
    recentre_query = _without(request.GET, "node")
    if replay:
        # A focus absent at this step: its neighbourhood of other steps, as ghosts.
        replay.focus_gone = result.focus_missing
        result.focus_missing = False
        drawing = replay.draw(result, recentre_query)
    else:
        drawing = draw(result, scope.key, recentre_query) if result.nodes else None
    kinds = _kinds_in(scope)
    context = {
        "active": "graph",
        "options": options,
        "graph": result,
        "drawing": drawing,
        "kinds": kinds,
        "processes": list(scope.processes().values_list("proc_key", flat=True)),
        "depths": range(1, MAX_DEPTH + 1),
        "colour_modes": COLOUR_MODES,
        "state_legend": [*STATE_CLASSES, "none"],
        "max_nodes": max_nodes(),
        "max_edges": max_edges(),
        "narrowing": _narrowing(request.GET, result, kinds) if result.too_big else [],
        "recentre_query": recentre_query,
        "replay": replay,
        "window": window,
        "live_query": _without(request.GET, "at", "until"),
    }
    return render_page(request, "pages/graph.html", context, partial="graph-body")


def _kinds_in(scope):
    """Node kinds of the scope, for the kind filter. Captures cache their
    counts once read (snapshots.queries); fall back to one DISTINCT query."""
    processes = list(scope.processes())
    if processes and all(p.count_cache for p in processes):
        return sorted({k for p in processes for k in p.count_cache.get("kinds", {})})
    return list(scope.nodes().values_list("kind", flat=True).distinct().order_by("kind"))


def _without(params, *names):
    q = params.copy()
    for name in names:
        q.pop(name, None)
    return q.urlencode()


def _with(params, **changes):
    q = params.copy()
    for name, value in changes.items():
        if isinstance(value, list):
            q.setlist(name, value)
        else:
            q[name] = value
    return q.urlencode()


def _narrowing(params, result, kinds):
    """Links to smaller graphs: (text, query string) pairs."""
    params = params if isinstance(params, QueryDict) else QueryDict(mutable=True)
    options = result.options
    links = []
    if options.node_id:
        depth = result.fitting_depth()
        if depth is not None and depth < options.depth:
            links.append(
                (f"depth {depth} ({_upto(result, depth):,} nodes)", _with(params, depth=str(depth)))
            )
        elif options.depth > 1:
            links.append(("depth 1", _with(params, depth="1")))
    shown = set(options.kinds) or set(kinds)
    for kind, n in list(result.kind_counts.items())[:4]:
        rest = sorted(shown - {kind})
        if kind in shown and rest:
            links.append((f"without {kind} ({n:,})", _with(params, kind=rest)))
    if not options.merge_channels or not options.merge_rpc:
        links.append(
            (
                "merge channel and request/response pairs",
                _with(params, merge_channels="1", merge_rpc="1"),
            )
        )
    if not options.node_id and not options.hide_isolated:
        links.append(("hide nodes without edges", _with(params, hide_isolated="1")))
    return links


def _upto(result, depth):
    return sum(result.depth_counts[: depth + 1])
