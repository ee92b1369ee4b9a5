import subprocess
import sys

from tests.support.processes import REPO_ROOT


def test_migrations_match_the_models():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, (
        "models changed without a migration; run `manage.py makemigrations`:\n"
        + result.stdout
        + result.stderr
    )
