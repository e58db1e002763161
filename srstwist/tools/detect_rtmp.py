# -*- test-case-name: tests.test_tools_cli -*-
"""
``srs-detect-rtmp -r URL [-d SECONDS] [--timeout SECONDS]``: connect to an
RTMP stream, play it for ``-d`` seconds of stream time (at most
``--timeout`` seconds of wall-clock time in all), and print what it found as
one JSON object on standard output, as srs-librtmp's ``srs_detect_rtmp``
(``trunk/research/librtmp/srs_detect_rtmp.c``) prints its report (that one to stderr).

The fields of ``srs_detect_rtmp``, in milliseconds: ``total``, ``dns``,
``tcp_connect``, ``start_play`` (handshake, connect and play),
``first_packet`` (after play), ``last_packet`` (from the first packet to the
end), ``stream`` (stream time received), ``delay`` (``stream`` minus
``last_packet``), and ``publish_kbps``/``play_kbps`` (bytes sent/received
over ``total``).  Added: ``handshake`` and ``connect_app`` (the parts of
``start_play``), ``first_video``/``first_audio`` (after play), packet and
byte counts, the video codec, profile, level and size from the H.264
sequence header, the audio codec, sampling rate and channels from the AAC
one, and the server's identity from the connect ``_result`` (``srs_server``,
``srs_pid``, ``srs_id``...).

Exit status 0; 1 when it cannot connect or play (one line on stderr, no
report) or no media arrives in time (report with ``code`` 1, and the line).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from zope.interface import implementer

from srstwist.client.rtmp import RtmpClientProtocol, connect_rtmp
from srstwist.client.url import RtmpUrl
from srstwist.codec.aac import AacError, parse_aac_sequence_header
from srstwist.codec.amf0 import Amf0Value
from srstwist.codec.avc import AvcError, parse_avc_sequence_header
from srstwist.codec.flv import (
    SoundFormat,
    VideoCodec,
    audio_tag_header,
    is_aac_sequence_header,
    is_avc_sequence_header,
)
from srstwist.codec.rtmp_client import ClientState
from srstwist.codec.rtmp_events import Media, MediaKind, Result
from srstwist.codec.names import aac_object_name, avc_level_name, avc_profile_name
from srstwist.tools._run import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ToolError,
    add_rtmp_options,
    check_url,
    fail,
    positive_float,
    run,
)
from srstwist.tools.flv_parser import audio_format_name, video_codec_name

__all__ = ["Detection", "main", "parse_args", "server_facts"]

PROG = "srs-detect-rtmp"
DEFAULT_DURATION = 3.0

_EPILOG = """\
The report (stdout), e.g.:
  {"code": 0, "total": 3120, "dns": 0, "tcp_connect": 1, "start_play": 9,
   "first_packet": 2, "last_packet": 3103, "stream": 3080, "delay": -23,
   "publish_kbps": 1, "play_kbps": 401, "unit": "ms", ...,
   "video": {"codec": "H.264", "profile": "High", "level": "3", "width": 320,
   "height": 240}, "audio": {"codec": "AAC", "object": "LC",
   "sample_rate": 44100, "channels": 1},
   "server": {"srs_server": "SRS/2.0.276(ZhouGuowen)", "srs_pid": 4858, "srs_id": 107, ...}}
