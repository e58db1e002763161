# -*- test-case-name: tests.test_protocols_rtmp_player -*-
"""
An RTMP player: the consumer that delivers a source to one connection.

The fan-out hot path.  For each message the source calls L{RtmpPlayer.deliver},
which corrects the timestamp for this player (SRS's per-consumer time
jitter, reference ``rtmp.md`` §7.5) and queues it.  The queue is bounded by
``queue_length`` seconds: past that it shrinks as SRS does (§7.4), so a
player that cannot keep up costs a bounded amount of memory and never slows
the publisher or anyone else.

The player is the L{IPushProducer} of its transport.  While the transport
is paused (its send buffer is full) nothing is written; the queue absorbs
the difference until it shrinks.  Otherwise messages go out in batches of
up to 128, in one C{writeSequence}, once more than 8 are queued and they
span ``mw_latency`` (merged write, §7.7; every message at once with
``min_latency``).

Encoding once: a message's bytes come from the shared caches of
L{SharedMessage}.  The first message a player sends on a chunk stream, and
the first after a queue shrink, carries a fmt-0 header with this player's
own timestamp.  After that, when this player's delta on the chunk stream
equals the source's (C{stream_delta}), which is the normal case, the player
sends the fmt-1 encoding every other player shares.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.config.model import VhostConfig
from srstwist.interfaces import IStreamConsumer
from srstwist.media.jitter import TimeJitter, wire_timestamp
from srstwist.media.message import SharedMessage
from srstwist.media.queue import MessageQueue

__all__ = ["RtmpPlayer", "BATCH_SIZE", "STREAM_ID", "default_csid"]

#: At most this many messages go into one write (SRS: 128).
BATCH_SIZE = 128
#: Messages queued before a merged write (SRS: 8; 0 with min_latency).
_MERGED_WRITE_MESSAGES = 8
#: The message stream id of every player's stream (SRS: always 1).
STREAM_ID = 1
#: fmt-1 headers carry a 24-bit delta; larger ones need a fmt-0 header.
_MAX_DELTA = 0xFFFFFF


@implementer(IStreamConsumer, IPushProducer)
class RtmpPlayer:
    """
    Delivers one source to one RTMP connection.

    @param write: the connection's C{writeSequence}.
    @param flush_control: returns and clears the session's pending control
        bytes (pause replies, pings), written before media so that the
        client sees them in order.
    @param chunk_size: the connection's outgoing chunk size.
    """

    log = Logger()

    def __init__(
        self,
        cid: int,
        vhost: VhostConfig,
        chunk_size: int,
        write: Any,
        flush_control: Any,
        clock: Any,
        duration_ms: float = 0,
        on_complete: Any = None,
        socket_transport: Any = None,
    ) -> None:
        """
        @param duration_ms: the play command's duration; above 0, the player
            stops after that much stream time and calls C{on_complete}
            (SRS #45; rtmpdump's C{--stop}).
        @param socket_transport: the connection's TCP transport, if it has
            C{writeSomeData}: shared batches are then sent straight to the
            socket while the transport has nothing buffered (see
            L{send_shared}).
        """
        self._socket = (
            socket_transport if hasattr(socket_transport, "writeSomeData") else None
        )
        self.cid = cid
        self._duration = duration_ms
        self._on_complete = on_complete
        self._first_av: int | None = None
        self._write = write
        self._flush_control = flush_control
        self._clock = clock
        self.chunk_size = chunk_size
        self.queue = MessageQueue(vhost.queue_length * 1000)
        self._jitter = TimeJitter("off" if vhost.atc else vhost.time_jitter)
        self._min_messages = 0 if vhost.min_latency else _MERGED_WRITE_MESSAGES
        self._min_duration = 0 if vhost.min_latency else vhost.mw_latency
        self._send_interval = vhost.send_min_interval / 1000.0
        self._interval_call: IDelayedCall | None = None
        # The timestamp this player last sent on each chunk stream.
        self._last_sent: dict[int, int] = {}
        self._producing = True
        self._client_paused = False
        self.closed = False
        #: Counters for statistics and tests.
        self.messages_sent = 0
        self.bytes_sent = 0
        #: The connection's statistics entry (its bytes_sent is kept here too).
        self.stats: Any = None
        #: Called when the session wrote on this connection's chunk streams
        #: (the shared batch must then let this player go).
        self.on_control: Any = None
        self.shared_sends = 0
        self.own_sends = 0
        #: Shared batches written (one write each, however many messages).
        self.batches = 0

    # -- IStreamConsumer ---------------------------------------------------

    def deliver(self, message: SharedMessage) -> None:
        # The hot path: runs for every message and every player.
        if self.closed:
            return
        queue = self.queue
        if queue.push(message, self._jitter.correct(message)):
            # Messages were dropped: every chunk stream restarts with fmt 0.
            self._last_sent.clear()
            self.log.warn(
                "player queue over {seconds}s: shrunk, {dropped} messages dropped so far",
                seconds=queue.max_duration_ms // 1000,
                dropped=queue.dropped,
            )
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

    def publisher_changed(self, publishing: bool) -> None:
        # A new publisher's timestamps restart; the jitter keeps players
        # monotonic (a 10 ms step with "full").  When the publisher stops,
        # nothing more will arrive to complete a merged write: send what
        # is queued now rather than hold the end of the stream back.
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

    def set_client_paused(self, paused: bool) -> None:
        """RTMP pause/unpause from the client: stop or resume sending."""
        self._client_paused = paused
        if not paused:
            self._maybe_flush(force=True)

    def stop(self) -> None:
        """Stop for good: drop the queue, cancel timers."""
        self.closed = True
        self.queue.clear()
        if self._interval_call is not None and self._interval_call.active():
            self._interval_call.cancel()
        self._interval_call = None

    # -- sending -----------------------------------------------------------

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

    def write_control(self) -> None:
        """Write the session's pending replies and control messages now."""
        pieces = self._take_control()
        if pieces:
            self._send(pieces)

    def _send(self, pieces: list[bytes]) -> None:
        size = sum(map(len, pieces))
        self.bytes_sent += size
        if self.stats is not None:
            self.stats.bytes_sent += size
        # May call pauseProducing at once when the send buffer fills.
        self._write(pieces)

    def _take_control(self) -> list[bytes]:
        control = list(self._flush_control())
        if control:
            # The session wrote on its own chunk streams, with fmt-0
            # headers: if a publisher's chunk stream is among them, the
            # client's last header there is no longer ours, so every chunk
            # stream restarts with fmt 0.
            if self.on_control is not None:
                self.on_control(self)
            self._last_sent.clear()
        return control

    def flush(self) -> None:
        """Write queued messages now: one batch, or one message with send_min_interval."""
        control = self._take_control()
        limit = 1 if self._send_interval > 0 else BATCH_SIZE
        pieces: list[bytes] = list(control)
        while True:
            for message, timestamp in self.queue.pop_batch(limit):
                if self._check_duration(message, timestamp):
                    break
                pieces.extend(self._encode(message, timestamp))
            if pieces:
                self._send(pieces)
                pieces = []
            if limit == 1 or not self._producing or self.closed or not len(self.queue):
                break
        if self._send_interval > 0 and len(self.queue):
            self._interval_call = self._clock.callLater(self._send_interval, self._after_interval)

    def _after_interval(self) -> None:
        self._interval_call = None
        self._maybe_flush(force=True)

    # -- the shared batch (srstwist.protocols.rtmp_fanout) -----------------

    def drain(self) -> None:
        """Send everything queued now, if the transport takes data."""
        self._maybe_flush(force=True)

    @property
    def can_share(self) -> bool:
        """
        Whether this player may take the shared batch: nothing of its own
        queued, its transport taking data, no per-player pacing.
        """
        return (
            not len(self.queue)
            and self._producing
            and not self._client_paused
            and not self.closed
            and self._interval_call is None
            and self._duration <= 0
            and self._send_interval <= 0
        )

    def offset_from(self, timeline: TimeJitter, chunk_stream_times: dict[int, int]) -> int | None:
        """
        This player's timestamps minus the source's, if it is in step with
        the source (it has had the source's latest message on every chunk
        stream, on a timeline that differs by a constant); else C{None}.
        """
        last_time, last_correct = self._jitter.state()
        source_time, source_correct = timeline.state()
        algorithm = self._jitter.algorithm
        if algorithm == "full":
            if last_correct < 0 or source_correct < 0 or last_time != source_time:
                return None
            offset = last_correct - source_correct
        elif algorithm == "zero":
            if last_correct == -1 or source_correct == -1:
                return None
            offset = source_correct - last_correct
        else:
            offset = 0
        sent = self._last_sent
        for csid, time in chunk_stream_times.items():
            if sent.get(csid) != time + offset:
                return None
        return offset

    def send_shared(self, blob: bytes, count: int) -> None:
        """Write the shared batch of C{count} messages."""
        self.messages_sent += count
        self.shared_sends += count
        self.batches += 1
        transport = self._socket
        if transport is None or not _nothing_buffered(transport):
            self._send([blob])
            return
        # Twisted's write would buffer the batch, register the socket for
        # write readiness and send it on the next reactor turn: for every
        # player and every tick.  With nothing buffered, sending now is the
        # same thing, sooner and for less; what the socket does not take
        # goes through write, after everything sent, so order is kept.
        size = len(blob)
        self.bytes_sent += size
        if self.stats is not None:
            self.stats.bytes_sent += size
        sent = transport.writeSomeData(blob)
        if not isinstance(sent, int):  # the connection is gone
            return
        if sent < size:
            transport.write(blob[sent:])

    def leave_shared(self, timeline_state: tuple[int, int], offset: int) -> None:
        """
        Continue on this player's own queue after sharing batches: its
        timeline is the source's (as of the last shared batch) plus
        C{offset}, and every chunk stream restarts with fmt 0.
        """
        if self._jitter.algorithm == "full":
            last_time, last_correct = timeline_state
            self._jitter.restore(last_time, last_correct + offset)
        self._last_sent.clear()

    def _check_duration(self, message: SharedMessage, timestamp: int) -> bool:
        """Whether the requested play duration is over (then stop)."""
        if self._duration <= 0 or not (message.is_audio or message.is_video):
            return False
        if self._first_av is None:
            self._first_av = timestamp
        if timestamp - self._first_av < self._duration:
            return False
        self.stop()
        if self._on_complete is not None:
            self._on_complete()
        return True

    def _encode(self, message: SharedMessage, timestamp: int) -> tuple[bytes, ...]:
        csid = message.chunk_stream_id or default_csid(message)
        last = self._last_sent.get(csid)
        self._last_sent[csid] = timestamp
        self.messages_sent += 1
        delta = message.stream_delta
        if (
            last is not None
            and delta is not None
            and timestamp - last == delta
            and 0 <= delta < _MAX_DELTA
        ):
            self.shared_sends += 1
            return message.delta_chunks(self.chunk_size, csid, delta)
        self.own_sends += 1
        return message.chunks(self.chunk_size, csid, STREAM_ID, wire_timestamp(timestamp))


def _nothing_buffered(transport: Any) -> bool:
    """
    Whether a Twisted TCP transport has no data waiting to be written (its
    C{dataBuffer} and C{_tempDataBuffer}, guarded in case they change).
    """
    return (
        transport.connected
        and not transport.disconnecting
        and not getattr(transport, "dataBuffer", b"x")
        and not getattr(transport, "_tempDataBuffer", [b"x"])
    )


def default_csid(message: SharedMessage) -> int:
    """srs-librtmp's chunk streams, for messages whose publisher csid is unknown."""
    if message.is_audio:
        return 7
    if message.is_video:
        return 6
    return 4
