"""
Tests for the srs-librtmp console tools (:mod:`srstwist.tools.rtmp_dump`,
``ingest_flv``, ``flv_parser``, ``raw_publish``, ``detect_rtmp``, and
their shared runner ``_run``): the command lines, the parser on a file
ffmpeg generates, one-line failures with exit status 1 for bad input, and
round trips through the real ``twistd -n srs`` on 127.0.0.1 (FLV file in,
FLV file out; raw H.264 in, ffprobe on the recording).
"""

from __future__ import annotations

import configparser
import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from srstwist.client.flv_file import FlvTag, read_flv
from srstwist.client.raw import AccessUnitSplitter
from srstwist.codec.amf0 import Amf0Object, EcmaArray
from srstwist.codec.flv import TagType, is_avc_sequence_header, is_keyframe
from srstwist.codec.rtmp_events import Result
from srstwist.tools import detect_rtmp, flv_parser, ingest_flv, raw_publish, rtmp_dump
from srstwist.tools._run import Watchdog, describe_error
from tests.integration.process import REPO, Child, ffprobe, free_port, program, srs_command

#: The console scripts of setup.cfg this module covers, and their targets.
_SCRIPTS = {
    "srs-rtmp-dump": "srstwist.tools.rtmp_dump:main",
    "srs-ingest-flv": "srstwist.tools.ingest_flv:main",
    "srs-flv-parser": "srstwist.tools.flv_parser:main",
    "srs-h264-raw-publish": "srstwist.tools.raw_publish:main_h264",
    "srs-aac-raw-publish": "srstwist.tools.raw_publish:main_aac",
    "srs-detect-rtmp": "srstwist.tools.detect_rtmp:main",
}

_SERVER_CONF = """\
listen 127.0.0.1:{port};
daemon off;
srs_log_tank console;
pid ./srs.pid;
vhost __defaultVhost__ {{ min_latency on; }}
"""


def _need(*programs: str) -> None:
    for name in programs:
        if shutil.which(name) is None:
            raise SkipTest(f"{name} is not installed")


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=60,
    )


class _Media:
    """
    Media files ffmpeg generates once per test run, in a directory under
    trial's working directory (which trial empties on its next run).
    """

    directory: str | None = None

    @classmethod
    def path(cls, name: str) -> str:
        _need("ffmpeg")
        if cls.directory is None:
            cls.directory = tempfile.mkdtemp(prefix="tools-media-", dir=os.getcwd())
        path = os.path.join(cls.directory, name)
        if os.path.exists(path):
            return path
        video = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]
        audio = ["-f", "lavfi", "-i", "sine"]
        h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]
        if name == "gen.flv":
            # 2 s of H.264 320x240 (a keyframe every second) and AAC.
            _ffmpeg(*video, *audio, "-t", "2", *h264, "-c:a", "aac", "-f", "flv", path)
        elif name == "gen.h264":
            _ffmpeg(*video, "-t", "2", *h264, "-f", "h264", path)
        elif name == "gen.aac":
            _ffmpeg(*audio, "-t", "1", "-c:a", "aac", "-f", "adts", path)
        else:
            raise ValueError(name)
        return path


