"""Investigation pages, one module per concern. Each view is a small function:
resolve the scope, ask snapshots.queries, render a page whose table/list is a
partial that htmx requests receive alone."""
