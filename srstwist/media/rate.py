# -*- test-case-name: tests.test_media_rate -*-
"""
A publisher's message and byte rate, to refuse floods (issue 15).

No real stream comes near :data:`MAX_MESSAGES_PER_SECOND` (10000 messages/s:
a 60 fps video with 48 kHz AAC sends about 110) or
:data:`MAX_BYTES_PER_SECOND` (50 MB/s: 400 Mbit/s), but a broken or hostile
publisher can send that and more, and every message costs every player
something.  A :class:`RateMeter` is fed ``(now, size)`` for each message and
says when the publisher has been over either rate for :data:`SUSTAINED`
seconds in a row; the stream controller then closes it
(:class:`srstwist.services.controller.PublishLease`).  SRS 2.0 has no such
limit.

The meter counts in whole-second buckets: per message it adds two numbers
and compares one time, since it runs on the hot path of every publisher.  A
bucket is judged when the first message after it arrives (its rate is what
it counted over the time it actually lasted), so a burst shorter than
:data:`SUSTAINED` seconds passes, and a publisher that pauses starts over.

This module imports nothing from Twisted.
"""

from __future__ import annotations

__all__ = ["MAX_BYTES_PER_SECOND", "MAX_MESSAGES_PER_SECOND", "SUSTAINED", "RateMeter"]

#: Messages per second no real publisher sustains.
MAX_MESSAGES_PER_SECOND = 10_000
#: Payload bytes per second no real publisher sustains (50 MB/s).
MAX_BYTES_PER_SECOND = 50_000_000
#: Seconds in a row over a limit before :meth:`RateMeter.feed` says so.
SUSTAINED = 3.0


class RateMeter:
    """
    One publisher's rates over whole-second buckets.

    :ivar over_for: how long, in seconds, the rates have been over a limit
        without a break (whole buckets only).
    :ivar messages_per_second: the message rate of the last judged bucket.
    :ivar bytes_per_second: the byte rate of the last judged bucket.
    """

    __slots__ = (
        "bytes",
        "bytes_per_second",
        "due",
        "max_bytes",
        "max_messages",
        "messages",
        "messages_per_second",
        "over_for",
        "start",
        "sustained",
    )

    def __init__(
        self,
        max_messages: float = MAX_MESSAGES_PER_SECOND,
        max_bytes: float = MAX_BYTES_PER_SECOND,
        sustained: float = SUSTAINED,
    ) -> None:
        """
        :param max_messages: the message rate limit, per second.
        :param max_bytes: the byte rate limit, per second.
        :param sustained: how long the rates must stay over a limit.
        """
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.sustained = sustained
        self.over_for = 0.0
        self.messages_per_second = 0.0
        self.bytes_per_second = 0.0
        #: The current bucket: its start (``None`` before the first
        #: message), when it may be judged, and what it counted so far.
        self.start: float | None = None
        self.due = float("-inf")
        self.messages = 0
        self.bytes = 0

    def __repr__(self) -> str:
        return (
            f"<RateMeter {self.messages_per_second:.0f} msg/s "
            f"{self.bytes_per_second:.0f} B/s over_for={self.over_for:g}>"
        )

    def feed(self, now: float, size: int) -> bool:
        """
        Count one message of ``size`` bytes arriving at ``now`` (seconds).

        A caller on a hot path may inline this: add 1 to :attr:`messages`
        and ``size`` to :attr:`bytes`, then call :meth:`judge` only when
        ``now >= due``.

        :return: whether the publisher has now been over a limit for
            :attr:`sustained` seconds (it stays true while it goes on).
        """
        self.messages += 1
        self.bytes += size
        if now >= self.due:
            return self.judge(now)
        return self.over_for >= self.sustained

    def judge(self, now: float) -> bool:
        """
        Close the current bucket (the message just counted belongs to the
        next one) and start the next at ``now``.

        :return: as :meth:`feed`.
        """
        start = self.start
        self.start = now
        self.due = now + 1.0
        if start is None:
            return False
        elapsed = now - start
        # The message that arrived at ``now`` opens the next bucket.
        messages = self.messages - 1
        self.messages = 1
        self.messages_per_second = messages / elapsed
        self.bytes_per_second = self.bytes / elapsed
        self.bytes = 0
        if elapsed > 2.0:
            # Nothing came for a while: whatever came before, it was no flood.
            self.over_for = 0.0
        elif (
            self.messages_per_second > self.max_messages
            or self.bytes_per_second > self.max_bytes
        ):
            self.over_for += elapsed
        else:
            self.over_for = 0.0
        return self.over_for >= self.sustained

    def describe(self) -> str:
        """The last judged rates, for a log line."""
        return (
            f"{self.messages_per_second:.0f} messages/s, "
            f"{self.bytes_per_second / 1e6:.1f} MB/s for {self.over_for:.0f}s "
            f"(limits {self.max_messages:.0f} messages/s, {self.max_bytes / 1e6:.0f} MB/s)"
        )