def _call(main: Any, argv: list[str]) -> tuple[int, str, str]:
    """Run a tool's main in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _tool(module: str, *args: str) -> list[str]:
    """The argv of ``python -m srstwist.tools.MODULE ARGS`` from this checkout."""
    return ["env", f"PYTHONPATH={REPO}", sys.executable, "-m", f"srstwist.tools.{module}", *args]


def _av(tags: list[FlvTag]) -> list[FlvTag]:
    return [tag for tag in tags if tag.tag_type in (TagType.AUDIO, TagType.VIDEO)]


def _first_keyframe(tags: list[FlvTag]) -> int:
    for index, tag in enumerate(tags):
        payload = tag.payload
        if tag.tag_type == TagType.VIDEO and is_keyframe(payload):
            if not is_avc_sequence_header(payload):
                return index
    raise AssertionError("no keyframe")


class CommandLineTests(SynchronousTestCase):
    """--help, the console scripts, argument errors, bad URLs: no reactor needed."""

    def test_scripts_declared(self) -> None:
        """setup.cfg declares each tool under its SRS-like name, and each target is callable."""
        config = configparser.ConfigParser()
        config.read(os.path.join(REPO, "setup.cfg"))
        declared = {}
        for line in config["options.entry_points"]["console_scripts"].strip().splitlines():
            name, _, target = line.partition("=")
            declared[name.strip()] = target.strip()
        for name, target in _SCRIPTS.items():
            self.assertEqual(declared.get(name), target)
            module, _, attribute = target.partition(":")
            self.assertTrue(callable(getattr(importlib.import_module(module), attribute)))

    def test_help(self) -> None:
        """--help prints the usage with the tool's name and exits 0, for every tool."""
        mains = {
            "srs-rtmp-dump": rtmp_dump.main,
            "srs-ingest-flv": ingest_flv.main,
            "srs-flv-parser": flv_parser.main,
            "srs-h264-raw-publish": raw_publish.main_h264,
            "srs-aac-raw-publish": raw_publish.main_aac,
            "srs-detect-rtmp": detect_rtmp.main,
        }
        for prog, main in mains.items():
            code, out, _ = _call(main, ["--help"])
            self.assertEqual(code, 0, prog)
            self.assertIn(f"usage: {prog}", out)
        code, out, _ = _call(raw_publish.main, ["--help"])
        self.assertEqual((code, "{h264,aac}" in out), (0, True))
        code, out, _ = _call(raw_publish.main, ["h264", "--help"])
        self.assertEqual((code, "--fps" in out), (0, True))

    def test_bad_arguments(self) -> None:
        """A missing or malformed argument is a usage error: exit status 2."""
        self.assertEqual(_call(rtmp_dump.main, [])[0], 2)
        self.assertEqual(_call(rtmp_dump.main, ["-r", "rtmp://h/a/s", "-d", "-1"])[0], 2)
        self.assertEqual(_call(ingest_flv.main, ["-i", "x.flv"])[0], 2)
        self.assertEqual(_call(raw_publish.main_h264, ["-i", "x", "-y", "u", "--fps", "0"])[0], 2)
        self.assertEqual(_call(raw_publish.main, ["mp3"])[0], 2)
        code, _, err = _call(rtmp_dump.main, ["-r", "rtmp://h/a/s", "-C", "S:x"])
        self.assertEqual(code, 2)
        self.assertIn("unsupported -C 'S:x'", err)

    def test_bad_url(self) -> None:
        """
        A URL that is not rtmp://host/app/stream: one line on stderr, exit
        status 1, before any connection.
        """
        cases = [
            (rtmp_dump.main, ["-r", "http://127.0.0.1/live/s"]),
            (ingest_flv.main, ["-i", "x.flv", "-y", "rtmp://127.0.0.1/live"]),
            (raw_publish.main_h264, ["-i", "x.h264", "-y", "rtmp://127.0.0.1:99999/live/s"]),
            (raw_publish.main_aac, ["-i", "x.aac", "-y", "rtmp://127.0.0.1/live/"]),
            (detect_rtmp.main, ["-r", "127.0.0.1/live/s"]),
        ]
        for main, argv in cases:
            code, out, err = _call(main, argv)
            self.assertEqual(code, 1, argv)
            self.assertEqual(out, "")
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(": error: bad RTMP URL", err)

    def test_conndata(self) -> None:
        """-C builds the connect args Object from NS/NN/NB properties."""
        self.assertIsNone(rtmp_dump.parse_conndata([]))
        self.assertIsNone(rtmp_dump.parse_conndata(["O:1", "O:0"]))
        args = rtmp_dump.parse_conndata(["O:1", "NS:token:a:b", "NN:n:2.5", "NB:ok:1", "O:0"])
        self.assertEqual(args, Amf0Object(token="a:b", n=2.5, ok=True))
        for bad in ("NS:novalue", "NN:n:x", "NB:b:2", "S:x", "NS::v"):
            self.assertRaises(ValueError, rtmp_dump.parse_conndata, [bad])

    def test_describe_error(self) -> None:
        """OS errors name the file; others are their message on one line."""
        error = FileNotFoundError(2, "No such file or directory", "in.flv")
        self.assertEqual(describe_error(error), "in.flv: No such file or directory")
        self.assertEqual(describe_error(ValueError("two\n  lines")), "two lines")
        self.assertEqual(describe_error(defer.TimeoutError()), "timed out")


