"""Command line: `python -m peepsweb_client run|push|demo`.

    python -m peepsweb_client run python app.py      # what peepsweb-run does
    python -m peepsweb_client push snapshots/example_snapshots/*.json
    cat dump.json | python -m peepsweb_client push - --url http://host:8000 --token pw_...
    python -m peepsweb_client demo

The URL and token default to $PEEPSWEB_URL (else http://127.0.0.1:8000) and
$PEEPSWEB_TOKEN. Files are gzipped on the way (a file that is already gzip
is sent as it is). Errors from the server are printed verbatim; the exit
status is 0 when every file was stored, 1 when any was refused, 2 when the
server could not be reached.
"""

import argparse
import asyncio
import gzip
import json
import os
import sys
import time

from peepsweb_client.autoinstall import DEFAULT_URL
from peepsweb_client.push import (
    RETRYABLE_STATUSES,
    PushError,
    ingest_url,
    post_snapshot,
    retry_after_seconds,
)
from peepsweb_client.validate import ValidationError, check_document

GZIP_MAGIC = b"\x1f\x8b"
BIG = 1024 * 1024  # a single file above this gets a progress bar too


class Progress:
    """One line on stderr: [#####-----] 3/10 files  1.2 MiB/4.0 MiB  name."""

    def __init__(self, total_files, total_bytes, stream, enabled):
        self.total_files = total_files
        self.total_bytes = max(1, total_bytes)
        self.stream = stream
        self.enabled = enabled
        self.files_done = 0
        self.bytes_done = 0
        self.name = ""
        self._last = 0.0

    def advance(self, n, force=False):
        self.bytes_done = min(self.total_bytes, self.bytes_done + n)
        self.draw(force)

    def draw(self, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * self.bytes_done / self.total_bytes)
        line = (
            f"\r[{'#' * filled}{'-' * (width - filled)}] "
            f"{self.files_done}/{self.total_files} files  "
            f"{human(self.bytes_done)}/{human(self.total_bytes)}  {self.name[-40:]}"
        )
        self.stream.write(line.ljust(100))
        self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()

    def say(self, stream, text):
        """Print a line without mangling the bar."""
        self.clear()
        stream.write(text + "\n")
        stream.flush()
        self.draw(force=True)


def human(n):
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def read_input(name, stdin):
    if name == "-":
        return stdin.buffer.read()
    with open(name, "rb") as f:
        return f.read()


def input_size(name):
    try:
        return 0 if name == "-" else os.path.getsize(name)
    except OSError:
        return 0


def push_files(args, stdout=sys.stdout, stderr=sys.stderr, stdin=sys.stdin):
    url = args.url
    sizes = [input_size(f) for f in args.files]
    show = args.progress
    if show is None:
        show = stderr.isatty() and (len(args.files) > 1 or sum(sizes) > BIG)
    bar = Progress(len(args.files), sum(sizes), stderr, show)
    failures = 0
    for name, size in zip(args.files, sizes, strict=True):
        label = "<stdin>" if name == "-" else name
        bar.name = label
        bar.draw(force=True)
        try:
            raw = read_input(name, stdin)
        except OSError as e:
            bar.say(stderr, f"{label}: cannot read: {e.strerror or e}")
            failures += 1
            continue
        size = size or len(raw)
        body = raw if raw[:2] == GZIP_MAGIC else gzip.compress(raw, compresslevel=5, mtime=0)
        if args.check:
            ok = check_locally(label, raw, bar, stdout, stderr)
            failures += not ok
            bar.files_done += 1
            bar.advance(size)
            continue
        scale = size / max(1, len(body))
        sent_before = bar.bytes_done
        try:
            resp = send_with_retries(
                url, body, args.token, lambda n, s=scale: bar.advance(int(n * s)), bar, stderr
            )
        except PushError as e:
            bar.say(stderr, f"{label}: {e}")
            bar.clear()
            stderr.write(f"stopped: {ingest_url(url)} cannot be reached\n")
            return 2
        bar.bytes_done = sent_before
        bar.files_done += 1
        bar.advance(size, force=True)
        if resp.ok:
            data = resp.json() or {}
            bar.say(
                stdout,
                f"{label}: snapshot {data.get('snapshot_id')} ({data.get('process')}, "
                f"{data.get('nodes')} nodes, {data.get('edges')} edges, "
                f"{data.get('unresolved_edges')} unresolved)",
            )
        else:
            failures += 1
            text = resp.text().strip() or "(empty body)"
            bar.say(stderr, f"{label}: HTTP {resp.status} {text}")
    bar.clear()
    if len(args.files) > 1:
        done = len(args.files) - failures
        verb = "checked" if args.check else "stored"
        stream = stderr if failures else stdout
        stream.write(f"{done} of {len(args.files)} files {verb}\n")
    return 1 if failures else 0


