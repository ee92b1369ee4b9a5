"""The one exception ingest raises for anything a sender got wrong."""

from peepsweb_client.contract import ValidationError


class IngestError(ValidationError):
    """A body ingest refuses. `status` is the HTTP status to answer with,
    `path` names the offending field (`nodes[3].id`, "" for the whole body).

    The contract's own ValidationError (what peepsweb_client.contract's rules
    raise; the client's validator raises it too) with the statuses only the
    server gives on top: 401/403, 409, 415, 503. Ingest turns every
    ValidationError into an IngestError, so callers catch this one."""
