"""
Tests for :mod:`srstwist.codec.rtmp_client`, mostly as a ClientSession
talking to a ServerSession in memory: what one sends is fed to the other,
and back, until both are quiet.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec import amf0
from srstwist.codec.amf0 import UNDEFINED, Amf0Object, EcmaArray
from srstwist.codec.chunk import ChunkDecoder, encode_chunks
from srstwist.codec.control import (
    Acknowledgement,
    PingRequest,
    PingResponse,
    SetBufferLength,
    StreamBegin,
    StreamEOF,
)
from srstwist.codec.rtmp import RtmpError, ServerSession, ServerState
from srstwist.codec.rtmp_client import ClientSession, ClientState
from srstwist.codec.rtmp_commands import ServerIdentity, build_command
from srstwist.codec.rtmp_events import (
    AcknowledgementReceived,
    Call,
    Connect,
    CreateStream,
    DeleteStream,
    CallError,
    Event,
    FCPublish,
    FCUnpublish,
    GetStreamLength,
    HandshakeCompleted,
    Media,
    MediaKind,
    OnStatus,
    Pause,
    PeerBandwidth,
    PeerChunkSize,
    Play,
    Publish,
    PublisherType,
    ReleaseStream,
    Result,
    UserControl,
    WindowAckSize,
)

EPOCH = 1_700_000_000
TC_URL = "rtmp://127.0.0.1/live"
Splitter = Callable[[bytes], list[bytes]]


def answer(session: ServerSession, event: Event) -> None:
    """Reply to one event as SRS 2.0 does (as ``tests/data/rtmp/capture.py``)."""
    if isinstance(event, Connect):
        session.accept_connect(event, identity=ServerIdentity(pid=7, connection_id=9))
    elif isinstance(event, (Call, DeleteStream, GetStreamLength)):
        session.reply_call(event)
    elif isinstance(event, CreateStream):
        session.accept_create_stream(event)
    elif isinstance(event, ReleaseStream):
        session.reply_release_stream(event)
    elif isinstance(event, FCPublish):
        session.reply_fc_publish(event)
    elif isinstance(event, Publish):
        session.start_publish(event)
    elif isinstance(event, FCUnpublish):
        session.reply_fc_unpublish(event)
    elif isinstance(event, Play):
        session.start_play(event)
    elif isinstance(event, Pause):
        session.reply_pause(event)


def _whole(data: bytes) -> list[bytes]:
    return [data]


class _Pair:
    """A client and a server session wired together in memory."""

    def __init__(self, *, split: Splitter = _whole, simple: bool = False) -> None:
        self.client = ClientSession(random.Random(1).randbytes, EPOCH, simple_handshake=simple)
        self.server = ServerSession(random.Random(2).randbytes, EPOCH)
        self.split = split
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.auto_answer = True

    def pump(self) -> tuple[list[Event], list[Event]]:
        """
        Move bytes both ways until neither side has anything to send.

        :return: the events each side saw during this pump.
        """
        client_start = len(self.client_events)
        server_start = len(self.server_events)
        while True:
            moved = False
            data = b"".join(self.client.data_to_send())
            if data:
                moved = True
                for piece in self.split(data):
                    new = self.server.receive_data(piece)
                    self.server_events.extend(new)
                    if self.auto_answer:
                        for event in new:
                            answer(self.server, event)
            data = b"".join(self.server.data_to_send())
            if data:
                moved = True
                for piece in self.split(data):
                    self.client_events.extend(self.client.receive_data(piece))
            if not moved:
                return (
                    self.client_events[client_start:],
                    self.server_events[server_start:],
                )

    def connected(self) -> _Pair:
        self.pump()
        self.client.connect(TC_URL, "live")
        self.pump()
        return self


def _status(event: Event) -> tuple[str, str]:
    assert isinstance(event, OnStatus), event
    return event.level, event.code


class HandshakeConnectTests(SynchronousTestCase):
    """
    The handshake and ``connect``.
    """

    def test_complex_handshake(self) -> None:
        """By default C1 is signed (schema 1) and the server answers complex."""
        pair = _Pair()
        client_events, server_events = pair.pump()
        self.assertEqual(client_events, [HandshakeCompleted(1, True)])
        self.assertEqual(server_events, [HandshakeCompleted(1, True)])
        self.assertEqual(pair.client.state, ClientState.READY)
        self.assertEqual(pair.server.state, ServerState.AWAIT_CONNECT)

    def test_simple_handshake(self) -> None:
        """srs-librtmp's unsigned C1 gets the simple handshake."""
        pair = _Pair(simple=True)
        client_events, server_events = pair.pump()
        self.assertEqual(client_events, [HandshakeCompleted(None, False)])
        self.assertEqual(server_events, [HandshakeCompleted(None, False)])

    def test_connect(self) -> None:
        """connect carries SRS's client object; the _result carries the identity."""
        pair = _Pair()
        pair.pump()
        self.assertEqual(pair.client.connect(TC_URL, "live", Amf0Object(srs_id=3.0)), 1.0)
        client_events, server_events = pair.pump()
        connect, window = server_events
        assert isinstance(connect, Connect)
        self.assertEqual(
            list(connect.command_object.items()),
            [
                ("app", "live"),
                ("flashVer", "WIN 15,0,0,239"),
                ("swfUrl", ""),
                ("tcUrl", TC_URL),
                ("fpad", False),
                ("capabilities", 239.0),
                ("audioCodecs", 3575.0),
                ("videoCodecs", 252.0),
                ("videoFunction", 1.0),
                ("pageUrl", ""),
                ("objectEncoding", 0.0),
            ],
        )
        self.assertEqual(connect.args, {"srs_id": 3.0})
        self.assertEqual(window, WindowAckSize(2500000))
        self.assertEqual(
            client_events[:3],
            [WindowAckSize(2500000), PeerBandwidth(2500000, 2), PeerChunkSize(60000)],
        )
        result, bwdone = client_events[3:]
        assert isinstance(result, Result)
        self.assertEqual((result.transaction_id, result.command), (1.0, "connect"))
        info = result.args[0]
        assert isinstance(info, Amf0Object)
        self.assertEqual(info["code"], "NetConnection.Connect.Success")
        data = info["data"]
        assert isinstance(data, EcmaArray)
        self.assertEqual((data["srs_pid"], data["srs_id"]), (7.0, 9.0))
        self.assertEqual(bwdone, Call("onBWDone", 0.0, None, (), 0))
        self.assertEqual(pair.client.state, ClientState.CONNECTED)
        self.assertEqual(pair.client.pending_requests, {})

    def test_connect_error(self) -> None:
        """A connect ``_error`` is reported; the session stays unconnected."""
        pair = _Pair()
        pair.auto_answer = False
        pair.pump()
        pair.client.connect(TC_URL, "live")
        pair.pump()
        pair.server.send_message(
            20,
            0,
            build_command("_error", 1, None, Amf0Object(code="NetConnection.Connect.Rejected")),
            stream_id=0,
            chunk_stream_id=3,
        )
        [error] = pair.pump()[0]
        assert isinstance(error, CallError)
        self.assertEqual(
            (error.command, error.args), ("connect", ({"code": "NetConnection.Connect.Rejected"},))
        )
        self.assertEqual(pair.client.state, ClientState.CONNECTING)
        self.assertRaises(RtmpError, pair.client.create_stream)


