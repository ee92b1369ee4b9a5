"""Hostile read parameters in the JSON API: a search pattern that would
backtrack forever, patterns only a backtracking engine runs, NUL bytes,
snapshot ids of Unicode digits, unknown methods. Each gets a prompt JSON
answer naming the parameter, never a 500 or a hung server."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client
from django.urls import reverse

from snapshots.models import IngestEvent
from tests.api.helpers import get_json, push, task

pytestmark = pytest.mark.django_db

KEY = "evil-1"
# `(a+)+$` against this backtracks 2**5000 ways in Python's re engine.
EVIL_LABEL = "a" * 5000 + "b"
EVIL_Q = "/(a%2B)%2B$/"  # /(a+)+$/, URL-encoded


@pytest.fixture
def evil():
    """A snapshot whose first task's label sends a backtracking engine into
    exponential time; -> the snapshot id."""
    nodes = [
        task(KEY, 1, EVIL_LABEL),
        task(KEY, 2, "aaa", state="running"),
        task(KEY, 3, "conn_handler", state="completed"),
    ]
    return push(KEY, nodes).snapshot_id


def nodes_url(snapshot, query=""):
    return f"/api/v1/snapshots/{snapshot}/nodes?{query}"


def ids(body):
    return [n["node_id"] for n in body["nodes"]]


def fetch(url, method="GET"):
    """(status, body) from a real server; the timeout turns a hung request
    into a failure instead of a hung test."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- item 2: a search pattern never runs unbounded --------------------------------


def test_a_catastrophic_regex_answers_at_once_and_never_stalls_other_requests(daphne_server):
    snapshot = push(KEY, [task(KEY, 1, EVIL_LABEL), task(KEY, 2, "aaa")]).snapshot_id
    server = daphne_server()
    searches = [
        f"{server.url}/api/v1/snapshots/{snapshot}/nodes?q={EVIL_Q}",
        f"{server.url}/api/v1/snapshots/{snapshot}/nodes?q=/(a%2B)%2B$/i",
        f"{server.url}/snapshots/{snapshot}/tasks/?q={EVIL_Q}",
    ]
    with ThreadPoolExecutor(len(searches)) as pool:
        running = [pool.submit(fetch, url) for url in searches]
        # Asked while the searches run: a stalled server would time out here.
        status, body = fetch(f"{server.url}/api/v1/snapshots/{snapshot}")
        assert status == 200
        assert json.loads(body)["node_count"] == 2
        answers = [r.result() for r in running]
    assert [status for status, _ in answers] == [200, 200, 200]
    for _, body in answers[:2]:
        assert [n["label"] for n in json.loads(body)["nodes"]] == ["aaa"]


def test_a_catastrophic_regex_runs_in_linear_time_in_process(client, evil):
    # The same search through the test client: before RE2 this never returned.
    assert ids(get_json(client, nodes_url(evil, f"q={EVIL_Q}"))) == [f"task:{KEY}:2"]
    assert ids(get_json(client, nodes_url(evil, "q=/^A%2B$/i"))) == [f"task:{KEY}:2"]


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"(a)\1", "backreference"),
        ("(?=a)aa", "lookahead"),
        ("(?!b)a", "negative lookahead"),
        ("(?<=a)a", "lookbehind"),
        ("a{1001}", "repetition over 1000"),
    ],
)
def test_a_pattern_only_a_backtracking_engine_runs_is_a_400_naming_q(client, evil, pattern, why):
    # Refused alike on SQLite (RE2) and PostgreSQL (whose engine would run
    # backreferences and lookaround): one dialect for every database.
    response = client.get(nodes_url(evil), {"q": f"/{pattern}/"})
    assert response.status_code == 400, why
    body = response.json()
    assert body["path"] == "q"
    assert body["error"].startswith("q is not a valid regular expression: "), body
    assert body["error"].endswith("(RE2 syntax: no backreferences or lookaround)"), body


