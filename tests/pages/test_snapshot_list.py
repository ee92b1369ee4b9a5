"""Home: the snapshot list, newest first."""

from django.urls import reverse

from tests.pages.conftest import document, task


def test_it_lists_snapshots_newest_first_with_their_processes(client, examples):
    response = client.get(reverse("pages:home"))
    assert response.status_code == 200
    ids = [row.snapshot_id for row in response.context["rows"]]
    assert ids == sorted(ids, reverse=True)
    body = response.content.decode()
    newest, oldest = ids[0], ids[-1]
    assert body.index(f'id="snapshot-{newest}"') < body.index(f'id="snapshot-{oldest}"')
    assert "lock-demo-4242" in body and "pid 4242" in body
    assert "persona-scheduler" in body


def test_each_row_has_counts_and_a_state_bar(client, examples):
    body = client.get(reverse("pages:home")).content.decode()
    workflow = examples["taskgraph_workflow"]
    row = body[body.index(f'id="snapshot-{workflow}"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="num">10</td>' in row  # nodes
    assert '<td class="num">11</td>' in row  # edges
    assert "9 tasks" in row
    for cls in ("running", "runnable", "waiting", "done", "failed", "skipped"):
        assert f'class="seg state-{cls}"' in row
    assert 'class="seg state-unknown"' not in row


def test_it_flags_snapshots_with_needs_cycles(client, examples):
    body = client.get(reverse("pages:home")).content.decode()
    inversion = examples["mutex_lock_order_inversion"]
    row = body[body.index(f'id="snapshot-{inversion}"') :]
    assert "1 cycle" in row[: row.index("</tr>")]
    workflow = examples["taskgraph_workflow"]
    row = body[body.index(f'id="snapshot-{workflow}"') :]
    assert "cycle" not in row[: row.index("</tr>")]


def test_it_links_to_the_live_view_and_the_latest_snapshot(client, db):
    body = client.get(reverse("pages:home")).content.decode()
    assert 'href="/snapshots/live/"' in body
    assert 'href="/snapshots/latest/"' in body
    assert "No snapshots yet" in body


def test_it_paginates(client, ingest):
    for i in range(30):
        ingest(document(f"p-{i}", [task(f"p-{i}", 1, "t")]))
    # Unfolded, 25 a page (folded, 100: tests/history/test_snapshot_list.py).
    first = client.get(reverse("pages:home"), {"fold": "0"})
    assert len(first.context["rows"]) == 25
    second = client.get(
        reverse("pages:home"), {"fold": "0", "page": 2}, headers={"HX-Request": "true"}
    )
    assert len(second.context["rows"]) == 5
    fragment = second.content.decode()
    assert "<html" not in fragment and 'id="snapshot-list"' in fragment
    bad = client.get(reverse("pages:home"), {"page": "x"})
    assert bad.status_code == 400 and "Bad parameter <code>page</code>" in bad.content.decode()
