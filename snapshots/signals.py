"""Signals between areas of the app, so ingest does not import its listeners.

`process_snapshot_stored` is sent after the ingest transaction commits
(never before: listeners broadcast to browsers and must not announce rows a
rollback could take back). kwargs: process_snapshot (ProcessSnapshot).
"""

from django.dispatch import Signal

process_snapshot_stored = Signal()
