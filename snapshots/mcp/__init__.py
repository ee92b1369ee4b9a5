"""The MCP server at /mcp: server.py has the tools, asgi.py the HTTP glue."""
