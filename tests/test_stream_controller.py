"""
Tests for :mod:`srstwist.services.controller`: the one way to publish and
play.

The acceptance of the stream core: a publisher that is neither RTMP nor
anything the server knows (:class:`MemoryPublisher`, test-only) publishes
through the controller; an RTMP player and an HTTP-FLV player play it
through the same controller, with the hooks and statistics right; and a
recording consumer attached with the one call gets exactly what an RTMP
player gets.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from srstwist.codec.chunk import MessageType
from srstwist.codec.flv import FlvTagDecoder
from srstwist.codec.hooks import HookRejected
from srstwist.interfaces import (
    IBatchMember,
    IClientHandle,
    IHookClient,
    IPlayLease,
    IPublishLease,
    IStreamConsumer,
    IStreamController,
    IStreamPublisher,
    Replay,
    Stage,
)
from srstwist.media.message import SharedMessage
from srstwist.media.source import SourceBusy
from srstwist.services.controller import hook_payload
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.batch import SharedBatch
from srstwist.stream.http_player import HttpLivePlayer
from srstwist.stream.request import StreamRequest
from srstwist.stream.rtmp_player import RtmpPlayer
from srstwist.web.http_server import HttpStreamServer
from srstwist.web.site import make_site
from tests.rtmp_peer import Harness, ScriptedClient, captured_media

_CONF = """
listen 1935;
http_server { enabled on; dir ./objs/nginx/html; }
vhost __defaultVhost__ {
    time_jitter off;
    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; hstrs on; }
    http_hooks {
        enabled on;
        on_connect http://hooks/connect; on_close http://hooks/close;
        on_publish http://hooks/publish; on_unpublish http://hooks/unpublish;
        on_play http://hooks/play; on_stop http://hooks/stop;
    }
}
"""
_URL = "rtmp://127.0.0.1/live"


@implementer(IHookClient)
class RecordingHooks:
    """Accepts every blocking hook (or refuses ``refuse``) and records each call."""

    def __init__(self, refuse: str = "") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse

    def admit(self, event: str, urls: Any, payload: Any, cid: int) -> defer.Deferred[None]:
        self.calls.append((event, dict(payload)))
        if event == self.refuse:
            return defer.fail(HookRejected(urls[0], "refused by the test"))
        return defer.succeed(None)

    def notify(self, event: str, urls: Any, payload: Any, cid: int) -> defer.Deferred[None]:
        self.calls.append((event, dict(payload)))
        return defer.succeed(None)

    def notify_hls(self, *args: Any) -> defer.Deferred[None]:
        return defer.succeed(None)

    def close(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def events(self, cid: int | None = None) -> list[str]:
        return [e for e, p in self.calls if cid is None or p.get("client_id") == cid]


@implementer(IStreamPublisher)
class MemoryPublisher:
    """A publisher of messages from memory: no protocol, only the controller."""

    cid = 900

    def __init__(self, handle: IClientHandle) -> None:
        self.handle = handle
        self.lease: IPublishLease | None = None
        self.closed: list[str] = []

    def start(self, request: StreamRequest) -> defer.Deferred[IPublishLease]:
        def publish(admission: Admission) -> IPublishLease:
            self.lease = self.handle.publish(admission, self)
            return self.lease

        return self.handle.admit(request, Stage.PUBLISH).addCallback(publish)

    def send(self, message: SharedMessage) -> None:
        assert self.lease is not None
        self.lease.deliver(message)

    def close(self, reason: str) -> None:
        self.closed.append(reason)
        if self.lease is not None:
            self.lease.end(reason)
        self.handle.close()


@implementer(IStreamConsumer)
class RecordingConsumer:
    """Keeps every message it is given."""

    cid = 901
    replay = Replay.GOP
    sharing_key = None

    def __init__(self) -> None:
        self.messages: list[SharedMessage] = []
        self.publishing: list[bool] = []

    def deliver(self, message: SharedMessage) -> None:
        self.messages.append(message)

    def publisher_changed(self, publishing: bool) -> None:
        self.publishing.append(publishing)

    def close(self, reason: str) -> None:
        pass


def _publish_request(stream: str = "s") -> StreamRequest:
    return StreamRequest(
        ip="10.0.0.5",
        vhost="__defaultVhost__",
        app="live",
        stream=stream,
        param="?token=t",
        tc_url=_URL,
        client_type="fmle-publish",
        transport="memory",
    )


def _flv_tags(raw: bytes) -> list[tuple[int, int, bytes]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    data = b""
    while body:
        size_text, _, rest = body.partition(b"\r\n")
        size = int(size_text, 16)
        data += rest[:size]
        body = rest[size + 2 :]
        if size == 0:
            break
    return [(t.tag_type, t.timestamp, t.payload) for t in FlvTagDecoder().receive_data(data)]


class AcceptanceTests(SynchronousTestCase):
    """A publisher of a new kind, through the controller, to RTMP and HTTP-FLV players."""

    def setUp(self) -> None:
        self.harness = Harness(_CONF)
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.controller = self.harness.controller
        app = HttpStreamServer(self.controller, self.harness.holder, self.harness.clock)
        self.site = make_site(app.resource(), self.harness.clock)

    def http_play(self, path: str) -> StringTransport:
        channel = self.site.buildProtocol(IPv4Address("TCP", "10.0.0.7", 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.7", 5000))
        channel.makeConnection(transport)
        channel.dataReceived(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return transport

    def test_memory_publisher_rtmp_and_http_players(self) -> None:
        """Players of both kinds get the stream; hooks come in order; statistics follow."""
        publisher = MemoryPublisher(self.controller.client(900, "10.0.0.5"))
        leases: list[IPublishLease] = []
        publisher.start(_publish_request()).addCallback(leases.append)
        self.assertEqual(len(leases), 1)
        self.assertTrue(self.controller.is_live("__defaultVhost__", "live", "s"))

        player = ScriptedClient(_URL, "s", "play")
        server, _ = self.harness.connect(player)
        http = self.http_play("/live/s.flv")
        media = captured_media()
        for raw in media:
            publisher.send(SharedMessage.from_raw(raw))
        self.harness.clock.advance(1)
        self.harness.flush()

        rtmp_got = [(m.message_type_id, m.payload) for m in player.media()]
        source = leases[0].source
        self.assertEqual(len(rtmp_got), len(media))
        self.assertIn(source.metadata.payload, [p for _, p in rtmp_got])  # type: ignore[union-attr]
        http_got = _flv_tags(http.value())
        self.assertEqual([(t, p) for t, _, p in http_got], rtmp_got)

        stats = self.controller.stats
        [stream] = [s for s in stats.streams() if s.name == "s"]
        self.assertEqual((stream.active, stream.publish_cid, stream.clients), (True, 900, 3))
        self.assertEqual(stats.client_count, 3)  # the publisher and two players
        self.assertEqual(stats.client(900).type, "fmle-publish")  # type: ignore[union-attr]

        publisher.close("the test is over")
        server.transport.loseConnection()  # type: ignore[union-attr]
        self.harness.flush()
        self.assertEqual(self.hooks.events(900), ["on_publish", "on_unpublish"])
        self.assertEqual(
            self.hooks.events(server.cid), ["on_connect", "on_play", "on_stop", "on_close"]
        )
        [http_cid] = {
            p["client_id"] for e, p in self.hooks.calls if p["client_id"] not in (900, server.cid)
        }
        # The publisher left, so the HTTP-FLV response ended and on_stop went out.
        self.assertEqual(self.hooks.events(http_cid), ["on_play", "on_stop"])
        publish = dict(self.hooks.calls)["on_publish"]
        self.assertEqual(
            (publish["ip"], publish["stream"], publish["param"]), ("10.0.0.5", "s", "?token=t")
        )
        self.assertEqual(stats.client_count, 0)
        self.assertIsNone(self.harness.hub.find("__defaultVhost__", "live", "s"))

    def test_recording_consumer_gets_what_an_rtmp_player_gets(self) -> None:
        """One call attaches any consumer; it receives exactly the RTMP player's messages."""
        publisher = MemoryPublisher(self.controller.client(900, "10.0.0.5"))
        publisher.start(_publish_request())
        media = captured_media()
        half = len(media) // 2
        for raw in media[:half]:
            publisher.send(SharedMessage.from_raw(raw))
        # Both join mid-stream: they start from the same headers and GOP cache.
        player = ScriptedClient(_URL, "s", "play")
        self.harness.connect(player)
        recorder = RecordingConsumer()
        handle = self.controller.client(902, "10.0.0.8")
        admitted: list[Admission] = []
        request = StreamRequest(
            ip="10.0.0.8", vhost="__defaultVhost__", app="live", stream="s",
            client_type="Play", transport="memory",
        )  # fmt: skip
        handle.admit(request, Stage.PLAY).addCallback(admitted.append)
        lease = handle.play(admitted[0], recorder)
        verifyObject(IPlayLease, lease)
        for raw in media[half:]:
            publisher.send(SharedMessage.from_raw(raw))
        self.harness.clock.advance(1)
        self.harness.flush()
        recorded = [(m.message_type_id, m.timestamp, m.payload) for m in recorder.messages]
        played = [(m.message_type_id, m.timestamp, m.payload) for m in player.media()]
        self.assertGreater(len(recorded), len(media) - half)
        self.assertEqual(recorded, played)
        lease.end("done")
        self.assertNotIn(recorder, leases_source_consumers(lease))


