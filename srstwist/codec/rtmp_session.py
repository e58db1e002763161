# -*- test-case-name: tests.test_codec_rtmp -*-
"""
What the server and the client RTMP sessions share: the receive pipeline
(handshake, then chunk stream, then messages), protocol control handling
with its automatic replies, and the outbound queue.

A session has h2's shape: ``receive_data(bytes)`` returns
a list of events (:mod:`srstwist.codec.rtmp_events`) and may queue
automatic replies; the methods that send queue more; ``data_to_send()``
hands out everything queued, in order, as a list of ``bytes`` pieces for
``transport.writeSequence`` (Twisted's TCP transports accept nothing else;
a payload that fits one chunk is passed through as the same object).

Automatic replies (RTMP spec §5.4.3, §7.1.7):

* Acknowledgement, once the peer has announced a window (Window
  Acknowledgement Size above 0): checked before each complete message is
  handled, sent when the bytes received since the last one reach half the
  window (SRS #730).  The sequence number is the total of bytes received,
  handshake included, counted per ``receive_data`` call as SRS counts
  socket reads; past 0xF0000000 it restarts at the increment.
* PingResponse to a PingRequest, echoing its timestamp.
* A received Set Chunk Size is applied by the chunk decoder itself.

Errors.  Anything the peer sends that SRS would refuse raises
:class:`RtmpError`, the only exception ``receive_data`` raises; it wraps
the codecs' errors (``HandshakeError``, ``ChunkError``, ``Amf0Error``) as
its ``__cause__``.  After that, or after :meth:`close`, the session is
closed and every further call raises :class:`RtmpError`.
"""

from __future__ import annotations

from srstwist.codec.amf0 import Amf0Error
from srstwist.codec.chunk import (
    CSID_AUDIO,
    CSID_OVER_CONNECTION2,
    CSID_PROTOCOL_CONTROL,
    CSID_VIDEO,
    ChunkDecoder,
    ChunkEncoder,
    ChunkError,
    MessageType,
    RawMessage,
    split_aggregate,
)
from srstwist.codec.control import (
    Abort,
    Acknowledgement,
    ControlMessage,
    PingRequest,
    PingResponse,
    SetChunkSize,
    SetPeerBandwidth,
    WindowAcknowledgementSize,
    decode_control,
)
from srstwist.codec.handshake import ClientHandshake, HandshakeError, ServerHandshake
from srstwist.codec.rtmp_commands import (
    METADATA_NAMES,
    CommandError,
    data_name,
    decode_metadata,
)
from srstwist.codec.rtmp_events import (
    AcknowledgementReceived,
    Event,
    HandshakeCompleted,
    Ignored,
    Media,
    MediaKind,
    PeerBandwidth,
    PeerChunkSize,
    UserControl,
    WindowAckSize,
)

__all__ = [
    "DEFAULT_OUT_CHUNK_SIZE",
    "DEFAULT_PEER_BANDWIDTH",
    "DEFAULT_WINDOW_ACK_SIZE",
    "MEDIA_CHUNK_STREAM_IDS",
    "MEDIA_MESSAGE_TYPES",
    "RtmpError",
]

#: Window Acknowledgement Size SRS announces, as server and as client.
DEFAULT_WINDOW_ACK_SIZE = 2_500_000
#: Set Peer Bandwidth SRS sends after connect (limit type dynamic).
DEFAULT_PEER_BANDWIDTH = 2_500_000
#: SRS's default outgoing chunk size (vhost ``chunk_size``).
DEFAULT_OUT_CHUNK_SIZE = 60000

#: Chunk stream ids for media a session creates itself, as srs-librtmp
#: sends them (``RTMP_CID_*`` in ``srs_kernel_flv.hpp``).  Relayed media keeps the chunk
#: stream id it arrived on instead.
MEDIA_CHUNK_STREAM_IDS = {
    MediaKind.AUDIO: CSID_AUDIO,
    MediaKind.VIDEO: CSID_VIDEO,
    MediaKind.DATA: CSID_OVER_CONNECTION2,
}
#: The message type sent for each media kind (data: AMF0, type 18).
MEDIA_MESSAGE_TYPES = {
    MediaKind.AUDIO: MessageType.AUDIO,
    MediaKind.VIDEO: MessageType.VIDEO,
    MediaKind.DATA: MessageType.AMF0_DATA,
}
_MEDIA_KINDS = {
    MessageType.AUDIO: MediaKind.AUDIO,
    MessageType.VIDEO: MediaKind.VIDEO,
    MessageType.AMF0_DATA: MediaKind.DATA,
    MessageType.AMF3_DATA: MediaKind.DATA,
}
_COMMAND_TYPES = frozenset({MessageType.AMF0_COMMAND, MessageType.AMF3_COMMAND})
# SRS reads the Acknowledgement window as unsigned 32 bits and restarts the
# sequence number above this value.
_ACK_SEQUENCE_LIMIT = 0xF0000000


