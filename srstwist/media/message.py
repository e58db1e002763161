# -*- test-case-name: tests.test_media_message -*-
"""
One media message shared by every consumer, encoded once per wire variant.

A publisher's audio, video and data messages go to every player of the
stream (``SrsSource::on_audio``, ``on_video``).  SRS shares the payload (``SrsSharedPtrMessage``)
and, because every message it sends starts with a fmt-0 header followed by
fmt-3 headers (RTMP spec §5.3.1.2), the chunk headers are the same for every
player with the same chunk size, chunk stream id, message stream id and
timestamp.  :meth:`SharedMessage.chunks` therefore encodes a message once per
such combination and hands the same immutable pieces to every player, who
passes them to ``transport.writeSequence``.

Players whose timestamps differ (time jitter, ``SrsRtmpJitter``) get their own
fmt-0 header for their first message on a chunk stream and can then share
:meth:`SharedMessage.delta_chunks`: a fmt-1 header with the timestamp delta, then
fmt-3 headers, which depend only on the delta.

Both caches are small dicts on the message, bounded by :data:`MAX_VARIANTS`
entries each; when a new variant is needed and the cache is full, the oldest
one is dropped (first in, first out: a hit costs one dict lookup and never
reorders anything).  Every miss bumps :attr:`SharedMessage.encodes` and the
process-wide :func:`total_encodes`, which tests and benchmarks read to prove that
N players cost one encoding, not N.

Pieces are always ``bytes``: Twisted's TCP transport rejects anything else in
``write``/``writeSequence`` (``abstract._dataMustBeBytes``).  A message that fits in one
chunk is sent as ``(header, payload)``, the payload being the message's own
``bytes`` object (no copy); a longer one is joined once, per variant, into a
single ``bytes`` object.  No player ever copies or re-encodes a payload.

The FLV flags (keyframe, AVC/AAC sequence header) are computed once, from the
first two payload bytes, when the message is made.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from srstwist.codec.chunk import (
    MessageType,
    RawMessage,
    encode_chunks,
    encode_chunks_delta,
)
from srstwist.codec.flv import (
    TagType,
    encode_tag,
    is_aac_sequence_header,
    is_avc_sequence_header,
    is_keyframe,
)

__all__ = [
    "MAX_VARIANTS",
    "Pieces",
    "SharedMessage",
    "total_encodes",
]

#: The most encodings one message keeps per cache (:meth:`SharedMessage.chunks`
#: and :meth:`SharedMessage.delta_chunks` each).  A stream's players normally
#: share one chunk size (SRS sends 60000 to all of them), one message stream
#: id (1) and the publisher's chunk stream id, so one variant is the common
#: case; four leave room for a second chunk size and a few timestamp bases
#: without letting a message grow without bound.
MAX_VARIANTS = 4

#: Encoded chunks: ``bytes`` pieces for ``transport.writeSequence``.  A tuple,
#: not a list, because the same object goes to every player and must not be
#: mutated by any of them.
Pieces = tuple[bytes, ...]

_total_encodes = 0


def total_encodes() -> int:
    """
    :return: how many times any :class:`SharedMessage` in this process has encoded
        chunks (cache misses of :meth:`SharedMessage.chunks` and
        :meth:`SharedMessage.delta_chunks`).  Only differences between two reads
        mean anything.
    """
    return _total_encodes


def _freeze(pieces: list[bytes]) -> Pieces:
    """
    Turn :func:`encode_chunks` output into the tuple every player shares.

    One or two pieces (a header, and a payload that fits one chunk) are kept
    as they are, so the payload is never copied; more are joined into one
    ``bytes``, so a player's ``writeSequence`` appends one object per message.
    """
    if len(pieces) <= 2:
        return tuple(pieces)
    return (b"".join(pieces),)


def _remember(cache: dict[tuple[int, ...], Pieces], key: tuple[int, ...], value: Pieces) -> None:
    """
    Store ``value``, dropping the oldest entry if ``cache`` is full.
    """
    if len(cache) >= MAX_VARIANTS:
        del cache[next(iter(cache))]
    cache[key] = value


class SharedMessage:
    """
    An audio, video or data message as it leaves the source: immutable, and
    shared by every consumer.

    Attributes are read-only; the chunk caches assume the payload never
    changes.  A message whose timestamp must change for one player (SRS's
    jitter correction, the re-stamped sequence headers of a shrunk queue) is
    sent with ``chunks(..., timestamp=t)``, not altered.
    """

    # The fields are plain attributes, not properties: they are read for
    # every message and every player on the fan-out path, where a property
    # call costs more than the work it guards.  Treat them as read-only.
    __slots__ = (
        "_deltas",
        "_tags",
        "_encodes",
        "_variants",
        "chunk_stream_id",
        "is_audio",
        "is_av",
        "is_keyframe",
        "is_sequence_header",
        "is_video",
        "message_type_id",
        "payload",
        "stream_delta",
        "stream_time",
        "timestamp",
    )

    def __init__(
        self,
        timestamp: int,
        message_type_id: int,
        payload: bytes | bytearray | memoryview,
        chunk_stream_id: int = 0,
    ) -> None:
        """
        :param timestamp: milliseconds, 0..2**32 - 1 (checked when encoding).
        :param message_type_id: see :class:`MessageType`: 8 audio, 9 video, 18 AMF0
            data, ...
        :param payload: the message body; a ``bytes`` object is kept as is,
            anything else is copied once into ``bytes``.
        :param chunk_stream_id: the csid the publisher used, which SRS keeps
            when relaying (``SrsSharedPtrMessage``); 0 when unknown.
        """
        if type(payload) is not bytes:
            payload = bytes(payload)
        #: Milliseconds, 0..2**32 - 1 (checked when encoding).
        self.timestamp = timestamp
        #: The RTMP message type id (:class:`MessageType`).
        self.message_type_id = message_type_id
        #: The message body.
        self.payload: bytes = payload
        #: The chunk stream id the publisher sent it on (0 when unknown).
        self.chunk_stream_id = chunk_stream_id
        #: Audio (type 8), video (type 9), either.
        self.is_audio = message_type_id == MessageType.AUDIO
        self.is_video = message_type_id == MessageType.VIDEO
        self.is_av = self.is_audio or self.is_video
        self._variants: dict[tuple[int, ...], Pieces] = {}
        self._deltas: dict[tuple[int, ...], Pieces] = {}
        # FLV tags by timestamp, made on first use (HTTP-FLV players only).
        self._tags: dict[int, bytes] | None = None
        self._encodes = 0
        #: Set once by the source before fan-out: this message's timestamp
        #: minus that of the previous message on the same chunk stream, on
        #: the source's corrected timeline; ``None`` for the first one.  A
        #: player whose own delta on that chunk stream is the same sends the
        #: shared :meth:`delta_chunks` instead of its own fmt-0 encoding.
        self.stream_delta: int | None = None
        #: Set once by the source before fan-out: this message's timestamp
        #: on the source's corrected timeline.  A player in step with the
        #: source sends it at this plus its own constant offset (HTTP-FLV
        #: shared batches).
        self.stream_time: int | None = None
        # Worked out once per message, from the FLV tag bytes (FLV spec E.4.2.1, E.4.3.1).
        keyframe = sequence_header = False
        if self.is_video:
            keyframe = is_keyframe(payload)
            sequence_header = is_avc_sequence_header(payload)
        elif self.is_audio:
            sequence_header = is_aac_sequence_header(payload)
        #: A video message whose FLV frame type is 1 (keyframe), whatever the
        #: codec; AVC sequence headers have frame type 1 as well.
        self.is_keyframe = keyframe
        #: An AVC (frame type 1, codec 7, AVCPacketType 0) or AAC (sound
        #: format 10, AACPacketType 0) sequence header, as SRS decides.
        self.is_sequence_header = sequence_header

    @classmethod
    def from_raw(cls, raw: RawMessage) -> SharedMessage:
        """
        :return: a shared message made from one a publisher sent, with its
            timestamp, type, payload (not copied) and chunk stream id.
        """
        return cls(raw.timestamp, raw.message_type_id, raw.payload, raw.chunk_stream_id)

    def __repr__(self) -> str:
        return (
            f"<SharedMessage type={self.message_type_id} timestamp={self.timestamp} "
            f"size={len(self.payload)} csid={self.chunk_stream_id}>"
        )

    @property
    def size(self) -> int:
        """
        The payload length in bytes.
        """
        return len(self.payload)

    @property
    def encodes(self) -> int:
        """
        How many encodings this message has made (cache misses).
        """
        return self._encodes

    @property
    def variant_count(self) -> int:
        """
        How many encodings are cached now (both caches together).
        """
        return len(self._variants) + len(self._deltas)

    def chunks(
        self,
        chunk_size: int,
        chunk_stream_id: int,
        message_stream_id: int,
        timestamp: int | None = None,
    ) -> Pieces:
        """
        The message as chunks with a fmt-0 first header, the way SRS sends
        every message (RTMP spec §5.3.1.2), encoded on the first call for these
        arguments and returned from the cache afterwards: equal arguments give
        the very same tuple of the very same ``bytes`` objects.

        :param chunk_size: the player's outgoing chunk size.
        :param chunk_stream_id: csid to send on, 2..65599.
        :param message_stream_id: the player's message stream id.
        :param timestamp: the timestamp to put in the header; ``None`` means
            the message's own.  Equal values share one cache entry.
        :return: ``bytes`` pieces for ``transport.writeSequence``.
        :raises srstwist.codec.chunk.ChunkError: if an argument cannot be
            encoded (nothing is cached then).
        """
        if timestamp is None:
            timestamp = self.timestamp
        key = (chunk_size, chunk_stream_id, message_stream_id, timestamp)
        pieces = self._variants.get(key)
        if pieces is None:
            pieces = _freeze(
                encode_chunks(
                    timestamp,
                    self.message_type_id,
                    message_stream_id,
                    self.payload,
                    chunk_size,
                    chunk_stream_id,
                )
            )
            self._count()
            _remember(self._variants, key, pieces)
        return pieces

    def delta_chunks(self, chunk_size: int, chunk_stream_id: int, delta: int) -> Pieces:
        """
        The message as chunks with a fmt-1 first header carrying ``delta``
        (and the length and type), then fmt-3 headers; cached like
        :meth:`chunks`.

        Only valid for a player whose previous message on ``chunk_stream_id``
        had the wanted message stream id and a timestamp ``delta`` ms earlier;
        the player must keep track of that.  Players with different timestamp
        bases but equal deltas share these bytes.

        :param delta: 0..0xFFFFFE; larger deltas cannot be sent unambiguously
            (see :func:`encode_chunks_delta`): use :meth:`chunks` with a timestamp.
        :return: ``bytes`` pieces for ``transport.writeSequence``.
        :raises srstwist.codec.chunk.ChunkError: if an argument cannot be
            encoded (nothing is cached then).
        """
        key = (chunk_size, chunk_stream_id, delta)
        pieces = self._deltas.get(key)
        if pieces is None:
            pieces = _freeze(
                encode_chunks_delta(
                    delta, self.message_type_id, self.payload, chunk_size, chunk_stream_id
                )
            )
            self._count()
            _remember(self._deltas, key, pieces)
        return pieces

    def flv_tag(self, timestamp: int) -> bytes:
        """
        The message as one FLV tag (header, body, PreviousTagSize) with
        ``timestamp``, for HTTP-FLV players and FLV files; encoded once per
        timestamp and shared.

        Players that joined at the same point of the stream get the same
        timestamps from their jitter correction, so they share these bytes
        as RTMP players share chunks.  Data messages (metadata) become
        script tags.

        :raises srstwist.codec.flv.FlvError: a timestamp or payload that FLV
            cannot carry.
        """
        tags = self._tags
        if tags is None:
            tags = self._tags = {}
        tag = tags.get(timestamp)
        if tag is None:
            tag_type = self.message_type_id if self.is_av else TagType.SCRIPT
            tag = b"".join(encode_tag(tag_type, timestamp, self.payload))
            self._count()
            if len(tags) >= MAX_VARIANTS:
                del tags[next(iter(tags))]
            tags[timestamp] = tag
        return tag

    def _count(self) -> None:
        """
        Record one encoding, on the message and process-wide.
        """
        global _total_encodes
        self._encodes += 1
        _total_encodes += 1
