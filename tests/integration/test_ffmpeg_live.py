"""
End to end: ingest and transcode run real ffmpeg children of a real
``twistd -n srs``; ffprobe checks what they publish (issue 18).

Each test has its own server on free 127.0.0.1 ports in a temporary
directory, with a small FLV made there by ffmpeg's lavfi as the ingested
file.  No fixed sleeps: every wait polls a condition with a bound.  The
only processes signalled are the server the test started and the ffmpeg
children that server reported, by PID.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Callable
from typing import Any

import treq
from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.process import (
    REPO,
    Program,
    ServerHelpers,
    SrsServer,
    ffprobe,
    free_port,
    program,
    sleep,
)

FFMPEG = shutil.which("ffmpeg") or ""
_STARTED = re.compile(r"\] (\w+) (\S+)(?: engine (\S+))?: started ffmpeg pid=(\d+)")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@defer.inlineCallbacks
def wait_until(check: Callable[[], bool], within: float, what: str) -> Any:
    """Poll ``check`` every 0.1 s until it holds; fail after ``within`` seconds."""
    for _ in range(int(within * 10)):
        if check():
            return None
        yield sleep(0.1)
    raise AssertionError(f"not within {within}s: {what}")


def started_pids(output: str) -> dict[tuple[str, str, str], list[int]]:
    """The ffmpeg pids the server logged, by (kind, name, engine), oldest first."""
    found: dict[tuple[str, str, str], list[int]] = {}
    for kind, name, engine, pid in _STARTED.findall(output):
        found.setdefault((kind, name, engine or ""), []).append(int(pid))
    return found


class _FfmpegBase(ServerHelpers, TestCase):
    timeout = 60

    def setUp(self) -> None:
        if not FFMPEG or not shutil.which("ffprobe"):
            raise SkipTest("needs ffmpeg and ffprobe")

    @defer.inlineCallbacks
    def start_server(self, body: str, top: str = "ff_log_dir ./;\n") -> Any:
        self.server = SrsServer(self, body, top=top)
        yield self.server.started()

    @defer.inlineCallbacks
    def make_source(self, seconds: int = 40) -> Any:
        """
        ``src.flv`` in a directory of its own, made before the server starts
        so that the ingest's first run finds it: 640x360 H.264 + AAC from lavfi.

        :return: its absolute path.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        argv = [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=640x360:rate=15", "-f", "lavfi", "-i", "sine",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "15",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", "src.flv",
        ]  # fmt: skip
        code, _ = yield program(self, argv, directory, 30).ended
        self.assertEqual(code, 0)
        return os.path.join(directory, "src.flv")

    @defer.inlineCallbacks
    def probe(self, path: str) -> Any:
        """``{codec_type: (width, height)}`` of the stream ``path`` as ffprobe sees it."""
        argv = ffprobe("-show_entries", "stream=codec_type,width,height", self.server.url(path))
        child: Program = self.start(argv, limit=20)
        code, _ = yield child.ended
        self.assertEqual(code, 0, f"ffprobe {path}: {child.output}")
        # ffmpeg shows the FLV's onMetaData as a "data" stream; only media counts.
        return {
            s["codec_type"]: (s.get("width"), s.get("height"))
            for s in child.json()["streams"] if s["codec_type"] in ("video", "audio")
        }  # fmt: skip

    @defer.inlineCallbacks
    def stop_server_and_check(self, pids: list[int], how: str = "TERM") -> Any:
        """Signal the server; every ffmpeg it ran is gone within a few seconds."""
        self.assertTrue(pids)
        if how == "KILL":
            os.kill(self.server.pid, signal.SIGKILL)
        else:
            self.server.child.signal(how)
        yield self.server.child.ended
        yield wait_until(
            lambda: not any(alive(pid) for pid in pids), 5.0,
            f"ffmpeg pids {[p for p in pids if alive(p)]} gone after SIG{how} of the server",
        )  # fmt: skip


