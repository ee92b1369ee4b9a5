"""The cycle finder over plain graphs: components, cycles, signals, ranking."""

import numpy as np

from snapshots.cycles import finder
from snapshots.cycles.finder import factorize, find_candidates, strong_components

from .helpers import assert_real_simple_cycle, info, source, tasks_source


def test_an_acyclic_graph_has_no_candidate():
    pairs = [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")]
    assert find_candidates(pairs, tasks_source(pairs)).candidates == []


def test_an_empty_graph_has_no_candidate():
    assert find_candidates([]).candidates == []


def test_a_self_loop_is_a_candidate_of_one_member():
    pairs = [("a", "a"), ("b", "a")]
    result = find_candidates(pairs, tasks_source(pairs))
    [c] = result.candidates
    assert c.members == ["a"]
    assert c.cycle == ["a"]
    assert c.edges[0]["src_id"] == c.edges[0]["dst_id"] == "a"
    assert c.blocked_task_count == 2  # a itself and b, which needs it


def test_a_self_loop_inside_a_bigger_component_gives_one_candidate():
    pairs = [("a", "b"), ("b", "a"), ("b", "b")]
    [c] = find_candidates(pairs, tasks_source(pairs)).candidates
    assert sorted(c.members) == ["a", "b"]
    assert_real_simple_cycle(c.cycle, pairs)


def test_each_component_with_a_cycle_is_one_candidate():
    pairs = [("a", "b"), ("b", "a"), ("c", "d"), ("d", "e"), ("e", "c"), ("e", "f"), ("x", "x")]
    result = find_candidates(pairs, tasks_source(pairs))
    assert sorted(sorted(c.members) for c in result.candidates) == [
        ["a", "b"],
        ["c", "d", "e"],
        ["x"],
    ]
    for c in result.candidates:
        assert_real_simple_cycle(c.cycle, pairs)


def test_a_component_with_several_cycles_reports_one_real_simple_cycle():
    # A figure eight and a long detour: many cycles share node "a".
    pairs = [
        ("a", "b"), ("b", "a"),
        ("a", "c"), ("c", "d"), ("d", "a"),
        ("b", "e"), ("e", "f"), ("f", "g"), ("g", "b"),
        ("d", "b"), ("g", "c"),
    ]  # fmt: skip
    [c] = find_candidates(pairs, tasks_source(pairs)).candidates
    assert sorted(c.members) == ["a", "b", "c", "d", "e", "f", "g"]
    assert_real_simple_cycle(c.cycle, pairs)
    # the members not on the cycle shown follow it
    assert c.members[: len(c.cycle)] == c.cycle


def test_the_cycle_goes_through_the_longest_waiting_task():
    pairs = [("task:p:1", "task:p:2"), ("task:p:2", "task:p:1"),
             ("task:p:2", "task:p:3"), ("task:p:3", "task:p:2")]  # fmt: skip
    src = source(
        info("task:p:1", pending_us=1_000_000),
        info("task:p:2", pending_us=2_000_000),
        info("task:p:3", pending_us=9_000_000),
    )
    [c] = find_candidates(pairs, src).candidates
    assert c.cycle == ["task:p:3", "task:p:2"]
    assert c.worst_wait_ns == 9_000_000_000


def test_the_cycle_is_the_shortest_one_through_that_task():
    pairs = [("t1", "t2"), ("t2", "t3"), ("t3", "t4"), ("t4", "t1"), ("t3", "t1")]
    [c] = find_candidates(pairs, tasks_source(pairs)).candidates
    assert c.cycle == ["t1", "t2", "t3"]


def test_the_longest_wait_comes_from_elapsed_ns_too():
    pairs = [("request:a:1", "response:b:1"), ("response:b:1", "request:a:1")]
    src = source(
        info("request:a:1", attrs={"elapsed_ns": 7_000_000_000}),
        info("response:b:1", attrs={"elapsed_ns": 3}),
    )
    [c] = find_candidates(pairs, src).candidates
    assert c.worst_wait_ns == 7_000_000_000
    assert c.cross_process


def test_it_counts_the_tasks_that_transitively_need_a_member():
    pairs = [
        ("task:p:1", "lock:p:a"), ("lock:p:a", "task:p:2"), ("task:p:2", "lock:p:b"),
        ("lock:p:b", "task:p:1"),
        ("task:p:3", "task:p:1"), ("task:p:4", "task:p:3"), ("future:p:f", "task:p:4"),
        ("task:p:5", "future:p:f"),
        ("task:p:6", "task:p:7"),  # unrelated
        ("task:p:2", "task:p:8"),  # downstream of the cycle: not blocked by it
    ]  # fmt: skip
    src = source(*(info(x) for pair in pairs for x in pair))
    [c] = find_candidates(pairs, src).candidates
    assert c.blocked_task_count == 5  # 1, 2 (members) + 3, 4, 5


def test_upstream_switches_to_the_c_bfs_past_its_budget(monkeypatch):
    monkeypatch.setattr(finder, "PY_BFS_BUDGET", 10)
    pairs = [("a", "b"), ("b", "a")] + [(f"u{i}", "a") for i in range(50)]
    [c] = find_candidates(pairs, tasks_source(pairs)).candidates
    assert c.blocked_task_count == 52


def test_large_upstream_sets_are_recomputed_instead_of_kept(monkeypatch):
    monkeypatch.setattr(finder, "KEEP_UPSTREAM", 3)
    pairs = [("a", "a"), ("b", "b"), ("a", "b")] + [(f"u{i}", "a") for i in range(5)]
    counts = sorted(
        c.blocked_task_count for c in find_candidates(pairs, tasks_source(pairs)).candidates
    )
    assert counts == [6, 7]  # a + 5 upstream; b + a + 5 upstream


def test_a_lock_cycle_without_escape_is_high_confidence_danger():
    pairs = [("task:p:1", "lock:p:a"), ("lock:p:a", "task:p:1")]
    src = source(info("task:p:1", state_class="waiting", pending_us=5_000_000), info("lock:p:a"))
    [c] = find_candidates(pairs, src).candidates
    assert (c.confidence, c.severity, c.confidence_reason) == ("high", "danger", "")


def test_a_receiver_in_the_cycle_lowers_confidence():
    pairs = [("task:p:1", "mpsc_rx:p:q"), ("mpsc_rx:p:q", "task:p:1")]
    src = source(info("task:p:1"), info("mpsc_rx:p:q", attrs={"name": "q"}))
    [c] = find_candidates(pairs, src).candidates
    assert c.confidence == "medium"
    assert c.severity == "warn"
    assert "receiver q rx can be fed by a sender outside the cycle" in c.confidence_reason


def test_a_receiver_whose_only_sender_is_in_the_cycle_keeps_high_confidence():
    pairs = [("task:p:1", "mpsc_rx:p:q"), ("mpsc_rx:p:q", "mpsc_tx:p:q"),
             ("mpsc_tx:p:q", "task:p:1")]  # fmt: skip
    src = source(
        info("task:p:1"),
        info("mpsc_rx:p:q", attrs={"name": "q"}),
        info("mpsc_tx:p:q", attrs={"name": "q", "sender_count": 1}),
    )
    [c] = find_candidates(pairs, src).candidates
    assert c.confidence == "high"


def test_a_timer_or_socket_lowers_confidence():
    for kind in ("timer", "tcp_socket", "sleep"):
        pairs = [("task:p:1", f"x:p:{kind}"), (f"x:p:{kind}", "task:p:1")]
        src = source(info("task:p:1"), info(f"x:p:{kind}", kind=kind))
        [c] = find_candidates(pairs, src).candidates
        assert c.confidence == "medium", kind
        assert "I/O or the clock" in c.confidence_reason


def test_a_request_whose_response_is_outside_the_cycle_lowers_confidence():
    pairs = [("task:a:1", "request:a:r"), ("request:a:r", "task:a:1")]
    src = source(info("task:a:1"), info("request:a:r", attrs={"method": "Get", "peer": "db"}))
    [c] = find_candidates(pairs, src).candidates
    assert c.confidence == "medium"
    assert "request Get can be answered or time out from peer db" in c.confidence_reason


def test_a_running_or_finished_task_lowers_confidence():
    pairs = [("task:p:1", "task:p:2"), ("task:p:2", "task:p:1")]
    src = source(
        info("task:p:1", state="polling", state_class="running", attrs={"name": "a"}),
        info("task:p:2", state="completed", state_class="done", attrs={"name": "b"}),
    )
    [c] = find_candidates(pairs, src).candidates
    assert c.confidence == "medium"
    assert "task a is polling, not waiting" in c.confidence_reason
    assert "task b is already completed" in c.confidence_reason


def test_a_short_wait_makes_a_certain_cycle_only_a_warning():
    pairs = [("task:p:1", "lock:p:a"), ("lock:p:a", "task:p:1")]
    src = source(info("task:p:1", pending_us=200_000), info("lock:p:a"))
    [c] = find_candidates(pairs, src).candidates
    assert (c.confidence, c.severity) == ("high", "warn")


def test_score_follows_the_documented_formula():
    assert finder.score_of("high", 3, 41_500_000_000) == 19.3
    assert finder.score_of("medium", 3, 41_500_000_000) == 9.6
    assert finder.score_of("high", 0, 0) == 0.0


def test_candidates_come_worst_first():
    pairs = [
        ("task:p:1", "lock:p:a"), ("lock:p:a", "task:p:1"),  # danger, 1 task
        ("task:p:2", "mpsc_rx:p:q"), ("mpsc_rx:p:q", "task:p:2"),  # warn, many blocked
        ("task:p:3", "lock:p:b"), ("lock:p:b", "task:p:4"), ("task:p:4", "lock:p:c"),
        ("lock:p:c", "task:p:3"), ("task:p:5", "task:p:3"),  # danger, 3 tasks
    ] + [(f"task:p:w{i}", "task:p:2") for i in range(20)]  # fmt: skip
    src = source(*(info(x) for pair in pairs for x in pair))
    result = find_candidates(pairs, src)
    ranked = [(c.severity, c.blocked_task_count) for c in result.candidates]
    assert ranked == [("danger", 3), ("danger", 1), ("warn", 21)]


def test_over_the_cap_the_largest_components_are_kept(monkeypatch):
    monkeypatch.setattr(finder, "MAX_CANDIDATES", 2)
    pairs = [("a", "a"), ("b", "c"), ("c", "b"), ("d", "e"), ("e", "f"), ("f", "d")]
    result = find_candidates(pairs, tasks_source(pairs))
    assert result.truncated_from == 3
    assert sorted(len(c.members) for c in result.candidates) == [2, 3]


def test_duplicate_edges_do_not_change_the_result():
    pairs = [("a", "b"), ("b", "a"), ("a", "b"), ("a", "b")]
    [c] = find_candidates(pairs, tasks_source(pairs)).candidates
    assert sorted(c.cycle) == ["a", "b"]
    assert len(c.edges) == 2


def test_unknown_nodes_still_get_a_sentence():
    pairs = [("x", "y"), ("y", "x")]
    [c] = find_candidates(pairs).candidates
    assert all(e["explanation"] for e in c.edges)


def test_a_ring_longer_than_any_recursion_limit_is_one_component():
    n = 200_000  # deeper than any recursion limit
    pairs = [(str(i), str(i + 1)) for i in range(n)] + [(str(n), "0")]
    labels = strong_components(factorize(pairs))
    assert len(set(labels.tolist())) == 1


def test_factorize_numbers_ids_in_order_of_first_appearance():
    graph = factorize([("b", "a"), ("a", "c")])
    assert graph.ids == ["b", "a", "c"]
    assert graph.src.tolist() == [0, 1]
    assert graph.dst.tolist() == [1, 2]
    assert graph.src.dtype == np.int32
