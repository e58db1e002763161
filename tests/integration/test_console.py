"""
The web console rendered by a real headless Chromium: the API app, with a
filled statistics registry, served on 127.0.0.1; Chromium loads
``/console/``, runs its JavaScript against ``/api/v1/...`` and dumps the
DOM, which must show the stream and the clients.  A screenshot is kept in
the test's temporary directory as an artifact.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from srstwist.config.loader import load_config_text
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH, CLIENT_PLAY, AudioInfo, Statistics, VideoInfo
from srstwist.services.sysinfo import SystemSampler
from srstwist.web.api import HttpApi

reactor: Any = _reactor

__all__ = ["ConsoleTests", "chromium"]

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
