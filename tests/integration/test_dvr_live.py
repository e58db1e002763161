"""
End to end: DVR files written by the server from a real ffmpeg publish,
read by real ffprobe and ffmpeg, seeked into through the HTTP server's
``?start=``, announced to a real on_dvr receiver, and finished on SIGTERM
(issue 16).

The acceptance runs ``conf/dvr.session.conf``, ``conf/dvr.segment.conf``
and ``conf/dvr.path.conf`` as shipped, but for the lines the test server
writes itself (``listen`` on a free port, ``daemon``, the log tank) and an
``http_hooks`` block for the receiver, each server in its own temporary
directory so that the configs' relative ``./objs/nginx/html`` lands there.
The three run at once to keep the module short; every wait polls for a
condition.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from srstwist.codec.flv import FlvTagDecoder
from tests.integration.process import REPO, ServerHelpers, SrsServer, ffprobe, free_port, sleep
from tests.integration.test_control_plane import HookReceiver
from tests.test_media_dvr import metadata_of

#: Seconds each publisher sends; the shipped segment config cuts every 30 s,
#: so its recording is one file closed at unpublish.
_PUBLISH = 6.0
_DROPPED = re.compile(r"^\s*(listen|daemon|srs_log_tank|max_connections)\b.*$", re.M)


def shipped(name: str, hook: str, top: str = "") -> str:
    """A shipped config without what SrsServer writes, plus the on_dvr hook."""
    with open(os.path.join(REPO, "conf", name)) as f:
        text = _DROPPED.sub("", f.read())
    hooks = f"vhost __defaultVhost__ {{\n    http_hooks {{ enabled on; on_dvr {hook}; }}\n"
    assert text.count("vhost __defaultVhost__ {") == 1
    return top + text.replace("vhost __defaultVhost__ {", hooks)


def flv_files(root: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.join(directory, n) for n in names]
    return sorted(found)


class _Base(ServerHelpers, TestCase):
    timeout = 80

    def setUp(self) -> None:
        self.receiver = HookReceiver(self)

    @defer.inlineCallbacks
    def until(self, condition: Callable[[], Any], what: str, within: float = 20.0) -> Any:
        for _ in range(int(within * 10)):
            value = condition()
            if value:
                return value
            yield sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    @defer.inlineCallbacks
    def probe(self, path: str, expected: float) -> Any:
        """ffprobe reads ``path``: both tracks, the duration, no decode error."""
        probe = self.start(ffprobe("-show_format", "-show_streams", path))
        yield probe.ended
        info = probe.json()
        kinds = sorted(s["codec_type"] for s in info["streams"])
        self.assertEqual(kinds, ["audio", "video"], path)
        duration = float(info["format"]["duration"])
        self.assertLess(abs(duration - expected), 0.5, f"{path}: {duration} s, not {expected}")
        decode = self.start(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"])
        code, _ = yield decode.ended
        self.assertEqual((code, decode.output), (0, ""), path)
        return duration


class AcceptanceTests(_Base):
    """The three shipped DVR configs."""

    @defer.inlineCallbacks
    def test_shipped_configs(self) -> None:
        confs = {
            "dvr.session.conf": r"live/livestream\.\d{13}\.flv",
            "dvr.segment.conf": r"live/livestream\.\d{13}\.flv",
            "dvr.path.conf": r"live/livestream/\d{4}/\d\d/\d\d/\d\d\.\d\d\.\d\d\.\d{3}\.flv",
        }
        servers = {}
        for name in confs:
            self.server = servers[name] = SrsServer(self, shipped(name, self.receiver.url("zero", name)))
        yield defer.gatherResults([s.started() for s in servers.values()])
        publishers = []
        for server in servers.values():
            self.server = server
            publishers.append(self.publish("live/livestream", _PUBLISH))
        yield defer.gatherResults([p.ended for p in publishers])
        for name, pattern in confs.items():
            server = servers[name]
            root = server.path("objs/nginx/html")
            yield self.until(
                lambda: any(r["path"].endswith(name) for r in self.receiver.records),
                f"on_dvr of {name}",
            )
            files = flv_files(root)
            self.assertEqual(len(files), 1, files)
            relative = os.path.relpath(files[0], root)
            self.assertRegex(relative, "^" + pattern + "$")
            yield self.probe(files[0], _PUBLISH)
            hooks = [r["payload"] for r in self.receiver.records if r["path"].endswith(name)]
            self.assertEqual(len(hooks), 1, hooks)
            body = hooks[0]
            self.assertEqual(
                sorted(body),
                ["action", "app", "client_id", "cwd", "file", "ip", "param", "stream", "vhost"],
            )
            self.assertEqual((body["action"], body["app"], body["stream"]), ("on_dvr", "live", "livestream"))
            self.assertEqual(os.path.realpath(os.path.join(body["cwd"], body["file"])), os.path.realpath(files[0]))
            self.assertNotIn("Traceback", server.output)
            self.assertNotIn("dvr error", server.output)


class SeekAndShutdownTests(_Base):
    """?start= into a finished file, then SIGTERM while another records."""

    @defer.inlineCallbacks
    def test_seek_then_sigterm(self) -> None:
        self.http_port = free_port()
        top = f"http_server {{ enabled on; listen 127.0.0.1:{self.http_port}; }}\n"
        self.server = SrsServer(self, shipped("dvr.session.conf", self.receiver.url("zero"), top))
        yield self.server.started()
        root = self.server.path("objs/nginx/html/live")
        done = self.publish("live/done", _PUBLISH)
        live = self.publish("live/live", 40)
        yield done.ended
        finished = yield self.until(
            lambda: [f for f in flv_files(root) if "/done." in f and f.endswith(".flv")],
            "the finished file",
        )
        path = finished[0]
        total = yield self.probe(path, _PUBLISH)

        # The keyframes index, as a player reads it, and a seek to its middle.
        with open(path, "rb") as f:
            props = metadata_of(FlvTagDecoder().receive_data(f.read(1 << 20))[0])
        index = props["keyframes"]
        times, positions = index["times"], index["filepositions"]  # type: ignore[index]
        self.assertGreaterEqual(len(times), int(_PUBLISH) - 1)
        middle = len(times) // 2
        url = self.http(f"/live/{os.path.basename(path)}?start={int(positions[middle])}")
        part = self.server.path("part.flv")
        curl = self.start(["curl", "-sS", "-f", "-o", part, url])
        code, _ = yield curl.ended
        self.assertEqual(code, 0, curl.output)
        decode = self.start(["ffmpeg", "-nostdin", "-v", "error", "-i", part, "-f", "null", "-"])
        code, _ = yield decode.ended
        self.assertEqual((code, decode.output), (0, ""))
        with open(part, "rb") as f:
            tags = FlvTagDecoder().receive_data(f.read())
        # The sequence headers, then the keyframe the index points at.
        self.assertEqual(sorted(t.payload[1] for t in tags[:2]), [0, 0])
        self.assertEqual(tags[2].tag_type, 9)
        self.assertEqual(tags[2].payload[0], 0x17)
        self.assertEqual(tags[2].timestamp, round(times[middle] * 1000))
        self.assertLess(abs((tags[-1].timestamp / 1000 - times[middle]) - (total - times[middle])), 0.5)

        # SIGTERM while "live" records: its file is finished, no .tmp left.
        yield self.until(
            lambda: [f for f in flv_files(root) if "/live." in f and f.endswith(".tmp")],
            "the live .tmp",
        )
        yield self.until(lambda: len(self.receiver.payloads("on_dvr")) >= 1, "on_dvr of done")
        self.server.child.signal("TERM")
        code, signal = yield self.server.child.ended
        # twistd shuts down in order, then re-raises SIGTERM on itself.
        self.assertEqual((code, signal), (None, 15), self.server.output[-2000:])
        yield live.stop()
        files = flv_files(root)
        self.assertFalse([f for f in files if f.endswith(".tmp")], files)
        recorded = [f for f in files if "/live." in f]
        self.assertEqual(len(recorded), 1, files)
        probe = self.start(ffprobe("-show_format", "-show_streams", recorded[0]))
        yield probe.ended
        self.assertGreater(float(probe.json()["format"]["duration"]), 1.0)
        self.assertIn("dvr: closed", self.server.output)
        self.assertNotIn("Traceback", self.server.output)
