"""The snapshot list for a pushing fleet (issue 13 item 4): filters by process
and "has a cycle", a jump to a time, folded runs of captures without change,
empty states. Captures go through the real ingest."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from snapshots import queries
from snapshots.models import ProcessSnapshot
from tests.history.conftest import BASE_NS, LOCK, LOCK_NODE, T1, T2, S, post, task

CALM = ([task(1, "pending"), task(2, "running"), LOCK_NODE], [(T1, LOCK)])
# worker2 waits on the lock and the lock needs worker2: a cycle (a landmark).
STUCK = ([task(1, "pending"), task(2, "pending"), LOCK_NODE], [(T2, LOCK), (LOCK, T2)])


@pytest.fixture
def fleet(client, db):
    """svc-1: a first capture, 5 without change, a cycle appearing, 4 more
    without change (the cycle still there); other-1 (process "other") 2
    captures in between. -> {name: [snapshot ids]}, oldest first."""
    at = iter(BASE_NS + i * S for i in range(100))
    ids = {"calm": [], "stuck": [], "other": []}
    for _ in range(6):
        ids["calm"].append(post(client, *CALM, next(at)))
    other = [task(1, "running", "other-1")]
    for _ in range(2):
        ids["other"].append(post(client, other, [], next(at), proc_key="other-1", process="other"))
    for _ in range(5):
        ids["stuck"].append(post(client, *STUCK, next(at)))
    return ids


def row_ids(html):
    return [int(part.split('"')[0]) for part in html.split('<tr id="snapshot-')[1:]]


def test_runs_without_change_fold_into_one_row_and_landmarks_stay(client, fleet):
    html = client.get("/").content.decode()
    stuck, calm, other = fleet["stuck"], fleet["calm"], fleet["other"]
    # Newest first: 4 quiet stuck captures fold (cycle unchanged), the
    # capture where the cycle appeared stays, the other process's 2 (its
    # first one is not quiet: nothing to compare with), 5 quiet calm ones
    # fold, the first capture stays.
    assert row_ids(html) == [stuck[0], other[1], other[0], calm[0]]
    assert html.count("5 captures, no change") == 1
    assert html.count("4 captures, no change") == 1
    assert "cycle, unchanged" in html
    # Unfolded, every capture is a row.
    unfolded = client.get("/?fold=0").content.decode()
    assert sorted(row_ids(unfolded)) == sorted(sum(fleet.values(), []))


def test_two_quiet_captures_do_not_fold(client, db):
    for i in range(3):
        post(client, *CALM, BASE_NS + i * S)
    html = client.get("/").content.decode()
    assert len(row_ids(html)) == 3
    assert "captures, no change" not in html


def counting(n, lock=LOCK):
    """CALM with a counter at n, worker1 waiting on `lock`: an attr and an
    edge change, no task changes state."""
    worker = task(1, "pending")
    worker["attrs"]["polls"] = n
    other_lock = {"id": f"{LOCK}2", "kind": "lock", "label": "db2", "attrs": {"name": "db2"}}
    return [worker, task(2, "running"), LOCK_NODE, other_lock], [(T1, lock)]


def test_captures_whose_attrs_and_edges_change_fold_and_a_task_appearing_does_not(client, db):
    at = iter(BASE_NS + i * S for i in range(100))
    first = post(client, *counting(0), next(at))
    locks = {1: LOCK, 2: f"{LOCK}2", 3: LOCK}
    moving = [post(client, *counting(n, locks[n]), next(at)) for n in (1, 2, 3)]
    nodes, edges = counting(4)
    appeared = post(client, [*nodes, task(3, "running")], edges, next(at))
    html = client.get("/").content.decode()
    # Newest first: the capture where worker3 appeared, then the 3 where
    # only a counter and a waited-on lock changed, folded, then the first.
    assert row_ids(html) == [appeared, first]
    assert f'id="fold-{moving[-1]}"' in html
    assert html.count("3 captures, no change in task state") == 1
    # The API says the same of each snapshot.
    items = client.get("/api/v1/snapshots").json()["snapshots"]
    quiet = {item["snapshot_id"]: item["quiet"] for item in items}
    assert quiet == {appeared: False, **dict.fromkeys(moving, True), first: False}


def test_captures_stored_before_same_tasks_fold_only_without_any_change(client, db):
    at = iter(BASE_NS + i * S for i in range(100))
    ids = [post(client, *counting(n), next(at)) for n in range(4)]
    ProcessSnapshot.objects.update(same_tasks=None)  # as migration 0008 leaves them
    assert row_ids(client.get("/").content.decode()) == ids[::-1]


@pytest.mark.parametrize("batch", [queries.COUNT_BATCH, 3])
def test_each_capture_of_a_segment_counts_its_own_tasks(client, db, monkeypatch, batch):
    """Captures that share their rows (one segment) are counted apart: by
    ingest, and by the list for captures stored before ingest counted
    (several at once: here all of them, in one query or two)."""
    monkeypatch.setattr(queries, "COUNT_BATCH", batch)
    at = iter(BASE_NS + i * S for i in range(100))
    ids = [post(client, *CALM, next(at)) for _ in range(3)]
    ids.append(post(client, [*CALM[0], task(3, "running")], CALM[1], next(at)))
    two = dict.fromkeys(queries.STATE_CLASSES, 0) | {"waiting": 1, "running": 1}
    expected = {**dict.fromkeys(ids[:3], two), ids[3]: two | {"running": 2}}
    for counted_by in ("ingest", "the list"):
        if counted_by == "the list":
            ProcessSnapshot.objects.update(count_cache=None)
        items = client.get("/api/v1/snapshots").json()["snapshots"]
        assert {item["snapshot_id"]: item["task_states"] for item in items} == expected, counted_by


@pytest.mark.django_db(transaction=True)
def test_migration_0009_forgets_counts_cached_before_they_were_right(client):
    ids = [post(client, *CALM, BASE_NS + i * S) for i in range(3)]
    # What the old count left on all but one capture of a segment.
    ProcessSnapshot.objects.update(count_cache={"kinds": {}, "task_state_classes": {}})
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("snapshots", "0008_processsnapshot_same_tasks")])
        executor = MigrationExecutor(connection)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert not ProcessSnapshot.objects.filter(count_cache__isnull=False).exists()
    items = client.get("/api/v1/snapshots").json()["snapshots"]
    assert {
        item["snapshot_id"]: sum(item["task_states"].values()) for item in items
    } == dict.fromkeys(ids, 2)


def test_filter_by_process_key_or_name(client, fleet):
    by_key = client.get("/?process=other-1&fold=0").content.decode()
    assert row_ids(by_key) == fleet["other"][::-1]
    by_name = client.get("/api/v1/snapshots?process=other").json()
    assert [s["snapshot_id"] for s in by_name["snapshots"]] == fleet["other"][::-1]
    assert by_name["total"] == 2


def test_has_a_cycle_keeps_the_snapshots_holding_one(client, fleet):
    body = client.get("/api/v1/snapshots?has_cycle=1").json()
    assert [s["snapshot_id"] for s in body["snapshots"]] == fleet["stuck"][::-1]
    assert all(s["local_cycle"] for s in body["snapshots"])
    html = client.get("/?has_cycle=1&fold=0").content.decode()
    assert row_ids(html) == fleet["stuck"][::-1]


def test_at_jumps_to_the_page_of_the_newest_snapshot_at_or_before(client, fleet):
    calm = fleet["calm"]
    at_ns = BASE_NS + 3 * S + S // 2  # between the 4th and 5th calm capture
    page = queries.snapshot_list(1, 2, queries.ListFilters(at_ns=at_ns))
    assert page.at_id == calm[3]
    assert calm[3] in [r.snapshot_id for r in page.items]
    # The same time as ISO 8601 UTC, on the page: a redirect to that page.
    iso = datetime.fromtimestamp(at_ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")
    response = client.get(f"/?fold=0&process=svc-1&at={iso}")
    assert response.status_code == 302
    location = f"?process=svc-1&page=1&fold=0&shown={calm[3]}#snapshot-{calm[3]}"
    assert response["Location"] == location
    # Folded, the row it landed on is kept out of its run's fold and marked.
    landed = client.get(f"/?at={at_ns}", follow=True).content.decode()
    assert f'<tr id="snapshot-{calm[3]}" class="shown"' in landed
    assert f"snapshot-{calm[2]}" in landed  # calm 1-2 and 4-5: runs of 2, too short to fold
    body = client.get(f"/api/v1/snapshots?per_page=2&at={at_ns}").json()
    assert body["at_snapshot_id"] == calm[3]
    assert calm[3] in [s["snapshot_id"] for s in body["snapshots"]]
    assert f"at={at_ns}" not in body["next"]  # the next page pages on, it does not jump back


def test_at_before_everything_says_so(client, fleet):
    html = client.get(f"/?at={BASE_NS - S}").content.decode()
    assert "No snapshot was captured at or before that time" in html


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01T00:00:00Z", "2026-02-30", "12:00", "\uff15", "2026-W01"]
)
def test_a_bad_at_is_a_message_on_the_page_and_a_400_naming_it(client, db, value):
    response = client.get("/", {"at": value})
    assert response.status_code == 400
    assert "Bad parameter <code>at</code>" in response.content.decode()
    api = client.get("/api/v1/snapshots", {"at": value})
    assert api.status_code == 400
    assert api.json()["path"] == "at"
    assert "ISO 8601" in api.json()["error"]


def test_a_page_past_the_end_and_an_empty_filter_are_empty_states(client, fleet):
    response = client.get("/?page=999")
    assert response.status_code == 200
    assert "There is no page 999" in response.content.decode()
    empty = client.get("/?process=nobody").content.decode()
    assert "No snapshot matches these filters" in empty
    body = client.get("/api/v1/snapshots?page=999").json()
    assert body["snapshots"] == [] and body["total"] == 13 and body["page"] == 999


def test_the_mcp_tool_takes_the_same_filters(fleet):
    from snapshots.mcp import server

    result = server._list_snapshots(20, 1, process="other-1")
    assert [s["snapshot_id"] for s in result.structured_content["snapshots"]] == fleet["other"][
        ::-1
    ]
    result = server._list_snapshots(20, 1, has_cycle=True)
    assert [s["snapshot_id"] for s in result.structured_content["snapshots"]] == fleet["stuck"][
        ::-1
    ]


@pytest.mark.parametrize(
    ("param", "value"), [("process", "a\x00b"), ("process", "p" * 129), ("has_cycle", "maybe")]
)
def test_a_bad_filter_is_a_400_naming_it(client, db, param, value):
    api = client.get("/api/v1/snapshots", {param: value})
    assert api.status_code == 400 and api.json()["path"] == param
    page = client.get("/", {param: value})
    assert page.status_code == 400
    assert f"Bad parameter <code>{param}</code>" in page.content.decode()


@pytest.mark.parametrize("value", ["9999999999999999999", "9999-01-01T00:00:00Z", "1000-01-01"])
def test_a_time_past_either_end_of_the_column_is_no_error(client, fleet, value):
    body = client.get("/api/v1/snapshots", {"at": value}).json()
    newest = fleet["stuck"][-1]
    assert body["at_snapshot_id"] == (None if value.startswith("1000") else newest)
