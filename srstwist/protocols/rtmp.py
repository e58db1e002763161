# -*- test-case-name: tests.test_protocols_rtmp -*-
"""
The RTMP server protocol: one client connection, publisher or player.

It drives the sans-IO L{ServerSession} the way Twisted's HTTP/2 protocol
drives h2 (``STYLE.md`` §3): bytes in, events out, each event dispatched to
a small handler, then whatever the session has to send is written.  Policy
lives elsewhere: the admission checks (L{srstwist.access}), the source
(L{srstwist.media.source}) and the player (L{RtmpPlayer}).

Admission runs as a chain of checks per stage (connect, publish, play)
that may return Deferreds, so HTTP hooks and edge token traversal plug in
later without changing the protocol.  While a check is pending, later events
wait their turn, in order.

Failure isolation: a protocol error, an admission refusal or a bad sequence
header logs one line under this connection's cid and closes this
connection only.  A connection that stays silent during the handshake,
connect or identification is closed after L{IDLE_TIMEOUT}; a publisher
after ``publish_1stpkt_timeout`` before its first message and
``publish_normal_timeout`` between messages.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.access import AccessDenied, check_refer, check_security
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
from srstwist.codec.rtmp_url import RtmpRequestUrl, parse_tc_url
from srstwist.config.model import VhostConfig
from srstwist.hooks import (
    HookRejected,
    IHookClient,
    on_close_payload,
    on_connect_payload,
    on_play_payload,
    on_publish_payload,
    on_stop_payload,
    on_unpublish_payload,
)
from srstwist.interfaces import IStreamPublisher
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source, SourceBusy, SourceError
from srstwist.protocols.rtmp_player import RtmpPlayer
from srstwist.protocols.sockets import bound_send_buffer
from srstwist.services.hub import ConfigHolder, SourceHub
from srstwist.stats import (
    CLIENT_FLASH_PUBLISH,
    CLIENT_FMLE_PUBLISH,
    CLIENT_HAIVISION_PUBLISH,
    CLIENT_PLAY,
    ClientStats,
)

__all__ = ["RtmpServerProtocol", "RtmpServerFactory", "IDLE_TIMEOUT"]

#: Seconds of silence allowed before a client is publishing or playing (SRS: 30).
IDLE_TIMEOUT = 30.0

_CLIENT_TYPES = {
    "fmle": CLIENT_FMLE_PUBLISH,
    "flash": CLIENT_FLASH_PUBLISH,
    "haivision": CLIENT_HAIVISION_PUBLISH,
}


class ClientRequest:
    """What a client asked for, filled in as it identifies itself."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.tc_url = ""
        self.page_url = ""
        self.swf_url = ""
        self.url: RtmpRequestUrl | None = None
        self.vhost: VhostConfig | None = None
        self.stream = ""
        self.client_type = ""


#: An admission check: may raise AccessDenied or return a Deferred that does.
Check = Callable[["RtmpServerProtocol", ClientRequest], "defer.Deferred[None] | None"]


def _check_vhost(protocol: RtmpServerProtocol, request: ClientRequest) -> None:
    assert request.url is not None
    vhost = protocol.factory.holder.config.vhost(request.url.vhost)
    if vhost is None or not vhost.enabled:
        raise AccessDenied(2014, f"vhost {request.url.vhost} not found or disabled")
    request.vhost = vhost


def _check_refer(protocol: RtmpServerProtocol, request: ClientRequest) -> None:
    assert request.vhost is not None
    check_refer(request.vhost.refer, request.page_url)


def _check_stream_name(protocol: RtmpServerProtocol, request: ClientRequest) -> None:
    if not request.stream:
        raise AccessDenied(2050, "empty stream name")


def _check_security(role: str) -> Check:
    def check(protocol: RtmpServerProtocol, request: ClientRequest) -> None:
        assert request.vhost is not None
        check_security(request.vhost.security, role, request.ip)

    return check


