"""
Tests for :mod:`srstwist.media.dvr`, the sans-IO DVR planner: where files are
cut, the timestamps in them, ``append`` continuity, ``dvr_path`` templates,
the reserved metadata (byte vectors), and properties of random streams
(hypothesis).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.amf0 import decode
from srstwist.codec.flv import FlvTag, FlvTagDecoder
from srstwist.config.model import DvrConfig
from srstwist.media.dvr import (
    PADDING,
    CloseFile,
    DvrPlanner,
    OpenFile,
    WriteTags,
    build_path,
    index_capacity,
    metadata_tag,
    read_existing,
)
from srstwist.media.message import SharedMessage
from tests.test_media_hls import AAC_HEADER, VIDEO_HEADER, Message, aac, av_stream, video

#: 2024-01-02 03:04:05.678 UTC.
NOW = 1704164645.678


def config(**changes: object) -> DvrConfig:
    return dataclasses.replace(
        DvrConfig(enabled=True, dvr_path="/r/[app]/[stream].[timestamp].flv"), **changes
    )


class Files:
    """Carries out a planner's events in memory, as the service does on disk."""

    def __init__(self) -> None:
        self.open: dict[str, bytearray] = {}
        self.done: dict[str, bytes] = {}
        self.closes: list[CloseFile] = []
        self.order: list[str] = []

    def apply(self, events: Iterable[object]) -> None:
        for event in events:
            if isinstance(event, OpenFile):
                assert event.path not in self.open
                start = self.done.pop(event.path) if event.append else b""
                self.open[event.path] = bytearray(start)
                if event.path not in self.order:
                    self.order.append(event.path)
            elif isinstance(event, WriteTags):
                self.open[event.path] += event.data
            elif isinstance(event, CloseFile):
                data = self.open.pop(event.path)
                assert len(data) == event.size, (len(data), event.size)
                data[event.patch_offset : event.patch_offset + len(event.patch)] = event.patch
                self.done[event.path] = bytes(data)
                self.closes.append(event)

    def tags(self, path: str) -> list[FlvTag]:
        return FlvTagDecoder().receive_data(self.done[path])


def run(
    planner: DvrPlanner,
    messages: Iterable[Message],
    files: Files | None = None,
    now: float = NOW,
    close: bool = True,
) -> Files:
    """Publish ``messages`` (wall time follows stream time) and unpublish."""
    files = files or Files()
    files.apply(planner.on_publish())
    first = None
    for m in messages:
        first = m.timestamp if first is None else first
        shared = SharedMessage(m.timestamp, m.message_type_id, m.payload)
        files.apply(planner.on_message(shared, now + (m.timestamp - first) / 1000))
    if close:
        files.apply(planner.on_unpublish())
    return files


def metadata_of(tag: FlvTag) -> dict[str, object]:
    name, offset = decode(tag.payload, 0)
    assert name == "onMetaData"
    value, end = decode(tag.payload, offset)
    assert end == len(tag.payload)
    assert isinstance(value, dict)
    return value


class PathTests(SynchronousTestCase):
    """``dvr_path``: SRS's variables and the directory form."""

    def test_every_variable_utc(self) -> None:
        path = build_path(
            "/d/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999]-[timestamp].flv",
            "v.test", "live", "s", NOW, utc=True,
        )  # fmt: skip
        self.assertEqual(path, "/d/v.test/live/s/2024/01/02/03.04.05.678-1704164645678.flv")

    def test_local_time(self) -> None:
        tm = time.localtime(int(NOW))
        self.assertEqual(
            build_path("[2006][01][02][15][04][05].flv", "v", "a", "s", NOW, utc=False),
            time.strftime("%Y%m%d%H%M%S", tm) + ".flv",
        )

    def test_directory_form(self) -> None:
        """A path not ending in .flv is a directory: [stream].[timestamp].flv is added."""
        self.assertEqual(
            build_path("./objs/[app]", "v", "live", "s", NOW, utc=True),
            "./objs/live/s.1704164645678.flv",
        )
        self.assertEqual(
            build_path("./objs/[app]/", "v", "live", "s", NOW, utc=True),
            "./objs/live/s.1704164645678.flv",
        )

    def test_every_occurrence(self) -> None:
        self.assertEqual(
            build_path("[stream]/[stream].flv", "v", "a", "x", NOW, utc=True), "x/x.flv"
        )


