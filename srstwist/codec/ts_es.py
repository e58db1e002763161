# -*- test-case-name: tests.test_codec_ts -*-
"""
FLV payloads turned into the elementary streams MPEG-TS carries, sans-IO.

RTMP carries H.264 as length-prefixed NALUs (or, from some encoders, Annex
B, SRS #184) with the parameter sets only in the sequence header, and AAC
as raw frames with the AudioSpecificConfig only in the sequence header.  A
TS player needs each keyframe to be decodable by itself and each AAC frame
to be framed, so (SRS's ``SrsTsCache`` in ``srs_kernel_ts.cpp``):

* `AvcEsBuilder` makes an Annex-B access unit: an AUD first unless the
  frame has one (#281), the SPS and PPS before the first IDR NALU unless
  the frame carries them, a 4-byte start code before the first NALU and
  3-byte ones after;
* `aac_es` puts the 7-byte ADTS header (MPEG-2 ID, as SRS's TS muxer) in
  front of a raw frame;
* `mp3_es` strips the FLV audio byte: MP3 frames are self-framed.

Unlike SRS, a video packet that yields no NALU (before any sequence header,
or an end-of-sequence packet) gives no access unit at all instead of a
lone AUD.  Errors raise `srstwist.codec.ts.TsError`.  This module imports
nothing from Twisted.
"""

from __future__ import annotations

from typing import Final

from srstwist.codec.aac import AacConfig, AacError, adts_header, parse_aac_sequence_header
from srstwist.codec.avc import (
    NALU_TYPE_AUD,
    NALU_TYPE_IDR,
    NALU_TYPE_PPS,
    NALU_TYPE_SPS,
    AvcConfig,
    AvcError,
    is_annexb,
    parse_avc_sequence_header,
    split_annexb,
    split_nalus,
)
from srstwist.codec.ts import STREAM_TYPE_AAC, STREAM_TYPE_MP3, TsError

__all__ = [
    "AvcEsBuilder",
    "FlvToEs",
    "aac_es",
    "composition_time",
    "mp3_es",
]

_START4: Final = b"\x00\x00\x00\x01"
_START3: Final = b"\x00\x00\x01"
#: An access unit delimiter NALU, primary_pic_type 7 (any slice type).
_AUD: Final = b"\x09\xf0"
_AVC_PREFIX: Final = 5  # FrameType/CodecID, AVCPacketType, CompositionTime
_AVC_NALU_PACKET: Final = 1


def composition_time(payload: bytes) -> int:
    """
    The signed 24-bit CompositionTime (ms) of an AVC video payload.

    :raises TsError: the payload is shorter than its 5-byte prefix.
    """
    if len(payload) < _AVC_PREFIX:
        raise TsError(f"AVC video payload of {len(payload)} bytes has no composition time")
    return int.from_bytes(payload[2:5], "big", signed=True)


class AvcEsBuilder:
    """
    Builds TS access units from one stream's AVC video payloads.

    Whether NALU packets are length-prefixed or Annex B is guessed from the
    first one and kept; an Annex-B guess switches to length-prefixed for
    good at the first packet that does not start with a start code, never
    back (``SrsAvcAacCodec::video_avc_demux``).
    """

    __slots__ = ("_annexb", "_config", "_parameter_sets")

    def __init__(self) -> None:
        self._config: AvcConfig | None = None
        self._annexb: bool | None = None
        self._parameter_sets: tuple[bytes, ...] = ()

    @property
    def config(self) -> AvcConfig | None:
        """
        The last sequence header given to `set_config`.
        """
        return self._config

    def set_config(self, config: AvcConfig) -> None:
        """
        Use this sequence header from now on (its SPS and PPS are the ones
        inserted before IDR frames, its length size splits NALUs).
        """
        self._config = config
        self._parameter_sets = tuple(ps for ps in (*config.sps, *config.pps) if ps)

    def reset(self) -> None:
        """
        Forget the sequence header and the format guess (a new publisher).
        """
        self._config = None
        self._annexb = None
        self._parameter_sets = ()

    def _nalus(self, data: bytes) -> list[bytes]:
        config = self._config
        assert config is not None
        if self._annexb is None:
            self._annexb = is_annexb(data)
        if self._annexb:
            if is_annexb(data):
                return split_annexb(data)
            self._annexb = False
        return split_nalus(data, config.nal_unit_length)

    def access_unit(self, payload: bytes) -> bytes | None:
        """
        The Annex-B access unit for an AVC NALU packet.

        :param payload: the whole FLV video payload, prefix included.
        :return: the bytes, or ``None`` when there is nothing to write: no
            sequence header yet, not a NALU packet, or no NALU in it.
        :raises TsError: the NALUs cannot be split (a length running past
            the end, too many NALUs).
        """
        if self._config is None or len(payload) <= _AVC_PREFIX:
            return None
        if payload[1] != _AVC_NALU_PACKET:
            return None
        try:
            nalus = self._nalus(payload[_AVC_PREFIX:])
        except AvcError as error:
            raise TsError(str(error)) from error
        if not nalus:
            return None
        types = [nalu[0] & 0x1F for nalu in nalus]
        out: list[bytes] = []
        if NALU_TYPE_AUD not in types:
            out += (_START4, _AUD)
        insert = NALU_TYPE_SPS not in types and NALU_TYPE_PPS not in types
        for nalu, kind in zip(nalus, types, strict=True):
            if kind == NALU_TYPE_IDR and insert:
                insert = False
                for parameter_set in self._parameter_sets:
                    out += (_START4 if not out else _START3, parameter_set)
            out += (_START4 if not out else _START3, nalu)
        return b"".join(out)