class DescribeTests(SynchronousTestCase):
    """The one-line tag descriptions and the detector's facts."""

    def test_video(self) -> None:
        line = flv_parser.describe_tag(9, 1000, bytes.fromhex("2701000050") + b"\x00" * 8)
        self.assertEqual(line, "video ts=1000 size=13 inter-frame H.264 NALU cts=80 pts=1080")
        self.assertEqual(
            flv_parser.describe_tag(9, 0, b"\x22abc"), "video ts=0 size=4 inter-frame H.263"
        )
        self.assertEqual(flv_parser.describe_tag(9, 0, b""), "video ts=0 size=0 empty")
        line = flv_parser.describe_tag(9, 0, bytes.fromhex("1700000000"))
        self.assertTrue(
            line.startswith("video ts=0 size=5 keyframe H.264 sequence-header (invalid: ")
        )

    def test_audio(self) -> None:
        line = flv_parser.describe_tag(8, 5, bytes.fromhex("af001210"))
        self.assertEqual(
            line,
            "audio ts=5 size=4 AAC 44100Hz 16bit stereo sequence-header (LC, 44100 Hz, 2 channels)",
        )
        self.assertEqual(
            flv_parser.describe_tag(8, 0, b"\x2e\x00"), "audio ts=0 size=2 MP3 44100Hz 16bit mono"
        )

    def test_script(self) -> None:
        from srstwist.codec.amf0 import encode_values

        payload = encode_values("onMetaData", EcmaArray([("width", 320.0), ("stereo", True)]))
        self.assertEqual(
            flv_parser.describe_tag(18, 0, payload), f"script ts=0 size={len(payload)} onMetaData"
        )
        self.assertEqual(flv_parser.script_lines(payload), ["width: 320", "stereo: true"])
        self.assertIn("undecodable AMF0", flv_parser.describe_tag(18, 0, b"\x02\x00\x09ab"))

    def test_server_facts(self) -> None:
        """The srs_* identity of the connect _result, numbers as integers."""
        data = EcmaArray(
            [("version", "3,5,3,888"), ("srs_server", "SRS/2.0.276"), ("srs_pid", 42.0)]
        )
        info = Amf0Object(code="NetConnection.Connect.Success", data=data)
        result = Result(1.0, "connect", Amf0Object(fmsVer="FMS/3,5,3,888"), (info,))
        self.assertEqual(
            detect_rtmp.server_facts(result),
            {
                "fmsVer": "FMS/3,5,3,888",
                "version": "3,5,3,888",
                "srs_server": "SRS/2.0.276",
                "srs_pid": 42,
            },
        )
        self.assertEqual(detect_rtmp.server_facts(None), {})

    def test_watchdog(self) -> None:
        from twisted.internet.task import Clock

        clock = Clock()
        fired: list[float] = []
        dog = Watchdog(clock, 2.0, lambda: fired.append(clock.seconds()))
        clock.advance(1.5)
        dog.kick()
        clock.advance(1.5)
        self.assertEqual(fired, [])
        clock.advance(0.5)
        self.assertEqual(fired, [3.5])
        dog.kick()
        dog.stop()
        self.assertEqual(clock.getDelayedCalls(), [])


class FlvParserTests(SynchronousTestCase):
    """srs-flv-parser on a file ffmpeg made, a truncated copy, and not-FLV input."""

    def test_generated(self) -> None:
        """The header, one line per tag with its offset, codec facts, metadata, a summary."""
        path = _Media.path("gen.flv")
        code, out, err = _call(flv_parser.main, [path])
        self.assertEqual((code, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "FLV header: version=1 flags=0x05 (audio video) data-offset=9")
        tags = list(read_flv(path))
        tag_lines = [line for line in lines if line.startswith("#")]
        self.assertEqual(len(tag_lines), len(tags))
        self.assertTrue(tag_lines[0].startswith("#1 offset=13 script ts=0 size="))
        self.assertTrue(tag_lines[0].endswith(" onMetaData"))
        self.assertIn("    width: 320", lines)
        self.assertTrue(
            any(
                "keyframe H.264 sequence-header (Baseline " in line and line.endswith(", 320x240)")
                for line in tag_lines
            )
        )
        self.assertTrue(
            any(
                "AAC 44100Hz 16bit stereo sequence-header (LC, 44100 Hz" in line
                for line in tag_lines
            )
        )
        self.assertTrue(any(" keyframe H.264 NALU cts=" in line for line in tag_lines))
        self.assertTrue(any(" inter-frame H.264 NALU cts=" in line for line in tag_lines))
        video = sum(1 for tag in tags if tag.tag_type == TagType.VIDEO)
        audio = sum(1 for tag in tags if tag.tag_type == TagType.AUDIO)
        self.assertEqual(
            lines[-1].split(";")[:2],
            [
                f"{len(tags)} tags: {video} video, {audio} audio, 1 script",
                f" {os.path.getsize(path)} bytes",
            ],
        )
        # Offsets: each tag starts where the one before ends.
        offsets = [int(line.split()[1].removeprefix("offset=")) for line in tag_lines]
        for before, after, tag in zip(offsets, offsets[1:], tags, strict=False):
            self.assertEqual(after - before, 11 + len(tag.payload) + 4)
        code, out, _ = _call(flv_parser.main, ["--hex", "--no-metadata", path])
        self.assertEqual(code, 0)
        self.assertNotIn("    width: 320", out)
        self.assertIn("    first: ", out)

    def test_truncated(self) -> None:
        """Every whole tag is printed, then one line on stderr; exit status 1."""
        source = _Media.path("gen.flv")
        path = self.mktemp()
        with open(source, "rb") as f, open(path, "wb") as out_file:
            out_file.write(f.read(5000))
        code, out, err = _call(flv_parser.main, [path])
        self.assertEqual(code, 1)
        self.assertTrue(out.startswith("FLV header: "))
        self.assertIn("#4 offset=", out)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("srs-flv-parser: error: ", err)
        self.assertIn("truncated FLV file", err)

    def test_not_flv(self) -> None:
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"not a video at all")
        for argv, message in (([path], "not an FLV file"), ([path + ".missing"], "No such file")):
            code, out, err = _call(flv_parser.main, argv)
            self.assertEqual((code, out), (1, ""))
            self.assertEqual(len(err.splitlines()), 1)
            self.assertIn(message, err)


