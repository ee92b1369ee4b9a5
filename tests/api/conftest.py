"""Fixtures of the read-API tests: example snapshots stored through ingest."""

import pytest

from tests.api.helpers import load
from tests.support.examples import example_names


@pytest.fixture
def all_examples(db):
    """Every example, each its own snapshot, in file-name order: {name: ProcessSnapshot}."""
    return {name: load(name) for name in example_names()}


@pytest.fixture
def rpc_pair(db):
    """frontend and backend pushed separately: each snapshot alone leaves its
    cross-process edge unresolved; the live graph holds both."""
    return load("rpc_frontend"), load("rpc_backend")
