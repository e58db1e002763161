# -*- test-case-name: tests.test_media_queue -*-
"""
A player's bounded send queue, with SRS's shrink (``SrsMessageQueue::shrink``).

Each consumer (RTMP player, forwarder, edge push) queues what the source
gives it, each message with the timestamp that consumer sends it with (after
its own jitter correction, :mod:`srstwist.media.jitter`).  The queue tracks two
A/V timestamps, as SRS's ``SrsMessageQueue`` does with ``av_start_time`` and
``av_end_time``:

* the "first" one: the first queued A/V timestamp, and after every
  :meth:`MessageQueue.pop_batch` the timestamp of the last message handed out
  (whatever its type: with ``full`` jitter that is 0 for metadata, an SRS
  quirk kept on purpose, which makes the next A/V push look like a long
  queue);
* the "last" one: the newest queued A/V timestamp.

Both start at -1 (SRS's "unset"), and a push that finds the first one unset
sets it.  When a push makes ``last - first`` exceed the maximum duration, the
queue is shrunk: every message is dropped except the last AVC sequence
header and the last AAC sequence header in it, which stay queued (video
first) with their timestamps set to the newest A/V timestamp, and "first"
becomes "last".  The player then restarts from sequence headers and the
next live frames, instead of falling further behind.

Memory: after any A/V push the queued A/V span ``last - first`` is at most
the maximum duration, so a player holds at most about that much media (30 s by
default) plus the one message just pushed, plus any data messages queued in
between (a publisher sends those rarely).  Timestamps that go backwards
(``zero`` or ``off`` jitter) are compared as they are, as in SRS.

A maximum of 0 or less never shrinks.  (SRS shrinks whenever the span is
positive then; its ``queue_length`` is never 0 in practice.)

Pushes and pops are O(1) amortized (a ``deque``); a shrink is O(n) in the
queue length and happens at most once per push.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from srstwist.media.message import SharedMessage

__all__ = ["MessageQueue", "QueuedMessage"]


#: A shared message and the timestamp one consumer sends it with
#: (jitter-corrected, or re-stamped by a shrink; pass it to
#: :meth:`SharedMessage.chunks` through :func:`srstwist.media.jitter.wire_timestamp`).
#: A plain tuple, not an object: one is made per message per player, and a
#: tuple costs a tenth of a slotted instance.
QueuedMessage = tuple[SharedMessage, int]


class MessageQueue:
    """
    One consumer's queue of messages waiting to be sent, bounded by the A/V
    duration it spans.

    :ivar max_duration_ms: the longest span kept, in ms (``queue_length``
        times 1000); 0 or less never shrinks.  May be changed at any time
        (reload); the new value applies from the next push.
    :ivar shrinks: how many times the queue has been shrunk.
    :ivar dropped: how many messages shrinks have dropped.
    """

    __slots__ = ("_end", "_messages", "_start", "dropped", "max_duration_ms", "shrinks")

    def __init__(self, max_duration_ms: int) -> None:
        """
        :param max_duration_ms: see :attr:`max_duration_ms`.
        """
        self.max_duration_ms = max_duration_ms
        self.shrinks = 0
        self.dropped = 0
        self._messages: deque[QueuedMessage] = deque()
        self._start = -1
        self._end = -1

    def __repr__(self) -> str:
        return (
            f"<MessageQueue size={len(self._messages)} duration={self.duration_ms} "
            f"max={self.max_duration_ms} shrinks={self.shrinks}>"
        )

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[QueuedMessage]:
        """
        Look at the queued messages, oldest first, without taking them (the
        queue must not change meanwhile).
        """
        return iter(self._messages)

    @property
    def duration_ms(self) -> int:
        """
        The newest A/V timestamp minus the "first" one (see the module
        docstring); 0 before any A/V message, and possibly negative when
        timestamps went backwards or a batch ended on a later-stamped
        message.
        """
        return self._end - self._start

    def push(self, message: SharedMessage, timestamp: int) -> bool:
        """
        Queue ``message``, to be sent with ``timestamp``, and shrink the queue
        if it now spans more than :attr:`max_duration_ms`.

        :return: whether this push shrank the queue.
        """
        # Runs for every message and every player: plain attributes only.
        self._messages.append((message, timestamp))
        if message.is_av:
            start = self._start
            if start == -1:
                self._start = start = timestamp
            self._end = timestamp
            if 0 < self.max_duration_ms < timestamp - start:
                self._shrink()
                return True
        return False

    def pop_batch(self, max_count: int) -> list[QueuedMessage]:
        """
        Take the oldest messages, up to ``max_count`` of them.  The timestamp
        of the last one taken becomes the queue's "first" timestamp.

        :return: the messages in queue order; an empty list when the queue
            is empty or ``max_count`` is less than 1.
        """
        count = min(max_count, len(self._messages))
        if count <= 0:
            return []
        popleft = self._messages.popleft
        batch = [popleft() for _ in range(count)]
        self._start = batch[-1][1]
        return batch

    def clear(self) -> None:
        """
        Drop every message and forget both timestamps.  :attr:`shrinks` and
        :attr:`dropped` are kept.
        """
        self._messages.clear()
        self._start = self._end = -1

    def _shrink(self) -> None:
        """
        Keep only the last video and audio sequence headers, re-stamped to
        the newest A/V timestamp (``SrsMessageQueue::shrink``).
        """
        video_header: SharedMessage | None = None
        audio_header: SharedMessage | None = None
        for message, _ in self._messages:
            if message.is_sequence_header:
                if message.is_video:
                    video_header = message
                else:
                    audio_header = message
        before = len(self._messages)
        self._messages.clear()
        end = self._end
        self._start = end
        if video_header is not None:
            self._messages.append((video_header, end))
        if audio_header is not None:
            self._messages.append((audio_header, end))
        self.shrinks += 1
        self.dropped += before - len(self._messages)
