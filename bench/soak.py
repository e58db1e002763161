"""
Soak srstwist: half an hour of churn, watching the server's memory and
file descriptors.

The script starts, on 127.0.0.1 and in a temporary directory:

* an HTTP hook server of its own (``http.server`` in a thread, HTTP/1.0:
  it closes the connection after each answer, and answers every hook
  ``0``);
* ``twistd -n srs`` with RTMP, ``http_server`` with an ``http_remux`` FLV
  mount, ``http_api``, ``hls`` and ``http_hooks`` pointing at that hook
  server;

and then, until the time is up:

* 2-3 publishers (``ffmpeg -re -stream_loop -1 -c copy`` from a small
  generated FLV), each killed and restarted every 30-90 s;
* players joining and leaving, at most ``--players`` at once: bursts of
  ``srs-bench rtmp-play`` and ``http-flv-play`` with short durations, some
  bursts with stalled readers (``--stall``);
* every minute, ``DELETE /api/v1/clients/ID`` on a few listed clients;
* every 2 minutes, SIGHUP with ``hls_fragment`` toggled in the config;
* HTTP-FLV clients that connect and never read, connections that send
  garbage to every port, and connections that send nothing.

Every 10 s it samples the server's RSS (``VmRSS`` of ``/proc/PID/status``)
and open file descriptors (``/proc/PID/fd``).  The open fds follow the
number of clients connected at that instant, so the two figures compared
are taken in the same state: once the warm-up is over, and again at the
end, every client and publisher is stopped, and the server is sampled 5 s
later (the churn then resumes after the first).  At the end it prints a
table of the post-warm-up and end figures and of the peaks under load,
with the verdict "grew after warm-up" (the end exceeds the post-warm-up
value by more than 10 % of RSS or 20 fds), and with ``--write`` appends it
to the "Soak" section of docs/reliability.md.

Everything started is bounded in time and ended in a finally block, by PID.

    python bench/soak.py                      # 30 minutes, 2 minutes of warm-up
    python bench/soak.py --minutes 3          # a short check (warm-up 20 s)
    python bench/soak.py --write              # append the table to docs/reliability.md
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELIABILITY = os.path.join(REPO, "docs", "reliability.md")
SAMPLE_EVERY = 10.0
KICK_EVERY = 60.0
RELOAD_EVERY = 120.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_stream(directory: str, seconds: int = 10) -> str:
    """A small test stream: H.264 320x180 ~300 kbps + AAC 64 kbps, 2 s GOP, as FLV."""
    path = os.path.join(directory, "soak.flv")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "300k",
            "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "64k", "-f", "flv", path,
        ],
        check=True, timeout=120,
    )  # fmt: skip
    return path


# -- the hook server -----------------------------------------------------------


class _HookHandler(http.server.BaseHTTPRequestHandler):
    """Answers every hook ``0``; HTTP/1.0, so each connection carries one answer."""

    protocol_version = "HTTP/1.0"
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 65536))
        try:
            action = str(json.loads(body).get("action", "?"))
        except ValueError:
            action = "unparsable"
        with self.lock:
            self.counts[action] = self.counts.get(action, 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"0")

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


def start_hooks() -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    """The hook server, serving in a daemon thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    return server, thread


# -- the server ----------------------------------------------------------------


@dataclass
class Ports:
    """The server's listeners and the hook server's port."""

    rtmp: int
    http: int
    api: int
    hooks: int


