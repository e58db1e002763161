# -*- test-case-name: tests.test_codec_rtmp_client -*-
"""
The RTMP session layer, sans-IO, client role: what SRS 2.0 does when it
connects to another server (edge pull and push, forward, token traverse)
and what srs-librtmp's tools do (``SrsRtmpClient`` in ``srs_rtmp_stack.cpp``,
``srs_librtmp.cpp``).

:class:`ClientSession` queues C0C1 when it is built; feed it the server's
bytes with ``receive_data`` and send what ``data_to_send`` returns.  After
:class:`HandshakeCompleted`, call :meth:`ClientSession.connect`; the
server's answers come back as :class:`Result`/:class:`CallError` (matched to
our commands by transaction id), :class:`OnStatus` and :class:`Call`
events, its media as :class:`Media`.  Acknowledgements and PingResponses
are sent automatically, as by the server session.

Lifecycle (``_TRANSITIONS``; the inputs are our own calls, plus the connect
``_result``)::

    HANDSHAKE --handshake--> READY --connect()--> CONNECTING
    CONNECTING --connect _result--> CONNECTED
    CONNECTED --create_stream(), release_stream(), fc_publish(), call(),
                delete_stream()--> CONNECTED
              --publish()--> PUBLISHING   --play()--> PLAYING
    PUBLISHING --send_media(), fc_unpublish(), call()--> PUBLISHING
    PLAYING   --pause(), call()--> PLAYING
    PUBLISHING, PLAYING --close_stream(), delete_stream()--> CONNECTED
    any       --close() or an error--> CLOSED

A call not allowed in the current state raises :class:`RtmpError`.  Like
SRS, a ``_result``/``_error`` whose transaction id matches none of our
commands raises too.  Transaction ids count up from 1 (``connect``), so
SRS's sequences come out with SRS's numbers: play is connect 1,
createStream 2; FMLE publish is releaseStream 2, FCPublish 3,
createStream 4.  ``play`` and ``publish`` use transaction id 0.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from srstwist.codec.amf0 import Amf0Object, Amf0Value
from srstwist.codec.chunk import (
    CSID_OVER_CONNECTION,
    CSID_OVER_STREAM,
    DEFAULT_MAX_MESSAGE_SIZE,
    MessageType,
    RawMessage,
)
from srstwist.codec.control import SetBufferLength
from srstwist.codec.handshake import SCHEMA_DIGEST_KEY, ClientHandshake, RandomBytes
from srstwist.codec.rtmp_commands import (
    DEFAULT_MAX_AMF_SIZE,
    build_command,
    connect_command,
    decode_command,
    string_property,
)
from srstwist.codec.rtmp_events import (
    Call,
    CallError,
    Event,
    MediaKind,
    OnStatus,
    Result,
)
from srstwist.codec.rtmp_session import (
    DEFAULT_OUT_CHUNK_SIZE,
    DEFAULT_WINDOW_ACK_SIZE,
    RtmpError,
    _Session,
)

__all__ = ["ClientSession", "ClientState", "RtmpError"]

#: srs-librtmp's and SRS's client buffer length after play, milliseconds.
DEFAULT_BUFFER_LENGTH = 1000


class ClientState(enum.Enum):
    """The phases of a client session (see the module docstring)."""

    HANDSHAKE = "handshake"
    READY = "ready"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    PUBLISHING = "publishing"
    PLAYING = "playing"
    CLOSED = "closed"


class _Input(enum.Enum):
    CONNECT = "connect"
    CONNECTED = "connect _result"
    CREATE_STREAM = "createStream"
    RELEASE_STREAM = "releaseStream"
    FC_PUBLISH = "FCPublish"
    FC_UNPUBLISH = "FCUnpublish"
    PUBLISH = "publish"
    PLAY = "play"
    PAUSE = "pause"
    CALL = "call"
    SEND_MEDIA = "send media"
    CLOSE_STREAM = "closeStream"
    DELETE_STREAM = "deleteStream"


_S = ClientState
_I = _Input

_TRANSITIONS: dict[tuple[ClientState, _Input], ClientState] = {
    (_S.READY, _I.CONNECT): _S.CONNECTING,
    (_S.CONNECTING, _I.CONNECTED): _S.CONNECTED,
    (_S.CONNECTED, _I.CREATE_STREAM): _S.CONNECTED,
    (_S.CONNECTED, _I.RELEASE_STREAM): _S.CONNECTED,
    (_S.CONNECTED, _I.FC_PUBLISH): _S.CONNECTED,
    (_S.CONNECTED, _I.CALL): _S.CONNECTED,
    (_S.CONNECTED, _I.DELETE_STREAM): _S.CONNECTED,
    (_S.CONNECTED, _I.PUBLISH): _S.PUBLISHING,
    (_S.CONNECTED, _I.PLAY): _S.PLAYING,
    (_S.PUBLISHING, _I.SEND_MEDIA): _S.PUBLISHING,
    (_S.PUBLISHING, _I.FC_UNPUBLISH): _S.PUBLISHING,
    (_S.PUBLISHING, _I.CALL): _S.PUBLISHING,
    (_S.PUBLISHING, _I.CLOSE_STREAM): _S.CONNECTED,
    (_S.PUBLISHING, _I.DELETE_STREAM): _S.CONNECTED,
    (_S.PLAYING, _I.PAUSE): _S.PLAYING,
    (_S.PLAYING, _I.CALL): _S.PLAYING,
    (_S.PLAYING, _I.CLOSE_STREAM): _S.CONNECTED,
    (_S.PLAYING, _I.DELETE_STREAM): _S.CONNECTED,
}


class ClientSession(_Session):
    """
    One connection to an RTMP server, client role.  See the module
    docstring.

    :param random_bytes: the handshake's source of random bytes.
    :param epoch: the C1 time field, seconds.
    :param simple_handshake: send an unsigned C1 as srs-librtmp does; by
        default C1 is signed (schema 1) like SRS's edge and forwarder.
    :param max_message_size: the largest message accepted from the server.
    :param max_amf_size: the largest command or metadata payload decoded.
    """

    def __init__(
        self,
        random_bytes: RandomBytes,
        epoch: int,
        *,
        simple_handshake: bool = False,
        schema: int = SCHEMA_DIGEST_KEY,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_amf_size: int = DEFAULT_MAX_AMF_SIZE,
    ) -> None:
        handshake = ClientHandshake(random_bytes, epoch, simple=simple_handshake, schema=schema)
        super().__init__(handshake, max_message_size=max_message_size, max_amf_size=max_amf_size)
        self._outbound.append(handshake.data_to_send())
        self._state = ClientState.HANDSHAKE
        self._next_transaction_id = 1
        self._requests: dict[float, str] = {}
        self._stream_id: int | None = None

    @property
    def state(self) -> ClientState:
        """The current phase."""
        return ClientState.CLOSED if self._closed else self._state

    @property
    def stream_id(self) -> int | None:
        """
        The stream id of the last ``createStream`` ``_result``, which
        :meth:`publish` and :meth:`play` use by default.
        """
        return self._stream_id

    @property
    def pending_requests(self) -> dict[float, str]:
        """Our commands still waiting for ``_result``: tid -> name."""
        return dict(self._requests)

    # -- state -------------------------------------------------------------

    def _advance(self, action: _Input) -> None:
        self._check_open()
        following = _TRANSITIONS.get((self._state, action))
        if following is None:
            raise RtmpError(f"cannot {action.value} in state {self._state.value}")
        self._state = following

    def _request(self, name: str) -> float:
        tid = float(self._next_transaction_id)
        self._next_transaction_id += 1
        self._requests[tid] = name
        return tid

    def _stream(self, stream_id: int | None) -> int:
        if stream_id is not None:
            return stream_id
        if self._stream_id is None:
            raise RtmpError("no stream: createStream has not been answered")
        return self._stream_id

    def _command(self, payload: bytes, csid: int, stream_id: int = 0) -> None:
        self._send(MessageType.AMF0_COMMAND, payload, stream_id, csid)

    # -- commands ----------------------------------------------------------

    def connect(
        self,
        tc_url: str,
        app: str,
        args: Mapping[str, Amf0Value] | None = None,
        *,
        swf_url: str = "",
        page_url: str = "",
        flash_ver: str = "WIN 15,0,0,239",
        window_ack_size: int | None = DEFAULT_WINDOW_ACK_SIZE,
    ) -> float:
        """
        Send ``connect`` with SRS's command object (``SrsRtmpClient::connect_app``), then
        Window Acknowledgement Size.

        :param args: the fourth value, an Object (SRS edges send their
            ``srs_*`` identity there when ``debug_srs_upnode`` is on).
        :param window_ack_size: ``None`` sends no Window Ack Size.
        :return: the transaction id (1).
        """
        self._check_ready()
        self._advance(_I.CONNECT)
        tid = self._request("connect")
        payload = connect_command(
            tid,
            app,
            tc_url,
            swf_url=swf_url,
            page_url=page_url,
            flash_ver=flash_ver,
            args=args,
        )
        self._command(payload, CSID_OVER_CONNECTION)
        if window_ack_size is not None:
            self.send_window_ack_size(window_ack_size)
        return tid

    def create_stream(self) -> float:
        """
        Send ``createStream, tid, null``; its ``_result`` sets
        :attr:`stream_id`.

        :return: the transaction id.
        """
        self._advance(_I.CREATE_STREAM)
        tid = self._request("createStream")
        self._command(build_command("createStream", tid, None), CSID_OVER_CONNECTION)
        return tid

    def release_stream(self, stream_name: str) -> float:
        """Send ``releaseStream, tid, null, name``; return the tid."""
        self._advance(_I.RELEASE_STREAM)
        return self._fmle_start("releaseStream", stream_name)

    def fc_publish(self, stream_name: str) -> float:
        """Send ``FCPublish, tid, null, name``; return the tid."""
        self._advance(_I.FC_PUBLISH)
        return self._fmle_start("FCPublish", stream_name)

    def fc_unpublish(self, stream_name: str) -> float:
        """Send ``FCUnpublish, tid, null, name`` while publishing."""
        self._advance(_I.FC_UNPUBLISH)
        return self._fmle_start("FCUnpublish", stream_name)

    def _fmle_start(self, name: str, stream_name: str) -> float:
        tid = self._request(name)
        self._command(build_command(name, tid, None, stream_name), CSID_OVER_CONNECTION)
        return tid

    def publish(
        self,
        stream_name: str,
        publish_type: str = "live",
        *,
        stream_id: int | None = None,
        chunk_size: int | None = DEFAULT_OUT_CHUNK_SIZE,
    ) -> None:
        """
        Start publishing as SRS's client does: Set Chunk Size (60000),
        then ``publish, 0, null, name, type`` on the stream (csid 5).
        SRS does not wait for ``onStatus`` before sending media.

        :param stream_id: default: the created :attr:`stream_id`.
        :param chunk_size: ``None`` keeps the chunk size.
        """
        stream = self._stream(stream_id)
        self._advance(_I.PUBLISH)
        if chunk_size is not None:
            self.set_chunk_size(chunk_size)
        payload = build_command("publish", 0, None, stream_name, publish_type)
        self._command(payload, CSID_OVER_STREAM, stream)

    def play(
        self,
        stream_name: str,
        *,
        stream_id: int | None = None,
        start: float = -2,
        duration: float = -1,
        reset: bool = True,
        buffer_length: int | None = DEFAULT_BUFFER_LENGTH,
        chunk_size: int | None = DEFAULT_OUT_CHUNK_SIZE,
    ) -> None:
        """
        Start playing as SRS's client does (``SrsRtmpClient::play``): ``play, 0,
        null, name`` (start, duration and reset only when not the
        defaults), SetBufferLength (1000 ms), Set Chunk Size (60000).

        :param buffer_length: ``None`` sends no SetBufferLength.
        :param chunk_size: ``None`` keeps the chunk size.
        """
        stream = self._stream(stream_id)
        self._advance(_I.PLAY)
        values: list[object] = [stream_name]
        if start != -2 or duration != -1 or not reset:
            values.append(float(start))
        if duration != -1 or not reset:
            values.append(float(duration))
        if not reset:
            values.append(False)
        self._command(build_command("play", 0, None, *values), CSID_OVER_STREAM, stream)
        if buffer_length is not None:
            self.send_control(SetBufferLength(stream, buffer_length))
        if chunk_size is not None:
            self.set_chunk_size(chunk_size)

    def pause(self, is_pause: bool, time: float = 0) -> None:
        """Send ``pause, 0, null, is_pause, time`` on the stream."""
        stream = self._stream(None)
        self._advance(_I.PAUSE)
        payload = build_command("pause", 0, None, is_pause, float(time))
        self._command(payload, CSID_OVER_STREAM, stream)

    def close_stream(self) -> None:
        """Send ``closeStream, 0, null`` on the stream; no reply comes."""
        stream = self._stream(None)
        self._advance(_I.CLOSE_STREAM)
        self._command(build_command("closeStream", 0, None), CSID_OVER_STREAM, stream)

    def delete_stream(self, stream_id: int | None = None) -> float:
        """
        Send ``deleteStream, tid, null, stream id`` (csid 3, stream 0), as
        OBS does; SRS answers ``_result, tid, null, null``.
        """
        stream = self._stream(stream_id)
        self._advance(_I.DELETE_STREAM)
        tid = self._request("deleteStream")
        payload = build_command("deleteStream", tid, None, float(stream))
        self._command(payload, CSID_OVER_CONNECTION)
        return tid

    def call(
        self,
        name: str,
        command_object: Amf0Value = None,
        *args: Amf0Value,
        expect_reply: bool = True,
    ) -> float:
        """
        Send any other command on csid 3, stream 0.

        :param expect_reply: take a transaction id and match the
            ``_result``; else send transaction id 0.
        :return: the transaction id.
        """
        self._advance(_I.CALL)
        tid = self._request(name) if expect_reply else 0.0
        self._command(build_command(name, tid, command_object, *args), CSID_OVER_CONNECTION)
        return tid

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
        Publish one audio, video or data message on the stream.

        :param chunk_stream_id: srs-librtmp's by default (audio 7, video 6,
            data 4); SRS's forwarder keeps the publisher's.
        :param message_type_id: default 8, 9 or 18.
        """
        stream = self._stream(None)
        self._advance(_I.SEND_MEDIA)
        self._send_media(kind, timestamp, payload, stream, chunk_stream_id, message_type_id)

    # -- receiving ---------------------------------------------------------

    def _on_handshake_done(self, events: list[Event]) -> None:
        self._state = ClientState.READY

    def _media_allowed(self) -> bool:
        return True

    def _on_command(self, message: RawMessage, events: list[Event]) -> None:
        command = decode_command(message.message_type_id, message.payload, self._max_amf_size)
        tid = command.transaction_id
        values = command.values
        command_object = values[1] if len(values) > 1 else None
        args = values[2:]
        if command.name in ("_result", "_error"):
            request = self._requests.pop(tid, None)
            if request is None:
                raise RtmpError(f"{command.name} for unknown transaction {tid}")
            if command.name == "_error":
                events.append(CallError(tid, request, command_object, args))
                return
            if request == "connect" and self._state is ClientState.CONNECTING:
                self._state = ClientState.CONNECTED
            elif request == "createStream":
                if not args or not isinstance(args[0], float):
                    raise RtmpError("createStream _result without a stream id")
                self._stream_id = _stream_id(args[0])
            events.append(Result(tid, request, command_object, args))
        elif command.name == "onStatus":
            info = next((v for v in values[1:] if isinstance(v, Amf0Object)), Amf0Object())
            events.append(
                OnStatus(
                    string_property(info, "level"),
                    string_property(info, "code"),
                    string_property(info, "description"),
                    info,
                    message.message_stream_id,
                )
            )
        else:
            events.append(Call(command.name, tid, command_object, args, message.message_stream_id))


def _stream_id(value: float) -> int:
    """A createStream result as a message stream id."""
    if not value.is_integer() or not 0 <= value <= 0xFFFFFFFF:
        raise RtmpError(f"createStream _result: invalid stream id {value}")
    return int(value)
