# -*- test-case-name: tests.test_services_hub -*-
"""
:class:`StatsSampler`: turns the byte counters of the statistics registry
(:mod:`srstwist.stream.stats`, pure) into kbps every few seconds, as SRS
samples its ``SrsStatistic`` on the server's timer.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.internet.task import LoopingCall

from srstwist.stream.stats import Statistics

__all__ = ["StatsSampler", "SAMPLE_INTERVAL"]

#: Seconds between two samples of the byte counters (SRS: 3 ticks).
SAMPLE_INTERVAL = 3.0


class StatsSampler(service.Service):
    """Samples ``stats`` every ``interval`` seconds on ``clock``, the first one interval in."""

    def __init__(self, stats: Statistics, clock: Any, interval: float = SAMPLE_INTERVAL) -> None:
        self.setName("stats")
        self.interval = interval
        self._loop = LoopingCall(lambda: stats.sample(clock.seconds()))
        self._loop.clock = clock

    def startService(self) -> None:
        super().startService()
        self._loop.start(self.interval, now=False)

    def stopService(self) -> Any:
        if self._loop.running:
            self._loop.stop()
        return super().stopService()
