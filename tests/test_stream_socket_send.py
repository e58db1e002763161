"""
Tests for :mod:`srstwist.stream.socket_send`: direct sends only on a plain
TCP connection, and the private Twisted attributes they read, pinned.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol, reactor, tcp
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from srstwist.services.listeners import TrackingFactory
from srstwist.stream.socket_send import (
    PLAYER_TRANSPORT_BUFFER,
    DirectSend,
    bound_send_buffer,
    plain_tcp_connection,
)

_reactor: Any = reactor


class _Keep(protocol.Protocol):
    """Keeps what it receives; tells when it has ``expect`` bytes."""

    def __init__(self, expect: int = 0) -> None:
        self.data = b""
        self.expect = expect
        self.made: defer.Deferred[None] = defer.Deferred()
        self.full: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        self.made.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.expect and len(self.data) >= self.expect and not self.full.called:
            self.full.callback(self.data)


class RealConnectionTests(TestCase):
    """On a real loopback connection, the attributes DirectSend reads exist."""

    @defer.inlineCallbacks
    def test_pinned_attributes_and_send(self) -> Any:
        """
        ``dataBuffer``, ``_tempDataBuffer``, ``connected``, ``disconnecting``
        and ``writeSomeData`` are what Twisted's TCP transport has; if an
        upgrade renames them this fails, rather than direct sends silently
        stopping (or worse).
        """
        received = _Keep(expect=5000)
        factory = protocol.Factory.forProtocol(lambda: received)
        port = _reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = _Keep()
        creator = protocol.ClientCreator(_reactor, lambda: client)
        yield creator.connectTCP("127.0.0.1", port.getHost().port)
        yield client.made
        transport = client.transport
        self.addCleanup(transport.loseConnection)
        self.assertIsInstance(transport, tcp.Connection)
        for name in ("dataBuffer", "_tempDataBuffer", "connected", "disconnecting"):
            self.assertTrue(hasattr(transport, name), name)
        self.assertTrue(callable(transport.writeSomeData))
        self.assertIsInstance(transport.dataBuffer, bytes)
        self.assertIsInstance(transport._tempDataBuffer, list)
        direct = DirectSend.of(transport)
        assert direct is not None
        self.assertTrue(direct.idle())
        handed = direct.send(b"x" * 5000, transport.write)
        self.assertEqual(handed, 5000)
        data = yield received.full
        self.assertEqual(data, b"x" * 5000)


class AdapterTests(SynchronousTestCase):
    """Which transports get a direct sender."""

    def test_plain_tcp_through_the_tracking_wrapper(self) -> None:
        """Our listener's wrapper is looked through; the TCP connection is found."""
        connection = tcp.Connection.__new__(tcp.Server)
        wrapper = TrackingFactory.protocol.__new__(TrackingFactory.protocol)
        wrapper.transport = connection  # type: ignore[attr-defined]
        self.assertIs(plain_tcp_connection(wrapper), connection)

    def test_tls_is_never_looked_through(self) -> None:
        """Under TLS the bytes must be encrypted: no direct sender."""
        connection = tcp.Connection.__new__(tcp.Server)
        tls = TLSMemoryBIOProtocol.__new__(TLSMemoryBIOProtocol)
        tls.transport = connection  # type: ignore[attr-defined]
        self.assertIsNone(plain_tcp_connection(tls))
        self.assertIsNone(DirectSend.of(tls))
        self.assertTrue(issubclass(TLSMemoryBIOFactory.protocol, ProtocolWrapper))

    def test_unknown_wrappers_and_fakes(self) -> None:
        """Any other wrapper, or a fake transport, writes through ``write``."""
        connection = tcp.Connection.__new__(tcp.Server)
        other = WrappingFactory.protocol.__new__(WrappingFactory.protocol)
        other.transport = connection  # type: ignore[attr-defined]
        self.assertIsNone(plain_tcp_connection(other))
        self.assertIsNone(DirectSend.of(StringTransport()))


class SendBufferTests(SynchronousTestCase):
    """What a player's connection may hold outside the player's own queue."""

    def test_transport_buffer_is_small(self) -> None:
        """
        Twisted's transport pauses a player after 16 KiB, not 64 KiB: at
        20000 players the difference was 2 GB of RSS held in transport
        buffers, outside every queue bound (docs/performance.md).
        """
        connection = tcp.Connection.__new__(tcp.Server)
        wrapper = TrackingFactory.protocol.__new__(TrackingFactory.protocol)
        wrapper.transport = connection  # type: ignore[attr-defined]
        self.assertEqual(connection.bufferSize, 64 * 1024)
        bound_send_buffer(wrapper, 350)
        self.assertEqual(connection.bufferSize, PLAYER_TRANSPORT_BUFFER)
