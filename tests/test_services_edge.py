"""
The edge (:mod:`srstwist.services.edge`): srstwist edges in front of
srstwist origins, all in memory (tests/rtmp_peer.py's Harness), the origin
reached through the real RTMP client library.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.trial.unittest import SynchronousTestCase

from srstwist.client.rtmp import RtmpClientProtocol, connect_rtmp
from srstwist.codec.rtmp_events import Media
from srstwist.config.loader import load_config_text
from srstwist.services.edge import EdgeService, edge_tc_url, origins_of
from srstwist.services.forward import Destination
from tests.rtmp_peer import Harness
from tests.test_client_flv_file import attach
from tests.test_services_forward import _Publisher, _tags

_ORIGIN = "listen 19350;\nvhost __defaultVhost__ { min_latency on; }\n"
_EDGE = (
    "listen 1935;\nvhost __defaultVhost__ { mode remote; origin 127.0.0.1:19350 127.0.0.1:19351;"
    " min_latency on; }\n"
)


class _Origins:
    """Endpoints by port: each origin harness, or refused when down."""

    def __init__(self, harnesses: dict[int, Harness]) -> None:
        self.harnesses = harnesses
        self.down: set[int] = set()
        self.connects: list[int] = []

    def endpoint(self, port: int) -> Any:
        origins = self

        class _Endpoint:
            def connect(self, factory: Any) -> defer.Deferred[Any]:
                origins.connects.append(port)
                if port in origins.down:
                    return defer.fail(ConnectionRefusedError("down"))
                protocol = factory.buildProtocol(None)
                origins.harnesses[port].connect(protocol)
                return defer.succeed(protocol)

        return _Endpoint()


class TcUrlTests(SynchronousTestCase):
    def test_default_vhost_uses_origin_ip(self) -> None:
        vhost = load_config_text(_EDGE, "t.conf").vhost("__defaultVhost__")
        self.assertEqual(
            edge_tc_url(vhost, "live", Destination("127.0.0.1", 19350)),
            "rtmp://127.0.0.1:19350/live",
        )
        self.assertEqual(len(origins_of(vhost)), 2)

    def test_transform(self) -> None:
        conf = (
            "listen 1935;\nvhost edge.srs.com { mode remote; origin 127.0.0.1:19350; "
            "vhost source.srs.com; }\n"
        )
        vhost = load_config_text(conf, "t.conf").vhost("edge.srs.com")
        self.assertEqual(
            edge_tc_url(vhost, "live", Destination("127.0.0.1", 19350)),
            "rtmp://source.srs.com:19350/live",
        )


class _EdgeBase(SynchronousTestCase):
    """An edge harness in front of two origin harnesses, all in memory."""

    def setUp(self) -> None:
        self.edge = Harness(_EDGE)
        clock = self.edge.clock
        self.origin = Harness(_ORIGIN)
        self.origin2 = Harness(_ORIGIN)
        self.origin.clock = self.origin2.clock = clock
        self.origins = _Origins({19350: self.origin, 19351: self.origin2})

        def connect(reactor: Any, url: str, **options: Any) -> defer.Deferred[Any]:
            port = int(url.split("/")[2].split(":")[1])
            return connect_rtmp(reactor, url, endpoint=self.origins.endpoint(port), **options)

        self.service = EdgeService(clock, self.edge.controller, connect=connect)
        self.edge.controller.play_watcher = self.service

    def flush(self) -> None:
        for _ in range(3):
            self.origin.flush()
            self.origin2.flush()
            self.edge.flush()

    def player(self) -> tuple[RtmpClientProtocol, list[Media]]:
        client = RtmpClientProtocol(self.edge.clock)
        attach(self.edge, client)
        self.successResultOf(self._flushed(client.connect("rtmp://127.0.0.1/live")))
        received: list[Media] = []
        d = client.play("livestream", sink=received.append)
        self.flush()
        self.successResultOf(d)
        return client, received

    def _flushed(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        self.flush()
        return d

    def origin_players(self, harness: Harness) -> int:
        source = harness.hub.find("__defaultVhost__", "live", "livestream")
        return 0 if source is None else len(source.consumers)


class EdgePullTests(_EdgeBase):
    """Edge pull and push."""

    def test_one_upstream_for_many_players_and_failover(self) -> None:
        tags = _tags()
        publisher = _Publisher(self.origin)
        publisher2 = _Publisher(self.origin2)
        first, got1 = self.player()
        second, got2 = self.player()
        self.flush()
        [pull] = self.service.pulls.values()
        self.assertEqual(pull.status.state, "playing")
        # One upstream client for two edge players.
        self.assertEqual(self.origins.connects, [19350])
        self.assertEqual(self.origin_players(self.origin), 1)
        for tag in tags[:40]:
            publisher.lease.deliver(tag)
        self.flush()
        self.assertTrue(any(m.kind.value == "video" for m in got1))
        self.assertEqual(
            [m.payload for m in got1 if m.kind.value != "data"],
            [m.payload for m in got2 if m.kind.value != "data"],
        )
        before = len(got1)

        # The first origin goes away: the edge switches to the second,
        # the players stay and go on.
        self.origins.down.add(19350)
        for pump in list(self.origin.pumps):
            pump.client.transport.loseConnection()
        self.flush()
        self.assertEqual(pull.status.state, "waiting")
        self.edge.clock.advance(1)
        self.flush()
        self.assertEqual(self.origins.connects, [19350, 19351])
        self.assertEqual(pull.status.state, "playing")
        for tag in tags:
            publisher2.lease.deliver(tag)
        self.flush()
        self.assertGreater(len(got1), before + 40)
        self.assertTrue(first.is_open and second.is_open)

        # The players leave: the pull ends after the grace.
        first.close()
        second.close()
        self.flush()
        self.assertIn(("__defaultVhost__", "live", "livestream"), self.service.pulls)
        self.edge.clock.advance(3)
        self.flush()
        self.assertEqual(self.service.pulls, {})
        self.assertEqual(self.origin_players(self.origin2), 0)
        self.assertIsNone(self.edge.hub.find("__defaultVhost__", "live", "livestream"))
        publisher.close("done")
        publisher2.close("done")

    def test_edge_push(self) -> None:
        self.edge.hub.observe(self.service.pushes)
        self.service.pushes.bind(self.edge.hub)
        publisher = _Publisher(self.edge)
        self.flush()
        for tag in _tags()[:30]:
            publisher.lease.deliver(tag)
        self.flush()
        source = self.origin.hub.find("__defaultVhost__", "live", "livestream")
        self.assertIsNotNone(source)
        self.assertIsNotNone(source.publisher)
        self.assertIsNotNone(source.video_sequence_header)
        [info] = self.service.edges()
        self.assertEqual(info["kind"], "edge-push")
        self.assertEqual(info["state"], "publishing")
        publisher.close("done")
        self.flush()
        self.assertEqual(self.service.edges(), [])
        source = self.origin.hub.find("__defaultVhost__", "live", "livestream")
        self.assertTrue(source is None or source.publisher is None)


class GateTests(_EdgeBase):
    """The edge's admission gate: edge push waits for the origin; token traverse."""

    def setUp(self) -> None:
        super().setUp()
        self.edge.controller.admission_gate = self.service.gate
        self.edge.hub.observe(self.service)
        self.service.pushes.bind(self.edge.hub)

    def admit(self, stage: Any, tc_url: str = "rtmp://127.0.0.1/live") -> defer.Deferred[Any]:
        from srstwist.interfaces import Stage
        from srstwist.stream.request import StreamRequest

        handle = self.edge.controller.client(55, "10.0.0.3")
        request = StreamRequest(
            ip="10.0.0.3", vhost="__defaultVhost__", app="live",
            stream="" if stage is Stage.CONNECT else "livestream", tc_url=tc_url,
        )
        d = handle.admit(request, stage)
        self.flush()
        return d

    def test_push_admitted_once_origin_accepts(self) -> None:
        from srstwist.interfaces import Stage

        d = self.admit(Stage.PUBLISH)
        self.successResultOf(d)
        source = self.origin.hub.find("__defaultVhost__", "live", "livestream")
        self.assertIsNotNone(source.publisher)

    def test_push_refused_with_origin_reason(self) -> None:
        from srstwist.interfaces import Stage
        from srstwist.stream.admission import AccessDenied

        busy = _Publisher(self.origin)  # the origin has this stream already
        failure = self.failureResultOf(self.admit(Stage.PUBLISH), AccessDenied)
        self.assertIn("origin refused", failure.value.message)
        self.assertEqual(self.service.edges(), [])
        busy.close("done")

    def test_token_traverse(self) -> None:
        from srstwist.interfaces import Stage
        from srstwist.stream.admission import AccessDenied

        conf = (
            "listen 1935;\nvhost __defaultVhost__ { mode remote; origin 127.0.0.1:19350; "
            "token_traverse on; }\n"
        )
        self.edge.holder.config = load_config_text(conf, "t.conf")  # type: ignore[misc]
        origin = Harness("listen 19350;\nvhost known.com { }\n")
        origin.clock = self.edge.clock
        self.origins.harnesses[19350] = self.origin = origin
        self.successResultOf(self.admit(Stage.CONNECT, "rtmp://127.0.0.1/live?vhost=known.com"))
        # The origin knows no such vhost: it refuses the connect, so does the edge.
        failure = self.failureResultOf(
            self.admit(Stage.CONNECT, "rtmp://127.0.0.1/live?vhost=unknown.com"), AccessDenied
        )
        self.assertIn("token traverse", failure.value.message)