def test_an_ordinary_regex_still_matches_on_every_database(client, evil):
    assert ids(get_json(client, nodes_url(evil, r"q=/^conn_\w%2B$/"))) == [f"task:{KEY}:3"]
    assert ids(get_json(client, nodes_url(evil, "q=/^CONN/i"))) == [f"task:{KEY}:3"]
    assert ids(get_json(client, nodes_url(evil, "q=/^[[:alpha:]]{3}$/"))) == [f"task:{KEY}:2"]


# -- items 3 and 18: NUL bytes ------------------------------------------------------


@pytest.mark.parametrize(
    "param", ["state", "kind", "state_class", "process", "q", "sort", "page", "per_page"]
)
def test_a_nul_byte_in_any_node_list_parameter_is_a_400_naming_it(client, evil, param):
    for value in ("%00", "run%00ning", "/a%00/"):
        body = get_json(client, nodes_url(evil, f"{param}={value}"), status=400)
        assert body["path"] == param, (value, body)


def test_a_nul_byte_in_the_snapshot_list_page_is_a_400_naming_it(client, evil):
    assert get_json(client, "/api/v1/snapshots?page=1%00", status=400)["path"] == "page"


def test_a_nul_byte_in_a_node_id_is_a_400_naming_node_id(client, evil):
    body = get_json(client, f"/api/v1/snapshots/{evil}/nodes/task:{KEY}:1%00", status=400)
    assert body == {"error": "node_id must not contain a NUL byte", "path": "node_id"}


def test_a_nul_byte_in_the_snapshot_id_is_a_404(client, evil):
    assert get_json(client, f"/api/v1/snapshots/{evil}%00/nodes", status=404)["path"] == "id"


@pytest.mark.parametrize(
    "doc",
    [
        {"process": "bad\x00name", "proc_key": "bad\x00-1", "nodes": [], "edges": []},
        # peeps' ProcessDump form: the proc_key is told from process_name
        {"process_name": "bad\x00name", "pid": 1, "nodes": [], "edges": []},
    ],
)
def test_a_refused_nul_in_process_is_written_to_the_ingest_event_log(client, db, doc):
    response = client.post("/api/v1/snapshots", json.dumps(doc), content_type="application/json")
    assert response.status_code == 400
    event = IngestEvent.objects.get()  # PostgreSQL text cannot hold a NUL: escaped
    assert event.kind == IngestEvent.REJECTED
    assert event.proc_key.startswith("bad\\u0000")
    assert event.detail.startswith(response.json()["path"] + ": ")


# -- item 12: snapshot ids are ASCII digits ---------------------------------------------


def arabic_indic(number):
    return str(number).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


@pytest.mark.parametrize("suffix", ["", "/nodes", "/nodes/task:evil-1:1", "/cycles", "/cycles.txt"])
def test_a_snapshot_id_of_unicode_digits_is_a_json_404(client, evil, suffix):
    # ² and ⑴ are str.isdigit() but not int(); Arabic-Indic digits are both,
    # and must not reach a snapshot by another spelling of its id either.
    for scope in ("²", "⑴", "１", arabic_indic(evil)):
        response = client.get(f"/api/v1/snapshots/{scope}{suffix}")
        assert response.status_code == 404, (scope, suffix)
        assert response.json()["path"] == "id"


# -- item 19: the OpenAPI document agrees with behaviour ----------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FROBNICATE"])
@pytest.mark.parametrize(
    "route, args",
    [
        ("api-snapshot", ["{id}"]),
        ("api-nodes", ["{id}"]),
        ("api-node", ["{id}", "task:evil-1:1"]),
        ("api-openapi", []),
        ("cycles:api", ["{id}"]),
        ("cycles:report", ["{id}"]),
    ],
)
def test_an_unknown_method_on_a_read_endpoint_is_a_json_405(evil, method, route, args):
    url = reverse(route, args=[a.replace("{id}", str(evil)) for a in args])
    # With CSRF checks on, as for a real server: the 405 must come first.
    response = Client(enforce_csrf_checks=True).generic(method, url)
    assert response.status_code == 405, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"] == f"method {method} not allowed"


def test_an_unknown_method_on_the_snapshot_collection_is_a_json_405(db):
    response = Client(enforce_csrf_checks=True).generic("PUT", "/api/v1/snapshots")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert response.json()["error"] == "method PUT not allowed"
