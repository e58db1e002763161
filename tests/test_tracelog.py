"""
Tests for :mod:`srstwist.tracelog`: SRS's line format, cids and the observer.
"""

from __future__ import annotations

import errno
import io
import os
import re

from twisted.logger import Logger, LogLevel, LogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from srstwist.tracelog import (
    MAX_LINE_BYTES,
    SrsLogObserver,
    format_srs_event,
    next_cid,
)

# 2026-11-26 10:34:57.123 UTC
_T = 1795689297.123

_HEADER = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]\[(\w+)\]\[(\d+)\]\[(\d+)\]")


def _event(level: LogLevel = LogLevel.info, **extra: object) -> dict[str, object]:
    event: dict[str, object] = {
        "log_level": level,
        "log_time": _T,
        "log_format": "RTMP client ip={ip}",
        "ip": "192.0.2.10",
    }
    event.update(extra)
    return event


class _Connection:
    """Stands in for a connection-scoped object that logs."""

    log = Logger()

    def __init__(self, cid: int) -> None:
        self.cid = cid


class FormatTests(SynchronousTestCase):
    """Lines have SRS 2.0's shape (``SrsFastLog`` in ``srs_app_log.cpp``)."""

    def test_trace_line(self) -> None:
        """An info event prints as a trace line without an errno field."""
        line = format_srs_event(_event(cid=107), pid=4242, utc=True)
        self.assertEqual(
            line, "[2026-11-26 10:34:57.123][trace][4242][107] RTMP client ip=192.0.2.10\n"
        )

    def test_levels(self) -> None:
        """Twisted levels print with SRS's labels."""
        labels = {
            LogLevel.debug: "debug",
            LogLevel.info: "trace",
            LogLevel.warn: "warn",
            LogLevel.error: "error",
            LogLevel.critical: "error",
        }
        for level, label in labels.items():
            line = format_srs_event(_event(level), pid=1, utc=True)
            self.assertEqual(_HEADER.match(line).group(2), label)  # type: ignore[union-attr]

    def test_warn_has_errno(self) -> None:
        """A warn line carries the errno field, 0 when there is none."""
        line = format_srs_event(_event(LogLevel.warn, cid=5), pid=9, utc=True)
        self.assertTrue(line.startswith("[2026-11-26 10:34:57.123][warn][9][5][0] RTMP"))

    def test_error_with_errno(self) -> None:
        """An error line with an errno appends the system message, as SRS does."""
        line = format_srs_event(
            _event(LogLevel.error, cid=109, errno=errno.ECONNREFUSED), pid=9, utc=True
        )
        self.assertIn(f"[error][9][109][{errno.ECONNREFUSED}] RTMP client", line)
        self.assertIn(os.strerror(errno.ECONNREFUSED), line)

    def test_errno_from_failure(self) -> None:
        """The errno of a logged failure's exception is used when none is given."""
        failure = Failure(OSError(errno.EPIPE, "Broken pipe"))
        line = format_srs_event(_event(LogLevel.critical, log_failure=failure), pid=1, utc=True)
        self.assertIn(f"[{errno.EPIPE}]", line.splitlines()[0])
        self.assertIn("Traceback", line)

    def test_cid_from_log_source(self) -> None:
        """Without a cid key, the cid of the event's source object is used."""
        line = format_srs_event(_event(log_source=_Connection(321)), pid=1, utc=True)
        self.assertEqual(_HEADER.match(line).group(4), "321")  # type: ignore[union-attr]

    def test_default_cid(self) -> None:
        """Lines that belong to no connection carry the server's main cid."""
        line = format_srs_event(_event(), pid=1, default_cid=100, utc=True)
        self.assertEqual(_HEADER.match(line).group(4), "100")  # type: ignore[union-attr]

    def test_line_is_cut(self) -> None:
        """A line never exceeds SRS's 4096-byte limit."""
        line = format_srs_event(_event(ip="x" * 10000), pid=1, utc=True)
        self.assertLessEqual(len(line.encode()), MAX_LINE_BYTES)
        self.assertTrue(line.endswith("\n"))

    def test_console_colours(self) -> None:
        """On the console, warn lines are yellow and error lines red, newline inside."""
        warn = format_srs_event(_event(LogLevel.warn), pid=1, utc=True, color=True)
        error = format_srs_event(_event(LogLevel.error), pid=1, utc=True, color=True)
        trace = format_srs_event(_event(), pid=1, utc=True, color=True)
        self.assertTrue(warn.startswith("\x1b[33m") and warn.endswith("\n\x1b[0m"))
        self.assertTrue(error.startswith("\x1b[31m") and error.endswith("\n\x1b[0m"))
        self.assertNotIn("\x1b", trace)

    def test_local_time(self) -> None:
        """Without utc_time the timestamp is local time."""
        import time

        line = format_srs_event(_event(), pid=1)
        expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(_T))
        self.assertTrue(line.startswith(f"[{expected}.123]"))


class CidTests(SynchronousTestCase):
    """The cid counter is process-wide and starts at 100."""

    def test_increasing(self) -> None:
        """Each allocation is larger than the last and at least 100."""
        first, second = next_cid(), next_cid()
        self.assertGreaterEqual(first, 100)
        self.assertEqual(second, first + 1)


class ObserverTests(SynchronousTestCase):
    """:class:`SrsLogObserver` writes to the console or a file above a level."""

    def setUp(self) -> None:
        self.console = io.StringIO()
        self.observer = SrsLogObserver(console=self.console)
        self.publisher = LogPublisher(self.observer)
        self.log = Logger(observer=self.publisher)

    def test_console_by_default(self) -> None:
        """Before configuration, trace lines go to the console."""
        self.log.info("hello {who}", who="world", cid=7)
        self.assertRegex(self.console.getvalue(), r"\]\[trace\]\[\d+\]\[7\] hello world\n$")

    def test_level_filter(self) -> None:
        """srs_log_level warn hides trace lines and shows warnings."""
        self.observer.configure("console", "warn", "unused.log", utc=False)
        self.log.info("hidden")
        self.log.warn("shown")
        self.assertNotIn("hidden", self.console.getvalue())
        self.assertIn("shown", self.console.getvalue())

    def test_file_tank(self) -> None:
        """srs_log_tank file appends plain (uncoloured) lines to srs_log_file."""
        path = os.path.join(self.mktemp(), "objs", "srs.log")
        self.observer.configure("file", "trace", path, utc=True)
        self.log.warn("to the file")
        self.observer.reset()
        with open(path) as f:
            content = f.read()
        self.assertRegex(content, r"^\[[^\]]+\]\[warn\]\[\d+\]\[\d+\]\[0\] to the file\n$")
        self.assertEqual(self.console.getvalue(), "")

    def test_bad_file_keeps_old_target(self) -> None:
        """A log file that cannot be opened raises and leaves the console in use."""
        blocker = self.mktemp()
        open(blocker, "w").close()
        with self.assertRaises(OSError):
            self.observer.configure("file", "trace", os.path.join(blocker, "x.log"), utc=False)
        self.log.info("still here")
        self.assertIn("still here", self.console.getvalue())
