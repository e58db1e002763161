"""
Tests for `srstwist.codec.ts` and `srstwist.codec.ts_es`: the MPEG-TS
muxer's exact PSI and PES bytes (``srs_kernel_ts.cpp``), packetisation and
continuity across segments, and the H.264/AAC/MP3 elementary streams.

`parse_packets` and `reassemble` are a small TS reader used here and by the
HLS tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.aac import AacConfig
from srstwist.codec.avc import AvcConfig, encode_avcc
from srstwist.codec.ts import (
    AAC_PID,
    PACKET_SIZE,
    PAT_PID,
    PMT_PID,
    STREAM_TYPE_AAC,
    STREAM_TYPE_H264,
    STREAM_TYPE_MP3,
    VIDEO_PID,
    TsError,
    TsMuxer,
    crc32_mpeg2,
    encode_pcr,
    pat_section,
    pes_header,
    pmt_section,
    psi_packet,
)
from srstwist.codec.ts_es import AvcEsBuilder, aac_es, composition_time, mp3_es

# An x264 SPS and PPS (320x240, High profile).
SPS = bytes.fromhex("67f4000d919b28283f6022000003000200000300641e28532c")
PPS = bytes.fromhex("68ebe3c44844")
IDR = b"\x65\x88\x84\x00\x21"
SLICE = b"\x41\x9a\x02\x03"


@dataclass(frozen=True)
class Packet:
    """One parsed TS packet."""

    pid: int
    start: bool
    counter: int
    adaptation: bytes
    payload: bytes


def parse_packets(data: bytes) -> list[Packet]:
    """
    Split ``data`` into packets, checking size, sync byte and the
    adaptation field length.
    """
    if len(data) % PACKET_SIZE:
        raise AssertionError(f"{len(data)} bytes is not a whole number of packets")
    packets = []
    for offset in range(0, len(data), PACKET_SIZE):
        raw = data[offset : offset + PACKET_SIZE]
        if raw[0] != 0x47:
            raise AssertionError(f"no sync byte at {offset}")
        pid = (raw[1] & 0x1F) << 8 | raw[2]
        control = raw[3] >> 4 & 0x03
        position = 4
        adaptation = b""
        if control & 0x02:
            length = raw[4]
            if length > 183:
                raise AssertionError(f"adaptation field of {length} bytes")
            adaptation = raw[5 : 5 + length]
            position = 5 + length
        payload = raw[position:] if control & 0x01 else b""
        packets.append(Packet(pid, bool(raw[1] & 0x40), raw[3] & 0x0F, adaptation, payload))
    return packets


def reassemble(packets: list[Packet], pid: int) -> list[bytes]:
    """
    The PES packets carried on ``pid``, each from its PUSI packet on.
    """
    units: list[bytearray] = []
    for packet in packets:
        if packet.pid != pid:
            continue
        if packet.start:
            units.append(bytearray())
        if units:
            units[-1] += packet.payload
    return [bytes(unit) for unit in units]


def read_timestamp(field: bytes) -> int:
    """
    Decode a 5-byte PTS/DTS field.
    """
    return (
        (field[0] >> 1 & 0x07) << 30
        | (int.from_bytes(field[1:3], "big") >> 1) << 15
        | int.from_bytes(field[3:5], "big") >> 1
    )


def pes_times(pes: bytes) -> tuple[int, int]:
    """
    ``(pts, dts)`` of a PES packet (dts = pts when absent).
    """
    flags = pes[7] >> 6
    pts = read_timestamp(pes[9:14])
    dts = read_timestamp(pes[14:19]) if flags == 3 else pts
    return pts, dts


def avc_config(length_size: int = 4) -> AvcConfig:
    """
    A sequence header holding `SPS` and `PPS`.
    """
    return AvcConfig(100, 13, length_size, (SPS,), (PPS,), 320, 240, None, b"")


def video_payload(nalus: list[bytes], keyframe: bool = True, cts: int = 0) -> bytes:
    """
    An FLV AVC NALU packet with 4-byte lengths.
    """
    head = bytes((0x17 if keyframe else 0x27, 1)) + cts.to_bytes(3, "big", signed=True)
    return head + encode_avcc(nalus)


class PsiTests(SynchronousTestCase):
    """
    PAT, PMT and CRC bytes (ISO/IEC 13818-1 2.4.4, Annex A) against SRS's.
    """

    def test_pat_packet(self) -> None:
        """The PAT packet is SRS's, byte for byte, filled with 0xFF."""
        packet = psi_packet(PAT_PID, pat_section(), 0)
        expected = bytes.fromhex("474000100000b00d0001c100000001f0012e701905")
        self.assertEqual(packet[: len(expected)], expected)
        self.assertEqual(packet[len(expected) :], b"\xff" * (PACKET_SIZE - len(expected)))

    def test_pmt_sections(self) -> None:
        """The four PMTs SRS writes have its exact bytes and CRCs."""
        cases = {
            (
                STREAM_TYPE_H264,
                STREAM_TYPE_AAC,
            ): "02b0170001c10000e100f0000fe101f0001be100f000f2d91563",
            (
                STREAM_TYPE_H264,
                STREAM_TYPE_MP3,
            ): "02b0170001c10000e100f00004e102f0001be100f0008ccaf8c7",
            (None, STREAM_TYPE_AAC): "02b0120001c10000e101f0000fe101f000ece2b094",
            (STREAM_TYPE_H264, None): "02b0120001c10000e100f0001be100f00015bd4d56",
        }
        for (video, audio), expected in cases.items():
            self.assertEqual(pmt_section(video, audio).hex(), expected)

    def test_pmt_packet_header(self) -> None:
        """A PMT packet starts 47 50 01 1x with a zero pointer field."""
        packet = psi_packet(PMT_PID, pmt_section(STREAM_TYPE_H264, STREAM_TYPE_AAC), 3)
        self.assertEqual(packet[:5], bytes.fromhex("4750011300"))

    def test_pmt_version(self) -> None:
        """The version number goes into bits 1-5 of the sixth byte."""
        self.assertEqual(pmt_section(None, STREAM_TYPE_AAC, 5)[5], 0xC1 | 5 << 1)

    def test_no_stream(self) -> None:
        """A program without audio or video is refused."""
        self.assertRaises(TsError, pmt_section, None, None)

    def test_unknown_stream_type(self) -> None:
        """Stream types other than H.264, AAC and MP3 are refused."""
        self.assertRaises(TsError, pmt_section, 0x24, None)
        self.assertRaises(TsError, pmt_section, None, 0x81)

    @given(st.binary(max_size=300))
    def test_crc_residue(self, data: bytes) -> None:
        """A section followed by its own CRC checks to 0."""
        crc = crc32_mpeg2(data)
        self.assertEqual(crc32_mpeg2(data + crc.to_bytes(4, "big")), 0)


