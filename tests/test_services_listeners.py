"""
Tests for :mod:`srstwist.services.listeners`: tracked connections, the connection
cap and reload by difference.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from srstwist.services.listeners import (
    CLOSE_GRACE_SECONDS,
    ConnectionLimit,
    ListenerGroup,
    ListenerSpec,
)
from tests.reactors import ListeningReactor

_PEER = IPv4Address("TCP", "127.0.0.1", 50000)


class _Recorder(Protocol):
    """A protocol that remembers what happened to it."""

    cid = 0

    def connectionMade(self) -> None:
        self.factory.made.append(self)

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:
        self.lost = True


class _Transport(StringTransport):
    """A StringTransport that remembers its protocol and whether it was aborted."""

    def __init__(self) -> None:
        super().__init__(peerAddress=_PEER)
        self.aborted = False
        self.protocol: Protocol | None = None

    def loseConnection(self) -> None:
        if not self.disconnecting:
            super().loseConnection()

    def abortConnection(self) -> None:
        self.aborted = True


def _factory() -> Factory:
    factory = Factory.forProtocol(_Recorder)
    factory.made = []  # type: ignore[attr-defined]
    return factory


class _Config:
    """The bit of a ServerConfig that listener groups read."""

    def __init__(self, *ports: int, max_connections: int = 1000) -> None:
        self.ports = ports
        self.max_connections = max_connections


class ListenerGroupTests(SynchronousTestCase):
    """A group binds what the config asks for and reloads by difference."""

    def setUp(self) -> None:
        self.reactor = ListeningReactor()
        self.factories: dict[int, Factory] = {}
        self.limit = ConnectionLimit(1000)

    def specs(self, config: _Config) -> list[ListenerSpec]:
        def make(port: int) -> Factory:
            self.factories[port] = _factory()
            return self.factories[port]

        return [
            ListenerSpec("rtmp", f"tcp:port={port}:interface=127.0.0.1", lambda port=port: make(port))
            for port in config.ports
        ]

    def group(self, *ports: int) -> ListenerGroup:
        group = ListenerGroup(_Config(*ports), self.reactor, self.limit, self.specs)  # type: ignore[arg-type]
        group.startService()
        return group

    def connect(self, group: ListenerGroup, port: int) -> tuple[_Recorder, _Transport]:
        listener = group.getServiceNamed(f"rtmp tcp:port={port}:interface=127.0.0.1")
        wrapper = listener.tracking.buildProtocol(_PEER)
        transport = _Transport()
        transport.protocol = wrapper
        wrapper.makeConnection(transport)
        return wrapper.wrappedProtocol, transport

    def test_binds_every_listen(self) -> None:
        """Starting the group binds one port per listen entry."""
        self.group(1935, 1936)
        self.assertEqual(set(self.reactor.listening), {("127.0.0.1", 1935), ("127.0.0.1", 1936)})

    def test_connection_gets_cid(self) -> None:
        """Each accepted connection's protocol gets its own cid."""
        group = self.group(1935)
        first, _ = self.connect(group, 1935)
        second, _ = self.connect(group, 1935)
        self.assertGreaterEqual(first.cid, 100)
        self.assertEqual(second.cid, first.cid + 1)

    def test_reload_keeps_unchanged_ports_and_connections(self) -> None:
        """A reload that keeps a port keeps its listener and its connections."""
        group = self.group(1935, 1936)
        protocol, transport = self.connect(group, 1935)
        old_port = self.reactor.listening[("127.0.0.1", 1935)]
        d = group.reconfigure(_Config(1935, 1937))
        self.assertIs(self.reactor.listening[("127.0.0.1", 1935)], old_port)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(set(self.reactor.listening), {("127.0.0.1", 1935), ("127.0.0.1", 1937)})
        self.successResultOf(d)

    def test_reload_removed_port_closes_its_connections(self) -> None:
        """A port removed by reload stops listening and closes its clients at once."""
        group = self.group(1935, 1936)
        protocol, transport = self.connect(group, 1936)
        d = group.reconfigure(_Config(1935))
        self.assertTrue(transport.aborted)
        self.assertNotIn(("127.0.0.1", 1936), self.reactor.listening)
        self.assertNoResult(d)
        # The socket finishes closing: the reload completes, the slot is free.
        transport.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertTrue(protocol.lost)
        self.assertEqual(self.limit.count, 0)

    def test_close_aborts_after_grace(self) -> None:
        """At shutdown, connections that do not close within the grace period are aborted."""
        group = self.group(1935)
        group.startService()
        _, transport = self.connect(group, 1935)
        d = group.stopService()
        self.assertFalse(transport.aborted)
        self.reactor.advance(CLOSE_GRACE_SECONDS)
        self.assertTrue(transport.aborted)
        transport.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)

    def test_busy_port_at_start_raises(self) -> None:
        """A port that cannot be bound at start makes the start fail."""
        self.reactor.busy.add(1935)
        group = ListenerGroup(_Config(1935), self.reactor, self.limit, self.specs)  # type: ignore[arg-type]
        self.assertRaises(CannotListenError, group.startService)

    def test_busy_port_on_reload_is_logged_and_skipped(self) -> None:
        """A port that cannot be bound on reload is logged; the rest keeps running."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        group = self.group(1935)
        _, transport = self.connect(group, 1935)
        self.reactor.busy.add(1937)
        self.successResultOf(group.reconfigure(_Config(1935, 1937)))
        self.assertEqual(set(self.reactor.listening), {("127.0.0.1", 1935)})
        self.assertEqual([s.name for s in group], ["rtmp tcp:port=1935:interface=127.0.0.1"])
        self.assertFalse(transport.disconnecting)
        self.assertTrue(
            any("cannot listen" in e.get("log_format", "") for e in events)
        )

    def test_stop_closes_everything(self) -> None:
        """Stopping the group stops every port and closes every connection."""
        group = self.group(1935, 1936)
        _, first = self.connect(group, 1935)
        _, second = self.connect(group, 1936)
        d = group.stopService()
        self.assertEqual(self.reactor.listening, {})
        self.assertTrue(first.disconnecting and second.disconnecting)
        first.protocol.connectionLost(Failure(ConnectionDone()))
        second.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)


class ConnectionLimitTests(SynchronousTestCase):
    """max_connections caps all listeners together (SRS's ``SrsServer::accept_client``)."""

    def setUp(self) -> None:
        self.reactor = ListeningReactor()
        self.limit = ConnectionLimit(2)
        specs = lambda config: [  # noqa: E731
            ListenerSpec("rtmp", f"tcp:port={p}:interface=127.0.0.1", _factory) for p in config.ports
        ]
        self.group = ListenerGroup(_Config(1935, 1936), self.reactor, self.limit, specs)  # type: ignore[arg-type]
        self.group.startService()

    def factory_of(self, port: int):
        return self.group.getServiceNamed(f"rtmp tcp:port={port}:interface=127.0.0.1").tracking

    def test_cap_across_listeners(self) -> None:
        """The cap counts connections on every port; one over it is refused."""
        self.assertIsNotNone(self.factory_of(1935).buildProtocol(_PEER))
        self.assertIsNotNone(self.factory_of(1936).buildProtocol(_PEER))
        self.assertIsNone(self.factory_of(1935).buildProtocol(_PEER))

    def test_closed_connection_frees_a_slot(self) -> None:
        """When a connection ends, a new one is accepted again."""
        wrapper = self.factory_of(1935).buildProtocol(_PEER)
        wrapper.makeConnection(_Transport())
        self.factory_of(1935).buildProtocol(_PEER)
        self.assertIsNone(self.factory_of(1936).buildProtocol(_PEER))
        wrapper.connectionLost(Failure(ConnectionDone()))
        self.assertIsNotNone(self.factory_of(1936).buildProtocol(_PEER))

    def test_reload_changes_the_cap(self) -> None:
        """A reload applies a new max_connections to the next accept."""
        self.successResultOf(self.group.reconfigure(_Config(1935, 1936, max_connections=3)))
        for _ in range(3):
            self.assertIsNotNone(self.factory_of(1935).buildProtocol(_PEER))
        self.assertIsNone(self.factory_of(1935).buildProtocol(_PEER))
