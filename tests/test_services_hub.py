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


_TWO_VHOSTS = """listen 1935;
vhost __defaultVhost__ { }
vhost a.test { }
"""


class ReloadTests(SynchronousTestCase):
    """
    ``SourceHub.reconfigure`` and ``OutputsPerPublish.reconfigure``: the
    outputs of live streams follow a reload (SRS's
    ``SrsSource::on_reload_vhost_hls`` and siblings) without a republish.
    """

    def setUp(self) -> None:
        self.config = load_config_text(_TWO_VHOSTS, "t.conf")
        self.hub = SourceHub(ConfigHolder(self.config), Clock())
        self.made: list[_Output] = []

        def maker(source: Any, request: StreamRequest) -> _Output | None:
            # "on" for a vhost whose gop_cache is on, for the test's sake.
            if not source.vhost.gop_cache:
                return None
            output = _Output()
            self.made.append(output)
            return output

        self.outputs = OutputsPerPublish(self.hub, maker)
        self.hub.observe(self.outputs)

    def live(self, vhost: str) -> Any:
        found = self.config.vhost(vhost)
        assert found is not None
        source = self.hub.source(found, "live", "s")
        self.hub.publish(source, _Publisher(), _REQUEST)
        source.on_message(SharedMessage(0, 9, b"\x17\x01\x00\x00\x00x", 6))
        return source

    def reload(self, text: str) -> None:
        self.config = load_config_text(text, "t.conf")
        self.hub.reconfigure(self.config)

    def test_removed_vhost_keeps_its_name(self) -> None:
        """
        A reload that removes a vhost leaves its live sources under their
        own name (the controller closes them): they do not turn into
        ``__defaultVhost__``, which ``ServerConfig.vhost`` falls back to.
        """
        source = self.live("a.test")
        self.reload("listen 1935;\nvhost __defaultVhost__ { gop_cache off; }\n")
        self.assertEqual(source.key, ("a.test", "live", "s"))
        self.assertIs(self.hub.find("a.test", "live", "s"), source)
        self.assertIn(self.made[0], source.consumers)

    def test_unchanged(self) -> None:
        """A reload that changes nothing of the vhost leaves its output alone."""
        source = self.live("a.test")
        self.reload(_TWO_VHOSTS + "# a comment moves nothing\n")
        self.assertEqual(len(self.made), 1)
        self.assertEqual(self.made[0].got, [0])
        self.assertEqual(source.consumers, [self.made[0]])

    def test_turned_off(self) -> None:
        """An output the reload turns off is detached and closed."""
        source = self.live("a.test")
        self.reload("listen 1935;\nvhost __defaultVhost__ { }\nvhost a.test { gop_cache off; }\n")
        self.assertEqual(self.made[0].got, [0, "closed"])
        self.assertEqual(source.consumers, [])

    def test_turned_on(self) -> None:
        """
        An output the reload turns on is attached to the live stream with
        its replay (here the GOP cache), and detached at unpublish.
        """
        self.reload("listen 1935;\nvhost __defaultVhost__ { }\nvhost a.test { gop_cache off; }\n")
        source = self.live("a.test")
        self.assertEqual(self.made, [])
        source.gop.enabled = True
        source.on_message(SharedMessage(40, 9, b"\x17\x01\x00\x00\x00y", 6))
        self.reload(_TWO_VHOSTS)
        self.assertEqual(len(self.made), 1)
        self.assertEqual(self.made[0].got, [40])
        self.assertEqual(source.consumers, [self.made[0]])
        self.hub.unpublish(source, source.publisher, _REQUEST)
        self.assertEqual(source.consumers, [])

    def test_settings_changed(self) -> None:
        """
        An output whose settings (its ``reload_key``) change is closed and
        made again; other changes of the vhost leave it alone.
        """
        source = self.live("a.test")
        first = self.made[0]
        first.reload_key = lambda vhost: vhost.queue_length  # type: ignore[attr-defined]
        self.reload(_TWO_VHOSTS.replace("a.test { }", "a.test { mw_latency 100; }"))
        self.assertEqual(self.made, [first])
        self.reload(_TWO_VHOSTS.replace("a.test { }", "a.test { queue_length 5; }"))
        self.assertEqual(len(self.made), 2)
        self.assertEqual(first.got, [0, "closed"])
        self.assertEqual(source.consumers, [self.made[1]])

    def test_not_published(self) -> None:
        """Streams without a publisher get no output from a reload."""
        self.reload("listen 1935;\nvhost __defaultVhost__ { }\nvhost a.test { gop_cache off; }\n")
        source = self.live("a.test")
        self.hub.unpublish(source, source.publisher, _REQUEST)
        self.reload(_TWO_VHOSTS)
        self.assertEqual(self.made, [])
