"""The backtraces page at the size of a real service: groups collapsed,
longest wait first, searchable by frame text, filtered by pending time, a
page of groups at a time ("show more groups"), and a bounded page size at
5,000 distinct stacks."""

import random
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from snapshots.pages.views.backtraces import GROUPS_PER_PAGE
from tests.pages.conftest import BASE_NS, document, task

KEY = "svc-1"
PARKED = [
    "tokio::sync::mutex::Mutex<T>::lock::{{closure}}",
    "tokio::sync::semaphore::Semaphore::acquire::{{closure}}",
    "tokio::sync::mpsc::bounded::Receiver<T>::recv::{{closure}}",
    "tokio::sync::oneshot::Receiver<T>::poll",
    "tokio::time::sleep::Sleep::poll",
    "hyper::client::conn::SendRequest<B>::send_request::{{closure}}",
    "sqlx_core::pool::inner::PoolInner<DB>::acquire::{{closure}}",
    "tokio::io::util::read_buf::ReadBuf<R>::poll",
]
MODULES = ["orders", "billing", "inventory", "shipping", "auth", "search", "cache", "audit"]
VERBS = ["handle", "load", "store", "refresh", "lookup", "notify", "reserve", "settle"]


def frame(function, path, line, source):
    return f"{function}\n    at {path}:{line}:{9 + line % 20}\n    | {source}"


def service_frames():
    """A service's frames: where tasks park, its own handlers, the runtime."""
    frames = [frame(f, "src/runtime.rs", 40 + i, ".await") for i, f in enumerate(PARKED)]
    for m in MODULES:
        for v in VERBS:
            for step in range(3):
                frames.append(
                    frame(
                        f"svc::{m}::{v}_{step}::{{{{closure}}}}",
                        f"src/{m}/{v}.rs",
                        100 + 17 * step,
                        f"let out = self.{m}.{v}_{step}(&req).await?;",
                    )
                )
    frames.append(frame("svc::main::serve::{{closure}}", "src/main.rs", 88, "server.await"))
    frames.append(frame("tokio::runtime::task::harness::poll", "tokio/src/harness.rs", 473, ""))
    return frames


def distinct_stacks_document(n, seed=14):
    """n tasks, each parked in a stack no other task has: 8 to 14 frames of a
    service (function, file:line and source line each)."""
    rng = random.Random(seed)
    frames = service_frames()
    parked, handlers = range(len(PARKED)), range(len(PARKED), len(frames) - 2)
    stacks = set()
    while len(stacks) < n:
        middle = tuple(rng.sample(handlers, rng.randrange(6, 19)))
        stacks.add((rng.choice(parked), *middle, len(frames) - 2, len(frames) - 1))
    return document(
        KEY,
        [task(KEY, i, f"worker_{i}") for i in range(1, n + 1)],
        frames={str(i + 1): text for i, text in enumerate(frames)},
        pending_traces=[
            {
                "task_id": i,
                "at_ns": BASE_NS,
                "duration_us": rng.randrange(1_000, 60_000_000),
                "frame_ids": [f + 1 for f in stack],
            }
            for i, stack in enumerate(sorted(stacks), 1)
        ],
    )


def test_at_5000_distinct_stacks_the_page_stays_under_300_kb(client, ingest):
    doc = distinct_stacks_document(5000)
    snapshot = ingest(doc)
    response = client.get(reverse("pages:backtraces", args=[snapshot]))
    assert response.status_code == 200
    assert response.context["group_count"] == 5000
    size = len(response.content)
    assert size <= 300_000, f"{size:,} bytes"
    html = response.content.decode()
    assert "5,000 traces in 5,000 groups" in html
    # A page of groups, each collapsed, and a way to the rest.
    assert html.count('<details class="card bucket"') == GROUPS_PER_PAGE
    assert '<details class="card bucket" id="stack-1" open' not in html
    assert f"Show {GROUPS_PER_PAGE} more groups" in html
    assert f"({5000 - GROUPS_PER_PAGE:,} not shown yet)" in html

    # Searchable at that size: a search answers a page of its groups as small.
    found = get(client, snapshot, q="semaphore::ACQUIRE")
    assert len(found.content) <= 300_000, f"{len(found.content):,} bytes"
    semaphore = PARKED.index("tokio::sync::semaphore::Semaphore::acquire::{{closure}}") + 1
    expected = sum(t["frame_ids"][0] == semaphore for t in doc["pending_traces"])
    assert 0 < found.context["group_count"] == expected < 5000
    assert f"{expected:,} of 5,000 traces match" in " ".join(found.content.decode().split())


