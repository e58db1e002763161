"""
Reload of live streams (issue 15, item 6), one row per reloadable
directive class: what a SIGHUP does to a live stream, its players and its
outputs, without a republish.

Each row runs against an in-memory server: the real service tree's
:class:`~srstwist.services.hub.SourceHub`,
:class:`~srstwist.services.controller.StreamController`,
:class:`~srstwist.services.hls.HlsService` (under a temporary
``hls_path``) and :class:`~srstwist.services.listeners.ListenerGroup`
with the RTMP factory, under a real
:class:`~srstwist.services.server.SrsService` whose :meth:`reload` calls
``reconfigure`` on each of them in the production order.  Sockets are a
:class:`MemoryReactorClock`'s; RTMP peers are linked by
:mod:`twisted.test.iosim`.

Two streams are live on two vhosts (``__defaultVhost__`` and ``a.test``),
each with an RTMP publisher sending a real ffmpeg capture and an RTMP
player; the reload happens in the middle of the capture.  SRS's
behaviour: ``SrsConfig::reload_vhost`` (``srs_app_config.cpp``) and the
``ISrsReloadHandler`` subscribers (``srs_app_reload.cpp``):
``SrsRtmpConn::on_reload_vhost_removed`` closes the clients of a removed
vhost, ``SrsSource::on_reload_vhost_hls`` restarts HLS; security, refer
and http_hooks are read at the next admission only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from srstwist.config.holder import ConfigHolder
from srstwist.config.loader import load_config_text
from srstwist.config.model import ServerConfig
from srstwist.interfaces import IHookClient
from srstwist.services.controller import StreamController
from srstwist.services.hls import HlsService
from srstwist.services.hub import OutputsPerPublish, SourceHub
from srstwist.services.listeners import ConnectionLimit, ListenerGroup, ListenerService
from srstwist.services.server import SrsService, listener_specs
from tests.rtmp_peer import ScriptedClient, captured_media

NOW = 1704164645.0
#: The capture's keyframes are at 0, 1960 and 3960 ms: the reload comes
#: in the middle of the second GOP, so HLS turned on starts from the GOP
#: cache at 1960 and the keyframe at 3960 closes its first segment.
_SPLIT = 3000
_HOOK = "http://127.0.0.1:8085/api/v1/sessions"

#: The clients each row starts: (vhost of the tcUrl, role).
_CLIENTS = {
    "pub": ("127.0.0.1", "publish"),
    "play": ("127.0.0.1", "play"),
    "a_pub": ("a.test", "publish"),
    "a_play": ("a.test", "play"),
}


def _conf(listen: str = "1935", default: str = "", a: str | None = "", more: str = "") -> str:
    text = f"listen {listen};\nvhost __defaultVhost__ {{ {default} }}\n"
    if a is not None:
        text += f"vhost a.test {{ {a} }}\n"
    return text + more


def _hls(root: str = "{root}", fragment: float = 1.0) -> str:
    return f"hls {{ enabled on; hls_fragment {fragment:g}; hls_path {root}; }}"


@dataclass(frozen=True)
class Row:
    """
    One directive class: the config before and after, and what must
    happen.

    :ivar closed: the clients the reload disconnects; every other keeps
        publishing or playing.
    :ivar hls: the HLS of ``a.test/live/s`` after the reload: ``"on"``
        (started), ``"off"`` (stopped, playlist ended), ``"restarted"``
        (segment cut, numbers go on) or ``None`` (never on).
    :ivar newcomer: a client started after the reload: (tcUrl, role,
        pageUrl, whether it is admitted).
    :ivar fast_cache: whether ``a.test/live/s`` has an audio fast cache
        after the reload (``None``: not looked at).
    """

    name: str
    old: str
    new: str
    closed: frozenset[str] = frozenset()
    hls: str | None = None
    newcomer: tuple[str, str, str, bool] | None = None
    fast_cache: bool | None = None
    hooks_called: tuple[str, ...] = ()
    log: tuple[str, ...] = ()


ROWS = [
    Row(
        "vhost removed",
        _conf(),
        _conf(a=None),
        closed=frozenset({"a_pub", "a_play"}),
        log=("vhost a.test removed or disabled by reload, close client",) * 2,
    ),
    Row(
        "vhost disabled",
        _conf(),
        _conf(a="enabled off;"),
        closed=frozenset({"a_pub", "a_play"}),
        newcomer=("rtmp://a.test/live", "play", "", False),
        log=("vhost a.test removed or disabled by reload, close client",) * 2,
    ),
    Row(
        "vhost added",
        _conf(),
        _conf(more="vhost b.test { }\n"),
        newcomer=("rtmp://b.test/live", "publish", "", True),
    ),
    Row("hls on", _conf(), _conf(a=_hls()), hls="on"),
    Row("hls changed", _conf(a=_hls()), _conf(a=_hls(fragment=3.0)), hls="restarted"),
    Row("hls off", _conf(a=_hls()), _conf(), hls="off"),
    Row(
        "http_remux on",
        _conf(),
        _conf(a="http_remux { enabled on; mount [vhost]/[app]/[stream].mp3; fast_cache 30; }"),
        fast_cache=True,
    ),
    Row(
        "http_remux off",
        _conf(a="http_remux { enabled on; mount [vhost]/[app]/[stream].mp3; fast_cache 30; }"),
        _conf(),
        fast_cache=False,
    ),
    Row(
        "security",
        _conf(),
        _conf(a="security { enabled on; deny play all; }"),
        newcomer=("rtmp://a.test/live", "play", "", False),
    ),
    Row(
        "refer",
        _conf(),
        _conf(a="refer_play allowed.example;"),
        newcomer=("rtmp://a.test/live", "play", "http://other.example/", False),
    ),
    Row(
        "http_hooks",
        _conf(),
        _conf(a=f"http_hooks {{ enabled on; on_play {_HOOK}; }}"),
        newcomer=("rtmp://a.test/live", "play", "", True),
        hooks_called=("on_play",),
    ),
    Row(
        "listen added",
        _conf(),
        _conf(listen="1935 1936"),
        newcomer=("rtmp://127.0.0.1:1936/live", "play", "", True),
    ),
    Row(
        "listen removed",
        _conf(listen="1935 1936"),
        _conf(listen="1936"),
        closed=frozenset(_CLIENTS),
        newcomer=("rtmp://127.0.0.1:1936/live", "publish", "", True),
    ),
]


@implementer(IHookClient)
class RecordingHooks:
    """Accepts every hook and records its event name."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def admit(self, event: str, urls: Any, payload: Any, cid: int) -> defer.Deferred[None]:
        self.events.append(event)
        return defer.succeed(None)

    def notify(self, event: str, urls: Any, payload: Any, cid: int) -> defer.Deferred[None]:
        self.events.append(event)
        return defer.succeed(None)

    def notify_hls(self, *args: Any) -> defer.Deferred[None]:
        return defer.succeed(None)

    def close(self) -> defer.Deferred[None]:
        return defer.succeed(None)


