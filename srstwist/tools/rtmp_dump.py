# -*- test-case-name: tests.test_tools_cli -*-
"""
``srs-rtmp-dump -r URL [-o FILE|-] [-d SECONDS]``: play an RTMP stream into
an FLV file or standard output, as srs-librtmp's ``srs_rtmp_dump``
(``trunk/research/librtmp/srs_rtmp_dump.c``): audio, video and metadata (as ``onMetaData``) are
written, other data messages are counted as dropped.

It stops after ``-d`` seconds (of stream time received, or of wall-clock
time since the first media message, whichever comes first), when no media
arrives for ``--timeout`` seconds, when the server closes the connection,
or on Ctrl-C; then it completes the file, closes the connection and prints
one summary line on stderr.  Exit status 0, or 1 when it could not connect
or play, or received no media at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any, BinaryIO, cast

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall

from srstwist.client.flv_file import FlvWriter
from srstwist.client.rtmp import RtmpClientProtocol, connect_rtmp
from srstwist.codec.amf0 import Amf0Object
from srstwist.codec.rtmp_events import Media, MediaKind
from srstwist.tools._run import (
    EXIT_FAILURE,
    EXIT_OK,
    Watchdog,
    add_rtmp_options,
    check_url,
    positive_float,
    quiet_broken_pipe,
    run,
    say,
)
from srstwist.tools.flv_parser import describe_tag

__all__ = ["main", "parse_args", "parse_conndata"]

PROG = "srs-rtmp-dump"

_EPILOG = """\
-C builds the Object sent as the 4th connect value, as rtmpdump/srs_rtmp_dump:
  -C O:1 -C NS:name:value -C NN:name:1.5 -C NB:name:1 -C O:0
(NS string, NN number, NB boolean properties; O:1/O:0 are accepted and ignored).

The summary line (stderr):
  srs-rtmp-dump: duration reached; 153 tags (video 51, audio 101, metadata 1),
  180236 bytes, stream time 2.000 s, wall 2.1 s
