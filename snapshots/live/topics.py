"""The registry of live topics: one table (TOPICS) says which pages listen
to which topic, what the publisher pushes to them, which ids that replaces,
and which change makes it re-render.

- The header (templates/live/_header.html) asks page_topic() what its page
  listens to; the page's socket asks for it with `?topics=`.
- The consumer joins the topic's channel-layer group (groups_for_query).
- The publisher (publish.py), for each change, renders every topic that
  follows that change and has listeners, once, and sends it to the group.

Every page also joins SNAPSHOTS: {"event": "snapshot", "snapshot_id": N}
when N is the newest complete snapshot ("follow latest" goes there).

A topic with a fragment pushes `{"event": "fragments", "topic", "html"}`:
the page's own htmx fragment (the view's partials, rendered by the same
function the view uses) for the page's URL without a query string. A page
whose URL has one (a filtered task table, a later page of the list)
re-reads its own fragment instead. A topic without a fragment pushes
`{"event": "changed", "topic"}` and the page offers "new data: refresh":
re-rendering an inspector or a graph for every open tab would cost a
render per tab, and the user is reading it.
"""

from dataclasses import dataclass
from urllib.parse import parse_qs

from django.http import QueryDict

# What changed (publish.Changes.what):
LIST = "list"  # the snapshot list: a push, a pull reply, a pull closing
LIVE = "live"  # the live view's set of captures
AGENTS = "agents"  # an agent connected or left

SNAPSHOTS = "updates.snapshots"


@dataclass(frozen=True)
class Topic:
    name: str  # what a page asks for in ?topics=, and the messages' "topic"
    change: str  # LIST, LIVE or AGENTS: what re-renders it
    views: tuple[str, ...]  # URL names of the pages that listen ("*": any other)
    live_only: bool  # only those pages' live-view versions listen
    fragment: object = None  # () -> html pushed; None: a notice only
    swaps: tuple[str, ...] = ()  # the ids that html replaces (each page has them)

    @property
    def group(self):
        return f"updates.{self.name}"

    @property
    def pushes(self):
        """True: the page gets its fragment; False: "new data: refresh"."""
        return self.fragment is not None

    def message(self):
        if self.fragment is None:
            return {"event": "changed", "topic": self.name}
        return {"event": "fragments", "topic": self.name, "html": self.fragment()}


# The fragment functions import the views when called: the views import
# modules (pull, publish) that import this one.


def snapshot_list():
    from snapshots.pages.views import snapshots

    return snapshots.home_fragment(QueryDict())


def live_overview():
    from snapshots.pages.views import snapshots
    from snapshots.scope import resolve_scope

    return snapshots.overview_fragment(resolve_scope("live"))


def live_tasks():
    from snapshots.pages.views import nodes
    from snapshots.scope import resolve_scope

    return nodes.tasks_fragment(resolve_scope("live"), QueryDict())


def live_cycles():
    from snapshots.cycles import views
    from snapshots.scope import resolve_scope

    return views.cycles_fragment(resolve_scope("live"))


def agent_list():
    from snapshots.live import views

    return views.agents_fragment()


TOPICS = (
    Topic("list", LIST, ("pages:home",), False, snapshot_list, ("snapshot-list",)),
    Topic(
        "overview",
        LIVE,
        ("pages:overview",),
        True,
        live_overview,
        ("overview-body", "scope-banner"),
    ),
    Topic("tasks", LIVE, ("pages:tasks",), True, live_tasks, ("task-table",)),
    Topic(
        "cycles",
        LIVE,
        ("cycles:page",),
        True,
        live_cycles,
        ("cycle-list", "cycle-report-card", "scope-banner"),
    ),
    Topic("agents", AGENTS, ("agents",), False, agent_list, ("agents-table",)),
    # Every other page of the live view: inspector, graph, backtraces, kinds,
    # unresolved edges, stuck requests.
    Topic("live", LIVE, ("*",), True),
)
BY_NAME = {topic.name: topic for topic in TOPICS}


def page_topic(view_name, scope):
    """The topic the page of URL name `view_name` showing `scope` (or None)
    listens to, or None. A numbered snapshot never changes: its pages only
    hear of newer snapshots (SNAPSHOTS)."""
    live = scope is not None and scope.is_live
    for topic in TOPICS:
        if topic.live_only and not live:
            continue
        if view_name in topic.views or "*" in topic.views:
            return topic
    return None


def groups_for_query(query_string):
    """`topics=overview,tasks` -> the groups to join; unknown names are ignored."""
    names = set()
    for value in parse_qs(query_string).get("topics", []):
        names.update(part.strip() for part in value.split(","))
    return [SNAPSHOTS] + [BY_NAME[name].group for name in sorted(names) if name in BY_NAME]
