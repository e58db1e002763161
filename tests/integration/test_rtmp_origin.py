"""
End to end: the RTMP origin with real programs (issue 5).

ffmpeg publishes generated H.264/AAC in real time; ffprobe, ffmpeg and
rtmpdump play it.  Every test starts its own ``twistd -n srs`` on a free
127.0.0.1 port (the config differs, or the test counts connections); every
child runs under coreutils' ``timeout`` and is stopped in cleanup.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, threads
from twisted.trial.unittest import TestCase

from tests.integration.process import (
    Program,
    SrsServer,
    ffmpeg_play,
    ffmpeg_publish,
    ffprobe,
    file_size,
    lines_of,
    log_cid,
    program,
    raw_connect,
    sleep,
)

_DEFAULT = "vhost __defaultVhost__ { }\n"

#: How long a publisher may take to connect and publish.
_PUBLISH_WAIT = 15.0


def _publish_line(vhost: str, path: str) -> str:
    return f"] publish {vhost}/{path}, "


def _packets(probe: object) -> list[dict[str, object]]:
    assert isinstance(probe, dict)
    packets = probe.get("packets", [])
    assert isinstance(packets, list)
    return packets


def _media_streams(probe: object) -> dict[str, dict[str, object]]:
    """
    ffprobe's audio and video streams by type.  Like SRS, the server sends
    players a |RtmpSampleAccess data message, which ffprobe lists as a
    third, "data" stream: that one is not media.
    """
    assert isinstance(probe, dict)
    streams = {s["codec_type"]: s for s in probe["streams"]}
    assert set(streams) <= {"audio", "video", "data"}, streams
    return {kind: streams[kind] for kind in ("audio", "video") if kind in streams}


class _Base(TestCase):
    timeout = 60

    def publish(self, server: SrsServer, path: str, seconds: float, **kwargs: Any) -> Program:
        """An ffmpeg publishing ``seconds`` of generated media to ``path``."""
        argv = ffmpeg_publish(server.url(path), seconds, **kwargs)
        return program(self, argv, server.directory, seconds + 15)

    def assertExit(self, child: Program, codes: tuple[int, ...], result: object) -> None:
        assert isinstance(result, tuple)
        self.assertIn(result[0], codes, f"exit {result}; output:\n{child.output}")


class OriginTests(_Base):
    """Publish and play on the default vhost."""

    @defer.inlineCallbacks
    def setUp(self) -> defer.Generator[defer.Deferred[object], object, None]:
        self.server = SrsServer(self, _DEFAULT)
        yield self.server.started()

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)

    @defer.inlineCallbacks
    def test_publish_probe_and_play(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """
        ffprobe sees H.264 320x240 and AAC; ffmpeg and rtmpdump play it at
        the same time; the copy has per-stream monotonic dts from about 0.
        """
        server = self.server
        self.publish(server, "live/origin", 8)
        yield server.child.wait_for(
            _publish_line("__defaultVhost__", "live/origin"), timeout=_PUBLISH_WAIT
        )
        url = server.url("live/origin")

        probe = program(self, ffprobe("-show_streams", url), server.directory)
        # -copyts keeps the server's timestamps in the copy.
        copy = program(self, ffmpeg_play(url, 2, "out.flv", copyts=True), server.directory)
        dump = program(
            self,
            ["rtmpdump", "-q", "-m", "10", "-r", url, "-o", "out2.flv", "--stop", "2"],
            server.directory,
        )
        results = yield defer.gatherResults([probe.ended, copy.ended, dump.ended])
        self.assertExit(probe, (0,), results[0])
        self.assertExit(copy, (0,), results[1])
        # rtmpdump says "incomplete" (2) for a live stream it stops itself.
        self.assertExit(dump, (0, 2), results[2])

        streams = _media_streams(probe.json())
        self.assertEqual(sorted(streams), ["audio", "video"])
        self.assertEqual(streams["video"]["codec_name"], "h264")
        self.assertEqual((streams["video"]["width"], streams["video"]["height"]), (320, 240))
        self.assertEqual(streams["audio"]["codec_name"], "aac")

        packets = program(
            self, ffprobe("-show_packets", "-show_streams", "out.flv"), server.directory
        )
        self.assertExit(packets, (0,), (yield packets.ended))
        kinds = {s["index"]: s["codec_type"] for s in packets.json()["streams"]}
        self.assertEqual(sorted(kinds.values()), ["audio", "video"])
        by_stream: dict[str, list[int]] = {"audio": [], "video": []}
        for packet in _packets(packets.json()):
            by_stream[kinds[packet["stream_index"]]].append(int(packet["dts"]))
        for kind, dts in by_stream.items():
            self.assertGreater(len(dts), 10, kind)
            self.assertLess(dts[0], 100, f"{kind} starts at {dts[0]} ms")
            self.assertEqual(dts, sorted(dts), f"{kind} dts not monotonic: {dts}")
            # About two seconds were asked for.
            self.assertGreater(dts[-1], 1500, kind)

        with open(server.path("out2.flv"), "rb") as f:
            header = f.read(3)
        self.assertEqual(header, b"FLV")
        self.assertGreater(file_size(server.path("out2.flv")), 10_000)
        # Three players came and went, the publisher stayed.
        self.assertEqual(
            server.output.count("] play __defaultVhost__/live/origin, publishing=True"), 3
        )

    @defer.inlineCallbacks
    def test_join_midstream_keyframe_first(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        """A player joining in the middle of a GOP starts with a keyframe, at about 0 ms."""
        server = self.server
        self.publish(server, "live/late", 8)
        yield server.child.wait_for(
            _publish_line("__defaultVhost__", "live/late"), timeout=_PUBLISH_WAIT
        )
        # GOPs are one second (-g 25 at 25 fps): 2.5 s is mid-GOP.
        yield sleep(2.5)
        url = server.url("live/late")
        copy = program(self, ffmpeg_play(url, 1, "late.flv", copyts=True), server.directory)
        self.assertExit(copy, (0,), (yield copy.ended))
        probe = program(
            self,
            ffprobe(
                "-show_packets",
                "-select_streams",
                "v",
                "-show_entries",
                "packet=flags,dts",
                "late.flv",
            ),
            server.directory,
        )
        self.assertExit(probe, (0,), (yield probe.ended))
        video = _packets(probe.json())
        self.assertGreater(len(video), 5)
        self.assertTrue(str(video[0]["flags"]).startswith("K"), video[:3])
        self.assertLess(int(video[0]["dts"]), 100)
        # Not every packet is a keyframe: the check above means something.
        self.assertTrue(any(not str(p["flags"]).startswith("K") for p in video))

    @defer.inlineCallbacks
    def test_audio_only_and_video_only(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        """A played audio-only or video-only stream has only the published codec."""
        server = self.server
        self.publish(server, "live/sound", 8, video=False)
        self.publish(server, "live/picture", 8, audio=False)
        yield defer.gatherResults(
            [
                server.child.wait_for(
                    _publish_line("__defaultVhost__", "live/sound"), timeout=_PUBLISH_WAIT
                ),
                server.child.wait_for(
                    _publish_line("__defaultVhost__", "live/picture"), timeout=_PUBLISH_WAIT
                ),
            ]
        )
        sound = program(self, ffprobe("-show_streams", server.url("live/sound")), server.directory)
        picture = program(
            self, ffprobe("-show_streams", server.url("live/picture")), server.directory
        )
        results = yield defer.gatherResults([sound.ended, picture.ended])
        self.assertExit(sound, (0,), results[0])
        self.assertExit(picture, (0,), results[1])
        self.assertEqual(
            [(k, s["codec_name"]) for k, s in _media_streams(sound.json()).items()],
            [("audio", "aac")],
        )
        self.assertEqual(
            [(k, s["codec_name"]) for k, s in _media_streams(picture.json()).items()],
            [("video", "h264")],
        )

    @defer.inlineCallbacks
    def test_duplicate_publish_refused(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        """A second publisher of a live stream is refused; the first goes on."""
        server = self.server
        first = self.publish(server, "live/twice", 8)
        yield server.child.wait_for(
            _publish_line("__defaultVhost__", "live/twice"), timeout=_PUBLISH_WAIT
        )
        second = self.publish(server, "live/twice", 4)
        code, sig = yield second.ended
        self.assertNotEqual(code, 0, second.output)
        self.assertFalse(first.ended.called, first.output)

        # The first publisher still feeds players.
        copy = program(
            self, ffmpeg_play(server.url("live/twice"), 1, "twice.flv"), server.directory
        )
        self.assertExit(copy, (0,), (yield copy.ended))
        self.assertGreater(file_size(server.path("twice.flv")), 10_000)
        self.assertFalse(first.ended.called, first.output)

        publishers = [
            log_cid(line)
            for line in server.lines()
            if _publish_line("__defaultVhost__", "live/twice") in line
        ]
        self.assertEqual(len(publishers), 1)
        refusals = [line for line in server.lines() if "already" in line]
        self.assertEqual(len(refusals), 1, refusals)
        refused = log_cid(refusals[0])
        self.assertIsNotNone(refused)
        self.assertNotEqual(refused, publishers[0])
        self.assertIn("live/twice", refusals[0])
        assert refused is not None
        self.assertTrue(any("connect app" in line for line in lines_of(server.output, refused)))


class AdmissionTests(_Base):
    """Vhost routing and the checks that refuse a client."""

    def tearDown(self) -> None:
        for server in getattr(self, "servers", []):
            self.assertNotIn("Traceback", server.output)

    @defer.inlineCallbacks
    def start(
        self, body: str, top: str = ""
    ) -> defer.Generator[defer.Deferred[object], object, SrsServer]:
        server = SrsServer(self, body, top)
        self.servers = [*getattr(self, "servers", []), server]
        yield server.started()
        return server

    @defer.inlineCallbacks
    def test_vhost_query_routing(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """?vhost= in the app (publish) or the stream (play) selects the vhost."""
        server = yield self.start(_DEFAULT + "vhost demo.test { }\n")
        self.publish(server, "live?vhost=demo.test/routed", 6)
        yield server.child.wait_for(
            _publish_line("demo.test", "live/routed"), timeout=_PUBLISH_WAIT
        )
        copy = program(
            self,
            ffmpeg_play(server.url("live/routed?vhost=demo.test"), 1, "routed.flv"),
            server.directory,
        )
        self.assertExit(copy, (0,), (yield copy.ended))
        self.assertGreater(file_size(server.path("routed.flv")), 10_000)
        self.assertIn("] play demo.test/live/routed, publishing=True", server.output)
        self.assertNotIn("__defaultVhost__/live/routed", server.output)

    @defer.inlineCallbacks
    def test_unknown_vhost_refused(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """Without __defaultVhost__, a client of an unknown vhost is refused (2014)."""
        server = yield self.start("vhost demo.test { }\n")
        publisher = self.publish(server, "live/nowhere", 4)
        code, _ = yield publisher.ended
        self.assertNotEqual(code, 0, publisher.output)
        refusals = [line for line in server.lines() if "closing:" in line and "2014" in line]
        self.assertEqual(len(refusals), 1, server.output)
        self.assertIn("127.0.0.1", refusals[0])
        self.assertNotIn("] publish ", server.output)

    @defer.inlineCallbacks
    def test_security_deny_publish(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """security: deny publish all refuses ffmpeg's publish (1053)."""
        server = yield self.start(
            "vhost __defaultVhost__ {\n"
            "    security {\n        enabled on;\n        deny publish all;\n        allow play all;\n    }\n"
            "}\n"
        )
        publisher = self.publish(server, "live/denied", 4)
        code, _ = yield publisher.ended
        self.assertNotEqual(code, 0, publisher.output)
        refusals = [
            line
            for line in server.lines()
            if "closing:" in line and ("1053" in line or "deny" in line)
        ]
        self.assertEqual(len(refusals), 1, server.output)
        self.assertNotIn("] publish ", server.output)

    @defer.inlineCallbacks
    def test_max_connections(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """With max_connections 2, the third connection is closed; a slot frees on close."""
        server = yield self.start(_DEFAULT, top="max_connections 2;\n")
        self.publish(server, "live/full", 8)
        yield server.child.wait_for(
            _publish_line("__defaultVhost__", "live/full"), timeout=_PUBLISH_WAIT
        )
        idle = yield threads.deferToThread(raw_connect, server.port)
        self.addCleanup(idle.close)
        yield server.child.wait_for("RTMP client ip=", since=server.output.index("] publish "))

        third = program(
            self, ffmpeg_play(server.url("live/full"), 1, "third.flv"), server.directory
        )
        code, _ = yield third.ended
        self.assertNotEqual(code, 0, third.output)
        refusals = [line for line in server.lines() if "refused: max_connections" in line]
        self.assertEqual(len(refusals), 1, server.output)
        self.assertIn("max_connections=2", refusals[0])

        # Closing the idle connection gives its slot to the next player.
        mark = server.child.mark()
        idle.close()
        yield server.child.wait_for("RTMP client closed", since=mark)
        fourth = program(
            self, ffmpeg_play(server.url("live/full"), 1, "fourth.flv"), server.directory
        )
        self.assertExit(fourth, (0,), (yield fourth.ended))
        self.assertGreater(file_size(server.path("fourth.flv")), 10_000)
        self.assertEqual(
            len([line for line in server.lines() if "refused: max_connections" in line]), 1
        )
