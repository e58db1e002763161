# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's RTMP clients, on the sans-IO
:class:`~srstwist.codec.rtmp_client.ClientSession`.

:class:`RtmpPlayClient` plays a stream.  By default it takes the fast path:
the session does the handshake (exactly S0S1S2, 3073 bytes), then a
:class:`~srstwist.tools.bench.scan.ChunkScanner` reads the chunk stream,
counts audio and video without copying them, and gives every other message
back to the session, re-encoded as one fmt-0 message, so connect, createStream,
play, onStatus, metadata and protocol control still go through the session's
checks.  The scanner keeps Window Acknowledgement Size for itself and sends
the Acknowledgements (once per read, when half the window has arrived; SRS
checks per message), because the session only sees the re-encoded bytes.
With ``fast=False`` the session reads everything, as any other client does.

:class:`RtmpPublishClient` publishes an FLV file (:class:`FlvSource`) in a
loop, in real time from NetStream.Publish.Start, and stops sending while
its transport is paused (a server that reads too slowly shows as a
real-time ratio below 1, then as ``stalled``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IPushProducer, IReactorTime
from zope.interface import implementer

from srstwist.codec.chunk import ChunkError, MessageType, encode_chunks
from srstwist.codec.control import Acknowledgement, WindowAcknowledgementSize, decode_control
from srstwist.codec.flv import FlvError, FlvTagDecoder
from srstwist.codec.handshake import HandshakeError
from srstwist.codec.rtmp_client import ClientSession
from srstwist.codec.rtmp_events import (
    CallError,
    HandshakeCompleted,
    Media,
    MediaKind,
    OnStatus,
    Result,
)
from srstwist.codec.rtmp_session import RtmpError
from srstwist.tools.bench.run import STREAMING, BenchClient
from srstwist.tools.bench.scan import ChunkScanner

__all__ = ["FlvSource", "RtmpPlayClient", "RtmpPublishClient", "RtmpTarget", "pace_publishers"]

#: S0 + S1 + S2.
_HANDSHAKE_SIZE = 1 + 1536 + 1536
_WINDOW_ACK_SIZE = int(MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE)
_MEDIA_TYPES = {MediaKind.AUDIO: 8, MediaKind.VIDEO: 9}
_KINDS = {8: MediaKind.AUDIO, 9: MediaKind.VIDEO, 18: MediaKind.DATA}
#: A publisher sends at most this many messages per pacing tick.
_MAX_BURST = 256


@dataclass(frozen=True)
class RtmpTarget:
    """
    Where the clients connect and what they send in ``connect``.

    :ivar host: the address connected to (already resolved).
    :ivar tc_url: the connect tcUrl (the URL's query included, as
        srs-librtmp does: ossrs/srs 2.0release
        ``trunk/src/libs/srs_librtmp.cpp``).
    """

    host: str
    port: int
    tc_url: str
    app: str


class _RtmpClient(BenchClient):
    """What the RTMP player and publisher share: the session and its replies."""

    def __init__(
        self, index: int, stream: str, target: RtmpTarget, clock: IReactorTime, timeout: float
    ) -> None:
        super().__init__(index, stream, clock, timeout)
        self.target = target
        self.session = ClientSession(os.urandom, int(time.time()))

    def connectionMade(self) -> None:
        super().connectionMade()
        if not self.done:
            self.enter("handshake")
            self.flush()

    def flush(self) -> None:
        """Write what the session has queued."""
        pieces = self.session.data_to_send()
        if pieces and self.transport is not None and not self.done:
            self.transport.writeSequence(pieces)
            self.sent(pieces)

    def sent(self, pieces: list[bytes]) -> None:
        """Hook: ``pieces`` were written."""

    def handle(self, events: Iterable[Any]) -> None:
        """React to the session's events."""
        for event in events:
            if self.done:
                return
            kind = type(event)
            if kind is Media:
                self.on_media(event)
            elif kind is HandshakeCompleted:
                self.result.handshake_ms = self.elapsed_ms()
                self.on_handshake()
                self.session.connect(self.target.tc_url, self.target.app)
                self.enter("connect")
            elif kind is Result:
                self.on_result(event)
            elif kind is CallError:
                if event.command in ("releaseStream", "FCPublish"):
                    continue  # some servers refuse these; SRS answers _result
                self._fail("rejected", f"{event.command}: _error {event.args!r}"[:300])
            elif kind is OnStatus:
                if event.level == "error":
                    self._fail("rejected", f"{event.code}: {event.description}")
                else:
                    self.on_status(event)

    def on_handshake(self) -> None:
        """Hook: the handshake completed."""

    def on_media(self, event: Media) -> None:
        if event.kind is MediaKind.DATA:
            return
        payload = event.payload
        self.tally.add(
            _MEDIA_TYPES[event.kind],
            event.timestamp,
            len(payload),
            payload[0] if payload else -1,
            payload[1] if len(payload) > 1 else -1,
        )

    def on_result(self, event: Result) -> None:
        raise NotImplementedError

    def on_status(self, event: OnStatus) -> None:
        raise NotImplementedError


class RtmpPlayClient(_RtmpClient):
    """
    Plays ``stream``: connect, createStream, play, then counts what
    arrives until the run ends.

    :param fast: read the chunk stream with the scanner (module docstring).
    :param stall: once the first key frame is in, stop reading altogether
        (a slow reader on purpose, ``--stall``): the server must bound what
        it holds for this client without slowing the others.
    :param count_only: once the first key frame is in, stop parsing and only
        count bytes (and keep the stall deadline): what lets one tester core
        hold several thousand players.  Such a client reports kbps and
        start times but no real-time ratio.
    """

    def __init__(
        self,
        index: int,
        stream: str,
        target: RtmpTarget,
        clock: IReactorTime,
        timeout: float,
        *,
        fast: bool = True,
        count_only: bool = False,
        stall: bool = False,
    ) -> None:
        super().__init__(index, stream, target, clock, timeout)
        self._stall = stall
        self._fast = fast
        self._count_only = count_only
        self._counting = False
        self._handshake_left = _HANDSHAKE_SIZE
        self._scanner: ChunkScanner | None = None
        self._ack_window = 0
        self._acked = 0

    def dataReceived(self, data: bytes) -> None:
        if self.done:
            return
        result = self.result
        result.bytes += len(data)
        if self._counting:
            self.deadline = self.clock.seconds() + self.timeout
            return
        if result.reader_stalled:
            return  # what the kernel had buffered before the pause
        try:
            scanner = self._scanner
            if scanner is not None:
                scanner.receive_data(data)
                if self._ack_window and result.bytes - self._acked >= self._ack_window >> 1:
                    self._acked = result.bytes
                    self.session.send_control(Acknowledgement(result.bytes & 0xFFFFFFFF))
            elif self._fast:
                head = data[: self._handshake_left]
                self._handshake_left -= len(head)
                self.handle(self.session.receive_data(head))
                if len(head) < len(data) and self._scanner is not None and not self.done:
                    self._scanner.receive_data(data[len(head) :])
            else:
                self.handle(self.session.receive_data(data))
        except (RtmpError, ChunkError, HandshakeError) as e:
            self._fail("protocol error", str(e) or type(e).__name__)
            return
        if self.done:
            return
        if self.phase == STREAMING:
            self.deadline = self.clock.seconds() + self.timeout
            if self._stall and self.tally.first_keyframe_at is not None:
                result.reader_stalled = True
                self.deadline = float("inf")  # silence is the point
                self.transport.pauseProducing()  # type: ignore[union-attr]
                return
            if self._count_only and self.tally.first_keyframe_at is not None:
                # Measured what only a parse can tell: from here on, bytes.
                self._counting = True
                self._scanner = None
                result.counted_only = True
        elif self.tally.first_media_at is not None:
            self.enter(STREAMING)
        self.flush()

    def on_handshake(self) -> None:
        if self._fast:
            self._scanner = ChunkScanner(self.tally, self._on_message)

    def _on_message(
        self, timestamp: int, type_id: int, stream_id: int, csid: int, payload: bytes
    ) -> None:
        """A message other than audio or video from the scanner."""
        if type_id == _WINDOW_ACK_SIZE:
            control = decode_control(type_id, payload)
            assert isinstance(control, WindowAcknowledgementSize)
            if control.window_size > 0:
                self._ack_window = control.window_size
            return
        session = self.session
        pieces = encode_chunks(timestamp, type_id, stream_id, payload, session.in_chunk_size, csid)
        self.handle(session.receive_data(b"".join(pieces)))

    def on_result(self, event: Result) -> None:
        if event.command == "connect":
            self.session.create_stream()
            self.enter("createStream")
        elif event.command == "createStream":
            self.session.play(self.result.stream)
            self.enter("play")

    def on_status(self, event: OnStatus) -> None:
        if event.code == "NetStream.Play.Start" and self.result.start_ms is None:
            self.result.start_ms = self.elapsed_ms()


@dataclass(frozen=True)
class _Tag:
    timestamp: int  # from the file's first tag, ms
    kind: MediaKind
    payload: bytes
    b0: int
    b1: int


class FlvSource:
    """
    An FLV file's tags, ready to publish in a loop.

    :ivar span_ms: one loop's length: the last timestamp plus one frame
        interval (the smallest positive gap between video tags, else 40 ms).
    :raises ValueError: the file is not FLV or has no audio or video.
    """

    def __init__(self, data: bytes, name: str = "FLV") -> None:
        try:
            tags = FlvTagDecoder().receive_data(data)
        except FlvError as e:
            raise ValueError(f"{name}: {e}") from e
        av = [t for t in tags if t.tag_type in (8, 9)]
        if not av:
            raise ValueError(f"{name}: no audio or video tags")
        base = min(t.timestamp for t in tags)
        self.tags = [
            _Tag(
                t.timestamp - base,
                _KINDS[t.tag_type],
                t.payload,
                t.payload[0] if t.payload else -1,
                t.payload[1] if len(t.payload) > 1 else -1,
            )
            for t in tags
        ]
        video = sorted(t.timestamp for t in tags if t.tag_type == 9)
        gaps = [b - a for a, b in zip(video, video[1:], strict=False) if b > a]
        self.span_ms = max(t.timestamp for t in self.tags) + (min(gaps) if gaps else 40)

    @classmethod
    def from_file(cls, path: str) -> FlvSource:
        with open(path, "rb") as f:
            return cls(f.read(), path)


@implementer(IPushProducer)
class RtmpPublishClient(_RtmpClient):
    """
    Publishes ``source`` as ``stream``: connect, releaseStream, FCPublish,
    createStream, publish (FMLE style, as ffmpeg does), then the tags in
    real time, looped, until the run ends.  Script tags go out in the first
    loop only.
    """

    def __init__(
        self,
        index: int,
        stream: str,
        target: RtmpTarget,
        clock: IReactorTime,
        timeout: float,
        source: FlvSource,
    ) -> None:
        super().__init__(index, stream, target, clock, timeout)
        self.source = source
        self._paused = False
        self._publish_at: float | None = None
        self._cursor = 0
        self._loop = 0

    # -- IPushProducer -----------------------------------------------------------

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False

    def stopProducing(self) -> None:
        self._paused = True

    # -- protocol --------------------------------------------------------------

    def connectionMade(self) -> None:
        if self.transport is not None:
            self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        if self.done:
            return
        try:
            self.handle(self.session.receive_data(data))
        except (RtmpError, ChunkError, HandshakeError) as e:
            self._fail("protocol error", str(e) or type(e).__name__)
            return
        self.flush()

    def sent(self, pieces: list[bytes]) -> None:
        self.result.bytes += sum(map(len, pieces))

    def on_result(self, event: Result) -> None:
        session = self.session
        if event.command == "connect":
            session.release_stream(self.result.stream)
            session.fc_publish(self.result.stream)
            session.create_stream()
            self.enter("createStream")
        elif event.command == "createStream":
            session.publish(self.result.stream)
            self.enter("publish")

    def on_status(self, event: OnStatus) -> None:
        if event.code == "NetStream.Publish.Start" and self._publish_at is None:
            self.result.start_ms = self.elapsed_ms()
            self._publish_at = self.clock.seconds()
            self.enter(STREAMING)
            self.pump(self._publish_at)

    def pump(self, now: float) -> None:
        """Send every tag due by ``now``, unless the transport is paused."""
        if self.done or self._publish_at is None:
            return
        if self._paused:
            return  # the deadline keeps running: "stalled" after timeout
        self.deadline = now + self.timeout
        tags = self.source.tags
        span = self.source.span_ms
        due_ms = (now - self._publish_at) * 1000.0
        session = self.session
        tally_add = self.tally.add
        sent = 0
        try:
            while not self._paused and sent < _MAX_BURST:
                loop = self._loop
                tag = tags[self._cursor]
                timestamp = loop * span + tag.timestamp
                if timestamp > due_ms:
                    break
                self._cursor += 1
                if self._cursor == len(tags):
                    self._cursor = 0
                    self._loop += 1
                if tag.kind is MediaKind.DATA:
                    if loop:
                        continue
                else:
                    tally_add(_MEDIA_TYPES[tag.kind], timestamp, len(tag.payload), tag.b0, tag.b1)
                session.send_media(tag.kind, timestamp & 0x7FFFFFFF, tag.payload)
                sent += 1
                if sent % 16 == 0:
                    self.flush()
        except RtmpError as e:
            self._fail("protocol error", str(e))
            return
        self.flush()


def pace_publishers(clients: Iterable[BenchClient], now: float) -> None:
    """The runner's ``pace``: let every publisher send what is due."""
    for client in list(clients):
        if isinstance(client, RtmpPublishClient):
            client.pump(now)
