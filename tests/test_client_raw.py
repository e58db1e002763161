"""
Tests for :mod:`srstwist.client.raw`: raw H.264 (Annex B) and AAC (ADTS) to FLV
tags, with ffmpeg-made elementary streams, published to the in-memory
server.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.client.raw import (
    AAC_AUDIO_BYTE,
    AacRawPublisher,
    AccessUnitSplitter,
    AdtsSplitter,
    H264RawPublisher,
    avc_decoder_configuration_record,
    avc_sequence_header,
    avc_video_payload,
    parse_adts_header,
)
from srstwist.client.rtmp import RtmpClientProtocol
from srstwist.codec.aac import AacError, parse_aac_sequence_header
from srstwist.codec.avc import AvcError, parse_avc_sequence_header, split_nalus
from srstwist.codec.flv import FlvTag, TagType, is_keyframe
from srstwist.codec.rtmp_events import Media, MediaKind
from tests.rtmp_peer import Harness
from tests.test_client_flv_file import attach, ffprobe, generated

# A real 320x240 Baseline SPS and PPS (x264), and slices standing in for frames.
_SPS = bytes.fromhex("6742c00dd90141fb011000000300100000030320f142a480")
_PPS = bytes.fromhex("68ce0f2c80")
_IDR = b"\x65\x88\x84\x00\x33"
_P = b"\x41\x9a\x21\x6c"
_SEI = b"\x06\x05\x01\x00\x80"


def _annexb(*nalus: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in nalus)


def _h264_units() -> list[list[bytes]]:
    with open(generated("h264"), "rb") as f:
        data = f.read()
    splitter = AccessUnitSplitter()
    return splitter.receive_data(data) + splitter.flush()


def _adts_frames() -> list[bytes]:
    with open(generated("aac"), "rb") as f:
        data = f.read()
    splitter = AdtsSplitter()
    frames = splitter.receive_data(data)
    splitter.flush()
    return frames


class H264Tests(SynchronousTestCase):
    """H264RawPublisher builds sequence headers from SPS/PPS and frames from slices."""

    def test_record(self) -> None:
        """The built record parses back to the same SPS, PPS and 4-byte lengths."""
        config = parse_avc_sequence_header(avc_sequence_header(_SPS, _PPS))
        self.assertEqual((config.sps, config.pps, config.nal_unit_length), ((_SPS,), (_PPS,), 4))
        self.assertEqual((config.profile_idc, config.level_idc), (_SPS[1], _SPS[3]))
        self.assertEqual((config.width, config.height), (320, 240))

    def test_record_refuses_short_sps(self) -> None:
        """An SPS without profile and level bytes cannot make a record."""
        self.assertRaises(AvcError, avc_decoder_configuration_record, b"\x67\x42", _PPS)
        self.assertRaises(AvcError, avc_decoder_configuration_record, _SPS, b"")

    def test_first_frame(self) -> None:
        """SPS+PPS+IDR gives a sequence header then a keyframe, both at the dts."""
        publisher = H264RawPublisher()
        tags = publisher.write_frame(_annexb(_SPS, _PPS, _SEI, _IDR), 40, 80)
        self.assertEqual(
            tags,
            [
                FlvTag(TagType.VIDEO, 40, avc_sequence_header(_SPS, _PPS)),
                FlvTag(TagType.VIDEO, 40, b"\x17\x01\x00\x00\x28" + b"\x00\x00\x00\x05" + _IDR),
            ],
        )
        self.assertEqual(publisher.ignored_nalus, 1)

    def test_inter_frame(self) -> None:
        """A non-IDR slice is an inter frame; pts defaults to dts."""
        publisher = H264RawPublisher()
        publisher.write_frame(_annexb(_SPS, _PPS, _IDR), 0)
        (tag,) = publisher.write_frame(_annexb(_P), 40)
        self.assertEqual(tag, FlvTag(TagType.VIDEO, 40, avc_video_payload([_P], False)))
        self.assertEqual(tag.payload[:5], b"\x27\x01\x00\x00\x00")

    def test_negative_composition_time(self) -> None:
        """A pts before the dts is written as a signed 24-bit composition time."""
        self.assertEqual(avc_video_payload([_P], False, -1)[2:5], b"\xff\xff\xff")
        self.assertRaises(AvcError, avc_video_payload, [_P], False, 1 << 23)

    def test_frames_before_parameter_sets_dropped(self) -> None:
        """Slices before the first SPS and PPS are dropped (#203)."""
        publisher = H264RawPublisher()
        self.assertEqual(publisher.write_frame(_annexb(_IDR), 0), [])
        self.assertEqual(publisher.write_frame(_annexb(_SPS, _P), 40), [])
        self.assertEqual(publisher.dropped_frames, 2)
        tags = publisher.write_frame(_annexb(_PPS, _IDR), 80)
        self.assertEqual(len(tags), 2)

    def test_duplicates_send_nothing(self) -> None:
        """A repeated SPS/PPS does not produce another sequence header (#204)."""
        publisher = H264RawPublisher()
        publisher.write_frame(_annexb(_SPS, _PPS, _IDR), 0)
        tags = publisher.write_frame(_annexb(_SPS, _PPS, _IDR), 400)
        self.assertEqual(len(tags), 1)
        self.assertTrue(is_keyframe(tags[0].payload))
        self.assertEqual((publisher.duplicate_sps, publisher.duplicate_pps), (1, 1))
        self.assertEqual(publisher.sequence_headers, 1)

    def test_changed_parameter_sets(self) -> None:
        """A changed SPS or PPS sends a new sequence header before the next frame."""
        publisher = H264RawPublisher()
        publisher.write_frame(_annexb(_SPS, _PPS, _IDR), 0)
        other_pps = b"\x68\xce\x3c\x80"
        tags = publisher.write_frame(_annexb(other_pps, _IDR), 400)
        self.assertEqual(tags[0].payload, avc_sequence_header(_SPS, other_pps))
        self.assertEqual(publisher.sequence_headers, 2)

    def test_parameter_sets_alone(self) -> None:
        """SPS and PPS fed one NALU per call (srs-librtmp style) wait for the frame."""
        publisher = H264RawPublisher()
        self.assertEqual(publisher.write_frame(_annexb(_SPS), 0), [])
        self.assertEqual(publisher.write_frame(_annexb(_PPS), 0), [])
        self.assertEqual(len(publisher.write_frame(_annexb(_IDR), 0)), 2)

    def test_not_annexb(self) -> None:
        """Bytes without a start code are refused."""
        self.assertRaises(AvcError, H264RawPublisher().write_frame, _IDR, 0)

    def test_ffmpeg_stream(self) -> None:
        """ffmpeg's Annex-B gives one header of ffprobe's size and one frame per picture."""
        units = _h264_units()
        probe = ffprobe(
            generated("h264"), "-count_packets", "-show_entries", "stream=width,height,nb_read_packets"
        )["streams"][0]
        self.assertEqual(len(units), int(probe["nb_read_packets"]))
        publisher = H264RawPublisher()
        tags = [t for i, unit in enumerate(units) for t in publisher.write_nalus(unit, i * 40)]
        self.assertEqual(len(tags), len(units) + 1)
        config = parse_avc_sequence_header(tags[0].payload)
        self.assertEqual((config.width, config.height), (probe["width"], probe["height"]))
        # x264 repeats SPS/PPS before every IDR (-g 10): duplicates, one header.
        self.assertEqual(publisher.sequence_headers, 1)
        self.assertEqual(publisher.duplicate_sps, 2)
        self.assertEqual([is_keyframe(t.payload) for t in tags[1:]], [i % 10 == 0 for i in range(25)])
        for tag in tags[1:]:
            self.assertTrue(split_nalus(tag.payload[5:], 4))


class AccessUnitSplitterTests(SynchronousTestCase):
    """AccessUnitSplitter groups NALUs into pictures, however the bytes arrive."""

    def test_grouping(self) -> None:
        """Parameter sets and SEI join the slice after them; each new picture starts a unit."""
        second_slice = b"\x41\x1a"  # first_mb_in_slice != 0: same picture
        data = _annexb(_SPS, _PPS, _SEI, _IDR, b"\x65\x1a", _P, second_slice, b"\x09\xf0", _P)
        splitter = AccessUnitSplitter()
        units = splitter.receive_data(data) + splitter.flush()
        self.assertEqual(
            units,
            [[_SPS, _PPS, _SEI, _IDR, b"\x65\x1a"], [_P, second_slice], [b"\x09\xf0", _P]],
        )

    @given(st.lists(st.integers(0, 4000), max_size=8))
    def test_resplit(self, cuts: list[int]) -> None:
        """Feeding ffmpeg's stream in arbitrary pieces gives the same units."""
        with open(generated("h264"), "rb") as f:
            data = f.read()
        splitter = AccessUnitSplitter()
        units: list[list[bytes]] = []
        start = 0
        for cut in sorted(c * len(data) // 4000 for c in cuts):
            units += splitter.receive_data(data[start:cut])
            start = cut
        units += splitter.receive_data(data[start:]) + splitter.flush()
        self.assertEqual(units, _h264_units())

    def test_garbage(self) -> None:
        """A stream that does not start with a start code is refused."""
        self.assertRaises(AvcError, AccessUnitSplitter().receive_data, b"\x12\x34\x00\x00\x01\x65")
        self.assertRaises(AvcError, AccessUnitSplitter().receive_data, b"\x12\x34\x56")

    def test_limit(self) -> None:
        """A NALU over the limit is refused."""
        splitter = AccessUnitSplitter(max_nalu_size=100)
        self.assertRaises(AvcError, splitter.receive_data, b"\x00\x00\x01\x65" + b"\x11" * 200)


class AacTests(SynchronousTestCase):
    """AacRawPublisher makes one sequence header from ADTS and strips the headers."""

    def test_adts_header(self) -> None:
        """An ffmpeg ADTS header gives LC, 44.1 kHz, stereo, as ffprobe says."""
        frames = _adts_frames()
        header = parse_adts_header(frames[0])
        probe = ffprobe(
            generated("aac"), "-count_packets", "-show_entries",
            "stream=sample_rate,channels,profile,nb_read_packets",
        )["streams"][0]  # fmt: skip
        self.assertEqual(len(frames), int(probe["nb_read_packets"]))
        self.assertEqual(probe["profile"], "LC")
        self.assertEqual((header.object_type, header.channels), (2, probe["channels"]))
        self.assertEqual(header.sample_rate, int(probe["sample_rate"]))
        self.assertEqual(header.frame_length, len(frames[0]))

    def test_publisher(self) -> None:
        """One sequence header (parsable), then every frame without its ADTS header."""
        frames = _adts_frames()
        publisher = AacRawPublisher()
        tags = [t for i, frame in enumerate(frames) for t in publisher.write_frame(frame, i * 23)]
        self.assertEqual(len(tags), len(frames) + 1)
        self.assertEqual(publisher.sequence_headers, 1)
        config = parse_aac_sequence_header(tags[0].payload)
        self.assertEqual((config.object_type, config.sample_rate, config.channels), (2, 44100, 2))
        self.assertEqual(tags[0].payload[0], AAC_AUDIO_BYTE)
        self.assertEqual(tags[1].payload, b"\xaf\x01" + frames[0][7:])
        self.assertAlmostEqual(publisher.frame_duration, 1024000 / 44100)  # type: ignore[arg-type]

    def test_several_frames(self) -> None:
        """Frames given together are stamped one frame duration apart."""
        frames = _adts_frames()[:3]
        tags = AacRawPublisher().write_frame(b"".join(frames), 1000)
        self.assertEqual([t.timestamp for t in tags], [1000, 1000, 1023, 1046])

    def test_changed_config(self) -> None:
        """A change of channels sends a new sequence header."""
        frame = _adts_frames()[0]
        mono = bytearray(frame)
        mono[2] &= 0xFE
        mono[3] = (mono[3] & 0x3F) | 0x40
        publisher = AacRawPublisher()
        publisher.write_frame(frame, 0)
        self.assertEqual(len(publisher.write_frame(frame, 23)), 1)
        tags = publisher.write_frame(bytes(mono), 46)
        self.assertEqual(parse_aac_sequence_header(tags[0].payload).channels, 1)
        self.assertEqual(publisher.sequence_headers, 2)

    def test_crc(self) -> None:
        """A 9-byte header with CRC is stripped whole."""
        frame = _adts_frames()[0]
        raw = frame[7:]
        length = len(raw) + 9
        header = bytearray(frame[:7])
        header[1] &= 0xFE  # protection_absent 0
        header[3] = (header[3] & 0xFC) | (length >> 11) & 0x03
        header[4] = (length >> 3) & 0xFF
        header[5] = (header[5] & 0x1F) | (length & 0x07) << 5
        tags = AacRawPublisher().write_frame(bytes(header) + b"\x12\x34" + raw, 0)
        self.assertEqual(tags[1].payload, b"\xaf\x01" + raw)

    def test_errors(self) -> None:
        """Bytes that are not ADTS, or a frame cut short, raise AacError."""
        frame = _adts_frames()[0]
        self.assertRaises(AacError, AacRawPublisher().write_frame, b"\x12" * 20, 0)
        self.assertRaises(AacError, AacRawPublisher().write_frame, frame[:-1], 0)
        self.assertRaises(AacError, parse_adts_header, frame[:5])
        splitter = AdtsSplitter()
        self.assertEqual(splitter.receive_data(frame + frame[:10]), [frame])
        self.assertRaises(AacError, splitter.flush)

    @given(st.lists(st.integers(0, 1000), max_size=8))
    def test_resplit(self, cuts: list[int]) -> None:
        """Feeding the ADTS stream in arbitrary pieces gives the same frames."""
        data = b"".join(_adts_frames())
        splitter = AdtsSplitter()
        frames: list[bytes] = []
        start = 0
        for cut in sorted(c * len(data) // 1000 for c in cuts):
            frames += splitter.receive_data(data[start:cut])
            start = cut
        frames += splitter.receive_data(data[start:])
        splitter.flush()
        self.assertEqual(frames, _adts_frames())


class PublishRawTests(SynchronousTestCase):
    """Raw streams published through the client reach a player of the in-memory server."""

    def test_publish_raw(self) -> None:
        """The player gets both sequence headers and every frame, payloads unchanged."""
        harness = Harness("listen 1935;\nvhost __defaultVhost__ { min_latency on; }\n")
        publisher = RtmpClientProtocol(harness.clock)
        player = RtmpClientProtocol(harness.clock)
        received: list[Media] = []
        for client in (publisher, player):
            attach(harness, client)
            client.connect("rtmp://127.0.0.1/live")
        harness.flush()
        playing = player.play("raw", sink=received.append)
        publishing = publisher.publish("raw")
        harness.flush()
        self.successResultOf(playing)
        self.successResultOf(publishing)

        video = H264RawPublisher()
        audio = AacRawPublisher()
        video_tags = [t for i, unit in enumerate(_h264_units()) for t in video.write_nalus(unit, i * 40)]
        audio_tags = [
            t
            for i, frame in enumerate(_adts_frames())
            for t in audio.write_frame(frame, round(i * 1024000 / 44100))
        ]
        # Interleaved by timestamp; the sort is stable, so headers stay first.
        tags = sorted(video_tags + audio_tags, key=lambda t: t.timestamp)
        for tag in tags:
            publisher.send_message(tag.tag_type, tag.timestamp, tag.payload)
        harness.flush()

        av = [m for m in received if m.kind is not MediaKind.DATA]
        self.assertEqual([m.payload for m in av], [t.payload for t in tags])
        headers = [m for m in av if m.payload[1] == 0]
        self.assertEqual([m.kind for m in headers], [MediaKind.VIDEO, MediaKind.AUDIO])
        source = harness.hub.find("__defaultVhost__", "live", "raw")
        self.assertIsNotNone(source.publisher)  # type: ignore[union-attr]
