"""
Tests for :mod:`srstwist.web.http_server` and :mod:`srstwist.web.static`: requests
through the real HTTP channel on an in-memory transport.
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from srstwist.codec.flv import FlvTagDecoder, encode_tag, flv_header
from srstwist.config.loader import load_config_text
from srstwist.interfaces import IStreamPublisher
from srstwist.media.message import SharedMessage
from srstwist.config.holder import ConfigHolder
from srstwist.services.controller import StreamController
from srstwist.services.hub import SourceHub
from srstwist.web.http_server import HttpStreamServer
from srstwist.web.site import make_site
from srstwist.web.static import VodError, flv_vod_prefix


@implementer(IStreamPublisher)
class _Publisher:
    cid = 150

    def close(self, reason: str) -> None:
        pass


class _Env:
    """A hub, the app, and connections made on demand."""

    def __init__(self, root: str, remux: str = "hstrs on;") -> None:
        conf = f"""
listen 1935;
http_server {{ enabled on; dir {root}; }}
vhost __defaultVhost__ {{
    mw_latency 0;
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; {remux} }}
}}
"""
        self.clock = Clock()
        self.holder = ConfigHolder(load_config_text(conf, "t.conf"))
        self.hub = SourceHub(self.holder, self.clock)
        self.controller = StreamController(self.hub, self.holder, self.clock)
        self.app = HttpStreamServer(self.controller, self.holder, self.clock)
        self.site = make_site(self.app.resource(), self.clock)

    def request(self, text: str) -> StringTransport:
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
        channel.makeConnection(transport)
        channel.dataReceived(text.encode())
        return transport


def _head_and_body(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode(), body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_text, _, rest = body.partition(b"\r\n")
        size = int(size_text, 16)
        out += rest[:size]
        body = rest[size + 2 :]
        if size == 0:
            break
    return out


class LiveTests(SynchronousTestCase):
    """HTTP-FLV through the channel."""

    def setUp(self) -> None:
        self.env = _Env(self.mktemp())

    def test_waits_then_plays_then_ends(self) -> None:
        """
        With hstrs a player of an unpublished stream gets the FLV header at
        once, the stream once published, and a finished body at unpublish;
        the source is then forgotten.
        """
        env = self.env
        transport = env.request("GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _head_and_body(transport.value())
        self.assertIn("HTTP/1.1 200 OK", head)
        self.assertIn("Content-Type: video/x-flv", head)
        self.assertIn("Transfer-Encoding: chunked", head)
        self.assertIn("Access-Control-Allow-Origin: *", head)
        self.assertIn("Cache-Control: no-cache", head)
        self.assertEqual(_dechunk(body), flv_header())

        source = env.hub.find("__defaultVhost__", "live", "s")
        assert source is not None
        publisher = _Publisher()
        source.publish(publisher)
        source.on_message(SharedMessage(0, 9, b"\x17\x01\x00\x00\x00frame", 6))
        source.on_message(SharedMessage(40, 9, b"\x27\x01\x00\x00\x00other", 6))
        source.unpublish(publisher)
        _, body = _head_and_body(transport.value())
        self.assertTrue(body.endswith(b"0\r\n\r\n"), "the chunked body is finished")
        tags = FlvTagDecoder().receive_data(_dechunk(body))
        self.assertEqual([(t.tag_type, t.timestamp) for t in tags], [(9, 0), (9, 40)])
        self.assertEqual(tags[0].payload, b"\x17\x01\x00\x00\x00frame")
        self.assertEqual(env.app.players, set())
        self.assertEqual(source.consumers, [])
        self.assertIsNone(env.hub.find("__defaultVhost__", "live", "s"))

    def test_disconnect_unsubscribes(self) -> None:
        """A client that goes away leaves the source at once."""
        env = self.env
        channel = env.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        source = env.hub.find("__defaultVhost__", "live", "s")
        assert source is not None
        self.assertEqual(len(source.consumers), 1)
        self.assertEqual(env.hub.stats.client_count, 1)
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        channel.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(source.consumers, [])
        self.assertEqual(env.app.players, set())
        self.assertEqual(env.hub.stats.client_count, 0)

    def test_post_to_live_mount(self) -> None:
        """Only GET and HEAD are allowed on a live mount."""
        transport = self.env.request(
            "POST /live/s.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        self.assertIn("405 Method Not Allowed", transport.value().decode("latin-1"))

    def test_no_hstrs_falls_to_static(self) -> None:
        """Without hstrs an unpublished stream is a (missing) file."""
        env = _Env(self.mktemp(), remux="hstrs off;")
        transport = env.request("GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn("404 Not Found", transport.value().decode("latin-1"))


def _settled(transport: StringTransport) -> Deferred[bytes]:
    """
    What the transport holds once the response stops growing: static files
    are sent by a pull producer that Twisted drives on the global reactor.
    """

    @inlineCallbacks
    def wait() -> Generator[Deferred[object], object, bytes]:
        previous = None
        for _ in range(100):
            value = transport.value()
            if value and value == previous:
                return value
            previous = value
            yield deferLater(reactor, 0.01, lambda: None)
        return transport.value()

    return wait()


class StaticTests(TestCase):
    """Files under http_server dir."""

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.root, "dir"))
        with open(os.path.join(self.root, "a.ts"), "wb") as f:
            f.write(b"0123456789")
        self.env = _Env(self.root)

    @inlineCallbacks
    def get(
        self, target: str, extra: str = "", method: str = "GET"
    ) -> Generator[Deferred[object], object, tuple[str, bytes]]:
        transport = self.env.request(f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
        raw = yield _settled(transport)
        assert isinstance(raw, bytes)
        return _head_and_body(raw)

    @inlineCallbacks
    def test_file_with_mime(self) -> Generator[Deferred[object], object, None]:
        """A file comes whole with SRS's MIME type and a length."""
        head, body = yield self.get("/a.ts")
        self.assertIn("200 OK", head)
        self.assertIn("Content-Type: video/MP2T", head)
        self.assertIn("Content-Length: 10", head)
        self.assertEqual(body, b"0123456789")

    @inlineCallbacks
    def test_range_and_head(self) -> Generator[Deferred[object], object, None]:
        """Range requests get 206; HEAD gets headers only."""
        head, body = yield self.get("/a.ts", "Range: bytes=2-4\r\n")
        self.assertIn("206 Partial Content", head)
        self.assertEqual(body, b"234")
        head, body = yield self.get("/a.ts", method="HEAD")
        self.assertIn("Content-Length: 10", head)
        self.assertEqual(body, b"")

    @inlineCallbacks
    def test_missing_and_directory(self) -> Generator[Deferred[object], object, None]:
        """404 for a missing file or an index-less directory; /dir redirects to /dir/."""
        self.assertIn("404 Not Found", (yield self.get("/nope.ts"))[0])
        self.assertIn("404 Not Found", (yield self.get("/dir/"))[0])
        head, _ = yield self.get("/dir")
        self.assertIn("302 Found", head)
        self.assertIn("Location: /dir/", head)

    @inlineCallbacks
    def test_traversal(self) -> Generator[Deferred[object], object, None]:
        """Encoded '..' is refused with 400."""
        self.assertIn("400 Bad Request", (yield self.get("/%2e%2e/etc/passwd"))[0])


