"""
Tests for :mod:`srstwist.protocols.rtmp`: publish and play through the real
server protocol, in memory, with real media from an ffmpeg capture.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.amf0 import decode_all
from srstwist.codec.chunk import MessageType
from srstwist.media.message import total_encodes
from srstwist.protocols.rtmp import IDLE_TIMEOUT
from tests.rtmp_peer import Harness, ScriptedClient, captured_media

_URL = "rtmp://127.0.0.1/live"


class PublishPlayTests(SynchronousTestCase):
    """A publisher's stream reaches players as SRS would deliver it."""

    def setUp(self) -> None:
        self.harness = Harness()
        self.media = captured_media()
        self.servers: list = []

    def publish(self, stream: str = "livestream", count: int | None = None) -> ScriptedClient:
        publisher = ScriptedClient(_URL, stream, "publish")
        self.harness.connect(publisher)
        self.assertIn("NetStream.Publish.Start", publisher.statuses())
        self.send(publisher, self.media[:count])
        return publisher

    def send(self, publisher: ScriptedClient, messages: list) -> None:
        for message in messages:
            publisher.send(message)
        self.harness.flush()

    def play(self, stream: str = "livestream") -> ScriptedClient:
        player = ScriptedClient(_URL, stream, "play")
        server, _ = self.harness.connect(player)
        self.servers.append(server)
        return player

    def test_publish_replies(self) -> None:
        """ffmpeg's publish flow gets SRS's statuses and the source is live."""
        publisher = self.publish(count=0)
        source = self.harness.hub.find("__defaultVhost__", "live", "livestream")
        self.assertIsNotNone(source)
        self.assertIsNotNone(source.publisher)  # type: ignore[union-attr]
        self.assertFalse(publisher.lost)

    def test_player_starts_with_headers_then_keyframe(self) -> None:
        """A player joining mid-stream gets metadata, sequence headers, then a keyframe."""
        self.publish(count=120)
        player = self.play()
        self.harness.flush()
        self.assertEqual(
            player.statuses()[:2], ["NetStream.Play.Reset", "NetStream.Play.Start"]
        )
        media = player.media()
        self.assertGreater(len(media), 3)
        self.assertEqual(media[0].message_type_id, MessageType.AMF0_DATA)
        name, values = decode_all(media[0].payload)
        self.assertEqual(name, "onMetaData")
        self.assertNotIn("duration", values)
        self.assertEqual(values["server"], "SRS/2.0.276(ZhouGuowen)")
        self.assertEqual(media[1].payload[:2], b"\xaf\x00")  # audio first (#301)
        self.assertEqual(media[2].payload[:2], b"\x17\x00")
        first_frame = [m for m in media[3:] if m.message_type_id == MessageType.VIDEO][0]
        self.assertEqual(first_frame.payload[:2], b"\x17\x01")

    def test_timestamps_start_near_zero_and_rise(self) -> None:
        """With time_jitter full, a player's A/V timestamps start near 0 and never fall."""
        publisher = self.publish(count=60)
        player = self.play()
        self.send(publisher, self.media[60:])
        av = [m.timestamp for m in player.media() if m.message_type_id != MessageType.AMF0_DATA]
        self.assertLessEqual(av[0], 10)
        self.assertEqual(av, sorted(av))
        self.assertGreater(len(av), 200)

    def test_player_before_publisher(self) -> None:
        """A player that arrives first waits, then gets the stream when it starts."""
        player = self.play()
        self.assertIn("NetStream.Play.Start", player.statuses())
        self.assertEqual(player.media(), [])
        self.publish(count=80)
        self.harness.flush()
        kinds = [m.message_type_id for m in player.media()]
        self.assertIn(MessageType.VIDEO, kinds)
        self.assertIn(MessageType.AUDIO, kinds)

    def test_second_publisher_refused(self) -> None:
        """Publishing a busy stream closes only the newcomer."""
        first = self.publish(count=10)
        second = ScriptedClient(_URL, "livestream", "publish")
        self.harness.connect(second)
        self.harness.flush()
        self.assertTrue(second.lost)
        self.assertFalse(first.lost)

    def test_republish(self) -> None:
        """After the publisher leaves, a new one can publish and players continue (#454)."""
        player = self.play()
        first = self.publish(count=40)
        first.transport.loseConnection()
        self.harness.flush()
        before = len(player.media())
        second = self.publish(count=40)
        # Players in step with the source get its messages at the next
        # merged-write tick.
        self.harness.clock.advance(0.35)
        self.harness.flush()
        self.assertFalse(second.lost)
        self.assertGreater(len(player.media()), before)
        self.assertFalse(player.lost)

    def test_encodes_do_not_grow_with_players(self) -> None:
        """Each live message is encoded about once, whatever the number of players."""
        publisher = self.publish(count=5)
        players = [self.play() for _ in range(20)]
        start = total_encodes()
        self.send(publisher, self.media[5:125])
        encodes = total_encodes() - start
        self.assertTrue(all(len(p.media()) > 100 for p in players))
        # One shared encoding per message (fmt 1), plus the fmt-0 starts of
        # each player's chunk streams: never one per player per message.
        self.assertLess(encodes, 120 + 20 * 4)
        shared = sum(self.harness_player(i).shared_sends for i in range(20))
        own = sum(self.harness_player(i).own_sends for i in range(20))
        self.assertGreater(shared, 10 * own)

    def harness_player(self, index: int):
        """The server-side player of the index-th playing connection."""
        servers = [p for p in self.servers if p.player is not None]
        return servers[index].player

    def test_idle_client_timed_out(self) -> None:
        """A connection that never completes the handshake is closed after the timeout."""
        silent = ScriptedClient(_URL, "x", "play")
        silent.connectionMade = lambda: None  # type: ignore[method-assign]
        server, _ = self.harness.connect(silent)
        self.harness.clock.advance(IDLE_TIMEOUT)
        self.harness.flush()
        self.assertTrue(silent.lost)