class MemoryServer:
    """
    The service tree of ``twistd srs`` that a reload touches, on a
    :class:`MemoryReactorClock`.
    """

    def __init__(self, text: str, root: str) -> None:
        self.root = root
        self.reactor = MemoryReactorClock()
        self.reactor.advance(NOW)
        self.config = self.parse(text)
        self.next_config = self.config
        self.holder = ConfigHolder(self.config)
        self.service = SrsService(
            self.config,
            self.reactor,
            config_path="memory.conf",
            main_cid=1,
            loader=lambda path, name: self.next_config,
            holder=self.holder,
        )
        self.hub = SourceHub(self.holder, self.reactor)
        self.hub.setServiceParent(self.service)
        self.hooks = RecordingHooks()
        self.controller = StreamController(self.hub, self.holder, self.reactor, self.hooks)
        self.controller.setServiceParent(self.service)
        self.hls = HlsService(self.reactor)
        self.hls.setServiceParent(self.service)
        self.hub.observe(OutputsPerPublish(self.hub, self.hls.output_for))
        specs = listener_specs(self.controller, self.holder, self.reactor)
        self.listeners = ListenerGroup(
            self.config,
            self.reactor,
            ConnectionLimit(100),
            specs,  # type: ignore[arg-type]
        )
        self.listeners.setServiceParent(self.service)
        self.pumps: list[iosim.IOPump] = []
        self.logged: list[str] = []
        self.controller.log = Logger(observer=self._log)  # type: ignore[misc]
        self.service.startService()

    def _log(self, event: dict[str, Any]) -> None:
        from twisted.logger import formatEvent

        self.logged.append(formatEvent(event))

    def parse(self, text: str) -> ServerConfig:
        return load_config_text(text.replace("{root}", self.root), "memory.conf")

    def connect(self, port: int, client: ScriptedClient) -> None:
        """Link ``client`` to the RTMP listener on ``port``."""
        listener = next(
            service
            for service in self.listeners
            if isinstance(service, ListenerService) and f"tcp:port={port}:" in service.description
        )
        server = listener.tracking.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert server is not None
        pump = iosim.connect(
            server,
            iosim.FakeTransport(server, isServer=True),
            client,
            iosim.FakeTransport(client, isServer=False),
            greet=False,
            clock=self.reactor,
        )
        self.pumps.append(pump)
        self.flush()

    def flush(self) -> None:
        for _ in range(50):
            moved = False
            for pump in self.pumps:
                moved = pump.pump() or moved
            if not moved:
                return

    def reload(self, text: str) -> None:
        """SIGHUP with the file now saying ``text``: wait for the reload."""
        self.next_config = self.parse(text)
        done = self.service.reload()
        for _ in range(20):
            self.flush()
            if done.called:
                break
            self.reactor.advance(0.5)
        result = []
        done.addBoth(result.append)
        assert result == [True], result

    def stop(self) -> None:
        stopped = self.service.stopService()
        for _ in range(20):
            self.flush()
            if stopped.called:
                return
            self.reactor.advance(1)


