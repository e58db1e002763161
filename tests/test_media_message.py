"""
Tests for :mod:`srstwist.media.message`: one encoding per message and wire
variant, shared by every player, and the FLV flags.
"""

from __future__ import annotations

from pathlib import Path
from random import Random

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import (
    ChunkDecoder,
    ChunkError,
    MessageType,
    RawMessage,
)
from srstwist.media.message import MAX_VARIANTS, SharedMessage, total_encodes

_SESSION = Path(__file__).parent / "data" / "rtmp-session" / "session.bin"

_timestamps = st.integers(min_value=0, max_value=0x7FFFFFFF)
_chunk_sizes = st.one_of(
    st.sampled_from([128, 4096, 60000]), st.integers(min_value=128, max_value=5000)
)
_csids = st.one_of(st.integers(min_value=2, max_value=70), st.integers(2, 65599))
_stream_ids = st.one_of(st.sampled_from([0, 1]), st.integers(0, 0xFFFFFFFF))
_types = st.sampled_from([MessageType.AUDIO, MessageType.VIDEO, MessageType.AMF0_DATA])
_payloads = st.binary(min_size=1, max_size=3000)


def decode_split(data: bytes, chunk_size: int, seed: int) -> list[RawMessage]:
    """
    Decode ``data`` with a decoder set to ``chunk_size``, fed in pieces cut at
    random points (seeded), one-byte pieces included.
    """
    decoder = ChunkDecoder(in_chunk_size=chunk_size)
    rng = Random(seed)
    out: list[RawMessage] = []
    offset = 0
    while offset < len(data):
        step = rng.choice((1, 2, 3, rng.randint(1, 64), rng.randint(1, 4096)))
        out += decoder.receive_data(data[offset : offset + step])
        offset += step
    return out


def session_messages() -> list[SharedMessage]:
    """
    The messages of the captured ffmpeg publish session.
    """
    raw = ChunkDecoder().receive_data(_SESSION.read_bytes())
    return [SharedMessage.from_raw(m) for m in raw]


class FanOutTests(SynchronousTestCase):
    """
    :meth:`SharedMessage.chunks` and :meth:`SharedMessage.delta_chunks` encode once per
    variant, however many players ask.
    """

    def test_thousand_players_one_encoding_each(self) -> None:
        """
        1000 players with the same settings asking for each of M messages
        cause M encodings, and all get the very same piece objects.
        """
        messages = session_messages()
        before = total_encodes()
        first: list[tuple[bytes, ...]] = [m.chunks(60000, m.chunk_stream_id, 1) for m in messages]
        for _player in range(1000):
            for message, pieces in zip(messages, first, strict=True):
                self.assertIs(message.chunks(60000, message.chunk_stream_id, 1), pieces)
        self.assertEqual(total_encodes() - before, len(messages))
        self.assertEqual([m.encodes for m in messages], [1] * len(messages))

    def test_thousand_players_one_delta_encoding(self) -> None:
        """
        1000 players asking for the same delta encoding cause one encoding.
        """
        message = SharedMessage(1000, MessageType.VIDEO, b"\x27\x01" + b"v" * 9000)
        before = total_encodes()
        pieces = message.delta_chunks(4096, 6, 40)
        for _player in range(1000):
            self.assertIs(message.delta_chunks(4096, 6, 40), pieces)
        self.assertEqual(total_encodes() - before, 1)
        self.assertEqual(message.encodes, 1)

    def test_chunk_sizes_are_separate_variants(self) -> None:
        """
        Different chunk sizes give different encodings, each made once.
        """
        message = SharedMessage(40, MessageType.VIDEO, bytes(range(256)) * 40)
        small = message.chunks(128, 6, 1)
        large = message.chunks(4096, 6, 1)
        self.assertNotEqual(b"".join(small), b"".join(large))
        self.assertIs(message.chunks(128, 6, 1), small)
        self.assertIs(message.chunks(4096, 6, 1), large)
        self.assertEqual(message.encodes, 2)
        self.assertEqual(message.variant_count, 2)

    def test_every_key_field_makes_a_variant(self) -> None:
        """
        Chunk stream id, message stream id and timestamp are part of the key.
        """
        message = SharedMessage(40, MessageType.AUDIO, b"\xaf\x01" + b"a" * 300)
        variants = {
            b"".join(message.chunks(128, 4, 1)),
            b"".join(message.chunks(128, 5, 1)),
            b"".join(message.chunks(128, 4, 2)),
            b"".join(message.chunks(128, 4, 1, timestamp=41)),
        }
        self.assertEqual(len(variants), 4)
        self.assertEqual(message.encodes, 4)

    def test_own_timestamp_shares_the_default(self) -> None:
        """
        Passing the message's own timestamp hits the entry made without one.
        """
        message = SharedMessage(40, MessageType.AUDIO, b"\xaf\x01abc")
        pieces = message.chunks(128, 4, 1)
        self.assertIs(message.chunks(128, 4, 1, timestamp=40), pieces)
        self.assertEqual(message.encodes, 1)

    def test_variant_cache_is_bounded(self) -> None:
        """
        Each cache keeps at most :data:`MAX_VARIANTS` encodings and drops the
        oldest first.
        """
        message = SharedMessage(0, MessageType.VIDEO, b"\x17\x01" + b"k" * 1000)
        sizes = [128 + i for i in range(MAX_VARIANTS + 2)]
        for size in sizes:
            message.chunks(size, 6, 1)
        for delta in range(MAX_VARIANTS + 2):
            message.delta_chunks(128, 6, delta)
        self.assertEqual(message.variant_count, 2 * MAX_VARIANTS)
        encodes = message.encodes
        message.chunks(sizes[-1], 6, 1)
        message.delta_chunks(128, 6, MAX_VARIANTS + 1)
        self.assertEqual(message.encodes, encodes)
        message.chunks(sizes[0], 6, 1)
        message.delta_chunks(128, 6, 0)
        self.assertEqual(message.encodes, encodes + 2)
        self.assertEqual(message.variant_count, 2 * MAX_VARIANTS)

    def test_pieces_are_bytes(self) -> None:
        """
        Every piece is ``bytes`` (Twisted's TCP transport refuses anything
        else), a one-chunk payload is the message's own object, and a longer
        one is a single joined piece.
        """
        payload = b"\x27\x01" + b"x" * 500
        message = SharedMessage(0, MessageType.VIDEO, payload)
        header, body = message.chunks(600, 6, 1)
        self.assertIs(body, message.payload)
        self.assertEqual(len(header), 12)
        for pieces in (message.chunks(128, 6, 1), message.delta_chunks(128, 6, 40)):
            self.assertEqual(len(pieces), 1)
            self.assertIs(type(pieces[0]), bytes)
        self.assertIsInstance(message.chunks(128, 6, 1), tuple)

    def test_payload_kept_or_copied_once(self) -> None:
        """
        A ``bytes`` payload is kept as is; other buffers become ``bytes``.
        """
        payload = b"\xaf\x01data"
        self.assertIs(SharedMessage(0, 8, payload).payload, payload)
        copied = SharedMessage(0, 8, bytearray(payload)).payload
        self.assertIs(type(copied), bytes)
        self.assertEqual(copied, payload)

    def test_errors_are_not_cached(self) -> None:
        """
        Unencodable arguments raise :class:`ChunkError` and count no encoding.
        """
        message = SharedMessage(0, MessageType.AUDIO, b"\xaf\x01")
        self.assertRaises(ChunkError, message.chunks, 128, 1, 1)
        self.assertRaises(ChunkError, message.chunks, 127, 4, 1)
        self.assertRaises(ChunkError, message.chunks, 128, 4, 1, 2**32)
        self.assertRaises(ChunkError, message.delta_chunks, 128, 4, 0xFFFFFF)
        self.assertEqual(message.encodes, 0)
        self.assertEqual(message.variant_count, 0)


