"""Over-limit request bodies: does the server answer 413 at once, and how
much memory does an oversize body cost it? (issue 16, item 13)

    .venv/bin/python bench/body_limit.py                          # 64 MiB limit, 512 MiB bodies
    .venv/bin/python bench/body_limit.py --limit-mib 8 --body-mib 64

Each case runs against a fresh server, started the way the tests start one
(tests/support/processes.start_daphne, so the same launcher as scripts/serve),
with MALLOC_MMAP_THRESHOLD_ as scripts/serve sets it:

1. Content-Length announcing 256 MiB, 2 bytes sent: the status and how long
   the answer took (no answer within 10 s is printed as such).
2. A Content-Length body of --body-mib, all of it offered to the server.
3. The same as a chunked (streamed) body.

For 2 and 3: the server process's peak RSS (VmHWM) growth over the request,
read from /proc before and after, and the growth / limit ratio.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdb import setup_django  # noqa: E402
from bench.procstat import status_bytes  # noqa: E402
from tests.support import rawhttp  # noqa: E402
from tests.support.processes import start_daphne  # noqa: E402

MIB = 1024 * 1024
CHUNK = b"x" * (256 * 1024)


def body(size):
    for _ in range(size // len(CHUNK)):
        yield CHUNK


def run_case(name, limit, send, log_dir):
    env = dict(
        os.environ,
        PEEPSWEB_MAX_BODY_BYTES=str(limit),
        MALLOC_MMAP_THRESHOLD_="131072",
        PYTHONUNBUFFERED="1",
    )
    server = start_daphne(env, Path(log_dir) / f"{name}.log")
    try:
        pid = server.process.pid
        before = status_bytes(pid, "VmHWM")
        answer = send(server.port)
        after = status_bytes(pid, "VmHWM")
    finally:
        server.stop()
    return answer, round((after - before) / MIB, 1) + 0.0  # no "-0.0" for a few KiB less


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-mib", type=int, default=64)
    parser.add_argument("--body-mib", type=int, default=512)
    args = parser.parse_args()
    setup_django("body-limit")  # a migrated SQLite file (or DATABASE_URL) for the servers
    limit, size = args.limit_mib * MIB, args.body_mib * MIB
    json_type = {"Content-Type": "application/json"}
    cases = {
        "announced 256 MiB, 2 bytes sent": lambda port: rawhttp.post(
            port,
            "/api/v1/snapshots",
            {**json_type, "Content-Length": str(256 * MIB)},
            [b"{}"],
            timeout=10,
        ),
        f"Content-Length {args.body_mib} MiB": lambda port: rawhttp.post(
            port,
            "/api/v1/snapshots",
            {**json_type, "Content-Length": str(size)},
            body(size),
            timeout=600,
        ),
        f"chunked {args.body_mib} MiB": lambda port: rawhttp.post(
            port,
            "/api/v1/snapshots",
            {**json_type, "Transfer-Encoding": "chunked"},
            rawhttp.chunked(body(size)),
            timeout=600,
        ),
    }
    print(f"limit {args.limit_mib} MiB, bodies {args.body_mib} MiB, python {sys.executable}")
    with tempfile.TemporaryDirectory() as log_dir:
        for name, send in cases.items():
            answer, growth = run_case(name.split(",")[0].replace(" ", "-"), limit, send, log_dir)
            status = answer.status or "no answer"
            print(
                f"{name:34} -> {status} after {answer.seconds:6.2f} s, "
                f"{answer.sent / MIB:7.1f} MiB sent by then; "
                f"server peak RSS +{growth:7.1f} MiB ({growth / args.limit_mib:.2f}x the limit)"
            )


if __name__ == "__main__":
    main()
