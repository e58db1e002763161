# -*- test-case-name: tests.test_stream_socket_send -*-
"""
How player connections send: the kernel send buffer's size, and the direct
write of shared batches to a plain TCP socket.

Direct sends.  Twisted's ``write`` buffers what it is given, registers the
socket for write readiness and sends on the next reactor turn: for every
player on every merged-write tick.  While the transport has nothing
buffered, sending at once is the same thing, sooner and for less; what the
socket does not take goes through ``write``, after everything sent, so
order is kept.  This reads private attributes of Twisted's TCP transport
(``dataBuffer``, ``_tempDataBuffer``), so :class:`DirectSend` is used only
on a real ``twisted.internet.tcp.Connection`` reached through nothing but
transparent wrappers (our listener's connection tracking): under TLS
(``TLSMemoryBIOProtocol``) or any other wrapper the bytes must go through
that wrapper's ``write``, or they would reach the socket unencrypted or
unthrottled.  ``tests/test_stream_socket_send.py`` pins the attributes, so
a Twisted upgrade that renames them fails loudly instead of silently
falling back.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from twisted.internet import abstract, tcp
from twisted.protocols.policies import ProtocolWrapper

__all__ = [
    "bound_send_buffer",
    "PLAYER_TRANSPORT_BUFFER",
    "DirectSend",
    "register_transparent_wrapper",
    "plain_tcp_connection",
]

#: Bytes Twisted may buffer for a player's connection before it pauses the
#: player (Twisted's default is 64 KiB).
PLAYER_TRANSPORT_BUFFER = 16 * 1024

#: Wrapper classes whose ``write`` hands bytes on unchanged (registered by
#: whoever defines them).
_TRANSPARENT: set[type] = set()


def register_transparent_wrapper(cls: type) -> type:
    """
    Declare that ``cls`` (a ``ProtocolWrapper`` subclass) passes writes to
    its transport unchanged, so a direct send may look through it.
    Usable as a class decorator.
    """
    if not issubclass(cls, ProtocolWrapper):
        raise TypeError(f"{cls!r} is not a ProtocolWrapper")
    _TRANSPARENT.add(cls)
    return cls


def plain_tcp_connection(transport: Any) -> tcp.Connection | None:
    """
    The TCP connection under ``transport`` if only transparent wrappers
    stand between them and it speaks plain TCP; else ``None``.
    """
    while type(transport) in _TRANSPARENT:
        transport = transport.transport
    if isinstance(transport, tcp.Connection) and not getattr(transport, "TLS", False):
        return transport
    return None


class DirectSend:
    """Writes blobs straight to one plain TCP socket when nothing is buffered."""

    __slots__ = ("_connection",)

    def __init__(self, connection: tcp.Connection) -> None:
        self._connection = connection

    @classmethod
    def of(cls, transport: Any) -> DirectSend | None:
        """A direct sender for ``transport``, or ``None`` where none is safe."""
        connection = plain_tcp_connection(transport)
        return cls(connection) if connection is not None else None

    def idle(self) -> bool:
        """Whether the transport has no data waiting to be written."""
        connection = self._connection
        return (
            connection.connected
            and not connection.disconnecting
            and not connection.dataBuffer
            and not connection._tempDataBuffer
        )

    def send(self, blob: bytes, write: Callable[[bytes], Any]) -> int:
        """
        Send ``blob``: at once while nothing is buffered, else (and for
        what the socket does not take) through ``write``.

        :return: the bytes handed on, to the socket or to ``write``; 0 when
            the socket failed, in which case the connection is aborted.
        """
        size = len(blob)
        if not self.idle():
            write(blob)
            return size
        connection = self._connection
        sent = connection.writeSomeData(blob)
        if not isinstance(sent, int):
            # The socket is dead (reset, broken pipe): nothing was sent,
            # and what follows would not be either.
            connection.abortConnection()
            return 0
        if sent < size:
            write(blob[sent:])
        return size


def bound_send_buffer(transport: Any, mw_latency: int) -> None:
    """
    Size a player's kernel send buffer as SRS does
    (``SrsRtmpConn::change_mw_sleep`` in ``srs_app_rtmp_conn.cpp``): about
    half of what ``mw_latency`` of a 5 Mbps stream needs.  Left to itself,
    Linux lets a socket whose reader stalled buffer megabytes (seconds of
    stream) before the transport ever pauses, which delays the slow-player
    policy and holds memory outside our bound.
    """
    size = mw_latency * 5000 // 8 // 2
    while isinstance(transport, ProtocolWrapper):
        transport = transport.transport
    if isinstance(transport, abstract.FileDescriptor):
        # Twisted buffers up to bufferSize (64 KiB) plus the write that
        # passed it before pausing the producer: per player, outside every
        # queue bound.  A player's backlog belongs in its own queue, which
        # is bounded and shrinks; so pause early.
        transport.bufferSize = PLAYER_TRANSPORT_BUFFER
    get_handle = getattr(transport, "getHandle", None)
    if size <= 0 or get_handle is None:
        return
    try:
        get_handle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except (OSError, AttributeError):
        pass
