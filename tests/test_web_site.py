"""
Tests for :mod:`srstwist.web.site`: the request deadline and the one body
limit of each site.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from srstwist.web.site import DEFAULT_MAX_BODY, REQUEST_DEADLINE, BoundedRequest, make_site


class _Hello(Resource):
    """Says hello, and records each request it renders with the body it had."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[Any, bytes]] = []

    def render(self, request: Any) -> bytes:
        self.requests.append((request, request.content.read()))
        return b"hello"


class ChannelTests(SynchronousTestCase):
    """The hardened HTTP channel on an in-memory transport."""

    def connect(self, **limits: int) -> tuple[Clock, StringTransport, Any]:
        clock = Clock()
        self.resource = _Hello()
        site = make_site(self.resource, clock, **limits)
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        channel.makeConnection(transport)
        return clock, transport, channel

    def test_slowloris_closed(self) -> None:
        """A request trickling in byte by byte is cut off at the deadline."""
        clock, transport, channel = self.connect()
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n":
            channel.dataReceived(bytes([byte]))
            clock.advance(0.5)
            if transport.disconnecting or getattr(transport, "disconnected", False):
                break
        clock.advance(REQUEST_DEADLINE)
        self.assertTrue(transport.disconnecting or transport.disconnected)
        self.assertEqual(transport.value(), b"")

    def test_prompt_requests_served(self) -> None:
        """A whole request in time is answered, and the next one gets its own deadline."""
        clock, transport, channel = self.connect()
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"hello", transport.value())
        clock.advance(REQUEST_DEADLINE * 2)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(transport.value().count(b"hello"), 2)
        self.assertFalse(transport.disconnecting)

    def test_huge_body_refused(self) -> None:
        """A declared body over the default limit gets 413 and the connection closes."""
        _, transport, channel = self.connect()
        channel.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (DEFAULT_MAX_BODY + 1)
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.resource.requests, [])

    def test_site_limit(self) -> None:
        """The limit given to ``make_site`` is the one the channel applies."""
        _, transport, channel = self.connect(max_body=10)
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        channel.dataReceived(b"0123456789")
        self.assertIn(b"hello", transport.value())
        self.assertEqual(self.resource.requests[0][1], b"0123456789")
        _, transport, channel = self.connect(max_body=10)
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))

    def test_chunked_body_within_limit(self) -> None:
        """A chunked body up to the limit is read whole and the request served."""
        _, transport, channel = self.connect(max_body=10)
        channel.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"
        )
        [(request, body)] = self.resource.requests
        self.assertIsInstance(request, BoundedRequest)
        self.assertEqual(body, b"0123456789")
        self.assertIn(b"hello", transport.value())
        self.assertFalse(transport.disconnecting)

    def test_chunked_body_over_limit_refused(self) -> None:
        """
        A chunked body (issue 15, item 2) gets 413 and the connection closes
        as soon as it passes the limit, mid-chunk, whatever the method; the
        request never reaches the resource, the rest is not read, and one
        line says why.
        """
        for method in (b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"):
            _, transport, channel = self.connect(max_body=10)
            logged: list[dict[str, Any]] = []
            channel.log = Logger(observer=logged.append)
            channel.dataReceived(
                method + b" / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n01234567\r\n100\r\n89a"
            )
            self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "), (method, transport.value()))
            self.assertTrue(transport.disconnecting, method)
            answered = transport.value()
            # What still arrives (already in the buffer) is dropped unparsed.
            channel.dataReceived(b"b" * 253 + b"\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(transport.value(), answered, method)
            self.assertEqual(self.resource.requests, [], method)
            self.assertEqual(len(logged), 1, logged)
            self.assertIn("chunked", formatEvent(logged[0]))

    def test_chunked_refused_on_every_listener(self) -> None:
        """Each site's own limit applies to chunked bodies: 1 MiB by default."""
        _, transport, channel = self.connect()
        channel.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        for _ in range(DEFAULT_MAX_BODY // (64 * 1024)):
            channel.dataReceived(piece)
        self.assertEqual(transport.value(), b"")
        channel.dataReceived(b"1\r\nx\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)

    def test_huge_headers_refused(self) -> None:
        """Too many header bytes get 400; one overlong line gets 431; both close."""
        _, transport, channel = self.connect()
        channel.dataReceived(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * 9000 + b"\r\n")
        channel.dataReceived(b"X-B: " + b"b" * 9000 + b"\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "), transport.value())
        _, transport, channel = self.connect()
        channel.dataReceived(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 431 "))
        self.assertTrue(transport.disconnecting)