def leases_source_consumers(lease: IPlayLease) -> list[Any]:
    return list(lease.source.consumers)


class AdmissionTests(SynchronousTestCase):
    """Admission in SRS's order, refusals with SRS's codes, the hooks' pairs."""

    def setUp(self) -> None:
        self.harness = Harness(
            _CONF.replace("time_jitter off;", "time_jitter off; security { enabled on; "
                          "deny publish 10.0.0.66; allow publish all; allow play all; }")
        )  # fmt: skip
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.controller = self.harness.controller

    def admit(self, handle: IClientHandle, request: StreamRequest, stage: Stage) -> Any:
        results: list[Any] = []
        handle.admit(request, stage).addBoth(results.append)
        [result] = results
        return result

    def test_interfaces(self) -> None:
        """The controller, its handles and leases, and the players provide the seams."""
        verifyObject(IStreamController, self.controller)
        handle = self.controller.client(1, "10.0.0.5")
        verifyObject(IClientHandle, handle)
        admission = self.admit(handle, _publish_request(), Stage.PUBLISH)
        publisher = MemoryPublisher(handle)
        verifyObject(IStreamPublisher, publisher)
        verifyObject(IPublishLease, handle.publish(admission, publisher))
        vhost = admission.vhost
        clock = self.harness.clock
        verifyObject(IBatchMember, RtmpPlayer(1, vhost, 4096, list, list, clock))
        from srstwist.media.remux import encoder_for

        flv = HttpLivePlayer(1, vhost, encoder_for(".flv"), print, clock, list, raw_write=print)
        verifyObject(IBatchMember, flv)
        self.assertEqual(flv.sharing_key, ("flv",))
        mp3 = HttpLivePlayer(1, vhost, encoder_for(".mp3"), print, clock, list)
        self.assertEqual((mp3.replay, mp3.sharing_key), (Replay.HEADERS, None))
        self.assertTrue(issubclass(SharedBatch, object))
        verifyObject(IStreamConsumer, RecordingConsumer())

    def test_security_refuses_before_the_hook(self) -> None:
        """A denied publisher is refused with 1053 and on_publish is never asked."""
        handle = self.controller.client(2, "10.0.0.66")
        request = _publish_request()
        request = StreamRequest(**{**_asdict(request), "ip": "10.0.0.66"})
        result = self.admit(handle, request, Stage.PUBLISH)
        self.assertEqual(result.value.code, 1053)
        self.assertEqual(self.hooks.calls, [])
        handle.close()
        self.assertEqual(self.hooks.calls, [])

    def test_empty_stream_and_unknown_vhost(self) -> None:
        """An empty stream name is 2050; an unknown vhost falls back, a disabled one is 2014."""
        handle = self.controller.client(3, "10.0.0.5")
        empty = StreamRequest(ip="10.0.0.5", vhost="__defaultVhost__", app="live", stream="")
        self.assertEqual(self.admit(handle, empty, Stage.PLAY).value.code, 2050)

    def test_hook_refusal(self) -> None:
        """A refusing on_play hook refuses with its code; no on_stop follows it."""
        self.hooks.refuse = "on_play"
        handle = self.controller.client(4, "10.0.0.5")
        request = StreamRequest(ip="10.0.0.5", vhost="__defaultVhost__", app="live", stream="s")
        result = self.admit(handle, request, Stage.PLAY)
        self.assertIsInstance(result.value, AccessDenied)
        self.assertIn("on_play hook", str(result.value))
        handle.close()
        self.assertEqual(self.hooks.events(4), ["on_play"])

    def test_on_close_after_refused_connect(self) -> None:
        """A connect that found its vhost is followed by on_close, even when refused."""
        self.hooks.refuse = "on_connect"
        handle = self.controller.client(5, "10.0.0.5")
        request = StreamRequest.from_rtmp("10.0.0.5", _URL)
        self.assertIsInstance(self.admit(handle, request, Stage.CONNECT).value, AccessDenied)
        handle.close()
        self.assertEqual(self.hooks.events(5), ["on_connect", "on_close"])

    def test_busy(self) -> None:
        """A second publisher of a live stream is refused; the first keeps it."""
        first = MemoryPublisher(self.controller.client(6, "10.0.0.5"))
        first.start(_publish_request())
        second = self.controller.client(7, "10.0.0.5")
        admission = self.admit(second, _publish_request(), Stage.PUBLISH)
        self.assertRaises(SourceBusy, second.publish, admission, MemoryPublisher(second))
        self.assertTrue(self.controller.is_live("__defaultVhost__", "live", "s"))

    def test_wrong_stage(self) -> None:
        """A play admission cannot publish, nor a publish admission play."""
        handle = self.controller.client(8, "10.0.0.5")
        play = StreamRequest(ip="10.0.0.5", vhost="__defaultVhost__", app="live", stream="s")
        admission = self.admit(handle, play, Stage.PLAY)
        self.assertRaises(ValueError, handle.publish, admission, MemoryPublisher(handle))

    def test_client_gone_during_hook(self) -> None:
        """A client that left while its hook was asked is not admitted."""
        pending: defer.Deferred[None] = defer.Deferred()
        self.hooks.admit = lambda *args: pending  # type: ignore[method-assign]
        handle = self.controller.client(9, "10.0.0.5")
        results: list[Any] = []
        handle.admit(_publish_request(), Stage.PUBLISH).addBoth(results.append)
        handle.close()
        pending.callback(None)
        self.assertIsInstance(results[0].value, AccessDenied)
        self.assertFalse(self.controller.is_live("__defaultVhost__", "live", "s"))
        # The hook server accepted the publish, so it hears of its end
        # (found by the soak: on_stop short of on_play).
        self.assertEqual(self.hooks.events(9), ["on_unpublish"])

    def test_unknown_hook_event(self) -> None:
        """Building a body for an event that is not a client event is an error."""
        request = _publish_request()
        self.assertRaises(ValueError, hook_payload, "on_dvr", 1, request, "v")


