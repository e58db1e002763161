"""
In-memory RTMP peers for protocol tests: a scripted client on top of the
sans-IO :class:`ClientSession`, linked to the real server protocol by
:mod:`twisted.test.iosim`, on a :class:`Clock`.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.test import iosim

from srstwist.codec.chunk import ChunkDecoder, MessageType, RawMessage
from srstwist.codec.rtmp_client import ClientSession
from srstwist.codec.rtmp_events import (
    HandshakeCompleted,
    Media,
    MediaKind,
    OnStatus,
    Result,
)
from srstwist.config.loader import load_config_text
from srstwist.protocols.rtmp import RtmpServerFactory, RtmpServerProtocol
from srstwist.config.holder import ConfigHolder
from srstwist.services.controller import StreamController
from srstwist.services.hub import SourceHub

_SESSION = os.path.join(os.path.dirname(__file__), "data", "rtmp-session", "session.bin")

_KINDS = {
    MessageType.AUDIO: MediaKind.AUDIO,
    MessageType.VIDEO: MediaKind.VIDEO,
    MessageType.AMF0_DATA: MediaKind.DATA,
}


def captured_media() -> list[RawMessage]:
    """The audio, video and metadata messages of a real ffmpeg publish."""
    with open(_SESSION, "rb") as f:
        messages = ChunkDecoder().receive_data(f.read())
    return [m for m in messages if m.message_type_id in _KINDS]


class ScriptedClient(Protocol):
    """
    Connects, then publishes or plays ``stream``, recording every event.

    :ivar events: everything the session reported, in order.
    """

    def __init__(self, tc_url: str, stream: str, role: str, page_url: str = "") -> None:
        self.session = ClientSession(lambda n: b"\x01" * n, 0)
        self.tc_url = tc_url
        self.app = tc_url.split("/", 3)[3].split("?")[0] if tc_url.count("/") >= 3 else ""
        self.stream = stream
        self.role = role
        self.page_url = page_url
        self.events: list[Any] = []
        self.lost = False

    def connectionMade(self) -> None:
        self.flush()

    def flush(self) -> None:
        pieces = self.session.data_to_send()
        if pieces and self.transport is not None:
            self.transport.write(b"".join(pieces))

    def dataReceived(self, data: bytes) -> None:
        for event in self.session.receive_data(data):
            self.events.append(event)
            self.react(event)
        self.flush()

    def react(self, event: Any) -> None:
        if isinstance(event, HandshakeCompleted):
            self.session.connect(self.tc_url, self.app, page_url=self.page_url)
        elif isinstance(event, Result) and event.command == "connect":
            if self.role == "publish":
                self.session.release_stream(self.stream)
                self.session.fc_publish(self.stream)
            self.session.create_stream()
        elif isinstance(event, Result) and event.command == "createStream":
            if self.role == "publish":
                self.session.publish(self.stream)
            else:
                self.session.play(self.stream)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True

    # -- what tests look at ------------------------------------------------

    def statuses(self) -> list[str]:
        return [e.code for e in self.events if isinstance(e, OnStatus)]

    def media(self) -> list[Media]:
        """The stream's messages, without the play replies sent as data messages."""
        return [
            e
            for e in self.events
            if isinstance(e, Media) and e.name not in ("|RtmpSampleAccess", "onStatus")
        ]

    def send(self, message: RawMessage) -> None:
        self.session.send_media(
            _KINDS[MessageType(message.message_type_id)],
            message.timestamp,
            message.payload,
            chunk_stream_id=message.chunk_stream_id,
        )
        self.flush()


class Harness:
    """A server factory on a Clock, and helpers to attach scripted clients."""

    def __init__(self, conf: str = "listen 1935;\nvhost __defaultVhost__ { }\n") -> None:
        self.clock = Clock()
        self.config = load_config_text(conf, "test.conf")
        self.holder = ConfigHolder(self.config)
        self.hub = SourceHub(self.holder, self.clock)
        self.controller = StreamController(self.hub, self.holder, self.clock)
        self.factory = RtmpServerFactory(self.controller, self.holder, self.clock)
        self.pumps: list[iosim.IOPump] = []
        self._next_cid = 1000

    def connect(self, client: Protocol) -> tuple[RtmpServerProtocol, iosim.IOPump]:
        def make_server() -> RtmpServerProtocol:
            protocol = self.factory.buildProtocol(None)  # type: ignore[arg-type]
            protocol.cid = self._next_cid
            self._next_cid += 1
            return protocol

        server, pump = _connect(make_server(), client, self.clock)
        self.pumps.append(pump)
        self.flush()
        return server, pump

    def flush(self) -> None:
        for _ in range(20):
            moved = False
            for pump in self.pumps:
                moved = pump.pump() or moved
            if not moved:
                return


def _connect(
    server: RtmpServerProtocol, client: Protocol, clock: Clock
) -> tuple[RtmpServerProtocol, iosim.IOPump]:
    """Link a server protocol and a client protocol in memory."""
    server_transport = iosim.FakeTransport(server, isServer=True)
    client_transport = iosim.FakeTransport(client, isServer=False)
    pump = iosim.connect(
        server, server_transport, client, client_transport, greet=False, clock=clock
    )
    return server, pump