class PublishFlowTests(SynchronousTestCase):
    """
    Publishing from a ClientSession to a ServerSession.
    """

    def run_fmle_publish(self, split: Splitter = _whole) -> tuple[list[Event], list[Event]]:
        pair = _Pair(split=split).connected()
        pair.client.release_stream("livestream")
        pair.client.fc_publish("livestream")
        pair.client.create_stream()
        pair.pump()
        self.assertEqual(pair.client.stream_id, 1)
        pair.client.publish("livestream")
        metadata = amf0.encode_values("@setDataFrame", "onMetaData", EcmaArray({"width": 320.0}))
        pair.client.send_media(MediaKind.DATA, 0, metadata)
        pair.client.send_media(MediaKind.VIDEO, 0, b"\x17\x00" + bytes(40))
        pair.client.send_media(MediaKind.AUDIO, 0, b"\xaf\x00\x12\x10")
        for i in range(1, 30):
            pair.client.send_media(
                MediaKind.VIDEO, 40 * i, bytes([0x27, 1]) + bytes(3000 * (i % 4))
            )
            pair.client.send_media(MediaKind.AUDIO, 40 * i + 3, b"\xaf\x01" + bytes(200))
        pair.pump()
        pair.client.fc_unpublish("livestream")
        pair.client.delete_stream()
        pair.pump()
        return pair.client_events, pair.server_events

    def test_fmle_publish(self) -> None:
        """releaseStream, FCPublish, createStream, publish, media, FCUnpublish, deleteStream."""
        client_events, server_events = self.run_fmle_publish()
        commands = [e for e in server_events if not isinstance(e, Media)]
        self.assertEqual(
            commands,
            [
                HandshakeCompleted(1, True),
                commands[1],
                WindowAckSize(2500000),
                ReleaseStream(2.0, "livestream"),
                FCPublish(3.0, "livestream"),
                CreateStream(4.0),
                PeerChunkSize(60000),
                Publish(0.0, "livestream", "live", 1, PublisherType.FMLE),
                FCUnpublish(5.0, "livestream"),
                DeleteStream(6.0, 1.0, 0),
            ],
        )
        media = [e for e in server_events if isinstance(e, Media)]
        self.assertEqual(len(media), 3 + 58)
        self.assertEqual(media[0].metadata, {"width": 320.0})
        self.assertEqual(
            [(m.kind, m.chunk_stream_id, m.stream_id) for m in media[:3]],
            [(MediaKind.DATA, 4, 1), (MediaKind.VIDEO, 6, 1), (MediaKind.AUDIO, 7, 1)],
        )
        self.assertEqual(media[-2].timestamp, 40 * 29)
        self.assertEqual(media[-2].payload, bytes([0x27, 1]) + bytes(3000))
        replies = client_events[6:]
        self.assertEqual(
            [(type(e), getattr(e, "command", None)) for e in replies[:3]],
            [(Result, "releaseStream"), (Result, "FCPublish"), (Result, "createStream")],
        )
        self.assertEqual(replies[0].args, (UNDEFINED,))  # type: ignore[union-attr]
        self.assertEqual(replies[2].args, (1.0,))  # type: ignore[union-attr]
        on_fc, started = replies[3:5]
        assert isinstance(on_fc, Call)
        self.assertEqual((on_fc.name, on_fc.stream_id), ("onFCPublish", 1))
        self.assertEqual(_status(started), ("status", "NetStream.Publish.Start"))
        on_fc_un, unpublish_result, unpublished, delete_result = replies[5:]
        assert isinstance(on_fc_un, Call) and isinstance(unpublish_result, Result)
        self.assertEqual(on_fc_un.name, "onFCUnpublish")
        self.assertEqual(unpublish_result.command, "FCUnpublish")
        self.assertEqual(_status(unpublished), ("status", "NetStream.Unpublish.Success"))
        assert isinstance(delete_result, Result)
        self.assertEqual((delete_result.command, delete_result.args), ("deleteStream", (None,)))

    def test_flash_publish(self) -> None:
        """createStream then publish: the server answers with onStatus only."""
        pair = _Pair().connected()
        pair.client.create_stream()
        pair.pump()
        pair.client.publish("s", "record")
        client_events, server_events = pair.pump()
        self.assertEqual(
            server_events,
            [PeerChunkSize(60000), Publish(0.0, "s", "record", 1, PublisherType.FLASH)],
        )
        [started] = client_events
        self.assertEqual(_status(started), ("status", "NetStream.Publish.Start"))
        self.assertEqual(pair.client.state, ClientState.PUBLISHING)
        self.assertEqual(pair.server.state, ServerState.PUBLISHING_FLASH)
        pair.client.close_stream()
        self.assertEqual(pair.client.state, ClientState.CONNECTED)
        _, server_events = pair.pump()
        self.assertEqual(pair.server.state, ServerState.IDENTIFY)

    def test_split_invariance(self) -> None:
        """Fed one byte at a time, both sides see the same events."""
        whole = self.run_fmle_publish()
        self.assertEqual(
            self.run_fmle_publish(lambda d: [d[i : i + 1] for i in range(len(d))]), whole
        )

    @given(st.randoms(use_true_random=False))
    @settings(max_examples=25)
    def test_random_splits(self, rnd: random.Random) -> None:
        """Re-split at random points, both sides see the same events."""

        def split(data: bytes) -> list[bytes]:
            cuts = sorted(rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(6)))
            return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

        self.assertEqual(self.run_fmle_publish(split), self.run_fmle_publish())