class BadInputTests(SynchronousTestCase):
    """
    The tools as programs (``python -m``), against a closed port and with
    broken files: one line on stderr, exit status 1, promptly.
    """

    def test_unreachable_and_broken(self) -> None:
        gen = _Media.path("gen.flv")
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        broken = os.path.join(directory, "broken.flv")
        with open(gen, "rb") as f, open(broken, "wb") as out_file:
            out_file.write(f.read(5000))
        not_h264 = os.path.join(directory, "x.h264")
        with open(not_h264, "wb") as f:
            f.write(b"\xff" * 100)
        closed = f"rtmp://127.0.0.1:{free_port()}/live/s"
        cases = [
            (
                _tool("rtmp_dump", "-r", closed, "-o", os.path.join(directory, "o.flv")),
                "connection refused",
            ),
            (_tool("ingest_flv", "-i", gen, "-y", closed), "connection refused"),
            (_tool("detect_rtmp", "-r", closed), "connection refused"),
            (
                _tool("raw_publish", "aac", "-i", _Media.path("gen.aac"), "-y", closed),
                "connection refused",
            ),
            (_tool("ingest_flv", "-i", broken, "-y", closed), "connection refused"),
            (
                _tool("raw_publish", "h264", "-i", not_h264, "-y", closed),
                "not an Annex-B H.264 stream",
            ),
            (
                _tool("ingest_flv", "-i", os.path.join(directory, "none.flv"), "-y", closed),
                "No such file",
            ),
            (_tool("flv_parser", broken), "truncated FLV file"),
        ]
        started = time.monotonic()
        children = [
            (
                subprocess.Popen(
                    argv, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                ),
                argv,
                message,
            )
            for argv, message in cases
        ]
        try:
            for child, argv, message in children:
                _, err = child.communicate(timeout=30)
                text = err.decode()
                self.assertEqual(child.returncode, 1, f"{argv}: {text}")
                self.assertEqual(len(text.splitlines()), 1, text)
                self.assertIn(": error: ", text)
                self.assertIn(message, text)
        finally:
            for child, _, _ in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        self.assertLess(time.monotonic() - started, 20)


