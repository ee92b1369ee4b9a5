"""Versioned rows (snapshots/versions.py): node, edge, unresolved edge,
pending trace and frame rows stop belonging to one capture and become valid
over a range of captures of one segment. Existing rows keep meaning what
they meant: each old capture is a segment of its own and each row is valid
in exactly its capture (segment_id = first_id = last_id = its old
process_id). Durations become start times: a node's pending_us and a
trace's duration_us are turned into pending_since_ns / since_ns from the
capture time. On PostgreSQL the node and edge tables are rebuilt
partitioned by segment_id (0002 partitioned them by process_id).
"""

import importlib

from django.db import migrations, models

VERSIONED = ("edge", "node", "unresolvededge", "pendingtrace", "frame")
PARTITIONED = ("snapshots_edge", "snapshots_node")
RELATED = {
    "edge": "edges",
    "node": "nodes",
    "unresolvededge": "unresolved_edges",
    "pendingtrace": "pending_traces",
    "frame": "frames",
}


def fill(apps, schema_editor):
    conn = schema_editor.connection
    with conn.cursor() as cursor:
        for name in VERSIONED:
            table = f"snapshots_{name}"
            cursor.execute(
                f'UPDATE "{table}" SET segment_id = process_id, first_id = process_id,'
                " last_id = process_id, digest = id"
            )
        cursor.execute(
            'UPDATE "snapshots_node" SET pending_since_ns = (SELECT p.captured_at_ns'
            ' FROM "snapshots_processsnapshot" p WHERE p.id = "snapshots_node".process_id)'
            " - pending_us * 1000 WHERE pending_us IS NOT NULL"
        )
        cursor.execute(
            'UPDATE "snapshots_pendingtrace" SET since_ns = at_ns - duration_us * 1000'
            " WHERE duration_us IS NOT NULL"
        )
        cursor.execute(
            'UPDATE "snapshots_processsnapshot" SET segment_id = id'
            " WHERE status IN ('pushed', 'responded')"
        )
        if conn.vendor == "postgresql":
            # Check deferred foreign keys now: PostgreSQL refuses to ALTER a
            # table with pending trigger events, as the operations after do.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            rebuild = importlib.import_module(
                "snapshots.migrations.0002_partition_nodes_and_edges"
            )._rebuild
            for table in PARTITIONED:
                # The old table's partitions go with it; its default one
                # frees the name the new table's takes.
                cursor.execute(f'ALTER TABLE "{table}_default" RENAME TO "{table}_default_old"')
                rebuild(cursor, table, True, key="segment_id")


def unfill(apps, schema_editor):
    """Backwards: one row per capture that sees it, as before (durations as
    of that capture); the versioned columns are dropped after this."""
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        for table in PARTITIONED:
            cursor = conn.cursor()
            cursor.execute(f'ALTER TABLE "{table}_default" RENAME TO "{table}_default_old"')
            importlib.import_module("snapshots.migrations.0002_partition_nodes_and_edges")._rebuild(
                cursor, table, True, key="process_id"
            )
    derived = {
        "snapshot_id": "p.snapshot_id",
        "process_id": "p.id",
        "first_id": "p.id",
        "last_id": "p.id",
        "pending_us": "(p.captured_at_ns - t.pending_since_ns) / 1000",
        "at_ns": "COALESCE(p.captured_at_ns, 0)",
        "duration_us": "(p.captured_at_ns - t.since_ns) / 1000",
    }
    with conn.cursor() as cursor:
        for name in VERSIONED:
            model = apps.get_model("snapshots", name)
            columns = [f.column for f in model._meta.concrete_fields if f.column != "id"]
            values = [derived.get(c, f"t.{c}") for c in columns]
            table = model._meta.db_table
            cursor.execute(
                f'INSERT INTO "{table}" ({", ".join(columns)}) SELECT {", ".join(values)}'
                f' FROM "{table}" t JOIN "snapshots_processsnapshot" p'
                " ON p.segment_id = t.segment_id AND p.id BETWEEN t.first_id AND t.last_id"
                " WHERE t.process_id IS NULL"
            )
            cursor.execute(f'DELETE FROM "{table}" WHERE process_id IS NULL')
        if conn.vendor == "postgresql":
            # Check the deferred foreign keys now: PostgreSQL refuses to
            # ALTER a table with pending trigger events, as comes next.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def loosen(model_name, name, field):
    """The removed columns may be null while the migration runs backwards."""
    return migrations.AlterField(model_name=model_name, name=name, field=field)


