"""Coordinates of the small cycle drawing."""

from snapshots.cycles.drawing import MAX_DRAWN, ring

NODES = {
    "task:a:1": {"kind": "task", "name": "one", "process": "a", "state_class": "waiting"},
    "lock:a:l": {"kind": "lock", "name": "l" * 40, "process": "a"},
    "task:b:2": {"kind": "task", "name": "two", "process": "b"},
}


def test_nodes_go_clockwise_from_the_top_with_one_arrow_each():
    drawing = ring(["task:a:1", "lock:a:l", "task:b:2"], NODES, link=lambda i: f"/n/{i}")
    top, right, left = drawing["nodes"]
    assert top["y"] < right["y"] and top["y"] < left["y"]
    assert right["x"] > top["x"] > left["x"]
    assert len(drawing["edges"]) == 3
    assert [n["shape"] for n in drawing["nodes"]] == ["task", "lock", "task"]
    assert top["href"] == "/n/task:a:1"
    assert drawing["cross_process"] is True
    for node in drawing["nodes"]:
        assert 0 <= node["x"] <= drawing["width"] and 0 <= node["y"] <= drawing["height"]


def test_long_labels_are_cut_and_kept_whole_for_the_tooltip():
    drawing = ring(["task:a:1", "lock:a:l"], NODES)
    lock = drawing["nodes"][1]
    assert len(lock["label"]) == 22 and lock["label"].endswith("…")
    assert lock["full_label"] == "l" * 40
    assert drawing["cross_process"] is False


def test_a_self_loop_is_an_arc_above_its_node():
    drawing = ring(["task:a:1"], NODES)
    [edge] = drawing["edges"]
    assert edge["path"].startswith("M") and " C" in edge["path"]
    assert drawing["nodes"][0]["y"] > 60  # room for the arc above it


def test_a_cycle_too_long_is_not_drawn():
    cycle = [f"task:a:{i}" for i in range(MAX_DRAWN + 1)]
    assert ring(cycle, {}) is None
    assert ring([], {}) is None


def test_the_process_line_of_the_top_node_stays_off_the_node():
    drawing = ring(["task:a:1", "lock:a:l", "task:b:2"], NODES)
    top = drawing["nodes"][0]
    assert top["label_y"] < top["sub_y"] < top["y"] - drawing["h"] / 2
