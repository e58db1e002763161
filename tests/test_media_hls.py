"""
Tests for `srstwist.media.hls` and `srstwist.media.hls_playlist`: reaping,
the playlist, file names, audio-only and video-only streams, republish,
dispose, discarding, and TS continuity over a whole stream's life
(SRS's ``srs_app_hls.cpp``).

`Stream` builds synthetic FLV messages; the service tests use it too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.amf0 import Amf0Object, encode_values
from srstwist.codec.ts import AAC_PID, MP3_PID, PAT_PID, PMT_PID, VIDEO_PID, crc32_mpeg2
from srstwist.config.model import HlsConfig
from srstwist.media.hls import (
    HlsError,
    HlsEvent,
    HlsSegmenter,
    PlaylistUpdated,
    SegmentClosed,
    SegmentData,
    SegmentDropped,
    SegmentExpired,
    SegmentOpened,
    StreamDisposed,
)
from srstwist.media.hls_playlist import (
    ListedSegment,
    expire,
    floor_accept,
    render_playlist,
    segment_path,
    segment_uri,
    stream_path,
    target_duration,
    time_path,
)
from tests.test_codec_ts import IDR, PPS, SLICE, SPS, parse_packets, pes_times, reassemble

# 2024-01-02 03:04:05.678 UTC
NOW = 1704164645.678


@dataclass(frozen=True)
class Message:
    """A message as the segmenter reads it."""

    timestamp: int
    message_type_id: int
    payload: bytes


def avc_header() -> bytes:
    """An AVC sequence header payload with `SPS` and `PPS`."""
    record = bytes((1, SPS[1], SPS[2], SPS[3], 0xFF, 0xE1)) + len(SPS).to_bytes(2, "big") + SPS
    record += b"\x01" + len(PPS).to_bytes(2, "big") + PPS
    return b"\x17\x00\x00\x00\x00" + record


def video(timestamp: int, keyframe: bool, cts: int = 0) -> Message:
    """A one-NALU H.264 frame."""
    nalu = IDR if keyframe else SLICE
    head = bytes((0x17 if keyframe else 0x27, 1)) + cts.to_bytes(3, "big", signed=True)
    return Message(timestamp, 9, head + len(nalu).to_bytes(4, "big") + nalu)


def metadata(video: bool = True, audio: float | None = 10.0) -> Message:
    """An onMetaData message announcing the codecs."""
    values = Amf0Object()
    if video:
        values["videocodecid"] = 7.0
    if audio is not None:
        values["audiocodecid"] = audio
    return Message(0, 18, encode_values("onMetaData", values))


AAC_HEADER = Message(0, 8, b"\xaf\x00\x12\x10")
VIDEO_HEADER = Message(0, 9, avc_header())


def aac(timestamp: int) -> Message:
    """A raw AAC frame."""
    return Message(timestamp, 8, b"\xaf\x01" + bytes(20))


def mp3(timestamp: int) -> Message:
    """An MP3 payload (the bytes need not be a real frame)."""
    return Message(timestamp, 8, b"\x2f\xff\xfb\x90\x00" + bytes(20))


def av_stream(
    seconds: float, *, fps: int = 25, gop: float = 2.0, audio: bool = True, start: int = 0
) -> list[Message]:
    """
    Headers, then interleaved frames: video every 1/fps s with a keyframe
    every ``gop`` s, AAC every 23 ms.
    """
    messages = [metadata(audio=10.0 if audio else None), VIDEO_HEADER]
    if audio:
        messages.append(AAC_HEADER)
    frames: list[Message] = []
    step = 1000 // fps
    per_gop = round(gop * 1000 / step)
    for index in range(int(seconds * 1000 / step)):
        frames.append(video(start + index * step, index % per_gop == 0))
    if audio:
        frames += [aac(start + t) for t in range(0, int(seconds * 1000), 23)]
    frames.sort(key=lambda m: (m.timestamp, m.message_type_id))
    return messages + frames


def audio_stream(seconds: float, *, start: int = 0) -> list[Message]:
    """Metadata without video, the AAC header, AAC every 23 ms."""
    return [metadata(video=False), AAC_HEADER] + [
        aac(start + t) for t in range(0, int(seconds * 1000), 23)
    ]


def config(**changes: object) -> HlsConfig:
    """An enabled HLS config with a 2 s fragment."""
    return dataclasses.replace(HlsConfig(enabled=True, hls_fragment=2.0), **changes)  # type: ignore[arg-type]


def run(
    segmenter: HlsSegmenter, messages: list[Message], hls: HlsConfig | None = None, end: bool = True
) -> list[HlsEvent]:
    """Publish, feed every message, unpublish (unless not ``end``)."""
    events = segmenter.on_publish(hls or config(), NOW)
    for message in messages:
        events += segmenter.on_message(message, NOW)
    if end:
        events += segmenter.on_unpublish()
    return events


def closed(events: list[HlsEvent]) -> list[SegmentClosed]:
    """The SegmentClosed events."""
    return [e for e in events if isinstance(e, SegmentClosed)]


def data_of(events: list[HlsEvent], sequence: int | None = None) -> bytes:
    """All segment bytes, or one segment's."""
    return b"".join(
        e.data
        for e in events
        if isinstance(e, SegmentData) and (sequence is None or e.sequence == sequence)
    )


