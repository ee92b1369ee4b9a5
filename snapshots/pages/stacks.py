"""Pending traces grouped by identical stack, like Go's `goroutine?debug=1`
(one entry per distinct stack, with its count), and those stacks merged into
one tree from the innermost frame, like Visual Studio's Parallel Stacks:
stacks that share where they are parked (their first frames, as listed
innermost first) share a branch, so "40 tasks wait in Mutex::lock, via 3
callers" shows.

Plain data in, plain data out. Sizes are bounded for the page, whatever the
number of stacks: the groups are listed longest wait first and a page shows
a slice of them; the tree keeps its biggest branches and counts the rest.
The tree is returned as a flat preorder list with depths, so templates
render it without recursion (a 500-frame stack must not hit Python's
recursion limit)."""

from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise

from snapshots.pages.traces import frame_text

TASKS_PER_BUCKET = 10  # tasks named per group; the rest are counted
SUMMARY_CHARS = 120  # of the innermost frame's first line, in a group's summary
# The tree: branches shown under each frame (most tasks first), and rows in
# all. Nesting depth is bounded by the rows, so browsers' nesting limits
# (Chromium flattens past 512) are never reached.
TREE_BRANCHES = 8
TREE_ROWS = 120
# Frames shown of a row's run of unbranched frames; its group has them all.
TREE_ROW_FRAMES = 3


@dataclass
class Bucket:
    frames: tuple  # frame texts, innermost first
    traces: list = field(default_factory=list)  # longest pending first
    number: int = 0  # 1-based position among the groups listed
    href: str = ""  # where the tree links to it (set by the view)

    @property
    def anchor(self):
        return f"stack-{self.number}"

    @property
    def count(self):
        return len(self.traces)

    @property
    def longest_us(self):
        durations = [t["duration_us"] for t in self.traces if t["duration_us"] is not None]
        return max(durations, default=None)

    @property
    def top(self):
        """The innermost frame's first line (its function), for the summary."""
        if not self.frames:
            return ""
        line = self.frames[0].split("\n", 1)[0]
        return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"

    @property
    def shown_traces(self):
        return self.traces[:TASKS_PER_BUCKET]

    @property
    def hidden_count(self):
        return max(0, self.count - TASKS_PER_BUCKET)

    def mentions(self, folded_text):
        """True when some frame contains `folded_text` (casefolded)."""
        return any(folded_text in text.casefold() for text in self.frames)


def group_by_stack(traces):
    """Buckets of traces with identical frame texts, longest wait first (a
    bucket without durations last), then the biggest, numbered from 1."""
    buckets = {}
    for t in traces:
        key = tuple(frame_text(f) for f in t["frames"])
        buckets.setdefault(key, Bucket(frames=key)).traces.append(t)
    for b in buckets.values():
        b.traces.sort(key=lambda t: (-(t["duration_us"] or 0), t["node_id"]))
    ordered = sorted(
        buckets.values(),
        key=lambda b: (b.longest_us is None, -(b.longest_us or 0), -b.count, b.frames),
    )
    for i, b in enumerate(ordered, 1):
        b.number = i
    return ordered


def search(buckets, q):
    """The buckets whose frames contain `q` as plain text, ignoring case,
    renumbered from 1 in the same order."""
    folded = q.casefold()
    found = [b for b in buckets if b.mentions(folded)]
    for i, b in enumerate(found, 1):
        b.number = i
    return found


def stack_tree(buckets, branches=TREE_BRANCHES, max_rows=TREE_ROWS):
    """The buckets' stacks merged on common prefixes (innermost frame first),
    as rows in preorder. A frame row: {depth, frames (the first
    TREE_ROW_FRAMES of a run of frames without a branch), frames_hidden (the
    rest of the run), count (tasks through it), bucket (the one whose stack
    ends there, or None), opens (its children follow, nested), closes (how
    many levels end after it)}. A row {depth, more, more_count} stands for
    the branches past `branches` under one frame. Returns (rows, complete):
    complete is False when `max_rows` cut the tree short."""
    root = {"children": {}, "count": 0, "end": None}
    for b in buckets:
        node = root
        for text in b.frames:
            child = node["children"].get(text)
            if child is None:
                child = node["children"][text] = {"children": {}, "count": 0, "end": None}
            child["count"] += b.count
            node = child
        node["end"] = b

    # Rows are chosen level by level, so the cap cuts the deepest branches
    # and every place where tasks are parked (the first level) is shown.
    top = {"kids": []}
    queue = deque((top, item) for item in _children(root, 0, branches))
    chosen = 0
    while queue and chosen < max_rows:
        parent, item = queue.popleft()
        chosen += 1
        if "more" in item:
            parent["kids"].append(item)
            continue
        node, text = item.pop("node"), item.pop("text")
        frames = [text]
        # Merge a chain of single children into one row.
        while len(node["children"]) == 1 and node["end"] is None:
            ((text, node),) = node["children"].items()
            frames.append(text)
        item.update(
            frames=frames[:TREE_ROW_FRAMES],
            frames_hidden=len(frames[TREE_ROW_FRAMES:]),
            count=node["count"],
            bucket=node["end"],
            kids=[],
        )
        parent["kids"].append(item)
        queue.extend((item, child) for child in _children(node, item["depth"] + 1, branches))

    # Preorder, iteratively (no recursion limit to reach).
    rows = []
    stack = top["kids"][::-1]
    while stack:
        row = stack.pop()
        rows.append(row)
        stack.extend(row.pop("kids", [])[::-1])
    # Nesting for the template: a row opens a level when the next row is its
    # child, and a row without children closes the levels the next row leaves.
    for row, following in pairwise([*rows, {"depth": 0}]):
        row["opens"] = following["depth"] > row["depth"]
        row["closes"] = range(0 if row["opens"] else row["depth"] - following["depth"])
    return rows, not queue


def _children(node, depth, branches):
    """A node's children as rows to be: the biggest `branches` of them, then
    one row counting the rest."""
    ordered = sorted(node["children"].items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    items = [{"node": child, "text": text, "depth": depth} for text, child in ordered[:branches]]
    rest = ordered[branches:]
    if rest:
        items.append(
            {"depth": depth, "more": len(rest), "more_count": sum(c["count"] for _, c in rest)}
        )
    return items
