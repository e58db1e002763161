# -*- test-case-name: tests.test_client_flv_file -*-
"""
FLV files in and out for the RTMP client: read tags from a file
(:func:`read_flv`, :class:`FlvFile`), write what a player receives (:class:`FlvWriter`, as
srs-librtmp's ``srs_rtmp_dump`` does), and publish a file in real time
(:func:`ingest`, ``srs_ingest_flv``).

Reading is bounded: the file is read one tag at a time, and a tag may be
at most 4 MiB by default.  Every problem is an :class:`FlvError` whose message
names the file and the byte offset, raised after every tag before it was
produced.

:func:`ingest` paces tags by their timestamps against an injected clock, never
by sleeping, and waits for the connection's write buffer to drain
(``RtmpClientProtocol.wait_writable``) before each tag, so nothing buffers
without bound however fast the file is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, BinaryIO, Protocol

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from srstwist.codec.amf0 import Amf0Error, decode
from srstwist.codec.chunk import MessageType
from srstwist.codec.flv import (
    TAG_HEADER_SIZE,
    FlvError,
    FlvTag,
    TagType,
    encode_tag,
    flv_header,
)
from srstwist.codec.rtmp_events import Media

__all__ = [
    "FlvError",
    "FlvFile",
    "FlvTag",
    "FlvWriter",
    "Publisher",
    "ingest",
    "metadata_payload",
    "read_flv",
]

#: The largest tag body :func:`read_flv` accepts by default.
DEFAULT_MAX_TAG_SIZE = 4 * 1024 * 1024
#: Seconds ingest may be ahead of or behind the file's timestamps before it
#: takes the current tag as its new time base: a timestamp jump in the file,
#: or a connection that held the publisher back (SRS's ingester also only
#: sleeps within 300..3000 ms).
MAX_DRIFT = 3.0
#: Milliseconds between two loops of a file when no frame interval is known.
DEFAULT_FRAME_INTERVAL = 40

_log = Logger(namespace="srstwist.client.flv_file")
_SET_DATA_FRAME = "@setDataFrame"
_SIGNATURE = b"FLV"

Source = str | os.PathLike[str] | BinaryIO | IO[bytes]


class Publisher(Protocol):
    """What :func:`ingest` publishes on: an ``RtmpClientProtocol`` that publishes."""

    @property
    def writable(self) -> bool:
        """Whether the connection takes more data now."""

    def wait_writable(self) -> defer.Deferred[None]:
        """A Deferred firing once the connection takes more data."""

    def send_message(self, type_id: int, timestamp: int, payload: bytes) -> None:
        """Send one message."""


def read_flv(
    source: Source,
    *,
    max_tag_size: int = DEFAULT_MAX_TAG_SIZE,
    allow_truncated: bool = False,
) -> Iterator[FlvTag]:
    """
    Read the tags of an FLV file, one at a time.

    :param source: a path (opened and closed here) or a binary file object
        (read from where it is, not closed).
    :param max_tag_size: a tag declaring a longer body is an error.
    :param allow_truncated: a file that ends inside a tag (a recording cut
        short) logs a warning and ends the iteration, instead of raising.
    :return: an iterator of :class:`FlvTag` objects; the file is read as it advances.
    :raises FlvError: while iterating: not an FLV file, an unknown tag type,
        a tag over ``max_tag_size``, or (unless ``allow_truncated``) a
        truncated last tag, after every complete tag has been produced.
    """
    if isinstance(source, str | os.PathLike):
        return _read_path(os.fspath(source), max_tag_size, allow_truncated)
    name = str(getattr(source, "name", "<FLV stream>"))
    return _read(source, name, max_tag_size, allow_truncated)


def _read_path(path: str, max_tag_size: int, allow_truncated: bool) -> Iterator[FlvTag]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed when the generator ends
    except OSError as e:
        raise FlvError(f"{path}: cannot open: {e.strerror}") from e
    with f:
        yield from _read(f, path, max_tag_size, allow_truncated)


def _read_exactly(f: BinaryIO | IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the file."""
    data = f.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = f.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read(
    f: BinaryIO | IO[bytes], name: str, max_tag_size: int, allow_truncated: bool
) -> Iterator[FlvTag]:
    # Pull-style, one tag at a time: a file needs no incremental decoder,
    # and every error can name the byte where it happened.
    header = _read_exactly(f, 9)
    if not header:
        raise FlvError(f"{name}: empty file, no FLV header")
    if header[:3] != _SIGNATURE[: len(header[:3])]:
        raise FlvError(f"{name}: not an FLV file: signature {header[:3]!r}")
    if len(header) < 9:
        raise FlvError(f"{name}: not an FLV file: {len(header)} bytes, less than an FLV header")
    data_offset = int.from_bytes(header[5:9], "big")
    if data_offset < 9:
        raise FlvError(f"{name}: FLV header DataOffset {data_offset} is less than 9")
    # Whatever lies between the header and DataOffset, then PreviousTagSize0.
    skip = data_offset - 9 + 4
    while skip:
        got = len(f.read(min(skip, 65536)))
        if not got:
            return
        skip -= got
    offset = data_offset + 4
    while True:
        head = _read_exactly(f, TAG_HEADER_SIZE)
        if not head:
            return
        if len(head) < TAG_HEADER_SIZE:
            _truncated(name, offset, len(head), allow_truncated)
            return
        tag_type = head[0] & 0x1F
        if tag_type not in (TagType.AUDIO, TagType.VIDEO, TagType.SCRIPT):
            raise FlvError(f"{name}: unknown FLV tag type {head[0]} at byte {offset}")
        size = int.from_bytes(head[1:4], "big")
        if size > max_tag_size:
            raise FlvError(
                f"{name}: FLV tag of {size} bytes at byte {offset} exceeds the limit of "
                f"{max_tag_size}"
            )
        body = _read_exactly(f, size)
        if len(body) < size:
            _truncated(name, offset, TAG_HEADER_SIZE + len(body), allow_truncated)
            return
        timestamp = head[7] << 24 | int.from_bytes(head[4:7], "big")
        # PreviousTagSize is not checked (as SRS); a file cut inside it
        # still has every tag whole.
        previous = _read_exactly(f, 4)
        yield FlvTag(tag_type, timestamp, body)
        if len(previous) < 4:
            return
        offset += TAG_HEADER_SIZE + size + 4


