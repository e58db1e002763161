# -*- test-case-name: tests.test_protocols_rtmp_fanout -*-
"""
The shared batch of a source's RTMP players (:class:`SharedBatch`).

An RTMP player is in step when its timestamps are the source's plus a
constant on every chunk stream it has been sent (:meth:`RtmpPlayer.offset_from`):
from then on its messages can go out with fmt-1 headers carrying the
source's deltas (:meth:`SharedMessage.delta_chunks`), the same bytes for every
in-step player whatever its offset.  A batch cannot be shared when a
message has no shareable delta (the first on a chunk stream, a timestamp
going back, metadata under ``time_jitter full``); its players then take it
on their own queues.
"""

from __future__ import annotations

from typing import Any

from srstwist.media.message import SharedMessage
from srstwist.media.source import Source
from srstwist.stream.batch import SharedBatch
from srstwist.stream.rtmp_player import RtmpPlayer, default_csid

__all__ = ["RtmpBatch", "MAX_SHARED_DELTA"]

#: fmt-1 headers carry a 24-bit delta.
MAX_SHARED_DELTA = 0xFFFFFF


class RtmpBatch(SharedBatch):
    """The RTMP players of one source with one outgoing chunk size."""

    def __init__(self, source: Source, clock: Any, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        super().__init__(source, clock)

    def add(self, player: RtmpPlayer) -> None:
        # Control messages the session writes on its own chunk streams
        # take the player out of the batch.
        player.on_control = self.leave
        super().add(player)

    def _offset_of(self, player: RtmpPlayer) -> int | None:
        return player.offset_from(self.source.timeline, self.source.chunk_stream_times)

    def _send_batch(self, batch: list[SharedMessage]) -> None:
        blob = self._shared_bytes(batch)
        for player in list(self.in_step):
            if blob is not None and player.can_share:
                player.send_shared(blob, len(batch))
            else:
                self._leave_with(player, batch)

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
