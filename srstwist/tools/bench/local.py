# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench in one process: the clients of the mode (:func:`make_clients`),
a :class:`~srstwist.tools.bench.run.Runner` for a share of them
(:func:`run_local`), Ctrl-C handling (:class:`Interrupts`), the printed
report and the exit status, and the single-process run (:func:`run_single`).

The worker processes of ``--workers K`` (:mod:`.workers`) use the same
pieces for their share of the clients.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from srstwist.tools.bench.http import make_http_client
from srstwist.tools.bench.plan import HTTP_MODES, BenchOptions, Plan, indices_of, stream_for
from srstwist.tools.bench.rtmp import (
    FlvSource,
    RtmpPlayClient,
    RtmpPublishClient,
    RtmpTarget,
    pace_publishers,
)
from srstwist.tools.bench.run import Runner, tcp_connector
from srstwist.tools.bench.stats import ClientResult, CpuSample, build_report, failure_line

__all__ = [
    "Interrupts",
    "cpu_now",
    "crash",
    "exit_status",
    "make_clients",
    "print_report",
    "run_local",
    "run_single",
]


def make_clients(options: BenchOptions, plan: Plan, clock: Any) -> tuple[Callable[[int], Any], Any]:
    """
    The client builder for the mode, and the runner's ``pace`` (or None).

    :raises ValueError: the input file is unusable.
    """
    timeout = options.timeout
    n = options.n
    mode = options.mode
    if mode in HTTP_MODES:
        client = make_http_client(
            mode, plan.host, plan.port, plan.stream, n, clock, timeout, options.sample
        )
        return client, None
    target = RtmpTarget(plan.address, plan.port, plan.tc_url, plan.app)
    if mode == "rtmp-publish":
        assert options.input is not None
        source = FlvSource.from_file(options.input)

        def publisher(i: int) -> Any:
            name = stream_for(plan.stream, i, n, mode)
            return RtmpPublishClient(i, name, target, clock, timeout, source)

        return publisher, pace_publishers
    fast = not options.full_parse
    sample = options.sample

    def player(i: int) -> Any:
        return RtmpPlayClient(
            i,
            stream_for(plan.stream, i, n, mode),
            target,
            clock,
            timeout,
            fast=fast,
            count_only=fast and sample is not None and i >= sample,
            stall=i >= n - options.stall,
        )

    return player, None


def cpu_now() -> tuple[float, float]:
    """This process's user and system CPU seconds so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class Interrupts:
    """SIGINT/SIGTERM: first call ``first``, then ``again``."""

    def __init__(self, reactor: Any, first: Callable[[], None], again: Callable[[], None]) -> None:
        self._reactor = reactor
        self._first = first
        self._again = again
        self._count = 0

    def install(self, signals: Sequence[int]) -> None:
        """Handle ``signals`` from now on."""
        for signum in signals:
            signal.signal(signum, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        self._reactor.callFromThread(self._fire)

    def _fire(self) -> None:
        self._count += 1
        (self._first if self._count == 1 else self._again)()


def run_local(reactor: Any, options: BenchOptions, plan: Plan, indices: range) -> Runner:
    """A :class:`~srstwist.tools.bench.run.Runner` for ``indices`` on the reactor."""
    make_client, pace = make_clients(options, plan, reactor)
    connect = tcp_connector(reactor, plan.address, plan.port, options.timeout)
    return Runner(
        reactor,
        connect,
        make_client,
        indices,
        total=options.n,
        rate=options.rate,
        hold=options.duration,
        pace=pace,
    )


def print_report(options: BenchOptions, report: dict[str, Any], out: Any = None) -> None:
    """Write the report: the JSON line with ``--json``, else the summary."""
    out = out or sys.stdout
    if options.json:
        out.write(json.dumps(report) + "\n")
    else:
        if report["interrupted"]:
            out.write(f"interrupted: {report['n']} of {report['planned']} clients started\n")
        line = failure_line(report)
        if line:
            out.write(line + "\n")
        out.write(report["summary"] + "\n")
    out.flush()


def exit_status(report: dict[str, Any]) -> int:
    """0 when every client ended ok (and there was one), else 1."""
    return 0 if report["failed"] == 0 and report["n"] > 0 else 1


def run_single(options: BenchOptions, plan: Plan) -> int:
    """Run every client in this process; print the report; return the status."""
    from twisted.internet import reactor

    status = [2]
    runner = run_local(reactor, options, plan, indices_of(None, 1, options.n))
    interrupts = Interrupts(reactor, lambda: runner.finish(interrupted=True), runner.deliver_now)

    def start() -> None:
        interrupts.install((signal.SIGINT, signal.SIGTERM))
        cpu0 = cpu_now()
        wall0 = time.monotonic()

        def done(results: list[ClientResult]) -> None:
            user, system = cpu_now()
            wall = time.monotonic() - wall0
            cpu = [CpuSample(0, user - cpu0[0], system - cpu0[1], wall, len(results))]
            report = build_report(
                results,
                mode=options.mode,
                url=options.url,
                planned=options.n,
                wall_s=wall,
                cpu=cpu,
                interrupted=runner.interrupted,
            )
            print_report(options, report)
            status[0] = exit_status(report)
            reactor.stop()

        runner.run().addCallback(done).addErrback(crash, reactor, status)

    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]


def crash(failure: Any, reactor: Any, status: list[int]) -> None:
    """An errback: report an internal error, set status 2, stop the reactor."""
    sys.stderr.write(f"srs-bench: internal error: {failure.getTraceback()}\n")
    status[0] = 2
    if reactor.running:
        reactor.stop()
