"""
Tests for :mod:`srstwist.web.ws_flv`: WebSocket-FLV through the real HTTP
channel on an in-memory transport, with ``wsproto``'s client side making
the handshake and reading the frames.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from wsproto import ConnectionType, WSConnection
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Request,
)

from srstwist.codec.flv import FlvTagDecoder, flv_header
from srstwist.config.holder import ConfigHolder
from srstwist.config.loader import load_config_text
from srstwist.media.message import SharedMessage
from srstwist.services.controller import StreamController
from srstwist.services.hub import SourceHub
from srstwist.web.http_server import HttpStreamServer
from srstwist.web.site import make_site
from srstwist.stream.batch import SharedBatch
from srstwist.stream.request import StreamRequest
from srstwist.stream.ws_player import binary_frame_header
from srstwist.tools.bench.http import HttpError, WsUnframer
from srstwist.web.ws_flv import MAX_INBOUND, is_websocket_upgrade

from tests.rtmp_peer import captured_media
from tests.test_web_http_server import _Publisher

_REQUEST = StreamRequest(ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream="s")


class _Env:
    def __init__(self, extra: str = "") -> None:
        conf = f"""
listen 1935;
http_server {{ enabled on; dir /nonexistent; }}
vhost __defaultVhost__ {{
    mw_latency 0;
    min_latency on;
    {extra}
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; hstrs on; }}
}}
"""
        self.clock = Clock()
        self.holder = ConfigHolder(load_config_text(conf, "t.conf"))
        self.hub = SourceHub(self.holder, self.clock)
        self.controller = StreamController(self.hub, self.holder, self.clock)
        self.app = HttpStreamServer(self.controller, self.holder, self.clock)
        self.site = make_site(self.app.resource(), self.clock)

    def connect(self) -> tuple[Any, StringTransport, WSConnection]:
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
        channel.makeConnection(transport)
        client = WSConnection(ConnectionType.CLIENT)
        channel.dataReceived(client.send(Request(host="x", target="/live/s.flv")))
        return channel, transport, client


def _events(transport: StringTransport, client: WSConnection) -> list[Any]:
    client.receive_data(transport.value())
    transport.clear()
    return list(client.events())


def _binary(events: list[Any]) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, BytesMessage))


class WsFlvTests(SynchronousTestCase):
    def test_plays_then_closes_at_unpublish(self) -> None:
        """
        101, the FLV header in the first binary message, the tags as they
        come, a close frame (1000) at unpublish; the source is then left.
        """
        env = _Env()
        channel, transport, client = env.connect()
        events = _events(transport, client)
        self.assertIsInstance(events[0], AcceptConnection)
        self.assertEqual(_binary(events), flv_header())
        decoder = FlvTagDecoder()
        self.assertEqual(decoder.receive_data(flv_header()), [])
        self.assertEqual(len(env.app.players), 1)
        source = env.hub.find("__defaultVhost__", "live", "s")
        assert source is not None
        publisher = _Publisher()
        source.publish(publisher)
        source.on_message(SharedMessage(0, 9, b"\x17\x01\x00\x00\x00frame", 6))
        source.on_message(SharedMessage(40, 9, b"\x27\x01\x00\x00\x00other", 6))
        events = _events(transport, client)
        tags = decoder.receive_data(_binary(events))
        self.assertEqual([(t.tag_type, t.timestamp) for t in tags], [(9, 0), (9, 40)])
        source.unpublish(publisher)
        events = _events(transport, client)
        closes = [e for e in events if isinstance(e, CloseConnection)]
        self.assertEqual([c.code for c in closes], [1000])
        self.assertTrue(transport.disconnecting)
        channel.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(env.app.players, set())
        self.assertEqual(env.hub.stats.client_count, 0)

    def test_disconnect_leaves_the_source(self) -> None:
        env = _Env()
        channel, transport, client = env.connect()
        source = env.hub.find("__defaultVhost__", "live", "s")
        assert source is not None
        self.assertEqual(len(source.consumers), 1)
        self.assertEqual(env.hub.stats.client_count, 1)
        channel.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(source.consumers, [])
        self.assertEqual(env.app.players, set())
        self.assertEqual(env.hub.stats.client_count, 0)

    def test_back_pressure(self) -> None:
        """While the transport is paused the player writes nothing; it resumes after."""
        env = _Env()
        channel, transport, client = env.connect()
        decoder = FlvTagDecoder()
        decoder.receive_data(_binary(_events(transport, client)))
        source = env.hub.find("__defaultVhost__", "live", "s")
        assert source is not None
        publisher = _Publisher()
        source.publish(publisher)
        channel.pauseProducing()
        source.on_message(SharedMessage(0, 9, b"\x17\x01\x00\x00\x00frame", 6))
        self.assertEqual(transport.value(), b"")
        channel.resumeProducing()
        tags = decoder.receive_data(_binary(_events(transport, client)))
        self.assertEqual([t.timestamp for t in tags], [0])

    def test_refused_gets_403_before_the_handshake(self) -> None:
        env = _Env("security { enabled on; deny play all; }")
        _, transport, _ = env.connect()
        head = transport.value().decode("latin-1")
        self.assertIn("HTTP/1.1 403", head)
        self.assertNotIn("101", head.splitlines()[0])
        self.assertEqual(env.app.players, set())
        self.assertEqual(env.hub.stats.client_count, 0)

    def test_bad_handshake_400(self) -> None:
        """``Upgrade: websocket`` without a key is a 400, logged with the cid."""
        env = _Env()
        channel = env.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
        channel.makeConnection(transport)
        channel.dataReceived(
            b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n"
        )
        self.assertIn(b"HTTP/1.1 400", transport.value())
        self.assertEqual(env.app.players, set())

    def test_inbound_flood_closed(self) -> None:
        """A client that streams data at the server is closed with 1008."""
        env = _Env()
        channel, transport, client = env.connect()
        _events(transport, client)
        # One endless fragmented message: Twisted would buffer it whole.
        for _ in range(MAX_INBOUND // (16 * 1024) + 2):
            channel.dataReceived(
                client.send(Message(data=bytes(16 * 1024), message_finished=False))
            )
        events = _events(transport, client)
        self.assertEqual([e.code for e in events if isinstance(e, CloseConnection)], [1008])
        self.assertTrue(transport.disconnecting)
        channel.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(env.app.players, set())

    def test_plain_get_is_still_http_flv(self) -> None:
        env = _Env()
        channel = env.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /live/s.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", transport.value())


class UpgradeHeaderTests(SynchronousTestCase):
    def test_is_websocket_upgrade(self) -> None:
        class _R:
            def __init__(self, value: bytes | None) -> None:
                self.value = value

            def getHeader(self, name: bytes) -> bytes | None:
                return self.value

        self.assertTrue(is_websocket_upgrade(_R(b"WebSocket")))  # type: ignore[arg-type]
        self.assertFalse(is_websocket_upgrade(_R(b"h2c")))  # type: ignore[arg-type]
        self.assertFalse(is_websocket_upgrade(_R(None)))  # type: ignore[arg-type]


class BenchUnframerTests(SynchronousTestCase):
    """srs-bench's ``ws-flv-play`` reads what wsproto's server side frames."""

    @settings(max_examples=50, deadline=None)
    @given(
        st.lists(st.binary(min_size=0, max_size=70000), min_size=1, max_size=5),
        st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=40),
    )
    def test_round_trip_any_split(self, messages: list[bytes], cuts: list[int]) -> None:
        server = WSConnection(ConnectionType.SERVER)
        client = WSConnection(ConnectionType.CLIENT)
        server.receive_data(client.send(Request(host="x", target="/")))
        for _ in server.events():
            server.send(AcceptConnection())
        wire = b""
        for message in messages:
            wire += server.send(Message(data=message))
        wire += server.send(Ping(b"p"))
        out: list[bytes] = []
        unframer = WsUnframer(out.append)
        pos = 0
        for cut in cuts:
            unframer.receive_data(wire[pos : pos + cut])
            pos += cut
        unframer.receive_data(wire[pos:])
        self.assertEqual(b"".join(out), b"".join(messages))

    def test_close_and_mask_refused(self) -> None:
        server = WSConnection(ConnectionType.SERVER)
        client = WSConnection(ConnectionType.CLIENT)
        server.receive_data(client.send(Request(host="x", target="/")))
        for _ in server.events():
            server.send(AcceptConnection())
        with self.assertRaises(HttpError):
            WsUnframer(lambda data: None).receive_data(server.send(CloseConnection(1000)))
        masked = b"\x82\x83abcdxyz"  # FIN+binary, MASK bit, 3 bytes, a key, data
        with self.assertRaises(HttpError):
            WsUnframer(lambda data: None).receive_data(masked)


class WsFanOutTests(SynchronousTestCase):
    """WebSocket-FLV players share the HTTP-FLV players' batch and get the same FLV."""

    def run_stream(self, sharing: bool) -> tuple[list[bytes], int, int, Any]:
        self.patch(SharedBatch, "sharing", sharing)
        env = _Env()
        vhost = env.holder.config.vhost("__defaultVhost__")
        assert vhost is not None
        source = env.hub.source(vhost, "live", "s")
        publisher = _Publisher()
        env.hub.publish(source, publisher, _REQUEST)
        media = captured_media()
        connections: list[tuple[StringTransport, WSConnection, bytearray]] = []
        start = env.clock.seconds()

        def pump() -> None:
            for transport, client, data in connections:
                data += _binary(_events(transport, client))

        for index, raw in enumerate(media):
            if index in (0, len(media) // 2):
                for _ in range(5):
                    _, transport, client = env.connect()
                    connections.append((transport, client, bytearray()))
            due = start + raw.timestamp / 1000.0
            if due > env.clock.seconds():
                env.clock.advance(due - env.clock.seconds())
            source.on_message(SharedMessage.from_raw(raw))
            pump()
        env.clock.advance(1)
        pump()
        shared = sum(p.shared_sends for p in env.app.players)
        env.hub.unpublish(source, publisher, _REQUEST)
        pump()
        return [bytes(data) for _, _, data in connections], shared, len(media), env

    def test_same_flv_shared_or_not(self) -> None:
        shared_bodies, shared_sends, messages, env = self.run_stream(sharing=True)
        alone_bodies, alone_sends, _, _ = self.run_stream(sharing=False)
        self.assertEqual(alone_sends, 0)
        self.assertGreater(shared_sends, messages // 2)

        def tags(body: bytes) -> list[tuple[int, int, bytes]]:
            return [(t.tag_type, t.timestamp, t.payload) for t in FlvTagDecoder().receive_data(body)]

        self.assertEqual([tags(b) for b in shared_bodies], [tags(b) for b in alone_bodies])
        self.assertGreater(len(tags(shared_bodies[0])), messages // 2)


class FrameHeaderTests(SynchronousTestCase):
    @given(st.integers(min_value=0, max_value=200_000))
    def test_wsproto_reads_our_frames(self, size: int) -> None:
        """Our frame header, as wsproto's client reads it (RFC 6455 section 5.2)."""
        server = WSConnection(ConnectionType.SERVER)
        client = WSConnection(ConnectionType.CLIENT)
        server.receive_data(client.send(Request(host="x", target="/")))
        for _ in server.events():
            client.receive_data(server.send(AcceptConnection()))
        list(client.events())
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        client.receive_data(binary_frame_header(size) + payload)
        received = b"".join(bytes(e.data) for e in client.events() if isinstance(e, BytesMessage))
        self.assertEqual(received, payload)
