"""
Tests for :mod:`srstwist.services.heartbeat`: the heartbeat POST on a
``Clock``, its ``ip`` from a sampled
:class:`~srstwist.services.sysinfo.SystemSampler`, through a
:class:`~srstwist.codec.hooks.HookClient` over ``treq.testing.StubTreq``.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from srstwist.config.loader import load_config_text
from srstwist.config.model import ServerConfig
from srstwist.services.hooks import HookClient
from srstwist.services.heartbeat import HeartbeatService, beat_period, heartbeat_payload
from srstwist.services.sysinfo import SystemSampler

_SUMMARIES = {"code": 0, "data": {"ok": True, "now_ms": 1}}
_ADDRESSES = [("lo", "127.0.0.1"), ("eth0", "192.0.2.5"), ("eth1", "198.51.100.7")]


class _Receiver(Resource):
    """Records each POST (path, JSON body) and answers with ``status``; or hangs."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[bytes, dict[str, Any]]] = []
        self.status = 200
        self.hang = False

    def render_POST(self, request: Any) -> Any:
        self.posts.append((request.uri, json.loads(request.content.read())))
        if self.hang:
            return NOT_DONE_YET
        request.setResponseCode(self.status)
        return b"whatever"


def _conf(body: str) -> ServerConfig:
    return load_config_text(f"listen 1935;\n{body}\n")


class PayloadTests(SynchronousTestCase):
    """``heartbeat_payload`` and ``beat_period``."""

    def test_without_summaries(self) -> None:
        """Only ``device_id`` and ``ip``, in that order."""
        self.assertEqual(list(heartbeat_payload("d", "1.2.3.4")), ["device_id", "ip"])

    def test_with_summaries(self) -> None:
        """``summaries`` is the whole object."""
        self.assertEqual(heartbeat_payload("d", "", _SUMMARIES)["summaries"], _SUMMARIES)

    def test_period(self) -> None:
        """Whole seconds, at least one."""
        self.assertEqual([beat_period(v) for v in (9.9, 10, 0.3, 1.5)], [9.0, 10.0, 1.0, 1.0])


class HeartbeatServiceTests(SynchronousTestCase):
    """``HeartbeatService`` on a ``Clock``."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.receiver = _Receiver()
        self.hooks = HookClient(self.clock, http_client=StubTreq(self.receiver))
        self.config = _conf(
            "heartbeat { enabled on; interval 5; url http://127.0.0.1:8085/api/v1/servers?a=1;"
            " device_id my-id; summaries on; }\nstats { network 1; }"
        )
        self.summaries_calls = 0
        self.addresses = list(_ADDRESSES)
        self.sampler = SystemSampler(
            self.clock, read=lambda name: "",
            addresses=lambda: self.addresses, clock_ticks=100, cpus=(1, 1),
        )  # fmt: skip
        self.sampler.sample()
        self.service = HeartbeatService(
            self.hooks, lambda: self.config, self.clock, self.sampler, self.summaries
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def summaries(self) -> dict[str, Any]:
        self.summaries_calls += 1
        return _SUMMARIES

    def test_first_beat_after_a_second(self) -> None:
        """Nothing before 1 s; then one POST with the configured fields."""
        self.clock.advance(0.9)
        self.assertEqual(self.receiver.posts, [])
        self.clock.advance(0.1)
        [(uri, body)] = self.receiver.posts
        self.assertEqual(uri, b"/api/v1/servers?a=1")
        self.assertEqual(
            body, {"device_id": "my-id", "ip": "198.51.100.7", "summaries": _SUMMARIES}
        )

    def test_period(self) -> None:
        """Beats follow every ``interval`` seconds."""
        self.clock.advance(1)
        self.clock.pump([5] * 3)
        self.assertEqual(len(self.receiver.posts), 4)

    def test_ip_wraps(self) -> None:
        """``stats.network`` indexes the non-loopback addresses modulo their number."""
        self.config = _conf("heartbeat { enabled on; }\nstats { network 3; }")
        self.clock.advance(1)
        self.assertEqual(self.receiver.posts[0][1], {"device_id": "", "ip": "198.51.100.7"})

    def test_ip_from_last_sample(self) -> None:
        """The ``ip`` is the sampler's, as of its last sample."""
        self.addresses = [("eth0", "203.0.113.9")]
        self.clock.advance(1)
        self.assertEqual(self.receiver.posts[0][1]["ip"], "198.51.100.7")
        self.sampler.sample()
        self.clock.advance(5)
        self.assertEqual(self.receiver.posts[1][1]["ip"], "203.0.113.9")

    def test_summaries_off(self) -> None:
        """Without ``summaries on`` the summaries are neither built nor sent."""
        self.config = _conf("heartbeat { enabled on; }")
        self.clock.advance(1)
        self.assertNotIn("summaries", self.receiver.posts[0][1])
        self.assertEqual(self.summaries_calls, 0)

    def test_disabled_then_reloaded(self) -> None:
        """Disabled sends nothing; enabling it by reload starts the beats."""
        enabled = self.config
        self.config = _conf("heartbeat { enabled off; }")
        self.clock.pump([1] + [9] * 3)
        self.assertEqual(self.receiver.posts, [])
        self.config = enabled
        self.clock.advance(9)
        self.assertEqual(len(self.receiver.posts), 1)

    def test_failure_logged(self) -> None:
        """A 500 or a refused POST is logged, and beats go on."""
        self.receiver.status = 500
        self.clock.advance(1)
        self.clock.advance(5)
        self.assertEqual(len(self.receiver.posts), 2)

    def test_hanging_skips_then_times_out(self) -> None:
        """While a beat waits, the next is skipped; the timeout frees it."""
        self.receiver.hang = True
        self.clock.advance(1)
        self.clock.advance(5)
        self.assertEqual(len(self.receiver.posts), 1)
        self.clock.pump([5] * 6)
        self.assertEqual(len(self.receiver.posts), 2)

    def test_stop(self) -> None:
        """After stopService no more beats are sent or scheduled."""
        self.clock.advance(1)
        self.service.stopService()
        self.clock.pump([5] * 4)
        self.assertEqual(len(self.receiver.posts), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_cancels_in_flight(self) -> None:
        """Stopping abandons a beat waiting for its answer."""
        self.receiver.hang = True
        self.clock.advance(1)
        self.service.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