def small_document():
    """Seven tasks in five stacks: a big group with short waits, a single
    task with the longest wait, one without a duration, and a NEEDLE frame
    in two of them."""
    frames = {"1": "Mutex::lock\n    at src/db.rs:42:17", "2": "Pool::get", "3": "serve",
              "4": "Sleep::poll", "5": "find_NEEDLE_here", "6": "flush"}  # fmt: skip
    stacks = {1: [1, 2, 3], 2: [1, 2, 3], 3: [1, 2, 3], 4: [4, 3], 5: [5, 3], 6: [1, 5], 7: [6]}
    durations = {1: 10, 2: 20, 3: 30, 4: 900, 5: 200, 6: 100, 7: None}
    return document(
        "small-1",
        [task("small-1", i, f"t{i}") for i in stacks],
        frames=frames,
        pending_traces=[
            {
                "task_id": i,
                "at_ns": BASE_NS,
                "duration_us": None if durations[i] is None else durations[i] * 1000,
                "frame_ids": ids,
            }
            for i, ids in stacks.items()
        ],
    )


def group_titles(html):
    return re.findall(r'<h3 id="stack-\d+-h">(.*?)</h3>', html)


def get(client, snapshot, htmx=False, **params):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.get(reverse("pages:backtraces", args=[snapshot]), params, headers=headers)


def test_groups_are_collapsed_longest_wait_first_then_biggest(client, ingest):
    snapshot = ingest(small_document())
    html = get(client, snapshot).content.decode()
    assert group_titles(html) == [
        "Group 1 · 1 task · longest pending 900ms",
        "Group 2 · 1 task · longest pending 200ms",
        "Group 3 · 1 task · longest pending 100ms",
        "Group 4 · 3 tasks · longest pending 30ms",
        "Group 5 · 1 task",  # no duration: last
    ]
    assert "<details open" not in html and '<details class="card bucket" id="stack-1">' in html
    # The innermost frame names the group while it is collapsed.
    assert '<span class="mono small">Sleep::poll</span></summary>' in html


def test_search_keeps_the_groups_with_a_frame_containing_the_text_in_any_case(client, ingest):
    snapshot = ingest(small_document())
    response = get(client, snapshot, q="needle")
    html = response.content.decode()
    assert group_titles(html) == [
        "Group 1 · 1 task · longest pending 200ms",
        "Group 2 · 1 task · longest pending 100ms",
    ]
    assert "2 of 7 traces match, in 2 groups" in " ".join(html.split())
    assert 'value="needle"' in html
    # The tree is built from the matching stacks only.
    assert [r["count"] for r in response.context["tree"] if r.get("depth") == 0] == [1, 1]
    # Plain text, not a pattern: "." matches a dot only.
    assert group_titles(get(client, snapshot, q="db.rs").content.decode())[0].startswith(
        "Group 1 · 1 task · longest pending 100ms"
    )
    assert "No pending trace matches" in get(client, snapshot, q="d.\\.rs").content.decode()


def test_min_ms_keeps_the_traces_pending_at_least_that_long(client, ingest):
    snapshot = ingest(small_document())
    html = get(client, snapshot, min_ms="100").content.decode()
    assert [t.split(" · ")[2] for t in group_titles(html)] == [
        "longest pending 900ms", "longest pending 200ms", "longest pending 100ms"
    ]  # fmt: skip
    assert "3 of 7 traces match" in html
    html = get(client, snapshot, min_ms="25", q="mutex").content.decode()
    assert group_titles(html) == [
        "Group 1 · 1 task · longest pending 100ms",
        "Group 2 · 1 task · longest pending 30ms",
    ]


