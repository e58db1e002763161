# -*- test-case-name: tests.test_codec_avc -*-
"""
H.264 (AVC) as RTMP carries it, sans-IO: the sequence header
(AVCDecoderConfigurationRecord), the sequence parameter set, and NALU
framing (length-prefixed "AVCC" and start-code "Annex B").

`parse_avc_sequence_header` is what the source runs on every video sequence
header a publisher sends (SRS's ``SrsSource::on_video``); `AvcError` from it disconnects
the publisher.  It follows SRS 2.0's ``SrsAvcAacCodec::avc_demux_sps_pps``
(``srs_kernel_codec.cpp``) with these differences, each towards the H.264 and
ISO 14496-15 specifications:

* one or more SPS and PPS are accepted (SRS demands exactly one of each, so
  it disconnects an encoder that sends two); none is still an error;
* the SPS is parsed to the end of the cropping fields, skipping scaling
  lists properly, so ``width``/``height`` are the displayed size: 640x360
  and 1920x1080, where SRS reports 640x368 and 1920x1088 (it ignores
  ``frame_mbs_only_flag`` and cropping, and mis-parses SPS with scaling
  lists).  SRS only logs these and shows them in the HTTP API.

Checks kept from SRS: at least 6 record bytes; lengthSizeMinusOne 2 (3-byte
lengths) is an error; with SPS parsing on, the SPS NAL header must have
forbidden_zero_bit 0, nal_ref_idc non-zero and type 7, and profile_idc,
level_idc non-zero with the two reserved constraint bits zero.

`split_nalus` and `split_annexb` cut a NALU packet (AVCPacketType 1) into
NALUs as SRS's HLS/HTTP-TS muxers do (``SrsAvcAacCodec::avc_demux_ibmf_format``), at most
`MAX_NALUS` per packet; `annexb_from_avcc` and `encode_avcc` convert.

All lengths read from the input are checked against the bytes present before
anything is sliced; exp-Golomb codes longer than 32 bits are refused.

This module imports nothing from Twisted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from srstwist.codec.flv import is_avc_sequence_header

__all__ = [
    "MAX_NALUS",
    "NALU_TYPE_AUD",
    "NALU_TYPE_IDR",
    "NALU_TYPE_NON_IDR",
    "NALU_TYPE_PPS",
    "NALU_TYPE_SEI",
    "NALU_TYPE_SPS",
    "AvcConfig",
    "AvcError",
    "Sps",
    "annexb_from_avcc",
    "encode_avcc",
    "is_annexb",
    "nalu_type",
    "parse_avc_sequence_header",
    "parse_sps",
    "split_annexb",
    "split_nalus",
]

NALU_TYPE_NON_IDR: Final = 1
NALU_TYPE_IDR: Final = 5
NALU_TYPE_SEI: Final = 6
NALU_TYPE_SPS: Final = 7
NALU_TYPE_PPS: Final = 8
NALU_TYPE_AUD: Final = 9

#: The most NALUs one video packet may hold; more is a decode error
#: (SRS ``SRS_SRS_MAX_CODEC_SAMPLE``, ``srs_kernel_codec.hpp``).
MAX_NALUS: Final = 128

# Profiles whose SPS carries chroma_format_idc, bit depths and scaling
# matrices (H.264 7.3.2.1.1).
_HIGH_PROFILES: Final = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))
# A 32-bit exp-Golomb code has at most 31 leading zeros.
_MAX_LEADING_ZEROS: Final = 31
_START_CODE: Final = b"\x00\x00\x01"
_START_CODE4: Final = b"\x00\x00\x00\x01"
_EMULATION: Final = b"\x00\x00\x03"
_LEADING_ZEROS: Final = re.compile(rb"\x00*")


class AvcError(ValueError):
    """
    A malformed or unsupported AVC sequence header, SPS or NALU packet.
    """


def nalu_type(nalu: bytes) -> int:
    """
    The nal_unit_type (low 5 bits of the first byte) of a NALU.

    :raises AvcError: ``nalu`` is empty.
    """
    if not nalu:
        raise AvcError("empty NALU has no type")
    return nalu[0] & 0x1F


# SPS ------------------------------------------------------------------------


class _BitReader:
    """
    Reads bits and exp-Golomb codes from an RBSP, most significant bit first.
    """

    __slots__ = ("_data", "_pos", "_size")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._size = len(data) * 8

    def bit(self) -> int:
        if self._pos >= self._size:
            raise AvcError("SPS ends too early")
        pos = self._pos
        self._pos = pos + 1
        return (self._data[pos >> 3] >> (7 - (pos & 7))) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = value << 1 | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > _MAX_LEADING_ZEROS:
                raise AvcError("SPS exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) >> 1 if code & 1 else -(code >> 1)


@dataclass(frozen=True)
class Sps:
    """
    The fields of a sequence parameter set (H.264 7.3.2.1.1) up to the
    cropping window; VUI is not read.

    :ivar profile_idc: 66 Baseline, 77 Main, 100 High, 244 High 4:4:4 ...
    :ivar constraint_flags: the byte after profile_idc (constraint_set0..5).
    :ivar level_idc: level times ten (30 for 3.0); 9 for 1b in some profiles.
    :ivar seq_parameter_set_id: 0..31.
    :ivar chroma_format_idc: 0 monochrome, 1 4:2:0 (implied below High),
        2 4:2:2, 3 4:4:4.
    :ivar separate_colour_plane: 4:4:4 coded as three planes.
    :ivar bit_depth_luma: bits per luma sample.
    :ivar bit_depth_chroma: bits per chroma sample.
    :ivar log2_max_frame_num: log2_max_frame_num_minus4 + 4.
    :ivar pic_order_cnt_type: 0, 1 or 2.
    :ivar max_num_ref_frames: reference frames the stream may use.
    :ivar pic_width_in_mbs: width in 16-pixel macroblocks.
    :ivar pic_height_in_map_units: height in map units (macroblocks for
        progressive frames, macroblock pairs otherwise).
    :ivar frame_mbs_only: ``False`` if fields may be coded.
    :ivar crop: frame_crop_left/right/top/bottom_offset, in crop units.
    :ivar width: displayed width in pixels, after cropping.
    :ivar height: displayed height in pixels, after cropping.
    """

    profile_idc: int
    constraint_flags: int
    level_idc: int
    seq_parameter_set_id: int
    chroma_format_idc: int
    separate_colour_plane: bool
    bit_depth_luma: int
    bit_depth_chroma: int
    log2_max_frame_num: int
    pic_order_cnt_type: int
    max_num_ref_frames: int
    pic_width_in_mbs: int
    pic_height_in_map_units: int
    frame_mbs_only: bool
    crop: tuple[int, int, int, int]
    width: int
    height: int


def _skip_scaling_list(reader: _BitReader, size: int) -> None:
    # H.264 7.3.2.1.1.1: delta-coded until a delta makes the next scale 0.
    last = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last + reader.se() + 256) % 256
        last = next_scale or last


def parse_sps(nalu: bytes) -> Sps:
    """
    Parse a sequence parameter set NALU (with its one-byte NAL header, and
    emulation-prevention bytes still in).

    :raises AvcError: the NAL header is not an SPS, a field is out of range,
        or the data ends before the cropping fields.
    """
    if not nalu:
        raise AvcError("empty SPS")
    header = nalu[0]
    if header & 0x80:
        raise AvcError("SPS forbidden_zero_bit is set")
    if not header & 0x60:
        raise AvcError("SPS nal_ref_idc is 0")
    if header & 0x1F != NALU_TYPE_SPS:
        raise AvcError(f"NALU type {header & 0x1F} where an SPS (7) was expected")
    rbsp = nalu[1:].replace(_EMULATION, b"\x00\x00")
    if len(rbsp) < 3:
        raise AvcError(f"SPS of {len(nalu)} bytes is too short")
    profile_idc, constraint_flags, level_idc = rbsp[0], rbsp[1], rbsp[2]
    if profile_idc == 0:
        raise AvcError("SPS profile_idc is 0")
    if constraint_flags & 0x03:
        raise AvcError(f"SPS reserved_zero_2bits set in 0x{constraint_flags:02x}")
    if level_idc == 0:
        raise AvcError("SPS level_idc is 0")
    reader = _BitReader(rbsp[3:])
    sps_id = reader.ue()
    if sps_id > 31:
        raise AvcError(f"SPS seq_parameter_set_id {sps_id} is over 31")
    chroma_format_idc = 1
    separate_colour_plane = False
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc > 3:
            raise AvcError(f"SPS chroma_format_idc {chroma_format_idc} is over 3")
        if chroma_format_idc == 3:
            separate_colour_plane = bool(reader.bit())
        bit_depth_luma = reader.ue() + 8
        bit_depth_chroma = reader.ue() + 8
        reader.bit()  # qpprime_y_zero_transform_bypass_flag
        if reader.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if reader.bit():
                    _skip_scaling_list(reader, 16 if i < 6 else 64)
    log2_max_frame_num = reader.ue() + 4
    pic_order_cnt_type = reader.ue()
    if pic_order_cnt_type == 0:
        reader.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        reader.bit()  # delta_pic_order_always_zero_flag
        reader.se()  # offset_for_non_ref_pic
        reader.se()  # offset_for_top_to_bottom_field
        cycle = reader.ue()
        if cycle > 255:
            raise AvcError(f"SPS num_ref_frames_in_pic_order_cnt_cycle {cycle} is over 255")
        for _ in range(cycle):
            reader.se()
    elif pic_order_cnt_type != 2:
        raise AvcError(f"SPS pic_order_cnt_type {pic_order_cnt_type} is over 2")
    max_num_ref_frames = reader.ue()
    reader.bit()  # gaps_in_frame_num_value_allowed_flag
    width_in_mbs = reader.ue() + 1
    height_in_map_units = reader.ue() + 1
    frame_mbs_only = bool(reader.bit())
    if not frame_mbs_only:
        reader.bit()  # mb_adaptive_frame_field_flag
    reader.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if reader.bit():  # frame_cropping_flag
        crop = (reader.ue(), reader.ue(), reader.ue(), reader.ue())
    # Crop units, H.264 7.4.2.1.1 (frame_crop_*_offset semantics).
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    if chroma_array_type == 0:
        unit_x, unit_y = 1, 1
    else:
        unit_x = 1 if chroma_array_type == 3 else 2
        unit_y = 2 if chroma_array_type == 1 else 1
    field_factor = 1 if frame_mbs_only else 2
    coded_width = width_in_mbs * 16
    coded_height = height_in_map_units * 16 * field_factor
    width = coded_width - unit_x * (crop[0] + crop[1])
    height = coded_height - unit_y * field_factor * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise AvcError(f"SPS cropping {crop} leaves no picture of {coded_width}x{coded_height}")
    return Sps(
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        seq_parameter_set_id=sps_id,
        chroma_format_idc=chroma_format_idc,
        separate_colour_plane=separate_colour_plane,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        log2_max_frame_num=log2_max_frame_num,
        pic_order_cnt_type=pic_order_cnt_type,
        max_num_ref_frames=max_num_ref_frames,
        pic_width_in_mbs=width_in_mbs,
        pic_height_in_map_units=height_in_map_units,
        frame_mbs_only=frame_mbs_only,
        crop=crop,
        width=width,
        height=height,
    )


# parse_avc_sequence_header's parameter of the same name shadows the function.
_parse_sps = parse_sps


# Sequence header ------------------------------------------------------------


@dataclass(frozen=True)
class AvcConfig:
    """
    A parsed AVC sequence header.

    :ivar profile_idc: AVCProfileIndication from the record.
    :ivar level_idc: AVCLevelIndication from the record.
    :ivar nal_unit_length: bytes in each NALU length prefix of the NALU
        packets that follow: 1, 2 or 4 (lengthSizeMinusOne + 1).
    :ivar sps: the sequence parameter set NALUs, in record order.
    :ivar pps: the picture parameter set NALUs, in record order.
    :ivar width: displayed width from the first SPS, or ``None`` when SPS
        parsing is off.
    :ivar height: displayed height, likewise.
    :ivar sps_info: the first SPS parsed, or ``None`` when parsing is off.
    :ivar record: the whole AVCDecoderConfigurationRecord (the payload after
        its 5-byte FLV prefix), SRS's ``avc_extra_data``.
    """

    profile_idc: int
    level_idc: int
    nal_unit_length: int
    sps: tuple[bytes, ...] = field(repr=False)
    pps: tuple[bytes, ...] = field(repr=False)
    width: int | None
    height: int | None
    sps_info: Sps | None = field(repr=False)
    record: bytes = field(repr=False)


def _read_parameter_sets(
    record: bytes, offset: int, count: int, what: str
) -> tuple[tuple[bytes, ...], int]:
    sets: list[bytes] = []
    for _ in range(count):
        if offset + 2 > len(record):
            raise AvcError(f"AVC sequence header ends inside a {what} length")
        length = int.from_bytes(record[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(record):
            raise AvcError(
                f"AVC sequence header {what} of {length} bytes, only {len(record) - offset} remain"
            )
        sets.append(record[offset : offset + length])
        offset += length
    return tuple(sets), offset


def parse_avc_sequence_header(payload: bytes, parse_sps: bool = True) -> AvcConfig:
    """
    Parse an H.264 sequence header message.

    :param payload: the whole video payload, from its ``17 00`` prefix on.
    :param parse_sps: parse the first SPS for the picture size and check
        it; ``False`` mirrors ``publish { parse_sps off; }`` (SRS #474),
        which checks only the record.
    :raises AvcError: not a sequence header, or a malformed record or SPS.
    """
    if not is_avc_sequence_header(payload):
        raise AvcError("not an AVC sequence header (expected 17 00)")
    record = payload[5:]
    if len(record) < 6:
        raise AvcError(f"AVC sequence header record of {len(record)} bytes is too short")
    profile_idc, level_idc = record[1], record[3]
    length_size_minus_one = record[4] & 0x03
    if length_size_minus_one == 2:
        raise AvcError("AVC lengthSizeMinusOne 2 (3-byte NALU lengths) is not allowed")
    sps_count = record[5] & 0x1F
    if sps_count == 0:
        raise AvcError("AVC sequence header without an SPS")
    sps, offset = _read_parameter_sets(record, 6, sps_count, "SPS")
    if offset >= len(record):
        raise AvcError("AVC sequence header ends before the PPS count")
    pps_count = record[offset]
    if pps_count == 0:
        raise AvcError("AVC sequence header without a PPS")
    pps, offset = _read_parameter_sets(record, offset + 1, pps_count, "PPS")
    # Bytes after the PPS (High-profile chroma/bit-depth extension) are
    # ignored, as in SRS.
    info = _parse_sps(sps[0]) if parse_sps else None
    return AvcConfig(
        profile_idc=profile_idc,
        level_idc=level_idc,
        nal_unit_length=length_size_minus_one + 1,
        sps=sps,
        pps=pps,
        width=info.width if info else None,
        height=info.height if info else None,
        sps_info=info,
        record=record,
    )


# NALU framing ---------------------------------------------------------------


def split_nalus(data: bytes, length_size: int) -> list[bytes]:
    """
    Cut length-prefixed ("AVCC", "IBMF") NALUs apart.

    :param data: a NALU packet's bytes after the 5-byte FLV video prefix.
    :param length_size: `AvcConfig.nal_unit_length` (1, 2 or 4).
    :return: the NALUs, empty ones left out.
    :raises AvcError: a length runs past the end (an Annex-B packet read as
        AVCC usually does, SRS #183), or more than `MAX_NALUS` NALUs.
    """
    if length_size not in (1, 2, 4):
        raise AvcError(f"NALU length size {length_size} is not 1, 2 or 4")
    nalus: list[bytes] = []
    offset = 0
    size = len(data)
    while offset < size:
        if offset + length_size > size:
            raise AvcError(f"NALU packet ends inside a length at offset {offset}")
        length = int.from_bytes(data[offset : offset + length_size], "big")
        offset += length_size
        if length > size - offset:
            raise AvcError(
                f"NALU of {length} bytes at offset {offset}, only {size - offset} remain"
            )
        if length:
            if len(nalus) == MAX_NALUS:
                raise AvcError(f"more than {MAX_NALUS} NALUs in one packet")
            nalus.append(data[offset : offset + length])
        offset += length
    return nalus


def is_annexb(data: bytes) -> bool:
    """
    Whether ``data`` starts with an Annex-B start code: any number of zero
    bytes, then ``00 00 01`` (SRS ``srs_avc_startswith_annexb``).
    """
    match = _LEADING_ZEROS.match(data)
    start = match.end() if match else 0
    return start >= 2 and data[start : start + 1] == b"\x01"


def split_annexb(data: bytes) -> list[bytes]:
    """
    Cut Annex-B NALUs apart at every ``00 00 01``; zero bytes before a start
    code belong to it, not to the NALU before (``SrsAvcAacCodec::avc_demux_annexb_format``).

    :return: the NALUs, empty ones left out.
    :raises AvcError: ``data`` does not start with a start code, or holds
        more than `MAX_NALUS` NALUs.
    """
    if not is_annexb(data):
        raise AvcError("NALU packet does not start with an Annex-B start code")
    nalus: list[bytes] = []
    start = data.find(_START_CODE) + 3
    while True:
        end = data.find(_START_CODE, start)
        nalu = data[start : len(data) if end < 0 else end].rstrip(b"\x00")
        if nalu:
            if len(nalus) == MAX_NALUS:
                raise AvcError(f"more than {MAX_NALUS} NALUs in one packet")
            nalus.append(nalu)
        if end < 0:
            return nalus
        start = end + 3


def encode_avcc(nalus: list[bytes] | tuple[bytes, ...], length_size: int = 4) -> bytes:
    """
    Join NALUs with length prefixes, the inverse of `split_nalus`.

    :raises AvcError: a bad ``length_size`` or a NALU too long for it.
    """
    if length_size not in (1, 2, 4):
        raise AvcError(f"NALU length size {length_size} is not 1, 2 or 4")
    limit = 1 << (8 * length_size)
    out: list[bytes] = []
    for nalu in nalus:
        if len(nalu) >= limit:
            raise AvcError(f"NALU of {len(nalu)} bytes does not fit a {length_size}-byte length")
        out.append(len(nalu).to_bytes(length_size, "big"))
        out.append(nalu)
    return b"".join(out)


def annexb_from_avcc(data: bytes, length_size: int) -> bytes:
    """
    Rewrite a length-prefixed NALU packet as Annex B, a 4-byte start code
    before every NALU.

    The TS muxer's own framing (an AUD first, SPS/PPS before IDR, 3-byte
    start codes after the first, SRS's ``SrsTsCache::do_cache_avc``) is built from
    `split_nalus` by the muxer, not here.

    :raises AvcError: as `split_nalus`.
    """
    return b"".join(_START_CODE4 + nalu for nalu in split_nalus(data, length_size))
