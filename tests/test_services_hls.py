"""
Tests for `srstwist.services.hls`: files on disk (atomic renames, cleanup,
dispose), ``hls_on_error``, the hook notifications, the service's outputs
across republish, and end to end against ffmpeg/ffprobe.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from srstwist.codec.flv import FlvTagDecoder
from srstwist.config.model import HlsConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer
from srstwist.media.message import SharedMessage
from srstwist.services.hls import HlsOutput, HlsService
from srstwist.stream.request import StreamRequest

_REQUEST = StreamRequest(ip="10.0.0.1", vhost="__defaultVhost__", app="live", stream="s")
from tests.test_media_hls import Message, aac, av_stream

NOW = 1704164645.0


def vhost_with(path: str, **changes: Any) -> VhostConfig:
    """A vhost whose HLS is on, 2 s fragments under ``path``."""
    hls = dataclasses.replace(HlsConfig(enabled=True, hls_fragment=2.0, hls_path=path), **changes)
    return dataclasses.replace(VhostConfig(), hls=hls)


class FakePublisher:
    """Records close()."""

    cid = 7

    def __init__(self) -> None:
        self.closed: list[str] = []

    def close(self, reason: str) -> None:
        self.closed.append(reason)


class FakeSource:
    """What HlsService reads from a source."""

    def __init__(self, vhost: VhostConfig, stream: str = "s") -> None:
        self.vhost, self.app, self.stream = vhost, "live", stream
        self.publisher = FakePublisher()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vhost.name, self.app, self.stream)

    @property
    def cid(self) -> int:
        return self.publisher.cid


def feed(output: HlsOutput, messages: list[Message]) -> None:
    """Deliver each message as a SharedMessage."""
    for message in messages:
        output.deliver(SharedMessage(message.timestamp, message.message_type_id, message.payload))


class OutputTests(SynchronousTestCase):
    """
    HlsOutput on a Clock and a temporary directory.
    """

    def setUp(self) -> None:
        self.root = self.mktemp()
        os.makedirs(self.root)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.notified: list[tuple[str, dict[str, Any]]] = []

    def output(self, **changes: Any) -> HlsOutput:
        output = HlsOutput(
            "__defaultVhost__",
            "live",
            "s",
            self.clock,
            notify=lambda name, payload: self.notified.append((name, payload)),
        )
        self.vhost = vhost_with(self.root, **changes)
        self.disconnects: list[str] = []
        output.start(self.vhost, 7, self.disconnects.append)
        return output

    def files(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.root, "live")))

    def playlist(self) -> str:
        with open(os.path.join(self.root, "live", "s.m3u8")) as f:
            return f.read()

    def test_interface(self) -> None:
        """HlsOutput provides IStreamConsumer."""
        verifyObject(IStreamConsumer, self.output())

    def test_files(self) -> None:
        """Finished segments are renamed from .tmp; the open one stays .tmp."""
        output = self.output()
        feed(output, av_stream(5))
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts.tmp", "s.m3u8"])
        self.assertEqual(self.playlist().count("#EXTINF"), 2)
        output.publisher_changed(False)
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts", "s.m3u8"])
        self.assertTrue(self.playlist().endswith("#EXT-X-ENDLIST\n"))
        size = os.path.getsize(os.path.join(self.root, "live", "s-0.ts"))
        self.assertEqual(size % 188, 0)

    def test_notify(self) -> None:
        """Each finished segment is reported for on_hls and on_hls_notify."""
        output = self.output()
        feed(output, av_stream(3))
        (name, payload), (name2, payload2) = self.notified
        self.assertEqual((name, name2), ("on_hls", "on_hls_notify"))
        self.assertEqual(payload["seq_no"], 0)
        self.assertEqual(payload["duration"], 2.0)
        self.assertEqual(payload["url"], "live/s-0.ts")
        self.assertEqual(payload["ts_url"], "s-0.ts")
        self.assertEqual(payload["file"], self.root + "/live/s-0.ts")
        self.assertEqual(payload["m3u8"], self.root + "/live/s.m3u8")
        self.assertEqual(payload["m3u8_url"], "live/s.m3u8")
        self.assertEqual(payload2["nb_notify"], 64)

    def test_cleanup(self) -> None:
        """Segments leaving the window are deleted with hls_cleanup on."""
        output = self.output(hls_window=4.0)
        feed(output, av_stream(12))
        self.assertNotIn("s-0.ts", self.files())

    def test_no_cleanup(self) -> None:
        """With hls_cleanup off they stay on disk."""
        output = self.output(hls_window=4.0, hls_cleanup=False)
        feed(output, av_stream(12))
        self.assertIn("s-0.ts", self.files())
        self.assertNotIn("s-0.ts", self.playlist())

    def test_dispose(self) -> None:
        """hls_dispose deletes everything that long after unpublish."""
        output = self.output(hls_dispose=30)
        feed(output, av_stream(5))
        output.publisher_changed(False)
        self.clock.advance(29)
        self.assertIn("s.m3u8", self.files())
        self.clock.advance(1)
        self.assertEqual(self.files(), [])

    def test_republish_cancels_dispose(self) -> None:
        """A publish before the dispose delay keeps the files."""
        output = self.output(hls_dispose=30)
        feed(output, av_stream(5))
        output.publisher_changed(False)
        output.start(self.vhost, 8)
        self.clock.advance(60)
        self.assertIn("s.m3u8", self.files())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_continue_on_decode_error(self) -> None:
        """hls_on_error continue drops the bad message and goes on."""
        output = self.output()
        feed(output, [Message(0, 8, b"\xb2\x00")] * 3 + av_stream(3))
        self.assertIn("s-0.ts", self.files())
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_continue_on_file_error(self) -> None:
        """A segment that cannot be renamed is dropped; later ones are written."""
        output = self.output()
        os.makedirs(os.path.join(self.root, "live", "s-0.ts"))
        feed(output, av_stream(5))
        output.publisher_changed(False)
        text = self.playlist()
        self.assertNotIn("s-0.ts", text)
        self.assertIn("s-1.ts", text)
        self.assertIn("#EXT-X-DISCONTINUITY\n#EXTINF:2.000, no desc\ns-1.ts", text)
        self.assertTrue(output.muxing is False)

    def test_ignore(self) -> None:
        """hls_on_error ignore stops HLS until the next publish."""
        output = self.output(hls_on_error="ignore")
        feed(output, av_stream(1) + [Message(1000, 8, b"\xb2\x00")])
        self.assertFalse(output.muxing)
        self.assertEqual(self.disconnects, [])
        output.start(self.vhost, 8)
        self.assertTrue(output.muxing)

    def test_disconnect(self) -> None:
        """hls_on_error disconnect asks for the publisher to go, on the next tick."""
        output = self.output(hls_on_error="disconnect")
        feed(output, av_stream(1) + [Message(1000, 8, b"\xb2\x00")])
        self.assertEqual(self.disconnects, [])
        self.clock.advance(0)
        self.assertEqual(len(self.disconnects), 1)
        self.assertIn("AAC or MP3", self.disconnects[0])


class ServiceTests(SynchronousTestCase):
    """
    HlsService: one output per stream, kept across republish.
    """

    def setUp(self) -> None:
        self.root = self.mktemp()
        self.clock = Clock()
        self.service = HlsService(self.clock)

    def test_disabled(self) -> None:
        """No output when the vhost's hls is off."""
        source = FakeSource(VhostConfig())
        self.assertIsNone(self.service.output_for(source, _REQUEST))

    def test_republish(self) -> None:
        """The same output serves the next publish and numbers carry on."""
        source = FakeSource(vhost_with(self.root))
        output = self.service.output_for(source, _REQUEST)
        assert isinstance(output, HlsOutput)
        feed(output, av_stream(5))
        output.publisher_changed(False)
        again = self.service.output_for(FakeSource(vhost_with(self.root)), _REQUEST)
        self.assertIs(again, output)
        feed(output, av_stream(3))
        self.assertEqual(output.segmenter.segments[-1].sequence, 3)

    def test_disconnect_closes_publisher(self) -> None:
        """The disconnect callable closes the source's current publisher."""
        source = FakeSource(vhost_with(self.root, hls_on_error="disconnect"))
        output = self.service.output_for(source, _REQUEST)
        assert isinstance(output, HlsOutput)
        output.deliver(SharedMessage(0, 9, b"\x14\x00\x00"))
        self.clock.advance(0)
        self.assertEqual(len(source.publisher.closed), 1)

    def test_stop_closes_segments(self) -> None:
        """stopService closes the open segment and writes the final playlist."""
        source = FakeSource(vhost_with(self.root))
        self.service.startService()
        output = self.service.output_for(source, _REQUEST)
        assert isinstance(output, HlsOutput)
        feed(output, av_stream(3))
        self.service.stopService()
        self.assertEqual(
            sorted(os.listdir(os.path.join(self.root, "live"))), ["s-0.ts", "s-1.ts", "s.m3u8"]
        )

    def test_stop_disposes(self) -> None:
        """With hls_dispose, stopService deletes the files (SRS #865)."""
        source = FakeSource(vhost_with(self.root, hls_dispose=10))
        self.service.startService()
        output = self.service.output_for(source, _REQUEST)
        assert isinstance(output, HlsOutput)
        feed(output, [*av_stream(3), aac(3000)])
        self.service.stopService()
        self.assertEqual(os.listdir(os.path.join(self.root, "live")), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


_FFMPEG = shutil.which("ffmpeg") or ""
_FFPROBE = shutil.which("ffprobe") or ""

_VARIANTS = {
    "h264_aac": (["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i",
                  "sine=frequency=440:sample_rate=44100", "-c:v", "libx264", "-g", "50",
                  "-c:a", "aac"], {"h264", "aac"}),
    "h264_mp3": (["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i",
                  "sine=frequency=440:sample_rate=44100", "-c:v", "libx264", "-g", "50",
                  "-c:a", "libmp3lame"], {"h264", "mp3"}),
    "aac_only": (["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac"],
                 {"aac"}),
    "h264_only": (["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-c:v", "libx264",
                   "-g", "50"], {"h264"}),
}  # fmt: skip


class EndToEndTests(TestCase):
    """
    Real FLV from ffmpeg through HlsOutput, checked with ffprobe and ffmpeg.
    """

    timeout = 120

    def setUp(self) -> None:
        if not (_FFMPEG and _FFPROBE):
            raise SkipTest("ffmpeg and ffprobe are needed")
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)

    @defer.inlineCallbacks
    def run_tool(self, tool: str, *args: str) -> Any:
        out, err, code = yield getProcessOutputAndValue(tool, args, env=os.environ)
        self.assertEqual(code, 0, err.decode(errors="replace"))
        return out, err

    @defer.inlineCallbacks
    def check(self, name: str) -> Any:
        inputs, streams = _VARIANTS[name]
        flv = os.path.join(self.root, name + ".flv")
        yield self.run_tool(
            _FFMPEG, "-nostdin", "-v", "error", *inputs, "-t", "6", "-f", "flv", flv
        )
        with open(flv, "rb") as f:
            tags = FlvTagDecoder().receive_data(f.read())
        output = HlsOutput("__defaultVhost__", "live", name, Clock())
        output.start(vhost_with(self.root), 1)
        for tag in tags:
            output.deliver(SharedMessage(tag.timestamp, tag.tag_type, tag.payload))
        output.publisher_changed(False)
        m3u8 = os.path.join(self.root, "live", name + ".m3u8")
        out, _ = yield self.run_tool(
            _FFPROBE, "-v", "error", "-show_entries", "stream=codec_name,sample_rate",
            "-of", "csv=p=0", m3u8,
        )  # fmt: skip
        found = {line.split(",")[0] for line in out.decode().split()}
        self.assertEqual(found, streams)
        if "aac" in streams and name == "aac_only":
            self.assertIn(b"48000", out)
        _, err = yield self.run_tool(_FFMPEG, "-v", "warning", "-i", m3u8, "-f", "null", "-")
        self.assertEqual(err.strip(), b"")
        with open(m3u8) as f:
            lines = f.read().splitlines()
        target = int(lines[4].split(":")[1])
        durations = [float(x[8:].split(",")[0]) for x in lines if x.startswith("#EXTINF:")]
        self.assertTrue(durations)
        self.assertLessEqual(max(durations), target)
        self.assertGreaterEqual(min(durations[:-1] or durations), 1.9)
        self.assertLessEqual(max(durations), 4.8)
        self.assertTrue(abs(sum(durations) - 6.0) < 0.2, durations)
        self.assertEqual(lines[-1], "#EXT-X-ENDLIST")

    def test_h264_aac(self) -> Any:
        """H.264 + AAC plays without errors."""
        return self.check("h264_aac")

    def test_h264_mp3(self) -> Any:
        """H.264 + MP3 plays without errors."""
        return self.check("h264_mp3")

    def test_aac_only(self) -> Any:
        """Audio-only AAC plays, at 48 kHz."""
        return self.check("aac_only")

    def test_h264_only(self) -> Any:
        """Video-only H.264 plays."""
        return self.check("h264_only")


