# -*- test-case-name: tests.test_tracelog -*-
"""
SRS's traceable log on top of twisted.logger.

Every line has SRS 2.0's shape (``SrsFastLog`` in ``srs_app_log.cpp``)::

    [2026-11-26 10:34:57.123][trace][4242][107] RTMP client ip=192.0.2.10
    [2026-11-26 10:34:58.002][warn][4242][107][104] client disconnect peer

The last bracket before the message is the connection id (cid): one
process-wide counter starting at 100
(``SrsThreadContext::generate_id``).  Every connection-scoped object takes a
cid from :func:`next_cid` and logs through a class-level ``log = Logger()``;
the formatter reads ``event["cid"]``, else the ``cid`` attribute of the
event's ``log_source``, else the server's main cid.  So
``grep '\\[107\\]'`` follows one client through the whole log.

Levels map from Twisted's to SRS's labels: debug is SRS's *info* level
(labelled ``debug``), info is SRS's *trace*, warn and error are the same, and
critical (used by ``log.failure``) prints as ``error``.  Warn and error lines
carry an errno field, taken from the event's ``errno`` key or its failure's
exception, 0 otherwise.

:class:`SrsLogObserver` is the one observer of the process.  Under twistd it is
installed as twistd's own observer (see :func:`twistd_observer`), so even
Twisted's lines come out in SRS format; :class:`srstwist.services.log.LogService`
points it at the console or a file as the config says.
"""

from __future__ import annotations

import errno as errno_module
import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent
from zope.interface import implementer

__all__ = [
    "next_cid",
    "format_srs_event",
    "SrsLogObserver",
    "twistd_observer",
    "LEVELS",
    "MAX_LINE_BYTES",
]

_cids = itertools.count(100)


def next_cid() -> int:
    """Allocate the next connection/context id (process-wide, from 100)."""
    return next(_cids)


#: SRS level names (``srs_log_level``) to the lowest Twisted level shown.
LEVELS: dict[str, LogLevel] = {
    "verbose": LogLevel.debug,
    "info": LogLevel.debug,
    "trace": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}

_LABELS = {
    LogLevel.debug: "debug",
    LogLevel.info: "trace",
    LogLevel.warn: "warn",
    LogLevel.error: "error",
    LogLevel.critical: "error",
}

#: SRS cuts a line (header, message and newline) at 4096 bytes.
MAX_LINE_BYTES = 4096

_YELLOW = "\x1b[33m"
_RED = "\x1b[31m"
_RESET = "\x1b[0m"


def _timestamp(seconds: float, utc: bool) -> str:
    whole, millis = divmod(round(seconds * 1000), 1000)
    parts = time.gmtime(whole) if utc else time.localtime(whole)
    return time.strftime("%Y-%m-%d %H:%M:%S", parts) + f".{millis:03d}"


def _event_cid(event: LogEvent, default_cid: int) -> int:
    cid = event.get("cid")
    if cid is None:
        cid = getattr(event.get("log_source"), "cid", None)
    return default_cid if cid is None else cid


def _event_errno(event: LogEvent) -> int:
    number = event.get("errno")
    if number is None:
        failure = event.get("log_failure")
        number = getattr(getattr(failure, "value", None), "errno", None)
    return number if isinstance(number, int) else 0


