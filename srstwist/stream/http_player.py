# -*- test-case-name: tests.test_web_live -*-
"""
An HTTP live player: one HTTP-FLV, HTTP-MP3 or HTTP-AAC response fed by a
source, as a consumer like any RTMP player (SRS 2.0's ``SrsLiveStream`` in
``srs_app_http_stream.cpp``).

It has the same bounded queue, jitter correction, merged writes and
back-pressure (:class:`QueuedPlayer`), so a slow HTTP client costs at most
``queue_length`` seconds of media and never slows anyone else; an HTTP-FLV
player in step with its source takes the shared batch of
:mod:`srstwist.stream.flv_batch` instead, as RTMP players do.  Its
request's producer is the player itself: while the connection's send
buffer is full nothing is written.

The response ends when the publisher stops (SRS disables the mount at
unpublish): what is queued is sent, then the request is finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from srstwist.config.model import VhostConfig
from srstwist.interfaces import IBatchMember, Replay
from srstwist.media.remux import LiveEncoder
from srstwist.stream.queued_player import BATCH_SIZE, QueuedPlayer

__all__ = ["HttpLivePlayer"]


@implementer(IBatchMember, IPushProducer)
class HttpLivePlayer(QueuedPlayer):
    """
    Delivers one source to one HTTP response body.

    :param write: writes body bytes (the request's ``write``: one HTTP chunk
        per call).
    :param on_end: called once when the stream is over for this player
        (the publisher stopped and everything queued went out); it finishes
        the response.
    """

    def __init__(
        self,
        cid: int,
        vhost: VhostConfig,
        encoder: LiveEncoder,
        write: Callable[[bytes], Any],
        clock: Any,
        on_end: Callable[[], Any],
        raw_write: Callable[[bytes], Any] | None = None,
        socket_transport: Any = None,
    ) -> None:
        """
        :param raw_write: writes bytes to the connection as they are, for
            shared batches, which come framed already (see :attr:`chunked`).
        :param socket_transport: the TCP transport, for direct sends.
        """
        super().__init__(cid, vhost, clock, socket_transport)
        self.encoder = encoder
        #: FLV and TS start on a keyframe; audio formats need none.
        self.replay = Replay.GOP if encoder.wants_gop else Replay.HEADERS
        #: HTTP-FLV players share FLV tags
        #: (:class:`srstwist.stream.flv_batch.FlvBatch`) when they can write
        #: framed bytes as they are.
        self.sharing_key = ("flv",) if raw_write is not None else None
        self._write = write
        self._raw_write = raw_write
        self._on_end = on_end
        self._ending = False
        #: Whether the response body is chunked (HTTP/1.1), known once the
        #: headers went out; shared batches are framed to match.
        self.chunked = True
        #: Shared batches written, and the messages in them.
        self.batches = 0
        self.shared_sends = 0

    def publisher_changed(self, publishing: bool) -> None:
        if publishing:
            return
        self._ending = True
        self._maybe_flush(force=True)
        self._end_if_drained()

    def flush(self) -> None:
        encode = self.encoder.encode
        queue = self.queue
        while True:
            pieces = []
            for message, timestamp in queue.pop_batch(BATCH_SIZE):
                data = encode(message, timestamp)
                if data:
                    pieces.append(data)
            self.messages_sent += len(pieces)
            if pieces:
                blob = b"".join(pieces)
                self._count_sent(len(blob))
                # May call pauseProducing at once when the send buffer fills.
                self._write(blob)
            if not self._producing or self.closed or not len(queue):
                break
        self._end_if_drained()

    # -- the shared batch (srstwist.stream.flv_batch) -------------------------

    @property
    def can_share(self) -> bool:
        return self._raw_write is not None and not self._ending and super().can_share

    def send_shared(self, blob: bytes, count: int) -> None:
        """Write a shared batch of ``count`` messages, framed already."""
        assert self._raw_write is not None
        self.messages_sent += count
        self.shared_sends += count
        self.batches += 1
        self._send_now(blob, self._raw_write)

    def leave_shared(self, timeline_state: tuple[int, int], offset: int) -> None:
        self.rejoin_timeline(timeline_state, offset)

    def _end_if_drained(self) -> None:
        if self._ending and not self.closed and not len(self.queue):
            self.stop()
            self._on_end()
