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
the maximum duration.  Time alone is no bound, though: a publisher whose
timestamps never advance (or jump back and forth) never makes the span grow
(issue 15), so the queue is also bounded by bytes and by message count
(:func:`default_limits`: ``queue_length`` seconds at 20 Mbit/s and at 1000
messages/s, 30 s when ``queue_length`` is 0).  A push past either cap
shrinks the queue the same way and then drops video until the next keyframe
(:attr:`MessageQueue.awaiting_keyframe`), so the player restarts on a picture
it can decode; SRS 2.0 has no such cap.  The bytes a queue holds are counted
as payload plus :data:`ENTRY_OVERHEAD` per message, and are also charged to an
optional :class:`BacklogAccount` (a stream's and the process's backlog,
:mod:`srstwist.stream.budget`), which :meth:`MessageQueue.push` reports when
over its limit (:data:`OVER_BUDGET`); the caller decides whom to shrink
(:meth:`MessageQueue.skip_to_live`).

Shrinks come in episodes: :attr:`MessageQueue.episode_shrinks` counts the
shrinks since the queue was last emptied by :meth:`MessageQueue.pop_batch`,
so a caller logs the first one of an episode and not every one.

A maximum duration of 0 or less never shrinks by time.  (SRS shrinks whenever
the span is positive then; its ``queue_length`` is never 0 in practice.)

Pushes and pops are O(1) amortized (a ``deque``; a pop sums the sizes of the
messages it takes); a shrink is O(n) in the queue length and happens at most
once per push.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from srstwist.media.message import SharedMessage

__all__ = [
    "BYTES_PER_SECOND",
    "ENTRY_OVERHEAD",
    "MESSAGES_PER_SECOND",
    "OVER_BUDGET",
    "SHRUNK_BYTES",
    "SHRUNK_COUNT",
    "SHRUNK_DURATION",
    "BacklogAccount",
    "MessageQueue",
    "QueuedMessage",
    "default_limits",
]

#: The bitrate the byte cap allows for ``queue_length`` seconds: 20 Mbit/s,
#: several times any live stream this server is meant for.
BYTES_PER_SECOND = 20_000_000 // 8
#: The message rate the count cap allows for ``queue_length`` seconds: 1000
#: messages/s, ten times a 50 fps video plus 48 kHz AAC stream.
MESSAGES_PER_SECOND = 1000
#: The seconds the caps are derived from when ``queue_length`` is 0 (SRS's
#: default ``queue_length``).
DEFAULT_SECONDS = 30
#: What one queued message costs besides its payload, in bytes: the
#: ``(message, timestamp)`` tuple and its ``deque`` slot (an estimate).
ENTRY_OVERHEAD = 64

#: :meth:`MessageQueue.push` results: nothing happened (0, false), or the
#: queue shrank because its A/V span passed the maximum duration, its bytes
#: the byte cap, its messages the count cap; or it did not shrink but its
#: :class:`BacklogAccount` (or that account's parent) is over its limit.
SHRUNK_DURATION = 1
SHRUNK_BYTES = 2
SHRUNK_COUNT = 3
OVER_BUDGET = 4


def default_limits(queue_length: float) -> tuple[int, int]:
    """
    The byte and count caps of a player queue whose ``queue_length`` is
    ``queue_length`` seconds (0 or less: :data:`DEFAULT_SECONDS`).

    :return: ``(max_bytes, max_count)``: that many seconds at
        :data:`BYTES_PER_SECOND` and at :data:`MESSAGES_PER_SECOND` (30 s:
        75 MB and 30000 messages).
    """
    seconds = queue_length if queue_length > 0 else DEFAULT_SECONDS
    return int(seconds * BYTES_PER_SECOND), int(seconds * MESSAGES_PER_SECOND)


