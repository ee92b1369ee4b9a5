"""A workflow engine's task graph as a peepsweb snapshot.

The engine runs a DAG of tasks. Each task has an action, a priority and a
policy for when one of its dependencies fails:

    ABORT            the task is aborted (the default)
    SKIP             the task is skipped (tasks that need it apply their own policy)
    CONTINUE_IF_ANY  the task runs if at least one dependency succeeded

Mapping onto the model:

    workflow task      -> node kind "task" (state = the engine's own word:
                          pending, ready, running, succeeded, failed,
                          aborted, skipped; priority, policy, action in attrs)
    "B depends on A"   -> edge B needs A (attrs.satisfied tells whether A
                          has already succeeded)
    worker slots       -> node kind "semaphore" per action pool; a running
                          task is held by it (semaphore needs task), a ready
                          task waiting for a slot needs the semaphore

The state of each task below is computed by a tiny engine from the DAG and
the outcome of the tasks that already ran, so the policies really apply.
The run also contains a mistake worth seeing: `publish` and `notify_owner`
were declared as depending on each other, so both wait forever; the
dashboard reports that cycle.

    python examples/workflow_engine.py [--url URL] [--token T] [--print]
"""

import time

from _common import main
from peepsweb_client import SnapshotBuilder

# name: (action, priority, policy, dependencies)
WORKFLOW = {
    "gather_data": ("gather", 9, "ABORT", []),
    "extract_database": ("extract", 8, "ABORT", ["gather_data"]),
    "extract_api": ("extract", 7, "ABORT", ["gather_data"]),
    "extract_files": ("extract", 6, "ABORT", ["gather_data"]),
    "extract_logs": ("extract", 5, "SKIP", ["gather_data"]),
    "extract_metrics": ("extract", 4, "SKIP", ["gather_data"]),
    "transform": ("transform", 5, "ABORT", ["extract_database", "extract_api", "extract_files"]),
    "fallback_transform": ("transform", 4, "CONTINUE_IF_ANY", ["extract_database", "extract_api"]),
    "load": ("load", 3, "ABORT", ["transform"]),
    "thumbnails": ("render", 3, "SKIP", ["extract_api"]),
    "gallery": ("render", 2, "ABORT", ["thumbnails"]),
    "load_fallback": ("load", 2, "ABORT", ["fallback_transform"]),
    "publish": ("publish", 1, "ABORT", ["load_fallback", "notify_owner"]),
    "notify_owner": ("notify", 1, "ABORT", ["publish"]),
}
# What already happened: finished tasks and the ones on a worker right now.
OUTCOMES = {
    "gather_data": "succeeded",
    "extract_database": "succeeded",
    "extract_api": "failed",
    "fallback_transform": "succeeded",
    "load_fallback": "succeeded",
}
RUNNING = {"extract_files"}
POOLS = {"extract": 2, "transform": 1, "load": 1, "render": 2}


def resolve_states(workflow, outcomes, running):
    """The engine's rules: a task's state from its dependencies' states."""
    states = dict(outcomes)
    for name in running:
        states[name] = "running"
    changed = True
    while changed:
        changed = False
        for name, (_action, _prio, policy, deps) in workflow.items():
            if name in states:
                continue
            dep_states = [states.get(d) for d in deps]
            finished = [s for s in dep_states if s in ("succeeded", "failed", "aborted", "skipped")]
            bad = [s for s in dep_states if s in ("failed", "aborted", "skipped")]
            if bad and policy == "ABORT":
                states[name] = "aborted"
            elif bad and policy == "SKIP":
                states[name] = "skipped"
            elif policy == "CONTINUE_IF_ANY" and len(finished) == len(deps):
                ok = any(s == "succeeded" for s in dep_states)
                states[name] = "ready" if ok else "aborted"
            elif all(s == "succeeded" for s in dep_states):
                states[name] = "ready"
            else:
                continue
            changed = True
    for name in workflow:
        states.setdefault(name, "pending")  # waits on something unfinished
    return states


def build():
    now = time.time_ns()
    b = SnapshotBuilder("workflow-engine", pid=4100)
    states = resolve_states(WORKFLOW, OUTCOMES, RUNNING)
    ids = {}
    for i, (name, (action, priority, policy, deps)) in enumerate(WORKFLOW.items(), start=1):
        ids[name] = b.task(
            i,
            name,
            state=states[name],
            spawned_at_ns=now - (60 - i) * 1_000_000_000,
            action_name=action,
            priority=priority,
            on_dep_fail=policy,
            depends_on=deps,
            retry_tokens_used=2 if states[name] == "failed" else 0,
        )
    for name, (_action, _prio, _policy, deps) in WORKFLOW.items():
        for dep in deps:
            b.needs(ids[name], ids[dep], satisfied=states[dep] == "succeeded")

    # Worker pools: a running task holds a slot; ready tasks queue for one.
    for action, total in POOLS.items():
        members = [n for n, spec in WORKFLOW.items() if spec[0] == action]
        holding = [n for n in members if states[n] == "running"]
        queued = sorted((n for n in members if states[n] == "ready"), key=lambda n: -WORKFLOW[n][1])
        if not holding and not queued:
            continue  # an idle pool says nothing about this run
        free = total - len(holding)
        waiting = queued[free:] if free < len(queued) else []
        pool = b.node(
            "semaphore",
            f"pool:{action}",
            f"{action} workers",
            name=f"{action} workers",
            permits_total=total,
            permits_available=max(0, free),
            waiters=len(waiting),
        )
        for n in holding:
            b.needs(pool, ids[n], held=True)
        for n in waiting:
            b.needs(ids[n], pool)

    # The two tasks of the dependency cycle have waited since they were
    # submitted: the engine records where its dispatcher parked them.
    for name in ("publish", "notify_owner"):
        b.pending_trace(
            list(WORKFLOW).index(name) + 1,
            [
                ("Engine.wait_for_dependencies", "engine/scheduler.py", 212),
                ("Engine.dispatch", "engine/scheduler.py", 148),
                (f"workflow.{name}", "pipelines/nightly.py", 40 + list(WORKFLOW).index(name)),
            ],
            duration_us=55_000_000,
            at_ns=now,
        )
    return b.build(captured_at_ns=now)


if __name__ == "__main__":
    raise SystemExit(main(build, "Post a workflow engine's task graph to peepsweb."))
