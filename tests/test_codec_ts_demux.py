"""
Tests for :mod:`srstwist.codec.ts_demux` against ffmpeg's own MPEG-TS.

``tests/data/casters/bf2-640x360-aac.ts`` was made with::

    ffmpeg -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=sample_rate=44100 \\
        -t 2 -c:v libx264 -preset ultrafast -bf 2 -g 25 -pix_fmt yuv420p \\
        -c:a aac -b:a 64k -f mpegts bf2-640x360-aac.ts

ffprobe reports 50 H.264 packets (B-frames: PTS != DTS) and AAC at 44.1 kHz.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.flv import TagType
from srstwist.codec.ts import PACKET_SIZE, STREAM_TYPE_AAC, STREAM_TYPE_H264, TsMuxer
from srstwist.codec.ts_demux import EsToFlv, TsDemuxer, parse_adts_frames, split_annexb

_CAPTURE = os.path.join(os.path.dirname(__file__), "data", "casters", "bf2-640x360-aac.ts")


def _capture() -> bytes:
    with open(_CAPTURE, "rb") as f:
        return f.read()


def _demux_all(pieces: list[bytes]) -> tuple[TsDemuxer, list]:
    demuxer = TsDemuxer()
    frames = []
    for piece in pieces:
        frames += demuxer.receive_data(piece)
    return demuxer, frames + demuxer.flush()


class CaptureTests(SynchronousTestCase):
    def test_access_units(self) -> None:
        demuxer, frames = _demux_all([_capture()])
        video = [f for f in frames if f.stream_type == STREAM_TYPE_H264]
        audio = [f for f in frames if f.stream_type == STREAM_TYPE_AAC]
        self.assertEqual(len(video), 50)
        self.assertTrue(audio)
        self.assertEqual(demuxer.stats.continuity_errors, 0)
        self.assertEqual(demuxer.stats.dropped_pes, 0)
        # B-frames: presentation order differs from decode order.
        self.assertNotEqual(sorted(f.pts for f in video), [f.pts for f in video])
        self.assertEqual(sorted(f.dts for f in video), [f.dts for f in video])

    def test_flv_messages_keep_composition_time(self) -> None:
        _, frames = _demux_all([_capture()])
        converter = EsToFlv()
        messages = [m for f in frames for m in converter.frame(f)]
        video = [m for m in messages if m.message_type == TagType.VIDEO]
        self.assertEqual(video[0].payload[:2], b"\x17\x00")  # the sequence header first
        self.assertEqual(video[1].payload[:2], b"\x17\x01")  # then the IDR frame
        self.assertEqual(sum(1 for m in video if m.payload[1] == 0), 1)  # repeats not re-sent
        cts = [int.from_bytes(m.payload[2:5], "big", signed=True) for m in video[1:]]
        self.assertEqual(cts[0], 80)  # ffprobe: pts 133200 - dts 126000 = 7200 ticks
        self.assertEqual(set(cts), {40, 80, 160})  # the B-frames' own offsets
        self.assertEqual(len(video), 51)
        audio = [m for m in messages if m.message_type == TagType.AUDIO]
        self.assertEqual(audio[0].payload, b"\xae\x00\x12\x08")  # AAC LC, 44.1 kHz, mono
        times = [m.timestamp for m in audio[1:]]
        self.assertEqual(times, sorted(times))

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=60))
    def test_any_split_gives_the_same_frames(self, cuts: list[int]) -> None:
        data = _capture()
        pieces, offset = [], 0
        for cut in cuts:
            pieces.append(data[offset : offset + cut])
            offset += cut
        pieces.append(data[offset:])
        _, whole = _demux_all([data])
        _, split = _demux_all(pieces)
        self.assertEqual(split, whole)

    @settings(max_examples=40, deadline=None)
    @given(st.sets(st.integers(min_value=0, max_value=413), max_size=40), st.randoms())
    def test_loss_and_reordering_are_survived(self, lost: set[int], rnd) -> None:
        data = _capture()
        packets = [data[i : i + PACKET_SIZE] for i in range(0, len(data), PACKET_SIZE)]
        kept = [p for i, p in enumerate(packets) if i not in lost]
        if len(kept) > 4:
            a = rnd.randrange(len(kept) - 1)
            kept[a], kept[a + 1] = kept[a + 1], kept[a]
        demuxer, frames = _demux_all([b"".join(kept)])
        converter = EsToFlv()
        for frame in frames:
            converter.frame(frame)  # never raises
        _, whole = _demux_all([data])
        self.assertLessEqual(len(frames), len(whole))

    def test_garbage_is_skipped(self) -> None:
        data = _capture()
        demuxer, frames = _demux_all([b"\x00garbage" * 100, data[:1000], os.urandom(3000), data[1000:]])
        self.assertGreater(demuxer.stats.skipped_bytes, 0)
        self.assertGreater(len(frames), 40)

    def test_random_bytes_never_raise(self) -> None:
        demuxer = TsDemuxer()
        for _ in range(50):
            demuxer.receive_data(b"\x47" + os.urandom(PACKET_SIZE * 3))
        demuxer.flush()


class WrapTests(SynchronousTestCase):
    def test_33_bit_wrap(self) -> None:
        """Timestamps written by our own muxer across 2**33 keep growing."""
        muxer = TsMuxer()
        muxer.set_program(STREAM_TYPE_H264, None)
        start = (1 << 33) - 90000
        es = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x00\x01\x65" + b"\x88" * 300
        chunks = []
        for i in range(50):
            ts = (start + i * 3600) & ((1 << 33) - 1)
            chunks.append(muxer.write_pes(STREAM_TYPE_H264, es, ts + 3600, ts, random_access=i == 0))
        demuxer = TsDemuxer()
        frames = demuxer.receive_data(b"".join(chunks)) + demuxer.flush()
        self.assertEqual(len(frames), 50)
        dts = [f.dts for f in frames]
        self.assertEqual(dts, [start + i * 3600 for i in range(50)])
        self.assertEqual([f.pts - f.dts for f in frames], [3600] * 50)


class ElementaryTests(SynchronousTestCase):
    def test_split_annexb(self) -> None:
        self.assertEqual(
            split_annexb(b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x68c\x00\x00\x00\x01\x65d"),
            [b"\x67ab", b"\x68c", b"\x65d"],
        )

    def test_adts(self) -> None:
        raw = b"\x21" * 10
        length = 7 + len(raw)
        header = bytes(
            (0xFF, 0xF1, 1 << 6 | 4 << 2, 2 << 6 | length >> 11, length >> 3 & 0xFF, (length & 7) << 5 | 0x1F, 0xFC)
        )
        frames = parse_adts_frames(header + raw + header + raw + header[:5])
        self.assertEqual(len(frames), 2)
        self.assertEqual(frames[0].asc, b"\x12\x10")
        self.assertEqual(frames[0].raw, raw)
        self.assertEqual(frames[0].sample_rate, 44100)
