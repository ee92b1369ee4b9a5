"""`python -m peepsweb_client push|demo` as a user runs it, against daphne."""

import gzip
import json
import os
import subprocess
import sys
import urllib.request

from snapshots import versions
from snapshots.models import Edge, Node, ProcessSnapshot
from tests.support.examples import EXAMPLES_DIR, example_names
from tests.support.processes import REPO_ROOT


def cli(*args, stdin=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "peepsweb_client", *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PEEPSWEB_URL": "", "PEEPSWEB_TOKEN": "", **(env or {})},
    )


def example_files():
    return [str(EXAMPLES_DIR / f"{name}.json") for name in example_names()]


def test_it_uploads_the_example_fixtures_with_a_progress_bar(daphne_server):
    server = daphne_server()
    run = cli("push", *example_files(), "--url", server.url, "--progress")
    assert run.returncode == 0, run.stderr
    out = run.stdout.decode()
    for name in example_names():
        assert f"{name}.json: snapshot " in out
    assert f"{len(example_names())} of {len(example_names())} files stored" in out
    bar = run.stderr.decode()
    assert "[##############################] 6/6 files" in bar
    assert ProcessSnapshot.objects.count() == len(example_names())


def test_it_reads_stdin_and_gzip_files(daphne_server, tmp_path):
    server = daphne_server()
    raw = (EXAMPLES_DIR / "rpc_backend.json").read_bytes()
    packed = tmp_path / "front.json.gz"
    packed.write_bytes(gzip.compress((EXAMPLES_DIR / "rpc_frontend.json").read_bytes()))
    run = cli("push", "-", str(packed), "--url", server.url, stdin=raw)
    assert run.returncode == 0, run.stderr
    assert "<stdin>: snapshot" in run.stdout.decode()
    assert set(ProcessSnapshot.objects.values_list("proc_key", flat=True)) == {
        "backend-200",
        "frontend-100",
    }


def test_server_errors_are_shown_verbatim_and_the_exit_status_is_1(daphne_server):
    server = daphne_server()
    bad = json.dumps({"process": "x", "proc_key": "x-1", "nodes": [{"id": "task:x-1:1"}]})
    run = cli("push", "-", "--url", server.url, stdin=bad.encode())
    assert run.returncode == 1
    expected = {
        "error": "kind is required: 1 to 64 characters of [a-z0-9_-]",
        "path": "nodes[0].kind",
    }
    line = run.stderr.decode().strip()
    assert line.startswith("<stdin>: HTTP 400 {")
    assert json.loads(line.split("HTTP 400 ", 1)[1]) == expected


def test_a_token_comes_from_the_environment(daphne_server):
    from snapshots.models import IngestToken

    token = IngestToken.create("cli")
    server = daphne_server()
    refused = cli("push", example_files()[0], "--url", server.url)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr.decode()
    run = cli("push", example_files()[0], env={"PEEPSWEB_URL": server.url, "PEEPSWEB_TOKEN": token})
    assert run.returncode == 0, run.stderr


def test_an_unreachable_server_exits_with_2():
    run = cli("push", example_files()[0], "--url", "http://127.0.0.1:9")
    assert run.returncode == 2
    assert "cannot reach http://127.0.0.1:9/api/v1/snapshots" in run.stderr.decode()


def test_check_validates_locally_with_the_server_rules(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"process": "x", "proc_key": "X"}))
    run = cli("push", "--check", example_files()[0], str(bad))
    assert run.returncode == 1
    assert "valid (" in run.stdout.decode()
    assert 'bad.json: 400 {"error": "proc_key is required' in run.stderr.decode()


def test_the_demo_yields_the_lock_inversion_cycle_through_the_cycles_api(daphne_server):
    server = daphne_server()
    run = cli("demo", "--once", "--url", server.url)
    assert run.returncode == 0, run.stderr
    (proc,) = ProcessSnapshot.objects.all()
    with urllib.request.urlopen(
        f"{server.url}/api/v1/snapshots/{proc.snapshot_id}/cycles", timeout=30
    ) as response:
        cycles = json.loads(response.read())
    labels = {n.node_id: n.label for n in versions.of(Node, proc)}
    members = [sorted(labels[m] for m in c["members"]) for c in cycles["candidates"]]
    assert members == [["account_a", "account_b", "transfer_a_to_b", "transfer_b_to_a"]]
    (candidate,) = cycles["candidates"]
    explanations = {e["explanation"] for e in candidate["edges"]}
    assert "task transfer_a_to_b waits on lock account_b" in explanations
    assert "lock account_a is held by task transfer_a_to_b" in explanations
    # The producer is stalled on the full queue, outside the cycle.
    producer = versions.of(Node, proc).get(kind="task", label="producer")
    jobs = versions.of(Node, proc).get(kind="queue", label="jobs")
    assert versions.of(Edge, proc).filter(src=producer.node_id, dst=jobs.node_id).exists()
    assert jobs.attrs["full"] is True and jobs.attrs["put_waiters"] == 1
    assert proc.trace_count > 0  # pending traces past the 1 s threshold
