# -*- test-case-name: tests.test_web_live -*-
"""
An HTTP live player: one HTTP-FLV, HTTP-MP3 or HTTP-AAC response fed by a
source, as a consumer like any RTMP player (reference ``media.md`` §7).

It has the same bounded queue, jitter correction, merged writes and
back-pressure (L{QueuedPlayer}), so a slow HTTP client costs at most
``queue_length`` seconds of media and never slows anyone else.  Its
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
from srstwist.interfaces import IStreamConsumer
from srstwist.media.remux import LiveEncoder
from srstwist.protocols.queued_player import BATCH_SIZE, QueuedPlayer

__all__ = ["HttpLivePlayer"]


@implementer(IStreamConsumer, IPushProducer)
class HttpLivePlayer(QueuedPlayer):
    """
    Delivers one source to one HTTP response body.

    @param write: writes body bytes (the request's C{write}: one HTTP chunk
        per call).
    @param on_end: called once when the stream is over for this player
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
    ) -> None:
        super().__init__(cid, vhost, clock)
        self.encoder = encoder
        self._write = write
        self._on_end = on_end
        self._ending = False

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

    def _end_if_drained(self) -> None:
        if self._ending and not self.closed and not len(self.queue):
            self.stop()
            self._on_end()
