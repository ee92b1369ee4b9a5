"""Above the size cap nothing is drawn: the result says how big the graph is
and the page offers narrower graphs."""

import re
from html import unescape

from tests.graph.conftest import draw


def test_a_neighbourhood_over_the_node_cap_is_too_big(hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 30
    graph = draw(hub, node_id="task:hub-1:0", depth=2)
    assert graph.too_big
    assert graph.nodes == [] and graph.edges == []
    # holder <- big lock <- 40 waiters, counted exactly.
    assert graph.exact
    assert graph.depth_counts == [1, 1, 40]
    assert graph.node_count == 42
    assert graph.kind_counts == {"task": 41, "lock": 1}
    assert graph.fitting_depth() == 1


def test_under_the_cap_the_same_neighbourhood_is_drawn(hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 42
    graph = draw(hub, node_id="task:hub-1:0", depth=2)
    assert not graph.too_big
    assert len(graph.nodes) == 42


def test_the_edge_cap_counts_too(hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_EDGES = 40
    graph = draw(hub, node_id="task:hub-1:0", depth=2)
    assert graph.too_big
    assert graph.edge_count == 41


def test_counting_stops_early_on_a_huge_hub(hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 2  # counts up to 20 nodes, then gives up
    graph = draw(hub, node_id="task:hub-1:0", depth=3)
    assert graph.too_big
    assert not graph.exact
    assert graph.node_count > 20


def test_the_whole_scope_over_the_cap_is_counted_in_sql(hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 10
    graph = draw(hub)
    assert graph.too_big
    assert graph.node_count == 42
    assert graph.kind_counts == {"task": 41, "lock": 1}
    # Narrowing by kind brings it under the cap.
    assert not draw(hub, kinds=frozenset({"lock"})).too_big


def test_the_page_offers_narrower_graphs_instead_of_drawing(client, hub, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 30
    response = client.get(f"/snapshots/{hub}/graph/", {"node": "task:hub-1:0", "depth": "2"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Too big to draw" in html
    assert '<svg class="graph-svg' not in html
    links = [unescape(h) for h in re.findall(r'<li><a href="([^"]+)">', html)]
    assert f"/snapshots/{hub}/graph/?node=task%3Ahub-1%3A0&depth=1" in links
    without_tasks = [h for h in links if "kind=lock" in h]
    assert without_tasks and "kind=task" not in without_tasks[0]
    # Following the depth link draws.
    response = client.get(f"/snapshots/{hub}/graph/?node=task%3Ahub-1%3A0&depth=1")
    assert b"Too big to draw" not in response.content
    assert b'class="graph-svg' in response.content
