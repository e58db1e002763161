"""
Tests for :mod:`srstwist.stream.stats`: kbps sampling and the statistics registry
behind ``/api/v1/vhosts``, ``streams`` and ``clients`` (SRS 2.0's
``srs_app_statistic.cpp`` and ``srs_app_http_api.cpp``).
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.codec.names import aac_object_name, avc_level_name, avc_profile_name
from srstwist.stream.stats import (
    CLIENT_FMLE_PUBLISH,
    CLIENT_PLAY,
    AudioInfo,
    Kbps,
    Statistics,
    VideoInfo,
)

_T0 = 1_700_000_000.0
_VHOST_KEYS = [
    "id",
    "name",
    "enabled",
    "clients",
    "streams",
    "send_bytes",
    "recv_bytes",
    "kbps",
    "hls",
]
_STREAM_KEYS = [
    "id",
    "name",
    "vhost",
    "app",
    "live_ms",
    "clients",
    "frames",
    "send_bytes",
    "recv_bytes",
    "kbps",
    "publish",
    "video",
    "audio",
    "recording",
]
_CLIENT_KEYS = [
    "id",
    "vhost",
    "stream",
    "ip",
    "pageUrl",
    "swfUrl",
    "tcUrl",
    "url",
    "type",
    "publish",
    "alive",
]


class KbpsTests(SynchronousTestCase):
    """``Kbps`` over synthetic (time, total bytes) samples."""

    def test_first_sample_zero(self) -> None:
        """One sample gives no rate at all."""
        kbps = Kbps()
        kbps.add_sample(_T0, 1000)
        self.assertEqual(
            (kbps.total_bytes, kbps.kbps_now, kbps.kbps_30s, kbps.kbps_5m, kbps.kbps_avg),
            (1000, 0, 0, 0, 0),
        )

    def test_now_is_last_interval(self) -> None:
        """``kbps_now`` is the rate between the last two samples, in kbit/s."""
        kbps = Kbps()
        kbps.add_sample(_T0, 0)
        kbps.add_sample(_T0 + 3, 375_000)  # 3 Mbit in 3 s
        self.assertEqual(kbps.kbps_now, 1000)
        kbps.add_sample(_T0 + 6, 375_000 + 187_500)
        self.assertEqual(kbps.kbps_now, 500)
        self.assertEqual(kbps.kbps_avg, 750)

    def test_windows(self) -> None:
        """
        At a steady 1000 kbit/s sampled every 3 s, the 30 s rate appears when
        the first 30 s window closes and the 5 min rate at 300 s; both stay 0
        before and hold between window ends.
        """
        kbps = Kbps()
        seen = {}
        for step in range(0, 102):
            now = step * 3
            kbps.add_sample(_T0 + now, now * 125_000)
            seen[now] = (kbps.kbps_30s, kbps.kbps_5m)
        self.assertEqual(seen[27], (0, 0))
        self.assertEqual(seen[30], (1000, 0))
        self.assertEqual(seen[297], (1000, 0))
        self.assertEqual(seen[300], (1000, 1000))

    def test_window_holds_value(self) -> None:
        """A 30 s rate reflects its whole window and holds until the next one closes."""
        kbps = Kbps()
        kbps.add_sample(_T0, 0)
        kbps.add_sample(_T0 + 15, 3_750_000)  # 2000 kbit/s for 15 s, then silence
        kbps.add_sample(_T0 + 30, 3_750_000)
        self.assertEqual((kbps.kbps_now, kbps.kbps_30s), (0, 1000))
        kbps.add_sample(_T0 + 45, 3_750_000)
        self.assertEqual(kbps.kbps_30s, 1000)
        kbps.add_sample(_T0 + 60, 3_750_000)
        self.assertEqual(kbps.kbps_30s, 0)

    def test_truncates(self) -> None:
        """Rates are truncated to whole kbit/s, as SRS's integer division."""
        kbps = Kbps()
        kbps.add_sample(_T0, 0)
        kbps.add_sample(_T0 + 1, 249)  # 1.992 kbit/s
        self.assertEqual(kbps.kbps_now, 1)

    def test_same_time_no_division(self) -> None:
        """Two samples at the same time give 0, not a division error."""
        kbps = Kbps()
        kbps.add_sample(_T0, 0)
        kbps.add_sample(_T0, 5000)
        self.assertEqual(kbps.kbps_now, 0)

    def test_counter_restart(self) -> None:
        """A total that goes down restarts every rate from it."""
        kbps = Kbps()
        kbps.add_sample(_T0, 0)
        kbps.add_sample(_T0 + 30, 3_750_000)
        kbps.add_sample(_T0 + 33, 10)
        self.assertEqual((kbps.kbps_now, kbps.kbps_30s, kbps.total_bytes), (0, 0, 10))
        kbps.add_sample(_T0 + 36, 10 + 375_000)
        self.assertEqual(kbps.kbps_now, 1000)