class StatisticsTests(SynchronousTestCase):
    """What the HTTP API and heartbeat will read is kept up to date."""

    def test_clients_streams_and_codecs(self) -> None:
        """A publisher and a player are counted; the stream knows its codecs."""
        harness = Harness()
        media = captured_media()
        publisher = ScriptedClient(_URL, "cam", "publish")
        harness.connect(publisher)
        for message in media[:30]:
            publisher.send(message)
        harness.flush()
        player = ScriptedClient(_URL, "cam", "play")
        harness.connect(player)
        stats = harness.hub.stats
        self.assertEqual(stats.client_count, 2)
        streams = stats.api_streams(harness.clock.seconds())
        self.assertEqual(len(streams), 1)
        stream = streams[0]
        self.assertEqual(stream["name"], "cam")
        self.assertEqual(stream["clients"], 2)
        self.assertTrue(stream["publish"]["active"])
        self.assertEqual(stream["video"]["codec"], "H264")
        self.assertEqual(stream["audio"]["codec"], "AAC")
        clients = {c["type"] for c in stats.api_clients(harness.clock.seconds())}
        self.assertEqual(clients, {"fmle-publish", "Play"})
        player.transport.loseConnection()
        harness.flush()
        self.assertEqual(stats.client_count, 1)


class BadInputTests(SynchronousTestCase):
    """Bad input closes only the offending connection."""

    def setUp(self) -> None:
        self.harness = Harness()
        self.media = captured_media()
        self.publisher = ScriptedClient(_URL, "s", "publish")
        self.harness.connect(self.publisher)
        self.player = ScriptedClient(_URL, "s", "play")
        self.harness.connect(self.player)
        for message in self.media[:20]:
            self.publisher.send(message)
        self.harness.flush()

    def assert_others_unaffected(self) -> None:
        before = len(self.player.media())
        for message in self.media[20:60]:
            self.publisher.send(message)
        self.harness.flush()
        self.assertFalse(self.publisher.lost or self.player.lost)
        self.assertGreater(len(self.player.media()), before)

    def raw(self, data: bytes) -> ScriptedClient:
        """A client that completes the handshake, then sends ``data``."""
        client = ScriptedClient(_URL, "x", "play")

        def react(event: object) -> None:
            from srstwist.codec.rtmp_events import HandshakeCompleted

            if isinstance(event, HandshakeCompleted):
                client.flush()  # C2 first, then the bad bytes
                client.transport.write(data)

        client.react = react  # type: ignore[method-assign]
        self.harness.connect(client)
        return client

    def test_garbage_before_handshake(self) -> None:
        """Random bytes instead of a handshake close that connection."""
        client = ScriptedClient(_URL, "x", "play")
        client.connectionMade = lambda: client.transport.write(b"\x07" + b"garbage" * 300)  # type: ignore[method-assign]
        self.harness.connect(client)
        self.assertTrue(client.lost)
        self.assert_others_unaffected()

    def test_huge_message_length(self) -> None:
        """A chunk announcing a 100 MB message closes that connection at once."""
        # 24-bit lengths top out at 16 MiB, the largest a client can claim.
        header = bytes([0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x14, 1, 0, 0, 0])
        client = self.raw(header + b"\x00" * 100)
        self.assertTrue(client.lost)
        self.assert_others_unaffected()

    def test_tiny_chunk_size(self) -> None:
        """Set Chunk Size 0 closes that connection."""
        client = self.raw(bytes([0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]) + b"\x00\x00\x00\x00")
        self.assertTrue(client.lost)
        self.assert_others_unaffected()

    def test_command_before_connect(self) -> None:
        """A createStream before connect closes that connection."""
        from srstwist.codec.amf0 import encode_values

        body = encode_values("createStream", 2.0, None)
        header = bytes([0x03, 0, 0, 0]) + len(body).to_bytes(3, "big") + bytes([0x14, 0, 0, 0, 0])
        client = self.raw(header + body)
        self.assertTrue(client.lost)
        self.assert_others_unaffected()

    def test_malformed_amf(self) -> None:
        """A command whose AMF0 does not decode closes that connection."""
        body = b"\x02\x00\x07connect\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x03\x00\x03app\x02\xff\xff"
        header = bytes([0x03, 0, 0, 0]) + len(body).to_bytes(3, "big") + bytes([0x14, 0, 0, 0, 0])
        client = self.raw(header + body)
        self.assertTrue(client.lost)
        self.assert_others_unaffected()


