# -*- test-case-name: tests.test_protocols_rtmp_fanout,tests.test_web_flv_fanout -*-
"""
One write per player per tick: the shared batch of a source's players.

Every player of a source starts on its own queue (:class:`QueuedPlayer`): it gets
the metadata, sequence headers and GOP cache with its own timestamps.  Once
a player has caught up (its queue is empty and its transport takes data)
and its timestamps are the source's plus a constant, it is *in step*: from
then on the bytes it needs can be made once for every player in step.

So a :class:`SharedBatch` collects the source's messages for one merged-write
tick (``mw_latency``; every message with ``min_latency``), encodes them
once, and writes the same ``bytes`` object to every in-step player: per tick
one write per player, and no work per message and player at all.  Players
that are not in step get each message on their own queue, as before.

A player leaves the batch when it cannot take it (its transport paused,
the client paused, control messages written on its connection) or when a
batch cannot be shared with it; it then continues on its own queue from
exactly where the batch left it, and may rejoin later.

Subclasses say what "in step" means for their protocol (:meth:`_offset_of`) and
how a batch becomes bytes (:meth:`_send_batch`): RTMP players share fmt-1 chunk
encodings (:mod:`srstwist.stream.rtmp_batch`); HTTP-FLV players share FLV
tags, one blob per timestamp offset (:mod:`srstwist.stream.flv_batch`).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.interfaces import IBatchMember, IStreamConsumer, Replay
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source

__all__ = ["SharedBatch"]


@implementer(IStreamConsumer)
class SharedBatch:
    """
    The players of one source that can share encodings.

    It is the source's consumer; the players are its members
    (:class:`~srstwist.interfaces.IBatchMember`), in step (fed the shared
    batch) or on their own queues.  The hub makes one per source and
    sharing key (:meth:`srstwist.services.hub.SourceHub.attach`); a
    subclass takes the key's parameters after the clock.
    """

    log = Logger()
    #: Whether in-step players share the batch (tests compare with False).
    sharing = True
    #: The batch attaches itself to the source, for live messages only.
    replay = Replay.NOTHING
    sharing_key = None

    def __init__(self, source: Source, clock: Any) -> None:
        vhost = source.vhost
        self.source = source
        self.own: list[IBatchMember] = []
        #: In-step players and their offsets from the source's timeline.
        self.in_step: dict[IBatchMember, int] = {}
        self._pending: list[SharedMessage] = []
        # The source's timeline as of the last batch: what a player leaving
        # the batch continues from.
        self._timeline_state = source.timeline.state()
        self._immediate = vhost.min_latency or vhost.mw_latency <= 0
        self._tick: LoopingCall | None = None
        if not self._immediate:
            self._tick = LoopingCall(self.flush)
            self._tick.clock = clock
            self._tick.start(vhost.mw_latency / 1000.0, now=False)
        source.attach(self, replay=False)

    @property
    def cid(self) -> int:
        return self.source.cid

    @property
    def empty(self) -> bool:
        return not self.own and not self.in_step

    # -- membership --------------------------------------------------------

    def add(self, player: IBatchMember) -> None:
        """A new player: the start messages on its own queue, then live."""
        self.own.append(player)
        for message in self.source.start_messages():
            player.deliver(message)

    def remove(self, player: IBatchMember) -> None:
        if player in self.in_step:
            del self.in_step[player]
        elif player in self.own:
            self.own.remove(player)

    def leave(self, player: IBatchMember) -> None:
        """Move an in-step player to its own queue (it can no longer share)."""
        if player in self.in_step:
            # What this tick has collected so far is not in a batch it had.
            self._leave_with(player, self._pending)

    def stop(self) -> None:
        """No player left: stop ticking and unsubscribe."""
        if self._tick is not None and self._tick.running:
            self._tick.stop()
        self.source.detach(self)

    # -- IStreamConsumer ---------------------------------------------------

    def deliver(self, message: SharedMessage) -> None:
        if self.in_step:
            self._pending.append(message)
        # One try around the whole loop (free until a player raises); then
        # the rest are served one by one (issue 15: isolate members).
        player = None
        try:
            for player in self.own:
                player.deliver(message)
        except Exception:
            self._deliver_rest(message, player)
        if self._immediate:
            self.flush()

    def _deliver_rest(self, message: SharedMessage, failed: Any) -> None:
        """``failed`` raised: drop it, give ``message`` to the players after it."""
        own = self.own
        index = next((i for i, p in enumerate(own) if p is failed), len(own))
        rest = own[index + 1 :]
        self._member_failed(failed, "deliver")
        for player in rest:
            try:
                player.deliver(message)
            except Exception:
                self._member_failed(player, "deliver")

    def _member_failed(self, player: Any, what: str) -> None:
        """
        A member raised in ``what`` (called from an ``except`` block): log
        it, remove it from the batch and close it; the others go on.
        """
        self.log.failure(
            "player {player!r} of {url} failed in {what}: removed from the stream",
            player=player,
            url=self.source.url,
            what=what,
            cid=getattr(player, "cid", 0),
        )
        self.remove(player)
        try:
            player.close("internal error")
        except Exception:
            self.log.failure("closing the failed player {player!r} failed too", player=player)

    def publisher_changed(self, publishing: bool) -> None:
        if not publishing:
            self.flush()
        for player in list(self.own) + list(self.in_step):
            try:
                player.publisher_changed(publishing)
            except Exception:
                self._member_failed(player, "publisher_changed")

    def close(self, reason: str) -> None:
        players = list(self.own) + list(self.in_step)
        self.own.clear()
        self.in_step.clear()
        for player in players:
            player.close(reason)
        if self._tick is not None and self._tick.running:
            self._tick.stop()

    # -- the tick ----------------------------------------------------------

    def flush(self) -> None:
        """Send this tick's batch to the in-step players; let others join."""
        pending, self._pending = self._pending, []
        if pending and self.in_step:
            try:
                self._send_batch(pending)
            except Exception:
                # The tick must go on for everyone: a LoopingCall that raises
                # stops, and every player of the stream would starve.
                self.log.failure("shared batch of {url} failed", url=self.source.url)
        self._timeline_state = self.source.timeline.state()
        self._join_ready()

    def _leave_with(self, player: IBatchMember, batch: list[SharedMessage]) -> None:
        """Move ``player`` to its own queue, giving it ``batch`` there."""
        offset = self.in_step.pop(player)
        player.leave_shared(self._timeline_state, offset)
        self.own.append(player)
        for message in batch:
            player.deliver(message)

    def _join_ready(self) -> None:
        if not self.source.chunk_stream_times:
            return  # nothing published yet: no timeline to be in step with
        joined = []
        for player in list(self.own):
            # The tick is the merged write of own-queue players too: send
            # what they hold, then see whether they are in step.
            try:
                player.drain()
            except Exception:
                self._member_failed(player, "drain")
                continue
            if not self.sharing or not player.can_share:
                continue
            offset = self._offset_of(player)
            if offset is not None:
                joined.append(player)
                self.in_step[player] = offset
        for player in joined:
            self.own.remove(player)

    # -- what a subclass provides ------------------------------------------

    def _offset_of(self, player: Any) -> int | None:
        """The player's offset from the source's timeline, if in step."""
        raise NotImplementedError

    def _send_batch(self, batch: list[SharedMessage]) -> None:
        """Give ``batch`` to every in-step player (or move it to its own queue)."""
        raise NotImplementedError
