"""
Tests for :mod:`srstwist.codec.rtp` against ffmpeg's own RTP.

``tests/data/casters/rtp-h264.bin`` and ``rtp-aac.bin`` are the datagrams
(each after a 2-byte big-endian length) ffmpeg sent for::

    ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=sample_rate=44100 \\
        -map 0:v -t 2 -c:v libx264 -preset ultrafast -bf 2 -g 25 -pix_fmt yuv420p \\
        -f rtp rtp://127.0.0.1:47710 -map 1:a -t 2 -c:a aac -b:a 64k \\
        -f rtp rtp://127.0.0.1:47712 -sdp_file rtp.sdp

The H.264 stream has STAP-A (SPS, PPS, SEI, ...), FU-A and single NAL
packets; ``rtp.sdp`` is ffmpeg's SDP for both.
"""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.rtp import (
    AacDepacketizer,
    DecodeTimes,
    H264Depacketizer,
    RtpError,
    Timeline,
    parse_rtp,
    parse_sender_report,
)

_DATA = os.path.join(os.path.dirname(__file__), "data", "casters")


def load(name: str) -> list[bytes]:
    with open(os.path.join(_DATA, name), "rb") as f:
        data = f.read()
    out, i = [], 0
    while i < len(data):
        (size,) = struct.unpack_from(">H", data, i)
        out.append(data[i + 2 : i + 2 + size])
        i += 2 + size
    return out


class H264Tests(SynchronousTestCase):
    def test_capture(self) -> None:
        packets = [parse_rtp(p) for p in load("rtp-h264.bin")]
        self.assertEqual({p.payload[0] & 0x1F for p in packets}, {1, 24, 28})
        depacketizer = H264Depacketizer()
        units = [u for p in packets for u in depacketizer.push(p)]
        self.assertEqual(len(units), 50)  # 2 s at 25 fps
        self.assertEqual([n[0] & 0x1F for n in units[0][1]], [7, 8, 6, 5])
        self.assertEqual(depacketizer.lost, 0)
        # B-frames: RTP timestamps (PTS) out of order.
        stamps = [t for t, _ in units]
        self.assertNotEqual(stamps, sorted(stamps))
        dts = DecodeTimes()
        out = [x for t, n in units for x in dts.push(t, n)]
        self.assertEqual(len(out), 47)  # 3 wait in the reorder window
        self.assertEqual([d for _, d, _ in out], sorted(d for _, d, _ in out))
        self.assertTrue(all(p >= d for p, d, _ in out))
        self.assertTrue(any(p > d for p, d, _ in out))

    @settings(max_examples=40, deadline=None)
    @given(st.sets(st.integers(min_value=1, max_value=65), max_size=15))
    def test_loss_drops_broken_units_only(self, lost: set[int]) -> None:
        # (The loss of the very first packet cannot be seen: nothing came before it.)
        packets = [parse_rtp(p) for i, p in enumerate(load("rtp-h264.bin")) if i not in lost]
        depacketizer = H264Depacketizer()
        units = [u for p in packets for u in depacketizer.push(p)]
        self.assertLessEqual(len(units), 50)
        complete = H264Depacketizer()
        whole = dict(u for p in map(parse_rtp, load("rtp-h264.bin")) for u in complete.push(p))
        for timestamp, nalus in units:
            if all(n[0] & 0x1F not in (7, 8) for n in nalus):
                # a unit that comes out whole is exactly the unit without loss
                self.assertTrue(nalus == whole.get(timestamp), timestamp)

    def test_not_rtp(self) -> None:
        for bad in (b"", b"\x00" * 12, b"\x80" * 5, b"\x90\x60" + b"\x00" * 10):
            with self.assertRaises(RtpError):
                parse_rtp(bad)


class AacTests(SynchronousTestCase):
    def test_capture(self) -> None:
        packets = [parse_rtp(p) for p in load("rtp-aac.bin")]
        frames = [f for p in packets for f in AacDepacketizer().push(p)]
        self.assertGreater(len(frames), 80)  # 2 s of 1024-sample frames at 44.1 kHz: 86
        stamps = [t for t, _ in frames]
        self.assertEqual([b - a for a, b in zip(stamps, stamps[1:])], [1024] * (len(stamps) - 1))
        self.assertTrue(all(len(raw) > 0 for _, raw in frames))


class TimelineTests(SynchronousTestCase):
    def test_wrap_and_sender_reports(self) -> None:
        epoch: list[float] = []
        video, audio = Timeline(90000), Timeline(44100)
        video.sender_report(1000.0, 2**32 - 9000)
        audio.sender_report(1000.5, 12345)
        self.assertEqual(video.ticks(2**32 - 9000, epoch), 0)
        self.assertEqual(video.ticks(81000, epoch), 90000)  # across the 32-bit wrap
        self.assertEqual(audio.ticks(12345, epoch), 45000)  # 0.5 s later by NTP

    def test_sender_report_parse(self) -> None:
        sr = bytes((0x80, 200, 0, 6)) + struct.pack(">IIII", 1, 5, 2**31, 777) + b"\x00" * 8
        self.assertEqual(parse_sender_report(sr), (5.5, 777))
        self.assertIsNone(parse_sender_report(b"\x80\xc9\x00\x01" + b"\x00" * 4))
