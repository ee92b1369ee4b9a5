from django.apps import AppConfig
from django.db.backends.signals import connection_created


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the live publisher to process_snapshot_stored, so every
        # ingest path (HTTP, agent socket, management command) updates pages.
        from snapshots.live import publish  # noqa: F401
        from snapshots.queries import use_re2_for_sqlite_regexp

        # Name searches on SQLite run in RE2, never in Python's backtracking
        # `re`: every new connection gets its REGEXP function replaced.
        connection_created.connect(use_re2_for_sqlite_regexp)
