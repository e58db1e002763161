"""
Forward (:mod:`srstwist.services.forward`): a master's stream published
again to a slave, both srstwist servers in memory (tests/rtmp_peer.py's
Harness), the slave reached through the real RTMP client library.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from srstwist.client.rtmp import connect_rtmp
from srstwist.codec.flv import FlvTagDecoder
from srstwist.config.loader import load_config_text
from srstwist.interfaces import Stage
from srstwist.media.message import SharedMessage
from srstwist.services.forward import (
    Backoff,
    Destination,
    ForwardService,
    forward_tc_url,
    parse_destination,
    upnode_args,
)
from srstwist.services.hub import OutputsPerPublish
from srstwist.stream.request import StreamRequest
from tests.rtmp_peer import Harness
from tests.test_client_flv_file import generated

_MASTER = "listen 1935;\nvhost __defaultVhost__ { forward 127.0.0.1:19350; }\n"
_SLAVE = "listen 19350;\nvhost __defaultVhost__ { min_latency on; }\n"


def _tags() -> list[SharedMessage]:
    """The tags of a 2 s FLV that ffmpeg made (H.264 + AAC, onMetaData first)."""
    with open(generated("flv"), "rb") as f:
        data = f.read()
    tags = FlvTagDecoder().receive_data(data)
    return [SharedMessage(t.timestamp, t.tag_type, t.payload) for t in tags]


class _Publisher:
    cid = 77

    def __init__(self, harness: Harness) -> None:
        self.handle = harness.controller.client(self.cid, "10.0.0.9")
        request = StreamRequest(
            ip="10.0.0.9", vhost="__defaultVhost__", app="live", stream="livestream",
            tc_url="rtmp://127.0.0.1/live", client_type="fmle-publish", transport="memory",
        )
        admission = self.handle.admit(request, Stage.PUBLISH).result
        self.lease = self.handle.publish(admission, self)

    def close(self, reason: str) -> None:
        self.lease.end(reason)


class _SlaveEndpoint:
    """Connects the forwarder's client to the slave harness in memory."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.up = True

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        from twisted.internet.error import ConnectionRefusedError

        if not self.up:
            return defer.fail(ConnectionRefusedError("slave down"))
        protocol = factory.buildProtocol(None)
        self.harness.connect(protocol)
        return defer.succeed(protocol)


class ParseTests(SynchronousTestCase):
    def test_host_port(self) -> None:
        self.assertEqual(parse_destination("127.0.0.1:19350"), Destination("127.0.0.1", 19350))
        self.assertEqual(parse_destination("origin"), Destination("origin", 1935))

    def test_app_and_vhost(self) -> None:
        self.assertEqual(
            parse_destination("10.0.0.1:1936/relay?vhost=slave.srs.com"),
            Destination("10.0.0.1", 1936, "relay", "slave.srs.com"),
        )

    def test_bad(self) -> None:
        self.assertRaises(ValueError, parse_destination, ":1935")
        self.assertRaises(ValueError, parse_destination, "h:99999")

    def test_tc_url(self) -> None:
        request = StreamRequest(ip="1.2.3.4", vhost="v", app="live", tc_url="rtmp://a.com/live")
        harness = Harness(_MASTER)
        vhost = harness.config.vhost("__defaultVhost__")
        plain = Destination("h", 1935)
        self.assertEqual(forward_tc_url(request, vhost, plain), "rtmp://a.com/live")
        named = Destination("h", 1936, "x", "s.com")
        self.assertEqual(forward_tc_url(request, vhost, named), "rtmp://s.com:1936/x")

    def test_backoff_capped(self) -> None:
        backoff = Backoff(1, 8)
        self.assertEqual([backoff.next() for _ in range(6)], [1, 2, 4, 8, 8, 8])
        backoff.reset()
        self.assertEqual(backoff.next(), 1)

    def test_upnode_args(self) -> None:
        args = upnode_args(5, {"token": "t"})
        self.assertEqual(args["token"], "t")
        self.assertEqual(args["srs_sig"], "SRS")
        self.assertEqual(args["srs_id"], 5.0)


class _ForwardBase(SynchronousTestCase):
    """A master harness forwarding to a slave harness, in memory."""

    def setUp(self) -> None:
        self.master = Harness(_MASTER)
        self.slave = Harness(_SLAVE)
        self.slave.clock = self.master.clock  # one time for both
        self.endpoint = _SlaveEndpoint(self.slave)
        clock = self.slave.clock

        def connect(reactor: Any, url: str, **options: Any) -> defer.Deferred[Any]:
            return connect_rtmp(reactor, url, endpoint=self.endpoint, **options)

        self.forwards = ForwardService(clock, connect=connect)
        self.master.hub.observe(OutputsPerPublish(self.master.hub, self.forwards.output_for))

    def slave_source(self) -> Any:
        return self.slave.hub.find("__defaultVhost__", "live", "livestream")


