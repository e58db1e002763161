"""
Tests for :mod:`srstwist.media.jitter`: SRS's per-consumer time jitter
correction (``SrsRtmpJitter``).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import MessageType
from srstwist.media.jitter import TimeJitter, wire_timestamp
from srstwist.media.message import SharedMessage

A, V, D = MessageType.AUDIO, MessageType.VIDEO, MessageType.AMF0_DATA

_PAYLOADS: dict[int, bytes] = {A: b"\xaf\x01aac", V: b"\x27\x01avc", D: b"\x02\x00\x0aonMetaData"}

_timestamps = st.integers(min_value=0, max_value=0x7FFFFFFF)
_near = st.integers(min_value=-400, max_value=400)


def message(type_id: int, timestamp: int) -> SharedMessage:
    """
    A message of type ``type_id`` with a plausible payload.
    """
    return SharedMessage(timestamp, type_id, _PAYLOADS[type_id])


def run(algorithm: str, stream: Sequence[tuple[int, int]]) -> list[int]:
    """
    Correct ``stream``, a list of ``(type, timestamp)``, with one new jitter.
    """
    jitter = TimeJitter(algorithm)
    return [jitter.correct(message(t, ts)) for t, ts in stream]


def video(*timestamps: int) -> list[tuple[int, int]]:
    """
    A video-only stream with these timestamps.
    """
    return [(V, ts) for ts in timestamps]


def walks(start: st.SearchStrategy[int]) -> st.SearchStrategy[list[tuple[int, int]]]:
    """
    A/V/data streams that start at ``start`` and move by small or large steps,
    staying within 31 bits like decoded timestamps.
    """

    def build(first: int, steps: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out, ts = [], first
        for type_id, step in steps:
            ts = min(max(0, ts + step), 0x7FFFFFFF)
            out.append((type_id, ts))
        return out

    steps = st.lists(
        st.tuples(
            st.sampled_from([A, V, D]),
            st.one_of(_near, st.integers(-(2**31), 2**31)),
        ),
        max_size=60,
    )
    return st.builds(build, start, steps)


class FullTests(SynchronousTestCase):
    """
    ``full``: small deltas kept, large jumps become 10 ms, never below 0.
    """

    TABLE: list[tuple[str, Sequence[tuple[int, int]], list[int]]] = [
        ("starts at 0", video(0, 40, 80), [0, 40, 80]),
        ("starts near 0 keeps the delta from 0 minus 1", video(100, 140), [99, 139]),
        ("starts far from 0 at 9", video(100_000, 100_040), [9, 49]),
        ("gap forward becomes 10", video(0, 40, 1000, 1040), [0, 40, 50, 90]),
        ("gap backward becomes 10", video(1000, 1040, 0, 40), [9, 49, 59, 99]),
        ("negative delta within 250 kept", video(0, 100, 50, 90), [0, 100, 50, 90]),
        ("clamped at 0", video(1000, 800, 840), [9, 0, 40]),
        ("+250 is kept", video(0, 250), [0, 250]),
        ("+251 is a jump", video(0, 251), [0, 10]),
        ("-250 is kept", video(0, 250, 0), [0, 250, 0]),
        ("-251 is a jump", video(0, 251, 0), [0, 10, 20]),
        ("republish restart is a 10 ms step", video(0, 5000, 5040, 0, 40), [0, 10, 50, 60, 100]),
        ("31-bit wrap is a 10 ms step", video(0x7FFFFFF0, 0x10), [9, 19]),
        (
            "audio and video share the state",
            [(V, 0), (A, 23), (V, 40), (A, 46)],
            [0, 23, 40, 46],
        ),
        (
            "metadata gets 0 and leaves the state alone",
            [(V, 1000), (D, 5000), (V, 1040)],
            [9, 0, 49],
        ),
        ("metadata first gets 0 too", [(D, 7000), (V, 0)], [0, 0]),
    ]

    def test_table(self) -> None:
        """
        Each sequence in the table is corrected as SRS's ``full`` does.
        """
        for name, stream, expected in self.TABLE:
            self.assertEqual(run("full", stream), expected, name)

    def test_reset(self) -> None:
        """
        After :meth:`TimeJitter.reset` the next message is corrected as a first
        one.
        """
        jitter = TimeJitter("full")
        for ts in (0, 40, 80):
            jitter.correct(message(V, ts))
        jitter.reset()
        self.assertEqual(jitter.time, -1)
        self.assertEqual(jitter.correct(message(V, 100_000)), 9)

    def test_time(self) -> None:
        """
        :attr:`TimeJitter.time` is the last corrected A/V timestamp.
        """
        jitter = TimeJitter("full")
        self.assertEqual(jitter.time, -1)
        jitter.correct(message(V, 40))
        jitter.correct(message(D, 90))
        self.assertEqual(jitter.time, 39)

    @given(walks(_timestamps))
    def test_never_negative(self, stream: list[tuple[int, int]]) -> None:
        """
        ``full`` output is never negative.
        """
        for corrected in run("full", stream):
            self.assertGreaterEqual(corrected, 0)

    @given(walks(_timestamps))
    def test_deltas(self, stream: list[tuple[int, int]]) -> None:
        """
        Between consecutive A/V messages a delta within 250 ms is kept
        (clamped at 0) and any other becomes 10 ms; data messages get 0.
        """
        out = run("full", stream)
        last_in, last_out = 0, -1
        for (type_id, ts), corrected in zip(stream, out, strict=True):
            if type_id == D:
                self.assertEqual(corrected, 0)
                continue
            delta = ts - last_in
            if abs(delta) <= 250:
                self.assertEqual(corrected, max(0, last_out + delta))
            else:
                self.assertEqual(corrected, last_out + 10)
            last_in, last_out = ts, corrected

    @given(st.lists(st.integers(0, 1000), max_size=60), _timestamps)
    def test_monotonic_in_monotonic_out(self, steps: list[int], start: int) -> None:
        """
        Non-decreasing input timestamps give non-decreasing output.
        """
        stream, ts = [], start
        for step in steps:
            ts += step
            stream.append((V, ts))
        out = run("full", stream)
        self.assertEqual(out, sorted(out))


class ZeroTests(SynchronousTestCase):
    """
    ``zero``: the first message's timestamp is subtracted from all.
    """

    TABLE: list[tuple[str, Sequence[tuple[int, int]], list[int]]] = [
        ("starts at 0", video(0, 40), [0, 40]),
        ("starts far from 0", video(100_000, 100_040, 200_000), [0, 40, 100_000]),
        ("older than the first goes negative", [(V, 1000), (A, 990)], [0, -10]),
        ("first metadata sets the base", [(D, 500), (V, 540), (D, 600)], [0, 40, 100]),
        ("no monotonicity", video(1000, 5000, 1040), [0, 4000, 40]),
    ]

    def test_table(self) -> None:
        """
        Each sequence in the table is corrected as SRS's ``zero`` does.
        """
        for name, stream, expected in self.TABLE:
            self.assertEqual(run("zero", stream), expected, name)

    def test_reset(self) -> None:
        """
        After :meth:`TimeJitter.reset` the next message sets a new base.
        """
        jitter = TimeJitter("zero")
        jitter.correct(message(V, 1000))
        jitter.reset()
        self.assertEqual(jitter.correct(message(V, 3000)), 0)
        self.assertEqual(jitter.correct(message(V, 3040)), 40)

    @given(walks(_timestamps))
    def test_subtracts_first(self, stream: list[tuple[int, int]]) -> None:
        """
        Every output is the input minus the first message's timestamp.
        """
        out = run("zero", stream)
        self.assertEqual(out, [ts - stream[0][1] for _, ts in stream])


class OffTests(SynchronousTestCase):
    """
    ``off``: timestamps pass unchanged.
    """

    @given(walks(_timestamps))
    def test_unchanged(self, stream: list[tuple[int, int]]) -> None:
        """
        Every output equals its input, metadata included.
        """
        self.assertEqual(run("off", stream), [ts for _, ts in stream])


class MiscTests(SynchronousTestCase):
    """
    Construction and the wire conversion.
    """

    def test_unknown_algorithm(self) -> None:
        """
        An algorithm other than full, zero or off is refused.
        """
        self.assertRaises(ValueError, TimeJitter, "fast")

    def test_algorithm(self) -> None:
        """
        :attr:`TimeJitter.algorithm` is the constructor argument.
        """
        self.assertEqual(TimeJitter("zero").algorithm, "zero")

    def test_wire_timestamp(self) -> None:
        """
        :func:`wire_timestamp` truncates to 32 bits as SRS's unsigned cast does.
        """
        self.assertEqual(wire_timestamp(0), 0)
        self.assertEqual(wire_timestamp(-10), 0xFFFFFFF6)
        self.assertEqual(wire_timestamp(0xFFFFFFFF), 0xFFFFFFFF)
        self.assertEqual(wire_timestamp(2**32 + 5), 5)

    def test_negative_zero_output_encodes(self) -> None:
        """
        A negative ``zero`` timestamp, through :func:`wire_timestamp`, is accepted
        by :meth:`SharedMessage.chunks`.
        """
        jitter = TimeJitter("zero")
        jitter.correct(message(V, 1000))
        audio = message(A, 990)
        corrected = jitter.correct(audio)
        pieces = audio.chunks(128, 4, 1, timestamp=wire_timestamp(corrected))
        self.assertEqual(pieces[0][1:4], b"\xff\xff\xff")
