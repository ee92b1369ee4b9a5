"""Ingest tokens: open while none exists, then Bearer tokens, stored hashed."""

import pytest
from django.utils import timezone

from snapshots.auth import token_allows
from snapshots.models import IngestToken

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def test_without_any_token_the_server_is_open(post):
    assert post(small_doc()).status_code == 201


def test_an_open_server_ignores_a_token_it_does_not_know(post):
    assert post(small_doc(), token="whatever").status_code == 201


def test_once_a_token_exists_a_missing_token_is_a_401(post):
    IngestToken.create("ci")
    response = post(small_doc())
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]
    assert response.json()["path"] == ""
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_nothing_stored()


def test_a_non_bearer_authorization_is_a_401(post):
    IngestToken.create("ci")
    response = post(small_doc(), headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401


def test_a_wrong_token_is_a_403(post):
    IngestToken.create("ci")
    response = post(small_doc(), token="pw_not-the-token")
    assert response.status_code == 403
    assert response.json() == {"error": "unknown ingest token", "path": ""}
    assert_nothing_stored()


def test_the_right_token_is_a_201_and_marks_the_token_used(post):
    raw = IngestToken.create("ci")
    assert post(small_doc(), token=raw).status_code == 201
    assert IngestToken.objects.get().last_used_at is not None


def test_a_revoked_token_is_a_403(post):
    raw = IngestToken.create("ci")
    IngestToken.objects.update(revoked_at=timezone.now())
    response = post(small_doc(), token=raw)
    assert response.status_code == 403
    assert "revoked" in response.json()["error"]


def test_revoking_the_last_token_does_not_reopen_the_server(post):
    IngestToken.create("ci")
    IngestToken.objects.update(revoked_at=timezone.now())
    assert post(small_doc()).status_code == 401


def test_only_a_hash_of_the_token_is_stored():
    raw = IngestToken.create("ci")
    stored = IngestToken.objects.get()
    assert raw not in stored.token_hash
    assert stored.token_hash == IngestToken.hash(raw)


def test_token_allows_is_the_same_check_for_websockets():
    assert token_allows("")
    raw = IngestToken.create("agent")
    assert token_allows(f"Bearer {raw}")
    assert not token_allows("")
    assert not token_allows("Bearer nope")
