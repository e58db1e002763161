# -*- test-case-name: tests.test_tools_bench -*-
"""
``srs-bench``'s command line: the argument parser, its checks, and
:func:`main`, the console script, which plans the run and hands it to one
process (:func:`~srstwist.tools.bench.local.run_single`), to K workers
(:func:`~srstwist.tools.bench.workers.run_parent`), or, in a worker, to
that worker's share (:func:`~srstwist.tools.bench.workers.run_worker`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from srstwist.tools.bench.http import probe_blocking
from srstwist.tools.bench.local import make_clients, run_single
from srstwist.tools.bench.plan import (
    HTTP_MODES,
    MODES,
    BenchOptions,
    TargetRefused,
    plan_run,
)
from srstwist.tools.bench.workers import run_parent, run_worker

__all__ = ["build_parser", "main", "parse_args"]

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
  ws-flv-play    play a WebSocket-FLV URL (ws://host:port/app/stream.flv)
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

    :raises SystemExit: (status 2) with a usage message on bad arguments.
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
    expected = "ws" if args.mode == "ws-flv-play" else "http" if args.mode in HTTP_MODES else "rtmp"
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
        sys.exit(run_worker(options, plan))
    if options.mode in HTTP_MODES:
        skipped = probe_blocking(plan.address, plan.port, plan.host, plan.stream, options.timeout)
        if skipped is not None:
            sys.stdout.write(f"skipped: {skipped}\n")
            sys.exit(0)
    if options.workers > 1:
        sys.exit(run_parent(options, plan))
    sys.exit(run_single(options, plan))
