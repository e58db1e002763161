"""
Tests for :mod:`srstwist.services.server`: the service tree, ordered bounded
shutdown, and reload.
"""

from __future__ import annotations

import io
import os
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config
from srstwist.services.server import CHILD_STOP_TIMEOUT, SrsService, buildService
from srstwist.tracelog import SrsLogObserver
from tests.reactors import ListeningReactor

_CONF = """\
listen 127.0.0.1:{port};
pid {pid};
daemon off;
srs_log_tank console;
vhost __defaultVhost__ {{ }}
"""


class _Child(service.Service):
    """A child service that records its stop and may take its time."""

    def __init__(self, name: str, record: list[str], hang: bool = False) -> None:
        self.setName(name)
        self.record = record
        self.hang = hang
        self.pending: defer.Deferred[None] | None = None
        self.reconfigured: list[Any] = []

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        self.record.append(f"stop {self.name}")
        if self.hang:
            self.pending = defer.Deferred()
            return self.pending
        return None

    def reconfigure(self, config: Any) -> None:
        self.reconfigured.append(config)


class ServerTestsMixin:
    """Writes config files into a temp dir and builds servers from them."""

    def write_conf(self, port: int = 19350, **overrides: str) -> str:
        directory = self.mktemp()  # type: ignore[attr-defined]
        os.makedirs(directory)
        self.pid_path = os.path.join(directory, "srs.pid")
        self.conf_path = os.path.join(directory, "srs.conf")
        self.rewrite(port=port)
        return self.conf_path

    def rewrite(self, port: int = 19350, extra: str = "") -> None:
        with open(self.conf_path, "w") as f:
            f.write(_CONF.format(port=port, pid=self.pid_path) + extra)

    def build(self) -> SrsService:
        self.reactor = ListeningReactor()
        self.console = io.StringIO()
        config = load_config(self.conf_path)
        return buildService(
            config, self.reactor, observer=SrsLogObserver(console=self.console), pid=4242
        )


class BuildServiceTests(ServerTestsMixin, SynchronousTestCase):
    """buildService makes the tree in start order."""

    def test_children_order(self) -> None:
        """Log first, pid file before anything binds, the hub, listeners last."""
        self.write_conf()
        root = self.build()
        self.assertEqual([child.name for child in root], ["log", "pidfile", "hub", "stats", "hooks", "controller", "metrics", "sysinfo", "hls", "dvr", "ingest", "transcode", "heartbeat", "listeners"])

    def test_asprocess_child(self) -> None:
        """asprocess on adds the parent watch before the listeners."""
        self.write_conf()
        self.rewrite(extra="asprocess on;\n")
        with open(self.conf_path) as f:
            text = f.read().replace("daemon off;", "daemon off;")
        with open(self.conf_path, "w") as f:
            f.write(text)
        root = self.build()
        self.assertEqual(
            [child.name for child in root], ["log", "pidfile", "asprocess", "hub", "stats", "hooks", "controller", "metrics", "sysinfo", "hls", "dvr", "ingest", "transcode", "heartbeat", "listeners"]
        )

    def test_start_and_stop(self) -> None:
        """Start binds the listen port and writes the pid; stop undoes both."""
        self.write_conf(port=19351)
        root = self.build()
        root.startService()
        self.assertIn(("127.0.0.1", 19351), self.reactor.listening)
        with open(self.pid_path) as f:
            self.assertEqual(f.read(), "4242")
        self.assertIn("server main cid=", self.console.getvalue())
        self.successResultOf(root.stopService())
        self.assertEqual(self.reactor.listening, {})
        self.assertFalse(os.path.exists(self.pid_path))
        self.assertIn("srs terminated", self.console.getvalue())


