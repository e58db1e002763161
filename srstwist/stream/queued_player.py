# -*- test-case-name: tests.test_protocols_rtmp_player,tests.test_web_live -*-
"""
What every player has in common, whatever it speaks: a bounded queue, a
time-jitter correction of its own, merged writes, and push-producer
back-pressure.

RTMP players (:mod:`srstwist.stream.rtmp_player`) and HTTP live players
(:mod:`srstwist.stream.http_player`) differ only in how a batch of queued messages becomes
bytes on their connection, so that is the one method they implement
(:meth:`QueuedPlayer.flush`).  The rest is the fan-out hot path and is written
once, here (after SRS's ``SrsConsumer``, ``SrsMessageQueue`` and ``SrsRtmpJitter`` in
``srs_app_source.cpp``, and the merged write of ``SrsRtmpConn::do_playing``):

* :meth:`QueuedPlayer.deliver` corrects the timestamp for this player and queues
  the message.  The queue is bounded by ``queue_length`` seconds; past that
  it shrinks as SRS does, so a player that cannot keep up costs a bounded
  amount of memory and never slows the publisher or anyone else.  Time is
  no bound when timestamps stand still (issue 15), so the queue is also
  capped by bytes and messages (:func:`srstwist.media.queue.default_limits`)
  and may be charged to a stream's and the process's backlog budget
  (:mod:`srstwist.stream.budget`), which skips the players furthest behind
  to the next keyframe.  One warning is logged per shrink episode (until
  the queue has been emptied again), not one per shrink.
* While the transport is paused (its send buffer is full) nothing is
  written; the queue absorbs the difference until it shrinks.
* Otherwise queued messages go out once more than 8 are queued and they
  span ``mw_latency`` (SRS's merged write), or at once with ``min_latency``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from srstwist.config.model import VhostConfig
from srstwist.media.jitter import TimeJitter
from srstwist.media.message import SharedMessage
from srstwist.media.queue import OVER_BUDGET, SHRUNK_BYTES, SHRUNK_DURATION, MessageQueue
from srstwist.stream.socket_send import DirectSend

__all__ = ["QueuedPlayer", "BATCH_SIZE", "MERGED_WRITE_MESSAGES"]

#: At most this many messages go into one write (SRS: 128).
BATCH_SIZE = 128
#: Messages queued before a merged write (SRS: 8; 0 with min_latency).
MERGED_WRITE_MESSAGES = 8


class QueuedPlayer:
    """
    The queueing half of a player; subclasses write what :meth:`flush` takes.

    :ivar queue: the player's :class:`MessageQueue` of (message, timestamp).
    :ivar closed: set by :meth:`stop`; a closed player takes nothing more.
    """

    log = Logger()

    def __init__(
        self, cid: int, vhost: VhostConfig, clock: Any, socket_transport: Any = None
    ) -> None:
        """
        :param socket_transport: the connection's transport: on plain TCP,
            shared batches are sent straight to the socket while it has
            nothing buffered (:class:`~srstwist.stream.socket_send.DirectSend`).
        """
        self.cid = cid
        self._direct = DirectSend.of(socket_transport) if socket_transport is not None else None
        self._clock = clock
        self.queue = MessageQueue(vhost.queue_length * 1000)
        self._jitter = TimeJitter("off" if vhost.atc else vhost.time_jitter)
        self._min_messages = 0 if vhost.min_latency else MERGED_WRITE_MESSAGES
        self._min_duration = 0 if vhost.min_latency else vhost.mw_latency
        self._interval_call: IDelayedCall | None = None
        self._producing = True
        self._client_paused = False
        self.closed = False
        #: Counters for statistics and tests.
        self.messages_sent = 0
        self.bytes_sent = 0
        #: The connection's statistics entry (its bytes_sent is kept here too).
        self.stats: Any = None
        #: The backlog budget this player's queue is charged to, if any
        #: (:meth:`srstwist.stream.budget.BacklogBudget.join` sets it).
        self.budget: Any = None

    # -- IStreamConsumer ---------------------------------------------------

    def deliver(self, message: SharedMessage) -> None:
        # The hot path: runs for every message and every player.
        if self.closed:
            return
        queue = self.queue
        result = queue.push(message, self._jitter.correct(message))
        if result:
            self._pushed_over(queue, result)
        # _maybe_flush, inlined: most deliveries only queue.
        if (
            self._producing
            and not self._client_paused
            and self._interval_call is None
            and len(queue) > self._min_messages
        ):
            span = queue.duration_ms
            if span < 0 or span >= self._min_duration:
                self.flush()

    def _pushed_over(self, queue: MessageQueue, result: int) -> None:
        """
        The last push shrank the queue or went over the backlog budget
        (``result``, see :meth:`MessageQueue.push`): forget what assumed the
        dropped messages would be sent, and warn once per episode.
        """
        if result == OVER_BUDGET:
            # Past the stream's or the process's budget: the players
            # furthest behind skip ahead (maybe this one).
            if self.budget is not None and queue.account is not None:
                self.budget.rebalance(queue.account)
            return
        self._queue_shrunk()
        if queue.episode_shrinks != 1:
            return
        if result == SHRUNK_DURATION:
            reason = f"over {queue.max_duration_ms // 1000}s"
        elif result == SHRUNK_BYTES:
            reason = f"over {queue.max_bytes} bytes"
        else:
            reason = f"over {queue.max_count} messages"
        self.log.warn(
            "player queue {reason}: shrunk to the sequence headers, {dropped} messages "
            "dropped so far (warned once until the player catches up)",
            reason=reason,
            dropped=queue.dropped,
            cid=self.cid,
        )

    def skip_to_live(self) -> int:
        """
        Drop this player's backlog down to the sequence headers; video
        resumes at the next keyframe (what the backlog budget does to a
        player far behind, :mod:`srstwist.stream.budget`).

        :return: the bytes released.
        """
        released = self.queue.skip_to_live()
        self._queue_shrunk()
        return released

    def publisher_changed(self, publishing: bool) -> None:
        # When the publisher stops, nothing more will arrive to complete a
        # merged write: send what is queued now rather than hold the end of
        # the stream back.
        if not publishing:
            self._maybe_flush(force=True)

    def close(self, reason: str) -> None:
        self.stop()

    # -- IPushProducer -----------------------------------------------------

    def pauseProducing(self) -> None:
        self._producing = False

    def resumeProducing(self) -> None:
        self._producing = True
        self._maybe_flush(force=True)

    def stopProducing(self) -> None:
        self.stop()

    # -- control -----------------------------------------------------------

    def stop(self) -> None:
        """Stop for good: drop the queue, cancel timers."""
        self.closed = True
        self.queue.clear()
        if self._interval_call is not None and self._interval_call.active():
            self._interval_call.cancel()
        self._interval_call = None

    def drain(self) -> None:
        """Send everything queued now, if the transport takes data."""
        self._maybe_flush(force=True)

    def _maybe_flush(self, force: bool = False) -> None:
        if not self._producing or self._client_paused or self.closed:
            return
        if self._interval_call is not None:
            return
        queued = len(self.queue)
        if not queued:
            return
        if not force:
            if queued <= self._min_messages:
                return
            # A span below zero means timestamps went backwards (a new
            # publisher, ffmpeg's end-of-sequence tag): no use waiting.
            if 0 <= self.queue.duration_ms < self._min_duration:
                return
        self.flush()

    def _count_sent(self, size: int) -> None:
        self.bytes_sent += size
        if self.stats is not None:
            self.stats.bytes_sent += size

    # -- shared batches (srstwist.stream.batch) ------------------------

    @property
    def can_share(self) -> bool:
        """
        Whether this player may take a shared batch: nothing of its own
        queued, its transport taking data, no per-player pacing.
        """
        return (
            not len(self.queue)
            and self._producing
            and not self._client_paused
            and not self.closed
            and self._interval_call is None
        )

    def timeline_offset(self, timeline: TimeJitter) -> int | None:
        """
        This player's corrected timestamps minus the source's, if every
        coming message will differ by that same constant (its jitter is in
        step with the source's timeline); else ``None``.
        """
        last_time, last_correct = self._jitter.state()
        source_time, source_correct = timeline.state()
        algorithm = self._jitter.algorithm
        if algorithm == "full":
            if last_correct < 0 or source_correct < 0 or last_time != source_time:
                return None
            return last_correct - source_correct
        if algorithm == "zero":
            if last_correct == -1 or source_correct == -1:
                return None
            return source_correct - last_correct
        return 0

    def rejoin_timeline(self, timeline_state: tuple[int, int], offset: int) -> None:
        """
        Continue on this player's own queue after sharing batches: its
        timeline is the source's (as of the last shared batch) plus
        ``offset``.
        """
        if self._jitter.algorithm == "full":
            last_time, last_correct = timeline_state
            self._jitter.restore(last_time, last_correct + offset)

    def _send_now(self, blob: bytes, write: Any) -> None:
        """
        Write ``blob``: straight to the socket while the transport has
        nothing buffered, else through ``write`` (see
        :mod:`srstwist.stream.socket_send`).
        """
        direct = self._direct
        if direct is None:
            write(blob)
            self._count_sent(len(blob))
        else:
            self._count_sent(direct.send(blob, write))

    # -- what a subclass provides ------------------------------------------

    def flush(self) -> None:
        """Write queued messages now (at least one batch of them)."""
        raise NotImplementedError

    def _queue_shrunk(self) -> None:
        """Messages were dropped: forget whatever assumed they would be sent."""

