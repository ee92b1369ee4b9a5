"""An AI agent's task registry as a peepsweb snapshot.

A coding agent splits a request into tasks and sub-tasks, works on some,
queues others, and sometimes has to stop and ask its user before going on
(here: before running a database migration on production).

Mapping onto the model:

    registry task        -> node kind "task"; state is the registry's word
                            (queued, in_progress, blocked, finished, failed);
                            parent_task_id for sub-tasks, owner/tool in attrs
    parent waits on kid  -> edge parent needs sub-task, while the sub-task is
                            not finished (a parent that is done needs nothing)
    question to the user -> node kind "approval" labelled with the question
                            itself, attrs asked_at_ns, asked_of, options;
                            edge blocked task needs the approval
    one tool at a time   -> node kind "lock" for the shell the agent drives;
                            the task using it is its holder, a queued task
                            that wants it needs it
    "task A finished and
     started task B"     -> wake events (waker A, woken B)

    python examples/agent_registry.py [--url URL] [--token T] [--print]
"""

import time

from _common import main
from peepsweb_client import SnapshotBuilder

# id: (title, state, parent, extra attrs)
TASKS = {
    1: ("Ship the billing export feature", "in_progress", None, {}),
    2: ("Read the existing export code", "finished", 1, {"tool": "read_files"}),
    3: ("Add the CSV writer", "finished", 1, {"tool": "edit_files"}),
    4: ("Add a column to invoices", "in_progress", 1, {}),
    5: ("Write the migration", "finished", 4, {"tool": "edit_files"}),
    6: ("Run the migration on production", "blocked", 4, {"tool": "shell"}),
    7: ("Run the test suite", "in_progress", 1, {"tool": "shell"}),
    8: (
        "Fix the flaky date test",
        "failed",
        7,
        {"tool": "edit_files", "error": "could not reproduce in 3 runs"},
    ),
    9: ("Update the changelog", "queued", 1, {"tool": "edit_files"}),
    10: ("Lint the new module", "queued", 1, {"tool": "shell"}),
}
QUESTION = (
    "The migration adds a NOT NULL column to invoices (2.1M rows, ~40 s table lock). "
    "Run it on production now?"
)


def build():
    now = time.time_ns()
    b = SnapshotBuilder("coding-agent", pid=31337)
    ids = {}
    for tid, (title, state, parent, extra) in TASKS.items():
        ids[tid] = b.task(
            tid,
            title,
            state=state,
            parent_task_id=parent,
            spawned_at_ns=now - (600 - tid * 30) * 1_000_000_000,
            owner="agent",
            **extra,
        )
    # A parent needs each of its sub-tasks that is not finished.
    for tid, (_title, state, parent, _extra) in TASKS.items():
        if parent is not None and state != "finished":
            b.needs(ids[parent], ids[tid], relation="subtask")

    approval = b.node(
        "approval",
        "migrate-invoices",
        QUESTION,
        question=QUESTION,
        asked_of="user @dana",
        asked_at_ns=now - 14 * 60 * 1_000_000_000,
        options=["run now", "run tonight", "cancel"],
        state="waiting",
    )
    b.needs(ids[6], approval, reason="needs the user's go-ahead")

    shell = b.node(
        "lock",
        "shell",
        "shell session",
        name="shell session",
        lock_kind="mutex",
        holder_count=1,
        waiter_count=1,
    )
    b.needs(shell, ids[7], held=True)  # the test suite is running in the shell
    b.needs(ids[10], shell)  # lint waits for the shell

    # Finishing one task is what started the next one.
    b.wake(3, waker_task_id=2, at_ns=now - 420 * 1_000_000_000)
    b.wake(4, waker_task_id=3, at_ns=now - 300 * 1_000_000_000)
    b.wake(6, waker_task_id=5, at_ns=now - 15 * 60 * 1_000_000_000)
    b.pending_trace(
        6,
        [
            ("ApprovalGate.wait", "agent/approvals.py", 88),
            ("ShellTool.run", "agent/tools/shell.py", 141),
            ("Planner.execute_step", "agent/planner.py", 203),
        ],
        duration_us=14 * 60 * 1_000_000,
        at_ns=now,
    )
    return b.build(captured_at_ns=now)


if __name__ == "__main__":
    raise SystemExit(main(build, "Post an AI agent's task registry to peepsweb."))