class ReloadTests(_EdgeBase):
    """A reload changing origin or mode applies to live pulls; players stay."""

    def reload(self, conf: str) -> None:
        config = load_config_text(conf, "t.conf")
        self.edge.hub.reconfigure(config)
        self.service.reconfigure(config)
        self.edge.holder.config = config  # type: ignore[misc]

    def test_origin_changed(self) -> None:
        _Publisher(self.origin)
        _Publisher(self.origin2)
        player, _ = self.player()
        [pull] = self.service.pulls.values()
        self.assertEqual(self.origins.connects, [19350])
        self.reload(
            "listen 1935;\nvhost __defaultVhost__ { mode remote; origin 127.0.0.1:19351; }\n"
        )
        self.flush()
        self.edge.clock.advance(1)
        self.flush()
        self.assertEqual(self.origins.connects, [19350, 19351])
        self.assertEqual(pull.status.state, "playing")
        self.assertTrue(player.is_open)

    def test_unchanged_origin_left_alone(self) -> None:
        _Publisher(self.origin)
        self.player()
        self.reload(_EDGE.replace("min_latency on;", "min_latency off;"))
        self.flush()
        self.edge.clock.advance(5)
        self.flush()
        self.assertEqual(self.origins.connects, [19350])

    def test_mode_local_stops_pull(self) -> None:
        _Publisher(self.origin)
        player, _ = self.player()
        self.reload("listen 1935;\nvhost __defaultVhost__ { }\n")
        self.flush()
        self.assertEqual(self.service.pulls, {})
        self.assertTrue(player.is_open)
        self.assertEqual(self.origin_players(self.origin), 0)


class EdgeHookTests(_EdgeBase):
    """The edge's hooks: its players' as on any server; none for the pull itself."""

    def test_player_hooks_and_no_publish_hook(self) -> None:
        from tests.test_stream_controller import RecordingHooks

        conf = _EDGE.replace(
            "min_latency on;",
            "min_latency on; http_hooks { enabled on; on_connect http://h/; on_play http://h/; "
            "on_stop http://h/; on_publish http://h/; on_unpublish http://h/; on_close http://h/; }",
        )
        self.edge.holder.config = load_config_text(conf, "t.conf")  # type: ignore[misc]
        hooks = RecordingHooks()
        self.edge.controller.hooks = hooks  # type: ignore[assignment]
        _Publisher(self.origin)
        player, _ = self.player()
        [pull] = self.service.pulls.values()
        self.assertEqual(pull.sessions, 1)
        player.close()
        self.flush()
        self.edge.clock.advance(3)
        self.flush()
        events = hooks.events()
        self.assertEqual(events, ["on_connect", "on_play", "on_stop", "on_close"])