def write_config(directory: str, ports: Ports, hls_fragment: int) -> str:
    """The soak config; rewritten with another ``hls_fragment`` before each SIGHUP."""
    hook = f"http://127.0.0.1:{ports.hooks}/api/v1"
    html = os.path.join(directory, "html")
    os.makedirs(html, exist_ok=True)
    path = os.path.join(directory, "soak.conf")
    text = f"""
listen 127.0.0.1:{ports.rtmp};
max_connections 3000;
daemon off;
srs_log_tank file;
srs_log_file {directory}/srs.log;
srs_log_level warn;
pid {directory}/srs.pid;
http_api {{ enabled on; listen 127.0.0.1:{ports.api}; }}
http_server {{ enabled on; listen 127.0.0.1:{ports.http}; dir {html}; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    hls {{ enabled on; hls_path {html}; hls_fragment {hls_fragment}; hls_window 30; }}
    http_hooks {{
        enabled on;
        on_connect {hook}/clients;
        on_close {hook}/clients;
        on_publish {hook}/streams;
        on_unpublish {hook}/streams;
        on_play {hook}/sessions;
        on_stop {hook}/sessions;
        on_hls {hook}/hls;
    }}
}}
"""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until something accepts on ``port``; raise if the server exits or the time is up."""
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


def start_server(directory: str, conf: str, ports: Ports) -> subprocess.Popen[bytes]:
    """``twistd -n srs -c CONF`` from the working tree."""
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
         "-n", "srs", "-c", conf],
        cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for port in (ports.rtmp, ports.http, ports.api):
        wait_port(port, process)
    return process


def rss_kb(pid: int) -> int:
    """The process's resident set, kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    """The process's open file descriptors."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- the churn -------------------------------------------------------------------


def stop(process: subprocess.Popen[bytes], grace: float = 5) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; only this process, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Publisher:
    """One stream's ffmpeg, restarted every 30-90 s."""

    stream: str
    process: subprocess.Popen[bytes] | None = None
    restart_at: float = 0.0


@dataclass
class Burst:
    """One srs-bench run: ``clients`` players for a bounded time."""

    process: subprocess.Popen[bytes]
    clients: int
    deadline: float


@dataclass
class Counters:
    """What the churn did, for the report."""

    publishes: int = 0
    bursts: int = 0
    players: int = 0
    kicks: int = 0
    reloads: int = 0
    stalled: int = 0
    garbage: int = 0
    api_errors: int = 0


