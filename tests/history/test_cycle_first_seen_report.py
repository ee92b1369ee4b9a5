"""A cycle's "first seen" in the plain-text deadlock report (what
cycles.txt, `explain` and the MCP's deadlock_candidates return), against
scripted sequences of captures posted through the real ingest."""

import pytest

from snapshots.cycles import first_seen
from tests.history.test_cycle_first_seen import capture

pytestmark = pytest.mark.django_db


def report(client, scope):
    response = client.get(f"/api/v1/snapshots/{scope}/cycles.txt")
    assert response.status_code == 200
    return response.content.decode()


def test_the_report_says_when_the_cycle_formed_and_how_long_it_is_there(client):
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 9)]
    text = report(client, ids[-1])
    assert (
        f"  first seen 2025-11-22 00:40:03.000 UTC (snapshot {ids[2]}), present for 5.0 s\n" in text
    )
    assert "retention" not in text and "at least" not in text
    # An older snapshot counts its own past only.
    assert f"(snapshot {ids[2]}), present for 2.0 s\n" in report(client, ids[4])


def test_a_cycle_there_since_the_oldest_stored_capture_may_be_older(client):
    ids = [capture(client, n, cycle=True) for n in range(1, 5)]
    text = report(client, "live")
    assert (
        f"  first seen 2025-11-22 00:40:01.000 UTC (snapshot {ids[0]}), present for 3.0 s"
        " (the oldest stored capture: retention may have pruned older ones)\n" in text
    )
    page = client.get("/snapshots/live/cycles/").content.decode()
    assert "(the oldest stored capture: retention may have pruned older ones)" in page


def test_a_look_back_stopped_at_its_bound_says_at_or_before_and_at_least(client, monkeypatch):
    monkeypatch.setattr(first_seen, "WALK", 4)
    ids = [capture(client, n, cycle=True) for n in range(1, 9)]
    text = report(client, ids[-1])
    assert (
        f"  first seen at or before 2025-11-22 00:40:05.000 UTC (snapshot {ids[4]}),"
        " present for at least 3.0 s (the look back stopped at its bound)\n" in text
    )
    assert "retention" not in text
