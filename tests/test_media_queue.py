"""
Tests for :mod:`srstwist.media.queue`: a consumer's duration-bounded queue and
SRS's shrink (``SrsMessageQueue::shrink``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import MessageType
from srstwist.media.jitter import TimeJitter
from srstwist.media.message import SharedMessage
from srstwist.media.queue import MessageQueue
from tests.test_media_message import session_messages

A, V, D = MessageType.AUDIO, MessageType.VIDEO, MessageType.AMF0_DATA

# Real FLV tag prefixes.
AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f"
AVC_KEYFRAME = b"\x17\x01\x00\x00\x00"
AVC_INTER = b"\x27\x01\x00\x00\x00"
AAC_HEADER = b"\xaf\x00\x12\x10"
AAC_RAW = b"\xaf\x01\x21\x00"
MP3 = b"\x2f\xff\xfb\x90\x64"
METADATA = b"\x02\x00\x0aonMetaData"

_KINDS = {
    "vsh": (V, AVC_HEADER),
    "key": (V, AVC_KEYFRAME),
    "inter": (V, AVC_INTER),
    "ash": (A, AAC_HEADER),
    "aac": (A, AAC_RAW),
    "mp3": (A, MP3),
    "meta": (D, METADATA),
}


def make(kind: str, timestamp: int = 0, tag: int = 0) -> SharedMessage:
    """
    A message of ``kind`` (a key of ``_KINDS``); ``tag`` is appended to the
    payload so that otherwise equal messages differ.
    """
    type_id, payload = _KINDS[kind]
    return SharedMessage(timestamp, type_id, payload + tag.to_bytes(4, "big"))


def contents(queue: MessageQueue) -> list[tuple[SharedMessage, int]]:
    """
    Empty ``queue`` and return its messages with their timestamps.
    """
    return list(queue.pop_batch(len(queue)))


class PushPopTests(SynchronousTestCase):
    """
    Messages come out in order, in batches, and the duration follows SRS.
    """

    def test_fifo_batches(self) -> None:
        """
        :meth:`MessageQueue.pop_batch` returns at most ``max_count`` messages,
        oldest first, with the timestamps they were pushed with.
        """
        queue = MessageQueue(30_000)
        messages = [make("inter", ts) for ts in range(0, 400, 40)]
        for m in messages:
            queue.push(m, m.timestamp + 1)
        first = queue.pop_batch(3)
        self.assertEqual([q[0] for q in first], messages[:3])
        self.assertEqual([q[1] for q in first], [1, 41, 81])
        self.assertEqual(len(queue), 7)
        rest = queue.pop_batch(128)
        self.assertEqual([q[0] for q in rest], messages[3:])
        self.assertEqual(queue.pop_batch(128), [])
        self.assertEqual(len(queue), 0)

    def test_pop_nothing(self) -> None:
        """
        A ``max_count`` below 1 takes nothing and leaves the duration alone.
        """
        queue = MessageQueue(30_000)
        queue.push(make("inter", 0), 0)
        queue.push(make("inter", 40), 40)
        self.assertEqual(queue.pop_batch(0), [])
        self.assertEqual(len(queue), 2)
        self.assertEqual(queue.duration_ms, 40)

    def test_duration(self) -> None:
        """
        The duration runs from the first queued A/V timestamp to the newest;
        data messages do not move it.
        """
        queue = MessageQueue(30_000)
        self.assertEqual(queue.duration_ms, 0)
        queue.push(make("meta", 0), 0)
        self.assertEqual(queue.duration_ms, 0)
        queue.push(make("key", 100), 100)
        queue.push(make("aac", 150), 150)
        queue.push(make("meta", 9000), 9000)
        self.assertEqual(queue.duration_ms, 50)

    def test_duration_after_pop(self) -> None:
        """
        After a batch, the duration counts from the last message taken.
        """
        queue = MessageQueue(30_000)
        for ts in (0, 40, 80, 120):
            queue.push(make("inter", ts), ts)
        queue.pop_batch(2)
        self.assertEqual(queue.duration_ms, 120 - 40)
        queue.pop_batch(2)
        self.assertEqual(queue.duration_ms, 0)

    def test_batch_ending_on_metadata(self) -> None:
        """
        A batch that ends on metadata (stamped 0 by ``full`` jitter) makes the
        next A/V push measure from 0, and shrink: SRS does the same.
        """
        queue = MessageQueue(30_000)
        queue.push(make("inter", 40_000), 40_000)
        queue.push(make("meta"), 0)
        queue.pop_batch(2)
        self.assertTrue(queue.push(make("inter", 40_040), 40_040))
        self.assertEqual(len(queue), 0)

    def test_metadata_popped_before_any_av(self) -> None:
        """
        A data message popped before any A/V message sets the start, which
        the next A/V push does not replace (SRS's ``av_start_time`` is no
        longer -1).
        """
        queue = MessageQueue(1000)
        queue.push(make("meta"), 500)
        queue.pop_batch(1)
        self.assertEqual(queue.duration_ms, -501)
        self.assertFalse(queue.push(make("key", 1500), 1500))
        self.assertTrue(queue.push(make("inter", 1540), 1540))

    def test_clear(self) -> None:
        """
        :meth:`MessageQueue.clear` empties the queue and forgets the timestamps,
        but keeps the statistics.
        """
        queue = MessageQueue(100)
        for ts in (0, 40, 80, 120):
            queue.push(make("inter", ts), ts)
        queue.clear()
        self.assertEqual(len(queue), 0)
        self.assertEqual(queue.duration_ms, 0)
        self.assertEqual(queue.shrinks, 1)
        self.assertFalse(queue.push(make("inter", 10_000), 10_000))
        self.assertEqual(queue.duration_ms, 0)

    def test_queued_message(self) -> None:
        """
        Queued entries are plain (message, timestamp) tuples.
        """
        queue = MessageQueue(0)
        m = make("aac", 5)
        queue.push(m, 7)
        self.assertEqual(queue.pop_batch(1), [(m, 7)])


class ShrinkTests(SynchronousTestCase):
    """
    A queue spanning more than its maximum keeps only the latest sequence
    headers, re-stamped.
    """

    def test_at_limit_no_shrink(self) -> None:
        """
        A span equal to the maximum is kept; one more millisecond shrinks.
        """
        queue = MessageQueue(1000)
        self.assertFalse(queue.push(make("key", 0), 0))
        self.assertFalse(queue.push(make("inter", 1000), 1000))
        self.assertEqual(queue.shrinks, 0)
        self.assertTrue(queue.push(make("inter", 1001), 1001))
        self.assertEqual(queue.shrinks, 1)
        self.assertEqual(queue.dropped, 3)
        self.assertEqual(len(queue), 0)
        self.assertEqual(queue.duration_ms, 0)

    def test_keeps_last_sequence_headers(self) -> None:
        """
        The last video and last audio sequence headers survive, video first,
        stamped with the newest A/V timestamp; metadata, MP3 and everything
        else is dropped.
        """
        queue = MessageQueue(1000)
        old_vsh, new_vsh = make("vsh", 0, 1), make("vsh", 0, 2)
        old_ash, new_ash = make("ash", 0, 1), make("ash", 0, 2)
        stream = [
            (make("meta"), 0),
            (old_ash, 0),
            (old_vsh, 0),
            (make("key", 0), 0),
            (make("mp3", 20), 20),
            (new_ash, 30),
            (make("inter", 40), 40),
            (new_vsh, 50),
            (make("meta"), 60),
        ]
        for m, ts in stream:
            self.assertFalse(queue.push(m, ts))
        self.assertTrue(queue.push(make("inter", 1500), 1500))
        self.assertEqual(contents(queue), [(new_vsh, 1500), (new_ash, 1500)])
        self.assertEqual(queue.dropped, len(stream) + 1 - 2)

    def test_shrink_keeps_pushed_header(self) -> None:
        """
        A sequence header whose own push overflows the queue is kept.
        """
        queue = MessageQueue(1000)
        queue.push(make("key", 0), 0)
        header = make("ash", 2000)
        self.assertTrue(queue.push(header, 2000))
        self.assertEqual(contents(queue), [(header, 2000)])

    def test_measures_from_newest_after_shrink(self) -> None:
        """
        After a shrink the span restarts at the newest A/V timestamp.
        """
        queue = MessageQueue(1000)
        queue.push(make("vsh", 0), 0)
        queue.push(make("key", 0), 0)
        queue.push(make("inter", 1500), 1500)
        self.assertEqual(queue.duration_ms, 0)
        self.assertFalse(queue.push(make("inter", 2500), 2500))
        self.assertTrue(queue.push(make("inter", 2501), 2501))
        self.assertEqual(queue.shrinks, 2)

    def test_never_shrinks_without_maximum(self) -> None:
        """
        A maximum of 0 or less never shrinks.
        """
        for maximum in (0, -1):
            queue = MessageQueue(maximum)
            for ts in range(0, 100_000, 1000):
                self.assertFalse(queue.push(make("inter", ts), ts))
            self.assertEqual(len(queue), 100)
            self.assertEqual(queue.shrinks, 0)

    def test_maximum_changes(self) -> None:
        """
        A new :attr:`MessageQueue.max_duration_ms` applies from the next push.
        """
        queue = MessageQueue(30_000)
        for ts in range(0, 5000, 40):
            queue.push(make("inter", ts), ts)
        queue.max_duration_ms = 1000
        self.assertEqual(queue.shrinks, 0)
        self.assertTrue(queue.push(make("inter", 5000), 5000))

    def test_backwards_timestamps(self) -> None:
        """
        Timestamps going backwards make the duration negative and never
        shrink by themselves.
        """
        queue = MessageQueue(1000)
        queue.push(make("key", 5000), 5000)
        self.assertFalse(queue.push(make("aac", -10), -10))
        self.assertEqual(queue.duration_ms, -5010)


_kinds = st.sampled_from(sorted(_KINDS))


class PropertyTests(SynchronousTestCase):
    """
    Invariants over random pushes and pops.
    """

    @given(
        st.integers(1, 5000),
        st.lists(
            st.one_of(
                st.tuples(st.just("push"), _kinds, st.integers(-(2**32), 2**32)),
                st.tuples(st.just("pop"), st.just(""), st.integers(0, 20)),
            ),
            max_size=80,
        ),
    )
    def test_duration_bounded(self, maximum: int, ops: list[tuple[str, str, int]]) -> None:
        """
        After any audio or video push the queue's duration is at most the
        maximum, whatever the timestamps.  (A batch taken out can move the
        "first" timestamp back, SRS's quirk; a data message pushed then
        leaves the span as it is until the next A/V push shrinks it.)
        """
        queue = MessageQueue(maximum)
        for op, kind, value in ops:
            if op == "push":
                message = make(kind, 0)
                queue.push(message, value)
                if message.is_av:
                    self.assertLessEqual(queue.duration_ms, maximum)
            else:
                queue.pop_batch(value)

    @given(
        st.integers(1, 5000),
        st.lists(
            st.tuples(st.sampled_from(["key", "inter", "aac", "vsh", "ash"]), st.integers(0, 400)),
            max_size=120,
        ),
        st.lists(st.integers(0, 12), max_size=120),
    )
    def test_span_bounded(
        self, maximum: int, pushes: list[tuple[str, int]], pops: list[int]
    ) -> None:
        """
        With non-decreasing timestamps, the A/V messages held after any push
        span at most the maximum.
        """
        queue = MessageQueue(maximum)
        ts = 0
        for i, (kind, step) in enumerate(pushes):
            ts += step
            queue.push(make(kind, ts), ts)
            held = [q[1] for q in queue]
            if held:
                self.assertLessEqual(max(held) - min(held), maximum)
            if i < len(pops):
                queue.pop_batch(pops[i])

    @given(
        st.integers(1, 3000),
        st.lists(st.tuples(_kinds, st.integers(0, 600)), max_size=120),
        st.lists(st.integers(0, 12), max_size=120),
    )
    def test_shrink_keeps_latest_headers(
        self, maximum: int, pushes: list[tuple[str, int]], pops: list[int]
    ) -> None:
        """
        A shrinking push leaves exactly the latest queued video and audio
        sequence headers (video first), stamped with the newest A/V
        timestamp; any other push just appends.
        """
        queue = MessageQueue(maximum)
        model: list[tuple[SharedMessage, int]] = []
        ts = newest = 0
        for i, (kind, step) in enumerate(pushes):
            ts += step
            m = make(kind, ts, i)
            if m.is_audio or m.is_video:
                newest = ts
            model.append((m, ts))
            if queue.push(m, ts):
                vsh = [x for x, _ in model if x.is_video and x.is_sequence_header]
                ash = [x for x, _ in model if x.is_audio and x.is_sequence_header]
                model = [(x, newest) for x in vsh[-1:] + ash[-1:]]
            self.assertEqual(list(queue), model)
            if i < len(pops):
                taken = queue.pop_batch(pops[i])
                self.assertEqual(list(taken), model[: len(taken)])
                model = model[len(taken) :]


class RealStreamTests(SynchronousTestCase):
    """
    The queue on real FLV payloads and a captured ffmpeg session.
    """

    def test_flags_from_prefixes(self) -> None:
        """
        Real payload prefixes give the flags the shrink relies on: only AVC
        and AAC sequence headers count, not MP3 or frames.
        """
        headers = {k for k in _KINDS if make(k).is_sequence_header}
        self.assertEqual(headers, {"vsh", "ash"})
        self.assertTrue(make("key").is_keyframe)
        self.assertTrue(make("vsh").is_keyframe)
        self.assertFalse(make("inter").is_keyframe)

    def test_slow_player_on_captured_session(self) -> None:
        """
        A player that never reads, with a 1 s queue, shrinks on the captured
        session and is left with the sequence headers at the newest time.
        """
        media = [m for m in session_messages() if m.message_type_id in (A, V, D)]
        jitter = TimeJitter("full")
        queue = MessageQueue(1000)
        for m in media:
            queue.push(m, jitter.correct(m))
        self.assertGreater(queue.shrinks, 0)
        self.assertLessEqual(queue.duration_ms, 1000)
        held = contents(queue)
        headers = [m for m, _ in held if m.is_sequence_header]
        self.assertEqual([m.payload[:2] for m in headers], [b"\x17\x00", b"\xaf\x00"])
        stamps = {ts for _, ts in held}
        self.assertLessEqual(max(stamps) - min(stamps), 1000)


def big(kind: str, size: int, timestamp: int = 0) -> SharedMessage:
    """A message of ``kind`` whose payload is padded to ``size`` bytes."""
    type_id, payload = _KINDS[kind]
    return SharedMessage(timestamp, type_id, payload + bytes(size - len(payload)))


class CapTests(SynchronousTestCase):
    """
    Issue 15 item 3: time is no bound when timestamps never advance, so the
    queue is also bounded by bytes and by message count.
    """

    def test_default_limits(self) -> None:
        """
        The caps are ``queue_length`` seconds at 20 Mbit/s and at 1000
        messages/s; ``queue_length 0`` counts as 30 s.
        """
        from srstwist.media.queue import default_limits

        self.assertEqual(default_limits(30), (75_000_000, 30_000))
        self.assertEqual(default_limits(0), (75_000_000, 30_000))
        self.assertEqual(default_limits(10), (25_000_000, 10_000))
        queue = MessageQueue(10_000)
        self.assertEqual((queue.max_bytes, queue.max_count), (25_000_000, 10_000))

    def test_flat_timestamps_bounded_by_bytes(self) -> None:
        """
        200 KB keyframes all at timestamp 0 never shrink by time; the byte
        cap bounds the queue anyway, keeps the sequence headers and the
        keyframe that overflowed.
        """
        from srstwist.media.queue import ENTRY_OVERHEAD, SHRUNK_BYTES

        queue = MessageQueue(30_000, max_bytes=2_000_000)
        queue.push(make("vsh"), 0)
        queue.push(make("ash"), 0)
        results = [queue.push(big("key", 200_000), 0) for _ in range(1000)]
        self.assertIn(SHRUNK_BYTES, results)
        self.assertLessEqual(queue.bytes, 2_000_000)
        self.assertGreater(queue.shrinks, 50)
        held = [m for m, _ in queue]
        self.assertTrue(held[0].is_sequence_header and held[0].is_video)
        self.assertTrue(held[1].is_sequence_header and held[1].is_audio)
        expected = sum(len(m.payload) + ENTRY_OVERHEAD for m in held)
        self.assertEqual(queue.bytes, expected)

    def test_flat_timestamps_bounded_by_count(self) -> None:
        """
        Small messages at one timestamp are bounded by the count cap; after a
        shrink by count, inter frames wait for the next keyframe.
        """
        from srstwist.media.queue import SHRUNK_COUNT

        queue = MessageQueue(30_000, max_count=100)
        queue.push(make("vsh"), 0)
        queue.push(make("key"), 0)
        for i in range(98):
            self.assertFalse(queue.push(make("inter", 0, i), 0))
        self.assertEqual(queue.push(make("inter", 0, 999), 0), SHRUNK_COUNT)
        self.assertEqual(len(queue), 1)
        self.assertTrue(queue.awaiting_keyframe)
        dropped = queue.dropped
        self.assertFalse(queue.push(make("inter", 0, 1000), 0))
        self.assertEqual(len(queue), 1)
        self.assertEqual(queue.dropped, dropped + 1)
        queue.push(make("aac", 0), 0)  # audio is not held back
        queue.push(make("key", 0, 1), 0)
        queue.push(make("inter", 0, 1001), 0)
        self.assertEqual(len(queue), 4)
        self.assertFalse(queue.awaiting_keyframe)

    def test_bytes_follow_pops_and_clear(self) -> None:
        """:attr:`MessageQueue.bytes` goes back to 0 when everything is taken."""
        queue = MessageQueue(30_000)
        for ts in range(0, 400, 40):
            queue.push(big("inter", 1000, ts), ts)
        queue.pop_batch(3)
        self.assertEqual(queue.bytes, sum(len(m.payload) + 64 for m, _ in queue))
        queue.pop_batch(100)
        self.assertEqual(queue.bytes, 0)
        queue.push(big("inter", 1000, 500), 500)
        queue.clear()
        self.assertEqual(queue.bytes, 0)

    def test_episode(self) -> None:
        """
        :attr:`MessageQueue.episode_shrinks` counts shrinks until the queue
        is emptied: a caller logs once per episode, not once per shrink.
        """
        queue = MessageQueue(30_000, max_count=10)
        for i in range(35):
            queue.push(make("key", 0, i), 0)
        self.assertEqual(queue.shrinks, 3)
        self.assertEqual(queue.episode_shrinks, 3)
        queue.pop_batch(100)
        self.assertEqual(queue.episode_shrinks, 0)
        for i in range(11):
            queue.push(make("key", 0, i), 0)
        self.assertEqual(queue.episode_shrinks, 1)

    def test_account(self) -> None:
        """
        A :class:`BacklogAccount` and its parent follow the queues charged to
        them, and a push past a limit says so without dropping anything.
        """
        from srstwist.media.queue import OVER_BUDGET, BacklogAccount

        process = BacklogAccount(10_000)
        stream = BacklogAccount(5_000, process)
        first, second = MessageQueue(30_000), MessageQueue(30_000)
        first.push(big("key", 936, 0), 0)
        first.set_account(stream)
        second.set_account(stream)
        self.assertEqual((stream.bytes, process.bytes), (1000, 1000))
        for i in range(3):
            self.assertFalse(second.push(big("inter", 936, i), i))
        self.assertEqual(stream.bytes, 4000)
        self.assertFalse(first.push(big("inter", 936, 5), 5))
        self.assertEqual(first.push(big("inter", 936, 6), 6), OVER_BUDGET)
        self.assertEqual(len(first), 3)
        self.assertEqual(first.skip_to_live(), 3000)
        self.assertEqual((stream.bytes, process.bytes), (3000, 3000))
        second.pop_batch(2)
        self.assertEqual(stream.bytes, 1000)
        second.clear()
        first.set_account(None)
        self.assertEqual((stream.bytes, process.bytes), (0, 0))
