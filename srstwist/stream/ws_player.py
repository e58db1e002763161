# -*- test-case-name: tests.test_web_ws_flv -*-
"""
A WebSocket-FLV player (issue 22): an HTTP-FLV player whose bytes travel
in WebSocket binary messages.

Its own queue's writes go through Twisted's WebSocket transport, one
message per flush.  It also takes the HTTP-FLV players' shared batch
(:mod:`srstwist.stream.flv_batch`): a server's frames are not masked
(RFC 6455 section 5.3), so the same FLV blob is the same message for every
player and needs only its frame header (:func:`binary_frame_header`, two to
ten bytes) in front; the blob is encoded once per tick for every player of
the stream, HTTP and WebSocket alike, instead of once per player.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from srstwist.config.model import VhostConfig
from srstwist.media.remux import LiveEncoder
from srstwist.stream.http_player import HttpLivePlayer

__all__ = ["WsFlvPlayer", "binary_frame_header"]


def binary_frame_header(size: int) -> bytes:
    """
    The header of one unfragmented, unmasked binary frame of ``size``
    bytes (RFC 6455 section 5.2: FIN, opcode 2, the 7, 7+16 or 7+64-bit
    payload length).
    """
    if size < 126:
        return bytes((0x82, size))
    if size < 0x10000:
        return struct.pack("!BBH", 0x82, 126, size)
    return struct.pack("!BBQ", 0x82, 127, size)


class WsFlvPlayer(HttpLivePlayer):
    """
    Delivers one source to one WebSocket connection.

    :param send_message: sends one binary message (the WebSocket
        transport's ``sendBytesMessage``), for this player's own queue.
    :param raw_write: writes bytes to the TCP connection as they are; shared
        batches go there with their frame header.
    :param is_open: whether data frames may still be sent (not once a close
        frame went either way).
    """

    def __init__(
        self,
        cid: int,
        vhost: VhostConfig,
        encoder: LiveEncoder,
        send_message: Callable[[bytes], Any],
        clock: Any,
        on_end: Callable[[], Any],
        raw_write: Callable[[bytes], Any],
        is_open: Callable[[], bool],
        socket_transport: Any = None,
    ) -> None:
        super().__init__(
            cid,
            vhost,
            encoder,
            send_message,
            clock,
            on_end,
            raw_write=raw_write,
            socket_transport=socket_transport,
        )
        self._is_open = is_open
        #: Shared blobs are plain FLV (no HTTP chunk framing).
        self.chunked = False

    @property
    def can_share(self) -> bool:
        return self._is_open() and super().can_share

    def send_shared(self, blob: bytes, count: int) -> None:
        """Write a shared batch of ``count`` messages as one binary message."""
        super().send_shared(binary_frame_header(len(blob)) + blob, count)
