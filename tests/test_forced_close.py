"""
Forced closes of RTMP connections over real loopback sockets: a kick (or a
timeout, or bad input) ends the connection at once, even when the peer has
stopped reading and the player is paused with a full send buffer.

These run on the real reactor because the defect is in how a TCP transport
with a registered, paused push producer handles ``loseConnection``, which
in-memory transports do not model.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from srstwist.codec.chunk import MessageType
from srstwist.codec.rtmp_events import OnStatus
from srstwist.config.holder import ConfigHolder
from srstwist.config.loader import load_config_text
from srstwist.interfaces import Stage
from srstwist.media.message import SharedMessage
from srstwist.protocols.rtmp import RtmpServerFactory, RtmpServerProtocol
from srstwist.services.controller import StreamController
from srstwist.services.hub import SourceHub
from srstwist.services.listeners import ConnectionLimit, TrackingFactory
from srstwist.stream.request import StreamRequest
from srstwist.web.http_server import HttpStreamServer
from srstwist.web.site import make_site
from tests.rtmp_peer import ScriptedClient

_reactor: Any = reactor
_CONF = (
    "listen 1935;\nhttp_server { enabled on; }\nvhost __defaultVhost__ { gop_cache off;\n"
    "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n"
)


class _Publisher:
    cid = 77

    def close(self, reason: str) -> None:
        pass


class ForcedCloseTests(TestCase):
    """A kicked player that does not read is gone within a second."""

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        config = load_config_text(_CONF, "t.conf")
        holder = ConfigHolder(config)
        self.hub = SourceHub(holder, _reactor)
        self.controller = StreamController(self.hub, holder, _reactor)
        self.limit = ConnectionLimit(100)
        self.tracking = TrackingFactory(
            RtmpServerFactory(self.controller, holder, _reactor), self.limit, "rtmp"
        )
        self.port = _reactor.listenTCP(0, self.tracking, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.http_app = HttpStreamServer(self.controller, holder, _reactor)
        self.http_tracking = TrackingFactory(
            make_site(self.http_app.resource(), _reactor), self.limit, "http_server"
        )
        self.http_port = _reactor.listenTCP(0, self.http_tracking, interface="127.0.0.1")
        self.addCleanup(self.http_port.stopListening)
        handle = self.controller.client(77, "127.0.0.1")
        request = StreamRequest(
            ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream="s",
            client_type="fmle-publish", transport="memory",
        )  # fmt: skip
        admission = yield handle.admit(request, Stage.PUBLISH)
        self.lease = handle.publish(admission, _Publisher())
        self.addCleanup(handle.close)

    @defer.inlineCallbacks
    def stalled_player(self) -> Any:
        """A playing client that stops reading once the play started."""
        client = ScriptedClient(f"rtmp://127.0.0.1:{self.port.getHost().port}/live", "s", "play")
        yield protocol.ClientCreator(_reactor, lambda: client).connectTCP(
            "127.0.0.1", self.port.getHost().port
        )
        self.addCleanup(lambda: client.transport and client.transport.abortConnection())
        for _ in range(200):
            if any(isinstance(e, OnStatus) for e in client.events):
                break
            yield deferLater(_reactor, 0.01, lambda: None)
        client.transport.pauseProducing()  # stop reading
        [wrapper] = self.tracking.connections
        server = wrapper.wrappedProtocol
        assert isinstance(server, RtmpServerProtocol)
        yield self.fill(wrapper)
        return server

    @defer.inlineCallbacks
    def fill(self, wrapper: Any) -> Any:
        """Publish until the server's transport to ``wrapper`` pushes back."""
        payload = b"\x17\x01\x00\x00\x00" + b"x" * 100_000
        for index in range(400):
            self.lease.deliver(SharedMessage(index * 40, MessageType.VIDEO, payload, 6))
            yield deferLater(_reactor, 0, lambda: None)
            if wrapper.transport.producerPaused:
                return
        self.fail("the player never filled its socket")

    @defer.inlineCallbacks
    def wait_gone(self, seconds: float = 2.0) -> Any:
        for _ in range(int(seconds / 0.02)):
            if not self.tracking.connections:
                return
            yield deferLater(_reactor, 0.02, lambda: None)
        self.fail(f"the connection was still open {seconds}s after being closed")

    @defer.inlineCallbacks
    def test_kick_stalled_player(self) -> Any:
        """close(reason), which the API's kick calls, ends the connection and frees its slot."""
        server = yield self.stalled_player()
        self.assertEqual(self.limit.count, 1)
        server.close("kicked off by the HTTP API")
        yield self.wait_gone()
        self.assertEqual(self.limit.count, 0)
        self.assertIsNone(self.controller.stats.client(server.cid))

    @defer.inlineCallbacks
    def test_timeout_of_stalled_player_after_close_stream(self) -> Any:
        """Bad input from a stalled player (a protocol error) closes it at once too."""
        server = yield self.stalled_player()
        server.dataReceived(b"\xff" * 4096)
        yield self.wait_gone()

    @defer.inlineCallbacks
    def test_kick_stalled_http_player(self) -> Any:
        """A kicked HTTP-FLV player that does not read is closed and stopped."""
        client = protocol.Protocol()
        yield protocol.ClientCreator(_reactor, lambda: client).connectTCP(
            "127.0.0.1", self.http_port.getHost().port
        )
        self.addCleanup(lambda: client.transport and client.transport.abortConnection())
        client.transport.write(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(200):
            if self.http_app.players:
                break
            yield deferLater(_reactor, 0.01, lambda: None)
        client.transport.pauseProducing()  # stop reading
        [wrapper] = self.http_tracking.connections
        yield self.fill(wrapper)
        self.assertTrue(self.http_tracking.force_close(wrapper.cid, "kicked off by the HTTP API"))
        for _ in range(100):
            if not self.http_tracking.connections and not self.http_app.players:
                break
            yield deferLater(_reactor, 0.02, lambda: None)
        self.assertEqual(self.http_tracking.connections, [])
        self.assertEqual(self.http_app.players, set())
        self.assertIsNone(self.controller.stats.client(wrapper.cid))