class RtmpError(Exception):
    """
    The one error of the RTMP session layer: the peer broke the protocol
    (handshake, chunk stream, AMF0, command layout, a reply out of place),
    or the session was used wrongly (a reply nothing asked for, anything
    after :meth:`close`).  The connection cannot continue.
    """


class _Session:
    """
    The machinery both roles share; see the module docstring.

    Subclasses implement :meth:`_on_command` and :meth:`_media_allowed`,
    and set ``self._closed`` through :meth:`close`.
    """

    def __init__(
        self,
        handshake: ServerHandshake | ClientHandshake,
        *,
        max_message_size: int,
        max_amf_size: int,
    ) -> None:
        self._handshake: ServerHandshake | ClientHandshake | None = handshake
        self._decoder = ChunkDecoder(max_message_size=max_message_size)
        self._encoder = ChunkEncoder()
        self._max_amf_size = max_amf_size
        self._outbound: list[bytes] = []
        self._closed = False
        self._bytes_received = 0
        self._ack_window = 0
        self._ack_bytes = 0
        self._ack_sequence = 0

    # -- public, both roles ------------------------------------------------

    @property
    def bytes_received(self) -> int:
        """Every byte given to :meth:`receive_data`, handshake included."""
        return self._bytes_received

    @property
    def out_chunk_size(self) -> int:
        """
        The chunk size our messages are cut with; pre-encoded chunks for
        this peer must use it too.
        """
        return self._encoder.chunk_size

    @property
    def in_chunk_size(self) -> int:
        """The chunk size the peer's next chunk is read with."""
        return self._decoder.in_chunk_size

    @property
    def ack_window(self) -> int:
        """The peer's Acknowledgement window; 0 until it announces one."""
        return self._ack_window

    @property
    def closed(self) -> bool:
        """Whether the session failed or was closed."""
        return self._closed

    def data_to_send(self) -> list[bytes]:
        """
        Return, and forget, everything queued for the peer: ``bytes`` pieces
        in order, for ``transport.writeSequence``.  Flush this before writing
        pre-encoded chunks (``SharedMessage.chunks``) directly, or the order
        breaks.
        """
        out = self._outbound
        self._outbound = []
        return out

    def close(self) -> None:
        """
        Mark the session closed; queued data stays available to
        :meth:`data_to_send`.
        """
        self._closed = True

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """
        Feed bytes from the peer.

        :return: the events they complete, in order.
        :raise RtmpError: the peer broke the protocol; the session is then
            closed.
        """
        self._check_open()
        events: list[Event] = []
        try:
            self._receive(data, events)
        except RtmpError:
            self._closed = True
            raise
        except (HandshakeError, ChunkError, Amf0Error, CommandError) as e:
            self._closed = True
            raise RtmpError(str(e)) from e
        return events

    def set_chunk_size(self, chunk_size: int) -> None:
        """
        Send Set Chunk Size and cut every later message with it (SRS
        switches right after sending, ``SrsProtocol::on_send_packet``).

        :raise RtmpError: the size is outside 128..2**31-1.
        """
        self._check_ready()
        try:
            message = SetChunkSize(chunk_size)
        except ChunkError as e:
            raise RtmpError(str(e)) from e
        self.send_control(message)
        self._encoder.set_chunk_size(chunk_size)

    def send_window_ack_size(self, window_size: int = DEFAULT_WINDOW_ACK_SIZE) -> None:
        """Send Window Acknowledgement Size (csid 2, stream 0)."""
        self.send_control(WindowAcknowledgementSize(window_size))

    def send_control(self, message: ControlMessage) -> None:
        """
        Send a protocol control or User Control message on chunk stream 2,
        message stream 0, timestamp 0, as SRS sends all of them.  Use
        :meth:`set_chunk_size` for Set Chunk Size, which must also change
        the encoder.
        """
        self._check_ready()
        self._send(message.type_id, message.encode(), 0, CSID_PROTOCOL_CONTROL)

    def send_message(
        self,
        message_type_id: int,
        timestamp: int,
        payload: bytes,
        *,
        stream_id: int,
        chunk_stream_id: int,
    ) -> None:
        """
        Send any message with a fmt-0 header, as SRS sends everything.

        :raise RtmpError: an argument cannot be encoded.
        """
        self._check_ready()
        self._send(message_type_id, payload, stream_id, chunk_stream_id, timestamp)

    # -- receiving ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RtmpError("RTMP session is closed")

    def _check_ready(self) -> None:
        self._check_open()
        if self._handshake is not None:
            raise RtmpError("RTMP handshake not finished")

    def _receive(self, data: bytes | bytearray | memoryview, events: list[Event]) -> None:
        self._bytes_received += len(data)
        handshake = self._handshake
        if handshake is not None:
            done = handshake.receive_data(bytes(data))
            reply = handshake.data_to_send()
            if reply:
                self._outbound.append(reply)
            if not done:
                return
            self._handshake = None
            events.append(HandshakeCompleted(done[0].schema, done[0].peer_digest_valid))
            self._on_handshake_done(events)
            data = done[0].leftover
            if not data:
                return
        for message in self._decoder.receive_data(data):
            # SRS checks for an Acknowledgement before it handles the
            # message, so a window takes effect from the next message.
            self._acknowledge()
            self._on_message(message, events)

    def _on_handshake_done(self, events: list[Event]) -> None:
        """Hook for the roles: the handshake just finished."""

    def _acknowledge(self) -> None:
        if self._ack_window <= 0:
            return
        delta = self._bytes_received - self._ack_bytes
        if delta < self._ack_window // 2:
            return
        self._ack_bytes = self._bytes_received
        sequence = self._ack_sequence + delta
        if sequence > _ACK_SEQUENCE_LIMIT:
            sequence = delta
        self._ack_sequence = sequence & 0xFFFFFFFF
        self._send_raw_control(Acknowledgement(self._ack_sequence))

    def _send_raw_control(self, message: ControlMessage) -> None:
        self._send(message.type_id, message.encode(), 0, CSID_PROTOCOL_CONTROL)

    def _on_message(self, message: RawMessage, events: list[Event]) -> None:
        type_id = message.message_type_id
        if type_id <= MessageType.SET_PEER_BANDWIDTH:
            self._on_control(message, events)
        elif type_id in _COMMAND_TYPES:
            self._on_command(message, events)
        elif type_id in _MEDIA_KINDS or type_id == MessageType.AGGREGATE:
            if not self._media_allowed():
                events.append(Ignored(type_id, None, "media while not publishing"))
            elif type_id == MessageType.AGGREGATE:
                for part in split_aggregate(message):
                    events.append(self._media(part))
            else:
                events.append(self._media(message))
        else:
            events.append(Ignored(type_id, None, "unsupported message type"))

    def _on_control(self, message: RawMessage, events: list[Event]) -> None:
        type_id = message.message_type_id
        if type_id == MessageType.ABORT or type_id == 0:
            # SRS does not implement Abort (type 2, RTMP spec §5.4.2).
            events.append(Ignored(type_id, None, "unsupported message type"))
            return
        if type_id in (MessageType.ACKNOWLEDGEMENT, MessageType.SET_PEER_BANDWIDTH):
            # SRS never decodes these two, so a short one is no error.
            try:
                control = decode_control(type_id, message.payload)
            except ChunkError:
                events.append(Ignored(type_id, None, "malformed control message"))
                return
        else:
            control = decode_control(type_id, message.payload)
        if isinstance(control, SetChunkSize):
            # Already applied by the decoder, at the right chunk.
            events.append(PeerChunkSize(control.chunk_size))
        elif isinstance(control, WindowAcknowledgementSize):
            if control.window_size > 0:
                self._ack_window = control.window_size
            events.append(WindowAckSize(control.window_size))
        elif isinstance(control, Acknowledgement):
            events.append(AcknowledgementReceived(control.sequence_number))
        elif isinstance(control, SetPeerBandwidth):
            events.append(PeerBandwidth(control.bandwidth, control.limit_type))
        elif not isinstance(control, Abort):  # Abort never gets here
            if isinstance(control, PingRequest):
                self._send_raw_control(PingResponse(control.timestamp))
            events.append(UserControl(control))

    def _media(self, message: RawMessage) -> Media:
        type_id = message.message_type_id
        kind = _MEDIA_KINDS[MessageType(type_id)]
        name = None
        metadata = None
        if kind is MediaKind.DATA:
            name = data_name(message.payload)
            if name in METADATA_NAMES:
                metadata = decode_metadata(message.payload, 0, self._max_amf_size)
        return Media(
            kind,
            message.timestamp,
            message.message_stream_id,
            message.chunk_stream_id,
            message.payload,
            type_id,
            name,
            metadata,
        )

    def _on_command(self, message: RawMessage, events: list[Event]) -> None:
        raise NotImplementedError

    def _media_allowed(self) -> bool:
        raise NotImplementedError

    # -- sending -----------------------------------------------------------

    def _send(
        self,
        type_id: int,
        payload: bytes,
        stream_id: int,
        csid: int,
        timestamp: int = 0,
    ) -> None:
        try:
            pieces = self._encoder.encode(timestamp, type_id, stream_id, payload, csid)
        except ChunkError as e:
            raise RtmpError(str(e)) from e
        self._outbound.extend(pieces)

    def _send_media(
        self,
        kind: MediaKind,
        timestamp: int,
        payload: bytes,
        stream_id: int,
        chunk_stream_id: int | None,
        message_type_id: int | None,
    ) -> None:
        self._check_ready()
        type_id = MEDIA_MESSAGE_TYPES[kind] if message_type_id is None else message_type_id
        csid = MEDIA_CHUNK_STREAM_IDS[kind] if chunk_stream_id is None else chunk_stream_id
        self._send(type_id, payload, stream_id, csid, timestamp)
