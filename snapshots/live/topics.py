"""Channel-layer groups of the page-updates socket.

Every page joins SNAPSHOTS (a small message per complete snapshot: the
snapshot list's new row, and the id a "follow latest" page jumps to). Pages
that show the live graph also join the group of what they show, so a big
fragment (the live task table) only goes to the pages that display it.
"""

from urllib.parse import parse_qs

SNAPSHOTS = "updates.snapshots"
SNAPSHOT_LIST = "updates.snapshot-list"
LIVE_OVERVIEW = "updates.live-overview"
LIVE_TASKS = "updates.live-tasks"
AGENTS = "updates.agents"

# `?topics=` names a page may ask for -> group.
BY_NAME = {"list": SNAPSHOT_LIST, "overview": LIVE_OVERVIEW, "tasks": LIVE_TASKS, "agents": AGENTS}


def groups_for_query(query_string):
    """`topics=overview,tasks` -> the groups to join; unknown names are ignored."""
    names = set()
    for value in parse_qs(query_string).get("topics", []):
        names.update(part.strip() for part in value.split(","))
    return [SNAPSHOTS] + [BY_NAME[name] for name in sorted(names) if name in BY_NAME]
