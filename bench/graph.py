"""Graph view benchmark (issue 3, item 9): what it costs to draw a
neighbourhood at the size cap, server side and in the browser, measured side
by side with the client-side alternative (cytoscape.js + dagre) on the very
same graph.

    .venv/bin/python bench/graph.py
    scripts/pg run .venv/bin/python bench/graph.py       # on PostgreSQL
    .venv/bin/python bench/graph.py --no-browser         # server side only

It stores a snapshot of a stressed service (10,000 background tasks plus a
lock whose depth-2 neighbourhood is ~260 nodes / ~580 edges, just under the
300 / 600 cap) and times, median of --repeat runs:

  walk      snapshots.graph.neighbourhood.build_graph (the indexed BFS, SQL included)
  layout    the layered layout + shapes (snapshots.graph.svg.draw)
  page      the whole page through the test client (walk + layout + template)

and the layout alone on a random 300-node / 600-edge graph (a worst case:
long chains, many dummy points). With Chromium (and npm for the comparison)
it then loads, from files, (a) the server-rendered page and (b) a page that
lays out and draws the same graph with cytoscape.js + cytoscape-dagre
(fetched with `npm pack` into a temp dir, not vendored), and reports for each
the time from navigation start until the graph is painted, plus bytes of
script. The ratio printed is (b) / (server page + (a)).
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402

CYTOSCAPE = ("cytoscape@3.34.4", "cytoscape-dagre@4.0.1")
KEY = "svc-1"


def make_doc(background=10_000, seed=1):
    """A lock `db_pool` held by 3 tasks and awaited by 57; each of those 60
    tasks needs a future, a channel sender, a request and a semaphore, and
    has a parent task that also needs its future. Plus background chains."""
    rng = random.Random(seed)
    nodes, edges = [], []

    def node(kind, rest, label, **attrs):
        node_id = f"{kind}:{KEY}:{rest}"
        nodes.append({"id": node_id, "kind": kind, "label": label, "attrs": attrs})
        return node_id

    def edge(src, dst):
        edges.append({"src_id": src, "dst_id": dst, "kind": "needs"})

    states = ["pending"] * 5 + ["running", "ready", "sleeping"]
    lock = node("lock", "db_pool", "db_pool", name="db_pool", lock_kind="mutex")
    txs = [node("mpsc_tx", f"queue_{i}:tx", f"queue_{i} tx", name=f"queue_{i}") for i in range(30)]
    rxs = [node("mpsc_rx", f"queue_{i}:rx", f"queue_{i} rx", name=f"queue_{i}") for i in range(30)]
    for tx, rx in zip(txs, rxs, strict=True):
        edge(tx, rx)
    sems = [node("semaphore", f"s{i}", f"permits_{i}", permits_total=4) for i in range(10)]
    parents = [
        node("task", 100_000 + i, f"supervisor_{i}", task_id=100_000 + i, state="pending")
        for i in range(40)
    ]
    for i in range(60):
        t = node("task", i, f"conn_handler_{i}", task_id=i, state=rng.choice(states))
        edge(lock, t) if i < 3 else edge(t, lock)
        fut = node("future", i, f"read_frame_{i}", future_id=i)
        req = node("request", f"conn_{i}:{i}", "Store.get", method="Store.get",
                   correlation_key=f"conn_{i}:{i}")  # fmt: skip
        edge(t, fut)
        edge(t, txs[i % 30])
        edge(t, req)
        edge(t, sems[i % 10])
        edge(fut, txs[(i * 7) % 30])
        parent = parents[i % 40]
        edge(parent, t)
        edge(parent, fut)
        if i % 2:
            edge(parents[(i * 3) % 40], t)
    for j, p in enumerate(parents):
        edge(p, sems[j % 10])
    for b in range(background):
        t = node("task", 200_000 + b, f"worker_{b}", task_id=200_000 + b, state="pending")
        if b % 10:
            edge(t, f"task:{KEY}:{200_000 + b - 1}")
    return {"process": "svc", "pid": 1, "proc_key": KEY, "nodes": nodes, "edges": edges}


CPU = {}  # label -> median CPU ms of this process (SQLite runs in it too)


def median_ms(fn, repeat, label=None):
    """Median wall ms (and, under `label`, median CPU ms) of fn()."""
    times, cpu = [], []
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    if label:
        CPU[label] = statistics.median(cpu)
    return statistics.median(times), result


def random_graph(n=300, m=600, seed=1):
    rng = random.Random(seed)
    nodes = [(f"n{i}", rng.randint(64, 300), 36) for i in range(n)]
    edges = sorted({(f"n{rng.randrange(n)}", f"n{rng.randrange(n)}") for _ in range(m)})
    return nodes, edges


# -- browser -------------------------------------------------------------------------------

PAINTED = """
<script>
// Two animation frames after the graph is in the DOM: it has been painted.
window.__painted = new Promise(function (done) {
  function frames() { requestAnimationFrame(function () { requestAnimationFrame(function () {
    done(performance.now()); }); }); }
  if (window.__graphReady) window.__graphReady.then(frames);
  else if (document.readyState === "complete") frames();
  else window.addEventListener("load", frames);
});
</script>
"""

CYTO_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body{{margin:0}} #cy{{width:1400px;height:800px}}</style>
<script src="cytoscape.min.js"></script><script src="cytoscape-dagre.min.js"></script>
</head><body><div id="cy"></div>
<script id="graph-data" type="application/json">{data}</script>
<script>
window.__graphReady = new Promise(function (ready) {{
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  cytoscape.use(cytoscapeDagre);
  var t0 = performance.now();
  var cy = cytoscape({{
    container: document.getElementById("cy"),
    elements: data,
    style: [
      {{selector: "node", style: {{"label": "data(label)", "shape": "round-rectangle",
        "width": "data(w)", "height": 36, "font-size": 12, "text-valign": "center"}}}},
      {{selector: "edge", style: {{"curve-style": "bezier", "target-arrow-shape": "triangle"}}}}
    ],
    layout: {{name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 56}}
  }});
  window.__layoutMs = performance.now() - t0;
  ready();
}});
</script>
{painted}</body></html>"""