class CodecNameTests(SynchronousTestCase):
    """
    The API names of H.264 profiles and levels and AAC object types (SRS's
    ``srs_kernel_codec.cpp``).
    """

    def test_names(self) -> None:
        """Known values get SRS's names; anything else is ``Other``."""
        self.assertEqual(
            [avc_profile_name(p) for p in (66, 77, 88, 100, 110, 122, 144, 244, 1)],
            [
                "Baseline",
                "Main",
                "Extended",
                "High",
                "High(10)",
                "High(422)",
                "High(444)",
                "High(444+Predictive)",
                "Other",
            ],
        )
        self.assertEqual(
            [avc_level_name(v) for v in (10, 11, 13, 20, 30, 31, 32, 40, 41, 50, 51, 9, 52)],
            ["1", "1.1", "1.3", "2", "3", "3.1", "3.2", "4", "4.1", "5", "5.1", "Other", "Other"],
        )
        self.assertEqual(
            [aac_object_name(o) for o in (1, 2, 3, 5, 29, 4)],
            ["Main", "LC", "SSR", "HE", "HEv2", "Other"],
        )


class StatisticsLifecycleTests(SynchronousTestCase):
    """
    A publisher connects and publishes, a player joins and leaves, the
    publisher unpublishes and leaves: counters, ids and bytes follow.
    """

    def setUp(self) -> None:
        self.stats = Statistics(first_id=1000)
        self.config = load_config_text(
            "listen 1935; vhost __defaultVhost__ { hls { enabled on; hls_fragment 5; } }"
            " vhost off.com { enabled off; }"
        )

    def _publisher(self) -> None:
        self.publisher = self.stats.on_client(
            107,
            vhost="__defaultVhost__",
            app="live",
            stream="livestream",
            ip="10.0.0.1",
            client_type=CLIENT_FMLE_PUBLISH,
            now=_T0,
            tc_url="rtmp://127.0.0.1/live",
        )
        self.stats.on_publish("__defaultVhost__", "live", "livestream", 107, _T0)

    def test_ids(self) -> None:
        """The first id is the server's; the vhost and stream take the next, in order."""
        self._publisher()
        self.assertEqual(self.stats.server_id, 1000)
        [vhost] = self.stats.vhosts()
        [stream] = self.stats.streams()
        self.assertEqual((vhost.id, stream.id), (1001, 1002))
        self.assertIs(self.stats.vhost_by_id(1001), vhost)
        self.assertIs(self.stats.stream_by_id(1002), stream)
        self.assertIsNone(self.stats.stream_by_id(1001))
        self.assertIsNone(self.stats.vhost_by_id(1002))
        self.stats.stream("__defaultVhost__", "live", "other", _T0)
        self.assertEqual([s.id for s in self.stats.streams()], [1002, 1003])

    def test_lifecycle(self) -> None:
        """Counts, publish state and codec info through a whole session."""
        self._publisher()
        stream = self.stats.stream("__defaultVhost__", "live", "livestream", _T0)
        vhost = stream.vhost
        self.assertEqual((vhost.clients, vhost.streams, stream.clients), (1, 1, 1))
        self.assertEqual((stream.active, stream.publish_cid), (True, 107))
        self.assertTrue(self.publisher.publishing)

        self.stats.on_video_info(
            "__defaultVhost__",
            "live",
            "livestream",
            VideoInfo("H264", avc_profile_name(100), avc_level_name(31), 1280, 720),
            _T0,
        )
        self.stats.on_audio_info(
            "__defaultVhost__",
            "live",
            "livestream",
            AudioInfo("AAC", 44100, 2, aac_object_name(2)),
            _T0,
        )
        stream.frames += 25

        player = self.stats.on_client(
            110,
            vhost="__defaultVhost__",
            app="live",
            stream="livestream",
            ip="10.0.0.2",
            client_type=CLIENT_PLAY,
            now=_T0 + 1,
            tc_url="rtmp://127.0.0.1/live",
            page_url="http://a.com/p.html",
            swf_url="http://a.com/p.swf",
        )
        self.assertFalse(player.publishing)
        self.assertEqual((vhost.clients, stream.clients, self.stats.client_count), (2, 2, 2))
        self.assertIs(self.stats.client(110), player)

        self.stats.on_disconnect(110)
        self.assertIsNone(self.stats.client(110))
        self.assertEqual((vhost.clients, stream.clients), (1, 1))

        self.stats.on_unpublish("__defaultVhost__", "live", "livestream", _T0 + 5)
        self.assertEqual((stream.active, stream.publish_cid), (False, 107))
        self.assertIsNone(stream.video)
        self.assertIsNone(stream.audio)
        self.assertEqual(vhost.streams, 0)
        self.assertEqual(stream.frames, 25)

        self.stats.on_disconnect(107)
        self.assertEqual((vhost.clients, stream.clients, self.stats.client_count), (0, 0, 0))
        # Unused, the stream is forgotten, and its vhost, which is not
        # configured here (SRS 2.0 keeps both forever; issue 15).
        self.assertEqual(list(self.stats.streams()), [])
        self.assertEqual(list(self.stats.vhosts()), [])

    def test_republish_counted_once(self) -> None:
        """
        Deviation from SRS: a connection that publishes again is still one
        client, and a duplicate unpublish cannot make ``streams`` negative.
        """
        self._publisher()
        self.stats.on_unpublish("__defaultVhost__", "live", "livestream", _T0 + 1)
        self.stats.on_unpublish("__defaultVhost__", "live", "livestream", _T0 + 1)
        self.stats.on_client(
            107,
            vhost="__defaultVhost__",
            app="live",
            stream="livestream",
            ip="10.0.0.1",
            client_type=CLIENT_FMLE_PUBLISH,
            now=_T0 + 2,
        )
        self.stats.on_publish("__defaultVhost__", "live", "livestream", 107, _T0 + 2)
        stream = self.stats.stream("__defaultVhost__", "live", "livestream", _T0)
        self.assertEqual((stream.clients, stream.vhost.clients, stream.vhost.streams), (1, 1, 1))
        self.stats.on_disconnect(107)
        self.assertEqual((stream.clients, stream.vhost.clients), (0, 0))

    def test_client_moves_stream(self) -> None:
        """A connection that plays another stream is moved, not counted twice."""
        self.stats.on_client(
            5,
            vhost="v",
            app="live",
            stream="a",
            ip="1.1.1.1",
            client_type=CLIENT_PLAY,
            now=_T0,
        )
        client = self.stats.on_client(
            5,
            vhost="v",
            app="live",
            stream="b",
            ip="1.1.1.1",
            client_type=CLIENT_PLAY,
            now=_T0 + 1,
        )
        a = self.stats.stream("v", "live", "a", _T0)
        b = self.stats.stream("v", "live", "b", _T0)
        self.assertEqual((a.clients, b.clients, a.vhost.clients), (0, 1, 1))
        self.assertIs(client.stream_stats, b)
        self.assertEqual(client.start_time, _T0)

    def test_disconnect_unknown(self) -> None:
        """Disconnecting a connection never registered is harmless."""
        self.stats.on_disconnect(999)
        self.assertEqual(self.stats.client_count, 0)

    def test_bytes_and_kbps(self) -> None:
        """
        Client byte counters reach the stream, vhost and server at each
        sample and at disconnect, and every level gets its rates.
        """
        self._publisher()
        player = self.stats.on_client(
            110,
            vhost="__defaultVhost__",
            app="live",
            stream="livestream",
            ip="10.0.0.2",
            client_type=CLIENT_PLAY,
            now=_T0,
        )
        stream = self.publisher.stream_stats
        for second in range(0, 31, 3):
            self.publisher.bytes_recv = second * 125_000  # 1000 kbit/s in
            player.bytes_sent = second * 62_500  # 500 kbit/s out
            self.stats.sample(_T0 + second)
        self.assertEqual(self.stats.sample_time, _T0 + 30)
        for counted in (stream, stream.vhost, self.stats):
            self.assertEqual((counted.recv_bytes, counted.send_bytes), (3_750_000, 1_875_000))
            self.assertEqual((counted.kbps_in.kbps_30s, counted.kbps_out.kbps_30s), (1000, 500))
        self.assertEqual(self.publisher.kbps_in.kbps_now, 1000)
        self.assertEqual(player.kbps_out.kbps_now, 500)

        player.bytes_sent += 100
        self.stats.on_disconnect(110)
        self.assertEqual(stream.send_bytes, 1_875_100)
        self.assertEqual(self.stats.send_bytes, 1_875_100)

    def test_api_shapes(self) -> None:
        """
        The vhost, stream and client objects have the keys of SRS's
        ``SrsStatisticVhost::dumps``, ``SrsStatisticStream::dumps`` and
        ``SrsStatisticClient::dumps``, in order, with SRS's values, and
        serialize to JSON.
        """
        self._publisher()
        self.stats.on_video_info(
            "__defaultVhost__",
            "live",
            "livestream",
            VideoInfo("H264", "High", "3.1", 1280, 720),
            _T0,
        )
        self.stats.on_client(
            110,
            vhost="__defaultVhost__",
            app="live",
            stream="livestream",
            ip="10.0.0.2",
            client_type=CLIENT_PLAY,
            now=_T0 + 1,
            tc_url="rtmp://127.0.0.1/live",
            page_url="http://a.com/",
            swf_url="http://a.com/p.swf",
        )
        self.stats.on_client(
            111,
            vhost="off.com",
            app="live",
            stream="x",
            ip="10.0.0.3",
            client_type=CLIENT_PLAY,
            now=_T0 + 1,
        )

        vhosts = self.stats.api_vhosts(self.config.vhost)
        self.assertEqual([list(v) for v in vhosts], [_VHOST_KEYS, _VHOST_KEYS])
        self.assertEqual(
            vhosts[0],
            {
                "id": 1001,
                "name": "__defaultVhost__",
                "enabled": True,
                "clients": 2,
                "streams": 1,
                "send_bytes": 0,
                "recv_bytes": 0,
                "kbps": {"recv_30s": 0, "send_30s": 0},
                "hls": {"enabled": True, "fragment": 5.0},
            },
        )
        self.assertEqual((vhosts[1]["enabled"], vhosts[1]["hls"]), (False, {"enabled": False}))

        streams = self.stats.api_streams(_T0 + 2)
        self.assertEqual([list(s) for s in streams], [_STREAM_KEYS, _STREAM_KEYS])
        self.assertEqual(
            streams[0],
            {
                "id": 1002,
                "name": "livestream",
                "vhost": 1001,
                "app": "live",
                "live_ms": int((_T0 + 2) * 1000),
                "clients": 2,
                "frames": 0,
                "send_bytes": 0,
                "recv_bytes": 0,
                "kbps": {"recv_30s": 0, "send_30s": 0},
                "publish": {"active": True, "cid": 107},
                "video": {"codec": "H264", "profile": "High", "level": "3.1"},
                "audio": None,
                "recording": False,
            },
        )
        self.assertEqual(streams[1]["publish"], {"active": False, "cid": -1})

        clients = self.stats.api_clients(_T0 + 2)
        self.assertEqual([list(c) for c in clients], [_CLIENT_KEYS] * 3)
        self.assertEqual(
            clients[0],
            {
                "id": 107,
                "vhost": 1001,
                "stream": 1002,
                "ip": "10.0.0.1",
                "pageUrl": "",
                "swfUrl": "",
                "tcUrl": "rtmp://127.0.0.1/live",
                "url": "/live/livestream",
                "type": "fmle-publish",
                "publish": True,
                "alive": 2000,
            },
        )
        self.assertEqual(
            (
                clients[1]["type"],
                clients[1]["publish"],
                clients[1]["alive"],
                clients[1]["pageUrl"],
                clients[1]["swfUrl"],
            ),
            ("Play", False, 1000, "http://a.com/", "http://a.com/p.swf"),
        )
        self.assertEqual(clients[2]["url"], "off.com/live/x")
        json.dumps([vhosts, streams, clients])

    def test_audio_api_shape(self) -> None:
        """The ``audio`` object uses SRS's singular ``channel`` key."""
        self.stats.stream("v", "live", "s", _T0)
        self.stats.on_audio_info("v", "live", "s", AudioInfo("AAC", 44100, 2, "LC"), _T0)
        [stream] = self.stats.api_streams(_T0)
        self.assertEqual(
            stream["audio"], {"codec": "AAC", "sample_rate": 44100, "channel": 2, "profile": "LC"}
        )

    def test_unknown_vhost_in_config(self) -> None:
        """A vhost the config lookup does not know shows disabled, without HLS."""
        self.stats.vhost("gone.com")
        [vhost] = self.stats.api_vhosts(lambda name: None)
        self.assertEqual((vhost["enabled"], vhost["hls"]), (False, {"enabled": False}))

    def test_clients_limit(self) -> None:
        """The client listing holds at most the 10 lowest connection ids."""
        for cid in range(120, 100, -1):
            self.stats.on_client(
                cid,
                vhost="v",
                app="live",
                stream="s",
                ip="1.1.1.1",
                client_type=CLIENT_PLAY,
                now=_T0,
            )
        self.assertEqual([c["id"] for c in self.stats.api_clients(_T0)], list(range(101, 111)))
        self.assertEqual(len(self.stats.api_clients(_T0, limit=50)), 20)


