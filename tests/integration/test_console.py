"""
The web console rendered by a real headless Chromium: the API app, with a
filled statistics registry, served on 127.0.0.1; Chromium loads
``/console/``, runs its JavaScript against ``/api/v1/...`` and dumps the
DOM, which must show the stream and the clients.  A screenshot is kept in
the test's temporary directory as an artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import treq

from twisted.internet import reactor as _reactor
from twisted.internet import defer
from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.websocket import WebSocketClientEndpoint

from srstwist.config.loader import load_config_text
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH, CLIENT_PLAY, AudioInfo, Statistics, VideoInfo
from srstwist.services.sysinfo import SystemSampler
from srstwist.web.api import CONSOLE_DIR, HttpApi
from srstwist.web.demo import DEMO_DIR, demo_file
from tests.integration.process import ServerHelpers, SrsServer, free_port, sleep

reactor: Any = _reactor

__all__ = ["ConsoleTests", "ConsoleLiveTests", "chromium"]

_STREAM = "console_test_stream"


def chromium() -> str | None:
    """The Chromium executable on the PATH, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class ConsoleTests(TestCase):
    """The console page in headless Chromium."""

    timeout = 120

    def setUp(self) -> None:
        self.browser = chromium()
        if self.browser is None:
            raise self.skipTest("chromium is not installed (apt-get install chromium)")
        config = load_config_text("listen 1935; http_api { enabled on; }")
        now = reactor.seconds()
        stats = Statistics(first_id=5000)
        vhost = "__defaultVhost__"
        stats.on_client(301, vhost=vhost, app="live", stream=_STREAM, ip="192.0.2.10",
                        client_type=CLIENT_FMLE_PUBLISH, now=now,
                        tc_url="rtmp://127.0.0.1/live")  # fmt: skip
        stats.on_publish(vhost, "live", _STREAM, 301, now)
        stats.on_video_info(vhost, "live", _STREAM, VideoInfo("H264", "High", "3.1"), now)
        stats.on_audio_info(vhost, "live", _STREAM, AudioInfo("AAC", 44100, 2, "LC"), now)
        stats.on_client(302, vhost=vhost, app="live", stream=_STREAM, ip="192.0.2.77",
                        client_type=CLIENT_PLAY, now=now,
                        tc_url="rtmp://127.0.0.1/live")  # fmt: skip
        sampler = SystemSampler(reactor)
        self.api = HttpApi(stats, lambda: config, reactor, lambda cid: False, now, sampler=sampler)
        self.port = reactor.listenTCP(0, self.api.site(), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.url = f"http://127.0.0.1:{self.port.getHost().port}/console/"
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)

    def _browse(self, *extra: str) -> Any:
        assert self.browser is not None
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--user-data-dir=" + os.path.join(self.workdir, "profile"),
            "--virtual-time-budget=5000",
            *extra,
            self.url,
        ]
        env = {"HOME": self.workdir, "PATH": os.environ.get("PATH", "")}
        return getProcessOutputAndValue(self.browser, args, env=env, path=self.workdir)

    @inlineCallbacks
    def test_stream_rendered(self) -> Any:
        """The rendered DOM lists the stream with its codecs and both clients."""
        out, err, code = yield self._browse("--dump-dom")
        dom = out.decode("utf-8", "replace")
        with open(os.path.join(self.workdir, "console.html"), "w") as f:
            f.write(dom)
        self.assertEqual(code, 0, err.decode("utf-8", "replace")[-2000:])
        self.assertIn(f'<td class="stream-name">{_STREAM}</td>', dom)
        self.assertIn("H264 High 3.1", dom)
        self.assertIn("192.0.2.77", dom)
        self.assertIn("__defaultVhost__", dom)
        self.assertIn("server 5000", dom)

    @inlineCallbacks
    def test_screenshot(self) -> Any:
        """A screenshot of the console is written (kept under _trial_temp)."""
        shot = os.path.join(self.workdir, "console.png")
        _, err, code = yield self._browse("--screenshot=" + shot, "--window-size=1280,900")
        self.assertEqual(code, 0, err.decode("utf-8", "replace")[-2000:])
        self.assertTrue(os.path.getsize(shot) > 1000)


# -- issue 22: the console against a real server, in headless Chromium -------


