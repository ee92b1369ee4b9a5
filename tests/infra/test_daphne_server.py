import json
import urllib.error
import urllib.request

from snapshots.models import ProcessSnapshot, Snapshot


def get_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_it_serves_the_django_app_from_a_real_daphne_process(daphne_server):
    server = daphne_server()

    assert server.process.poll() is None
    assert get_status(server.url + "/no-such-page-anywhere/") == 404


def test_two_servers_run_side_by_side_each_with_its_own_environment(daphne_server):
    plain = daphne_server()
    strict = daphne_server(env={"ALLOWED_HOSTS": "only.example"})

    assert plain.url != strict.url
    assert get_status(plain.url + "/no-such-page-anywhere/") == 404
    # The extra env reached the second process: it rejects our Host header.
    assert get_status(strict.url + "/no-such-page-anywhere/") == 400


def test_the_server_reads_rows_the_test_committed(daphne_server):
    snapshot = Snapshot.objects.create()
    server = daphne_server()

    assert get_status(f"{server.url}/api/v1/snapshots/{snapshot.id}") == 200
    assert get_status(f"{server.url}/api/v1/snapshots/{snapshot.id + 1000}") == 404


def test_the_test_sees_rows_the_server_wrote(daphne_server, example_document):
    doc = example_document("rpc_backend")
    server = daphne_server()
    request = urllib.request.Request(
        server.url + "/api/v1/snapshots",
        data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
    )

    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201

    assert ProcessSnapshot.objects.filter(proc_key=doc["proc_key"]).count() == 1