class PlayFlowTests(SynchronousTestCase):
    """
    Playing from a ServerSession with a ClientSession.
    """

    def playing(self, split: Splitter = _whole) -> _Pair:
        pair = _Pair(split=split).connected()
        pair.client.create_stream()
        pair.pump()
        pair.client.play("livestream")
        pair.pump()
        return pair

    def run_play(self, split: Splitter = _whole) -> tuple[list[Event], list[Event]]:
        pair = self.playing(split)
        metadata = amf0.encode_values("onMetaData", Amf0Object(width=320.0))
        pair.server.send_media(MediaKind.DATA, 0, metadata, chunk_stream_id=4)
        for i in range(20):
            pair.server.send_media(
                MediaKind.VIDEO, 40 * i, bytes([0x17 if i == 0 else 0x27, 1]) + bytes(5000)
            )
            pair.server.send_media(MediaKind.AUDIO, 40 * i, b"\xaf\x01" + bytes(300))
        pair.pump()
        pair.client.pause(True, 800)
        pair.pump()
        pair.client.pause(False, 800)
        pair.pump()
        pair.client.close_stream()
        pair.pump()
        return pair.client_events, pair.server_events

    def test_play(self) -> None:
        """play is answered with StreamBegin, Reset, Start, sample access, Data.Start."""
        pair = self.playing()
        self.assertEqual(
            pair.server_events[-3:],
            [
                Play(0.0, "livestream", -2.0, -1.0, True, 1),
                UserControl(SetBufferLength(1, 1000)),
                PeerChunkSize(60000),
            ],
        )
        begin, reset, start, access, data = pair.client_events[-5:]
        self.assertEqual(begin, UserControl(StreamBegin(1)))
        self.assertEqual(_status(reset), ("status", "NetStream.Play.Reset"))
        self.assertEqual(_status(start), ("status", "NetStream.Play.Start"))
        assert isinstance(access, Media) and isinstance(data, Media)
        self.assertEqual(
            (access.kind, access.name, access.stream_id), (MediaKind.DATA, "|RtmpSampleAccess", 1)
        )
        self.assertEqual(
            amf0.decode_all(data.payload), ["onStatus", {"code": "NetStream.Data.Start"}]
        )
        self.assertEqual(pair.client.state, ClientState.PLAYING)
        self.assertEqual(pair.server.state, ServerState.PLAYING)

    def test_media_pause_close(self) -> None:
        """Media reaches the player; pause, unpause and closeStream work."""
        client_events, server_events = self.run_play()
        media = [e for e in client_events if isinstance(e, Media)][2:]
        self.assertEqual(len(media), 41)
        self.assertEqual(media[0].metadata, {"width": 320.0})
        self.assertEqual(media[-1].timestamp, 760)
        self.assertEqual(
            server_events[-3:],
            [Pause(0.0, True, 800.0, 1), Pause(0.0, False, 800.0, 1), server_events[-1]],
        )
        self.assertEqual(type(server_events[-1]).__name__, "CloseStream")
        tail = client_events[-4:]
        self.assertEqual(_status(tail[0]), ("status", "NetStream.Pause.Notify"))
        self.assertEqual(tail[1], UserControl(StreamEOF(1)))
        self.assertEqual(_status(tail[2]), ("status", "NetStream.Unpause.Notify"))
        self.assertEqual(tail[3], UserControl(StreamBegin(1)))

    def test_split_invariance(self) -> None:
        """Fed one byte at a time, both sides see the same events."""
        self.assertEqual(
            self.run_play(lambda d: [d[i : i + 1] for i in range(len(d))]), self.run_play()
        )

    @given(st.randoms(use_true_random=False))
    @settings(max_examples=15)
    def test_random_splits(self, rnd: random.Random) -> None:
        """Re-split at random points, both sides see the same events."""

        def split(data: bytes) -> list[bytes]:
            cuts = sorted(rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(8)))
            return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

        self.assertEqual(self.run_play(split), self.run_play())

    def test_play_arguments(self) -> None:
        """start, duration and reset are sent only when they differ from the defaults."""
        for kwargs, values in (
            ({}, ["s"]),
            ({"start": 0}, ["s", 0.0]),
            ({"duration": 1000}, ["s", -2.0, 1000.0]),
            ({"reset": False}, ["s", -2.0, -1.0, False]),
        ):
            pair = _Pair().connected()
            pair.client.create_stream()
            pair.pump()
            pair.client.play("s", buffer_length=None, chunk_size=None, **kwargs)  # type: ignore[arg-type]
            decoder = ChunkDecoder()
            [message] = decoder.receive_data(b"".join(pair.client.data_to_send()))
            self.assertEqual(amf0.decode_all(message.payload)[3:], values)
            self.assertEqual((message.chunk_stream_id, message.message_stream_id), (5, 1))


