"""schemathesis against a real daphne server: the API answers as its OpenAPI
document says. Every check runs (status codes, content types, headers,
response schemas, schema-valid data accepted, schema-violating data
refused, JSON 405 for undocumented methods, ...), in deterministic mode so a
failure reproduces, with a bounded number of examples per operation (about
800 requests, 15-25 s per database on the 2-core development VM).

The run goes through schemathesis's own CLI, as the outside harness did,
because only the CLI runs every phase (examples, coverage, fuzzing,
stateful); tests/api/schemathesis.toml holds its one exception.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 10


@pytest.mark.timeout(240)
def test_the_api_behaves_as_its_openapi_document_says(daphne_server, load_examples, tmp_path):
    server = daphne_server()
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/api/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    # cwd: whatever schemathesis writes (reports, caches) stays in tmp_path.
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=220)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    # e.g. "779 generated, 779 passed": every case generated passed every check.
    assert re.search(r"\b(\d+) generated, \1 passed\b", output), output[-20_000:]
