"""Real programs, unmodified, run under `peepsweb-run` against a real server.

Fixture API (for the tests in this folder):

- `python_version` -- "3.12" or "3.13": every test that takes it runs once per
  version (test ids `[py3.12]`, `[py3.13]`).
- `run_program(python_version, source_or_path, *, name="program", args=(),
  env=None, timeout=30, via="peepsweb-run") -> Program`: writes `source` (a
  string of Python code, dedented; or copies a path) to a temp file
  `{name}.py` and starts `peepsweb-run python {name}.py *args` from a fresh
  venv of that Python holding only `pip install ./client`, with
  PEEPSWEB_URL pointing at a real daphne server on the test database (started
  on first use), PEEPSWEB_PUSH_INTERVAL=0.2 and PEEPSWEB_PENDING_THRESHOLD=0.2.
  `env` adds to or overrides the program's environment (a value of None
  removes a variable). `via="module"` starts `python -m peepsweb_client run
  python {name}.py` instead. `timeout` bounds the program's life: it is
  killed then, and at the end of the test anyway.
- `Program`: `.proc_key` (what its snapshots are stored under), `.pid`,
  `.process` (the name shown: `name`), `.server` (the DaphneServer),
  `.output()` (stdout and stderr so far), `.wait(timeout) -> exit status`,
  `.stop()`, `.running()`.
- `wait_for_cycle(program, timeout=20, where=None) -> [Candidate]`: polls
  GET /api/v1/snapshots/live/cycles until a candidate with a member of this
  program appears (and `where(candidate)` is true, when given), then returns
  those candidates; on timeout it fails the test with the program's output
  and the server's last answer. A `Candidate` is the API's candidate dict
  plus `labels` ({member node id: label}), `kinds` ({member id: node kind})
  and `task_labels` (sorted labels of its task members).
- `wait_for_pushes(program, count=2, timeout=20)`: waits until the server
  stored `count` snapshots of the program (for "no cycle" tests: let it push a
  few, then `cycles_of(program)` must be []).
- `cycles_of(program) -> [Candidate]`: the program's candidates now, once.

One venv per Python version per session (built on first use, `pip install
--no-deps` of a copy of client/, so the working tree gets no build output):
a few seconds once, then each test costs a daphne start and its program's
run. Pythons come from pyenv like scripts/lib.sh's find_python does; a
missing one skips locally and fails in CI.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from peepsweb_client.contract import derive_proc_key

from tests.support.processes import REPO_ROOT, missing_tool

PYTHON_VERSIONS = ("3.12", "3.13")
PUSH_INTERVAL = "0.2"
PENDING_THRESHOLD = "0.2"


@pytest.fixture(autouse=True)
def _once_per_suite():
    """The programs and the client are the same whatever database the server
    stores into: these tests run in the SQLite pass of scripts/test only
    (the PostgreSQL pass would double a minute and a half for nothing)."""
    if connection.vendor != "sqlite":
        pytest.skip("real programs run once, in the SQLite pass")


# -- Pythons and venvs ----------------------------------------------------------------


def pyenv_roots():
    roots = [os.environ.get("PYENV_ROOT")]
    try:
        roots.append(
            subprocess.run(
                ["pyenv", "root"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        )
    except (OSError, subprocess.TimeoutExpired):
        pass
    roots += [os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    return [r for r in dict.fromkeys(roots) if r and os.path.isdir(os.path.join(r, "versions"))]


def find_python(version):
    """The newest pyenv python3 of a minor version ("3.12"), or None."""

    def patch_level(path):
        name = Path(path).parents[1].name  # versions/3.12.1/bin/python3
        return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))

    for root in pyenv_roots():
        found = [
            p
            for p in glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python3"))
            if os.access(p, os.X_OK)
        ]
        if found:
            return max(found, key=patch_level)
    return None


class ClientVenv:
    def __init__(self, version, root):
        self.version = version
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.python = self.bin / "python"
        self.peepsweb_run = self.bin / "peepsweb-run"


def build_venv(version, workdir):
    python = find_python(version)
    if python is None:
        missing_tool(f"Python {version} is not installed under pyenv")
    # pip builds in the source folder; a copy keeps client/ free of build/
    # and lets two test runs build at once.
    source = workdir / "client"
    shutil.copytree(
        REPO_ROOT / "client",
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    venv = ClientVenv(version, workdir / f"venv{version}")
    steps = [
        [python, "-m", "venv", str(venv.root)],
        [venv.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["--no-deps", str(source)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(map(str, step))} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}"
            )
    return venv


@pytest.fixture(scope="session")
def client_venvs(tmp_path_factory):
    """client_venvs("3.12") -> ClientVenv, built once per session on first use."""
    built = {}

    def get(version):
        if version not in built:
            built[version] = build_venv(version, tmp_path_factory.mktemp(f"client-py{version}"))
        return built[version]

    return get


@pytest.fixture(params=PYTHON_VERSIONS, ids=[f"py{v}" for v in PYTHON_VERSIONS])
def python_version(request):
    return request.param


# -- programs -------------------------------------------------------------------------


class Program:
    def __init__(self, name, popen, out_path, server, timeout):
        self.process = name
        self.popen = popen
        self.pid = popen.pid  # peepsweb-run execs the program: the same pid
        self.proc_key = derive_proc_key(name, popen.pid)
        self.server = server
        self.out_path = out_path
        self.last_answer = None  # the read API's last (status, body), for failures
        self._timer = threading.Timer(timeout, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def __repr__(self):
        return f"<Program {self.proc_key}>"

    def running(self):
        return self.popen.poll() is None

    def output(self):
        return self.out_path.read_text(errors="replace")

    def wait(self, timeout=10):
        return self.popen.wait(timeout)

    def stop(self):
        self._timer.cancel()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)  # a deadlocked program ignores nothing else
        self.popen.wait(10)


@pytest.fixture
def run_program(client_venvs, daphne_server, tmp_path):
    """See the module docstring."""
    started = []
    server = []

    def run(version, source_or_path, *, name="program", args=(), env=None, timeout=30, via=None):
        venv = client_venvs(version)
        if not server:
            server.append(daphne_server())
        folder = tmp_path / f"prog{len(started)}"
        folder.mkdir()
        script = folder / f"{name}.py"
        if isinstance(source_or_path, Path):
            shutil.copy(source_or_path, script)
        else:
            script.write_text(textwrap.dedent(source_or_path))
        full_env = program_environment(venv, server[0].url, env)
        python = "python"  # found on PATH, the venv's bin first, as for a user
        if via in (None, "peepsweb-run"):
            command = ["peepsweb-run", python, str(script), *args]
        elif via == "module":
            command = [python, "-m", "peepsweb_client", "run", python, str(script), *args]
        else:
            raise ValueError(f"via={via!r}: 'peepsweb-run' or 'module'")
        out_path = folder / "output.txt"
        with open(out_path, "wb") as out:
            popen = subprocess.Popen(
                command, cwd=folder, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        program = Program(name, popen, out_path, server[0], timeout)
        started.append(program)
        return program

    yield run
    for program in started:
        program.stop()
        print(f"--- {program!r} output ---\n{program.output()}")


def program_environment(venv, url, extra):
    env = {
        name: value
        for name, value in os.environ.items()
        # Nothing of the test process's Python set-up reaches the program.
        if not name.startswith(("PEEPSWEB_", "PYTHON", "DJANGO", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{venv.bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv.root),
        PYTHONUNBUFFERED="1",
        PEEPSWEB_URL=url,
        PEEPSWEB_PUSH_INTERVAL=PUSH_INTERVAL,
        PEEPSWEB_PENDING_THRESHOLD=PENDING_THRESHOLD,
    )
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


# -- the server's read API ------------------------------------------------------------


def get_json(server, path):
    """(status, decoded body) of a GET on the server."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def node_of(server, node_id):
    status, body = get_json(
        server, "/api/v1/snapshots/live/nodes/" + urllib.parse.quote(node_id, safe=":")
    )
    return body["node"] if status == 200 else None