class ControlTests(SynchronousTestCase):
    """
    The client's automatic replies.
    """

    def test_acknowledges_server(self) -> None:
        """The client acknowledges the server's window of 2500000 at half of it."""
        pair = _Pair().connected()
        pair.client.create_stream()
        pair.pump()
        pair.client.play("s")
        pair.pump()
        for i in range(14):
            pair.server.send_media(MediaKind.VIDEO, i, bytes(100_000))
        _, server_events = pair.pump()
        [ack] = [e for e in server_events if isinstance(e, AcknowledgementReceived)]
        self.assertGreaterEqual(ack.sequence_number, 1_250_000)
        self.assertLessEqual(ack.sequence_number, pair.client.bytes_received)

    def test_ping(self) -> None:
        """A server's PingRequest is answered with a PingResponse."""
        pair = _Pair().connected()
        pair.server.send_control(PingRequest(99))
        client_events, server_events = pair.pump()
        self.assertEqual(client_events, [UserControl(PingRequest(99))])
        self.assertEqual(server_events, [UserControl(PingResponse(99))])


class PacketTests(SynchronousTestCase):
    """
    The client's commands, against SRS's ``ProtocolSend*`` vectors.
    """

    def fresh(self) -> ClientSession:
        return _Pair().connected().client

    def test_create_stream(self) -> None:
        """createStream after connect has transaction id 2 (``SrsCreateStreamPacket``)."""
        client = self.fresh()
        client.create_stream()
        self.assertEqual(
            b"".join(client.data_to_send()).hex(),
            "03000000000019140000000002000c63726561746553747265616d00400000000000000005",
        )

    def test_publish(self) -> None:
        """publish is ``publish, 0, null, name, type`` on csid 5 (``SrsPublishPacket``)."""
        client = self.fresh()
        client.publish("livestream", stream_id=0, chunk_size=None)
        self.assertEqual(
            b"".join(client.data_to_send()).hex(),
            "0500000000002814000000000200077075626c6973680000000000000000000502000a6c697665"
            "73747265616d0200046c697665",
        )

    def test_call(self) -> None:
        """A call without reply has transaction id 0 (``SrsCallPacket``)."""
        client = self.fresh()
        args = Amf0Object(
            video_id=100.0,
            url="http://ossrs.net/api/v1/videos/100",
            date="2014-07-11 16:20:10.2984",
        )
        self.assertEqual(client.call("my_call", None, args, expect_reply=False), 0.0)
        self.assertEqual(
            b"".join(client.data_to_send()).hex(),
            "0300000000007614000000000200076d795f63616c6c000000000000000000050300"
            "08766964656f5f6964004059000000000000000375726c020022687474703a2f2f6f"
            "737372732e6e65742f6170692f76312f766964656f732f313030000464617465020018"
            "323031342d30372d31312031363a32303a31302e32393834000009",
        )

    def test_fmle_start(self) -> None:
        """releaseStream and FCPublish are ``name, tid, null, stream`` on csid 3."""
        client = self.fresh()
        self.assertEqual((client.release_stream("s"), client.fc_publish("s")), (2.0, 3.0))
        first, second = ChunkDecoder().receive_data(b"".join(client.data_to_send()))
        self.assertEqual(amf0.decode_all(first.payload), ["releaseStream", 2.0, None, "s"])
        self.assertEqual(amf0.decode_all(second.payload), ["FCPublish", 3.0, None, "s"])
        self.assertEqual((first.chunk_stream_id, first.message_stream_id), (3, 0))


