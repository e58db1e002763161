"""
Tests for :mod:`srstwist.client.rtmp` and :mod:`srstwist.client.url`: the RTMP client
against the srstwist server in memory (iosim on a Clock), against scripted
servers for the failure paths, and once over real loopback TCP.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, error
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from srstwist.client.flv_file import FlvWriter, ingest, read_flv
from srstwist.client.rtmp import (
    CLOSE_TIMEOUT,
    STREAM_TIMEOUT,
    RtmpClientError,
    RtmpClientProtocol,
    connect_rtmp,
    parse_rtmp_url,
)
from srstwist.codec.amf0 import decode_all
from srstwist.codec.flv import FlvTag, TagType
from srstwist.codec.rtmp import ServerSession
from srstwist.codec.rtmp_client import ClientState
from srstwist.codec.rtmp_commands import build_command, status_info
from srstwist.codec.rtmp_events import (
    Call,
    Connect,
    CreateStream,
    DeleteStream,
    Event,
    FCPublish,
    FCUnpublish,
    Media,
    MediaKind,
    Play,
    Publish,
    ReleaseStream,
)
from srstwist.config.loader import load_config
from srstwist.media.message import SharedMessage
from srstwist.services.server import buildService
from srstwist.tracelog import SrsLogObserver
from tests.integration.process import free_port
from tests.rtmp_peer import Harness, captured_media
from tests.test_client_flv_file import attach, ffprobe, generated, without_end_of_sequence

_TC_URL = "rtmp://127.0.0.1/live"
# min_latency: each message reaches the player as soon as it is published,
# so the tests can check a player right after a publisher sends, without
# waiting for a merged write (350 ms batches) to fill up.
_CONF = "listen 1935;\nvhost __defaultVhost__ { min_latency on; }\n"


_KINDS = {8: MediaKind.AUDIO, 9: MediaKind.VIDEO, 18: MediaKind.DATA}


class _Recorder:
    """An IStreamConsumer that records what the source hands out."""

    cid = 1

    def __init__(self) -> None:
        self.messages: list[SharedMessage] = []

    def deliver(self, message: SharedMessage) -> None:
        self.messages.append(message)

    def publisher_changed(self, publishing: bool) -> None:
        pass

    def close(self, reason: str) -> None:
        pass


class _Endpoint:
    """An IStreamClientEndpoint that connects to the harness in memory."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        protocol = factory.buildProtocol(None)
        attach(self.harness, protocol)
        return defer.succeed(protocol)


