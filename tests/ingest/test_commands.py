"""The ingest, token and example management commands."""

import gzip
import io
import json
import sys

import pytest
from django.core.management import CommandError, call_command

from snapshots import versions
from snapshots.models import IngestEvent, IngestToken, Node, Snapshot
from tests.support.examples import EXAMPLES_DIR, example_names

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(path, doc, gzipped=False):
    data = json.dumps(doc).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return str(path)


def test_ingest_stores_a_file_and_prints_a_one_line_summary(tmp_path):
    out, _ = run("ingest", write(tmp_path / "a.json", small_doc()))
    snapshot = Snapshot.objects.get()
    assert out.strip() == (
        f"Ingested 1 file into snapshot {snapshot.id}: "
        "3 nodes, 2 edges, 0 unresolved edges; 0 refused."
    )


def test_ingest_takes_many_files_and_gzip_files(tmp_path):
    files = [write(tmp_path / f"{i}.json.gz", small_doc(), gzipped=True) for i in range(3)]
    out, _ = run("ingest", *files)
    assert out.startswith("Ingested 3 files into snapshots ")
    assert Snapshot.objects.count() == 3
    # The three captures of one process are the same: they share their rows.
    assert all(versions.of_snapshot(Node, s).count() == 3 for s in Snapshot.objects.all())
    assert Node.objects.count() == 3


def test_ingest_reads_stdin(monkeypatch):
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(small_doc()).encode()))
    )
    out, _ = run("ingest", "-")
    assert "Ingested 1 file" in out


def test_ingest_applies_the_same_validation_as_http_and_fails_at_the_end(tmp_path):
    bad = small_doc()
    bad["nodes"][0]["kind"] = "Task"
    files = [write(tmp_path / "bad.json", bad), write(tmp_path / "good.json", small_doc())]
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 files were refused"):
        call_command("ingest", *files, stdout=io.StringIO(), stderr=err)
    assert f"{files[0]}: 400 kind is required" in err.getvalue()
    assert "at nodes[0].kind" in err.getvalue()
    assert Snapshot.objects.count() == 1
    assert IngestEvent.objects.get().source == "cli"


def test_ingest_applies_the_body_limit_to_files(tmp_path, settings):
    settings.PEEPSWEB_MAX_BODY_BYTES = 100
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "ingest", write(tmp_path / "a.json", small_doc()), stdout=io.StringIO(), stderr=err
        )
    assert "413 the body is over the limit of 100 bytes" in err.getvalue()


def test_ingest_reports_unreadable_and_undecodable_files(tmp_path):
    (tmp_path / "junk.json").write_text("{nope")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "ingest",
            str(tmp_path / "missing.json"),
            str(tmp_path / "junk.json"),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "missing.json: 400 cannot read the file" in err.getvalue()
    assert "junk.json: 400 the body is not valid JSON" in err.getvalue()


def test_loadexamples_ingests_every_example():
    out, _ = run("loadexamples")
    assert out.strip().endswith(f"Loaded {len(example_names())} example snapshots.")
    assert Snapshot.objects.count() == len(list(EXAMPLES_DIR.glob("*.json")))
    assert "rpc_frontend.json" in out and "frontend-100, 5 nodes, 4 edges" in out


def test_createtoken_prints_a_working_token_once(post):
    out, err = run("createtoken", "ci")
    raw = out.strip()
    assert raw.startswith("pw_") and "shown once" in err
    assert IngestToken.objects.get().token_hash == IngestToken.hash(raw)
    assert post(small_doc(), token=raw).status_code == 201
    assert post(small_doc()).status_code == 401


def test_createtoken_refuses_a_duplicate_name():
    run("createtoken", "ci")
    with pytest.raises(CommandError, match="already exists"):
        run("createtoken", "ci")


def test_revoketoken_revokes_and_listtokens_shows_it(post):
    raw = run("createtoken", "ci")[0].strip()
    out, _ = run("revoketoken", "ci")
    assert out.strip() == "Revoked token 'ci'."
    assert post(small_doc(), token=raw).status_code == 403
    listing, _ = run("listtokens")
    assert listing.startswith("ci\trevoked ")


def test_revoketoken_delete_of_the_last_token_reopens_ingest(post):
    run("createtoken", "ci")
    out, _ = run("revoketoken", "ci", "--delete")
    assert "ingest is open again" in out
    assert post(small_doc()).status_code == 201


def test_revoketoken_of_an_unknown_name_fails():
    with pytest.raises(CommandError, match="no token named"):
        run("revoketoken", "nope")


def test_listtokens_says_when_ingest_is_open():
    out, _ = run("listtokens")
    assert "ingest is open" in out
