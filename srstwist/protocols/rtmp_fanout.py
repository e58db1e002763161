# -*- test-case-name: tests.test_protocols_rtmp_fanout -*-
"""
One write per player per tick: the shared batch of a source's RTMP players.

Every player of a source starts on its own queue (L{RtmpPlayer}): it gets
the metadata, sequence headers and GOP cache, each chunk stream starting
with a fmt-0 header carrying its own timestamp.  Once a player has caught up
(its queue is empty and its transport takes data) and its timestamps are
the source's plus a constant on every chunk stream, it is I{in step}: from
then on the bytes it needs are the same as every other in-step player's,
because the messages go out with fmt-1 headers carrying the source's
deltas (L{SharedMessage.delta_chunks}).

So a L{FanOut} collects the source's messages for one merged-write tick
(``mw_latency``; every message with ``min_latency``), joins their shared
encodings once into one C{bytes} object, and writes that object to every
in-step player: per tick one write per player, and no work per message and
player at all.  Players that are not in step get each message on their own
queue, as before.

A player leaves the batch when it cannot take it (its transport paused, the
client paused, control messages written on its chunk streams) or when a
batch cannot be shared (a message without a shareable delta: the first on
a chunk stream, a timestamp going back, metadata under ``time_jitter
full``).  It then continues on its own queue from exactly where the batch
left it, and may rejoin later.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.config.model import VhostConfig
from srstwist.interfaces import IStreamConsumer
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source
from srstwist.protocols.rtmp_player import RtmpPlayer, default_csid

__all__ = ["FanOut", "MAX_SHARED_DELTA"]

#: fmt-1 headers carry a 24-bit delta.
MAX_SHARED_DELTA = 0xFFFFFF


@implementer(IStreamConsumer)
class FanOut:
    """
    The RTMP players of one source with one outgoing chunk size.

    It is the source's consumer; the players are its members, in step (fed
    the shared batch) or on their own queues.
    """

    log = Logger()
    #: Whether in-step players share the batch (tests compare with False).
    sharing = True

    def __init__(self, source: Source, chunk_size: int, vhost: VhostConfig, clock: Any) -> None:
        self.source = source
        self.chunk_size = chunk_size
        self.own: list[RtmpPlayer] = []
        #: In-step players and their offsets from the source's timeline.
        self.in_step: dict[RtmpPlayer, int] = {}
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

    def add(self, player: RtmpPlayer) -> None:
        """A new player: the start messages on its own queue, then live."""
        self.own.append(player)
        player.on_control = self.leave
        for message in self.source.start_messages():
            player.deliver(message)

    def remove(self, player: RtmpPlayer) -> None:
        if player in self.in_step:
            del self.in_step[player]
        elif player in self.own:
            self.own.remove(player)

    def leave(self, player: RtmpPlayer) -> None:
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
        for player in self.own:
            player.deliver(message)
        if self._immediate:
            self.flush()

    def publisher_changed(self, publishing: bool) -> None:
        if not publishing:
            self.flush()
        for player in list(self.own) + list(self.in_step):
            player.publisher_changed(publishing)

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
            blob = self._shared_bytes(pending)
            if blob is None:
                for player in list(self.in_step):
                    self._leave_with(player, pending)
            else:
                for player in list(self.in_step):
                    if player.can_share:
                        player.send_shared(blob, len(pending))
                    else:
                        self._leave_with(player, pending)
        self._timeline_state = self.source.timeline.state()
        self._join_ready()

    def _leave_with(self, player: RtmpPlayer, batch: list[SharedMessage]) -> None:
        """Move C{player} to its own queue, giving it C{batch} there."""
        offset = self.in_step.pop(player)
        player.leave_shared(self._timeline_state, offset)
        self.own.append(player)
        for message in batch:
            player.deliver(message)

    def _shared_bytes(self, batch: list[SharedMessage]) -> bytes | None:
        """The batch as one object of shared fmt-1 encodings, if it can be."""
        pieces: list[bytes] = []
        chunk_size = self.chunk_size
        for message in batch:
            delta = message.stream_delta
            if delta is None or not 0 <= delta < MAX_SHARED_DELTA:
                return None
            csid = message.chunk_stream_id or default_csid(message)
            pieces.extend(message.delta_chunks(chunk_size, csid, delta))
        return b"".join(pieces)

    def _join_ready(self) -> None:
        timeline = self.source.timeline
        times = self.source.chunk_stream_times
        if not times:
            return
        joined = []
        for player in self.own:
            # The tick is the merged write of own-queue players too: send
            # what they hold, then see whether they are in step.
            player.drain()
            if not self.sharing or not player.can_share:
                continue
            offset = player.offset_from(timeline, times)
            if offset is not None:
                joined.append(player)
                self.in_step[player] = offset
        for player in joined:
            self.own.remove(player)
