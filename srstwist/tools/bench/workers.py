# -*- test-case-name: tests.test_tools_bench -*-
"""
``srs-bench --workers K``: the same program K times, so that the tester is
never the bottleneck.

The parent spawns ``python -m srstwist.tools.bench ... --worker j`` for
j in 0..K-1.  Worker j runs clients j, j+K, j+2K, ... on the common
schedule (client i starts i/RATE seconds after "go"), so together they
ramp at RATE and all end together.  The line protocol on the worker's
stdin/stdout is three lines: the worker says ``ready``, the parent says
``go`` once every worker is ready, and at the end the worker writes one
JSON line (its results and its CPU) and exits.

Ctrl-C: workers ignore SIGINT (the terminal sends it to the whole process
group); the parent turns it into SIGTERM for each worker, which ends the
worker's run as Ctrl-C ends a single process's.  A worker whose parent goes
away (stdin closed) ends its run too.  The parent kills any worker still
running well after the schedule's end.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from typing import Any

from twisted.internet import protocol
from twisted.protocols.basic import LineReceiver

import srstwist
from srstwist.tools.bench.local import (
    Interrupts,
    cpu_now,
    crash,
    exit_status,
    print_report,
    run_local,
)
from srstwist.tools.bench.plan import BenchOptions, Plan, indices_of
from srstwist.tools.bench.run import CLOSE_GRACE
from srstwist.tools.bench.stats import ClientResult, CpuSample, build_report

__all__ = ["run_parent", "run_worker", "worker_argv"]

#: Seconds a worker may take to start up and say ``ready``.
READY_TIMEOUT = 60.0
#: Seconds past the schedule's end (plus the close grace and one timeout)
#: before the parent kills a worker.
EXTRA_TIME = 15.0


def worker_argv(options: BenchOptions, worker: int) -> list[str]:
    """The command line of worker ``worker``."""
    argv = [
        sys.executable, "-m", "srstwist.tools.bench", options.mode, options.url,
        "-n", str(options.n), "-r", repr(options.rate), "-d", repr(options.duration),
        "--workers", str(options.workers), "--timeout", repr(options.timeout),
        "--worker", str(worker),
    ]  # fmt: skip
    if options.input:
        argv += ["-i", os.path.abspath(options.input)]
    if options.allow_remote:
        argv.append("--allow-remote")
    if options.full_parse:
        argv.append("--full-parse")
    if options.sample is not None:
        argv += ["--sample", str(options.sample)]
    if options.stall:
        argv += ["--stall", str(options.stall)]
    return argv


# -- the worker ------------------------------------------------------------------


class _WorkerControl(LineReceiver):
    """The worker's end of the line protocol, on its stdio."""

    delimiter = b"\n"

    def __init__(self, reactor: Any, options: BenchOptions, plan: Plan, status: list[int]) -> None:
        self.reactor = reactor
        self.options = options
        assert options.worker is not None
        self.index = options.worker
        self.runner = run_local(
            reactor, options, plan, indices_of(options.worker, options.workers, options.n)
        )
        self.status = status
        self.started = False
        self.reported = False
        self._ready_call: Any = None
        self._cpu0 = (0.0, 0.0)
        self._wall0 = 0.0

    def connectionMade(self) -> None:
        self.transport.write(b"ready\n")  # type: ignore[union-attr]
        self._ready_call = self.reactor.callLater(READY_TIMEOUT, self._give_up)

    def _give_up(self) -> None:
        self.status[0] = 2
        self.reactor.stop()

    def lineReceived(self, line: bytes) -> None:
        if line.strip() != b"go" or self.started:
            return
        self.started = True
        if self._ready_call is not None and self._ready_call.active():
            self._ready_call.cancel()
        self._cpu0 = cpu_now()
        self._wall0 = time.monotonic()
        d = self.runner.run()
        d.addCallback(self._report).addErrback(crash, self.reactor, self.status)

    def interrupt(self) -> None:
        if self.started:
            self.runner.finish(interrupted=True)
        else:
            self._give_up()

    def interrupt_again(self) -> None:
        if self.started:
            self.runner.deliver_now()

    def _report(self, results: list[ClientResult]) -> None:
        user, system = cpu_now()
        cpu = CpuSample(
            self.index,
            user - self._cpu0[0],
            system - self._cpu0[1],
            time.monotonic() - self._wall0,
            len(results),
        )
        line = json.dumps(
            {
                "worker": self.index,
                "interrupted": self.runner.interrupted,
                "cpu": cpu.to_dict(),
                "results": [r.to_dict() for r in results],
            }
        )
        self.reported = True
        self.status[0] = 0
        if self.transport is not None and self.connected:
            self.transport.write(line.encode() + b"\n")
            self.transport.loseConnection()
        else:
            self.reactor.stop()

    def connectionLost(self, reason: Any = None) -> None:
        self.connected = False
        if self.reported or not self.started:
            if self.reactor.running:
                self.reactor.stop()
            return
        # The parent went away: end the run; _report then stops the reactor.
        self.runner.finish(interrupted=True)


