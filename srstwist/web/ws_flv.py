# -*- test-case-name: tests.test_web_ws_flv -*-
"""
WebSocket-FLV (issue 22; SRS 2.0 has none, SRS 4 added it): an
``http_remux`` FLV mount also answers a WebSocket upgrade, so
``ws://host:8080/live/s.flv`` carries the same FLV as
``http://host:8080/live/s.flv``, in binary messages (what flv.js and
mpegts.js play with ``type: 'flv', isLive: true`` and a ``ws://`` URL).

The player is a :class:`~srstwist.stream.ws_player.WsFlvPlayer`, an
HTTP-FLV player: the same bounded queue, jitter, merged writes and
back-pressure; each write becomes one binary message (RFC 6455 section
5.6) holding one or more whole FLV tags, and in step with its source it
takes the HTTP-FLV players' shared batch with a frame header in front.

The upgrade is answered only once the controller admitted the play
(``security``, ``on_play``), so a refused player gets an HTTP 403 before
the handshake, as an HTTP-FLV player does; ``on_stop`` follows when the
socket closes or the publisher stops.  The WebSocket framing is Twisted's
own (``twisted.web.websocket``, over ``wsproto``).

A player sends nothing but control frames; whatever else it sends is
counted, and one that sends more than :data:`MAX_INBOUND` bytes in
:data:`INBOUND_WINDOW` seconds is logged once and closed (1008, policy
violation): Twisted's WebSocket layer buffers a fragmented message whole,
so without this a hostile client could make it grow without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request
from twisted.web.websocket import WebSocketResource, WebSocketTransport
from wsproto.handshake import H11Handshake
from wsproto.connection import ConnectionType
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from srstwist.interfaces import IStreamController
from srstwist.media.remux import FlvLiveEncoder
from srstwist.stream.admission import Admission
from srstwist.stream.socket_send import bound_send_buffer
from srstwist.stream.ws_player import WsFlvPlayer
from srstwist.web.mounts import LiveRoute
from srstwist.web.play import admit_player, plain, request_cid

__all__ = [
    "INBOUND_WINDOW",
    "MAX_INBOUND",
    "WsFlvProtocol",
    "WsFlvServer",
    "is_websocket_upgrade",
    "upgrade",
]

#: Bytes a player may send per :data:`INBOUND_WINDOW` (pings, pongs, close).
MAX_INBOUND = 64 * 1024
#: Seconds of the inbound window.
INBOUND_WINDOW = 10.0
#: The close code for a client that broke the rules (RFC 6455 section 7.4.1).
POLICY_VIOLATION = 1008

_log = Logger()


def is_websocket_upgrade(request: Request) -> bool:
    """Whether ``request`` asks for a WebSocket (``Upgrade: websocket``)."""
    upgrade_header = request.getHeader(b"upgrade") or b""
    return upgrade_header.strip().lower() == b"websocket"


def valid_handshake(request: Request) -> str | None:
    """
    Check the opening handshake (RFC 6455 section 4.2.1) before admission.

    :return: ``None`` when it is valid, else why not.
    """
    handshake = H11Handshake(ConnectionType.SERVER)
    raw = request.requestHeaders.getAllRawHeaders()
    headers = [(name, value) for name, values in raw for value in values]
    try:
        handshake.initiate_upgrade_connection(headers, request.path)
    except RemoteProtocolError as error:
        return str(error)
    return None


class WsFlvProtocol:
    """
    One WebSocket-FLV player's connection (a ``WebSocketProtocol``).

    :param cid: the connection id, for the log.
    :param clock: for the inbound window.
    :param on_open: called with this protocol once the upgrade is done;
        it starts the player, whose writes go to :meth:`send`.
    :param on_lost: called once when the connection is gone.
    """

    def __init__(
        self,
        cid: int,
        clock: Any,
        on_open: Callable[[WsFlvProtocol], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.cid = cid
        self.clock = clock
        self._on_open = on_open
        self._on_lost = on_lost
        self.transport: WebSocketTransport | None = None
        self.open = False
        self._window_start = 0.0
        self._window_bytes = 0

    # -- WebSocketProtocol ---------------------------------------------------

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.open = True
        self._window_start = self.clock.seconds()
        self._on_open(self)

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        pass

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        if not self.open:
            return
        self.open = False
        self._on_lost(reason.getErrorMessage())

    # -- ours -------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """One binary message of FLV."""
        if self.open and self.transport is not None:
            self.transport.sendBytesMessage(data)

    def close(self, code: int = 1000) -> None:
        """Send a close frame and drop the connection."""
        if self.open and self.transport is not None:
            try:
                self.transport.loseConnection(code)
            except LocalProtocolError:
                # The client's close frame came first: wsproto answered it.
                pass

    def inbound(self, size: int) -> bool:
        """
        Count ``size`` bytes from the client.

        :return: whether the client stays within :data:`MAX_INBOUND` per
            :data:`INBOUND_WINDOW`.
        """
        now = self.clock.seconds()
        if now - self._window_start >= INBOUND_WINDOW:
            self._window_start = now
            self._window_bytes = 0
        self._window_bytes += size
        return self._window_bytes <= MAX_INBOUND


class _Factory:
    """The one-protocol factory :class:`WebSocketResource` asks."""

    def __init__(self, protocol: WsFlvProtocol) -> None:
        self.protocol = protocol

    def buildProtocol(self, request: Request) -> WsFlvProtocol:
        return self.protocol


def upgrade(request: Request, protocol: WsFlvProtocol) -> None:
    """
    Answer the handshake (101) and hand the connection to ``protocol``,
    with the inbound bound of :meth:`WsFlvProtocol.inbound` in front.
    """
    WebSocketResource(_Factory(protocol)).render_GET(request)  # type: ignore[arg-type]
    channel: Any = request.channel
    received = channel.dataReceived  # the WebSocket layer's, after the upgrade

    def guarded(data: bytes) -> None:
        if not protocol.open:
            return
        if not protocol.inbound(len(data)):
            _log.warn(
                "ws-flv player sent over {limit} bytes in {window}s: closed",
                limit=MAX_INBOUND,
                window=INBOUND_WINDOW,
                cid=protocol.cid,
            )
            protocol.close(POLICY_VIOLATION)
            return
        received(data)

    channel.dataReceived = guarded


class WsFlvServer:
    """
    The WebSocket half of the HTTP server's FLV mounts: admission, the
    upgrade, the player, the end.

    :param controller: the stream controller (admission, ``on_play``,
        statistics, ``on_stop``).
    :param clock: for players' timers and the inbound window.
    :param players: the HTTP server's set of live players, which this adds
        to and removes from (the shutdown and the tests read it).
    """

    log = Logger()

    def __init__(self, controller: IStreamController, clock: Any, players: set[Any]) -> None:
        self.controller = controller
        self.clock = clock
        self.players = players

    def serve(self, request: Request, route: LiveRoute) -> Any:
        """Answer one upgrade request on a live FLV mount."""
        cid = request_cid(request)
        if request.method != b"GET":
            return plain(request, 405, "Method Not Allowed")
        invalid = valid_handshake(request)
        if invalid is not None:
            self.log.warn("ws-flv handshake refused: {why}", why=invalid, cid=cid)
            return plain(request, 400, f"Bad WebSocket handshake: {invalid}")
        page_url = request.getHeader(b"referer") or request.getHeader(b"origin") or b""
        return admit_player(
            self.controller,
            request,
            route,
            "ws",
            page_url.decode("latin-1"),
            lambda client, admission: self._start(request, client, admission),
        )

    def _start(self, request: Request, client: Any, admission: Admission) -> defer.Deferred[None]:
        cid = client.cid
        state: dict[str, Any] = {"lease": None, "player": None}
        url = admission.request.url

        def leave(why: str) -> None:
            player = state["player"]
            if player is None or player not in self.players:
                return
            self.players.discard(player)
            player.stop()
            if state["lease"] is not None:
                state["lease"].end(f"ws-flv player left: {why}")
            client.close()
            channel = request.channel
            if channel is not None:
                channel.unregisterProducer()
            self.log.info(
                "ws-flv play {url} done ({why}), {size} bytes",
                url=url,
                why=why,
                size=player.bytes_sent,
                cid=cid,
            )

        def opened(protocol: WsFlvProtocol) -> None:
            encoder = FlvLiveEncoder()

            def ended() -> None:
                # The publisher stopped and everything queued went out.
                protocol.close(1000)
                leave("stream ended")

            channel: Any = request.channel
            tcp = channel.transport
            player = WsFlvPlayer(
                cid,
                admission.vhost,
                encoder,
                protocol.send,
                self.clock,
                ended,
                raw_write=tcp.write,
                is_open=lambda: protocol.open and not tcp.disconnecting,
                socket_transport=tcp,
            )
            state["player"] = player
            self.players.add(player)
            bound_send_buffer(tcp, admission.vhost.mw_latency)
            # The channel still relays its transport's pause and resume to
            # the request's producer after the upgrade.
            channel.registerProducer(player, True)
            opening = encoder.start()
            if opening:
                protocol.send(opening)
            lease = client.play(admission, player)
            state["lease"] = lease
            self.log.info(
                "ws-flv play {url}, publishing={live}",
                url=lease.source.url,
                live=lease.source.publisher is not None,
                cid=cid,
            )

        protocol = WsFlvProtocol(cid, self.clock, opened, leave)
        upgrade(request, protocol)
        # The request is the WebSocket's now and is never finished as an
        # HTTP response: this Deferred does not fire.
        return defer.Deferred()