class StopTests(SynchronousTestCase):
    """Children stop one at a time, in reverse order, each within a bound."""

    def root(self, hang: str = "") -> tuple[SrsService, list[str], ListeningReactor]:
        record: list[str] = []
        reactor = ListeningReactor()
        config = load_config_text()
        root = SrsService(config, reactor, config_path="unused", main_cid=100)
        for name in ("first", "second", "third"):
            _Child(name, record, hang=(name == hang)).setServiceParent(root)
        root.startService()
        return root, record, reactor

    def test_reverse_order(self) -> None:
        """The last child started is the first stopped."""
        root, record, _ = self.root()
        self.successResultOf(root.stopService())
        self.assertEqual(record, ["stop third", "stop second", "stop first"])

    def test_waits_for_each_child(self) -> None:
        """A child still stopping holds back the ones started before it."""
        root, record, _ = self.root(hang="second")
        d = root.stopService()
        self.assertEqual(record, ["stop third", "stop second"])
        root.getServiceNamed("second").pending.callback(None)
        self.successResultOf(d)
        self.assertEqual(record[-1], "stop first")

    def test_bounded(self) -> None:
        """A child that never finishes is abandoned after CHILD_STOP_TIMEOUT."""
        root, record, reactor = self.root(hang="second")
        d = root.stopService()
        self.assertNoResult(d)
        reactor.advance(CHILD_STOP_TIMEOUT)
        self.successResultOf(d)
        self.assertEqual(record[-1], "stop first")


def load_config_text() -> Any:
    from srstwist.config.loader import load_config_text as load

    return load("listen 1935;\n", "mem.conf")