def run_worker(options: BenchOptions, plan: Plan) -> int:
    """Run worker ``options.worker``'s share; see the module docstring."""
    from twisted.internet import reactor, stdio

    status = [2]
    control = _WorkerControl(reactor, options, plan, status)
    interrupts = Interrupts(reactor, control.interrupt, control.interrupt_again)

    def start() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupts.install((signal.SIGTERM,))
        stdio.StandardIO(control, reactor=reactor)

    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]


# -- the parent --------------------------------------------------------------------


class _WorkerProcess(protocol.ProcessProtocol):
    """The parent's view of one worker."""

    def __init__(self, index: int, parent: _Parent) -> None:
        self.index = index
        self.parent = parent
        self.ready = False
        self.ended = False
        self.output = b""
        self.report: dict[str, Any] | None = None
        self._errors = b""

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.ready and b"ready\n" in self.output:
            self.ready = True
            self.parent.worker_ready()

    def errReceived(self, data: bytes) -> None:
        self._errors += data
        *lines, self._errors = self._errors.split(b"\n")
        for line in lines:
            sys.stderr.write(f"worker {self.index}: {line.decode('utf-8', 'replace')}\n")

    def signal(self, name: str) -> None:
        if not self.ended:
            try:
                self.transport.signalProcess(name)  # type: ignore[union-attr]
            except Exception:
                pass

    def processEnded(self, reason: Any) -> None:
        self.ended = True
        for line in reversed(self.output.split(b"\n")):
            if line.startswith(b"{"):
                try:
                    self.report = json.loads(line)
                except ValueError:
                    pass
                break
        if self._errors:
            self.errReceived(b"\n")
        self.parent.worker_ended()


class _Parent:
    """Spawns the workers, starts them together, and adds up their reports."""

    def __init__(self, reactor: Any, options: BenchOptions, status: list[int]) -> None:
        self.reactor = reactor
        self.options = options
        self.status = status
        self.workers: list[_WorkerProcess] = []
        self.going = False
        self.interrupted = False
        self._timer: Any = None
        self._cpu0 = (0.0, 0.0)
        self._wall0 = 0.0

    def spawn(self) -> None:
        environment = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(srstwist.__file__)))
        environment["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, environment.get("PYTHONPATH", "")) if p
        )
        for j in range(self.options.workers):
            worker = _WorkerProcess(j, self)
            self.workers.append(worker)
            argv = worker_argv(self.options, j)
            self.reactor.spawnProcess(worker, argv[0], argv, env=environment)
        self._timer = self.reactor.callLater(READY_TIMEOUT, self._kill_all, "not ready")

    def worker_ready(self) -> None:
        if self.going or not all(w.ready for w in self.workers):
            return
        self.going = True
        self._timer.cancel()
        self._cpu0 = cpu_now()
        self._wall0 = time.monotonic()
        for worker in self.workers:
            worker.transport.write(b"go\n")  # type: ignore[union-attr]
        options = self.options
        schedule = max(options.n - 1, 0) / options.rate + options.duration
        limit = schedule + CLOSE_GRACE + options.timeout + EXTRA_TIME
        self._timer = self.reactor.callLater(limit, self._kill_all, "did not finish")

    def interrupt(self) -> None:
        self.interrupted = True
        for worker in self.workers:
            worker.signal("TERM")

    def _kill_all(self, why: str) -> None:
        for worker in self.workers:
            if not worker.ended:
                sys.stderr.write(f"srs-bench: worker {worker.index} {why}; killed\n")
                worker.signal("KILL")

    def worker_ended(self) -> None:
        if not all(w.ended for w in self.workers):
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if not self.going:
            sys.stderr.write("srs-bench: the workers did not start\n")
            self.status[0] = 2
        else:
            self._aggregate()
        self.reactor.stop()

    def _aggregate(self) -> None:
        user, system = cpu_now()
        wall = time.monotonic() - self._wall0
        results: list[ClientResult] = []
        cpu: list[CpuSample] = []
        interrupted = self.interrupted
        for worker in self.workers:
            report = worker.report
            if report is None:
                sys.stderr.write(f"srs-bench: worker {worker.index} sent no results\n")
                continue
            results += [ClientResult.from_dict(r) for r in report["results"]]
            sample = report["cpu"]
            cpu.append(
                CpuSample(
                    sample["worker"], sample["user_s"], sample["sys_s"], sample["wall_s"],
                    sample["clients"],
                )
            )  # fmt: skip
            interrupted = interrupted or report["interrupted"]
        cpu.append(CpuSample(-1, user - self._cpu0[0], system - self._cpu0[1], wall, 0))
        report = build_report(
            results,
            mode=self.options.mode,
            url=self.options.url,
            planned=self.options.n,
            wall_s=wall,
            cpu=cpu,
            interrupted=interrupted,
        )
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        report["cpu"]["children_total_s"] = round(children.ru_utime + children.ru_stime, 3)
        report["workers"] = self.options.workers
        print_report(self.options, report)
        self.status[0] = exit_status(report)


def run_parent(options: BenchOptions, plan: Plan) -> int:
    """Run ``options.workers`` workers and print their combined report."""
    from twisted.internet import reactor

    status = [2]
    parent = _Parent(reactor, options, status)
    interrupts = Interrupts(reactor, parent.interrupt, parent.interrupt)

    def start() -> None:
        interrupts.install((signal.SIGINT, signal.SIGTERM))
        parent.spawn()

    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]
