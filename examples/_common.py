"""What the three examples share: command-line options and the upload."""

import argparse
import json
import os
import sys
from pathlib import Path

# Run from a checkout without installing anything: `python examples/x.py`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peepsweb_client import post_snapshot  # noqa: E402
from peepsweb_client.push import describe_failure  # noqa: E402


def main(build, description):
    """Parse options, build the snapshot (a dict) and post it (or print it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get("PEEPSWEB_URL") or "http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("PEEPSWEB_TOKEN") or None)
    parser.add_argument("--print", action="store_true", help="print the body instead of posting")
    args = parser.parse_args()
    doc = build()
    if args.print:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    try:
        resp = post_snapshot(args.url, doc, token=args.token)
    except OSError as e:
        sys.stderr.write(f"cannot reach {args.url}: {e}\n")
        return 2
    if not resp.ok:
        sys.stderr.write(describe_failure(resp) + "\n")
        return 1
    body = resp.json()
    print(
        f"snapshot {body['snapshot_id']}: {body['nodes']} nodes, {body['edges']} edges "
        f"-> {args.url.rstrip('/')}/snapshots/{body['snapshot_id']}/"
    )
    return 0
