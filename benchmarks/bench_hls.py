"""
What HLS costs per stream: CPU milliseconds per second of a ~1 Mbit/s
H.264 + AAC stream through the TS muxer and the segmenter.

    python benchmarks/bench_hls.py               # 30 s at ~1 Mbit/s, 7 repeats
    python benchmarks/bench_hls.py --seconds 60 --repeats 11 --bitrate 2000k

ffmpeg makes the FLV once (in a temporary directory).  Two figures, each
the median over the repeats of CPU time (``time.process_time``):

* ``segmenter``: `HlsSegmenter` alone (sans-IO, events discarded), the
  muxing cost proper;
* ``output``: `HlsOutput` writing real files to a temporary directory
  (segments, playlists, renames), what a server pays.

"streams per core" is 1000 / (ms per stream-second): how many such streams
one core could segment if it did nothing else.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa: E402

from srstwist.codec.flv import FlvTagDecoder  # noqa: E402
from srstwist.config.model import HlsConfig, VhostConfig  # noqa: E402
from srstwist.media.hls import HlsSegmenter  # noqa: E402
from srstwist.media.message import SharedMessage  # noqa: E402
from srstwist.services.hls import HlsOutput  # noqa: E402


def make_flv(path: str, seconds: int, bitrate: str) -> None:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
            "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-g", "50",
            "-c:a", "aac", "-b:a", "96k", "-f", "flv", path,
        ],
        check=True,
        timeout=300,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--bitrate", default="900k", help="video bitrate (audio adds 96k)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        flv = os.path.join(work, "in.flv")
        make_flv(flv, args.seconds, args.bitrate)
        with open(flv, "rb") as f:
            data = f.read()
        messages = [
            SharedMessage(t.timestamp, t.tag_type, t.payload)
            for t in FlvTagDecoder().receive_data(data)
        ]
        duration = max(m.timestamp for m in messages) / 1000
        kbps = len(data) * 8 / duration / 1000
        hls = HlsConfig(enabled=True, hls_fragment=10.0, hls_path=os.path.join(work, "out"))
        vhost = dataclasses.replace(VhostConfig(), hls=hls)

        def segmenter_run() -> int:
            segmenter = HlsSegmenter("v", "live", "s")
            out = 0
            segmenter.on_publish(hls, 0.0)
            for message in messages:
                for event in segmenter.on_message(message, 0.0):
                    out += len(getattr(event, "data", b""))
            segmenter.on_unpublish()
            return out

        def output_run() -> int:
            output = HlsOutput("v", "live", "s", Clock())
            output.start(vhost, 1)
            for message in messages:
                output.deliver(message)
            output.publisher_changed(False)
            return 0

        ts_bytes = segmenter_run()
        print(f"python {platform.python_version()} on {platform.machine()}, load {os.getloadavg()}")
        print(
            f"input: {duration:.1f} s, {len(messages)} messages, {kbps:.0f} kbit/s FLV; "
            f"TS overhead {100 * (ts_bytes / len(data) - 1):.1f}% over FLV"
        )
        for name, run in (("segmenter", segmenter_run), ("output", output_run)):
            times = []
            for _ in range(args.repeats):
                start = time.process_time()
                run()
                times.append(time.process_time() - start)
            ms = statistics.median(times) * 1000 / duration
            print(
                f"{name:>9}: {ms:.2f} CPU ms per stream-second "
                f"(min {min(times) * 1000 / duration:.2f}), ~{1000 / ms:.0f} streams per core"
            )


if __name__ == "__main__":
    main()
