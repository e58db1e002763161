# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's fast path: an RTMP chunk-stream reader that parses every chunk
header but never copies an audio or video payload.

A load tester holding two thousand players of a 1 Mbit/s stream reads
about 140,000 media messages a second.  :class:`~srstwist.codec.chunk.ChunkDecoder`
copies each payload twice (into the reassembly buffer, then into ``bytes``)
and the session wraps it in a ``RawMessage`` and a ``Media`` event; that is
about 8 us a message, most of one core.  :class:`ChunkScanner` applies the
same header rules (``rtmp.md`` 2.1-2.4, SRS's quirks as ``ChunkDecoder``
documents them) and, for messages of type 8 and 9, only counts: it reads the
first two payload bytes (frame type, codec, AVC packet type) and skips the
rest in place.  Every other message (protocol control, commands, data,
aggregates) is reassembled and handed to ``on_message``, which the bench
re-encodes for its :class:`~srstwist.codec.rtmp_client.ClientSession`, so
those still get the session's full AMF0 and state-machine checks.

Anything malformed raises :class:`~srstwist.codec.chunk.ChunkError`, after
which the scanner is closed, as the decoder is.
"""

from __future__ import annotations

from collections.abc import Callable

from srstwist.codec.chunk import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_CHUNK_STREAMS,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_PENDING_SIZE,
    ChunkError,
    MessageType,
    check_chunk_size,
)

__all__ = ["ChunkScanner", "MediaTally", "OnMessage"]

#: ``on_message(timestamp, message_type_id, message_stream_id, chunk_stream_id, payload)``
OnMessage = Callable[[int, int, int, int, bytes], None]

_EXTENDED = 0xFFFFFF
_TIMESTAMP_MASK = 0x7FFFFFFF
_MESSAGE_HEADER_SIZES = (11, 7, 3, 0)
_AUDIO = int(MessageType.AUDIO)
_VIDEO = int(MessageType.VIDEO)
_SET_CHUNK_SIZE = int(MessageType.SET_CHUNK_SIZE)
# FLV video: FrameType 1 is a key frame; CodecID 7 is AVC, whose packet type
# 0 is the sequence header (a "key frame" that is not a picture).
_KEYFRAME = 1
_AVC = 7


class MediaTally:
    """
    What a client has seen of a stream: audio and video messages, their
    bytes and timestamps, and when the first video message and the first
    key frame arrived.  Both the fast path and the full session path feed
    it through :meth:`add`, so their figures are comparable.

    :param now: the clock, seconds.
    """

    __slots__ = (
        "_now",
        "audio",
        "video",
        "media_bytes",
        "first_timestamp",
        "last_timestamp",
        "first_media_at",
        "first_video_at",
        "first_keyframe_at",
    )

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.audio = 0
        self.video = 0
        self.media_bytes = 0
        self.first_timestamp = -1
        self.last_timestamp = -1
        self.first_media_at: float | None = None
        self.first_video_at: float | None = None
        self.first_keyframe_at: float | None = None

    def add(self, type_id: int, timestamp: int, size: int, b0: int, b1: int) -> None:
        """
        Count one complete audio (8) or video (9) message.

        :param b0: the first payload byte, -1 if none.
        :param b1: the second payload byte, -1 if none.
        """
        self.media_bytes += size
        if type_id == _VIDEO:
            self.video += 1
            if self.first_keyframe_at is None:
                now = self._now()
                if self.first_video_at is None:
                    self.first_video_at = now
                if b0 >> 4 == _KEYFRAME and not (b0 & 0x0F == _AVC and b1 == 0):
                    self.first_keyframe_at = now
        else:
            self.audio += 1
        if self.first_media_at is None:
            self.first_media_at = self._now()
            self.first_timestamp = self.last_timestamp = timestamp
        elif timestamp > self.last_timestamp:
            self.last_timestamp = timestamp

    def add_segment(self, start_ms: float, end_ms: float, size: int) -> None:
        """
        Count one downloaded HLS segment as one key frame whose timestamps
        run from ``start_ms`` to ``end_ms``.
        """
        now = self._now()
        self.video += 1
        self.media_bytes += size
        if self.first_media_at is None:
            self.first_media_at = self.first_video_at = self.first_keyframe_at = now
            self.first_timestamp = int(start_ms)
        self.last_timestamp = max(self.last_timestamp, int(end_ms))

    @property
    def messages(self) -> int:
        """Audio plus video messages."""
        return self.audio + self.video

    @property
    def span_ms(self) -> int:
        """The media timestamp span received, milliseconds."""
        if self.first_media_at is None:
            return 0
        return self.last_timestamp - self.first_timestamp


class _Csid:
    """What the scanner remembers about one chunk stream id."""

    __slots__ = (
        "timestamp",
        "delta",
        "length",
        "type_id",
        "stream_id",
        "extended",
        "left",
        "partial",
        "b0",
        "b1",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        # Payload bytes of the current message still to come; 0 between
        # messages.
        self.left = 0
        # Reassembly buffer, for messages other than audio and video.
        self.partial: bytearray | None = None
        self.b0 = -1
        self.b1 = -1


class ChunkScanner:
    """
    Read the chunk stream a server sends a player; see the module docstring.

    :param tally: counts audio and video messages.
    :param on_message: receives every other complete message.
    """

    def __init__(
        self,
        tally: MediaTally,
        on_message: OnMessage,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_pending_size: int = DEFAULT_MAX_PENDING_SIZE,
        max_chunk_streams: int = DEFAULT_MAX_CHUNK_STREAMS,
    ) -> None:
        self._tally = tally
        self._on_message = on_message
        self._max_message_size = max_message_size
        self._max_pending_size = max_pending_size
        self._max_chunk_streams = max_chunk_streams
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _Csid] = {}
        self._pending = 0
        # An incomplete chunk header kept from the previous read.
        self._carry = b""
        # The chunk whose payload is being read, and its bytes still to come.
        self._current: _Csid | None = None
        self._current_csid = 0
        self._chunk_left = 0
        self._closed = False

    @property
    def in_chunk_size(self) -> int:
        """The chunk size the next chunk header is read with."""
        return self._chunk_size

    def receive_data(self, data: bytes) -> None:
        """
        Take bytes from the server.

        :raises ChunkError: the chunk stream is malformed or a bound was
            exceeded; the scanner is then closed.
        """
        if self._closed:
            raise ChunkError("chunk scanner closed by an earlier error")
        if self._carry:
            data = self._carry + data
            self._carry = b""
        try:
            self._scan(data)
        except ChunkError:
            self._closed = True
            raise

    def _scan(self, data: bytes) -> None:
        pos = 0
        end = len(data)
        stream = self._current
        chunk_left = self._chunk_left
        tally_add = self._tally.add
        try:
            while True:
                if stream is not None:
                    take = end - pos
                    if take <= 0:
                        return
                    if take > chunk_left:
                        take = chunk_left
                    partial = stream.partial
                    if partial is not None:
                        partial += data[pos : pos + take]
                    elif stream.left == stream.length:
                        stream.b0 = data[pos]
                        stream.b1 = data[pos + 1] if take > 1 else -1
                    elif stream.b1 < 0 and stream.left == stream.length - 1:
                        stream.b1 = data[pos]
                    pos += take
                    chunk_left -= take
                    stream.left -= take
                    if chunk_left:
                        return
                    if not stream.left:
                        if partial is None:
                            tally_add(
                                stream.type_id,
                                stream.timestamp,
                                stream.length,
                                stream.b0,
                                stream.b1,
                            )
                        else:
                            self._complete(stream, bytes(partial))
                    stream = None
                    continue
                if pos >= end:
                    return
                parsed = self._header(data, pos, end)
                if parsed is None:
                    self._carry = data[pos:]
                    return
                pos, stream, chunk_left = parsed
                if not chunk_left:
                    # A zero-length message: parsed and dropped.
                    stream.partial = None
                    stream = None
        finally:
            self._current = stream
            self._chunk_left = chunk_left

    def _header(self, data: bytes, pos: int, end: int) -> tuple[int, _Csid, int] | None:
        """
        Parse the chunk header at ``pos``.  Nothing changes until the whole
        header is there.

        :return: the position after it, its chunk stream and the chunk's
            payload size; ``None`` when the header is incomplete.
        """
        b = data[pos]
        fmt = b >> 6
        csid = b & 0x3F
        p = pos + 1
        if csid < 2:
            # 0: one more byte, csid 64..319; 1: two more (LE), 64..65599.
            if end - p < csid + 1:
                return None
            extra = csid + 1
            csid = 64 + data[p] + (data[p + 1] << 8 if csid else 0)
            p += extra
        mh_size = _MESSAGE_HEADER_SIZES[fmt]
        if end - p < mh_size:
            return None
        stream = self._streams.get(csid)
        if stream is None and not (fmt == 0 or (fmt == 1 and csid == 2)):
            # librtmp's ping starts csid 2 with fmt 1 (SRS #98).
            raise ChunkError(f"chunk stream {csid} starts with fmt {fmt}, not 0")
        pending = stream is not None and stream.left > 0
        if pending and fmt == 0:
            raise ChunkError(f"fmt 0 inside a message on chunk stream {csid}")
        if stream is None:
            timestamp = length = type_id = stream_id = delta = 0
            extended = False
        else:
            timestamp = stream.timestamp
            length = stream.length
            type_id = stream.type_id
            stream_id = stream.stream_id
            delta = stream.delta
            extended = stream.extended
        if fmt <= 2:
            delta = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2]
            extended = delta >= _EXTENDED
            if not extended:
                timestamp = delta if fmt == 0 else timestamp + delta
            if fmt <= 1:
                new_length = (data[p + 3] << 16) | (data[p + 4] << 8) | data[p + 5]
                if pending and (new_length != length or data[p + 6] != type_id):
                    # SRS refuses a new length; a new type would move a
                    # message between the counted and the reassembled kinds.
                    raise ChunkError(
                        f"fmt 1 changes the length or type of a pending message "
                        f"on chunk stream {csid}"
                    )
                length = new_length
                if length > self._max_message_size:
                    raise ChunkError(
                        f"message of {length} bytes exceeds the limit of {self._max_message_size}"
                    )
                type_id = data[p + 6]
                if fmt == 0:
                    stream_id = int.from_bytes(data[p + 7 : p + 11], "little")
        elif not pending and not extended:
            timestamp += delta
        p += mh_size
        if extended:
            if end - p < 4:
                return None
            value = int.from_bytes(data[p : p + 4], "big") & _TIMESTAMP_MASK
            current = timestamp & _TIMESTAMP_MASK
            if fmt == 3 and pending and current and value != current:
                # Not a repeated extended timestamp: payload (see
                # ChunkDecoder; FFmpeg and librtmp omit it).
                pass
            else:
                timestamp = value
                p += 4
        timestamp &= _TIMESTAMP_MASK

        if stream is None:
            if len(self._streams) >= self._max_chunk_streams:
                raise ChunkError(f"more than {self._max_chunk_streams} chunk streams")
            stream = self._streams[csid] = _Csid()
        media = type_id == _AUDIO or type_id == _VIDEO
        if not pending and not media:
            if self._pending + length > self._max_pending_size:
                raise ChunkError(
                    f"{self._pending + length} bytes of partial messages "
                    f"exceed the limit of {self._max_pending_size}"
                )
        stream.timestamp = timestamp
        stream.delta = delta
        stream.length = length
        stream.type_id = type_id
        stream.stream_id = stream_id
        stream.extended = extended
        if not pending:
            stream.left = length
            stream.b0 = stream.b1 = -1
            if media:
                stream.partial = None
            else:
                stream.partial = bytearray()
                self._pending += length
        self._current_csid = csid
        chunk = stream.left if stream.left < self._chunk_size else self._chunk_size
        return p, stream, chunk

    def _complete(self, stream: _Csid, payload: bytes) -> None:
        """A reassembled message other than audio or video is complete."""
        stream.partial = None
        self._pending -= stream.length
        if stream.type_id == _SET_CHUNK_SIZE:
            # Applies from the very next chunk header, as in SRS.
            if len(payload) < 4:
                raise ChunkError("Set Chunk Size message shorter than 4 bytes")
            self._chunk_size = check_chunk_size(int.from_bytes(payload[:4], "big"))
        self._on_message(
            stream.timestamp, stream.type_id, stream.stream_id, self._current_csid, payload
        )
