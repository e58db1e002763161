# -*- test-case-name: tests.test_tools_cli -*-
"""
``srs-ingest-flv -i FILE -y URL [--loop] [--no-realtime]``: publish an
FLV file over RTMP at real-time pace, as srs-librtmp's ``srs_ingest_flv``
(``trunk/research/librtmp/srs_ingest_flv.c``), with
:func:`srstwist.client.flv_file.ingest`: each tag goes
out when its timestamp is due, never faster than the connection takes it.

It prints what it does, a progress line every ``--progress`` seconds and a
summary on stderr; it exits 0 at the end of the file (or, with ``--loop``,
when interrupted), 1 when it cannot connect or publish, the server stops
taking data for ``--timeout`` seconds, or the file is broken.

:func:`publish_tags` is the publishing loop the raw H.264/AAC publishers share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet import defer, task

from srstwist.client.flv_file import MAX_DRIFT, FlvFile, FlvTag, ingest, read_flv
from srstwist.client.rtmp import RtmpClientProtocol, connect_rtmp
from srstwist.codec.flv import TAG_HEADER_SIZE, TagType
from srstwist.tools._run import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ToolError,
    Watchdog,
    add_rtmp_options,
    check_url,
    non_negative_float,
    run,
    say,
)
from srstwist.tools.flv_parser import describe_tag

__all__ = ["Progress", "main", "parse_args", "publish_tags"]

PROG = "srs-ingest-flv"
#: Seconds between progress lines unless --progress.
DEFAULT_PROGRESS = 5.0


class Progress:
    """What has been published, for the progress and summary lines."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.started = clock.seconds()
        self.counts = {TagType.VIDEO: 0, TagType.AUDIO: 0, TagType.SCRIPT: 0}
        self.bytes = 0
        self.first_ts: int | None = None
        self.last_ts = 0

    def add(self, tag: FlvTag) -> None:
        self.counts[TagType(tag.tag_type)] += 1
        self.bytes += TAG_HEADER_SIZE + len(tag.payload) + 4
        if tag.tag_type != TagType.SCRIPT:
            if self.first_ts is None:
                self.first_ts = tag.timestamp
            self.last_ts = max(self.last_ts, tag.timestamp)

    @property
    def tags(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        stream = 0 if self.first_ts is None else self.last_ts - self.first_ts
        wall = self.clock.seconds() - self.started
        video, audio, script = (
            self.counts[k] for k in (TagType.VIDEO, TagType.AUDIO, TagType.SCRIPT)
        )
        return (
            f"{self.tags} tags (video {video}, audio {audio}, script {script}), "
            f"{self.bytes} bytes, stream time {stream / 1000:.3f} s, wall {wall:.1f} s"
        )


async def publish_tags(
    reactor: Any,
    prog: str,
    args: argparse.Namespace,
    url: str,
    tags: Iterable[FlvTag],
    *,
    what: str,
) -> int:
    """
    Connect to ``url``, publish, and send ``tags`` with
    :func:`srstwist.client.flv_file.ingest`; close the connection however it
    ends.

    :param args: ``timeout``, ``complex``, ``verbose``, ``loop``, ``realtime``,
        ``progress`` (seconds, 0 for none).
    :param tags: re-iterable when ``args.loop``.
    :param what: names the source in messages.
    :return: the exit status: 0 when all was sent (or a loop was
        interrupted), 130 when interrupted before the end.
    :raises ToolError: the server took nothing for too long, or there was
        nothing to send.
    """
    client: RtmpClientProtocol = await connect_rtmp(
        reactor, url, timeout=args.timeout, simple_handshake=not args.complex
    )
    progress = Progress(reactor)
    interrupted = False
    try:
        await client.publish(timeout=args.timeout)
        say(prog, f"publishing {what} to {url}{' (loop)' if args.loop else ''}")
        # Pacing waits at most MAX_DRIFT seconds for a tag; more than that
        # past the timeout, the connection has stopped taking data.
        stall = args.timeout + MAX_DRIFT
        stalled = False

        def on_tag(tag: FlvTag) -> None:
            watchdog.kick()
            progress.add(tag)
            if args.verbose:
                say(prog, describe_tag(tag.tag_type, tag.timestamp, tag.payload))

        def stop_stalled() -> None:
            nonlocal stalled
            stalled = True
            running.cancel()

        # Before ingest starts: it sends its first tags at once.
        watchdog = Watchdog(reactor, stall, stop_stalled)
        running = ingest(
            client, tags, reactor, realtime=args.realtime, loop=args.loop, on_tag=on_tag
        )
        reporter = task.LoopingCall(lambda: say(prog, progress.line()))
        reporter.clock = reactor
        if args.progress > 0:
            reporter.start(args.progress, now=False)
        try:
            await running
        except defer.CancelledError:
            if stalled:
                raise ToolError(
                    f"stalled: the server took no data for {stall:g} s after {progress.tags} tags"
                ) from None
            interrupted = True
        finally:
            watchdog.stop()
            if reporter.running:
                reporter.stop()
    finally:
        if client.is_open:
            await client.close()
    if interrupted:
        say(prog, f"interrupted: {progress.line()}")
        return EXIT_OK if args.loop else EXIT_INTERRUPTED
    if not progress.tags:
        raise ToolError(f"nothing to publish in {what}")
    say(prog, f"done: {progress.line()}")
    return EXIT_OK


def add_publish_options(parser: argparse.ArgumentParser) -> None:
    """The options of every publishing tool: --loop, --no-realtime, --progress, RTMP's."""
    parser.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    parser.add_argument(
        "--no-realtime",
        dest="realtime",
        action="store_false",
        help="send as fast as the connection takes it, not at the pace of the timestamps",
    )
    parser.add_argument(
        "--progress",
        type=non_negative_float,
        default=DEFAULT_PROGRESS,
        metavar="SECONDS",
        help=f"seconds between progress lines, 0 for none (default {DEFAULT_PROGRESS:g})",
    )
    add_rtmp_options(
        parser, "seconds to connect and start publishing, and for the server to take data"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Publish an FLV file over RTMP in real time (as srs_ingest_flv).",
        epilog="Exit status: 0 at the end of the file, 1 on failure (one line on stderr says "
        "why), 130 interrupted.",
    )
    parser.add_argument("-i", "--input", required=True, metavar="FILE", help="the FLV file")
    parser.add_argument(
        "-y", "--output", required=True, metavar="URL", help="rtmp://host[:port]/app/stream"
    )
    add_publish_options(parser)
    return parser.parse_args(argv)


def check_flv(path: str) -> None:
    """
    Refuse, before connecting, a file that is not FLV or has no tag.

    :raises FlvError: not an FLV file, or a broken first tag.
    :raises OSError: cannot be read.
    :raises ToolError: no tags.
    """
    tags = read_flv(path)
    try:
        next(tags)
    except StopIteration:
        raise ToolError(f"{path}: no FLV tags") from None
    finally:
        close = getattr(tags, "close", None)
        if close is not None:
            close()


async def _ingest(reactor: Any, args: argparse.Namespace) -> int:
    check_flv(args.input)
    tags: Iterable[FlvTag] = FlvFile(args.input) if args.loop else read_flv(args.input)
    return await publish_tags(reactor, PROG, args, args.output, tags, what=args.input)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``srs-ingest-flv`` command; returns the exit status."""
    args = parse_args(argv)
    if check_url(PROG, args.output) is None:
        return EXIT_FAILURE
    return run(PROG, lambda reactor: _ingest(reactor, args), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
