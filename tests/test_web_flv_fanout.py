"""
Tests for :mod:`srstwist.stream.flv_batch`: HTTP-FLV players share one encoding
per tick and timeline offset, and get exactly what they would get alone.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.flv import FlvTagDecoder
from srstwist.media.message import SharedMessage, total_encodes
from srstwist.stream.batch import SharedBatch
from srstwist.stream.request import StreamRequest
from tests.rtmp_peer import captured_media
from tests.test_web_http_server import _dechunk, _Env, _head_and_body, _Publisher


_REQUEST = StreamRequest(ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream="s")

def _tags(transport: StringTransport) -> list[tuple[int, int, bytes]]:
    _, body = _head_and_body(transport.value())
    return [(t.tag_type, t.timestamp, t.payload) for t in FlvTagDecoder().receive_data(_dechunk(body))]


class FlvFanOutTests(SynchronousTestCase):
    """Players joining at two points of a real stream."""

    def run_stream(self, sharing: bool) -> tuple[list[StringTransport], _Env, int, int]:
        self.patch(SharedBatch, "sharing", sharing)
        env = _Env(self.mktemp(), remux="hstrs on;")
        vhost = env.holder.config.vhost("__defaultVhost__")
        assert vhost is not None
        source = env.hub.source(vhost, "live", "s")
        publisher = _Publisher()
        env.hub.publish(source, publisher, _REQUEST)
        media = captured_media()
        transports: list[StringTransport] = []
        before = total_encodes()
        start = env.clock.seconds()
        for index, raw in enumerate(media):
            if index in (0, len(media) // 2):
                for _ in range(10):  # ten players join here
                    channel = env.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
                    transport = StringTransport()
                    channel.makeConnection(transport)
                    channel.dataReceived(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
                    transports.append(transport)
            due = start + raw.timestamp / 1000.0
            if due > env.clock.seconds():
                env.clock.advance(due - env.clock.seconds())
            source.on_message(SharedMessage.from_raw(raw))
        env.clock.advance(1)
        shared_sends = sum(p.shared_sends for p in env.app.players)
        env.hub.unpublish(source, publisher, _REQUEST)
        return transports, env, total_encodes() - before, shared_sends

    def test_same_bytes_fewer_encodes(self) -> None:
        """
        Sharing changes nothing a player receives; most messages reach the
        players in shared batches; each message is encoded about once per
        join point, not once per player.
        """
        shared, env, shared_encodes, shared_sends = self.run_stream(sharing=True)
        alone, _, _, alone_shared = self.run_stream(sharing=False)
        self.assertEqual([_tags(t) for t in shared], [_tags(t) for t in alone])
        messages = len(captured_media())
        received = sum(len(_tags(t)) for t in shared)
        self.assertGreater(len(_tags(shared[0])), messages // 2)
        self.assertEqual(alone_shared, 0)
        self.assertGreater(shared_sends, received * 0.6)
        self.assertLess(shared_encodes, messages * 3)
        for transport in shared:
            self.assertTrue(transport.value().endswith(b"0\r\n\r\n"))
        self.assertEqual(env.app.players, set())
        self.assertEqual(env.hub.batches, {})
