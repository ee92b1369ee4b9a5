"""How much the publisher may render: a budget that refills slowly while the
server serves requests (ingest keeps the CPU) and fast while it is idle (a
lone snapshot shows at once), charged with what a round really cost."""

import pytest
from django.db import connection
from django.test import Client

from snapshots.ingest import ingest_document
from snapshots.live.publish import RenderBudget, RoundCost, ServerActivity, server_activity
from tests.support.examples import read_example


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_a_budget_refills_at_the_share_while_a_request_is_in_flight(clock):
    activity = ServerActivity(clock)
    budget = RenderBudget(share=0.05, burst=0.1, idle_rate=1.0, activity=activity)
    activity.started()
    budget.spend(0.3)  # one expensive round: 0.2 s in debt

    clock.now += 2.0  # 2 s of serving pay back 0.1 s
    assert budget.wait() == pytest.approx(0.1 / 0.05)
    clock.now += 2.0
    assert budget.wait() == 0
    activity.finished()


def test_an_idle_server_pays_a_rounds_debt_back_at_once(clock):
    activity = ServerActivity(clock)
    budget = RenderBudget(share=0.05, burst=0.1, idle_rate=1.0, activity=activity)
    budget.spend(0.3)

    clock.now += 0.2  # nobody is being served
    assert budget.wait() == 0


def test_a_busy_spell_between_two_checks_is_charged_at_the_share(clock):
    activity = ServerActivity(clock)
    budget = RenderBudget(share=0.05, burst=0.1, idle_rate=1.0, activity=activity)
    budget.spend(0.2)  # 0.1 s in debt
    clock.now += 0.05  # idle: +0.05
    activity.started()
    clock.now += 1.0  # serving: +0.05
    activity.finished()

    assert budget.wait() == pytest.approx(0.0, abs=1e-9)
    assert budget.tokens == pytest.approx(0.0, abs=1e-9)


def test_the_balance_never_exceeds_the_burst(clock):
    activity = ServerActivity(clock)
    budget = RenderBudget(share=0.05, burst=0.1, idle_rate=1.0, activity=activity)
    clock.now += 3600
    budget.spend(0.25)

    assert budget.wait() == pytest.approx(0.15 / 0.05)


def test_a_request_whose_end_was_never_signalled_stops_counting(clock):
    activity = ServerActivity(clock)
    activity.started()
    clock.now += 10_000

    busy = activity.busy_seconds()
    clock.now += 5

    assert activity.in_flight == 0
    assert activity.busy_seconds() == busy


@pytest.mark.django_db
def test_http_requests_count_as_serving_while_they_run():
    busy_before = server_activity.busy_seconds()

    assert Client().get("/").status_code == 200

    assert server_activity.in_flight == 0
    assert server_activity.busy_seconds() > busy_before


@pytest.mark.django_db
def test_a_round_is_charged_its_own_cpu_and_counts_its_queries():
    ingest_document(read_example("taskgraph_workflow"))
    cost = RoundCost()

    with cost.measure():
        list(connection.cursor().execute("SELECT 1"))
        sum(i * i for i in range(200_000))

    assert cost.queries == 1
    assert cost.cpu > 0
    assert cost.seconds >= cost.cpu


@pytest.mark.django_db
def test_on_a_local_postgresql_a_round_is_charged_the_backends_cpu_too():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL runs queries in its own processes; SQLite in this thread")
    cost = RoundCost()

    with cost.measure(), connection.cursor() as cursor:
        # Seconds of CPU in the backend, none in this thread.
        cursor.execute("SELECT count(*) FROM generate_series(1, 20000000)")

    assert cost.db_cpu > 0.1
    assert cost.db_cpu > 5 * cost.cpu


def test_short_gaps_between_requests_still_count_as_serving(clock):
    activity = ServerActivity(clock, grace=0.1)
    budget = RenderBudget(share=0.05, burst=0.1, idle_rate=1.0, activity=activity)
    budget.spend(0.3)  # 0.2 s in debt
    for _ in range(10):  # a busy client: 0.2 s POSTs, 0.01 s apart
        activity.started()
        clock.now += 0.2
        activity.finished()
        clock.now += 0.01

    # 2.1 s of serving paid 0.105 s back, not 0.2 (as 0.1 s of idle would).
    assert budget.wait() == pytest.approx(0.095 / 0.05)

    clock.now += 0.5  # then a quiet spell
    assert budget.wait() == 0