class TimeoutTests(SynchronousTestCase):
    """Publishers that go quiet are closed; players are not."""

    def test_trickling_client_is_closed(self) -> None:
        """
        A client that trickles one byte every 20 s (within the idle timeout)
        is still closed once it has not started to publish or play within
        the identification deadline.
        """
        from twisted.internet.protocol import Protocol

        from srstwist.protocols.rtmp import IDENTIFY_DEADLINE

        harness = Harness()
        trickler = Protocol()
        server, pump = harness.connect(trickler)
        lost: list[bool] = []
        original = server.connectionLost
        server.connectionLost = lambda reason=None: (lost.append(True), original(reason))  # type: ignore[method-assign]
        elapsed = 0.0
        while elapsed < IDENTIFY_DEADLINE * 3 and not lost:
            trickler.transport.write(b"\x03")  # type: ignore[union-attr]
            harness.flush()
            harness.clock.advance(20)
            harness.flush()
            elapsed += 20
        self.assertTrue(lost)
        self.assertLessEqual(elapsed, IDENTIFY_DEADLINE + 20)

    def test_deadline_waits_for_a_pending_hook(self) -> None:
        """A client waiting on a slow on_connect hook is not cut by the deadline."""
        from twisted.internet import defer

        from srstwist.protocols.rtmp import IDENTIFY_DEADLINE

        harness = Harness(
            "listen 1935;\nvhost __defaultVhost__ { http_hooks { enabled on; "
            "on_connect http://hooks/c; } }\n"
        )
        pending: defer.Deferred[None] = defer.Deferred()

        class SlowHooks:
            def admit(self, *args: object) -> defer.Deferred[None]:
                return pending

            def notify(self, *args: object) -> defer.Deferred[None]:
                return defer.succeed(None)

        harness.controller.hooks = SlowHooks()  # type: ignore[assignment]
        player = ScriptedClient(_URL, "s", "play")
        harness.connect(player)
        harness.clock.advance(IDENTIFY_DEADLINE + 5)
        harness.flush()
        self.assertFalse(player.lost)
        pending.callback(None)
        harness.flush()
        self.assertIn("NetStream.Play.Start", player.statuses())

    def test_first_packet_timeout(self) -> None:
        """A publisher that sends nothing after publish is closed after publish_1stpkt_timeout."""
        harness = Harness("listen 1935;\nvhost __defaultVhost__ { publish_1stpkt_timeout 2000; }\n")
        publisher = ScriptedClient(_URL, "s", "publish")
        harness.connect(publisher)
        harness.clock.advance(1.9)
        harness.flush()
        self.assertFalse(publisher.lost)
        harness.clock.advance(0.2)
        harness.flush()
        self.assertTrue(publisher.lost)
        self.assertIsNone(harness.hub.find("__defaultVhost__", "live", "s"))

    def test_normal_timeout(self) -> None:
        """After its first message, a publisher silent for publish_normal_timeout is closed."""
        harness = Harness("listen 1935;\nvhost __defaultVhost__ { publish_normal_timeout 1000; }\n")
        publisher = ScriptedClient(_URL, "s", "publish")
        harness.connect(publisher)
        publisher.send(captured_media()[0])
        harness.flush()
        harness.clock.advance(0.9)
        harness.flush()
        self.assertFalse(publisher.lost)
        harness.clock.advance(0.2)
        harness.flush()
        self.assertTrue(publisher.lost)

    def test_player_never_times_out(self) -> None:
        """A player waiting for a publisher is not closed by the idle timeout."""
        harness = Harness()
        player = ScriptedClient(_URL, "s", "play")
        harness.connect(player)
        harness.clock.advance(IDLE_TIMEOUT * 3)
        harness.flush()
        self.assertFalse(player.lost)

    def test_close_stream(self) -> None:
        """closeStream stops playing but keeps the connection."""
        harness = Harness()
        player = ScriptedClient(_URL, "s", "play")
        server, _ = harness.connect(player)
        player.session.close_stream()
        player.flush()
        harness.flush()
        self.assertIsNone(server.player)
        self.assertFalse(player.lost)
        source = harness.hub.find("__defaultVhost__", "live", "s")
        self.assertIsNone(source)


