"""
Time from a player's request on a cold edge to its first video frame:
an srstwist edge beside nginx-rtmp's ``pull``, both in front of one srstwist
origin, in the same run (issue 17).

  1. start an srstwist origin and publish one generated stream to it
     (ffmpeg, H.264 + AAC, 1 s GOP, real time);
  2. start an srstwist edge (``mode remote; origin ...;``) and an nginx-rtmp
     (``application live { live on; pull rtmp://origin/live; }``);
  3. for each sample and each edge: a player (srstwist's RTMP client)
     connects and plays; the time from the TCP connect to the first video
     frame that is not a sequence header is one sample; the player leaves
     and the next sample waits until the edge has dropped its upstream
     (srstwist: 3 s grace; nginx-rtmp: at the last player);
  4. stop everything it started, by PID.

It prints the median and p95 of each edge.  Only 127.0.0.1 is used;
everything started is bounded in time and ended in a finally block.

    python bench/edge_first_frame.py --samples 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.side_by_side import NGINX_MODULE, free_port  # noqa: E402

#: Seconds between samples, past the srstwist edge's 3 s grace.
COOL_DOWN = 4.0


def _wait_port(port: int, process: subprocess.Popen[bytes], within: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {within:g}s")


def _srstwist(directory: str, name: str, body: str, port: int) -> subprocess.Popen[bytes]:
    path = os.path.join(directory, name)
    os.makedirs(path)
    with open(os.path.join(path, "srs.conf"), "w") as f:
        f.write(f"listen 127.0.0.1:{port};\ndaemon off;\nsrs_log_tank file;\n"
                f"srs_log_file ./srs.log;\npid ./srs.pid;\n{body}")
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
         "-n", "srs", "-c", "srs.conf"], cwd=path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    return process


def _nginx(directory: str, port: int, origin: int) -> subprocess.Popen[bytes]:
    prefix = os.path.join(directory, "nginx")
    os.makedirs(os.path.join(prefix, "logs"))
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"load_module {NGINX_MODULE};\ndaemon off;\nmaster_process off;\n"
            f"worker_processes 1;\nerror_log {prefix}/logs/error.log warn;\n"
            f"pid {prefix}/nginx.pid;\nevents {{ worker_connections 1024; }}\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port};\n"
            f"  application live {{ live on; pull rtmp://127.0.0.1:{origin}/live; }} }} }}\n"
        )
    process = subprocess.Popen(["nginx", "-p", prefix, "-c", conf],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, process)
    return process


async def _first_frame(reactor: Any, url: str) -> float:
    """Seconds from the connect to the first video frame (not a sequence header)."""
    from twisted.internet import defer

    from srstwist.client.rtmp import connect_rtmp
    from srstwist.codec.rtmp_events import MediaKind

    started = time.monotonic()
    got: defer.Deferred[float] = defer.Deferred()

    def sink(media: Any) -> None:
        header = len(media.payload) > 1 and media.payload[1] == 0
        if media.kind is MediaKind.VIDEO and not header and not got.called:
            got.callback(time.monotonic() - started)

    client = await connect_rtmp(reactor, url)
    try:
        await client.play(sink=sink)
        return await got.addTimeout(15, reactor)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("nginx") is None or not os.path.exists(NGINX_MODULE):
        sys.exit("nginx is not installed: apt-get install -y nginx libnginx-mod-rtmp")
    directory = tempfile.mkdtemp(prefix="edge-first-frame-")
    started: list[subprocess.Popen[bytes]] = []
    try:
        origin_port, edge_port, nginx_port = free_port(), free_port(), free_port()
        started.append(_srstwist(directory, "origin", "vhost __defaultVhost__ { }\n", origin_port))
        started.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re",
             "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
             "-f", "lavfi", "-i", "sine", "-t", str(30 + args.samples * 2 * (COOL_DOWN + 2)),
             "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac",
             "-f", "flv", f"rtmp://127.0.0.1:{origin_port}/live/livestream"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        edge_body = (f"vhost __defaultVhost__ {{ mode remote; origin 127.0.0.1:{origin_port}; }}\n")
        started.append(_srstwist(directory, "edge", edge_body, edge_port))
        started.append(_nginx(directory, nginx_port, origin_port))
        time.sleep(3)  # the origin has a GOP before the first sample

        from twisted.internet import defer, task

        results: dict[str, list[float]] = {"srstwist edge": [], "nginx-rtmp pull": []}
        urls = {
            "srstwist edge": f"rtmp://127.0.0.1:{edge_port}/live/livestream",
            "nginx-rtmp pull": f"rtmp://127.0.0.1:{nginx_port}/live/livestream",
        }

        async def run(reactor: Any) -> None:
            for _ in range(args.samples):
                for name, url in urls.items():
                    results[name].append(await _first_frame(reactor, url))
                await task.deferLater(reactor, COOL_DOWN, lambda: None)
            report(results)
            with open(os.path.join(directory, "edge", "srs.log")) as f:
                pulls = f.read().count("first player, start")
            print(f"srstwist edge: {pulls} upstream starts for {args.samples} samples")

        task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(directory, ignore_errors=True)


def report(results: dict[str, list[float]]) -> None:
    for name, values in results.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        print(f"{name}: n={len(values)} median={statistics.median(values) * 1000:.0f} ms "
              f"p95={p95 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
