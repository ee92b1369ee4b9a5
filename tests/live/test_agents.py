"""The connected agents: GET /api/v1/agents and the Agents page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from snapshots.live import pull
from snapshots.models import Agent

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 11, 22, 1, 2, 3, tzinfo=UTC)
T1 = datetime(2025, 11, 22, 1, 5, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_dates_count_as_alive(settings):
    # The rows below carry fixed past dates; with heartbeats this far apart
    # they are still "alive" (Agent.objects.alive()).
    settings.PEEPSWEB_AGENT_HEARTBEAT_S = 10**9


def make_agents():
    Agent.objects.create(
        channel_name="specific.b!1",
        process="backend",
        pid=200,
        proc_key="backend-200",
        connected_at=T0,
        last_seen_at=T1,
    )
    Agent.objects.create(
        channel_name="specific.a!1",
        process="<frontend>",
        pid=None,
        proc_key="frontend-100",
        connected_at=T0,
        last_seen_at=T0,
    )


def test_the_api_lists_connected_agents_with_their_last_contact(client):
    make_agents()

    response = client.get("/api/v1/agents")

    assert response.status_code == 200
    assert response.json() == {
        "agents": [
            {
                "process": "backend",
                "pid": 200,
                "proc_key": "backend-200",
                "connected_at": "2025-11-22T01:02:03Z",
                "last_seen_at": "2025-11-22T01:05:00Z",
            },
            {
                "process": "<frontend>",
                "pid": None,
                "proc_key": "frontend-100",
                "connected_at": "2025-11-22T01:02:03Z",
                "last_seen_at": "2025-11-22T01:02:03Z",
            },
        ]
    }


def test_the_api_says_so_when_no_agent_is_connected(client):
    assert client.get("/api/v1/agents").json() == {"agents": []}


def test_the_agents_page_lists_them_escaped_and_joins_the_agents_topic(client):
    make_agents()

    html = client.get("/agents/").content.decode()

    assert 'id="agents-table"' in html
    assert "backend-200" in html and "2025-11-22 01:05:00" in html
    assert "&lt;frontend&gt;" in html and "<frontend>" not in html
    assert 'data-topics="agents"' in html


def test_htmx_gets_only_the_table(client):
    make_agents()

    html = client.get("/agents/", headers={"HX-Request": "true"}).content.decode()

    assert html.strip().startswith('<div id="agents-table"')
    assert "<header" not in html


def test_rows_left_by_a_server_that_died_are_not_listed_or_asked(client, settings):
    settings.PEEPSWEB_AGENT_HEARTBEAT_S = 15
    now = timezone.now()
    for key, seen in (
        ("alive-1", now - timedelta(seconds=40)),
        ("dead-1", now - timedelta(seconds=50)),
    ):
        Agent.objects.create(
            channel_name=f"specific.{key}", process="p", proc_key=key, last_seen_at=seen
        )

    assert [a["proc_key"] for a in client.get("/api/v1/agents").json()["agents"]] == ["alive-1"]
    assert [a.proc_key for a in pull.connected_agents()] == ["alive-1"]
    assert list(Agent.objects.values_list("proc_key", flat=True)) == ["alive-1"]
