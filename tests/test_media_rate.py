"""
Tests for :mod:`srstwist.media.rate`: a publisher's message and byte rates
(issue 15 item 3).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.media.rate import MAX_BYTES_PER_SECOND, MAX_MESSAGES_PER_SECOND, RateMeter


def run(meter: RateMeter, seconds: float, rate: int, size: int, start: float = 0.0) -> bool:
    """
    Feed ``meter`` ``rate`` messages of ``size`` bytes per second, evenly,
    for ``seconds``; return the last answer.
    """
    result = False
    count = int(seconds * rate)
    for i in range(count):
        result = meter.feed(start + i / rate, size)
    return result


class RateMeterTests(SynchronousTestCase):
    """Only a sustained flood is reported."""

    def test_defaults(self) -> None:
        """The limits are 10000 messages/s and 50 MB/s over 3 s."""
        meter = RateMeter()
        self.assertEqual((meter.max_messages, meter.max_bytes), (10_000, 50_000_000))
        self.assertEqual((MAX_MESSAGES_PER_SECOND, MAX_BYTES_PER_SECOND), (10_000, 50_000_000))
        self.assertEqual(meter.sustained, 3.0)

    def test_real_stream_passes(self) -> None:
        """A 5 Mbit/s stream at 100 messages/s for a minute is fine."""
        meter = RateMeter()
        self.assertFalse(run(meter, 60, 100, 6250))
        self.assertEqual(meter.over_for, 0)
        self.assertAlmostEqual(meter.messages_per_second, 100, delta=1)

    def test_message_flood(self) -> None:
        """20000 messages/s: reported after about 3 s, not before."""
        meter = RateMeter()
        self.assertFalse(run(meter, 2.5, 20_000, 10))
        self.assertTrue(run(meter, 2.0, 20_000, 10, start=2.5))
        self.assertIn("messages/s", meter.describe())

    def test_byte_flood(self) -> None:
        """100 MB/s in 200 KB messages: reported."""
        meter = RateMeter()
        self.assertTrue(run(meter, 5, 500, 200_000))

    def test_short_burst_passes(self) -> None:
        """Two seconds of flood then a normal rate: never reported."""
        meter = RateMeter()
        self.assertFalse(run(meter, 2, 20_000, 10))
        self.assertFalse(run(meter, 10, 100, 10, start=2))
        self.assertEqual(meter.over_for, 0)

    def test_pause_starts_over(self) -> None:
        """A long gap ends whatever came before it."""
        meter = RateMeter()
        self.assertFalse(run(meter, 2.5, 20_000, 10))
        self.assertFalse(meter.feed(30.0, 10))
        self.assertEqual(meter.over_for, 0)


class PublishLeaseFloodTests(SynchronousTestCase):
    """
    The stream controller's publish lease applies the meter to every
    publisher: a flood closes it with one clear reason.
    """

    def setUp(self) -> None:
        from tests.rtmp_peer import Harness
        from tests.test_stream_controller import (
            MemoryPublisher,
            RecordingConsumer,
            _publish_request,
        )

        self.harness = Harness("listen 1935;\nvhost __defaultVhost__ { }\n")
        self.publisher = MemoryPublisher(self.harness.controller.client(10, "10.0.0.5"))
        self.publisher.start(_publish_request())
        self.consumer = RecordingConsumer()
        source = self.publisher.lease.source  # type: ignore[union-attr]
        self.harness.hub.attach(source, self.consumer)

    def send(self, seconds: float, rate: int) -> None:
        from srstwist.codec.chunk import MessageType
        from srstwist.media.message import SharedMessage

        for _ in range(int(seconds * rate)):
            if self.publisher.closed:
                return
            self.harness.clock.advance(1.0 / rate)
            self.publisher.send(SharedMessage(0, MessageType.VIDEO, b"\x27\x01\x00\x00\x00", 6))

    def test_real_rate(self) -> None:
        """200 messages/s for 10 s: nothing happens."""
        self.send(10, 200)
        self.assertEqual(self.publisher.closed, [])
        self.assertEqual(len(self.consumer.messages), 2000)

    def test_flood_closes(self) -> None:
        """
        20000 messages/s: closed after about 3 s with a reason that says
        why; what it sends after that is dropped.
        """
        self.send(6, 20_000)
        self.assertEqual(len(self.publisher.closed), 1)
        self.assertIn("publisher flood", self.publisher.closed[0])
        self.assertIn("messages/s", self.publisher.closed[0])
        delivered = len(self.consumer.messages)
        self.assertLess(delivered, 5 * 20_000)
        self.assertGreater(delivered, 2 * 20_000)
