"""snapshots.node_kinds is the one place that knows the kinds: the cycle
finder's sentences, the graph's shapes, and the kind tables agree on them,
for peeps' channel families and any other family alike."""

import pytest

from snapshots import node_kinds
from snapshots.cycles.explain import kind_word
from snapshots.graph.svg import shape_of
from snapshots.pages.kinds import group_of


@pytest.mark.parametrize("family", [*node_kinds.CHANNEL_FAMILIES, "flume", "async-channel"])
def test_a_channel_of_any_family_is_a_channel_everywhere(family):
    tx, rx = f"{family}_tx", f"{family}_rx"
    assert (kind_word(tx), kind_word(rx)) == ("sender", "receiver")
    assert (shape_of(tx), shape_of(rx)) == ("channel_tx", "channel_rx")
    assert group_of(tx) == group_of(rx) == "channels"
    assert node_kinds.channel_family(tx) == node_kinds.channel_family(rx) == family


def test_every_canonical_kind_has_a_word_and_other_kinds_are_named_as_they_are():
    assert kind_word("oncecell") == "once-cell"
    assert all(kind_word(k) == node_kinds.word(k) for k in node_kinds.CANONICAL)
    assert kind_word("gizmo") == "gizmo"
    assert shape_of("gizmo") == "unknown"
