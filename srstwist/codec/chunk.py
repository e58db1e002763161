# -*- test-case-name: tests.test_codec_chunk -*-
"""
The RTMP chunk stream, sans-IO: chunks in, messages out, and back.

Receiving: L{ChunkDecoder.receive_data} takes whatever bytes the transport
read after the handshake and returns the complete L{RawMessage}s they finish.
It follows SRS 2.0's ``SrsProtocol`` reader (``rtmp.md`` section 2), quirks
included:

* basic headers of 1, 2 and 3 bytes (chunk stream ids 2..65599);
* a chunk stream's first header must be fmt 0, except fmt 1 on csid 2, which
  librtmp uses for its ping (SRS #98);
* fmt 0 while a message is pending on that csid, or fmt 1 changing the length
  of a pending message, is an error;
* fmt 3 that starts a new message adds the last timestamp field again, and
  after a fmt-0 header that field is the fmt-0 timestamp (FMLE sends ``C4``
  audio this way, ``rtmp.md`` 2.2);
* an extended timestamp is absolute, also after fmt 1/2 (SRS does not add it
  as a delta, ``rtmp.md`` 2.3); timestamps are cut to 31 bits (SRS #111);
* fmt 3 inside a message while the extended flag is set may or may not repeat
  the 4-byte extended timestamp (Adobe does, FFmpeg/librtmp do not): the 4
  bytes are taken as the extended timestamp when they equal the message's
  timestamp (or that is 0), and as payload otherwise (``rtmp.md`` 2.3);
* zero-length messages are parsed and dropped;
* a Set Chunk Size message changes the chunk size for the very next chunk.

Sending: L{encode_chunks} gives a fmt-0 header and fmt-3 continuation headers,
repeating the extended timestamp on every fmt-3 header as SRS, Flash and FMLE
do (``rtmp.md`` 2.3, 2.5).  The pieces go straight to
C{transport.writeSequence} as C{bytes} (the one type Twisted transports take);
the fan-out caches them so a payload is sliced once per chunk size.
L{encode_chunks_delta} starts with fmt 1 instead, and L{ChunkEncoder} keeps
the outgoing chunk size.

Everything malformed or out of bounds raises L{ChunkError}.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from srstwist.codec.buffer import ReceiveBuffer

__all__ = [
    "CSID_AUDIO",
    "CSID_OVER_CONNECTION",
    "CSID_OVER_CONNECTION2",
    "CSID_OVER_STREAM",
    "CSID_OVER_STREAM2",
    "CSID_PROTOCOL_CONTROL",
    "CSID_VIDEO",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_CHUNK_STREAMS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_PENDING_SIZE",
    "MAX_CHUNK_SIZE",
    "MAX_CHUNK_STREAM_ID",
    "MIN_CHUNK_SIZE",
    "MIN_CHUNK_STREAM_ID",
    "ChunkDecoder",
    "ChunkEncoder",
    "ChunkError",
    "MessageType",
    "RawMessage",
    "check_chunk_size",
    "encode_chunks",
    "encode_chunks_delta",
    "split_aggregate",
]


class ChunkError(Exception):
    """
    The peer broke the chunk stream protocol or one of our bounds (or a caller
    asked to encode something unencodable).  The connection cannot continue.
    """


class MessageType(IntEnum):
    """
    RTMP message type ids (``rtmp.md`` 3.1).
    """

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACKNOWLEDGEMENT_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    #: SRS's name for 7; it ignores it (``rtmp.md`` 2.7).
    EDGE_AND_ORIGIN_SERVER_COMMAND = 7
    AUDIO = 8
    VIDEO = 9
    AMF3_DATA = 15
    AMF3_SHARED_OBJECT = 16
    AMF3_COMMAND = 17
    AMF0_DATA = 18
    AMF0_SHARED_OBJECT = 19
    AMF0_COMMAND = 20
    AGGREGATE = 22


#: Chunk size both sides start with.
DEFAULT_CHUNK_SIZE = 128
#: SRS closes the connection on a smaller Set Chunk Size (SRS #541).
MIN_CHUNK_SIZE = 128
#: SRS reads the size as a signed 32-bit int, so anything above is negative
#: and rejected; values above 65536 are accepted with a warning (SRS #160).
MAX_CHUNK_SIZE = 0x7FFFFFFF

MIN_CHUNK_STREAM_ID = 2
MAX_CHUNK_STREAM_ID = 65599

#: Largest message accepted by default.  The length field allows 16 MiB - 1;
#: SRS has no limit of its own (it allocates whatever is declared).  8 MiB is
#: several times the largest 4K keyframe.
DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024
#: Default cap on the sum of the declared lengths of all partly received
#: messages, which bounds reassembly memory per connection.
DEFAULT_MAX_PENDING_SIZE = 16 * 1024 * 1024
#: Default cap on distinct chunk stream ids per connection.  Real clients use
#: a handful (2..8); each id costs per-connection state for ever.
DEFAULT_MAX_CHUNK_STREAMS = 64

# Chunk stream ids SRS sends on (``rtmp.md`` 2.6), with SRS's names.
CSID_PROTOCOL_CONTROL = 2
CSID_OVER_CONNECTION = 3
CSID_OVER_CONNECTION2 = 4
CSID_OVER_STREAM = 5
CSID_VIDEO = 6
CSID_AUDIO = 7
CSID_OVER_STREAM2 = 8

_EXTENDED = 0xFFFFFF
_TIMESTAMP_MASK = 0x7FFFFFFF
_MESSAGE_HEADER_SIZES = (11, 7, 3, 0)
# Bytes are handed to the ReceiveBuffer in slices of at most this size, so it
# never holds more than one slice plus an incomplete chunk header.
_FEED_SIZE = 64 * 1024
_MAX_HEADER_SIZE = 3 + 11 + 4

_UINT32 = struct.Struct(">I")
_UINT32_LE = struct.Struct("<I")


def check_chunk_size(size: int) -> int:
    """
    Validate a chunk size received in or sent with Set Chunk Size.

    @return: C{size}.
    @raise ChunkError: if it is below 128 (SRS #541) or above 2**31 - 1.
    """
    if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
        raise ChunkError(
            f"chunk size {size} outside {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}"
        )
    return size


@dataclass(frozen=True, slots=True)
class RawMessage:
    """
    One reassembled RTMP message.

    @ivar timestamp: absolute timestamp in milliseconds, 31 bits (SRS #111).
    @ivar message_type_id: see L{MessageType}; unknown ids are kept.
    @ivar message_stream_id: the fmt-0 stream id (0 for connection-level).
    @ivar chunk_stream_id: the csid it arrived on; SRS relays media on the
        csid the publisher used (``rtmp.md`` 2.6).
    @ivar payload: the message body.
    """

    timestamp: int
    message_type_id: int
    message_stream_id: int
    chunk_stream_id: int
    payload: bytes = field(repr=False)


@dataclass(slots=True)
class _ChunkStream:
    """
    What the decoder remembers about one chunk stream id.

    @ivar delta: the last 3-byte timestamp field, which a fmt-3 header that
        starts a message adds again (``rtmp.md`` 2.2).
    @ivar extended: the last fmt 0/1/2 header had an extended timestamp, so
        fmt-3 headers carry (or may carry) 4 more bytes.
    @ivar partial: the message being reassembled, or L{None} between messages.
    """

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray | None = None


class ChunkDecoder:
    """
    Reassemble RTMP messages from the chunk stream a peer sends.

    Feed it with L{receive_data}; it works the same whether the bytes come all
    at once or one at a time, and its work is linear in the bytes fed.  After
    it raises L{ChunkError} it is closed and raises again on further input.

    The decoder applies a received Set Chunk Size itself, at the chunk where
    it takes effect, because the chunks after it in the same L{receive_data}
    call must already be cut with the new size (SRS does the same in
    ``SrsProtocol::on_recv_message``).  The message is still returned, for
    logging; a session must not feed it back through L{set_in_chunk_size}.
    Abort messages are returned but, as in SRS (``rtmp.md`` 2.7), not acted
    on unless C{honour_abort} is set; then the decoder drops the partial
    message at the exact point the Abort arrives.  Calling L{abort} after
    L{receive_data} returns is only exact if no later chunk on that chunk
    stream came in the same call.
    """

    def __init__(
        self,
        *,
        in_chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_pending_size: int = DEFAULT_MAX_PENDING_SIZE,
        max_chunk_streams: int = DEFAULT_MAX_CHUNK_STREAMS,
        honour_abort: bool = False,
    ) -> None:
        """
        @param in_chunk_size: the peer's chunk size to start with.
        @param max_message_size: a header declaring a longer message raises.
        @param max_pending_size: the declared lengths of all messages being
            reassembled at once may not add up to more.
        @param max_chunk_streams: distinct chunk stream ids allowed.
        @param honour_abort: apply received Abort messages (SRS does not).
        """
        self._in_chunk_size = check_chunk_size(in_chunk_size)
        self._max_message_size = max_message_size
        self._max_pending_size = max_pending_size
        self._max_chunk_streams = max_chunk_streams
        self._honour_abort = honour_abort
        self._buffer = ReceiveBuffer(_FEED_SIZE + _MAX_HEADER_SIZE, ChunkError)
        self._streams: dict[int, _ChunkStream] = {}
        self._pending = 0
        # While a chunk's payload is being read: its stream and bytes left.
        self._current: _ChunkStream | None = None
        self._current_csid = 0
        self._chunk_left = 0
        self._closed = False

    @property
    def in_chunk_size(self) -> int:
        """
        The chunk size the next chunk header will be read with.
        """
        return self._in_chunk_size

    @property
    def pending_size(self) -> int:
        """
        Sum of the declared lengths of the messages being reassembled.
        """
        return self._pending

    @property
    def chunk_stream_count(self) -> int:
        """
        Number of chunk stream ids seen so far.
        """
        return len(self._streams)

    @property
    def buffered_size(self) -> int:
        """
        Bytes held in the receive buffer (an incomplete chunk header at most,
        between calls).
        """
        return self._buffer.held()

    def set_in_chunk_size(self, size: int) -> None:
        """
        Set the peer's chunk size out of band; it applies from the next chunk
        header.  Received Set Chunk Size messages are applied automatically.

        @raise ChunkError: if C{size} fails L{check_chunk_size}.
        """
        self._in_chunk_size = check_chunk_size(size)

    def abort(self, chunk_stream_id: int) -> None:
        """
        Drop the partly received message on C{chunk_stream_id}, as the RTMP
        Abort message asks.  Does nothing if there is none, or if that chunk
        stream is in the middle of a chunk (the abort cannot have been sent
        there).
        """
        stream = self._streams.get(chunk_stream_id)
        if stream is None or stream.partial is None or stream is self._current:
            return
        self._pending -= stream.length
        stream.partial = None

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[RawMessage]:
        """
        Take bytes from the peer.

        @return: the messages these bytes complete, in completion order;
            zero-length messages are left out.
        @raise ChunkError: on a protocol violation or exceeded bound.
        """
        if self._closed:
            raise ChunkError("chunk decoder closed by an earlier error")
        out: list[RawMessage] = []
        view = memoryview(data)
        if view.format != "B":
            view = view.cast("B")
        try:
            for offset in range(0, len(view), _FEED_SIZE):
                self._buffer.append(view[offset : offset + _FEED_SIZE])
                self._parse(out)
        except ChunkError:
            self._closed = True
            raise
        return out

    def _parse(self, out: list[RawMessage]) -> None:
        """
        Parse as much of the buffer as possible, appending finished messages.
        """
        buffer = self._buffer
        while True:
            stream = self._current
            if stream is None:
                if not self._parse_header():
                    return
                continue
            if self._chunk_left:
                piece = buffer.consume_at_most(self._chunk_left)
                if not piece:
                    return
                buffer.commit()
                assert stream.partial is not None
                stream.partial += piece
                self._chunk_left -= len(piece)
            if not self._chunk_left:
                self._end_chunk(stream, out)

    def _parse_header(self) -> bool:
        """
        Read one complete chunk header, or nothing.

        @return: whether a header was read (C{False}: wait for more bytes).
        """
        buffer = self._buffer
        raw = buffer.consume_exactly(1)
        if raw is None:
            return False
        fmt = raw[0] >> 6
        csid = raw[0] & 0x3F
        header_size = 1
        if csid < 2:
            # 0: one more byte, csid 64..319; 1: two more (LE), 64..65599.
            extra = buffer.consume_exactly(csid + 1)
            if extra is None:
                buffer.rollback()
                return False
            header_size += csid + 1
            csid = 64 + extra[0] + (extra[1] << 8 if csid else 0)
        mh_size = _MESSAGE_HEADER_SIZES[fmt]
        mh = buffer.consume_exactly(mh_size)
        if mh is None:
            buffer.rollback()
            return False
        header_size += mh_size

        stream = self._streams.get(csid)
        if stream is None and not (fmt == 0 or (fmt == 1 and csid == 2)):
            # librtmp's ping starts csid 2 with fmt 1 (SRS #98).
            raise ChunkError(f"chunk stream {csid} starts with fmt {fmt}, not 0")
        pending = stream is not None and stream.partial is not None
        if pending and fmt == 0:
            raise ChunkError(f"fmt 0 inside a message on chunk stream {csid}")

        old = stream if stream is not None else _ChunkStream()
        timestamp = old.timestamp
        length = old.length
        type_id = old.type_id
        stream_id = old.stream_id
        if fmt <= 2:
            delta = (mh[0] << 16) | (mh[1] << 8) | mh[2]
            extended = delta >= _EXTENDED
            if not extended:
                timestamp = delta if fmt == 0 else timestamp + delta
            if fmt <= 1:
                length = (mh[3] << 16) | (mh[4] << 8) | mh[5]
                type_id = mh[6]
                if pending and length != old.length:
                    raise ChunkError(
                        f"fmt 1 changes the length of a pending message on "
                        f"chunk stream {csid} from {old.length} to {length}"
                    )
                if length > self._max_message_size:
                    raise ChunkError(
                        f"message of {length} bytes exceeds the limit of "
                        f"{self._max_message_size}"
                    )
                if fmt == 0:
                    (stream_id,) = _UINT32_LE.unpack_from(mh, 7)
        else:
            delta = old.delta
            extended = old.extended
            if not pending and not extended:
                timestamp += delta

        if extended:
            ext = buffer.consume_exactly(4)
            if ext is None:
                buffer.rollback()
                return False
            (value,) = _UINT32.unpack(ext)
            value &= _TIMESTAMP_MASK
            current = timestamp & _TIMESTAMP_MASK
            if fmt == 3 and pending and current and value != current:
                # The sender does not repeat the extended timestamp on
                # continuation chunks: these 4 bytes are payload.  Like SRS
                # we need 4 bytes to tell, so a last chunk with fewer payload
                # bytes completes only when the peer sends more.
                buffer.rollback()
                buffer.consume_exactly(header_size)
            else:
                timestamp = value
        timestamp &= _TIMESTAMP_MASK

        if not pending:
            if self._pending + length > self._max_pending_size:
                raise ChunkError(
                    f"{self._pending + length} bytes of partial messages "
                    f"exceed the limit of {self._max_pending_size}"
                )
            if stream is None:
                if len(self._streams) >= self._max_chunk_streams:
                    raise ChunkError(
                        f"more than {self._max_chunk_streams} chunk streams"
                    )
                stream = self._streams[csid] = _ChunkStream()
        assert stream is not None
        buffer.commit()

        stream.timestamp = timestamp
        stream.delta = delta
        stream.length = length
        stream.type_id = type_id
        stream.stream_id = stream_id
        stream.extended = extended
        if not pending:
            stream.partial = bytearray()
            self._pending += length
        assert stream.partial is not None
        self._current = stream
        self._current_csid = csid
        self._chunk_left = min(length - len(stream.partial), self._in_chunk_size)
        return True

    def _end_chunk(self, stream: _ChunkStream, out: list[RawMessage]) -> None:
        """
        Finish the current chunk; emit its message if it is now complete.
        """
        self._current = None
        partial = stream.partial
        assert partial is not None
        if len(partial) < stream.length:
            return
        stream.partial = None
        self._pending -= stream.length
        if stream.length == 0:
            return
        message = RawMessage(
            stream.timestamp,
            stream.type_id,
            stream.stream_id,
            self._current_csid,
            bytes(partial),
        )
        if message.message_type_id == MessageType.SET_CHUNK_SIZE:
            if len(partial) < 4:
                raise ChunkError("Set Chunk Size message shorter than 4 bytes")
            self._in_chunk_size = check_chunk_size(_UINT32.unpack_from(partial)[0])
        elif message.message_type_id == MessageType.ABORT and self._honour_abort:
            if len(partial) < 4:
                raise ChunkError("Abort message shorter than 4 bytes")
            self.abort(_UINT32.unpack_from(partial)[0])
        out.append(message)


def _basic_header(fmt: int, csid: int) -> bytes:
    """
    Encode a basic header in the shortest form for C{csid}.

    SRS itself only writes the 1-byte form (``rtmp.md`` 2.1), which is all
    it needs for the csids it picks; relayed csids may be larger.
    """
    if csid < 64:
        return bytes((fmt << 6 | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    return bytes((fmt << 6 | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))


def _check_encode(type_id: int, payload: bytes, chunk_size: int, csid: int) -> None:
    """
    Reject arguments no chunk header can carry.

    @raise ChunkError: naming the bad argument.
    """
    if not MIN_CHUNK_STREAM_ID <= csid <= MAX_CHUNK_STREAM_ID:
        raise ChunkError(f"chunk stream id {csid} outside 2..65599")
    if not 0 <= type_id <= 0xFF:
        raise ChunkError(f"message type id {type_id} outside 0..255")
    if len(payload) > 0xFFFFFF:
        raise ChunkError(f"payload of {len(payload)} bytes exceeds 16 MiB - 1")
    check_chunk_size(chunk_size)


def _split(
    first: bytes, continuation: bytes, payload: bytes, chunk_size: int
) -> list[bytes]:
    """
    Interleave headers with payload slices of C{chunk_size} bytes.

    The slices are C{bytes}, not memoryviews: Twisted's TCP transports accept
    only C{bytes} in C{write}/C{writeSequence}.  Slicing copies the payload
    once per encoding, which the fan-out caches (L{srstwist.media.message}),
    so that copy is paid once per message and chunk size, not per player.
    """
    size = len(payload)
    if size <= chunk_size:
        return [first, bytes(payload)] if size else [first]
    pieces: list[bytes] = [first, bytes(payload[:chunk_size])]
    for offset in range(chunk_size, size, chunk_size):
        pieces.append(continuation)
        pieces.append(bytes(payload[offset : offset + chunk_size]))
    return pieces


def encode_chunks(
    timestamp: int,
    type_id: int,
    stream_id: int,
    payload: bytes,
    chunk_size: int,
    csid: int,
) -> list[bytes]:
    """
    Cut one message into chunks the way SRS sends everything: a fmt-0 header
    with the absolute timestamp, then fmt-3 headers (``rtmp.md`` 2.5).

    A timestamp of 0xFFFFFF or more goes in a 4-byte extended timestamp after
    the fmt-0 header I{and} after every fmt-3 header, as Adobe products and
    SRS do (``rtmp.md`` 2.3); SRS-style readers accept it either way.

    The result depends only on the arguments, so it can be computed once per
    message and chunk size and shared by every player (``STYLE.md`` 10).

    @param timestamp: 0..2**32 - 1.
    @param stream_id: message stream id, written little-endian.
    @param payload: the message body.
    @param chunk_size: the receiver's current chunk size.
    @param csid: chunk stream id, 2..65599.
    @return: C{bytes} pieces for C{transport.writeSequence}; a payload that
        fits one chunk is passed through uncopied.
    @raise ChunkError: if an argument cannot be encoded.
    """
    _check_encode(type_id, payload, chunk_size, csid)
    if not 0 <= timestamp <= 0xFFFFFFFF:
        raise ChunkError(f"timestamp {timestamp} outside 32 bits")
    if not 0 <= stream_id <= 0xFFFFFFFF:
        raise ChunkError(f"message stream id {stream_id} outside 32 bits")
    size = len(payload)
    if timestamp >= _EXTENDED:
        ext = _UINT32.pack(timestamp)
        field24 = _EXTENDED
    else:
        ext = b""
        field24 = timestamp
    first = b"".join(
        (
            _basic_header(0, csid),
            _UINT32.pack(field24)[1:],
            _UINT32.pack(size)[1:],
            bytes((type_id,)),
            _UINT32_LE.pack(stream_id),
            ext,
        )
    )
    continuation = _basic_header(3, csid) + ext
    return _split(first, continuation, payload, chunk_size)


def encode_chunks_delta(
    delta: int,
    type_id: int,
    payload: bytes,
    chunk_size: int,
    csid: int,
) -> list[bytes]:
    """
    Cut one message into chunks that start with a fmt-1 header (timestamp
    delta, length, type) followed by fmt-3 headers.

    The bytes depend only on the delta to the previous message on C{csid},
    not on its absolute timestamp, so players that started at different
    times can share them.  The receiver must already have had a message on
    C{csid} with the right message stream id, which fmt 1 keeps.

    Deltas of 0xFFFFFF and above are refused: in an extended field SRS reads
    them as an absolute timestamp, where the RTMP specification and FFmpeg
    add them (``rtmp.md`` 2.3), so they cannot be sent unambiguously; send
    such a message with L{encode_chunks}.

    @param delta: 0..0xFFFFFE milliseconds since the previous message.
    @return: pieces for C{transport.writeSequence}, as L{encode_chunks}.
    @raise ChunkError: if an argument cannot be encoded.
    """
    _check_encode(type_id, payload, chunk_size, csid)
    if not 0 <= delta < _EXTENDED:
        raise ChunkError(f"timestamp delta {delta} outside 0..0xFFFFFE")
    first = b"".join(
        (
            _basic_header(1, csid),
            _UINT32.pack(delta)[1:],
            _UINT32.pack(len(payload))[1:],
            bytes((type_id,)),
        )
    )
    return _split(first, _basic_header(3, csid), payload, chunk_size)


def _encode_delta_fmt2(
    delta: int, payload: bytes, chunk_size: int, csid: int
) -> list[bytes]:
    """
    Like L{encode_chunks_delta} but with a fmt-2 header (delta only), for a
    message whose length and type equal the previous one's on C{csid}.
    """
    first = _basic_header(2, csid) + _UINT32.pack(delta)[1:]
    return _split(first, _basic_header(3, csid), payload, chunk_size)


@dataclass(frozen=True, slots=True)
class _SentHeader:
    """
    The last message header sent on one chunk stream.
    """

    timestamp: int
    type_id: int
    stream_id: int
    length: int


class ChunkEncoder:
    """
    The sending side of one connection: the outgoing chunk size and the last
    header sent on each chunk stream.

    By default every message starts with a fmt-0 header, exactly as SRS does
    (``rtmp.md`` 2.5): each message's chunks are then independent of what
    was sent before, which is what lets one encoding be shared by all
    players, and every client accepts it.  With C{compress=True} a message
    that follows another on the same chunk stream and message stream id, no
    more than 0xFFFFFE ms later, gets a fmt-1 header, or fmt 2 when length
    and type also match; fmt 3 is never used to start a message, because
    implementations disagree on which delta it repeats after fmt 0.  Then
    every message on those chunk streams must go through this encoder.
    """

    def __init__(
        self, chunk_size: int = DEFAULT_CHUNK_SIZE, *, compress: bool = False
    ) -> None:
        """
        @param chunk_size: the outgoing chunk size to start with.
        @param compress: use fmt 1/2 headers where they are unambiguous.
        """
        self._chunk_size = check_chunk_size(chunk_size)
        self._compress = compress
        self._last: dict[int, _SentHeader] = {}

    @property
    def chunk_size(self) -> int:
        """
        The chunk size messages are cut with.
        """
        return self._chunk_size

    def set_chunk_size(self, size: int) -> None:
        """
        Change the outgoing chunk size.  Call it right after encoding the Set
        Chunk Size message that announces it: SRS switches at that point too,
        so the next message (the connect C{_result}) already uses it (SRS
        #454, ``rtmp.md`` 2.4, 3.3).

        @raise ChunkError: if C{size} fails L{check_chunk_size}.
        """
        self._chunk_size = check_chunk_size(size)

    def last_header(self, csid: int) -> tuple[int, int, int, int] | None:
        """
        @return: C{(timestamp, type_id, stream_id, length)} of the last
            message encoded on C{csid}, or L{None}.
        """
        last = self._last.get(csid)
        if last is None:
            return None
        return (last.timestamp, last.type_id, last.stream_id, last.length)

    def encode(
        self,
        timestamp: int,
        type_id: int,
        stream_id: int,
        payload: bytes,
        csid: int,
    ) -> list[bytes]:
        """
        Cut one message into chunks with the current chunk size.

        @return: pieces for C{transport.writeSequence}, as L{encode_chunks}.
        @raise ChunkError: if an argument cannot be encoded.
        """
        last = self._last.get(csid)
        size = len(payload)
        if (
            self._compress
            and last is not None
            and last.stream_id == stream_id
            and 0 <= timestamp - last.timestamp < _EXTENDED
            and timestamp <= 0xFFFFFFFF
        ):
            delta = timestamp - last.timestamp
            if last.length == size and last.type_id == type_id:
                _check_encode(type_id, payload, self._chunk_size, csid)
                pieces = _encode_delta_fmt2(delta, payload, self._chunk_size, csid)
            else:
                pieces = encode_chunks_delta(
                    delta, type_id, payload, self._chunk_size, csid
                )
        else:
            pieces = encode_chunks(
                timestamp, type_id, stream_id, payload, self._chunk_size, csid
            )
        self._last[csid] = _SentHeader(timestamp, type_id, stream_id, size)
        return pieces


def split_aggregate(message: RawMessage) -> list[RawMessage]:
    """
    Split an aggregate message (type 22) into its audio and video messages.

    The payload is a run of FLV-tag-like records: type (1), data size (3),
    timestamp low 24 bits (3), timestamp high 8 bits (1), stream id (3),
    data, back-pointer (4, ignored) (``rtmp.md`` 2.8).  Timestamps are
    rebased as SRS does (SRS #424): the difference between the aggregate's
    timestamp and the first record's is added to every record, modulo 2**31.
    Like SRS only audio and video records are kept.  Each result carries the
    aggregate's chunk stream id and message stream id (the records' own
    stream id field is 0 in FLV and SRS does not use it for media).

    @raise ChunkError: if a record is truncated.
    """
    payload = message.payload
    size = len(payload)
    offset = 0
    rebase: int | None = None
    out: list[RawMessage] = []
    while offset < size:
        if size - offset < 11:
            raise ChunkError("aggregate message: truncated record header")
        type_id = payload[offset]
        data_size = int.from_bytes(payload[offset + 1 : offset + 4], "big")
        timestamp = int.from_bytes(payload[offset + 4 : offset + 7], "big")
        timestamp = (timestamp | payload[offset + 7] << 24) & _TIMESTAMP_MASK
        start = offset + 11
        end = start + data_size
        if end + 4 > size:
            raise ChunkError("aggregate message: truncated record data")
        offset = end + 4
        if rebase is None:
            rebase = message.timestamp - timestamp
        if type_id in (MessageType.AUDIO, MessageType.VIDEO):
            out.append(
                RawMessage(
                    (timestamp + rebase) & _TIMESTAMP_MASK,
                    type_id,
                    message.message_stream_id,
                    message.chunk_stream_id,
                    payload[start:end],
                )
            )
    return out
