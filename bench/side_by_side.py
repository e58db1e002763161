"""
Measure srstwist and nginx-rtmp side by side with srs-bench.

For each server and each number of players N, on this machine:

  1. start the server in the foreground, pinned to CPU 0 (taskset);
  2. publish one test stream to it with ffmpeg (H.264 ~800 kbps + AAC
     128 kbps, 2 s GOP, generated once and looped with -c copy);
  3. run ``srs-bench rtmp-play`` with N players, pinned to CPU 1 (for the
     ``srstwist-http-flv`` server: ``srs-bench http-flv-play`` on the same
     stream, published over RTMP and played over HTTP-FLV);
  4. sample the server's CPU (utime + stime from /proc) and RSS while the
     players are all connected;
  5. stop everything it started, by PID.

It prints one table row per server and N and, with --write, appends the
table, the date and the exact command to docs/performance.md.

Only 127.0.0.1 is used.  Everything started is bounded in time and ended in
a finally block.

    python bench/side_by_side.py --players 100 500 1000 2000 --duration 20 --write
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_stream(directory: str, seconds: int = 20) -> str:
    """The test stream: H.264 ~800 kbps + AAC 128 kbps, 2 s GOP, as FLV."""
    path = os.path.join(directory, "stream.flv")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25,noise=alls=8:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k", "-maxrate", "800k",
            "-bufsize", "1600k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128k",
            "-f", "flv", path,
        ],
        check=True,
        timeout=300,
    )
    return path


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    #: srs-bench's mode and URL for the players.
    mode: str = "rtmp-play"
    play_url: str = ""

    def url(self) -> str:
        return self.play_url or f"rtmp://127.0.0.1:{self.port}/live/bench"

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def start_srstwist(directory: str, port: int, http_port: int = 0) -> Server:
    conf = os.path.join(directory, "srstwist.conf")
    http = ""
    vhost = "vhost __defaultVhost__ { }\n"
    if http_port:
        http = f"http_server {{ enabled on; listen 127.0.0.1:{http_port}; dir {directory}; }}\n"
        vhost = (
            "vhost __defaultVhost__ { http_remux { enabled on; "
            "mount [vhost]/[app]/[stream].flv; } }\n"
        )
    with open(conf, "w") as f:
        f.write(
            f"listen 127.0.0.1:{port};\nmax_connections 20000;\ndaemon off;\n"
            f"srs_log_tank file;\nsrs_log_file {directory}/srstwist.log;\n"
            f"pid {directory}/srstwist.pid;\n{http}{vhost}"
        )
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen(
        [
            "taskset", "-c", "0", sys.executable, "-c",
            "from twisted.scripts.twistd import run; run()", "-n", "srs", "-c", conf,
        ],
        cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    if http_port:
        _wait_port(http_port, process)
        url = f"http://127.0.0.1:{http_port}/live/bench.flv"
        return Server("srstwist http-flv", process, port, "http-flv-play", url)
    return Server("srstwist", process, port)


def start_srstwist_http_flv(directory: str, port: int) -> Server:
    """srstwist with HTTP-FLV players (same stream, published over RTMP)."""
    return start_srstwist(directory, port, http_port=free_port())


def start_nginx(directory: str, port: int) -> Server:
    prefix = os.path.join(directory, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"load_module {NGINX_MODULE};\n"
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            "worker_rlimit_nofile 40000;\n"
            f"error_log {prefix}/logs/error.log warn;\npid {prefix}/nginx.pid;\n"
            "events { worker_connections 20000; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 60000;\n"
            "  application live { live on; } } }\n"
        )
    process = subprocess.Popen(
        ["taskset", "-c", "0", "nginx", "-p", prefix, "-c", conf],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    return Server("nginx-rtmp", process, port)


def start_publisher(stream: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "taskset", "-c", "1", "ffmpeg", "-nostdin", "-loglevel", "error", "-re",
            "-stream_loop", "-1", "-i", stream, "-c", "copy", "-f", "flv",
            f"rtmp://127.0.0.1:{port}/live/bench",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def run_bench(
    port: int,
    players: int,
    duration: int,
    server: Server,
    workers: int,
    sample: int | None = None,
    ramp: int = 500,
    stall: int = 0,
) -> dict:
    """Run srs-bench; sample the server while every player is connected."""
    command = [
        "taskset", "-c", "1", sys.executable, "-m", "srstwist.tools.bench", server.mode,
        server.url(), "-n", str(players), "-r", str(ramp),
        "-d", str(duration), "--workers", str(workers), "--json",
    ]
    if sample is not None and server.mode in ("rtmp-play", "http-flv-play"):
        command += ["--sample", str(sample)]
    if stall and server.mode == "rtmp-play":
        command += ["--stall", str(stall)]
    env = dict(os.environ, PYTHONPATH=REPO)
    bench = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Sample over the middle of the hold, once the ramp is over.
    ramp_seconds = players / ramp + 2
    time.sleep(ramp_seconds)
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    time.sleep(max(1.0, duration - 3))
    cpu1, wall1 = server.cpu_seconds(), time.monotonic()
    rss = server.rss_mb()
    out, err = bench.communicate(timeout=duration + players / 50 + 120)
    # Exit status 1 means some clients failed: that is a result, not an error.
    if bench.returncode not in (0, 1) or not out.strip():
        raise RuntimeError(
            f"srs-bench exited {bench.returncode}: {err.decode(errors='replace')[-2000:]}"
        )
    report = json.loads(out)
    report["server_cpu"] = 100.0 * (cpu1 - cpu0) / (wall1 - wall0)
    report["server_rss_mb"] = rss
    return report


def row(server: str, players: int, report: dict) -> str:
    """One table row from an ``srs-bench --json`` report plus the server samples."""

    def stat(key: str, field: str) -> str:
        value = (report.get(key) or {}).get(field)
        if value is None:
            return "-"
        return f"{value:.2f}" if key == "rt" else f"{value:.0f}"

    stalled = (report.get("stalled_readers") or {}).get("n")
    if stalled:
        players = f"{players} ({stalled} stalled)"  # type: ignore[assignment]
    return (
        f"| {server} | {players} | {report.get('ok')} | {report.get('failed')} | "
        f"{report['server_cpu']:.0f}% | {report['server_rss_mb']:.0f} MB | "
        f"{stat('kbps', 'p5')} | {stat('rt', 'med')} | "
        f"{stat('first_video_ms', 'med')} | {stat('first_video_ms', 'p95')} | "
        f"{(report.get('cpu') or {}).get('percent', '-')}% |"
    )


HEADER = (
    "| server | players | ok | failed | server CPU | RSS | kbps p5 | rt median | "
    "first video median ms | first video p95 ms | tester CPU |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--duration", type=int, default=20, help="hold, seconds")
    parser.add_argument("--workers", type=int, default=1, help="srs-bench worker processes")
    parser.add_argument("--rate", type=int, default=500, help="players started per second")
    parser.add_argument(
        "--stall",
        type=int,
        default=0,
        help="srs-bench --stall K: K of the players stop reading (reported apart)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="srs-bench --sample K: only K players parse the whole stream (rt from them)",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["srstwist", "nginx-rtmp"],
        choices=["srstwist", "srstwist-http-flv", "nginx-rtmp"],
    )
    parser.add_argument("--write", action="store_true", help="append to docs/performance.md")
    args = parser.parse_args()
    if shutil.which("nginx") is None and "nginx-rtmp" in args.servers:
        print("nginx is not installed: apt-get install -y nginx-light libnginx-mod-rtmp")
        return 1
    starters = {
        "srstwist": start_srstwist,
        "srstwist-http-flv": start_srstwist_http_flv,
        "nginx-rtmp": start_nginx,
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="srstwist-bench-") as directory:
        stream = make_stream(directory)
        for name in args.servers:
            for players in args.players:
                port = free_port()
                server = starters[name](directory, port)
                publisher = start_publisher(stream, port)
                try:
                    time.sleep(3)
                    report = run_bench(
                        port,
                        players,
                        args.duration,
                        server,
                        args.workers,
                        args.sample,
                        args.rate,
                        args.stall,
                    )
                    line = row(name, players, report)
                except Exception as e:  # a failed run is a row, not a crash
                    line = f"| {name} | {players} | error: {e} |"
                finally:
                    publisher.terminate()
                    publisher.wait(timeout=10)
                    server.stop()
                print(line, flush=True)
                rows.append(line)
    table = HEADER + "\n" + "\n".join(rows)
    print(table)
    if args.write:
        command = "python bench/side_by_side.py " + " ".join(sys.argv[1:])
        with open(os.path.join(REPO, "docs", "performance.md"), "a") as f:
            f.write(
                f"\n## Side by side with nginx-rtmp ({time.strftime('%Y-%m-%d')})\n\n"
                f"Command: `{command}`\n\n{table}\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
