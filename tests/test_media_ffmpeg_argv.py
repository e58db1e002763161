"""
The ffmpeg command lines of ingest and transcode, against SRS 2.0's order
(``srs_app_ffmpeg.cpp`` ``SrsFFMPEG::start``), one table row per directive.
"""

from __future__ import annotations

from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.config.model import EngineConfig
from srstwist.media.ffmpeg_argv import (
    EngineError,
    RestartPolicy,
    copy_argv,
    engine_argv,
    ingest_jobs,
    log_file,
    scope_transcodes,
    stream_of_url,
    transcode_input,
    transcode_jobs,
)

IN = "rtmp://127.0.0.1:1935/live?vhost=v/s"
OUT = "rtmp://127.0.0.1:1935/live?vhost=v/s_sd"

#: The smallest encoding engine SRS accepts.
BASE = EngineConfig(
    name="sd", enabled=True, vcodec="libx264", vprofile="main", vpreset="medium",
    acodec="libfdk_aac", output=OUT, vthreads=0,
)  # fmt: skip

HEAD = ["ffmpeg", "-f", "flv", "-i", IN]
VIDEO = ["-vcodec", "libx264", "-profile:v", "main", "-preset", "medium"]
AUDIO = ["-acodec", "libfdk_aac"]
TAIL = ["-f", "flv", "-y", OUT]

#: (what changes in BASE, the whole argv).
TABLE: list[tuple[dict[str, object], list[str]]] = [
    ({}, [*HEAD, *VIDEO, *AUDIO, *TAIL]),
    ({"iformat": "off"}, ["ffmpeg", "-i", IN, *VIDEO, *AUDIO, *TAIL]),
    ({"iformat": "live_flv"}, ["ffmpeg", "-f", "live_flv", "-i", IN, *VIDEO, *AUDIO, *TAIL]),
    (
        {"vfilter": (("i", "./logo.png"), ("filter_complex", "overlay=10:10"))},
        [*HEAD, "-i", "./logo.png", "-filter_complex", "overlay=10:10", *VIDEO, *AUDIO, *TAIL],
    ),
    (
        {"vbitrate": 800},
        [*HEAD, "-vcodec", "libx264", "-b:v", "800000", *VIDEO[2:], *AUDIO, *TAIL],
    ),
    ({"vfps": 25}, [*HEAD, "-vcodec", "libx264", "-r", "25.00", *VIDEO[2:], *AUDIO, *TAIL]),
    (
        {"vwidth": 321, "vheight": 181},
        [*HEAD, "-vcodec", "libx264", "-s", "320x180", "-aspect", "320:180", *VIDEO[2:],
         *AUDIO, *TAIL],
    ),  # fmt: skip
    ({"vwidth": 320}, [*HEAD, *VIDEO, *AUDIO, *TAIL]),
    ({"vthreads": 4}, [*HEAD, "-vcodec", "libx264", "-threads", "4", *VIDEO[2:], *AUDIO, *TAIL]),
    ({"vprofile": "baseline", "vpreset": "superfast"},
     [*HEAD, "-vcodec", "libx264", "-profile:v", "baseline", "-preset", "superfast", *AUDIO, *TAIL]),
    (
        {"vparams": (("t", "100"), ("coder", "1"), ("b_strategy", "2"))},
        [*HEAD, *VIDEO, "-t", "100", "-coder", "1", "-b_strategy", "2", *AUDIO, *TAIL],
    ),
    (
        {"vbitrate": 1200, "vfps": 29.97, "vwidth": 1280, "vheight": 720, "vthreads": 2,
         "vparams": (("g", "50"),)},
        [*HEAD, "-vcodec", "libx264", "-b:v", "1200000", "-r", "29.97", "-s", "1280x720",
         "-aspect", "1280:720", "-threads", "2", "-profile:v", "main", "-preset", "medium",
         "-g", "50", *AUDIO, *TAIL],
    ),  # fmt: skip
    ({"vcodec": "copy", "vbitrate": 800, "vparams": (("g", "50"),)},
     [*HEAD, "-vcodec", "copy", *AUDIO, *TAIL]),
    ({"vcodec": "vn", "vwidth": 320, "vheight": 180}, [*HEAD, "-vn", *AUDIO, *TAIL]),
    ({"abitrate": 45}, [*HEAD, *VIDEO, *AUDIO, "-b:a", "45000", *TAIL]),
    ({"asample_rate": 44100}, [*HEAD, *VIDEO, *AUDIO, "-ar", "44100", *TAIL]),
    ({"achannels": 2}, [*HEAD, *VIDEO, *AUDIO, "-ac", "2", *TAIL]),
    (
        {"abitrate": 70, "asample_rate": 44100, "achannels": 2,
         "aparams": (("profile:a", "aac_he"), ("bsf:a", "aac_adtstoasc"))},
        [*HEAD, *VIDEO, *AUDIO, "-b:a", "70000", "-ar", "44100", "-ac", "2",
         "-profile:a", "aac_he", "-bsf:a", "aac_adtstoasc", *TAIL],
    ),  # fmt: skip
    (
        {"acodec": "copy", "abitrate": 70, "aparams": (("profile:a", "aac_he"), ("bsf:a", "aac_adtstoasc"))},
        [*HEAD, *VIDEO, "-acodec", "copy", "-bsf:a", "aac_adtstoasc", *TAIL],
    ),
    ({"acodec": "an", "abitrate": 70}, [*HEAD, *VIDEO, "-an", *TAIL]),
    ({"oformat": "off"}, [*HEAD, *VIDEO, *AUDIO, "-y", OUT]),
    ({"oformat": "mpegts"}, [*HEAD, *VIDEO, *AUDIO, "-f", "mpegts", "-y", OUT]),
    ({"vcodec": "copy", "acodec": "copy"}, [*HEAD, "-vcodec", "copy", "-acodec", "copy", *TAIL]),
    # empty pieces of a pair are left out, as SRS skips empty strings
    ({"vparams": (("an", ""),)}, [*HEAD, *VIDEO, "-an", *AUDIO, *TAIL]),
]


