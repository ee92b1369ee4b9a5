"""The publisher's pacing: a fixed interval, so a burst of snapshots costs a
couple of rounds of rendering, not one per snapshot, and what a page gets
last is the final state."""

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from snapshots.ingest import ingest_document
from snapshots.live.publish import publisher
from tests.live.conftest import page_socket, settled
from tests.live.test_page_updates import fragment_of
from tests.support.examples import read_example

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

BURST = 10


@database_sync_to_async
def ingest_burst():
    """BURST snapshots of one process whose commits land together: every
    announcement reaches the publisher within a few milliseconds."""
    with transaction.atomic():
        for i in range(BURST):
            doc = read_example("taskgraph_workflow")
            doc["captured_at_ns"] += i * 1_000_000_000
            doc["nodes"][0]["label"] = f"burst-{i}"
            ingest_document(doc)


async def test_a_burst_of_snapshots_is_published_in_at_most_two_rounds(settings):
    settings.PEEPSWEB_LIVE_INTERVAL_S = 1
    async with page_socket("tasks") as page:
        before = publisher.rounds
        await ingest_burst()
        await settled()
        rounds = publisher.rounds - before

        messages = []
        while await page.receive_nothing() is False:
            messages.append(await page.receive_json_from())

    # The first announcement may start a round at once; everything after it
    # waits for the interval and is merged into one more.
    assert 1 <= rounds <= 2
    fragments = [m["html"] for m in messages if m["event"] == "fragments"]
    notices = [m["snapshot_id"] for m in messages if m["event"] == "snapshot"]
    assert len(fragments) == len(notices) == rounds
    assert fragments[-1] == await fragment_of("/snapshots/live/tasks/")
    assert "burst-9" in fragments[-1]
