# -*- test-case-name: tests.test_protocols_rtmp_player -*-
"""
An RTMP player: the consumer that delivers a source to one connection.

The fan-out hot path.  Queueing, jitter correction, merged writes and
back-pressure are :class:`QueuedPlayer`'s (after SRS's ``SrsConsumer`` and
``SrsRtmpConn::do_playing``); this module turns a batch of queued messages
into RTMP chunks.

Encoding once: a message's bytes come from the shared caches of
:class:`SharedMessage`.  The first message a player sends on a chunk stream, and
the first after a queue shrink, carries a fmt-0 header with this player's
own timestamp.  After that, when this player's delta on the chunk stream
equals the source's (``stream_delta``), which is the normal case, the player
sends the fmt-1 encoding every other player shares.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from srstwist.config.model import VhostConfig
from srstwist.interfaces import IBatchMember, Replay
from srstwist.media.jitter import TimeJitter, wire_timestamp
from srstwist.media.message import SharedMessage
from srstwist.stream.queued_player import BATCH_SIZE, QueuedPlayer

__all__ = ["RtmpPlayer", "BATCH_SIZE", "STREAM_ID", "default_csid"]

#: The message stream id of every player's stream (SRS: always 1).
STREAM_ID = 1
#: fmt-1 headers carry a 24-bit delta; larger ones need a fmt-0 header.
_MAX_DELTA = 0xFFFFFF


@implementer(IBatchMember, IPushProducer)
class RtmpPlayer(QueuedPlayer):
    """
    Delivers one source to one RTMP connection.

    It starts on a keyframe: metadata, sequence headers, the GOP cache.

    :param write: the connection's ``writeSequence``.
    :param flush_control: returns and clears the session's pending control
        bytes (pause replies, pings), written before media so that the
        client sees them in order.
    :param chunk_size: the connection's outgoing chunk size.
    """

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
        :param duration_ms: the play command's duration; above 0, the player
            stops after that much stream time and calls ``on_complete``
            (SRS #45; rtmpdump's ``--stop``).
        :param socket_transport: the connection's TCP transport, if it has
            ``writeSomeData``: shared batches are then sent straight to the
            socket while the transport has nothing buffered (see
            :meth:`send_shared`).
        """
        super().__init__(cid, vhost, clock, socket_transport)
        #: Players with one chunk size share fmt-1 encodings
        #: (:class:`srstwist.stream.rtmp_batch.RtmpBatch`).
        self.sharing_key = ("rtmp", chunk_size)
        self._duration = duration_ms
        self._on_complete = on_complete
        self._first_av: int | None = None
        self._write = write
        self._flush_control = flush_control
        self.chunk_size = chunk_size
        self._send_interval = vhost.send_min_interval / 1000.0
        # The timestamp this player last sent on each chunk stream.
        self._last_sent: dict[int, int] = {}
        #: Called when the session wrote on this connection's chunk streams
        #: (the shared batch must then let this player go).
        self.on_control: Any = None
        self.shared_sends = 0
        self.own_sends = 0
        #: Shared batches written (one write each, however many messages).
        self.batches = 0

    replay = Replay.GOP

    def _queue_shrunk(self) -> None:
        # Messages were dropped: every chunk stream restarts with fmt 0.
        self._last_sent.clear()

    # -- control -----------------------------------------------------------

    def set_client_paused(self, paused: bool) -> None:
        """RTMP pause/unpause from the client: stop or resume sending."""
        self._client_paused = paused
        if not paused:
            self._maybe_flush(force=True)

    # -- sending -----------------------------------------------------------

    def write_control(self) -> None:
        """Write the session's pending replies and control messages now."""
        pieces = self._take_control()
        if pieces:
            self._send(pieces)

    def _send(self, pieces: list[bytes]) -> None:
        self._count_sent(sum(map(len, pieces)))
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

    # -- the shared batch (srstwist.stream.rtmp_batch) -----------------

    @property
    def can_share(self) -> bool:
        """
        Whether this player may take the shared batch: as any player, and
        not pacing its own sends (a play duration, ``send_min_interval``).
        """
        return super().can_share and self._duration <= 0 and self._send_interval <= 0

    def offset_from(self, timeline: TimeJitter, chunk_stream_times: dict[int, int]) -> int | None:
        """
        This player's timestamps minus the source's, if it is in step with
        the source (it has had the source's latest message on every chunk
        stream, on a timeline that differs by a constant); else ``None``.
        """
        offset = self.timeline_offset(timeline)
        if offset is None:
            return None
        sent = self._last_sent
        for csid, time in chunk_stream_times.items():
            if sent.get(csid) != time + offset:
                return None
        return offset

    def send_shared(self, blob: bytes, count: int) -> None:
        """Write the shared batch of ``count`` messages."""
        self.messages_sent += count
        self.shared_sends += count
        self.batches += 1
        self._send_now(blob, lambda data: self._write([data]))

    def leave_shared(self, timeline_state: tuple[int, int], offset: int) -> None:
        """
        Continue on this player's own queue after sharing batches (see
        :meth:`rejoin_timeline`); every chunk stream restarts with fmt 0.
        """
        self.rejoin_timeline(timeline_state, offset)
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


def default_csid(message: SharedMessage) -> int:
    """srs-librtmp's chunk streams, for messages whose publisher csid is unknown."""
    if message.is_audio:
        return 7
    if message.is_video:
        return 6
    return 4
