"""
Tests for L{srstwist.services.hub}: the source registry and the outputs it
attaches to published sources.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from srstwist.config.model import load_config_text
from srstwist.interfaces import IStreamConsumer, IStreamPublisher
from srstwist.media.message import SharedMessage
from srstwist.services.hub import ConfigHolder, SourceHub


@implementer(IStreamPublisher)
class _Publisher:
    cid = 10

    def close(self, reason: str) -> None:
        pass


@implementer(IStreamConsumer)
class _Output:
    cid = 11

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

        def maker(source: Any) -> _Output | None:
            if source.stream == "skip":
                return None
            output = _Output()
            self.made.append(output)
            return output

        def broken(source: Any) -> None:
            raise RuntimeError("this output cannot start")

        self.hub.output_makers += [broken, maker]

    def test_lifecycle(self) -> None:
        """An output sees the stream from publish to unpublish, then the source is freed."""
        source = self.hub.source(self.vhost, "live", "s")
        publisher = _Publisher()
        self.hub.publish(source, publisher)
        source.on_message(SharedMessage(40, 9, b"\x27\x01\x00\x00\x00x", 6))
        self.hub.unpublish(source, publisher)
        self.assertEqual(len(self.made), 1)
        self.assertEqual(self.made[0].got, [40, ("publishing", False)])
        self.assertEqual(source.consumers, [])
        self.hub.release(source)
        self.assertIsNone(self.hub.find("__defaultVhost__", "live", "s"))
        self.flushLoggedErrors(RuntimeError)

    def test_maker_declines(self) -> None:
        """A maker that returns None attaches nothing."""
        source = self.hub.source(self.vhost, "live", "skip")
        self.hub.publish(source, _Publisher())
        self.assertEqual(source.consumers, [])
        self.flushLoggedErrors(RuntimeError)