def _check_refer_for(role: str) -> Check:
    def check(protocol: RtmpServerProtocol, request: ClientRequest) -> None:
        assert request.vhost is not None
        allowed = request.vhost.refer_play if role == "play" else request.vhost.refer_publish
        check_refer(allowed, request.page_url)

    return check


def _hook_payload(event: str, protocol: RtmpServerProtocol, request: ClientRequest) -> dict[str, Any]:
    """The body of an HTTP hook for this client (config-api-hooks.md §4)."""
    assert request.vhost is not None and request.url is not None
    url = request.url
    cid, ip, vhost = protocol.cid, request.ip, request.vhost.name
    if event == "on_connect":
        return on_connect_payload(cid, ip, vhost, url.app, request.tc_url, request.page_url)
    if event == "on_publish":
        return on_publish_payload(cid, ip, vhost, url.app, request.tc_url, request.stream, url.param)
    if event == "on_play":
        return on_play_payload(cid, ip, vhost, url.app, request.stream, url.param, request.page_url)
    if event == "on_unpublish":
        return on_unpublish_payload(cid, ip, vhost, url.app, request.stream, url.param)
    if event == "on_stop":
        return on_stop_payload(cid, ip, vhost, url.app, request.stream, url.param)
    sent = protocol.bytes_out + (protocol.player.bytes_sent if protocol.player else 0)
    return on_close_payload(cid, ip, vhost, url.app, sent, protocol.bytes_in)


def _check_hook(event: str) -> Check:
    """
    Ask the vhost's C{event} URLs (on_connect, on_publish, on_play): a
    rejection refuses this client only, with SRS's code.
    """

    def check(protocol: RtmpServerProtocol, request: ClientRequest) -> defer.Deferred[None] | None:
        assert request.vhost is not None
        hooks = request.vhost.http_hooks
        urls = getattr(hooks, event)
        client = protocol.factory.hooks
        if not hooks.enabled or not urls or client is None:
            protocol.hooks_passed.add(event)
            return None
        asked = client.admit(event, urls, _hook_payload(event, protocol, request), protocol.cid)

        def passed(_: object) -> None:
            if protocol._closing:
                # The client left while its hook was asked: admitting it
                # now would create a source (or worse) for no one.
                raise AccessDenied(0, f"{event} hook answered after the client left")
            protocol.hooks_passed.add(event)

        def rejected(failure: Failure) -> None:
            failure.trap(HookRejected)
            raise AccessDenied(failure.value.code, f"{event} hook: {failure.value}")

        return asked.addCallbacks(passed, rejected)

    return check


#: The admission chains, in SRS's order (config-api-hooks.md §6.1).
CONNECT_CHECKS: list[Check] = [_check_vhost, _check_refer, _check_hook("on_connect")]
PUBLISH_CHECKS: list[Check] = [
    _check_vhost,
    _check_security("publish"),
    _check_stream_name,
    _check_refer_for("publish"),
    _check_hook("on_publish"),
]
PLAY_CHECKS: list[Check] = [
    _check_vhost,
    _check_security("play"),
    _check_stream_name,
    _check_refer_for("play"),
    _check_hook("on_play"),
]