_RELOAD_CONF = """listen 1935;
vhost __defaultVhost__ {{ {extra} hls {{ enabled {hls}; hls_fragment {fragment}; hls_path {root}; }} }}
"""


class ReloadTests(SynchronousTestCase):
    """
    A reload starts, stops and restarts the HLS of a live stream without a
    republish (SRS's ``SrsSource::on_reload_vhost_hls``): the hub's
    :class:`~srstwist.services.hub.OutputsPerPublish` asks
    :meth:`HlsService.output_for` again.
    """

    def setUp(self) -> None:
        from srstwist.config.holder import ConfigHolder
        from srstwist.services.hub import OutputsPerPublish, SourceHub

        self.root = os.path.abspath(self.mktemp())
        self.clock = Clock()
        self.clock.advance(NOW)
        self.service = HlsService(self.clock)
        self.config = self.conf("off")
        self.hub = SourceHub(ConfigHolder(self.config), self.clock)
        self.hub.observe(OutputsPerPublish(self.hub, self.service.output_for))
        vhost = self.config.vhost("__defaultVhost__")
        assert vhost is not None
        self.source = self.hub.source(vhost, "live", "s")
        self.publisher = FakePublisher()
        self.hub.publish(self.source, self.publisher, _REQUEST)
        self.stream = av_stream(12)

    def conf(self, hls: str, fragment: float = 2.0, extra: str = "") -> Any:
        from srstwist.config.loader import load_config_text

        text = _RELOAD_CONF.format(hls=hls, fragment=fragment, root=self.root, extra=extra)
        return load_config_text(text, "t.conf")

    def send(self, until: int, since: int = -1) -> None:
        """Publish the messages of ``self.stream`` in [since, until)."""
        for message in self.stream:
            if since <= message.timestamp < until and (since < 0 or message.message_type_id != 18):
                if since >= 0 and message.timestamp == 0:
                    continue
                self.source.on_message(
                    SharedMessage(message.timestamp, message.message_type_id, message.payload)
                )

    def reload(self, hls: str, fragment: float = 2.0, extra: str = "") -> None:
        self.config = self.conf(hls, fragment, extra)
        self.hub.reconfigure(self.config)

    def files(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.root, "live")))

    def playlist(self) -> str:
        with open(os.path.join(self.root, "live", "s.m3u8")) as f:
            return f.read()

    def output(self) -> HlsOutput:
        return self.service.outputs[("__defaultVhost__", "live", "s")]

    def test_turned_on(self) -> None:
        """
        HLS turned on by a reload starts on the live stream from the GOP
        cache (a keyframe), without a republish.
        """
        self.send(3000)
        self.assertFalse(os.path.exists(self.root))
        self.reload("on")
        self.assertIn(self.output(), self.source.consumers)
        self.send(9000, since=3000)
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts", "s-3.ts.tmp", "s.m3u8"])
        # The first segment starts at the GOP cache's keyframe (2 s).
        self.assertEqual([s.duration for s in self.output().segmenter.segments], [2.0] * 3)
        self.assertEqual(self.publisher.closed, [])

    def test_turned_on_without_gop_cache(self) -> None:
        """
        Without a GOP cache, HLS turned on mid-GOP waits for the next
        keyframe: its first segment starts there, not on a frame no player
        can decode.
        """
        self.config = self.conf("off", extra="gop_cache off;")
        self.hub.reconfigure(self.config)
        self.send(3000)
        self.reload("on", extra="gop_cache off;")
        self.send(8500, since=3000)
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts.tmp", "s.m3u8"])
        self.assertEqual([s.duration for s in self.output().segmenter.segments], [2.0, 2.0])

    def test_turned_off(self) -> None:
        """
        HLS turned off by a reload closes the open segment and ends the
        playlist, as at unpublish; later messages write nothing.
        """
        self.reload("on")
        self.send(5000)
        self.reload("off")
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts", "s.m3u8"])
        self.assertTrue(self.playlist().endswith("#EXT-X-ENDLIST\n"))
        self.assertNotIn(self.output(), self.source.consumers)
        self.send(9000, since=5000)
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts", "s.m3u8"])

    def test_settings_changed(self) -> None:
        """
        New hls settings close the open segment and go on with the new
        ones from the next keyframe; sequence numbers carry on.
        """
        self.reload("on")
        self.send(5000)
        self.reload("on", fragment=4.0)
        self.assertEqual(self.files(), ["s-0.ts", "s-1.ts", "s-2.ts", "s-3.ts.tmp", "s.m3u8"])
        # s-2 was cut by the reload at 5 s; s-3 starts at the next keyframe
        # (6 s), not with the GOP cache (4 s) that s-2 holds already.
        self.send(9500, since=5000)
        self.assertEqual(len(self.output().segmenter.segments), 3)
        self.send(12000, since=9500)
        durations = [s.duration for s in self.output().segmenter.segments]
        self.assertEqual(durations[:2], [2.0, 2.0])
        self.assertEqual(durations[3:], [4.0])
        self.assertEqual(self.output().segmenter.segments[-1].sequence, 3)

    def test_unchanged(self) -> None:
        """A reload that leaves hls alone does not cut the open segment."""
        self.reload("on")
        self.send(3000)
        before = self.files()
        self.reload("on", extra="mw_latency 100;")
        self.assertEqual(self.files(), before)
        self.assertEqual(self.source.consumers.count(self.output()), 1)
