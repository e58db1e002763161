"""
Tests for :mod:`srstwist.services.hub`: the source registry, the consumer
seam and the outputs attached per publish.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from srstwist.config.loader import load_config_text
from srstwist.config.holder import ConfigHolder
from srstwist.interfaces import IStreamConsumer, IStreamPublisher, Replay
from srstwist.media.message import SharedMessage
from srstwist.services.hub import OutputsPerPublish, SourceHub
from srstwist.stream.request import StreamRequest

_REQUEST = StreamRequest(ip="10.0.0.1", vhost="__defaultVhost__", app="live", stream="s")


@implementer(IStreamPublisher)
class _Publisher:
    cid = 10

    def close(self, reason: str) -> None:
        pass


@implementer(IStreamConsumer)
class _Output:
    cid = 11
    replay = Replay.GOP
    sharing_key = None

    def __init__(self) -> None:
        self.got: list[Any] = []

    def deliver(self, message: SharedMessage) -> None:
        self.got.append(message.timestamp)

    def publisher_changed(self, publishing: bool) -> None:
        self.got.append(("publishing", publishing))

    def close(self, reason: str) -> None:
        self.got.append("closed")


class OutputTests(SynchronousTestCase):
    """Outputs are made at publish and let go at unpublish."""

    def setUp(self) -> None:
        config = load_config_text("listen 1935;\nvhost __defaultVhost__ { }\n", "t.conf")
        self.hub = SourceHub(ConfigHolder(config), Clock())
        self.vhost = config.vhost("__defaultVhost__")
        self.made: list[_Output] = []

        def maker(source: Any, request: StreamRequest) -> _Output | None:
            if source.stream == "skip":
                return None
            output = _Output()
            self.made.append(output)
            return output

        def broken(source: Any, request: StreamRequest) -> None:
            raise RuntimeError("this output cannot start")

        self.hub.observe(OutputsPerPublish(self.hub, broken))
        self.hub.observe(OutputsPerPublish(self.hub, maker))

    def test_lifecycle(self) -> None:
        """An output sees the stream from publish to unpublish, then the source is freed."""
        source = self.hub.source(self.vhost, "live", "s")
        publisher = _Publisher()
        self.hub.publish(source, publisher, _REQUEST)
        source.on_message(SharedMessage(40, 9, b"\x27\x01\x00\x00\x00x", 6))
        self.hub.unpublish(source, publisher, _REQUEST)
        self.assertEqual(len(self.made), 1)
        self.assertEqual(self.made[0].got, [40, ("publishing", False)])
        self.assertEqual(source.consumers, [])
        self.hub.release(source)
        self.assertIsNone(self.hub.find("__defaultVhost__", "live", "s"))
        self.flushLoggedErrors(RuntimeError)

    def test_maker_declines(self) -> None:
        """A maker that returns None attaches nothing."""
        source = self.hub.source(self.vhost, "live", "skip")
        self.hub.publish(source, _Publisher(), _REQUEST)
        self.assertEqual(source.consumers, [])
        self.flushLoggedErrors(RuntimeError)
