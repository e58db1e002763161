"""
Tests for :mod:`srstwist.media.remux`: the live HTTP bodies.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.flv import FlvTagDecoder
from srstwist.media.message import SharedMessage
from srstwist.media.remux import (
    ID3_TAG,
    AacLiveEncoder,
    FlvLiveEncoder,
    Mp3LiveEncoder,
    RemuxError,
    encoder_for,
)

#: AAC-LC, 44.1 kHz, stereo: AudioSpecificConfig 0x12 0x10.
_AAC_HEADER = SharedMessage(0, 8, b"\xaf\x00\x12\x10")


class FlvTests(SynchronousTestCase):
    """FLV: header, then tags an FLV decoder reads back."""

    def test_round_trip(self) -> None:
        """Header and tags decode, with the player's timestamps; metadata at 0."""
        encoder = FlvLiveEncoder()
        meta = SharedMessage(500, 18, b"\x02\x00\x0aonMetaData\x05")
        video = SharedMessage(40, 9, b"\x17\x01\x00\x00\x00frame")
        body = encoder.start() + encoder.encode(meta, 7) + encoder.encode(video, 1040)
        tags = FlvTagDecoder().receive_data(body)
        self.assertEqual([(t.tag_type, t.timestamp) for t in tags], [(18, 0), (9, 1040)])
        self.assertEqual(tags[1].payload, video.payload)

    def test_shared_bytes(self) -> None:
        """Two players at the same timestamp get the very same bytes object."""
        video = SharedMessage(40, 9, b"\x27\x01\x00\x00\x00frame")
        self.assertIs(FlvLiveEncoder().encode(video, 3), FlvLiveEncoder().encode(video, 3))


class AudioTests(SynchronousTestCase):
    """MP3 and AAC bodies."""

    def test_mp3(self) -> None:
        """The ID3 tag, then MP3 frames without their FLV byte; video dropped."""
        encoder = Mp3LiveEncoder()
        self.assertEqual(encoder.start(), ID3_TAG)
        self.assertEqual(len(ID3_TAG), 20)
        self.assertEqual(encoder.encode(SharedMessage(0, 8, b"\x2f\xff\xfbdata"), 0), b"\xff\xfbdata")
        self.assertEqual(encoder.encode(SharedMessage(0, 9, b"\x17\x01"), 0), b"")
        self.assertEqual(encoder.encode(SharedMessage(0, 8, b"\xaf\x01x"), 0), b"")

    def test_aac(self) -> None:
        """ADTS frames once the sequence header is known; nothing before it."""
        encoder = AacLiveEncoder()
        frame = SharedMessage(23, 8, b"\xaf\x01" + b"\x21" * 10)
        self.assertEqual(encoder.encode(frame, 0), b"")
        self.assertEqual(encoder.encode(_AAC_HEADER, 0), b"")
        out = encoder.encode(frame, 0)
        self.assertEqual(len(out), 17)
        self.assertEqual(out[:2], b"\xff\xf1")  # sync word, MPEG-4, no CRC
        self.assertEqual(((out[3] & 3) << 11) | (out[4] << 3) | (out[5] >> 5), 17)
        self.assertEqual(out[7:], b"\x21" * 10)

    def test_unknown_extension(self) -> None:
        """Only .flv, .mp3 and .aac are live formats here."""
        self.assertRaises(RemuxError, encoder_for, ".mkv")
        self.assertIsInstance(encoder_for(".aac"), AacLiveEncoder)


class TsTests(SynchronousTestCase):
    """HTTP-TS from a real capture."""

    def test_capture(self) -> None:
        """
        A captured ffmpeg stream becomes whole 188-byte packets that start
        with the PAT and PMT, with H.264 and AAC PES and PCRs on keyframes.
        """
        from tests.rtmp_peer import captured_media

        encoder = encoder_for(".ts")
        self.assertEqual(encoder.start(), b"")
        body = b"".join(
            encoder.encode(SharedMessage.from_raw(raw), raw.timestamp) for raw in captured_media()
        )
        self.assertGreater(len(body), 10_000)
        self.assertEqual(len(body) % 188, 0)
        packets = [body[i : i + 188] for i in range(0, len(body), 188)]
        self.assertTrue(all(p[0] == 0x47 for p in packets))
        pids = [((p[1] & 0x1F) << 8) | p[2] for p in packets]
        self.assertEqual(pids[:2], [0, 0x1001])
        self.assertIn(0x100, pids)
        self.assertIn(0x101, pids)
        pcrs = [p for p in packets if p[3] & 0x20 and p[4] and p[5] & 0x10]
        self.assertGreater(len(pcrs), 0)
