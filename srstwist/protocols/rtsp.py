# -*- test-case-name: tests.test_protocols_rtsp -*-
"""
The RTSP caster: an encoder pushes with ``ANNOUNCE``/``SETUP``/``RECORD``
(RFC 2326 10.3, 10.4, 10.11), RTP over UDP from the configured port range
or interleaved on the RTSP connection (``$`` framing, RFC 2326 10.12, which
SRS 2.0's ``srs_app_rtsp.cpp`` lacks), and the stream is published through
the stream controller like any other.

Each connection is one session and at most one publish; its UDP ports are
released when it ends, however it ends (SRS 2.0 crashes on teardown), so
the same stream can be pushed again at once.  Bad input (junk where a
request or a ``$`` frame should start, a bad SDP, no H.264 or AAC) gets one
log line and closes only that connection.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from srstwist.codec.rtp import (
    AacDepacketizer,
    DecodeTimes,
    H264Depacketizer,
    RtpError,
    Timeline,
    parse_rtp,
    parse_sender_report,
)
from srstwist.codec.rtsp import Interleaved, RtspError, RtspParser, RtspRequest, parse_transport, response
from srstwist.codec.sdp import SdpError, SdpMedia, parse_sdp
from srstwist.codec.ts_demux import AudioFrame, EsToFlv, FlvMessage
from srstwist.interfaces import IStreamController
from srstwist.stream.caster import CasterPublication, output_request

__all__ = ["RtspCasterFactory", "RtspCasterProtocol", "RtpPortPool"]

#: Seconds an RTSP connection may stay silent before RECORD (after it, the
#: controller's publish timeouts watch the media).
SETUP_TIMEOUT = 30.0
_METHODS = "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER"


class RtpPortPool:
    """The even ports of ``[low, high)`` handed out in pairs (RTP, RTCP)."""

    def __init__(self, low: int, high: int) -> None:
        start = low + (low & 1)
        self._free = [p for p in range(start, high - 1, 2)]
        self._used: set[int] = set()

    def take(self) -> int | None:
        while self._free:
            port = self._free.pop(0)
            if port not in self._used:
                self._used.add(port)
                return port
        return None

    def give(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.append(port)


class _Track:
    """One SETUP media: its depacketizer, clock and (for UDP) its ports."""

    def __init__(self, media: SdpMedia) -> None:
        self.media = media
        self.timeline = Timeline(media.clock_rate)
        self.video = media.kind == "video"
        self.h264 = H264Depacketizer() if self.video else None
        self.decode = DecodeTimes() if self.video else None
        fmtp = media.fmtp
        self.aac = (
            None
            if self.video
            else AacDepacketizer(
                int(fmtp.get("sizelength", "13") or 13),
                int(fmtp.get("indexlength", "3") or 3),
                int(fmtp.get("indexdeltalength", "3") or 3),
            )
        )
        self.frame: AudioFrame | None = None
        if not self.video:
            asc = media.asc
            rate_index = (asc[0] & 0x07) << 1 | asc[1] >> 7
            rates = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
            rate = rates[rate_index] if rate_index < len(rates) else media.clock_rate
            self.frame = AudioFrame(asc, rate, asc[1] >> 3 & 0x0F, b"")
        self.sent_parameter_sets = False
        self.ports: list[Any] = []
        self.port_number: int | None = None


class _UdpReceiver(DatagramProtocol):
    noisy = False

    def __init__(self, session: RtspCasterProtocol, track: _Track, rtcp: bool) -> None:
        self.session, self.track, self.rtcp = session, track, rtcp

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if str(addr[0]) != self.session.peer_ip:
            return  # RTP for this session only comes from its encoder
        if self.session.publication is not None:
            self.session.publication.received(len(datagram))
        self.session.packet(self.track, datagram, self.rtcp)


class RtspCasterProtocol(Protocol, TimeoutMixin):
    """One RTSP connection: at most one pushed stream."""

    log = Logger()
    cid = 0
    factory: RtspCasterFactory

    def __init__(self) -> None:
        self.parser = RtspParser()
        self.peer_ip = ""
        self.session_id = ""
        self.app = self.stream = ""
        self.media: list[SdpMedia] = []
        self.tracks: dict[int, _Track] = {}  # by track index
        self.channels: dict[int, tuple[_Track, bool]] = {}  # interleaved channel -> (track, rtcp)
        self.publication: CasterPublication | None = None
        self.converter = EsToFlv()
        self.epoch: list[float] = []
        self.closing = False
        self.bad_packets = 0

    # -- connection --------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        self.peer_ip = getattr(peer, "host", str(peer))
        self.session_id = f"{self.cid:08d}"
        self.setTimeout(SETUP_TIMEOUT)
        self.log.info("RTSP client ip={ip}", ip=self.peer_ip)

    def callLater(self, seconds: float, f: Any, *args: Any) -> Any:
        return self.factory.clock.callLater(seconds, f, *args)

    def timeoutConnection(self) -> None:
        self.fail(f"RTSP client silent for {SETUP_TIMEOUT:g}s before RECORD")

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        if self.publication is None:
            self.resetTimeout()
        else:
            self.publication.received(len(data))
        try:
            items = self.parser.receive_data(data)
        except RtspError as e:
            self.fail(f"not RTSP: {e}")
            return
        for item in items:
            if self.closing:
                return
            if isinstance(item, Interleaved):
                found = self.channels.get(item.channel)
                if found is not None:
                    self.packet(found[0], item.data, found[1])
                continue
            try:
                self.request(item)
            except (SdpError, ValueError, IndexError) as e:
                self.reply(item, 400, "Bad Request")
                self.fail(f"bad {item.method}: {e}")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)
        self.closing = True
        self._release()
        if self.publication is not None:
            self.publication.close("RTSP connection closed")

    def fail(self, reason: str) -> None:
        """One log line; close this connection only."""
        if self.closing:
            return
        self.closing = True
        self.log.warn("closing RTSP: {reason}", reason=reason)
        self._release()
        if self.publication is not None:
            self.publication.close(reason)
        if self.transport is not None:
            self.transport.loseConnection()

    def _release(self) -> None:
        for track in self.tracks.values():
            for port in track.ports:
                port.stopListening()
            track.ports = []
            if track.port_number is not None:
                self.factory.ports.give(track.port_number)
                track.port_number = None

    # -- requests ----------------------------------------------------------

    def reply(self, request: RtspRequest, code: int, reason: str, headers: dict[str, str] | None = None) -> None:
        if self.transport is not None:
            self.transport.write(response(code, reason, request.cseq, headers))

    def request(self, request: RtspRequest) -> None:
        method = request.method
        session = {"Session": f"{self.session_id};timeout=60"}
        if method == "OPTIONS":
            self.reply(request, 200, "OK", {"Public": _METHODS})
        elif method == "ANNOUNCE":
            self.announce(request)
        elif method == "SETUP":
            self.setup(request)
        elif method == "RECORD":
            self.record(request)
        elif method == "TEARDOWN":
            self.reply(request, 200, "OK", session)
            self.log.info("RTSP TEARDOWN {app}/{stream}", app=self.app, stream=self.stream)
            self.closing = True
            self._release()
            if self.publication is not None:
                self.publication.close("RTSP TEARDOWN")
            if self.transport is not None:
                self.transport.loseConnection()
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self.reply(request, 200, "OK", session)
        else:
            self.reply(request, 405, "Method Not Allowed", {"Allow": _METHODS})

    def announce(self, request: RtspRequest) -> None:
        if self.media:
            raise ValueError("a second ANNOUNCE on one connection")
        path = urlsplit(request.uri).path.strip("/")
        app, _, stream = path.rpartition("/")
        if stream.endswith(".sdp"):
            stream = stream[:-4]
        if not app or not stream:
            raise ValueError(f"URL {request.uri!r} is not rtsp://host/[app]/[stream]")
        self.media = parse_sdp(request.body.decode("utf-8", "replace"))
        self.app, self.stream = app, stream
        self.log.info(
            "RTSP ANNOUNCE {uri}: {media}",
            uri=request.uri,
            media=", ".join(f"{m.kind} {m.encoding}/{m.clock_rate}" for m in self.media),
        )
        self.reply(request, 200, "OK")

    def _track_index(self, uri: str) -> int:
        for index, media in enumerate(self.media):
            if media.control and (uri.endswith("/" + media.control) or uri == media.control):
                return index
        if len(self.media) == 1:
            return 0
        raise ValueError(f"SETUP of unknown track {uri!r}")

    def setup(self, request: RtspRequest) -> None:
        if not self.media:
            raise ValueError("SETUP before ANNOUNCE")
        index = self._track_index(request.uri)
        transport = parse_transport(request.headers.get("transport", ""))
        if index in self.tracks:
            raise ValueError(f"track {index} set up twice")
        track = _Track(self.media[index])
        session = f"{self.session_id};timeout=60"
        if "RTP/AVP/TCP" in transport:
            low, _, high = transport.get("interleaved", f"{2 * index}-{2 * index + 1}").partition("-")
            rtp_channel = int(low)
            rtcp_channel = int(high) if high else rtp_channel + 1
            self.channels[rtp_channel] = (track, False)
            self.channels[rtcp_channel] = (track, True)
            self.tracks[index] = track
            reply = f"RTP/AVP/TCP;unicast;interleaved={rtp_channel}-{rtcp_channel};mode=record"
        else:
            port = self.factory.ports.take()
            if port is None:
                self.reply(request, 453, "Not Enough Bandwidth")
                self.fail("no free RTP port pair in rtp_port_min..rtp_port_max")
                return
            track.port_number = port
            self.tracks[index] = track
            reactor = self.factory.clock
            try:
                track.ports.append(reactor.listenUDP(port, _UdpReceiver(self, track, False)))
                track.ports.append(reactor.listenUDP(port + 1, _UdpReceiver(self, track, True)))
            except Exception as e:
                self.reply(request, 453, "Not Enough Bandwidth")
                self.fail(f"cannot bind RTP ports {port}-{port + 1}: {e}")
                return
            client = transport.get("client_port", "")
            reply = f"RTP/AVP;unicast;client_port={client};server_port={port}-{port + 1};mode=record"
        self.reply(request, 200, "OK", {"Transport": reply, "Session": session})

    def record(self, request: RtspRequest) -> None:
        if not self.tracks:
            raise ValueError("RECORD before SETUP")
        self.reply(request, 200, "OK", {"Session": f"{self.session_id};timeout=60"})
        if self.publication is None:
            self.setTimeout(None)
            self.publication = CasterPublication(
                self.factory.controller,
                output_request(self.factory.output, self.peer_ip, "rtsp", self.app, self.stream),
                self.cid,
                self._publication_closed,
            )

    def _publication_closed(self, publication: CasterPublication, reason: str) -> None:
        if not self.closing:
            self.fail(reason)

    # -- media -------------------------------------------------------------

    def packet(self, track: _Track, data: bytes, rtcp: bool) -> None:
        if rtcp:
            report = parse_sender_report(data)
            if report is not None:
                track.timeline.sender_report(*report)
            return
        publication = self.publication
        if publication is None or publication.closed:
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.bad_packets += 1
            if self.bad_packets == 1:
                self.log.warn("RTSP: a packet that is not RTP skipped (later ones counted)")
            return
        if packet.payload_type != track.media.payload_type:
            return
        messages: list[FlvMessage] = []
        if track.h264 is not None and track.decode is not None:
            for timestamp, units in track.h264.push(packet):
                if not track.sent_parameter_sets and track.media.sps and track.media.pps:
                    track.sent_parameter_sets = True
                    units = [track.media.sps, track.media.pps, *units]
                pts = track.timeline.ticks(timestamp, self.epoch)
                for p, d, u in track.decode.push(pts, units):
                    messages += self.converter.video(p, d, u)
        elif track.aac is not None and track.frame is not None:
            for timestamp, raw in track.aac.push(packet):
                pts = track.timeline.ticks(timestamp, self.epoch)
                frame = AudioFrame(track.frame.asc, track.frame.sample_rate, track.frame.channels, raw)
                messages += self.converter.audio(pts, [frame])
        for message in messages:
            publication.deliver(message)
            if publication.closed:
                return


class RtspCasterFactory(Factory):
    """``stream_caster { caster rtsp; ... }``: one per block, its port pool shared by its sessions."""

    protocol = RtspCasterProtocol
    noisy = False

    def __init__(self, controller: IStreamController, output: str, clock: Any, low: int, high: int) -> None:
        self.controller = controller
        self.output = output
        self.clock = clock
        self.ports = RtpPortPool(low, high)