"""


def _json_value(value: Amf0Value) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str | bool | int) or value is None:
        return value
    return str(value)


def server_facts(result: Result | None) -> dict[str, Any]:
    """
    The server's identity from the connect ``_result``: ``fmsVer``, and the
    ``version`` and ``srs_*`` properties of its info's ``data``.
    """
    facts: dict[str, Any] = {}
    if result is None:
        return facts
    props = result.command_object
    if isinstance(props, dict) and "fmsVer" in props:
        facts["fmsVer"] = _json_value(props["fmsVer"])
    for value in result.args:
        if not isinstance(value, dict):
            continue
        data = value.get("data")
        if isinstance(data, dict):
            for key, item in data.items():
                if key == "version" or key.startswith("srs_"):
                    facts[key] = _json_value(item)
    return facts


@dataclass
class Detection:
    """Times (reactor seconds) and facts gathered while detecting."""

    startup: float
    dns: float | None = None
    tcp_connect: float | None = None
    handshake: float | None = None
    connect_app: float | None = None
    play: float | None = None
    first_packet: float | None = None
    first_video: float | None = None
    first_audio: float | None = None
    cleanup: float | None = None
    basetime: int | None = None
    last_ts: int = 0
    packets: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0, "data": 0})
    media_bytes: int = 0
    video: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None

    def on_media(self, media: Media, now: float) -> None:
        """Take one message in."""
        if media.kind is MediaKind.DATA:
            self.packets["data"] += 1
            return
        payload = media.payload
        self.media_bytes += len(payload)
        if self.first_packet is None:
            self.first_packet = now
        if self.basetime is None:
            self.basetime = media.timestamp
        self.last_ts = max(self.last_ts, media.timestamp)
        if media.kind is MediaKind.VIDEO:
            self.packets["video"] += 1
            if self.first_video is None:
                self.first_video = now
            if payload and (self.video is None or is_avc_sequence_header(payload)):
                self.video = _video_facts(payload, self.video)
        else:
            self.packets["audio"] += 1
            if self.first_audio is None:
                self.first_audio = now
            if payload and (self.audio is None or is_aac_sequence_header(payload)):
                self.audio = _audio_facts(payload, self.audio)

    @property
    def stream_ms(self) -> int:
        return 0 if self.basetime is None else self.last_ts - self.basetime

    def report(self, code: int, url: str, sent: int, received: int) -> dict[str, Any]:
        """The JSON report: srs_detect_rtmp's fields first, then the additions."""

        def ms(end: float | None, start: float | None) -> int | None:
            if end is None or start is None:
                return None
            return round((end - start) * 1000)

        cleanup = self.cleanup if self.cleanup is not None else self.startup
        total = ms(cleanup, self.startup) or 0
        last_packet = ms(cleanup, self.first_packet)
        report: dict[str, Any] = {
            "code": code,
            "total": total,
            "dns": ms(self.dns, self.startup),
            "tcp_connect": ms(self.tcp_connect, self.dns),
            "start_play": ms(self.play, self.tcp_connect),
            "first_packet": ms(self.first_packet, self.play),
            "last_packet": last_packet,
            "stream": self.stream_ms,
            "delay": None if last_packet is None else self.stream_ms - last_packet,
            "publish_kbps": sent * 8 // total if total > 0 else 0,
            "play_kbps": received * 8 // total if total > 0 else 0,
            "unit": "ms",
            "remark0": "total = dns + tcp_connect + start_play + first_packet + last_packet",
            "remark1": "delay = stream - (time_cleanup - time_first_packet)",
            "remark2": "if code is not 0, user must ignore all data",
            "url": url,
            "handshake": ms(self.handshake, self.tcp_connect),
            "connect_app": ms(self.connect_app, self.handshake),
            "first_video": ms(self.first_video, self.play),
            "first_audio": ms(self.first_audio, self.play),
            "packets": dict(self.packets),
            "bytes": {"send": sent, "recv": received, "media": self.media_bytes},
            "video": self.video,
            "audio": self.audio,
        }
        return report


def _video_facts(payload: bytes, before: dict[str, Any] | None) -> dict[str, Any]:
    codec = payload[0] & 0x0F
    facts: dict[str, Any] = {"codec": video_codec_name(codec)}
    if codec == VideoCodec.AVC and is_avc_sequence_header(payload):
        try:
            config = parse_avc_sequence_header(payload)
        except AvcError as e:
            facts["error"] = str(e)
        else:
            facts["profile"] = avc_profile_name(config.profile_idc)
            facts["level"] = avc_level_name(config.level_idc)
            facts["width"] = config.width
            facts["height"] = config.height
    elif before is not None:
        return before
    return facts


def _audio_facts(payload: bytes, before: dict[str, Any] | None) -> dict[str, Any]:
    header = audio_tag_header(payload)
    facts: dict[str, Any] = {"codec": audio_format_name(header.sound_format)}
    if header.sound_format == SoundFormat.AAC:
        if not is_aac_sequence_header(payload):
            return before if before is not None else facts
        try:
            config = parse_aac_sequence_header(payload)
        except AacError as e:
            facts["error"] = str(e)
        else:
            facts["object"] = aac_object_name(config.object_type)
            facts["sample_rate"] = config.sample_rate
            facts["channels"] = config.channels
    else:
        facts["sample_rate"] = header.sound_rate
        facts["sample_size"] = header.sample_size
        facts["channels"] = header.channels
    return facts