def format_srs_event(
    event: LogEvent,
    *,
    pid: int | None = None,
    default_cid: int = 0,
    utc: bool = False,
    color: bool = False,
) -> str:
    """
    Render one log event as an SRS log line (with its trailing newline).

    :param pid: the pid to print; defaults to the current process's.
    :param default_cid: the cid of lines that belong to no connection.
    :param utc: print UTC instead of local time (``utc_time on``).
    :param color: wrap warn lines in yellow and error lines in red, as SRS
        does on the console.
    """
    level = event.get("log_level", LogLevel.info)
    label = _LABELS.get(level, "trace")
    header = (
        f"[{_timestamp(event.get('log_time') or time.time(), utc)}][{label}]"
        f"[{os.getpid() if pid is None else pid}][{_event_cid(event, default_cid)}]"
    )
    message = formatEvent(event)
    if label in ("warn", "error"):
        number = _event_errno(event)
        header += f"[{number}]"
        if label == "error" and number:
            message += f"({errno_module.errorcode.get(number, number)}: {os.strerror(number)})"
    failure = event.get("log_failure")
    traceback = ""
    if failure is not None:
        try:
            traceback = "\n" + failure.getTraceback().rstrip("\n")
        except Exception:  # a broken failure must not break logging
            traceback = f"\n{failure!r}"
    line = f"{header} {message}"
    encoded = line.encode("utf-8", "replace")
    if len(encoded) > MAX_LINE_BYTES - 1:
        line = encoded[: MAX_LINE_BYTES - 1].decode("utf-8", "ignore")
    line += traceback
    if color and label == "warn":
        return f"{_YELLOW}{line}\n{_RESET}"
    if color and label == "error":
        return f"{_RED}{line}\n{_RESET}"
    return line + "\n"


@implementer(ILogObserver)
class SrsLogObserver:
    """
    Writes events as SRS lines to the console or a file, above a level.

    It starts on the console at the ``trace`` level, which is what a user
    sees before the config is read; :meth:`configure` retargets it.
    """

    def __init__(
        self,
        console: IO[str] | None = None,
        opener: Callable[[str], IO[str]] | None = None,
    ) -> None:
        self._console = console
        self._opener = opener or _open_append
        self._file: IO[str] | None = None
        self._file_path: str | None = None
        self._tank = "console"
        self._minimum = LevelFilter(LogLevel.info)
        self.utc = False
        self.default_cid = 0
        #: True once the observer is registered with a log publisher (by
        #: twistd through :func:`twistd_observer`, or by the LogService).
        self.installed = False

    @property
    def tank(self) -> str:
        return self._tank

    def configure(self, tank: str, level: str, path: str, utc: bool) -> None:
        """
        Point the log at ``tank`` (``console`` or ``file`` at ``path``) and show
        lines at ``level`` and above.

        :raises OSError: when the log file cannot be opened; the previous
            target is kept.
        """
        if tank == "file":
            if self._file is None or self._file_path != path:
                new_file = self._opener(path)
                self._close_file()
                self._file, self._file_path = new_file, path
        else:
            self._close_file()
        self._tank = tank
        self._minimum = LevelFilter(LEVELS[level])
        self.utc = utc

    def reset(self) -> None:
        """Back to the console at trace level; closes any log file."""
        self._close_file()
        self._tank = "console"
        self._minimum = LevelFilter(LogLevel.info)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._file_path = None

    def __call__(self, event: LogEvent) -> None:
        if not self._minimum.shows(event):
            return
        to_file = self._file is not None and self._tank == "file"
        # twistd points sys.stdout into the log system itself; write to the real one.
        out = self._file if to_file else (self._console or sys.__stdout__)
        assert out is not None
        text = format_srs_event(
            event,
            default_cid=self.default_cid,
            utc=self.utc,
            color=not to_file,
        )
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError):
            # A log that cannot be written must not take the server down.
            pass


class LevelFilter:
    """Shows events at or above one Twisted level."""

    def __init__(self, minimum: LogLevel) -> None:
        self.minimum = minimum
        self._order = list(LogLevel.iterconstants())

    def shows(self, event: LogEvent) -> bool:
        level = event.get("log_level", LogLevel.info)
        return bool(self._order.index(level) >= self._order.index(self.minimum))


def _open_append(path: str) -> IO[str]:
    """Open a log file as SRS does: create with 0664, append, line buffered."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o664)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")


#: The process's observer; twistd installs it through :func:`twistd_observer`.
PROCESS_OBSERVER = SrsLogObserver()


def twistd_observer() -> Any:
    """
    The log observer factory handed to twistd's ``--logger`` by our plugin.

    twistd calls it once at start and begins logging to the result, so the
    whole process logs in SRS format from the first line.
    """
    PROCESS_OBSERVER.installed = True
    return PROCESS_OBSERVER
