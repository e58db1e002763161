# -*- test-case-name: tests.test_services_ffmpeg -*-
"""
ffmpeg children for ``ingest`` and ``transcode``, supervised.

SRS 2.0 forks ffmpeg from a polling thread (``srs_app_ffmpeg.cpp``
``SrsFFMPEG::start``/``cycle``): every 3 s it ``waitpid``\\ s and forks again
whatever the reason the child died.  Here every child is a Twisted
``ProcessProtocol``; the reactor reaps it the moment it exits (no zombie,
no polling) and :class:`SupervisedFfmpeg` decides what happens next:

* an exit it did not ask for is logged with the exit status and the last
  lines of the child's log, then the child is started again after the
  :class:`~srstwist.media.ffmpeg_argv.RestartPolicy` delay (1 s doubling to
  30 s; back to 1 s after a minute of uptime);
* stopping sends SIGTERM, then SIGKILL after :data:`KILL_AFTER` seconds
  (SRS's ``srs_kill_forced`` does the same, with a shorter wait);
* a binary that is not there (or a log file that cannot be opened) is one
  error line at start, not a restart loop;
* if the server dies, even by SIGKILL, its children die with it: each one
  is started through :data:`LAUNCHER`, a few lines of Python that ask Linux
  for ``PR_SET_PDEATHSIG`` (SIGKILL when the parent goes) and then exec
  ffmpeg.  Twisted's ``spawnProcess`` has no pre-exec hook, hence the
  launcher; its cost is one interpreter start per ffmpeg start.

:class:`IngestService` keeps the ingests of the config running
(``srs_app_ingest.cpp``, ``SrsIngester``); :class:`TranscodeService` is a
publish observer that runs a stream's transcodes while it is published
(``srs_app_encoder.cpp``, ``SrsEncoder``).  Both take ``reconfigure``: a
reload restarts only the children whose command line changed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable
from typing import Any

from twisted.application import service
from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.codec.rtmp_url import parse_tc_url
from srstwist.config.model import ServerConfig
from srstwist.interfaces import IPublishObserver
from srstwist.media.ffmpeg_argv import (
    NULL_LOG,
    EngineError,
    FfmpegJob,
    RestartPolicy,
    ingest_jobs,
    stream_of_url,
    transcode_jobs,
)
from srstwist.tracelog import next_cid

__all__ = [
    "KILL_AFTER",
    "LAUNCHER",
    "FfmpegService",
    "IngestService",
    "SupervisedFfmpeg",
    "TranscodeService",
    "find_binary",
    "launcher_argv",
]

#: Seconds between SIGTERM and SIGKILL when a child is stopped.
KILL_AFTER = 5.0

#: What runs first in each child: ``PR_SET_PDEATHSIG`` (1) with SIGKILL, so
#: the kernel kills the child when the server's thread that forked it dies,
#: however it dies; then a check that the server did not die before the
#: prctl took hold; then exec.  ``sys.argv`` is ``-c parent_pid file argv...``.
LAUNCHER = (
    "import ctypes,os,signal,sys\n"
    "try:\n"
    " ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGKILL,0,0,0)\n"
    "except (AttributeError,OSError):\n"
    " pass\n"
    "if os.getppid()!=int(sys.argv[1]):\n"
    " os._exit(1)\n"
    "os.execvp(sys.argv[2],sys.argv[3:])\n"
)

#: How much of a child's log is read for the restart line.
_TAIL_BYTES = 4096
_TAIL_LINES = 3


def launcher_argv(path: str, argv: Iterable[str], parent_pid: int) -> list[str]:
    """The command that runs ``argv`` (found at ``path``) under :data:`LAUNCHER`."""
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(parent_pid), path, *argv]


def find_binary(binary: str) -> str | None:
    """
    The file ``binary`` names, if it is an executable: a path with a ``/``
    as given (relative to the working directory, as SRS's ``execv``), a bare
    name on ``PATH``.
    """
    if "/" in binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return shutil.which(binary)


def _status(reason: Failure) -> str:
    """``exit code 1`` or ``signal 9``, as a child's end is logged."""
    value = reason.value
    sig = getattr(value, "signal", None)
    if sig is not None:
        return f"signal {sig}"
    return f"exit code {getattr(value, 'exitCode', None)}"


def _tail(path: str) -> str:
    """The last lines of a child's log (ffmpeg's progress lines end in ``\\r``)."""
    if path == NULL_LOG:
        return "(no log: ff_log_dir is /dev/null)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(log unreadable: {e})"
    lines = [line.strip() for line in data.replace("\r", "\n").split("\n") if line.strip()]
    return " | ".join(lines[-_TAIL_LINES:]) or "(log empty)"


class _Child(ProcessProtocol):
    """One run of a child; tells its owner when it ended (once reaped)."""

    def __init__(self, owner: SupervisedFfmpeg) -> None:
        self.owner = owner

    def processEnded(self, reason: Failure) -> None:
        self.owner._ended(self, reason)


class SupervisedFfmpeg:
    """
    One ffmpeg that is kept running until :meth:`stop`.

    :ivar state: ``stopped``, ``running``, ``waiting`` (to restart),
        ``stopping`` or ``failed`` (cannot start; see the error line).
    :ivar restarts: how many times it was started again after an exit.
    """

    log = Logger()

    def __init__(
        self,
        job: FfmpegJob,
        reactor: Any,
        *,
        spawn: Callable[..., Any] | None = None,
        policy: RestartPolicy = RestartPolicy(),
        kill_after: float = KILL_AFTER,
        which: Callable[[str], str | None] = find_binary,
    ) -> None:
        self.job = job
        self.cid = next_cid()
        self.state = "stopped"
        self.restarts = 0
        self.pid: int | None = None
        self.started_at = 0.0
        self._reactor = reactor
        self._spawn = spawn or reactor.spawnProcess
        self._policy = policy
        self._kill_after = kill_after
        self._which = which
        self._quick_exits = 0
        self._child: _Child | None = None
        self._transport: Any = None
        self._restart_call: Any = None
        self._kill_call: Any = None
        self._stopped: list[defer.Deferred[None]] = []

    @property
    def label(self) -> str:
        """``ingest __defaultVhost__/livestream`` or ``transcode __defaultVhost__/live/s engine sd``."""
        job = self.job
        engine = f" engine {job.engine}" if job.engine else ""
        return f"{job.kind} {job.vhost}/{job.name}{engine}"

    def start(self) -> None:
        """Start the child (once; :meth:`stop` first to start again)."""
        if self.state != "stopped":
            return
        self._run()

    def _run(self) -> None:
        self._restart_call = None
        job = self.job
        path = self._which(job.binary)
        if path is None:
            self.state = "failed"
            self.log.error(
                "{label}: ffmpeg binary {binary} not found or not executable; "
                "not started (fix the ffmpeg directive and reload)",
                label=self.label, binary=job.binary,
            )  # fmt: skip
            return
        try:
            log_fd = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o664)
        except OSError as e:
            self.state = "failed"
            self.log.error(
                "{label}: cannot open the ffmpeg log {log}: {error}; not started "
                "(check ff_log_dir)",
                label=self.label, log=job.log, error=e.strerror,
            )  # fmt: skip
            return
        null_fd = os.open(os.devnull, os.O_RDONLY)
        cli = shlex.join(job.argv)
        try:
            if job.log != NULL_LOG:
                # The header SRS writes before exec (SrsFFMPEG::start).
                os.write(log_fd, f"\nffmpeg cid={self.cid}\nlog={job.log}\nparams: {cli}\n".encode())
            child = _Child(self)
            transport = self._spawn(
                child,
                sys.executable,
                launcher_argv(path, job.argv, os.getpid()),
                env=dict(os.environ),
                childFDs={0: null_fd, 1: log_fd, 2: log_fd},
            )
        except OSError as e:
            self.log.error("{label}: spawn failed: {error}", label=self.label, error=e)
            self._schedule_restart(0.0, f"spawn failed: {e}")
            return
        finally:
            os.close(null_fd)
            os.close(log_fd)
        self._child = child
        self._transport = transport
        self.pid = transport.pid
        self.started_at = self._reactor.seconds()
        self.state = "running"
        self.log.info(
            "{label}: started ffmpeg pid={pid}, log={log}, params: {cli}",
            label=self.label, pid=self.pid, log=job.log, cli=cli,
        )  # fmt: skip

    def _ended(self, child: _Child, reason: Failure) -> None:
        if child is not self._child:
            return
        self._child = None
        self._transport = None
        pid, self.pid = self.pid, None
        uptime = self._reactor.seconds() - self.started_at
        if self._kill_call is not None and self._kill_call.active():
            self._kill_call.cancel()
        self._kill_call = None
        if self.state == "stopping":
            self.state = "stopped"
            self.log.info(
                "{label}: ffmpeg pid={pid} stopped ({status})",
                label=self.label, pid=pid, status=_status(reason),
            )  # fmt: skip
            waiters, self._stopped = self._stopped, []
            for d in waiters:
                d.callback(None)
            return
        clean = getattr(reason.value, "exitCode", None) == 0
        self._schedule_restart(uptime, f"ffmpeg pid={pid} exited with {_status(reason)}", clean)

    def _schedule_restart(self, uptime: float, what: str, clean: bool = False) -> None:
        self._quick_exits = self._policy.quick_exits(self._quick_exits, uptime, clean)
        delay = self._policy.delay(self._quick_exits)
        self.state = "waiting"
        self.log.warn(
            "{label}: {what} after {uptime:.1f}s, restart #{count} in {delay:g}s; log {log}: {tail}",
            label=self.label, what=what, uptime=uptime, count=self.restarts + 1, delay=delay,
            log=self.job.log, tail=_tail(self.job.log),
        )  # fmt: skip
        self._restart_call = self._reactor.callLater(delay, self._restart)

    def _restart(self) -> None:
        self.restarts += 1
        self._run()

    def stop(self) -> defer.Deferred[None]:
        """
        Stop for good: SIGTERM, SIGKILL after ``kill_after`` seconds.

        :return: fires once the child is reaped (at once if none runs).
        """
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        self._restart_call = None
        if self.state == "stopping":
            d: defer.Deferred[None] = defer.Deferred()
            self._stopped.append(d)
            return d
        if self.state != "running":
            self.state = "stopped"
            return defer.succeed(None)
        self.state = "stopping"
        d = defer.Deferred()
        self._stopped.append(d)
        self._signal("TERM")
        self._kill_call = self._reactor.callLater(self._kill_after, self._kill)
        return d

    def _kill(self) -> None:
        self._kill_call = None
        self.log.warn(
            "{label}: ffmpeg pid={pid} still running {seconds:g}s after SIGTERM; SIGKILL",
            label=self.label, pid=self.pid, seconds=self._kill_after,
        )  # fmt: skip
        self._signal("KILL")

    def _signal(self, name: str) -> None:
        if self._transport is None:
            return
        try:
            self._transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    def info(self) -> dict[str, Any]:
        """What ``/api/v1/ffmpegs`` lists for this child."""
        job = self.job
        running = self.state in ("running", "stopping")
        return {
            "id": self.cid,
            "kind": job.kind,
            "vhost": job.vhost,
            "name": job.name,
            "engine": job.engine,
            "state": self.state,
            "pid": self.pid,
            "cmdline": shlex.join(job.argv),
            "output": job.output,
            "log": job.log,
            "uptime": round(self._reactor.seconds() - self.started_at, 3) if running else 0,
            "restarts": self.restarts,
        }


