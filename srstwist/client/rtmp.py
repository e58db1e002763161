# -*- test-case-name: tests.test_client_rtmp -*-
"""
The RTMP client on Twisted: srs-librtmp's job (``trunk/src/libs/srs_librtmp.cpp``), for the
tools, the load tester and the tests.

:class:`RtmpClientProtocol` drives the sans-IO :class:`ClientSession` the way the
server protocol drives its session: bytes in, events out,
each event dispatched, then whatever the session queued is written.  The
calls a user makes return Deferreds::

    client = yield connect_rtmp(reactor, "rtmp://127.0.0.1/live/livestream")
    yield client.publish()                 # FMLE flow, fires on Publish.Start
    client.send_media(MediaKind.VIDEO, 0, payload)
    yield client.close()                   # FCUnpublish, deleteStream, close

    client = yield connect_rtmp(reactor, url)
    yield client.play(sink=messages.append)  # fires on Play.Start
    ...                                    # every Media reaches the sink

What goes on the wire is SRS's client (``SrsRtmpClient``): a complex
handshake by default (``simple_handshake=True`` for srs-librtmp's), connect
with SRS's command object and Window Ack Size 2500000; publish as
releaseStream, FCPublish, createStream, then Set Chunk Size 60000 and
``publish`` once the stream exists; play as createStream, ``play``,
SetBufferLength 1000 ms, Set Chunk Size 60000.  Media goes out on
srs-librtmp's chunk streams (audio 7, video 6, data 4) with the timestamps
given; media received is handed over with the timestamps received.

Unlike srs-librtmp, :meth:`RtmpClientProtocol.publish` and
:meth:`RtmpClientProtocol.play` wait for the server's ``onStatus``, so a refused
publish (stream busy: SRS closes the connection) or an unknown vhost comes
back as an :class:`RtmpClientError` instead of a silent hang.

Back-pressure.  The protocol registers itself with its transport as a
streaming producer, so it knows when the socket's buffer is full
(:attr:`RtmpClientProtocol.writable`); a publisher that must not buffer without
bound waits on :meth:`RtmpClientProtocol.wait_writable` before each message, as
:func:`srstwist.client.flv_file.ingest` does.  A player that cannot keep up calls
:meth:`RtmpClientProtocol.pause_reading`, which stops reading from the socket.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.client.url import RtmpClientError, RtmpUrl, parse_rtmp_url
from srstwist.codec.amf0 import Amf0Object, Amf0Value
from srstwist.codec.chunk import CSID_OVER_CONNECTION2, MessageType
from srstwist.codec.handshake import RandomBytes
from srstwist.codec.rtmp_client import ClientSession, ClientState
from srstwist.codec.rtmp_events import (
    Call,
    CallError,
    Event,
    HandshakeCompleted,
    Media,
    MediaKind,
    OnStatus,
    Result,
)
from srstwist.codec.rtmp_session import RtmpError
from srstwist.codec.rtmp_url import parse_tc_url
from srstwist.tracelog import next_cid

__all__ = [
    "CLOSE_TIMEOUT",
    "CONNECT_TIMEOUT",
    "STREAM_TIMEOUT",
    "MediaSink",
    "RtmpClientError",
    "RtmpClientFactory",
    "RtmpClientProtocol",
    "RtmpUrl",
    "connect_rtmp",
    "parse_rtmp_url",
]

#: Seconds ``connect_rtmp`` may take for TCP connect, handshake and connect.
CONNECT_TIMEOUT = 10.0
#: Seconds ``publish``/``play`` wait for the server's ``onStatus`` by default
#: (srs-librtmp's socket timeout is 30 s).
STREAM_TIMEOUT = 30.0
#: Seconds ``close`` lets the socket drain before it aborts the connection.
CLOSE_TIMEOUT = 5.0

#: Where received media goes: called with every audio, video and data
#: message, in order, with the server's timestamps.  Data messages include
#: the replies to ``play`` SRS sends as data (``|RtmpSampleAccess``,
#: ``onStatus`` NetStream.Data.Start); ``Media.metadata`` is set only for
#: ``onMetaData``/``@setDataFrame``.
MediaSink = Callable[[Media], None]

_PUBLISH_START = "NetStream.Publish.Start"
_PLAY_START = "NetStream.Play.Start"
_CONNECT_REJECTED = "NetConnection.Connect.Rejected"
# How many onStatus messages are kept for inspection.
_STATUS_HISTORY = 32

_MESSAGE_KINDS: dict[int, MediaKind] = {
    MessageType.AUDIO: MediaKind.AUDIO,
    MessageType.VIDEO: MediaKind.VIDEO,
    MessageType.AMF0_DATA: MediaKind.DATA,
    MessageType.AMF3_DATA: MediaKind.DATA,
}


# -- the protocol --------------------------------------------------------------


@dataclass
class _Waiter:
    """A user's pending call: what it was, its Deferred, what completes it."""

    what: str
    deferred: defer.Deferred[Any]
    status: str = ""
    timer: IDelayedCall | None = None