class BacklogAccount:
    """
    A running total of the bytes some queues hold, with a limit: a stream's
    backlog (whose ``parent`` is the process's) or the process's own.  The
    queues charged to it keep :attr:`bytes` exact; whoever owns the account
    decides what happens past :attr:`limit`.

    :ivar bytes: what the queues charged to this account hold now.
    :ivar limit: the bytes past which :meth:`MessageQueue.push` reports
        :data:`OVER_BUDGET`.
    :ivar parent: an account charged the same bytes (the process total), or
        ``None``.
    """

    __slots__ = ("bytes", "limit", "parent")

    def __init__(self, limit: int, parent: BacklogAccount | None = None) -> None:
        self.bytes = 0
        self.limit = limit
        self.parent = parent

    def __repr__(self) -> str:
        return f"<BacklogAccount bytes={self.bytes} limit={self.limit}>"

    def charge(self, size: int) -> None:
        """
        Add ``size`` bytes (negative: release them) here and to the parent.
        """
        self.bytes += size
        if self.parent is not None:
            self.parent.bytes += size

    @property
    def over(self) -> bool:
        """Whether this account or its parent is past its limit."""
        parent = self.parent
        return self.bytes > self.limit or (parent is not None and parent.bytes > parent.limit)


#: A shared message and the timestamp one consumer sends it with
#: (jitter-corrected, or re-stamped by a shrink; pass it to
#: :meth:`SharedMessage.chunks` through :func:`srstwist.media.jitter.wire_timestamp`).
#: A plain tuple, not an object: one is made per message per player, and a
#: tuple costs a tenth of a slotted instance.
QueuedMessage = tuple[SharedMessage, int]


