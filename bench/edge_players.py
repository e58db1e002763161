"""
Players per core on an srstwist edge beside the same players on an origin
(issue 17): ``bench/side_by_side.py``'s measurement (srs-bench on CPU 1, the
server under test on CPU 0, its CPU sampled while every player is connected),
for two setups in one run:

  * ``origin``: N players on the origin the stream is published to;
  * ``edge``: N players on an srstwist edge (``mode remote``) pinned to CPU 0,
    pulling the stream from an origin that is not pinned (it serves one
    player, the edge).

Only 127.0.0.1 is used; everything started is stopped by PID.

    python bench/edge_players.py --players 1000 --duration 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.side_by_side import (  # noqa: E402
    HEADER,
    Server,
    _wait_port,
    free_port,
    make_stream,
    row,
    run_bench,
    start_publisher,
    start_srstwist,
)


def start_edge(directory: str, port: int, origin: int) -> Server:
    """An srstwist edge on CPU 0 in front of ``origin``."""
    path = os.path.join(directory, f"edge-{port}")
    os.makedirs(path)
    conf = os.path.join(path, "srs.conf")
    with open(conf, "w") as f:
        f.write(
            f"listen 127.0.0.1:{port};\nmax_connections 20000;\ndaemon off;\n"
            f"srs_log_tank file;\nsrs_log_file {path}/srs.log;\npid {path}/srs.pid;\n"
            f"vhost __defaultVhost__ {{ mode remote; origin 127.0.0.1:{origin}; }}\n"
        )
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-c",
         "from twisted.scripts.twistd import run; run()", "-n", "srs", "-c", conf],
        cwd=path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    return Server("srstwist edge", process, port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, nargs="+", default=[1000])
    parser.add_argument("--duration", type=int, default=20, help="hold, seconds")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="srstwist-edge-bench-") as directory:
        stream = make_stream(directory)
        for players in args.players:
            for setup in ("origin", "edge"):
                origin_port = free_port()
                origin_dir = os.path.join(directory, f"origin-{origin_port}")
                os.makedirs(origin_dir)
                origin = start_srstwist(origin_dir, origin_port)
                publisher = start_publisher(stream, origin_port)
                edge = None
                try:
                    server = origin
                    if setup == "edge":
                        # The origin off CPU 0 so that CPU 0 is the edge's alone.
                        subprocess.run(["taskset", "-p", "-c", "1", str(origin.process.pid)],
                                       check=True, stdout=subprocess.DEVNULL)
                        edge = server = start_edge(directory, free_port(), origin_port)
                    time.sleep(3)
                    report = run_bench(server.port, players, args.duration, server, args.workers)
                    line = row(f"srstwist {setup}", players, report)
                except Exception as e:  # a failed run is a row, not a crash
                    line = f"| srstwist {setup} | {players} | error: {e} |"
                finally:
                    publisher.terminate()
                    publisher.wait(timeout=10)
                    if edge is not None:
                        edge.stop()
                    origin.stop()
                print(line, flush=True)
                rows.append(line)
    print(HEADER + "\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
