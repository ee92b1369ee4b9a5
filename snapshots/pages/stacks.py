"""Pending traces grouped by identical stack, like Go's goroutine buckets,
and those stacks merged into one tree from the innermost frame: stacks that
share where they are parked (their first frames, as listed innermost first)
share a branch, so "40 tasks wait in Mutex::lock, via 3 callers" shows.

Plain data in, plain data out. The tree is returned as a flat preorder list
with depths, so templates render it without recursion (a 500-frame stack
must not hit Python's recursion limit)."""

from dataclasses import dataclass, field

from snapshots.pages.traces import frame_text

BUCKET_CAP = 300  # buckets shown; the rest are counted
TASKS_PER_BUCKET = 50


@dataclass
class Bucket:
    frames: tuple  # frame texts, innermost first
    traces: list = field(default_factory=list)  # longest pending first
    anchor: str = ""

    @property
    def count(self):
        return len(self.traces)

    @property
    def longest_us(self):
        durations = [t["duration_us"] for t in self.traces if t["duration_us"] is not None]
        return max(durations, default=None)

    @property
    def shown_traces(self):
        return self.traces[:TASKS_PER_BUCKET]

    @property
    def hidden_count(self):
        return max(0, self.count - TASKS_PER_BUCKET)


def group_by_stack(traces):
    """Buckets of traces with identical frame texts, biggest first, then the
    longest pending; returns (shown buckets, number of buckets not shown)."""
    buckets = {}
    for t in traces:
        key = tuple(frame_text(f) for f in t["frames"])
        buckets.setdefault(key, Bucket(frames=key)).traces.append(t)
    ordered = sorted(buckets.values(), key=lambda b: (-b.count, -(b.longest_us or 0), b.frames))
    for i, b in enumerate(ordered, 1):
        b.anchor = f"stack-{i}"
        b.traces.sort(key=lambda t: (-(t["duration_us"] or 0), t["node_id"]))
    return ordered[:BUCKET_CAP], max(0, len(ordered) - BUCKET_CAP)


def stack_tree(buckets):
    """The buckets' stacks merged on common prefixes (innermost frame first):
    rows in preorder, each {depth, frames (a run of frames without a branch),
    count (tasks through it), buckets (those whose stack ends here)}."""
    root = {"children": {}, "count": 0, "ends": []}
    for b in buckets:
        node = root
        for text in b.frames:
            node = node["children"].setdefault(text, {"children": {}, "count": 0, "ends": []})
            node["count"] += b.count
        node["ends"].append(b)

    rows = []
    # Iterative preorder; children in order of task count.
    stack = [(child, text, 0) for text, child in _ordered(root)][::-1]
    while stack:
        node, text, depth = stack.pop()
        frames = [text]
        # Merge a chain of single children into one row.
        while len(node["children"]) == 1 and not node["ends"]:
            ((text, node),) = node["children"].items()
            frames.append(text)
        rows.append(
            {"depth": depth, "frames": frames, "count": node["count"], "buckets": node["ends"]}
        )
        stack.extend([(c, t, depth + 1) for t, c in _ordered(node)][::-1])
    return rows


def _ordered(node):
    return sorted(node["children"].items(), key=lambda kv: (-kv[1]["count"], kv[0]))
