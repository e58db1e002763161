# -*- test-case-name: tests.test_web_site -*-
"""
The Twisted Site under both HTTP listeners, hardened for the open internet.

Twisted's HTTP channel already refuses request lines and header blocks
over 16 KiB and more than 500 headers (400), and drops connections idle
for ``timeout`` seconds between requests; a line over 16 KiB only drops the
connection, and here gets a 431 first.  Two gaps remain, closed here:

* a slowloris client that sends a header byte every few seconds keeps
  resetting the idle timer; here a request must arrive whole (headers and
  body) within :data:`REQUEST_DEADLINE` seconds of its first byte;
* a huge body would be spooled to a temporary file; here each listener has
  one body limit, given to :func:`make_site` (:data:`DEFAULT_MAX_BODY`
  for the HTTP server, the API's own for the API).  A ``Content-Length``
  over it gets a 413 and the connection closes before the body is read;
  a chunked body gets the same 413 and close the moment it passes the
  limit, whatever the method, and the rest is not read (issue 15).

Neither limit applies while a response streams (a live stream is one long
response to a request that arrived in time).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from srstwist import SRS_COMPAT_VERSION, __version__

__all__ = [
    "make_site",
    "BoundedSite",
    "BoundedRequest",
    "HardenedChannel",
    "REQUEST_DEADLINE",
    "DEFAULT_MAX_BODY",
    "IDLE_TIMEOUT",
    "SERVER_HEADER",
]

#: The ``Server`` header of both HTTP listeners: SRS's version first, as
#: tools that look for ``SRS/`` expect, then ours.
SERVER_HEADER = f"SRS/{SRS_COMPAT_VERSION}(srstwist {__version__})".encode()

#: Seconds a client has to send a whole request.
REQUEST_DEADLINE = 20.0
#: The body limit of a site made without one: the HTTP server's, which
#: takes no bodies but should not refuse a client that sends a small one.
DEFAULT_MAX_BODY = 1024 * 1024
#: Seconds an idle keep-alive connection is kept (SRS: 60 s receive timeout).
IDLE_TIMEOUT = 60.0

_TOO_LARGE = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)

_HEADER_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


class BoundedSite(Site):
    """A ``Site`` that carries its listener's request body limit."""

    #: Bytes of request body accepted; set by :func:`make_site`.
    max_body = DEFAULT_MAX_BODY


class BoundedRequest(Request):
    """
    A ``Request`` that takes at most its site's ``max_body`` bytes of a
    chunked body: the byte past it has the channel answer 413 and close
    (:meth:`HardenedChannel.refuse_body`), and nothing more is kept.  (A
    declared length over the limit never reaches a request: the channel
    refuses it from the headers.)
    """

    #: Set when the body passed the limit (and the channel refused it).
    body_too_large = False
    _body_seen = 0

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._body_seen += len(data)
        if self._body_seen > self.channel.site.max_body:
            self.body_too_large = True
            self.channel.refuse_body(self._body_seen)
            return
        super().handleContentChunk(data)


class HardenedChannel(HTTPChannel):
    """
    An HTTP channel with a whole-request deadline that refuses a body over
    its site's ``max_body``, declared or chunked.
    """

    log = Logger()
    #: Overridden in tests.
    request_deadline = REQUEST_DEADLINE
    site: BoundedSite
    _deadline: IDelayedCall | None = None
    #: Set once a body was refused: what still arrives is dropped unparsed.
    _refused = False

    def dataReceived(self, data: bytes) -> None:
        if self._refused:
            return
        # The first byte of a request starts its clock.
        if self._deadline is None and not self._handlingRequest:
            self._deadline = self.callLater(self.request_deadline, self._too_slow)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        # Refused here, not in the request: only the channel can answer
        # before the body is sent.
        limit = self.site.max_body
        if self.length is not None and self.length > limit:
            self.log.warn(
                "request body of {size} bytes refused (limit {limit})",
                size=self.length,
                limit=limit,
                cid=getattr(self, "cid", 0),
            )
            self._disarm()
            self._refuse(_TOO_LARGE)
            self.setTimeout(None)
            return
        super().allHeadersReceived()

    def refuse_body(self, size: int) -> None:
        """
        A chunked body passed the limit after ``size`` bytes: answer 413,
        close, and read nothing more (the request never completes, so its
        resource is never asked).
        """
        if self._refused:
            return
        self.log.warn(
            "chunked request body refused past {size} bytes (limit {limit})",
            size=size,
            limit=self.site.max_body,
            cid=getattr(self, "cid", 0),
        )
        self._disarm()
        self._refuse(_TOO_LARGE)
        self.setTimeout(None)

    def rawDataReceived(self, data: bytes) -> None:
        # The chunk decoder goes on with the rest of a buffer after a
        # refusal; it stops here.
        if not self._refused:
            super().rawDataReceived(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        # Twisted drops the connection without a word; say why first.
        self._disarm()
        self._refuse(_HEADER_TOO_LARGE)

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        transport: Any = self.transport
        transport.write(response)
        transport.loseConnection()

    def allContentReceived(self) -> None:
        if self._refused:
            return
        self._disarm()
        super().allContentReceived()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._disarm()
        super().connectionLost(reason)

    def _disarm(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.log.warn(
            "request not complete after {seconds}s: closed",
            seconds=self.request_deadline,
            cid=getattr(self, "cid", 0),
        )
        transport: Any = self.transport
        transport.abortConnection()


def make_site(
    resource: IResource,
    reactor: Any,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    timeout: float = IDLE_TIMEOUT,
) -> BoundedSite:
    """
    A site for ``resource`` on :class:`HardenedChannel` with
    :class:`BoundedRequest`, without access logs.

    :param reactor: schedules the idle timeout and the request deadline.
    :param max_body: the listener's one request body limit, in bytes.
    :param timeout: seconds an idle connection is kept.
    """
    site = BoundedSite(resource, timeout=timeout, reactor=reactor)
    site.max_body = max_body
    site.protocol = HardenedChannel  # type: ignore[assignment]
    site.requestFactory = BoundedRequest  # type: ignore[assignment]
    site.displayTracebacks = False
    site.noisy = False
    site.log = lambda request: None  # type: ignore[method-assign]
    return site
