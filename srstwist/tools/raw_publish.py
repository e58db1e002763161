# -*- test-case-name: tests.test_tools_cli -*-
"""
``srs-h264-raw-publish -i FILE.h264 -y URL [--fps 25]`` and
``srs-aac-raw-publish -i FILE.aac -y URL``: publish a raw elementary stream
over RTMP, as srs-librtmp's ``srs_h264_raw_publish`` and
``srs_aac_raw_publish`` (in SRS's ``trunk/research/librtmp``), with the converters of
:mod:`srstwist.client.raw`.

H.264: the Annex-B file is cut into access units; picture ``i`` gets
dts = pts = ``round(i * 1000 / fps)`` ms (B-frames are not reordered: the
file carries no timestamps).  The sequence header is built from the SPS and
PPS; pictures before them are dropped (SRS #203).

AAC: the ADTS file is cut into frames, each stamped with the time of the
samples before it (1024 per frame at the header's sampling rate), so the
pace is the frames' own duration (SRS's sample used a fixed 45 ms).

Both send at real-time pace (``--no-realtime``: as fast as the connection
takes it), optionally in a loop, and exit as ``srs-ingest-flv`` does.
``python -m srstwist.tools.raw_publish h264|aac ...`` runs either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from srstwist.client.flv_file import FlvTag
from srstwist.client.raw import (
    AacRawPublisher,
    AccessUnitSplitter,
    AdtsSplitter,
    H264RawPublisher,
    parse_adts_header,
)
from srstwist.codec.aac import AacError
from srstwist.codec.avc import is_annexb
from srstwist.tools._run import EXIT_FAILURE, ToolError, check_url, positive_float, run
from srstwist.tools.ingest_flv import add_publish_options, publish_tags

__all__ = ["AdtsFileTags", "H264FileTags", "main", "main_aac", "main_h264"]

H264_PROG = "srs-h264-raw-publish"
AAC_PROG = "srs-aac-raw-publish"
DEFAULT_FPS = 25.0
_READ_SIZE = 65536


class H264FileTags:
    """
    The FLV video tags of an Annex-B H.264 file, read as they are iterated;
    iterable again (to loop), the parameter sets carried over.
    """

    def __init__(self, path: str, fps: float) -> None:
        self.path = path
        self.fps = fps
        self.publisher = H264RawPublisher()

    def __iter__(self) -> Iterator[FlvTag]:
        publisher = self.publisher
        splitter = AccessUnitSplitter()
        pictures = 0
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read(_READ_SIZE)
                units = splitter.receive_data(chunk) if chunk else splitter.flush()
                for unit in units:
                    seen = publisher.frames + publisher.dropped_frames
                    dts = round(pictures * 1000 / self.fps)
                    yield from publisher.write_nalus(unit, dts, dts)
                    # Time moves on with every picture, sent or dropped.
                    if publisher.frames + publisher.dropped_frames > seen:
                        pictures += 1
                if not chunk:
                    return


class AdtsFileTags:
    """
    The FLV audio tags of an ADTS AAC file, read as they are iterated;
    iterable again (to loop).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.publisher = AacRawPublisher()

    def __iter__(self) -> Iterator[FlvTag]:
        splitter = AdtsSplitter()
        position = 0.0
        with open(self.path, "rb") as f:
            while chunk := f.read(_READ_SIZE):
                for frame in splitter.receive_data(chunk):
                    header = parse_adts_header(frame)
                    yield from self.publisher.write_frame(frame, round(position))
                    position += 1024 * 1000 / header.sample_rate
        splitter.flush()


def _check_h264(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise ToolError(f"{path}: empty file")
    if not is_annexb(head):
        raise ToolError(f"{path}: not an Annex-B H.264 stream (no start code at the beginning)")


def _check_adts(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(7)
    if not head:
        raise ToolError(f"{path}: empty file")
    try:
        parse_adts_header(head)
    except AacError as e:
        raise ToolError(f"{path}: not an ADTS AAC stream: {e}") from None


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Exit status: 0 at the end of the file, 1 on failure (one line on stderr says "
        "why), 130 interrupted.",
    )
    return parser


def parse_h264_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser(
        H264_PROG, "Publish a raw Annex-B H.264 file over RTMP (as srs_h264_raw_publish)."
    )
    parser.add_argument("-i", "--input", required=True, metavar="FILE", help="the .h264 file")
    parser.add_argument(
        "-y", "--output", required=True, metavar="URL", help="rtmp://host[:port]/app/stream"
    )
    parser.add_argument(
        "--fps",
        type=positive_float,
        default=DEFAULT_FPS,
        help=f"pictures per second: the timestamps and the pace (default {DEFAULT_FPS:g})",
    )
    add_publish_options(parser)
    return parser.parse_args(argv)


def parse_aac_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser(AAC_PROG, "Publish a raw ADTS AAC file over RTMP (as srs_aac_raw_publish).")
    parser.add_argument("-i", "--input", required=True, metavar="FILE", help="the .aac (ADTS) file")
    parser.add_argument(
        "-y", "--output", required=True, metavar="URL", help="rtmp://host[:port]/app/stream"
    )
    add_publish_options(parser)
    return parser.parse_args(argv)


async def _publish_h264(reactor: Any, args: argparse.Namespace) -> int:
    _check_h264(args.input)
    tags = H264FileTags(args.input, args.fps)
    return await publish_tags(reactor, H264_PROG, args, args.output, tags, what=args.input)


async def _publish_aac(reactor: Any, args: argparse.Namespace) -> int:
    _check_adts(args.input)
    tags = AdtsFileTags(args.input)
    return await publish_tags(reactor, AAC_PROG, args, args.output, tags, what=args.input)


def main_h264(argv: Sequence[str] | None = None) -> int:
    """The ``srs-h264-raw-publish`` command; returns the exit status."""
    args = parse_h264_args(argv)
    if check_url(H264_PROG, args.output) is None:
        return EXIT_FAILURE
    return run(H264_PROG, lambda reactor: _publish_h264(reactor, args), verbose=args.verbose)


def main_aac(argv: Sequence[str] | None = None) -> int:
    """The ``srs-aac-raw-publish`` command; returns the exit status."""
    args = parse_aac_args(argv)
    if check_url(AAC_PROG, args.output) is None:
        return EXIT_FAILURE
    return run(AAC_PROG, lambda reactor: _publish_aac(reactor, args), verbose=args.verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m srstwist.tools.raw_publish h264|aac ARGS...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"h264": main_h264, "aac": main_aac}
    if not argv or argv[0] not in commands:
        if argv and argv[0] in ("-h", "--help"):
            sys.stdout.write("usage: python -m srstwist.tools.raw_publish {h264,aac} [-h] ...\n")
            return 0
        sys.stderr.write("usage: python -m srstwist.tools.raw_publish {h264,aac} [-h] ...\n")
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
