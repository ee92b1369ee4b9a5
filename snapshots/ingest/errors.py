"""The one exception ingest raises for anything a sender got wrong."""


class IngestError(Exception):
    """A body ingest refuses. `status` is the HTTP status to answer with,
    `path` names the offending field (`nodes[3].id`, "" for the whole body)."""

    def __init__(self, status, message, path=""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path

    def as_json(self):
        return {"error": self.message, "path": self.path}

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self):
        return f"IngestError({self.status}, {self.message!r}, {self.path!r})"