class _Client(SynchronousTestCase):
    """Clients of an in-memory srstwist server."""

    def setUp(self) -> None:
        self.harness = Harness(_CONF)
        self.clock = self.harness.clock

    def client(self, connect: bool = True, tc_url: str = _TC_URL, **options: Any) -> RtmpClientProtocol:
        client = RtmpClientProtocol(self.clock, **options)
        attach(self.harness, client)
        if connect:
            self.successResultOf(self.flushed(client.connect(tc_url)))
        return client

    def flushed(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        self.harness.flush()
        return d

    def publisher(self, stream: str = "livestream") -> RtmpClientProtocol:
        client = self.client()
        self.assertIsNone(self.successResultOf(self.flushed(client.publish(stream))))
        return client

    def player(self, stream: str = "livestream") -> tuple[RtmpClientProtocol, list[Media]]:
        client = self.client()
        received: list[Media] = []
        self.assertIsNone(self.successResultOf(self.flushed(client.play(stream, sink=received.append))))
        return client, received

    def source(self, stream: str = "livestream") -> Any:
        return self.harness.hub.find("__defaultVhost__", "live", stream)


class ConnectTests(_Client):
    """Handshake and connect."""

    def test_connect(self) -> None:
        """connect fires with the server's _result, kept as server_info."""
        client = self.client(connect=False)
        result = self.successResultOf(self.flushed(client.connect(_TC_URL)))
        self.assertEqual(result.command, "connect")
        self.assertIs(client.server_info, result)
        self.assertEqual(result.args[0]["code"], "NetConnection.Connect.Success")
        self.assertEqual(result.args[0]["data"]["srs_sig"], "SRS")
        self.assertEqual(client.state, ClientState.CONNECTED)
        self.assertGreater(client.bytes_sent, 1537)
        self.assertGreater(client.bytes_received, 3073)

    def test_connect_before_handshake(self) -> None:
        """connect called before the handshake is done waits for it."""
        calls: list[defer.Deferred[Any]] = []

        class Eager(RtmpClientProtocol):
            def connectionMade(self) -> None:
                super().connectionMade()
                calls.append(self.connect(_TC_URL))

        attach(self.harness, Eager(self.clock))
        self.assertEqual(self.successResultOf(calls[0]).command, "connect")

    def test_simple_handshake(self) -> None:
        """srs-librtmp's simple handshake is accepted too."""
        client = self.client(simple_handshake=True)
        self.assertEqual(client.state, ClientState.CONNECTED)

    def test_unknown_vhost(self) -> None:
        """A vhost the server does not serve fails connect with RtmpClientError."""
        self.harness = Harness("listen 1935;\nvhost demo.com { }\n")
        client = RtmpClientProtocol(self.harness.clock)
        attach(self.harness, client)
        failure = self.failureResultOf(self.flushed(client.connect(_TC_URL)), RtmpClientError)
        self.assertEqual(
            str(failure.value),
            "connect to rtmp://127.0.0.1/live failed: the server closed the connection",
        )
        self.assertTrue(client._lost)

    def test_second_connect_refused(self) -> None:
        """A second connect while one is pending raises."""
        client = self.client(connect=False)
        client.connect(_TC_URL)
        self.assertRaises(RtmpClientError, client.connect, _TC_URL)

    def test_producer(self) -> None:
        """The protocol is its transport's streaming producer."""
        client = self.client()
        self.assertTrue(verifyObject(IPushProducer, client))
        self.assertIs(client.transport.producer, client)  # type: ignore[union-attr]
        self.assertTrue(client.transport.streamingProducer)  # type: ignore[union-attr]


class PublishPlayTests(_Client):
    """Publishing and playing through the srstwist server."""

    def test_publish_and_play(self) -> None:
        """A player receives every message a client publishes, payloads unchanged."""
        publisher = self.publisher()
        player, received = self.player()
        media = captured_media()
        for message in media:
            publisher.send_message(message.message_type_id, message.timestamp, message.payload)
        self.harness.flush()
        names = [m.name for m in received if m.kind is MediaKind.DATA]
        self.assertEqual(names[:3], ["|RtmpSampleAccess", "onStatus", "onMetaData"])
        stream = [m for m in received if m.name not in ("|RtmpSampleAccess", "onStatus")]
        # Every message arrives, including the capture's last video message,
        # stamped before the audio just ahead of it.
        self.assertEqual(len(stream), len(media))
        self.assertEqual([m.payload for m in stream[1:]], [m.payload for m in media[1:]])
        self.assertEqual(stream[0].metadata["server"], "SRS/2.0.276(ZhouGuowen)")  # type: ignore[index]
        self.assertEqual(player.media_received, len(received))
        self.assertEqual(player.state, ClientState.PLAYING)

    def test_publish_keeps_timestamps(self) -> None:
        """Published messages reach the source with the timestamps given."""
        publisher = self.publisher()
        recorder = _Recorder()
        self.source().attach(recorder)
        media = captured_media()[:30]
        for message in media:
            kind = _KINDS[message.message_type_id]
            publisher.send_media(kind, message.timestamp + 5000, message.payload)
        self.harness.flush()
        self.assertEqual(
            [(m.message_type_id, m.timestamp) for m in recorder.messages if m.message_type_id != 18],
            [(m.message_type_id, m.timestamp + 5000) for m in media if m.message_type_id != 18],
        )

    def test_play_timestamps_as_received(self) -> None:
        """The sink gets the server's timestamps, untouched."""
        publisher = self.publisher()
        for message in captured_media()[:40]:
            publisher.send_message(message.message_type_id, message.timestamp, message.payload)
        self.harness.flush()
        # Joining late: the server restamps from its GOP cache with jitter.
        player, received = self.player()
        video = [m for m in received if m.kind is MediaKind.VIDEO]
        self.assertEqual(video[0].timestamp, 0)
        self.assertEqual(video[0].stream_id, 1)

    def test_publish_busy(self) -> None:
        """Publishing a stream someone else publishes fails with RtmpClientError."""
        self.publisher()
        second = self.client()
        failure = self.failureResultOf(self.flushed(second.publish("livestream")), RtmpClientError)
        self.assertEqual(
            str(failure.value), "publish livestream failed: the server closed the connection"
        )
        self.assertRaises(RtmpClientError, second.send_media, MediaKind.AUDIO, 0, b"\xaf\x01")

    def test_play_unknown_vhost(self) -> None:
        """Playing a stream of an unknown vhost fails with RtmpClientError."""
        self.harness = Harness("listen 1935;\nvhost demo.com { }\n")
        self.clock = self.harness.clock
        client = self.client(tc_url="rtmp://demo.com/live")
        d = self.flushed(client.play("livestream?vhost=nothere.com"))
        failure = self.failureResultOf(d, RtmpClientError)
        self.assertIn("play livestream?vhost=nothere.com failed", str(failure.value))

    def test_publisher_close(self) -> None:
        """close() unpublishes (FCUnpublish, deleteStream) and ends the connection."""
        publisher = self.publisher()
        player, received = self.player()
        done = self.flushed(publisher.close())
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(publisher.statuses[-1].code, "NetStream.Unpublish.Success")
        self.assertIsNone(self.source().publisher)
        self.assertFalse(player._lost)
        # A second close, or one after the end, fires at once.
        self.assertIsNone(self.successResultOf(publisher.close()))

    def test_player_close(self) -> None:
        """A player's close() detaches it from the source."""
        self.publisher()
        player, _ = self.player()
        self.assertEqual(len(self.source().consumers), 1)
        self.successResultOf(self.flushed(player.close()))
        self.assertEqual(len(self.source().consumers), 0)

    def test_close_fails_pending(self) -> None:
        """Calls pending at close() fail with RtmpClientError."""
        client = self.client()
        publishing = client.publish("livestream")
        client.close()
        self.harness.flush()
        failure = self.failureResultOf(publishing, RtmpClientError)
        self.assertEqual(str(failure.value), "publish livestream failed: the connection was closed")
        self.failureResultOf(client.wait_writable(), RtmpClientError)

    def test_send_needs_publishing(self) -> None:
        """send_media before publish raises RtmpClientError."""
        client = self.client()
        self.assertRaises(RtmpClientError, client.send_media, MediaKind.VIDEO, 0, b"\x17")
        self.assertRaises(RtmpClientError, client.send_message, 9, 0, b"\x17")

    def test_one_stream_call_at_a_time(self) -> None:
        """publish or play while one is pending, or after one, raises."""
        client = self.client()
        client.publish("a")
        self.assertRaises(RtmpClientError, client.play, "b")
        self.harness.flush()
        self.assertRaises(RtmpClientError, client.publish, "c")

    def test_stream_from_url(self) -> None:
        """publish() without a name needs one from the URL."""
        client = self.client()
        self.assertRaises(RtmpClientError, client.publish)

    def test_bad_timestamp(self) -> None:
        """A timestamp that cannot be encoded raises RtmpClientError."""
        publisher = self.publisher()
        self.assertRaises(RtmpClientError, publisher.send_media, MediaKind.AUDIO, -1, b"\xaf\x01")

    def test_sink_errors_logged(self) -> None:
        """A failing sink is logged and does not break the connection."""
        self.publisher()
        client = self.client()
        def sink(media: Media) -> None:
            raise ZeroDivisionError()

        self.successResultOf(self.flushed(client.play("livestream", sink=sink)))
        # |RtmpSampleAccess and the onStatus data message.
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        self.assertTrue(client.is_open)


class BackPressureTests(SynchronousTestCase):
    """wait_writable follows the transport's pause and resume."""

    def setUp(self) -> None:
        self.client = RtmpClientProtocol(Clock())
        self.transport = StringTransport()
        self.client.makeConnection(self.transport)

    def test_writable(self) -> None:
        """wait_writable fires at once while the transport takes data."""
        self.assertTrue(self.client.writable)
        self.successResultOf(self.client.wait_writable())

    def test_paused(self) -> None:
        """While paused, wait_writable waits for resumeProducing."""
        self.client.pauseProducing()
        self.assertFalse(self.client.writable)
        waiting = [self.client.wait_writable(), self.client.wait_writable()]
        self.assertNoResult(waiting[0])
        self.client.resumeProducing()
        for d in waiting:
            self.successResultOf(d)

    def test_lost_while_paused(self) -> None:
        """A connection lost while paused fails the waiters."""
        self.client.pauseProducing()
        waiting = self.client.wait_writable()
        self.client.connectionLost(Failure(error.ConnectionLost()))
        self.failureResultOf(waiting, RtmpClientError)

    def test_read_pausing(self) -> None:
        """pause_reading and resume_reading pause and resume the transport."""
        self.client.pause_reading()
        self.assertEqual(self.transport.producerState, "paused")
        self.client.resume_reading()
        self.assertEqual(self.transport.producerState, "producing")

    def test_close_times_out(self) -> None:
        """close() aborts a connection that does not drain within CLOSE_TIMEOUT."""
        aborted: list[bool] = []
        self.transport.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
        clock = self.client.clock
        done = self.client.close()
        self.assertTrue(self.transport.disconnecting)
        self.assertIsNone(self.transport.producer)
        clock.advance(CLOSE_TIMEOUT)  # type: ignore[attr-defined]
        self.assertEqual(aborted, [True])
        self.assertNoResult(done)
        self.client.connectionLost(Failure(error.ConnectionDone()))
        self.successResultOf(done)


# -- scripted servers for the failure paths --------------------------------------


Script = Callable[["_ScriptedServer", Event], None]


def _standard(server: _ScriptedServer, event: Event) -> None:
    """Answer as SRS would; publish and play get their normal replies."""
    session = server.session
    if isinstance(event, Connect):
        session.accept_connect(event)
    elif isinstance(event, CreateStream):
        session.accept_create_stream(event)
    elif isinstance(event, ReleaseStream):
        session.reply_release_stream(event)
    elif isinstance(event, FCPublish):
        session.reply_fc_publish(event)
    elif isinstance(event, Publish):
        session.start_publish(event)
    elif isinstance(event, Play):
        session.start_play(event)
    elif isinstance(event, FCUnpublish):
        session.reply_fc_unpublish(event)
    elif isinstance(event, (Call, DeleteStream)):
        session.reply_call(event)


class _ScriptedServer(Protocol):
    """A server session whose answers a test chooses."""

    def __init__(self, script: Script) -> None:
        self.session = ServerSession(lambda n: b"\x02" * n, 0)
        self.script = script
        self.events: list[Event] = []

    def dataReceived(self, data: bytes) -> None:
        for event in self.session.receive_data(data):
            self.events.append(event)
            self.script(self, event)
        self.flush()

    def flush(self) -> None:
        pieces = self.session.data_to_send()
        if pieces and self.transport is not None:
            self.transport.write(b"".join(pieces))

    def send_error(self, transaction_id: float, code: str, description: str) -> None:
        """Answer a command with _error."""
        info = status_info("error", code, description)
        payload = build_command("_error", transaction_id, None, info)
        self.session.send_message(20, 0, payload, stream_id=0, chunk_stream_id=3)


class ScriptedServerTests(SynchronousTestCase):
    """Refusals, silences and protocol errors come back as RtmpClientError."""

    def setUp(self) -> None:
        self.clock = Clock()

    def link(self, script: Script) -> tuple[_ScriptedServer, RtmpClientProtocol]:
        self.server = _ScriptedServer(script)
        self.client = RtmpClientProtocol(self.clock)
        self.pump = iosim.connect(
            self.server,
            iosim.FakeTransport(self.server, isServer=True),
            self.client,
            iosim.FakeTransport(self.client, isServer=False),
            greet=False,
            clock=self.clock,
        )
        self.pump.flush()
        return self.server, self.client

    def commands(self) -> list[str]:
        """The names of the commands the server received, in order."""
        kinds = (Connect, CreateStream, ReleaseStream, FCPublish, Publish, Play, FCUnpublish)
        return [
            type(e).__name__ for e in self.server.events if isinstance(e, (*kinds, DeleteStream))
        ]

    def run_call(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        self.pump.flush()
        return d

    def connected(self, script: Script) -> RtmpClientProtocol:
        _, client = self.link(script)
        self.successResultOf(self.run_call(client.connect(_TC_URL)))
        return client

    def test_connect_error(self) -> None:
        """A connect _error fails connect with its code and description."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if isinstance(event, Connect):
                server.send_error(event.transaction_id, "NetConnection.Connect.Failed", "no app")

        _, client = self.link(script)
        failure = self.failureResultOf(self.run_call(client.connect(_TC_URL)), RtmpClientError)
        self.assertEqual(
            str(failure.value),
            "connect to rtmp://127.0.0.1/live failed: refused: NetConnection.Connect.Failed no app",
        )

    def test_connect_rejected(self) -> None:
        """NetConnection.Connect.Rejected fails connect."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if isinstance(event, Connect):
                server.session.reject_connect(event, "bad token")

        _, client = self.link(script)
        failure = self.failureResultOf(self.run_call(client.connect(_TC_URL)), RtmpClientError)
        self.assertIn("failed: rejected: bad token", str(failure.value))

    def test_fmle_flow(self) -> None:
        """publish sends releaseStream, FCPublish, createStream, then publish; close unpublishes."""
        client = self.connected(_standard)
        self.successResultOf(self.run_call(client.publish("cam")))
        self.assertEqual(
            self.commands(),
            ["Connect", "ReleaseStream", "FCPublish", "CreateStream", "Publish"],
        )
        self.assertEqual(self.server.events[-1].stream_name, "cam")  # type: ignore[union-attr]
        self.successResultOf(self.run_call(client.close()))
        self.assertEqual(self.commands()[5:], ["FCUnpublish", "DeleteStream"])

    def test_play_flow(self) -> None:
        """play sends createStream then play with the duration; close sends deleteStream."""
        client = self.connected(_standard)
        self.successResultOf(self.run_call(client.play("cam", duration=3000)))
        self.assertEqual(self.commands(), ["Connect", "CreateStream", "Play"])
        play = [e for e in self.server.events if isinstance(e, Play)][0]
        self.assertEqual((play.stream_name, play.duration), ("cam", 3000.0))
        self.successResultOf(self.run_call(client.close()))
        self.assertEqual(self.commands()[3:], ["DeleteStream"])

    def test_error_status(self) -> None:
        """An error onStatus fails publish with its code and description."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if isinstance(event, Publish):
                server.session.error_status("NetStream.Publish.BadName", "Stream already publishing")
            else:
                _standard(server, event)

        client = self.connected(script)
        failure = self.failureResultOf(self.run_call(client.publish("cam")), RtmpClientError)
        self.assertEqual(
            str(failure.value),
            "publish cam failed: refused: NetStream.Publish.BadName Stream already publishing",
        )

    def test_create_stream_error(self) -> None:
        """A createStream _error fails play."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if isinstance(event, CreateStream):
                server.send_error(event.transaction_id, "NetConnection.Call.Failed", "no")
            else:
                _standard(server, event)

        client = self.connected(script)
        failure = self.failureResultOf(self.run_call(client.play("cam")), RtmpClientError)
        self.assertIn("play cam failed: createStream refused", str(failure.value))

    def test_silent_server_times_out(self) -> None:
        """Without Publish.Start within the timeout, publish fails and the connection drops."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if not isinstance(event, Publish):
                _standard(server, event)

        client = self.connected(script)
        d = self.run_call(client.publish("cam"))
        self.clock.advance(STREAM_TIMEOUT - 1)
        self.assertNoResult(d)
        self.clock.advance(1)
        failure = self.failureResultOf(d, RtmpClientError)
        self.assertEqual(
            str(failure.value), "publish cam failed: no answer from the server within 30 s"
        )
        self.pump.flush()
        self.assertTrue(client._lost)
        self.flushLoggedErrors()

    def test_cancel_drops_connection(self) -> None:
        """Cancelling a pending call drops the connection."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if not isinstance(event, Play):
                _standard(server, event)

        client = self.connected(script)
        d = self.run_call(client.play("cam", timeout=None))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.pump.flush()
        self.assertTrue(client._lost)

    def test_protocol_error(self) -> None:
        """Bytes that break the protocol fail pending calls and drop the connection."""

        def script(server: _ScriptedServer, event: Event) -> None:
            if isinstance(event, Connect):
                server.transport.write(b"\x03" + b"\xff" * 11)  # type: ignore[union-attr]

        _, client = self.link(script)
        failure = self.failureResultOf(self.run_call(client.connect(_TC_URL)), RtmpClientError)
        self.assertIn("failed: protocol error from the server", str(failure.value))


class ConnectRtmpTests(SynchronousTestCase):
    """connect_rtmp: URL, endpoint, whole-call timeout, clear errors."""

    def setUp(self) -> None:
        self.harness = Harness(_CONF)

    def test_memory_publish(self) -> None:
        """connect_rtmp connects and publish() takes the stream from the URL."""
        d = connect_rtmp(
            self.harness.clock, "rtmp://127.0.0.1/live/cam?key=1", endpoint=_Endpoint(self.harness)
        )
        self.harness.flush()
        client = self.successResultOf(d)
        assert client.url is not None
        self.assertEqual((client.url.app, client.url.stream), ("live", "cam"))
        publishing = client.publish()
        self.harness.flush()
        self.successResultOf(publishing)
        self.assertIsNotNone(self.harness.hub.find("__defaultVhost__", "live", "cam"))

    def test_timeout(self) -> None:
        """An endpoint that never connects fails after the timeout."""

        class Never:
            def connect(self, factory: Any) -> defer.Deferred[Any]:
                return defer.Deferred()

        d = connect_rtmp(self.harness.clock, "rtmp://10.1.2.3/live/s", timeout=3, endpoint=Never())
        self.harness.clock.advance(3)
        failure = self.failureResultOf(d, RtmpClientError)
        self.assertEqual(
            str(failure.value), "cannot connect to rtmp://10.1.2.3/live/s: timed out after 3 s"
        )

    def test_timeout_during_connect(self) -> None:
        """A server that never answers connect times out too, and is disconnected."""
        clock = Clock()
        clients: list[RtmpClientProtocol] = []

        class Silent:
            def connect(self, factory: Any) -> defer.Deferred[Any]:
                client = factory.buildProtocol(None)
                clients.append(client)
                client.makeConnection(StringTransport())
                return defer.succeed(client)

        d = connect_rtmp(clock, "rtmp://127.0.0.1/live/s", endpoint=Silent())
        clock.advance(10)
        self.failureResultOf(d, RtmpClientError)
        self.assertTrue(clients[0].transport.disconnecting)  # type: ignore[union-attr]
        self.flushLoggedErrors()

    def test_endpoint_errors(self) -> None:
        """Endpoint failures become sentences a tool can print."""
        cases = [
            (error.ConnectionRefusedError(), "cannot connect to h:1935: connection refused"),
            (error.DNSLookupError("h"), "cannot resolve host 'h'"),
            (error.TimeoutError(), "cannot connect to h:1935: timed out"),
            (error.NoRouteError(), "cannot connect to h:1935: No route to host."),
        ]
        for exception, message in cases:

            class Failing:
                def connect(self, factory: Any, exception: Exception = exception) -> Any:
                    return defer.fail(exception)

            d = connect_rtmp(Clock(), "rtmp://h/live/s", endpoint=Failing())
            self.assertEqual(str(self.failureResultOf(d, RtmpClientError).value), message)

    def test_bad_urls(self) -> None:
        """Malformed URLs fail at once with the reason."""
        cases = {
            "http://h/live/s": "bad RTMP URL 'http://h/live/s': expected rtmp://host[:port]/app/stream",
            "rtmp://h/s": "bad RTMP URL 'rtmp://h/s': no app; expected rtmp://host[:port]/app/stream",
            "rtmp://h:x/live/s": "bad RTMP URL 'rtmp://h:x/live/s': invalid port 'x'",
            "rtmp://h:70000/live/s": "bad RTMP URL 'rtmp://h:70000/live/s': invalid port '70000'",
            "rtmp://h/live/": "bad RTMP URL 'rtmp://h/live/': no stream name; "
            "expected rtmp://host[:port]/app/stream",
        }
        for url, message in cases.items():
            d = connect_rtmp(Clock(), url)
            self.assertEqual(str(self.failureResultOf(d, RtmpClientError).value), message)


class UrlTests(SynchronousTestCase):
    """parse_rtmp_url splits URLs as srs-librtmp does."""

    def test_plain(self) -> None:
        """Host, default port, app and the stream as the last segment."""
        url = parse_rtmp_url("rtmp://127.0.0.1/live/livestream")
        self.assertEqual(
            (url.host, url.port, url.vhost, url.app, url.stream, url.param, url.tc_url),
            ("127.0.0.1", 1935, "127.0.0.1", "live", "livestream", "", "rtmp://127.0.0.1/live"),
        )

    def test_port_sub_app_and_query(self) -> None:
        """A port, a multi-segment app, and a stream query moved into the tcUrl."""
        url = parse_rtmp_url("rtmp://host:19350/live/sub/cam?key=abc")
        self.assertEqual((url.port, url.app, url.stream), (19350, "live/sub", "cam"))
        self.assertEqual(url.tc_url, "rtmp://host:19350/live/sub?key=abc")

    def test_vhost_query(self) -> None:
        """A vhost in the query names the tcUrl's host, as SRS's client generates it."""
        url = parse_rtmp_url("rtmp://10.0.0.1/live/cam?vhost=demo.com")
        self.assertEqual((url.host, url.vhost), ("10.0.0.1", "demo.com"))
        self.assertEqual(url.tc_url, "rtmp://demo.com/live?vhost=demo.com")

    def test_without_stream(self) -> None:
        """require_stream=False accepts a URL that ends with the app."""
        url = parse_rtmp_url("rtmp://h/live/", require_stream=False)
        self.assertEqual((url.app, url.stream), ("live", ""))


class LoopbackTests(TestCase):
    """The client over real TCP against an in-process srstwist server."""

    timeout = 60

    def start_server(self) -> int:
        from twisted.internet import reactor

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        port = free_port()
        path = os.path.join(directory, "srs.conf")
        with open(path, "w") as f:
            f.write(
                f"listen 127.0.0.1:{port};\npid {directory}/srs.pid;\n"
                "srs_log_tank console;\nvhost __defaultVhost__ { min_latency on; }\n"
            )
        service = buildService(
            load_config(path), reactor, observer=SrsLogObserver(console=io.StringIO())
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.directory = directory
        return port

    @defer.inlineCallbacks
    def test_ingest_and_dump(self) -> Any:
        """An ffmpeg FLV published with ingest comes back, tag for tag, into an FlvWriter."""
        from twisted.internet import reactor

        source = generated("flv")
        port = self.start_server()
        url = f"rtmp://127.0.0.1:{port}/live/loopback"
        tags = without_end_of_sequence(list(read_flv(source)))
        expected = [t for t in tags if t.tag_type != TagType.SCRIPT]
        output = os.path.join(self.directory, "dump.flv")
        writer = FlvWriter(output)
        received: list[Media] = []
        complete: defer.Deferred[None] = defer.Deferred()

        def sink(media: Media) -> None:
            writer.write_media(media)
            if media.kind is not MediaKind.DATA:
                received.append(media)
                if len(received) == len(expected):
                    complete.callback(None)

        player = yield connect_rtmp(reactor, url)
        self.addCleanup(player.close)
        yield player.play(sink=sink)
        publisher = yield connect_rtmp(reactor, url)
        self.addCleanup(publisher.close)
        yield publisher.publish()
        started = reactor.seconds()  # type: ignore[attr-defined]
        sent = yield ingest(publisher, tags, reactor)
        elapsed = reactor.seconds() - started  # type: ignore[attr-defined]
        yield complete.addTimeout(10, reactor)
        yield publisher.close()
        yield player.close()
        writer.close()

        self.assertEqual(sent, len(tags))
        self.assertGreater(elapsed, 1.5)
        self.assertEqual([m.payload for m in received], [t.payload for t in expected])
        self.assertEqual(
            [m.timestamp - received[0].timestamp for m in received],
            [t.timestamp - expected[0].timestamp for t in expected],
        )
        dumped = list(read_flv(output))
        self.assertEqual(dumped[0].tag_type, TagType.SCRIPT)
        self.assertEqual(decode_all(dumped[0].payload)[0], "onMetaData")
        self.assertEqual(
            [FlvTag(t.tag_type, t.timestamp, t.payload) for t in dumped[1:]],
            [FlvTag(m.message_type_id, m.timestamp, m.payload) for m in received],
        )
        streams = ffprobe(output, "-show_streams")["streams"]
        self.assertEqual(
            sorted(s["codec_name"] for s in streams if s["codec_type"] != "data"), ["aac", "h264"]
        )

    @defer.inlineCallbacks
    def test_refused(self) -> Any:
        """Nothing listening: RtmpClientError says the connection was refused."""
        from twisted.internet import reactor

        port = free_port()
        with self.assertRaises(RtmpClientError) as caught:
            yield connect_rtmp(reactor, f"rtmp://127.0.0.1:{port}/live/s", timeout=5)
        self.assertEqual(
            str(caught.exception), f"cannot connect to 127.0.0.1:{port}: connection refused"
        )