class MessageQueue:
    """
    One consumer's queue of messages waiting to be sent, bounded by the A/V
    duration it spans, by bytes and by message count.

    :ivar max_duration_ms: the longest span kept, in ms (``queue_length``
        times 1000); 0 or less never shrinks by time.  May be changed at any
        time (reload); the new value applies from the next push.
    :ivar max_bytes: the most bytes kept (payloads plus
        :data:`ENTRY_OVERHEAD` each); a push past it shrinks.
    :ivar max_count: the most messages kept; a push past it shrinks.
    :ivar bytes: the bytes queued now, counted as for :attr:`max_bytes`.
    :ivar account: the :class:`BacklogAccount` charged with :attr:`bytes`,
        or ``None``; set it with :meth:`set_account`.
    :ivar shrinks: how many times the queue has been shrunk.
    :ivar dropped: how many messages shrinks, and the wait for a keyframe
        after a cap shrink, have dropped.
    :ivar episode_shrinks: shrinks since :meth:`pop_batch` last emptied the
        queue (1 right after the first shrink of an episode).
    :ivar awaiting_keyframe: after a shrink by bytes, by count or by
        :meth:`skip_to_live`, video is dropped until the next keyframe
        (unless the push that shrank was a keyframe itself, which stays).
    """

    __slots__ = (
        "_end",
        "_messages",
        "_start",
        "account",
        "awaiting_keyframe",
        "bytes",
        "dropped",
        "episode_shrinks",
        "max_bytes",
        "max_count",
        "max_duration_ms",
        "shrinks",
    )

    def __init__(
        self, max_duration_ms: int, max_bytes: int | None = None, max_count: int | None = None
    ) -> None:
        """
        :param max_duration_ms: see :attr:`max_duration_ms`.
        :param max_bytes: see :attr:`max_bytes`; by default
            :func:`default_limits` of the duration.
        :param max_count: see :attr:`max_count`; by default
            :func:`default_limits` of the duration.
        """
        default_bytes, default_count = default_limits(max_duration_ms / 1000)
        self.max_duration_ms = max_duration_ms
        self.max_bytes = default_bytes if max_bytes is None else max_bytes
        self.max_count = default_count if max_count is None else max_count
        self.bytes = 0
        self.account: BacklogAccount | None = None
        self.shrinks = 0
        self.dropped = 0
        self.episode_shrinks = 0
        self.awaiting_keyframe = False
        self._messages: deque[QueuedMessage] = deque()
        self._start = -1
        self._end = -1

    def __repr__(self) -> str:
        return (
            f"<MessageQueue size={len(self._messages)} bytes={self.bytes} "
            f"duration={self.duration_ms} max={self.max_duration_ms} shrinks={self.shrinks}>"
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

    def set_account(self, account: BacklogAccount | None) -> None:
        """
        Charge what this queue holds to ``account`` from now on (``None``:
        to no account), moving what it holds now from the previous one.
        """
        if self.account is not None:
            self.account.charge(-self.bytes)
        self.account = account
        if account is not None:
            account.charge(self.bytes)

    def push(self, message: SharedMessage, timestamp: int) -> int:
        """
        Queue ``message``, to be sent with ``timestamp``, and shrink the queue
        if it now spans more than :attr:`max_duration_ms` or holds more than
        :attr:`max_bytes` or :attr:`max_count`.

        :return: 0 (false) when nothing happened; else :data:`SHRUNK_DURATION`,
            :data:`SHRUNK_BYTES` or :data:`SHRUNK_COUNT` (this push shrank the
            queue), or :data:`OVER_BUDGET` (the account is past its limit;
            nothing was dropped).
        """
        # Runs for every message and every player: plain attributes only.
        if self.awaiting_keyframe and message.is_video:
            if not message.is_keyframe:
                self.dropped += 1
                return 0
            self.awaiting_keyframe = False
        messages = self._messages
        messages.append((message, timestamp))
        size = len(message.payload) + ENTRY_OVERHEAD
        self.bytes = queued = self.bytes + size
        account = self.account
        over = False
        if account is not None:
            account.bytes = charged = account.bytes + size
            over = charged > account.limit
            parent = account.parent
            if parent is not None:
                parent.bytes = charged = parent.bytes + size
                over = over or charged > parent.limit
        if message.is_av:
            start = self._start
            if start == -1:
                self._start = start = timestamp
            self._end = timestamp
            if 0 < self.max_duration_ms < timestamp - start:
                self._shrink()
                return SHRUNK_DURATION
        if queued > self.max_bytes:
            self._cap_shrink(message, timestamp)
            return SHRUNK_BYTES
        if len(messages) > self.max_count:
            self._cap_shrink(message, timestamp)
            return SHRUNK_COUNT
        if over:
            return OVER_BUDGET
        return 0

    def pop_batch(self, max_count: int) -> list[QueuedMessage]:
        """
        Take the oldest messages, up to ``max_count`` of them.  The timestamp
        of the last one taken becomes the queue's "first" timestamp; taking
        the last message ends a shrink episode.

        :return: the messages in queue order; an empty list when the queue
            is empty or ``max_count`` is less than 1.
        """
        messages = self._messages
        count = min(max_count, len(messages))
        if count <= 0:
            return []
        popleft = messages.popleft
        batch = [popleft() for _ in range(count)]
        self._start = batch[-1][1]
        size = sum([len(m.payload) for m, _ in batch]) + count * ENTRY_OVERHEAD
        self._release(size)
        if not messages:
            self.episode_shrinks = 0
        return batch

    def clear(self) -> None:
        """
        Drop every message and forget both timestamps.  :attr:`shrinks` and
        :attr:`dropped` are kept.
        """
        self._messages.clear()
        self._start = self._end = -1
        self._release(self.bytes)
        self.episode_shrinks = 0

    def skip_to_live(self) -> int:
        """
        Shrink now, as a push past a cap does: keep the last sequence
        headers, then drop video until the next keyframe (what a backlog
        budget does to a player far behind, :mod:`srstwist.stream.budget`).

        :return: the bytes released.
        """
        before = self.bytes
        self._shrink()
        self.awaiting_keyframe = True
        return before - self.bytes

    def _cap_shrink(self, message: SharedMessage, timestamp: int) -> None:
        """
        Shrink past a cap: the sequence headers stay, and so does the message
        just pushed if it is a keyframe (the player restarts on it); else
        video waits for the next keyframe.
        """
        self._shrink()
        if message.is_keyframe and not message.is_sequence_header:
            self._messages.append((message, timestamp))
            size = len(message.payload) + ENTRY_OVERHEAD
            self.bytes += size
            if self.account is not None:
                self.account.charge(size)
            self.dropped -= 1
        else:
            self.awaiting_keyframe = True

    def _release(self, size: int) -> None:
        self.bytes -= size
        account = self.account
        if account is not None:
            account.charge(-size)

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
        self._release(self.bytes)
        end = self._end
        self._start = end
        for header in (video_header, audio_header):
            if header is not None:
                self._messages.append((header, end))
                size = len(header.payload) + ENTRY_OVERHEAD
                self.bytes += size
                if self.account is not None:
                    self.account.charge(size)
        self.shrinks += 1
        self.episode_shrinks += 1
        self.dropped += before - len(self._messages)