_VARIANTS = """
http_api {{ enabled on; listen 127.0.0.1:{api}; }}
vhost __defaultVhost__ {{
    ingest livestream {{
        enabled on;
        input {{ type file; url {source}; }}
        ffmpeg {ffmpeg};
        engine {{ enabled off; output rtmp://127.0.0.1:[port]/live?vhost=[vhost]/livestream; }}
    }}
    transcode live/livestream {{
        enabled on;
        ffmpeg {ffmpeg};
        engine sd {{
            enabled on; vcodec libx264; vwidth 320; vheight 180; vthreads 1; vprofile baseline;
            vpreset ultrafast; acodec aac; abitrate 32;
            output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine];
        }}
        engine copy {{ enabled on; vcodec copy; acodec copy; output rtmp://127.0.0.1:[port]/[app]/[stream]_[engine]; }}
        engine vn {{ enabled on; vcodec vn; acodec aac; output rtmp://127.0.0.1:[port]/[app]/[stream]_[engine]; }}
        engine an {{ enabled on; vcodec copy; acodec an; output rtmp://127.0.0.1:[port]/[app]/[stream]_[engine]; }}
    }}
}}
"""


class IngestTranscodeTests(_FfmpegBase):
    """One ingest and four engines on one server, then a child killed, then SIGTERM."""

    @defer.inlineCallbacks
    def test_ingest_transcode_restart_stop(self) -> Any:
        api = free_port()
        source = yield self.make_source()
        yield self.start_server(_VARIANTS.format(api=api, ffmpeg=FFMPEG, source=source))
        yield self.wait_publish("__defaultVhost__", "live/livestream")
        for engine in ("sd", "copy", "vn", "an"):
            yield self.wait_publish("__defaultVhost__", f"live/livestream_{engine}")
        probes = yield defer.gatherResults(
            [self.probe(f"live/livestream{suffix}") for suffix in ("", "_sd", "_copy", "_vn", "_an")]
        )
        original, sd, copy, vn, an = probes
        self.assertEqual(original, {"video": (640, 360), "audio": (None, None)})
        self.assertEqual(sd, {"video": (320, 180), "audio": (None, None)})
        self.assertEqual(copy, original)
        self.assertEqual(vn, {"audio": (None, None)})
        self.assertEqual(an, {"video": (640, 360)})
        self.assertIn("livestream_sd is the output of a transcode; not transcoded again", self.server.output)

        # The API lists the five children with their pids.
        response = yield treq.get(f"http://127.0.0.1:{api}/api/v1/ffmpegs", persistent=False)
        listed = (yield response.json())["ffmpegs"]
        self.assertEqual(sorted(p["engine"] for p in listed), ["", "an", "copy", "sd", "vn"])
        self.assertTrue(all(p["state"] == "running" and alive(p["pid"]) for p in listed))
        (sd_info,) = [p for p in listed if p["engine"] == "sd"]
        self.assertIn("-s 320x180 -aspect 320:180", sd_info["cmdline"])

        # A child killed by PID is restarted.
        key = ("transcode", "__defaultVhost__/live/livestream", "sd")
        old = sd_info["pid"]
        os.kill(old, signal.SIGKILL)
        yield self.server.child.wait_for(f"engine sd: ffmpeg pid={old} exited with signal 9")
        yield wait_until(lambda: len(started_pids(self.server.output)[key]) == 2, 10, "sd restarted")
        yield self.wait_publish("__defaultVhost__", "live/livestream_sd", since=self.server.output.index(f"pid={old} exited"))
        response = yield treq.get(f"http://127.0.0.1:{api}/api/v1/ffmpegs", persistent=False)
        (sd_info,) = [p for p in (yield response.json())["ffmpegs"] if p["engine"] == "sd"]
        self.assertEqual(sd_info["restarts"], 1)
        self.assertNotEqual(sd_info["pid"], old)

        pids = [pid for found in started_pids(self.server.output).values() for pid in found]
        yield self.stop_server_and_check(pids, "TERM")
        self.assertNotIn("Traceback", self.server.output)


