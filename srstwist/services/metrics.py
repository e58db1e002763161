# -*- test-case-name: tests.test_services_metrics -*-
"""
Prometheus metrics (issue 22; SRS 2.0 has none): what the server counts,
as ``prometheus_client`` metric families, for ``/metrics`` on the API
listener (:mod:`srstwist.web.metrics` serves the bytes; ``web/`` may not
import this module, so it is handed :meth:`ServerMetrics.render`).

Most figures are read at scrape time from what already keeps them, so the
hot path pays nothing for them: the statistics registry
(:class:`srstwist.stream.stats.Statistics`: clients by kind, bytes and
players per stream), the connection limit's count, and the ffmpeg
supervisors' children.  Stream labels are bounded by the registry itself:
a stream's entry is forgotten once it has neither publisher nor player
(``Statistics._forget_if_unused``), and so is its series at the next
scrape.  Publishes are counted by a publish observer (the hub's seam,
``docs/architecture.md``).  Reactor lag is measured by a ``LoopingCall``
that compares when it ran with when it was due: every millisecond it is
late is a millisecond every player and publisher waited.  Process RSS and
CPU come from ``prometheus_client``'s own ``ProcessCollector`` (``/proc``).

Not counted yet (said so in ``docs/monitoring.md``): hook calls and their
latency, player queue drops and shrinks, HLS and DVR files written; each
needs a counter in the module that does the work.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.interfaces import IPublishObserver
from srstwist.stream.stats import Statistics

__all__ = ["LAG_INTERVAL", "ReactorLag", "ServerCollector", "ServerMetrics"]

#: Seconds between two reactor-lag probes.
LAG_INTERVAL = 0.5
#: Histogram buckets of the reactor lag, in seconds (1 ms to 2 s).
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

_STREAM_LABELS = ("vhost", "app", "stream")


class ServerCollector(Collector):
    """
    The figures read at scrape time.

    :param stats: the statistics registry.
    :param connections: how many connections the server holds now.
    :param ffmpegs: the ffmpeg children, as ``/api/v1/ffmpegs`` lists them
        (dicts with ``kind``, ``state`` and ``restarts``).
    """

    def __init__(
        self,
        stats: Statistics,
        connections: Callable[[], int],
        ffmpegs: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.stats = stats
        self.connections = connections
        self.ffmpegs = ffmpegs

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        yield GaugeMetricFamily(
            "srs_connections", "Connections the server holds.", value=self.connections()
        )
        kinds = GaugeMetricFamily(
            "srs_clients", "Registered clients by kind (SRS's client types).", labels=["kind"]
        )
        for kind, count in sorted(Tally(c.type for c in stats.clients()).items()):
            kinds.add_metric([kind], count)
        yield kinds
        received = CounterMetricFamily(
            "srs_received_bytes", "Bytes received from clients (sampled every few seconds)."
        )
        received.add_metric([], stats.recv_bytes)
        yield received
        sent = CounterMetricFamily(
            "srs_sent_bytes", "Bytes sent to clients (sampled every few seconds)."
        )
        sent.add_metric([], stats.send_bytes)
        yield sent
        yield from self._streams()
        yield from self._ffmpeg()

    def _streams(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "srs_stream_received_bytes", "Bytes received on a stream.", labels=_STREAM_LABELS
        )
        sent = CounterMetricFamily(
            "srs_stream_sent_bytes", "Bytes sent on a stream.", labels=_STREAM_LABELS
        )
        clients = GaugeMetricFamily(
            "srs_stream_clients", "Clients on a stream (players and publisher).", labels=_STREAM_LABELS
        )
        publishing = GaugeMetricFamily(
            "srs_stream_publishing", "1 while a stream has a publisher.", labels=_STREAM_LABELS
        )
        for stream in self.stats.streams():
            labels = [stream.vhost.name, stream.app, stream.name]
            received.add_metric(labels, stream.recv_bytes)
            sent.add_metric(labels, stream.send_bytes)
            clients.add_metric(labels, stream.clients)
            publishing.add_metric(labels, 1 if stream.active else 0)
        yield from (received, sent, clients, publishing)

    def _ffmpeg(self) -> Iterator[Metric]:
        children = GaugeMetricFamily(
            "srs_ffmpeg_children", "ffmpeg children by kind and state.", labels=["kind", "state"]
        )
        restarts = CounterMetricFamily(
            "srs_ffmpeg_restarts",
            "Restarts of the ffmpeg children alive now, by kind.",
            labels=["kind"],
        )
        states: Tally[tuple[str, str]] = Tally()
        restarted: Tally[str] = Tally()
        for child in self.ffmpegs():
            kind = str(child.get("kind", ""))
            states[(kind, str(child.get("state", "")))] += 1
            restarted[kind] += int(child.get("restarts", 0))
        for (kind, state), count in sorted(states.items()):
            children.add_metric([kind, state], count)
        for kind, count in sorted(restarted.items()):
            restarts.add_metric([kind], count)
        yield children
        yield restarts


@implementer(IPublishObserver)
class _PublishCounter:
    """Counts publishes by vhost (a publish observer on the hub)."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def on_publish(self, source: Any, request: Any) -> None:
        # The source's vhost is a configured one (the request's is what the
        # client asked for, which would make the label set unbounded).
        self.counter.labels(vhost=source.vhost.name).inc()

    def on_unpublish(self, source: Any, request: Any) -> None:
        pass