class PesTests(SynchronousTestCase):
    """
    PES headers and packetisation (ISO/IEC 13818-1 2.4.3) against SRS's.
    """

    def test_video_header(self) -> None:
        """A keyframe at dts 90000 with 40 ms composition time: SRS's bytes."""
        header = pes_header(0xE0, 0x2F - 13, 90000 + 3600, 90000)
        self.assertEqual(header.hex(), "000001e0002f80c00a310005db41110005bf21")

    def test_audio_header(self) -> None:
        """An audio PES at pts 92070 carries a PTS only."""
        header = pes_header(0xC0, 0x13 - 8, 92070, 92070)
        self.assertEqual(header.hex(), "000001c000138080052100 05cf4d".replace(" ", ""))

    def test_long_pes_length_zero(self) -> None:
        """A PES too long for 16 bits has PES_packet_length 0."""
        self.assertEqual(pes_header(0xE0, 70000, 0, 0)[4:6], b"\x00\x00")

    def test_pcr_field(self) -> None:
        """PCR base 90000 encodes as 00 00 AF C8 7E 00."""
        self.assertEqual(encode_pcr(90000).hex(), "0000afc87e00")

    def test_keyframe_packet(self) -> None:
        """
        A keyframe PES starts after PAT and PMT with an adaptation field
        holding the PCR and the random access flag.
        """
        muxer = TsMuxer()
        muxer.set_program(STREAM_TYPE_H264, STREAM_TYPE_AAC)
        data = muxer.write_pes(
            STREAM_TYPE_H264, b"\x00" * 1000, 93600, 90000, pcr=True, random_access=True
        )
        packets = parse_packets(data)
        self.assertEqual([p.pid for p in packets[:3]], [PAT_PID, PMT_PID, VIDEO_PID])
        self.assertEqual(
            data[2 * PACKET_SIZE : 2 * PACKET_SIZE + 12].hex(), "4741003007500000afc87e00"
        )

    def test_tables_once_per_segment(self) -> None:
        """PAT and PMT precede the first PES of each segment only."""
        muxer = TsMuxer()
        muxer.set_program(None, STREAM_TYPE_AAC)
        first = parse_packets(muxer.write_pes(STREAM_TYPE_AAC, b"a", 0))
        second = parse_packets(muxer.write_pes(STREAM_TYPE_AAC, b"b", 1))
        muxer.begin_segment()
        third = parse_packets(muxer.write_pes(STREAM_TYPE_AAC, b"c", 2))
        self.assertEqual([p.pid for p in first], [PAT_PID, PMT_PID, AAC_PID])
        self.assertEqual([p.pid for p in second], [AAC_PID])
        self.assertEqual([p.pid for p in third], [PAT_PID, PMT_PID, AAC_PID])

    def test_program_change(self) -> None:
        """A changed program re-sends the tables with the next PMT version."""
        muxer = TsMuxer()
        muxer.set_program(None, STREAM_TYPE_AAC)
        muxer.write_pes(STREAM_TYPE_AAC, b"a", 0)
        muxer.set_program(STREAM_TYPE_H264, STREAM_TYPE_AAC)
        packets = parse_packets(muxer.write_pes(STREAM_TYPE_H264, b"v", 0))
        self.assertEqual([p.pid for p in packets], [PAT_PID, PMT_PID, VIDEO_PID])
        self.assertEqual(packets[1].payload[6], 0xC1 | 1 << 1)

    def test_stream_not_in_program(self) -> None:
        """A PES for a stream the program does not declare is refused."""
        muxer = TsMuxer()
        self.assertRaises(TsError, muxer.write_pes, STREAM_TYPE_AAC, b"a", 0)
        muxer.set_program(STREAM_TYPE_H264, None)
        self.assertRaises(TsError, muxer.write_pes, STREAM_TYPE_AAC, b"a", 0)

    def test_empty_es(self) -> None:
        """An empty elementary stream writes nothing."""
        muxer = TsMuxer()
        muxer.set_program(None, STREAM_TYPE_AAC)
        self.assertEqual(muxer.write_pes(STREAM_TYPE_AAC, b"", 0), b"")

    def test_negative_composition(self) -> None:
        """A PTS below its DTS is raised to the DTS."""
        muxer = TsMuxer()
        muxer.set_program(STREAM_TYPE_H264, None)
        packets = parse_packets(muxer.write_pes(STREAM_TYPE_H264, b"v", 100, 500))
        self.assertEqual(pes_times(reassemble(packets, VIDEO_PID)[0]), (500, 500))

    def test_timestamp_wraps(self) -> None:
        """Timestamps are written modulo 2**33."""
        muxer = TsMuxer()
        muxer.set_program(None, STREAM_TYPE_AAC)
        packets = parse_packets(muxer.write_pes(STREAM_TYPE_AAC, b"a", (1 << 33) + 7))
        self.assertEqual(pes_times(reassemble(packets, AAC_PID)[0]), (7, 7))

    @given(
        st.lists(
            st.tuples(
                st.sampled_from((STREAM_TYPE_H264, STREAM_TYPE_AAC)),
                st.integers(1, 1500),
                st.integers(0, (1 << 33) - 9001),
                st.integers(0, 9000),
                st.booleans(),
                st.booleans(),
            ),
            min_size=1,
            max_size=25,
        )
    )
    def test_packets(self, writes: list[tuple[int, int, int, int, bool, bool]]) -> None:
        """
        Whatever is written, and however often a segment begins: every
        packet is 188 bytes with a sync byte, each PID's counter goes up by
        one mod 16 across segments, each PES carries its bytes intact with
        PTS >= DTS, and every PSI section's CRC checks.
        """
        muxer = TsMuxer()
        muxer.set_program(STREAM_TYPE_H264, STREAM_TYPE_AAC)
        out = bytearray()
        expected: list[tuple[int, bytes]] = []
        for index, (kind, size, dts, cts, pcr, new_segment) in enumerate(writes):
            if new_segment:
                muxer.begin_segment()
            es = bytes([index & 0xFF]) * size
            out += muxer.write_pes(kind, es, dts + cts, dts, pcr=pcr)
            expected.append((kind, es))
        packets = parse_packets(bytes(out))
        last: dict[int, int] = {}
        for packet in packets:
            if packet.pid in last:
                self.assertEqual(packet.counter, (last[packet.pid] + 1) & 0x0F)
            last[packet.pid] = packet.counter
            if packet.pid in (PAT_PID, PMT_PID):
                length = (packet.payload[2] & 0x0F) << 8 | packet.payload[3]
                self.assertEqual(crc32_mpeg2(packet.payload[1 : 4 + length]), 0)
        streams = {
            STREAM_TYPE_H264: reassemble(packets, VIDEO_PID),
            STREAM_TYPE_AAC: reassemble(packets, AAC_PID),
        }
        for kind, es in expected:
            pes = streams[kind].pop(0)
            self.assertEqual(pes[9 + pes[8] :], es)
            pts, dts = pes_times(pes)
            self.assertGreaterEqual(pts, dts)
            self.assertEqual(dts, dts & ((1 << 33) - 1))


