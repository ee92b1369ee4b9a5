"""The Cycles page and the partials other pages include."""

from django.template.loader import render_to_string
from django.urls import reverse

from snapshots.cycles import service
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope

from .helpers import document

HOSTILE = '<script>alert(1)</script>"><svg onload=alert(2)>'


def test_the_page_lists_the_deadlock_with_its_chain_links_and_drawing(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    response = client.get(f"/snapshots/{proc.snapshot_id}/cycles/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cycle 1: 4 nodes" in html
    assert "task transfer_a_to_b waits on lock account_b" in html
    assert "lock account_b is held by task transfer_b_to_a" in html
    node_url = reverse("pages:node", args=[str(proc.snapshot_id), "task:lock-demo-4242:11"])
    assert f'href="{node_url}"' in html
    assert '<svg class="cycle-svg"' in html
    assert html.count('class="cycle-edge"') == 4
    assert "Found 1 deadlock(s)." in html  # the text report
    assert reverse("cycles:report", args=[str(proc.snapshot_id)]) in html
    assert 'id="cycles-banner"' in html


def test_the_page_says_so_when_there_is_no_cycle(client, example_snapshot):
    proc = example_snapshot("taskgraph_workflow")
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    assert 'id="no-cycles"' in html
    assert 'id="cycles-banner"' not in html


def test_the_live_page_shows_the_cross_process_cycle(client, example_snapshot):
    example_snapshot("rpc_frontend")
    example_snapshot("rpc_backend")
    html = client.get("/snapshots/live/cycles/").content.decode()
    assert "across processes backend, frontend" in html
    assert "request Backend.fetch waits for its response in process backend" in html


def test_an_htmx_request_gets_only_the_list(client, example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    html = client.get(
        f"/snapshots/{proc.snapshot_id}/cycles/", headers={"HX-Request": "true"}
    ).content.decode()
    assert html.lstrip().startswith('<div id="cycle-list">')
    assert "<html" not in html


def test_an_unknown_snapshot_is_a_404_page(client, db):
    assert client.get("/snapshots/987654/cycles/").status_code == 404


def test_snapshot_text_is_escaped_everywhere(client, db):
    key = "evil-1"
    nodes = [
        ("task:evil-1:1", "task", {"task_id": 1, "name": HOSTILE, "state": "pending"}),
        ("lock:evil-1:l", "lock", {"name": HOSTILE}, HOSTILE),
    ]
    edges = [("task:evil-1:1", "lock:evil-1:l"), ("lock:evil-1:l", "task:evil-1:1")]
    frames = {"1": HOSTILE}
    traces = [{"task_id": 1, "at_ns": 1, "duration_us": 9_000_000, "frame_ids": [1]}]
    proc = ingest_document(document(key, nodes, edges, traces, frames, process=HOSTILE))
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    assert "<script>alert" not in html
    assert "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_banner_partial_renders_only_with_cycles(example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    scope = resolve_scope(proc.snapshot_id)
    html = render_to_string(
        "cycles/_banner.html", {"scope": scope, "cycles": service.summary(scope)}
    )
    assert "1 needs cycle" in html and "1 likely deadlock" in html
    empty = {"count": 0, "danger": 0, "warn": 0}
    assert render_to_string("cycles/_banner.html", {"scope": scope, "cycles": empty}).strip() == ""


def test_cycle_member_ids_lists_every_member(load_examples):
    members = service.cycle_member_ids(resolve_scope("live"))
    assert "task:lock-demo-4242:11" in members
    assert "lock:frontend-100:session_cache" in members
    assert "task:lock-demo-4242:1" not in members  # main waits, but is not in a cycle
    assert len(members) == 12


def test_a_very_long_cycle_is_listed_in_part_and_not_drawn(client, db):
    key = "ring-1"
    n = 600
    nodes = [(f"task:{key}:{i}", "task", {"task_id": i, "name": f"t{i}", "state": "pending"})
             for i in range(n)]  # fmt: skip
    edges = [(f"task:{key}:{i}", f"task:{key}:{(i + 1) % n}") for i in range(n)]
    proc = ingest_document(document(key, nodes, edges))
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    assert "Cycle 1: 600 nodes" in html
    assert "too long to draw" in html
    assert "… 400 more links" in html
    assert "… 550 more participants" in html
    assert "Members (600)" in html
    assert "… and more: see the JSON" in html


def test_the_page_shows_the_worst_hundred_candidates(client, db, monkeypatch):
    from snapshots.cycles import views

    monkeypatch.setattr(views, "MAX_CANDIDATES_SHOWN", 2)
    nodes = [(f"task:many-1:{i}", "task", {"task_id": i, "state": "pending"}) for i in range(3)]
    edges = [(f"task:many-1:{i}", f"task:many-1:{i}") for i in range(3)]
    proc = ingest_document(document("many-1", nodes, edges))
    html = client.get(f"/snapshots/{proc.snapshot_id}/cycles/").content.decode()
    assert 'id="cycle-2"' in html and 'id="cycle-3"' not in html
    assert "… 1 more candidate, less severe" in html
