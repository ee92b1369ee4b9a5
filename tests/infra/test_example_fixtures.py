from snapshots.models import ProcessSnapshot
from tests.support.examples import example_names


def test_load_examples_ingests_every_example_file(load_examples):
    assert sorted(load_examples) == example_names()
    assert ProcessSnapshot.objects.count() == len(example_names()) > 0


def test_example_document_gives_a_fresh_copy_each_time(example_document):
    first = example_document("rpc_frontend")
    first["nodes"].clear()

    assert example_document("rpc_frontend")["nodes"]
