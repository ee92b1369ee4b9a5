"""Reads while the database is down (issue 16, item 5): 503 + Retry-After,
HTML for pages and JSON for the API, the cause in the log, and answers
again as soon as the database is back, with no restart."""

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.db import connection

from tests.api.helpers import load
from tests.support.interleave import wait_until
from tests.support.outage import ThrowawayPostgres, database_unreachable
from tests.support.processes import REPO_ROOT, start_daphne

PAGES = ["/", "/snapshots/latest/", "/snapshots/1/tasks/", "/agents/"]
API = ["/api/v1/snapshots", "/api/v1/snapshots/1", "/api/v1/snapshots/1/nodes"]
STORAGE_DOWN = {"error": "storage unavailable, try again later", "path": ""}


@pytest.mark.django_db(transaction=True)
def test_pages_and_the_api_answer_503_while_the_database_is_down_then_recover(client, caplog):
    snapshot_id = load("rpc_frontend").snapshot_id
    pages = [p.replace("/1/", f"/{snapshot_id}/") for p in PAGES]
    api = [p.replace("/1", f"/{snapshot_id}") for p in API]
    with database_unreachable(), caplog.at_level(logging.WARNING):
        for path in pages:
            response = client.get(path)
            assert response.status_code == 503, path
            assert response["Retry-After"] == "5"
            assert response["Content-Type"].startswith("text/html")
            assert "Storage unavailable" in response.content.decode()
        for path in api:
            response = client.get(path)
            assert response.status_code == 503, path
            assert response["Retry-After"] == "5"
            assert response.json() == STORAGE_DOWN
    # A line per 503, without a traceback, and the cause: on PostgreSQL the
    # pool logs why it cannot connect, and the 503 that it gave up waiting.
    lines = [r for r in caplog.records if r.name == "peepsweb.errors"]
    assert len(lines) == len(pages) + len(api)
    assert all(r.exc_info is None and "storage unavailable" in r.getMessage() for r in lines)
    cause = "Connection refused" if connection.vendor == "postgresql" else "unable to open"
    assert cause in caplog.text
    for path in pages + api:
        assert client.get(path).status_code == 200, path


def get(url):
    """(status, headers, body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's outage: run once, in the PostgreSQL run"
)
@pytest.mark.parametrize("pool", ["0", "8"], ids=["connection per request", "pool of 8"])
def test_a_server_whose_postgresql_stops_answers_503_and_recovers_without_a_restart(tmp_path, pool):
    """A daphne server on a PostgreSQL of this test's own, which is stopped
    (pg_ctl -m fast: every connection is cut) and started again."""
    pg = ThrowawayPostgres()
    try:
        # A request waits this long for a pooled connection before its 503
        # (default 10 s): keeps the test short, the code path is the same.
        env = dict(
            os.environ,
            DATABASE_URL=pg.url,
            DB_POOL_MAX_SIZE=pool,
            DB_POOL_TIMEOUT_S="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
        )
        server = start_daphne(env, tmp_path / "daphne.log")
        try:
            body = (REPO_ROOT / "snapshots/example_snapshots/rpc_frontend.json").read_bytes()
            request = urllib.request.Request(
                server.url + "/api/v1/snapshots",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            sid = json.loads(urllib.request.urlopen(request, timeout=30).read())["snapshot_id"]
            page, api = f"{server.url}/snapshots/{sid}/", f"{server.url}/api/v1/snapshots/{sid}"
            assert get(page)[0] == get(api)[0] == 200

            pg.stop()
            status, headers, html = get(page)
            assert (status, headers["Retry-After"]) == (503, "5")
            assert headers["Content-Type"].startswith("text/html")
            assert b"Storage unavailable" in html
            status, headers, data = get(api)
            assert (status, headers["Retry-After"]) == (503, "5")
            assert json.loads(data) == STORAGE_DOWN

            pg.start()
            # The next connection (or the pool, by itself: reconnect_timeout)
            # finds the database again; from then on every request is answered.
            wait_until(lambda: get(page)[0] == 200)
            assert get(page)[0] == get(api)[0] == 200
        finally:
            server.stop()
        log = server.log()
        assert "Traceback" not in log
        assert "storage unavailable, answering 503 to GET /snapshots/" in log
    finally:
        pg.remove()
