# -*- test-case-name: tests.test_codec_control -*-
"""
Protocol control messages (types 1, 2, 3, 5, 6) and User Control events
(type 4), as frozen values that encode to and decode from message payloads.

Layouts are those of RTMP spec §5.4 and §6.2, SRS's handling that of
``srs_rtmp_stack.cpp``.  Decoding follows SRS: a payload shorter than its
fields is an error, trailing bytes are ignored.  Values are checked when a
message is built, so ``encode`` cannot fail and a decoded message is always
re-encodable.

Errors raise :class:`ControlError`, a :class:`ChunkError`, so a session needs one
``except`` for the whole chunk layer.  :class:`MessageType` lives in
:mod:`srstwist.codec.chunk` (the decoder needs it) and is re-exported here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias

from srstwist.codec.chunk import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    ChunkError,
    MessageType,
)

__all__ = [
    "Abort",
    "Acknowledgement",
    "ControlError",
    "ControlMessage",
    "FmsEvent0",
    "LimitType",
    "MessageType",
    "PingRequest",
    "PingResponse",
    "ProtocolControlMessage",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "StreamBegin",
    "StreamDry",
    "StreamEOF",
    "StreamIsRecorded",
    "UnknownUserControl",
    "UserControlEventType",
    "UserControlMessage",
    "WindowAcknowledgementSize",
    "decode_control",
    "decode_user_control",
]

_UINT32 = struct.Struct(">I")
_UINT16 = struct.Struct(">H")
_UINT16_UINT32 = struct.Struct(">HI")
_UINT16_UINT32_UINT32 = struct.Struct(">HII")


class ControlError(ChunkError):
    """
    A control message payload or field value is invalid.
    """


class LimitType(IntEnum):
    """
    Set Peer Bandwidth limit types; SRS sends DYNAMIC (RTMP spec §5.4.5).
    """

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


class UserControlEventType(IntEnum):
    """
    User Control event types SRS knows (RTMP spec §7.1.7).
    """

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7
    #: FMS private event with one data byte; the RTMP specification uses
    #: this number for the SWF verification request.
    FMS_EVENT0 = 0x1A


def _check_u32(name: str, value: int) -> None:
    """
    :raises ControlError: unless ``value`` fits an unsigned 32-bit field.
    """
    if not 0 <= value <= 0xFFFFFFFF:
        raise ControlError(f"{name} {value} outside 0..2**32-1")


def _require(payload: bytes, size: int, what: str) -> None:
    """
    :raises ControlError: if ``payload`` is shorter than ``size`` bytes.
    """
    if len(payload) < size:
        raise ControlError(f"{what}: payload of {len(payload)} bytes, needs {size}")


@dataclass(frozen=True, slots=True)
class SetChunkSize:
    """
    Type 1.  Sizes below 128 are refused (SRS #541); sizes above 65536 are
    allowed, as SRS accepts them from the peer (SRS #160).
    """

    chunk_size: int
    type_id: ClassVar[MessageType] = MessageType.SET_CHUNK_SIZE

    def __post_init__(self) -> None:
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ControlError(
                f"chunk size {self.chunk_size} outside "
                f"{MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}"
            )

    def encode(self) -> bytes:
        """
        :return: the 4-byte payload.
        """
        return _UINT32.pack(self.chunk_size)


@dataclass(frozen=True, slots=True)
class Abort:
    """
    Type 2: drop the partial message on a chunk stream.  SRS ignores it
    (RTMP spec §5.4.2).
    """

    chunk_stream_id: int
    type_id: ClassVar[MessageType] = MessageType.ABORT

    def __post_init__(self) -> None:
        _check_u32("chunk stream id", self.chunk_stream_id)

    def encode(self) -> bytes:
        """
        :return: the 4-byte payload.
        """
        return _UINT32.pack(self.chunk_stream_id)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """
    Type 3: bytes received so far (RTMP spec §5.4.3).
    """

    sequence_number: int
    type_id: ClassVar[MessageType] = MessageType.ACKNOWLEDGEMENT

    def __post_init__(self) -> None:
        _check_u32("sequence number", self.sequence_number)

    def encode(self) -> bytes:
        """
        :return: the 4-byte payload.
        """
        return _UINT32.pack(self.sequence_number)


@dataclass(frozen=True, slots=True)
class WindowAcknowledgementSize:
    """
    Type 5: acknowledge every this many bytes.  SRS ignores a window of 0
    (RTMP spec §5.4.4); that is the session's decision, so 0 decodes.
    """

    window_size: int
    type_id: ClassVar[MessageType] = MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE

    def __post_init__(self) -> None:
        _check_u32("window size", self.window_size)

    def encode(self) -> bytes:
        """
        :return: the 4-byte payload.
        """
        return _UINT32.pack(self.window_size)


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth:
    """
    Type 6: bandwidth plus a limit type (see :class:`LimitType`).  Unknown limit
    types decode as plain ints; SRS ignores this message from peers anyway.
    """

    bandwidth: int
    limit_type: int = LimitType.DYNAMIC
    type_id: ClassVar[MessageType] = MessageType.SET_PEER_BANDWIDTH

    def __post_init__(self) -> None:
        _check_u32("bandwidth", self.bandwidth)
        if not 0 <= self.limit_type <= 0xFF:
            raise ControlError(f"limit type {self.limit_type} outside 0..255")

    def encode(self) -> bytes:
        """
        :return: the 5-byte payload.
        """
        return _UINT32.pack(self.bandwidth) + bytes((self.limit_type,))


@dataclass(frozen=True, slots=True)
class _StreamEvent:
    """
    A User Control event whose data is one message stream id.
    """

    stream_id: int
    type_id: ClassVar[MessageType] = MessageType.USER_CONTROL
    event_type: ClassVar[int]

    def __post_init__(self) -> None:
        _check_u32("stream id", self.stream_id)

    def encode(self) -> bytes:
        """
        :return: event type (2 bytes) and stream id (4 bytes).
        """
        return _UINT16_UINT32.pack(self.event_type, self.stream_id)


@dataclass(frozen=True, slots=True)
class StreamBegin(_StreamEvent):
    """
    Event 0; SRS sends it when play starts and on unpause.
    """

    event_type: ClassVar[int] = UserControlEventType.STREAM_BEGIN


@dataclass(frozen=True, slots=True)
class StreamEOF(_StreamEvent):
    """
    Event 1; SRS sends it on pause.
    """

    event_type: ClassVar[int] = UserControlEventType.STREAM_EOF


@dataclass(frozen=True, slots=True)
class StreamDry(_StreamEvent):
    """
    Event 2; SRS never sends it.
    """

    event_type: ClassVar[int] = UserControlEventType.STREAM_DRY


@dataclass(frozen=True, slots=True)
class StreamIsRecorded(_StreamEvent):
    """
    Event 4; SRS never sends it.
    """

    event_type: ClassVar[int] = UserControlEventType.STREAM_IS_RECORDED


@dataclass(frozen=True, slots=True)
class SetBufferLength:
    """
    Event 3: the client's buffer in milliseconds for a stream.  SRS as a
    client sends 1000 ms after play (``SrsRtmpClient::play``).
    """

    stream_id: int
    buffer_length: int
    type_id: ClassVar[MessageType] = MessageType.USER_CONTROL
    event_type: ClassVar[int] = UserControlEventType.SET_BUFFER_LENGTH

    def __post_init__(self) -> None:
        _check_u32("stream id", self.stream_id)
        _check_u32("buffer length", self.buffer_length)

    def encode(self) -> bytes:
        """
        :return: event type, stream id and buffer length (10 bytes).
        """
        return _UINT16_UINT32_UINT32.pack(
            self.event_type, self.stream_id, self.buffer_length
        )


@dataclass(frozen=True, slots=True)
class _PingEvent:
    """
    A User Control event whose data is a 4-byte timestamp.
    """

    timestamp: int
    type_id: ClassVar[MessageType] = MessageType.USER_CONTROL
    event_type: ClassVar[int]

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)

    def encode(self) -> bytes:
        """
        :return: event type (2 bytes) and timestamp (4 bytes).
        """
        return _UINT16_UINT32.pack(self.event_type, self.timestamp)


@dataclass(frozen=True, slots=True)
class PingRequest(_PingEvent):
    """
    Event 6; SRS answers with a :class:`PingResponse` echoing the timestamp.
    """

    event_type: ClassVar[int] = UserControlEventType.PING_REQUEST


@dataclass(frozen=True, slots=True)
class PingResponse(_PingEvent):
    """
    Event 7.
    """

    event_type: ClassVar[int] = UserControlEventType.PING_RESPONSE


@dataclass(frozen=True, slots=True)
class FmsEvent0:
    """
    Event 0x1A with a single data byte (payload ``00 1A xx``), which SRS
    decodes and ignores (``SrsUserControlPacket::decode``).
    """

    value: int
    type_id: ClassVar[MessageType] = MessageType.USER_CONTROL
    event_type: ClassVar[int] = UserControlEventType.FMS_EVENT0

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise ControlError(f"FMS event value {self.value} outside 0..255")

    def encode(self) -> bytes:
        """
        :return: event type and the data byte (3 bytes).
        """
        return _UINT16.pack(self.event_type) + bytes((self.value,))


@dataclass(frozen=True, slots=True)
class UnknownUserControl:
    """
    Any other User Control event (buffer empty/ready, SWF verification
    response, ...).  Like SRS, at least 4 data bytes are required.
    """

    event_type: int
    data: bytes
    type_id: ClassVar[MessageType] = MessageType.USER_CONTROL

    def __post_init__(self) -> None:
        if not 0 <= self.event_type <= 0xFFFF:
            raise ControlError(f"event type {self.event_type} outside 0..65535")
        if len(self.data) < 4:
            raise ControlError("User Control event data shorter than 4 bytes")

    def encode(self) -> bytes:
        """
        :return: event type (2 bytes) and the data.
        """
        return _UINT16.pack(self.event_type) + self.data


UserControlMessage: TypeAlias = (
    StreamBegin
    | StreamEOF
    | StreamDry
    | SetBufferLength
    | StreamIsRecorded
    | PingRequest
    | PingResponse
    | FmsEvent0
    | UnknownUserControl
)
ProtocolControlMessage: TypeAlias = (
    SetChunkSize
    | Abort
    | Acknowledgement
    | WindowAcknowledgementSize
    | SetPeerBandwidth
)
ControlMessage: TypeAlias = ProtocolControlMessage | UserControlMessage

_STREAM_EVENTS: dict[
    int, type[StreamBegin | StreamEOF | StreamDry | StreamIsRecorded]
] = {
    cls.event_type: cls for cls in (StreamBegin, StreamEOF, StreamDry, StreamIsRecorded)
}
_PING_EVENTS: dict[int, type[PingRequest | PingResponse]] = {
    cls.event_type: cls for cls in (PingRequest, PingResponse)
}


def decode_user_control(payload: bytes) -> UserControlMessage:
    """
    Decode a User Control (type 4) payload.

    :raises ControlError: if it is too short for its event type.
    """
    _require(payload, 2, "User Control")
    (event_type,) = _UINT16.unpack_from(payload)
    if event_type == UserControlEventType.FMS_EVENT0:
        _require(payload, 3, "User Control FMS event")
        return FmsEvent0(payload[2])
    _require(payload, 6, "User Control")
    if event_type == UserControlEventType.SET_BUFFER_LENGTH:
        _require(payload, 10, "User Control SetBufferLength")
        _, stream_id, length = _UINT16_UINT32_UINT32.unpack_from(payload)
        return SetBufferLength(stream_id, length)
    (value,) = _UINT32.unpack_from(payload, 2)
    stream_event = _STREAM_EVENTS.get(event_type)
    if stream_event is not None:
        return stream_event(value)
    ping_event = _PING_EVENTS.get(event_type)
    if ping_event is not None:
        return ping_event(value)
    return UnknownUserControl(event_type, bytes(payload[2:]))


def decode_control(type_id: int, payload: bytes) -> ControlMessage:
    """
    Decode the payload of a protocol control or User Control message.

    :param type_id: 1..6.
    :raises ControlError: if ``type_id`` is not a control type, the payload is
        too short, or a value is out of range (Set Chunk Size below 128).
    """
    if type_id == MessageType.USER_CONTROL:
        return decode_user_control(payload)
    if type_id == MessageType.SET_PEER_BANDWIDTH:
        _require(payload, 5, "Set Peer Bandwidth")
        return SetPeerBandwidth(_UINT32.unpack_from(payload)[0], payload[4])
    four_byte = _FOUR_BYTE.get(type_id)
    if four_byte is None:
        raise ControlError(f"message type {type_id} is not a control message")
    _require(payload, 4, four_byte.__name__)
    return four_byte(_UINT32.unpack_from(payload)[0])


_FOUR_BYTE: dict[
    int,
    type[SetChunkSize | Abort | Acknowledgement | WindowAcknowledgementSize],
] = {
    cls.type_id: cls
    for cls in (SetChunkSize, Abort, Acknowledgement, WindowAcknowledgementSize)
}
