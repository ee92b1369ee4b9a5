"""A server's PostgreSQL connections stay bounded under concurrent pushes
(issue 16, item 4). With CONN_MAX_AGE=60 under ASGI each request opened a
connection of its own and left it open: 20 pushers reached PostgreSQL's 200
within a minute, and every push after that was a 503."""

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from django.db import connection

from .conftest import small_doc

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's connections"
)
PUSHES = 40
APP = "peepsweb-bound-test"  # the server's application_name (PGAPPNAME), to count its sessions


def server_sessions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP])
        return cursor.fetchone()[0]


def test_concurrent_pushes_use_at_most_the_pool_size_of_connections(daphne_server):
    pool_size = 8
    server = daphne_server(env={"PGAPPNAME": APP, "DB_POOL_MAX_SIZE": str(pool_size)})

    def push(i):
        request = urllib.request.Request(
            server.url + "/api/v1/snapshots",
            data=orjson.dumps(small_doc(proc_key=f"svc-{i}")),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, server_sessions())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(PUSHES) as pushers:
            statuses = list(pushers.map(push, range(PUSHES)))
    finally:
        done.set()
        sampler.join()
    assert statuses == [201] * PUSHES
    assert 0 < peak <= pool_size
    assert server_sessions() <= pool_size  # none left behind either
