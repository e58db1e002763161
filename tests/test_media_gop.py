"""
Tests for :mod:`srstwist.media.gop`: SRS's GOP cache rules (``SrsGopCache``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import MessageType
from srstwist.media.gop import PURE_AUDIO_GUESS_COUNT, GopCache
from srstwist.media.message import SharedMessage
from tests.test_media_message import session_messages
from tests.test_media_queue import make

A, V = MessageType.AUDIO, MessageType.VIDEO

#: Sorenson H.263 keyframe and inter frame: video, but not H.264.
H263_KEY = b"\x12\x00\x00"
H263_INTER = b"\x22\x00\x00"


def feed(cache: GopCache, messages: list[SharedMessage]) -> GopCache:
    """
    Offer ``messages`` to ``cache`` in order and return it.
    """
    for m in messages:
        cache.cache(m)
    return cache


def is_h264_frame(m: SharedMessage) -> bool:
    """
    Whether ``m`` is H.264 video other than a sequence header.
    """
    return m.is_video and m.payload[0] & 0x0F == 7 and not m.is_sequence_header


class RuleTests(SynchronousTestCase):
    """
    One test per rule.
    """

    def test_keyframe_starts_gop(self) -> None:
        """
        A keyframe and what follows are cached; the next keyframe starts
        over.
        """
        first = [make("key", 0, 1), make("aac", 10), make("inter", 40), make("aac", 33)]
        second = [make("key", 80, 2), make("inter", 120)]
        cache = feed(GopCache(), first)
        self.assertEqual(cache.messages(), first)
        feed(cache, second)
        self.assertEqual(cache.messages(), second)
        self.assertEqual(len(cache), 2)
        self.assertEqual(cache.first_timestamp, 80)

    def test_sequence_headers_and_metadata_not_cached(self) -> None:
        """
        AVC and AAC sequence headers and metadata are never cached, even in
        the middle of a GOP, and a video sequence header does not start one.
        """
        key = make("key", 0)
        cache = feed(GopCache(), [key, make("vsh", 10), make("ash", 10), make("meta", 10)])
        self.assertEqual(cache.messages(), [key])
        cache = feed(GopCache(), [make("vsh"), make("ash"), make("meta")])
        self.assertTrue(cache.empty)

    def test_audio_only(self) -> None:
        """
        Until an H.264 frame is cached nothing is: audio-only streams
        (AAC or MP3) cache nothing.
        """
        cache = feed(GopCache(), [make("aac", ts) for ts in range(0, 5000, 23)])
        cache = feed(cache, [make("mp3", ts) for ts in range(0, 5000, 26)])
        self.assertTrue(cache.empty)
        self.assertIsNone(cache.first_timestamp)

    def test_audio_before_video_not_cached(self) -> None:
        """
        Audio before the first H.264 frame is dropped; MP3 after it is
        cached.
        """
        key, mp3 = make("key", 40), make("mp3", 50)
        cache = feed(GopCache(), [make("mp3", 0), make("mp3", 26), key, mp3])
        self.assertEqual(cache.messages(), [key, mp3])

    def test_other_video_codecs_ignored(self) -> None:
        """
        Video that is not H.264 is never cached and does not count as
        video.
        """
        h263 = [SharedMessage(ts, V, H263_KEY if ts == 0 else H263_INTER) for ts in (0, 40)]
        cache = feed(GopCache(), [*h263, make("aac", 50)])
        self.assertTrue(cache.empty)
        key = make("key", 80)
        feed(cache, [key, SharedMessage(90, V, H263_KEY)])
        self.assertEqual(cache.messages(), [key])

    def test_empty_video_ignored(self) -> None:
        """
        A video message with no payload is ignored.
        """
        cache = feed(GopCache(), [SharedMessage(0, V, b""), make("aac", 10)])
        self.assertTrue(cache.empty)

    def test_pure_audio_guess(self) -> None:
        """
        115 audio messages after the last video are cached; the 116th clears
        the cache instead, and audio is then dropped until the next H.264
        frame (SRS #124).
        """
        key = make("key", 0)
        audio = [make("aac", 10 + i) for i in range(PURE_AUDIO_GUESS_COUNT)]
        cache = feed(GopCache(), [key, *audio])
        self.assertEqual(cache.messages(), [key, *audio])
        cache.cache(make("aac", 500))
        self.assertTrue(cache.empty)
        cache.cache(make("aac", 600))
        self.assertTrue(cache.empty)
        inter, aac = make("inter", 700), make("aac", 710)
        feed(cache, [inter, aac])
        self.assertEqual(cache.messages(), [inter, aac])

    def test_video_resets_audio_count(self) -> None:
        """
        Any H.264 frame restarts the audio count, so long GOPs with
        interleaved audio are kept.
        """
        stream = [make("key", 0)]
        for i in range(3):
            stream += [make("aac", 1 + i) for _ in range(PURE_AUDIO_GUESS_COUNT)]
            stream.append(make("inter", 100 + i))
        cache = feed(GopCache(), stream)
        self.assertEqual(cache.messages(), stream)

    def test_first_frame_inter(self) -> None:
        """
        As in SRS, a stream starting on an inter frame is cached from that
        frame until its first keyframe.
        """
        inter, aac, key = make("inter", 0), make("aac", 10), make("key", 40)
        cache = feed(GopCache(), [inter, aac])
        self.assertEqual(cache.messages(), [inter, aac])
        cache.cache(key)
        self.assertEqual(cache.messages(), [key])

    def test_disabled(self) -> None:
        """
        A disabled cache caches nothing; disabling empties it; enabling
        again starts from scratch.
        """
        cache = feed(GopCache(enabled=False), [make("key", 0), make("inter", 40)])
        self.assertTrue(cache.empty)
        self.assertFalse(cache.enabled)
        cache.enabled = True
        feed(cache, [make("key", 80), make("inter", 120)])
        self.assertEqual(len(cache), 2)
        cache.enabled = False
        self.assertTrue(cache.empty)
        cache.enabled = True
        cache.cache(make("aac", 130))
        self.assertTrue(cache.empty)

    def test_clear(self) -> None:
        """
        :meth:`GopCache.clear` empties the cache, and caching waits for the next
        H.264 frame.
        """
        cache = feed(GopCache(), [make("key", 0), make("inter", 40)])
        cache.clear()
        self.assertTrue(cache.empty)
        cache.cache(make("aac", 50))
        self.assertTrue(cache.empty)

    def test_messages_is_a_copy(self) -> None:
        """
        Changing the list from :meth:`GopCache.messages` does not change the
        cache.
        """
        cache = feed(GopCache(), [make("key", 0)])
        cache.messages().clear()
        self.assertEqual(len(cache), 1)


class RealStreamTests(SynchronousTestCase):
    """
    Real FLV payload prefixes and a captured ffmpeg session.
    """

    def test_prefixes(self) -> None:
        """
        Built from real prefixes (``17 00``, ``17 01``, ``27 01``, ``af 00``,
        ``af 01``, MP3 ``2f``), only frames from the keyframe on are cached.
        """
        stream = [
            SharedMessage(0, V, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f"),
            SharedMessage(0, A, b"\xaf\x00\x12\x10"),
            SharedMessage(0, V, b"\x17\x01\x00\x00\x00\x65"),
            SharedMessage(23, A, b"\xaf\x01\x21\x00"),
            SharedMessage(40, V, b"\x27\x01\x00\x00\x50\x41"),
            SharedMessage(46, A, b"\x2f\xff\xfb\x90\x64"),
        ]
        cache = feed(GopCache(), stream)
        self.assertEqual(cache.messages(), stream[2:])
        self.assertEqual(cache.first_timestamp, 0)

    def test_captured_session(self) -> None:
        """
        On the captured ffmpeg session the cache starts with the last H.264
        keyframe and holds everything A/V since, minus sequence headers.
        """
        messages = session_messages()
        cache = feed(GopCache(), messages)
        last_key = max(i for i, m in enumerate(messages) if is_h264_frame(m) and m.is_keyframe)
        expected = [
            m
            for m in messages[last_key:]
            if (m.is_audio or m.is_video) and not m.is_sequence_header
        ]
        self.assertEqual(cache.messages(), expected)
        self.assertTrue(cache.messages()[0].is_keyframe)


_kinds = st.sampled_from(["vsh", "key", "inter", "ash", "aac", "mp3", "meta", "h263"])


def build(kind: str, index: int) -> SharedMessage:
    """
    Message number ``index`` of ``kind``; ``h263`` is a non-H.264 keyframe.
    """
    if kind == "h263":
        return SharedMessage(index, V, H263_KEY)
    return make(kind, index, index)


def audio_runs(kinds: list[str]) -> list[str]:
    """
    ``kinds`` with runs of audio after video expanded past the #124 limit
    now and then, so that property tests reach it.
    """
    out: list[str] = []
    for kind in kinds:
        out.append(kind)
        if kind == "mp3":
            out += ["aac"] * PURE_AUDIO_GUESS_COUNT
    return out


class PropertyTests(SynchronousTestCase):
    """
    Invariants over random streams.
    """

    @given(st.lists(_kinds, max_size=100).map(audio_runs))
    def test_invariants(self, kinds: list[str]) -> None:
        """
        After every message the cache is a suffix of the cacheable input,
        empty or starting with an H.264 frame, with keyframes only at its
        start and at most 115 audio messages after its last video.
        """
        cache = GopCache()
        cacheable: list[SharedMessage] = []
        for i, kind in enumerate(kinds):
            m = build(kind, i)
            cache.cache(m)
            if (is_h264_frame(m) or m.is_audio) and not m.is_sequence_header:
                cacheable.append(m)
            held = cache.messages()
            self.assertEqual(held, cacheable[len(cacheable) - len(held) :])
            if held:
                self.assertTrue(is_h264_frame(held[0]))
                self.assertEqual(cache.first_timestamp, held[0].timestamp)
            self.assertFalse(any(m.is_keyframe for m in held[1:]))
            trailing = 0
            for m in reversed(held):
                if m.is_video:
                    break
                trailing += 1
            self.assertLessEqual(trailing, PURE_AUDIO_GUESS_COUNT)

    @given(st.lists(_kinds, max_size=100))
    def test_starts_with_keyframe(self, kinds: list[str]) -> None:
        """
        When the publisher's first H.264 frame is a keyframe and audio never
        runs past the #124 limit, a non-empty cache starts with a keyframe.
        """
        cache = GopCache()
        seen_h264 = False
        for i, kind in enumerate(kinds):
            if kind == "inter" and not seen_h264:
                kind = "key"
            seen_h264 = seen_h264 or kind in ("key", "inter")
            cache.cache(build(kind, i))
            if not cache.empty:
                self.assertTrue(cache.messages()[0].is_keyframe)


class CapTests(SynchronousTestCase):
    """
    Issue 15 item 3: a publisher that never sends a keyframe must not grow
    the GOP cache without bound.
    """

    def test_default_caps(self) -> None:
        """The caps are 16 MB and 4096 messages."""
        from srstwist.media.gop import MAX_BYTES, MAX_MESSAGES

        cache = GopCache()
        self.assertEqual((cache.max_bytes, cache.max_messages), (MAX_BYTES, MAX_MESSAGES))
        self.assertEqual((MAX_BYTES, MAX_MESSAGES), (16 * 1024 * 1024, 4096))

    def test_no_keyframe_bounded_by_count(self) -> None:
        """
        Inter frames after one keyframe, forever: past the count cap the
        cache is emptied, says so once, and caches nothing until the next
        keyframe.
        """
        cache = GopCache()
        results = [cache.cache(make("key", 0))]
        results += [cache.cache(make("inter", 40 * i, i)) for i in range(1, 20_000)]
        self.assertEqual(results.count(True), 1)
        self.assertLessEqual(len(cache), 4096)
        self.assertEqual(len(cache), 0)
        self.assertEqual(cache.overflows, 1)
        cache.cache(make("key", 900_000, 1))
        cache.cache(make("inter", 900_040, 2))
        self.assertEqual(len(cache), 2)

    def test_bounded_by_bytes(self) -> None:
        """
        Big frames: the byte cap empties the cache; each GOP that overflows
        again belongs to the same episode (one report), a GOP that fits ends
        it.
        """
        cache = GopCache(max_bytes=1_000_000)
        frame = make("inter").payload + bytes(200_000)
        key = make("key").payload + bytes(200_000)
        reports = []
        for gop in range(3):
            reports.append(cache.cache(SharedMessage(0, V, key)))
            for _ in range(10):
                reports.append(cache.cache(SharedMessage(0, V, frame)))
                self.assertLessEqual(cache.bytes, 1_000_000)
        self.assertEqual(reports.count(True), 1)
        self.assertEqual(cache.overflows, 3)
        cache.cache(SharedMessage(0, V, key))  # a small GOP fits: episode over
        cache.cache(SharedMessage(0, V, frame))
        self.assertEqual(len(cache), 2)
        reports = [cache.cache(SharedMessage(0, V, key))]
        reports += [cache.cache(SharedMessage(0, V, frame)) for _ in range(10)]
        self.assertEqual(reports.count(True), 1)
