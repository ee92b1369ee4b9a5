"""The server refuses an over-limit body as it arrives, with memory bounded by
the limit, not by the body (issue 16, item 13): a real server process, as
scripts/serve runs it (peepsweb/server.py)."""

import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import rawhttp

from .conftest import assert_nothing_stored, small_doc

MIB = 1024 * 1024
LIMIT = 8 * MIB
OVER_LIMIT = {"error": f"the body is over the limit of {LIMIT} bytes", "path": ""}
JSON = {"Content-Type": "application/json"}


def peak_rss(server):
    """The server process's peak resident set so far (VmHWM), in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def filler(size):
    chunk = b" " * (256 * 1024)
    for _ in range(size // len(chunk)):
        yield chunk


def test_an_announced_oversize_body_is_refused_before_it_is_read(daphne_server):
    server = daphne_server(env={"PEEPSWEB_MAX_BODY_BYTES": LIMIT})
    # 256 MiB announced, 2 bytes sent: the answer cannot wait for the rest.
    answer = rawhttp.post(
        server.port,
        "/api/v1/snapshots",
        {**JSON, "Content-Length": str(256 * MIB)},
        [b"{}"],
        timeout=10,
    )
    assert answer.status == 413, server.log()
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"
    assert json.loads(answer.body) == OVER_LIMIT
    assert_nothing_stored()


def test_a_streamed_body_is_cut_off_at_the_limit_with_memory_bounded(daphne_server):
    server = daphne_server(env={"PEEPSWEB_MAX_BODY_BYTES": LIMIT})
    before = peak_rss(server)
    answer = rawhttp.post(
        server.port,
        "/api/v1/snapshots",
        {**JSON, "Transfer-Encoding": "chunked"},
        rawhttp.chunked(filler(8 * LIMIT)),
        timeout=60,
    )
    growth = peak_rss(server) - before
    assert answer.status == 413, server.log()
    assert json.loads(answer.body) == OVER_LIMIT
    # Before peepsweb/server.py the whole 64 MiB was held: +73 MiB measured.
    assert growth < 2 * LIMIT, f"peak RSS grew by {growth / MIB:.1f} MiB"
    assert_nothing_stored()


def test_a_client_that_sends_its_whole_body_before_reading_still_gets_the_413(daphne_server):
    server = daphne_server(env={"PEEPSWEB_MAX_BODY_BYTES": LIMIT})
    for body in (b" " * (3 * LIMIT), filler(3 * LIMIT)):  # Content-Length, then chunked
        request = urllib.request.Request(server.url + "/api/v1/snapshots", body, JSON)
        try:
            urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            assert (error.code, json.load(error)) == (413, OVER_LIMIT)
        else:
            raise AssertionError("an over-limit body was accepted")
    assert_nothing_stored()


def test_bodies_up_to_the_limit_still_get_in(daphne_server):
    body = json.dumps(small_doc()).encode()
    server = daphne_server(env={"PEEPSWEB_MAX_BODY_BYTES": len(body)})
    padded = body[:-1] + b" }"  # one byte over: refused by the server itself
    for data, status in ((body, 201), (iter([body]), 201), (padded, 413), (iter([padded]), 413)):
        request = urllib.request.Request(server.url + "/api/v1/snapshots", data, JSON)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == status
        except urllib.error.HTTPError as error:
            assert error.code == status, error.read()