class EngineArgvTests(SynchronousTestCase):
    """``engine_argv``: every directive, in SRS's place."""

    def test_table(self) -> None:
        for changes, expected in TABLE:
            engine = replace(BASE, **changes)  # type: ignore[arg-type]
            self.assertEqual(engine_argv("ffmpeg", engine, IN, OUT), expected, changes)

    def test_iparams_and_non_rtmp_input(self) -> None:
        """
        ``-re`` comes first; ``-f iformat`` is dropped for an input that is
        not rtmp:// (SRS #290), kept for a device.
        """
        self.assertEqual(
            engine_argv("ff", BASE, "./in.flv", OUT, iparams="-re")[:4],
            ["ff", "-re", "-i", "./in.flv"],
        )
        device = replace(BASE, iformat="v4l2")
        self.assertEqual(
            engine_argv("ff", device, "/dev/video0", OUT, keep_iformat=True)[:5],
            ["ff", "-f", "v4l2", "-i", "/dev/video0"],
        )

    def test_refused(self) -> None:
        """SRS's checks, each with its reason."""
        for changes, reason in [
            ({"vcodec": "vn", "acodec": "an"}, "video and audio disabled"),
            ({"vprofile": ""}, "vprofile"),
            ({"vpreset": ""}, "vpreset"),
            ({"vcodec": ""}, "no vcodec"),
            ({"acodec": ""}, "no acodec"),
            ({"acodec": "libaacplus", "abitrate": 100}, "[16, 72]"),
            ({"output": ""}, "empty output"),
        ]:
            with self.assertRaises(EngineError) as caught:
                engine_argv("ff", replace(BASE, **changes), IN, OUT)  # type: ignore[arg-type]
            self.assertIn(reason, str(caught.exception))
        # copy and vn need no profile or preset
        engine_argv("ff", replace(BASE, vcodec="copy", vprofile="", vpreset=""), IN, OUT)

    def test_copy(self) -> None:
        """``initialize_copy``: both tracks copied into FLV."""
        self.assertEqual(
            copy_argv("ff", "./a.flv", OUT, "-re"),
            ["ff", "-re", "-i", "./a.flv", "-vcodec", "copy", "-acodec", "copy", "-f", "flv", "-y", OUT],
        )


