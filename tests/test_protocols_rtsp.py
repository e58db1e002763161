"""
Tests for :mod:`srstwist.protocols.rtsp`: a scripted RTSP push (ffmpeg's
requests, RTP from ``tests/data/casters/rtp-h264.bin`` interleaved) through
a real stream controller on a Clock; bad input closes only its connection;
UDP ports go back to the pool however the session ends.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from srstwist.protocols.rtsp import RtpPortPool, RtspCasterFactory
from tests.rtmp_peer import Harness
from tests.test_codec_rtp import load
from tests.test_codec_rtsp import ANNOUNCE_SDP
from tests.test_stream_controller import RecordingHooks

_URL = "rtsp://127.0.0.1:8554/live/cam.sdp"


class _FakePort:
    def __init__(self, pool: list[Any]) -> None:
        self.pool = pool
        self.open = True

    def stopListening(self) -> None:
        self.open = False


class _Reactor:
    """The harness clock plus a listenUDP that records ports."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.ports: list[tuple[int, _FakePort]] = []

    def callLater(self, *args: Any) -> Any:
        return self.clock.callLater(*args)

    def seconds(self) -> float:
        return self.clock.seconds()

    def listenUDP(self, port: int, protocol: Any) -> _FakePort:
        fake = _FakePort([])
        self.ports.append((port, fake))
        return fake


def request(method: str, cseq: int, uri: str = _URL, headers: str = "", body: bytes = b"") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{method} {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{headers}{length}\r\n".encode() + body


class RtspTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = Harness("listen 1935;\nvhost __defaultVhost__ { }\n")
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.reactor = _Reactor(self.harness.clock)
        self.factory = RtspCasterFactory(
            self.harness.controller, "rtmp://127.0.0.1/[app]/[stream]", self.reactor, 47000, 47004
        )

    def connect(self) -> tuple[Any, StringTransport]:
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "10.0.0.7", 5000))
        protocol.cid = 700
        transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.7", 5000))
        protocol.makeConnection(transport)
        return protocol, transport

    def live(self) -> bool:
        return self.harness.controller.is_live("__defaultVhost__", "live", "cam")

    def announce(self, protocol: Any, sdp: str = ANNOUNCE_SDP) -> None:
        protocol.dataReceived(request("OPTIONS", 1))
        protocol.dataReceived(request("ANNOUNCE", 2, headers="Content-Type: application/sdp\r\n", body=sdp.encode()))

    def test_tcp_interleaved_push(self) -> None:
        protocol, transport = self.connect()
        self.announce(protocol)
        tcp = "Transport: RTP/AVP/TCP;unicast;interleaved={}-{};mode=record\r\n"
        protocol.dataReceived(request("SETUP", 3, _URL + "/streamid=0", tcp.format(0, 1)))
        protocol.dataReceived(request("SETUP", 4, _URL + "/streamid=1", tcp.format(2, 3)))
        protocol.dataReceived(request("RECORD", 5, headers="Session: 1\r\n"))
        replies = transport.value().decode("latin-1")
        self.assertEqual(replies.count("RTSP/1.0 200 OK"), 5, replies)
        self.assertIn("interleaved=2-3", replies)
        self.assertTrue(self.live())
        self.assertEqual(self.harness.controller.stats.client(700).to_api_dict(0)["transport"], "rtsp")
        for packet in load("rtp-h264.bin"):
            protocol.dataReceived(b"$\x00" + len(packet).to_bytes(2, "big") + packet)
        source = self.harness.hub.find("__defaultVhost__", "live", "cam")
        self.assertIsNotNone(source.video_sequence_header)  # type: ignore[union-attr]
        protocol.dataReceived(request("TEARDOWN", 6))
        self.assertFalse(self.live())
        self.assertTrue(transport.disconnecting)

    def test_udp_ports_released_and_republish(self) -> None:
        for round in range(3):  # more rounds than the pool has pairs
            protocol, transport = self.connect()
            self.announce(protocol)
            udp = "Transport: RTP/AVP/UDP;unicast;client_port=6000-6001;mode=record\r\n"
            protocol.dataReceived(request("SETUP", 3, _URL + "/streamid=0", udp))
            protocol.dataReceived(request("SETUP", 4, _URL + "/streamid=1", udp))
            protocol.dataReceived(request("RECORD", 5))
            self.assertIn("server_port=4700", transport.value().decode())
            self.assertTrue(self.live(), round)
            if round % 2:
                protocol.dataReceived(request("TEARDOWN", 6))
            else:
                protocol.connectionLost(Exception("ffmpeg killed"))  # type: ignore[arg-type]
            self.assertFalse(self.live())
            self.assertTrue(all(not port.open for _, port in self.reactor.ports))

    def test_bad_input_closes_only_that_connection(self) -> None:
        good, _ = self.connect()
        self.announce(good)
        for bad in (
            b"\x16\x03\x01 tls hello",
            request("ANNOUNCE", 2, body=b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"),
            request("ANNOUNCE", 2, body=ANNOUNCE_SDP.replace("aMuMsg==", "!!").encode()),
            request("SETUP", 2, _URL + "/streamid=0"),
            request("ANNOUNCE", 2, "rtsp://host/", body=ANNOUNCE_SDP.encode()),
        ):
            protocol, transport = self.connect()
            protocol.dataReceived(bad)
            self.assertTrue(transport.disconnecting, bad)
        self.assertFalse(good.closing)

    def test_pool(self) -> None:
        pool = RtpPortPool(47001, 47006)
        self.assertEqual([pool.take(), pool.take(), pool.take()], [47002, 47004, None])
        pool.give(47002)
        self.assertEqual(pool.take(), 47002)