def _truncated(name: str, offset: int, held: int, allowed: bool) -> None:
    message = (
        f"{name}: truncated FLV file: the tag at byte {offset} is cut short "
        f"after {held} bytes"
    )
    if not allowed:
        raise FlvError(message)
    _log.warn("{message}; stopping there", message=message)


class FlvFile:
    """
    An FLV file that can be read again and again (what :func:`ingest` needs to
    loop): every iteration is a new :func:`read_flv`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_tag_size: int = DEFAULT_MAX_TAG_SIZE,
        allow_truncated: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self._max_tag_size = max_tag_size
        self._allow_truncated = allow_truncated

    def __iter__(self) -> Iterator[FlvTag]:
        return read_flv(
            self.path, max_tag_size=self._max_tag_size, allow_truncated=self._allow_truncated
        )


def metadata_payload(payload: bytes) -> bytes:
    """
    A metadata message as an FLV script tag body: ``@setDataFrame`` (what a
    publisher sends) is removed so the body starts with ``onMetaData``, as
    SRS stores metadata (``SrsSource::on_meta_data``); anything else is returned as it
    is.
    """
    try:
        name, offset = decode(payload)
    except Amf0Error:
        return payload
    if name == _SET_DATA_FRAME:
        return payload[offset:]
    return payload


class FlvWriter:
    """
    Write an FLV file: the 13-byte header at once (flags 0x05, as SRS), then
    tags.  Script tags are written at timestamp 0, as SRS and srs-librtmp
    do.

    :ivar tags_written: tags written so far.
    :ivar dropped: data messages :meth:`write_media` left out.
    """

    def __init__(
        self, target: str | os.PathLike[str] | BinaryIO | IO[bytes], *, header: bool = True
    ) -> None:
        """
        :param target: a path (created or truncated, closed by :meth:`close`) or
            a binary file object (left open by :meth:`close`).
        :param header: write the file header; ``False`` to append tags.
        """
        if isinstance(target, str | os.PathLike):
            self._file: BinaryIO | IO[bytes] = open(target, "wb")  # noqa: SIM115
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.tags_written = 0
        self.dropped = 0
        if header:
            self._file.write(flv_header())

    def write_tag(self, tag_type: int, timestamp: int, payload: bytes) -> None:
        """
        Write one tag.

        :raises FlvError: an unknown tag type, a negative timestamp or a body
            over 16 MiB.
        """
        if tag_type == TagType.SCRIPT:
            timestamp = 0
        self._file.writelines(encode_tag(tag_type, timestamp, payload))
        self.tags_written += 1

    def write(self, tag: FlvTag) -> None:
        """Write an :class:`FlvTag`."""
        self.write_tag(tag.tag_type, tag.timestamp, tag.payload)

    def write_media(self, media: Media) -> bool:
        """
        Write a message a player received, as ``srs_rtmp_dump`` does: audio,
        video and metadata (as ``onMetaData``); other data messages
        (``|RtmpSampleAccess``, ``onStatus``, ``onTextData``...) are dropped.

        :return: whether it was written.
        """
        if media.message_type_id in (MessageType.AUDIO, MessageType.VIDEO):
            self.write_tag(media.message_type_id, media.timestamp, media.payload)
            return True
        if media.metadata is not None:
            payload = media.payload
            if media.message_type_id == MessageType.AMF3_DATA and payload[:1] == b"\x00":
                payload = payload[1:]
            self.write_tag(TagType.SCRIPT, 0, metadata_payload(payload))
            return True
        self.dropped += 1
        return False

    def flush(self) -> None:
        """Flush the file object."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> FlvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ingest(
    protocol: Publisher,
    tags: Iterable[FlvTag],
    clock: IReactorTime,
    realtime: bool = True,
    loop: bool = False,
    *,
    on_tag: Callable[[FlvTag], None] | None = None,
) -> defer.Deferred[int]:
    """
    Publish FLV tags on a publishing ``RtmpClientProtocol``.

    Each tag goes out with ``RtmpClientProtocol.send_message``, with the
    file's timestamps (plus the loop offset).  Before each one, ingest
    waits until the connection is writable.

    :param tags: the tags; to ``loop`` they must be iterable again (a list,
        an :class:`FlvFile`), not an iterator.
    :param clock: paces the tags (the reactor, or a Clock in tests).
    :param realtime: send each audio/video tag when its timestamp is due,
        measured from the first one; otherwise as fast as the connection
        takes them.
    :param loop: start again at the end, audio/video timestamps continuing
        one frame interval after the last; script tags are sent on the first
        pass only.  Runs until cancelled or until sending fails.
    :param on_tag: called with every tag as sent (timestamp included).
    :return: a Deferred firing with the number of tags sent, or failing
        with :class:`FlvError` (a broken file) or ``RtmpClientError`` (the
        connection).  Cancelling it stops the ingest.
    """
    if loop and iter(tags) is tags:
        raise ValueError("ingest(loop=True) needs tags it can iterate again, not an iterator")
    return defer.Deferred.fromCoroutine(_ingest(protocol, tags, clock, realtime, loop, on_tag))