@pytest.mark.parametrize(
    "params, param",
    [
        ({"q": "a\x00b"}, "q"),
        ({"q": "x" * 513}, "q"),
        ({"min_ms": "-1"}, "min_ms"),
        ({"min_ms": "1e3"}, "min_ms"),
        ({"min_ms": "١٧"}, "min_ms"),
        ({"offset": "x"}, "offset"),
        ({"offset": str(10**10)}, "offset"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(client, ingest, params, param):
    snapshot = ingest(small_document())
    for htmx in (False, True):
        response = get(client, snapshot, htmx=htmx, **params)
        assert response.status_code == 400
        assert f"<code>{param}</code>" in response.content.decode()


def test_show_more_groups_appends_the_next_page_of_groups(client, ingest):
    n = GROUPS_PER_PAGE * 2 + 5
    snapshot = ingest(distinct_stacks_document(n))
    html = get(client, snapshot, q="tokio").content.decode()
    assert len(group_titles(html)) == GROUPS_PER_PAGE
    more = re.search(r'<p id="more-groups"><a href="([^"]*)" hx-get="([^"]*)"', html)
    assert more.group(1) == more.group(2) == f"?q=tokio&amp;offset={GROUPS_PER_PAGE}"
    # htmx gets the next groups and the next button, nothing else.
    fragment = get(client, snapshot, htmx=True, q="tokio", offset=GROUPS_PER_PAGE)
    body = fragment.content.decode()
    titles = group_titles(body)
    assert len(titles) == GROUPS_PER_PAGE and titles[0].startswith(f"Group {GROUPS_PER_PAGE + 1} ")
    assert "stack-tree" not in body and "<form" not in body
    assert f"?q=tokio&amp;offset={2 * GROUPS_PER_PAGE}" in body and "Show 5 more groups" in body
    last = get(client, snapshot, htmx=True, q="tokio", offset=2 * GROUPS_PER_PAGE)
    assert len(group_titles(last.content.decode())) == 5
    assert "more-groups" not in last.content.decode()
    # Without JavaScript the link opens those groups as a page.
    page = get(client, snapshot, q="tokio", offset=GROUPS_PER_PAGE).content.decode()
    assert "<form" in page and group_titles(page) == titles


def test_in_a_browser_search_narrows_the_groups_and_show_more_appends(
    daphne_server, ingest, browser_page
):
    snapshot = ingest(distinct_stacks_document(GROUPS_PER_PAGE * 2 + 5))
    server = daphne_server()
    page = browser_page
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/snapshots/{snapshot}/backtraces/")
    groups = page.locator("#groups details.bucket")
    expect(groups).to_have_count(GROUPS_PER_PAGE)
    page.evaluate("window.peepswebMarker = 1")  # must survive: no reload

    # Collapsed: a group's frames show once it is opened.
    first = groups.first
    expect(first.locator("ol.frames")).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator("ol.frames")).to_be_visible()

    page.get_by_role("link", name=f"Show {GROUPS_PER_PAGE} more groups").click()
    expect(groups).to_have_count(2 * GROUPS_PER_PAGE)
    expect(groups.nth(GROUPS_PER_PAGE)).to_have_id(f"stack-{GROUPS_PER_PAGE + 1}")
    page.get_by_role("link", name="Show 5 more groups").click()
    expect(groups).to_have_count(2 * GROUPS_PER_PAGE + 5)
    expect(page.locator("#more-groups")).to_have_count(0)

    # Searching narrows the groups (as typed, no submit) and keeps the URL.
    expected = (
        page.request.get(f"{server.url}/snapshots/{snapshot}/backtraces/?q=Semaphore")
        .text()
        .count('<details class="card bucket"')
    )
    assert 0 < expected < GROUPS_PER_PAGE
    page.get_by_role("searchbox").fill("semaphore")
    expect(page).to_have_url(re.compile(r"\?q=semaphore"))
    expect(groups).to_have_count(expected)
    expect(groups.first.locator("summary")).to_contain_text("Semaphore::acquire")
    expect(page.locator("#trace-count")).to_contain_text(
        f"of {GROUPS_PER_PAGE * 2 + 5} traces match"
    )
    assert page.evaluate("window.peepswebMarker") == 1
    assert errors == []
