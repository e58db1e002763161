# -*- test-case-name: tests.test_tools_bench -*-
"""
``srs-bench``: the load tester.  SRS 2.0 leaves load testing to a separate
program of that name (ossrs/srs-bench); this one takes its place.

N clients play (or publish to) one URL, started at RATE per second, held
DURATION seconds after the last one started, then closed; every connection
is measured (:mod:`.stats`) and one summary line is printed.
``--workers K`` spreads the clients over K processes of this same program:
each worker runs its share of the schedule and prints its results as one
JSON line; the parent adds them up, with every worker's CPU.

Modules, each importing only those listed before it:

* :mod:`.stats`: figures and report, plain data;
* :mod:`.scan`: the allocation-free media path (the chunk scanner);
* :mod:`.run`: the schedule and the client lifecycle;
* :mod:`.rtmp` and :mod:`.http`: the clients;
* :mod:`.plan`: the parsed options, targets and stream names;
* :mod:`.local`: one process's run, signals and output;
* :mod:`.workers`: ``--workers K``, the parent and the workers;
* :mod:`.cli`: the command line and :func:`~.cli.main`, the console script
  (also run by ``python -m srstwist.tools.bench``).

This package re-exports the command-line entry points.
"""

from __future__ import annotations

from srstwist.tools.bench.cli import build_parser, main, parse_args
from srstwist.tools.bench.local import make_clients, run_single
from srstwist.tools.bench.plan import (
    MODES,
    BenchOptions,
    Plan,
    TargetRefused,
    indices_of,
    plan_run,
    resolve_target,
    stream_for,
)

__all__ = [
    "MODES",
    "BenchOptions",
    "Plan",
    "TargetRefused",
    "build_parser",
    "indices_of",
    "main",
    "make_clients",
    "parse_args",
    "plan_run",
    "resolve_target",
    "run_single",
    "stream_for",
]
