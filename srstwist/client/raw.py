# -*- test-case-name: tests.test_client_raw -*-
"""
Raw H.264 (Annex B) and raw AAC (ADTS) to FLV tags, for publishing elementary
streams over RTMP: srs-librtmp's ``srs_h264_write_raw_frames`` and
``srs_audio_write_raw_frame`` (``srs_librtmp.cpp``), without the socket.

H.264 (:class:`H264RawPublisher`):

* SPS and PPS are collected from the stream; the sequence header
  (AVCDecoderConfigurationRecord, ISO/IEC 14496-15 5.2.4.1) is built from them and
  sent before the first frame, and again before a frame only when the SPS
  or PPS changed.  A repeated SPS/PPS sends nothing (SRS #204).
* Frames before the first SPS and PPS are dropped (SRS #203).
* The slice NALUs of one call (types 1 and 5) go out in one video message,
  length-prefixed (AVCC); IDR makes it a keyframe; the composition time is
  ``pts - dts``.  Other NALUs (AUD, SEI...) are left out, as in SRS.  Unlike
  srs-librtmp, which sends one message per NALU, a multi-slice picture is
  one message, as RTMP players expect.

:class:`AccessUnitSplitter` cuts an Annex-B byte stream (an ``.h264`` file) into
access units (H.264 7.4.1.2.3), so that a tool can give each its own dts.

AAC (:class:`AacRawPublisher`): the AudioSpecificConfig is built from the first
ADTS header (object type = ADTS profile + 1, ``srs_codec_aac_ts2rtmp``) and sent once
as the sequence header, again only if it changes; each frame goes out
without its ADTS header, with the FLV audio byte ``0xAF`` (AAC, 44 kHz,
16 bit, stereo: the values the FLV format fixes for AAC).
:class:`AdtsSplitter` cuts an ADTS byte stream into frames.

Everything here is pure: no Twisted, no I/O; tags come back as :class:`FlvTag` objects,
ready for ``RtmpClientProtocol.send_message`` or ``ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from srstwist.codec.aac import SAMPLE_RATES, AacError
from srstwist.codec.avc import (
    NALU_TYPE_IDR,
    NALU_TYPE_NON_IDR,
    NALU_TYPE_PPS,
    NALU_TYPE_SPS,
    AvcError,
    encode_avcc,
    nalu_type,
    split_annexb,
)
from srstwist.codec.flv import (
    AAC_PACKET_RAW,
    AAC_PACKET_SEQUENCE_HEADER,
    AVC_PACKET_NALU,
    AVC_PACKET_SEQUENCE_HEADER,
    FlvTag,
    FrameType,
    SoundFormat,
    TagType,
    VideoCodec,
)

__all__ = [
    "AAC_AUDIO_BYTE",
    "AacRawPublisher",
    "AccessUnitSplitter",
    "AdtsHeader",
    "AdtsSplitter",
    "H264RawPublisher",
    "avc_decoder_configuration_record",
    "avc_sequence_header",
    "avc_video_payload",
    "parse_adts_header",
]

#: The FLV audio byte for AAC: format 10, rate 3 (44 kHz), 16 bit, stereo.
AAC_AUDIO_BYTE: Final = SoundFormat.AAC << 4 | 3 << 2 | 1 << 1 | 1
#: The longest NALU or ADTS frame the splitters hold.
MAX_UNIT_SIZE: Final = 8 * 1024 * 1024
#: Samples per AAC frame.
AAC_FRAME_SAMPLES: Final = 1024

_START_CODE: Final = b"\x00\x00\x01"
_SLICES: Final = (NALU_TYPE_NON_IDR, NALU_TYPE_IDR)
# NALU types that start a new access unit once the current one has a slice
# (H.264 7.4.1.2.3): SEI, SPS, PPS, AUD, and 14..18.
_AU_STARTERS: Final = frozenset((6, 7, 8, 9, 14, 15, 16, 17, 18))


# -- H.264 ---------------------------------------------------------------------


def avc_decoder_configuration_record(sps: bytes, pps: bytes) -> bytes:
    """
    An AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1) with one SPS, one
    PPS and 4-byte NALU lengths, as SRS builds it for raw H.264.

    :raises AvcError: the SPS is shorter than its NAL header and the profile,
        constraint and level bytes, or a parameter set is over 64 KiB.
    """
    if len(sps) < 4:
        raise AvcError(f"SPS of {len(sps)} bytes is too short")
    if len(sps) > 0xFFFF or len(pps) > 0xFFFF or not pps:
        raise AvcError(f"cannot put an SPS of {len(sps)} and a PPS of {len(pps)} bytes in a record")
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def avc_sequence_header(sps: bytes, pps: bytes) -> bytes:
    """
    The video payload of an H.264 sequence header: ``17 00 000000`` and the
    record.
    """
    prefix = bytes((FrameType.KEYFRAME << 4 | VideoCodec.AVC, AVC_PACKET_SEQUENCE_HEADER, 0, 0, 0))
    return prefix + avc_decoder_configuration_record(sps, pps)


def avc_video_payload(nalus: list[bytes], keyframe: bool, composition_time: int = 0) -> bytes:
    """
    The video payload of H.264 NALUs: frame type, AVCPacketType 1, the
    composition time (signed 24 bits, milliseconds), then the NALUs with
    4-byte lengths.

    :raises AvcError: the composition time does not fit 24 bits.
    """
    if not -0x800000 <= composition_time <= 0x7FFFFF:
        raise AvcError(f"composition time {composition_time} ms does not fit 24 bits")
    frame_type = FrameType.KEYFRAME if keyframe else FrameType.INTER_FRAME
    prefix = bytes((frame_type << 4 | VideoCodec.AVC, AVC_PACKET_NALU))
    return prefix + composition_time.to_bytes(3, "big", signed=True) + encode_avcc(nalus)


class H264RawPublisher:
    """
    Annex-B H.264 to FLV video tags; see the module docstring.

    :ivar sps: the latest SPS seen, or ``None``.
    :ivar pps: the latest PPS seen, or ``None``.
    :ivar sequence_headers: sequence headers produced.
    :ivar frames: frames produced.
    :ivar dropped_frames: frames dropped for want of an SPS and PPS (#203).
    :ivar duplicate_sps: SPS NALUs equal to the current one (#204).
    :ivar duplicate_pps: PPS NALUs equal to the current one (#204).
    :ivar ignored_nalus: NALUs that are neither parameter sets nor slices.
    """

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self._sent: tuple[bytes, bytes] | None = None
        self.sequence_headers = 0
        self.frames = 0
        self.dropped_frames = 0
        self.duplicate_sps = 0
        self.duplicate_pps = 0
        self.ignored_nalus = 0

    def write_frame(self, annexb: bytes, dts: int, pts: int | None = None) -> list[FlvTag]:
        """
        Take one frame (or any run of NALUs) with start codes.

        :param dts: milliseconds.
        :param pts: milliseconds; ``None`` means ``dts``.
        :return: the tags to send, in order: possibly a sequence header,
            then possibly the frame.
        :raises AvcError: ``annexb`` does not start with a start code, or an
            SPS is malformed.
        """
        return self.write_nalus(split_annexb(annexb), dts, pts)

    def write_nalus(self, nalus: list[bytes], dts: int, pts: int | None = None) -> list[FlvTag]:
        """
        As :meth:`write_frame`, for NALUs already split (without start codes).
        """
        slices: list[bytes] = []
        keyframe = False
        for nalu in nalus:
            kind = nalu_type(nalu)
            if kind == NALU_TYPE_SPS:
                if nalu == self.sps:
                    self.duplicate_sps += 1
                self.sps = nalu
            elif kind == NALU_TYPE_PPS:
                if nalu == self.pps:
                    self.duplicate_pps += 1
                self.pps = nalu
            elif kind in _SLICES:
                slices.append(nalu)
                keyframe = keyframe or kind == NALU_TYPE_IDR
            else:
                self.ignored_nalus += 1
        if not slices:
            return []
        if self.sps is None or self.pps is None:
            self.dropped_frames += 1
            return []
        tags: list[FlvTag] = []
        if self._sent != (self.sps, self.pps):
            payload = avc_sequence_header(self.sps, self.pps)
            self._sent = (self.sps, self.pps)
            self.sequence_headers += 1
            tags.append(FlvTag(TagType.VIDEO, dts, payload))
        cts = 0 if pts is None else pts - dts
        tags.append(FlvTag(TagType.VIDEO, dts, avc_video_payload(slices, keyframe, cts)))
        self.frames += 1
        return tags


class AccessUnitSplitter:
    """
    Cut an Annex-B byte stream into access units (lists of NALUs without
    start codes), incrementally: feed bytes with :meth:`receive_data`, and call
    :meth:`flush` at the end of the stream.

    A new access unit starts, once the current one holds a slice, at an
    AUD, SPS, PPS, SEI (or NALU types 14..18), or at a slice whose
    first_mb_in_slice is 0 (H.264 7.4.1.2.3, without the finer checks for
    redundant pictures).  Zero bytes before a start code belong to it.
    """

    def __init__(self, max_nalu_size: int = MAX_UNIT_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_nalu_size
        # Where the current NALU starts, None before the first start code.
        self._start: int | None = None
        self._scan = 0
        self._unit: list[bytes] = []
        self._has_slice = False

    def receive_data(self, data: bytes) -> list[list[bytes]]:
        """
        :return: the access units these bytes complete.
        :raises AvcError: the stream does not start with a start code, or a
            NALU is longer than the limit.
        """
        buffer = self._buffer
        buffer += data
        out: list[list[bytes]] = []
        while True:
            at = buffer.find(_START_CODE, self._scan)
            if at < 0:
                break
            if self._start is None:
                if buffer[:at].strip(b"\x00"):
                    raise AvcError("H.264 stream does not start with an Annex-B start code")
            else:
                self._add(bytes(buffer[self._start : at]).rstrip(b"\x00"), out)
            self._start = self._scan = at + 3
        start = self._start
        if start is None:
            if buffer.strip(b"\x00"):
                raise AvcError("H.264 stream does not start with an Annex-B start code")
            keep = min(len(buffer), 2)
            del buffer[: len(buffer) - keep]
            self._scan = 0
            return out
        del buffer[:start]
        self._start = 0
        # A start code may straddle this read and the next one.
        self._scan = max(0, len(buffer) - 2)
        if len(buffer) > self._max:
            raise AvcError(f"H.264 NALU longer than {self._max} bytes")
        return out

    def flush(self) -> list[list[bytes]]:
        """
        End of stream.

        :return: the last access unit(s).
        """
        out: list[list[bytes]] = []
        if self._start is not None:
            self._add(bytes(self._buffer[self._start :]).rstrip(b"\x00"), out)
        self._buffer.clear()
        self._start = None
        self._scan = 0
        if self._unit:
            out.append(self._unit)
        self._unit = []
        self._has_slice = False
        return out

    def _add(self, nalu: bytes, out: list[list[bytes]]) -> None:
        if not nalu:
            return
        kind = nalu[0] & 0x1F
        if self._has_slice:
            first_slice = kind in _SLICES and len(nalu) > 1 and nalu[1] & 0x80
            if kind in _AU_STARTERS or first_slice:
                out.append(self._unit)
                self._unit = []
                self._has_slice = False
        self._unit.append(nalu)
        if kind in _SLICES:
            self._has_slice = True


# -- AAC -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdtsHeader:
    """
    The fields of an ADTS header that matter for RTMP.

    :ivar profile: the 2-bit ADTS profile (object type - 1).
    :ivar sample_rate_index: samplingFrequencyIndex, 0..12.
    :ivar channels: channelConfiguration, 0..7.
    :ivar frame_length: the whole frame, header included.
    :ivar header_length: 7, or 9 with a CRC.
    """

    profile: int
    sample_rate_index: int
    channels: int
    frame_length: int
    header_length: int

    @property
    def object_type(self) -> int:
        """The MPEG-4 audioObjectType: the ADTS profile plus one (#266)."""
        return self.profile + 1

    @property
    def sample_rate(self) -> int:
        """Hz."""
        return SAMPLE_RATES[self.sample_rate_index]

    def audio_specific_config(self) -> bytes:
        """
        The 2-byte AudioSpecificConfig: object type (5 bits), sampling
        index (4), channel configuration (4), three zero bits.
        """
        value = self.object_type << 11 | self.sample_rate_index << 7 | self.channels << 3
        return value.to_bytes(2, "big")


def parse_adts_header(data: bytes | bytearray, offset: int = 0) -> AdtsHeader:
    """
    Parse the ADTS header at ``offset``.

    :raises AacError: fewer than 7 bytes, no syncword, a reserved sampling
        index, or a frame length shorter than its header.
    """
    if len(data) - offset < 7:
        raise AacError(f"ADTS header needs 7 bytes, {len(data) - offset} at offset {offset}")
    b = data[offset : offset + 7]
    if b[0] != 0xFF or b[1] & 0xF6 != 0xF0:
        raise AacError(f"no ADTS syncword at offset {offset}: {bytes(b[:2]).hex()}")
    header_length = 7 if b[1] & 0x01 else 9
    profile = b[2] >> 6
    index = (b[2] >> 2) & 0x0F
    if index >= len(SAMPLE_RATES):
        raise AacError(f"ADTS sampling index {index} is reserved (offset {offset})")
    channels = (b[2] & 0x01) << 2 | b[3] >> 6
    frame_length = (b[3] & 0x03) << 11 | b[4] << 3 | b[5] >> 5
    if frame_length < header_length:
        raise AacError(f"ADTS frame length {frame_length} is shorter than its header")
    return AdtsHeader(profile, index, channels, frame_length, header_length)


class AdtsSplitter:
    """
    Cut an ADTS byte stream into whole frames (header included),
    incrementally.  It holds at most one incomplete frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0

    def receive_data(self, data: bytes) -> list[bytes]:
        """
        :return: the frames these bytes complete.
        :raises AacError: bytes that are not ADTS.
        """
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        at = 0
        while len(buffer) - at >= 7:
            header = parse_adts_header(buffer, at)
            if len(buffer) - at < header.frame_length:
                break
            frames.append(bytes(buffer[at : at + header.frame_length]))
            at += header.frame_length
        del buffer[:at]
        self._offset += at
        return frames

    def flush(self) -> None:
        """
        End of stream.

        :raises AacError: the stream ended inside a frame.
        """
        if self._buffer:
            held = len(self._buffer)
            self._buffer.clear()
            raise AacError(f"ADTS stream ends inside a frame at byte {self._offset}: {held} bytes")


class AacRawPublisher:
    """
    ADTS AAC to FLV audio tags; see the module docstring.

    :ivar config: the AudioSpecificConfig last sent, or ``None``.
    :ivar sequence_headers: sequence headers produced.
    :ivar frames: frames produced.
    """

    def __init__(self) -> None:
        self.config: bytes | None = None
        self.sample_rate: int | None = None
        self.sequence_headers = 0
        self.frames = 0

    @property
    def frame_duration(self) -> float | None:
        """Milliseconds per frame (1024 samples), once a header was seen."""
        if self.sample_rate is None:
            return None
        return AAC_FRAME_SAMPLES * 1000.0 / self.sample_rate

    def write_frame(self, adts: bytes, timestamp: int) -> list[FlvTag]:
        """
        Take one or more whole ADTS frames.  Each frame after the first is
        stamped one frame duration later than the one before.

        :param timestamp: milliseconds, for the first frame.
        :return: the tags to send: possibly a sequence header, then one tag
            per frame.
        :raises AacError: not ADTS, or a frame cut short.
        """
        tags: list[FlvTag] = []
        at = 0
        index = 0
        while at < len(adts):
            header = parse_adts_header(adts, at)
            end = at + header.frame_length
            if end > len(adts):
                raise AacError(
                    f"ADTS frame of {header.frame_length} bytes at offset {at}, "
                    f"only {len(adts) - at} given"
                )
            config = header.audio_specific_config()
            stamp = timestamp + round(index * AAC_FRAME_SAMPLES * 1000 / header.sample_rate)
            if config != self.config:
                self.config = config
                self.sample_rate = header.sample_rate
                self.sequence_headers += 1
                prefix = bytes((AAC_AUDIO_BYTE, AAC_PACKET_SEQUENCE_HEADER))
                tags.append(FlvTag(TagType.AUDIO, stamp, prefix + config))
            raw = adts[at + header.header_length : end]
            tags.append(FlvTag(TagType.AUDIO, stamp, bytes((AAC_AUDIO_BYTE, AAC_PACKET_RAW)) + raw))
            self.frames += 1
            at = end
            index += 1
        return tags
