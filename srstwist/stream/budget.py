# -*- test-case-name: tests.test_stream_budget -*-
"""
The backlog budget: a bound, in bytes, on what all player queues of a
stream, and of the whole process, hold (issue 15 item 9).

Each player's queue is bounded on its own (``queue_length`` seconds, and
bytes and messages, :mod:`srstwist.media.queue`), but with more players than
one core can serve, every player that falls behind keeps up to that much of
its own backlog, and thousands of them add up (1.6 GB at 15000 players).
SRS 2.0 has no such bound either.

So the hub (:class:`srstwist.services.hub.SourceHub`) makes one
:class:`BacklogBudget` per process and joins every
:class:`~srstwist.stream.queued_player.QueuedPlayer` to it, under its
stream's key.  Each queue is charged to its stream's
:class:`~srstwist.media.queue.BacklogAccount`, whose parent is the process
account, so both totals are exact at all times, at the cost of two
additions per queued message.  A push that takes either account past its
limit asks the budget to :meth:`~BacklogBudget.rebalance`: the players whose
queues hold the most (those furthest behind) skip to the live edge, their
queues dropped down to the sequence headers with video resuming at the next
keyframe (as SRS's ``SrsMessageQueue::shrink`` does, plus the wait for a
keyframe), until the account is down to :data:`LOW_WATER` of its limit.
Players in step with the source share its batches and queue nothing
(:mod:`srstwist.stream.batch`), so they are never skipped; nor is anyone
while the totals stay under the limits.

The defaults, :data:`STREAM_BYTES` per stream and :data:`PROCESS_BYTES` per
process, count a payload once per queue holding it (players share payloads,
so real memory is usually less) plus
:data:`~srstwist.media.queue.ENTRY_OVERHEAD` per queued message.

A rebalance costs a sort of the candidates (O(n log n)), and it frees at
least half a limit, so it is rare.  It is logged once per episode: the
first rebalance after :data:`EPISODE_GAP` seconds without one logs a line;
those that follow it closely are only counted (:attr:`BacklogBudget.skips`,
:attr:`BacklogBudget.rebalances`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from twisted.logger import Logger

from srstwist.media.queue import BacklogAccount

__all__ = ["EPISODE_GAP", "LOW_WATER", "PROCESS_BYTES", "STREAM_BYTES", "BacklogBudget"]

#: The most bytes the player queues of one stream hold together (256 MiB).
STREAM_BYTES = 256 * 1024 * 1024
#: The most bytes the player queues of the process hold together (1 GiB).
PROCESS_BYTES = 1024 * 1024 * 1024
#: A rebalance skips players until the account is at this share of its
#: limit, so the next one is a while off.
LOW_WATER = 0.5
#: Seconds without a rebalance that end an episode (for the log).
EPISODE_GAP = 10.0


class BacklogBudget:
    """
    The process's backlog account and one account per stream, with the
    players charged to each.

    :ivar total: the process account (the parent of every stream's).
    :ivar skips: how many times a player was skipped to the live edge.
    :ivar rebalances: how many rebalances ran.
    """

    log = Logger()

    def __init__(
        self,
        clock: Any = None,
        process_bytes: int = PROCESS_BYTES,
        stream_bytes: int = STREAM_BYTES,
        low_water: float = LOW_WATER,
    ) -> None:
        """
        :param clock: an ``IReactorTime``, for the once-per-episode log
            (``None``: every rebalance is logged).
        :param process_bytes: the process limit.
        :param stream_bytes: each stream's limit.
        :param low_water: see :data:`LOW_WATER`.
        """
        self._clock = clock
        self.total = BacklogAccount(process_bytes)
        self.stream_bytes = stream_bytes
        self.low_water = low_water
        self._accounts: dict[Hashable, BacklogAccount] = {}
        # Each stream account's players (a dict: ordered, O(1) removal).
        self._players: dict[BacklogAccount, dict[Any, None]] = {}
        self._keys: dict[BacklogAccount, Hashable] = {}
        self._last_rebalance: float | None = None
        self.skips = 0
        self.rebalances = 0

    def __repr__(self) -> str:
        total = self.total
        return f"<BacklogBudget {total.bytes}/{total.limit} bytes, {len(self._accounts)} streams>"

    def account(self, key: Hashable) -> BacklogAccount | None:
        """The account of the stream ``key``, if it has players."""
        return self._accounts.get(key)

    def join(self, key: Hashable, player: Any) -> None:
        """
        Charge ``player``'s queue to the stream ``key`` (and the process)
        from now on; what it holds already is charged at once.
        """
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = BacklogAccount(self.stream_bytes, self.total)
            self._players[account] = {}
            self._keys[account] = key
        self._players[account][player] = None
        player.budget = self
        player.queue.set_account(account)

    def leave(self, key: Hashable, player: Any) -> None:
        """Stop charging ``player``'s queue; forget a stream left empty."""
        account = self._accounts.get(key)
        if account is None or player not in self._players[account]:
            return
        del self._players[account][player]
        player.queue.set_account(None)
        player.budget = None
        if not self._players[account]:
            del self._accounts[key], self._players[account], self._keys[account]

    def rebalance(self, account: BacklogAccount) -> int:
        """
        ``account`` (a stream's) or the process total is over its limit:
        skip the players that hold the most to the live edge until it is
        down to :attr:`low_water` of its limit.

        :return: how many players were skipped.
        """
        total = self.total
        skipped = 0
        over_stream = account.bytes > account.limit
        if total.bytes > total.limit:
            candidates: Iterable[Any] = (
                player for players in self._players.values() for player in players
            )
            skipped += self._skip(candidates, total)
        if account.bytes > account.limit:
            skipped += self._skip(self._players.get(account, {}), account)
        if skipped:
            self.rebalances += 1
            self.skips += skipped
            self._log(account, over_stream, skipped)
        return skipped

    def _skip(self, candidates: Iterable[Any], account: BacklogAccount) -> int:
        """Skip the longest queues first until ``account`` is low enough."""
        target = account.limit * self.low_water
        if account.bytes <= target:
            return 0
        skipped = 0
        for player in sorted(candidates, key=_queued_bytes, reverse=True):
            if account.bytes <= target or not player.queue.bytes:
                break
            if player.skip_to_live():
                skipped += 1
        return skipped

    def _log(self, account: BacklogAccount, over_stream: bool, skipped: int) -> None:
        now = self._clock.seconds() if self._clock is not None else None
        last, self._last_rebalance = self._last_rebalance, now
        if now is not None and last is not None and now - last < EPISODE_GAP:
            return
        key = self._keys.get(account, "?")
        where = (
            f"stream {'/'.join(map(str, key)) if isinstance(key, tuple) else key} over "
            f"{account.limit // 2**20} MiB"
            if over_stream
            else f"process over {self.total.limit // 2**20} MiB"
        )
        self.log.warn(
            "player backlog budget: {where}; {skipped} players furthest behind skipped to "
            "the next keyframe ({skips} skips so far; further ones within {gap:g}s are "
            "not logged)",
            where=where,
            skipped=skipped,
            skips=self.skips,
            gap=EPISODE_GAP,
        )


def _queued_bytes(player: Any) -> int:
    return player.queue.bytes
