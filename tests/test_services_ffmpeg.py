"""
Supervision of the ffmpeg children on a fake spawn and a memory clock:
restart backoff, SIGTERM then SIGKILL, a missing binary, reload diffs,
transcodes started and stopped by publish, the loop guard, and
``/api/v1/ffmpegs``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.media.ffmpeg_argv import FfmpegJob
from srstwist.services.ffmpeg import (
    LAUNCHER,
    IngestService,
    SupervisedFfmpeg,
    TranscodeService,
    launcher_argv,
)


class FakeTransport:
    """What ``spawnProcess`` returns: a pid and the signals sent to it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []
        self.ended = False

    def signalProcess(self, name: str) -> None:
        if self.ended:
            raise error.ProcessExitedAlready()
        self.signals.append(name)


class FakeSpawn:
    """Records every spawn; ``end(i, ...)`` makes child ``i`` exit."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, list[str], dict[str, Any]]] = []
        self.transports: list[FakeTransport] = []

    def __call__(self, protocol: Any, executable: str, args: list[str], **kwargs: Any) -> FakeTransport:
        transport = FakeTransport(1000 + len(self.calls))
        self.calls.append((protocol, executable, args, kwargs))
        self.transports.append(transport)
        return transport

    def end(self, index: int = -1, code: int | None = 1, signal: int | None = None) -> None:
        protocol = self.calls[index][0]
        self.transports[index].ended = True
        if code == 0 and signal is None:
            reason = Failure(error.ProcessDone(0))
        else:
            reason = Failure(error.ProcessTerminated(code, signal))
        protocol.processEnded(reason)

    def running(self) -> list[FakeTransport]:
        return [t for t in self.transports if not t.ended]


@dataclass
class Fixture:
    reactor: MemoryReactorClock = field(default_factory=MemoryReactorClock)
    spawn: FakeSpawn = field(default_factory=FakeSpawn)
    missing: set[str] = field(default_factory=set)

    def which(self, binary: str) -> str | None:
        return None if binary in self.missing else "/usr/bin/" + os.path.basename(binary)

    def options(self) -> dict[str, Any]:
        return {"spawn": self.spawn, "which": self.which}


def _job(log: str = "/dev/null", binary: str = "ffmpeg") -> FfmpegJob:
    return FfmpegJob(
        kind="ingest", key=("v", "one", 0), argv=(binary, "-i", "in.flv", "-y", "rtmp://x/live/s"),
        log=log, vhost="v", name="one", engine="", output="rtmp://x/live/s",
    )  # fmt: skip


class SupervisionTests(SynchronousTestCase):
    """:class:`SupervisedFfmpeg`."""

    def setUp(self) -> None:
        self.f = Fixture()
        self.child = SupervisedFfmpeg(_job(), self.f.reactor, **self.f.options())

    def test_launcher(self) -> None:
        """The child runs the launcher, which execs ffmpeg with its own argv; stdin is /dev/null."""
        self.child.start()
        (protocol, executable, args, kwargs) = self.f.spawn.calls[0]
        self.assertEqual(args, launcher_argv("/usr/bin/ffmpeg", _job().argv, os.getpid()))
        self.assertEqual(args[args.index(LAUNCHER) + 1 :],
                         [str(os.getpid()), "/usr/bin/ffmpeg", *_job().argv])  # fmt: skip
        self.assertIn("prctl(1,signal.SIGKILL", LAUNCHER)
        self.assertEqual(sorted(kwargs["childFDs"]), [0, 1, 2])
        self.assertEqual((self.child.state, self.child.pid), ("running", 1000))

    def test_restart_backoff(self) -> None:
        """Quick exits restart after 1, 2, 4... s, capped at 30; a minute of uptime resets it."""
        self.child.start()
        delays = []
        for _ in range(7):
            self.f.reactor.advance(0.5)
            self.f.spawn.end(code=1)
            self.assertEqual(self.child.state, "waiting")
            (call,) = self.f.reactor.getDelayedCalls()
            delays.append(call.getTime() - self.f.reactor.seconds())
            self.f.reactor.advance(delays[-1])
            self.assertEqual(self.child.state, "running")
        self.assertEqual(delays, [1, 2, 4, 8, 16, 30, 30])
        self.assertEqual(self.child.restarts, 7)
        self.assertEqual(len(self.f.spawn.calls), 8)
        self.f.reactor.advance(61)
        self.f.spawn.end(code=None, signal=9)
        (call,) = self.f.reactor.getDelayedCalls()
        self.assertEqual(call.getTime() - self.f.reactor.seconds(), 1)

    def test_clean_exit_restarts_at_once(self) -> None:
        """A file played to its end (status 0) is played again after 1 s, every time."""
        self.child.start()
        for _ in range(4):
            self.f.spawn.end(code=0)
            (call,) = self.f.reactor.getDelayedCalls()
            self.assertEqual(call.getTime() - self.f.reactor.seconds(), 1)
            self.f.reactor.advance(1)

    def test_stop_term_then_kill(self) -> None:
        """SIGTERM; SIGKILL 5 s later if it is still there; the Deferred fires when reaped."""
        self.child.start()
        stopped = self.child.stop()
        transport = self.f.spawn.transports[0]
        self.assertEqual(transport.signals, ["TERM"])
        self.f.reactor.advance(4.9)
        self.assertEqual(transport.signals, ["TERM"])
        self.assertNoResult(stopped)
        self.f.reactor.advance(0.1)
        self.assertEqual(transport.signals, ["TERM", "KILL"])
        self.f.spawn.end(code=None, signal=9)
        self.successResultOf(stopped)
        self.assertEqual(self.child.state, "stopped")
        self.assertEqual(self.f.reactor.getDelayedCalls(), [])
        self.assertEqual(len(self.f.spawn.calls), 1)

    def test_stop_before_kill(self) -> None:
        """A child that obeys SIGTERM gets no SIGKILL, and no restart."""
        self.child.start()
        stopped = self.child.stop()
        self.f.spawn.end(code=255)
        self.successResultOf(stopped)
        self.assertEqual(self.f.spawn.transports[0].signals, ["TERM"])
        self.assertEqual(self.f.reactor.getDelayedCalls(), [])

    def test_stop_while_waiting(self) -> None:
        """Stopping between restarts cancels the restart."""
        self.child.start()
        self.f.spawn.end()
        self.successResultOf(self.child.stop())
        self.f.reactor.advance(60)
        self.assertEqual(len(self.f.spawn.calls), 1)

    def test_missing_binary(self) -> None:
        """One error, no spawn, no restart loop."""
        self.f.missing.add("ffmpeg")
        self.child.start()
        self.assertEqual((self.child.state, self.f.spawn.calls), ("failed", []))
        self.assertEqual(self.f.reactor.getDelayedCalls(), [])
        errors = self.flushLoggedErrors()
        self.assertEqual(errors, [])

    def test_log_header_and_tail(self) -> None:
        """The log file gets SRS's header; the restart line quotes the log's last lines."""
        path = self.mktemp()
        child = SupervisedFfmpeg(_job(log=path), self.f.reactor, **self.f.options())
        events: list[dict[str, Any]] = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        child.start()
        with open(path) as f:
            header = f.read()
        self.assertIn(f"ffmpeg cid={child.cid}\nlog={path}\nparams: ffmpeg -i in.flv", header)
        with open(path, "a") as f:
            f.write("frame=1\rframe=2\rConnection refused\n")
        self.f.spawn.end(code=1)
        (line,) = [e for e in events if e.get("what", "").startswith("ffmpeg pid=1000 exited")]
        self.assertEqual(line["what"], "ffmpeg pid=1000 exited with exit code 1")
        self.assertEqual(line["tail"], "frame=1 | frame=2 | Connection refused")
        self.assertIs(line["log_source"], child)

    def test_api_info(self) -> None:
        self.child.start()
        self.f.reactor.advance(2.5)
        info = self.child.info()
        self.assertEqual(
            {k: info[k] for k in ("kind", "pid", "state", "uptime", "restarts", "cmdline")},
            {"kind": "ingest", "pid": 1000, "state": "running", "uptime": 2.5, "restarts": 0,
             "cmdline": "ffmpeg -i in.flv -y rtmp://x/live/s"},
        )  # fmt: skip


_INGESTS = """
listen 19350;
ff_log_dir /dev/null;
vhost __defaultVhost__ {
    ingest a { enabled on; input { type file; url ./a.flv; } ffmpeg ffmpeg;
               engine { enabled off; output rtmp://127.0.0.1:[port]/live/a; } }
    ingest b { enabled on; input { type file; url ./b.flv; } ffmpeg ffmpeg;
               engine { enabled off; output rtmp://127.0.0.1:[port]/live/b; } }
    ingest c { enabled on; input { type file; url ./c.flv; } ffmpeg ./nowhere/ffmpeg;
               engine { enabled off; output rtmp://127.0.0.1:[port]/live/c; } }
    ingest d { enabled on; input { type file; url ./d.flv; } ffmpeg ffmpeg; }
}
"""


class IngestServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.f = Fixture(missing={"./nowhere/ffmpeg"})
        self.service = IngestService(load_config_text(_INGESTS), self.f.reactor, **self.f.options())
        self.service.startService()

    def test_start(self) -> None:
        """Every valid ingest starts; the missing binary and the one without output do not."""
        self.assertEqual(sorted(self.service.children), [("__defaultVhost__", n, 0) for n in "abc"])
        self.assertEqual(len(self.f.spawn.calls), 2)
        self.assertEqual(self.service.children[("__defaultVhost__", "c", 0)].state, "failed")

    def test_reload_restarts_only_the_changed(self) -> None:
        """b changed, a untouched, c removed, e added."""
        text = _INGESTS.replace("./b.flv", "./b2.flv").replace("ingest c", "ingest e")
        text = text.replace("./nowhere/ffmpeg", "ffmpeg")
        d = self.service.reconfigure(load_config_text(text))
        a, b = self.f.spawn.transports[:2]
        self.assertEqual((a.signals, b.signals), ([], ["TERM"]))
        # e starts at once; the new b waits for the old one to go
        self.assertEqual(len(self.f.spawn.calls), 3)
        self.assertIn("./c.flv", self.f.spawn.calls[2][2])
        self.f.spawn.end(1, code=255)
        self.successResultOf(d)
        self.assertEqual(len(self.f.spawn.calls), 4)
        self.assertIn("./b2.flv", self.f.spawn.calls[3][2])
        self.assertEqual(sorted(self.service.children), [("__defaultVhost__", n, 0) for n in "abe"])

    def test_stop_service(self) -> None:
        d = self.service.stopService()
        self.assertNoResult(d)
        for index in range(2):
            self.f.spawn.end(index, code=None, signal=15)
        self.successResultOf(d)
        self.assertEqual(self.service.children, {})


_TRANSCODES = """
listen 19350;
ff_log_dir /dev/null;
vhost __defaultVhost__ {
    transcode live {
        enabled on;
        ffmpeg ffmpeg;
        engine sd { enabled on; vcodec libx264; vwidth 320; vheight 180; vprofile main; vpreset fast;
                    acodec aac; output rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]; }
        engine a { enabled on; vcodec vn; acodec aac; output rtmp://127.0.0.1:[port]/[app]/[stream]_a; }
    }
}
"""


@dataclass
class FakeSource:
    key: tuple[str, str, str]
    cid: int = 7


@dataclass
class FakeRequest:
    tc_url: str = "rtmp://127.0.0.1:19350/live"
    param: str = ""


class TranscodeServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.f = Fixture()
        self.service = TranscodeService(load_config_text(_TRANSCODES), self.f.reactor, **self.f.options())
        self.service.startService()
        self.source = FakeSource(("__defaultVhost__", "live", "s"))

    def test_publish_unpublish(self) -> None:
        """Publish starts every engine; unpublish stops them; no restart after."""
        self.service.on_publish(self.source, FakeRequest())
        self.assertEqual(len(self.f.spawn.calls), 2)
        self.assertIn("rtmp://127.0.0.1:19350/live?vhost=__defaultVhost__/s", self.f.spawn.calls[0][2])
        self.service.on_unpublish(self.source, FakeRequest())
        self.assertEqual([t.signals for t in self.f.spawn.transports], [["TERM"], ["TERM"]])
        self.f.spawn.end(0, code=0)
        self.f.spawn.end(1, code=0)
        self.f.reactor.advance(60)
        self.assertEqual(len(self.f.spawn.calls), 2)
        self.assertEqual(self.service.children, {})

    def test_loop_guard(self) -> None:
        """The streams a transcode publishes are not transcoded (both URL forms)."""
        self.service.on_publish(self.source, FakeRequest())
        for name in ("s_sd", "s_a"):
            self.service.on_publish(FakeSource(("__defaultVhost__", "live", name)), FakeRequest())
        self.assertEqual(len(self.f.spawn.calls), 2)
        self.service.on_publish(FakeSource(("__defaultVhost__", "live", "t")), FakeRequest())
        self.assertEqual(len(self.f.spawn.calls), 4)

    def test_other_app_and_port(self) -> None:
        """No scope, no child; [port] is the publisher's port when it is one of ours."""
        self.service.on_publish(FakeSource(("__defaultVhost__", "other", "s")), FakeRequest())
        self.assertEqual(self.f.spawn.calls, [])
        self.service.on_publish(self.source, FakeRequest(tc_url="rtmp://h:1/live"))
        self.assertIn("rtmp://127.0.0.1:19350/live/s_a", self.f.spawn.calls[-1][2])

    def test_republish_waits_for_the_old_child(self) -> None:
        """A quick republish starts the new children once the old ones are reaped."""
        self.service.on_publish(self.source, FakeRequest())
        self.service.on_unpublish(self.source, FakeRequest())
        self.service.on_publish(self.source, FakeRequest())
        self.assertEqual(len(self.f.spawn.calls), 2)
        self.f.spawn.end(0, code=0)
        self.f.spawn.end(1, code=0)
        self.assertEqual(len(self.f.spawn.calls), 4)

    def test_reload(self) -> None:
        """A changed engine restarts alone; a removed one stops."""
        self.service.on_publish(self.source, FakeRequest())
        text = _TRANSCODES.replace("vwidth 320; vheight 180", "vwidth 640; vheight 360")
        text = text.replace("engine a {", "engine a_off { enabled off; } engine zz {", 1)
        self.service.reconfigure(load_config_text(text.replace("enabled on; vcodec vn", "vcodec vn")))
        sd, a = self.f.spawn.transports
        self.assertEqual((sd.signals, a.signals), (["TERM"], ["TERM"]))
        self.f.spawn.end(0, code=255)
        self.f.spawn.end(1, code=255)
        self.assertEqual(len(self.f.spawn.calls), 3)
        self.assertIn("640x360", self.f.spawn.calls[2][2])

    def test_processes(self) -> None:
        self.service.on_publish(self.source, FakeRequest())
        self.assertEqual([p["engine"] for p in self.service.processes()], ["sd", "a"])
        self.assertEqual({p["kind"] for p in self.service.processes()}, {"transcode"})


class ApiRouteTests(SynchronousTestCase):
    """``/api/v1/ffmpegs`` lists what the provider gives."""

    def test_route(self) -> None:
        from treq.testing import StubTreq

        from srstwist.stream.stats import Statistics
        from srstwist.web.api import HttpApi

        config = load_config_text("listen 1935;")
        listed = [{"id": 1, "pid": 42, "cmdline": "ffmpeg -i x", "uptime": 1.5, "restarts": 0}]
        api = HttpApi(
            Statistics(first_id=9), lambda: config, MemoryReactorClock(),
            lambda cid: False, 0.0, sampler=None, ffmpegs=lambda: listed,  # type: ignore[arg-type]
        )  # fmt: skip
        treq = StubTreq(api.resource)
        response = self.successResultOf(treq.get("http://127.0.0.1:1985/api/v1/ffmpegs"))
        body = json.loads(self.successResultOf(response.content()))
        self.assertEqual(body, {"code": 0, "server": 9, "ffmpegs": listed})
        response = self.successResultOf(treq.delete("http://127.0.0.1:1985/api/v1/ffmpegs"))
        self.assertEqual(response.code, 405)
        bare = HttpApi(
            Statistics(first_id=9), lambda: config, MemoryReactorClock(),
            lambda cid: False, 0.0, sampler=None,  # type: ignore[arg-type]
        )  # fmt: skip
        response = self.successResultOf(StubTreq(bare.resource).get("http://h/api/v1/ffmpegs"))
        self.assertEqual(json.loads(self.successResultOf(response.content()))["ffmpegs"], [])
