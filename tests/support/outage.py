"""A database that is down: a real connection failure, not a mock.

- database_unreachable(): in this process, point the connection at a
  database that cannot be opened (PostgreSQL: a port nothing listens on;
  SQLite: a file in a directory that does not exist), and put it back.
- ThrowawayPostgres: a PostgreSQL server of the test's own (scripts/pg),
  which the test stops and starts again on the same port and data, so a
  daphne server can lose its database and get it back.
"""

import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.support.processes import REPO_ROOT


@contextmanager
def database_unreachable():
    saved = dict(connection.settings_dict)
    _disconnect()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")  # nothing listens there
        pool = connection.settings_dict["OPTIONS"].get("pool")
        if pool:
            # Each request waits this long for a connection before its 503
            # (DB_POOL_TIMEOUT_S, 10 s by default): a short test, same path.
            connection.settings_dict["OPTIONS"] = {"pool": {**pool, "timeout": 0.2}}
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/peepsweb.sqlite3"
    try:
        yield
    finally:
        _disconnect()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def _disconnect():
    connection.close()
    if connection.vendor == "postgresql":
        connection.close_pool()  # a pool keeps the settings it was made with


class ThrowawayPostgres:
    """scripts/pg start (stopped with this test process at the latest), plus
    pg_ctl stop / start on its data directory."""

    def __init__(self):
        out = subprocess.run(
            ["bash", "scripts/pg", "start", "--owner", str(os.getpid())],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        exports = dict(re.findall(r"^export (\w+)=(\S+)$", out, re.M))
        self.url = exports["DATABASE_URL"]
        self.dir = Path(exports["PEEPSWEB_PG_DIR"])
        self.bindir = subprocess.run(
            ["bash", "-c", "source scripts/lib.sh && pg_bindir"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def pg_ctl(self, *args):
        command = [f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), "-w", *args]
        if os.geteuid() == 0:  # PostgreSQL refuses root; scripts/pg runs it as postgres
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, cwd=self.dir, check=True, capture_output=True)

    def stop(self):
        self.pg_ctl("-m", "fast", "stop")

    def start(self):
        self.pg_ctl("-l", str(self.dir / "server.log"), "-t", "30", "start")

    def remove(self):
        subprocess.run(["bash", "scripts/pg", "stop", str(self.dir)], cwd=REPO_ROOT, check=False)