class MetadataTests(SynchronousTestCase):
    """The reserved onMetaData: exact size, index, padding."""

    def test_byte_vector(self) -> None:
        """The smallest case, byte for byte."""
        tag = metadata_tag({}, 170, 1.5, 1000, [(0.0, 13)])
        number = lambda v: b"\x00" + __import__("struct").pack(">d", v)  # noqa: E731
        name = lambda s: len(s).to_bytes(2, "big") + s.encode()  # noqa: E731
        body = (
            b"\x02" + name("onMetaData") + b"\x03"
            + name("service") + b"\x02" + name("srstwist")
            + name("duration") + number(1.5)
            + name("filesize") + number(1000.0)
            + name("keyframes") + b"\x03"
            + name("times") + b"\x0a\x00\x00\x00\x01" + number(0.0)
            + name("filepositions") + b"\x0a\x00\x00\x00\x01" + number(13.0)
            + b"\x00\x00\x09"  # end of keyframes
            + b"\x00\x00\x09"  # end of the metadata object
        )  # fmt: skip
        pad = 170 - len(body) - (2 + len(PADDING) + 1 + 4)
        body = body[:-3] + name(PADDING) + b"\x0a" + pad.to_bytes(4, "big") + b"\x05" * pad + b"\x00\x00\x09"
        self.assertEqual(len(body), 170)
        header = b"\x12" + (170).to_bytes(3, "big") + bytes(7)
        self.assertEqual(tag, header + body + (181).to_bytes(4, "big"))

    def test_thinned_to_fit(self) -> None:
        """An index too long for the reservation keeps an even subset, first kept."""
        entries = [(float(i), 100 * i) for i in range(100)]
        tag = metadata_tag({"width": 320.0}, 600, 99.0, 10000, entries)
        self.assertEqual(len(tag), 11 + 600 + 4)
        props = metadata_of(FlvTagDecoder().receive_data(b"FLV\x01\x05" + bytes((0, 0, 0, 9)) + bytes(4) + tag)[0])
        times = props["keyframes"]["times"]  # type: ignore[index]
        self.assertLess(len(times), 100)
        self.assertGreater(len(times), 10)
        self.assertEqual(times[0], 0.0)
        self.assertEqual(props["width"], 320.0)

    def test_too_small(self) -> None:
        with self.assertRaises(ValueError):
            metadata_tag({"x": "y" * 200}, 100)

    def test_capacity(self) -> None:
        self.assertEqual(index_capacity(config(dvr_plan="segment", dvr_duration=30)), 92)
        self.assertEqual(index_capacity(config(dvr_plan="session")), 2048)

    def test_read_existing_rejects_foreign(self) -> None:
        self.assertIsNone(read_existing(b"not an flv at all", 17))
        # An FLV whose first tag is video: not one of ours.
        self.assertIsNone(read_existing(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00" + b"\x09" + bytes(20), 34))


class SessionTests(SynchronousTestCase):
    """``session``: one file per publish, headers first, timestamps from 0."""

    def test_one_file(self) -> None:
        planner = DvrPlanner(config(), "v", "live", "s", utc=True)
        files = run(planner, av_stream(6, start=5000))
        # The file opens at the first frame, 5 s after the headers.
        self.assertEqual(list(files.done), ["/r/live/s.1704164650678.flv"])
        tags = files.tags("/r/live/s.1704164650678.flv")
        self.assertEqual([t.tag_type for t in tags[:3]], [18, 9, 8])
        self.assertEqual(tags[1].payload, VIDEO_HEADER.payload)
        self.assertEqual(tags[2].payload, AAC_HEADER.payload)
        self.assertEqual([t.timestamp for t in tags[:3]], [0, 0, 0])
        # full jitter: a stream starting at 5 s starts near 0 in the file.
        self.assertLess(tags[3].timestamp, 20)
        stamps = [t.timestamp for t in tags[3:]]
        self.assertEqual(stamps, sorted(stamps))
        close = files.closes[0]
        self.assertAlmostEqual(close.duration, (stamps[-1] - stamps[0]) / 1000, places=3)
        props = metadata_of(tags[0])
        self.assertEqual(props["duration"], close.duration)
        self.assertEqual(props["filesize"], float(len(files.done[close.path])))
        self.assertEqual(props["audiocodecid"], 10.0)

    def test_keyframes_index_points_at_keyframes(self) -> None:
        planner = DvrPlanner(config(), "v", "live", "s")
        files = run(planner, av_stream(9, gop=2.0))
        data = files.done[files.closes[0].path]
        props = metadata_of(files.tags(files.closes[0].path)[0])
        index = props["keyframes"]
        times, positions = index["times"], index["filepositions"]  # type: ignore[index]
        self.assertEqual(len(times), 5)
        for t, position in zip(times, positions):
            tag = FlvTagDecoder().receive_data(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00" + data[int(position) :])[0]
            self.assertEqual(tag.tag_type, 9)
            self.assertEqual(tag.payload[0], 0x17)
            self.assertEqual(tag.timestamp, round(t * 1000))

    def test_waits_for_keyframe(self) -> None:
        """With dvr_wait_keyframe on, a file starts on a keyframe (audio before it dropped)."""
        stream = av_stream(4, gop=2.0)
        headers, frames = stream[:3], stream[3:]
        # Drop the first keyframe: the stream now starts mid-GOP.
        frames = [m for m in frames if not (m.message_type_id == 9 and m.timestamp == 0)]
        files = run(DvrPlanner(config(), "v", "live", "s"), headers + frames)
        tags = files.tags(files.closes[0].path)
        self.assertEqual(tags[3].tag_type, 9)
        self.assertEqual(tags[3].payload[0], 0x17)
        off = run(DvrPlanner(config(dvr_wait_keyframe=False), "v", "live", "s"), headers + frames)
        self.assertEqual(off.tags(off.closes[0].path)[3].payload[0:1], frames[0].payload[0:1])

    def test_nothing_published(self) -> None:
        files = run(DvrPlanner(config(), "v", "live", "s"), [])
        self.assertEqual(files.done, {})

    def test_new_sequence_header_inline(self) -> None:
        stream = av_stream(2)
        changed = Message(1000, 8, b"\xaf\x00\x11\x90")
        files = run(DvrPlanner(config(), "v", "live", "s"), stream + [changed, aac(1050)])
        tags = files.tags(files.closes[0].path)
        self.assertIn(changed.payload, [t.payload for t in tags[3:]])

    def test_jitter_zero_and_off(self) -> None:
        stream = av_stream(2, start=7000)
        zero = run(DvrPlanner(config(time_jitter="zero"), "v", "a", "s"), stream)
        self.assertEqual(zero.tags(zero.closes[0].path)[3].timestamp, 0)
        off = run(DvrPlanner(config(time_jitter="off"), "v", "a", "s"), stream)
        self.assertEqual(off.tags(off.closes[0].path)[3].timestamp, 7000)


class SegmentTests(SynchronousTestCase):
    """``segment``: cut after dvr_duration, at a keyframe when waiting."""

    def test_cut_at_keyframes(self) -> None:
        planner = DvrPlanner(config(dvr_plan="segment", dvr_duration=3), "v", "live", "s")
        files = run(planner, av_stream(10, gop=2.0))
        self.assertEqual(len(files.closes), 3)
        for close in files.closes:
            tags = files.tags(close.path)
            # Every file: metadata, both sequence headers, then a keyframe.
            self.assertEqual([t.tag_type for t in tags[:3]], [18, 9, 8])
            first_video = next(t for t in tags[3:] if t.tag_type == 9)
            self.assertEqual(first_video.payload[0], 0x17)
            self.assertLess(tags[3].timestamp, 20)
        self.assertEqual([round(c.duration) for c in files.closes], [4, 4, 2])

    def test_cut_anywhere_without_wait(self) -> None:
        planner = DvrPlanner(
            config(dvr_plan="segment", dvr_duration=3, dvr_wait_keyframe=False), "v", "live", "s"
        )
        files = run(planner, av_stream(10, gop=4.0))
        self.assertEqual([round(c.duration) for c in files.closes], [3, 3, 3, 1])

    def test_audio_only_cut_on_audio(self) -> None:
        messages = [AAC_HEADER] + [aac(t) for t in range(0, 7000, 23)]
        planner = DvrPlanner(config(dvr_plan="segment", dvr_duration=2), "v", "live", "s")
        files = run(planner, messages)
        self.assertEqual([round(c.duration) for c in files.closes], [2, 2, 2, 1])
        # Audio-only files are indexed about every second.
        self.assertEqual(files.closes[0].keyframes, 2)

    def test_paths_follow_wall_time(self) -> None:
        planner = DvrPlanner(config(dvr_plan="segment", dvr_duration=3), "v", "live", "s", utc=True)
        files = run(planner, av_stream(6, gop=2.0))
        self.assertEqual(
            [c.path for c in files.closes],
            ["/r/live/s.1704164645678.flv", "/r/live/s.1704164649678.flv"],
        )


class AppendTests(SynchronousTestCase):
    """``append``: one file across publishes, timestamps continuing."""

    def test_continues(self) -> None:
        cfg = config(dvr_plan="append", dvr_path="/r/[app]/[stream].flv")
        files = Files()
        first = DvrPlanner(cfg, "v", "live", "s")
        path = first.append_path(NOW)
        self.assertEqual(path, "/r/live/s.flv")
        run(first, av_stream(3, start=4000), files)
        data = files.done[path]
        existing = read_existing(data[: 1 << 20], len(data))
        assert existing is not None
        self.assertEqual(existing.duration_ms, round(files.closes[0].duration * 1000))
        second = DvrPlanner(cfg, "v", "live", "s")
        self.assertEqual(second.append_path(NOW + 60), path)
        files.apply(second.on_publish(existing))
        for m in av_stream(2, start=100):
            files.apply(second.on_message(SharedMessage(m.timestamp, m.message_type_id, m.payload), NOW))
        files.apply(second.on_unpublish())
        self.assertEqual(list(files.done), [path])
        tags = files.tags(path)
        frames = [t for t in tags if t.tag_type != 18 and t.payload[1:2] != b"\x00"]
        stamps = [t.timestamp for t in frames]
        self.assertEqual(stamps, sorted(stamps))
        self.assertEqual(frames[0].timestamp, 0)
        gap = [b - a for a, b in zip(stamps, stamps[1:])]
        self.assertLessEqual(max(gap), 40)
        props = metadata_of(tags[0])
        self.assertAlmostEqual(props["duration"], files.closes[1].duration)  # type: ignore[arg-type]
        self.assertLess(abs(files.closes[1].duration - 5.0), 0.1)
        self.assertEqual(len(props["keyframes"]["times"]), 3)  # type: ignore[index]


_FRAME = st.tuples(
    st.sampled_from(["key", "inter", "audio"]),
    st.integers(min_value=0, max_value=300),
)


class PropertyTests(SynchronousTestCase):
    """Random streams through every plan give valid FLV files."""

    @settings(max_examples=60, deadline=None)
    @given(
        frames=st.lists(_FRAME, max_size=120),
        plan=st.sampled_from(["session", "segment", "append"]),
        jitter=st.sampled_from(["full", "zero", "off"]),
        wait=st.booleans(),
    )
    def test_valid_files(
        self, frames: list[tuple[str, int]], plan: str, jitter: str, wait: bool
    ) -> None:
        cfg = config(dvr_plan=plan, dvr_duration=1, time_jitter=jitter, dvr_wait_keyframe=wait)
        messages: list[Message] = [VIDEO_HEADER, AAC_HEADER]
        t = 0
        for kind, step in frames:
            t += step
            messages.append(aac(t) if kind == "audio" else video(t, kind == "key"))
        planner = DvrPlanner(cfg, "v", "live", "s")
        if plan == "append":
            planner.append_path(NOW)
        files = run(planner, messages)
        self.assertFalse(files.open)
        for close in files.closes:
            data = files.done[close.path]
            self.assertEqual(len(data), close.size)
            tags = files.tags(close.path)
            props = metadata_of(tags[0])
            self.assertEqual(props["filesize"], float(len(data)))
            self.assertEqual(props["duration"], close.duration)
            positions = props["keyframes"]["filepositions"]  # type: ignore[index]
            for position in positions:
                self.assertIn(data[int(position)], (8, 9))
            if jitter == "full":
                stamps = [t.timestamp for t in tags[3:]]
                self.assertEqual(stamps, sorted(stamps))


class LayeringTests(SynchronousTestCase):
    def test_no_twisted(self) -> None:
        import srstwist.media.dvr as module

        with open(module.__file__ or "") as f:
            self.assertNotIn("twisted", f.read().split('"""', 2)[2])
        self.assertTrue(os.path.exists(module.__file__ or ""))
