# -*- test-case-name: tests.test_codec_rtmp -*-
"""
The RTMP session layer, sans-IO, server role: handshake, chunk stream and
commands of one client connection, as SRS 2.0 handles them
(``SrsRtmpServer`` and ``SrsProtocol`` in ``srs_rtmp_stack.cpp``).

:class:`ServerSession` has h2's shape (see :mod:`srstwist.codec.rtmp_session`
for the shared machinery): ``receive_data`` returns events
(:mod:`srstwist.codec.rtmp_events`), automatic replies (Acknowledgement,
PingResponse) are queued, and the upper layer answers each event with the
method its docstring names; every method queues SRS's exact replies, in
SRS's order, for ``data_to_send``.  No Twisted, no clock, no randomness of
its own: the handshake's random bytes and epoch are injected.

Lifecycle.  SRS reads a connection as a sequence of phases
(``SrsRtmpServer::identify_client`` and friends); :class:`ServerState` names
them and ``_TRANSITIONS`` says, for each state and kind of command received,
which state follows and which event is reported::

    HANDSHAKE --handshake--> AWAIT_CONNECT --connect--> IDENTIFY
    IDENTIFY  --createStream--> STREAM_CREATED
              --releaseStream/FCPublish/FCUnpublish--> FMLE_RELEASED
              --play--> PLAYING          --other call--> IDENTIFY (Call)
    STREAM_CREATED --play--> PLAYING   --publish--> PUBLISHING_FLASH
              --createStream--> STREAM_CREATED
              --FCPublish (any FMLE name)--> HAIVISION
    FMLE_RELEASED --FMLE name--> FMLE_FC_PUBLISHED
              --createStream--> FMLE_STREAM_CREATED --publish--> PUBLISHING_FMLE
    HAIVISION --publish--> PUBLISHING_FMLE
    PUBLISHING_FMLE --FMLE name (FCUnpublish)--> IDENTIFY
    PUBLISHING_FLASH --any command--> IDENTIFY (PublishEnded)
    PLAYING   --pause--> PLAYING  --closeStream--> IDENTIFY
              --call with transaction id > 0--> PLAYING (Call)
    any       --close() or an error--> CLOSED

A command received in a state where the table has no entry is dropped, as
SRS drops it, and reported as :class:`Ignored`; it is still decoded first,
and a command SRS cannot decode raises :class:`RtmpError` wherever it
arrives.  ``_result``/``_error`` from a client raise too (SRS has no
request they could answer).  Audio, video and data are reported as
:class:`Media` only while publishing.

Replies.  Each event that needs an answer owes exactly one; the answering
method raises :class:`RtmpError` when no event of its kind is waiting.
Because one ``receive_data`` call may report several commands at once
(clients pipeline them), the state is already past a command when its
event is handled; replies are therefore checked against what is owed, not
against the state.

Deviations from SRS: the bandwidth check (``srs_app_bandwidth.cpp``) is not
implemented, its commands are ignored; data messages arriving before
``connect`` are not decoded; aggregates are reported already split.
"""

from __future__ import annotations

import enum
from collections import Counter

from srstwist.codec.chunk import (
    CSID_OVER_CONNECTION,
    CSID_OVER_STREAM,
    DEFAULT_MAX_MESSAGE_SIZE,
    MessageType,
    RawMessage,
)
from srstwist.codec.control import LimitType, SetPeerBandwidth, StreamBegin, StreamEOF
from srstwist.codec.handshake import SERVER_VERSION, RandomBytes, ServerHandshake
from srstwist.codec.rtmp_commands import (
    CLIENT_ID,
    DEFAULT_MAX_AMF_SIZE,
    ServerIdentity,
    build_command,
    connect_result,
    on_status_call,
    on_status_data,
    sample_access,
    status_info,
    undefined_result,
)
from srstwist.codec.rtmp_dispatch import (
    CommandKind,
    FmleStart,
    PublishRequest,
    ServerCommand,
    parse_server_command,
)
from srstwist.codec.rtmp_events import (
    Call,
    CloseStream,
    Connect,
    CreateStream,
    DeleteStream,
    Event,
    FCPublish,
    FCUnpublish,
    GetStreamLength,
    Ignored,
    MediaKind,
    Pause,
    Play,
    Publish,
    PublishEnded,
    PublisherType,
    ReleaseStream,
)
from srstwist.codec.rtmp_session import (
    DEFAULT_OUT_CHUNK_SIZE,
    DEFAULT_PEER_BANDWIDTH,
    DEFAULT_WINDOW_ACK_SIZE,
    RtmpError,
    _Session,
)

