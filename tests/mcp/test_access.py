"""Who may use /mcp: open like the read API, a bearer token when
PEEPSWEB_MCP_TOKEN_REQUIRED=1 (once ingest tokens exist), and never a page of
another site through a user's browser."""

import json

from django.utils import timezone

from snapshots.models import IngestToken
from tests.mcp.conftest import INITIALIZE, mcp_call, raw_post


def test_reads_are_open_like_the_read_api_but_not_to_other_sites(daphne_server):
    IngestToken.create("ingest")  # tokens guard ingest, not reads
    server = daphne_server()
    (result,) = mcp_call(server, [("list_snapshots", {})])
    assert not result.is_error

    url = server.url + "/mcp"
    status, _, body = raw_post(url, INITIALIZE)
    assert status == 200, body
    status, _, _ = raw_post(url, INITIALIZE, {"Origin": server.url})
    assert status == 200
    # A page elsewhere (or a rebound DNS name) cannot call the tools from a browser.
    status, _, body = raw_post(url, INITIALIZE, {"Origin": "http://evil.example"})
    assert (status, body) == (403, "Invalid Origin header")
    status, _, body = raw_post(url, INITIALIZE, {"Host": f"evil.example:{server.port}"})
    assert (status, body) == (421, "Invalid Host header")


def test_a_bearer_token_is_required_when_configured_once_tokens_exist(daphne_server):
    server = daphne_server(env={"PEEPSWEB_MCP_TOKEN_REQUIRED": "1"})
    url = server.url + "/mcp"
    # No token exists yet: open, as ingest is.
    (result,) = mcp_call(server, [("list_snapshots", {})])
    assert not result.is_error

    token = IngestToken.create("agent")
    status, headers, body = raw_post(url, INITIALIZE)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(body) == {
        "error": "an ingest token is required: Authorization: Bearer <token>",
        "path": "Authorization",
    }
    status, _, body = raw_post(url, INITIALIZE, {"Authorization": "Bearer pw_not-a-token"})
    assert (status, json.loads(body)["error"]) == (403, "unknown ingest token")

    (result,) = mcp_call(server, [("list_snapshots", {})], {"Authorization": f"Bearer {token}"})
    assert not result.is_error

    IngestToken.objects.filter(name="agent").update(revoked_at=timezone.now())
    status, _, body = raw_post(url, INITIALIZE, {"Authorization": f"Bearer {token}"})
    assert (status, json.loads(body)["error"]) == (403, "ingest token 'agent' has been revoked")