class ReactorLag(service.Service):
    """
    Measures how late the reactor runs a timer: a ``LoopingCall`` every
    :data:`LAG_INTERVAL` seconds records how long after its due time it
    ran.

    :param clock: the reactor (``seconds``, ``callLater``).
    :param gauge: set to the last lag, in seconds.
    :param histogram: observes every lag.
    """

    log = Logger()

    def __init__(self, clock: Any, gauge: Gauge, histogram: Histogram) -> None:
        self.clock = clock
        self.gauge = gauge
        self.histogram = histogram
        self._due: float | None = None
        self._loop: LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        loop = LoopingCall(self._probe)
        loop.clock = self.clock
        self._loop = loop
        self._due = self.clock.seconds()
        loop.start(LAG_INTERVAL, now=True)

    def stopService(self) -> Any:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        return super().stopService()

    def _probe(self) -> None:
        now = self.clock.seconds()
        due = self._due if self._due is not None else now
        lag = max(0.0, now - due)
        self.gauge.set(lag)
        self.histogram.observe(lag)
        # The next call is due one interval after this one was (LoopingCall
        # keeps to its schedule, skipping intervals it missed).
        self._due = due + LAG_INTERVAL
        while self._due <= now:
            self._due += LAG_INTERVAL


class ServerMetrics:
    """
    The server's registry: the scrape-time collector, the process
    collector, the publish counter and the reactor lag.

    :param stats, connections, ffmpegs: see :class:`ServerCollector`.
    :param clock: the reactor, for :attr:`lag`.
    :param process: add ``prometheus_client``'s process collector (RSS,
        CPU, open fds of this process); tests leave it out.
    """

    def __init__(
        self,
        stats: Statistics,
        clock: Any,
        connections: Callable[[], int] | None = None,
        ffmpegs: Callable[[], list[dict[str, Any]]] | None = None,
        *,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(
            ServerCollector(
                stats,
                connections or (lambda: stats.client_count),
                ffmpegs or (lambda: []),
            )
        )
        if process:
            ProcessCollector(registry=self.registry)
        self.publishes = Counter(
            "srs_publishes", "Publishes started, by vhost.", ["vhost"], registry=self.registry
        )
        #: Hand to ``hub.observe``.
        self.publish_observer = _PublishCounter(self.publishes)
        lag_gauge = Gauge(
            "srs_reactor_lag_seconds",
            "How late the reactor ran the last timer probe.",
            registry=self.registry,
        )
        lag_histogram = Histogram(
            "srs_reactor_lag_histogram_seconds",
            "How late the reactor runs timers.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        #: A service to start with the server.
        self.lag = ReactorLag(clock, lag_gauge, lag_histogram)

    def render(self) -> bytes:
        """The text exposition format (``text/plain; version=0.0.4``)."""
        return generate_latest(self.registry)
