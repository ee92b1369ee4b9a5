"""Frames carry their source line (SNAPSHOT_FORMAT.md v1.1): the client's
format_frame writes it, and the inspector, the backtraces page and the
cycles page show it under file:line, escaped and capped."""

import re

import pytest
from django.template import Context, Template
from django.urls import reverse
from peepsweb_client.builder import SnapshotBuilder, format_frame

from snapshots.pages.traces import FRAME_MORE_LINES, FRAME_PART_CHARS, frame_parts
from tests.cycles.helpers import producer_consumer_document


def post(client, body):
    response = client.post("/api/v1/snapshots", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    return str(response.json()["snapshot_id"])


def source_under(location, escaped_source):
    """The markup of a source line right under its `at file:line` line."""
    span = '<span class="frame-src" title="source line">'
    return f"    at {location}\n{span}    | {escaped_source}</span>"


PRODUCE = source_under(
    "shop/app.py:12", "await jobs.put(f&quot;&lt;order {n}&gt;&quot;)  # a | in code"
)
MAIN = source_under("shop/app.py:30", "await asyncio.gather(produce(), consume())")
CONSUME = source_under("shop/app.py:20", "async with db:  # &lt;b&gt;orders&lt;/b&gt;")


@pytest.fixture
def shop(client, db):
    return post(client, producer_consumer_document())


def test_the_inspector_shows_each_frames_source_under_its_location(client, shop):
    html = client.get(reverse("pages:node", args=[shop, "task:shop-77:1"])).content.decode()
    assert f"<li>produce\n{PRODUCE}</li><li>main\n{MAIN}</li>" in html
    # the copy-as-text block keeps the frame's own lines
    assert "#0   produce\n         at shop/app.py:12\n         | await jobs.put(" in html


def test_the_backtraces_page_shows_the_source_in_groups_and_in_the_tree(client, shop):
    html = client.get(reverse("pages:backtraces", args=[shop])).content.decode()
    assert f"<li>produce\n{PRODUCE}</li>" in html  # the group's frame list
    assert f'<span class="frame">produce\n{PRODUCE}</span>' in html  # the stack tree
    assert CONSUME in html


def test_the_cycles_page_shows_the_source_in_each_participants_trace(client, shop):
    html = client.get(reverse("cycles:page", args=[shop])).content.decode()
    assert f"<li>produce\n{PRODUCE}</li><li>main\n{MAIN}</li>" in html
    assert f"<li>consume\n{CONSUME}</li>" in html


def test_a_frame_without_source_shows_as_before(client, db):
    b = SnapshotBuilder("old", pid=1)
    b.task(1, "t")
    b.pending_trace(1, ["Mutex::lock\n    at src/db.rs:42:17"], duration_us=5)
    html = client.get(reverse("pages:node", args=[post(client, b.build()), "task:old-1:1"]))
    assert "<li>Mutex::lock\n    at src/db.rs:42:17</li>" in html.content.decode()


HOSTILE_FRAMES = [
    # extra lines after the source, a second "|" line, markup in each
    "f\n    at a.py:1\n    | x = 1\n    | <b>y</b>\n</li></ol><script>alert(1)</script>",
    # "|" outside the source line, and no source line
    "a | b\n    at |x|:2\n|not source",
    # a source line before any "at" line is not a source line
    "g\n    | <img src=x onerror=alert(2)>\n    at b.py:3",
    # huge parts, each within the 64 KiB a frame may have
    "h" * 20_000 + "\n    at " + "l" * 20_000 + "\n    | " + "s" * 20_000,
    "m\n    at c.py:4\n" + "z\n" * 10_000,
]


def hostile_document():
    b = SnapshotBuilder("evil", pid=1)
    b.task(1, "victim")
    b.pending_trace(1, HOSTILE_FRAMES, duration_us=5)
    return b.build()


@pytest.mark.parametrize("page", ["node", "backtraces"])
def test_hostile_frames_render_escaped_capped_and_one_item_each(client, db, page):
    snapshot = post(client, hostile_document())
    args = [snapshot, "task:evil-1:1"] if page == "node" else [snapshot]
    html = client.get(reverse(f"pages:{page}", args=args)).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>y" not in html
    frames = re.search(r'<ol class="frames"[^>]*>(.*?)</ol>', html, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", frames, re.S)
    assert len(items) == len(HOSTILE_FRAMES)
    extra, pipes, early, huge, lines = items
    assert extra.startswith('f\n    at a.py:1\n<span class="frame-src" title="source line">')
    assert '    | x = 1</span>\n<span class="frame-more">    | &lt;b&gt;y&lt;/b&gt;' in extra
    assert pipes == 'a | b\n    at |x|:2\n<span class="frame-more">|not source</span>'
    assert "frame-src" not in early and "&lt;img src=x" in early
    assert "h" * FRAME_PART_CHARS + "\n" in huge and "h" * (FRAME_PART_CHARS + 1) not in huge
    assert "s" * 200 + "</span>" in huge and "s" * 201 not in huge
    cut = 3 * 20_000 - 2 * FRAME_PART_CHARS - 200
    assert f"{cut} more characters not shown" in huge
    assert lines.count("z") == FRAME_MORE_LINES
    assert f"{20_000 - 2 * FRAME_MORE_LINES + 1} more characters not shown" in lines


def test_a_frame_missing_from_the_snapshot_says_so():
    html = Template("{% load peeps %}{% frame None 7 %}").render(Context())
    assert html == '<span class="muted">frame 7 missing from the snapshot</span>'


def test_frame_parts_split_only_the_documented_lines():
    assert frame_parts("f\n    at a.py:1\n    | x") == {
        "function": "f", "location": "a.py:1", "source": "x", "more": "", "cut": 0
    }  # fmt: skip
    assert frame_parts("f") == {"function": "f", "location": "", "source": "", "more": "", "cut": 0}
    assert frame_parts("f\n    |x\n    at a")["more"] == "    |x\n    at a"
    assert frame_parts("f\r<b>\n    at a\rb\n    | c\rd")["source"] == "c d"  # one line each


def test_format_frame_adds_one_stripped_capped_source_line():
    assert format_frame("f", "a.py", 3) == "f\n    at a.py:3"
    assert format_frame("f", "a.py", 3, "") == "f\n    at a.py:3"  # linecache's "not found"
    assert format_frame("f", "a.py", 3, "  \n") == "f\n    at a.py:3"
    assert format_frame("f", "a.py", 3, "    await q.put(x)  \n") == (
        "f\n    at a.py:3\n    | await q.put(x)"
    )
    # one line only, no NUL (the server refuses a body holding one), capped
    assert format_frame("f", "a.py", 3, "a\x00b\rc\n") == "f\n    at a.py:3\n    | ab"
    long = format_frame("f", "a.py", 3, "x" * 500)
    assert long.endswith("\n    | " + "x" * 199 + "…")
