from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the live publisher to process_snapshot_stored, so every
        # ingest path (HTTP, agent socket, management command) updates pages.
        from snapshots.live import publish  # noqa: F401
