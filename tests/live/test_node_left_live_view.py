"""The live inspector of a node that is not in the live view any more says
why and links to the node's last capture (not "snapshots are pruned")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from snapshots.ingest import ingest_document
from snapshots.models import ProcessSnapshot
from tests.support.examples import read_example

pytestmark = pytest.mark.django_db

NODE = "task:backend-200:9"


def test_a_node_whose_process_ended_it_links_to_its_last_capture(client):
    first = ingest_document(read_example("rpc_backend"))
    later = read_example("rpc_backend")
    later["captured_at_ns"] += 5_000_000_000
    later["nodes"] = [n for n in later["nodes"] if n["id"] != NODE]
    later["edges"] = [e for e in later["edges"] if NODE not in (e["src_id"], e["dst_id"])]
    later["pending_traces"] = [t for t in later["pending_traces"] if t["task_id"] != 9]
    ingest_document(later)

    response = client.get(f"/snapshots/live/nodes/{NODE}/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "backend-200</span>'s newest capture does not have it" in html
    assert f'href="/snapshots/{first.snapshot_id}/nodes/{NODE}/"' in html


def test_a_node_whose_process_went_quiet_links_to_its_last_capture(client):
    first = ingest_document(read_example("rpc_backend"))
    ProcessSnapshot.objects.update(received_at=timezone.now() - timedelta(seconds=31))

    response = client.get(f"/snapshots/live/nodes/{NODE}/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "has sent no capture for over 30 s" in html
    assert f"its last capture, snapshot #{first.snapshot_id}" in html


def test_a_node_never_captured_is_a_plain_404(client):
    ingest_document(read_example("rpc_backend"))

    response = client.get("/snapshots/live/nodes/task:backend-200:404/")

    assert response.status_code == 404
    assert "No node &#x27;task:backend-200:404&#x27; in the live view." in response.content.decode()
