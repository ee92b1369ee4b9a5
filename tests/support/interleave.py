"""Real concurrency on the real test database, in a chosen interleaving.

A StatementGate thread runs its function on a database connection of its
own and stops just before sending the first statement its `stop_before`
matches, until the test lets it go: so a test can run a prune (or a read)
between two statements of another transaction, on two real connections,
every time instead of once in a thousand runs. Nothing is mocked: the
statements are the code's own, the database the test's.
"""

import threading
import time

from django.db import connection, connections

WAIT_S = 30  # a guard against a hung test, not a timing assertion


class StatementGate(threading.Thread):
    """gate = StatementGate(fn, stop_before=lambda sql: ...); gate.start()
    gate.wait_stopped() -> True once it waits before that statement (False if
    `fn` ended without sending one); gate.go() lets it finish and joins it.
    Afterwards: gate.result, or gate.error (the exception `fn` raised)."""

    def __init__(self, target, stop_before=lambda sql: False):
        super().__init__(daemon=True)
        self.target = target
        self.stop_before = stop_before
        self.stopped = threading.Event()
        self.released = threading.Event()
        self.result = self.error = None

    def run(self):
        def gate(execute, sql, params, many, context):
            if not self.stopped.is_set() and self.stop_before(sql):
                self.stopped.set()
                self.released.wait(WAIT_S)
            return execute(sql, params, many, context)

        try:
            with connection.execute_wrapper(gate):
                self.result = self.target()
        except Exception as exc:  # the test asserts on it
            self.error = exc
        finally:
            self.released.set()
            connections.close_all()

    def wait_stopped(self):
        wait_until(lambda: self.stopped.is_set() or not self.is_alive())
        return self.stopped.is_set()

    def go(self):
        self.released.set()
        self.join(WAIT_S)
        assert not self.is_alive(), "the thread did not finish"


def wait_until(condition):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def sessions_waiting_on_a_lock():
    """PostgreSQL: how many other sessions of this database wait for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
