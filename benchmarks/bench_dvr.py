"""
What DVR costs: N streams recording at ~1 Mbit/s each on the real reactor,
with the reactor's lag measured.

    python benchmarks/bench_dvr.py                  # 50 streams, 20 s, session plan
    python benchmarks/bench_dvr.py --streams 50 --seconds 30 --plan segment

Input: ``tests/data/rtmp-session/session.bin`` (ffmpeg publishing 4 s of
H.264 + AAC at 1.05 Mbit/s), decoded once and looped with advancing
timestamps.  Each stream's :class:`DvrOutput` gets its messages on the
reactor at their stream time (a ``LoopingCall`` every 10 ms delivers what is
due, streams staggered), writing real files to a temporary directory with
the service's 1 s flush timer.

Figures:

* CPU ms per stream-second (``time.process_time`` over the run, divided by
  streams x seconds), and the same for the delivery loop without DVR
  (``--streams`` outputs replaced by nothing) is subtracted;
* reactor lag: a ``LoopingCall`` every 10 ms records how late it runs
  (median, p99, max), the number the brief's 5 ms threshold is about.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import reactor, task  # noqa: E402

from srstwist.codec.chunk import ChunkDecoder  # noqa: E402
from srstwist.config.model import DvrConfig, VhostConfig  # noqa: E402
from srstwist.media.message import SharedMessage  # noqa: E402
from srstwist.services.dvr import DvrOutput, DvrService  # noqa: E402

_CAPTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "rtmp-session" / "session.bin"
_TICK = 0.010


def load() -> tuple[list[Any], list[Any], float]:
    raw = ChunkDecoder().receive_data(_CAPTURE.read_bytes())
    headers = [m for m in raw if m.message_type_id in (8, 9) and m.payload[1:2] == b"\x00"]
    metadata = [m for m in raw if m.message_type_id == 18][:1]
    frames = [m for m in raw if m.message_type_id in (8, 9) and m.payload[1:2] != b"\x00"]
    start = frames[0].timestamp
    span = (frames[-1].timestamp - start) / 1000 + 0.04
    return metadata + headers, frames, span


class Feeder:
    """Delivers each stream's looped capture at its stream time."""

    def __init__(self, outputs: list[Any], headers: list[Any], frames: list[Any], span: float) -> None:
        self.outputs = outputs
        self.frames = frames
        self.span_ms = round(span * 1000)
        self.base = frames[0].timestamp
        self.start = time.monotonic()
        self.positions = [0] * len(outputs)
        self.loops = [0] * len(outputs)
        self.offsets = [i * 0.02 for i in range(len(outputs))]
        self.bytes = 0
        for output in outputs:
            for m in headers:
                output.deliver(SharedMessage(m.timestamp, m.message_type_id, m.payload))

    def tick(self) -> None:
        now = time.monotonic() - self.start
        frames = self.frames
        for i, output in enumerate(self.outputs):
            elapsed_ms = (now - self.offsets[i]) * 1000
            while True:
                m = frames[self.positions[i]]
                t = m.timestamp - self.base + self.loops[i] * self.span_ms
                if t > elapsed_ms:
                    break
                output.deliver(SharedMessage(t, m.message_type_id, m.payload))
                self.bytes += len(m.payload)
                self.positions[i] += 1
                if self.positions[i] == len(frames):
                    self.positions[i] = 0
                    self.loops[i] += 1


def run(streams: int, seconds: float, plan: str, dvr: bool) -> dict[str, float]:
    headers, frames, span = load()
    work = tempfile.mkdtemp(prefix="bench_dvr.")
    vhost = dataclasses.replace(
        VhostConfig(),
        dvr=DvrConfig(enabled=True, dvr_plan=plan, dvr_path=work + "/[app]/[stream].[timestamp].flv"),
    )
    service = DvrService(reactor)
    service.startService()

    class Null:
        def deliver(self, message: Any) -> None:
            pass

    outputs: list[Any] = []
    for i in range(streams):
        if dvr:
            output = DvrOutput(vhost, "live", f"s{i}", reactor, cid=i)
            service.outputs[output.key] = output
            output.start()
        else:
            output = Null()
        outputs.append(output)
    feeder = Feeder(outputs, headers, frames, span)
    lags: list[float] = []
    last = [time.monotonic()]

    def probe() -> None:
        now = time.monotonic()
        lags.append(max(0.0, now - last[0] - _TICK))
        last[0] = now

    feeding = task.LoopingCall(feeder.tick)
    probing = task.LoopingCall(probe)
    cpu = time.process_time()
    wall = time.monotonic()
    feeding.start(_TICK)
    probing.start(_TICK)

    def finish() -> None:
        feeding.stop()
        probing.stop()
        service.stopService()
        reactor.stop()

    reactor.callLater(seconds, finish)
    reactor.run()
    cpu = time.process_time() - cpu
    wall = time.monotonic() - wall
    written = sum(
        os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(work) for n in names
    )
    shutil.rmtree(work)
    lags.sort()
    return {
        "cpu": cpu,
        "wall": wall,
        "mbit_per_stream": feeder.bytes * 8 / wall / 1e6 / max(1, streams),
        "written_mb": written / 1e6,
        "lag_median_ms": statistics.median(lags) * 1000,
        "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "lag_max_ms": lags[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--plan", default="session", choices=("session", "segment", "append"))
    parser.add_argument("--baseline", action="store_true", help="deliver without DVR (one run)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; {args.streams} streams x {args.seconds:g} s, "
        f"plan {args.plan}, input {_CAPTURE.name}"
    )
    result = run(args.streams, args.seconds, args.plan, dvr=not args.baseline)
    per = result["cpu"] * 1000 / (args.streams * result["wall"])
    print(
        f"{'baseline (no DVR)' if args.baseline else 'dvr'}: "
        f"{result['mbit_per_stream']:.2f} Mbit/s per stream, {result['written_mb']:.1f} MB written, "
        f"CPU {result['cpu']:.2f} s over {result['wall']:.1f} s = {per:.2f} ms per stream-second; "
        f"reactor lag median {result['lag_median_ms']:.2f} ms, p99 {result['lag_p99_ms']:.2f} ms, "
        f"max {result['lag_max_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
