"""The example snapshots shipped in snapshots/example_snapshots/."""

import json

from .processes import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "snapshots" / "example_snapshots"


def example_names():
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))


def read_example(name):
    """A fresh dict for each call, so a test may mutate it freely."""
    path = EXAMPLES_DIR / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        raise LookupError(f"no example snapshot {name!r}; there are {example_names()}")
    return json.loads(path.read_bytes())