__all__ = [
    "STREAM_ID",
    "RtmpError",
    "ServerSession",
    "ServerState",
]

#: The message stream id SRS gives every client's ``createStream``.
STREAM_ID = 1

_PUBLISH_START = "NetStream.Publish.Start"
_PUBLISH_START_TEXT = "Started publishing stream."
_UNPUBLISH = "NetStream.Unpublish.Success"


class ServerState(enum.Enum):
    """
    The phases of a client connection in SRS (see the module docstring).
    """

    HANDSHAKE = "handshake"
    AWAIT_CONNECT = "await connect"
    #: Connected; the client is identified by its next commands.
    IDENTIFY = "identify"
    STREAM_CREATED = "stream created"
    #: FMLE publisher: releaseStream seen, waiting for FCPublish.
    FMLE_RELEASED = "fmle released"
    #: FMLE publisher: FCPublish seen, waiting for createStream.
    FMLE_FC_PUBLISHED = "fmle fcpublished"
    #: FMLE publisher: stream created, waiting for publish.
    FMLE_STREAM_CREATED = "fmle stream created"
    #: Haivision publisher: createStream and FCPublish seen.
    HAIVISION = "haivision"
    PUBLISHING_FMLE = "publishing (fmle)"
    PUBLISHING_FLASH = "publishing (flash)"
    PLAYING = "playing"
    CLOSED = "closed"


class _Emit(enum.Enum):
    """Which event a transition reports."""

    CONNECT = enum.auto()
    CREATE_STREAM = enum.auto()
    RELEASE_STREAM = enum.auto()
    FC_PUBLISH = enum.auto()
    PUBLISH_FMLE = enum.auto()
    PUBLISH_FLASH = enum.auto()
    PUBLISH_HAIVISION = enum.auto()
    FC_UNPUBLISH = enum.auto()
    PUBLISH_ENDED = enum.auto()
    PLAY = enum.auto()
    PAUSE = enum.auto()
    CLOSE_STREAM = enum.auto()
    CALL = enum.auto()


_S = ServerState
_I = CommandKind
_E = _Emit

#: (state, command received) -> (next state, event reported).  Pairs not
#: listed are ignored, as SRS ignores them (``SrsRtmpServer::identify_client``
#: and the publish and play loops of ``srs_app_rtmp_conn.cpp``).
_TRANSITIONS: dict[tuple[ServerState, CommandKind], tuple[ServerState, _Emit]] = {
    (_S.AWAIT_CONNECT, _I.CONNECT): (_S.IDENTIFY, _E.CONNECT),
    (_S.IDENTIFY, _I.CREATE_STREAM): (_S.STREAM_CREATED, _E.CREATE_STREAM),
    (_S.IDENTIFY, _I.FMLE_START): (_S.FMLE_RELEASED, _E.RELEASE_STREAM),
    (_S.IDENTIFY, _I.PLAY): (_S.PLAYING, _E.PLAY),
    (_S.IDENTIFY, _I.CALL): (_S.IDENTIFY, _E.CALL),
    (_S.IDENTIFY, _I.NOTIFY): (_S.IDENTIFY, _E.CALL),
    (_S.STREAM_CREATED, _I.CREATE_STREAM): (_S.STREAM_CREATED, _E.CREATE_STREAM),
    (_S.STREAM_CREATED, _I.PLAY): (_S.PLAYING, _E.PLAY),
    (_S.STREAM_CREATED, _I.PUBLISH): (_S.PUBLISHING_FLASH, _E.PUBLISH_FLASH),
    (_S.STREAM_CREATED, _I.FMLE_START): (_S.HAIVISION, _E.FC_PUBLISH),
    (_S.FMLE_RELEASED, _I.FMLE_START): (_S.FMLE_FC_PUBLISHED, _E.FC_PUBLISH),
    (_S.FMLE_FC_PUBLISHED, _I.CREATE_STREAM): (
        _S.FMLE_STREAM_CREATED,
        _E.CREATE_STREAM,
    ),
    (_S.FMLE_STREAM_CREATED, _I.PUBLISH): (_S.PUBLISHING_FMLE, _E.PUBLISH_FMLE),
    (_S.HAIVISION, _I.PUBLISH): (_S.PUBLISHING_FMLE, _E.PUBLISH_HAIVISION),
    (_S.PUBLISHING_FMLE, _I.FMLE_START): (_S.IDENTIFY, _E.FC_UNPUBLISH),
    # A Flash publisher stops at any command (``SrsRtmpConn::process_publish_message``).
    **{(_S.PUBLISHING_FLASH, i): (_S.IDENTIFY, _E.PUBLISH_ENDED) for i in CommandKind},
    (_S.PLAYING, _I.PAUSE): (_S.PLAYING, _E.PAUSE),
    (_S.PLAYING, _I.CLOSE_STREAM): (_S.IDENTIFY, _E.CLOSE_STREAM),
    (_S.PLAYING, _I.CALL): (_S.PLAYING, _E.CALL),
}

