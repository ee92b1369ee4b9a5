"""Unmodified stdlib asyncio programs (programs/*.py: they import nothing of
ours) deadlock in the ways real services do; under peepsweb-run, on Python
3.12 and 3.13, against a real server, each cycle is found with every member
named and every edge explained, and a busy healthy program reports none."""

from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"

# program -> (task members, the other members as "kind label")
DEADLOCKS = {
    "lock_inversion": (
        ["transfer_a_to_b", "transfer_b_to_a"],
        ["lock Lock@lock_inversion.py:14", "lock Lock@lock_inversion.py:15"],
    ),
    "semaphore_inversion": (
        ["indexer", "reporter"],
        [
            "semaphore BoundedSemaphore@semaphore_inversion.py:15",
            "semaphore Semaphore@semaphore_inversion.py:14",
        ],
    ),
    "queue_lock": (
        ["consumer", "producer"],
        ["lock Lock@queue_lock.py:22", "queue Queue@queue_lock.py:21"],
    ),
    "taskgroup_owner": (["child", "owner"], ["future TaskGroup"]),
    "shield_cycle": (["guard", "worker"], ["future shield"]),
    "gather_cycle": (["coordinator", "fetch_a"], ["future gather"]),
    "as_completed_cycle": (["collector", "report"], ["future as_completed"]),
    "eager_inversion": (
        ["eager_a_to_b", "eager_b_to_a"],
        ["lock Lock@eager_inversion.py:15", "lock Lock@eager_inversion.py:15#2"],
    ),
}


@pytest.mark.parametrize("name", list(DEADLOCKS))
def test_each_deadlock_is_found_with_every_member_named(
    name, python_version, run_program, wait_for_cycle
):
    prog = run_program(python_version, PROGRAMS / f"{name}.py", name=name)
    # "danger" once the members have waited a second (a younger cycle may be
    # a capture taken mid-handoff).
    (candidate,) = wait_for_cycle(prog, where=lambda c: c["severity"] == "danger")
    tasks, others = DEADLOCKS[name]
    assert candidate["task_labels"] == tasks
    members = candidate["members"]
    assert sorted(
        f"{candidate['kinds'][m]} {candidate['labels'][m]}"
        for m in members
        if candidate["kinds"][m] != "task"
    ) == sorted(others)
    # Every edge of the cycle is a sentence naming both of its ends.
    for edge in candidate["edges"]:
        text = edge["explanation"]
        assert candidate["labels"][edge["src_id"]] in text
        assert candidate["labels"][edge["dst_id"]] in text
    assert prog.running()  # still stuck: the instrumentation changed nothing


def test_the_queue_edges_say_who_consumes_the_full_queue(
    python_version, run_program, wait_for_cycle
):
    prog = run_program(python_version, PROGRAMS / "queue_lock.py", name="queue_lock")
    (candidate,) = wait_for_cycle(prog)
    texts = {edge["explanation"] for edge in candidate["edges"]}
    assert any("full" in t and "consumer" in t for t in texts), texts


def test_a_busy_healthy_program_reports_no_cycle(
    python_version, run_program, wait_for_pushes, cycles_of
):
    prog = run_program(python_version, PROGRAMS / "healthy_busy.py", name="healthy_busy")
    wait_for_pushes(prog, count=10)
    assert cycles_of(prog) == []
    assert prog.running(), prog.output()
