"""An ASGI handler that reads request bodies without a thread hop per chunk.

Django's ASGIHandler spools a body into a SpooledTemporaryFile and, once
that has rolled over to disk (past FILE_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB),
writes every chunk through `sync_to_async`: a thread-pool round trip per
chunk. Daphne hands the body over in 8 KB chunks, so a 38 MB snapshot costs
about 4,700 round trips before the view even starts — seconds on a busy
machine (bench/ingest.py). Writing a chunk to a temporary file lands in the
page cache and takes microseconds, so it is done inline here.

Use it in place of `django.core.asgi.get_asgi_application()`.
"""

import tempfile

import django
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler


class InlineBodyASGIHandler(ASGIHandler):
    async def read_body(self, receive):
        body_file = tempfile.SpooledTemporaryFile(
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            if "body" in message:
                body_file.write(message["body"])
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file


def get_asgi_application():
    """Like django.core.asgi.get_asgi_application, with InlineBodyASGIHandler."""
    django.setup(set_prefix=False)
    return InlineBodyASGIHandler()