_INGEST = """
listen 19350;
ff_log_dir ./objs;
vhost v {
    ingest one {
        enabled on;
        input { type file; url ./doc/a.flv; }
        ffmpeg ./objs/ffmpeg/bin/ffmpeg;
        engine { enabled off; output rtmp://127.0.0.1:[port]/live?vhost=[vhost]/livestream; }
    }
    ingest two {
        enabled on;
        input { type stream; url udp://127.0.0.1:2222; }
        ffmpeg ffmpeg;
        engine hd { enabled on; iformat flv; vcodec libx264; vprofile main; vpreset fast;
                    acodec aac; output rtmp://127.0.0.1:[port]/live/two; }
        engine copy { enabled on; vcodec copy; output rtmp://127.0.0.1:[port]/live/two_copy; }
    }
    ingest off { enabled off; }
}
"""


class IngestJobTests(SynchronousTestCase):
    """``ingest_jobs``: SRS's ingest rules (``SrsIngester::initialize_ffmpeg``)."""

    def setUp(self) -> None:
        self.config = load_config_text(_INGEST)
        self.vhost = self.config.vhost("v")
        assert self.vhost is not None

    def test_file_copy(self) -> None:
        """A disabled engine copies; a file is read with -re; [port] [vhost] filled."""
        (job,) = ingest_jobs(self.vhost, self.vhost.ingests[0], 19350, "./objs")
        out = "rtmp://127.0.0.1:19350/live?vhost=v/livestream"
        self.assertEqual(
            list(job.argv),
            ["./objs/ffmpeg/bin/ffmpeg", "-re", "-i", "./doc/a.flv", "-vcodec", "copy",
             "-acodec", "copy", "-f", "flv", "-y", out],
        )  # fmt: skip
        self.assertEqual(job.log, "./objs/ffmpeg-ingest-v-live-livestream.log")
        self.assertEqual((job.key, job.output, job.kind), (("v", "one", 0), out, "ingest"))

    def test_stream_engines(self) -> None:
        """One child per engine; no -re for a stream; no -f for a non-rtmp input; no acodec copies."""
        hd, copy = ingest_jobs(self.vhost, self.vhost.ingests[1], 19350, "/dev/null")
        self.assertEqual(
            list(hd.argv),
            ["ffmpeg", "-i", "udp://127.0.0.1:2222", "-vcodec", "libx264", "-threads", "1",
             "-profile:v", "main", "-preset", "fast", "-acodec", "aac", "-f", "flv", "-y",
             "rtmp://127.0.0.1:19350/live/two"],
        )  # fmt: skip
        self.assertEqual(hd.log, "/dev/null")
        self.assertEqual(copy.argv[-4:-2], ("-f", "flv"))
        self.assertEqual(copy.argv[3:7], ("-vcodec", "copy", "-acodec", "copy"))
        self.assertEqual([hd.key, copy.key], [("v", "two", 0), ("v", "two", 1)])

    def test_disabled_and_refused(self) -> None:
        self.assertEqual(ingest_jobs(self.vhost, self.vhost.ingests[2], 1, "."), [])
        ingest = self.vhost.ingests[0]
        for changes, reason in [
            ({"ffmpeg": ""}, "empty ffmpeg"),
            ({"engines": ()}, "empty output"),
            ({"input": replace(ingest.input, url="")}, "empty input"),
        ]:
            with self.assertRaises(EngineError) as caught:
                ingest_jobs(self.vhost, replace(ingest, **changes), 1, ".")  # type: ignore[arg-type]
            self.assertIn(reason, str(caught.exception))


_TRANSCODE = """
listen 1935;
vhost v {
    transcode {
        enabled on;
        ffmpeg ffmpeg;
        engine sd { enabled on; vcodec libx264; vwidth 320; vheight 180; vprofile main;
                    vpreset fast; acodec aac;
                    output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine][param]; }
        engine off { enabled off; vcodec copy; acodec copy; output x; }
        engine bad { enabled on; vcodec vn; acodec an; output x; }
    }
    transcode live {
        enabled on;
        ffmpeg ffmpeg;
        engine audio { enabled on; vcodec vn; acodec aac; output rtmp://127.0.0.1:[port]/[app]/[stream]_a; }
    }
    transcode live/s {
        enabled on;
        ffmpeg ffmpeg;
        engine { enabled on; vcodec copy; acodec copy; output rtmp://127.0.0.1:[port]/[app]/[stream]_copy; }
    }
    transcode other { enabled off; ffmpeg ffmpeg; engine x { enabled on; } }
}
"""