class LoopbackTests(TestCase):
    """
    The tools against the real server on 127.0.0.1: the recording of what
    was published holds the same media.
    """

    timeout = 60

    def setUp(self) -> None:
        _need("ffmpeg", "ffprobe", "timeout", "pgrep")
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        # Last cleanup: nothing this test started may be left running.
        self.addCleanup(self._no_leftovers)
        self.port = free_port()
        with open(os.path.join(self.directory, "srs.conf"), "w") as f:
            f.write(_SERVER_CONF.format(port=self.port))
        conf = os.path.join(self.directory, "srs.conf")
        self.server = Child.spawn(srs_command("-n", "srs", "-c", conf), cwd=self.directory)
        self.addCleanup(self.server.kill_if_running)

    def started(self) -> defer.Deferred[None]:
        return self.server.wait_for(f"listen rtmp at tcp:port={self.port}")

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)

    def _no_leftovers(self) -> None:
        for _ in range(20):
            found = subprocess.run(
                ["pgrep", "-f", self.directory], capture_output=True, text=True, check=False
            ).stdout.split()
            if not found:
                return
            time.sleep(0.1)
        self.fail(f"processes left running: {found}")

    def url(self, stream: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{stream}"

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def assertExited(self, child: Any, result: Any) -> None:
        self.assertEqual(result[0], 0, f"exit {result}; output:\n{child.output}")

    @defer.inlineCallbacks
    def test_ingest_and_dump(self) -> Any:
        """
        srs-ingest-flv publishes an FLV file, srs-rtmp-dump (started first)
        records it: the same audio and video payloads in order, from the
        first keyframe on, timestamps shifted by one constant.
        """
        gen = _Media.path("gen.flv")
        out = self.path("out.flv")
        yield self.started()
        dump = program(
            self, _tool("rtmp_dump", "-r", self.url("t"), "-o", out, "-d", "4"), self.directory
        )
        yield self.server.wait_for("play __defaultVhost__/live/t,")
        ingest = program(self, _tool("ingest_flv", "-i", gen, "-y", self.url("t")), self.directory)
        results = yield defer.gatherResults([ingest.ended, dump.ended])
        self.assertExited(ingest, results[0])
        self.assertExited(dump, results[1])
        self.assertIn("srs-ingest-flv: done: ", ingest.output)
        self.assertIn("srs-rtmp-dump: duration reached; ", dump.output)

        sent = list(read_flv(gen))
        received = list(read_flv(out))
        self.assertEqual(received[0].tag_type, TagType.SCRIPT)
        self.assertIn(b"onMetaData", received[0].payload[:16])
        sent_av, received_av = _av(sent), _av(received)
        start = _first_keyframe(received_av)
        origin = next(
            i for i, tag in enumerate(sent_av) if tag.payload == received_av[start].payload
        )
        self.assertEqual(
            [(t.tag_type, t.payload) for t in received_av[start:]],
            [(t.tag_type, t.payload) for t in sent_av[origin:]],
        )
        shifts = {
            r.timestamp - s.timestamp
            for r, s in zip(received_av[start:], sent_av[origin:], strict=True)
        }
        self.assertEqual(len(shifts), 1, shifts)
        # Started first, the player also had the sequence headers.
        self.assertTrue(any(is_avc_sequence_header(t.payload) for t in received_av[:start]))

    @defer.inlineCallbacks
    def test_h264_raw_publish(self) -> Any:
        """
        srs-h264-raw-publish sends an Annex-B file at 25 fps; the recording
        is H.264 320x240 with every picture, 40 ms apart.
        """
        source = _Media.path("gen.h264")
        out = self.path("outh.flv")
        yield self.started()
        dump = program(
            self, _tool("rtmp_dump", "-r", self.url("h"), "-o", out, "-d", "3"), self.directory
        )
        yield self.server.wait_for("play __defaultVhost__/live/h,")
        publish = program(
            self,
            _tool("raw_publish", "h264", "-i", source, "-y", self.url("h"), "--fps", "25"),
            self.directory,
        )
        results = yield defer.gatherResults([publish.ended, dump.ended])
        self.assertExited(publish, results[0])
        self.assertExited(dump, results[1])

        splitter = AccessUnitSplitter()
        with open(source, "rb") as f:
            units = splitter.receive_data(f.read()) + splitter.flush()
        pictures = sum(1 for unit in units if any(n[0] & 0x1F in (1, 5) for n in unit))

        probe = program(self, ffprobe("-count_frames", "-show_streams", out), self.directory)
        self.assertExited(probe, (yield probe.ended))
        streams = [s for s in probe.json()["streams"] if s["codec_type"] == "video"]
        self.assertEqual(len(streams), 1)
        video = streams[0]
        self.assertEqual((video["codec_name"], video["width"], video["height"]), ("h264", 320, 240))
        self.assertEqual(int(video["nb_read_frames"]), pictures)

        frames = [
            t
            for t in read_flv(out)
            if t.tag_type == TagType.VIDEO and not is_avc_sequence_header(t.payload)
        ]
        self.assertEqual(len(frames), pictures)
        self.assertEqual(
            {b.timestamp - a.timestamp for a, b in zip(frames, frames[1:], strict=False)}, {40}
        )
