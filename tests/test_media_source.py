"""
Tests for :mod:`srstwist.media.source`: SRS's ingest path, caches and fan-out.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from srstwist.codec.amf0 import decode_all, encode_values
from srstwist.config.loader import load_config_text
from srstwist.interfaces import IStreamConsumer, IStreamPublisher, Replay
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source, SourceBusy, SourceError
from tests.rtmp_peer import captured_media


def _vhost(body: str = ""):
    return load_config_text(f"listen 1935;\nvhost v {{ {body} }}\n", "t.conf").vhost("v")


@implementer(IStreamConsumer)
class _Consumer:
    """Records what it is given."""

    cid = 7

    def __init__(self) -> None:
        self.messages: list[SharedMessage] = []
        self.publishing: list[bool] = []
        self.closed = ""

    def deliver(self, message: SharedMessage) -> None:
        self.messages.append(message)

    def publisher_changed(self, publishing: bool) -> None:
        self.publishing.append(publishing)

    def close(self, reason: str) -> None:
        self.closed = reason


@implementer(IStreamPublisher)
class _Publisher:
    cid = 3

    def close(self, reason: str) -> None:
        self.closed = reason


class SourceTests(SynchronousTestCase):
    """One source fed the real messages of an ffmpeg publish."""

    def setUp(self) -> None:
        self.raw = captured_media()
        self.source = Source(_vhost(), "live", "s")
        self.publisher = _Publisher()
        self.source.publish(self.publisher)

    def feed(self, count: int | None = None, source: Source | None = None) -> None:
        for raw in self.raw[:count]:
            (source or self.source).on_message(SharedMessage.from_raw(raw))

    def test_publish_lock(self) -> None:
        """A second publisher is refused; after unpublish the stream is free."""
        self.assertRaises(SourceBusy, self.source.publish, _Publisher())
        self.source.unpublish(self.publisher)
        self.source.publish(_Publisher())

    def test_new_consumer_start(self) -> None:
        """A consumer gets metadata, audio then video sequence header, then a GOP."""
        self.feed(100)
        consumer = _Consumer()
        self.source.attach(consumer)
        first = consumer.messages
        name, values = decode_all(first[0].payload)
        self.assertEqual(name, "onMetaData")
        self.assertNotIn("duration", values)
        self.assertEqual(first[1].payload[:2], b"\xaf\x00")
        self.assertEqual(first[2].payload[:2], b"\x17\x00")
        video = [m for m in first[3:] if m.is_video]
        self.assertEqual(video[0].payload[:2], b"\x17\x01")

    def test_same_object_to_every_consumer(self) -> None:
        """Live messages reach every consumer as the very same object."""
        consumers = [_Consumer() for _ in range(3)]
        for consumer in consumers:
            self.source.attach(consumer)
        self.feed(50)
        for a, b in zip(consumers[0].messages, consumers[2].messages, strict=True):
            self.assertIs(a, b)

    def test_stream_delta(self) -> None:
        """Each message carries its delta from the previous one on its chunk stream."""
        consumer = _Consumer()
        self.source.attach(consumer)
        self.feed(60)
        video = [m for m in consumer.messages if m.is_video and not m.is_sequence_header]
        for previous, message in zip(video, video[1:], strict=False):
            self.assertEqual(message.stream_delta, message.timestamp - previous.timestamp)

    def test_unacceptable_video_dropped(self) -> None:
        """Video whose first byte names no known frame type or codec is dropped (#421)."""
        consumer = _Consumer()
        self.source.attach(consumer)
        self.source.on_message(SharedMessage(0, 9, b"\x00\x00\x00", 6))
        self.assertEqual(consumer.messages, [])

    def test_bad_avc_sequence_header(self) -> None:
        """An H.264 sequence header that does not parse refuses the publisher."""
        bad = SharedMessage(0, 9, b"\x17\x00\x00\x00\x00\x01\x02", 6)
        self.assertRaises(SourceError, self.source.on_message, bad)

    def test_mp3_first_packet_is_the_sequence_header(self) -> None:
        """For non-AAC audio the first packet stands in as the sequence header."""
        first = SharedMessage(0, 8, b"\x2f\xff\xfb\x90\x00", 4)
        self.source.on_message(first)
        self.source.on_message(SharedMessage(26, 8, b"\x2f\xff\xfb\x90\x11", 4))
        self.assertIs(self.source.audio_sequence_header, first)

    def test_unpublish_keeps_headers_clears_gop(self) -> None:
        """Unpublish clears the GOP cache but keeps metadata and sequence headers."""
        consumer = _Consumer()
        self.source.attach(consumer)
        self.feed(80)
        self.source.unpublish(self.publisher)
        self.assertEqual(len(self.source.gop), 0)
        self.assertIsNotNone(self.source.metadata)
        self.assertIsNotNone(self.source.video_sequence_header)
        self.assertEqual(consumer.publishing, [False])
        self.assertIn(consumer, self.source.consumers)

    def test_gop_cache_off(self) -> None:
        """With gop_cache off a new consumer gets only the headers."""
        source = Source(_vhost("gop_cache off;"), "live", "s")
        source.publish(_Publisher())
        self.feed(80, source)
        consumer = _Consumer()
        source.attach(consumer)
        self.assertEqual(len(consumer.messages), 3)

    def test_reduce_sequence_header(self) -> None:
        """reduce_sequence_header skips an identical sequence header and later metadata."""
        source = Source(_vhost("reduce_sequence_header on;"), "live", "s")
        source.publish(_Publisher())
        self.feed(10, source)
        consumer = _Consumer()
        source.attach(consumer)
        start = len(consumer.messages)
        header = source.video_sequence_header
        assert header is not None
        source.on_message(SharedMessage(500, 9, header.payload, 6))
        metadata = encode_values("@setDataFrame", "onMetaData", {"width": 1.0})
        source.on_message(SharedMessage(500, 18, metadata, 4))
        self.assertEqual(len(consumer.messages), start)

    def test_atc_restamps_headers(self) -> None:
        """With atc on, a new consumer's headers carry the GOP's first timestamp."""
        source = Source(_vhost("atc on;"), "live", "s")
        source.publish(_Publisher())
        self.feed(100, source)
        consumer = _Consumer()
        source.attach(consumer)
        first_gop = source.gop.first_timestamp
        self.assertEqual({m.timestamp for m in consumer.messages[:3]}, {first_gop})

    def test_atc_auto(self) -> None:
        """Metadata with bravo_atc "true" turns ATC on (atc_auto, on by default)."""
        metadata = encode_values("@setDataFrame", "onMetaData", {"bravo_atc": "true"})
        self.source.on_message(SharedMessage(0, 18, metadata, 4))
        self.assertTrue(self.source.atc)

    def test_mix_correct_orders_by_timestamp(self) -> None:
        """With mix_correct, audio and video leave ordered by timestamp."""
        source = Source(_vhost("mix_correct on;"), "live", "s")
        source.publish(_Publisher())
        consumer = _Consumer()
        source.attach(consumer)
        self.feed(None, source)
        av = [m.timestamp for m in consumer.messages if m.is_audio or m.is_video]
        self.assertEqual(av, sorted(av))

    def test_close_ends_everyone(self) -> None:
        """Closing the source closes its consumers and its publisher."""
        consumer = _Consumer()
        self.source.attach(consumer)
        self.source.close("shutdown")
        self.assertEqual(consumer.closed, "shutdown")
        self.assertEqual(self.publisher.closed, "shutdown")
        self.assertTrue(self.source.idle)


class _Broken(_Consumer):
    """Raises on the ``fail_on``-th delivery, or on ``publisher_changed``."""

    sharing_key = None
    replay = Replay.NOTHING

    def __init__(self, fail_on: int = 1, on_change: bool = False) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.on_change = on_change

    def deliver(self, message: SharedMessage) -> None:
        super().deliver(message)
        if len(self.messages) == self.fail_on:
            raise ValueError("consumer bug")

    def publisher_changed(self, publishing: bool) -> None:
        if self.on_change:
            raise ValueError("consumer bug in publisher_changed")
        super().publisher_changed(publishing)


class IsolationTests(SynchronousTestCase):
    """
    Issue 15 item 7: one consumer that raises is reported and detached; the
    publisher and every other consumer go on.
    """

    def setUp(self) -> None:
        self.raw = captured_media()
        self.errors: list[tuple[object, Exception]] = []
        self.source = Source(
            _vhost(),
            "live",
            "s",
            on_consumer_error=lambda source, consumer, error: self.errors.append(
                (consumer, error)
            ),
        )
        self.publisher = _Publisher()
        self.source.publish(self.publisher)

    def feed(self, count: int) -> None:
        for raw in self.raw[:count]:
            self.source.on_message(SharedMessage.from_raw(raw))

    def test_deliver_raises(self) -> None:
        """
        The first, a middle and the last consumer each raise once: each is
        detached and reported, the others get every message.
        """
        good = [_Consumer() for _ in range(4)]
        first, middle, last = _Broken(3), _Broken(5), _Broken(7)
        for consumer in [first, good[0], good[1], middle, good[2], last, good[3]]:
            self.source.attach(consumer, replay=False)
        self.feed(50)
        self.assertEqual([c for c, _ in self.errors], [first, middle, last])
        self.assertTrue(all(isinstance(e, ValueError) for _, e in self.errors))
        self.assertEqual(self.source.consumers, good)
        self.assertEqual({len(c.messages) for c in good}, {len(good[0].messages)})
        self.assertGreater(len(good[0].messages), 40)
        self.assertEqual((len(first.messages), len(middle.messages)), (3, 5))
        self.assertIs(self.source.publisher, self.publisher)

    def test_publisher_changed_raises(self) -> None:
        """A consumer that raises on unpublish or publish is detached too."""
        good, bad = _Consumer(), _Broken(on_change=True)
        self.source.attach(bad, replay=False)
        self.source.attach(good, replay=False)
        self.source.unpublish(self.publisher)
        self.assertEqual([c for c, _ in self.errors], [bad])
        self.assertEqual(good.publishing, [False])
        self.assertEqual(self.source.consumers, [good])
        bad2 = _Broken(on_change=True)
        self.source.attach(bad2, replay=False)
        self.source.publish(_Publisher())
        self.assertEqual(good.publishing, [False, True])
        self.assertEqual(self.source.consumers, [good])

    def test_default_warns(self) -> None:
        """Without a handler, the source warns and detaches."""
        warnings: list[str] = []
        source = Source(_vhost(), "live", "s", warn=warnings.append)
        source.publish(_Publisher())
        bad, good = _Broken(1), _Consumer()
        source.attach(bad, replay=False)
        source.attach(good, replay=False)
        for raw in self.raw[:10]:
            source.on_message(SharedMessage.from_raw(raw))
        self.assertEqual(source.consumers, [good])
        self.assertEqual(len(warnings), 1)
        self.assertIn("consumer bug", warnings[0])

    def test_gop_overflow_warns_once(self) -> None:
        """
        Issue 15 item 3: a publisher that never sends another keyframe
        overflows the GOP cache; the source warns once.
        """
        warnings: list[str] = []
        source = Source(_vhost(), "live", "s", warn=warnings.append)
        source.publish(_Publisher())
        source.on_message(SharedMessage(0, 9, b"\x17\x01\x00\x00\x00", 6))
        for i in range(10_000):
            source.on_message(SharedMessage(i, 9, b"\x27\x01\x00\x00\x00" + bytes(10), 6))
        self.assertLessEqual(len(source.gop), 4096)
        self.assertEqual(len(warnings), 1)
        self.assertIn("GOP cache", warnings[0])

    def test_hub_handler(self) -> None:
        """
        Through the hub: the failure is logged with its traceback, the
        consumer detached and closed, the publisher and the others kept.
        """
        from twisted.logger import globalLogPublisher

        from tests.rtmp_peer import Harness

        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        harness = Harness("listen 1935;\nvhost __defaultVhost__ { }\n")
        vhost = harness.holder.config.vhost("__defaultVhost__")
        source = harness.hub.source(vhost, "live", "s")
        publisher = _Publisher()
        source.publish(publisher)
        bad, good = _Broken(2), _Broken(10**9)
        harness.hub.attach(source, bad)
        harness.hub.attach(source, good)
        for raw in self.raw[:30]:
            source.on_message(SharedMessage.from_raw(raw))
        self.assertEqual(source.consumers, [good])
        self.assertEqual(bad.closed, "internal error")
        self.assertIs(source.publisher, publisher)
        failures = [e for e in events if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.assertIn("failed: detached", failures[0]["log_format"])
        self.flushLoggedErrors(ValueError)