class FfmpegService(service.Service):
    """
    The children of one kind, by job key; what :class:`IngestService` and
    :class:`TranscodeService` share.

    :param spawn: ``reactor.spawnProcess`` by default (tests pass a fake).
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        *,
        spawn: Callable[..., Any] | None = None,
        policy: RestartPolicy = RestartPolicy(),
        kill_after: float = KILL_AFTER,
        which: Callable[[str], str | None] = find_binary,
    ) -> None:
        self.reactor = reactor
        self.children: dict[tuple[str | int, ...], SupervisedFfmpeg] = {}
        #: Children being stopped, by key: a new child of that key waits for them.
        self._stopping: dict[tuple[str | int, ...], defer.Deferred[None]] = {}
        self._options: dict[str, Any] = dict(
            spawn=spawn, policy=policy, kill_after=kill_after, which=which
        )

    def processes(self) -> list[dict[str, Any]]:
        """Every child, for the API."""
        return [child.info() for child in self.children.values()]

    def _apply(
        self,
        desired: dict[tuple[str | int, ...], FfmpegJob],
        within: Callable[[tuple[Any, ...]], bool],
    ) -> defer.Deferred[Any]:
        """
        Make the children whose keys pass ``within`` be exactly ``desired``:
        stop the ones gone or changed, start the new ones.  A changed one
        starts once its old process is reaped, so that two never publish
        the same stream.
        """
        stopping = self._stop_where(
            lambda key: within(key) and desired.get(key) != self.children[key].job
        )
        for key, job in desired.items():
            self._start_job(key, job)
        return stopping

    def _start_job(self, key: tuple[Any, ...], job: FfmpegJob) -> None:
        if not self.running or key in self.children:
            return
        child = SupervisedFfmpeg(job, self.reactor, **self._options)
        self.children[key] = child
        previous = self._stopping.get(key)
        if previous is None:
            child.start()
        else:
            previous.addCallback(lambda _: child.start() if self.children.get(key) is child else None)

    def _stop_where(self, within: Callable[[tuple[Any, ...]], bool]) -> defer.Deferred[Any]:
        stopping = []
        for key, child in list(self.children.items()):
            if not within(key):
                continue
            del self.children[key]
            d = child.stop()
            if not d.called:
                self._stopping[key] = d
                d.addBoth(self._stopped, key, d)
            stopping.append(d)
        return defer.DeferredList(stopping)

    def _stopped(self, result: Any, key: tuple[Any, ...], d: defer.Deferred[None]) -> Any:
        if self._stopping.get(key) is d:
            del self._stopping[key]
        return result

    def stopService(self) -> defer.Deferred[Any]:
        service.Service.stopService(self)
        return self._stop_where(lambda key: True)


class IngestService(FfmpegService):
    """
    The ingests of the config, started with the server
    (``SrsIngester::start``) and kept running; a reload restarts only the
    ingests whose command line changed (``on_reload_ingest_*``).
    """

    def __init__(self, config: ServerConfig, reactor: Any, **options: Any) -> None:
        super().__init__(reactor, **options)
        self.setName("ingest")
        self.config = config

    def desired(self, config: ServerConfig) -> dict[tuple[str | int, ...], FfmpegJob]:
        """The children ``config`` asks for; each ingest it refuses is logged."""
        port = config.listen[0].port if config.listen else 1935
        found: dict[tuple[str | int, ...], FfmpegJob] = {}
        for vhost in config.vhosts:
            if not vhost.enabled:
                continue
            for ingest in vhost.ingests:
                try:
                    jobs = ingest_jobs(vhost, ingest, port, config.ff_log_dir)
                except EngineError as e:
                    self.log.error(
                        "ingest {vhost}/{id} ({where}) not started: {error}",
                        vhost=vhost.name, id=ingest.name, where=ingest.where, error=e,
                    )  # fmt: skip
                    continue
                found.update((job.key, job) for job in jobs)
        return found

    def startService(self) -> None:
        super().startService()
        self._apply(self.desired(self.config), lambda key: True)

    def reconfigure(self, config: ServerConfig) -> defer.Deferred[Any]:
        """Apply a reloaded config: only added, removed or changed ingests change."""
        self.config = config
        return self._apply(self.desired(config), lambda key: True)


@implementer(IPublishObserver)
class TranscodeService(FfmpegService):
    """
    Each published stream's transcodes, from its publish to its unpublish
    (``SrsEncoder::on_publish``/``on_unpublish``).  A stream that a running
    transcode publishes is not transcoded again (SRS's loop guard, the
    ``_transcoded_url`` list of ``srs_app_encoder.cpp``).  Register with
    ``hub.observe(service)``.
    """

    def __init__(self, config: ServerConfig, reactor: Any, **options: Any) -> None:
        super().__init__(reactor, **options)
        self.setName("transcode")
        self.config = config
        #: The published streams with transcodes: key -> (port, param).
        self.streams: dict[tuple[str, str, str], tuple[int, str]] = {}

    def _port(self, tc_url: str) -> int:
        """The port the publisher came in on if it is one of ours, else the first."""
        ports = [endpoint.port for endpoint in self.config.listen]
        port = parse_tc_url(tc_url).port_number
        if port in ports:
            return port  # type: ignore[return-value]
        return ports[0] if ports else 1935

    def _outputs(self) -> set[tuple[str, str, str]]:
        """The streams the running transcodes publish, vhosts resolved as a client's are."""
        found = set()
        for child in self.children.values():
            stream = stream_of_url(child.job.output)
            if stream is None:
                continue
            vhost = self.config.vhost(stream[0])
            found.add((vhost.name if vhost is not None else stream[0], stream[1], stream[2]))
        return found

    def _desired(self, key: tuple[str, str, str]) -> dict[tuple[str | int, ...], FfmpegJob]:
        vhost_name, app, stream = key
        vhost = self.config.vhost(vhost_name)
        if vhost is None or not vhost.enabled or key not in self.streams:
            return {}
        port, param = self.streams[key]
        jobs, problems = transcode_jobs(self.config, vhost, app, stream, param, port)
        for problem in problems:
            self.log.error("{url}: not transcoded: {problem}", url="/".join(key), problem=problem)
        return {job.key: job for job in jobs}

    def on_publish(self, source: Any, request: Any) -> None:
        if not self.running:
            return
        key: tuple[str, str, str] = tuple(source.key)  # type: ignore[assignment]
        if key in self._outputs():
            self.log.info(
                "{url} is the output of a transcode; not transcoded again",
                url="/".join(key), cid=getattr(source, "cid", None),
            )  # fmt: skip
            return
        self.streams[key] = (self._port(request.tc_url), request.param)
        desired = self._desired(key)
        if not desired:
            del self.streams[key]
            return
        self._apply(desired, lambda k: tuple(k[:3]) == key)

    def on_unpublish(self, source: Any, request: Any) -> None:
        key = tuple(source.key)
        if self.streams.pop(key, None) is None:  # type: ignore[arg-type]
            return
        self._stop_where(lambda k: tuple(k[:3]) == key)

    def reconfigure(self, config: ServerConfig) -> defer.Deferred[Any]:
        """Apply a reloaded config to the streams being transcoded."""
        self.config = config
        stopping = []
        for key in list(self.streams):
            stopping.append(self._apply(self._desired(key), lambda k, key=key: tuple(k[:3]) == key))
        return defer.DeferredList(stopping)
