"""
Tests for :mod:`srstwist.stream.budget`: the bytes all player queues of a
stream and of the process may hold (issue 15 item 9).
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import LogEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.media.message import SharedMessage
from srstwist.media.queue import ENTRY_OVERHEAD
from srstwist.stream.budget import LOW_WATER, PROCESS_BYTES, STREAM_BYTES, BacklogBudget
from srstwist.stream.rtmp_player import RtmpPlayer

_VHOST = load_config_text("listen 1935;\nvhost v { }\n", "t.conf").vhost("v")
_SIZE = 10_000
_HEADER = SharedMessage(0, 9, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f", 6)


def _frame(timestamp: int, key: bool = False) -> SharedMessage:
    first = b"\x17\x01" if key else b"\x27\x01"
    return SharedMessage(timestamp, 9, first + bytes(_SIZE - 2), 6)


def _player(clock: Clock, cid: int) -> RtmpPlayer:
    return RtmpPlayer(cid, _VHOST, 60000, lambda pieces: None, lambda: [], clock)


class BudgetTests(SynchronousTestCase):
    """Many paused players of one stream against a small budget."""

    def setUp(self) -> None:
        self.clock = Clock()
        # 1 MB per stream, 3 MB per process: 100 frames of 10 kB.
        self.budget = BacklogBudget(self.clock, process_bytes=3_000_000, stream_bytes=1_000_000)
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def players(self, key: str, count: int, paused: bool) -> list[RtmpPlayer]:
        made = []
        for i in range(count):
            player = _player(self.clock, len(made) + 1000 * len(key))
            if paused:
                player.pauseProducing()
            self.budget.join(key, player)
            made.append(player)
        return made

    def feed(self, players: list[RtmpPlayer], count: int, start: int = 0) -> None:
        for i in range(start, start + count):
            message = _frame(40 * i, key=i % 25 == 0)
            for player in players:
                player.deliver(message)

    def test_defaults(self) -> None:
        """256 MiB per stream, 1 GiB per process, down to half when over."""
        budget = BacklogBudget()
        self.assertEqual((budget.stream_bytes, budget.total.limit), (STREAM_BYTES, PROCESS_BYTES))
        self.assertEqual((STREAM_BYTES, PROCESS_BYTES), (256 * 2**20, 2**30))
        self.assertEqual(LOW_WATER, 0.5)

    def test_stream_budget_respected(self) -> None:
        """
        20 paused players of one stream would hold 20 x 200 frames; the
        stream's backlog never passes its budget (plus the one message
        being pushed), and the totals stay exact.
        """
        paused = self.players("s", 20, paused=True)
        for player in paused:
            player.deliver(_HEADER)
        limit = self.budget.stream_bytes
        for i in range(200):
            self.feed(paused, 1, start=i)
            account = self.budget.account("s")
            assert account is not None
            self.assertLessEqual(account.bytes, limit + _SIZE + ENTRY_OVERHEAD)
        self.assertGreater(self.budget.skips, 20)
        self.assertEqual(account.bytes, sum(p.queue.bytes for p in paused))
        self.assertEqual(self.budget.total.bytes, account.bytes)
        # Skipped players kept the sequence header and restarted on a keyframe.
        for player in paused:
            held = [m for m, _ in player.queue]
            self.assertIs(held[0], _HEADER)
            if len(held) > 1:
                self.assertTrue(held[1].is_keyframe)

    def test_in_step_players_unaffected(self) -> None:
        """
        Players that keep up (they write everything at once) are never
        skipped while paused ones are; they get every message.
        """
        written: dict[int, int] = {}

        def writer(cid: int):
            def write(pieces: list[bytes]) -> None:
                written[cid] = written.get(cid, 0) + len(pieces)

            return write

        # Writing every message at once, they queue nothing, as players in
        # step with a shared batch do.
        prompt = load_config_text("listen 1935;\nvhost v { min_latency on; }\n").vhost("v")
        live = []
        for cid in range(10):
            player = RtmpPlayer(cid, prompt, 60000, writer(cid), lambda: [], self.clock)
            self.budget.join("s", player)
            live.append(player)
        paused = self.players("s", 20, paused=True)
        self.feed(live + paused, 300)
        for player in live:
            player.drain()
        self.assertGreater(self.budget.skips, 0)
        self.assertEqual({p.queue.shrinks for p in live}, {0})
        self.assertEqual({p.messages_sent for p in live}, {300})

    def test_process_budget_respected(self) -> None:
        """
        Five streams of paused players: each under its own budget, together
        over the process's; the total never passes it.
        """
        streams = [self.players(f"s{i}", 6, paused=True) for i in range(5)]
        for i in range(150):
            for players in streams:
                self.feed(players, 1, start=i)
            self.assertLessEqual(self.budget.total.bytes, 3_000_000 + _SIZE + ENTRY_OVERHEAD)
        self.assertEqual(
            self.budget.total.bytes, sum(p.queue.bytes for players in streams for p in players)
        )

    def test_furthest_behind_first(self) -> None:
        """The player that holds the most is the one skipped."""
        behind, recent = self.players("s", 2, paused=True)
        self.feed([behind], 60)
        self.feed([behind, recent], 45, start=60)
        self.assertEqual(behind.queue.shrinks, 1)
        self.assertEqual(recent.queue.shrinks, 0)
        self.assertEqual(len(recent.queue), 45)

    def test_leave_releases(self) -> None:
        """A player that leaves (or stops) takes its bytes out of the totals."""
        first, second = self.players("s", 2, paused=True)
        self.feed([first, second], 10)
        self.budget.leave("s", first)
        account = self.budget.account("s")
        assert account is not None
        self.assertEqual(account.bytes, second.queue.bytes)
        second.stop()
        self.assertEqual(self.budget.total.bytes, 0)
        self.budget.leave("s", second)
        self.assertIsNone(self.budget.account("s"))
        self.assertIsNone(second.budget)

    def test_logged_once_per_episode(self) -> None:
        """
        Rebalances that follow each other closely log one line; one after
        a quiet spell of EPISODE_GAP seconds logs again.
        """
        paused = self.players("s", 20, paused=True)
        self.feed(paused, 200)
        lines = [e for e in self.events if "backlog budget" in e.get("log_format", "")]
        self.assertGreater(self.budget.rebalances, 3)
        self.assertEqual(len(lines), 1)
        self.clock.advance(11)
        self.feed(paused, 200, start=200)
        lines = [e for e in self.events if "backlog budget" in e.get("log_format", "")]
        self.assertEqual(len(lines), 2)


class HubTests(SynchronousTestCase):
    """The hub joins every player to its budget and takes it out at detach."""

    def test_attach_detach(self) -> None:
        from tests.rtmp_peer import Harness

        harness = Harness("listen 1935;\nvhost __defaultVhost__ { }\n")
        hub = harness.hub
        vhost = harness.holder.config.vhost("__defaultVhost__")
        source = hub.source(vhost, "live", "s")
        player = _player(harness.clock, 1)
        hub.attach(source, player)
        self.assertIs(player.budget, hub.budget)
        self.assertIs(player.queue.account, hub.budget.account(source.key))
        hub.detach(source, player)
        self.assertIsNone(player.queue.account)
        self.assertIsNone(hub.budget.account(source.key))
