"""
End to end: a SIGHUP that turns ``hls`` on for a live stream (issue 15,
item 6).  The real ``twistd -n srs`` runs with HLS off; ffmpeg publishes
and another ffmpeg plays over RTMP; the config file is edited and the
server gets SIGHUP.  The playlist appears without the publisher
reconnecting (SRS's ``SrsSource::on_reload_vhost_hls``), and the player
keeps playing to its end.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.integration.process import (
    ServerHelpers,
    SrsServer,
    ffmpeg_play,
    file_size,
    sleep,
)

_HLS = "hls { enabled on; hls_fragment 1; hls_window 10; hls_path %s; }"


@defer.inlineCallbacks
def wait_until(
    condition: Callable[[], bool], what: str, within: float = 20.0
) -> defer.Generator[defer.Deferred[None], object, None]:
    """Fire once ``condition()`` holds, polling; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        yield sleep(0.1)


class ReloadLiveTests(ServerHelpers, TestCase):
    """SIGHUP reaches live streams."""

    timeout = 90

    @defer.inlineCallbacks
    def test_hls_turned_on(self) -> Any:
        """
        HLS turned on by SIGHUP: the ``.m3u8`` of the live stream appears
        with the same publisher, and an RTMP player keeps playing.
        """
        self.server = SrsServer(self, "vhost __defaultVhost__ { }\n")
        yield self.server.started()
        html = self.server.path("html")
        m3u8 = os.path.join(html, "live", "s.m3u8")

        publisher = self.publish("live/s", 25)
        yield self.wait_publish("__defaultVhost__", "live/s")
        flv = self.server.path("played.flv")
        player = self.start(ffmpeg_play(self.server.url("live/s"), 14, flv), limit=40)
        yield wait_until(lambda: file_size(flv) > 20000, "the player to receive media")
        self.assertFalse(os.path.exists(m3u8))

        conf = self.server.path("srs.conf")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("vhost __defaultVhost__ { }", f"vhost __defaultVhost__ {{ {_HLS % html} }}"))
        mark = len(self.server.output)
        os.kill(self.server.pid, signal.SIGHUP)
        yield self.server.child.wait_for("reload: done", since=mark)
        size_at_reload = file_size(flv)

        yield wait_until(lambda: os.path.exists(m3u8), "the playlist")
        with open(m3u8) as f:
            self.assertIn("#EXTINF:", f.read())
        self.assertFalse(publisher.ended.called)
        output = self.server.output
        self.assertEqual(output.count("] publish __defaultVhost__/live/s, "), 1)
        self.assertNotIn("unpublish", output)
        self.assertIn("reload: HlsOutput of __defaultVhost__/live/s started", output[mark:])

        yield wait_until(lambda: file_size(flv) > size_at_reload + 50000, "more media")
        code, _ = yield player.ended
        self.assertEqual(code, 0, player.output)
        self.assertNotIn("Traceback", self.server.output)
