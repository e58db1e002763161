# -*- test-case-name: tests.test_codec_buffer -*-
"""
A bounded receive buffer with commit/rollback, for sans-IO decoders.

A decoder appends whatever the transport delivered, then tries to take one
complete unit (a chunk header, say) with :meth:`ReceiveBuffer.consume_exactly`.
If the unit is incomplete it calls :meth:`ReceiveBuffer.rollback` and waits for
more data; if it is complete it calls :meth:`ReceiveBuffer.commit`.  This is the
shape of wsproto's frame buffer.

Two properties matter for a server that reads from untrusted peers:

* Work is linear in the bytes received.  Consuming only moves an offset; the
  consumed prefix is dropped on commit when nothing is left, or when it is both
  large and at least half the buffer, so each byte is moved a bounded number of
  times.
* Memory is bounded.  :meth:`ReceiveBuffer.append` refuses to hold more than
  ``max_size`` unconsumed bytes and raises the caller's exception class, so a
  codec reports overflow with its own error (``ChunkError``, ...).
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]

# Below this many consumed bytes a commit never compacts: moving a short tail
# costs more than it saves.
_COMPACT_THRESHOLD = 4096


class ReceiveBuffer:
    """
    Bytes received but not yet committed as parsed.

    Two offsets are kept: the committed start (everything before it is parsed
    for good) and the read position (everything before it has been handed out
    since the last commit or rollback).
    """

    __slots__ = ("_data", "_error", "_max_size", "_pos", "_start")

    def __init__(self, max_size: int, error: type[Exception]) -> None:
        """
        :param max_size: the most unconsumed bytes the buffer may hold.
        :param error: the exception class :meth:`append` raises, with a
            message, when ``max_size`` would be exceeded.
        """
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self._data = bytearray()
        self._start = 0
        self._pos = 0
        self._max_size = max_size
        self._error = error

    @property
    def max_size(self) -> int:
        """
        The most bytes the buffer holds after any successful :meth:`append`.
        """
        return self._max_size

    def __len__(self) -> int:
        """
        :return: the number of bytes available to read from the read position.
        """
        return len(self._data) - self._pos

    def held(self) -> int:
        """
        :return: the number of uncommitted bytes held (what counts against
            ``max_size``).
        """
        return len(self._data) - self._start

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """
        Add received bytes at the end.

        :raises Exception: the class given to the constructor, if the
            uncommitted bytes would exceed ``max_size``; nothing is added then.
        """
        if self.held() + len(data) > self._max_size:
            raise self._error(
                f"receive buffer overflow: {self.held() + len(data)} bytes "
                f"exceeds the limit of {self._max_size}"
            )
        self._data += data

    def consume_exactly(self, n: int) -> bytearray | None:
        """
        Take exactly ``n`` bytes from the read position.

        :return: a copy of the bytes, or ``None`` (and nothing taken) when
            fewer than ``n`` are available.
        """
        end = self._pos + n
        if end > len(self._data):
            return None
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def consume_at_most(self, n: int) -> bytearray:
        """
        Take up to ``n`` bytes from the read position.

        :return: a copy of the bytes taken; empty when nothing is available.
        """
        end = min(self._pos + n, len(self._data))
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def commit(self) -> None:
        """
        Mark everything read so far as parsed for good.
        """
        self._start = self._pos
        size = len(self._data)
        if self._start == size:
            self._data.clear()
            self._start = self._pos = 0
        elif self._start >= _COMPACT_THRESHOLD and 2 * self._start >= size:
            del self._data[: self._start]
            self._start = self._pos = 0

    def rollback(self) -> None:
        """
        Give back everything read since the last commit.
        """
        self._pos = self._start
