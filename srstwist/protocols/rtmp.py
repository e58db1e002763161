# -*- test-case-name: tests.test_protocols_rtmp -*-
"""
The RTMP server protocol: one client connection, publisher or player.

It drives the sans-IO :class:`~srstwist.codec.rtmp.ServerSession` the way
Twisted's HTTP/2 protocol drives h2: bytes in, events out, each event
dispatched to a small handler, then whatever the session has to send is
written.  Policy lives elsewhere: admission, hooks, sources, statistics and
publish timeouts in the stream controller
(:class:`~srstwist.interfaces.IStreamController`, given by the factory),
queueing in the player (:class:`~srstwist.stream.rtmp_player.RtmpPlayer`).

While an admission is pending (an HTTP hook may take a while), later
events wait their turn, in order.

Failure isolation: a protocol error, an admission refusal or a bad sequence
header logs one line under this connection's cid and closes this
connection only.  A connection that stays silent during the handshake,
connect or identification is closed after :data:`IDLE_TIMEOUT`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.codec.rtmp import ServerSession
from srstwist.codec.rtmp_commands import ServerIdentity
from srstwist.codec.rtmp_events import (
    Call,
    CloseStream,
    Connect,
    CreateStream,
    FCPublish,
    FCUnpublish,
    Ignored,
    Media,
    Pause,
    Play,
    Publish,
    PublishEnded,
    ReleaseStream,
)
from srstwist.codec.rtmp_session import RtmpError
from srstwist.config.holder import ConfigHolder
from srstwist.interfaces import (
    IClientHandle,
    IPlayLease,
    IPublishLease,
    IStreamController,
    IStreamPublisher,
    Stage,
)
from srstwist.media.message import SharedMessage
from srstwist.media.source import SourceError
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.request import StreamRequest
from srstwist.stream.rtmp_player import RtmpPlayer
from srstwist.stream.socket_send import bound_send_buffer
from srstwist.stream.stats import (
    CLIENT_FLASH_PUBLISH,
    CLIENT_FMLE_PUBLISH,
    CLIENT_HAIVISION_PUBLISH,
    CLIENT_PLAY,
)

__all__ = ["RtmpServerProtocol", "RtmpServerFactory", "IDLE_TIMEOUT", "IDENTIFY_DEADLINE"]

#: Seconds of silence allowed before a client is publishing or playing (SRS: 30).
IDLE_TIMEOUT = 30.0
#: Seconds a client has, from connecting (or from its last unpublish or
#: closeStream), to start publishing or playing, however it trickles bytes.
#: Time spent waiting for an admission hook is not counted.
IDENTIFY_DEADLINE = 30.0

_CLIENT_TYPES = {
    "fmle": CLIENT_FMLE_PUBLISH,
    "flash": CLIENT_FLASH_PUBLISH,
    "haivision": CLIENT_HAIVISION_PUBLISH,
}


@implementer(IStreamPublisher)
class RtmpServerProtocol(Protocol, TimeoutMixin):
    """One RTMP client.  ``cid`` is set by the listener before connectionMade."""

    log = Logger()
    cid = 0
    factory: RtmpServerFactory

    def __init__(self) -> None:
        self.session: ServerSession | None = None
        #: This client as the stream controller knows it.
        self.client: IClientHandle | None = None
        #: What the client asked for at connect (the app's request).
        self.request: StreamRequest | None = None
        self.publication: IPublishLease | None = None
        self.playback: IPlayLease | None = None
        self.player: RtmpPlayer | None = None
        self._events: deque[Any] = deque()
        self._waiting = False
        self._closing = False
        self._deadline: IDelayedCall | None = None

    @property
    def publishing(self) -> bool:
        return self.publication is not None

    # -- connection --------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        ip = getattr(peer, "host", str(peer))
        self.client = self.factory.controller.client(self.cid, ip)
        self.session = ServerSession(os.urandom, int(self.factory.clock.seconds()))
        self.setTimeout(IDLE_TIMEOUT)
        self._arm_deadline()
        self.log.info("RTMP client ip={ip}", ip=ip)

    def callLater(self, seconds: float, f: Callable[..., Any], *args: Any) -> Any:
        # TimeoutMixin's timer runs on the factory's clock (tests use Clock).
        return self.factory.clock.callLater(seconds, f, *args)

    def timeoutConnection(self) -> None:
        if self._waiting:
            # Silent because it waits for us (an admission hook, which has
            # its own timeout): not idle.
            self.resetTimeout()
            return
        self._fail("client idle during handshake, connect or identification; closing")

    def _arm_deadline(self, seconds: float = IDENTIFY_DEADLINE) -> None:
        """(Re)start the time allowed to reach publish or play."""
        self._cancel_deadline()
        self._deadline = self.factory.clock.callLater(seconds, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._waiting:
            # An admission hook is being asked: its time is not the client's.
            self._arm_deadline(1.0)
            return
        self._fail(
            f"client did not publish or play within {IDENTIFY_DEADLINE:g}s; closing"
        )

    def dataReceived(self, data: bytes) -> None:
        if self._closing or self.session is None:
            return
        assert self.client is not None
        self.client.received(len(data))
        if self.publication is None and self.player is None:
            self.resetTimeout()
        try:
            events = self.session.receive_data(data)
        except RtmpError as e:
            self._fail(f"protocol error: {e}")
            return
        self._events.extend(events)
        self._run()
        self._flush()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)
        self._cancel_deadline()
        self._closing = True
        self._leave()
        if self.session is not None:
            self.session.close()
        if self.client is not None:
            self.client.close()
            self.log.info(
                "RTMP client closed, recv={recv} bytes, sent={sent} bytes",
                recv=self.client.bytes_in,
                sent=self.client.bytes_out,
            )

    def close(self, reason: str) -> None:
        """IStreamPublisher: drop this connection (a kick, a timeout, a shutdown)."""
        self._fail(reason, level="info")

    def _fail(self, reason: str, level: str = "warn", graceful: bool = False) -> None:
        """
        Log one line and close this connection only.

        A forced close drops whatever is still queued for the peer and
        closes at once (``abortConnection``): a peer that stopped reading
        would otherwise hold the connection, its descriptor and its
        ``max_connections`` slot for as long as it likes.  Only a close the
        client asked for (``graceful``: its play duration is over) lets the
        last bytes go out first.
        """
        if self._closing:
            return
        self._closing = True
        getattr(self.log, level)("closing: {reason}", reason=reason)
        self._leave()
        if self.transport is None:
            return
        if graceful:
            self.transport.loseConnection()
        else:
            self.transport.abortConnection()

    def _leave(self) -> None:
        """Stop publishing or playing."""
        if self.publication is not None:
            publication, self.publication = self.publication, None
            publication.end("publisher left")
        if self.playback is not None:
            playback, self.playback = self.playback, None
            assert self.player is not None
            self.player.stop()
            # A registered push producer keeps loseConnection waiting for it.
            if self.transport is not None:
                self.transport.unregisterProducer()
            playback.end("player left")

    def _flush(self) -> None:
        """Write what the session has to send (replies, acks, pings)."""
        if self.session is None or self.transport is None:
            return
        if self.player is not None:
            # The player writes it, so it knows its chunk streams changed.
            self.player.write_control()
            return
        pieces = self.session.data_to_send()
        if pieces:
            assert self.client is not None
            self.client.sent(sum(map(len, pieces)))
            self.transport.writeSequence(pieces)

    # -- events, in order, possibly waiting on admission ---------------------

    def _run(self) -> None:
        while self._events and not self._waiting and not self._closing:
            event = self._events.popleft()
            try:
                result = self._handle(event)
            except (AccessDenied, SourceError, RtmpError) as e:
                self._refuse(e)
                return
            except Exception:
                self.log.failure("bug while handling {event}", event=type(event).__name__)
                self._fail("internal error")
                return
            if isinstance(result, defer.Deferred):
                self._waiting = True
                result.addCallbacks(self._resume, self._rejected)

    def _resume(self, _: object) -> None:
        self._waiting = False
        self._run()
        self._flush()

    def _rejected(self, failure: Failure) -> None:
        self._waiting = False
        if failure.check(AccessDenied, SourceError, RtmpError):
            self._refuse(failure.value)
        else:
            self.log.failure("bug while admitting a client", failure)
            self._fail("internal error")

    def _refuse(self, error: BaseException) -> None:
        code = getattr(error, "code", None)
        self._fail(f"refused{f' ({code})' if code else ''}: {error}")

    def _handle(self, event: Any) -> defer.Deferred[None] | None:
        if isinstance(event, Media):
            self._on_media(event)
            return None
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is None:
            return None
        result: defer.Deferred[None] | None = handler(event)
        return result

    def _admit(
        self, request: StreamRequest, stage: Stage, then: Callable[[Admission], None]
    ) -> defer.Deferred[None]:
        """Ask the controller to admit ``request``; ``then`` continues once it did."""
        if self._closing:
            return defer.fail(AccessDenied(0, "client gone"))
        assert self.client is not None
        return self.client.admit(request, stage).addCallback(then)

    # -- handlers ----------------------------------------------------------

    def _on_Connect(self, event: Connect) -> defer.Deferred[None]:
        assert self.transport is not None and self.client is not None
        self.request = StreamRequest.from_rtmp(
            self.client.ip, event.tc_url, event.page_url, event.swf_url
        )
        self.log.info(
            "connect app, tcUrl={tc_url}, pageUrl={page_url}, swfUrl={swf_url}",
            tc_url=event.tc_url,
            page_url=event.page_url,
            swf_url=event.swf_url,
        )
        return self._admit(
            self.request, Stage.CONNECT, lambda admission: self._accept_connect(event, admission)
        )

    def _accept_connect(self, event: Connect, admission: Admission) -> None:
        assert self.session is not None and self.transport is not None
        host = self.transport.getHost()
        identity = ServerIdentity(
            server_ip=getattr(host, "host", None), pid=os.getpid(), connection_id=self.cid
        )
        chunk_size = self.factory.holder.config.chunk_size_of(admission.vhost)
        self.session.accept_connect(event, chunk_size=chunk_size, identity=identity)

    def _on_CreateStream(self, event: CreateStream) -> None:
        assert self.session is not None
        self.session.accept_create_stream(event)

    def _on_ReleaseStream(self, event: ReleaseStream) -> None:
        assert self.session is not None
        self.session.reply_release_stream(event)

    def _on_FCPublish(self, event: FCPublish) -> None:
        assert self.session is not None
        self.session.reply_fc_publish(event)

    def _for_stream(self, stream: str, client_type: str) -> StreamRequest:
        if self.request is None:
            raise RtmpError("publish or play before connect")
        return self.request.for_stream(stream, client_type)

    def _on_Publish(self, event: Publish) -> defer.Deferred[None]:
        kind = _CLIENT_TYPES.get(event.publisher_type.value, CLIENT_FMLE_PUBLISH)
        request = self._for_stream(event.stream_name, kind)
        return self._admit(
            request, Stage.PUBLISH, lambda admission: self._start_publish(event, admission)
        )

    def _start_publish(self, event: Publish, admission: Admission) -> None:
        assert self.session is not None and self.client is not None
        self.publication = self.client.publish(admission, self)
        self.session.start_publish(event)
        # The controller's lease watches the publisher's pace from now on.
        self.setTimeout(None)
        self._cancel_deadline()
        self.log.info(
            "publish {url}, type={kind}",
            url=self.publication.source.url,
            kind=admission.request.client_type,
        )

    def _on_media(self, event: Media) -> None:
        publication = self.publication
        if publication is None:
            return
        publication.deliver(
            SharedMessage(
                event.timestamp, event.message_type_id, event.payload, event.chunk_stream_id
            )
        )

    def _on_FCUnpublish(self, event: FCUnpublish) -> None:
        assert self.session is not None
        self._stop_publishing()
        self.session.reply_fc_unpublish(event)

    def _on_PublishEnded(self, event: PublishEnded) -> None:
        self._stop_publishing()

    def _stop_publishing(self) -> None:
        if self.publication is not None:
            self._leave()
            self.setTimeout(IDLE_TIMEOUT)
            self._arm_deadline()

    def _on_Play(self, event: Play) -> defer.Deferred[None]:
        request = self._for_stream(event.stream_name, CLIENT_PLAY)
        return self._admit(
            request, Stage.PLAY, lambda admission: self._start_play(event, admission)
        )

    def _start_play(self, event: Play, admission: Admission) -> None:
        assert self.session is not None and self.client is not None
        assert self.transport is not None
        vhost = admission.vhost
        self.session.start_play(event)
        self.setTimeout(None)
        self._cancel_deadline()
        if vhost.tcp_nodelay:
            set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
            if set_nodelay is not None:
                set_nodelay(True)
        bound_send_buffer(self.transport, vhost.mw_latency)
        session = self.session
        player = RtmpPlayer(
            self.cid,
            vhost,
            session.out_chunk_size,
            self.transport.writeSequence,
            session.data_to_send,
            self.factory.clock,
            duration_ms=event.duration,
            on_complete=lambda: self._fail("play duration reached", level="info", graceful=True),
            socket_transport=self.transport,
        )
        self.player = player
        self.transport.registerProducer(player, True)
        self.playback = self.client.play(admission, player)
        self.log.info(
            "play {url}, publishing={live}",
            url=self.playback.source.url,
            live=self.playback.source.publisher is not None,
        )

    def _on_Pause(self, event: Pause) -> None:
        assert self.session is not None
        self.session.reply_pause(event)
        if self.player is not None:
            self.player.set_client_paused(event.is_pause)

    def _on_CloseStream(self, event: CloseStream) -> None:
        if self.player is not None:
            self._leave()
            self.player = None
            self._arm_deadline()
        self.setTimeout(IDLE_TIMEOUT)

    def _on_Call(self, event: Call) -> None:
        assert self.session is not None
        self.session.reply_call(event)

    _on_DeleteStream = _on_Call  # type: ignore[assignment]
    _on_GetStreamLength = _on_Call  # type: ignore[assignment]

    def _on_Ignored(self, event: Ignored) -> None:
        if self.request is None:
            # SRS waits silently for connect; a client that commands before
            # connecting is broken or hostile, and holding it gains nothing.
            raise RtmpError(f"command {event.name!r} before connect")
        self.log.debug("ignored {name}: {reason}", name=event.name, reason=event.reason)


class RtmpServerFactory(Factory):
    """
    Makes :class:`RtmpServerProtocol` instances sharing the stream controller,
    the config and a clock.
    """

    noisy = False

    def __init__(self, controller: IStreamController, holder: ConfigHolder, clock: Any) -> None:
        self.controller = controller
        self.holder = holder
        self.clock = clock

    # Factory's stub ties buildProtocol to its protocol type variable.
    def buildProtocol(self, addr: IAddress | None) -> RtmpServerProtocol:  # type: ignore[override]
        protocol = RtmpServerProtocol()
        protocol.factory = self
        return protocol