class ReloadTableTests(SynchronousTestCase):
    """Every reloadable directive class, against live streams."""

    def start(self, row: Row) -> None:
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.server = MemoryServer(row.old, self.dir)
        self.addCleanup(self.server.stop)
        self.clients: dict[str, ScriptedClient] = {}
        for name, (host, role) in _CLIENTS.items():
            client = ScriptedClient(f"rtmp://{host}/live", "s", role)
            self.server.connect(1935, client)
            self.clients[name] = client
        self.media = captured_media()
        self.publish(lambda timestamp: timestamp < _SPLIT)

    def publish(self, which: Callable[[int], bool]) -> None:
        for message in self.media:
            if not which(message.timestamp):
                continue
            for name in ("pub", "a_pub"):
                client = self.clients[name]
                if not client.lost:
                    client.send(message)
            self.server.flush()

    def hls_files(self) -> list[str]:
        directory = os.path.join(self.dir, "live")
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    def check(self, row: Row) -> None:
        self.start(row)
        for name, client in self.clients.items():
            self.assertFalse(client.lost, f"{row.name}: {name} lost before the reload")
        if row.hls in ("off", "restarted"):
            self.assertIn("s.m3u8", self.hls_files())
        if row.fast_cache is False:
            self.assertTrue(self.server.hub.fast_caches.messages(("a.test", "live", "s")))
        received = {name: len(c.media()) for name, c in self.clients.items()}
        segments_before = self.hls_files()
        self.server.logged.clear()

        self.server.reload(row.new)

        for name, client in self.clients.items():
            self.assertEqual(client.lost, name in row.closed, f"{row.name}: {name} lost?")
        lines = [line for line in self.server.logged if "by reload" in line]
        self.assertEqual(len(lines), len(row.log), f"{row.name}: {lines}")
        for expected, line in zip(row.log, lines):
            self.assertIn(expected, line)
        after_reload = self.hls_files()
        self.publish(lambda timestamp: timestamp >= _SPLIT)
        for name, client in self.clients.items():
            if name in row.closed or _CLIENTS[name][1] != "play":
                continue
            self.assertGreater(
                len(client.media()), received[name], f"{row.name}: {name} stopped playing"
            )
            self.assertNotIn("NetStream.Play.UnpublishNotify", client.statuses(), row.name)
        self.check_hls(row, segments_before, after_reload)
        self.check_newcomer(row)
        if row.fast_cache is not None:
            cached = self.server.hub.fast_caches.messages(("a.test", "live", "s"))
            self.assertEqual(bool(cached), row.fast_cache, row.name)
        self.assertEqual(
            [e for e in self.server.hooks.events if e in ("on_play", "on_publish")],
            list(row.hooks_called),
            row.name,
        )

    def check_hls(self, row: Row, before: list[str], after_reload: list[str]) -> None:
        files = self.hls_files()
        output = self.server.hls.outputs.get(("a.test", "live", "s"))
        source = self.server.hub.find("a.test", "live", "s")
        if row.hls is None:
            self.assertEqual(files, [], row.name)
            return
        assert output is not None and source is not None
        if row.hls == "on":
            self.assertEqual(before, [])
            self.assertEqual(after_reload, ["s-0.ts.tmp"])
            self.assertIn(output, source.consumers)
            self.assertEqual(files, ["s-0.ts", "s-1.ts.tmp", "s.m3u8"])
            # Its first segment starts on the GOP cache's keyframe.
            self.assertEqual([s.duration for s in output.segmenter.segments], [2.0])
        elif row.hls == "off":
            self.assertNotIn(output, source.consumers)
            self.assertFalse([f for f in after_reload if f.endswith(".tmp")], after_reload)
            self.assertEqual(files, after_reload)
            with open(os.path.join(self.dir, "live", "s.m3u8")) as f:
                self.assertTrue(f.read().endswith("#EXT-X-ENDLIST\n"))
        elif row.hls == "restarted":
            # The segment open at the reload is closed, the next one opens
            # at once, numbers carry on, and what the old settings wrote is
            # not written again: the new segment starts at the next
            # keyframe (3960), not at the GOP cache's (1960).
            self.assertEqual(before, ["s-0.ts", "s-1.ts.tmp", "s.m3u8"])
            self.assertEqual(after_reload, ["s-0.ts", "s-1.ts", "s-2.ts.tmp", "s.m3u8"])
            self.assertEqual(source.consumers.count(output), 1)
            self.assertEqual(len(output.segmenter.segments), 2)
            cut = os.path.getsize(os.path.join(self.dir, "live", "s-1.ts"))
            # s-1 holds 1960..2982 ms; s-2 only what came from 3960 on.
            restarted = os.path.getsize(os.path.join(self.dir, "live", "s-2.ts.tmp"))
            self.assertLess(restarted, cut)

    def check_newcomer(self, row: Row) -> None:
        if row.newcomer is None:
            return
        url, role, page_url, admitted = row.newcomer
        port = int(url.split("/")[2].partition(":")[2] or 1935)
        host = url.split("/")[2].partition(":")[0]
        client = ScriptedClient(f"rtmp://{host}/live", "s", role, page_url=page_url)
        self.server.connect(port, client)
        if role == "publish":
            for message in self.media[:20]:
                if not client.lost:
                    client.send(message)
            self.server.flush()
            self.assertEqual(client.lost, not admitted, row.name)
            if admitted:
                vhost = host if host.endswith(".test") else "__defaultVhost__"
                self.assertIsNotNone(self.server.hub.find(vhost, "live", "s"), row.name)
                self.assertIn("NetStream.Publish.Start", client.statuses())
            return
        self.publish(lambda timestamp: True)
        self.assertEqual(client.lost, not admitted, row.name)
        self.assertEqual(bool(client.media()), admitted, row.name)


def _test(row: Row) -> Callable[[ReloadTableTests], None]:
    def test(self: ReloadTableTests) -> None:
        self.check(row)

    test.__doc__ = f"Reload, {row.name}."
    return test


for _row in ROWS:
    setattr(ReloadTableTests, "test_" + _row.name.replace(" ", "_"), _test(_row))