def last_playlist(events: list[HlsEvent]) -> str:
    """The text of the last PlaylistUpdated."""
    return [e for e in events if isinstance(e, PlaylistUpdated)][-1].text


class NamingTests(SynchronousTestCase):
    """
    File names, URIs and time variables (``SrsHlsMuxer::segment_open``).
    """

    def test_stream_variables(self) -> None:
        """Stream variables replace every occurrence."""
        self.assertEqual(stream_path("[vhost]/[app]/[stream]-[stream]", "v", "a", "s"), "v/a/s-s")

    def test_time_variables(self) -> None:
        """Date, time, millisecond and timestamp variables in UTC."""
        self.assertEqual(
            time_path("[2006][01][02]-[15][04][05].[999]-[timestamp]", NOW, utc=True),
            "20240102-030405.678-1704164645678",
        )

    def test_segment_path(self) -> None:
        """The default template gives app/stream-seq.ts."""
        self.assertEqual(
            segment_path("[app]/[stream]-[seq].ts", "v", "live", "s", 7, NOW), "live/s-7.ts"
        )

    def test_floor_path(self) -> None:
        """In floor mode [timestamp] is the floor counter, not milliseconds."""
        path = segment_path("[stream]-[timestamp].ts", "v", "a", "s", 0, NOW, floor=42)
        self.assertEqual(path, "s-42.ts")

    def test_floor_accept(self) -> None:
        """The floor counter starts one behind the clock and then counts by one."""
        current = int(NOW // 2)
        self.assertEqual(floor_accept(NOW, 2.0, None), (current - 1, -1))
        self.assertEqual(floor_accept(NOW, 2.0, current - 1), (current, 0))
        self.assertEqual(floor_accept(NOW, 2.0, current + 30), (current - 1, -1))

    def test_uris(self) -> None:
        """URIs are relative to the playlist, or under the entry prefix."""
        self.assertEqual(segment_uri("live/s-0.ts", "live/s.m3u8"), "s-0.ts")
        self.assertEqual(segment_uri("live2/s-0.ts", "live/s.m3u8"), "../live2/s-0.ts")
        self.assertEqual(segment_uri("s-0.ts", "s.m3u8", "http://cdn"), "http://cdn/s-0.ts")
        self.assertEqual(
            segment_uri("live/s-0.ts", "live/s.m3u8", "http://cdn"), "http://cdn/live/s-0.ts"
        )
        self.assertEqual(
            segment_uri("live/s-0.ts", "live/s.m3u8", "http://cdn/x/"), "http://cdn/x/s-0.ts"
        )


class PlaylistTests(SynchronousTestCase):
    """
    The m3u8 text and the window (``SrsHlsMuxer::_refresh_m3u8``, ``segment_close``).
    """

    segments = [
        ListedSegment(0, "live/s-0.ts", "s-0.ts", 10.005, True),
        ListedSegment(1, "live/s-1.ts", "s-1.ts", 10.008, False),
    ]

    def test_text(self) -> None:
        """SRS's playlist, byte for byte."""
        self.assertEqual(
            render_playlist(self.segments, 15),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-TARGETDURATION:15\n#EXT-X-DISCONTINUITY\n#EXTINF:10.005, no desc\n"
            "s-0.ts\n#EXTINF:10.008, no desc\ns-1.ts\n",
        )

    def test_endlist(self) -> None:
        """An ended stream's playlist ends with #EXT-X-ENDLIST."""
        self.assertTrue(render_playlist(self.segments, 15, True).endswith("#EXT-X-ENDLIST\n"))

    def test_target_duration(self) -> None:
        """The target is the larger of the floor and the longest EXTINF rounded up."""
        self.assertEqual(target_duration(self.segments, 3), 11)
        self.assertEqual(target_duration(self.segments, 15), 15)

    def test_expire(self) -> None:
        """The segment that crosses the window stays, older ones go."""
        segments = [ListedSegment(i, "", "", 10.0, False) for i in range(9)]
        self.assertEqual(expire(segments, 60), 2)
        self.assertEqual(expire(segments[:3], 60), 0)


class SegmenterTests(SynchronousTestCase):
    """
    Reaping and the events of a stream's life (``SrsHls``, ``SrsHlsMuxer``).
    """

    def test_av_segments(self) -> None:
        """A/V with a 2 s GOP and a 2 s fragment gives 2 s segments."""
        segmenter = HlsSegmenter("v", "live", "s")
        events = run(segmenter, av_stream(6))
        durations = [e.duration for e in closed(events)]
        self.assertEqual(durations[:2], [2.0, 2.0])
        self.assertEqual([e.sequence for e in closed(events)], [0, 1, 2])
        self.assertIsInstance(events[0], SegmentOpened)
        self.assertEqual(events[0], SegmentOpened(0, "live/s-0.ts", "s-0.ts"))
        text = last_playlist(events)
        self.assertIn("#EXT-X-TARGETDURATION:3\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000", text)
        self.assertTrue(text.endswith("#EXT-X-ENDLIST\n"))
        self.assertEqual(text.count("#EXT-X-DISCONTINUITY"), 1)

    def test_segment_starts_with_tables_and_keyframe(self) -> None:
        """A reaped segment starts with PAT, PMT and a keyframe carrying a PCR."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(6))
        packets = parse_packets(data_of(events, 1))
        self.assertEqual([p.pid for p in packets[:3]], [PAT_PID, PMT_PID, VIDEO_PID])
        self.assertEqual(packets[2].adaptation[0], 0x50)

    def test_wait_keyframe(self) -> None:
        """With a 3 s GOP, segments wait for the keyframe."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(9, gop=3))
        self.assertEqual([e.duration for e in closed(events)][:2], [3.0, 3.0])

    def test_no_wait_keyframe(self) -> None:
        """With hls_wait_keyframe off, segments are cut at the fragment."""
        events = run(
            HlsSegmenter("v", "live", "s"), av_stream(9, gop=3), config(hls_wait_keyframe=False)
        )
        self.assertEqual([e.duration for e in closed(events)][:3], [2.0, 2.0, 2.0])

    def test_audio_overflow(self) -> None:
        """A GOP longer than aof x fragment is cut on audio."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(12, gop=10))
        first = closed(events)[0].duration
        self.assertTrue(4.0 <= first < 4.1, first)

    def test_late_start(self) -> None:
        """A publisher whose timestamps start late still gets 2 s segments."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(6, start=50000))
        self.assertEqual([e.duration for e in closed(events)][:2], [2.0, 2.0])

    def test_audio_only(self) -> None:
        """
        Audio only: the PMT has no video, PCR rides on audio, PES gather
        720 ms, segments are cut at aof x fragment.
        """
        events = run(HlsSegmenter("v", "live", "s"), audio_stream(10))
        packets = parse_packets(data_of(events, 0))
        pmt = [p for p in packets if p.pid == PMT_PID][0].payload
        self.assertEqual(pmt[1:].hex()[:42], "02b0120001c10000e101f0000fe101f000ece2b094")
        pes = reassemble(packets, AAC_PID)
        self.assertTrue(5 <= len(pes) <= 7, len(pes))
        starts = [p for p in packets if p.pid == AAC_PID and p.start]
        self.assertTrue(all(p.adaptation[0] & 0x10 for p in starts))
        self.assertTrue(4.0 <= closed(events)[0].duration <= 4.8)
        self.assertNotIn(VIDEO_PID, {p.pid for p in parse_packets(data_of(events))})

    def test_audio_only_tail(self) -> None:
        """
        Audio only: the segments cover the stream up to its last frame,
        including the frames aggregated after the last PES's start.
        """
        events = run(HlsSegmenter("v", "live", "s"), audio_stream(10))
        durations = [e.duration for e in closed(events)]
        self.assertEqual(len(durations), 3)
        self.assertAlmostEqual(sum(durations), 9.982, places=3)

    def test_video_only(self) -> None:
        """Video only: the PMT declares no audio."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(6, audio=False))
        pmt = [p for p in parse_packets(data_of(events, 0)) if p.pid == PMT_PID][0].payload
        self.assertEqual(pmt[1:].hex()[:42], "02b0120001c10000e100f0001be100f00015bd4d56")

    def test_video_only_no_metadata_an(self) -> None:
        """Without metadata, hls_acodec an keeps the phantom audio PID out."""
        messages = [m for m in av_stream(4, audio=False) if m.message_type_id != 18]
        events = run(HlsSegmenter("v", "live", "s"), messages, config(hls_acodec="an"))
        pids = {p.pid for p in parse_packets(data_of(events))}
        pmt = [p for p in parse_packets(data_of(events, 0)) if p.pid == PMT_PID][0].payload
        self.assertEqual(pids, {PAT_PID, PMT_PID, VIDEO_PID})
        self.assertEqual(pmt[1:].hex()[:42], "02b0120001c10000e100f0001be100f00015bd4d56")

    def test_mp3(self) -> None:
        """MP3 goes on PID 0x102 with stream type 0x04."""
        messages = [metadata(audio=2.0), VIDEO_HEADER, video(0, True), mp3(0), mp3(26)]
        events = run(HlsSegmenter("v", "live", "s"), messages)
        packets = parse_packets(data_of(events))
        self.assertIn(MP3_PID, {p.pid for p in packets})
        pmt = [p for p in packets if p.pid == PMT_PID][0].payload
        self.assertIn(bytes.fromhex("04e102f000"), pmt)

    def test_pure_audio_vn(self) -> None:
        """hls_vcodec vn writes no video but still cuts on keyframes."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(6), config(hls_vcodec="vn"))
        self.assertNotIn(VIDEO_PID, {p.pid for p in parse_packets(data_of(events))})
        self.assertEqual([e.duration for e in closed(events)][:2], [2.0, 2.0])

    def test_window(self) -> None:
        """Segments leave the window oldest first and are reported for removal."""
        events = run(HlsSegmenter("v", "live", "s"), av_stream(20), config(hls_window=5.0))
        expired = [e.sequence for e in events if isinstance(e, SegmentExpired)]
        self.assertEqual(expired, list(range(len(expired))))
        self.assertGreaterEqual(len(expired), 5)
        text = last_playlist(events)
        self.assertIn(text.count("#EXTINF"), (3, 4))
        self.assertIn(f"#EXT-X-MEDIA-SEQUENCE:{expired[-1] + 1}\n", text)

    def test_short_segment_dropped(self) -> None:
        """A segment under 0.1 s is dropped and its sequence number reused."""
        segmenter = HlsSegmenter("v", "live", "s")
        events = run(segmenter, av_stream(2.04))
        self.assertIsInstance(
            [e for e in events if isinstance(e, (SegmentClosed, SegmentDropped))][-1],
            SegmentDropped,
        )
        self.assertEqual(segmenter.next_sequence, 1)

    def test_republish(self) -> None:
        """
        Republish continues the sequence, drops ENDLIST at once and flags
        the new publish's first segment.
        """
        segmenter = HlsSegmenter("v", "live", "s")
        first = run(segmenter, av_stream(6))
        again = segmenter.on_publish(config(), NOW)
        self.assertFalse(again[0].ended)  # type: ignore[union-attr]
        self.assertNotIn("#EXT-X-ENDLIST", again[0].text)  # type: ignore[union-attr]
        for message in av_stream(6):
            again += segmenter.on_message(message, NOW)
        again += segmenter.on_unpublish()
        self.assertEqual([e.sequence for e in closed(again)], [3, 4, 5])
        self.assertEqual(last_playlist(again).count("#EXT-X-DISCONTINUITY"), 2)
        self.assert_continuous(data_of(first) + data_of(again))

    def assert_continuous(self, data: bytes) -> None:
        """Every PID's counter goes up by one mod 16."""
        last: dict[int, int] = {}
        for packet in parse_packets(data):
            if packet.pid in last:
                self.assertEqual(packet.counter, (last[packet.pid] + 1) & 0x0F)
            last[packet.pid] = packet.counter

    def test_target_never_lowers(self) -> None:
        """A long segment raises the target, which stays after it leaves the window."""
        segmenter = HlsSegmenter("v", "live", "s")
        messages = av_stream(6, gop=5) + [
            m for m in av_stream(30, gop=2, start=6000)[3:] if m.timestamp >= 6000
        ]
        text = last_playlist(run(segmenter, messages, config(hls_window=6.0)))
        self.assertIn("#EXT-X-TARGETDURATION:5\n", text)
        self.assertNotIn("#EXTINF:5", text)

    def test_timestamp_jump(self) -> None:
        """A forward jump closes the segment at its last frame, not at the jump."""
        messages = av_stream(3) + [m for m in av_stream(4, start=100000)[3:]]
        events = run(HlsSegmenter("v", "live", "s"), messages)
        durations = [e.duration for e in closed(events)]
        self.assertEqual(durations[0], 2.0)
        self.assertTrue(all(d < 3 for d in durations), durations)

    def test_entry_prefix(self) -> None:
        """hls_entry_prefix makes absolute URIs."""
        events = run(
            HlsSegmenter("v", "live", "s"), av_stream(4), config(hls_entry_prefix="http://cdn")
        )
        self.assertIn("\nhttp://cdn/live/s-0.ts\n", last_playlist(events))

    def test_floor_names(self) -> None:
        """In floor mode consecutive segments are numbered one apart."""
        events = run(
            HlsSegmenter("v", "live", "s"),
            av_stream(6),
            config(hls_ts_floor=True, hls_ts_file="[app]/[stream]-[timestamp].ts"),
        )
        numbers = [int(e.path[7:-3]) for e in events if isinstance(e, SegmentOpened)]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))))

    def test_m3u8_file(self) -> None:
        """hls_m3u8_file takes the stream variables."""
        events = run(
            HlsSegmenter("vh", "live", "s"),
            av_stream(4),
            config(hls_m3u8_file="[vhost]/[stream].m3u8"),
        )
        self.assertEqual(
            [e.path for e in events if isinstance(e, PlaylistUpdated)][-1], "vh/s.m3u8"
        )
        self.assertIn("\n../live/s-0.ts\n", last_playlist(events))

    def test_dispose(self) -> None:
        """Dispose reports every listed segment and the playlist; numbers carry on."""
        segmenter = HlsSegmenter("v", "live", "s")
        run(segmenter, av_stream(6))
        events = segmenter.dispose()
        self.assertEqual(
            events, [StreamDisposed(("live/s-0.ts", "live/s-1.ts", "live/s-2.ts", "live/s.m3u8"))]
        )
        self.assertEqual(segmenter.segments, ())
        later = run(segmenter, av_stream(4))
        self.assertEqual(closed(later)[0].sequence, 3)
        self.assertIn("#EXT-X-MEDIA-SEQUENCE:3\n", last_playlist(later))

    def test_discard_current(self) -> None:
        """A discarded open segment emits no more data and is dropped at close."""
        segmenter = HlsSegmenter("v", "live", "s")
        events = run(segmenter, av_stream(1), end=False)
        self.assertEqual(segmenter.discard(0), [])
        events = segmenter.on_message(video(1000, False), NOW) + segmenter.on_unpublish()
        self.assertEqual(events, [SegmentDropped(0, "live/s-0.ts")])

    def test_discard_listed(self) -> None:
        """A discarded listed segment leaves the playlist at once."""
        segmenter = HlsSegmenter("v", "live", "s")
        run(segmenter, av_stream(6), end=False)
        events = segmenter.discard(1)
        self.assertEqual([s.sequence for s in segmenter.segments], [0])
        self.assertNotIn("s-1.ts", last_playlist(events))

    def test_decode_errors(self) -> None:
        """Unsupported codecs and AAC before its header raise HlsError and change nothing."""
        segmenter = HlsSegmenter("v", "live", "s")
        segmenter.on_publish(config(), NOW)
        for bad in (
            Message(0, 9, b"\x14\x00\x00"),
            Message(0, 8, b"\xb2\x00"),
            aac(0),
            Message(0, 9, avc_header()[:8]),
        ):
            self.assertRaises(HlsError, segmenter.on_message, bad, NOW)
        events = [e for m in av_stream(1) for e in segmenter.on_message(m, NOW)]
        self.assertTrue(data_of(events))

    def test_not_publishing(self) -> None:
        """Messages outside a publish are ignored."""
        self.assertEqual(HlsSegmenter("v", "a", "s").on_message(aac(0), NOW), [])

    @given(
        st.lists(
            st.tuples(st.integers(1, 3000), st.integers(1, 4), st.booleans(), st.booleans()),
            min_size=1,
            max_size=4,
        ),
        st.sampled_from(("h264", "vn")),
    )
    def test_stream_life(self, publishes: list[tuple[int, int, bool, bool]], vcodec: str) -> None:
        """
        Over any sequence of publishes: every packet is whole with a sync
        byte, counters run on across segments and republish, PTS >= DTS,
        PSI CRCs check, and no EXTINF exceeds the target duration.
        """
        segmenter = HlsSegmenter("v", "live", "s")
        hls = config(hls_fragment=1.0, hls_window=4.0, hls_vcodec=vcodec)
        events: list[HlsEvent] = []
        for start, seconds, audio, with_video in publishes:
            messages = (
                av_stream(seconds, gop=1.5, audio=audio, start=start)
                if with_video
                else audio_stream(seconds, start=start)
            )
            events += run(segmenter, messages, hls)
        packets = parse_packets(data_of(events))
        last: dict[int, int] = {}
        for packet in packets:
            if packet.pid in last:
                self.assertEqual(packet.counter, (last[packet.pid] + 1) & 0x0F)
            last[packet.pid] = packet.counter
            if packet.pid in (PAT_PID, PMT_PID):
                length = (packet.payload[2] & 0x0F) << 8 | packet.payload[3]
                self.assertEqual(crc32_mpeg2(packet.payload[1 : 4 + length]), 0)
        for pid in (VIDEO_PID, AAC_PID):
            for pes in reassemble(packets, pid):
                pts, dts = pes_times(pes)
                self.assertGreaterEqual(pts, dts)
        for event in events:
            if isinstance(event, PlaylistUpdated):
                lines = event.text.splitlines()
                target = int(lines[4].split(":")[1])
                for line in lines:
                    if line.startswith("#EXTINF:"):
                        self.assertLessEqual(float(line[8:].split(",")[0]), target)
