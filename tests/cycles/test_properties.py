"""The finder against networkx on random graphs (hypothesis)."""

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from snapshots.cycles.finder import factorize, find_candidates, strong_components

from .helpers import assert_real_simple_cycle, tasks_source


@st.composite
def graphs(draw, max_nodes=14):
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    nodes = [f"task:p:{i}" for i in range(n)]
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=3 * n)
    )
    return pairs


def nx_graph(pairs):
    g = nx.DiGraph()
    g.add_edges_from(pairs)
    return g


def nx_cyclic_components(g):
    return {
        frozenset(c)
        for c in nx.strongly_connected_components(g)
        if len(c) > 1 or g.has_edge(next(iter(c)), next(iter(c)))
    }


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_candidates_are_exactly_the_cyclic_components_of_networkx(pairs):
    result = find_candidates(pairs, tasks_source(pairs))
    found = {frozenset(c.members) for c in result.candidates}
    assert found == nx_cyclic_components(nx_graph(pairs))
    for c in result.candidates:
        assert len(c.members) == len(set(c.members))


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_every_reported_cycle_is_a_simple_cycle_of_networkx(pairs):
    g = nx_graph(pairs)
    for c in find_candidates(pairs, tasks_source(pairs)).candidates:
        assert_real_simple_cycle(c.cycle, pairs)
        assert set(c.cycle) <= set(c.members)
        # networkx lists it among the simple cycles of the component
        sub = g.subgraph(c.members)
        rotations = {
            tuple(cyc[i:] + cyc[:i])
            for cyc in nx.simple_cycles(sub, length_bound=len(c.cycle))
            for i in range(len(cyc))
        }
        assert tuple(c.cycle) in rotations


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_blocked_task_count_is_the_reverse_reachable_set(pairs):
    g = nx_graph(pairs)
    for c in find_candidates(pairs, tasks_source(pairs)).candidates:
        member = c.members[0]
        upstream = nx.ancestors(g, member) | {member}
        assert c.blocked_task_count == len(upstream)


@settings(max_examples=300, deadline=None)
@given(graphs(max_nodes=30))
def test_strong_components_match_networkx(pairs):
    graph = factorize(pairs)
    labels = strong_components(graph)
    groups = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(graph.ids[i])
    expected = {frozenset(c) for c in nx.strongly_connected_components(nx_graph(pairs))}
    assert {frozenset(c) for c in groups.values()} == expected
