"""
Test doubles for reactors, shared by the service tests.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock


class _Port:
    """A listening port that removes itself from its reactor when stopped."""

    def __init__(self, reactor: ListeningReactor, key: tuple[str, int], factory: Any) -> None:
        self._reactor = reactor
        self.key = key
        self.factory = factory
        self.connected = True

    def stopListening(self) -> None:
        self.connected = False
        del self._reactor.listening[self.key]
        self.factory.doStop()

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", self.key[0], self.key[1])


class ListeningReactor(MemoryReactorClock):
    """
    A MemoryReactorClock that knows which ports are bound right now and can
    refuse ports marked busy, like a real reactor would.
    """

    def __init__(self) -> None:
        super().__init__()
        self.listening: dict[tuple[str, int], _Port] = {}
        self.busy: set[int] = set()

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> _Port:
        key = (interface or "0.0.0.0", port)
        if port in self.busy or key in self.listening:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        super().listenTCP(port, factory, backlog, interface)
        factory.doStart()
        bound = _Port(self, key, factory)
        self.listening[key] = bound
        return bound
