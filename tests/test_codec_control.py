"""
Tests for :mod:`srstwist.codec.control`.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.chunk import ChunkDecoder, ChunkError, encode_chunks
from srstwist.codec.control import (
    Abort,
    Acknowledgement,
    ControlError,
    ControlMessage,
    FmsEvent0,
    LimitType,
    MessageType,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEOF,
    StreamIsRecorded,
    UnknownUserControl,
    UserControlEventType,
    WindowAcknowledgementSize,
    decode_control,
    decode_user_control,
)

_U32 = st.integers(0, 0xFFFFFFFF)

_CONTROL_MESSAGES = st.one_of(
    st.builds(SetChunkSize, st.integers(128, 0x7FFFFFFF)),
    st.builds(Abort, _U32),
    st.builds(Acknowledgement, _U32),
    st.builds(WindowAcknowledgementSize, _U32),
    st.builds(SetPeerBandwidth, _U32, st.integers(0, 255)),
    st.builds(StreamBegin, _U32),
    st.builds(StreamEOF, _U32),
    st.builds(StreamDry, _U32),
    st.builds(StreamIsRecorded, _U32),
    st.builds(SetBufferLength, _U32, _U32),
    st.builds(PingRequest, _U32),
    st.builds(PingResponse, _U32),
    st.builds(FmsEvent0, st.integers(0, 255)),
    st.builds(
        UnknownUserControl,
        st.integers(0, 0xFFFF).filter(lambda t: t not in set(UserControlEventType)),
        st.binary(min_size=4, max_size=50),
    ),
)


def on_wire(message: ControlMessage) -> bytes:
    """
    A control message as SRS sends it: csid 2, stream 0, timestamp 0.
    """
    return b"".join(encode_chunks(0, message.type_id, 0, message.encode(), 128, 2))


class SrsSendPacketTests(SynchronousTestCase):
    """
    Byte-exact vectors of SRS's ProtocolSend* control packet tests
    (``srs_utest_protocol.cpp``).
    """

    def test_setWindowAckSize(self) -> None:
        """
        Window Acknowledgement Size 102400 (ProtocolSendSrsSetWindowAckSizePacket).
        """
        self.assertEqual(
            on_wire(WindowAcknowledgementSize(102400)),
            bytes.fromhex("020000000000040500000000 00019000".replace(" ", "")),
        )

    def test_acknowledgement(self) -> None:
        """
        Acknowledgement 1024 (ProtocolSendSrsAcknowledgementPacket).
        """
        self.assertEqual(
            on_wire(Acknowledgement(1024)),
            bytes.fromhex("020000000000040300000000 00000400".replace(" ", "")),
        )

    def test_setChunkSize(self) -> None:
        """
        Set Chunk Size 1024 and 60000 (ProtocolSendSrsSetChunkSizePacket,
        RTMP spec §5.4.1).
        """
        self.assertEqual(
            on_wire(SetChunkSize(1024)),
            bytes.fromhex("020000000000040100000000 00000400".replace(" ", "")),
        )
        self.assertEqual(
            on_wire(SetChunkSize(60000)),
            bytes.fromhex("020000000000040100000000 0000EA60".replace(" ", "")),
        )

    def test_setPeerBandwidth(self) -> None:
        """
        Set Peer Bandwidth 1024 soft (ProtocolSendSrsSetPeerBandwidthPacket)
        and 2500000 dynamic (RTMP spec §5.4.5).
        """
        self.assertEqual(
            on_wire(SetPeerBandwidth(1024, LimitType.SOFT)),
            bytes.fromhex("020000000000050600000000 0000040001".replace(" ", "")),
        )
        self.assertEqual(
            on_wire(SetPeerBandwidth(2500000)),
            bytes.fromhex("020000000000050600000000 002625A002".replace(" ", "")),
        )

    def test_userControlSetBufferLength(self) -> None:
        """
        SetBufferLength stream 1, 16 ms (ProtocolSendSrsUserControlPacket).
        """
        self.assertEqual(
            on_wire(SetBufferLength(1, 0x10)),
            bytes.fromhex(
                "0200000000000a0400000000 0003 00000001 00000010".replace(" ", "")
            ),
        )

    def test_streamBegin(self) -> None:
        """
        StreamBegin for stream 1 (RTMP spec §7.1.7).
        """
        self.assertEqual(
            on_wire(StreamBegin(1)),
            bytes.fromhex("020000000000060400000000 0000 00000001".replace(" ", "")),
        )

    def test_windowAckSizeDefault(self) -> None:
        """
        Window Acknowledgement Size 2500000 (RTMP spec §5.4.4).
        """
        self.assertEqual(
            on_wire(WindowAcknowledgementSize(2500000)),
            bytes.fromhex("020000000000040500000000 002625A0".replace(" ", "")),
        )


class DecodeTests(SynchronousTestCase):
    """
    Tests for :func:`decode_control` and :func:`decode_user_control`.
    """

    @given(_CONTROL_MESSAGES)
    def test_roundTrip(self, message: ControlMessage) -> None:
        """
        Every control message decodes from its own encoding.
        """
        self.assertEqual(decode_control(message.type_id, message.encode()), message)

    @given(_CONTROL_MESSAGES)
    def test_throughChunkStream(self, message: ControlMessage) -> None:
        """
        Control messages survive the chunk stream (on csid 2, stream 0).
        """
        [raw] = ChunkDecoder().receive_data(on_wire(message))
        self.assertEqual((raw.chunk_stream_id, raw.message_stream_id), (2, 0))
        self.assertEqual(decode_control(raw.message_type_id, raw.payload), message)

    @given(st.integers(0, 255), st.binary(max_size=20))
    def test_arbitraryPayloads(self, type_id: int, payload: bytes) -> None:
        """
        Any payload either decodes to a re-encodable message or raises
        :class:`ControlError`.
        """
        try:
            message = decode_control(type_id, payload)
        except ControlError:
            return
        self.assertEqual(decode_control(type_id, message.encode()), message)

    def test_pingFlow(self) -> None:
        """
        A PingRequest's timestamp is echoed by a PingResponse
        (ProtocolPingFlow, RTMP spec §7.1.7).
        """
        request = decode_control(4, PingRequest(0x3456).encode())
        assert isinstance(request, PingRequest)
        response = PingResponse(request.timestamp)
        self.assertEqual(response.encode(), bytes.fromhex("000700003456"))

    def test_fmsEvent0(self) -> None:
        """
        Event 0x1A carries one byte (``00 1A 01``).
        """
        self.assertEqual(decode_user_control(bytes.fromhex("001a01")), FmsEvent0(1))
        self.assertEqual(FmsEvent0(1).encode(), bytes.fromhex("001a01"))

    def test_unknownEvent(self) -> None:
        """
        Unknown events keep their type and data.
        """
        self.assertEqual(
            decode_user_control(bytes.fromhex("001f0000000199")),
            UnknownUserControl(31, bytes.fromhex("0000000199")),
        )

    def test_trailingBytesIgnored(self) -> None:
        """
        Like SRS, bytes after the fields are ignored.
        """
        self.assertEqual(
            decode_control(3, bytes.fromhex("00000400ffff")), Acknowledgement(1024)
        )

    def test_shortPayloads(self) -> None:
        """
        Payloads shorter than their fields raise :class:`ControlError`.
        """
        for type_id, payload in (
            (1, b"\x00\x00\x10"),
            (2, b""),
            (3, b"\x00"),
            (5, b"\x00\x00\x00"),
            (6, b"\x00\x00\x00\x00"),
            (4, b"\x00"),
            (4, b"\x00\x00\x00\x00\x00"),
            (4, b"\x00\x03\x00\x00\x00\x01\x00\x00\x00"),
            (4, b"\x00\x1a"),
            (4, b"\x00\x1f\x00"),
        ):
            self.assertRaises(ControlError, decode_control, type_id, payload)

    def test_chunkSizeBounds(self) -> None:
        """
        Set Chunk Size below 128 (SRS #541) or with the top bit set raises;
        above 65536 is accepted (SRS #160).
        """
        self.assertRaises(ControlError, decode_control, 1, bytes.fromhex("0000007f"))
        self.assertRaises(ControlError, decode_control, 1, bytes.fromhex("80000000"))
        self.assertEqual(
            decode_control(1, bytes.fromhex("00010001")), SetChunkSize(65537)
        )

    def test_notControl(self) -> None:
        """
        Non-control message types raise :class:`ControlError`.
        """
        for type_id in (0, 7, 8, 9, 20, 22):
            self.assertRaises(ControlError, decode_control, type_id, bytes(10))

    def test_oneHierarchy(self) -> None:
        """
        :class:`ControlError` is a :class:`ChunkError`.
        """
        self.assertTrue(issubclass(ControlError, ChunkError))

    def test_invalidValues(self) -> None:
        """
        Out-of-range field values are refused when a message is built.
        """
        for build in (
            lambda: SetChunkSize(127),
            lambda: Acknowledgement(-1),
            lambda: Abort(2**32),
            lambda: WindowAcknowledgementSize(2**32),
            lambda: SetPeerBandwidth(1, 256),
            lambda: StreamBegin(-1),
            lambda: SetBufferLength(1, 2**32),
            lambda: PingRequest(2**32),
            lambda: FmsEvent0(256),
            lambda: UnknownUserControl(70000, bytes(4)),
            lambda: UnknownUserControl(31, bytes(3)),
        ):
            self.assertRaises(ControlError, build)

    def test_messageTypes(self) -> None:
        """
        Message type ids match RTMP spec §5.4, §6.2 and §7.1.
        """
        self.assertEqual(
            {m.name: m.value for m in MessageType},
            {
                "SET_CHUNK_SIZE": 1,
                "ABORT": 2,
                "ACKNOWLEDGEMENT": 3,
                "USER_CONTROL": 4,
                "WINDOW_ACKNOWLEDGEMENT_SIZE": 5,
                "SET_PEER_BANDWIDTH": 6,
                "EDGE_AND_ORIGIN_SERVER_COMMAND": 7,
                "AUDIO": 8,
                "VIDEO": 9,
                "AMF3_DATA": 15,
                "AMF3_SHARED_OBJECT": 16,
                "AMF3_COMMAND": 17,
                "AMF0_DATA": 18,
                "AMF0_SHARED_OBJECT": 19,
                "AMF0_COMMAND": 20,
                "AGGREGATE": 22,
            },
        )
