"""peepsweb-run's own behaviour, no server needed: bad configuration stops it
before the program starts, the program's exit status and its own
sitecustomize survive, a broken instrumentation never breaks the program, and
a hanging server never holds up its exit."""

import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from ..peers import HangingServer
from .conftest import program_environment

# Prints what peepsweb-run gave each loop, and exits with status 3.
REPORTS_ITS_LOOPS = """
    import asyncio, sys

    async def main():
        try:
            from peepsweb_client import aio
            inst = aio.instrumenter()
        except Exception as e:
            print("uninstrumented", type(e).__name__, flush=True)
        else:
            print("instrumented", inst.process, flush=True)

    asyncio.run(main())
    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    sys.exit(3)
"""

# No server listens there: pushes fail, in the background.
NOWHERE = "http://127.0.0.1:9"


def run(venv, tmp_path, source, *command, env=None, name="app"):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    full_env = program_environment(venv, NOWHERE, env)
    command = command or ("peepsweb-run", "python", script.name)
    return subprocess.run(
        command, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=60
    )


def test_every_loop_is_instrumented_named_after_the_script_and_the_exit_status_kept(
    client_venvs, tmp_path
):
    done = run(client_venvs("3.12"), tmp_path, REPORTS_ITS_LOOPS, name="reporter")
    assert done.stdout.splitlines() == ["instrumented reporter", "instrumented reporter"]
    assert done.returncode == 3
    assert done.stderr == ""  # nothing pushed: the loops ran for milliseconds


def test_a_module_run_with_python_m_is_named_after_the_module(client_venvs, tmp_path):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "server.py").write_text(textwrap.dedent(REPORTS_ITS_LOOPS))
    done = run(client_venvs("3.12"), tmp_path, "", "peepsweb-run", "python", "-m", "mypkg.server")
    assert done.stdout.splitlines()[0] == "instrumented mypkg.server", done.stderr


def test_options_override_the_environment(client_venvs, tmp_path):
    done = run(
        client_venvs("3.12"),
        tmp_path,
        REPORTS_ITS_LOOPS,
        "peepsweb-run",
        "--process",
        "from-option",
        "python",
        "app.py",
        env={"PEEPSWEB_PROCESS": "from-env"},
    )
    assert done.stdout.splitlines()[0] == "instrumented from-option", done.stderr


def test_a_bad_setting_is_one_line_and_exit_2_before_the_program_starts(client_venvs, tmp_path):
    starts = "open('started', 'w').close()\n"
    for variable, value in [
        ("PEEPSWEB_PUSH_INTERVAL", "abc"),
        ("PEEPSWEB_PENDING_THRESHOLD", "-1"),
        ("PEEPSWEB_AGENT", "maybe"),
        ("PEEPSWEB_URL", "ftp://example"),
    ]:
        done = run(client_venvs("3.12"), tmp_path, starts, env={variable: value})
        assert done.returncode == 2
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith(f"peepsweb-run: {variable}=")
        assert not (tmp_path / "started").exists()


def test_an_unknown_command_says_so_with_exit_127(client_venvs, tmp_path):
    done = run(client_venvs("3.12"), tmp_path, "", "peepsweb-run", "no-such-program-here")
    assert done.returncode == 127
    assert done.stderr == (
        "peepsweb-run: cannot run 'no-such-program-here': No such file or directory\n"
    )


def test_the_programs_own_sitecustomize_still_runs(client_venvs, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import builtins\nbuiltins.own_site = 'ran'\n")
    source = "import builtins\nprint('own sitecustomize', builtins.own_site)\n" + textwrap.dedent(
        REPORTS_ITS_LOOPS
    )
    done = run(client_venvs("3.12"), tmp_path, source, env={"PYTHONPATH": own})
    assert done.stdout.splitlines() == [
        "own sitecustomize ran",
        "instrumented app",
        "instrumented app",
    ]


def test_a_broken_instrumentation_is_logged_once_and_the_program_runs(client_venvs, tmp_path):
    # The program's sitecustomize (run after ours) makes the client's asyncio
    # module unimportable, so installing it fails on every loop.
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import sys\nsys.modules['peepsweb_client.aio'] = None\n")
    done = run(client_venvs("3.12"), tmp_path, REPORTS_ITS_LOOPS, env={"PYTHONPATH": own})
    assert done.stdout.splitlines() == [
        "uninstrumented ModuleNotFoundError",
        "uninstrumented ModuleNotFoundError",
    ]
    assert done.returncode == 3
    assert done.stderr.count("peepsweb: cannot instrument the event loop") == 1


def test_the_program_exits_at_once_although_the_server_hangs(client_venvs, tmp_path):
    # Pushes every 0.2 s go to a server that never answers; the first one
    # holds the pusher's thread in a socket read (for 10 s, its timeout).
    source = """
        import asyncio, time

        async def main():
            await asyncio.sleep(0.7)

        asyncio.run(main())  # closing the loop stops its pusher
        print(time.time(), flush=True)
    """
    with HangingServer() as server:
        done = run(client_venvs("3.12"), tmp_path, source, env={"PEEPSWEB_URL": server.url})
        exited = time.time()
        assert server.accepted  # a push was in flight
    loop_closed = float(done.stdout)
    print(f"exit {exited - loop_closed:.3f} s after the loop closed")
    assert done.returncode == 0 and done.stderr == ""
    assert exited - loop_closed < 1.0  # not the 10 s socket timeout


def test_a_python_without_the_package_and_the_programs_children_are_instrumented(
    client_venvs, tmp_path
):
    # A venv that has never seen peepsweb-client runs the program; the
    # program starts a child Python, which inherits PYTHONPATH.
    bare = tmp_path / "bare"
    subprocess.run([client_venvs("3.13").python, "-m", "venv", "--without-pip", bare], check=True)
    source = (
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, 'child.py'], check=True)\n"
        + textwrap.dedent(REPORTS_ITS_LOOPS)
    )
    (tmp_path / "child.py").write_text(
        textwrap.dedent(REPORTS_ITS_LOOPS).replace("exit(3)", "exit(0)")
    )
    done = run(
        client_venvs("3.12"),
        tmp_path,
        source,
        "peepsweb-run",
        str(bare / "bin" / "python"),
        "app.py",
    )
    assert done.stdout.splitlines() == [
        "instrumented child",
        "instrumented child",
        "instrumented app",
        "instrumented app",
    ], done.stderr


OLD_PYTHON = Path("/root/.pyenv/versions/3.11.7/bin/python")


@pytest.mark.skipif(not OLD_PYTHON.exists(), reason="no Python 3.11 under pyenv here")
def test_a_python_older_than_3_12_runs_the_program_uninstrumented_and_says_why(
    client_venvs, tmp_path
):
    done = run(
        client_venvs("3.12"), tmp_path, REPORTS_ITS_LOOPS, "peepsweb-run", str(OLD_PYTHON), "app.py"
    )
    # (The program's own import of aio fails on 3.11 too: nothing installed it.)
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["uninstrumented"] * 2
    assert done.returncode == 3
    assert done.stderr == (
        f"peepsweb: the client needs Python 3.12 or newer; {OLD_PYTHON} is Python 3.11.7:"
        " running uninstrumented\n"
    )
