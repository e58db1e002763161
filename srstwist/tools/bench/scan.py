# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's fast path: an RTMP chunk-stream reader that parses every chunk
header but never copies an audio or video payload.

A load tester holding two thousand players of a 1 Mbit/s stream reads
about 140,000 media messages a second.  :class:`~srstwist.codec.chunk.ChunkDecoder`
copies each payload twice (into the reassembly buffer, then into ``bytes``)
and the session wraps it in a ``RawMessage`` and a ``Media`` event; that is
about 8 us a message, most of one core.  :class:`ChunkScanner` parses the
headers with the decoder's own parser,
:func:`~srstwist.codec.chunk.parse_chunk_header` (SRS's rules included),
and, for messages of type 8 and 9, only counts: it reads the first two
payload bytes (frame type, codec, AVC packet type) and skips the rest in
place.  Every other message (protocol control, commands, data,
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
    ChunkStreamState,
    MessageType,
    check_chunk_size,
    parse_chunk_header,
)

__all__ = ["ChunkScanner", "MediaTally", "OnMessage"]

#: ``on_message(timestamp, message_type_id, message_stream_id, chunk_stream_id, payload)``
OnMessage = Callable[[int, int, int, int, bytes], None]

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


class _Csid(ChunkStreamState):
    """
    What the scanner remembers about one chunk stream id.

    :ivar partial: the reassembly buffer of a message other than audio and
        video, or ``None``.
    :ivar b0: the first payload byte of the current message, -1 until read.
    :ivar b1: the second payload byte of the current message, -1 until read.
    """

    __slots__ = ("partial", "b0", "b1")

    def __init__(self) -> None:
        super().__init__()
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
        """
        Read ``data``: skip or reassemble payloads, and parse each chunk
        header with :func:`~srstwist.codec.chunk.parse_chunk_header`, applying
        it only once the whole header is there; keep an incomplete header for
        the next call.

        :raises ChunkError: the chunk stream is malformed or exceeds a bound.
        """
        pos = 0
        end = len(data)
        streams = self._streams
        max_message_size = self._max_message_size
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
                if pos >= end:
                    return
                header = parse_chunk_header(data, pos, streams, max_message_size)
                if header is None:
                    self._carry = data[pos:]
                    return
                (
                    pos,
                    csid,
                    previous,
                    pending,
                    timestamp,
                    delta,
                    length,
                    type_id,
                    stream_id,
                    extended,
                ) = header
                if pending:
                    assert previous is not None
                    stream = previous
                    if type_id != stream.type_id:
                        # A new type would move a message between the
                        # counted and the reassembled kinds.
                        raise ChunkError(
                            f"fmt 1 changes the type of a pending message "
                            f"on chunk stream {csid}"
                        )
                else:
                    if previous is None:
                        if len(streams) >= self._max_chunk_streams:
                            raise ChunkError(
                                f"more than {self._max_chunk_streams} chunk streams"
                            )
                        stream = streams[csid] = _Csid()
                    else:
                        stream = previous
                    stream.left = length
                    stream.b0 = stream.b1 = -1
                    if type_id == _AUDIO or type_id == _VIDEO:
                        stream.partial = None
                    else:
                        if self._pending + length > self._max_pending_size:
                            raise ChunkError(
                                f"{self._pending + length} bytes of partial messages "
                                f"exceed the limit of {self._max_pending_size}"
                            )
                        stream.partial = bytearray()
                        self._pending += length
                stream.timestamp = timestamp
                stream.delta = delta
                stream.length = length
                stream.type_id = type_id
                stream.stream_id = stream_id
                stream.extended = extended
                self._current_csid = csid
                chunk_left = stream.left
                if chunk_left > self._chunk_size:
                    chunk_left = self._chunk_size
                elif not chunk_left:
                    # A zero-length message: parsed and dropped.
                    stream.partial = None
                    stream = None
        finally:
            self._current = stream
            self._chunk_left = chunk_left

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
