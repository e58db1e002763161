# -*- test-case-name: tests.test_web_flv_fanout -*-
"""
The shared batch of a source's HTTP-FLV players (:class:`SharedBatch`).

An FLV tag carries an absolute timestamp, so unlike RTMP's fmt-1 deltas
the bytes depend on the player's timeline.  But a player in step with the
source sends every message at the source's corrected timestamp plus its
own constant offset (:meth:`QueuedPlayer.timeline_offset`), and players that
joined at the same point of the stream (the same GOP-cache start, with
``time_jitter full``) have the same offset.  So each tick makes one blob
per offset in use, framed once as an HTTP chunk, and writes it to every
in-step player with that offset: the work per tick is one encoding per
offset group and one write per player, not one per message and player.

A batch that cannot be encoded for an offset (a timestamp that would go
below zero) sends that group's players back to their own queues.
"""

from __future__ import annotations

from typing import Any

from srstwist.codec.flv import FlvError
from srstwist.media.message import SharedMessage
from srstwist.stream.batch import SharedBatch

__all__ = ["FlvBatch"]


class FlvBatch(SharedBatch):
    """The HTTP-FLV players of one source."""

    def _offset_of(self, player: Any) -> int | None:
        return player.timeline_offset(self.source.timeline)

    def _send_batch(self, batch: list[SharedMessage]) -> None:
        blobs: dict[tuple[int, bool], bytes | None] = {}
        for player, offset in list(self.in_step.items()):
            if not player.can_share:
                self._leave_with(player, batch)
                continue
            key = (offset, player.chunked)
            if key not in blobs:
                blobs[key] = _blob(batch, offset, player.chunked)
            blob = blobs[key]
            if blob is None:
                self._leave_with(player, batch)
            else:
                player.send_shared(blob, len(batch))


def _blob(batch: list[SharedMessage], offset: int, chunked: bool) -> bytes | None:
    """
    The batch as FLV tags for a player ``offset`` ms from the source, as one
    HTTP chunk when the response is chunked; ``None`` if it cannot be.
    """
    tags = []
    for message in batch:
        if not message.is_av:
            tags.append(message.flv_tag(0))  # script tags at 0, as SRS
            continue
        stream_time = message.stream_time
        if stream_time is None or stream_time + offset < 0:
            return None
        try:
            tags.append(message.flv_tag(stream_time + offset))
        except FlvError:
            return None
    body = b"".join(tags)
    if not chunked:
        return body
    return b"%x\r\n%b\r\n" % (len(body), body)
