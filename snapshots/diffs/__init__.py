"""What changed between two captures (issue 13): snapshots.diffs.diff
computes it over two Scopes, snapshots.diffs.pages renders it. The JSON
endpoint lives with the rest of the read API (snapshots/api/views.py)."""