_INGEST_ONLY = """
vhost __defaultVhost__ {{
    ingest livestream {{
        enabled on;
        input {{ type file; url {source}; }}
        ffmpeg {ffmpeg};
        engine {{ enabled off; output rtmp://127.0.0.1:[port]/live/livestream; }}
    }}
    # Writes a file, so nothing but the death signal ends it with the server.
    ingest tofile {{
        enabled on;
        input {{ type file; url {source}; }}
        ffmpeg {ffmpeg};
        engine {{ enabled off; output ./copy.flv; }}
    }}
}}
"""


class ServerKilledTests(_FfmpegBase):
    """SIGKILL of the server: the kernel kills its ffmpeg (PR_SET_PDEATHSIG)."""

    @defer.inlineCallbacks
    def test_sigkill_leaves_no_ffmpeg(self) -> Any:
        source = yield self.make_source()
        yield self.start_server(
            _INGEST_ONLY.format(ffmpeg=FFMPEG, source=source), top="ff_log_dir /dev/null;\n"
        )
        yield self.wait_publish("__defaultVhost__", "live/livestream")
        yield self.server.child.wait_for("ingest __defaultVhost__/tofile: started ffmpeg")
        pids = started_pids(self.server.output)
        (rtmp,) = pids[("ingest", "__defaultVhost__/livestream", "")]
        (tofile,) = pids[("ingest", "__defaultVhost__/tofile", "")]
        yield wait_until(lambda: os.path.exists(self.server.path("copy.flv")), 10, "copy.flv written")
        self.assertTrue(alive(rtmp) and alive(tofile))
        yield self.stop_server_and_check([rtmp, tofile], "KILL")


def sample_conf(name: str, replacements: dict[str, str]) -> str:
    """``conf/<name>`` without the lines the test server writes itself, with ``replacements``."""
    with open(os.path.join(REPO, "conf", name)) as f:
        lines = f.read().splitlines()
    skip = ("listen", "daemon", "srs_log_tank", "max_connections")
    text = "\n".join(line for line in lines if line.split()[:1] not in [[s] for s in skip])
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"conf/{name} has no {old!r}")
        text = text.replace(old, new)
    return text + "\n"


class AcceptanceTests(_FfmpegBase):
    """The sample configs, with a local fixture in place of SRS's sample paths."""

    @defer.inlineCallbacks
    def test_ingest_conf(self) -> Any:
        source = yield self.make_source()
        body = sample_conf(
            "ingest.conf",
            {"./objs/ffmpeg/bin/ffmpeg": FFMPEG, "./doc/source.200kbps.768x320.flv": source},
        )
        yield self.start_server(body, top="")
        yield self.wait_publish("__defaultVhost__", "live/livestream")
        probed = yield self.probe("live/livestream")
        self.assertEqual(probed, {"video": (640, 360), "audio": (None, None)})
        # ff_log_dir defaults to ./objs, where the ingest's log is
        self.assertTrue(os.path.exists(self.server.path("objs/ffmpeg-ingest-__defaultVhost__-live-livestream.log")))
        pids = [pid for found in started_pids(self.server.output).values() for pid in found]
        yield self.stop_server_and_check(pids, "TERM")

    @defer.inlineCallbacks
    def test_transcode_conf(self) -> Any:
        # This ffmpeg has no libfdk_aac (SRS builds its own with it); ffmpeg's aac stands in.
        body = sample_conf(
            "ffmpeg.transcode.conf",
            {"./objs/ffmpeg/bin/ffmpeg": FFMPEG, "libfdk_aac": "aac", "vpreset         medium": "vpreset veryfast"},
        )
        yield self.start_server(body, top="")
        self.publish("live/livestream", 25, extra=("-pix_fmt", "yuv420p"))
        yield self.wait_publish("__defaultVhost__", "live/livestream")
        yield self.wait_publish("__defaultVhost__", "live/livestream_ff")
        source, transcoded = yield defer.gatherResults(
            [self.probe("live/livestream"), self.probe("live/livestream_ff")]
        )
        self.assertEqual(transcoded, source)
        self.assertEqual(set(transcoded), {"video", "audio"})
        pids = [pid for found in started_pids(self.server.output).values() for pid in found]
        yield self.stop_server_and_check(pids, "TERM")
