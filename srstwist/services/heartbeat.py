# -*- test-case-name: tests.test_services_heartbeat -*-
"""
The heartbeat, as SRS 2.0's ``SrsHttpHeartbeat``
(``trunk/src/app/srs_app_heartbeat.cpp``): every ``heartbeat.interval``
seconds, POST this server's ``device_id`` and address, and with
``summaries on`` the whole ``/api/v1/summaries`` object, to
``heartbeat.url``.  The address is the system sampler's
(:class:`~srstwist.web.system.ISystemSampler`), picked by
``stats.network``.

It is a service on an injected clock that reads the configuration through a
zero-argument callable at every beat, so a reload that turns it on or off or
changes its URL or period applies from the next beat, with nothing to
restart.  The POST goes through the hook client's HTTP client (and so its
pool and its whole-call timeout); the answer is ignored and a failure is
only logged, as in SRS.

Deviations from SRS, on purpose: the period is whole seconds but at least
one (SRS divides by zero below one second); a beat is skipped while the
previous one is still waiting for its answer; the URL's query string is
kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from srstwist.config.model import ServerConfig
from srstwist.services.hooks import HookClient
from srstwist.tracelog import next_cid
from srstwist.web.system import ISystemSampler

__all__ = ["heartbeat_payload", "beat_period", "HeartbeatService"]


def heartbeat_payload(
    device_id: str, ip: str, summaries: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The heartbeat's JSON body, with ``summaries`` only when given."""
    payload: dict[str, Any] = {"device_id": device_id, "ip": ip}
    if summaries is not None:
        payload["summaries"] = summaries
    return payload


def beat_period(interval: float) -> float:
    """Seconds between beats for ``heartbeat.interval``: whole seconds, at least one."""
    return max(1.0, float(math.floor(interval)))


class HeartbeatService(service.Service):
    """
    POSTs the heartbeat while ``heartbeat.enabled`` is on.

    :param hooks: the hook client whose ``post_json`` sends the beat.
    :param config: returns the configuration in force.
    :param clock: schedules the beats.
    :param sampler: the system sampler, whose ``server_ip`` is the ``ip``
        reported.
    :param summaries: returns the ``/api/v1/summaries`` object
        (``HttpApi.summaries``, which adds the stream figures to the
        sampler's).
    :param first_delay: seconds from start to the first beat (SRS: about 1).
    """

    log = Logger()

    def __init__(
        self,
        hooks: HookClient,
        config: Callable[[], ServerConfig],
        clock: IReactorTime,
        sampler: ISystemSampler,
        summaries: Callable[[], dict[str, Any]],
        first_delay: float = 1.0,
    ) -> None:
        self._hooks = hooks
        self._config = config
        self._clock = clock
        self._sampler = sampler
        self._summaries = summaries
        self._first_delay = first_delay
        self._call: IDelayedCall | None = None
        self._pending: Deferred[None] | None = None
        self.cid = next_cid()

    def startService(self) -> None:
        """Schedule the first beat."""
        super().startService()
        self._call = self._clock.callLater(self._first_delay, self._tick)

    def stopService(self) -> None:
        """Cancel the next beat and abandon one in flight."""
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._pending is not None:
            self._pending.cancel()

    def _tick(self) -> None:
        self._call = None
        try:
            period = beat_period(self._config().heartbeat.interval)
            self.beat()
        except Exception:
            period = beat_period(9.9)
            self.log.failure("heartbeat", cid=self.cid)
        if self.running:
            self._call = self._clock.callLater(period, self._tick)

    def beat(self) -> Deferred[None] | None:
        """
        Send one heartbeat if enabled and none is in flight.

        :return: fires when the POST is answered or has failed (never with
            an error), or ``None`` when nothing was sent.
        """
        config = self._config()
        heartbeat = config.heartbeat
        if not heartbeat.enabled:
            return None
        if self._pending is not None:
            self.log.warn("heartbeat skipped: the previous one is still waiting, url={url}",
                          url=heartbeat.url, cid=self.cid)  # fmt: skip
            return None
        ip = self._sampler.server_ip(config.stats.network)
        payload = heartbeat_payload(
            heartbeat.device_id, ip, self._summaries() if heartbeat.summaries else None
        )
        url = heartbeat.url

        def answered(result: tuple[int, bytes]) -> None:
            self.log.debug("heartbeat ok, url={url}, status={status}",
                           url=url, status=result[0], cid=self.cid)  # fmt: skip

        def failed(failure: Failure) -> None:
            if failure.check(CancelledError):
                return
            self.log.warn("heartbeat failed, url={url}: {reason}",
                          url=url, reason=failure.getErrorMessage(), cid=self.cid)  # fmt: skip

        def done(_: None) -> None:
            self._pending = None

        d: Deferred[Any] = self._hooks.post_json(url, payload)
        # Pending before the callbacks: an answer that is already there
        # clears it at once.
        self._pending = d
        d.addCallbacks(answered, failed)
        d.addCallback(done)
        return d
