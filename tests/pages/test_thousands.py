"""Counts of a thousand and more are shown with thousands separators on the
snapshot list, the overview, the inspector, the graph page and the cycles
page."""

import re

import pytest

from snapshots.ingest import ingest_document

from .conftest import document, task

WAITERS = 1_200


@pytest.fixture
def crowd(db):
    """1,200 tasks waiting on one lock (1,201 nodes, 1,200 edges) and a
    two-task cycle: 1,203 nodes, 1,202 edges."""
    lock = {"id": "lock:crowd-1:db", "kind": "lock", "label": "db", "attrs": {"name": "db"}}
    waiters = [task("crowd-1", i, f"w{i}") for i in range(1, WAITERS + 1)]
    pair = [task("crowd-1", 9001, "a"), task("crowd-1", 9002, "b")]
    edges = [(t["id"], lock["id"]) for t in waiters]
    a, b = "task:crowd-1:9001", "task:crowd-1:9002"
    edges += [(a, b), (b, a)]
    doc = document("crowd-1", [lock, *waiters, *pair], edges)
    return str(ingest_document(doc, source="test").snapshot_id)


def squeezed(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_snapshot_list_and_the_overview_group_thousands(client, crowd):
    home = client.get("/").content.decode()
    assert '<td class="num">1,203</td>' in home and '<td class="num">1,202</td>' in home
    assert "1,202 tasks" in squeezed(home)
    overview = client.get(f"/snapshots/{crowd}/").content.decode()
    assert '<span class="value">1,203</span><span class="label">nodes</span>' in overview
    assert '<span class="value">1,202</span><span class="label">needs edges' in overview
    assert '<td class="num">1,203</td>' in overview  # the processes table


def test_the_inspector_groups_thousands(client, crowd):
    html = client.get(f"/snapshots/{crowd}/nodes/lock:crowd-1:db/").content.decode()
    assert "needs 0 · needed by 1,200" in html
    assert "(1,200) — who waits on this" in html


def test_the_graph_page_too_big_banner_groups_thousands(client, crowd, settings):
    settings.PEEPSWEB_GRAPH_MAX_NODES = 1000
    html = client.get(f"/snapshots/{crowd}/graph/?node=lock:crowd-1:db&depth=1").content.decode()
    text = squeezed(html)
    assert "Too big to draw: 1,201 nodes within 1 hop" in text
    assert "at most 1,000 nodes" in text
    assert "New nodes per hop: 0: 1 · 1: 1,200." in text
    assert "without task (1,200)" in text