class ForwardTests(_ForwardBase):
    """Forward, reconnect, queue bound."""

    def test_forward_and_reconnect(self) -> None:
        tags = _tags()
        publisher = _Publisher(self.master)
        self.slave.flush()
        [pusher] = self.forwards.outputs[("__defaultVhost__", "live", "livestream")].pushers
        self.assertEqual(pusher.status.state, "publishing")
        half = len(tags) // 2
        for tag in tags[:half]:
            publisher.lease.deliver(tag)
        self.slave.flush()
        source = self.slave_source()
        self.assertIsNotNone(source)
        self.assertIsNotNone(source.publisher)
        self.assertIsNotNone(source.video_sequence_header)
        self.assertIsNotNone(source.audio_sequence_header)
        self.assertIsNotNone(source.metadata)
        self.assertEqual(pusher.status.messages_sent, half)
        [info] = self.forwards.forwards()
        self.assertEqual(info["url"], "rtmp://127.0.0.1:19350/live/livestream")
        self.assertEqual(info["retries"], 0)

        # The slave goes away and stays down for two attempts.
        self.endpoint.up = False
        for pump in list(self.slave.pumps):
            pump.client.transport.loseConnection()
        self.slave.flush()
        self.assertIsNone(self.slave_source())
        self.assertEqual(pusher.status.state, "waiting")
        self.master.clock.advance(1)   # attempt 1 refused, next in 2 s
        self.master.clock.advance(2)   # attempt 2 refused, next in 4 s
        self.assertEqual(pusher.status.retries, 3)
        for tag in tags[half:]:
            publisher.lease.deliver(tag)
        queued, _ = pusher.queued
        self.assertEqual(queued, len(tags) - half)
        self.endpoint.up = True
        self.master.clock.advance(4)
        self.slave.flush()
        source = self.slave_source()
        # SRS #150: the headers came again before the queue.
        self.assertIsNotNone(source.video_sequence_header)
        self.assertIsNotNone(source.audio_sequence_header)
        self.assertIsNotNone(source.metadata)
        self.assertEqual(pusher.queued, (0, 0))
        self.assertEqual(pusher.status.state, "publishing")

        # Unpublish stops the forward.
        publisher.close("done")
        self.slave.flush()
        self.assertEqual(self.forwards.forwards(), [])
        self.assertEqual(pusher.status.state, "stopped")

    def test_queue_bound(self) -> None:
        self.endpoint.up = False
        publisher = _Publisher(self.master)
        [pusher] = self.forwards.outputs[("__defaultVhost__", "live", "livestream")].pushers
        pusher._max_messages = 10
        tags = _tags()
        for tag in tags:
            publisher.lease.deliver(tag)
        count, size = pusher.queued
        self.assertLessEqual(count, 10)
        self.assertGreater(pusher.status.dropped, 0)
        # After an overflow the queue starts again at a keyframe.
        first_video = next((m for m in pusher._queue if m.is_video), None)
        if first_video is not None:
            self.assertTrue(first_video.is_keyframe)
        publisher.close("done")

    def test_edge_vhost_not_forwarded(self) -> None:
        harness = Harness(
            "listen 1935;\nvhost __defaultVhost__ { mode remote; origin 127.0.0.1:19350; "
            "forward 127.0.0.1:19351; }\n"
        )
        forwards = ForwardService(harness.clock)
        harness.hub.observe(OutputsPerPublish(harness.hub, forwards.output_for))
        publisher = _Publisher(harness)
        self.assertEqual(forwards.outputs, {})
        publisher.close("done")


class ForwardReloadTests(_ForwardBase):
    """A reload changing forward restarts the forwards of live streams only then."""

    def test_reload(self) -> None:
        _Publisher(self.master)
        self.slave.flush()
        key = ("__defaultVhost__", "live", "livestream")
        [first] = self.forwards.outputs[key].pushers
        # Something else changed: the forward goes on.
        config = load_config_text(_MASTER.replace("}", "gop_cache off; }"), "t.conf")
        self.master.hub.reconfigure(config)
        self.assertEqual(self.forwards.outputs[key].pushers, [first])
        # forward changed: restarted on the new list.
        config = load_config_text(
            _MASTER.replace("127.0.0.1:19350", "127.0.0.1:19352"), "t.conf"
        )
        self.master.hub.reconfigure(config)
        self.slave.flush()
        [second] = self.forwards.outputs[key].pushers
        self.assertIsNot(second, first)
        self.assertEqual(first.status.state, "stopped")
        self.assertEqual(second.status.url, "rtmp://127.0.0.1:19352/live/livestream")
        # forward removed: stopped.
        self.master.hub.reconfigure(load_config_text(_SLAVE, "t.conf"))
        self.assertNotIn(key, self.forwards.outputs)
        self.assertEqual(second.status.state, "stopped")


class BackPressureTests(_ForwardBase):
    def test_one_writable_waiter(self) -> None:
        """A blocked destination socket: messages queue (bounded), one drain waiter."""
        publisher = _Publisher(self.master)
        self.slave.flush()
        [pusher] = self.forwards.outputs[("__defaultVhost__", "live", "livestream")].pushers
        client = pusher._client
        assert client is not None
        client.pauseProducing()  # as the transport does when its buffer is full
        for tag in _tags()[:50]:
            publisher.lease.deliver(tag)
        self.assertEqual(len(client._writable_waiters), 1)
        self.assertEqual(pusher.queued[0], 50)
        client.resumeProducing()
        self.slave.flush()
        self.assertEqual(pusher.queued, (0, 0))
        publisher.close("done")


class QueueLengthTests(_ForwardBase):
    def test_queue_spans_at_most_queue_length(self) -> None:
        """A down destination's queue holds at most queue_length seconds of stream."""
        self.endpoint.up = False
        publisher = _Publisher(self.master)
        [pusher] = self.forwards.outputs[("__defaultVhost__", "live", "livestream")].pushers
        pusher._max_duration = 500  # ms, for a 2 s capture
        for tag in _tags():
            publisher.lease.deliver(tag)
        queue = list(pusher._queue)
        self.assertTrue(queue)
        self.assertLessEqual(queue[-1].timestamp - queue[0].timestamp, 500)
        self.assertGreater(pusher.status.dropped, 0)
        publisher.close("done")
