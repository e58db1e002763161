"""
Tests for :mod:`srstwist.web.metrics` through the HTTP API's resource
(``treq.testing.StubTreq``): the content type Prometheus expects, HEAD,
405 for other methods, 404 without metrics, 500 when a collector fails.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.services.sysinfo import SystemSampler
from srstwist.stream.stats import Statistics
from srstwist.web.api import HttpApi

_URL = "http://127.0.0.1:1985/metrics"


def _api(metrics: Any) -> Any:
    clock = Clock()
    config = load_config_text("listen 1935; http_api { enabled on; }")
    sampler = SystemSampler(clock, read=lambda name: "", addresses=lambda: [], cpus=(1, 1))
    api = HttpApi(
        Statistics(first_id=1), lambda: config, clock, lambda cid: False, 0.0,
        sampler=sampler, metrics=metrics,
    )  # fmt: skip
    return StubTreq(api.resource)


class MetricsRouteTests(SynchronousTestCase):
    def fetch(self, treq: Any, method: str = "GET") -> tuple[int, Any, bytes]:
        response = self.successResultOf(treq.request(method, _URL))
        body = self.successResultOf(response.content())
        return response.code, response.headers, body

    def test_exposition(self) -> None:
        code, headers, body = self.fetch(_api(lambda: b"srs_up 1\n"))
        self.assertEqual(code, 200)
        self.assertEqual(body, b"srs_up 1\n")
        self.assertEqual(
            headers.getRawHeaders(b"content-type"), [b"text/plain; version=0.0.4; charset=utf-8"]
        )

    def test_head(self) -> None:
        code, _, body = self.fetch(_api(lambda: b"srs_up 1\n"), "HEAD")
        self.assertEqual((code, body), (200, b""))

    def test_post_refused(self) -> None:
        code, headers, _ = self.fetch(_api(lambda: b""), "POST")
        self.assertEqual(code, 405)
        self.assertEqual(headers.getRawHeaders(b"allow"), [b"GET, HEAD"])

    def test_without_metrics(self) -> None:
        code, _, _ = self.fetch(_api(None))
        self.assertEqual(code, 404)

    def test_collector_failure(self) -> None:
        def broken() -> bytes:
            raise RuntimeError("boom")

        code, _, body = self.fetch(_api(broken))
        self.assertEqual((code, body), (500, b"metrics collection failed"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
