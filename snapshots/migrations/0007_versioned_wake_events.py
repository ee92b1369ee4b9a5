"""Wake events become versioned rows like nodes and edges (segment_id,
first_id, last_id, digest): a sender sends its newest wakes with every
capture, most of them sent before, and each was stored again every time.

Existing events stay visible to their own capture only (first_id = last_id
= its id, in its segment; digest 0, which no content hashes to in practice
and which nothing compares them with: every process's next capture starts
a new segment, forced here through its ProcessHead). Going back deletes
the wake events (see forget_wakes)."""

from django.db import migrations, models


def keep_each_in_its_capture(apps, schema_editor):
    WakeEvent = apps.get_model("snapshots", "WakeEvent")
    ProcessSnapshot = apps.get_model("snapshots", "ProcessSnapshot")
    ProcessHead = apps.get_model("snapshots", "ProcessHead")
    segment = ProcessSnapshot.objects.filter(id=models.OuterRef("process_id")).values("segment_id")
    WakeEvent.objects.update(
        segment_id=models.functions.Coalesce(models.Subquery(segment), models.F("process_id")),
        first_id=models.F("process_id"),
        last_id=models.F("process_id"),
    )
    ProcessHead.objects.update(added_rows=2**62)  # the next capture writes a new segment


def forget_wakes(apps, schema_editor):
    # Back to one row per capture: a versioned row may belong to many, and
    # the old columns cannot be filled in; the wake events go.
    apps.get_model("snapshots", "WakeEvent").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0006_drop_node_task_id_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="wakeevent",
            name="segment_id",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="wakeevent",
            name="first_id",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="wakeevent",
            name="last_id",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="wakeevent",
            name="digest",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(keep_each_in_its_capture, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="wakeevent", name="wake_woken"),
        migrations.RemoveField(model_name="wakeevent", name="process"),
        migrations.RemoveField(model_name="wakeevent", name="snapshot"),
        migrations.RunPython(migrations.RunPython.noop, forget_wakes),
        migrations.AddIndex(
            model_name="wakeevent",
            index=models.Index(fields=["segment_id", "woken"], name="wake_segment_woken"),
        ),
    ]
