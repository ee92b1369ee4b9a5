"""503 with Retry-After when the database cannot be reached."""

import pytest

from snapshots.ingest import IngestError, ingest_document
from tests.support.outage import database_unreachable

from .conftest import small_doc

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_down():
    with database_unreachable():
        yield


def test_it_answers_503_with_retry_after_when_the_database_is_down(post, database_down):
    response = post(small_doc())
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": "storage unavailable, try again later", "path": ""}


def test_ingest_document_maps_a_database_outage_to_a_503(database_down):
    with pytest.raises(IngestError) as caught:
        ingest_document(small_doc())
    assert caught.value.status == 503
    assert caught.value.message.startswith("storage unavailable")