class ErrorTests(SynchronousTestCase):
    """
    Calls out of order and bad answers raise RtmpError.
    """

    def test_wrong_states(self) -> None:
        """Every command checks the state table."""
        pair = _Pair()
        client = pair.client
        self.assertRaises(RtmpError, client.connect, TC_URL, "live")
        pair.pump()
        self.assertRaises(RtmpError, client.create_stream)
        client.connect(TC_URL, "live")
        self.assertRaises(RtmpError, client.connect, TC_URL, "live")
        pair.pump()
        self.assertRaises(RtmpError, client.publish, "s")  # no stream yet
        self.assertRaises(RtmpError, client.send_media, MediaKind.AUDIO, 0, b"")
        self.assertRaises(RtmpError, client.fc_unpublish, "s")
        self.assertRaises(RtmpError, client.pause, True)
        client.create_stream()
        pair.pump()
        client.publish("s")
        self.assertRaises(RtmpError, client.pause, True)
        self.assertRaises(RtmpError, client.play, "s")
        self.assertRaises(RtmpError, client.create_stream)
        client.close()
        self.assertEqual(client.state, ClientState.CLOSED)
        self.assertRaises(RtmpError, client.send_media, MediaKind.AUDIO, 0, b"")

    def test_unknown_transaction(self) -> None:
        """A ``_result`` for no command of ours raises, as in SRS."""
        pair = _Pair().connected()
        pair.server.send_message(
            20, 0, build_command("_result", 42, None, None), stream_id=0, chunk_stream_id=3
        )
        self.assertRaises(RtmpError, pair.pump)
        self.assertEqual(pair.client.state, ClientState.CLOSED)

    def test_create_stream_result_without_id(self) -> None:
        """A createStream ``_result`` without a usable stream id raises."""
        for value in (None, 1.5, -1.0):
            pair = _Pair().connected()
            pair.auto_answer = False
            pair.client.create_stream()
            pair.pump()
            pair.server.send_message(
                20, 0, build_command("_result", 2, None, value), stream_id=0, chunk_stream_id=3
            )
            self.assertRaises(RtmpError, pair.pump)

    def test_expected_call_result(self) -> None:
        """A call with a transaction id is matched to its ``_result``."""
        pair = _Pair().connected()
        tid = pair.client.call("_checkbw")
        client_events, _ = pair.pump()
        self.assertEqual(client_events, [Result(tid, "_checkbw", None, (None,))])

    @given(st.binary(max_size=2000))
    def test_random_after_handshake(self, data: bytes) -> None:
        """Random bytes from a server raise nothing but RtmpError."""
        pair = _Pair()
        pair.pump()
        try:
            pair.client.receive_data(data)
        except RtmpError:
            pass

    def test_other_messages(self) -> None:
        """An onStatus without info and an Acknowledgement are reported as such."""
        pair = _Pair().connected()
        pair.server.send_message(
            20, 0, build_command("onStatus", 0, None), stream_id=1, chunk_stream_id=5
        )
        client_events, _ = pair.pump()
        self.assertEqual(client_events, [OnStatus("", "", "", Amf0Object(), 1)])
        chunk = b"".join(encode_chunks(0, 3, 0, Acknowledgement(5).encode(), 128, 2))
        self.assertEqual(pair.client.receive_data(chunk), [AcknowledgementReceived(5)])