class RoundTripTests(SynchronousTestCase):
    """
    What players receive decodes back to the published message.
    """

    @given(_timestamps, _types, _payloads, _chunk_sizes, _csids, _stream_ids, st.integers())
    def test_chunks_decode(
        self,
        timestamp: int,
        type_id: int,
        payload: bytes,
        chunk_size: int,
        csid: int,
        stream_id: int,
        seed: int,
    ) -> None:
        """
        :class:`ChunkDecoder` turns the cached chunks back into the message, however
        the bytes are split.
        """
        message = SharedMessage(timestamp, type_id, payload)
        wire = b"".join(message.chunks(chunk_size, csid, stream_id))
        self.assertEqual(
            decode_split(wire, chunk_size, seed),
            [RawMessage(timestamp, type_id, stream_id, csid, payload)],
        )

    @given(
        st.lists(st.tuples(st.integers(0, 1000), _types, _payloads), min_size=2, max_size=6),
        st.lists(_timestamps, min_size=1, max_size=3),
        _chunk_sizes,
        _csids,
        st.integers(),
    )
    def test_players_share_delta_chunks(
        self,
        stream: list[tuple[int, int, bytes]],
        bases: list[int],
        chunk_size: int,
        csid: int,
        seed: int,
    ) -> None:
        """
        Players with different timestamp bases each get their own fmt-0 first
        message, then share the delta encodings of the rest, and each decodes
        its own timestamps (``SrsRtmpJitter``).
        """
        messages = [SharedMessage(0, type_id, payload) for _, type_id, payload in stream]
        for base in bases:
            wire = [messages[0].chunks(chunk_size, csid, 1, timestamp=base)]
            expected = [RawMessage(base, messages[0].message_type_id, 1, csid, messages[0].payload)]
            timestamp = base
            for (delta, _, _), message in zip(stream[1:], messages[1:], strict=True):
                wire.append(message.delta_chunks(chunk_size, csid, delta))
                timestamp = (timestamp + delta) & 0x7FFFFFFF
                expected.append(
                    RawMessage(timestamp, message.message_type_id, 1, csid, message.payload)
                )
            data = b"".join(b"".join(pieces) for pieces in wire)
            self.assertEqual(decode_split(data, chunk_size, seed), expected)
        deltas = {delta for delta, _, _ in stream[1:]}
        for message in messages[1:]:
            self.assertLessEqual(message.encodes, len(deltas))

    def test_session_round_trip(self) -> None:
        """
        Every message of the captured session survives the fan-out encoding at
        SRS's chunk sizes.
        """
        messages = session_messages()
        for chunk_size in (128, 4096, 60000):
            wire = b"".join(b"".join(m.chunks(chunk_size, m.chunk_stream_id, 1)) for m in messages)
            decoded = decode_split(wire, chunk_size, chunk_size)
            self.assertEqual(
                [(m.timestamp, m.message_type_id, m.payload) for m in decoded],
                [(m.timestamp, m.message_type_id, m.payload) for m in messages],
            )


