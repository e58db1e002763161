"""
Tests for L{srstwist.web.site}: the request deadline and the body limit.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from srstwist.web.site import MAX_BODY, REQUEST_DEADLINE, make_site


class _Hello(Resource):
    isLeaf = True

    def render(self, request: object) -> bytes:
        return b"hello"


class ChannelTests(SynchronousTestCase):
    """The hardened HTTP channel on an in-memory transport."""

    def connect(self) -> tuple[Clock, StringTransport, object]:
        clock = Clock()
        site = make_site(_Hello(), clock)
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
        """A declared body over the limit gets 413 and the connection closes."""
        _, transport, channel = self.connect()
        channel.dataReceived(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        )
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
