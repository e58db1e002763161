"""
Tests for `srstwist.codec.avc`: the AVC sequence header, SPS parsing and
NALU framing.

Real data: the sequence header and keyframes of the captured ffmpeg publish
session (x264, testsrc 640x360, which x264 encodes as High 4:4:4 Predictive
level 3.0 because testsrc is RGB; ffprobe agrees), and FLV files made with
ffmpeg whose sizes, profiles and levels are compared with ffprobe's.
Synthetic SPS are written with a small exp-Golomb writer below.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.avc import (
    MAX_NALUS,
    NALU_TYPE_IDR,
    NALU_TYPE_NON_IDR,
    NALU_TYPE_PPS,
    NALU_TYPE_SEI,
    NALU_TYPE_SPS,
    AvcError,
    Sps,
    annexb_from_avcc,
    encode_avcc,
    is_annexb,
    nalu_type,
    parse_avc_sequence_header,
    parse_sps,
    split_annexb,
    split_nalus,
)
from srstwist.codec.flv import AVC_PACKET_NALU, TagType, is_avc_sequence_header
from tests.test_codec_flv import (
    FLV_SPECS,
    ffmpeg_convert,
    ffmpeg_flv,
    ffprobe_streams,
    read_tags,
    session_messages,
)

# ffprobe's profile names for (profile_idc, constraint_set1 flag).
_PROFILE_NAMES = {
    (66, True): "Constrained Baseline",
    (66, False): "Baseline",
    (77, False): "Main",
    (77, True): "Main",
    (100, False): "High",
    (122, False): "High 4:2:2",
    (244, False): "High 4:4:4 Predictive",
}


def record(
    sps: list[bytes],
    pps: list[bytes],
    *,
    length_size_minus_one: int = 3,
    profile: int = 100,
    level: int = 31,
) -> bytes:
    """
    A video payload holding an AVCDecoderConfigurationRecord.
    """
    out = bytearray(b"\x17\x00\x00\x00\x00")
    out += bytes((1, profile, 0, level, 0xFC | length_size_minus_one, 0xE0 | len(sps)))
    for nalu in sps:
        out += len(nalu).to_bytes(2, "big") + nalu
    out.append(len(pps))
    for nalu in pps:
        out += len(nalu).to_bytes(2, "big") + nalu
    return bytes(out)


class BitWriter:
    """
    Writes bits and exp-Golomb codes, for building SPS by hand.
    """

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zero alignment
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """
    Insert emulation-prevention bytes (``00 00`` then ``03`` before any
    byte up to 3).
    """
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@st.composite
def sps_cases(draw: st.DrawFn) -> tuple[bytes, Sps]:
    """
    A random but valid SPS NALU and the `Sps` it must parse to.
    """
    profile = draw(st.sampled_from([66, 77, 88, 100, 110, 122, 244, 44]))
    constraints = draw(st.integers(0, 255)) & 0xFC
    level = draw(st.integers(1, 255))
    w = BitWriter()
    sps_id = draw(st.integers(0, 31))
    w.ue(sps_id)
    chroma, separate, depth_luma, depth_chroma = 1, False, 8, 8
    if profile in (100, 110, 122, 244, 44):
        chroma = draw(st.integers(0, 3))
        w.ue(chroma)
        if chroma == 3:
            separate = draw(st.booleans())
            w.u(1, separate)
        depth_luma = 8 + draw(st.integers(0, 6))
        depth_chroma = 8 + draw(st.integers(0, 6))
        w.ue(depth_luma - 8)
        w.ue(depth_chroma - 8)
        w.u(1, draw(st.integers(0, 1)))
        scaling = draw(st.booleans())
        w.u(1, scaling)
        if scaling:
            for i in range(8 if chroma != 3 else 12):
                present = draw(st.booleans())
                w.u(1, present)
                if present:
                    last = next_scale = 8
                    for _ in range(16 if i < 6 else 64):
                        if next_scale:
                            delta = draw(st.integers(-128, 127))
                            w.se(delta)
                            next_scale = (last + delta + 256) % 256
                        last = next_scale or last
    log2_max_frame_num = draw(st.integers(4, 16))
    w.ue(log2_max_frame_num - 4)
    poc_type = draw(st.integers(0, 2))
    w.ue(poc_type)
    if poc_type == 0:
        w.ue(draw(st.integers(0, 12)))
    elif poc_type == 1:
        w.u(1, draw(st.integers(0, 1)))
        w.se(draw(st.integers(-1000, 1000)))
        w.se(draw(st.integers(-1000, 1000)))
        offsets = draw(st.lists(st.integers(-1000, 1000), max_size=8))
        w.ue(len(offsets))
        for offset in offsets:
            w.se(offset)
    refs = draw(st.integers(0, 16))
    w.ue(refs)
    w.u(1, draw(st.integers(0, 1)))
    width_mbs = draw(st.integers(1, 240))
    height_units = draw(st.integers(1, 135))
    w.ue(width_mbs - 1)
    w.ue(height_units - 1)
    frame_mbs_only = draw(st.booleans())
    w.u(1, frame_mbs_only)
    if not frame_mbs_only:
        w.u(1, draw(st.integers(0, 1)))
    w.u(1, draw(st.integers(0, 1)))
    array_type = 0 if separate else chroma
    unit_x = 1 if array_type in (0, 3) else 2
    unit_y = (2 if array_type == 1 else 1) * (1 if frame_mbs_only else 2)
    coded_w = width_mbs * 16
    coded_h = height_units * 16 * (1 if frame_mbs_only else 2)
    crop = (0, 0, 0, 0)
    if draw(st.booleans()):
        left = draw(st.integers(0, (coded_w // unit_x - 1) // 2))
        right = draw(st.integers(0, (coded_w // unit_x - 1) // 2))
        top = draw(st.integers(0, (coded_h // unit_y - 1) // 2))
        bottom = draw(st.integers(0, (coded_h // unit_y - 1) // 2))
        crop = (left, right, top, bottom)
        w.u(1, 1)
        for value in crop:
            w.ue(value)
    else:
        w.u(1, 0)
    w.u(1, 0)  # vui_parameters_present_flag
    nalu = bytes((0x67, profile, constraints, level)) + escape(w.rbsp())
    expected = Sps(
        profile_idc=profile,
        constraint_flags=constraints,
        level_idc=level,
        seq_parameter_set_id=sps_id,
        chroma_format_idc=chroma,
        separate_colour_plane=separate,
        bit_depth_luma=depth_luma,
        bit_depth_chroma=depth_chroma,
        log2_max_frame_num=log2_max_frame_num,
        pic_order_cnt_type=poc_type,
        max_num_ref_frames=refs,
        pic_width_in_mbs=width_mbs,
        pic_height_in_map_units=height_units,
        frame_mbs_only=frame_mbs_only,
        crop=crop,
        width=coded_w - unit_x * (crop[0] + crop[1]),
        height=coded_h - unit_y * (crop[2] + crop[3]),
    )
    return nalu, expected


def simple_sps(width_mbs: int = 40, height_units: int = 23) -> bytes:
    """
    A Baseline SPS without cropping, ``width_mbs`` by ``height_units``
    macroblocks.
    """
    w = BitWriter()
    for value in (0, 0, 0, 1):  # sps id, log2_max_frame_num, poc type 0, lsb
        w.ue(value)
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)
    w.ue(width_mbs - 1)
    w.ue(height_units - 1)
    w.u(3, 0b110)  # frame_mbs_only, direct_8x8, no cropping
    w.u(1, 0)
    return b"\x67\x42\xc0\x1e" + escape(w.rbsp())


_PPS = b"\x68\xce\x38\x80"


class SessionCaptureTests(SynchronousTestCase):
    """
    The x264 sequence header and frames of the captured publish session.
    """

    def test_sequence_header(self) -> None:
        """
        The record gives High 4:4:4 Predictive level 3.0 with 4-byte NALU
        lengths, one SPS and one PPS, and the SPS gives 640x360 (4:4:4, 368
        coded lines cropped by 8).
        """
        payload = session_messages(TagType.VIDEO)[0].payload
        config = parse_avc_sequence_header(payload)
        self.assertEqual((config.profile_idc, config.level_idc), (244, 30))
        self.assertEqual(config.nal_unit_length, 4)
        self.assertEqual((config.width, config.height), (640, 360))
        self.assertEqual(len(config.sps), 1)
        self.assertEqual(len(config.pps), 1)
        self.assertEqual(nalu_type(config.sps[0]), NALU_TYPE_SPS)
        self.assertEqual(nalu_type(config.pps[0]), NALU_TYPE_PPS)
        self.assertEqual(config.record, payload[5:])
        sps = config.sps_info
        assert sps is not None
        self.assertEqual(sps.chroma_format_idc, 3)
        self.assertEqual((sps.pic_width_in_mbs, sps.pic_height_in_map_units), (40, 23))
        self.assertEqual(sps.crop, (0, 0, 0, 8))
        self.assertTrue(sps.frame_mbs_only)

    def test_parse_sps_off(self) -> None:
        """
        With SPS parsing off the record is still read but no size is given.
        """
        config = parse_avc_sequence_header(session_messages(TagType.VIDEO)[0].payload, False)
        self.assertEqual(
            (config.profile_idc, config.level_idc, config.nal_unit_length), (244, 30, 4)
        )
        self.assertIsNone(config.width)
        self.assertIsNone(config.height)
        self.assertIsNone(config.sps_info)

    def test_frames_split(self) -> None:
        """
        Each keyframe splits into NALUs ending with an IDR slice (the first
        with x264's SEI in front), each inter frame into non-IDR slices, and
        the Annex-B form splits back to the same NALUs.
        """
        video = session_messages(TagType.VIDEO)
        packets = [m.payload for m in video if m.payload[1] == AVC_PACKET_NALU]
        first = [nalu_type(n) for n in split_nalus(packets[0][5:], 4)]
        self.assertEqual(first, [NALU_TYPE_SEI, NALU_TYPE_IDR])
        for payload in packets:
            nalus = split_nalus(payload[5:], 4)
            types = {nalu_type(n) for n in nalus}
            if payload[0] >> 4 == 1:
                self.assertIn(NALU_TYPE_IDR, types)
            else:
                self.assertEqual(types, {NALU_TYPE_NON_IDR})
            self.assertEqual(sum(4 + len(n) for n in nalus), len(payload) - 5)
            annexb = annexb_from_avcc(payload[5:], 4)
            self.assertTrue(is_annexb(annexb))
            self.assertEqual(split_annexb(annexb), nalus)


class FfmpegFileTests(SynchronousTestCase):
    """
    Sequence headers from ffmpeg's x264 output agree with ffprobe.
    """

    def test_against_ffprobe(self) -> None:
        """
        Width, height, profile and level match ffprobe for Baseline, Main,
        High, High 4:2:2, interlaced and cropped streams.
        """
        for name, (size, _inputs, _codecs) in FLV_SPECS.items():
            if size is None:
                continue
            path = ffmpeg_flv(name)
            stream = ffprobe_streams(path)["video"]
            header = next(t for t in read_tags(path) if is_avc_sequence_header(t.payload))
            config = parse_avc_sequence_header(header.payload)
            sps = config.sps_info
            assert sps is not None
            self.assertEqual(f"{config.width}x{config.height}", size, name)
            self.assertEqual((config.width, config.height), (stream["width"], stream["height"]))
            self.assertEqual(config.level_idc, stream["level"], name)
            self.assertEqual(
                (sps.profile_idc, sps.level_idc), (config.profile_idc, config.level_idc)
            )
            key = (
                config.profile_idc,
                bool(sps.constraint_flags & 0x40) and config.profile_idc == 66,
            )
            self.assertEqual(_PROFILE_NAMES[key], stream["profile"], name)
            self.assertEqual(sps.frame_mbs_only, stream["field_order"] == "progressive", name)

    def test_specific_layouts(self) -> None:
        """
        1080p is 68 macroblock rows cropped by 4 chroma lines, interlaced
        576 lines are 18 macroblock-pair rows, and 4:2:2 crops in luma lines.
        """
        cases = {
            "main1080": (1, True, (120, 68), (0, 0, 0, 4)),
            "interlaced576": (1, False, (45, 18), (0, 0, 0, 0)),
            "high422": (2, True, (40, 23), (0, 0, 0, 8)),
            "high300": (1, True, (25, 19), (0, 0, 0, 2)),
        }
        for name, (chroma, progressive, mbs, crop) in cases.items():
            header = next(
                t for t in read_tags(ffmpeg_flv(name)) if is_avc_sequence_header(t.payload)
            )
            sps = parse_avc_sequence_header(header.payload).sps_info
            assert sps is not None
            self.assertEqual(sps.chroma_format_idc, chroma, name)
            self.assertEqual(sps.frame_mbs_only, progressive, name)
            self.assertEqual((sps.pic_width_in_mbs, sps.pic_height_in_map_units), mbs, name)
            self.assertEqual(sps.crop, crop, name)

    def test_annexb_matches_ffmpeg(self) -> None:
        """
        The NALUs split from the FLV's length-prefixed packets are exactly
        the slices and SEI in ffmpeg's own Annex-B conversion (which also
        inserts SPS and PPS), and its SPS/PPS are the sequence header's.
        """
        path = ffmpeg_flv("high720")
        h264 = ffmpeg_convert(path, ".h264", ["-map", "0:v", "-c:v", "copy", "-f", "h264"])
        theirs = split_annexb(h264.read_bytes())
        tags = [t for t in read_tags(path) if t.tag_type == TagType.VIDEO]
        config = parse_avc_sequence_header(tags[0].payload)
        ours: list[bytes] = []
        for tag in tags[1:]:
            if tag.payload[1] == AVC_PACKET_NALU:
                ours += split_nalus(tag.payload[5:], config.nal_unit_length)
        parameter_sets = (NALU_TYPE_SPS, NALU_TYPE_PPS)
        self.assertEqual([n for n in theirs if nalu_type(n) not in parameter_sets], ours)
        self.assertEqual({n for n in theirs if nalu_type(n) == NALU_TYPE_SPS}, set(config.sps))
        self.assertEqual({n for n in theirs if nalu_type(n) == NALU_TYPE_PPS}, set(config.pps))


class SequenceHeaderTests(SynchronousTestCase):
    """
    The AVCDecoderConfigurationRecord checks (ISO/IEC 14496-15 5.2.4.1;
    SRS's ``SrsAvcAacCodec::avc_demux_sps_pps``).
    """

    def test_minimal(self) -> None:
        """
        A record with one SPS and one PPS parses; the size comes from the SPS.
        """
        config = parse_avc_sequence_header(record([simple_sps(20, 15)], [_PPS]))
        self.assertEqual((config.width, config.height), (320, 240))
        self.assertEqual((config.profile_idc, config.level_idc), (100, 31))
        self.assertEqual(config.pps, (_PPS,))

    def test_nal_unit_lengths(self) -> None:
        """
        lengthSizeMinusOne 0, 1 and 3 give 1-, 2- and 4-byte lengths; 2 is an
        error, as in SRS.
        """
        for minus_one, size in ((0, 1), (1, 2), (3, 4)):
            payload = record([simple_sps()], [_PPS], length_size_minus_one=minus_one)
            self.assertEqual(parse_avc_sequence_header(payload).nal_unit_length, size)
        payload = record([simple_sps()], [_PPS], length_size_minus_one=2)
        self.assertRaises(AvcError, parse_avc_sequence_header, payload)

    def test_several_parameter_sets(self) -> None:
        """
        Two SPS and two PPS are kept in order (SRS would reject them); the
        size comes from the first SPS.
        """
        sps = [simple_sps(20, 15), simple_sps(40, 30)]
        config = parse_avc_sequence_header(record(sps, [_PPS, _PPS + b"\x01"]))
        self.assertEqual(config.sps, tuple(sps))
        self.assertEqual(len(config.pps), 2)
        self.assertEqual(config.width, 320)

    def test_trailing_bytes_ignored(self) -> None:
        """
        Bytes after the PPS (the High-profile extension) are ignored.
        """
        config = parse_avc_sequence_header(record([simple_sps()], [_PPS]) + b"\xfd\xf8\xf8\x00")
        self.assertEqual(config.width, 640)

    def test_not_a_sequence_header(self) -> None:
        """
        Payloads that are not ``17 00`` raise `AvcError`.
        """
        good = record([simple_sps()], [_PPS])
        for prefix in (b"\x27\x00", b"\x17\x01", b"\x12\x00", b""):
            self.assertRaises(AvcError, parse_avc_sequence_header, prefix + good[2:])

    def test_malformed_records(self) -> None:
        """
        Short records, no SPS, no PPS and lengths past the end raise
        `AvcError`.
        """
        good = record([simple_sps()], [_PPS])
        bad = [
            good[:10],
            record([], [_PPS]),
            record([simple_sps()], []),
            good[:12],
            good[:-2],
            good[: 11 + 2 + len(simple_sps())],
            good[: 11 + 2 + len(simple_sps()) + 2],
        ]
        for payload in bad:
            self.assertRaises(AvcError, parse_avc_sequence_header, payload)
            self.assertRaises(AvcError, parse_avc_sequence_header, payload, False)

    def test_sps_header_checks(self) -> None:
        """
        With SPS parsing on, a wrong NAL header, profile 0, level 0 or set
        reserved constraint bits raise `AvcError`; with it off they pass.
        """
        sps = simple_sps()
        bad = [
            b"\xe7" + sps[1:],  # forbidden_zero_bit
            b"\x07" + sps[1:],  # nal_ref_idc 0
            b"\x68" + sps[1:],  # a PPS
            sps[:1] + b"\x00" + sps[2:],  # profile 0
            sps[:2] + b"\xc1" + sps[3:],  # reserved bit
            sps[:3] + b"\x00" + sps[4:],  # level 0
            sps[:6],  # truncated
            b"",
        ]
        for nalu in bad:
            payload = record([nalu], [_PPS])
            self.assertRaises(AvcError, parse_avc_sequence_header, payload)
            self.assertIsNone(parse_avc_sequence_header(payload, parse_sps=False).width)


class SpsTests(SynchronousTestCase):
    """
    `parse_sps` follows H.264 7.3.2.1.1 and computes the displayed size.
    """

    @given(sps_cases())
    def test_generated(self, case: tuple[bytes, Sps]) -> None:
        """
        Any valid SPS, with scaling lists, every picture order count type,
        fields and cropping, parses to the fields it was written with.
        """
        nalu, expected = case
        self.assertEqual(parse_sps(nalu), expected)

    def test_scaling_lists_skipped(self) -> None:
        """
        A High SPS with scaling lists gives the right size (SRS reads only
        the present flags and gets the size wrong).
        """
        w = BitWriter()
        w.ue(0)  # sps id
        w.ue(1)  # chroma 4:2:0
        w.ue(0)
        w.ue(0)
        w.u(1, 0)
        w.u(1, 1)  # seq_scaling_matrix_present_flag
        for i in range(8):
            w.u(1, 1)
            for _ in range(16 if i < 6 else 64):
                w.se(1)
        for value in (0, 2, 3):  # log2_max_frame_num, poc type 2, refs
            w.ue(value)
        w.u(1, 0)
        w.ue(79)
        w.ue(44)
        w.u(3, 0b110)
        w.u(1, 0)
        sps = parse_sps(b"\x67\x64\x00\x1f" + escape(w.rbsp()))
        self.assertEqual((sps.width, sps.height), (1280, 720))

    def test_emulation_prevention(self) -> None:
        """
        ``00 00 03`` in the NALU is read as ``00 00``.
        """
        nalu = simple_sps(2**21, 2)
        self.assertEqual(nalu.count(b"\x00\x00\x03"), 2)
        self.assertEqual(parse_sps(nalu).width, 2**21 * 16)

    def test_exp_golomb_bound(self) -> None:
        """
        An exp-Golomb code with more than 31 leading zeros raises `AvcError`.
        """
        self.assertRaises(AvcError, parse_sps, b"\x67\x42\x00\x1e" + bytes(4) + b"\x03\xff")

    def test_out_of_range_fields(self) -> None:
        """
        sps id over 31, chroma_format_idc over 3, pic_order_cnt_type over 2,
        a cycle over 255 and a crop larger than the picture raise `AvcError`.
        """
        cases = []
        w = BitWriter()
        w.ue(32)
        cases.append(b"\x67\x42\x00\x1e" + w.rbsp() + bytes(8))
        w = BitWriter()
        w.ue(0)
        w.ue(4)
        cases.append(b"\x67\x64\x00\x1e" + w.rbsp() + bytes(8))
        w = BitWriter()
        w.ue(0)
        w.ue(0)
        w.ue(3)
        cases.append(b"\x67\x42\x00\x1e" + w.rbsp() + bytes(8))
        w = BitWriter()
        for value in (0, 0, 1):
            w.ue(value)
        w.u(1, 0)
        w.se(0)
        w.se(0)
        w.ue(256)
        cases.append(b"\x67\x42\x00\x1e" + w.rbsp() + bytes(8))
        w = BitWriter()
        for value in (0, 0, 2, 1):
            w.ue(value)
        w.u(1, 0)
        w.ue(0)
        w.ue(0)
        w.u(3, 0b111)  # frame_mbs_only, direct_8x8, cropping
        for value in (4, 4, 0, 0):  # 16 pixels of a 16-pixel-wide picture
            w.ue(value)
        cases.append(b"\x67\x42\x00\x1e" + w.rbsp())
        for nalu in cases:
            self.assertRaises(AvcError, parse_sps, nalu)

    @given(st.binary(max_size=64))
    def test_random_sps(self, data: bytes) -> None:
        """
        Arbitrary bytes after an SPS NAL header parse or raise `AvcError`.
        """
        try:
            parse_sps(b"\x67" + data)
        except AvcError:
            pass

    @given(st.binary(max_size=120), st.booleans())
    def test_random_records(self, data: bytes, check_sps: bool) -> None:
        """
        Arbitrary bytes after ``17 00`` parse or raise `AvcError`.
        """
        try:
            parse_avc_sequence_header(b"\x17\x00\x00\x00\x00" + data, check_sps)
        except AvcError:
            pass


# NALUs as they appear in a byte stream: never 00 00 0x inside, never
# ending in 00 (rbsp_trailing_bits).
_nalus = st.binary(min_size=1, max_size=200).map(lambda b: escape(b"\x65" + b + b"\x80"))


class NaluFramingTests(SynchronousTestCase):
    """
    AVCC and Annex-B splitting as SRS's muxers do it (``srs_kernel_codec.cpp``).
    """

    @given(st.lists(_nalus, max_size=MAX_NALUS), st.sampled_from([1, 2, 4]))
    def test_avcc_round_trip(self, nalus: list[bytes], length_size: int) -> None:
        """
        Length-prefixed NALUs split back into themselves, and their Annex-B
        form splits into the same NALUs.
        """
        nalus = [n for n in nalus if len(n) < 1 << (8 * length_size)]
        data = encode_avcc(nalus, length_size)
        self.assertEqual(split_nalus(data, length_size), nalus)
        if nalus:
            self.assertEqual(split_annexb(annexb_from_avcc(data, length_size)), nalus)

    def test_empty_nalus_skipped(self) -> None:
        """
        Zero-length NALUs are left out.
        """
        self.assertEqual(split_nalus(b"\x00\x00\x00\x00\x00\x00\x00\x01\x09", 4), [b"\x09"])

    def test_avcc_errors(self) -> None:
        """
        A length past the end, a cut length field, a bad length size and too
        many NALUs raise `AvcError`.
        """
        self.assertRaises(AvcError, split_nalus, b"\x00\x00\x00\x05abc", 4)
        self.assertRaises(AvcError, split_nalus, b"\x01a\x00", 2)
        self.assertRaises(AvcError, split_nalus, b"", 3)
        self.assertRaises(AvcError, split_nalus, b"\x01\x09" * (MAX_NALUS + 1), 1)
        self.assertEqual(len(split_nalus(b"\x01\x09" * MAX_NALUS, 1)), MAX_NALUS)
        self.assertRaises(AvcError, encode_avcc, [bytes(256)], 1)
        self.assertRaises(AvcError, encode_avcc, [], 3)

    def test_annexb_start_codes(self) -> None:
        """
        3- and 4-byte start codes and longer zero runs all cut, and zeros
        before a start code belong to it.
        """
        data = b"\x00\x00\x00\x00\x01\x09\xf0\x00\x00\x01\x67\x42\x00\x00\x00\x00\x01\x68\xce"
        self.assertEqual(split_annexb(data), [b"\x09\xf0", b"\x67\x42", b"\x68\xce"])
        self.assertEqual(split_annexb(b"\x00\x00\x01\x00\x00\x01\x65"), [b"\x65"])

    def test_is_annexb(self) -> None:
        """
        Data is Annex B when zero or more zeros and ``00 00 01`` start it.
        """
        self.assertTrue(is_annexb(b"\x00\x00\x01\x65"))
        self.assertTrue(is_annexb(b"\x00\x00\x00\x00\x00\x01"))
        self.assertFalse(is_annexb(b"\x00\x01\x65"))
        self.assertFalse(is_annexb(b"\x00\x00\x00\x05\x65"))
        self.assertFalse(is_annexb(b""))

    def test_annexb_errors(self) -> None:
        """
        Data without a leading start code, or with too many NALUs, raises
        `AvcError`.
        """
        self.assertRaises(AvcError, split_annexb, b"\x00\x00\x00\x05\x65")
        self.assertRaises(AvcError, split_annexb, b"\x00\x00\x01\x09" * (MAX_NALUS + 1))

    def test_nalu_type(self) -> None:
        """
        The type is the low five bits; an empty NALU raises `AvcError`.
        """
        self.assertEqual(nalu_type(b"\x65\x88"), NALU_TYPE_IDR)
        self.assertRaises(AvcError, nalu_type, b"")

    @given(st.binary(max_size=200), st.sampled_from([1, 2, 4]))
    def test_random_packets(self, data: bytes, length_size: int) -> None:
        """
        Arbitrary packets split or raise `AvcError`, never anything else.
        """
        for split in (lambda: split_nalus(data, length_size), lambda: split_annexb(data)):
            try:
                split()
            except AvcError:
                pass
