"""
Tests for :mod:`srstwist.services.dvr`: files on a Clock in a temporary
directory (``.tmp`` then rename, the metadata patched, the keyframes
index), failures that stop one recording with one log line, ``append``
across publishes, a reload joining a live stream, and shutdown.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from srstwist.codec.flv import FlvTagDecoder
from srstwist.config.model import DvrConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer, Replay
from srstwist.media.message import SharedMessage
from srstwist.services import dvr as dvr_module
from srstwist.services.dvr import FLUSH_INTERVAL, DvrOutput, DvrService
from srstwist.stream.request import StreamRequest
from tests.test_media_dvr import metadata_of
from tests.test_media_hls import Message, av_stream, video
from tests.test_services_hls import FakeSource

NOW = 1704164645.0
_REQUEST = StreamRequest(
    ip="10.0.0.9", vhost="__defaultVhost__", app="live", stream="s", param="?token=1"
)


def vhost_with(path: str, **changes: Any) -> VhostConfig:
    dvr = dataclasses.replace(DvrConfig(enabled=True, dvr_path=path), **changes)
    return dataclasses.replace(VhostConfig(), dvr=dvr)


def feed(output: Any, messages: list[Message]) -> None:
    for m in messages:
        output.deliver(SharedMessage(m.timestamp, m.message_type_id, m.payload))


class _Base(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.notified: list[dict[str, Any]] = []
        self.flags: list[tuple[tuple[str, str, str], bool]] = []
        self.service = DvrService(
            self.clock,
            self.notified.append,
            recording=lambda key, on: self.flags.append((key, on)),
            utc_time=True,
        )
        self.service.startService()
        self.addCleanup(self._stop)
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def _stop(self) -> None:
        if self.service.running:
            self.service.stopService()

    def errors(self) -> list[str]:
        return [
            formatEvent(e)
            for e in self.events
            if e.get("log_level") is not None and e["log_level"].name in ("error", "critical")
        ]

    def start(self, vhost: VhostConfig, stream: str = "s") -> tuple[FakeSource, DvrOutput]:
        source = FakeSource(vhost, stream)
        output = self.service.output_for(source, _REQUEST)
        assert isinstance(output, DvrOutput)
        return source, output

    def files(self) -> list[str]:
        found = []
        for directory, _, names in os.walk(self.root):
            found += [os.path.relpath(os.path.join(directory, n), self.root) for n in names]
        return sorted(found)


class OutputTests(_Base):
    def test_interface(self) -> None:
        _, output = self.start(vhost_with(self.root + "/[app]/[stream].flv"))
        verifyObject(IStreamConsumer, output)
        self.assertIs(output.replay, Replay.GOP)
        self.assertIsNone(output.sharing_key)
        self.assertEqual(output.cid, 7)

    def test_disabled(self) -> None:
        vhost = dataclasses.replace(VhostConfig(), dvr=DvrConfig(enabled=False))
        self.assertIsNone(self.service.output_for(FakeSource(vhost), _REQUEST))

    def test_tmp_then_rename(self) -> None:
        """While recording only the .tmp exists; at unpublish it is renamed."""
        _, output = self.start(vhost_with(self.root + "/[app]/[stream].[timestamp].flv"))
        feed(output, av_stream(3))
        self.clock.advance(FLUSH_INTERVAL)
        self.assertEqual(self.files(), ["live/s.1704164645000.flv.tmp"])
        self.assertGreater(os.path.getsize(os.path.join(self.root, self.files()[0])), 1000)
        self.assertEqual(self.flags, [(("__defaultVhost__", "live", "s"), True)])
        output.publisher_changed(False)
        self.assertEqual(self.files(), ["live/s.1704164645000.flv"])
        self.assertEqual(self.flags[-1], (("__defaultVhost__", "live", "s"), False))

    def test_metadata_patched_and_index(self) -> None:
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        feed(output, av_stream(9, gop=2.0))
        output.publisher_changed(False)
        with open(os.path.join(self.root, "s.flv"), "rb") as f:
            data = f.read()
        tags = FlvTagDecoder().receive_data(data)
        props = metadata_of(tags[0])
        self.assertEqual(props["filesize"], float(len(data)))
        self.assertLess(abs(props["duration"] - 8.98), 0.05)  # type: ignore[operator]
        index = props["keyframes"]
        self.assertEqual(len(index["times"]), 5)  # type: ignore[index]
        for position in index["filepositions"]:  # type: ignore[index]
            self.assertEqual(data[int(position)], 9)
            self.assertEqual(data[int(position) + 11], 0x17)

    def test_on_dvr(self) -> None:
        """on_dvr gets SRS's fields after the rename, with the publisher's ip and param."""
        path = self.root + "/[app]/[stream].flv"
        _, output = self.start(vhost_with(path))
        feed(output, av_stream(2))
        self.assertEqual(self.notified, [])
        output.publisher_changed(False)
        self.assertEqual(
            self.notified,
            [
                {
                    "client_id": 7,
                    "ip": "10.0.0.9",
                    "vhost": "__defaultVhost__",
                    "app": "live",
                    "stream": "s",
                    "param": "?token=1",
                    "cwd": os.getcwd(),
                    "file": self.root + "/live/s.flv",
                }
            ],
        )
        self.assertTrue(os.path.exists(self.notified[0]["file"]))

    def test_segments(self) -> None:
        _, output = self.start(
            vhost_with(self.root + "/seg/[stream]", dvr_plan="segment", dvr_duration=3)
        )
        for m in av_stream(10, gop=2.0):
            self.clock.advance(max(0.0, NOW + m.timestamp / 1000 - self.clock.seconds()))
            feed(output, [m])
        output.publisher_changed(False)
        names = self.files()
        self.assertEqual(len(names), 3, names)
        self.assertFalse([n for n in names if n.endswith(".tmp")])
        self.assertEqual(len(self.notified), 3)

    def test_buffered_writes(self) -> None:
        """Tags are written once a second (or past FLUSH_BYTES), not per message."""
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        writes: list[int] = []
        real = dvr_module._write_all

        def counting(handle: Any, data: bytes) -> None:
            writes.append(len(data))
            real(handle, data)

        self.patch(dvr_module, "_write_all", counting)
        feed(output, av_stream(2))
        self.assertEqual(writes, [])
        self.clock.advance(FLUSH_INTERVAL)
        self.assertEqual(len(writes), 1)
        output.publisher_changed(False)
        self.assertEqual(len(writes), 2)  # nothing more pending, then the metadata patch

    def test_append_across_publishes(self) -> None:
        vhost = vhost_with(self.root + "/[app]/[stream].flv", dvr_plan="append")
        _, first = self.start(vhost)
        feed(first, av_stream(3))
        first.publisher_changed(False)
        self.clock.advance(60)
        _, second = self.start(vhost)
        feed(second, av_stream(2, start=50000))
        self.clock.advance(FLUSH_INTERVAL)
        self.assertEqual(self.files(), ["live/s.flv.tmp"])
        second.publisher_changed(False)
        self.assertEqual(self.files(), ["live/s.flv"])
        with open(os.path.join(self.root, "live/s.flv"), "rb") as f:
            data = f.read()
        tags = FlvTagDecoder().receive_data(data)
        frames = [t.timestamp for t in tags if t.tag_type != 18 and t.payload[1:2] != b"\x00"]
        self.assertEqual(frames, sorted(frames))
        props = metadata_of(tags[0])
        self.assertLess(abs(props["duration"] - 5.0), 0.1)  # type: ignore[operator]
        self.assertEqual(props["filesize"], float(len(data)))

    def test_append_refuses_foreign_file(self) -> None:
        os.makedirs(os.path.join(self.root, "live"))
        with open(os.path.join(self.root, "live/s.flv"), "wb") as f:
            f.write(b"not ours")
        _, output = self.start(vhost_with(self.root + "/[app]/[stream].flv", dvr_plan="append"))
        feed(output, av_stream(1))
        self.assertEqual(len(self.errors()), 1, self.errors())
        self.assertIn("not a DVR file", self.errors()[0])
        with open(os.path.join(self.root, "live/s.flv"), "rb") as f:
            self.assertEqual(f.read(), b"not ours")

    def test_join_live(self) -> None:
        """A reload's output drops the replay and starts at the next live keyframe."""
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        output.join_live()
        feed(output, av_stream(1))  # the GOP replay, delivered in the attach
        self.clock.advance(0)
        feed(output, [video(1040, False), video(1080, False)])
        self.assertFalse(output.recording)
        feed(output, [video(1120, True), video(1160, False)])
        self.assertTrue(output.recording)
        output.publisher_changed(False)
        with open(os.path.join(self.root, "s.flv"), "rb") as f:
            tags = FlvTagDecoder().receive_data(f.read())
        # Metadata and the video header from the replay, then the live keyframe.
        self.assertEqual([t.tag_type for t in tags], [18, 9, 8, 9, 9])
        self.assertEqual(tags[3].payload[0], 0x17)

    def test_reload_key(self) -> None:
        a = vhost_with("/x")
        self.assertEqual(DvrOutput.reload_key(a), DvrOutput.reload_key(dataclasses.replace(a)))
        b = vhost_with("/y")
        self.assertNotEqual(DvrOutput.reload_key(a), DvrOutput.reload_key(b))


