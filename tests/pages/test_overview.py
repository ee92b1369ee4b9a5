"""One snapshot's overview: counts by kind and state class, processes,
unresolved edges, skew, and links into every list."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from snapshots.models import ProcessSnapshot
from tests.pages.conftest import BASE_NS, document, task


def test_it_counts_nodes_by_kind_and_tasks_by_state_class(client, examples):
    snapshot = examples["taskgraph_workflow"]
    response = client.get(reverse("pages:overview", args=[snapshot]))
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary.kind_counts == {"task": 9, "semaphore": 1}
    assert summary.state_counts["done"] == 2
    body = response.content.decode()
    assert f'href="/snapshots/{snapshot}/tasks/?state_class=waiting"' in body
    assert f'href="/snapshots/{snapshot}/kinds/semaphore/"' in body
    assert "persona-scheduler-777" in body
    assert "<title>Snapshot " in body


def test_it_shows_unresolved_edges_and_links_to_them(client, examples):
    snapshot = examples["rpc_frontend"]
    response = client.get(reverse("pages:overview", args=[snapshot]))
    assert response.context["summary"].unresolved_edge_count == 1
    assert f'href="/snapshots/{snapshot}/unresolved/"' in response.content.decode()


def test_it_shows_the_skew_between_processes_of_the_live_view(client, ingest):
    ingest(document("a-1", [task("a-1", 1, "x")]))
    later = document("b-1", [task("b-1", 1, "y")])
    later["captured_at_ns"] = BASE_NS + 1_500_000_000
    ingest(later)
    response = client.get(reverse("pages:overview", args=["live"]))
    assert response.context["summary"].skew_ns == 1_500_000_000
    body = response.content.decode()
    assert "1.50s" in body
    assert "Live view" in body


def test_an_empty_live_view_points_at_the_newest_snapshot(client, ingest):
    response = client.get(reverse("pages:overview", args=["live"]))
    assert "No process has sent a snapshot in the last 30 s." in response.content.decode()
    sid = ingest(document("a-1", [task("a-1", 1, "x")]))
    ProcessSnapshot.objects.update(received_at=timezone.now() - timedelta(minutes=7))
    body = client.get(reverse("pages:overview", args=["live"])).content.decode()
    assert "No process has sent a snapshot in the last 30 s." in body
    link = f'The newest is <a href="/snapshots/{sid}/">snapshot #{sid}</a>'
    assert link in body


def test_it_warns_when_the_snapshot_has_needs_cycles(client, examples):
    body = client.get(
        reverse("pages:overview", args=[examples["mutex_lock_order_inversion"]])
    ).content.decode()
    assert 'id="cycles-banner"' in body
    body = client.get(
        reverse("pages:overview", args=[examples["taskgraph_workflow"]])
    ).content.decode()
    assert 'id="cycles-banner"' not in body


def test_breadcrumbs_and_nav_name_the_snapshot(client, examples):
    snapshot = examples["rpc_backend"]
    body = client.get(reverse("pages:overview", args=[snapshot])).content.decode()
    assert f'<li><a href="/snapshots/{snapshot}/">snapshot {snapshot}</a></li>' in body
    assert f'<span class="scope-name">#{snapshot}</span>' in body


def test_an_unknown_snapshot_is_a_404_page_with_a_way_out(client, db):
    for key in ("999", "banana", "latest"):
        response = client.get(reverse("pages:overview", args=[key]))
        assert response.status_code == 404
        body = response.content.decode()
        assert "Not found" in body and 'href="/snapshots/live/"' in body


def test_pages_answer_get_and_head_only(client, examples):
    url = reverse("pages:overview", args=[examples["rpc_backend"]])
    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405