def versioned_fields(model_name):
    return [
        migrations.AddField(
            model_name=model_name,
            name=name,
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        )
        for name in ("segment_id", "first_id", "last_id", "digest")
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0002_partition_nodes_and_edges"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProcessHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("proc_key", models.CharField(max_length=64, unique=True)),
                ("capture_id", models.BigIntegerField()),
                ("segment_id", models.BigIntegerField()),
                ("segment_rows", models.BigIntegerField(default=0)),
                ("added_rows", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="processsnapshot",
            name="segment_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="processsnapshot",
            name="changed_rows",
            field=models.IntegerField(null=True),
        ),
        migrations.AddField(
            model_name="processsnapshot",
            name="landmark",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="processsnapshot",
            name="kept",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="processsnapshot",
            name="cycle_key",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        *(op for name in VERSIONED for op in versioned_fields(name)),
        migrations.AddField(
            model_name="node",
            name="pending_since_ns",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="pendingtrace",
            name="since_ns",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        *(
            loosen(
                name,
                "process",
                models.ForeignKey(
                    "snapshots.processsnapshot",
                    models.CASCADE,
                    null=True,
                    db_constraint=name not in ("node", "edge"),
                    db_index=name not in ("node", "edge"),
                    related_name=RELATED[name],
                ),
            )
            for name in VERSIONED
        ),
        *(
            loosen(
                name,
                "snapshot",
                models.ForeignKey(
                    "snapshots.snapshot",
                    models.CASCADE,
                    null=True,
                    db_constraint=name not in ("node", "edge"),
                    db_index=name not in ("node", "edge"),
                    related_name="+",
                ),
            )
            for name in VERSIONED
            if name != "frame"
        ),
        loosen("pendingtrace", "at_ns", models.BigIntegerField(null=True)),
        migrations.RunPython(migrations.RunPython.noop, unfill),
        migrations.RemoveIndex(model_name="node", name="node_process_id"),
        migrations.RemoveIndex(model_name="node", name="node_state"),
        migrations.RemoveIndex(model_name="node", name="node_task_id"),
        migrations.RemoveIndex(model_name="edge", name="edge_process_src"),
        migrations.RemoveIndex(model_name="edge", name="edge_process_dst"),
        migrations.RemoveIndex(model_name="unresolvededge", name="unresolved_process"),
        migrations.RemoveIndex(model_name="pendingtrace", name="trace_node"),
        migrations.RemoveConstraint(model_name="frame", name="frame_per_process"),
        migrations.RemoveField(model_name="node", name="snapshot"),
        migrations.RemoveField(model_name="node", name="process"),
        migrations.RemoveField(model_name="node", name="pending_us"),
        migrations.RemoveField(model_name="edge", name="snapshot"),
        migrations.RemoveField(model_name="edge", name="process"),
        migrations.RemoveField(model_name="unresolvededge", name="snapshot"),
        migrations.RemoveField(model_name="unresolvededge", name="process"),
        migrations.RemoveField(model_name="pendingtrace", name="snapshot"),
        migrations.RemoveField(model_name="pendingtrace", name="process"),
        migrations.RemoveField(model_name="pendingtrace", name="at_ns"),
        migrations.RemoveField(model_name="pendingtrace", name="duration_us"),
        migrations.RemoveField(model_name="frame", name="process"),
        migrations.AddIndex(
            model_name="processsnapshot",
            index=models.Index(fields=["proc_key", "id"], name="proc_key_id"),
        ),
        migrations.AddIndex(
            model_name="processsnapshot",
            index=models.Index(fields=["segment_id", "id"], name="capture_segment"),
        ),
        migrations.AddIndex(
            model_name="processsnapshot",
            index=models.Index(fields=["kept", "received_at"], name="capture_thinning"),
        ),
        migrations.AddIndex(
            model_name="snapshot",
            index=models.Index(fields=["created_at"], name="snapshot_created"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(fields=["segment_id", "node_id"], name="node_segment_id"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(fields=["segment_id", "kind", "state_class"], name="node_state"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(fields=["segment_id", "task_id"], name="node_task_id"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(fields=["segment_id", "digest"], name="node_digest"),
        ),
        migrations.AddIndex(
            model_name="edge",
            index=models.Index(fields=["segment_id", "src"], name="edge_segment_src"),
        ),
        migrations.AddIndex(
            model_name="edge",
            index=models.Index(fields=["segment_id", "dst"], name="edge_segment_dst"),
        ),
        migrations.AddIndex(
            model_name="edge",
            index=models.Index(fields=["segment_id", "digest"], name="edge_digest"),
        ),
        migrations.AddIndex(
            model_name="unresolvededge",
            index=models.Index(fields=["segment_id", "digest"], name="unresolved_digest"),
        ),
        migrations.AddIndex(
            model_name="pendingtrace",
            index=models.Index(fields=["segment_id", "node_id"], name="trace_node"),
        ),
        migrations.AddIndex(
            model_name="pendingtrace",
            index=models.Index(fields=["segment_id", "digest"], name="trace_digest"),
        ),
        migrations.AddIndex(
            model_name="frame",
            index=models.Index(fields=["segment_id", "frame_key"], name="frame_segment_key"),
        ),
        migrations.AddIndex(
            model_name="frame",
            index=models.Index(fields=["segment_id", "digest"], name="frame_digest"),
        ),
    ]