class TranscodeJobTests(SynchronousTestCase):
    """``transcode_jobs``: scopes, templates, SRS's names."""

    def setUp(self) -> None:
        self.config = load_config_text(_TRANSCODE)
        self.vhost = self.config.vhost("v")
        assert self.vhost is not None

    def test_scopes(self) -> None:
        """vhost, then app, then app/stream (``SrsEncoder::parse_scope_engines``)."""
        self.assertEqual([s for s, _ in scope_transcodes(self.vhost, "live", "s")], ["", "live", "live/s"])
        self.assertEqual([s for s, _ in scope_transcodes(self.vhost, "live", "t")], ["", "live"])
        self.assertEqual([s for s, _ in scope_transcodes(self.vhost, "other", "s")], ["", "other"])

    def test_jobs(self) -> None:
        jobs, problems = transcode_jobs(self.config, self.vhost, "live", "s", "?k=1", 1935)
        self.assertEqual(
            [job.output for job in jobs],
            ["rtmp://127.0.0.1:1935/live?vhost=v/s_sd?k=1", "rtmp://127.0.0.1:1935/live/s_a",
             "rtmp://127.0.0.1:1935/live/s_copy"],
        )  # fmt: skip
        self.assertEqual(jobs[0].argv[:5], ("ffmpeg", "-f", "flv", "-i", transcode_input("v", "live", "s", 1935)))
        self.assertEqual(
            [job.log for job in jobs],
            ["./objs/ffmpeg-encoder-v-live-s-sd.log", "./objs/ffmpeg-encoder-v-live-s-audio.log",
             "./objs/ffmpeg-encoder-v-live-s.log"],
        )  # fmt: skip
        self.assertEqual([job.key for job in jobs], [("v", "live", "s", "", 0), ("v", "live", "s", "live", 0), ("v", "live", "s", "live/s", 0)])
        (problem,) = problems
        self.assertIn("engine 'bad'", problem)
        self.assertIn("video and audio disabled", problem)
        jobs, _ = transcode_jobs(self.config, self.vhost, "other", "x", "", 1935)
        self.assertEqual([job.engine for job in jobs], ["sd"])

    def test_input(self) -> None:
        self.assertEqual(transcode_input("__defaultVhost__", "live", "s", 19350),
                         "rtmp://127.0.0.1:19350/live?vhost=__defaultVhost__/s")  # fmt: skip

    def test_stream_of_url(self) -> None:
        """The loop guard's key: the same parse as a client's tcUrl."""
        self.assertEqual(stream_of_url("rtmp://127.0.0.1:1935/live?vhost=v/s_sd"), ("v", "live", "s_sd"))
        self.assertEqual(stream_of_url("rtmp://127.0.0.1/live/s_sd"), ("127.0.0.1", "live", "s_sd"))
        self.assertIsNone(stream_of_url("udp://127.0.0.1:1234"))

    def test_log_file(self) -> None:
        self.assertEqual(log_file("/dev/null", "encoder", "v", "a", "s", "e"), "/dev/null")
        self.assertEqual(log_file("./objs", "ingest", "v", "a", "s"), "./objs/ffmpeg-ingest-v-a-s.log")


class RestartPolicyTests(SynchronousTestCase):
    """1 s doubling to 30 s; reset by a minute of uptime or a clean exit."""

    def test_schedule(self) -> None:
        policy = RestartPolicy()
        count, delays = 0, []
        for _ in range(8):
            count = policy.quick_exits(count, uptime=2.0)
            delays.append(policy.delay(count))
        self.assertEqual(delays, [1, 2, 4, 8, 16, 30, 30, 30])
        self.assertEqual(policy.quick_exits(count, uptime=60.0), 1)
        self.assertEqual(policy.quick_exits(count, uptime=1.0, clean=True), 1)