class PublishTimeoutTests(SynchronousTestCase):
    """The publish lease closes a publisher that goes quiet."""

    def setUp(self) -> None:
        self.harness = Harness(
            "listen 1935;\nvhost __defaultVhost__ { publish_1stpkt_timeout 2000; "
            "publish_normal_timeout 1000; }\n"
        )
        self.publisher = MemoryPublisher(self.harness.controller.client(10, "10.0.0.5"))
        self.publisher.start(_publish_request())

    def test_first_packet(self) -> None:
        """Nothing within publish_1stpkt_timeout closes the publisher."""
        self.harness.clock.advance(1.9)
        self.assertEqual(self.publisher.closed, [])
        self.harness.clock.advance(0.2)
        self.assertEqual(len(self.publisher.closed), 1)
        self.assertIn("within 2s", self.publisher.closed[0])

    def test_normal(self) -> None:
        """Messages keep it; a gap of publish_normal_timeout closes it."""
        video = SharedMessage(0, MessageType.VIDEO, b"\x17\x01\x00\x00\x00x", 6)
        for _ in range(5):
            self.publisher.send(video)
            self.harness.clock.advance(0.6)
        self.assertEqual(self.publisher.closed, [])
        self.harness.clock.advance(0.5)
        self.assertEqual(len(self.publisher.closed), 1)
        self.assertIn("for 1s", self.publisher.closed[0])