class VodTests(TestCase):
    """FLV pseudo-streaming with ?start=."""

    def flv(self) -> bytes:
        meta = b"".join(encode_tag(18, 0, b"\x02\x00\x0aonMetaData"))
        audio_header = b"".join(encode_tag(8, 0, b"\xaf\x00\x12\x10"))
        video_header = b"".join(encode_tag(9, 0, b"\x17\x00\x00\x00\x00abcd"))
        frames = b"".join(b"".join(encode_tag(9, i * 40, b"\x27\x01" + bytes(50))) for i in range(5))
        return flv_header() + meta + audio_header + video_header + frames

    def test_prefix(self) -> None:
        """Header, then the audio and video sequence headers, no metadata."""
        data = self.flv()
        prefix = flv_vod_prefix(io.BytesIO(data), len(data), 200)
        tags = FlvTagDecoder().receive_data(prefix)
        self.assertEqual([t.tag_type for t in tags], [8, 9])

    def test_bad_start(self) -> None:
        """A start past the end, or a file that is not FLV, is refused."""
        data = self.flv()
        self.assertRaises(VodError, flv_vod_prefix, io.BytesIO(data), len(data), len(data) + 1)
        self.assertRaises(VodError, flv_vod_prefix, io.BytesIO(b"x" * 20), 20, 5)

    @inlineCallbacks
    def test_served(self) -> Generator[Deferred[object], object, None]:
        """The response is the prefix and the file from the offset, with its length."""
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        data = self.flv()
        with open(os.path.join(root, "v.flv"), "wb") as f:
            f.write(data)
        env = _Env(root, remux="hstrs off;")
        start = len(data) - 60
        transport = env.request(f"GET /v.flv?start={start} HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = yield _settled(transport)
        assert isinstance(raw, bytes)
        head, body = _head_and_body(raw)
        prefix = flv_vod_prefix(io.BytesIO(data), len(data), start)
        self.assertIn(f"Content-Length: {len(prefix) + 60}", head)
        self.assertEqual(body, prefix + data[start:])