class ForgettingTests(SynchronousTestCase):
    """
    Issue 15, item 4: a stream is forgotten once it has neither publisher
    nor client, with its vhost unless that vhost is configured; ids are
    never reused.
    """

    def play(self, stats: Statistics, cid: int, stream: str, vhost: str = "__defaultVhost__") -> None:
        stats.on_client(
            cid, vhost=vhost, app="live", stream=stream, ip="10.0.0.9",
            client_type=CLIENT_PLAY, now=_T0,
        )  # fmt: skip

    def test_players_of_many_names(self) -> None:
        """1500 players of 1500 names that never existed leave nothing behind."""
        stats = Statistics(first_id=1000)
        stats.keep_vhost = lambda name: name == "__defaultVhost__"
        seen: set[int] = set()
        for cid in range(1500):
            self.play(stats, cid, f"s{cid}")
            [stream] = stats.streams()
            self.assertNotIn(stream.id, seen)
            seen.add(stream.id)
            stats.on_disconnect(cid)
        self.assertEqual(list(stats.streams()), [])
        self.assertEqual(stats.api_streams(_T0), [])
        # The configured vhost is kept, with its one id.
        self.assertEqual([v.name for v in stats.vhosts()], ["__defaultVhost__"])

    def test_unconfigured_vhost_forgotten(self) -> None:
        """A vhost entry made only for a request goes with its last stream."""
        stats = Statistics(first_id=1000)
        stats.keep_vhost = lambda name: False
        self.play(stats, 1, "a", vhost="gone.com")
        [vhost] = stats.vhosts()
        stats.on_disconnect(1)
        self.assertEqual(list(stats.vhosts()), [])
        self.assertIsNone(stats.vhost_by_id(vhost.id))

    def test_kept_while_used(self) -> None:
        """
        A published stream stays without players, a played one while a
        player is left; forgotten, it comes back with a new id.
        """
        stats = Statistics(first_id=1000)
        stats.on_client(
            7, vhost="__defaultVhost__", app="live", stream="s", ip="10.0.0.1",
            client_type=CLIENT_FMLE_PUBLISH, now=_T0,
        )  # fmt: skip
        stats.on_publish("__defaultVhost__", "live", "s", 7, _T0)
        self.play(stats, 8, "s")
        self.play(stats, 9, "s")
        [stream] = stats.streams()
        stats.on_disconnect(8)
        stats.on_disconnect(9)
        self.assertIs(stats.stream_by_id(stream.id), stream)
        stats.on_unpublish("__defaultVhost__", "live", "s", _T0)
        self.assertIs(stats.stream_by_id(stream.id), stream)  # the publisher is still a client
        stats.on_disconnect(7)
        self.assertIsNone(stats.stream_by_id(stream.id))
        self.assertEqual(list(stats.streams()), [])
        # The vhost was not configured (no predicate): forgotten too.
        self.assertEqual(list(stats.vhosts()), [])
        self.play(stats, 10, "s")
        [again] = stats.streams()
        self.assertGreater(again.id, stream.id)
        self.assertGreater(again.vhost.id, stream.vhost.id)

    def test_client_moving_leaves_old_stream(self) -> None:
        """A client that moves to another stream takes the old one's last count away."""
        stats = Statistics(first_id=1000)
        self.play(stats, 5, "a")
        self.play(stats, 5, "b")
        self.assertEqual([s.name for s in stats.streams()], ["b"])

    def test_codec_info_of_unknown_stream_ignored(self) -> None:
        """Codec info for a stream no one uses creates no entry."""
        stats = Statistics(first_id=1000)
        stats.on_video_info("__defaultVhost__", "live", "x", VideoInfo("H264", "High", "3.1"), _T0)
        stats.on_audio_info("__defaultVhost__", "live", "x", AudioInfo("AAC", 44100, 2, "LC"), _T0)
        stats.on_unpublish("__defaultVhost__", "live", "x", _T0)
        self.assertEqual((list(stats.streams()), list(stats.vhosts())), ([], []))
