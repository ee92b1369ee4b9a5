"""The graph page: the `needs` neighbourhood of a node, drawn as SVG.

- neighbourhood.py: `build_graph(scope, GraphOptions)`, what to draw (the walk,
  filters, merged pairs, cycle marks); no drawing;
- layout.py: a layered layout of those nodes and edges, pure Python;
- svg.py: node sizes, shapes and edge paths for templates/pages/_graph_svg.html;
- views.py: the page itself.

docs/graph.md describes each step and its limits.
"""