def send_with_retries(url, body, token, progress, bar, stderr, attempts=4):
    """POST, retrying 503/429/... (honouring Retry-After) and connection
    errors a few times. Returns the last Response; PushError if unreachable."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            resp = post_snapshot(url, body, token=token, timeout=60, progress=progress)
        except OSError as e:
            if attempt == attempts:
                raise PushError(f"cannot reach {ingest_url(url)}: {e}") from e
            wait = delay
        else:
            if resp.status not in RETRYABLE_STATUSES or attempt == attempts:
                return resp
            wait = retry_after_seconds(resp.headers.get("retry-after")) or delay
            bar.say(stderr, f"  HTTP {resp.status}, retrying in {wait:g}s")
        time.sleep(min(wait, 30))
        delay *= 2
    raise AssertionError("unreachable")


def check_locally(label, raw, bar, stdout, stderr):
    try:
        text = gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw
        doc = json.loads(text)
        out = check_document(doc)
    except (ValueError, OSError) as e:
        bar.say(stderr, f"{label}: not JSON: {e}")
        return False
    except ValidationError as e:
        bar.say(stderr, f"{label}: {e.status} {json.dumps(e.as_json(), ensure_ascii=False)}")
        return False
    bar.say(
        stdout,
        f"{label}: valid ({out.process}, {len(out.nodes)} nodes, {len(out.edges)} edges, "
        f"{len(out.unresolved_edges)} unresolved)",
    )
    return True


def run_demo(args, stdout=sys.stdout):
    from peepsweb_client import demo

    def out(text):
        stdout.write(text + "\n")
        stdout.flush()

    try:
        asyncio.run(
            demo.run(
                url=args.url,
                token=args.token,
                interval=args.interval,
                duration=args.duration,
                once=args.once,
                agent=args.agent,
                out=out,
            )
        )
    except KeyboardInterrupt:
        out("stopped")
    except PushError as e:
        sys.stderr.write(f"demo: {e}\n")
        return 1
    return 0


def build_parser():
    env_url = os.environ.get("PEEPSWEB_URL") or DEFAULT_URL
    env_token = os.environ.get("PEEPSWEB_TOKEN") or None
    parser = argparse.ArgumentParser(
        prog="python -m peepsweb_client",
        description="peepsweb client: run a program instrumented, upload snapshots, run the demo.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    # Listed for --help only: main() hands `run ...` to peepsweb_client.run
    # before parsing, so the program's own options are never read as ours.
    sub.add_parser(
        "run", help="run a program with its event loops instrumented (as peepsweb-run)"
    ).add_argument("args", nargs=argparse.REMAINDER)

    push = sub.add_parser("push", help="upload snapshot files (JSON, or gzip of JSON)")
    push.add_argument("files", nargs="+", metavar="FILE", help="snapshot files; - reads stdin")
    push.add_argument("--url", default=env_url, help=f"server URL (default {env_url})")
    push.add_argument("--token", default=env_token, help="ingest token (default $PEEPSWEB_TOKEN)")
    bar = push.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    push.add_argument(
        "--check",
        action="store_true",
        help="validate locally with the server's rules; send nothing",
    )

    demo = sub.add_parser("demo", help="run an instrumented asyncio program that deadlocks")
    demo.add_argument("--url", default=env_url, help=f"server URL (default {env_url})")
    demo.add_argument("--token", default=env_token, help="ingest token (default $PEEPSWEB_TOKEN)")
    demo.add_argument("--interval", type=float, default=2.0, help="seconds between pushes")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument("--once", action="store_true", help="push one snapshot and exit")
    demo.add_argument("--agent", action="store_true", help="also answer Jump to now")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        from peepsweb_client import run

        return run.main(argv[1:], prog="python -m peepsweb_client run")
    args = build_parser().parse_args(argv)
    if args.command == "push":
        return push_files(args)
    return run_demo(args)
