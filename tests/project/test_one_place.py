"""One place per concept (issue 14, "Simplify"): each of these helpers is
written once, and the guards and stand-ins that grew next to them do not
come back. Read from the source, since a second copy would work too."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted(p for area in ("snapshots", "peepsweb") for p in (ROOT / area).rglob("*.py"))


def files_matching(pattern, paths=CODE):
    regex = re.compile(pattern)
    return sorted(str(p.relative_to(ROOT)) for p in paths if regex.search(p.read_text()))


@pytest.mark.parametrize(
    "pattern, only_in",
    [
        (r"def json_response\b", ["snapshots/api/views.py"]),
        (r"def json_error\b", ["snapshots/api/views.py"]),
        (r"def method_not_allowed\b", ["snapshots/api/views.py"]),  # the one JSON 405
        (r"decompressobj|gzip\.decompress|GzipFile", ["snapshots/ingest/body.py"]),
        (r"gc\.disable\(", ["snapshots/gc_pause.py"]),
        (r'connection="strong"', ["snapshots/cycles/finder.py"]),  # the one SCC
        (r'endswith\(\("_tx"|"_tx"|"_rx"', ["snapshots/node_kinds.py"]),
    ],
)
def test_a_helper_is_written_once(pattern, only_in):
    assert files_matching(pattern) == only_in


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bHttpRequest\(",  # views render fragments through the view's own function
        r"except ImportError",  # no guards for modules that always exist
        r"range\(0, len\(",  # id batches come from itertools.batched
        r"prctl|/proc/",  # the publisher's pacing is a fixed interval, no CPU accounting
    ],
)
def test_what_was_simplified_away_stays_away(pattern):
    assert files_matching(pattern) == []


def test_no_template_or_script_guards_what_always_exists():
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert files_matching(r"{% url [^%]* as \w+ %}", templates) == []
    # base.html loads htmx (deferred, before any page script) on every page.
    scripts = sorted((ROOT / "static/js").glob("*.js"))
    assert files_matching(r"!?window\.htmx\)", scripts) == []


def test_the_graph_is_one_package_and_tcp_is_part_of_ingest():
    gone = ["graph.py", "graph_layout.py", "pages/graph.py", "pages/graph_svg.py", "tcp.py"]
    assert [p for p in gone if (ROOT / "snapshots" / p).exists()] == []
    assert (ROOT / "snapshots/graph/__init__.py").exists()
    assert (ROOT / "snapshots/ingest/tcp.py").exists()
    assert not (ROOT / "static/vendor/htmx/ext-ws.min.js").exists()  # live.js keeps the socket
