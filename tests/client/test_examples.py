"""The three scripts in examples/ build valid snapshots in their systems' own
vocabulary and post them; the stalls they contain show up as cycles."""

import json
import subprocess
import sys
import urllib.request

import pytest
from peepsweb_client.validate import check_document

from snapshots import versions
from snapshots.models import Node, ProcessSnapshot
from snapshots.states import state_class
from tests.support.processes import REPO_ROOT

EXAMPLES = ["workflow_engine", "agent_registry", "scheduler"]


def run_example(name, *args):
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / f"{name}.py"), *args],
        capture_output=True,
        timeout=60,
        cwd="/",  # works from anywhere, without installing the package
    )


def printed(name):
    run = run_example(name, "--print")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    check_document(doc)
    return doc


def task_states(doc):
    return {n["attrs"]["state"] for n in doc["nodes"] if n["kind"] == "task"}


def test_the_workflow_engine_uses_its_states_and_policies():
    doc = printed("workflow_engine")
    assert task_states(doc) == {
        "pending",
        "ready",
        "running",
        "succeeded",
        "failed",
        "aborted",
        "skipped",
    }
    tasks = {n["label"]: n["attrs"] for n in doc["nodes"] if n["kind"] == "task"}
    # extract_api failed: ABORT aborts, SKIP skips, CONTINUE_IF_ANY carries on.
    assert tasks["transform"]["state"] == "aborted"
    assert tasks["thumbnails"]["state"] == "skipped"
    assert tasks["fallback_transform"]["on_dep_fail"] == "CONTINUE_IF_ANY"
    assert tasks["fallback_transform"]["state"] == "succeeded"
    assert {state_class(s) for s in task_states(doc)} == {
        "waiting",
        "runnable",
        "running",
        "done",
        "failed",
        "skipped",
    }


def test_the_agent_registry_shows_the_question_blocking_a_task():
    doc = printed("agent_registry")
    assert task_states(doc) == {"queued", "in_progress", "blocked", "finished", "failed"}
    (approval,) = [n for n in doc["nodes"] if n["kind"] == "approval"]
    assert approval["label"].endswith("Run it on production now?")
    blocked = [n for n in doc["nodes"] if n["attrs"].get("state") == "blocked"]
    assert [(e["src_id"], e["dst_id"]) for e in doc["edges"] if e["dst_id"] == approval["id"]] == [
        (blocked[0]["id"], approval["id"])
    ]
    assert any(n["attrs"].get("parent_task_id") for n in doc["nodes"])


def test_the_scheduler_covers_its_states_with_wake_times():
    doc = printed("scheduler")
    assert task_states(doc) == {
        "scheduled",
        "running",
        "sleeping",
        "waiting",
        "throttled",
        "finished",
        "failed",
    }
    (sleeping,) = [n for n in doc["nodes"] if n["attrs"].get("state") == "sleeping"]
    assert sleeping["attrs"]["wake_at_ns"] > doc["captured_at_ns"]
    assert sleeping["attrs"]["wake_at"].endswith("Z")


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_unreachable_server_is_reported(name):
    run = run_example(name, "--url", "http://127.0.0.1:9")
    assert run.returncode == 2
    assert b"cannot reach" in run.stderr


def test_each_example_posts_and_its_stall_is_a_cycle(daphne_server):
    server = daphne_server()
    for name in EXAMPLES:
        run = run_example(name, "--url", server.url)
        assert run.returncode == 0, run.stderr
    cycles = {}
    for proc in ProcessSnapshot.objects.all():
        url = f"{server.url}/api/v1/snapshots/{proc.snapshot_id}/cycles"
        with urllib.request.urlopen(url, timeout=30) as response:
            found = json.loads(response.read())["candidates"]
        labels = dict(versions.of(Node, proc).values_list("node_id", "label"))
        cycles[proc.process] = [sorted(labels[m] for m in c["members"]) for c in found]
    assert cycles == {
        "workflow-engine": [["notify_owner", "publish"]],
        "coding-agent": [],
        "job-scheduler": [["import_catalog", "products table lock", "rebuild_search_index"]],
    }
