# -*- test-case-name: tests.test_protocols_rtmp -*-
"""
Socket options every player connection gets, RTMP or HTTP.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["bound_send_buffer"]


def bound_send_buffer(connection: Any, mw_latency: int) -> None:
    """
    Size a player's kernel send buffer as SRS does (rtmp.md 7.7): about
    half of what ``mw_latency`` of a 5 Mbps stream needs.  Left to itself,
    Linux lets a socket whose reader stalled buffer megabytes (seconds of
    stream) before the transport ever pauses, which delays the slow-player
    policy and holds memory outside our bound.
    """
    size = mw_latency * 5000 // 8 // 2
    get_handle = getattr(connection, "getHandle", None)
    if size <= 0 or get_handle is None:
        return
    try:
        get_handle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except (OSError, AttributeError):
        pass
