"""PEEPSWEB_PRODUCTION=1: settings read in a fresh process, as a deployment
would read them (settings are evaluated once per process)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "k" * 20 + "-Zq8vR3tWx1yP6mN0bL4cJ7hG2fD9sA5eU"  # 54 chars, not django-insecure-
# What the test's own environment may set that would change the outcome.
SECURITY_VARIABLES = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "PEEPSWEB_PRODUCTION",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_COOKIE_SECURE",
    "DJANGO_SETTINGS_MODULE",
)


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("debug", ["0", "1"])
def test_production_refuses_to_start_without_a_secret_key_whatever_debug_says(debug):
    result = manage("check", PEEPSWEB_PRODUCTION="1", DEBUG=debug)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when PEEPSWEB_PRODUCTION=1" in result.stderr


def test_production_refuses_the_public_local_key():
    result = manage("check", PEEPSWEB_PRODUCTION="1", SECRET_KEY="peepsweb-local-insecure-key")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when PEEPSWEB_PRODUCTION=1" in result.stderr


def test_local_use_still_starts_without_a_secret_key():
    assert manage("check").returncode == 0


def test_production_passes_the_deployment_checklist_without_a_warning():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PEEPSWEB_PRODUCTION="1",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="peeps.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_behind_a_tls_proxy_production_sends_hsts_and_redirects_plain_http():
    # The proxy terminates TLS and says so in X-Forwarded-Proto; a request
    # that did not come through TLS is sent to https. No database needed:
    # SecurityMiddleware answers before any view.
    script = (
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='peeps.example.com')\n"
        "r = c.get('/api/v1/nothing-here', headers={'X-Forwarded-Proto': 'https'})\n"
        "print(r.status_code, r.headers.get('Strict-Transport-Security'))\n"
        "r = c.get('/api/v1/nothing-here')\n"
        "print(r.status_code, r.headers.get('Location'))\n"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        PEEPSWEB_PRODUCTION="1",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="peeps.example.com",
    )
    assert result.returncode == 0, result.stderr
    secure, plain = result.stdout.splitlines()
    assert secure == "404 max-age=31536000; includeSubDomains"
    assert plain == "301 https://peeps.example.com/api/v1/nothing-here"
