"""
Tests for :mod:`srstwist.codec.chunk`.

The ``SrsChecklist*`` classes follow the chunk-stream tests of SRS's
``trunk/src/utest/srs_utest_protocol.cpp`` (ossrs/srs 2.0release), with
byte vectors built here from the header layouts of RTMP spec §5.3.1 (Adobe's
RTMP specification 1.0).  :class:`ParseChunkHeaderTests` checks the header
parser the decoder shares with srs-bench's scanner.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from srstwist.codec.chunk import (
    DEFAULT_MAX_CHUNK_STREAMS,
    DEFAULT_MAX_MESSAGE_SIZE,
    ChunkDecoder,
    ChunkEncoder,
    ChunkError,
    ChunkStreamState,
    MessageType,
    RawMessage,
    encode_chunks,
    encode_chunks_delta,
    parse_chunk_header,
    split_aggregate,
)
from srstwist.codec.control import (
    PingRequest,
    SetChunkSize,
    WindowAcknowledgementSize,
    decode_control,
)

_DATA = Path(__file__).parent / "data" / "handshake"


def basic(fmt: int, csid: int, form: int | None = None) -> bytes:
    """
    A basic header for ``csid``, in the shortest form or in ``form`` (1, 2 or
    3 bytes).
    """
    if form is None:
        form = 1 if csid < 64 else 2 if csid < 320 else 3
    if form == 1:
        return bytes((fmt << 6 | csid,))
    if form == 2:
        return bytes((fmt << 6, csid - 64))
    return bytes((fmt << 6 | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))


def u24(value: int) -> bytes:
    """
    Three bytes, big-endian.
    """
    return value.to_bytes(3, "big")


def fmt0(
    csid: int,
    timestamp: int,
    length: int,
    type_id: int,
    stream_id: int = 0,
    ext: int | None = None,
    form: int | None = None,
) -> bytes:
    """
    A fmt-0 chunk header; ``ext`` adds an extended timestamp (and sets the
    3-byte field to 0xFFFFFF).
    """
    field = 0xFFFFFF if ext is not None else timestamp
    out = (
        basic(0, csid, form)
        + u24(field)
        + u24(length)
        + bytes((type_id,))
        + struct.pack("<I", stream_id)
    )
    return out + (struct.pack(">I", ext) if ext is not None else b"")


def fmt1(
    csid: int, delta: int, length: int, type_id: int, ext: int | None = None
) -> bytes:
    """
    A fmt-1 chunk header.
    """
    field = 0xFFFFFF if ext is not None else delta
    out = basic(1, csid) + u24(field) + u24(length) + bytes((type_id,))
    return out + (struct.pack(">I", ext) if ext is not None else b"")


def fmt2(csid: int, delta: int) -> bytes:
    """
    A fmt-2 chunk header.
    """
    return basic(2, csid) + u24(delta)


def fmt3(csid: int, form: int | None = None) -> bytes:
    """
    A fmt-3 chunk header.
    """
    return basic(3, csid, form)


def filler(size: int, seed: int = 0) -> bytes:
    """
    Distinct-looking payload bytes.
    """
    return bytes((seed + i * 7) & 0xFF for i in range(size))


def decode_whole(data: bytes, **kwargs: Any) -> list[RawMessage]:
    """
    Decode ``data`` in one call.
    """
    return ChunkDecoder(**kwargs).receive_data(data)


def decode_bytewise(data: bytes, **kwargs: Any) -> list[RawMessage]:
    """
    Decode ``data`` one byte per call.
    """
    decoder = ChunkDecoder(**kwargs)
    out: list[RawMessage] = []
    for i in range(len(data)):
        out += decoder.receive_data(data[i : i + 1])
    return out


def encode_all(messages: Sequence[RawMessage], chunk_size: int) -> bytes:
    """
    Encode ``messages`` one after the other with :func:`encode_chunks`.
    """
    return b"".join(
        bytes(piece)
        for m in messages
        for piece in encode_chunks(
            m.timestamp,
            m.message_type_id,
            m.message_stream_id,
            m.payload,
            chunk_size,
            m.chunk_stream_id,
        )
    )


class _DecodeMixin:
    """
    Decode vectors whole and byte by byte and insist on equal results.
    """

    def decode(self, data: bytes, **kwargs: Any) -> list[RawMessage]:
        """
        :return: the messages in ``data``, after checking that byte-wise
            feeding gives the same.
        """
        whole = decode_whole(data, **kwargs)
        assert decode_bytewise(data, **kwargs) == whole
        return whole


class SrsChecklistBasicTests(_DecodeMixin, SynchronousTestCase):
    """
    SRS ProtocolRecv* tests for single messages.
    """

    def test_recvMessage(self) -> None:
        """
        A 417-byte connect command in four chunks (ProtocolRecvMessage).
        """
        payload = b"\x02\x00\x07connect\x00\x3f\xf0" + bytes(6) + b"\x03"
        payload += filler(417 - len(payload))
        data = fmt0(3, 0, 417, 20) + payload[:128]
        for offset in (128, 256, 384):
            data += fmt3(3) + payload[offset : offset + 128]
        self.assertEqual(self.decode(data), [RawMessage(0, 20, 0, 3, payload)])

    def test_recvMessageBug98(self) -> None:
        """
        A fresh csid 2 may start with fmt 1, as librtmp's ping does
        (ProtocolRecvMessageBug98, SRS #98).
        """
        data = bytes.fromhex("42000000000006040006 00000d0f".replace(" ", ""))
        [message] = self.decode(data)
        self.assertEqual(message, RawMessage(0, 4, 0, 2, bytes.fromhex("000600000d0f")))
        self.assertEqual(decode_control(4, message.payload), PingRequest(0x0D0F))

    def test_recvAckSizeMessage(self) -> None:
        """
        A Window Acknowledgement Size message (ProtocolRecvAckSizeMessage).
        """
        [message] = self.decode(fmt0(2, 0, 4, 5) + bytes.fromhex("00000763"))
        self.assertEqual(
            message.message_type_id, MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE
        )
        self.assertEqual(
            decode_control(5, message.payload), WindowAcknowledgementSize(0x0763)
        )

    def test_recvVideoAndAudio(self) -> None:
        """
        Single-chunk video and audio messages (ProtocolRecvVMessage,
        ProtocolRecvAMessage).
        """
        for type_id in (9, 8):
            data = fmt0(3, 0, 4, type_id) + bytes.fromhex("00000763")
            self.assertEqual(
                self.decode(data),
                [RawMessage(0, type_id, 0, 3, bytes.fromhex("00000763"))],
            )

    def test_recvVideoInThreeChunks(self) -> None:
        """
        A 272-byte video message in chunks of 128, 128 and 16
        (ProtocolRecvVMessage2Trunk).
        """
        payload = filler(272)
        data = (
            fmt0(3, 0, 272, 9)
            + payload[:128]
            + fmt3(3)
            + payload[128:256]
            + fmt3(3)
            + payload[256:]
        )
        self.assertEqual(self.decode(data), [RawMessage(0, 9, 0, 3, payload)])

    def test_incompleteMessageNotReturned(self) -> None:
        """
        Nothing is returned until the last chunk of a message arrives.
        """
        payload = filler(272)
        decoder = ChunkDecoder()
        self.assertEqual(decoder.receive_data(fmt0(3, 0, 272, 9) + payload[:128]), [])
        self.assertEqual(decoder.receive_data(fmt3(3) + payload[128:256]), [])
        self.assertEqual(
            decoder.receive_data(fmt3(3) + payload[256:]),
            [RawMessage(0, 9, 0, 3, payload)],
        )

    def test_zeroLengthMessageDropped(self) -> None:
        """
        An empty message is parsed and dropped (ProtocolRecvV0LenMessage).
        """
        data = fmt0(3, 0, 0, 9) + fmt0(3, 0, 4, 9) + bytes.fromhex("00000763")
        self.assertEqual(
            self.decode(data), [RawMessage(0, 9, 0, 3, bytes.fromhex("00000763"))]
        )

    def test_fmt0InsideMessage(self) -> None:
        """
        A fmt-0 header while a message is pending on that csid is an error
        (ProtocolRecvVMessageFmtInvalid).
        """
        data = fmt0(3, 0, 272, 9) + filler(128) + fmt0(3, 0, 272, 9)
        self.assertRaises(ChunkError, decode_whole, data)

    def test_freshStreamMustStartWithFmt0(self) -> None:
        """
        A csid that never carried a message may not start with fmt 1, 2 or
        3, except fmt 1 on csid 2.
        """
        for data in (
            fmt1(3, 0, 4, 9),
            fmt2(3, 0),
            fmt3(3),
            fmt2(2, 0),
            fmt3(2),
        ):
            self.assertRaises(ChunkError, decode_whole, data + bytes(4))

    def test_fmt1ChangesPendingLength(self) -> None:
        """
        A fmt-1 header that changes the length of a pending message is an
        error.
        """
        data = fmt0(3, 0, 272, 9) + filler(128) + fmt1(3, 0, 273, 9)
        self.assertRaises(ChunkError, decode_whole, data)

    def test_closedAfterError(self) -> None:
        """
        After an error the decoder refuses further input.
        """
        decoder = ChunkDecoder()
        self.assertRaises(ChunkError, decoder.receive_data, fmt3(3))
        self.assertRaises(ChunkError, decoder.receive_data, b"")


def _video_audio(video_continuation: bytes) -> bytes:
    """
    Video (csid 3, 272 bytes) and audio (csid 4, 144 bytes) with interleaved
    chunks; ``video_continuation`` heads the video's second chunk.
    """
    video, audio = filler(272, 1), filler(144, 2)
    return (
        fmt0(3, 0, 272, 9)
        + video[:128]
        + fmt0(4, 0, 144, 8)
        + audio[:128]
        + video_continuation
        + video[128:256]
        + fmt3(4)
        + audio[128:]
        + fmt3(3)
        + video[256:]
    )


class SrsChecklistInterleavedTests(_DecodeMixin, SynchronousTestCase):
    """
    SRS ProtocolRecvVA*, VAV* and VAVV* tests: interleaved video on csid 3
    and audio on csid 4, with fmt 1/2/3 follow-up headers.
    """

    def test_recvVA(self) -> None:
        """
        Interleaved video and audio; the audio completes first
        (ProtocolRecvVAMessage and VAFmt1/2/3, whose video continuation
        headers are fmt 3, fmt 1 and fmt 2 with delta 0).
        """
        video, audio = filler(272, 1), filler(144, 2)
        for continuation in (fmt3(3), fmt1(3, 0, 272, 9), fmt2(3, 0)):
            self.assertEqual(
                self.decode(_video_audio(continuation)),
                [RawMessage(0, 8, 0, 4, audio), RawMessage(0, 9, 0, 3, video)],
            )

    def _vav(self, second: bytes, length: int = 272) -> bytes:
        """
        Video 1 (ts 0x10), audio (ts 0x15), then video 2 headed by
        ``second``, interleaved as in SRS's VAV tests.
        """
        v1, audio, v2 = filler(272, 1), filler(144, 2), filler(length, 3)
        return (
            fmt0(3, 0x10, 272, 9, 1)
            + v1[:128]
            + fmt0(4, 0x15, 144, 8, 1)
            + audio[:128]
            + fmt3(3)
            + v1[128:256]
            + fmt3(3)
            + v1[256:]
            + second
            + v2[:128]
            + fmt3(3)
            + v2[128:256]
            + fmt3(4)
            + audio[128:]
            + fmt3(3)
            + v2[256:]
        )

    def test_recvVAV(self) -> None:
        """
        The second video reaches ts 0x20 whether headed by fmt 0 (ts 0x20),
        fmt 1 or fmt 2 (delta 0x10), or fmt 3, which repeats the fmt-0
        timestamp as the delta (ProtocolRecvVAVMessage, VAVFmt1/2/3).
        """
        for second in (
            fmt0(3, 0x20, 272, 9, 1),
            fmt1(3, 0x10, 272, 9),
            fmt2(3, 0x10),
            fmt3(3),
        ):
            messages = self.decode(self._vav(second))
            self.assertEqual(
                [
                    (m.message_type_id, m.timestamp, m.message_stream_id)
                    for m in messages
                ],
                [(9, 0x10, 1), (8, 0x15, 1), (9, 0x20, 1)],
            )
            self.assertEqual(messages[2].payload, filler(272, 3))

    def _vavv(
        self, second: bytes, third: bytes, second_length: int, third_length: int
    ) -> bytes:
        """
        :meth:`_vav` followed by a third video headed by ``third``.
        """
        v3 = filler(third_length, 4)
        return (
            self._vav(second, second_length)
            + third
            + v3[:128]
            + fmt3(3)
            + v3[128:256]
            + fmt3(3)
            + v3[256:]
        )

    def check_vavv(
        self,
        second: bytes,
        third: bytes,
        timestamps: tuple[int, int],
        lengths: tuple[int, int] = (272, 272),
    ) -> None:
        """
        Decode a VAVV vector and check types, timestamps, stream ids and
        payloads.
        """
        messages = self.decode(self._vavv(second, third, *lengths))
        self.assertEqual(
            [(m.message_type_id, m.timestamp, m.message_stream_id) for m in messages],
            [(9, 0x10, 1), (8, 0x15, 1), (9, timestamps[0], 1), (9, timestamps[1], 1)],
        )
        self.assertEqual(
            [m.payload for m in messages],
            [
                filler(272, 1),
                filler(144, 2),
                filler(lengths[0], 3),
                filler(lengths[1], 4),
            ],
        )

    def test_recvVAVVMessage(self) -> None:
        """
        All messages headed by fmt 0 (ProtocolRecvVAVVMessage).
        """
        self.check_vavv(
            fmt0(3, 0x20, 272, 9, 1), fmt0(3, 0x30, 272, 9, 1), (0x20, 0x30)
        )

    def test_recvVAVVFmt1(self) -> None:
        """
        Two fmt-1 headers with delta 0x10 (ProtocolRecvVAVVFmt1).
        """
        self.check_vavv(fmt1(3, 0x10, 272, 9), fmt1(3, 0x10, 272, 9), (0x20, 0x30))

    def test_recvVAVVFmt2(self) -> None:
        """
        Two fmt-2 headers with delta 0x10 (ProtocolRecvVAVVFmt2).
        """
        self.check_vavv(fmt2(3, 0x10), fmt2(3, 0x10), (0x20, 0x30))

    def test_recvVAVVFmt3(self) -> None:
        """
        Two fmt-3 headers starting messages repeat the fmt-0 timestamp 0x10
        as the delta (ProtocolRecvVAVVFmt3).
        """
        self.check_vavv(fmt3(3), fmt3(3), (0x20, 0x30))

    def test_recvVAVVFmt11(self) -> None:
        """
        fmt 1 with delta 0x10, then fmt 1 with delta 0x20
        (ProtocolRecvVAVVFmt11).
        """
        self.check_vavv(fmt1(3, 0x10, 272, 9), fmt1(3, 0x20, 272, 9), (0x20, 0x40))

    def test_recvVAVVFmt11Length(self) -> None:
        """
        fmt 1 headers may change the length between messages
        (ProtocolRecvVAVVFmt11Length).
        """
        self.check_vavv(
            fmt1(3, 0x10, 288, 9), fmt1(3, 0x20, 272, 9), (0x20, 0x40), (288, 272)
        )

    def test_recvVAVVFmt12(self) -> None:
        """
        fmt 1 with delta 0x10, then fmt 2 with delta 0x20
        (ProtocolRecvVAVVFmt12).
        """
        self.check_vavv(fmt1(3, 0x10, 272, 9), fmt2(3, 0x20), (0x20, 0x40))

    def test_recvVAVVFmt12Length(self) -> None:
        """
        A length changed by fmt 1 is kept by the following fmt 2 message
        (ProtocolRecvVAVVFmt12Length).
        """
        self.check_vavv(fmt1(3, 0x10, 288, 9), fmt2(3, 0x20), (0x20, 0x40), (288, 288))


class SrsChecklistTimestampTests(_DecodeMixin, SynchronousTestCase):
    """
    SRS ProtocolRecvExtTime* tests and the extended timestamp rules (RTMP
    spec §5.3.1.3, as SRS's ``SrsProtocol::read_message_header`` applies
    them).
    """

    def test_recvExtTimeMessage(self) -> None:
        """
        An extended timestamp replaces the 0xFFFFFF field
        (ProtocolRecvExtTimeMessage, ...2).
        """
        for ext in (0x10, 0x7F010203):
            data = fmt0(3, 0, 4, 9, ext=ext) + bytes.fromhex("00000763")
            [message] = self.decode(data)
            self.assertEqual(message.timestamp, ext)
            self.assertEqual(message.payload, bytes.fromhex("00000763"))

    def test_recvExtTimeMessage31Bits(self) -> None:
        """
        Timestamps are cut to 31 bits (ProtocolRecvExtTimeMessage3, SRS
        #111).
        """
        data = fmt0(3, 0, 4, 9, ext=0xFF010203) + bytes(4)
        [message] = self.decode(data)
        self.assertEqual(message.timestamp, 0x7F010203)

    def test_extTimeRepeatedOnFmt3(self) -> None:
        """
        Continuation chunks that repeat the extended timestamp, as Adobe
        products do, are read without the 4 bytes in the payload
        (ProtocolRecvVExtTime2Trunk).
        """
        payload = filler(272)
        ext = struct.pack(">I", 0x00010203)
        data = (
            fmt0(3, 0, 272, 9, ext=0x00010203)
            + payload[:128]
            + fmt3(3)
            + ext
            + payload[128:256]
            + fmt3(3)
            + ext
            + payload[256:]
        )
        self.assertEqual(self.decode(data), [RawMessage(0x00010203, 9, 0, 3, payload)])

    def test_extTimeNotRepeatedOnFmt3(self) -> None:
        """
        Continuation chunks without the extended timestamp, as FFmpeg and
        librtmp send them, are read too (ProtocolRecvVExtTime2Trunk2).
        """
        payload = filler(272)
        data = (
            fmt0(3, 0, 272, 9, ext=0x00010203)
            + payload[:128]
            + fmt3(3)
            + payload[128:256]
            + fmt3(3)
            + payload[256:]
        )
        self.assertEqual(self.decode(data), [RawMessage(0x00010203, 9, 0, 3, payload)])

    def test_extTimeZeroAlwaysConsumed(self) -> None:
        """
        When the message timestamp is 0 the 4 bytes after a fmt-3 header are
        always taken as the extended timestamp.
        """
        payload = filler(200)
        data = (
            fmt0(3, 0, 200, 9, ext=0)
            + payload[:128]
            + fmt3(3)
            + bytes(4)
            + payload[128:]
        )
        self.assertEqual(self.decode(data), [RawMessage(0, 9, 0, 3, payload)])

    def test_fmt3NewMessageAfterExtended(self) -> None:
        """
        A fmt-3 header starting a message after an extended header reads an
        extended timestamp and takes it as absolute.
        """
        data = (
            fmt0(3, 0, 2, 9, ext=0x01000000)
            + b"ab"
            + fmt3(3)
            + struct.pack(">I", 0x01000021)
            + b"cd"
        )
        self.assertEqual(
            self.decode(data),
            [
                RawMessage(0x01000000, 9, 0, 3, b"ab"),
                RawMessage(0x01000021, 9, 0, 3, b"cd"),
            ],
        )

    def test_extendedFmt1IsAbsolute(self) -> None:
        """
        Like SRS, an extended timestamp after a fmt-1 header is taken as the
        absolute timestamp, not added as a delta.
        """
        data = fmt0(3, 0x10, 2, 9) + b"ab" + fmt1(3, 0, 2, 9, ext=0x02000000) + b"cd"
        self.assertEqual([m.timestamp for m in self.decode(data)], [0x10, 0x02000000])

    def test_deltaAfterExtendedFmt0(self) -> None:
        """
        A non-extended fmt-2 delta after an extended fmt-0 header adds to
        the extended timestamp and clears the extended state.
        """
        data = (
            fmt0(3, 0, 2, 9, ext=0x01000000)
            + b"ab"
            + fmt2(3, 0x21)
            + b"cd"
            + fmt3(3)
            + b"ef"
        )
        self.assertEqual(
            [m.timestamp for m in self.decode(data)],
            [0x01000000, 0x01000021, 0x01000042],
        )

    def test_timestampWrapsAt31Bits(self) -> None:
        """
        Deltas accumulate modulo 2**31.
        """
        data = fmt0(3, 0, 1, 9, ext=0x7FFFFFF0) + b"a" + fmt2(3, 0x20) + b"b"
        self.assertEqual([m.timestamp for m in self.decode(data)], [0x7FFFFFF0, 0x10])


class SrsChecklistChunkStreamIdTests(_DecodeMixin, SynchronousTestCase):
    """
    SRS ProtocolRecvVCid* tests: 1, 2 and 3-byte basic headers.
    """

    def check(self, csid: int, form: int) -> None:
        """
        A 272-byte video on ``csid``, every header in the ``form``-byte
        basic header form, decodes with that csid.
        """
        payload = filler(272)
        data = (
            fmt0(csid, 0, 272, 9, form=form)
            + payload[:128]
            + fmt3(csid, form)
            + payload[128:256]
            + fmt3(csid, form)
            + payload[256:]
        )
        self.assertEqual(self.decode(data), [RawMessage(0, 9, 0, csid, payload)])

    def test_cid1BMin(self) -> None:
        """
        The smallest 1-byte csid, 2 (ProtocolRecvVCid1BMin).
        """
        self.check(2, 1)

    def test_cid1BNormal(self) -> None:
        """
        csid 9 in one byte (ProtocolRecvVCid1BNormal).
        """
        self.check(9, 1)

    def test_cid1BMax(self) -> None:
        """
        The largest 1-byte csid, 63 (ProtocolRecvVCid1BMax).
        """
        self.check(63, 1)

    def test_cid2BMin(self) -> None:
        """
        The smallest 2-byte csid, 64 (ProtocolRecvVCid2BMin).
        """
        self.check(64, 2)

    def test_cid2BNormal(self) -> None:
        """
        csids 0x10 + 64 and 0x11 + 64 in two bytes
        (ProtocolRecvVCid2BNormal, ...Normal2).
        """
        self.check(0x10 + 64, 2)
        self.check(0x11 + 64, 2)

    def test_cid2BMax(self) -> None:
        """
        The largest 2-byte csid, 319 (ProtocolRecvVCid2BMax).
        """
        self.check(319, 2)

    def test_cid3BMin(self) -> None:
        """
        csid 64 in the 3-byte form (ProtocolRecvVCid3BMin).
        """
        self.check(64, 3)

    def test_cid3BNormal(self) -> None:
        """
        3-byte csids are 64 + second byte + 256 * third byte
        (ProtocolRecvVCid3BNormal, ...Normal2/3/4).
        """
        for low in (0x00, 0x01, 0xFF, 0x02):
            self.check(64 + low + 0x10 * 256, 3)

    def test_cid3BMax(self) -> None:
        """
        The largest csid, 65599 (ProtocolRecvVCid3BMax).
        """
        self.check(65599, 3)


class ChunkSizeTests(_DecodeMixin, SynchronousTestCase):
    """
    Set Chunk Size handling in the decoder (RTMP spec §5.4.1).
    """

    def test_appliedAtNextChunk(self) -> None:
        """
        A Set Chunk Size message applies to the chunk right after it, even
        within the same call, and is still returned.
        """
        big = filler(1000)
        data = (
            fmt0(2, 0, 4, 1) + SetChunkSize(4096).encode() + fmt0(3, 0, 1000, 9) + big
        )
        decoder = ChunkDecoder()
        self.assertEqual(
            decoder.receive_data(data),
            [
                RawMessage(0, 1, 0, 2, SetChunkSize(4096).encode()),
                RawMessage(0, 9, 0, 3, big),
            ],
        )
        self.assertEqual(decoder.in_chunk_size, 4096)
        self.assertEqual(decode_bytewise(data)[1].payload, big)

    def test_tooSmall(self) -> None:
        """
        A chunk size below 128 is an error (SRS #541).
        """
        data = fmt0(2, 0, 4, 1) + struct.pack(">I", 127)
        self.assertRaises(ChunkError, decode_whole, data)

    def test_negative(self) -> None:
        """
        A chunk size with the top bit set is an error (SRS reads it as a
        negative int).
        """
        data = fmt0(2, 0, 4, 1) + struct.pack(">I", 0x80000000)
        self.assertRaises(ChunkError, decode_whole, data)

    def test_aboveConfigMaximum(self) -> None:
        """
        A chunk size above 65536 is accepted (SRS #160).
        """
        payload = filler(70000)
        data = (
            fmt0(2, 0, 4, 1)
            + struct.pack(">I", 100000)
            + fmt0(3, 0, 70000, 9)
            + payload
        )
        self.assertEqual(decode_whole(data)[1].payload, payload)

    def test_shortPayload(self) -> None:
        """
        A Set Chunk Size message shorter than 4 bytes is an error.
        """
        self.assertRaises(ChunkError, decode_whole, fmt0(2, 0, 3, 1) + b"\x00\x10\x00")

    def test_setInChunkSize(self) -> None:
        """
        ``set_in_chunk_size`` applies from the next header and validates.
        """
        decoder = ChunkDecoder()
        decoder.set_in_chunk_size(300)
        payload = filler(300)
        self.assertEqual(
            decoder.receive_data(fmt0(3, 0, 300, 9) + payload),
            [RawMessage(0, 9, 0, 3, payload)],
        )
        self.assertRaises(ChunkError, decoder.set_in_chunk_size, 100)
        self.assertRaises(ChunkError, ChunkDecoder, in_chunk_size=2**31)


class AbortTests(SynchronousTestCase):
    """
    Tests for :meth:`ChunkDecoder.abort` and the ``honour_abort`` option.
    """

    def test_abortDropsPartial(self) -> None:
        """
        ``abort`` drops the partial message; the csid then takes a new one.
        """
        decoder = ChunkDecoder()
        decoder.receive_data(fmt0(3, 0, 272, 9) + filler(128))
        self.assertEqual(decoder.pending_size, 272)
        decoder.abort(3)
        self.assertEqual(decoder.pending_size, 0)
        self.assertEqual(
            decoder.receive_data(fmt0(3, 5, 2, 8) + b"ab"),
            [RawMessage(5, 8, 0, 3, b"ab")],
        )

    def test_abortUnknownOrIdle(self) -> None:
        """
        Aborting a csid with nothing pending does nothing.
        """
        decoder = ChunkDecoder()
        decoder.abort(7)
        decoder.receive_data(fmt0(3, 0, 2, 9) + b"ab")
        decoder.abort(3)
        self.assertEqual(decoder.receive_data(fmt3(3) + b"cd")[0].payload, b"cd")

    def test_abortIgnoredByDefault(self) -> None:
        """
        Like SRS, a received Abort message is returned but not applied.
        """
        data = (
            fmt0(3, 0, 200, 9)
            + filler(128)
            + fmt0(2, 0, 4, 2)
            + struct.pack(">I", 3)
            + fmt3(3)
            + filler(72)
        )
        messages = decode_whole(data)
        self.assertEqual([m.message_type_id for m in messages], [2, 9])

    def test_honourAbort(self) -> None:
        """
        With ``honour_abort`` the partial message is dropped where the Abort
        arrives.
        """
        data = (
            fmt0(3, 0, 200, 9)
            + filler(128)
            + fmt0(2, 0, 4, 2)
            + struct.pack(">I", 3)
            + fmt1(3, 0, 2, 9)
            + b"ab"
        )
        messages = ChunkDecoder(honour_abort=True).receive_data(data)
        self.assertEqual(
            messages,
            [
                RawMessage(0, 2, 0, 2, struct.pack(">I", 3)),
                RawMessage(0, 9, 0, 3, b"ab"),
            ],
        )


class HostileInputTests(SynchronousTestCase):
    """
    Bounds and hostile input.
    """

    @given(st.binary(max_size=3000), st.integers(128, 1024))
    def test_randomBytes(self, data: bytes, chunk_size: int) -> None:
        """
        Random bytes only ever raise :class:`ChunkError`, and between calls the
        decoder buffers at most one incomplete chunk header.
        """
        decoder = ChunkDecoder(in_chunk_size=chunk_size)
        for offset in range(0, len(data), 97):
            try:
                decoder.receive_data(data[offset : offset + 97])
            except ChunkError:
                return
            self.assertLessEqual(decoder.buffered_size, 18)
            self.assertLessEqual(decoder.pending_size, 16 * 1024 * 1024)

    @given(st.binary(max_size=2000))
    def test_randomBytesAfterValidPrefix(self, data: bytes) -> None:
        """
        Random bytes after a valid message and chunk size change only raise
        :class:`ChunkError`.
        """
        decoder = ChunkDecoder()
        decoder.receive_data(
            fmt0(2, 0, 4, 1) + struct.pack(">I", 256) + fmt0(3, 0, 300, 9)
        )
        try:
            decoder.receive_data(data)
        except ChunkError:
            pass

    def test_hugeDeclaredLength(self) -> None:
        """
        A header declaring a message beyond the cap raises as soon as the
        header is complete, before any payload arrives.
        """
        decoder = ChunkDecoder()
        self.assertRaises(ChunkError, decoder.receive_data, fmt0(3, 0, 0xFFFFFF, 9))
        self.assertEqual(decoder.pending_size, 0)
        small = ChunkDecoder(max_message_size=1000)
        self.assertRaises(ChunkError, small.receive_data, fmt0(3, 0, 1001, 9))

    def test_messageAtCap(self) -> None:
        """
        A message exactly at the cap is accepted.
        """
        decoder = ChunkDecoder(max_message_size=1000, in_chunk_size=1000)
        payload = filler(1000)
        self.assertEqual(
            decoder.receive_data(fmt0(3, 0, 1000, 9) + payload)[0].payload, payload
        )

    def test_pendingBound(self) -> None:
        """
        Partial messages on several csids may not together exceed the
        pending cap.
        """
        decoder = ChunkDecoder(max_pending_size=1000)
        decoder.receive_data(fmt0(3, 0, 600, 9) + filler(128))
        self.assertRaises(ChunkError, decoder.receive_data, fmt0(4, 0, 600, 9))

    def test_chunkStreamExplosion(self) -> None:
        """
        More distinct csids than the bound raise :class:`ChunkError`.
        """
        decoder = ChunkDecoder()
        for csid in range(2, 2 + DEFAULT_MAX_CHUNK_STREAMS):
            decoder.receive_data(fmt0(csid, 0, 1, 9) + b"x")
        self.assertEqual(decoder.chunk_stream_count, DEFAULT_MAX_CHUNK_STREAMS)
        self.assertRaises(
            ChunkError,
            decoder.receive_data,
            fmt0(2 + DEFAULT_MAX_CHUNK_STREAMS, 0, 1, 9) + b"x",
        )

    def test_zeroLengthMessagesCountAsStreams(self) -> None:
        """
        Empty messages cannot be used to create csids without bound.
        """
        decoder = ChunkDecoder(max_chunk_streams=3)
        decoder.receive_data(fmt0(2, 0, 0, 9) + fmt0(3, 0, 0, 9) + fmt0(4, 0, 0, 9))
        self.assertRaises(ChunkError, decoder.receive_data, fmt0(5, 0, 0, 9))

    def test_bufferBoundedOnLargeInput(self) -> None:
        """
        After a large single call the decoder holds no more than the
        incomplete header at its end.
        """
        payload = filler(1_000_000)
        data = (
            fmt0(2, 0, 4, 1)
            + struct.pack(">I", 65536)
            + b"".join(bytes(p) for p in encode_chunks(0, 9, 1, payload, 65536, 3))
        )
        decoder = ChunkDecoder()
        [_, message] = decoder.receive_data(data + fmt0(3, 0, 5, 9)[:7])
        self.assertEqual(message.payload, payload)
        self.assertEqual(decoder.buffered_size, 7)
        self.assertEqual(decoder.pending_size, 0)


_CSIDS = st.one_of(
    st.sampled_from([2, 3, 63, 64, 65, 319, 320, 321, 65599]),
    st.integers(2, 65599),
)
_TIMESTAMPS = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.integers(0xFFFFF0, 0x1000010),
    st.sampled_from(
        [0, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
    ),
)
_CHUNK_SIZES = st.one_of(
    st.integers(128, 300), st.sampled_from([128, 4096, 60000, 65536])
)
# Any type but Set Chunk Size, which would change the decoder's chunk size.
_TYPE_IDS = st.integers(2, 255)


@st.composite
def _messages(draw: st.DrawFn, distinct_csids: bool = False) -> list[RawMessage]:
    """
    Arbitrary non-empty messages.
    """
    count = draw(st.integers(1, 6))
    if distinct_csids:
        csids = draw(st.lists(_CSIDS, min_size=count, max_size=count, unique=True))
    else:
        csids = [draw(_CSIDS) for _ in range(count)]
    return [
        RawMessage(
            draw(_TIMESTAMPS),
            draw(_TYPE_IDS),
            draw(st.integers(0, 0xFFFFFFFF)),
            csid,
            draw(st.binary(min_size=1, max_size=700)),
        )
        for csid in csids
    ]


def _as_received(message: RawMessage) -> RawMessage:
    """
    What the decoder returns for a sent message: 31-bit timestamp.
    """
    return RawMessage(
        message.timestamp & 0x7FFFFFFF,
        message.message_type_id,
        message.message_stream_id,
        message.chunk_stream_id,
        message.payload,
    )


def _resplit(data: bytes, cuts: list[int]) -> list[bytes]:
    """
    Cut ``data`` at the given offsets.
    """
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = []
    start = 0
    for point in points + [len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


class RoundTripTests(SynchronousTestCase):
    """
    Property tests: what the encoders produce, the decoder reads back, fed
    in any split.
    """

    @given(_messages(), _CHUNK_SIZES)
    def test_encodeDecode(self, messages: list[RawMessage], chunk_size: int) -> None:
        """
        Messages encoded with :func:`encode_chunks` decode to the same messages
        (timestamps cut to 31 bits).
        """
        data = encode_all(messages, chunk_size)
        decoder = ChunkDecoder(in_chunk_size=chunk_size)
        self.assertEqual(
            decoder.receive_data(data), [_as_received(m) for m in messages]
        )
        self.assertEqual(decoder.pending_size, 0)

    @given(_messages(), _CHUNK_SIZES, st.lists(st.integers(0, 10**6), max_size=20))
    def test_anySplit(
        self, messages: list[RawMessage], chunk_size: int, cuts: list[int]
    ) -> None:
        """
        Feeding the bytes whole, one byte at a time, or split at random
        points gives the same messages.
        """
        data = encode_all(messages, chunk_size)
        whole = decode_whole(data, in_chunk_size=chunk_size)
        decoder = ChunkDecoder(in_chunk_size=chunk_size)
        split: list[RawMessage] = []
        for piece in _resplit(data, cuts):
            split += decoder.receive_data(piece)
        self.assertEqual(split, whole)
        if len(data) < 3000:
            self.assertEqual(decode_bytewise(data, in_chunk_size=chunk_size), whole)

    @given(
        _messages(distinct_csids=True), _CHUNK_SIZES, st.randoms(use_true_random=False)
    )
    def test_interleaved(
        self, messages: list[RawMessage], chunk_size: int, random: Random
    ) -> None:
        """
        Chunks of messages on different csids, interleaved in any order that
        keeps each message's own chunks in order, decode to every message,
        each returned when its last chunk arrives.
        """
        queues = []
        for m in messages:
            pieces = encode_chunks(
                m.timestamp,
                m.message_type_id,
                m.message_stream_id,
                m.payload,
                chunk_size,
                m.chunk_stream_id,
            )
            # Pair each header with the payload slice that follows it.
            chunks = [
                bytes(pieces[i]) + bytes(pieces[i + 1])
                for i in range(0, len(pieces), 2)
            ]
            queues.append((m, chunks))
        order: list[RawMessage] = []
        data = bytearray()
        active = [q for q in queues]
        while active:
            index = random.randrange(len(active))
            m, chunks = active[index]
            data += chunks.pop(0)
            if not chunks:
                order.append(_as_received(m))
                active.pop(index)
        self.assertEqual(decode_whole(bytes(data), in_chunk_size=chunk_size), order)

    @given(_messages(), _CHUNK_SIZES, st.lists(st.integers(0, 10**6), max_size=10))
    def test_encoderCompressed(
        self, messages: list[RawMessage], chunk_size: int, cuts: list[int]
    ) -> None:
        """
        A compressing :class:`ChunkEncoder` (fmt 1/2 headers) round-trips through
        the decoder, in any split.
        """
        encoder = ChunkEncoder(chunk_size, compress=True)
        data = b"".join(
            bytes(piece)
            for m in messages
            for piece in encoder.encode(
                m.timestamp,
                m.message_type_id,
                m.message_stream_id,
                m.payload,
                m.chunk_stream_id,
            )
        )
        decoder = ChunkDecoder(in_chunk_size=chunk_size)
        out: list[RawMessage] = []
        for piece in _resplit(data, cuts):
            out += decoder.receive_data(piece)
        self.assertEqual(out, [_as_received(m) for m in messages])

    @given(
        st.integers(0, 0xFFFFFFFF),
        st.lists(
            st.tuples(st.integers(0, 0xFFFFFE), st.binary(min_size=1, max_size=400)),
            max_size=5,
        ),
        _CSIDS,
        _CHUNK_SIZES,
    )
    def test_deltaEncoding(
        self,
        base: int,
        followers: list[tuple[int, bytes]],
        csid: int,
        chunk_size: int,
    ) -> None:
        """
        A fmt-0 message followed by :func:`encode_chunks_delta` messages decodes
        with accumulated timestamps and the first message's stream id.
        """
        pieces = list(encode_chunks(base, 9, 1, b"first", chunk_size, csid))
        expected = [RawMessage(base & 0x7FFFFFFF, 9, 1, csid, b"first")]
        timestamp = base
        for delta, payload in followers:
            pieces += encode_chunks_delta(delta, 8, payload, chunk_size, csid)
            timestamp += delta
            expected.append(RawMessage(timestamp & 0x7FFFFFFF, 8, 1, csid, payload))
        data = b"".join(bytes(p) for p in pieces)
        self.assertEqual(decode_whole(data, in_chunk_size=chunk_size), expected)


class EncodeTests(SynchronousTestCase):
    """
    Byte-level tests for the encoders.
    """

    def test_sendVideoMessage(self) -> None:
        """
        A 4-byte message is a 12-byte fmt-0 header plus the payload
        (ProtocolSendVMessage).
        """
        pieces = encode_chunks(0, 9, 1, b"\x01\x02\x03\x04", 128, 6)
        self.assertEqual(
            b"".join(pieces),
            bytes.fromhex("06 000000 000004 09 01000000 01020304".replace(" ", "")),
        )

    def test_continuationHeaders(self) -> None:
        """
        Later chunks get a 1-byte fmt-3 header; payload pieces are slices of
        the payload, not copies.
        """
        payload = filler(300)
        pieces = encode_chunks(5, 9, 1, payload, 128, 4)
        self.assertEqual(
            [bytes(p) for p in pieces],
            [
                fmt0(4, 5, 300, 9, 1),
                payload[:128],
                b"\xc4",
                payload[128:256],
                b"\xc4",
                payload[256:],
            ],
        )
        for piece in pieces:
            # Real TCP transports take only bytes in writeSequence.
            self.assertIs(type(piece), bytes)

    def test_singleChunkPayloadUncopied(self) -> None:
        """
        A payload that fits one chunk is passed through as the same object.
        """
        payload = b"abc"
        self.assertIs(encode_chunks(0, 9, 1, payload, 128, 3)[1], payload)

    def test_emptyPayload(self) -> None:
        """
        An empty message is just its header.
        """
        self.assertEqual(encode_chunks(0, 9, 1, b"", 128, 3), [fmt0(3, 0, 0, 9, 1)])

    def test_extendedTimestampRepeated(self) -> None:
        """
        An extended timestamp follows the fmt-0 header and every fmt-3
        header (as SRS's ``srs_chunk_header_c3`` writes it).
        """
        payload = filler(200)
        ext = struct.pack(">I", 0x12345678)
        self.assertEqual(
            [bytes(p) for p in encode_chunks(0x12345678, 9, 1, payload, 128, 3)],
            [
                fmt0(3, 0, 200, 9, 1, ext=0x12345678),
                payload[:128],
                b"\xc3" + ext,
                payload[128:],
            ],
        )

    def test_timestampJustBelowExtended(self) -> None:
        """
        0xFFFFFE still fits the 3-byte field; 0xFFFFFF does not.
        """
        self.assertEqual(len(encode_chunks(0xFFFFFE, 9, 1, b"a", 128, 3)[0]), 12)
        self.assertEqual(len(encode_chunks(0xFFFFFF, 9, 1, b"a", 128, 3)[0]), 16)

    def test_basicHeaderForms(self) -> None:
        """
        csids 2..63 take one byte, 64..319 two, larger ones three.
        """
        for csid, expected in (
            (63, b"\x3f"),
            (64, b"\x00\x00"),
            (319, b"\x00\xff"),
            (320, b"\x01\x00\x01"),
            (65599, b"\x01\xff\xff"),
        ):
            header = encode_chunks(0, 9, 1, b"a", 128, csid)[0]
            self.assertEqual(header[: len(expected)], expected)

    def test_badArguments(self) -> None:
        """
        Unencodable arguments raise :class:`ChunkError`.
        """
        for args in (
            (0, 9, 1, b"a", 128, 1),
            (0, 9, 1, b"a", 128, 65600),
            (0, 256, 1, b"a", 128, 3),
            (2**32, 9, 1, b"a", 128, 3),
            (-1, 9, 1, b"a", 128, 3),
            (0, 9, 2**32, b"a", 128, 3),
            (0, 9, 1, b"a", 127, 3),
        ):
            self.assertRaises(ChunkError, encode_chunks, *args)
        self.assertRaises(ChunkError, encode_chunks_delta, 0xFFFFFF, 9, b"a", 128, 3)
        self.assertRaises(ChunkError, encode_chunks_delta, -1, 9, b"a", 128, 3)

    def test_deltaHeader(self) -> None:
        """
        :func:`encode_chunks_delta` writes a fmt-1 header then fmt-3 headers.
        """
        payload = filler(130)
        self.assertEqual(
            [bytes(p) for p in encode_chunks_delta(40, 8, payload, 128, 4)],
            [fmt1(4, 40, 130, 8), payload[:128], b"\xc4", payload[128:]],
        )


class ChunkEncoderTests(SynchronousTestCase):
    """
    Tests for :class:`ChunkEncoder`.
    """

    def test_fmt0ByDefault(self) -> None:
        """
        By default every message starts with a fmt-0 header, as in SRS.
        """
        encoder = ChunkEncoder()
        for timestamp in (0, 40, 80):
            header = encoder.encode(timestamp, 9, 1, b"abcd", 6)[0]
            self.assertEqual(header, fmt0(6, timestamp, 4, 9, 1))
        self.assertEqual(encoder.last_header(6), (80, 9, 1, 4))
        self.assertIsNone(encoder.last_header(7))

    def test_chunkSize(self) -> None:
        """
        ``set_chunk_size`` changes how later messages are cut and validates.
        """
        encoder = ChunkEncoder()
        self.assertEqual(len(encoder.encode(0, 9, 1, filler(1000), 6)), 16)
        encoder.set_chunk_size(60000)
        self.assertEqual(encoder.chunk_size, 60000)
        self.assertEqual(len(encoder.encode(0, 9, 1, filler(1000), 6)), 2)
        self.assertRaises(ChunkError, encoder.set_chunk_size, 64)

    def test_compressHeaders(self) -> None:
        """
        With ``compress``, a follow-up message gets fmt 2 when length and
        type match, fmt 1 otherwise, and fmt 0 when the stream id changes or
        time goes backwards.
        """
        encoder = ChunkEncoder(compress=True)
        self.assertEqual(encoder.encode(10, 9, 1, b"abcd", 6)[0], fmt0(6, 10, 4, 9, 1))
        self.assertEqual(encoder.encode(50, 9, 1, b"efgh", 6)[0], fmt2(6, 40))
        self.assertEqual(encoder.encode(60, 9, 1, b"ij", 6)[0], fmt1(6, 10, 2, 9))
        self.assertEqual(encoder.encode(70, 9, 2, b"ij", 6)[0], fmt0(6, 70, 2, 9, 2))
        self.assertEqual(encoder.encode(65, 9, 2, b"ij", 6)[0], fmt0(6, 65, 2, 9, 2))


class AggregateTests(SynchronousTestCase):
    """
    Tests for :func:`split_aggregate` (RTMP spec §7.1.6, SRS #424).
    """

    @staticmethod
    def record(type_id: int, timestamp: int, data: bytes) -> bytes:
        """
        One FLV-tag-like aggregate record.
        """
        return (
            bytes((type_id,))
            + u24(len(data))
            + u24(timestamp & 0xFFFFFF)
            + bytes((timestamp >> 24,))
            + u24(0)
            + data
            + struct.pack(">I", 11 + len(data))
        )

    def test_split(self) -> None:
        """
        Records become messages rebased to the aggregate's timestamp; only
        audio and video are kept; csid and stream id are inherited.
        """
        payload = (
            self.record(9, 0x01000000, b"v1")
            + self.record(18, 0x01000005, b"meta")
            + self.record(8, 0x01000010, b"a1")
        )
        aggregate = RawMessage(1000, 22, 1, 7, payload)
        self.assertEqual(
            split_aggregate(aggregate),
            [RawMessage(1000, 9, 1, 7, b"v1"), RawMessage(1016, 8, 1, 7, b"a1")],
        )

    def test_negativeRebase(self) -> None:
        """
        Rebasing may move timestamps down.
        """
        payload = self.record(9, 500, b"v") + self.record(9, 540, b"w")
        self.assertEqual(
            [m.timestamp for m in split_aggregate(RawMessage(100, 22, 1, 4, payload))],
            [100, 140],
        )

    def test_empty(self) -> None:
        """
        An empty aggregate has no messages.
        """
        self.assertEqual(split_aggregate(RawMessage(0, 22, 1, 4, b"")), [])

    def test_truncated(self) -> None:
        """
        A truncated record header, data or back-pointer is an error.
        """
        good = self.record(9, 0, b"abc")
        for cut in (1, 10, 13, len(good) - 1):
            self.assertRaises(
                ChunkError, split_aggregate, RawMessage(0, 22, 1, 4, good[:cut])
            )

    @given(st.binary(max_size=200), st.integers(0, 0x7FFFFFFF))
    def test_randomPayload(self, payload: bytes, timestamp: int) -> None:
        """
        Arbitrary payloads either split or raise :class:`ChunkError`.
        """
        try:
            messages = split_aggregate(RawMessage(timestamp, 22, 1, 4, payload))
        except ChunkError:
            return
        for m in messages:
            self.assertIn(m.message_type_id, (8, 9))
            self.assertLessEqual(m.timestamp, 0x7FFFFFFF)


class CapturedClientTests(SynchronousTestCase):
    """
    Bytes real clients (ffmpeg, rtmpdump) sent right after the handshake.
    """

    def test_connectFirst(self) -> None:
        """
        Every capture decodes, whole and byte by byte, to a connect command
        first (after an optional Set Chunk Size), with nothing left over.
        """
        paths = sorted(_DATA.glob("*-after-c2.bin"))
        if not paths:
            raise SkipTest("no post-handshake captures in tests/data/handshake")
        for path in paths:
            data = path.read_bytes()
            decoder = ChunkDecoder()
            messages = decoder.receive_data(data)
            self.assertEqual(decode_bytewise(data), messages, path.name)
            types = [m.message_type_id for m in messages]
            if types[0] == MessageType.SET_CHUNK_SIZE:
                types.pop(0)
                messages.pop(0)
            self.assertEqual(types[0], MessageType.AMF0_COMMAND, path.name)
            self.assertTrue(
                messages[0].payload.startswith(b"\x02\x00\x07connect"), path.name
            )
            self.assertEqual(messages[0].message_stream_id, 0)
            self.assertEqual(decoder.buffered_size, 0)
            self.assertEqual(decoder.pending_size, 0)


@st.composite
def _chunk_streams(draw: st.DrawFn) -> tuple[bytes, int]:
    """
    A chunk stream with every kind of header: messages on a few chunk
    streams, each started by a fmt 0, 1, 2 or 3 header (so some streams
    break the rules), with 3-byte or extended timestamps, continuation
    chunks that repeat the extended timestamp or not, and the chunks of
    different chunk streams interleaved.

    :return: the bytes and the chunk size they are cut with.
    """
    chunk_size = draw(st.sampled_from([128, 129, 200]))
    csids = draw(st.lists(_CSIDS, min_size=1, max_size=3, unique=True))
    queues: dict[int, list[bytes]] = {csid: [] for csid in csids}
    lengths: dict[int, int] = {}
    for seed in range(draw(st.integers(1, 8))):
        csid = draw(st.sampled_from(csids))
        if csid in lengths:
            fmt = draw(st.integers(0, 3))
        else:
            fmt = draw(st.sampled_from([0] * 9 + [1, 2, 3]))
        timestamp = draw(_TIMESTAMPS)
        ext = struct.pack(">I", timestamp) if timestamp >= 0xFFFFFF else b""
        field = min(timestamp, 0xFFFFFF)
        type_id = draw(_TYPE_IDS)
        if fmt <= 1:
            lengths[csid] = draw(st.integers(0, 400))
        length = lengths.get(csid, 0)
        if fmt == 0:
            stream_id = struct.pack("<I", draw(st.integers(0, 0xFFFFFFFF)))
            header = basic(0, csid) + u24(field) + u24(length) + bytes((type_id,)) + stream_id
        elif fmt == 1:
            header = basic(1, csid) + u24(field) + u24(length) + bytes((type_id,))
        elif fmt == 2:
            header = basic(2, csid) + u24(field)
        else:
            header = basic(3, csid)
        if fmt < 3 or draw(st.booleans()):
            header += ext
        payload = filler(length, seed)
        queues[csid].append(header + payload[:chunk_size])
        for offset in range(chunk_size, length, chunk_size):
            repeat = ext if draw(st.booleans()) else b""
            queues[csid].append(basic(3, csid) + repeat + payload[offset : offset + chunk_size])
    data = bytearray()
    active = [csid for csid in csids if queues[csid]]
    while active:
        csid = draw(st.sampled_from(active))
        data += queues[csid].pop(0)
        if not queues[csid]:
            active.remove(csid)
    return bytes(data), chunk_size


def _reassemble(pieces: list[bytes], chunk_size: int) -> tuple[list[RawMessage], bool, int]:
    """
    Read a chunk stream with :func:`parse_chunk_header` alone, the plain way:
    keep every unparsed byte, and parse a header once all of it is there.
    Every shorter prefix of each header parsed must give ``None``.

    :return: the messages, whether a :class:`ChunkError` stopped the
        reading, and the bytes of the incomplete header left at the end.
    """
    streams: dict[int, ChunkStreamState] = {}
    partial: dict[int, bytearray] = {}
    out: list[RawMessage] = []
    buffer = b""
    csid: int | None = None
    state = ChunkStreamState()
    chunk_left = 0
    try:
        for piece in pieces:
            buffer += piece
            while True:
                if csid is not None:
                    take = min(chunk_left, len(buffer))
                    partial[csid] += buffer[:take]
                    buffer = buffer[take:]
                    chunk_left -= take
                    state.left -= take
                    if chunk_left:
                        break
                    if not state.left:
                        payload = bytes(partial.pop(csid))
                        if payload:
                            out.append(
                                RawMessage(
                                    state.timestamp, state.type_id, state.stream_id, csid, payload
                                )
                            )
                    csid = None
                if not buffer:
                    break
                header = parse_chunk_header(buffer, 0, streams)
                if header is None:
                    break
                end = header[0]
                for size in range(1, end):
                    assert parse_chunk_header(buffer[:size], 0, streams) is None, (buffer, size)
                (
                    _,
                    csid,
                    previous,
                    pending,
                    state_timestamp,
                    delta,
                    length,
                    type_id,
                    stream_id,
                    extended,
                ) = header
                buffer = buffer[end:]
                if previous is None:
                    previous = streams[csid] = ChunkStreamState()
                state = previous
                if not pending:
                    state.left = length
                    partial[csid] = bytearray()
                state.timestamp = state_timestamp
                state.delta = delta
                state.length = length
                state.type_id = type_id
                state.stream_id = stream_id
                state.extended = extended
                chunk_left = min(state.left, chunk_size)
    except ChunkError:
        return out, True, len(buffer)
    return out, False, len(buffer)


class ParseChunkHeaderTests(SynchronousTestCase):
    """
    :func:`parse_chunk_header`, the parser the decoder and srs-bench's
    scanner share.
    """

    @given(_chunk_streams(), st.lists(st.integers(0, 10**6), max_size=20))
    def test_decoderAgrees(self, stream: tuple[bytes, int], cuts: list[int]) -> None:
        """
        On random chunk streams split at random points, :class:`ChunkDecoder`
        returns the messages that the header parser alone reassembles, and
        fails where it fails.
        """
        data, chunk_size = stream
        pieces = _resplit(data, cuts)
        expected, failed, left = _reassemble(pieces, chunk_size)
        decoder = ChunkDecoder(in_chunk_size=chunk_size)
        received: list[RawMessage] = []
        error = False
        for piece in pieces:
            try:
                received += decoder.receive_data(piece)
            except ChunkError:
                error = True
                break
        self.assertEqual(error, failed)
        if error:
            # The messages of the call that raised are lost.
            self.assertEqual(received, expected[: len(received)])
        else:
            self.assertEqual(received, expected)
            self.assertEqual(decoder.buffered_size, left)

    def test_fields(self) -> None:
        """
        A fmt-0 header with an extended timestamp, then a fmt-3 header that
        repeats it, on a 2-byte chunk stream id.
        """
        data = fmt0(100, 0, 300, 9, 1, ext=0x1234567) + b"p" * 128
        self.assertEqual(
            parse_chunk_header(data, 0, {}),
            (2 + 11 + 4, 100, None, False, 0x1234567, 0xFFFFFF, 300, 9, 1, True),
        )
        state = ChunkStreamState()
        state.timestamp, state.delta, state.length = 0x1234567, 0xFFFFFF, 300
        state.type_id, state.stream_id, state.extended, state.left = 9, 1, True, 172
        continuation = fmt3(100) + struct.pack(">I", 0x1234567) + b"p"
        self.assertEqual(
            parse_chunk_header(continuation, 0, {100: state}),
            (2 + 4, 100, state, True, 0x1234567, 0xFFFFFF, 300, 9, 1, True),
        )
        self.assertIsNone(parse_chunk_header(continuation[:5], 0, {100: state}))

    def test_extendedTimestampAsPayload(self) -> None:
        """
        On a fmt-3 continuation, 4 bytes that differ from the message's
        extended timestamp are payload: the header ends before them.
        """
        state = ChunkStreamState()
        state.timestamp, state.delta, state.length = 0x1234567, 0xFFFFFF, 300
        state.extended, state.left = True, 172
        data = fmt3(5) + b"abcd"
        header = parse_chunk_header(data, 0, {5: state})
        assert header is not None
        self.assertEqual((header[0], header[4]), (1, 0x1234567))

    def test_rules(self) -> None:
        """
        The header rules raise :class:`ChunkError`; nothing is changed.
        """
        pending = ChunkStreamState()
        pending.length, pending.left = 300, 100
        for data, streams in (
            (fmt3(5), {}),
            (fmt2(5, 0), {}),
            (fmt1(5, 0, 10, 9), {}),
            (fmt0(5, 0, 10, 9), {5: pending}),
            (fmt1(5, 0, 301, 9), {5: pending}),
            (fmt0(5, 0, DEFAULT_MAX_MESSAGE_SIZE + 1, 9), {}),
        ):
            self.assertRaises(ChunkError, parse_chunk_header, data, 0, streams)
        self.assertEqual((pending.length, pending.left), (300, 100))
        # librtmp's ping: fmt 1 may start chunk stream 2 (SRS #98).
        self.assertIsNotNone(parse_chunk_header(fmt1(2, 0, 6, 4), 0, {}))