class ReloadTests(ServerTestsMixin, SynchronousTestCase):
    """SIGHUP reload: a valid file is applied, an invalid one is logged and kept out."""

    def setUp(self) -> None:
        self.write_conf(port=19350)
        self.root = self.build()
        self.root.startService()
        self.addCleanup(lambda: self.successResultOf(self.root.stopService()))

    def test_valid_reload_rebinds(self) -> None:
        """A changed listen rebinds: the new port is bound, the old one closed."""
        self.rewrite(port=19352)
        self.assertTrue(self.successResultOf(self.root.reload()))
        self.assertEqual(set(self.reactor.listening), {("127.0.0.1", 19352)})
        self.assertEqual(self.root.config.listen[0].port, 19352)

    def test_invalid_reload_keeps_old_config(self) -> None:
        """An invalid file is reported with file:line and the old config stays."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        old = self.root.config
        with open(self.conf_path, "a") as f:
            f.write("lisen 1936;\n")
        self.assertFalse(self.successResultOf(self.root.reload()))
        self.assertIs(self.root.config, old)
        self.assertEqual(set(self.reactor.listening), {("127.0.0.1", 19350)})
        errors = [e for e in events if "reload failed" in e.get("log_format", "")]
        self.assertEqual(len(errors), 1)
        self.assertIn(f"{self.conf_path}:6: unknown directive 'lisen'", errors[0]["error"])

    def test_reconfigure_failure_does_not_stop_the_server(self) -> None:
        """A service that fails to reconfigure is logged; the reload still completes."""
        class Broken(service.Service):
            name = "broken"

            def reconfigure(self, config: Any) -> None:
                raise RuntimeError("boom")

        Broken().setServiceParent(self.root)
        self.rewrite(port=19353)
        self.assertTrue(self.successResultOf(self.root.reload()))
        self.assertIn(("127.0.0.1", 19353), self.reactor.listening)
        self.flushLoggedErrors(RuntimeError)

    def test_unsupported_announced_once(self) -> None:
        """A reload does not repeat 'not supported yet' lines already logged."""
        self.rewrite(port=19350, extra="vhost v { hds { enabled on; } }\n")
        self.successResultOf(self.root.reload())
        self.successResultOf(self.root.reload())
        self.assertEqual(
            self.console.getvalue().count("not supported yet: vhost.hds"), 1, self.console.getvalue()
        )


class OpenFileLimitTests(SynchronousTestCase):
    """max_connections gets room in the open-file limit, or a warning."""

    def setUp(self) -> None:
        import resource

        from twisted.logger import Logger

        self.resource = resource
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.log = Logger()
        self.set: list[tuple[int, int]] = []

    def check(self, maximum: int, soft: int, hard: int) -> int:
        from srstwist.config.loader import load_config_text as load
        from srstwist.services.server import ensure_open_file_limit

        config = load(f"listen 1935;\nmax_connections {maximum};\n", "mem.conf")
        return ensure_open_file_limit(
            config,
            self.log,
            getrlimit=lambda _: (soft, hard),
            setrlimit=lambda _, limits: self.set.append(limits),
        )

    def test_enough(self) -> None:
        """A limit that already fits is left alone."""
        self.assertEqual(self.check(1000, 4096, 4096), 4096)
        self.assertEqual(self.set, [])

    def test_raised(self) -> None:
        """A low soft limit is raised to fit, within the hard limit."""
        self.assertEqual(self.check(2000, 1024, 65536), 2033)
        self.assertEqual(self.set, [(2033, 65536)])
        self.assertEqual(len(self.events), 0)

    def test_warns_when_hard_limit_too_low(self) -> None:
        """When even the hard limit is too low, the user is told what to do."""
        self.assertEqual(self.check(5000, 1024, 2048), 2048)
        self.assertIn("ulimit -HSn", self.events[0]["log_format"])


class HlsNotifierTests(SynchronousTestCase):
    """What HLS tells the on_hls and on_hls_notify hooks."""

    def test_payloads(self) -> None:
        """on_hls gets SRS's body with the publisher's ip and query; on_hls_notify its GET."""
        from types import SimpleNamespace

        from srstwist.config.holder import ConfigHolder
        from srstwist.config.loader import load_config_text
        from srstwist.services.server import hls_notifier

        conf = load_config_text(
            "listen 1935;\nvhost __defaultVhost__ { http_hooks { enabled on;\n"
            "on_hls http://127.0.0.1:1/hls; on_hls_notify http://127.0.0.1:1/[app]/[ts_url]; } }\n",
            "t.conf",
        )
        holder = ConfigHolder(conf)
        calls: list[tuple[Any, ...]] = []
        hooks = SimpleNamespace(
            notify=lambda *args: calls.append(("notify", *args)),
            notify_hls=lambda *args: calls.append(("notify_hls", *args)),
        )
        notify = hls_notifier(holder, hooks)  # type: ignore[arg-type]
        notify(
            "on_hls",
            {
                "client_id": 7, "ip": "10.0.0.9", "param": "?token=abc",
                "vhost": "__defaultVhost__", "app": "live", "stream": "s",
                "duration": 2.0, "cwd": "/w", "file": "/w/live/s-1.ts", "url": "live/s-1.ts",
                "m3u8": "/w/live/s.m3u8", "m3u8_url": "live/s.m3u8", "seq_no": 1,
                "ts_url": "s-1.ts",
            },
        )  # fmt: skip
        notify(
            "on_hls_notify",
            {"client_id": 7, "param": "?token=abc", "vhost": "__defaultVhost__", "app": "live",
             "stream": "s", "ts_url": "s-1.ts", "nb_notify": 64},
        )  # fmt: skip
        (kind, event, urls, body, cid), hls_get = calls
        self.assertEqual((kind, event, urls, cid), ("notify", "on_hls", ("http://127.0.0.1:1/hls",), 7))
        self.assertEqual(
            (body["action"], body["ip"], body["param"], body["seq_no"], body["duration"]),
            ("on_hls", "10.0.0.9", "?token=abc", 1, 2.0),
        )
        self.assertEqual(
            hls_get,
            ("notify_hls", ("http://127.0.0.1:1/[app]/[ts_url]",), "live", "s", "s-1.ts",
             "?token=abc", 64, 7),
        )  # fmt: skip
