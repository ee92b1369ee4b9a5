"""Tables of the other node kinds, with their kind-specific attrs as columns."""

from django.urls import reverse

from tests.pages.conftest import document


def column_titles(response):
    return [c.title for c in response.context["columns"]]


def test_locks_show_holders_and_waiters(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    response = client.get(reverse("pages:kind", args=[snapshot, "locks"]))
    assert response.status_code == 200
    assert column_titles(response)[:3] == ["lock kind", "holders", "waiters"]
    assert {n.label for n in response.context["page"].items} == {"account_a", "account_b"}


def test_channels_group_every_channel_kind_with_queue_and_capacity(client, examples):
    snapshot = examples["channel_full_stall"]
    response = client.get(reverse("pages:kind", args=[snapshot, "channels"]))
    assert sorted(response.context["raw_kinds"]) == [
        "mpsc_rx", "mpsc_tx", "oneshot_rx", "oneshot_tx"
    ]  # fmt: skip
    assert column_titles(response)[:2] == ["queue len", "capacity"]
    assert response.context["page"].total == 4
    # Sorted by an attr, fullest queue first: the mpsc pair.
    response = client.get(
        reverse("pages:kind", args=[snapshot, "channels"]), {"sort": "-attrs.queue_len"}
    )
    assert [n.kind for n in response.context["page"].items][:2] == ["mpsc_tx", "mpsc_rx"]


def test_semaphores_show_permits(client, examples):
    snapshot = examples["taskgraph_workflow"]
    response = client.get(reverse("pages:kind", args=[snapshot, "semaphores"]))
    assert column_titles(response)[:3] == ["permits total", "available", "waiters"]


def test_requests_and_responses_show_elapsed_and_status(client, examples):
    snapshot = examples["rpc_frontend"]
    response = client.get(reverse("pages:kind", args=[snapshot, "requests"]))
    titles = column_titles(response)
    assert {"method", "status", "elapsed", "correlation key"} <= set(titles)
    body = response.content.decode()
    assert "12.0s" in body and "in_flight" in body


def test_a_raw_kind_of_a_group_gets_the_group_columns(client, examples):
    snapshot = examples["rpc_frontend"]
    response = client.get(reverse("pages:kind", args=[snapshot, "response"]))
    assert response.context["raw_kinds"] == ["response"]
    assert response.context["page"].total == 1
    assert "status" in column_titles(response)


def test_an_unknown_kind_gets_its_attrs_as_columns(client, ingest):
    key = "odd-1"
    snapshot = ingest(
        document(
            key,
            [
                {
                    "id": f"gizmo:{key}:{i}",
                    "kind": "gizmo",
                    "label": f"g{i}",
                    "attrs": {"spin": i, "color": "red", "meta": {"a": "b"}, "nested": {"k": [1]}},
                }
                for i in range(3)
            ],
        )
    )
    response = client.get(reverse("pages:kind", args=[snapshot, "gizmo"]))
    assert response.status_code == 200
    columns = {c.title: c for c in response.context["columns"]}
    assert set(columns) == {"spin", "color", "nested"}  # meta is not a column
    assert columns["spin"].numeric
    body = response.content.decode()
    assert "<code>{&quot;k&quot;:[1]}</code>" in body


def test_the_kinds_index_lists_every_kind_with_its_table(client, examples):
    snapshot = examples["rpc_frontend"]
    body = client.get(reverse("pages:kinds", args=[snapshot])).content.decode()
    assert f'href="/snapshots/{snapshot}/kinds/requests/"' in body
    assert f'href="/snapshots/{snapshot}/kinds/locks/"' in body
    assert f'href="/snapshots/{snapshot}/tasks/"' in body


def test_tasks_are_not_a_kind_table(client, examples):
    snapshot = examples["rpc_frontend"]
    assert client.get(reverse("pages:kind", args=[snapshot, "task"])).status_code == 404


def test_the_kind_table_swaps_its_body_for_htmx(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    response = client.get(
        reverse("pages:kind", args=[snapshot, "locks"]),
        {"q": "account_b"},
        headers={"HX-Request": "true"},
    )
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="node-table"')
    assert "account_b" in fragment and "account_a" not in fragment