def _asdict(request: StreamRequest) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(request)


class ForgettingTests(SynchronousTestCase):
    """
    Issue 15, item 4: the statistics forget a stream once it has no
    publisher and no client, whatever front end went through the controller.
    """

    def setUp(self) -> None:
        self.harness = Harness(_CONF)
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.controller = self.harness.controller
        self.stats = self.controller.stats

    def play(self, cid: int, stream: str) -> tuple[IClientHandle, IPlayLease]:
        import dataclasses

        handle = self.controller.client(cid, "10.0.0.8")
        request = dataclasses.replace(_publish_request(stream), client_type="rtmp-play")
        admitted: list[Admission] = []
        handle.admit(request, Stage.PLAY).addCallback(admitted.append)
        return handle, handle.play(admitted[0], RecordingConsumer())

    def test_players_of_many_names(self) -> None:
        """1500 players of 1500 streams that never existed leave no entry, no source."""
        ids: set[int] = set()
        for cid in range(2000, 3500):
            handle, lease = self.play(cid, f"nobody{cid}")
            [stream] = self.stats.streams()
            ids.add(stream.id)
            lease.end("client closed")
            handle.close()
        self.assertEqual(len(ids), 1500)
        self.assertEqual(list(self.stats.streams()), [])
        self.assertEqual(self.harness.hub.sources, {})
        # The configured vhost stays, under its one id.
        self.assertEqual([v.name for v in self.stats.vhosts()], ["__defaultVhost__"])
        self.assertEqual(self.hooks.events().count("on_stop"), 1500)

    def test_published_stream_kept_until_unpublished(self) -> None:
        """Players leaving a live stream leave its entry; the publisher leaving removes it."""
        publisher = MemoryPublisher(self.controller.client(900, "10.0.0.5"))
        publisher.start(_publish_request("live1"))
        handle, lease = self.play(901, "live1")
        [stream] = self.stats.streams()
        lease.end("client closed")
        handle.close()
        self.assertIs(self.stats.stream_by_id(stream.id), stream)
        publisher.close("done")
        self.assertIsNone(self.stats.stream_by_id(stream.id))
        self.assertEqual(list(self.stats.streams()), [])
        # Published again, it is a new entry with a new id.
        again = MemoryPublisher(self.controller.client(902, "10.0.0.5"))
        again.start(_publish_request("live1"))
        [renewed] = self.stats.streams()
        self.assertGreater(renewed.id, stream.id)
