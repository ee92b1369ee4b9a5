"""deadlock_candidates says since when each cycle is there (issue 13), in
its text and its structured content, against a scripted sequence of
captures posted through the real ingest to the database the server reads."""

from tests.history.conftest import BASE_NS, S
from tests.history.test_cycle_first_seen import capture
from tests.mcp.conftest import mcp_call, text


def test_deadlock_candidates_says_first_seen_and_present_for(daphne_server, client):
    ids = [capture(client, n, cycle=n >= 3) for n in range(1, 9)]
    server = daphne_server()
    (result,) = mcp_call(server, [("deadlock_candidates", {"snapshot": ids[-1]})])
    assert not result.is_error
    assert (
        f"  first seen 2025-11-22 00:40:03.000 UTC (snapshot {ids[2]}), present for 5.0 s\n"
        in text(result)
    )
    (c,) = result.structured_content["candidates"]
    assert (c["first_seen_ns"], c["first_seen_snapshot_id"]) == (BASE_NS + 3 * S, ids[2])
    assert c["present_for_ns"] == 5 * S
    assert (c["first_seen_capped"], c["first_seen_oldest_stored"]) == (False, False)
