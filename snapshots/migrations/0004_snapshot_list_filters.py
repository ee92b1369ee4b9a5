"""Indexes for the snapshot list's filters (issue 13 item 4): captures by process
name, captures with a cycle of their own (partial: few have one), snapshots by
capture time for ?at=, cycle reports that found a candidate (partial)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0003_versioned_rows"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="cyclereport",
            index=models.Index(
                condition=models.Q(("candidate_count__gt", 0)),
                fields=["snapshot"],
                name="report_found",
            ),
        ),
        migrations.AddIndex(
            model_name="processsnapshot",
            index=models.Index(fields=["process"], name="capture_process"),
        ),
        migrations.AddIndex(
            model_name="processsnapshot",
            index=models.Index(
                condition=models.Q(("cycle_key__in", ["", "?"]), _negated=True),
                fields=["snapshot"],
                name="capture_with_cycle",
            ),
        ),
        migrations.AddIndex(
            model_name="snapshot",
            index=models.Index(fields=["captured_at_ns", "id"], name="snapshot_captured"),
        ),
    ]