class _Hooks:
    """An IHookClient whose blocking hooks answer as the test says, later."""

    def __init__(self) -> None:
        self.asked: dict[str, Any] = {}
        self.notified: list[str] = []

    def admit(self, event: str, urls: Any, payload: Any, cid: int) -> Any:
        from twisted.internet import defer

        self.asked[event] = defer.Deferred()
        return self.asked[event]

    def notify(self, event: str, urls: Any, payload: Any, cid: int) -> Any:
        from twisted.internet import defer

        self.notified.append(event)
        return defer.succeed(None)


_HOOKED = """listen 1935;
vhost __defaultVhost__ {
    http_hooks {
        enabled on;
        on_connect http://127.0.0.1:9/c; on_close http://127.0.0.1:9/c;
        on_publish http://127.0.0.1:9/s; on_unpublish http://127.0.0.1:9/s;
    }
}
"""


class HookTests(SynchronousTestCase):
    """Blocking hooks decide admission; the notifications that pair with them follow."""

    def setUp(self) -> None:
        self.harness = Harness(_HOOKED)
        self.hooks = _Hooks()
        self.harness.controller.hooks = self.hooks  # type: ignore[assignment]

    def test_on_close_after_refused_on_connect(self) -> None:
        """A client on_connect refuses still gets its on_close, as in SRS."""
        from srstwist.codec.hooks import HookRejected

        client = ScriptedClient(_URL, "s", "publish")
        self.harness.connect(client)
        self.hooks.asked["on_connect"].errback(HookRejected("http://127.0.0.1:9/c", "403", 3064))
        self.harness.flush()
        self.assertTrue(client.lost)
        self.assertEqual(self.hooks.notified, ["on_close"])

    def test_client_gone_before_hook_answers(self) -> None:
        """
        A publisher that leaves while on_publish is asked is not admitted when
        the hook accepts afterwards: no source, no statistics entry; the hook
        server, which accepted it, gets on_unpublish, then on_close (which
        waited for the answer), as SRS sends them.
        """
        client = ScriptedClient(_URL, "s", "publish")
        self.harness.connect(client)
        self.hooks.asked["on_connect"].callback(None)
        self.harness.flush()
        self.assertIn("on_publish", self.hooks.asked)
        assert client.transport is not None
        client.transport.loseConnection()
        self.harness.flush()
        self.hooks.asked["on_publish"].callback(None)
        self.harness.flush()
        self.assertIsNone(self.harness.hub.find("__defaultVhost__", "live", "s"))
        self.assertEqual(self.harness.hub.stats.client_count, 0)
        self.assertEqual(self.hooks.notified, ["on_unpublish", "on_close"])
