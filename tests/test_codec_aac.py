"""
Tests for `srstwist.codec.aac`: the AAC sequence header and ADTS headers.

Real data: the captured ffmpeg session (native AAC encoder, 44.1 kHz mono
LC; ffprobe agrees) and FLV files made with ffmpeg, whose ADTS conversion
by ffmpeg (``-f adts``) is compared with ours.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.aac import (
    ADTS_HEADER_SIZE,
    MAX_ADTS_RAW_LENGTH,
    SAMPLE_RATES,
    AacConfig,
    AacError,
    adts_header,
    adts_profile,
    parse_aac_sequence_header,
    parse_audio_specific_config,
)
from srstwist.codec.flv import TagType, is_aac_sequence_header
from tests.test_codec_flv import (
    ffmpeg_convert,
    ffmpeg_flv,
    ffprobe_streams,
    read_tags,
    session_messages,
)


def asc_bits(fields: list[tuple[int, int]]) -> bytes:
    """
    Pack ``(bit count, value)`` fields into bytes, zero-padded.
    """
    bits = "".join(format(value, f"0{n}b") for n, value in fields)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def adts_frames(path: Path) -> list[tuple[bytes, bytes]]:
    """
    Cut an ADTS file (without CRC) into (header, raw frame) pairs.
    """
    data = path.read_bytes()
    frames = []
    offset = 0
    while offset < len(data):
        header = data[offset : offset + ADTS_HEADER_SIZE]
        length = (header[3] & 3) << 11 | header[4] << 3 | header[5] >> 5
        frames.append((header, data[offset + ADTS_HEADER_SIZE : offset + length]))
        offset += length
    return frames


class SequenceHeaderTests(SynchronousTestCase):
    """
    `parse_aac_sequence_header` reads the AudioSpecificConfig.
    """

    def test_session_capture(self) -> None:
        """
        The captured session's ``AF 00 12 08 ...`` is LC, 44.1 kHz, mono;
        the SBR sync extension after it is kept but not interpreted.
        """
        payload = session_messages(TagType.AUDIO)[0].payload
        config = parse_aac_sequence_header(payload)
        self.assertEqual(
            (config.object_type, config.sample_rate_index, config.sample_rate, config.channels),
            (2, 4, 44100, 1),
        )
        self.assertEqual(config.asc, payload[2:])
        self.assertEqual(config.adts_profile, 1)

    def test_generated_files_against_ffprobe(self) -> None:
        """
        Sample rate and channel count match ffprobe for 48 kHz stereo and
        22.05 kHz mono AAC.
        """
        for name in ("high720", "aac22050"):
            path = ffmpeg_flv(name)
            stream = ffprobe_streams(path)["audio"]
            header = next(t for t in read_tags(path) if is_aac_sequence_header(t.payload))
            config = parse_aac_sequence_header(header.payload)
            self.assertEqual(stream["profile"], "LC")
            self.assertEqual(config.object_type, 2)
            self.assertEqual(config.sample_rate, int(stream["sample_rate"]), name)
            self.assertEqual(config.channels, stream["channels"], name)

    def test_not_a_sequence_header(self) -> None:
        """
        Raw AAC frames, MP3 and empty payloads raise `AacError`.
        """
        for payload in (b"\xaf\x01\x12\x10", b"\x2f\x00\x12\x10", b"\xaf", b""):
            self.assertRaises(AacError, parse_aac_sequence_header, payload)

    def test_short(self) -> None:
        """
        Fewer than the two bytes every ASC needs raise `AacError`.
        """
        self.assertRaises(AacError, parse_aac_sequence_header, b"\xaf\x00\x12")
        self.assertRaises(AacError, parse_aac_sequence_header, b"\xaf\x00")

    def test_object_type_zero(self) -> None:
        """
        audioObjectType 0 is invalid, as in SRS.
        """
        self.assertRaises(AacError, parse_audio_specific_config, b"\x02\x10")

    def test_escaped_object_type(self) -> None:
        """
        Object type 31 is followed by six bits: 32 plus their value.
        """
        asc = asc_bits([(5, 31), (6, 10), (4, 3), (4, 2)])
        config = parse_audio_specific_config(asc)
        self.assertEqual((config.object_type, config.sample_rate, config.channels), (42, 48000, 2))
        self.assertEqual(config.adts_profile, 3)

    def test_explicit_rate(self) -> None:
        """
        Sampling index 15 is followed by the rate in 24 bits.
        """
        asc = asc_bits([(5, 2), (4, 15), (24, 44056), (4, 1)])
        config = parse_audio_specific_config(asc)
        self.assertEqual(
            (config.sample_rate_index, config.sample_rate, config.channels), (15, 44056, 1)
        )
        self.assertRaises(AacError, parse_audio_specific_config, asc[:4])
        zero = asc_bits([(5, 2), (4, 15), (24, 0), (4, 1)])
        self.assertRaises(AacError, parse_audio_specific_config, zero)

    def test_reserved_rate_index(self) -> None:
        """
        Sampling indexes 13 and 14 are reserved and raise `AacError`.
        """
        for index in (13, 14):
            asc = asc_bits([(5, 2), (4, index), (4, 2)])
            self.assertRaises(AacError, parse_audio_specific_config, asc)

    @given(st.integers(1, 30), st.integers(0, 12), st.integers(0, 15), st.binary(max_size=4))
    def test_fields(self, object_type: int, index: int, channels: int, tail: bytes) -> None:
        """
        Any object type, table rate and channel configuration decode to
        themselves, whatever follows.
        """
        asc = asc_bits([(5, object_type), (4, index), (4, channels)])[:2] + tail
        config = parse_aac_sequence_header(b"\xaf\x00" + asc)
        self.assertEqual(config, AacConfig(object_type, index, SAMPLE_RATES[index], channels, asc))

    @given(st.binary(max_size=12))
    def test_random_bytes(self, data: bytes) -> None:
        """
        Arbitrary bytes parse or raise `AacError`, nothing else.
        """
        try:
            parse_aac_sequence_header(data)
        except AacError:
            pass
        try:
            parse_audio_specific_config(data)
        except AacError:
            pass


class AdtsTests(SynchronousTestCase):
    """
    `adts_header` writes SRS's two ADTS variants (``SrsTsCache::do_cache_aac``,
    ``SrsAacEncoder::write_audio``).
    """

    lc_44k_stereo = AacConfig(2, 4, 44100, 2)

    def test_reference_examples(self) -> None:
        """
        LC, 44.1 kHz, stereo, 4 raw bytes: ``FF F9 50 80 01 7F FC`` for TS
        and ``FF F1 50 80 01 60 FC`` for HTTP ``.aac``.
        """
        self.assertEqual(adts_header(self.lc_44k_stereo, 4), bytes.fromhex("fff95080 017ffc"))
        self.assertEqual(
            adts_header(self.lc_44k_stereo, 4, http_aac=True), bytes.fromhex("fff15080 0160fc")
        )

    def test_profiles(self) -> None:
        """
        Main, LC and SSR map to 0, 1, 2; HE-AAC and HE-AACv2 fold to LC; the
        rest write 3 (#266, #310).
        """
        table = {1: 0, 2: 1, 3: 2, 5: 1, 29: 1, 4: 3, 6: 3, 23: 3, 42: 3}
        for object_type, profile in table.items():
            self.assertEqual(adts_profile(object_type), profile)
            config = AacConfig(object_type, 3, 48000, 2)
            self.assertEqual(adts_header(config, 0)[2] >> 6, profile)

    def test_channels_high_bit(self) -> None:
        """
        Channel configuration 7 spreads over bytes 2 and 3.
        """
        header = adts_header(AacConfig(2, 3, 48000, 7), 10)
        self.assertEqual(((header[2] & 1) << 2) | header[3] >> 6, 7)

    def test_frame_length(self) -> None:
        """
        frame_length counts the header; the largest raw frame fits exactly
        and one byte more raises `AacError`.
        """
        header = adts_header(self.lc_44k_stereo, MAX_ADTS_RAW_LENGTH)
        self.assertEqual((header[3] & 3) << 11 | header[4] << 3 | header[5] >> 5, 0x1FFF)
        self.assertRaises(AacError, adts_header, self.lc_44k_stereo, MAX_ADTS_RAW_LENGTH + 1)
        self.assertRaises(AacError, adts_header, self.lc_44k_stereo, -1)

    def test_unrepresentable(self) -> None:
        """
        An explicit rate or more than 7 channels cannot go in ADTS.
        """
        self.assertRaises(AacError, adts_header, AacConfig(2, 15, 44056, 2), 10)
        self.assertRaises(AacError, adts_header, AacConfig(2, 4, 44100, 8), 10)

    def test_matches_ffmpeg(self) -> None:
        """
        ffmpeg's ADTS conversion of AAC FLVs (48 kHz stereo, 22.05 kHz mono)
        has our TS-variant headers (but for its MPEG-4 ID bit) before the
        very raw frames the FLV carries.
        """
        for name in ("high720", "aac22050"):
            path = ffmpeg_flv(name)
            adts = ffmpeg_convert(path, ".aac", ["-map", "0:a", "-c:a", "copy", "-f", "adts"])
            audio = [t.payload for t in read_tags(path) if t.tag_type == TagType.AUDIO]
            config = parse_aac_sequence_header(audio[0])
            frames = adts_frames(adts)
            self.assertEqual([raw for _, raw in frames], [p[2:] for p in audio[1:]], name)
            for header, raw in frames:
                ours = adts_header(config, len(raw))
                self.assertEqual(ours[:1] + b"\xf1" + ours[2:], header, name)
