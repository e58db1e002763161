"""
Tests for :mod:`srstwist.media.mix`: SRS's ``mix_correct`` queue (#383,
``SrsMixQueue``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.media.message import SharedMessage
from srstwist.media.mix import PURE_AV_COUNT, MixQueue
from tests.test_media_message import session_messages
from tests.test_media_queue import make


def push_pop(queue: MixQueue, messages: list[SharedMessage]) -> list[SharedMessage | None]:
    """
    Push each message and pop once after each, as the source does.
    """
    out = []
    for m in messages:
        queue.push(m)
        out.append(queue.pop())
    return out


class RuleTests(SynchronousTestCase):
    """
    One test per release rule.
    """

    def test_needs_both(self) -> None:
        """
        One video waits for an audio; then the earlier of the two leaves.
        """
        queue = MixQueue()
        video, audio = make("inter", 40), make("aac", 23)
        self.assertEqual(push_pop(queue, [video, audio]), [None, audio])
        self.assertEqual(len(queue), 1)
        self.assertIsNone(queue.pop())

    def test_pure_video(self) -> None:
        """
        Without audio, the tenth video releases the first.
        """
        queue = MixQueue()
        videos = [make("inter", ts) for ts in range(0, 400, 40)]
        self.assertEqual(push_pop(queue, videos), [None] * 9 + [videos[0]])
        self.assertEqual(len(queue), PURE_AV_COUNT - 1)

    def test_pure_audio(self) -> None:
        """
        Without video, the tenth audio releases the first.
        """
        queue = MixQueue()
        audios = [make("aac", ts) for ts in range(0, 230, 23)]
        self.assertEqual(push_pop(queue, audios), [None] * 9 + [audios[0]])

    def test_pure_video_then_audio(self) -> None:
        """
        Nine videos wait; an audio with an earlier timestamp then leaves
        first.
        """
        queue = MixQueue()
        videos = [make("inter", ts) for ts in range(100, 460, 40)]
        audio = make("aac", 0)
        self.assertEqual(push_pop(queue, [*videos, audio]), [None] * 9 + [audio])
        self.assertEqual(queue.pop(), None)

    def test_drained_kind_waits(self) -> None:
        """
        Once the last audio has left, remaining videos wait again.
        """
        queue = MixQueue()
        a, v1, v2 = make("aac", 0), make("inter", 10), make("inter", 20)
        for m in (v1, v2, a):
            queue.push(m)
        self.assertIs(queue.pop(), a)
        self.assertIsNone(queue.pop())

    def test_timestamp_order_stable(self) -> None:
        """
        Messages leave by timestamp; equal timestamps leave in arrival
        order.
        """
        queue = MixQueue()
        a1, v1, v2 = make("aac", 40, 1), make("inter", 40, 2), make("key", 0)
        a2, v3 = make("aac", 40, 3), make("inter", 80)
        for m in (a1, v1, v2, a2, v3):
            queue.push(m)
        self.assertEqual([queue.pop() for _ in range(4)], [v2, a1, v1, a2])
        self.assertIsNone(queue.pop())

    def test_clear(self) -> None:
        """
        :meth:`MixQueue.clear` drops everything and resets the counts.
        """
        queue = MixQueue()
        push_pop(queue, [make("inter", 0), make("inter", 40)])
        queue.clear()
        self.assertEqual(len(queue), 0)
        self.assertEqual(push_pop(queue, [make("aac", 0)]), [None])

    def test_captured_session(self) -> None:
        """
        The captured ffmpeg session comes out in timestamp order, minus the
        few messages still held at the end.
        """
        media = [m for m in session_messages() if m.is_audio or m.is_video]
        queue = MixQueue()
        out = [m for m in push_pop(queue, media) if m is not None]
        self.assertEqual(len(out) + len(queue), len(media))
        self.assertEqual([m.timestamp for m in out], sorted(m.timestamp for m in out))


_messages = st.lists(
    st.tuples(st.sampled_from(["inter", "key", "aac", "mp3"]), st.integers(0, 300)),
    max_size=80,
)


class PropertyTests(SynchronousTestCase):
    """
    Invariants over random interleavings.
    """

    @given(_messages)
    def test_ordered_permutation(self, spec: list[tuple[str, int]]) -> None:
        """
        Each released message is the earliest held (by timestamp, then
        arrival); released plus held is the input; at most 9 stay held.
        """
        messages = [make(kind, ts, i) for i, (kind, ts) in enumerate(spec)]
        queue = MixQueue()
        held: list[tuple[int, int, SharedMessage]] = []
        released: list[SharedMessage] = []
        for i, m in enumerate(messages):
            queue.push(m)
            held.append((m.timestamp, i, m))
            out = queue.pop()
            if out is not None:
                earliest = min(held, key=lambda entry: entry[:2])
                self.assertIs(out, earliest[2])
                held.remove(earliest)
                released.append(out)
            self.assertEqual(len(queue), len(held))
            self.assertLessEqual(len(queue), PURE_AV_COUNT - 1)
        self.assertEqual(
            sorted(map(id, released + [e[2] for e in held])), sorted(map(id, messages))
        )
