# -*- test-case-name: tests.test_web_site -*-
"""
The Twisted Site under both HTTP listeners, hardened for the open internet.

Twisted's HTTP channel already refuses request lines and header blocks
over 16 KiB and more than 500 headers (400), and drops connections idle
for C{timeout} seconds between requests; a line over 16 KiB only drops the
connection, and here gets a 431 first.  Two gaps remain, closed here:

* a slowloris client that sends a header byte every few seconds keeps
  resetting the idle timer; here a request must arrive whole (headers and
  body) within L{REQUEST_DEADLINE} seconds of its first byte;
* a huge declared body would be spooled to a temporary file; here a
  C{Content-Length} over L{MAX_BODY} gets a 413 and the connection closes.

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
from twisted.web.server import Site

from srstwist import SRS_COMPAT_VERSION, __version__

__all__ = [
    "make_site",
    "HardenedChannel",
    "REQUEST_DEADLINE",
    "MAX_BODY",
    "IDLE_TIMEOUT",
    "SERVER_HEADER",
]

#: The C{Server} header of both HTTP listeners: SRS's version first, as
#: tools that look for C{SRS/} expect, then ours.
SERVER_HEADER = f"SRS/{SRS_COMPAT_VERSION}(srstwist {__version__})".encode()

#: Seconds a client has to send a whole request.
REQUEST_DEADLINE = 20.0
#: Largest request body accepted (the API takes small JSON bodies; the
#: stream server takes none).
MAX_BODY = 1024 * 1024
#: Seconds an idle keep-alive connection is kept (SRS: 60 s receive timeout).
IDLE_TIMEOUT = 60.0

_TOO_LARGE = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)

_HEADER_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


class HardenedChannel(HTTPChannel):
    """An HTTP channel with a whole-request deadline and a body size limit."""

    log = Logger()
    #: Overridden in tests.
    request_deadline = REQUEST_DEADLINE
    max_body = MAX_BODY
    _deadline: IDelayedCall | None = None

    def dataReceived(self, data: bytes) -> None:
        # The first byte of a request starts its clock.
        if self._deadline is None and not self._handlingRequest:
            self._deadline = self.callLater(self.request_deadline, self._too_slow)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        if self.length is not None and self.length > self.max_body:
            self.log.warn(
                "request body of {size} bytes refused (limit {limit})",
                size=self.length,
                limit=self.max_body,
                cid=getattr(self, "cid", 0),
            )
            self._disarm()
            self._refuse(_TOO_LARGE)
            self.setTimeout(None)
            return
        super().allHeadersReceived()

    def lineLengthExceeded(self, line: bytes) -> None:
        # Twisted drops the connection without a word; say why first.
        self._disarm()
        self._refuse(_HEADER_TOO_LARGE)

    def _refuse(self, response: bytes) -> None:
        transport: Any = self.transport
        transport.write(response)
        transport.loseConnection()

    def allContentReceived(self) -> None:
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
    timeout: float = IDLE_TIMEOUT,
    request_factory: Any = None,
) -> Site:
    """A Site for C{resource} on our hardened channel, without access logs."""
    site = Site(resource, timeout=timeout, reactor=reactor)
    site.protocol = HardenedChannel  # type: ignore[assignment]
    site.displayTracebacks = False
    if request_factory is not None:
        site.requestFactory = request_factory
    site.noisy = False
    site.log = lambda request: None  # type: ignore[method-assign]
    return site
