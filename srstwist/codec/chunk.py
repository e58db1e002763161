# -*- test-case-name: tests.test_codec_chunk -*-
"""
The RTMP chunk stream, sans-IO: chunks in, messages out, and back.  "RTMP
spec" below is Adobe's RTMP specification 1.0; the chunk stream is its §5.3.

Receiving: :meth:`ChunkDecoder.receive_data` takes whatever bytes the
transport read after the handshake and returns the complete
:class:`RawMessage` objects they finish.  It follows SRS 2.0's
``SrsProtocol`` reader (``SrsProtocol::recv_interlaced_message`` in ossrs/srs
2.0release ``trunk/src/protocol/srs_rtmp_stack.cpp``), quirks included:

* basic headers of 1, 2 and 3 bytes (chunk stream ids 2..65599);
* the header rules of :func:`parse_chunk_header`, the one chunk header
  parser, which srs-bench's chunk scanner
  (:mod:`srstwist.tools.bench.scan`) shares: which fmt may start a chunk
  stream, the fmt-3 timestamp delta, extended timestamps (absolute, 31
  bits, repeated or not on fmt-3 headers);
* zero-length messages are parsed and dropped;
* a Set Chunk Size message changes the chunk size for the very next chunk.

Sending: :func:`encode_chunks` gives a fmt-0 header and fmt-3 continuation
headers, repeating the extended timestamp on every fmt-3 header as SRS
(``srs_chunk_header_c3`` in ``trunk/src/kernel/srs_kernel_utility.cpp``),
Flash and FMLE do.  The pieces go straight to ``transport.writeSequence`` as
``bytes`` (the one type Twisted transports take); the fan-out caches them
so a payload is sliced once per chunk size.  :func:`encode_chunks_delta`
starts with fmt 1 instead, and :class:`ChunkEncoder` keeps the outgoing chunk
size.

Everything malformed or out of bounds raises :class:`ChunkError`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

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
    "ChunkHeader",
    "ChunkStreamState",
    "MessageType",
    "RawMessage",
    "check_chunk_size",
    "encode_chunks",
    "encode_chunks_delta",
    "parse_chunk_header",
    "split_aggregate",
]


class ChunkError(Exception):
    """
    The peer broke the chunk stream protocol or one of our bounds (or a caller
    asked to encode something unencodable).  The connection cannot continue.
    """


class MessageType(IntEnum):
    """
    RTMP message type ids (RTMP spec §5.4 and §7.1).
    """

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACKNOWLEDGEMENT_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    #: SRS's name for 7 (``RTMP_MSG_EdgeAndOriginServerCommand``); SRS
    #: ignores it.
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


#: Chunk size both sides start with (RTMP spec §5.4.1).
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

# Chunk stream ids SRS sends on, with the names of SRS's RTMP_CID_*
# constants.
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

_UINT32 = struct.Struct(">I")
_UINT32_LE = struct.Struct("<I")


def check_chunk_size(size: int) -> int:
    """
    Validate a chunk size received in or sent with Set Chunk Size.

    :return: ``size``.
    :raises ChunkError: if it is below 128 (SRS #541) or above 2**31 - 1.
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

    :ivar timestamp: absolute timestamp in milliseconds, 31 bits (SRS #111).
    :ivar message_type_id: see :class:`MessageType`; unknown ids are kept.
    :ivar message_stream_id: the fmt-0 stream id (0 for connection-level).
    :ivar chunk_stream_id: the csid it arrived on; SRS relays media on the
        csid the publisher used.
    :ivar payload: the message body.
    """

    timestamp: int
    message_type_id: int
    message_stream_id: int
    chunk_stream_id: int
    payload: bytes = field(repr=False)


class ChunkStreamState:
    """
    What a reader remembers about one chunk stream id between chunk headers:
    the fields of the last message header, which fmt 1, 2 and 3 headers
    leave out (RTMP spec §5.3.1.2), and how much of the current message is
    still to come.  :func:`parse_chunk_header` reads it; its callers update
    it.

    :ivar timestamp: the timestamp of the current (or last) message, 31 bits.
    :ivar delta: the last 3-byte timestamp field, which a fmt-3 header that
        starts a message adds again (SRS's ``SrsProtocol::read_message_header``
        in ``trunk/src/protocol/srs_rtmp_stack.cpp``).
    :ivar length: the message length.
    :ivar type_id: the message type id.
    :ivar stream_id: the message stream id.
    :ivar extended: the last fmt 0/1/2 header had an extended timestamp, so
        fmt-3 headers carry (or may carry) 4 more bytes.
    :ivar left: payload bytes of the current message still to come; 0
        between messages.
    """

    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "extended", "left")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        self.left = 0


#: What :func:`parse_chunk_header` returns: ``(offset, csid, previous,
#: pending, timestamp, delta, length, type_id, stream_id, extended)``.
ChunkHeader = tuple[int, int, ChunkStreamState | None, bool, int, int, int, int, int, bool]


def parse_chunk_header(
    data: bytes,
    offset: int,
    streams: Mapping[int, ChunkStreamState],
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> ChunkHeader | None:
    """
    Parse the chunk header at ``data[offset]``: the basic header (fmt and a
    1, 2 or 3 byte chunk stream id, RTMP spec §5.3.1.1), the message header
    (11, 7, 3 or 0 bytes, §5.3.1.2) and the extended timestamp (§5.3.1.3),
    with the fields a short header leaves out taken from ``streams``.

    SRS 2.0's reading rules (``SrsProtocol::read_basic_header`` and
    ``read_message_header``, ``trunk/src/protocol/srs_rtmp_stack.cpp``) apply:

    * a chunk stream's first header must be fmt 0, except fmt 1 on chunk
      stream 2, which librtmp uses for its ping (SRS #98);
    * fmt 0 while a message is pending on that chunk stream, or fmt 1
      changing the length of a pending message, is an error;
    * fmt 3 that starts a new message adds the last timestamp field again,
      and after a fmt-0 header that field is the fmt-0 timestamp (FMLE sends
      its audio this way);
    * an extended timestamp is absolute, also after fmt 1 and 2 (SRS does
      not add it as a delta); timestamps are cut to 31 bits (SRS #111);
    * fmt 3 inside a message while the extended flag is set may or may not
      repeat the 4-byte extended timestamp (Adobe's products do, FFmpeg and
      librtmp do not): the 4 bytes are taken as the extended timestamp when
      they equal the message's timestamp (or that is 0), and are left as
      payload otherwise.  Like SRS this needs 4 bytes after the header to
      tell, so such a header is short until they are there.

    Nothing is changed: the caller stores the result in its
    :class:`ChunkStreamState` (and creates one for a new chunk stream, after
    checking its own bounds).

    :param data: the bytes received; the header may be incomplete.
    :param offset: where the header starts; ``offset < len(data)``.
    :param streams: the state of every chunk stream seen so far, by id.
    :param max_message_size: a header declaring a longer message raises.
    :return: ``(offset, csid, previous, pending, timestamp, delta, length,
        type_id, stream_id, extended)``: the offset just after the header,
        the chunk stream id, its entry in ``streams`` (``None`` for a new
        one), whether the header continues a pending message, and the
        message header fields as :class:`ChunkStreamState` keeps them; or
        ``None`` when ``data`` ends inside the header.
    :raises ChunkError: the header breaks one of the rules above, or declares
        a message longer than ``max_message_size``.
    """
    end = len(data)
    byte = data[offset]
    fmt = byte >> 6
    csid = byte & 0x3F
    p = offset + 1
    if csid < 2:
        # 0: one more byte, csid 64..319; 1: two more (little-endian), 64..65599.
        if csid:
            if end - p < 2:
                return None
            csid = 64 + data[p] + (data[p + 1] << 8)
            p += 2
        else:
            if p >= end:
                return None
            csid = 64 + data[p]
            p += 1
    previous = streams.get(csid)
    if fmt == 3:
        if previous is None:
            raise ChunkError(f"chunk stream {csid} starts with fmt 3, not 0")
        pending = previous.left > 0
        timestamp = previous.timestamp
        delta = previous.delta
        extended = previous.extended
        if not pending and not extended:
            timestamp += delta
        length = previous.length
        type_id = previous.type_id
        stream_id = previous.stream_id
    else:
        mh_size = _MESSAGE_HEADER_SIZES[fmt]
        if end - p < mh_size:
            return None
        if previous is None:
            if fmt == 2 or (fmt == 1 and csid != 2):
                # librtmp's ping starts csid 2 with fmt 1 (SRS #98).
                raise ChunkError(f"chunk stream {csid} starts with fmt {fmt}, not 0")
            pending = False
            timestamp = length = type_id = stream_id = 0
        else:
            pending = previous.left > 0
            if pending and fmt == 0:
                raise ChunkError(f"fmt 0 inside a message on chunk stream {csid}")
            timestamp = previous.timestamp
            length = previous.length
            type_id = previous.type_id
            stream_id = previous.stream_id
        delta = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2]
        extended = delta >= _EXTENDED
        if not extended:
            timestamp = delta if fmt == 0 else timestamp + delta
        if fmt <= 1:
            new_length = (data[p + 3] << 16) | (data[p + 4] << 8) | data[p + 5]
            if pending and new_length != length:
                raise ChunkError(
                    f"fmt 1 changes the length of a pending message on "
                    f"chunk stream {csid} from {length} to {new_length}"
                )
            if new_length > max_message_size:
                raise ChunkError(
                    f"message of {new_length} bytes exceeds the limit of {max_message_size}"
                )
            length = new_length
            type_id = data[p + 6]
            if fmt == 0:
                (stream_id,) = _UINT32_LE.unpack_from(data, p + 7)
        p += mh_size
    if extended:
        if end - p < 4:
            return None
        value = _UINT32.unpack_from(data, p)[0] & _TIMESTAMP_MASK
        current = timestamp & _TIMESTAMP_MASK
        if not (fmt == 3 and pending and current and value != current):
            timestamp = value
            p += 4
        # else: the sender does not repeat the extended timestamp on
        # continuation chunks, and these 4 bytes are payload.
    return (
        p,
        csid,
        previous,
        pending,
        timestamp & _TIMESTAMP_MASK,
        delta,
        length,
        type_id,
        stream_id,
        extended,
    )


class _ChunkStream(ChunkStreamState):
    """
    What the decoder remembers about one chunk stream id.

    :ivar partial: the message being reassembled, or ``None`` between
        messages.
    """

    __slots__ = ("partial",)

    def __init__(self) -> None:
        super().__init__()
        self.partial: bytearray | None = None


class ChunkDecoder:
    """
    Reassemble RTMP messages from the chunk stream a peer sends.

    Feed it with :meth:`receive_data`; it works the same whether the bytes
    come all at once or one at a time, and its work is linear in the bytes
    fed.  Between calls it holds at most one incomplete chunk header (18
    bytes).  After it raises :class:`ChunkError` it is closed and raises
    again on further input.

    The decoder applies a received Set Chunk Size itself, at the chunk where
    it takes effect, because the chunks after it in the same
    :meth:`receive_data` call must already be cut with the new size (SRS does
    the same in ``SrsProtocol::on_recv_message``).  The message is still
    returned, for logging; a session must not feed it back through
    :meth:`set_in_chunk_size`.  Abort messages (RTMP spec §5.4.2) are
    returned but, as in SRS, not acted on unless ``honour_abort`` is set;
    then the decoder drops the partial message at the exact point the Abort
    arrives.  Calling :meth:`abort` after :meth:`receive_data` returns is
    only exact if no later chunk on that chunk stream came in the same call.

    :param in_chunk_size: the peer's chunk size to start with.
    :param max_message_size: a header declaring a longer message raises.
    :param max_pending_size: the declared lengths of all messages being
        reassembled at once may not add up to more.
    :param max_chunk_streams: distinct chunk stream ids allowed.
    :param honour_abort: apply received Abort messages (SRS does not).
    :raises ChunkError: if ``in_chunk_size`` fails :func:`check_chunk_size`.
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
        self._in_chunk_size = check_chunk_size(in_chunk_size)
        self._max_message_size = max_message_size
        self._max_pending_size = max_pending_size
        self._max_chunk_streams = max_chunk_streams
        self._honour_abort = honour_abort
        self._streams: dict[int, _ChunkStream] = {}
        self._pending = 0
        # An incomplete chunk header kept from the previous call.
        self._carry = b""
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
        Bytes held back between calls: an incomplete chunk header at most.
        """
        return len(self._carry)

    def set_in_chunk_size(self, size: int) -> None:
        """
        Set the peer's chunk size out of band; it applies from the next chunk
        header.  Received Set Chunk Size messages are applied automatically.

        :raises ChunkError: if ``size`` fails :func:`check_chunk_size`.
        """
        self._in_chunk_size = check_chunk_size(size)

    def abort(self, chunk_stream_id: int) -> None:
        """
        Drop the partly received message on ``chunk_stream_id``, as the RTMP
        Abort message asks (RTMP spec §5.4.2).  Does nothing if there is
        none, or if that chunk stream is in the middle of a chunk (the abort
        cannot have been sent there).
        """
        stream = self._streams.get(chunk_stream_id)
        if stream is None or stream.partial is None or stream is self._current:
            return
        self._pending -= stream.length
        stream.partial = None
        stream.left = 0

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[RawMessage]:
        """
        Take bytes from the peer.

        :return: the messages these bytes complete, in completion order;
            zero-length messages are left out.
        :raises ChunkError: on a protocol violation or exceeded bound.
        """
        if self._closed:
            raise ChunkError("chunk decoder closed by an earlier error")
        if self._carry:
            data = self._carry + data
            self._carry = b""
        elif type(data) is not bytes:
            data = bytes(data)
        out: list[RawMessage] = []
        try:
            self._parse(data, out)
        except ChunkError:
            self._closed = True
            raise
        return out

    def _parse(self, data: bytes, out: list[RawMessage]) -> None:
        """
        Parse all of ``data``, appending finished messages to ``out``; keep
        an incomplete header at the end for the next call.
        """
        pos = 0
        end = len(data)
        streams = self._streams
        stream = self._current
        chunk_left = self._chunk_left
        try:
            while True:
                if stream is not None:
                    if chunk_left:
                        take = end - pos
                        if take <= 0:
                            return
                        if take > chunk_left:
                            take = chunk_left
                        stream.partial += data[pos : pos + take]  # type: ignore[operator]
                        pos += take
                        chunk_left -= take
                        stream.left -= take
                        if chunk_left:
                            return
                    self._current = None
                    if not stream.left:
                        self._end_message(stream, out)
                    stream = None
                if pos >= end:
                    return
                header = parse_chunk_header(data, pos, streams, self._max_message_size)
                if header is None:
                    self._carry = data[pos:]
                    return
                (
                    pos,
                    csid,
                    stream,
                    pending,
                    timestamp,
                    delta,
                    length,
                    type_id,
                    stream_id,
                    extended,
                ) = header
                if not pending:
                    if self._pending + length > self._max_pending_size:
                        raise ChunkError(
                            f"{self._pending + length} bytes of partial messages "
                            f"exceed the limit of {self._max_pending_size}"
                        )
                    if stream is None:
                        if len(streams) >= self._max_chunk_streams:
                            raise ChunkError(
                                f"more than {self._max_chunk_streams} chunk streams"
                            )
                        stream = streams[csid] = _ChunkStream()
                    stream.partial = bytearray()
                    stream.left = length
                    self._pending += length
                assert stream is not None
                stream.timestamp = timestamp
                stream.delta = delta
                stream.length = length
                stream.type_id = type_id
                stream.stream_id = stream_id
                stream.extended = extended
                self._current_csid = csid
                chunk_left = stream.left
                if chunk_left > self._in_chunk_size:
                    chunk_left = self._in_chunk_size
        finally:
            self._current = stream
            self._chunk_left = chunk_left

    def _end_message(self, stream: _ChunkStream, out: list[RawMessage]) -> None:
        """
        The last chunk of ``stream``'s message is in: emit the message, and
        apply it if it is a Set Chunk Size (or an Abort, when honoured).
        """
        partial = stream.partial
        assert partial is not None
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
    Encode a basic header (RTMP spec §5.3.1.1) in the shortest form for
    ``csid``.

    SRS itself only writes the 1-byte form (``srs_chunk_header_c0`` and
    ``srs_chunk_header_c3`` keep the low 6 bits of the csid), which is all
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

    :raises ChunkError: naming the bad argument.
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
    Interleave headers with payload slices of ``chunk_size`` bytes.

    The slices are ``bytes``, not memoryviews: Twisted's TCP transports accept
    only ``bytes`` in ``write``/``writeSequence``.  Slicing copies the payload
    once per encoding, which the fan-out caches (:mod:`srstwist.media.message`),
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
    with the absolute timestamp, then fmt-3 headers (SRS's
    ``SrsProtocol::do_send_messages``).

    A timestamp of 0xFFFFFF or more goes in a 4-byte extended timestamp after
    the fmt-0 header *and* after every fmt-3 header, as Adobe products and
    SRS do (``srs_chunk_header_c3``), although RTMP spec §5.3.1.3 leaves it
    out of type-3 chunks; SRS-style readers accept it either way.

    The result depends only on the arguments, so it can be computed once per
    message and chunk size and shared by every player.

    :param timestamp: 0..2**32 - 1.
    :param type_id: the message type id, 0..255.
    :param stream_id: message stream id, written little-endian.
    :param payload: the message body.
    :param chunk_size: the receiver's current chunk size.
    :param csid: chunk stream id, 2..65599.
    :return: ``bytes`` pieces for ``transport.writeSequence``; a payload that
        fits one chunk is passed through uncopied.
    :raises ChunkError: if an argument cannot be encoded.
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

    The bytes depend only on the delta to the previous message on ``csid``,
    not on its absolute timestamp, so players that started at different
    times can share them.  The receiver must already have had a message on
    ``csid`` with the right message stream id, which fmt 1 keeps.

    Deltas of 0xFFFFFF and above are refused: in an extended field SRS reads
    them as an absolute timestamp, where the RTMP specification (§5.3.1.3)
    and FFmpeg add them, so they cannot be sent unambiguously; send such a
    message with :func:`encode_chunks`.

    :param delta: 0..0xFFFFFE milliseconds since the previous message.
    :return: pieces for ``transport.writeSequence``, as :func:`encode_chunks`.
    :raises ChunkError: if an argument cannot be encoded.
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
    Like :func:`encode_chunks_delta` but with a fmt-2 header (delta only),
    for a message whose length and type equal the previous one's on
    ``csid``.
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
    (``SrsProtocol::do_send_messages``): each message's chunks are then
    independent of what was sent before, which is what lets one encoding be
    shared by all players, and every client accepts it.  With
    ``compress=True`` a message
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
        :param chunk_size: the outgoing chunk size to start with.
        :param compress: use fmt 1/2 headers where they are unambiguous.
        :raises ChunkError: if ``chunk_size`` fails :func:`check_chunk_size`.
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
        so the next message (the connect ``_result``) already uses it (SRS
        #454).

        :raises ChunkError: if ``size`` fails :func:`check_chunk_size`.
        """
        self._chunk_size = check_chunk_size(size)

    def last_header(self, csid: int) -> tuple[int, int, int, int] | None:
        """
        :return: ``(timestamp, type_id, stream_id, length)`` of the last
            message encoded on ``csid``, or ``None``.
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

        :return: pieces for ``transport.writeSequence``, as
            :func:`encode_chunks`.
        :raises ChunkError: if an argument cannot be encoded.
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
    data, back-pointer (4, ignored) (RTMP spec §7.1.6).  Timestamps are
    rebased as SRS does (SRS #424): the difference between the aggregate's
    timestamp and the first record's is added to every record, modulo 2**31.
    Like SRS only audio and video records are kept.  Each result carries the
    aggregate's chunk stream id and message stream id (the records' own
    stream id field is 0 in FLV and SRS does not use it for media).

    :raises ChunkError: if a record is truncated.
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