class FailureTests(_Base):
    """An I/O error stops one recording, with one line; the stream goes on."""

    def test_invalid_path(self) -> None:
        with open(os.path.join(self.root, "file"), "w") as f:
            f.write("x")
        _, output = self.start(vhost_with(self.root + "/file/[stream].flv"))
        feed(output, av_stream(3))  # must not raise
        self.assertEqual(len(self.errors()), 1, self.errors())
        self.assertIn("dvr error", self.errors()[0])
        self.assertEqual(self.events[-1].get("cid"), 7)
        self.assertTrue(output.failed)
        output.publisher_changed(False)
        self.assertEqual(self.files(), ["file"])
        self.assertEqual(self.notified, [])

    def test_read_only_directory(self) -> None:
        if os.geteuid() == 0:
            self.skipTest("root writes to read-only directories")
        os.chmod(self.root, 0o555)
        self.addCleanup(os.chmod, self.root, 0o755)
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        feed(output, av_stream(3))
        self.assertEqual(len(self.errors()), 1, self.errors())

    def test_disk_full_keeps_what_was_written(self) -> None:
        """ENOSPC: one line, the flushed part kept as a playable file, no .tmp."""
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        feed(output, av_stream(2))
        self.clock.advance(FLUSH_INTERVAL)
        size = os.path.getsize(os.path.join(self.root, "s.flv.tmp"))

        def full(handle: Any, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(dvr_module, "_write_all", full)
        feed(output, av_stream(2, start=2000)[3:])
        self.clock.advance(FLUSH_INTERVAL)
        feed(output, av_stream(1, start=4000)[3:])
        output.publisher_changed(False)
        self.assertEqual(len(self.errors()), 1, self.errors())
        self.assertIn("No space left", self.errors()[0])
        self.assertEqual(self.files(), ["s.flv"])
        self.assertEqual(os.path.getsize(os.path.join(self.root, "s.flv")), size)
        self.assertEqual(self.flags[-1][1], False)

    def test_next_publish_retries(self) -> None:
        with open(os.path.join(self.root, "blocker"), "w") as f:
            f.write("x")
        vhost = vhost_with(self.root + "/blocker/[stream].flv")
        _, output = self.start(vhost)
        feed(output, av_stream(1))
        output.publisher_changed(False)
        os.unlink(os.path.join(self.root, "blocker"))
        _, again = self.start(vhost)
        feed(again, av_stream(1))
        again.publisher_changed(False)
        self.assertEqual(self.files(), ["blocker/s.flv"])
        self.assertEqual(len(self.errors()), 1)


class ShutdownTests(_Base):
    def test_stop_service_closes_every_file(self) -> None:
        """SIGTERM: every open file is patched and renamed; no .tmp is left."""
        outputs = [self.start(vhost_with(self.root + "/[stream].flv"), f"s{i}")[1] for i in range(3)]
        for output in outputs:
            feed(output, av_stream(2))
        self.clock.advance(FLUSH_INTERVAL)
        self.assertEqual(self.files(), ["s0.flv.tmp", "s1.flv.tmp", "s2.flv.tmp"])
        self.service.stopService()
        self.assertEqual(self.files(), ["s0.flv", "s1.flv", "s2.flv"])
        self.assertEqual(len(self.notified), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_finished_outputs_forgotten(self) -> None:
        _, output = self.start(vhost_with(self.root + "/[stream].flv"))
        output.publisher_changed(False)
        self.clock.advance(FLUSH_INTERVAL)
        self.assertEqual(self.service.outputs, {})


class ReloadTests(_Base):
    """
    A reload through :class:`srstwist.services.hub.OutputsPerPublish`:
    enabling, changing and disabling ``dvr`` apply at the next live keyframe,
    without a republish and without duplicating the GOP the attach replays.
    """

    def config(self, dvr: str) -> Any:
        from srstwist.config.loader import load_config_text

        return load_config_text(f"listen 1935;\nvhost __defaultVhost__ {{ {dvr} }}\n", "t.conf")

    def test_enable_change_disable(self) -> None:
        from srstwist.config.holder import ConfigHolder
        from srstwist.services.hub import OutputsPerPublish, SourceHub
        from tests.test_services_hub import _Publisher

        config = self.config("")
        holder = ConfigHolder(config)
        hub = SourceHub(holder, self.clock)
        hub.observe(OutputsPerPublish(hub, self.service.output_for))
        source = hub.source(config.vhost("__defaultVhost__"), "live", "s")
        hub.publish(source, _Publisher(), _REQUEST)
        stream = av_stream(12, gop=2.0)
        messages = [SharedMessage(m.timestamp, m.message_type_id, m.payload) for m in stream]
        index = 0

        def play_until(ms: int) -> None:
            nonlocal index
            while index < len(messages) and messages[index].timestamp < ms:
                self.clock.advance(max(0.0, NOW + messages[index].timestamp / 1000 - self.clock.seconds()))
                source.on_message(messages[index])
                index += 1

        def reload(dvr: str) -> None:
            new = self.config(dvr)
            holder.config = new
            hub.reconfigure(new)

        play_until(1000)
        self.assertEqual(self.files(), [])
        reload(f"dvr {{ enabled on; dvr_path {self.root}/a/[stream].[timestamp].flv; }}")
        play_until(3000)  # the file starts at the keyframe at 2 s
        self.assertEqual(self.flags, [(("__defaultVhost__", "live", "s"), True)])
        reload(f"dvr {{ enabled on; dvr_path {self.root}/b/[stream].[timestamp].flv; }}")
        play_until(7000)
        reload("dvr { enabled off; }")
        play_until(12000)
        self.assertEqual(
            self.files(), ["a/s.1704164647000.flv", "b/s.1704164649000.flv"]
        )
        durations = []
        for name in self.files():
            with open(os.path.join(self.root, name), "rb") as f:
                tags = FlvTagDecoder().receive_data(f.read())
            frames = [t for t in tags[3:] if t.tag_type == 9]
            self.assertEqual(frames[0].payload[0], 0x17, name)
            durations.append(round(metadata_of(tags[0])["duration"]))  # type: ignore[arg-type]
        # a: from the keyframe at 2 s to the reload at ~3 s (no replayed GOP
        # before it); b: from the keyframe at 4 s to the reload at ~7 s.
        self.assertEqual(durations, [1, 3])
        self.assertEqual(len(self.notified), 2)
        self.assertFalse(self.service.outputs and any(o.recording for o in self.service.outputs.values()))
