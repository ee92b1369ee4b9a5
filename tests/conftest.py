"""Fixtures shared by every area's tests.

- example_document / example_snapshot / load_examples: the example snapshots
  in snapshots/example_snapshots/, raw or ingested through ingest_document.
- daphne_server: a factory starting REAL daphne subprocesses on the test
  database (needs transactional_db, which it requests itself).
- redis_server: the URL of a real redis-server, emptied before each test.
- browser_page: a Playwright page in Debian's Chromium.

Tests using redis_server / browser_page are marked `redis` / `browser`
automatically, so `-m "not browser"` gives a quick run.
"""

import os
import shutil
from urllib.parse import quote

import pytest
from hypothesis import settings as hypothesis_settings

from snapshots.ingest import ingest_document
from tests.support.examples import example_names, read_example
from tests.support.processes import (
    missing_tool,
    redis_call,
    start_daphne,
    start_redis,
)

# CI runs the same examples every time (a red CI must be reproducible);
# locally hypothesis keeps exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _fresh_history_state():
    """Each test starts with no cached process heads (snapshots/versions.py:
    ids may repeat once a test's database is flushed) and prunes after every
    ingest, as it did before pruning was paced (PEEPSWEB_PRUNE_EVERY_S)."""
    from django.conf import settings

    from snapshots import retention, versions

    versions.HEADS.clear()
    retention._last_prune = 0.0
    paced, settings.PEEPSWEB_PRUNE_EVERY_S = settings.PEEPSWEB_PRUNE_EVERY_S, 0
    yield
    settings.PEEPSWEB_PRUNE_EVERY_S = paced


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "browser_page" in fixtures:
            item.add_marker(pytest.mark.browser)
        if "redis_server" in fixtures:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, test in a database FILE instead of Django's in-memory default.

    A daphne subprocess cannot see another process's in-memory database; a file
    it can open (SQLITE_PATH) makes daphne_server work on SQLite as on
    PostgreSQL, where it simply connects to the test database by name.
    """
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end the sessions other threads left.

    Code run through sync_to_async / database_sync_to_async (consumers, async
    views) opens connections in asgiref's worker threads, which nobody closes
    in a test process; PostgreSQL then refuses to drop the test database
    ("being accessed by other users"). Only those stray sessions are ended.
    """
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


# -- example snapshots --------------------------------------------------------


@pytest.fixture
def example_document():
    """example_document("rpc_frontend") -> a fresh dict parsed from the example file."""
    return read_example


@pytest.fixture
def example_snapshot(db):
    """example_snapshot("rpc_frontend", **ingest_kwargs) -> the stored ProcessSnapshot."""

    def ingest(name, **kwargs):
        return ingest_document(read_example(name), **kwargs)

    return ingest


@pytest.fixture
def load_examples(example_snapshot):
    """Ingest every example (one push snapshot each); {name: ProcessSnapshot}."""
    return {name: example_snapshot(name) for name in example_names()}


# -- real servers -------------------------------------------------------------


def _database_env():
    """Environment pointing a subprocess's settings at the current test database."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("daphne_server needs a file SQLite test database")
        return {"SQLITE_PATH": name, "DATABASE_URL": None}
    if not db["HOST"] or str(db["HOST"]).startswith("/"):
        raise RuntimeError("daphne_server needs PostgreSQL over TCP (DATABASE_URL with a host)")
    auth = quote(db["USER"], safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    url = f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"
    return {"DATABASE_URL": url}


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """Factory: daphne_server(env={...}) -> DaphneServer with .url, .ws_url, .log().

    Each call starts one more `daphne peepsweb.asgi:application` on a free
    loopback port, sharing this test's database; all are stopped after the
    test. The server reads settings from its environment only: the test's
    `settings` overrides do not reach it; pass env instead (a value of None
    removes a variable). It gets the in-memory channel layer unless env sets
    REDIS_URL, so two servers only share live updates through Redis.
    Data must be committed to be seen, hence transactional_db.
    """
    servers = []

    def start(env=None):
        full_env = dict(
            os.environ, DJANGO_SETTINGS_MODULE="peepsweb.settings", PYTHONUNBUFFERED="1"
        )
        for name in ("DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL"):
            full_env.pop(name, None)
        # Tests wait for the page to change, not for the publisher's pacing
        # (tests/live/test_pacing.py holds that): a second snapshot within
        # the default 1 s would wait out the rest of it.
        full_env["PEEPSWEB_LIVE_INTERVAL_S"] = "0.05"
        for name, value in {**_database_env(), **(env or {})}.items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = str(value)
        server = start_daphne(full_env, tmp_path / f"daphne-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        # Killed, not stopped: a graceful exit spends ~0.4 s of CPU in the
        # interpreter's teardown (scipy, the MCP SDK, ...) per server, and
        # no test looks at the end of a server it did not stop itself.
        server.process.kill()
        server.process.wait()
        # Shown by pytest only when the test fails.
        print(f"--- {server!r} output ---\n{server.log()}")


@pytest.fixture(scope="session")
def _redis_process(tmp_path_factory):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        missing_tool("redis-server is not installed")
    server = start_redis(binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_server(_redis_process):
    """URL (redis://127.0.0.1:PORT/0) of a session-wide redis-server, emptied first."""
    assert redis_call(_redis_process.port, "FLUSHALL") == "+OK"
    return _redis_process.url


# -- browser ------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(monkeypatch):
    """A Playwright page (sync API) in Debian's Chromium, in a fresh context.

    Never downloads a browser: it drives /usr/bin/chromium (or
    $PEEPSWEB_CHROMIUM), which scripts/test installs with apt when missing.

    Playwright's sync API keeps an asyncio event loop registered as running
    in this thread while it is started; Django then takes every ORM call of
    the test (and of the db fixtures' set-up and teardown) for a call from
    async code and raises SynchronousOnlyOperation. Nothing here is async
    code, so DJANGO_ALLOW_ASYNC_UNSAFE is set for the test. The running loop
    also makes Django keep connections per asyncio context instead of per
    thread, so the test would get a second connection: outside the `db`
    fixture's transaction, and left open (PostgreSQL then refuses to drop the
    test database). The thread's connections are therefore handed to that
    context too. Playwright is started and stopped per test, never per
    session: a loop left running would break the ORM and pytest-asyncio in
    every later test. Do not combine with an async test.
    """
    chromium = os.environ.get("PEEPSWEB_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        missing_tool(f"Chromium is not installed at {chromium}")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    thread_connections = {alias: connections[alias] for alias in connections}
    with sync_playwright() as playwright:
        for alias, connection in thread_connections.items():
            connections[alias] = connection
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(10_000)  # fail in seconds, not after 30
            yield page
        finally:
            browser.close()