def fetch_cytoscape(dest):
    for spec in CYTOSCAPE:
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True,
                       capture_output=True, timeout=180)  # fmt: skip
    for tgz in Path(dest).glob("*.tgz"):
        out = Path(dest) / tgz.stem
        out.mkdir()
        subprocess.run(["tar", "xzf", str(tgz), "-C", str(out)], check=True)
    shutil.copy(next(Path(dest).glob("cytoscape-3*/package/dist/cytoscape.min.js")), dest)
    shutil.copy(next(Path(dest).glob("cytoscape-dagre*/package/dist/cytoscape-dagre.min.js")), dest)


def browser_times(chromium, pages, repeat, screenshot=None):
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for name, url in pages.items():
                times = []
                for _ in range(repeat):
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(url)
                    times.append(page.evaluate("window.__painted"))
                    if screenshot and name == "server SVG":
                        page.screenshot(path=screenshot, full_page=True)
                        screenshot = None
                    page.close()
                results[name] = statistics.median(times)
        finally:
            browser.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--background", type=int, default=10_000)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--screenshot", help="save a PNG of the server-drawn page here")
    parser.add_argument(
        "--chromium", default=os.environ.get("PEEPSWEB_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    setup_django("graph")

    from django.test import Client

    from snapshots.graph.layout import layout
    from snapshots.graph.neighbourhood import GraphOptions, build_graph
    from snapshots.graph.svg import draw
    from snapshots.ingest import ingest_document
    from snapshots.models import Snapshot
    from snapshots.scope import resolve_scope

    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (wall times below grow with it)")
    t0 = time.perf_counter()
    proc = ingest_document(make_doc(args.background))
    sid = proc.snapshot_id
    print(f"ingested snapshot {sid}: {proc.node_count} nodes, {proc.edge_count} edges "
          f"in {time.perf_counter() - t0:.1f}s")  # fmt: skip
    try:
        scope = resolve_scope(str(sid))
        options = GraphOptions(node_id=f"lock:{KEY}:db_pool", depth=2)
        walk_ms, graph = median_ms(lambda: build_graph(scope, options), args.repeat, "walk")
        assert not graph.too_big, (graph.node_count, graph.edge_count)
        layout_ms, drawing = median_ms(lambda: draw(graph, scope.key), args.repeat, "layout")
        client = Client()
        url = f"/snapshots/{sid}/graph/?node=lock:{KEY}:db_pool&depth=2"
        page_ms, response = median_ms(lambda: client.get(url), args.repeat, "page")
        html = response.content.decode()
        nodes, edges = random_graph()
        worst_ms, _ = median_ms(lambda: layout(nodes, edges), max(3, args.repeat // 2), "worst")

        print(f"neighbourhood: {len(graph.nodes)} nodes, {len(graph.edges)} edges, "
              f"{drawing.width}x{drawing.height} px, page {len(html) / 1024:.0f} KiB")  # fmt: skip
        print("server side, median wall ms (CPU ms of this process):")
        print(f"  walk (BFS + SQL)         {walk_ms:8.1f} ({CPU['walk']:.1f})")
        print(f"  layout + shapes          {layout_ms:8.1f} ({CPU['layout']:.1f})")
        print(f"  whole page (server)      {page_ms:8.1f} ({CPU['page']:.1f})")
        print(f"  layout only, random 300 nodes / 600 edges: {worst_ms:.1f} ({CPU['worst']:.1f})")
        if args.no_browser:
            return
        if not os.access(args.chromium, os.X_OK):
            print(f"no Chromium at {args.chromium}: browser part skipped")
            return
        tmp = Path(tempfile.mkdtemp(prefix="peepsweb-graph-bench-"))
        static = (ROOT / "static").as_uri() + "/"
        svg_page = re.sub(r'(src|href)="/static/', rf'\1="{static}', html)
        svg_page = svg_page.replace("</body>", PAINTED + "</body>")
        (tmp / "svg.html").write_text(svg_page)
        pages = {"server SVG": (tmp / "svg.html").as_uri()}
        elements = [
            {"data": {"id": n.id, "label": n.label[:36], "w": v.w}}
            for n, v in ((v.node, v) for v in drawing.nodes)
        ] + [{"data": {"source": e.src, "target": e.dst}} for e in graph.edges]
        try:
            fetch_cytoscape(tmp)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"npm pack failed ({exc}): cytoscape comparison skipped")
        else:
            # json.dumps escapes nothing HTML-wise; the bench data has no "</".
            (tmp / "cyto.html").write_text(
                CYTO_PAGE.format(data=json.dumps(elements), painted=PAINTED)
            )
            pages["cytoscape + dagre"] = (tmp / "cyto.html").as_uri()
        times = browser_times(args.chromium, pages, args.repeat, args.screenshot)
        svg_total = page_ms + times["server SVG"]
        print("browser, navigation start -> graph painted (median):")
        print(f"  server SVG page          {times['server SVG']:8.1f} ms"
              f"  (+ {page_ms:.1f} ms server = {svg_total:.1f} ms)")  # fmt: skip
        if "cytoscape + dagre" in times:
            cyto = times["cytoscape + dagre"]
            js = sum(f.stat().st_size for f in tmp.glob("cytoscape*.min.js"))
            print(f"  cytoscape + dagre        {cyto:8.1f} ms  ({js / 1024:.0f} KiB of script)")
            print(f"ratio cytoscape / server SVG (server + browser): {cyto / svg_total:.2f}")
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        Snapshot.objects.filter(id=sid).delete()


if __name__ == "__main__":
    main()
