"""`peepsweb-run [options] python app.py args...`: run a program unchanged,
with every asyncio event loop it makes instrumented and pushing snapshots.

    PEEPSWEB_URL=http://127.0.0.1:8000 peepsweb-run python app.py --port 8080
    peepsweb-run --push-interval 1 python -m mypackage.server
    python -m peepsweb_client run python app.py        # the same

Like `opentelemetry-instrument`, it puts a folder holding a `sitecustomize.py`
first on PYTHONPATH and replaces itself with the command (exec: same pid,
same exit status, signals go straight to the program). The program's
interpreter then runs peepsweb_client.autoinstall while it starts; any
sitecustomize the program had still runs after ours. Python processes the
program starts inherit PYTHONPATH, so they are instrumented too.

Configuration comes from the environment; an option overrides its variable:

    PEEPSWEB_URL                 --url                server (http://127.0.0.1:8000)
    PEEPSWEB_TOKEN               --token              ingest token
    PEEPSWEB_PUSH_INTERVAL       --push-interval      seconds between pushes (5)
    PEEPSWEB_PENDING_THRESHOLD   --pending-threshold  seconds before a wait gets a trace (1.0)
    PEEPSWEB_AGENT=1             --agent              answer "Jump to now"
    PEEPSWEB_PROCESS             --process            process name (the script or module)

A bad value is one line on stderr and exit status 2, before the program starts.
"""

import argparse
import os
import sys

from peepsweb_client.autoinstall import ConfigError, config_from_env

SITECUSTOMIZE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sitecustomize")

OPTIONS = (
    # (option, variable, metavar, help)
    ("--url", "PEEPSWEB_URL", "URL", "server URL (default http://127.0.0.1:8000)"),
    ("--token", "PEEPSWEB_TOKEN", "TOKEN", "ingest token (the variable is safer: ps shows args)"),
    ("--push-interval", "PEEPSWEB_PUSH_INTERVAL", "SECONDS", "seconds between pushes (default 5)"),
    (
        "--pending-threshold",
        "PEEPSWEB_PENDING_THRESHOLD",
        "SECONDS",
        "seconds a task waits before its trace is kept (default 1.0)",
    ),
    ("--process", "PEEPSWEB_PROCESS", "NAME", "process name shown (default: the script or module)"),
)


def build_parser(prog="peepsweb-run"):
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [options] COMMAND [ARGS...]",
        description="Run a Python program unchanged, its asyncio event loops instrumented "
        "for peepsweb.",
        epilog="Every option defaults to its PEEPSWEB_* environment variable.",
    )
    for option, variable, metavar, text in OPTIONS:
        parser.add_argument(option, dest=variable, metavar=metavar, help=text)
    parser.add_argument(
        "--agent",
        dest="PEEPSWEB_AGENT",
        action="store_const",
        const="1",
        help='also answer the server\'s "Jump to now" (default $PEEPSWEB_AGENT)',
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="e.g. python app.py args...")
    return parser


def child_environment(args, environ):
    """The program's environment: options written over their variables, our
    sitecustomize first on PYTHONPATH. ConfigError when a value is bad."""
    env = dict(environ)
    for name, value in vars(args).items():
        if name.startswith("PEEPSWEB_") and value is not None:
            env[name] = value
    config_from_env(env)  # checked here, where a bad value can still stop us
    path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITECUSTOMIZE_DIR]
    env["PYTHONPATH"] = os.pathsep.join([SITECUSTOMIZE_DIR, *path])
    return env


def main(argv=None, prog="peepsweb-run"):
    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (e.g. peepsweb-run python app.py)")
    try:
        env = child_environment(args, os.environ)
    except ConfigError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as e:
        sys.stderr.write(f"{prog}: cannot run {command[0]!r}: {e.strerror or e}\n")
        return 126 if isinstance(e, PermissionError) else 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
