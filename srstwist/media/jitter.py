# -*- test-case-name: tests.test_media_jitter -*-
"""
Per-consumer timestamp correction (SRS's time jitter, ``SrsRtmpJitter`` in ``srs_app_source.cpp``).

Every player has its own :class:`TimeJitter`; the source asks it for the
timestamp to queue each message with, unless ATC is on.  The
algorithms are those of the vhost's ``time_jitter`` directive:

* ``full`` (default, SRS #425): metadata and other non-A/V messages get 0;
  A/V timestamps keep their deltas when those are within +/-250 ms, any
  larger jump (forwards or backwards) becomes a 10 ms step, and the result
  never goes below 0.  The state starts at "last original 0, last corrected
  -1", so a stream that starts at 0 starts at 0 and one that starts far from
  0 starts at 9.
* ``zero``: the first message's timestamp, whatever its type, is subtracted
  from every message; nothing else is enforced.
* ``off``: timestamps pass unchanged.

Arithmetic and wraparound: SRS computes with 64-bit signed integers and
only truncates to 32 bits when it writes a chunk header; Python integers do
the same here, so :meth:`TimeJitter.correct` may return values outside the wire
range:

* ``zero`` returns a negative number for a message older than the first one
  (audio a few ms behind the first video, say);
* ``full`` only ever adds at most 250 per message, so it stays non-negative
  and passes 2**32 - 1 only after about 49.7 days of stream time;
* a publisher whose own timestamps wrap (the chunk decoder keeps 31 bits,
  SRS #111) jumps backwards by more than 250 ms: ``full`` turns that into a
  10 ms step, ``zero`` and ``off`` pass the jump through.

Queues compare and subtract these unbounded values, as SRS does; whoever
writes the chunk header turns them into the 32-bit field with
:func:`wire_timestamp`, which is SRS's ``u_int32_t`` cast.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from srstwist.media.message import SharedMessage

__all__ = [
    "ALGORITHMS",
    "DEFAULT_FRAME_TIME_MS",
    "MAX_JITTER_MS",
    "TimeJitter",
    "wire_timestamp",
]

#: The ``time_jitter`` values SRS knows.
ALGORITHMS = ("full", "zero", "off")

#: A jump larger than this, either way, is a discontinuity for ``full``.
MAX_JITTER_MS = 250

#: The step ``full`` puts in place of a discontinuity (SRS #425).
DEFAULT_FRAME_TIME_MS = 10


def wire_timestamp(timestamp: int) -> int:
    """
    The value a chunk header carries for a corrected timestamp.

    :param timestamp: any integer from :meth:`TimeJitter.correct` or a queue.
    :return: ``timestamp`` modulo 2**32, as SRS's cast to ``u_int32_t`` gives
        (-10 becomes 0xFFFFFFF6).
    """
    return timestamp & 0xFFFFFFFF


_OFF, _ZERO, _FULL = 0, 1, 2
_MODES = {"off": _OFF, "zero": _ZERO, "full": _FULL}


class TimeJitter:
    """
    One consumer's timestamp correction state.
    """

    __slots__ = ("_algorithm", "_last_correct", "_last_time", "_mode")

    def __init__(self, algorithm: str) -> None:
        """
        :param algorithm: ``"full"``, ``"zero"`` or ``"off"``.
        :raises ValueError: for anything else (the config model only lets
            these three through; SRS treats unknown values as ``off``).
        """
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown time jitter algorithm {algorithm!r}")
        self._algorithm = algorithm
        # An int, not the string: correct() runs per message per player.
        self._mode = _MODES[algorithm]
        self._last_time = 0
        self._last_correct = -1

    def __repr__(self) -> str:
        return (
            f"<TimeJitter {self._algorithm} last_time={self._last_time} "
            f"last_correct={self._last_correct}>"
        )

    @property
    def algorithm(self) -> str:
        """
        The algorithm this consumer uses.
        """
        return self._algorithm

    @property
    def time(self) -> int:
        """
        SRS's ``get_time``: with ``full``, the last corrected A/V timestamp
        (-1 before the first); with ``zero``, the timestamp being subtracted
        (-1 before the first message); with ``off``, always -1.
        """
        return self._last_correct

    def correct(self, message: SharedMessage) -> int:
        """
        Work out the timestamp this consumer gets ``message`` with, and
        remember what the next message needs.

        :return: the corrected timestamp (see the module docstring for its
            range).
        """
        timestamp = message.timestamp
        mode = self._mode
        if mode == _OFF:
            return timestamp
        if mode == _ZERO:
            # The first message of any type sets the base; -1 cannot clash
            # with a real timestamp, which is never negative.
            if self._last_correct == -1:
                self._last_correct = timestamp
            return timestamp - self._last_correct
        if not message.is_av:
            return 0
        delta = timestamp - self._last_time
        if delta < -MAX_JITTER_MS or delta > MAX_JITTER_MS:
            delta = DEFAULT_FRAME_TIME_MS
        corrected = self._last_correct + delta
        if corrected < 0:
            corrected = 0
        self._last_correct = corrected
        self._last_time = timestamp
        return corrected

    def state(self) -> tuple[int, int]:
        """
        ``(last A/V timestamp seen, last corrected one)`` for ``full``; the
        second is the subtracted base for ``zero``.
        """
        return self._last_time, self._last_correct

    def restore(self, last_time: int, last_correct: int) -> None:
        """
        Continue as if the last message corrected had been ``last_time``,
        corrected to ``last_correct`` (a player leaving a shared batch).
        """
        self._last_time = last_time
        self._last_correct = last_correct

    def reset(self) -> None:
        """
        Forget everything, as for a new consumer.
        """
        self._last_time = 0
        self._last_correct = -1
