"""
Tests for :mod:`srstwist.web.flv_post`: ffmpeg's FLV
(``tests/data/casters/bf2-640x360-aac.flv``: ``ffmpeg -f lavfi -i
testsrc=size=640x360:rate=25 -f lavfi -i sine=sample_rate=44100 -t 1 -c:v
libx264 -preset ultrafast -bf 2 -g 25 -pix_fmt yuv420p -c:a aac -b:a 64k -f
flv``) POSTed to a real stream controller on a Clock, sized and chunked, cut
anywhere; bad input closes only its own connection.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.flv import FlvTagDecoder
from srstwist.interfaces import Stage
from srstwist.stream.caster import output_request
from srstwist.stream.admission import Admission
from srstwist.web.flv_post import flv_post_site
from tests.rtmp_peer import Harness
from tests.test_stream_controller import RecordingConsumer, RecordingHooks

_FLV = os.path.join(os.path.dirname(__file__), "data", "casters", "bf2-640x360-aac.flv")
_CONF = """
listen 1935;
vhost __defaultVhost__ { http_hooks { enabled on; on_publish http://h/p; on_unpublish http://h/u; } }
"""


def _body() -> bytes:
    with open(_FLV, "rb") as f:
        return f.read()


class FlvPostTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = Harness(_CONF)
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.site = flv_post_site(self.harness.controller, "rtmp://127.0.0.1/[app]/[stream]", self.harness.clock)

    def connect(self) -> tuple[object, StringTransport]:
        channel = self.site.buildProtocol(IPv4Address("TCP", "10.0.0.7", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.7", 5000))
        channel.makeConnection(transport)
        return channel, transport

    def play(self, stream: str) -> RecordingConsumer:
        recorder = RecordingConsumer()
        handle = self.harness.controller.client(950, "10.0.0.8")
        admitted: list[Admission] = []
        handle.admit(output_request(f"rtmp://127.0.0.1/live/{stream}", "10.0.0.8", "memory"), Stage.PLAY).addCallback(
            admitted.append
        )
        handle.play(admitted[0], recorder)
        return recorder

    def expected(self) -> list[tuple[int, bytes]]:
        return [(t.tag_type, t.payload) for t in FlvTagDecoder().receive_data(_body()) if t.tag_type != 18]

    def test_sized_post_is_published_while_it_arrives(self) -> None:
        recorder = self.play("s")
        channel, transport = self.connect()
        body = _body()
        channel.dataReceived(f"POST /live/s.flv HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        channel.dataReceived(body[:20000])
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "s"))
        self.assertEqual(transport.value(), b"")
        [publisher] = [c for c in self.harness.controller.stats.clients() if c.cid != 950]
        self.assertEqual(publisher.to_api_dict(0)["transport"], "flv_post")
        channel.dataReceived(body[20000:])
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "s"))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200"))
        got = [(m.message_type_id, m.payload) for m in recorder.messages if m.is_av]
        self.assertEqual(got, self.expected())
        self.assertEqual(self.hooks.events(), ["on_publish", "on_unpublish"])

    @settings(max_examples=20, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=5000), max_size=30))
    def test_chunked_post_cut_anywhere(self, cuts: list[int]) -> None:
        self.setUp()
        recorder = self.play("c")
        channel, transport = self.connect()
        channel.dataReceived(b"POST /live/c.flv HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        body, offset, wire = _body(), 0, b""
        for cut in [*cuts, len(_body())]:
            piece = body[offset : offset + cut]
            offset += len(piece)
            if piece:
                wire += b"%x\r\n" % len(piece) + piece + b"\r\n"
        wire += b"0\r\n\r\n"
        for i in range(0, len(wire), 7777):
            channel.dataReceived(wire[i : i + 7777])
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200"))
        self.assertEqual([(m.message_type_id, m.payload) for m in recorder.messages if m.is_av], self.expected())

    def test_body_that_is_not_flv(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"POST /live/g.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400"))
        self.assertTrue(transport.disconnecting)
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "g"))

    def test_wrong_method_and_path(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 405"))
        channel, transport = self.connect()
        channel.dataReceived(b"POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 404"))

    def test_dropped_connection_unpublishes_and_republish_works(self) -> None:
        channel, transport = self.connect()
        body = _body()
        channel.dataReceived(f"POST /live/d.flv HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        channel.dataReceived(body[:10000])
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "d"))
        channel.connectionLost(Exception("gone"))  # type: ignore[attr-defined]
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "d"))
        channel, transport = self.connect()
        channel.dataReceived(f"POST /live/d.flv HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        channel.dataReceived(body[:10000])
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "d"))

    def test_silent_body_times_out(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"POST /live/t.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        channel.dataReceived(_body()[:5000])
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "t"))
        self.harness.clock.advance(31)
        self.assertTrue(transport.disconnecting or not self.harness.controller.is_live("__defaultVhost__", "live", "t"))
