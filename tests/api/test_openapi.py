import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from snapshots.api.openapi import document
from snapshots.ingest import response_body
from tests.api.helpers import get_json, load
from tests.support.examples import read_example

pytestmark = pytest.mark.django_db


def api_routes(patterns=None, prefix=""):
    """(route, pattern) for every URL pattern, includes followed."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from api_routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def as_openapi_path(route):
    # Django's `<str:scope>` is the contract's `{id}`.
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return "/" + path.replace("{scope}", "{id}")


def schema_of(name):
    return OAS31Validator({"$ref": f"#/components/schemas/{name}", **document()})


def test_the_document_is_valid_openapi_3_1(client):
    body = get_json(client, "/api/openapi.json")
    assert body["openapi"].startswith("3.1")
    validate(body)


def test_every_api_route_of_the_urlconf_is_described():
    routes = {as_openapi_path(r) for r, _ in api_routes() if r.startswith("api/")}
    assert "/api/v1/snapshots/{id}/nodes/{node_id}" in routes
    missing = routes - set(document()["paths"])
    assert not missing, f"routes missing from the OpenAPI document: {sorted(missing)}"


def test_every_endpoint_of_the_contract_is_described():
    paths = document()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/snapshots"])
    for path in (
        "/api/v1/snapshots/{id}",
        "/api/v1/snapshots/{id}/nodes",
        "/api/v1/snapshots/{id}/nodes/{node_id}",
        "/api/v1/snapshots/{id}/cycles",
        "/api/openapi.json",
    ):
        assert "get" in paths[path], path
    assert "post" in paths["/api/v1/jump-now"]


def test_ingest_documents_its_body_and_every_error_status():
    post = document()["paths"]["/api/v1/snapshots"]["post"]
    assert post["requestBody"]["required"] is True
    assert set(post["responses"]) == {"201", "400", "401", "403", "409", "413", "415", "503"}
    for status, response in post["responses"].items():
        if status != "201":
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}


def test_the_node_list_documents_its_filters_and_pagination():
    params = document()["paths"]["/api/v1/snapshots/{id}/nodes"]["get"]["parameters"]
    assert [p["name"] for p in params] == [
        "id",
        "kind",
        "state",
        "state_class",
        "process",
        "q",
        "sort",
        "page",
        "per_page",
    ]


def test_the_example_ingest_body_of_the_contract_matches_the_request_schema():
    for name in ("rpc_backend", "channel_full_stall"):
        schema_of("IngestBody").validate(read_example(name))
    schema_of("ProcessDump").validate(read_example("peeps_processdump"))


def test_real_responses_match_their_schemas(client, rpc_pair):
    front, back = rpc_pair
    load("channel_full_stall")
    load("mutex_lock_order_inversion")  # a cycle
    checks = [
        ("/api/v1/snapshots", "SnapshotList"),
        (f"/api/v1/snapshots/{back.snapshot_id}", "SnapshotSummary"),
        ("/api/v1/snapshots/live", "SnapshotSummary"),
        ("/api/v1/snapshots/live/nodes?sort=-pending_us", "NodeList"),
        ("/api/v1/snapshots/live/nodes/task:channel-full-stall-3111:2", "NodeDetail"),
        (f"/api/v1/snapshots/{back.snapshot_id}/nodes/response:backend-200:conn_1:7", "NodeDetail"),
        ("/api/v1/snapshots/live/nodes/task:backend-200:9", "NodeDetail"),
        ("/api/v1/snapshots/live/cycles", "Cycles"),
        ("/api/v1/agents", "AgentList"),
    ]
    for url, name in checks:
        schema_of(name).validate(get_json(client, url))
    for url, status in (
        ("/api/v1/snapshots/nope", 404),
        ("/api/v1/snapshots/live/nodes?page=0", 400),
    ):
        schema_of("Error").validate(get_json(client, url, status))


def test_the_ingest_result_schema_matches_what_ingest_answers():
    schema_of("IngestResult").validate(response_body(load("rpc_backend")))
