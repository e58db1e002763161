# -*- test-case-name: tests.test_tools_cli -*-
"""
What the srs-librtmp console tools share: running a Deferred-returning
body under the reactor with :func:`twisted.internet.task.react`, turning the
failures a user can cause (a bad URL, a server that cannot be reached or
refuses, a broken file, a timeout) into one line on standard error and
exit status 1, stopping cleanly on SIGINT/SIGTERM, and a few argparse
helpers.

Exit statuses: 0 done, 1 failed (one line on stderr says why), 2 bad
arguments (argparse), 130 interrupted before the job was done.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import defer, task
from twisted.internet import error as internet_error
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from srstwist.client.url import RtmpClientError, RtmpUrl, parse_rtmp_url
from srstwist.codec.aac import AacError
from srstwist.codec.avc import AvcError
from srstwist.codec.flv import FlvError

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "ToolError",
    "Watchdog",
    "add_rtmp_options",
    "check_url",
    "describe_error",
    "fail",
    "non_negative_float",
    "positive_float",
    "run",
    "say",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130

#: Seconds for connect, publish/play and "no progress" unless --timeout.
DEFAULT_TIMEOUT = 10.0
#: Seconds a tool has to finish (close its connection, complete its file)
#: once interrupted, before the reactor stops anyway.
SHUTDOWN_GRACE = 7.0

#: A tool's job: called with the reactor, returns the exit status.
Body = Callable[[Any], Awaitable[int | None]]


class ToolError(Exception):
    """A failure a tool explains in one sentence (``str(error)``)."""


#: The failures reported as one line and exit status 1 (no traceback).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ToolError,
    RtmpClientError,
    FlvError,
    AvcError,
    AacError,
    OSError,
    defer.TimeoutError,
    internet_error.ConnectError,
)


def describe_error(error: BaseException) -> str:
    """One line saying what went wrong, for the expected failures."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, defer.TimeoutError):
        return "timed out"
    text = str(error).strip()
    return " ".join(text.split()) if text else type(error).__name__


def say(prog: str, text: str) -> None:
    """Write ``prog: text`` to standard error at once."""
    sys.stderr.write(f"{prog}: {text}\n")
    sys.stderr.flush()


def fail(prog: str, message: str) -> int:
    """Report a failure in one line; return :data:`EXIT_FAILURE`."""
    say(prog, f"error: {message}")
    return EXIT_FAILURE


def check_url(prog: str, url: str) -> RtmpUrl | None:
    """
    Parse an RTMP URL before the reactor starts.

    :return: the parsed URL, or ``None`` after reporting why it is bad.
    """
    try:
        return parse_rtmp_url(url)
    except RtmpClientError as e:
        fail(prog, str(e))
        return None


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def add_rtmp_options(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    """The options every RTMP tool takes: --timeout, --complex, -v."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"{timeout_help} (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--complex",
        action="store_true",
        help="use the complex (digest) handshake; default: the simple one, as srs-librtmp",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print every packet and the client's log"
    )


class Watchdog:
    """
    Calls ``expired`` once ``seconds`` pass without a :meth:`kick`: the "no
    progress" timeout of a tool.
    """

    def __init__(self, clock: IReactorTime, seconds: float, expired: Callable[[], None]) -> None:
        self.seconds = seconds
        self._expired = expired
        self._call: IDelayedCall | None = clock.callLater(seconds, self._fire)

    def kick(self) -> None:
        """Progress: start the wait again."""
        if self._call is not None and self._call.active():
            self._call.reset(self.seconds)

    def stop(self) -> None:
        """No more waiting."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        self._expired()


def _start_logging(verbose: bool) -> None:
    # Never redirect standard I/O: a tool may be writing an FLV to stdout.
    level = LogLevel.info if verbose else LogLevel.error
    observer = FilteringLogObserver(
        textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(defaultLogLevel=level)]
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


async def _guarded(prog: str, body: Body, reactor: Any) -> int:
    try:
        code = await body(reactor)
    except defer.CancelledError:
        say(prog, "interrupted")
        return EXIT_INTERRUPTED
    except EXPECTED_ERRORS as e:
        return fail(prog, describe_error(e))
    except Exception:
        say(prog, "internal error:\n" + traceback.format_exc().rstrip())
        return EXIT_FAILURE
    return EXIT_OK if code is None else code


def _exit(code: int) -> None:
    if code:
        raise SystemExit(code)


def _interrupt(finished: defer.Deferred[None], reactor: Any) -> defer.Deferred[None] | None:
    """
    The reactor is stopping: after the job ended (nothing to do), or on
    SIGINT/SIGTERM.  Then cancel the job, whose coroutine may finish its
    work (close the connection, complete the file), and hold the shutdown
    until it has, for at most :data:`SHUTDOWN_GRACE` seconds.
    """
    if finished.called:
        return None
    ended: defer.Deferred[None] = defer.Deferred()

    def done(result: object) -> object:
        if not ended.called:
            ended.callback(None)
        return result

    finished.addBoth(done)
    finished.cancel()
    if ended.called:
        return None
    ended.addTimeout(SHUTDOWN_GRACE, reactor)
    ended.addErrback(lambda failure: None)
    return ended


def run(prog: str, body: Body, *, verbose: bool = False) -> int:
    """
    Run ``body`` under the global reactor until it ends; report how.

    :param prog: the tool's name, for messages.
    :param body: the job; its result is the exit status (``None``: 0).  An
        expected failure (:data:`EXPECTED_ERRORS`) becomes one line on stderr
        and status 1; cancellation (SIGINT/SIGTERM while it runs) status
        130 unless the body handles it; anything else a traceback and 1.
    :param verbose: show the client library's log (info and up) on stderr;
        otherwise only its errors.
    :return: the exit status.
    """
    _start_logging(verbose)

    def main(reactor: Any) -> defer.Deferred[None]:
        finished = defer.ensureDeferred(_guarded(prog, body, reactor))
        reactor.addSystemEventTrigger("before", "shutdown", _interrupt, finished, reactor)
        return finished.addCallback(_exit)

    try:
        task.react(main)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_FAILURE
    return EXIT_OK


def quiet_broken_pipe() -> None:
    """
    Standard output was closed by its reader: point it at /dev/null so the
    interpreter's final flush does not complain again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