class FlagTests(SynchronousTestCase):
    """
    Keyframe and sequence-header flags follow the FLV tag rules.
    """

    def flags(self, type_id: int, payload: bytes) -> tuple[bool, bool]:
        """
        :return: ``(is_keyframe, is_sequence_header)`` for a new message.
        """
        message = SharedMessage(0, type_id, payload)
        return message.is_keyframe, message.is_sequence_header

    def test_captured_session(self) -> None:
        """
        In ffmpeg's H.264/AAC publish: one AVC and one AAC sequence header,
        keyframes every 50 frames (2 s), all other frames not key.
        """
        messages = session_messages()
        video = [m for m in messages if m.is_video]
        audio = [m for m in messages if m.is_audio]
        self.assertEqual(video[0].payload[:2], b"\x17\x00")
        self.assertTrue(video[0].is_sequence_header)
        self.assertTrue(video[0].is_keyframe)
        self.assertEqual(audio[0].payload[:2], b"\xaf\x00")
        self.assertTrue(audio[0].is_sequence_header)
        self.assertFalse(audio[0].is_keyframe)
        self.assertEqual([m for m in messages if m.is_sequence_header], [video[0], audio[0]])
        # x264's keyframes (at most 50 frames apart, here at 0, 1.96 s and
        # 3.96 s) and ffmpeg's end-of-sequence message (17 02) have frame
        # type 1.
        keyframes = [m for m in video if m.is_keyframe and not m.is_sequence_header]
        self.assertEqual([m.timestamp for m in keyframes], [0, 1960, 3960, 3960])
        self.assertEqual(keyframes[-1].payload[:2], b"\x17\x02")
        for message in video:
            self.assertEqual(message.is_keyframe, message.payload[0] == 0x17)
        for message in messages:
            if not (message.is_audio or message.is_video):
                self.assertEqual((message.is_keyframe, message.is_sequence_header), (False, False))

    def test_video(self) -> None:
        """
        Frame type 1 is a keyframe for any codec; only AVC (7) with packet
        type 0 and frame type 1 is a sequence header.
        """
        self.assertEqual(self.flags(9, b"\x17\x00\x00\x00\x00"), (True, True))
        self.assertEqual(self.flags(9, b"\x17\x01\x00\x00\x00"), (True, False))
        self.assertEqual(self.flags(9, b"\x27\x01\x00\x00\x00"), (False, False))
        self.assertEqual(self.flags(9, b"\x27\x00\x00\x00\x00"), (False, False))
        self.assertEqual(self.flags(9, b"\x12\x00"), (True, False))
        self.assertEqual(self.flags(9, b"\x17"), (True, False))
        self.assertEqual(self.flags(9, b""), (False, False))

    def test_audio(self) -> None:
        """
        Only AAC (sound format 10) with packet type 0 is a sequence header;
        audio is never a keyframe.
        """
        self.assertEqual(self.flags(8, b"\xaf\x00\x12\x10"), (False, True))
        self.assertEqual(self.flags(8, b"\xaf\x01\x21"), (False, False))
        self.assertEqual(self.flags(8, b"\x2f\x00"), (False, False))
        self.assertEqual(self.flags(8, b"\xaf"), (False, False))
        self.assertEqual(self.flags(8, b""), (False, False))

    def test_other_types(self) -> None:
        """
        Data and command messages carry no media flags, whatever their bytes.
        """
        self.assertEqual(self.flags(18, b"\x17\x00"), (False, False))
        self.assertEqual(self.flags(20, b"\xaf\x00"), (False, False))

    def test_from_raw(self) -> None:
        """
        :meth:`SharedMessage.from_raw` keeps timestamp, type, payload object and
        chunk stream id.
        """
        raw = RawMessage(33, 9, 1, 6, b"\x17\x01abc")
        message = SharedMessage.from_raw(raw)
        self.assertEqual(
            (message.timestamp, message.message_type_id, message.chunk_stream_id, message.size),
            (33, 9, 6, 5),
        )
        self.assertIs(message.payload, raw.payload)
        self.assertTrue(message.is_keyframe)
        self.assertIn("type=9", repr(message))