_PUBLISHING = frozenset({_S.PUBLISHING_FMLE, _S.PUBLISHING_FLASH})
_PUBLISHER_TYPES = {
    _E.PUBLISH_FMLE: PublisherType.FMLE,
    _E.PUBLISH_FLASH: PublisherType.FLASH,
    _E.PUBLISH_HAIVISION: PublisherType.HAIVISION,
}
_CALL_EVENTS = (Call, DeleteStream, GetStreamLength)


class ServerSession(_Session):
    """
    One client connection, server role.  See the module docstring.

    :param random_bytes: the handshake's source of random bytes.
    :param epoch: the handshake's time field, seconds.
    :param allow_complex: answer signed C1s with the complex handshake.
    :param s1_version: version bytes of a complex S1.
    :param max_message_size: the largest message accepted from the client.
    :param max_amf_size: the largest command or metadata payload decoded.
    """

    def __init__(
        self,
        random_bytes: RandomBytes,
        epoch: int,
        *,
        allow_complex: bool = True,
        s1_version: bytes = SERVER_VERSION,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_amf_size: int = DEFAULT_MAX_AMF_SIZE,
    ) -> None:
        super().__init__(
            ServerHandshake(
                random_bytes, epoch, allow_complex=allow_complex, s1_version=s1_version
            ),
            max_message_size=max_message_size,
            max_amf_size=max_amf_size,
        )
        self._state = ServerState.HANDSHAKE
        self._owed: Counter[type] = Counter()

    @property
    def state(self) -> ServerState:
        """The current phase, after everything received so far."""
        return ServerState.CLOSED if self._closed else self._state

    @property
    def stream_id(self) -> int:
        """The message stream id of the client's stream, always 1 in SRS."""
        return STREAM_ID

    def close(self) -> None:
        """Close the session (see ``_Session.close``)."""
        super().close()
        self._owed.clear()

    # -- receiving ---------------------------------------------------------

    def _on_handshake_done(self, events: list[Event]) -> None:
        self._state = ServerState.AWAIT_CONNECT

    def _media_allowed(self) -> bool:
        return self._state in _PUBLISHING

    def _on_command(self, message: RawMessage, events: list[Event]) -> None:
        command, kind, parsed = parse_server_command(message, self._max_amf_size)
        transition = _TRANSITIONS.get((self._state, kind))
        if transition is None:
            reason = f"{command.name} ignored in state {self._state.value}"
            events.append(Ignored(message.message_type_id, command.name, reason))
            return
        self._state, emit = transition
        event = _event(emit, command.name, parsed, message.message_stream_id)
        if not isinstance(event, (PublishEnded, CloseStream)):
            self._owed[type(event)] += 1
        events.append(event)

    # -- replies -----------------------------------------------------------

    def _take(self, event: object, *classes: type) -> None:
        """
        Consume the reply owed to ``event``.

        :raise RtmpError: the session is closed, ``event`` is of the wrong
            kind, or no such event is waiting for its reply.
        """
        self._check_ready()
        if not isinstance(event, classes):
            raise RtmpError(f"{type(event).__name__} cannot be answered this way")
        if self._owed[type(event)] <= 0:
            raise RtmpError(f"no {type(event).__name__} is waiting for a reply")
        self._owed[type(event)] -= 1

    def _command(self, payload: bytes, csid: int, stream_id: int = 0) -> None:
        self._send(MessageType.AMF0_COMMAND, payload, stream_id, csid)

    def _data(self, payload: bytes, stream_id: int) -> None:
        self._send(MessageType.AMF0_DATA, payload, stream_id, CSID_OVER_STREAM)

    def send_peer_bandwidth(
        self, bandwidth: int = DEFAULT_PEER_BANDWIDTH, limit_type: int = LimitType.DYNAMIC
    ) -> None:
        """Send Set Peer Bandwidth (csid 2, stream 0)."""
        self.send_control(SetPeerBandwidth(bandwidth, limit_type))

    def accept_connect(
        self,
        event: Connect,
        *,
        chunk_size: int = DEFAULT_OUT_CHUNK_SIZE,
        identity: ServerIdentity | None = None,
        window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE,
        peer_bandwidth: int = DEFAULT_PEER_BANDWIDTH,
    ) -> None:
        """
        Answer ``connect`` as SRS does (``SrsRtmpServer::response_connect_app``): Window Ack Size,
        Set Peer Bandwidth (dynamic), Set Chunk Size (before the large
        ``_result``, SRS #454; later messages use it), the connect
        ``_result`` and ``onBWDone``.

        :param chunk_size: the vhost's ``chunk_size`` (SRS: 60000).
        :param identity: the ``srs_*`` fields of ``data``.
        """
        self._take(event, Connect)
        self.send_window_ack_size(window_ack_size)
        self.send_peer_bandwidth(peer_bandwidth)
        self.set_chunk_size(chunk_size)
        result = connect_result(event.object_encoding, identity or ServerIdentity())
        self._command(result, CSID_OVER_CONNECTION)
        self._command(build_command("onBWDone", 0, None), CSID_OVER_CONNECTION)

    def reject_connect(self, event: Connect, description: str = "bandcheck rejected") -> None:
        """
        Refuse ``connect`` with ``onStatus`` NetConnection.Connect.Rejected
        (csid 5, stream 0), SRS's only rejection; close afterwards.
        """
        self._take(event, Connect)
        info = status_info("error", "NetConnection.Connect.Rejected", description)
        self._command(on_status_call(info), CSID_OVER_STREAM)

    def accept_create_stream(self, event: CreateStream) -> None:
        """Answer ``createStream``: ``_result, tid, null, 1`` (csid 3)."""
        self._take(event, CreateStream)
        payload = build_command("_result", event.transaction_id, None, float(STREAM_ID))
        self._command(payload, CSID_OVER_CONNECTION)

    def reply_call(self, event: Call | DeleteStream | GetStreamLength) -> None:
        """
        Answer a generic call as SRS does (#106): ``_result, tid, null,
        null`` (csid 3, stream 0).
        """
        self._take(event, *_CALL_EVENTS)
        payload = build_command("_result", event.transaction_id, None, None)
        self._command(payload, CSID_OVER_CONNECTION)

    def reply_release_stream(self, event: ReleaseStream) -> None:
        """Answer ``releaseStream``: ``_result, tid, null, undefined``."""
        self._take(event, ReleaseStream)
        self._command(undefined_result(event.transaction_id), CSID_OVER_CONNECTION)

    def reply_fc_publish(self, event: FCPublish) -> None:
        """
        Answer ``FCPublish``: ``_result, tid, null, undefined``.  SRS sends
        ``onFCPublish`` only later, with the reply to ``publish``.
        """
        self._take(event, FCPublish)
        self._command(undefined_result(event.transaction_id), CSID_OVER_CONNECTION)

    def start_publish(self, event: Publish) -> None:
        """
        Answer ``publish`` (``start_fmle_publish``,
        ``start_haivision_publish``): ``onFCPublish`` for FMLE and Haivision
        publishers, then ``onStatus`` NetStream.Publish.Start, on csid 5, stream
        1.  SRS sends these before its publish checks; a refused publisher is
        simply disconnected (#57).
        """
        self._take(event, Publish)
        if event.publisher_type is not PublisherType.FLASH:
            info = status_info(None, _PUBLISH_START, _PUBLISH_START_TEXT)
            self._command(on_status_call(info, "onFCPublish"), CSID_OVER_STREAM, STREAM_ID)
        info = status_info("status", _PUBLISH_START, _PUBLISH_START_TEXT, clientid=CLIENT_ID)
        self._command(on_status_call(info), CSID_OVER_STREAM, STREAM_ID)

    def reply_fc_unpublish(self, event: FCUnpublish) -> None:
        """
        Answer ``FCUnpublish`` (``SrsRtmpServer::fmle_unpublish``): ``onFCUnpublish`` (csid
        5), ``_result, tid, null, undefined`` (csid 3), ``onStatus``
        NetStream.Unpublish.Success (csid 5), all on stream 1.
        """
        self._take(event, FCUnpublish)
        info = status_info(None, _UNPUBLISH, "Stop publishing stream.")
        self._command(on_status_call(info, "onFCUnpublish"), CSID_OVER_STREAM, STREAM_ID)
        self._command(undefined_result(event.transaction_id), CSID_OVER_CONNECTION, STREAM_ID)
        info = status_info("status", _UNPUBLISH, "Stream is now unpublished", clientid=CLIENT_ID)
        self._command(on_status_call(info), CSID_OVER_STREAM, STREAM_ID)

    def start_play(self, event: Play) -> None:
        """
        Answer ``play`` (``SrsRtmpServer::start_play``): StreamBegin 1 (csid 2), onStatus
        NetStream.Play.Reset and NetStream.Play.Start, ``|RtmpSampleAccess``
        and the ``onStatus`` data message NetStream.Data.Start (csid 5,
        stream 1).  Media may follow.
        """
        self._take(event, Play)
        self.send_control(StreamBegin(STREAM_ID))
        for code, description in (
            ("NetStream.Play.Reset", "Playing and resetting stream."),
            ("NetStream.Play.Start", "Started playing stream."),
        ):
            info = status_info("status", code, description, details="stream", clientid=CLIENT_ID)
            self._command(on_status_call(info), CSID_OVER_STREAM, STREAM_ID)
        self._data(sample_access(), STREAM_ID)
        self._data(on_status_data("NetStream.Data.Start"), STREAM_ID)

    def reply_pause(self, event: Pause) -> None:
        """
        Answer ``pause`` (``SrsRtmpServer::on_play_client_pause``): onStatus NetStream.Pause.Notify
        then StreamEOF 1, or NetStream.Unpause.Notify then StreamBegin 1.
        """
        self._take(event, Pause)
        if event.is_pause:
            info = status_info("status", "NetStream.Pause.Notify", "Paused stream.")
            self._command(on_status_call(info), CSID_OVER_STREAM, STREAM_ID)
            self.send_control(StreamEOF(STREAM_ID))
        else:
            info = status_info("status", "NetStream.Unpause.Notify", "Unpaused stream.")
            self._command(on_status_call(info), CSID_OVER_STREAM, STREAM_ID)
            self.send_control(StreamBegin(STREAM_ID))

    def error_status(
        self,
        code: str,
        description: str,
        *,
        level: str = "error",
        stream_id: int = STREAM_ID,
        **extra: str,
    ) -> None:
        """
        Send an ``onStatus`` command ``{level, code, description, ...}``
        (csid 5).  SRS itself never sends error statuses besides the
        connect rejection; this is for srstwist's own refusals.
        """
        self._check_ready()
        info = status_info(level, code, description, **extra)
        self._command(on_status_call(info), CSID_OVER_STREAM, stream_id)

    def send_media(
        self,
        kind: MediaKind,
        timestamp: int,
        payload: bytes,
        *,
        chunk_stream_id: int | None = None,
        message_type_id: int | None = None,
        stream_id: int = STREAM_ID,
    ) -> None:
        """
        Send one audio, video or data message to a player, fmt-0 header
        and the current out chunk size, on stream 1.

        The fan-out path instead writes the pieces of
        ``SharedMessage.chunks(session.out_chunk_size, csid, STREAM_ID)``
        (:mod:`srstwist.media.message`), shared by all players with the same
        chunk size, after flushing :meth:`data_to_send`.

        :param chunk_stream_id: the publisher's chunk stream id, which SRS
            keeps; by default srs-librtmp's (audio 7, video 6, data 4).
        :param message_type_id: e.g. 15 to relay AMF3 data unchanged; by
            default 8, 9 or 18.
        """
        self._send_media(kind, timestamp, payload, stream_id, chunk_stream_id, message_type_id)


def _event(emit: _Emit, name: str, parsed: ServerCommand, stream_id: int) -> Event:
    """The event a transition reports for a parsed command."""
    if emit is _E.PUBLISH_ENDED:
        return PublishEnded(name, stream_id)
    if isinstance(parsed, FmleStart):
        if emit is _E.RELEASE_STREAM:
            return ReleaseStream(parsed.transaction_id, parsed.stream_name, name)
        if emit is _E.FC_PUBLISH:
            return FCPublish(parsed.transaction_id, parsed.stream_name, name)
        return FCUnpublish(parsed.transaction_id, parsed.stream_name, name)
    if isinstance(parsed, PublishRequest):
        return Publish(
            parsed.transaction_id,
            parsed.stream_name,
            parsed.publish_type,
            parsed.stream_id,
            _PUBLISHER_TYPES[emit],
        )
    assert parsed is not None, emit
    return parsed