class ElementaryStreamTests(SynchronousTestCase):
    """
    H.264, AAC and MP3 elementary streams (SRS's ``SrsTsCache``).
    """

    def test_keyframe(self) -> None:
        """An IDR frame gets an AUD, then SPS and PPS, with 4-then-3-byte start codes."""
        builder = AvcEsBuilder()
        builder.set_config(avc_config())
        unit = builder.access_unit(video_payload([IDR]))
        expected = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS
        self.assertEqual(unit, expected + b"\x00\x00\x01" + IDR)

    def test_inter_frame(self) -> None:
        """A non-IDR frame gets only the AUD."""
        builder = AvcEsBuilder()
        builder.set_config(avc_config())
        unit = builder.access_unit(video_payload([SLICE], keyframe=False))
        self.assertEqual(unit, b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01" + SLICE)

    def test_frame_with_aud_and_parameter_sets(self) -> None:
        """A frame with its own AUD, SPS and PPS is passed through (#281)."""
        builder = AvcEsBuilder()
        builder.set_config(avc_config())
        aud = b"\x09\x10"
        unit = builder.access_unit(video_payload([aud, SPS, PPS, IDR]))
        self.assertEqual(
            unit,
            b"\x00\x00\x00\x01"
            + aud
            + b"\x00\x00\x01"
            + SPS
            + b"\x00\x00\x01"
            + PPS
            + b"\x00\x00\x01"
            + IDR,
        )

    def test_annexb_input(self) -> None:
        """Annex-B NALU packets are accepted (#184) and switch to AVCC for good."""
        builder = AvcEsBuilder()
        builder.set_config(avc_config())
        annexb = b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x01" + IDR
        self.assertTrue(builder.access_unit(annexb).endswith(b"\x00\x00\x01" + IDR))  # type: ignore[union-attr]
        avcc = video_payload([SLICE], keyframe=False)
        self.assertTrue(builder.access_unit(avcc).endswith(SLICE))  # type: ignore[union-attr]
        self.assertRaises(TsError, builder.access_unit, annexb[:5] + b"\x00\x00\x00\x09" + IDR)

    def test_nothing_to_write(self) -> None:
        """No sequence header yet, an end-of-sequence packet, or no NALU: nothing."""
        builder = AvcEsBuilder()
        self.assertIsNone(builder.access_unit(video_payload([IDR])))
        builder.set_config(avc_config())
        self.assertIsNone(builder.access_unit(b"\x17\x02\x00\x00\x00"))
        self.assertIsNone(builder.access_unit(b"\x17\x01\x00\x00\x00\x00\x00\x00\x00"))

    def test_bad_length(self) -> None:
        """A NALU length past the end is a TsError."""
        builder = AvcEsBuilder()
        builder.set_config(avc_config())
        self.assertRaises(TsError, builder.access_unit, b"\x27\x01\x00\x00\x00\x00\x00\x00\x09\x41")

    def test_composition_time(self) -> None:
        """CompositionTime is a signed 24-bit field."""
        self.assertEqual(composition_time(video_payload([IDR], cts=-40)), -40)
        self.assertEqual(composition_time(video_payload([IDR], cts=80)), 80)
        self.assertRaises(TsError, composition_time, b"\x17\x01")

    def test_adts(self) -> None:
        """LC, 44.1 kHz, stereo, 4 raw bytes: SRS's TS ADTS header."""
        config = AacConfig(2, 4, 44100, 2)
        self.assertEqual(aac_es(config, b"\xaf\x01abcd"), bytes.fromhex("fff95080017ffc") + b"abcd")

    def test_aac_without_config(self) -> None:
        """A raw AAC frame before the sequence header is a TsError."""
        self.assertRaises(TsError, aac_es, None, b"\xaf\x01abcd")

    def test_mp3(self) -> None:
        """MP3 frames lose only the FLV audio byte."""
        self.assertEqual(mp3_es(b"\x2f\xff\xfb\x90"), b"\xff\xfb\x90")
