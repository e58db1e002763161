"""
End to end (issue 22): ``/metrics`` scraped with curl and parsed with
``prometheus_client``'s parser while real ffmpeg publishes and a
WebSocket-FLV player plays; the WebSocket player is Twisted's own client,
and what it receives is decoded by ffmpeg.

Each test starts its own ``twistd -n srs`` on free 127.0.0.1 ports in a
temporary directory; every child is bounded in time and stopped in cleanup.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.websocket import WebSocketClientEndpoint, WebSocketTransport

from tests.integration.process import ServerHelpers, SrsServer, free_port, ffprobe, sleep


def _conf(http_port: int, api_port: int) -> str:
    return f"""
http_api {{ enabled on; listen 127.0.0.1:{api_port}; }}
http_server {{ enabled on; listen 127.0.0.1:{http_port}; dir ./html; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
}}
"""


class _Collector:
    """A WebSocket client protocol that keeps the binary messages it gets."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.messages = 0
        self.texts = 0
        self.transport: WebSocketTransport | None = None
        self.lost: defer.Deferred[str] = defer.Deferred()

    def buildProtocol(self, url: str) -> _Collector:
        return self

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.texts += 1

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self.data += data
        self.messages += 1

    def connectionLost(self, reason: Failure) -> None:
        self.lost.callback(reason.getErrorMessage())


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


_STREAM = (("app", "live"), ("stream", "s"), ("vhost", "__defaultVhost__"))


class MetricsAndWsFlvTests(ServerHelpers, TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def start_server(self) -> Any:
        self.http_port = free_port()
        self.api_port = free_port()
        self.server = SrsServer(self, _conf(self.http_port, self.api_port))
        os.makedirs(self.server.path("html"))
        yield self.server.started()

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)

    @defer.inlineCallbacks
    def scrape(self) -> Any:
        """``curl /metrics``, parsed."""
        curl = self.start(
            ["curl", "-s", "-S", "--max-time", "5", f"http://127.0.0.1:{self.api_port}/metrics"]
        )
        code, _ = yield curl.ended
        self.assertEqual(code, 0, curl.output)
        return _samples(curl.output)

    @defer.inlineCallbacks
    def wait_metric(self, check: Any, within: float = 20.0) -> Any:
        """Scrape until ``check(samples)`` holds (bounded in time)."""
        deadline = time.monotonic() + within
        while True:
            found = yield self.scrape()
            if check(found):
                return found
            if time.monotonic() > deadline:
                self.fail(f"metrics never satisfied the check: {found}")
            yield sleep(0.5)

    @defer.inlineCallbacks
    def test_ws_flv_decodes_and_metrics_move(self) -> Any:
        """
        A WebSocket client gets binary FLV that ffmpeg decodes (H.264 and
        AAC); meanwhile the metrics show the stream, its two clients, its
        bytes growing, the publish and the process.
        """
        yield self.start_server()
        self.publish("live/s", 20)
        yield self.wait_publish("__defaultVhost__", "live/s")
        collector = _Collector()
        endpoint = WebSocketClientEndpoint.new(
            reactor, f"ws://127.0.0.1:{self.http_port}/live/s.flv"
        )
        yield defer.ensureDeferred(endpoint.connect(collector))
        self.addCleanup(
            lambda: collector.lost.called or collector.transport.loseConnection()  # type: ignore[union-attr]
        )

        before = yield self.wait_metric(
            lambda m: m.get(("srs_stream_clients", _STREAM)) == 2
            and m.get(("srs_stream_sent_bytes_total", _STREAM), 0) > 0
        )
        self.assertEqual(before[("srs_stream_publishing", _STREAM)], 1)
        self.assertEqual(before[("srs_clients", (("kind", "Play"),))], 1)
        self.assertGreaterEqual(before[("srs_publishes_total", (("vhost", "__defaultVhost__"),))], 1)
        self.assertGreater(before[("process_resident_memory_bytes", ())], 10_000_000)
        self.assertIn(("srs_reactor_lag_seconds", ()), before)
        sent = before[("srs_stream_sent_bytes_total", _STREAM)]
        received = before[("srs_stream_received_bytes_total", _STREAM)]
        after = yield self.wait_metric(
            lambda m: m.get(("srs_stream_sent_bytes_total", _STREAM), 0) > sent
            and m.get(("srs_stream_received_bytes_total", _STREAM), 0) > received
        )
        self.assertGreater(after[("srs_sent_bytes_total", ())], 0)

        # Four seconds of media at least (the player got its GOP first).
        deadline = time.monotonic() + 20
        while len(collector.data) < 150_000 and time.monotonic() < deadline:
            yield sleep(0.2)
        self.assertEqual(collector.texts, 0)
        self.assertEqual(bytes(collector.data[:3]), b"FLV")
        captured = self.server.path("ws.flv")
        with open(captured, "wb") as f:
            f.write(collector.data)
        probe = self.start(ffprobe("-show_streams", captured))
        decode = self.start(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", captured, "-f", "null", "-"]
        )
        results = yield defer.gatherResults([probe.ended, decode.ended])
        self.assertEqual([r[0] for r in results], [0, 0], probe.output + decode.output)
        codecs = {s["codec_type"]: s["codec_name"] for s in probe.json()["streams"]}
        self.assertEqual(codecs, {"video": "h264", "audio": "aac"})
        self.assertEqual(decode.output.strip(), "", "ffmpeg reported errors decoding WebSocket-FLV")

        # The player leaves: on_stop's pair, the stream's client count drops.
        assert collector.transport is not None
        collector.transport.loseConnection()
        yield collector.lost
        yield self.server.child.wait_for("ws-flv play __defaultVhost__/live/s done", timeout=10)
        yield self.wait_metric(lambda m: m.get(("srs_stream_clients", _STREAM)) == 1)