@implementer(IStreamPublisher)
class RtmpServerProtocol(Protocol, TimeoutMixin):
    """One RTMP client.  C{cid} is set by the listener before connectionMade."""

    log = Logger()
    cid = 0
    factory: RtmpServerFactory

    def __init__(self) -> None:
        self.session: ServerSession | None = None
        self.request: ClientRequest | None = None
        self.source: Source | None = None
        self.player: RtmpPlayer | None = None
        self._fanout: Any = None
        self.publishing = False
        self._events: deque[Any] = deque()
        self._waiting = False
        self._closing = False
        self._got_media = False
        self.bytes_in = 0
        #: The hooked stages (on_connect, on_publish, on_play) this client
        #: got past: their pairs (on_close, on_unpublish, on_stop) are
        #: called when it leaves, as in SRS.
        self.hooks_passed: set[str] = set()
        self._notifications: defer.Deferred[None] = defer.succeed(None)
        #: Bytes written outside the player (handshake, replies).
        self.bytes_out = 0
        #: The statistics entry, once the client is identified.
        self.stats: ClientStats | None = None

    # -- connection --------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        ip = getattr(peer, "host", str(peer))
        self.request = ClientRequest(ip)
        self.session = ServerSession(os.urandom, int(self.factory.clock.seconds()))
        self.setTimeout(IDLE_TIMEOUT)
        self.log.info("RTMP client ip={ip}", ip=ip)

    def callLater(self, seconds: float, f: Callable[..., Any], *args: Any) -> Any:
        # TimeoutMixin's timer runs on the factory's clock (tests use Clock).
        return self.factory.clock.callLater(seconds, f, *args)

    def timeoutConnection(self) -> None:
        if self.publishing:
            what = "publisher sent nothing in time"
        else:
            what = "client idle during handshake, connect or identification"
        self._fail(f"{what}; closing")

    def dataReceived(self, data: bytes) -> None:
        if self._closing or self.session is None:
            return
        self.bytes_in += len(data)
        if self.stats is not None:
            self.stats.bytes_recv += len(data)
        if not self.publishing and self.player is None:
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
        self._closing = True
        self._leave()
        self._notify("on_close", "on_connect")
        if self.session is not None:
            self.session.close()
        if self.stats is not None:
            self.factory.hub.stats.on_disconnect(self.cid)
        self.log.info(
            "RTMP client closed, recv={recv} bytes, sent={sent} bytes",
            recv=self.bytes_in,
            sent=self.bytes_out + (self.player.bytes_sent if self.player else 0),
        )

    def _notify(self, event: str, after: str) -> None:
        """
        Call the C{event} hooks if this client got past the C{after} stage
        (on_unpublish after on_publish, on_stop after on_play, whether or
        not those have URLs).  on_close follows any connect that found its
        vhost, even one on_connect or C{refer} refused, as in SRS
        (config-api-hooks.md §4.3: "on_connect(reject) → on_close").
        """
        request = self.request
        client = self.factory.hooks
        if client is None or request is None or request.vhost is None or request.url is None:
            return
        hooks = request.vhost.http_hooks
        urls = getattr(hooks, event)
        if not hooks.enabled or not urls:
            return
        if after not in self.hooks_passed and event != "on_close":
            return
        self.hooks_passed.discard(after)
        payload = _hook_payload(event, self, request)
        # One after the other, as SRS calls them: on_stop (or on_unpublish)
        # reaches the hook server before on_close.
        self._notifications.addCallback(
            lambda _: client.notify(event, urls, payload, self.cid)
        )

    def close(self, reason: str) -> None:
        """IStreamPublisher: drop this connection."""
        self._fail(reason, level="info")

    def _fail(self, reason: str, level: str = "warn") -> None:
        """Log one line and close this connection only."""
        if self._closing:
            return
        self._closing = True
        getattr(self.log, level)("closing: {reason}", reason=reason)
        self._leave()
        if self.transport is not None:
            self.transport.loseConnection()

    def _leave(self) -> None:
        """Stop publishing or playing."""
        if self.source is None:
            return
        source, self.source = self.source, None
        if self.publishing:
            self.publishing = False
            self._notify("on_unpublish", "on_publish")
            self.factory.hub.unpublish(source, self)
            vhost, app, stream = source.key
            self.factory.hub.stats.on_unpublish(vhost, app, stream, self.factory.clock.seconds())
            self.log.info("unpublish {url}", url=source.url)
        if self.player is not None:
            self._notify("on_stop", "on_play")
            self.player.stop()
            if self._fanout is not None:
                self.factory.hub.part(self._fanout, self.player)
                self._fanout = None
        self.factory.hub.release(source)

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
            size = sum(map(len, pieces))
            self.bytes_out += size
            if self.stats is not None:
                self.stats.bytes_sent += size
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
            self.log.failure("bug in an admission check", failure)
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
        self, checks: list[Check], then: Callable[[], None]
    ) -> defer.Deferred[None] | None:
        """Run C{checks} in order; call C{then} once all passed."""
        assert self.request is not None
        request = self.request
        for index, check in enumerate(checks):
            result = check(self, request)
            if isinstance(result, defer.Deferred):
                return result.addCallback(self._admit_rest, checks[index + 1 :], then)
        then()
        return None

    def _admit_rest(
        self, _: object, checks: list[Check], then: Callable[[], None]
    ) -> defer.Deferred[None] | None:
        return self._admit(checks, then)

    # -- handlers ----------------------------------------------------------

    def _on_Connect(self, event: Connect) -> defer.Deferred[None] | None:
        assert self.request is not None and self.session is not None
        self.request.tc_url = event.tc_url
        self.request.page_url = event.page_url
        self.request.swf_url = event.swf_url
        self.request.url = parse_tc_url(event.tc_url)
        self.log.info(
            "connect app, tcUrl={tc_url}, pageUrl={page_url}, swfUrl={swf_url}",
            tc_url=event.tc_url,
            page_url=event.page_url,
            swf_url=event.swf_url,
        )
        return self._admit(CONNECT_CHECKS, lambda: self._accept_connect(event))

    def _accept_connect(self, event: Connect) -> None:
        assert self.request is not None and self.session is not None
        assert self.request.vhost is not None
        host = self.transport.getHost()  # type: ignore[union-attr]
        identity = ServerIdentity(
            server_ip=getattr(host, "host", None), pid=os.getpid(), connection_id=self.cid
        )
        chunk_size = self.factory.holder.config.chunk_size_of(self.request.vhost)
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

    def _identify(self, stream: str) -> None:
        assert self.request is not None
        self.request.url = parse_tc_url(self.request.tc_url, stream)
        self.request.stream = self.request.url.stream

    def _register(self) -> None:
        """Enter the statistics once admitted (SRS §6.1 step 12)."""
        request = self.request
        assert request is not None and request.vhost is not None and request.url is not None
        self.stats = self.factory.hub.stats.on_client(
            self.cid,
            vhost=request.vhost.name,
            app=request.url.app,
            stream=request.stream,
            ip=request.ip,
            client_type=request.client_type,
            now=self.factory.clock.seconds(),
            tc_url=request.tc_url,
            page_url=request.page_url,
            swf_url=request.swf_url,
        )
        self.stats.bytes_recv = self.bytes_in

    def _on_Publish(self, event: Publish) -> defer.Deferred[None] | None:
        self._identify(event.stream_name)
        assert self.request is not None
        self.request.client_type = _CLIENT_TYPES.get(
            event.publisher_type.value, CLIENT_FMLE_PUBLISH
        )
        return self._admit(PUBLISH_CHECKS, lambda: self._start_publish(event))

    def _start_publish(self, event: Publish) -> None:
        assert self.request is not None and self.session is not None
        assert self.request.vhost is not None and self.request.url is not None
        source = self.factory.hub.source(
            self.request.vhost, self.request.url.app, self.request.stream
        )
        if not source.can_publish():
            self.factory.hub.release(source)
            raise SourceBusy(f"stream {source.url} is already being published")
        self.session.start_publish(event)
        self.factory.hub.publish(source, self)
        self.source = source
        self.publishing = True
        self._register()
        self.factory.hub.stats.on_publish(
            *source.key, cid=self.cid, now=self.factory.clock.seconds()
        )
        self._got_media = False
        self.setTimeout(self.request.vhost.publish_1stpkt_timeout / 1000.0)
        self.log.info(
            "publish {url}, type={kind}", url=source.url, kind=self.request.client_type
        )

    def _on_media(self, event: Media) -> None:
        if not self.publishing or self.source is None:
            return
        vhost = self.source.vhost
        if not self._got_media:
            self._got_media = True
            self.setTimeout(vhost.publish_normal_timeout / 1000.0)
        else:
            self.resetTimeout()
        message = SharedMessage(
            event.timestamp, event.message_type_id, event.payload, event.chunk_stream_id
        )
        self.source.on_message(message)

    def _on_FCUnpublish(self, event: FCUnpublish) -> None:
        assert self.session is not None
        self._stop_publishing()
        self.session.reply_fc_unpublish(event)

    def _on_PublishEnded(self, event: PublishEnded) -> None:
        self._stop_publishing()

    def _stop_publishing(self) -> None:
        if self.publishing:
            self._leave()
            self.setTimeout(IDLE_TIMEOUT)

    def _on_Play(self, event: Play) -> defer.Deferred[None] | None:
        self._identify(event.stream_name)
        assert self.request is not None
        self.request.client_type = CLIENT_PLAY
        return self._admit(PLAY_CHECKS, lambda: self._start_play(event))

    def _start_play(self, event: Play) -> None:
        assert self.request is not None and self.session is not None
        assert self.request.vhost is not None and self.request.url is not None
        vhost = self.request.vhost
        source = self.factory.hub.source(vhost, self.request.url.app, self.request.stream)
        self.session.start_play(event)
        self.setTimeout(None)
        if vhost.tcp_nodelay:
            set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
            if set_nodelay is not None:
                set_nodelay(True)
        # Behind the listener's ProtocolWrapper is the TCP connection.
        connection = getattr(self.transport, "transport", self.transport)
        bound_send_buffer(connection, vhost.mw_latency)
        session = self.session
        player = RtmpPlayer(
            self.cid,
            vhost,
            session.out_chunk_size,
            self.transport.writeSequence,  # type: ignore[union-attr]
            session.data_to_send,
            self.factory.clock,
            duration_ms=event.duration,
            on_complete=lambda: self._fail("play duration reached", level="info"),
            socket_transport=connection,
        )
        self.player = player
        self.source = source
        self._register()
        player.stats = self.stats
        self.transport.registerProducer(player, True)  # type: ignore[union-attr]
        self.log.info(
            "play {url}, publishing={live}", url=source.url, live=source.publisher is not None
        )
        self._fanout = self.factory.hub.join(source, player, session.out_chunk_size)

    def _on_Pause(self, event: Pause) -> None:
        assert self.session is not None
        self.session.reply_pause(event)
        if self.player is not None:
            self.player.set_client_paused(event.is_pause)

    def _on_CloseStream(self, event: CloseStream) -> None:
        if self.player is not None:
            self.transport.unregisterProducer()  # type: ignore[union-attr]
            self._leave()
            self.player = None
        self.setTimeout(IDLE_TIMEOUT)

    def _on_Call(self, event: Call) -> None:
        assert self.session is not None
        self.session.reply_call(event)

    _on_DeleteStream = _on_Call  # type: ignore[assignment]
    _on_GetStreamLength = _on_Call  # type: ignore[assignment]

    def _on_Ignored(self, event: Ignored) -> None:
        assert self.request is not None
        if self.request.url is None:
            # SRS waits silently for connect; a client that commands before
            # connecting is broken or hostile, and holding it gains nothing.
            raise RtmpError(f"command {event.name!r} before connect")
        self.log.debug("ignored {name}: {reason}", name=event.name, reason=event.reason)


class RtmpServerFactory(Factory):
    """Makes L{RtmpServerProtocol}s sharing the hub, the config and a clock."""

    noisy = False

    def __init__(
        self, hub: SourceHub, holder: ConfigHolder, clock: Any, hooks: IHookClient | None = None
    ) -> None:
        self.hub = hub
        self.holder = holder
        self.clock = clock
        #: The HTTP hook client (None: hooks are never called).
        self.hooks = hooks

    # Factory's stub ties buildProtocol to its protocol type variable.
    def buildProtocol(self, addr: IAddress | None) -> RtmpServerProtocol:  # type: ignore[override]
        protocol = RtmpServerProtocol()
        protocol.factory = self
        return protocol