class _Cdp:
    """
    A Chrome DevTools Protocol client over Twisted's own WebSocket client:
    enough to navigate, evaluate JavaScript and take screenshots
    (https://chromedevtools.github.io/devtools-protocol/).
    """

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, Any] = {}
        self.transport: Any = None

    # WebSocketProtocol
    def buildProtocol(self, url: str) -> _Cdp:
        return self

    def negotiationStarted(self, transport: Any) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def bytesMessageReceived(self, data: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        body = json.loads(message)
        waiting = self._waiting.pop(body.get("id", -1), None)
        if waiting is not None:
            waiting.callback(body)

    def connectionLost(self, reason: Any) -> None:
        for waiting in self._waiting.values():
            waiting.errback(reason)
        self._waiting.clear()

    def call(self, method: str, **params: Any) -> Any:
        self._next += 1
        waiting: defer.Deferred[Any] = defer.Deferred()
        self._waiting[self._next] = waiting
        self.transport.sendTextMessage(
            json.dumps({"id": self._next, "method": method, "params": params})
        )
        return waiting

    @defer.inlineCallbacks
    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = yield self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        result = answer["result"]
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


_PLAYBACK = (
    "JSON.stringify({t: document.getElementById('video').currentTime,"
    " frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames,"
    " points: +document.getElementById('plot-kbps').dataset.points,"
    " note: document.getElementById('player-note').textContent})"
)


class ConsoleLiveTests(ServerHelpers, TestCase):
    """
    The console served by a real ``twistd srs`` plays a real ffmpeg stream
    (``-pix_fmt yuv420p``, which Chromium decodes) in HTTP-FLV,
    WebSocket-FLV and HLS: ``currentTime`` advances and
    ``getVideoPlaybackQuality()`` counts decoded frames; the plots gain
    points; the kick button removes a client.
    """

    timeout = 180

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.browser = chromium()
        if self.browser is None:
            raise self.skipTest("chromium is not installed (apt-get install chromium)")
        self.http_port = free_port()
        self.api_port = free_port()
        self.server = SrsServer(
            self,
            f"""
http_api {{ enabled on; listen 127.0.0.1:{self.api_port}; }}
http_server {{ enabled on; listen 127.0.0.1:{self.http_port}; dir ./html; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    hls {{ enabled on; hls_path ./html; hls_fragment 2; hls_window 12; }}
}}
""",
        )
        os.makedirs(self.server.path("html"))
        yield self.server.started()
        self.publish("live/s", 150, extra=("-pix_fmt", "yuv420p"))
        yield self.wait_publish("__defaultVhost__", "live/s")
        self.cdp = yield self.open_browser()

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)

    @defer.inlineCallbacks
    def open_browser(self) -> Any:
        debug_port = free_port()
        profile = os.path.abspath(self.mktemp())
        self.start(
            [self.browser, "--headless", "--no-sandbox", "--disable-gpu",  # type: ignore[list-item]
             "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
             "--autoplay-policy=no-user-gesture-required", f"--remote-debugging-port={debug_port}",
             "--remote-allow-origins=*", "--window-size=1280,900", "about:blank"],
            limit=170,
        )  # fmt: skip
        targets = None
        deadline = time.monotonic() + 30
        while targets is None:
            try:
                response = yield treq.get(
                    f"http://127.0.0.1:{debug_port}/json/list", persistent=False
                )
                targets = yield response.json()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                yield sleep(0.2)
        page = next(t for t in targets if t["type"] == "page")
        cdp = _Cdp()
        endpoint = WebSocketClientEndpoint.new(reactor, page["webSocketDebuggerUrl"])
        yield defer.ensureDeferred(endpoint.connect(cdp))
        self.addCleanup(lambda: cdp.transport.loseConnection())
        return cdp

    def console_url(self, query: str = "") -> str:
        return (
            f"http://127.0.0.1:{self.api_port}/console/"
            f"?http=http://127.0.0.1:{self.http_port}&interval=2000{query}"
        )

    @defer.inlineCallbacks
    def wait_page(self, expression: str, check: Any, within: float = 40.0) -> Any:
        """Evaluate ``expression`` until ``check(value)`` holds (bounded in time)."""
        deadline = time.monotonic() + within
        while True:
            try:
                value = yield self.cdp.evaluate(expression)
            except AssertionError as error:  # the page is still loading
                value = error
            else:
                if check(value):
                    return value
            if time.monotonic() > deadline:
                self.fail(f"{expression} never satisfied the check: last {value!r}")
            yield sleep(0.5)

    @defer.inlineCallbacks
    def test_plays_three_formats(self) -> Any:
        """Each format decodes frames; the plots gain points meanwhile."""
        figures = {}
        for fmt in ("flv", "wsflv", "hls"):
            yield self.cdp.call("Page.navigate", url=self.console_url(f"&play=live/s&format={fmt}"))
            first = yield self.wait_page(
                _PLAYBACK, lambda v: v and json.loads(v)["t"] > 1.0, within=60
            )
            first = json.loads(first)
            later = yield self.wait_page(
                _PLAYBACK, lambda v: json.loads(v)["t"] > first["t"] + 2, within=30
            )
            later = json.loads(later)
            self.assertGreater(later["frames"], first["frames"], fmt)
            self.assertGreater(later["frames"], 25, fmt)
            self.assertGreater(later["points"], 0, fmt)
            self.assertEqual(later["note"], "", fmt)
            figures[fmt] = later
        # The plots draw a point per refresh (every 2 s here).
        points = yield self.wait_page(
            "+document.getElementById('plot-clients').dataset.points", lambda v: v >= 3
        )
        self.assertGreaterEqual(points, 3)
        self.assertEqual(len(figures), 3)

    @defer.inlineCallbacks
    def test_kick_removes_a_client(self) -> Any:
        """The kick button of an HTTP-FLV player's row disconnects it."""
        player = self.start(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", self.http("/live/s.flv"),
             "-f", "null", "-"],
            limit=120,
        )  # fmt: skip
        yield self.cdp.call("Page.navigate", url=self.console_url())
        rows = (
            "Array.from(document.querySelectorAll('#clients tbody tr'))"
            ".filter(r => r.cells[2] && r.cells[2].textContent === 'Play').length"
        )
        yield self.wait_page(rows, lambda v: v == 1)
        yield self.cdp.evaluate(
            "Array.from(document.querySelectorAll('#clients tbody tr'))"
            ".find(r => r.cells[2].textContent === 'Play').querySelector('button').click()"
        )
        yield self.wait_page(rows, lambda v: v == 0)
        yield self.wait_page("document.getElementById('status').textContent",
                             lambda v: "kicked client" in v or "updated" in v)  # fmt: skip
        yield player.ended

    @defer.inlineCallbacks
    def test_search_filters(self) -> Any:
        """The search box hides the rows that do not match."""
        yield self.cdp.call("Page.navigate", url=self.console_url())
        visible = "document.querySelectorAll('#streams tbody tr:not(.hidden)').length"
        yield self.wait_page(visible, lambda v: v == 1)
        yield self.cdp.evaluate(
            "(() => { const s = document.getElementById('search'); s.value = 'nomatch';"
            " s.dispatchEvent(new Event('input')); })()"
        )
        yield self.wait_page(visible, lambda v: v == 0)

    @defer.inlineCallbacks
    def test_demo_page_plays(self) -> Any:
        """
        ``http://127.0.0.1:<http port>/`` with an empty ``dir`` is the demo
        page: it lists the live stream and plays it (here in WebSocket-FLV).
        """
        url = (
            f"http://127.0.0.1:{self.http_port}/"
            f"?api=http://127.0.0.1:{self.api_port}&format=wsflv"
        )
        yield self.cdp.call("Page.navigate", url=url)
        listed = yield self.wait_page(
            "document.getElementById('streams').textContent", lambda v: "live/s" in v
        )
        self.assertIn("live/s", listed)
        played = yield self.wait_page(
            "JSON.stringify([+(document.body.dataset.played || 0),"
            " +(document.body.dataset.frames || 0), document.getElementById('url').textContent])",
            lambda v: json.loads(v)[0] > 2 and json.loads(v)[1] > 25,
            within=60,
        )
        self.assertTrue(json.loads(played)[2].startswith("ws://127.0.0.1:"))


class DemoFileTests(SynchronousTestCase):
    """Which requests the demo page stands in for (:func:`srstwist.web.demo.demo_file`)."""

    def test_only_the_server_dir(self) -> None:
        self.assertEqual(demo_file("./html", "html", ()), os.path.join(DEMO_DIR, "index.html"))
        self.assertEqual(
            demo_file("html", "html", ("mpegts.js",)), os.path.join(CONSOLE_DIR, "mpegts.js")
        )
        self.assertIsNone(demo_file("static.test", "html", ()))
        self.assertIsNone(demo_file("html", "html", ("live", "index.html")))
        self.assertIsNone(demo_file("html", "html", ("secret.txt",)))