"""


def parse_conndata(items: Iterable[str]) -> Amf0Object | None:
    """
    The connect args Object of ``-C`` options.

    :raises ValueError: an item that is not ``O:0``, ``O:1``, ``NS:name:value``,
        ``NN:name:number`` or ``NB:name:0|1``.
    """
    args = Amf0Object()
    given = False
    for item in items:
        if item in ("O:0", "O:1"):
            continue
        kind, _, rest = item.partition(":")
        name, sep, value = rest.partition(":")
        if not sep or not name or kind not in ("NS", "NN", "NB"):
            raise ValueError(
                f"unsupported -C {item!r}: use O:1, NS:name:value, NN:name:number, NB:name:0|1, O:0"
            )
        if kind == "NS":
            args[name] = value
        elif kind == "NN":
            try:
                args[name] = float(value)
            except ValueError:
                raise ValueError(f"-C {item!r}: {value!r} is not a number") from None
        else:
            if value not in ("0", "1"):
                raise ValueError(f"-C {item!r}: a boolean is 0 or 1")
            args[name] = value == "1"
        given = True
    return args if given else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Play an RTMP stream into an FLV file (as srs_rtmp_dump).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-r", "--rtmp", required=True, metavar="URL", help="rtmp://host[:port]/app/stream"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the FLV file to write, - for standard output; default: write nothing, only count",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=positive_float,
        metavar="SECONDS",
        help="stop after this much stream time, or wall-clock time since the first media "
        "message; default: until the stream ends or Ctrl-C",
    )
    parser.add_argument("-t", "--tcurl", metavar="URL", help="the connect tcUrl (default: from -r)")
    parser.add_argument("-s", "--swfurl", default="", metavar="URL", help="the connect swfUrl")
    parser.add_argument("-p", "--pageurl", default="", metavar="URL", help="the connect pageUrl")
    parser.add_argument(
        "-C",
        "--conndata",
        action="append",
        default=[],
        metavar="DATA",
        help="a property of the connect args Object (see below)",
    )
    add_rtmp_options(
        parser, "seconds to connect and start playing, and without media before giving up"
    )
    args = parser.parse_args(argv)
    try:
        args.connect_args = parse_conndata(args.conndata)
    except ValueError as e:
        parser.error(str(e))
    return args


class _Counting:
    """A binary file object that counts the bytes written through it."""

    def __init__(self, target: BinaryIO | IO[bytes]) -> None:
        self.target = target
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return self.target.write(data)

    def writelines(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.write(piece)

    def flush(self) -> None:
        self.target.flush()


class _Dump:
    """One play into one (optional) FLV writer, and why it ended."""

    def __init__(self, reactor: Any, args: argparse.Namespace) -> None:
        self.reactor = reactor
        self.args = args
        self.writer: FlvWriter | None = None
        self.output: _Counting | None = None
        self.owned: IO[bytes] | None = None
        self.counts = {MediaKind.VIDEO: 0, MediaKind.AUDIO: 0, MediaKind.DATA: 0}
        self.dropped = 0
        self.first_ts: int | None = None
        self.last_ts = 0
        self.started = reactor.seconds()
        # (exit status, reason) once it is over.
        self.done: defer.Deferred[tuple[int, str]] = defer.Deferred()
        self.watchdog: Watchdog | None = None
        self.timer: IDelayedCall | None = None

    def open(self) -> None:
        path = self.args.output
        if path is None:
            return
        if path == "-":
            target: BinaryIO | IO[bytes] = sys.stdout.buffer
        else:
            self.owned = target = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.output = _Counting(target)
        self.writer = FlvWriter(cast(BinaryIO, self.output))

    def close(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()
        except BrokenPipeError:
            quiet_broken_pipe()
        finally:
            if self.owned is not None:
                self.owned.close()

    def finish(self, code: int, reason: str) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        if not self.done.called:
            self.done.callback((code, reason))

    def idle(self) -> None:
        seconds = self.args.timeout
        if self.first_ts is None:
            self.finish(EXIT_FAILURE, f"error: no media received within {seconds:g} s")
        else:
            self.finish(EXIT_OK, f"no media for {seconds:g} s, stopping")

    def closed(self, _: object) -> None:
        if self.first_ts is None:
            self.finish(EXIT_FAILURE, "error: the server closed the connection before any media")
        else:
            self.finish(EXIT_OK, "the server closed the connection")

    def sink(self, media: Media) -> None:
        if self.done.called:
            return
        if self.watchdog is not None:
            self.watchdog.kick()
        self.counts[media.kind] += 1
        if self.args.verbose:
            say(PROG, describe_tag(media.message_type_id, media.timestamp, media.payload))
        if media.kind is not MediaKind.DATA:
            if self.first_ts is None:
                self.first_ts = media.timestamp
                if self.args.duration is not None:
                    self.timer = self.reactor.callLater(
                        self.args.duration, self.finish, EXIT_OK, "duration reached"
                    )
            self.last_ts = max(self.last_ts, media.timestamp)
        if self.writer is not None:
            try:
                if not self.writer.write_media(media):
                    self.dropped += 1
            except BrokenPipeError:
                quiet_broken_pipe()
                self.finish(EXIT_OK, "the output was closed")
                return
            except OSError as e:
                self.finish(EXIT_FAILURE, f"error: cannot write {self.args.output}: {e.strerror}")
                return
        elif media.kind is MediaKind.DATA and media.metadata is None:
            self.dropped += 1
        duration = self.args.duration
        if duration is not None and self.first_ts is not None:
            if self.last_ts - self.first_ts >= duration * 1000:
                self.finish(EXIT_OK, "duration reached")

    def summary(self, reason: str) -> str:
        stream = 0 if self.first_ts is None else self.last_ts - self.first_ts
        written = 0 if self.output is None else self.output.bytes
        wall = self.reactor.seconds() - self.started
        video, audio, data = (
            self.counts[k] for k in (MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.DATA)
        )
        metadata = data - self.dropped
        text = (
            f"{reason}; {video + audio + metadata} tags (video {video}, audio {audio}, "
            f"metadata {metadata}), {written} bytes, stream time {stream / 1000:.3f} s, "
            f"wall {wall:.1f} s"
        )
        if self.dropped:
            text += f"; {self.dropped} other data messages dropped"
        return text


async def _dump(reactor: Any, args: argparse.Namespace) -> int:
    dump = _Dump(reactor, args)
    client: RtmpClientProtocol = await connect_rtmp(
        reactor,
        args.rtmp,
        timeout=args.timeout,
        args=args.connect_args,
        tc_url=args.tcurl,
        swf_url=args.swfurl,
        page_url=args.pageurl,
        simple_handshake=not args.complex,
    )
    try:
        dump.open()
        await client.play(sink=dump.sink, timeout=args.timeout)
        dump.watchdog = Watchdog(reactor, args.timeout, dump.idle)
        client.wait_closed().addCallback(dump.closed)
        try:
            code, reason = await dump.done
        except defer.CancelledError:
            code, reason = EXIT_OK, "interrupted"
        dump.watchdog.stop()
    finally:
        dump.close()
        if dump.watchdog is not None:
            dump.watchdog.stop()
        if client.is_open:
            await client.close()
    # A failure is one line (nothing was received); anything else a summary.
    say(PROG, reason if code != EXIT_OK else dump.summary(reason))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The ``srs-rtmp-dump`` command; returns the exit status."""
    args = parse_args(argv)
    if check_url(PROG, args.rtmp) is None:
        return EXIT_FAILURE
    return run(PROG, lambda reactor: _dump(reactor, args), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