@implementer(IStreamClientEndpoint)
class _TimedEndpoint:
    """A TCP endpoint that notes when the connection and the handshake are done."""

    def __init__(self, reactor: Any, inner: Any, detection: Detection) -> None:
        self.reactor = reactor
        self.inner = inner
        self.detection = detection

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        return self.inner.connect(factory).addCallback(self._connected)

    def _connected(self, protocol: RtmpClientProtocol) -> RtmpClientProtocol:
        detection = self.detection
        detection.tcp_connect = self.reactor.seconds()
        received = protocol.dataReceived

        def data_received(data: bytes) -> None:
            received(data)
            if detection.handshake is None and protocol.state is not ClientState.HANDSHAKE:
                detection.handshake = self.reactor.seconds()

        # The transport looks dataReceived up on every read.
        setattr(protocol, "dataReceived", data_received)  # noqa: B010
        return protocol


async def _resolve(reactor: Any, host: str, port: int, timeout: float) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    lookup = threads.deferToThread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = await lookup.addTimeout(timeout, reactor)
    except (socket.gaierror, defer.TimeoutError):
        raise ToolError(f"cannot resolve host {host!r}") from None
    if not infos:
        raise ToolError(f"cannot resolve host {host!r}")
    return str(infos[0][4][0])


async def _detect(reactor: Any, args: argparse.Namespace, target: RtmpUrl) -> int:
    detection = Detection(startup=reactor.seconds())
    deadline = detection.startup + args.timeout

    def remaining() -> float:
        return max(0.001, deadline - reactor.seconds())

    address = await _resolve(reactor, target.host, target.port, remaining())
    detection.dns = reactor.seconds()
    kind = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
    tcp = kind(reactor, address, target.port, timeout=remaining())
    endpoint = _TimedEndpoint(reactor, tcp, detection)
    done: defer.Deferred[tuple[int, str]] = defer.Deferred()

    def finish(code: int, reason: str) -> None:
        if not done.called:
            done.callback((code, reason))

    def sink(media: Media) -> None:
        if done.called:
            return
        detection.on_media(media, reactor.seconds())
        if detection.stream_ms > args.duration * 1000:
            finish(EXIT_OK, "duration")

    client: RtmpClientProtocol = await connect_rtmp(
        reactor,
        args.rtmp,
        timeout=remaining(),
        endpoint=endpoint,
        simple_handshake=not args.complex,
    )
    try:
        detection.connect_app = reactor.seconds()
        if detection.handshake is None:
            detection.handshake = detection.connect_app
        await client.play(sink=sink, timeout=remaining())
        detection.play = reactor.seconds()
        timer = reactor.callLater(remaining(), finish, EXIT_OK, "timeout")
        client.wait_closed().addCallback(lambda _: finish(EXIT_OK, "closed"))
        try:
            code, reason = await done
        except defer.CancelledError:
            code, reason = EXIT_INTERRUPTED, "interrupted"
        if timer.active():
            timer.cancel()
    finally:
        if client.is_open:
            await client.close()
    detection.cleanup = reactor.seconds()
    problem = None
    if code == EXIT_OK and detection.first_packet is None:
        code = EXIT_FAILURE
        if reason == "closed":
            problem = "the server closed the connection before any media"
        else:
            problem = f"no media received within {args.timeout:g} s"
    report = detection.report(code, args.rtmp, client.bytes_sent, client.bytes_received)
    report["server"] = server_facts(client.server_info)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    if problem is not None:
        return fail(PROG, problem)
    return code


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Play an RTMP stream briefly and report timings and stream facts as JSON "
        "(as srs_detect_rtmp).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-r", "--rtmp", required=True, metavar="URL", help="rtmp://host[:port]/app/stream"
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=positive_float,
        default=DEFAULT_DURATION,
        metavar="SECONDS",
        help=f"stream time to play (default {DEFAULT_DURATION:g})",
    )
    add_rtmp_options(parser, "wall-clock seconds for everything, connecting included")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``srs-detect-rtmp`` command; returns the exit status."""
    args = parse_args(argv)
    target = check_url(PROG, args.rtmp)
    if target is None:
        return EXIT_FAILURE
    return run(PROG, lambda reactor: _detect(reactor, args, target), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