def aac_es(config: AacConfig | None, payload: bytes) -> bytes:
    """
    An ADTS frame for a raw AAC payload.

    :param config: the stream's AudioSpecificConfig.
    :param payload: the whole FLV audio payload (``AF 01`` + raw frame).
    :raises TsError: no sequence header yet, or a frame ADTS cannot frame.
    """
    if config is None:
        raise TsError("raw AAC frame before the AAC sequence header")
    raw = payload[2:]
    try:
        return adts_header(config, len(raw)) + raw
    except AacError as error:
        raise TsError(str(error)) from error


def mp3_es(payload: bytes) -> bytes:
    """
    The MPEG audio frames of an FLV MP3 payload (its first byte stripped).
    """
    return payload[1:]


_CODEC_AVC: Final = 7
_SOUND_MP3: Final = 2
_SOUND_AAC: Final = 10


class FlvToEs:
    """
    One stream's FLV video and audio payloads as the frames TS carries,
    keeping the sequence headers they need: what HLS segments and HTTP-TS
    players both mux.

    :ivar parse_sps: parse the SPS of AVC sequence headers (the vhost's
        ``publish { parse_sps }``).
    """

    __slots__ = ("_aac", "_avc", "parse_sps")

    def __init__(self, parse_sps: bool = True) -> None:
        self._avc = AvcEsBuilder()
        self._aac: AacConfig | None = None
        self.parse_sps = parse_sps

    def reset(self) -> None:
        """
        Forget both sequence headers (a new publisher).
        """
        self._avc.reset()
        self._aac = None

    def video(self, payload: bytes) -> tuple[bytes, int] | None:
        """
        The Annex-B access unit of an AVC payload and its composition time
        (ms); ``None`` for a sequence header (kept for the frames that
        follow) or a packet with no picture.

        :raises TsError: not AVC, or NALUs that cannot be split.
        :raises srstwist.codec.avc.AvcError: a sequence header that does
            not parse.
        """
        if len(payload) < 2 or payload[0] & 0x0F != _CODEC_AVC:
            codec = payload[0] & 0x0F if payload else None
            raise TsError(f"TS carries H.264 video only, not FLV codec id {codec}")
        if payload[1] == 0:
            self._avc.set_config(parse_avc_sequence_header(payload, self.parse_sps))
            return None
        es = self._avc.access_unit(payload)
        if es is None:
            return None
        return es, composition_time(payload)

    def audio(self, payload: bytes) -> tuple[int, bytes] | None:
        """
        The stream type and ES frame of an AAC or MP3 payload; ``None`` for
        an AAC sequence header (kept for the frames that follow) or a
        payload without audio data.

        :raises TsError: another sound format, or raw AAC before its
            sequence header.
        :raises srstwist.codec.aac.AacError: a sequence header that does
            not parse.
        """
        sound_format = payload[0] >> 4 if payload else None
        if sound_format == _SOUND_AAC:
            if len(payload) < 2:
                return None
            if payload[1] == 0:
                self._aac = parse_aac_sequence_header(payload)
                return None
            es, stream_type = aac_es(self._aac, payload), STREAM_TYPE_AAC
        elif sound_format == _SOUND_MP3:
            es, stream_type = mp3_es(payload), STREAM_TYPE_MP3
        else:
            raise TsError(f"TS carries AAC or MP3 audio only, not FLV sound format {sound_format}")
        return (stream_type, es) if es else None
