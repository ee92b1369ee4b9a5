"""ProcessSnapshot.same_tasks: whether a capture has the same tasks as the
previous capture of its process, so that the snapshot list folds runs of
captures without a state change, not only those without any change. Older
captures get null (unknown): they fold as before, only when nothing changed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0007_versioned_wake_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="processsnapshot",
            name="same_tasks",
            field=models.BooleanField(null=True),
        ),
    ]
