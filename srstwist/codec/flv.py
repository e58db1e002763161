# -*- test-case-name: tests.test_codec_flv -*-
"""
FLV, sans-IO: the first bytes of RTMP audio/video payloads, and the FLV file
format that HTTP-FLV, DVR and the FLV-POST caster read and write.

An RTMP audio or video message payload *is* an FLV tag body, so the same
helpers classify what a publisher sends (SRS's ``SrsSource::on_audio`` and
``on_video``) and what an FLV file holds (FLV spec, Annex E).

Payload prefixes (FLV spec E.4.2.1, E.4.3.1)::

    video byte 0   FrameType(4) | CodecID(4)
          byte 1   AVCPacketType (CodecID 7): 0 sequence header, 1 NALUs, 2 end
          byte 2-4 CompositionTime (CodecID 7)
    audio byte 0   SoundFormat(4) | SoundRate(2) | SoundSize(1) | SoundType(1)
          byte 1   AACPacketType (SoundFormat 10): 0 sequence header, 1 raw

The predicates (``is_*``) follow SRS's ``SrsFlvCodec``: they take any
payload, empty included, and answer ``False`` when it is too short.  The
field readers (`video_codec_id`, ...) raise `FlvError` on an empty payload.

File layout (FLV spec E.2, E.3, E.4.1)::

    "FLV" 01 flags u32(data offset = 9) | u32(0)           header + PreviousTagSize0
    type u24(size) u24(ts low) u8(ts high) u24(0) | body | u32(11 + size)   per tag

`flv_header` and `encode_tag` write that; `FlvTagDecoder` reads it back,
incrementally and within bounds.

This module imports nothing from Twisted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from srstwist.codec.buffer import ReceiveBuffer

__all__ = [
    "AAC_PACKET_RAW",
    "AAC_PACKET_SEQUENCE_HEADER",
    "AVC_PACKET_END_OF_SEQUENCE",
    "AVC_PACKET_NALU",
    "AVC_PACKET_SEQUENCE_HEADER",
    "DEFAULT_MAX_TAG_SIZE",
    "FLV_HEADER_SIZE",
    "SOUND_RATES",
    "TAG_HEADER_SIZE",
    "AudioTagHeader",
    "FlvError",
    "FlvHeader",
    "FlvTag",
    "FlvTagDecoder",
    "FrameType",
    "SoundFormat",
    "TagType",
    "VideoCodec",
    "audio_sound_format",
    "audio_tag_header",
    "encode_tag",
    "flv_header",
    "is_aac",
    "is_aac_sequence_header",
    "is_acceptable_video",
    "is_avc",
    "is_avc_sequence_header",
    "is_keyframe",
    "video_codec_id",
    "video_frame_type",
]


class FlvError(ValueError):
    """
    Bytes that are not FLV (bad signature, unknown tag type, a tag over the
    size bound), an empty payload where a field was asked for, or a value
    `encode_tag` cannot write.
    """


class TagType(IntEnum):
    """
    FLV tag types, equal to the RTMP message type ids they carry.
    """

    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


class FrameType(IntEnum):
    """
    The high nibble of a video payload's first byte.
    """

    KEYFRAME = 1
    INTER_FRAME = 2
    DISPOSABLE_INTER_FRAME = 3
    GENERATED_KEYFRAME = 4
    VIDEO_INFO_FRAME = 5


class VideoCodec(IntEnum):
    """
    The low nibble of a video payload's first byte.
    """

    SORENSON_H263 = 2
    SCREEN_VIDEO = 3
    ON2_VP6 = 4
    ON2_VP6_ALPHA = 5
    SCREEN_VIDEO_V2 = 6
    AVC = 7


class SoundFormat(IntEnum):
    """
    The high nibble of an audio payload's first byte.
    """

    LINEAR_PCM_PLATFORM_ENDIAN = 0
    ADPCM = 1
    MP3 = 2
    LINEAR_PCM_LITTLE_ENDIAN = 3
    NELLYMOSER_16KHZ_MONO = 4
    NELLYMOSER_8KHZ_MONO = 5
    NELLYMOSER = 6
    G711_A_LAW = 7
    G711_MU_LAW = 8
    AAC = 10
    SPEEX = 11
    MP3_8KHZ = 14
    DEVICE_SPECIFIC = 15


AVC_PACKET_SEQUENCE_HEADER: Final = 0
AVC_PACKET_NALU: Final = 1
AVC_PACKET_END_OF_SEQUENCE: Final = 2
AAC_PACKET_SEQUENCE_HEADER: Final = 0
AAC_PACKET_RAW: Final = 1

#: FLV SoundRate index to Hz (FLV spec E.4.2.1).  For AAC the real rate is in
#: the AudioSpecificConfig; the FLV field then says 3 (44 kHz) whatever it is.
SOUND_RATES: Final = (5512, 11025, 22050, 44100)

#: The file header plus PreviousTagSize0.
FLV_HEADER_SIZE: Final = 13
#: TagType, DataSize, Timestamp, TimestampExtended, StreamID.
TAG_HEADER_SIZE: Final = 11
#: The DataSize field is 24 bits, so no tag body can be longer than this;
#: `FlvTagDecoder` takes a smaller bound if asked.
DEFAULT_MAX_TAG_SIZE: Final = 0xFFFFFF

_MAX_TIMESTAMP: Final = 0x7FFFFFFF
_U32: Final = struct.Struct(">I")
_SIGNATURE: Final = b"FLV"
# The decoder appends input to its buffer in slices of this size, so the
# buffer never holds more than one tag plus one slice.
_FEED_SIZE: Final = 65536


# Payload prefixes -----------------------------------------------------------


def _first(payload: bytes, what: str) -> int:
    if not payload:
        raise FlvError(f"empty payload has no {what}")
    return payload[0]


def video_frame_type(payload: bytes) -> int:
    """
    The FrameType nibble of a video payload (see `FrameType`).

    :raises FlvError: ``payload`` is empty.
    """
    return _first(payload, "video frame type") >> 4


def video_codec_id(payload: bytes) -> int:
    """
    The CodecID nibble of a video payload (see `VideoCodec`).

    :raises FlvError: ``payload`` is empty.
    """
    return _first(payload, "video codec id") & 0x0F


def audio_sound_format(payload: bytes) -> int:
    """
    The SoundFormat nibble of an audio payload (see `SoundFormat`).

    :raises FlvError: ``payload`` is empty.
    """
    return _first(payload, "sound format") >> 4


def is_acceptable_video(payload: bytes) -> bool:
    """
    Whether the source keeps this video message: FrameType 1..5 and CodecID
    2..7.  Anything else, an empty payload included, is dropped silently at
    ingest before any output sees it (SRS #421, ``SrsSource::on_video``).
    """
    if not payload:
        return False
    return 1 <= payload[0] >> 4 <= 5 and 2 <= payload[0] & 0x0F <= 7


def is_keyframe(payload: bytes) -> bool:
    """
    Whether FrameType is 1 (key frame); the codec is not checked, as in SRS.
    """
    return bool(payload) and payload[0] >> 4 == FrameType.KEYFRAME


def is_avc(payload: bytes) -> bool:
    """
    Whether a video payload is H.264 (CodecID 7).
    """
    return bool(payload) and payload[0] & 0x0F == VideoCodec.AVC


def is_aac(payload: bytes) -> bool:
    """
    Whether an audio payload is AAC (SoundFormat 10).
    """
    return bool(payload) and payload[0] >> 4 == SoundFormat.AAC


def is_avc_sequence_header(payload: bytes) -> bool:
    """
    Whether a video payload is an H.264 sequence header: CodecID 7,
    FrameType 1 and AVCPacketType 0 (FLV spec E.4.3.1).
    """
    return (
        len(payload) >= 2
        and payload[0] == (FrameType.KEYFRAME << 4 | VideoCodec.AVC)
        and payload[1] == AVC_PACKET_SEQUENCE_HEADER
    )


def is_aac_sequence_header(payload: bytes) -> bool:
    """
    Whether an audio payload is an AAC sequence header: SoundFormat 10 and
    AACPacketType 0 (FLV spec E.4.2.1).
    """
    return (
        len(payload) >= 2
        and payload[0] >> 4 == SoundFormat.AAC
        and payload[1] == AAC_PACKET_SEQUENCE_HEADER
    )


@dataclass(frozen=True)
class AudioTagHeader:
    """
    The first byte of an audio payload, decoded.

    :ivar sound_format: see `SoundFormat`.
    :ivar sound_rate: Hz from the SoundRate field (`SOUND_RATES`).
    :ivar sample_size: 8 or 16 bits.
    :ivar channels: 1 (mono) or 2 (stereo), from SoundType.
    """

    sound_format: int
    sound_rate: int
    sample_size: int
    channels: int


def audio_tag_header(payload: bytes) -> AudioTagHeader:
    """
    Decode the first byte of an audio payload.

    For AAC the rate and channel fields are nominal (the AudioSpecificConfig
    has the real ones, `srstwist.codec.aac`); for MP3, PCM and the rest they
    are what the publisher declares.

    :raises FlvError: ``payload`` is empty.
    """
    byte = _first(payload, "audio tag header")
    return AudioTagHeader(
        sound_format=byte >> 4,
        sound_rate=SOUND_RATES[(byte >> 2) & 0x03],
        sample_size=16 if byte & 0x02 else 8,
        channels=2 if byte & 0x01 else 1,
    )


# File format ----------------------------------------------------------------


def flv_header(has_audio: bool = True, has_video: bool = True) -> bytes:
    """
    The 13-byte FLV file header, PreviousTagSize0 included.

    SRS writes flags ``0x05`` (audio and video) into every FLV it makes, for
    audio-only and video-only streams too, since 2.0.197 (ExoPlayer pull
    request 828, ``SrsFlvEncoder::write_header``); the defaults do the same.

    :param has_audio: set the audio flag (``0x04``).
    :param has_video: set the video flag (``0x01``).
    """
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return _SIGNATURE + bytes((1, flags)) + _U32.pack(9) + _U32.pack(0)


def encode_tag(tag_type: int, timestamp: int, payload: bytes) -> list[bytes]:
    """
    One FLV tag as pieces for ``transport.writeSequence``: the 11-byte tag
    header, the payload itself (not copied), and the 4-byte PreviousTagSize.

    The timestamp is cut to 31 bits as SRS does (``srs_kernel_flv.cpp``).  SRS
    writes script tags at timestamp 0 whatever the message's timestamp; that
    is the caller's choice to make, by passing 0.

    :param tag_type: 8, 9 or 18 (`TagType`).
    :param timestamp: milliseconds, not negative.
    :param payload: the tag body, at most 16 MiB - 1 bytes.
    :raises FlvError: an unknown tag type, negative timestamp or oversized
        payload.
    """
    if tag_type not in (TagType.AUDIO, TagType.VIDEO, TagType.SCRIPT):
        raise FlvError(f"cannot write FLV tag type {tag_type}")
    if timestamp < 0:
        raise FlvError(f"negative FLV timestamp {timestamp}")
    size = len(payload)
    if size > DEFAULT_MAX_TAG_SIZE:
        raise FlvError(f"FLV tag body of {size} bytes does not fit in 24 bits")
    timestamp &= _MAX_TIMESTAMP
    # type u8 + DataSize u24 | Timestamp u24 + TimestampExtended u8 | StreamID u24
    header = (
        _U32.pack(int(tag_type) << 24 | size)
        + _U32.pack((timestamp & 0xFFFFFF) << 8 | timestamp >> 24)
        + b"\x00\x00\x00"
    )
    return [header, payload, _U32.pack(TAG_HEADER_SIZE + size)]


@dataclass(frozen=True)
class FlvHeader:
    """
    A decoded FLV file header.

    :ivar version: normally 1.
    :ivar has_audio: the audio flag (``0x04``).
    :ivar has_video: the video flag (``0x01``).
    :ivar data_offset: where the first tag's PreviousTagSize0 starts
        (normally 9).
    """

    version: int
    has_audio: bool
    has_video: bool
    data_offset: int


@dataclass(frozen=True)
class FlvTag:
    """
    One FLV tag.

    :ivar tag_type: 8, 9 or 18 (`TagType`), the filter bit masked off.
    :ivar timestamp: milliseconds, 32 bits (24 low bits plus the extension
        byte).
    :ivar payload: the tag body, an RTMP message payload.
    """

    tag_type: int
    timestamp: int
    payload: bytes = field(repr=False)


class _State(IntEnum):
    HEADER = 0
    SKIP = 1
    TAG_HEADER = 2
    BODY = 3
    PREVIOUS_TAG_SIZE = 4


class FlvTagDecoder:
    """
    Read FLV tags from bytes as they arrive (an HTTP POST body, a file).

    Feed it with `receive_data`; the result is the same whether the bytes
    come at once or one at a time.  It holds at most one incomplete tag plus
    64 KiB of input, and work is linear in the bytes fed.  After it raises
    `FlvError` it is closed and raises again on further input.

    Like SRS's FLV caster (``srs_app_caster_flv.cpp``) it checks the ``FLV`` signature
    but not the flags, does not check PreviousTagSize values, and rejects tag
    types other than audio, video and script (after masking the filter bit).
    """

    def __init__(self, *, expect_header: bool = True, max_tag_size: int = 4 * 1024 * 1024) -> None:
        """
        :param expect_header: the input starts with the file header and
            PreviousTagSize0; ``False`` for a bare tag sequence (each tag
            followed by its PreviousTagSize), as in HDS fragments.
        :param max_tag_size: a tag declaring a longer body raises `FlvError`.
            4 MiB by default, far above any real frame;
            `DEFAULT_MAX_TAG_SIZE` is the format's own limit.
        """
        if not 0 < max_tag_size <= DEFAULT_MAX_TAG_SIZE:
            raise ValueError(f"max_tag_size must be in 1..{DEFAULT_MAX_TAG_SIZE}")
        self._max_tag_size = max_tag_size
        self._buffer = ReceiveBuffer(_FEED_SIZE + TAG_HEADER_SIZE + max_tag_size, FlvError)
        self._state = _State.HEADER if expect_header else _State.TAG_HEADER
        self._header: FlvHeader | None = None
        self._skip = 0
        self._tag_type = 0
        self._timestamp = 0
        self._size = 0
        self._closed = False

    @property
    def header(self) -> FlvHeader | None:
        """
        The file header, once read (``None`` before, and without a header).
        """
        return self._header

    @property
    def buffered_size(self) -> int:
        """
        Bytes held but not yet parsed into a tag.
        """
        return self._buffer.held()

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[FlvTag]:
        """
        Take more input.

        :return: the tags these bytes complete, in order.
        :raises FlvError: bad signature, unknown tag type, a tag body over
            ``max_tag_size``, or an earlier error.
        """
        if self._closed:
            raise FlvError("FLV decoder closed by an earlier error")
        out: list[FlvTag] = []
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        try:
            for offset in range(0, len(view), _FEED_SIZE):
                self._buffer.append(view[offset : offset + _FEED_SIZE])
                self._parse(out)
        except FlvError:
            self._closed = True
            raise
        return out

    def _parse(self, out: list[FlvTag]) -> None:
        buffer = self._buffer
        while True:
            if self._state is _State.SKIP:
                # The header's DataOffset may point past byte 9; what lies
                # between is skipped, never stored.
                self._skip -= len(buffer.consume_at_most(self._skip))
                buffer.commit()
                if self._skip:
                    return
                self._state = _State.PREVIOUS_TAG_SIZE
                continue
            if self._state is _State.HEADER:
                need = 9
            elif self._state is _State.TAG_HEADER:
                need = TAG_HEADER_SIZE
            elif self._state is _State.BODY:
                need = self._size
            else:
                need = 4
            chunk = buffer.consume_exactly(need)
            if chunk is None:
                buffer.rollback()
                return
            buffer.commit()
            if self._state is _State.HEADER:
                self._read_header(bytes(chunk))
            elif self._state is _State.TAG_HEADER:
                self._read_tag_header(chunk)
            elif self._state is _State.BODY:
                out.append(FlvTag(self._tag_type, self._timestamp, bytes(chunk)))
                self._state = _State.PREVIOUS_TAG_SIZE
            else:
                self._state = _State.TAG_HEADER

    def _read_header(self, chunk: bytes) -> None:
        if chunk[:3] != _SIGNATURE:
            raise FlvError(f"not an FLV stream: signature {chunk[:3]!r}")
        data_offset: int = _U32.unpack_from(chunk, 5)[0]
        if data_offset < 9:
            raise FlvError(f"FLV header DataOffset {data_offset} is less than 9")
        flags = chunk[4]
        self._header = FlvHeader(chunk[3], bool(flags & 0x04), bool(flags & 0x01), data_offset)
        self._skip = data_offset - 9
        self._state = _State.SKIP

    def _read_tag_header(self, chunk: bytearray) -> None:
        tag_type = chunk[0] & 0x1F
        if tag_type not in (TagType.AUDIO, TagType.VIDEO, TagType.SCRIPT):
            raise FlvError(f"unknown FLV tag type {chunk[0]}")
        size = int.from_bytes(chunk[1:4], "big")
        if size > self._max_tag_size:
            raise FlvError(f"FLV tag of {size} bytes exceeds the limit of {self._max_tag_size}")
        self._tag_type = tag_type
        self._size = size
        self._timestamp = chunk[7] << 24 | int.from_bytes(chunk[4:7], "big")
        self._state = _State.BODY
