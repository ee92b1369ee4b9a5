"""peepsweb-run on unmodified programs, in a fresh venv holding only
`pip install ./client`, against a real server: every way of running an event
loop is instrumented, and a deadlock shows as a cycle with its tasks named."""

import pytest

# Two named tasks awaiting each other: the simplest deadlock there is.
TASKS_AWAIT_EACH_OTHER = """
    import asyncio

    async def main():
        tasks = {}

        async def first():
            await asyncio.sleep(0.05)
            await tasks["second"]

        async def second():
            await asyncio.sleep(0.05)
            await tasks["first"]

        tasks["first"] = asyncio.create_task(first(), name="first")
        tasks["second"] = asyncio.create_task(second(), name="second")
        print("started", flush=True)
        await asyncio.gather(*tasks.values())

    {run}
"""

RUNNERS = {
    "asyncio.run": "asyncio.run(main())",
    "asyncio.Runner": "with asyncio.Runner() as runner:\n        runner.run(main())",
    "new_event_loop": ("loop = asyncio.new_event_loop()\n    loop.run_until_complete(main())"),
}


def program(run="asyncio.run"):
    return TASKS_AWAIT_EACH_OTHER.replace("{run}", RUNNERS[run])


def assert_first_and_second_cycle(candidates):
    # (Its severity is the finder's business: "warn" until the tasks have
    # waited a second, then "danger".)
    (candidate,) = candidates
    assert candidate["task_labels"] == ["first", "second"]


def test_a_deadlocked_program_shows_its_cycle_with_both_task_names(
    python_version, run_program, wait_for_cycle
):
    prog = run_program(python_version, program(), name="await_each_other")
    assert_first_and_second_cycle(wait_for_cycle(prog))
    assert prog.running()  # still deadlocked: the instrumentation changed nothing


@pytest.mark.parametrize("run", ["asyncio.Runner", "new_event_loop"])
def test_loops_made_by_runner_or_by_hand_are_instrumented(
    python_version, run, run_program, wait_for_cycle
):
    prog = run_program(python_version, program(run), name="by_hand")
    assert_first_and_second_cycle(wait_for_cycle(prog))


def test_python_m_peepsweb_client_run_works_too(run_program, wait_for_cycle):
    prog = run_program("3.12", program(), name="via_module", via="module")
    assert_first_and_second_cycle(wait_for_cycle(prog))
