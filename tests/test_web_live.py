"""
Tests for :mod:`srstwist.stream.http_player`: an HTTP live player's queue, back-pressure
and end of stream.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from srstwist.config.loader import load_config_text
from srstwist.interfaces import IStreamConsumer
from srstwist.media.message import SharedMessage
from srstwist.media.remux import FlvLiveEncoder
from srstwist.stream.http_player import HttpLivePlayer


def _vhost(body: str = ""):
    return load_config_text(f"listen 1935;\nvhost v {{ {body} }}\n", "t.conf").vhost("v")


def _video(timestamp: int, key: bool = False) -> SharedMessage:
    return SharedMessage(timestamp, 9, (b"\x17\x01" if key else b"\x27\x01") + bytes(1000), 6)


class PlayerTests(SynchronousTestCase):
    """One HTTP-FLV player writing to a list."""

    def make(self, body: str = "") -> tuple[HttpLivePlayer, list[bytes], list[str]]:
        writes: list[bytes] = []
        ended: list[str] = []
        player = HttpLivePlayer(
            300, _vhost(body), FlvLiveEncoder(), writes.append, Clock(), lambda: ended.append("end")
        )
        return player, writes, ended

    def test_interfaces(self) -> None:
        """The player is a stream consumer and a push producer."""
        player, _, _ = self.make()
        verifyObject(IStreamConsumer, player)
        verifyObject(IPushProducer, player)

    def test_merged_write(self) -> None:
        """Messages are written in one chunk once they span mw_latency."""
        player, writes, _ = self.make("mw_latency 350;")
        for i in range(10):
            player.deliver(_video(i * 40))
        self.assertEqual(len(writes), 1)
        self.assertEqual(writes[0].count(b"\x27\x01"), 10)
        self.assertEqual(player.messages_sent, 10)

    def test_min_latency_writes_each(self) -> None:
        """With min_latency every message goes at once."""
        player, writes, _ = self.make("min_latency on;")
        player.deliver(_video(0, key=True))
        player.deliver(_video(40))
        self.assertEqual(len(writes), 2)

    def test_paused_reader_is_bounded(self) -> None:
        """
        A player whose connection stops taking data holds at most
        queue_length seconds of messages, however long the stream runs.
        """
        player, writes, _ = self.make("queue_length 2; mw_latency 100;")
        player.pauseProducing()
        most = 0
        for i in range(3000):  # two minutes at 25 fps
            player.deliver(_video(i * 40, key=i % 50 == 0))
            most = max(most, len(player.queue))
        self.assertEqual(writes, [])
        self.assertLessEqual(most, 2000 // 40 + 2)
        self.assertGreater(player.queue.dropped, 2500)
        player.resumeProducing()
        self.assertEqual(len(player.queue), 0)

    def test_unpublish_flushes_then_ends(self) -> None:
        """The end of the publisher sends what is queued, then ends the body."""
        player, writes, ended = self.make("mw_latency 350;")
        player.deliver(_video(0, key=True))
        self.assertEqual(writes, [])
        player.publisher_changed(False)
        self.assertEqual(len(writes), 1)
        self.assertEqual(ended, ["end"])
        self.assertTrue(player.closed)

    def test_unpublish_while_paused_ends_after_resume(self) -> None:
        """A paused player ends only once its queue has gone out."""
        player, writes, ended = self.make()
        player.pauseProducing()
        player.deliver(_video(0, key=True))
        player.publisher_changed(False)
        self.assertEqual(ended, [])
        player.resumeProducing()
        self.assertEqual((len(writes), ended), (1, ["end"]))
