# -*- test-case-name: tests.test_tools_bench -*-
"""
``srs-bench``: the load tester (SRS 2.0 points to srs-bench, ``rtmp.md``
10.4, for this job).

N clients play (or publish to) one URL, started at RATE per second, held
DURATION seconds after the last one started, then closed; every connection
is measured (:mod:`srstwist.tools.bench_stats`) and one summary line is
printed.  ``--workers K`` spreads the clients over K processes of this same
program: each worker runs its share of the schedule and prints its results
as one JSON line; the parent adds them up, with every worker's CPU.

Modules: :mod:`~srstwist.tools.bench_run` (the schedule and the client
lifecycle), :mod:`~srstwist.tools.bench_rtmp` and
:mod:`~srstwist.tools.bench_http` (the clients),
:mod:`~srstwist.tools.bench_scan` (the allocation-free media path),
:mod:`~srstwist.tools.bench_stats` (figures and report), and this one (the
command line, targets, workers, output).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from srstwist.codec.rtmp_url import parse_tc_url, split_rtmp_url
from srstwist.tools.bench_stats import (
    ClientResult,
    CpuSample,
    build_report,
    failure_line,
)

__all__ = [
    "BenchOptions",
    "Plan",
    "TargetRefused",
    "build_parser",
    "main",
    "parse_args",
    "plan_run",
    "resolve_target",
    "stream_for",
]

MODES = ("rtmp-play", "rtmp-publish", "http-flv-play", "hls-play")
_HTTP_MODES = ("http-flv-play", "hls-play")

_DESCRIPTION = """\
Load-test a live streaming server: N clients play (or publish to) URL,
started at RATE per second, held DURATION seconds after the last one
started (a run takes (N-1)/RATE + DURATION seconds), then all closed.
Prints one summary line, or with --json the full report.
"""

_EPILOG = """\
modes:
  rtmp-play      play URL (rtmp://host[:port]/app/stream) with N RTMP clients
  rtmp-publish   publish the FLV file -i FILE, looped, in real time, from N
                 clients; stream names get the suffix -{i} (0..N-1) when N > 1,
                 or put {i} in the URL where the number goes
  http-flv-play  play an HTTP-FLV URL (http://host:port/app/stream.flv)
  hls-play       play an HLS URL (http://host:port/app/stream.m3u8)
  The HTTP modes probe URL first: when the server has no such output
  (connection refused or 404) they print "skipped: <reason>" and exit 0.
  {i} works in every mode, e.g. rtmp://127.0.0.1/live/s{i}.

summary line (figures over the clients that ended ok):
  n=500 ok=500 failed=0 kbps_med=912 kbps_p5=880 rt_med=0.99 fv_med_ms=63
  fv_p95_ms=140 fk_med_ms=70 connect_med_ms=1 cpu=35%
  kbps    bytes received (sent, for publishers) over the connected time
  rt      media timestamp span / wall time since the first media message
          (above 1 at first by the GOP cache burst; below 1: falling behind)
  fv, fk  ms from TCP connect start to the first video message and to the
          first key frame; connect: to TCP connected
  cpu     this tester's user+sys CPU / wall, all its processes, % of a core
  Failures are counted by reason (refused, connect timeout, handshake
  timeout, play timeout, stalled, rejected, closed early, protocol error,
  no media, ...).

Every phase (TCP connect, handshake, each command, first media, and silence
while streaming) fails after --timeout seconds.  Ctrl-C closes the clients
and prints what there is (a second Ctrl-C does not wait for the closes).
Targets must resolve to 127.0.0.0/8 or ::1 unless --allow-remote.
Exit status: 0 all ok (or skipped), 1 some clients failed, 2 bad usage or
refused target.
"""


class TargetRefused(Exception):
    """The URL's host is not a loopback address and --allow-remote is off."""


@dataclass(frozen=True)
class BenchOptions:
    """The parsed command line."""

    mode: str
    url: str
    n: int = 1
    rate: float = 100.0
    duration: float = 10.0
    workers: int = 1
    json: bool = False
    allow_remote: bool = False
    timeout: float = 10.0
    input: str | None = None
    full_parse: bool = False
    sample: int | None = None
    stall: int = 0
    worker: int | None = None


def build_parser() -> argparse.ArgumentParser:
    """The ``srs-bench`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="srs-bench",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=MODES, metavar="MODE", help=", ".join(MODES))
    parser.add_argument("url", metavar="URL", help="what to play or publish to")
    parser.add_argument(
        "-n", "--clients", dest="n", type=int, default=1, metavar="N", help="number of clients (1)"
    )
    parser.add_argument(
        "-r",
        "--rate",
        type=float,
        default=100.0,
        metavar="RATE",
        help="clients started per second (100)",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=float,
        default=10.0,
        metavar="DURATION",
        help="seconds held after the last client started (10)",
    )
    parser.add_argument("-i", "--input", metavar="FILE", help="rtmp-publish: the FLV file")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="K",
        help="spread the clients over K processes (1: this one)",
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow targets outside 127.0.0.0/8 and ::1"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds any one phase may take (10)",
    )
    parser.add_argument(
        "--full-parse",
        action="store_true",
        help="rtmp-play: decode every message with the full session "
        "instead of the fast path (slower; for cross-checks)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="K",
        help="rtmp-play, http-flv-play: only clients 0..K-1 parse the whole stream; the others "
        "stop parsing after their first key frame and count bytes (their kbps, "
        "first video and failures are measured, their real-time ratio is not). "
        "For thousands of players on one tester core",
    )
    parser.add_argument(
        "--stall",
        type=int,
        default=0,
        metavar="K",
        help="rtmp-play: the last K clients stop reading after their first key frame "
        "(slow readers on purpose); the report keeps them apart (stalled_readers)",
    )
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def parse_args(argv: Sequence[str]) -> BenchOptions:
    """
    Parse and check the command line.

    :raise SystemExit: (status 2) with a usage message on bad arguments.
    """
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.n < 1:
        parser.error("-n must be at least 1")
    if not args.rate > 0:
        parser.error("-r must be above 0")
    if args.duration < 0:
        parser.error("-d must not be negative")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if not args.timeout > 0:
        parser.error("--timeout must be above 0")
    scheme = urlsplit(args.url).scheme
    expected = "http" if args.mode in _HTTP_MODES else "rtmp"
    if scheme != expected:
        parser.error(f"{args.mode} needs a {expected}:// URL, not {args.url!r}")
    if args.mode == "rtmp-publish" and not args.input:
        parser.error("rtmp-publish needs -i FILE")
    if args.worker is not None and not 0 <= args.worker < args.workers:
        parser.error("--worker must be below --workers")
    return BenchOptions(
        mode=args.mode,
        url=args.url,
        n=args.n,
        rate=args.rate,
        duration=args.duration,
        workers=min(args.workers, args.n),
        json=args.json,
        allow_remote=args.allow_remote,
        timeout=args.timeout,
        input=args.input,
        full_parse=args.full_parse,
        sample=args.sample,
        stall=args.stall,
        worker=args.worker,
    )


def resolve_target(
    host: str,
    port: int,
    allow_remote: bool,
    resolve: Callable[..., list[Any]] = socket.getaddrinfo,
) -> str:
    """
    Resolve ``host`` and return the address to connect to (IPv4 first).

    :raise TargetRefused: an address is outside 127.0.0.0/8 and ::1 and
        ``allow_remote`` is off, or the host does not resolve.
    """
    try:
        infos = resolve(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise TargetRefused(f"cannot resolve {host!r}: {e}") from e
    addresses = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise TargetRefused(f"{host!r} has no IP address")
    if not allow_remote:
        remote = [a for a in addresses if not _loopback(a)]
        if remote:
            raise TargetRefused(
                f"{host!r} resolves to {', '.join(remote)}, outside 127.0.0.0/8 and ::1; "
                "pass --allow-remote to load a remote server"
            )
    addresses.sort(key=lambda a: ":" in a)
    return addresses[0]


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def stream_for(template: str, index: int, n: int, mode: str) -> str:
    """
    Client ``index``'s stream name: ``{i}`` replaced by the index; else,
    for ``rtmp-publish`` with more than one client, ``-{index}`` appended
    (N publishers cannot share one stream); else the name itself.
    """
    if "{i}" in template:
        return template.replace("{i}", str(index))
    if mode == "rtmp-publish" and n > 1:
        return f"{template}-{index}"
    return template


@dataclass(frozen=True)
class Plan:
    """
    Where the clients go.

    :ivar address: the resolved address connected to.
    :ivar stream: RTMP: the stream name template (no query); HTTP: the
        path and query template.
    :ivar tc_url: RTMP: the connect tcUrl, the URL's query included.
    """

    host: str
    address: str
    port: int
    stream: str
    tc_url: str = ""
    app: str = ""


def plan_run(options: BenchOptions, resolve: Callable[..., list[Any]] = socket.getaddrinfo) -> Plan:
    """
    Take the URL apart and resolve its host.

    :raise ValueError: the URL is unusable.
    :raise TargetRefused: see :func:`resolve_target`.
    """
    if options.mode in _HTTP_MODES:
        parts = urlsplit(options.url)
        if not parts.hostname:
            raise ValueError(f"no host in {options.url!r}")
        try:
            port = parts.port or 80
        except ValueError as e:
            raise ValueError(f"bad port in {options.url!r}") from e
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        address = resolve_target(parts.hostname, port, options.allow_remote, resolve)
        return Plan(parts.hostname, address, port, path)
    tc_url, stream = split_rtmp_url(options.url)
    name, _, query = stream.partition("?")
    if not name:
        raise ValueError(f"no stream name in {options.url!r}")
    if query:
        tc_url += "?" + query
    request = parse_tc_url(tc_url)
    if not request.host or not request.app:
        raise ValueError(f"no host or app in {options.url!r}")
    if not request.port.isdigit() or not 0 < int(request.port) < 65536:
        raise ValueError(f"bad port {request.port!r} in {options.url!r}")
    port = int(request.port)
    host = request.host.strip("[]")
    address = resolve_target(host, port, options.allow_remote, resolve)
    return Plan(host, address, port, name, tc_url, request.app)


def indices_of(worker: int | None, workers: int, n: int) -> range:
    """The clients a worker runs: every ``workers``-th from ``worker``."""
    if worker is None:
        return range(n)
    return range(worker, n, workers)


def make_clients(options: BenchOptions, plan: Plan, clock: Any) -> tuple[Callable[[int], Any], Any]:
    """
    The client builder for the mode, and the runner's ``pace`` (or None).

    :raise ValueError: the input file is unusable.
    """
    from srstwist.tools.bench_rtmp import (
        FlvSource,
        RtmpPlayClient,
        RtmpPublishClient,
        RtmpTarget,
        pace_publishers,
    )

    timeout = options.timeout
    n = options.n
    mode = options.mode
    if mode in _HTTP_MODES:
        from srstwist.tools.bench_http import make_http_client

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


# -- running ----------------------------------------------------------------------


def _cpu_now() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class _Interrupts:
    """SIGINT/SIGTERM: first call ``first``, then ``again``."""

    def __init__(self, reactor: Any, first: Callable[[], None], again: Callable[[], None]) -> None:
        self._reactor = reactor
        self._first = first
        self._again = again
        self._count = 0

    def install(self, signals: Sequence[int]) -> None:
        for signum in signals:
            signal.signal(signum, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        self._reactor.callFromThread(self._fire)

    def _fire(self) -> None:
        self._count += 1
        (self._first if self._count == 1 else self._again)()


def _run_local(reactor: Any, options: BenchOptions, plan: Plan, indices: range) -> Any:
    """Start a Runner for ``indices`` on the reactor; return it."""
    from srstwist.tools.bench_run import Runner, tcp_connector

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


def _print_report(options: BenchOptions, report: dict[str, Any], out: Any = None) -> None:
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


def _exit_status(report: dict[str, Any]) -> int:
    return 0 if report["failed"] == 0 and report["n"] > 0 else 1


def run_single(options: BenchOptions, plan: Plan) -> int:
    """Run every client in this process; print the report; return the status."""
    from twisted.internet import reactor

    status = [2]
    runner = _run_local(reactor, options, plan, indices_of(None, 1, options.n))
    interrupts = _Interrupts(reactor, lambda: runner.finish(interrupted=True), runner.deliver_now)

    def start() -> None:
        interrupts.install((signal.SIGINT, signal.SIGTERM))
        cpu0 = _cpu_now()
        wall0 = time.monotonic()

        def done(results: list[ClientResult]) -> None:
            user, system = _cpu_now()
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
            _print_report(options, report)
            status[0] = _exit_status(report)
            reactor.stop()

        runner.run().addCallback(done).addErrback(_crash, reactor, status)

    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]


def _crash(failure: Any, reactor: Any, status: list[int]) -> None:
    sys.stderr.write(f"srs-bench: internal error: {failure.getTraceback()}\n")
    status[0] = 2
    if reactor.running:
        reactor.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``srs-bench`` console script."""
    options = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        plan = plan_run(options)
    except TargetRefused as e:
        sys.stderr.write(f"srs-bench: refused: {e}\n")
        sys.exit(2)
    except ValueError as e:
        sys.stderr.write(f"srs-bench: {e}\n")
        sys.exit(2)
    if options.input is not None:
        try:
            make_clients(options, plan, None)
        except (OSError, ValueError) as e:
            sys.stderr.write(f"srs-bench: {e}\n")
            sys.exit(2)
    if options.worker is not None:
        from srstwist.tools.bench_workers import run_worker

        sys.exit(run_worker(options, plan))
    if options.mode in _HTTP_MODES:
        from srstwist.tools.bench_http import probe_blocking

        skipped = probe_blocking(plan.address, plan.port, plan.host, plan.stream, options.timeout)
        if skipped is not None:
            sys.stdout.write(f"skipped: {skipped}\n")
            sys.exit(0)
    if options.workers > 1:
        from srstwist.tools.bench_workers import run_parent

        sys.exit(run_parent(options, plan))
    sys.exit(run_single(options, plan))


if __name__ == "__main__":
    main()
