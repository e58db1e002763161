# -*- test-case-name: tests.test_codec_aac -*-
"""
AAC as RTMP carries it, sans-IO: the sequence header (AudioSpecificConfig)
and the 7-byte ADTS header that HLS, HTTP-TS and HTTP-AAC put before each
raw frame.

`parse_aac_sequence_header` is what the source runs on every AAC sequence
header a publisher sends (SRS's ``SrsSource::on_audio``); `AacError` from it disconnects
the publisher.  SRS 2.0 (``srs_kernel_codec.cpp``) decodes only the first two bytes
of the AudioSpecificConfig; this module also follows the two escapes of
ISO 14496-3 1.6.2.1 that those bytes can announce, so the result is right
where SRS's is not:

* audioObjectType 31 is followed by 6 more bits (object type 32 + n);
* samplingFrequencyIndex 15 is followed by the rate itself in 24 bits.

It refuses what SRS lets through into broken ADTS headers: the reserved
sampling indexes 13 and 14.  Object type 0 is an error, as in SRS.  The
backward-compatible SBR/PS signalling that may follow (``2b7`` sync
extension) is ignored, as in SRS: the object type and rate are those of the
core AAC stream.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from srstwist.codec.flv import is_aac_sequence_header

__all__ = [
    "ADTS_HEADER_SIZE",
    "MAX_ADTS_RAW_LENGTH",
    "SAMPLE_RATES",
    "AacConfig",
    "AacError",
    "adts_header",
    "adts_profile",
    "parse_aac_sequence_header",
    "parse_audio_specific_config",
]

#: samplingFrequencyIndex to Hz; 13 and 14 are reserved, 15 means "explicit".
SAMPLE_RATES: Final = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip

ADTS_HEADER_SIZE: Final = 7
#: The longest raw frame an ADTS header can frame: frame_length is 13 bits
#: and counts the header.
MAX_ADTS_RAW_LENGTH: Final = 0x1FFF - ADTS_HEADER_SIZE

_EXPLICIT_RATE: Final = 15
_ESCAPE_OBJECT_TYPE: Final = 31


class AacError(ValueError):
    """
    A malformed AAC sequence header, or an ADTS header that cannot be built.
    """


@dataclass(frozen=True)
class AacConfig:
    """
    A parsed AudioSpecificConfig.

    :ivar object_type: audioObjectType: 1 Main, 2 LC, 3 SSR, 5 HE-AAC
        (SBR), 29 HE-AACv2 (PS) ...
    :ivar sample_rate_index: samplingFrequencyIndex, 0..12, or 15 when the
        rate is given explicitly.
    :ivar sample_rate: Hz.
    :ivar channels: channelConfiguration: 0 (defined in the stream), 1 mono,
        2 stereo, ... 7 for 7.1 (eight channels).
    :ivar asc: the AudioSpecificConfig bytes, everything after the FLV
        ``AF 00`` prefix.
    """

    object_type: int
    sample_rate_index: int
    sample_rate: int
    channels: int
    asc: bytes = field(repr=False, default=b"")

    @property
    def adts_profile(self) -> int:
        """
        The ADTS ``profile`` field SRS writes for this object type; see
        `adts_profile`.
        """
        return adts_profile(self.object_type)


def adts_profile(object_type: int) -> int:
    """
    The 2-bit ADTS profile for an audioObjectType, as SRS maps it
    (``srs_codec_aac_rtmp2ts``, #266, #310): Main 0, LC 1, SSR 2, HE-AAC and
    HE-AACv2 folded to LC (1), anything else 3.
    """
    if object_type in (1, 2, 3):
        return object_type - 1
    if object_type in (5, 29):
        return 1
    return 3


def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """
    Parse an AudioSpecificConfig up to its channelConfiguration.

    :raises AacError: fewer bytes than the fields need, object type 0, or a
        reserved sampling index.
    """
    # At most 5 + 6 + 4 + 24 + 4 = 43 bits are read: the first six bytes.
    head = asc[:6]
    bits = int.from_bytes(head, "big")
    available = 8 * len(head)
    position = 0

    def read(n: int) -> int:
        nonlocal position
        if position + n > available:
            raise AacError(f"AudioSpecificConfig of {len(asc)} bytes is too short")
        position += n
        return (bits >> (available - position)) & ((1 << n) - 1)

    object_type = read(5)
    if object_type == _ESCAPE_OBJECT_TYPE:
        object_type = 32 + read(6)
    if object_type == 0:
        raise AacError("AAC audioObjectType 0 is invalid")
    index = read(4)
    if index == _EXPLICIT_RATE:
        sample_rate = read(24)
        if sample_rate == 0:
            raise AacError("AAC explicit sampling frequency is 0")
    elif index < len(SAMPLE_RATES):
        sample_rate = SAMPLE_RATES[index]
    else:
        raise AacError(f"AAC samplingFrequencyIndex {index} is reserved")
    channels = read(4)
    return AacConfig(object_type, index, sample_rate, channels, bytes(asc))


def parse_aac_sequence_header(payload: bytes) -> AacConfig:
    """
    Parse an AAC sequence header message.

    :param payload: the whole audio payload, from its ``AF 00`` prefix on
        (any SoundRate/SoundSize/SoundType bits).
    :raises AacError: not an AAC sequence header, or a malformed
        AudioSpecificConfig.
    """
    if not is_aac_sequence_header(payload):
        raise AacError("not an AAC sequence header (expected SoundFormat 10, AACPacketType 0)")
    return parse_audio_specific_config(payload[2:])


def adts_header(config: AacConfig, raw_length: int, *, http_aac: bool = False) -> bytes:
    """
    The 7-byte ADTS header (no CRC) for one raw AAC frame, as SRS writes it
    (ISO/IEC 14496-3 1.A.2; SRS's ``srs_kernel_ts.cpp`` and ``srs_kernel_aac.cpp``).

    SRS has two variants.  The TS one (HLS, HTTP-TS; the default) has ID 1
    (MPEG-2) and buffer fullness 0x7FF.  The HTTP ``.aac`` one
    (``http_aac=True``) has ID 0 (MPEG-4) and buffer fullness 0x03F, a quirk
    kept for byte compatibility.

    :param config: the stream's sequence header.
    :param raw_length: bytes of raw AAC data that follow the header (the
        audio payload without its 2-byte FLV prefix).
    :raises AacError: an explicit sampling rate (ADTS cannot signal one),
        more than 7 channels, or a frame too long for the 13-bit
        frame_length.
    """
    if config.sample_rate_index >= len(SAMPLE_RATES):
        raise AacError(f"ADTS cannot signal sampling index {config.sample_rate_index}")
    if not 0 <= config.channels <= 7:
        raise AacError(f"ADTS cannot signal channel configuration {config.channels}")
    if not 0 <= raw_length <= MAX_ADTS_RAW_LENGTH:
        raise AacError(f"raw AAC frame of {raw_length} bytes is too long for ADTS")
    frame_length = raw_length + ADTS_HEADER_SIZE
    channels = config.channels
    return bytes(
        (
            0xFF,
            0xF1 if http_aac else 0xF9,
            config.adts_profile << 6 | config.sample_rate_index << 2 | (channels >> 2) & 1,
            (channels & 3) << 6 | (frame_length >> 11) & 3,
            (frame_length >> 3) & 0xFF,
            (frame_length & 7) << 5 | (0 if http_aac else 0x1F),
            0xFC,
        )
    )