@dataclass
class Soak:
    """The churn's state; :meth:`tick` does whatever is due."""

    ports: Ports
    flv: str
    directory: str
    server: subprocess.Popen[bytes]
    max_players: int
    rng: random.Random
    publishers: list[Publisher] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    stalled: list[tuple[socket.socket, float]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    hls_fragment: int = 5
    next_burst: float = 0.0
    next_kick: float = 0.0
    next_reload: float = 0.0
    next_garbage: float = 0.0

    def rtmp_url(self, stream: str) -> str:
        return f"rtmp://127.0.0.1:{self.ports.rtmp}/live/{stream}"

    def start_publisher(self, publisher: Publisher, now: float) -> None:
        publisher.process = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "quiet", "-re", "-stream_loop", "-1",
             "-i", self.flv, "-c", "copy", "-f", "flv", self.rtmp_url(publisher.stream)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        publisher.restart_at = now + self.rng.uniform(30, 90)
        self.counters.publishes += 1

    def players(self) -> int:
        return sum(b.clients for b in self.bursts)

    def start_burst(self, now: float) -> None:
        room = self.max_players - self.players()
        if room < 5 or not self.publishers:
            return
        clients = self.rng.randint(5, min(40, room))
        duration = self.rng.randint(5, 30)
        stream = self.rng.choice(self.publishers).stream
        if self.rng.random() < 0.5:
            mode, url = "rtmp-play", self.rtmp_url(stream)
        else:
            mode, url = "http-flv-play", f"http://127.0.0.1:{self.ports.http}/live/{stream}.flv"
        command = [
            sys.executable, "-m", "srstwist.tools.bench", mode, url, "-n", str(clients),
            "-r", "20", "-d", str(duration), "--sample", "3", "--timeout", "10",
        ]
        if mode == "rtmp-play" and self.rng.random() < 0.3:
            command += ["--stall", "2"]
        process = subprocess.Popen(
            command, env=dict(os.environ, PYTHONPATH=REPO),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # srs-bench's own bound: ramp + hold + its phase timeouts.
        self.bursts.append(Burst(process, clients, now + clients / 20 + duration + 40))
        self.counters.bursts += 1
        self.counters.players += clients

    def reap_bursts(self, now: float) -> None:
        for burst in list(self.bursts):
            if burst.process.poll() is not None:
                self.bursts.remove(burst)
            elif now > burst.deadline:
                stop(burst.process)
                self.bursts.remove(burst)

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports.api}{path}", method=method
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def kick(self) -> None:
        try:
            listing = self.api("GET", "/api/v1/clients")
            clients = listing.get("clients", []) if isinstance(listing, dict) else []
            for client in self.rng.sample(clients, min(3, len(clients))):
                self.api("DELETE", f"/api/v1/clients/{client['id']}")
                self.counters.kicks += 1
        except (OSError, ValueError, KeyError):
            self.counters.api_errors += 1

    def reload(self, conf: str) -> None:
        self.hls_fragment = 4 if self.hls_fragment == 5 else 5
        write_config(self.directory, self.ports, self.hls_fragment)
        os.kill(self.server.pid, signal.SIGHUP)
        self.counters.reloads += 1

    def misbehave(self, now: float) -> None:
        """A stalled HTTP-FLV reader, garbage on every port, an idle connection."""
        stream = self.rng.choice(self.publishers).stream
        try:
            s = socket.create_connection(("127.0.0.1", self.ports.http), timeout=2)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET /live/{stream}.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            self.stalled.append((s, now + self.rng.uniform(20, 60)))
            self.counters.stalled += 1
        except OSError:
            pass
        for port in (self.ports.rtmp, self.ports.http, self.ports.api):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(self.rng.randbytes(self.rng.randint(1, 4000)))
                self.counters.garbage += 1
            except OSError:
                pass
        try:
            s = socket.create_connection(("127.0.0.1", self.ports.rtmp), timeout=2)
            self.stalled.append((s, now + self.rng.uniform(5, 40)))
        except OSError:
            pass

    def drop_stalled(self, now: float, everything: bool = False) -> None:
        keep = []
        for s, until in self.stalled:
            if everything or now > until:
                s.close()
            else:
                keep.append((s, until))
        self.stalled = keep

    def tick(self, now: float, conf: str) -> None:
        for publisher in self.publishers:
            if publisher.process is None or now >= publisher.restart_at:
                if publisher.process is not None:
                    stop(publisher.process)
                self.start_publisher(publisher, now)
        self.reap_bursts(now)
        if now >= self.next_burst:
            self.start_burst(now)
            self.next_burst = now + self.rng.uniform(1, 4)
        if now >= self.next_kick:
            self.kick()
            self.next_kick = now + KICK_EVERY
        if now >= self.next_reload:
            self.reload(conf)
            self.next_reload = now + RELOAD_EVERY
        if now >= self.next_garbage:
            self.misbehave(now)
            self.next_garbage = now + self.rng.uniform(3, 10)
        self.drop_stalled(now)

    def stop_all(self) -> None:
        self.drop_stalled(0, everything=True)
        for burst in self.bursts:
            stop(burst.process)
        self.bursts.clear()
        for publisher in self.publishers:
            if publisher.process is not None:
                stop(publisher.process)
            publisher.process = None


# -- the report --------------------------------------------------------------------


@dataclass
class Sample:
    """One reading of the server."""

    at: float
    rss_kb: int
    fds: int


def report(
    samples: list[Sample], start: Sample, end: Sample, command: str,
    counters: Counters, hooks: dict[str, int], alive: bool,
) -> str:  # fmt: skip
    """The Markdown table, the command, the date, the counts and the verdict."""
    peak_rss = max(s.rss_kb for s in samples)
    peak_fds = max(s.fds for s in samples)
    loaded = samples[-1]
    grew = end.rss_kb > start.rss_kb * 1.10 or end.fds > start.fds + 20
    lines = [
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M %Z')}, {len(samples)} samples "
        f"every {SAMPLE_EVERY:.0f} s.",
        "",
        "| | at (s) | RSS (MiB) | open fds |",
        "|---|---|---|---|",
        f"| start: after warm-up, clients stopped | {start.at:.0f} | "
        f"{start.rss_kb / 1024:.1f} | {start.fds} |",
        f"| end: clients stopped | {end.at:.0f} | {end.rss_kb / 1024:.1f} | {end.fds} |",
        f"| peak under load | | {peak_rss / 1024:.1f} | {peak_fds} |",
        f"| last sample under load | {loaded.at:.0f} | {loaded.rss_kb / 1024:.1f} | "
        f"{loaded.fds} |",
    ]
    c = counters
    hook_text = ", ".join(f"{k} {v}" for k, v in sorted(hooks.items())) or "none"
    lines += [
        "",
        f"Churn: {c.publishes} publishes, {c.bursts} player bursts ({c.players} players), "
        f"{c.kicks} kicks, {c.reloads} reloads, {c.stalled} stalled readers, "
        f"{c.garbage} garbage connections, {c.api_errors} API errors; "
        f"hooks answered: {hook_text}.",
        "",
        f"Server {'alive' if alive else 'DEAD'} at the end. "
        f"**Grew after warm-up: {'yes' if grew else 'no'}** (grew: the end exceeds the "
        "post-warm-up value by more than 10 % of RSS or 20 fds).",
    ]
    return "\n".join(lines) + "\n"


def append_report(text: str) -> None:
    """Append under the "Soak" section of docs/reliability.md, creating either."""
    existing = ""
    if os.path.exists(RELIABILITY):
        with open(RELIABILITY) as f:
            existing = f.read()
    with open(RELIABILITY, "a") as f:
        if not existing:
            f.write("# Reliability\n")
        if "\n## Soak\n" not in "\n" + existing:
            f.write("\n## Soak\n\n`bench/soak.py`: see its docstring for what it does.\n")
        f.write("\n" + text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--warmup", type=float, default=None,
        help="minutes before the reference sample (default: minutes/15, at most 2, "
        "at least 1/3)",
    )  # fmt: skip
    parser.add_argument("--players", type=int, default=200, help="players at most at once")
    parser.add_argument("--streams", type=int, default=3, choices=(2, 3))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="append to docs/reliability.md")
    args = parser.parse_args()
    warmup_min = args.warmup if args.warmup is not None else min(2.0, max(args.minutes / 15, 1 / 3))
    duration, warmup = args.minutes * 60, warmup_min * 60
    command = "python bench/soak.py " + shlex.join(sys.argv[1:])
    rng = random.Random(args.seed)

    directory = tempfile.mkdtemp(prefix="srstwist-soak-")
    hooks, hook_thread = start_hooks()
    _HookHandler.counts = {}
    ports = Ports(free_port(), free_port(), free_port(), hooks.server_address[1])
    server: subprocess.Popen[bytes] | None = None
    soak: Soak | None = None
    samples: list[Sample] = []
    start: Sample | None = None
    end: Sample | None = None
    alive = False
    try:
        flv = make_stream(directory)
        conf = write_config(directory, ports, 5)
        server = start_server(directory, conf, ports)
        t0 = time.monotonic()
        soak = Soak(ports, flv, directory, server, args.players, rng)
        soak.publishers = [Publisher(f"soak{i}") for i in range(args.streams)]
        soak.next_kick = t0 + KICK_EVERY / 2
        soak.next_reload = t0 + RELOAD_EVERY / 2
        next_sample = t0

        def quiet_sample() -> Sample | None:
            assert soak is not None and server is not None
            soak.stop_all()
            time.sleep(5)
            if server.poll() is not None:
                return None
            return Sample(time.monotonic() - t0, rss_kb(server.pid), fd_count(server.pid))

        while True:
            now = time.monotonic()
            if server.poll() is not None:
                print(f"server exited with {server.returncode}", file=sys.stderr)
                break
            if now >= next_sample:
                samples.append(Sample(now - t0, rss_kb(server.pid), fd_count(server.pid)))
                s = samples[-1]
                print(f"{s.at:6.0f} s  RSS {s.rss_kb / 1024:7.1f} MiB  fds {s.fds:5d}  "
                      f"players {soak.players():4d}", flush=True)  # fmt: skip
                next_sample += SAMPLE_EVERY
            if now - t0 >= duration:
                break
            if start is None and now - t0 >= warmup:
                start = quiet_sample()
                print(f"post-warm-up reference: {start}", flush=True)
                continue
            soak.tick(now, conf)
            time.sleep(0.2)
        end = quiet_sample()
        alive = end is not None
    finally:
        if soak is not None:
            soak.stop_all()
        if server is not None:
            stop(server, grace=10)
        hooks.shutdown()
        hooks.server_close()
        hook_thread.join(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)
    if not samples or start is None or end is None or soak is None:
        print("the server died or the run was too short for a verdict", file=sys.stderr)
        return 1
    text = report(samples, start, end, command, soak.counters, dict(_HookHandler.counts), alive)
    print()
    print(text)
    if args.write:
        append_report(text)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