def cycles_of(program):
    """The program's deadlock candidates in the live view, now."""
    status, body = get_json(program.server, "/api/v1/snapshots/live/cycles")
    program.last_answer = (status, body)
    if status != 200:
        return []
    found = []
    for candidate in body["candidates"]:
        nodes = {m: node_of(program.server, m) for m in candidate["members"]}
        if not any(n and n["proc_key"] == program.proc_key for n in nodes.values()):
            continue
        labels = {m: (n["label"] if n else None) for m, n in nodes.items()}
        kinds = {m: (n["kind"] if n else None) for m, n in nodes.items()}
        task_labels = sorted(labels[m] or "" for m in labels if kinds[m] == "task")
        found.append({**candidate, "labels": labels, "kinds": kinds, "task_labels": task_labels})
    return found


def _poll(program, what, check, timeout):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline or not program.running():
            state = "is running" if program.running() else f"exited {program.popen.returncode}"
            pytest.fail(
                f"{what} for {program.proc_key} not seen within {timeout}s (program {state}).\n"
                f"server's last answer: {json.dumps(program.last_answer)[:3000]}\n"
                f"program output:\n{program.output()}",
                pytrace=False,
            )
        time.sleep(0.1)


@pytest.fixture
def wait_for_cycle():
    """See the module docstring."""

    def wait(program, timeout=20, where=None):
        def check():
            candidates = cycles_of(program)
            return [c for c in candidates if where is None or where(c)]

        return _poll(program, "a cycle", check, timeout)

    return wait


def stored_snapshots(program):
    status, body = get_json(program.server, "/api/v1/snapshots?per_page=100")
    program.last_answer = (status, body)
    items = body["snapshots"] if status == 200 else []
    return [
        s for s in items if any(p["proc_key"] == program.proc_key for p in s.get("processes", []))
    ]


@pytest.fixture
def wait_for_pushes():
    """See the module docstring."""

    def wait(program, count=2, timeout=20):
        return _poll(
            program,
            f"{count} pushed snapshots",
            lambda: len(stored_snapshots(program)) >= count,
            timeout,
        )

    return wait


@pytest.fixture(name="cycles_of")
def cycles_of_fixture():
    """See the module docstring."""
    return cycles_of
