"""daphne, with request bodies held to PEEPSWEB_MAX_BODY_BYTES as they arrive.

daphne (through twisted.web) receives a whole request body before the
application sees any of it, then queues all of it, in 8 KB messages, for the
application at once: a 512 MiB POST cost the server 530-580 MiB of memory
before the view could answer 413, and a Content-Length of 256 MiB with 2
bytes sent got no answer at all, the server waiting for the rest (issue 16).
daphne has no setting for a body limit, so its HTTP requests are made here
with BodyLimitedRequest, which refuses:

- a Content-Length over the limit as soon as the headers are in, before any
  of the body is read;
- a body without one (chunked) at the first byte past the limit.

Either way the answer is the ingest API's 413 JSON error, with
`Connection: close`; nothing of the body reaches the application, and what
was already received (at most the limit, in twisted's temporary file) is
dropped. No endpoint takes a body larger than an ingest body.

Run it like daphne, which it is (scripts/serve and the tests' servers do):

    python -m peepsweb.server -b 127.0.0.1 -p 8000 peepsweb.asgi:application
"""

import json
import logging
from io import BytesIO

import daphne.server  # first: it installs the asyncio reactor twisted must run on
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings
from twisted.internet import reactor

log = logging.getLogger(__name__)

# After the 413 the rest of the body is read and dropped, for at most this
# long, then the connection is cut: a client that sends its whole body before
# reading (curl, urllib, requests) still gets the answer, where closing with
# unread data would make the kernel send a reset that can destroy it (nginx's
# lingering_time default).
LINGER_S = 30


class BodyLimitedRequest(WebRequest):
    refused = False
    received = 0

    def gotLength(self, length):
        # Called by twisted once the headers are in; None when chunked.
        if length is not None and length > settings.PEEPSWEB_MAX_BODY_BYTES:
            # twisted would answer "100 Continue" right after this call.
            self.requestHeaders.removeHeader(b"Expect")
            self.content = BytesIO()
            self._refuse(f"Content-Length {length}")
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.received += len(data)
        if self.received > settings.PEEPSWEB_MAX_BODY_BYTES:
            self.content.close()  # the temporary file of what came so far
            self.content = BytesIO()
            self._refuse(f"{self.received} bytes received so far")
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        # The whole (dropped) body came in during the linger: nothing to do.
        if not self.refused:
            super().requestReceived(command, path, version)

    def _refuse(self, why):
        from snapshots.ingest.body import too_large  # needs Django set up, as it is by now

        self.refused = True
        limit = settings.PEEPSWEB_MAX_BODY_BYTES
        body = json.dumps(too_large(limit).as_json()).encode()
        head = (
            "HTTP/1.1 413 Content Too Large\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        channel, transport = self.channel, self.channel.transport
        peer = transport.getPeer()
        peer = f"{peer.host}:{peer.port}" if hasattr(peer, "port") else peer
        # Logged, not an IngestEvent row: like a 401, a flood of these must
        # not write to the database (and this runs on the event loop).
        log.warning("refused a request body over %s bytes (%s) from %s", limit, why, peer)
        # The HTTP parser is done with this connection: what comes now is
        # read and dropped (as twisted does after a request it won't serve).
        channel.dataReceived = lambda data: None
        transport.write(head.encode() + body)
        transport.loseWriteConnection()  # FIN once the answer is out
        reactor.callLater(LINGER_S, transport.abortConnection)  # no-op once closed


class BodyLimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitedRequest
        return protocol


def main():
    # daphne.server.Server.run builds `HTTPFactory(self)` from its module's
    # namespace and has no setting for it: point that name at ours.
    daphne.server.HTTPFactory = BodyLimitedHTTPFactory
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
