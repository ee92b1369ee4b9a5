"""Read a POSTed snapshot body: JSON, optionally gzip, within the size limit.

A gzip body is inflated while streaming and cut off one byte past
PEEPSWEB_MAX_BODY_BYTES: a 1 MB "gzip bomb" that would inflate to gigabytes
costs at most the limit in memory, never the bomb's full size.
"""

import re
import zlib

import msgspec
import orjson
from django.conf import settings

from snapshots.ingest.errors import IngestError
from snapshots.ingest.validate import LazyDocument

CHUNK = 256 * 1024
GZIP = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip header and trailer


def read_body(request, limit=None):
    """The decompressed body bytes of `request`; IngestError(413/415/400)."""
    limit = settings.PEEPSWEB_MAX_BODY_BYTES if limit is None else limit
    if not is_json(request.content_type):
        raise IngestError(
            415,
            f"Content-Type must be application/json, not {request.content_type or 'missing'!r}",
            "",
        )
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise IngestError(
            415, f"Content-Encoding {encoding!r} is not supported; send gzip or nothing", ""
        )
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit)
    if encoding in ("gzip", "x-gzip"):
        # The compressed body is held to the limit too (empty gzip members
        # inflate to nothing, so inflation alone would not stop a huge one).
        return inflate_gzip(_chunks(request, limit), limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large(limit)
    return body


def too_large(limit):
    """The 413 for a body over the limit; peepsweb/server.py answers it too,
    for a body it refuses before the application sees it."""
    return IngestError(413, f"the body is over the limit of {limit} bytes", "")


def is_json(content_type):
    content_type = (content_type or "").lower()
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _chunks(stream, limit=None):
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if limit is not None and total > limit:
            raise too_large(limit)
        yield chunk


def inflate_gzip(chunks, limit):
    """Inflate gzip data from an iterable of byte chunks; never more than
    limit + 1 bytes are produced (IngestError 413 past the limit). Several
    concatenated gzip members are one stream, as for `gzip -d`."""
    out = bytearray()
    inflater = zlib.decompressobj(GZIP)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                # max_length is what bounds the bomb: zlib stops producing
                # output there and keeps the rest of the input for later.
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise IngestError(
                        413, f"the body is over the limit of {limit} bytes after gzip decoding", ""
                    )
                if inflater.eof:
                    data = inflater.unused_data
                    if data:
                        inflater = zlib.decompressobj(GZIP)
                else:
                    data = inflater.unconsumed_tail
    except zlib.error as exc:
        raise IngestError(400, f"the body is not valid gzip: {exc}", "") from None
    if not inflater.eof:
        raise IngestError(400, "the gzip body is truncated", "")
    return out


# The big lists are split into undecoded elements (msgspec.Raw: a slice of
# the body, about 50 bytes each) and each element is decoded by orjson only
# when validation reaches it, then dropped. Decoding the whole body at once
# would hold ~4.5x its size in Python objects. Each big list's bytes are
# copied out of the body first, so the body itself is freed as soon as it is
# split, and the nodes' bytes as soon as the nodes are validated, while the
# edges still stream into the database (bench/ingest.py measures the peak).
LAZY_LISTS = frozenset({"nodes", "edges", "wake_events", "pending_traces"})
# Top-level keys the contract reads; others (ProcessDump's tasks, threads...)
# are never decoded.
USED_KEYS = frozenset(
    {
        "process",
        "pid",
        "proc_key",
        "captured_at_ns",
        "snapshot_id",
        "frames",
        "process_name",
        "timestamp",
    }
)
_split_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_split_list = msgspec.json.Decoder(list[msgspec.Raw])


# A real snapshot nests about 20 levels (attrs are capped at
# PEEPSWEB_MAX_ATTRS_DEPTH); msgspec's split recurses and gives up somewhere
# past 1,000 levels, orjson at 1,024. The scan that names a fault calls
# anything deeper than this the fault.
MAX_NESTING = 512


def decode_json(body, extra_keys=frozenset()):
    """Body bytes -> the document dict for ingest_document, big lists lazy.
    `extra_keys`: top-level keys to decode beyond USED_KEYS (the TCP
    listener's `{"token": ...}` frame)."""
    try:
        return _split(body, extra_keys)
    except (RecursionError, UnicodeDecodeError) as exc:
        # msgspec raises these with no position in the body: a RecursionError
        # for deep nesting anywhere, and a UnicodeDecodeError (an offset
        # within one key) for a key it decodes. Find and name the fault.
        raise _fault(body, exc) from None


def _split(body, extra_keys):
    try:
        top = _split_object.decode(body)
    except msgspec.ValidationError:
        raise IngestError(400, "the body must be a JSON object", "") from None
    except msgspec.DecodeError as exc:
        raise IngestError(400, f"the body is not valid JSON: {exc}", "") from None
    doc = LazyDocument()
    for key, raw in top.items():
        if key in LAZY_LISTS:
            doc[key] = _lazy_list(raw, key)
        elif key == "graph":
            doc[key] = _lazy_graph(raw)
        elif key in USED_KEYS or key in extra_keys:
            doc[key] = _load(raw, key)
        # Anything else is unused by ingest: dropped undecoded.
    return doc


# A JSON string (escapes included) or one structural character: enough to
# follow nesting, keys and list indexes without decoding anything.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[][{},]', re.DOTALL)
_QUOTE = ord('"')


def _fault(body, exc):
    """The IngestError for a body msgspec could not split: the first value
    nested deeper than MAX_NESTING, or the first key that is not UTF-8 in an
    object whose keys msgspec decodes (the top level and `graph`).

    A scan in Python, so only run on this error path. msgspec read the body
    up to the fault, so it is well-formed up to there and the scan, which
    stops at the fault, follows its structure exactly."""
    path = []  # per open container: its current key token (object) or index (list)
    key_next = False
    for match in _TOKENS.finditer(body):
        token = match[0]
        if token[0] == _QUOTE:
            if key_next:
                key_next = False
                path[-1] = token
                decoded_key = len(path) == 1 or (len(path) == 2 and path[0] == b'"graph"')
                if decoded_key and (error := _not_utf8(token, match.start(), path[:-1])):
                    return error
        elif token in (b"{", b"["):
            if len(path) == MAX_NESTING:
                message = f"not valid JSON: nested deeper than {MAX_NESTING} levels"
                return IngestError(400, message, _field(path))
            path.append(None if token == b"{" else 0)
            key_next = token == b"{"
        elif token == b",":
            if isinstance(path[-1], int):
                path[-1] += 1
            else:
                key_next = True
        else:
            path.pop()
            key_next = False
    # Not found (should not happen): still a 400, never a 500.
    return IngestError(400, f"the body is not valid JSON: {exc}", "")


def _not_utf8(token, start, path):
    """An IngestError naming the body offset of the first byte that is not
    UTF-8 in `token`, the JSON string at body[start:]; else None."""
    try:
        token.decode()
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        message = f"the body is not UTF-8 at byte offset {offset} (0x{token[exc.start]:02x})"
        return IngestError(400, message, _name(path))
    return None


def _field(path):
    """The field a fault is in: a top-level field, or the field of one
    element of a big list (`nodes[3].attrs`, `graph.edges[0].attrs`)."""
    top = _name(path[:1])
    return _name(path[: 4 if top == "graph" else 3 if top in LAZY_LISTS else 1])


def _name(path):
    """`nodes[3].attrs` for [b'"nodes"', 3, b'"attrs"']."""
    name = ""
    for part in path:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part is not None:
            key = part[1:-1].decode(errors="replace")
            name += f".{key}" if name else key
    return name


def _lazy_list(raw, path):
    try:
        return _split_list.decode(bytes(memoryview(raw)))
    except msgspec.ValidationError:
        return _load(raw, path)  # not a list: validation says so, with the path


def _lazy_graph(raw):
    try:
        graph = _split_object.decode(raw)
    except msgspec.ValidationError:
        return _load(raw, "graph")
    return {
        key: _lazy_list(value, f"graph.{key}")
        for key, value in graph.items()
        if key in ("nodes", "edges")
    }


def _load(raw, path):
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, f"the body is not valid JSON: {exc}", path) from None


def read_stream(stream, limit=None):
    """Body bytes of a file or stdin (gzip recognised by its magic bytes),
    under the same limit as HTTP bodies."""
    limit = settings.PEEPSWEB_MAX_BODY_BYTES if limit is None else limit
    head = stream.read(2)
    if head == b"\x1f\x8b":
        return inflate_gzip(_prepend(head, _chunks(stream, limit)), limit)
    body = head + stream.read(limit + 1 - len(head))
    if len(body) > limit:
        raise too_large(limit)
    return body


def _prepend(first, chunks):
    yield first
    yield from chunks
