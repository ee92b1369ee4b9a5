"""Unresolved cross-process edges and stuck requests."""

from django.urls import reverse

from tests.pages.conftest import S, document


def test_unresolved_edges_are_listed_with_the_missing_process(client, examples):
    snapshot = examples["rpc_frontend"]
    response = client.get(reverse("pages:unresolved", args=[snapshot]))
    assert response.status_code == 200
    edges = response.context["edges"]
    assert [(e["src"], e["referenced_proc_key"]) for e in edges] == [
        ("request:backend-200:conn_2:3", "backend-200")
    ]
    body = response.content.decode()
    assert "backend-200" in body and "not in this capture" in body
    # The present end links to its inspector.
    assert f'href="/snapshots/{snapshot}/nodes/response:frontend-100:conn_2:3/"' in body


def test_the_live_view_resolves_them(client, examples):
    response = client.get(reverse("pages:unresolved", args=["live"]))
    assert response.context["edges"] == []
    assert "Every cross-process edge resolves" in response.content.decode()


def requests_document():
    key = "rpc-1"
    nodes = [
        {
            "id": f"request:{key}:c:{i}",
            "kind": "request",
            "label": f"M{i}",
            "attrs": {
                "method": f"Svc.m{i}",
                "elapsed_ns": secs * S,
                "peer": "db",
                "correlation_key": f"c:{i}",
                **extra,
            },
        }
        for i, (secs, extra) in enumerate(
            [
                (3, {}),
                (8, {}),
                (30, {"status": "in_flight"}),
                (60, {"status": "ok"}),
                (12, {"status": "pending"}),
            ]
        )
    ]
    return document(key, nodes)


def test_stuck_requests_are_listed_oldest_first_over_the_default_threshold(client, ingest):
    snapshot = ingest(requests_document())
    response = client.get(reverse("pages:stuck_requests", args=[snapshot]))
    assert response.status_code == 200
    assert [n.method for n in response.context["rows"]] == ["Svc.m2", "Svc.m4", "Svc.m1"]
    body = response.content.decode()
    assert "30.0s" in body and "c:2" in body and "Svc.m2" in body
    assert "Svc.m3" not in body  # answered
    assert "Svc.m0" not in body  # under 5 s


def test_the_threshold_is_a_url_parameter(client, ingest):
    snapshot = ingest(requests_document())
    url = reverse("pages:stuck_requests", args=[snapshot])
    assert [n.method for n in client.get(url, {"older_than": "10"}).context["rows"]] == [
        "Svc.m2", "Svc.m4"
    ]  # fmt: skip
    assert len(client.get(url, {"older_than": "0.5"}).context["rows"]) == 4
    bad = client.get(url, {"older_than": "soon"})
    assert "not a number of seconds" in bad.content.decode()
    assert len(bad.context["rows"]) == 3
    part = client.get(url, {"older_than": "10"}, headers={"HX-Request": "true"})
    assert part.content.decode().lstrip().startswith('<div id="stuck-table">')
