"""The MCP server through the official SDK's client, against real daphne.

`mcp_call(server, [(tool, arguments), ...])` opens one client session (the
SDK's Streamable HTTP transport + ClientSession) on `server`'s /mcp,
initializes it and returns the CallToolResults in order; `mcp_tools(server)`
lists the tools. The tests are plain functions: each session runs in an
event loop of its own (asyncio.run), outside pytest-django's database.
"""

import asyncio
import json
import urllib.error
import urllib.request

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def _session(url, work, headers=None):
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)


def mcp_call(server, calls, headers=None):
    async def work(session):
        return [await session.call_tool(name, arguments) for name, arguments in calls]

    return asyncio.run(_session(server.url + "/mcp", work, headers))


def mcp_tools(server, headers=None, path="/mcp"):
    async def work(session):
        return (await session.list_tools()).tools

    return asyncio.run(_session(server.url + path, work, headers))


def text(result):
    """The one text block of a tool result."""
    (block,) = result.content
    return block.text


def raw_post(url, body, headers=None):
    """(status, headers, body text) of a POST made without the SDK."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


@pytest.fixture
def examples_server(daphne_server, load_examples):
    """A daphne server over the example snapshots; (server, {name: snapshot id})."""
    ids = {name: capture.snapshot_id for name, capture in load_examples.items()}
    return daphne_server(), ids
