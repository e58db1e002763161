"""
Tests for :mod:`srstwist.codec.buffer`.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.buffer import ReceiveBuffer


class _Overflow(Exception):
    """
    The error class handed to the buffers under test.
    """


class ReceiveBufferTests(SynchronousTestCase):
    """
    Tests for :class:`ReceiveBuffer`.
    """

    def test_consumeExactly(self) -> None:
        """
        ``consume_exactly`` returns the next ``n`` bytes and advances.
        """
        buf = ReceiveBuffer(100, _Overflow)
        buf.append(b"abcdef")
        self.assertEqual(buf.consume_exactly(2), b"ab")
        self.assertEqual(buf.consume_exactly(3), b"cde")
        self.assertEqual(len(buf), 1)

    def test_consumeExactlyShort(self) -> None:
        """
        ``consume_exactly`` returns ``None`` and takes nothing when too few
        bytes are available.
        """
        buf = ReceiveBuffer(100, _Overflow)
        buf.append(b"abc")
        self.assertIsNone(buf.consume_exactly(4))
        self.assertEqual(buf.consume_exactly(3), b"abc")

    def test_consumeAtMost(self) -> None:
        """
        ``consume_at_most`` returns what is available up to ``n``, and an
        empty result when nothing is.
        """
        buf = ReceiveBuffer(100, _Overflow)
        buf.append(b"abc")
        self.assertEqual(buf.consume_at_most(2), b"ab")
        self.assertEqual(buf.consume_at_most(5), b"c")
        self.assertEqual(buf.consume_at_most(5), b"")

    def test_rollback(self) -> None:
        """
        ``rollback`` gives back everything read since the last commit.
        """
        buf = ReceiveBuffer(100, _Overflow)
        buf.append(b"abcdef")
        buf.consume_exactly(2)
        buf.commit()
        buf.consume_exactly(3)
        buf.rollback()
        self.assertEqual(buf.consume_exactly(4), b"cdef")

    def test_commitDropsConsumed(self) -> None:
        """
        Committed bytes no longer count against the limit.
        """
        buf = ReceiveBuffer(4, _Overflow)
        buf.append(b"abcd")
        buf.consume_exactly(3)
        buf.commit()
        self.assertEqual(buf.held(), 1)
        buf.append(b"efg")
        self.assertEqual(buf.consume_exactly(4), b"defg")

    def test_overflowRaisesCallerError(self) -> None:
        """
        ``append`` raises the caller's error class, and adds nothing, when
        the uncommitted bytes would exceed the limit.
        """
        buf = ReceiveBuffer(4, _Overflow)
        buf.append(b"abc")
        self.assertRaises(_Overflow, buf.append, b"de")
        self.assertEqual(buf.held(), 3)

    def test_uncommittedCountsAgainstLimit(self) -> None:
        """
        Bytes read but not committed still count against the limit.
        """
        buf = ReceiveBuffer(4, _Overflow)
        buf.append(b"abcd")
        buf.consume_exactly(4)
        self.assertRaises(_Overflow, buf.append, b"e")

    def test_badMaxSize(self) -> None:
        """
        A limit below one byte is refused.
        """
        self.assertRaises(ValueError, ReceiveBuffer, 0, _Overflow)

    def test_compactionBoundsStorage(self) -> None:
        """
        Appending and committing a long stream keeps the storage bounded by
        the limit, not by the total bytes seen.
        """
        buf = ReceiveBuffer(10_000, _Overflow)
        for _ in range(1_000):
            buf.append(b"x" * 997)
            buf.consume_exactly(990)
            buf.commit()
        self.assertLess(len(buf._data), 2 * 10_000 + 4096)
        self.assertEqual(buf.held(), 1_000 * 7)

    @given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=30))
    def test_splitsReadTheSameBytes(self, data: bytes, sizes: list[int]) -> None:
        """
        However the input is appended, reading it in ``consume_exactly``
        steps with commits yields the original bytes in order.
        """
        buf = ReceiveBuffer(1000, _Overflow)
        out = bytearray()
        offset = 0
        for size in sizes + [len(data)]:
            buf.append(data[offset : offset + size])
            offset += size
            while True:
                piece = buf.consume_exactly(3)
                if piece is None:
                    buf.rollback()
                    break
                out += piece
                buf.commit()
        out += buf.consume_at_most(3)
        self.assertEqual(bytes(out), data[: len(out)])
        self.assertEqual(len(out), len(data))