async def _ingest(
    protocol: Publisher,
    tags: Iterable[FlvTag],
    clock: IReactorTime,
    realtime: bool,
    loop: bool,
    on_tag: Callable[[FlvTag], None] | None,
) -> int:
    sent = 0
    offset = 0
    passes = 0
    # (clock seconds, timestamp) that pacing is measured from.
    base: tuple[float, int] | None = None
    while True:
        first: int | None = None
        last = 0
        previous: dict[int, int] = {}
        interval: dict[int, int] = {}
        for tag in tags:
            if tag.tag_type == TagType.SCRIPT:
                if passes:
                    continue
                timestamp = tag.timestamp
            else:
                if first is None:
                    first = tag.timestamp
                last = max(last, tag.timestamp)
                before = previous.get(tag.tag_type)
                if before is not None and tag.timestamp > before:
                    delta = tag.timestamp - before
                    interval[tag.tag_type] = min(interval.get(tag.tag_type, delta), delta)
                previous[tag.tag_type] = tag.timestamp
                timestamp = tag.timestamp + offset
                if realtime:
                    now = clock.seconds()
                    if base is None:
                        base = (now, timestamp)
                    delay = base[0] + (timestamp - base[1]) / 1000.0 - now
                    if not -MAX_DRIFT <= delay <= MAX_DRIFT:
                        base = (now, timestamp)
                    elif delay > 0:
                        await task.deferLater(clock, delay)
            if not protocol.writable:
                await protocol.wait_writable()
            protocol.send_message(tag.tag_type, timestamp, tag.payload)
            sent += 1
            if on_tag is not None:
                if timestamp != tag.timestamp:
                    tag = FlvTag(tag.tag_type, timestamp, tag.payload)
                on_tag(tag)
        passes += 1
        if not loop or first is None:
            return sent
        # Let the reactor run between passes even when nothing else waits.
        await task.deferLater(clock, 0)
        gap = interval.get(TagType.VIDEO) or interval.get(TagType.AUDIO) or DEFAULT_FRAME_INTERVAL
        offset += last - first + gap
