"""
Run a child process under the real reactor and wait for lines it prints.
"""

from __future__ import annotations

import json
import os
import re
import signal as _signal
import socket
import sys
import time
from typing import Any

from twisted.internet import defer, protocol, reactor, task
from twisted.python.failure import Failure

__all__ = ["Child", "free_port", "REPO", "srs_command"]

#: The repository root, so children import this checkout's code.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def srs_command(*args: str) -> list[str]:
    """The argv of ``twistd srs ARGS`` run by this interpreter from this checkout."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args]


class Child(protocol.ProcessProtocol):
    """
    A child process whose output is collected and can be waited on.

    ``wait_for(text)`` fires once ``text`` has appeared in the combined output
    (from the point of the call's ``since`` mark); ``ended`` fires with
    ``(exit code, signal)``, one of them None.
    """

    def __init__(self) -> None:
        self.output = ""
        self.ended: defer.Deferred[tuple[int | None, int | None]] = defer.Deferred()
        self._waiters: list[tuple[str, int, defer.Deferred[None]]] = []
        self.transport: Any = None

    @classmethod
    def spawn(cls, argv: list[str], cwd: str, env: dict[str, str] | None = None) -> Child:
        child = cls()
        environment = dict(os.environ)
        environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
        environment.update(env or {})
        reactor.spawnProcess(child, argv[0], argv, env=environment, path=cwd)
        return child

    def mark(self) -> int:
        """A position in the output: wait_for(..., since=mark) looks after it."""
        return len(self.output)

    def wait_for(self, text: str, since: int = 0, timeout: float = 20.0) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append((text, since, d))
        self._check()
        return d.addTimeout(timeout, reactor).addErrback(self._explain, text)

    def _explain(self, failure: Failure, text: str) -> Failure:
        failure.value.args += (f"waiting for {text!r}; output so far:\n{self.output}",)
        return failure

    def _check(self) -> None:
        for waiter in list(self._waiters):
            text, since, d = waiter
            if text in self.output[since:]:
                self._waiters.remove(waiter)
                d.callback(None)

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def signal(self, name: str) -> None:
        self.transport.signalProcess(name)

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(
            (getattr(reason.value, "exitCode", None), getattr(reason.value, "signal", None))
        )

    def kill_if_running(self) -> defer.Deferred[Any]:
        """Cleanup: KILL the child if it is still running, then wait for it."""
        if not self.ended.called:
            try:
                self.transport.signalProcess("KILL")
            except Exception:
                pass
        return self.ended


# -- helpers for the end-to-end RTMP tests ------------------------------------
#
# Added for tests/integration/test_rtmp_*.py; the names above are unchanged.

#: The colours the console log tank puts around warnings and errors.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: ``[date][level][pid][cid]`` at the start of a log line.
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\[(\w+)\]\[(\d+)\]\[(\d+)\]")


def sleep(seconds: float) -> defer.Deferred[None]:
    """A Deferred that fires after ``seconds`` on the real reactor."""
    return task.deferLater(reactor, seconds, lambda: None)


def log_lines(output: str) -> list[str]:
    """The lines of a server's console log, without colour codes."""
    return [line for line in _ANSI.sub("", output).splitlines() if line]


def log_cid(line: str) -> int | None:
    """The cid of one log line, or None if it is not a log line."""
    match = _LOG_PREFIX.match(line)
    return int(match.group(3)) if match else None


def lines_of(output: str, cid: int) -> list[str]:
    """The log lines written under ``cid``."""
    return [line for line in log_lines(output) if log_cid(line) == cid]


class Program(Child):
    """
    An external program (ffmpeg, ffprobe, rtmpdump) run under coreutils'
    ``timeout``, so that it cannot outlive ``limit`` seconds even if this
    test process dies.  ``stdout`` holds its standard output alone (``output``
    still has both streams).  ``stop`` is the cleanup: TERM (which ``timeout``
    forwards to the program), then KILL to the process group ``timeout``
    leads, which holds only the program it started.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stdout = ""

    @classmethod
    def start(cls, argv: list[str], cwd: str, limit: float) -> Program:
        program = cls()
        bounded = ["timeout", "-k", "2", str(limit), *argv]
        reactor.spawnProcess(
            program, "/usr/bin/env", ["env", *bounded], env=dict(os.environ), path=cwd
        )
        return program

    def outReceived(self, data: bytes) -> None:
        self.stdout += data.decode("utf-8", "replace")
        Child.outReceived(self, data)

    def errReceived(self, data: bytes) -> None:
        Child.outReceived(self, data)

    @property
    def pid(self) -> int:
        return int(self.transport.pid)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Cleanup: end the program (and its ``timeout``) if still running."""
        if self.ended.called:
            return (yield self.ended)
        pid = self.pid
        try:
            os.kill(pid, _signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(30):
            if self.ended.called:
                return (yield self.ended)
            yield sleep(0.1)
        try:
            os.killpg(pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        return (yield self.ended)

    def json(self) -> Any:
        """The standard output as JSON (ffprobe -of json)."""
        return json.loads(self.stdout)


def program(testcase: Any, argv: list[str], cwd: str, limit: float = 20) -> Program:
    """Start ``argv`` bounded by ``limit`` seconds; stop it in the test's cleanup."""
    child = Program.start(argv, cwd, limit)
    testcase.addCleanup(child.stop)
    return child


def ffmpeg_publish(
    url: str,
    seconds: float,
    video: bool = True,
    audio: bool = True,
    size: str = "320x240",
    extra: tuple[str, ...] = (),
    audio_codec: str = "aac",
) -> list[str]:
    """The argv of an ffmpeg publishing a generated stream in real time."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
    if video:
        argv += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine"]
    argv += ["-t", str(seconds)]
    if video:
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", *extra]
    if audio:
        argv += ["-c:a", audio_codec]
    return [*argv, "-f", "flv", url]


def ffmpeg_play(url: str, seconds: float, out: str, copyts: bool = False) -> list[str]:
    """
    The argv of an ffmpeg copying ``seconds`` of a stream into ``out`` (FLV);
    with ``copyts``, the copy keeps the server's timestamps.
    """
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        *(["-copyts"] if copyts else []), "-rw_timeout", "5000000", "-i", url, "-t", str(seconds),
        "-c", "copy", "-flush_packets", "1", "-f", "flv", out,
    ]  # fmt: skip


def ffprobe(*args: str) -> list[str]:
    """The argv of a quiet ffprobe writing JSON."""
    return ["ffprobe", "-v", "error", "-rw_timeout", "5000000", "-of", "json", *args]


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def rss_kb(pid: int) -> int:
    """The resident set size of process ``pid``, kB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for {pid}")


class SrsServer:
    """
    ``twistd -n srs`` on a free port in a temporary directory, with a
    given config body (everything but ``listen`` and the log settings).
    """

    def __init__(self, testcase: Any, body: str, top: str = "") -> None:
        self.directory = os.path.abspath(testcase.mktemp())
        os.makedirs(self.directory)
        self.port = free_port()
        with open(os.path.join(self.directory, "srs.conf"), "w") as f:
            f.write(
                f"listen 127.0.0.1:{self.port};\ndaemon off;\nsrs_log_tank console;\n"
                f"pid ./objs/srs.pid;\n{top}{body}"
            )
        self.child = Child.spawn(srs_command("-n", "srs", "-c", "srs.conf"), cwd=self.directory)
        testcase.addCleanup(self.child.kill_if_running)

    def started(self) -> defer.Deferred[None]:
        return self.child.wait_for(f"listen rtmp at tcp:port={self.port}")

    @property
    def pid(self) -> int:
        return int(self.child.transport.pid)

    @property
    def output(self) -> str:
        return self.child.output

    def url(self, path: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/{path}"

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def lines(self, since: int = 0) -> list[str]:
        return log_lines(self.child.output[since:])


def raw_connect(port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> socket.socket:
    """A blocking TCP connection to 127.0.0.1:port (optionally a small receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_peer(s: socket.socket, within: float) -> float | None:
    """
    Read and discard until the peer closes; return the seconds it took, or
    None if it was still open after ``within`` seconds.  (Blocking: run it in
    a thread.)
    """
    start = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - start < within:
        try:
            if not s.recv(65536):
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


class RawPlayer:
    """
    A minimal RTMP player over a blocking socket, built on the sans-IO
    :class:`srstwist.codec.rtmp_client.ClientSession`: it plays until the first
    media message arrives, then reads only when told (blocking: run its
    methods in a thread).
    """

    def __init__(self, port: int, app: str, stream: str, rcvbuf: int | None = None) -> None:
        from srstwist.codec.rtmp_client import ClientSession

        self.port = port
        self.app = app
        self.stream = stream
        self.session = ClientSession(os.urandom, int(time.time()))
        self.socket = raw_connect(port, rcvbuf=rcvbuf)
        self.media_bytes = 0
        self.media_messages = 0
        self.events: list[Any] = []

    def close(self) -> None:
        self.socket.close()

    def _send(self) -> None:
        for piece in self.session.data_to_send():
            self.socket.sendall(piece)

    def _pump(self, until: Any, within: float) -> None:
        from srstwist.codec.rtmp_events import HandshakeCompleted, Media, Result

        deadline = time.monotonic() + within
        self._send()
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"raw player: nothing more after {within}s; events {self.events[-5:]}"
                )
            self.socket.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("raw player: the server closed the connection")
            for event in self.session.receive_data(data):
                if isinstance(event, Media):
                    self.media_messages += 1
                    self.media_bytes += len(event.payload)
                    continue
                self.events.append(event)
                if isinstance(event, HandshakeCompleted):
                    tc_url = f"rtmp://127.0.0.1:{self.port}/{self.app}"
                    self.session.connect(tc_url, self.app.split("?")[0])
                elif isinstance(event, Result) and event.command == "connect":
                    self.session.create_stream()
                elif isinstance(event, Result) and event.command == "createStream":
                    self.session.play(self.stream)
            self._send()

    def play(self, within: float = 10.0) -> None:
        """Handshake, connect, createStream, play, and read the first media message."""
        self._pump(lambda: self.media_messages > 0, within)

    def read_more(self, messages: int, within: float = 10.0) -> None:
        """Read until ``messages`` more media messages have arrived."""
        target = self.media_messages + messages
        self._pump(lambda: self.media_messages >= target, within)


#: How long a publisher may take to connect and publish.
PUBLISH_WAIT = 15.0


class ServerHelpers:
    """
    What end-to-end tests do with their server: a mixin for a TestCase that
    sets ``self.server`` (an :class:`SrsServer`) and, for HTTP, ``self.http_port``.
    """

    server: SrsServer
    http_port: int

    def http(self, path: str) -> str:
        """The URL of ``path`` on the server's HTTP port."""
        return f"http://127.0.0.1:{self.http_port}{path}"

    def publish(self, path: str, seconds: float, **kwargs: Any) -> Program:
        """An ffmpeg publishing ``seconds`` of generated media to ``path``."""
        argv = ffmpeg_publish(self.server.url(path), seconds, **kwargs)
        return program(self, argv, self.server.directory, seconds + 15)

    def start(self, argv: list[str], limit: float = 20) -> Program:
        """A program run in the server's directory, bounded by ``limit`` seconds."""
        return program(self, argv, self.server.directory, limit)

    def wait_publish(self, vhost: str, path: str, since: int = 0) -> defer.Deferred[None]:
        """Fires once the server logged the publish of ``vhost/path``."""
        return self.server.child.wait_for(
            f"] publish {vhost}/{path}, ", since=since, timeout=PUBLISH_WAIT
        )
