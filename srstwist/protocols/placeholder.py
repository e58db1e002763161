# -*- test-case-name: tests.test_protocols_placeholder -*-
"""
What an RTMP port answers until the RTMP origin is built: a logged refusal.

The listeners, reloads and connection limits around it are real; only the
protocol is missing.  A client (ffmpeg, OBS, a player) is told nothing RTMP
can parse, so the server logs why it closed the connection instead.
UNFINISHED: replaced by the RTMP server protocol (issue 5).
"""

from __future__ import annotations

from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

__all__ = ["NotBuiltProtocol", "not_built_factory"]


class NotBuiltProtocol(Protocol):
    """Logs that the feature is not built yet and closes the connection."""

    log = Logger()
    cid = 0
    feature = "rtmp"

    def connectionMade(self) -> None:
        assert self.transport is not None
        peer = self.transport.getPeer()
        self.log.warn(
            "{feature} client ip={host} closed: {feature} is not supported yet",
            feature=self.feature,
            host=getattr(peer, "host", peer),
        )
        self.transport.loseConnection()


def not_built_factory(feature: str) -> IProtocolFactory:
    """A factory whose connections are refused with a log line naming C{feature}."""
    protocol = type(f"NotBuilt_{feature}", (NotBuiltProtocol,), {"feature": feature})
    return Factory.forProtocol(protocol)
