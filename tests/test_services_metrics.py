"""
Tests for :mod:`srstwist.services.metrics`: the scrape-time collector over
a real :class:`~srstwist.stream.stats.Statistics`, parsed back with
``prometheus_client``'s own text parser; the publish counter; the reactor
lag probe on a memory clock.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from srstwist.services.metrics import LAG_INTERVAL, ServerMetrics
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH, CLIENT_PLAY, Statistics


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


_STREAM = (("app", "live"), ("stream", "s"), ("vhost", "__defaultVhost__"))


class _Request:
    vhost = "127.0.0.1"


class _Vhost:
    name = "__defaultVhost__"


class _Source:
    vhost = _Vhost()


class ServerMetricsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.stats = Statistics(first_id=100)
        self.children: list[dict[str, Any]] = []
        self.metrics = ServerMetrics(
            self.stats, self.clock, ffmpegs=lambda: self.children, process=False
        )

    def client(self, cid: int, kind: str) -> Any:
        return self.stats.on_client(
            cid, vhost="__defaultVhost__", app="live", stream="s", ip="127.0.0.1",
            client_type=kind, now=self.clock.seconds(), tc_url="rtmp://127.0.0.1/live",
            page_url="", swf_url="",
        )  # fmt: skip

    def test_streams_clients_and_bytes(self) -> None:
        """Per-stream bytes and clients, clients by kind, the server's totals."""
        publisher = self.client(1, CLIENT_FMLE_PUBLISH)
        self.stats.on_publish("__defaultVhost__", "live", "s", 1, self.clock.seconds())
        player = self.client(2, CLIENT_PLAY)
        publisher.bytes_recv = 5000
        player.bytes_sent = 7000
        self.stats.sample(self.clock.seconds())
        found = samples(self.metrics.render())
        self.assertEqual(found[("srs_stream_received_bytes_total", _STREAM)], 5000)
        self.assertEqual(found[("srs_stream_sent_bytes_total", _STREAM)], 7000)
        self.assertEqual(found[("srs_stream_clients", _STREAM)], 2)
        self.assertEqual(found[("srs_stream_publishing", _STREAM)], 1)
        self.assertEqual(found[("srs_clients", (("kind", "Play"),))], 1)
        self.assertEqual(found[("srs_clients", (("kind", "fmle-publish"),))], 1)
        self.assertEqual(found[("srs_received_bytes_total", ())], 5000)
        self.assertEqual(found[("srs_sent_bytes_total", ())], 7000)
        self.assertEqual(found[("srs_connections", ())], 2)

    def test_stream_forgotten_when_it_ends(self) -> None:
        """A stream's series goes once it has no client: labels stay bounded."""
        self.client(2, CLIENT_PLAY)
        self.assertIn(("srs_stream_clients", _STREAM), samples(self.metrics.render()))
        self.stats.on_disconnect(2)
        found = samples(self.metrics.render())
        self.assertNotIn(("srs_stream_clients", _STREAM), found)

    def test_publishes_counted(self) -> None:
        observer = self.metrics.publish_observer
        observer.on_publish(_Source(), _Request())
        observer.on_unpublish(_Source(), _Request())
        observer.on_publish(_Source(), _Request())
        found = samples(self.metrics.render())
        self.assertEqual(found[("srs_publishes_total", (("vhost", "__defaultVhost__"),))], 2)

    def test_ffmpeg_children(self) -> None:
        self.children[:] = [
            {"kind": "transcode", "state": "running", "restarts": 2},
            {"kind": "transcode", "state": "waiting", "restarts": 1},
            {"kind": "ingest", "state": "running", "restarts": 0},
        ]
        found = samples(self.metrics.render())
        key = (("kind", "transcode"), ("state", "running"))
        self.assertEqual(found[("srs_ffmpeg_children", key)], 1)
        self.assertEqual(found[("srs_ffmpeg_restarts_total", (("kind", "transcode"),))], 3)
        self.assertEqual(found[("srs_ffmpeg_restarts_total", (("kind", "ingest"),))], 0)

    def test_process_collector(self) -> None:
        """RSS and CPU of this process (Linux ``/proc``)."""
        metrics = ServerMetrics(self.stats, self.clock)
        found = samples(metrics.render())
        self.assertGreater(found[("process_resident_memory_bytes", ())], 0)
        self.assertIn(("process_cpu_seconds_total", ()), found)


class ReactorLagTests(SynchronousTestCase):
    def test_lag_measured(self) -> None:
        """A probe that runs late reports how late; an on-time one reports 0."""
        clock = Clock()
        metrics = ServerMetrics(Statistics(first_id=1), clock, process=False)
        metrics.lag.startService()
        clock.advance(LAG_INTERVAL)
        found = samples(metrics.render())
        self.assertEqual(found[("srs_reactor_lag_seconds", ())], 0)
        # The reactor was busy: the next probe runs 0.3 s after it was due.
        clock.advance(LAG_INTERVAL + 0.3)
        found = samples(metrics.render())
        self.assertAlmostEqual(found[("srs_reactor_lag_seconds", ())], 0.3, places=6)
        self.assertEqual(found[("srs_reactor_lag_histogram_seconds_count", ())], 3)
        # Back on schedule (LoopingCall keeps to its grid).
        clock.advance(LAG_INTERVAL - 0.3)
        found = samples(metrics.render())
        self.assertAlmostEqual(found[("srs_reactor_lag_seconds", ())], 0, places=6)
        metrics.lag.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])
