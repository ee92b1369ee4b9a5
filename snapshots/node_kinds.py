"""Node kinds: the canonical kinds of SNAPSHOT_FORMAT.md and the rules about
them that several areas apply (the cycle finder and its sentences, the
graph's shapes and merged pairs, the stuck-requests page). Any other kind is
accepted as-is and shown generically.

The kind tables' groups and columns (snapshots/pages/kinds.py) and the
graph's shapes (snapshots/graph/svg.py) are built on these names.
"""

TASK = "task"
FUTURE = "future"
LOCK = "lock"
SEMAPHORE = "semaphore"
REQUEST = "request"
RESPONSE = "response"
ONCECELL = "oncecell"
# asyncio's primitives (SNAPSHOT_FORMAT.md v1.1, "Edges of asyncio programs").
QUEUE = "queue"
EVENT = "event"
CONDITION = "condition"

# The two halves of a call, paired by attrs.correlation_key.
RPC = (REQUEST, RESPONSE)
# Kinds whose `needs` edges point at their holders ("lock→task while held"),
# with or without the edge's `held: true` (the cycle sentences read them so).
HELD = (LOCK, SEMAPHORE, CONDITION)

# A channel is two nodes, `{family}_tx` (a sender) and `{family}_rx` (the
# receiver); mpsc, oneshot and watch are peeps' families, and any other
# family is a channel by the same suffixes.
CHANNEL_FAMILIES = ("mpsc", "oneshot", "watch")
SENDER_SUFFIX, RECEIVER_SUFFIX = "_tx", "_rx"
CHANNEL_SUFFIXES = (SENDER_SUFFIX, RECEIVER_SUFFIX)
CHANNEL_KINDS = tuple(f + suffix for f in CHANNEL_FAMILIES for suffix in CHANNEL_SUFFIXES)

CANONICAL = frozenset(
    {TASK, FUTURE, LOCK, SEMAPHORE, REQUEST, RESPONSE, ONCECELL, QUEUE, EVENT, CONDITION}
)
# The word a sentence uses for a canonical kind, where it is not the kind.
_WORDS = {ONCECELL: "once-cell"}


def is_sender(kind):
    return kind.endswith(SENDER_SUFFIX)


def is_receiver(kind):
    return kind.endswith(RECEIVER_SUFFIX)


def channel_end(kind):
    """ "tx" or "rx" for a channel endpoint kind, else None."""
    return kind[-2:] if kind.endswith(CHANNEL_SUFFIXES) else None


def channel_family(kind):
    """`mpsc` for `mpsc_tx` and `mpsc_rx`: what both ends of a channel share."""
    return kind[: -len(SENDER_SUFFIX)]


def word(kind):
    """The word for a canonical kind ("once-cell"), None for any other."""
    return _WORDS.get(kind, kind) if kind in CANONICAL else None
