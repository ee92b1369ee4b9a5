"""Forget every capture's cached node counts (ProcessSnapshot.count_cache),
to be counted again on first sight. Before b32a30f, counting several captures
of one segment at once gave all their rows to one of them: the snapshot list
showed "no tasks" for the others, and the graph page offered no kinds to
filter by. Those wrong counts were cached for good."""

from django.db import migrations


def forget_counts(apps, schema_editor):
    apps.get_model("snapshots", "ProcessSnapshot").objects.update(count_cache=None)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0008_processsnapshot_same_tasks"),
    ]

    operations = [
        migrations.RunPython(forget_counts, migrations.RunPython.noop),
    ]
