"""
Tests for :mod:`srstwist.stream.rtmp_batch`: players in step with their
source get one shared batch per tick, and receive exactly what they would
have received on their own queues.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import MessageType
from srstwist.stream.rtmp_batch import RtmpBatch
from tests.rtmp_peer import Harness, ScriptedClient, captured_media

_URL = "rtmp://127.0.0.1/live"
_TICK = 0.35


def _received(client: ScriptedClient) -> list[tuple[int, int, bytes]]:
    return [
        (m.message_type_id, m.timestamp, m.payload)
        for m in client.media()
        if m.message_type_id in (MessageType.AUDIO, MessageType.VIDEO, MessageType.AMF0_DATA)
    ]


class FanOutTests(SynchronousTestCase):
    """The shared batch changes nothing a player sees, only what it costs."""

    def scenario(self, conf: str = "") -> tuple[list[list[tuple[int, int, bytes]]], list]:
        """
        A publisher sends the capture in real time; three players join at
        different points; one pauses its transport for a while.
        """
        harness = Harness(f"listen 1935;\nvhost __defaultVhost__ {{ {conf} }}\n")
        media = captured_media()
        publisher = ScriptedClient(_URL, "s", "publish")
        harness.connect(publisher)
        players: list[ScriptedClient] = []
        servers = []
        now = 0.0
        joins = {0: 1, 60: 1, 150: 1}
        for index, message in enumerate(media):
            for _ in range(joins.get(index, 0)):
                player = ScriptedClient(_URL, "s", "play")
                server, _ = harness.connect(player)
                players.append(player)
                servers.append(server)
            if index == 100:
                servers[0].player.pauseProducing()
            if index == 130:
                servers[0].player.resumeProducing()
            # An RTMP pause: the session's reply is written on the player's
            # connection, which takes it out of the shared batch.
            if index == 180:
                players[1].session.pause(True)
                players[1].flush()
            if index == 200:
                players[1].session.pause(False)
                players[1].flush()
            # Advance the clock to the message's time: ticks fire as in life.
            target = message.timestamp / 1000.0
            if target > now:
                harness.clock.advance(target - now)
                now = target
            publisher.send(message)
            harness.flush()
        harness.clock.advance(1.0)
        harness.flush()
        return [_received(p) for p in players], [s.player for s in servers]

    def check_equivalent(self, conf: str = "") -> list:
        shared, players = self.scenario(conf)
        self.patch(RtmpBatch, "sharing", False)
        alone, _ = self.scenario(conf)
        self.assertEqual(len(shared), len(alone))
        for got, expected in zip(shared, alone, strict=True):
            self.assertGreater(len(expected), 50)
            self.assertEqual(got, expected)
        return players

    def test_same_messages_full_jitter(self) -> None:
        """With time_jitter full, shared and own delivery give identical messages."""
        players = self.check_equivalent()
        # The paused player left the batch through RtmpBatch.leave and came back.
        self.assertGreater(players[1].own_sends, 2)
        # Every player ended up in step, taking one write per tick.
        self.assertTrue(all(p.batches > 3 for p in players))
        self.assertGreater(sum(p.shared_sends for p in players), 5 * sum(p.own_sends for p in players))

    def test_same_messages_zero_jitter(self) -> None:
        """With time_jitter zero, too."""
        players = self.check_equivalent("time_jitter zero;")
        self.assertTrue(all(p.batches > 3 for p in players))

    def test_same_messages_jitter_off(self) -> None:
        """With time_jitter off, too."""
        self.check_equivalent("time_jitter off;")

    def test_same_messages_min_latency(self) -> None:
        """With min_latency (a batch per message), too."""
        self.check_equivalent("min_latency on;")