@implementer(IPushProducer)
class RtmpClientProtocol(Protocol):
    """
    One connection to an RTMP server, client role.  See the module docstring.

    The :data:`IPushProducer` methods are the transport's: it calls
    :meth:`pauseProducing` when its write buffer is full and :meth:`resumeProducing`
    when it has drained.

    :ivar url: the parsed URL when made by :func:`connect_rtmp`, else ``None``.
    :ivar stream_name: the stream being published or played.
    :ivar media_sink: receives every media message (see :data:`MediaSink`).
    :ivar server_info: the connect ``_result``, once connected.
    :ivar statuses: the last ``onStatus`` messages received, oldest first.
    :ivar bytes_sent: bytes written to the transport (handshake included).
    :ivar bytes_received: bytes received (handshake included).
    :ivar media_received: media messages handed to the sink.
    """

    log = Logger()
    factory: Any = None

    def __init__(
        self,
        clock: IReactorTime,
        *,
        simple_handshake: bool = False,
        random_bytes: RandomBytes = os.urandom,
        media_sink: MediaSink | None = None,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        """
        :param clock: schedules timeouts; the reactor, or a Clock in tests.
        :param simple_handshake: send srs-librtmp's unsigned C1 instead of
            the complex (schema 1) handshake SRS's own client uses.
        :param random_bytes: the handshake's randomness.
        :param close_timeout: see :data:`CLOSE_TIMEOUT`.
        """
        self.clock = clock
        self.cid = next_cid()
        self.url: RtmpUrl | None = None
        self.stream_name: str | None = None
        self.media_sink = media_sink
        self.server_info: Result | None = None
        self.statuses: deque[OnStatus] = deque(maxlen=_STATUS_HISTORY)
        self.bytes_sent = 0
        self.bytes_received = 0
        self.media_received = 0
        self.session: ClientSession | None = None
        self._simple_handshake = simple_handshake
        self._random_bytes = random_bytes
        self._close_timeout = close_timeout
        self._handshaken = False
        self._pending_connect: Callable[[], None] | None = None
        self._replies: dict[float, Callable[[Result | CallError], None]] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._writable = True
        self._writable_waiters: list[defer.Deferred[None]] = []
        self._closed_waiters: list[defer.Deferred[None]] = []
        self._closing = False
        self._lost = False
        self._close_timer: IDelayedCall | None = None
        self._abort_reason: str | None = None

    # -- connection --------------------------------------------------------

    def connectionMade(self) -> None:
        self.session = ClientSession(
            self._random_bytes, int(self.clock.seconds()), simple_handshake=self._simple_handshake
        )
        assert self.transport is not None
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._flush()

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closed or self._lost:
            return
        self.bytes_received += len(data)
        try:
            events = session.receive_data(data)
        except RtmpError as e:
            self._abort(f"protocol error from the server: {e}")
            return
        for event in events:
            self._dispatch(event)
            if session.closed:
                break
        self._flush()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        if self._close_timer is not None and self._close_timer.active():
            self._close_timer.cancel()
        self._close_timer = None
        if self.session is not None:
            self.session.close()
        if self._abort_reason is not None:
            why = self._abort_reason
        elif self._closing:
            why = "the connection was closed"
        elif reason.check(error.ConnectionDone):
            why = "the server closed the connection"
        else:
            why = f"the connection was lost ({reason.getErrorMessage()})"
        self.log.info("RTMP client connection closed: {why}", why=why)
        for key in list(self._waiters):
            self._fail(key, why)
        self._replies.clear()
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            waiter.errback(RtmpClientError(f"cannot send: {why}"))
        closed, self._closed_waiters = self._closed_waiters, []
        for done in closed:
            done.callback(None)

    # -- IPushProducer, for the transport ------------------------------------

    def pauseProducing(self) -> None:
        """The transport's write buffer is full: stop sending."""
        self._writable = False

    def resumeProducing(self) -> None:
        """The transport's write buffer has drained: sending may go on."""
        self._writable = True
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def stopProducing(self) -> None:
        """The transport is going away; :meth:`connectionLost` follows."""
        self._writable = False

    # -- public: state -----------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether the transport takes more data without buffering past its limit."""
        return self._writable and not self._lost

    @property
    def is_open(self) -> bool:
        """Whether the connection is up and :meth:`close` was not called."""
        return self.transport is not None and not self._lost and not self._closing

    @property
    def state(self) -> ClientState:
        """The session's phase (:class:`ClientState`)."""
        if self.session is None:
            return ClientState.HANDSHAKE
        return self.session.state

    def wait_writable(self) -> defer.Deferred[None]:
        """
        :return: a Deferred firing once the transport takes more data: at
            once when it does now.  It fails with :class:`RtmpClientError` if the
            connection is lost first.
        """
        if self._lost or self._closing:
            return defer.fail(RtmpClientError("cannot send: the connection is closed"))
        if self._writable:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._writable_waiters.append(waiter)
        return waiter

    def wait_closed(self) -> defer.Deferred[None]:
        """
        :return: a Deferred firing (with ``None``) when the connection is
            gone, whoever closed it.
        """
        if self._lost:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._closed_waiters.append(done)
        return done

    def pause_reading(self) -> None:
        """Stop reading from the socket (a player's sink cannot keep up)."""
        if self.transport is not None:
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_reading(self) -> None:
        """Read from the socket again after :meth:`pause_reading`."""
        if self.transport is not None:
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    # -- public: calls -----------------------------------------------------

    def connect(
        self,
        tc_url: str,
        app: str | None = None,
        args: Mapping[str, Amf0Value] | None = None,
        page_url: str = "",
        swf_url: str = "",
    ) -> defer.Deferred[Result]:
        """
        Send ``connect`` once the handshake is done.

        :param app: default: the app of ``tc_url`` (as ``srs_discovery_tc_url`` finds it).
        :param args: an Object sent as the fourth connect value.
        :return: a Deferred firing with the connect ``_result`` (also kept as
            :attr:`server_info`), or failing with :class:`RtmpClientError` on
            ``_error``, ``NetConnection.Connect.Rejected`` or a lost connection.
            Cancelling it drops the connection.
        """
        if app is None:
            app = parse_tc_url(tc_url).app
        waiter = self._wait("connect", f"connect to {tc_url}")

        def send() -> None:
            session = self._session()
            tid = session.connect(tc_url, app, args, swf_url=swf_url, page_url=page_url)
            self._replies[tid] = self._connected
            self._flush()

        if self._handshaken:
            self._run(send, "connect")
        else:
            self._pending_connect = send
        return waiter

    def publish(
        self, stream: str | None = None, *, timeout: float | None = STREAM_TIMEOUT
    ) -> defer.Deferred[None]:
        """
        Publish ``stream`` the FMLE way (``SrsRtmpClient::fmle_publish``): releaseStream,
        FCPublish and createStream at once, then Set Chunk Size and
        ``publish`` when the stream exists.

        :param stream: default: the stream of :attr:`url`.
        :param timeout: seconds to wait for NetStream.Publish.Start, or
            ``None``; past it the call fails and the connection is dropped.
        :return: a Deferred firing on NetStream.Publish.Start, failing with
            :class:`RtmpClientError` on an error status, ``_error`` or a lost
            connection (SRS closes the connection of a refused publisher,
            e.g. when the stream is busy).  Cancelling it drops the
            connection.
        """
        name = self._stream_argument(stream)
        session = self._connected_session(f"publish {name}")
        waiter = self._wait("stream", f"publish {name}", _PUBLISH_START, timeout)

        def send() -> None:
            session.release_stream(name)
            session.fc_publish(name)
            tid = session.create_stream()
            self._replies[tid] = lambda reply: self._stream_created(
                reply, lambda: session.publish(name)
            )

        self.stream_name = name
        self._run(send, "stream")
        self._flush()
        return waiter

    def play(
        self,
        stream: str | None = None,
        duration: float | None = None,
        *,
        sink: MediaSink | None = None,
        timeout: float | None = STREAM_TIMEOUT,
    ) -> defer.Deferred[None]:
        """
        Play ``stream`` (``SrsRtmpClient::play``): createStream, then ``play``,
        SetBufferLength and Set Chunk Size when the stream exists.

        :param stream: default: the stream of :attr:`url`.
        :param duration: milliseconds of stream time to play (SRS #45);
            ``None`` for all of it.
        :param sink: sets :attr:`media_sink` before anything can arrive.
        :param timeout: as for :meth:`publish`, for NetStream.Play.Start.
        :return: a Deferred firing on NetStream.Play.Start, failing with
            :class:`RtmpClientError` as :meth:`publish`'s does.
        """
        name = self._stream_argument(stream)
        session = self._connected_session(f"play {name}")
        if sink is not None:
            self.media_sink = sink
        waiter = self._wait("stream", f"play {name}", _PLAY_START, timeout)
        wanted = -1.0 if duration is None else float(duration)

        def send() -> None:
            tid = session.create_stream()
            self._replies[tid] = lambda reply: self._stream_created(
                reply, lambda: session.play(name, duration=wanted)
            )

        self.stream_name = name
        self._run(send, "stream")
        self._flush()
        return waiter

    def send_media(
        self,
        kind: MediaKind,
        timestamp: int,
        payload: bytes,
        *,
        chunk_stream_id: int | None = None,
        message_type_id: int | None = None,
    ) -> None:
        """
        Publish one audio, video or data message with ``timestamp`` as given,
        and write it at once.  Check :attr:`writable` (or wait on
        :meth:`wait_writable`) to keep the transport's buffer bounded.

        :param chunk_stream_id: default: audio 7, video 6, data 4.
        :raises RtmpClientError: not publishing, the connection is closing,
            or the message cannot be encoded (a bad timestamp).
        """
        session = self._publishing_session()
        try:
            session.send_media(
                kind,
                timestamp,
                payload,
                chunk_stream_id=chunk_stream_id,
                message_type_id=message_type_id,
            )
        except RtmpError as e:
            raise RtmpClientError(f"cannot send {kind.value} message: {e}") from e
        self._flush()

    def send_message(self, type_id: int, timestamp: int, payload: bytes) -> None:
        """
        Publish one message by RTMP type id (srs-librtmp's
        ``srs_rtmp_write_packet``): 8 audio, 9 video, 18 or 15 data; any
        other type goes out as it is on the data chunk stream.  FLV tag types
        are RTMP type ids, so an ``FlvTag`` goes out as
        ``send_message(tag.tag_type, tag.timestamp, tag.payload)``.

        :raises RtmpClientError: as :meth:`send_media`.
        """
        kind = _MESSAGE_KINDS.get(type_id)
        if kind is not None:
            self.send_media(kind, timestamp, payload, message_type_id=type_id)
            return
        session = self._publishing_session()
        stream_id = session.stream_id
        assert stream_id is not None
        try:
            session.send_message(
                type_id, timestamp, payload, stream_id=stream_id,
                chunk_stream_id=CSID_OVER_CONNECTION2,
            )
        except RtmpError as e:
            raise RtmpClientError(f"cannot send message type {type_id}: {e}") from e
        self._flush()

    def close(self) -> defer.Deferred[None]:
        """
        End the session as SRS's clients do and drop the connection: a
        publisher sends FCUnpublish and deleteStream, a player deleteStream;
        then the socket is closed once its buffer is written, or aborted
        after :data:`CLOSE_TIMEOUT` seconds.  Pending calls fail with
        :class:`RtmpClientError`.

        :return: a Deferred firing when the connection is gone.
        """
        if self.transport is None:
            return defer.succeed(None)
        done = self.wait_closed()
        if self._closing or self._lost:
            return done
        self._closing = True
        session = self.session
        if session is not None and not session.closed:
            try:
                if session.state is ClientState.PUBLISHING and self.stream_name is not None:
                    session.fc_unpublish(self.stream_name)
                    session.delete_stream()
                elif session.state is ClientState.PLAYING:
                    session.delete_stream()
            except RtmpError:
                pass
            self._flush()
        transport = self.transport
        if transport is not None:
            transport.unregisterProducer()  # type: ignore[attr-defined]
            transport.loseConnection()
            self._close_timer = self.clock.callLater(self._close_timeout, self._abort_now)
        return done

    # -- events ------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Media):
            self._on_media(event)
        elif isinstance(event, HandshakeCompleted):
            self._handshaken = True
            self.log.debug("handshake done, schema={schema}", schema=event.schema)
            send, self._pending_connect = self._pending_connect, None
            if send is not None:
                self._run(send, "connect")
        elif isinstance(event, Result | CallError):
            handler = self._replies.pop(event.transaction_id, None)
            if handler is not None:
                handler(event)
            elif isinstance(event, CallError):
                self.log.warn(
                    "server refused {command}: {info}",
                    command=event.command,
                    info=_describe(event),
                )
        elif isinstance(event, OnStatus):
            self._on_status(event)
        elif isinstance(event, Call):
            self.call_received(event)

    def call_received(self, event: Call) -> None:
        """
        A command from the server other than a reply or ``onStatus``
        (``onBWDone``, ``onFCPublish``...).  Does nothing; override it to act.
        """

    def _on_media(self, event: Media) -> None:
        sink = self.media_sink
        if sink is None:
            return
        self.media_received += 1
        try:
            sink(event)
        except Exception:
            self.log.failure("media sink failed on {event!r}", event=event)

    def _on_status(self, event: OnStatus) -> None:
        self.statuses.append(event)
        self.log.info(
            "onStatus {status_level} {code}: {description}",
            status_level=event.level,
            code=event.code,
            description=event.description,
        )
        if event.code == _CONNECT_REJECTED:
            self._fail("connect", f"rejected: {event.description or event.code}")
            return
        waiter = self._waiters.get("stream")
        if waiter is None:
            return
        if event.level == "error":
            self._fail("stream", f"refused: {event.code} {event.description}".rstrip())
        elif event.code == waiter.status:
            self._succeed("stream", None)

    def _connected(self, reply: Result | CallError) -> None:
        if isinstance(reply, CallError):
            self._fail("connect", f"refused: {_describe(reply)}")
            return
        self.server_info = reply
        self._succeed("connect", reply)

    def _stream_created(self, reply: Result | CallError, start: Callable[[], None]) -> None:
        if isinstance(reply, CallError):
            self._fail("stream", f"createStream refused: {_describe(reply)}")
            return
        if "stream" in self._waiters:
            self._run(start, "stream")

    # -- helpers -----------------------------------------------------------

    def _session(self) -> ClientSession:
        if self.session is None or self._lost:
            raise RtmpClientError("not connected")
        return self.session

    def _connected_session(self, what: str) -> ClientSession:
        session = self._session()
        if self._closing:
            raise RtmpClientError(f"cannot {what}: the connection is closing")
        if session.state is not ClientState.CONNECTED:
            raise RtmpClientError(f"cannot {what} in state {session.state.value}")
        if "stream" in self._waiters:
            raise RtmpClientError(f"cannot {what}: {self._waiters['stream'].what} is pending")
        return session

    def _publishing_session(self) -> ClientSession:
        session = self._session()
        if self._closing:
            raise RtmpClientError("cannot send: the connection is closing")
        if session.state is not ClientState.PUBLISHING:
            raise RtmpClientError(f"cannot send media in state {session.state.value}")
        return session

    def _stream_argument(self, stream: str | None) -> str:
        if stream is not None:
            return stream
        if self.url is None or not self.url.stream:
            raise RtmpClientError("no stream name given and none in the URL")
        return self.url.stream

    def _wait(
        self, key: str, what: str, status: str = "", timeout: float | None = None
    ) -> defer.Deferred[Any]:
        if key in self._waiters:
            raise RtmpClientError(f"cannot {what}: {self._waiters[key].what} is pending")
        deferred: defer.Deferred[Any] = defer.Deferred(lambda d: self._cancelled(key))
        waiter = _Waiter(what, deferred, status)
        if timeout is not None:
            waiter.timer = self.clock.callLater(timeout, self._timed_out, key, timeout)
        self._waiters[key] = waiter
        return deferred

    def _take(self, key: str) -> _Waiter | None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None and waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()
        return waiter

    def _succeed(self, key: str, result: object) -> None:
        waiter = self._take(key)
        if waiter is not None:
            waiter.deferred.callback(result)

    def _fail(self, key: str, why: str) -> None:
        waiter = self._take(key)
        if waiter is not None:
            waiter.deferred.errback(RtmpClientError(f"{waiter.what} failed: {why}"))

    def _cancelled(self, key: str) -> None:
        waiter = self._take(key)
        if waiter is not None:
            self._abort(f"{waiter.what} cancelled")

    def _timed_out(self, key: str, timeout: float) -> None:
        waiter = self._waiters.get(key)
        if waiter is None:
            return
        waiter.timer = None
        self._fail(key, f"no answer from the server within {timeout:g} s")
        self._abort(f"{waiter.what} timed out")

    def _run(self, send: Callable[[], None], key: str) -> None:
        """Call the session; a refusal fails the waiter under ``key``."""
        try:
            send()
        except (RtmpError, RtmpClientError) as e:
            self._fail(key, str(e))

    def _flush(self) -> None:
        if self.session is None or self.transport is None or self._lost:
            return
        pieces = self.session.data_to_send()
        if pieces:
            self.bytes_sent += sum(len(piece) for piece in pieces)
            self.transport.writeSequence(pieces)

    def _abort(self, why: str) -> None:
        """Drop the connection now; waiters fail in :meth:`connectionLost`."""
        if self._lost or self._abort_reason is not None:
            return
        self._abort_reason = why
        self.log.warn("RTMP client closing: {why}", why=why)
        if self.session is not None:
            self.session.close()
        self._abort_now()

    def _abort_now(self) -> None:
        self._close_timer = None
        if self.transport is not None and not self._lost:
            self.transport.abortConnection()  # type: ignore[attr-defined]


def _describe(reply: Result | CallError) -> str:
    """The code and description of a ``_result``/``_error``'s info Object."""
    for value in (*reply.args, reply.command_object):
        if isinstance(value, Amf0Object):
            code = value.get("code")
            description = value.get("description")
            text = " ".join(str(v) for v in (code, description) if isinstance(v, str) and v)
            if text:
                return text
    return f"_error for {reply.command}"


# -- connecting ----------------------------------------------------------------


class RtmpClientFactory(Factory):
    """Makes one :class:`RtmpClientProtocol` per connection with the given options."""

    noisy = False

    def __init__(self, clock: IReactorTime, **options: Any) -> None:
        """
        :param options: keyword arguments for :class:`RtmpClientProtocol`.
        """
        self.clock = clock
        self.options = options

    def buildProtocol(self, addr: IAddress) -> RtmpClientProtocol:  # type: ignore[override]
        protocol = RtmpClientProtocol(self.clock, **self.options)
        protocol.factory = self
        return protocol


def connect_rtmp(
    reactor: Any,
    url: str,
    *,
    timeout: float = CONNECT_TIMEOUT,
    args: Mapping[str, Amf0Value] | None = None,
    page_url: str = "",
    swf_url: str = "",
    tc_url: str | None = None,
    require_stream: bool = True,
    endpoint: Any = None,
    **options: Any,
) -> defer.Deferred[RtmpClientProtocol]:
    """
    Connect to an RTMP URL: TCP connect, handshake and ``connect``, all
    within ``timeout`` seconds.

    :param reactor: an ``IReactorTCP`` and :data:`IReactorTime` provider.
    :param url: ``rtmp://host[:port]/app[/...]/stream[?query]``.
    :param args: an Object sent as the fourth connect value.
    :param tc_url: overrides the generated ``tcUrl``
        (``srs_rtmp_set_connect_args``).
    :param require_stream: refuse a URL without a stream name.
    :param endpoint: an ``IStreamClientEndpoint`` to use instead of a
        :class:`HostnameEndpoint` for the URL's host and port (tests, proxies).
    :param options: keyword arguments for :class:`RtmpClientProtocol`
        (``simple_handshake``, ``media_sink``...).
    :return: a Deferred firing with the connected protocol, its ``url`` set,
        or failing with :class:`RtmpClientError` (bad URL, host not found,
        connection refused, timeout, connect refused).  Cancelling it
        abandons the attempt.
    """
    try:
        target = parse_rtmp_url(url, require_stream=require_stream)
    except RtmpClientError as e:
        return defer.fail(e)
    if endpoint is None:
        endpoint = HostnameEndpoint(reactor, target.host, target.port, timeout=timeout)
    where = f"{target.host}:{target.port}"

    async def attempt() -> RtmpClientProtocol:
        try:
            protocol: RtmpClientProtocol = await endpoint.connect(
                RtmpClientFactory(reactor, **options)
            )
        except defer.CancelledError:
            raise
        except error.DNSLookupError as e:
            raise RtmpClientError(f"cannot resolve host {target.host!r}") from e
        except error.ConnectionRefusedError as e:
            raise RtmpClientError(f"cannot connect to {where}: connection refused") from e
        except error.TimeoutError as e:
            raise RtmpClientError(f"cannot connect to {where}: timed out") from e
        except error.ConnectError as e:
            raise RtmpClientError(f"cannot connect to {where}: {e}") from e
        protocol.url = target
        try:
            await protocol.connect(tc_url or target.tc_url, target.app, args, page_url, swf_url)
        except BaseException:
            protocol._abort("connect failed")
            raise
        return protocol

    def timed_out(result: object, seconds: float) -> Failure:
        return Failure(RtmpClientError(f"cannot connect to {url}: timed out after {seconds:g} s"))

    coroutine: Coroutine[Any, Any, RtmpClientProtocol] = attempt()
    attempt_deferred = defer.Deferred.fromCoroutine(coroutine)
    return attempt_deferred.addTimeout(timeout, reactor, onTimeoutCancel=timed_out)
