"""A snapshot read while retention deletes it (issue 16, item 17): the
reader gets the whole capture or a 404, never a mix. The summary's node
counts come from the count cache on the capture's row and its edge counts
from the edge rows, in separate statements: a prune committing between them
gave a 200 with the nodes and 0 edges.

The prune runs, on a connection of its own, right before each statement of
the read in turn, so every gap between two statements is tried."""

import itertools

import pytest
from django.test import Client

from snapshots.retention import prune_snapshots
from tests.api.helpers import load
from tests.support.interleave import StatementGate

pytestmark = pytest.mark.django_db(transaction=True)


def reads_pruned_before_each_statement(url_of):
    """For n = 0, 1, ...: a fresh snapshot, read once whole (which fills its
    count cache, as any earlier visit would), then read again with a prune
    committed right before statement n of that read; yields (n, whole,
    response) until the read has no statement n. The test client raises what
    a view raises: a 500 fails the test there."""
    for before in itertools.count():
        snapshot_id = load("rpc_frontend").snapshot_id
        load("taskgraph_workflow")  # newer: the one a prune with keep=1 keeps
        url = url_of(snapshot_id)
        whole = Client().get(url)
        statements = itertools.count()

        def stop_before(sql, before=before, statements=statements):
            return next(statements) == before

        reader = StatementGate(lambda url=url: Client().get(url), stop_before)
        reader.start()
        if not reader.wait_stopped():  # every gap tried
            reader.go()
            return
        prune_snapshots(keep=1)
        reader.go()
        assert reader.error is None, f"pruned before statement {before}: {reader.error!r}"
        yield before, whole, reader.result


def test_a_summary_read_during_the_prune_of_its_snapshot_is_whole_or_404():
    statuses = []
    for before, whole, response in reads_pruned_before_each_statement(
        lambda sid: f"/api/v1/snapshots/{sid}"
    ):
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json() == whole.json(), f"torn: pruned before statement {before}"
    assert len(statuses) >= 5  # the summary takes several statements
    assert set(statuses) == {404}  # the last statement checks the snapshot is still there


def test_the_overview_page_read_during_the_prune_of_its_snapshot_is_never_a_500():
    """The page reads the summary (whole or 404), then cycles and stuck
    requests, which show what is left."""
    statuses = [
        response.status_code
        for _, _, response in reads_pruned_before_each_statement(lambda sid: f"/snapshots/{sid}/")
    ]
    assert statuses[0] == 404 and set(statuses) == {200, 404}
