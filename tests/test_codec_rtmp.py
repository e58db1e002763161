"""
Tests for the server side of the RTMP session layer:
:mod:`srstwist.codec.rtmp`, :mod:`srstwist.codec.rtmp_session`,
:mod:`srstwist.codec.rtmp_commands` and :mod:`srstwist.codec.rtmp_events`.

Byte vectors come from SRS 2.0's ``ProtocolStackTest.ProtocolSend*`` unit
tests; the captures in ``tests/data/rtmp`` are real ffmpeg and rtmpdump
sessions against our ``ServerSession`` (see the README there).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec import amf0
from srstwist.codec.amf0 import UNDEFINED, Amf0Object, EcmaArray
from srstwist.codec.chunk import (
    ChunkDecoder,
    ChunkError,
    MessageType,
    RawMessage,
    encode_chunks,
)
from srstwist.codec.control import (
    Acknowledgement,
    LimitType,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    StreamBegin,
    StreamEOF,
    WindowAcknowledgementSize,
    decode_control,
)
from srstwist.codec.handshake import ClientHandshake
from srstwist.codec.rtmp import STREAM_ID, RtmpError, ServerSession, ServerState
from srstwist.codec.rtmp_commands import (
    MAX_COMMAND_VALUES,
    CommandError,
    ServerIdentity,
    build_command,
    decode_command,
    decode_metadata,
    on_status_call,
    sample_access,
)
from srstwist.codec.rtmp_events import (
    AcknowledgementReceived,
    Call,
    CloseStream,
    Connect,
    CreateStream,
    DeleteStream,
    Event,
    FCPublish,
    FCUnpublish,
    GetStreamLength,
    HandshakeCompleted,
    Ignored,
    Media,
    MediaKind,
    Pause,
    PeerBandwidth,
    PeerChunkSize,
    Play,
    Publish,
    PublishEnded,
    PublisherType,
    ReleaseStream,
    UserControl,
    WindowAckSize,
)

DATA = Path(__file__).parent / "data" / "rtmp"
EPOCH = 0x5F5E1000
TC_URL = "rtmp://127.0.0.1/live"


def _rnd(seed: int = 0) -> random.Random:
    return random.Random(seed)


def _client_hello(seed: int = 1) -> tuple[bytes, bytes]:
    """C0C1 and C2 of a simple client, C2 computed against any S1."""
    client = ClientHandshake(_rnd(seed).randbytes, EPOCH, simple=True)
    c0c1 = client.data_to_send()
    client.receive_data(bytes([3]) + bytes(3072))
    return c0c1, client.data_to_send()


def _message(
    type_id: int,
    payload: bytes,
    *,
    csid: int = 3,
    stream_id: int = 0,
    timestamp: int = 0,
    chunk_size: int = 128,
) -> bytes:
    return b"".join(encode_chunks(timestamp, type_id, stream_id, payload, chunk_size, csid))


def _command(name: str, tid: float, *values: object, csid: int = 3, stream_id: int = 0) -> bytes:
    return _message(
        MessageType.AMF0_COMMAND,
        build_command(name, tid, *values),
        csid=csid,
        stream_id=stream_id,
    )


def _connect_payload(**extra: Any) -> bytes:
    obj = Amf0Object(app="live", tcUrl=TC_URL)
    obj.update(extra)
    return _command("connect", 1, obj)


class _Peer:
    """
    The far side of a ServerSession in tests: feeds it chunks and reads its
    output with a decoder of its own (which follows our Set Chunk Size).
    """

    def __init__(self, session: ServerSession | None = None) -> None:
        self.session = session or ServerSession(_rnd(0).randbytes, EPOCH)
        self.decoder = ChunkDecoder()
        c0c1, c2 = _client_hello()
        self.session.receive_data(c0c1)
        self.session.data_to_send()
        events = self.session.receive_data(c2)
        assert isinstance(events[0], HandshakeCompleted), events

    def feed(self, *chunks: bytes) -> list[Event]:
        return self.session.receive_data(b"".join(chunks))

    def read(self) -> list[RawMessage]:
        return self.decoder.receive_data(b"".join(self.session.data_to_send()))

    def connect(self) -> Connect:
        [event] = self.feed(_connect_payload())
        assert isinstance(event, Connect)
        self.session.accept_connect(event)
        self.read()
        return event

    def fmle_publish(self, name: str = "livestream") -> Publish:
        self.connect()
        release, fc, create = self.feed(
            _command("releaseStream", 2, None, name),
            _command("FCPublish", 3, None, name),
            _command("createStream", 4, None),
        )
        assert isinstance(release, ReleaseStream)
        assert isinstance(fc, FCPublish)
        assert isinstance(create, CreateStream)
        self.session.reply_release_stream(release)
        self.session.reply_fc_publish(fc)
        self.session.accept_create_stream(create)
        [publish] = self.feed(_command("publish", 5, None, name, "live", csid=5, stream_id=1))
        assert isinstance(publish, Publish)
        self.session.start_publish(publish)
        self.read()
        return publish

    def play(self, name: str = "livestream") -> Play:
        self.connect()
        [create] = self.feed(_command("createStream", 2, None))
        assert isinstance(create, CreateStream)
        self.session.accept_create_stream(create)
        [play] = self.feed(_command("play", 0, None, name, csid=5, stream_id=1))
        assert isinstance(play, Play)
        self.session.start_play(play)
        self.read()
        return play


def _values(message: RawMessage) -> list[Any]:
    return amf0.decode_all(message.payload)


def _header(message: RawMessage) -> tuple[int, int, int]:
    return message.chunk_stream_id, message.message_type_id, message.message_stream_id


class PacketTests(SynchronousTestCase):
    """
    One test per packet SRS sends, byte-exact against SRS's
    ``ProtocolStackTest.ProtocolSend*`` vectors where SRS has one.
    """

    def out(self, session: ServerSession) -> bytes:
        return b"".join(session.data_to_send())

    def fresh(self) -> ServerSession:
        return _Peer().session

    def test_video_message(self) -> None:
        """A 4-byte video message is one 12-byte fmt-0 header plus the payload."""
        session = self.fresh()
        session.send_media(MediaKind.VIDEO, 0, b"\x01\x02\x03\x04")
        out = self.out(session)
        self.assertEqual(len(out), 16)
        self.assertEqual(out, bytes.fromhex("060000000000040901000000") + b"\x01\x02\x03\x04")

    def test_call_packet(self) -> None:
        """A generic call encodes as name, tid, null, argument (``SrsCallPacket``)."""
        args = Amf0Object(
            video_id=100.0,
            url="http://ossrs.net/api/v1/videos/100",
            date="2014-07-11 16:20:10.2984",
        )
        session = self.fresh()
        session.send_message(
            MessageType.AMF0_COMMAND,
            0,
            build_command("my_call", 0, None, args),
            stream_id=0,
            chunk_stream_id=3,
        )
        self.assertEqual(
            self.out(session).hex(),
            "0300000000007614000000000200076d795f63616c6c000000000000000000050300"
            "08766964656f5f6964004059000000000000000375726c020022687474703a2f2f6f"
            "737372732e6e65742f6170692f76312f766964656f732f313030000464617465020018"
            "323031342d30372d31312031363a32303a31302e32393834000009",
        )

    def test_call_result(self) -> None:
        """``reply_call`` sends ``_result, tid, null, null`` on csid 3, stream 0 (#106)."""
        peer = _Peer()
        peer.connect()
        [call] = peer.feed(_command("_checkbw", 5, None))
        assert isinstance(call, Call)
        peer.session.reply_call(call)
        [reply] = peer.read()
        self.assertEqual(_header(reply), (3, 20, 0))
        self.assertEqual(_values(reply), ["_result", 5.0, None, None])
        self.assertEqual(
            build_command("_result", 0, None, Amf0Object(video_id=100.0)).hex(),
            "0200075f726573756c740000000000000000000503000876696465"
            "6f5f6964004059000000000000000009",
        )

    def test_create_stream_result(self) -> None:
        """``accept_create_stream`` answers ``_result, tid, null, 1`` on csid 3, stream 0."""
        peer = _Peer()
        peer.connect()
        [create] = peer.feed(_command("createStream", 2, None))
        assert isinstance(create, CreateStream)
        peer.session.accept_create_stream(create)
        [reply] = peer.read()
        self.assertEqual(_header(reply), (3, 20, 0))
        self.assertEqual(_values(reply), ["_result", 2.0, None, 1.0])
        self.assertEqual(reply.payload[-9:], bytes.fromhex("003ff0000000000000"))

    def test_fmle_start_result(self) -> None:
        """releaseStream and FCPublish are answered ``_result, tid, null, undefined``."""
        self.assertEqual(
            build_command("FMLEStart", 1, None, UNDEFINED).hex(),
            "020009464d4c455374617274003ff00000000000000506",
        )
        peer = _Peer()
        peer.connect()
        release, fc = peer.feed(
            _command("releaseStream", 2, None, "s"), _command("FCPublish", 3, None, "s")
        )
        assert isinstance(release, ReleaseStream) and isinstance(fc, FCPublish)
        peer.session.reply_release_stream(release)
        peer.session.reply_fc_publish(fc)
        first, second = peer.read()
        self.assertEqual(_header(first), (3, 20, 0))
        self.assertEqual(_values(first), ["_result", 2.0, None, UNDEFINED])
        self.assertEqual(_values(second), ["_result", 3.0, None, UNDEFINED])

    def test_on_bw_done(self) -> None:
        """``onBWDone`` ends the connect replies, byte for byte as SRS."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload())
        assert isinstance(event, Connect)
        peer.session.accept_connect(event)
        out = b"".join(peer.session.data_to_send())
        self.assertTrue(
            out.endswith(
                bytes.fromhex("0300000000001514000000000200086f6e4257446f6e6500000000000000000005")
            )
        )

    def test_on_status_call(self) -> None:
        """``onStatus, 0, null, info`` on csid 5 (``SrsOnStatusCallPacket``)."""
        info = Amf0Object(stream="livestream", start=0.0)
        session = self.fresh()
        session.send_message(
            MessageType.AMF0_COMMAND, 0, on_status_call(info), stream_id=0, chunk_stream_id=5
        )
        self.assertEqual(
            self.out(session).hex(),
            "0500000000003e14000000000200086f6e5374617475730000000000000000000503000673"
            "747265616d02000a6c69766573747265616d00057374617274000000000000000000000009",
        )

    def test_bandwidth_packet(self) -> None:
        """A bandwidth-check packet lays out like onStatus (``SrsBandwidthPacket``)."""
        info = Amf0Object(stream="livestream", start=0.0)
        self.assertEqual(
            _message(20, build_command("startPublish", 0, None, info), csid=5).hex(),
            "05000000000042140000000002000c73746172745075626c697368000000000000000000"
            "0503000673747265616d02000a6c69766573747265616d0005737461727400000000000000"
            "0000000009",
        )

    def test_play_result_layout(self) -> None:
        """``_result, 0, null, desc`` on csid 5 (``SrsPlayResPacket``)."""
        info = Amf0Object(stream="livestream", start=0.0)
        self.assertEqual(
            _message(20, build_command("_result", 0, None, info), csid=5).hex(),
            "0500000000003d14000000000200075f726573756c740000000000000000000503000673"
            "747265616d02000a6c69766573747265616d00057374617274000000000000000000000009",
        )

    def test_on_status_data(self) -> None:
        """A data message ``name, object`` is type 18 on csid 5 (``SrsOnStatusDataPacket``)."""
        info = Amf0Object(stream="livestream", start=0.0)
        self.assertEqual(
            _message(18, amf0.encode_values("onData", info), csid=5).hex(),
            "0500000000003212000000000200066f6e4461746103000673747265616d02000a6c6976"
            "6573747265616d00057374617274000000000000000000000009",
        )

    def test_sample_access(self) -> None:
        """``|RtmpSampleAccess, true, true`` as a type-18 message (#49)."""
        self.assertEqual(
            _message(18, sample_access(), csid=5).hex(),
            "0500000000001812000000000200117c52746d7053616d706c6541636365737301010101",
        )

    def test_on_metadata(self) -> None:
        """Script data sent by a session goes on csid 4 (``SrsOnMetaDataPacket``)."""
        session = self.fresh()
        payload = amf0.encode_values("onMetaData", Amf0Object(width=1024.0, height=576.0))
        session.send_media(MediaKind.DATA, 0, payload, stream_id=0)
        self.assertEqual(
            self.out(session).hex(),
            "04000000000032120000000002000a6f6e4d657461446174610300057769647468004090"
            "0000000000000006686569676874004082000000000000000009",
        )

    def test_window_ack_size(self) -> None:
        """Window Acknowledgement Size 102400 (``SrsSetWindowAckSizePacket``)."""
        session = self.fresh()
        session.send_window_ack_size(102400)
        self.assertEqual(self.out(session).hex(), "02000000000004050000000000019000")

    def test_acknowledgement(self) -> None:
        """Acknowledgement 1024 (``SrsAcknowledgementPacket``)."""
        session = self.fresh()
        session.send_control(Acknowledgement(1024))
        self.assertEqual(self.out(session).hex(), "02000000000004030000000000000400")

    def test_set_chunk_size(self) -> None:
        """Set Chunk Size 1024, after which messages are cut at 1024."""
        session = self.fresh()
        session.set_chunk_size(1024)
        self.assertEqual(self.out(session).hex(), "02000000000004010000000000000400")
        self.assertEqual(session.out_chunk_size, 1024)

    def test_set_peer_bandwidth(self) -> None:
        """Set Peer Bandwidth 1024 soft (``SrsSetPeerBandwidthPacket``)."""
        session = self.fresh()
        session.send_peer_bandwidth(1024, LimitType.SOFT)
        self.assertEqual(self.out(session).hex(), "0200000000000506000000000000040001")

    def test_user_control(self) -> None:
        """SetBufferLength(1, 16) as User Control (``SrsUserControlPacket``)."""
        session = self.fresh()
        session.send_control(SetBufferLength(1, 0x10))
        self.assertEqual(self.out(session).hex(), "0200000000000a040000000000030000000100000010")


class ConnectTests(SynchronousTestCase):
    """
    ``connect`` decoding and SRS's reply sequence (``SrsRtmpServer::response_connect_app``).
    """

    def test_reply_sequence(self) -> None:
        """Window Ack Size, Peer Bandwidth, Chunk Size, ``_result``, ``onBWDone``, in order."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload(objectEncoding=3.0))
        assert isinstance(event, Connect)
        identity = ServerIdentity(server_ip="10.0.0.1", pid=42, connection_id=107)
        peer.session.accept_connect(event, chunk_size=4096, identity=identity)
        was, spb, scs, result, bwdone = peer.read()
        self.assertEqual(_header(was), (2, 5, 0))
        self.assertEqual(was.payload, bytes.fromhex("002625a0"))
        self.assertEqual(_header(spb), (2, 6, 0))
        self.assertEqual(spb.payload, bytes.fromhex("002625a002"))
        self.assertEqual(_header(scs), (2, 1, 0))
        self.assertEqual(decode_control(1, scs.payload), SetChunkSize(4096))
        self.assertEqual(peer.session.out_chunk_size, 4096)
        self.assertEqual(_header(result), (3, 20, 0))
        name, tid, props, info = _values(result)
        self.assertEqual((name, tid), ("_result", 1.0))
        self.assertEqual(
            list(props.items()),  # type: ignore[attr-defined]
            [("fmsVer", "FMS/3,5,3,888"), ("capabilities", 127.0), ("mode", 1.0)],
        )
        assert isinstance(info, Amf0Object)
        self.assertEqual(list(info)[:5], ["level", "code", "description", "objectEncoding", "data"])
        self.assertEqual(info["code"], "NetConnection.Connect.Success")
        self.assertEqual(info["description"], "Connection succeeded")
        self.assertEqual(info["objectEncoding"], 3.0)
        data = info["data"]
        assert isinstance(data, EcmaArray)
        self.assertEqual(data.declared_count, 0)
        self.assertEqual(
            list(data.items()),
            [
                ("version", "3,5,3,888"),
                ("srs_sig", "SRS"),
                ("srs_server", "SRS/2.0.276(ZhouGuowen)"),
                ("srs_license", "The MIT License (MIT)"),
                ("srs_role", "cluster"),
                ("srs_url", "https://github.com/ossrs/srs"),
                ("srs_version", "2.0.276"),
                ("srs_site", "http://ossrs.net"),
                ("srs_email", "winlin@vip.126.com"),
                ("srs_copyright", "Copyright (c) 2013-2015 SRS(ossrs)"),
                ("srs_primary", "SRS/2.0release"),
                ("srs_authors", "winlin,wenjie.zhao"),
                ("srs_server_ip", "10.0.0.1"),
                ("srs_pid", 42.0),
                ("srs_id", 107.0),
            ],
        )
        self.assertEqual(_header(bwdone), (3, 20, 0))
        self.assertEqual(_values(bwdone), ["onBWDone", 0.0, None])

    def test_result_uses_new_chunk_size(self) -> None:
        """The large ``_result`` goes out in one chunk at the new size (SRS #454)."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload())
        assert isinstance(event, Connect)
        peer.session.accept_connect(event)
        pieces = peer.session.data_to_send()
        # No fmt-3 continuation header for csid 3 anywhere.
        self.assertNotIn(b"\xc3", [bytes(p) for p in pieces])

    def test_no_server_ip(self) -> None:
        """Without a server address ``srs_server_ip`` is left out, as in SRS."""
        data = ServerIdentity().data()
        self.assertNotIn("srs_server_ip", data)
        self.assertEqual(list(data)[-2:], ["srs_pid", "srs_id"])

    def test_fields(self) -> None:
        """tcUrl, pageUrl, swfUrl, flashVer, objectEncoding and an args Object are read."""
        peer = _Peer()
        obj = Amf0Object(
            app="live",
            flashVer="LNX 9,0,124,2",
            swfUrl="http://s/p.swf",
            tcUrl="rtmp://h/live?vhost=v",
            pageUrl="http://s/",
            objectEncoding=3.0,
        )
        args = Amf0Object(srs_version="2.0.276")
        [event] = peer.feed(_command("connect", 1, obj, args))
        self.assertEqual(
            event,
            Connect(
                1.0,
                "rtmp://h/live?vhost=v",
                "live",
                "http://s/",
                "http://s/p.swf",
                "LNX 9,0,124,2",
                3.0,
                obj,
                args,
            ),
        )
        self.assertEqual(peer.session.state, ServerState.IDENTIFY)

    def test_defaults(self) -> None:
        """Missing or mistyped strings read empty, objectEncoding 0, args not an Object dropped (#186)."""
        peer = _Peer()
        obj = Amf0Object(tcUrl=TC_URL, pageUrl=1.0, objectEncoding="x")
        [event] = peer.feed(_command("connect", 7, obj, "not an object"))
        assert isinstance(event, Connect)
        self.assertEqual(
            (event.transaction_id, event.app, event.page_url, event.object_encoding),
            (7.0, "", "", 0.0),
        )
        self.assertIsNone(event.args)

    def test_amf3_command(self) -> None:
        """A type-17 connect loses its first byte and decodes as AMF0."""
        peer = _Peer()
        payload = b"\x00" + build_command("connect", 1, Amf0Object(tcUrl=TC_URL))
        [event] = peer.feed(_message(MessageType.AMF3_COMMAND, payload))
        assert isinstance(event, Connect)
        self.assertEqual(event.tc_url, TC_URL)

    def test_tc_url_required(self) -> None:
        """A connect without a String tcUrl closes the connection."""
        for obj in (Amf0Object(app="live"), Amf0Object(tcUrl=1.0)):
            peer = _Peer()
            self.assertRaises(RtmpError, peer.feed, _command("connect", 1, obj))
            self.assertEqual(peer.session.state, ServerState.CLOSED)

    def test_command_object_must_be_object(self) -> None:
        """An ECMA array or Null command object is refused, as SRS's decoder does."""
        for obj in (EcmaArray({"tcUrl": TC_URL}), None):
            peer = _Peer()
            self.assertRaises(RtmpError, peer.feed, _command("connect", 1, obj))

    def test_reject(self) -> None:
        """``reject_connect`` sends onStatus NetConnection.Connect.Rejected on csid 5, stream 0."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload())
        assert isinstance(event, Connect)
        peer.session.reject_connect(event)
        [status] = peer.read()
        self.assertEqual(_header(status), (5, 20, 0))
        self.assertEqual(
            _values(status),
            [
                "onStatus",
                0.0,
                None,
                {
                    "level": "error",
                    "code": "NetConnection.Connect.Rejected",
                    "description": "bandcheck rejected",
                },
            ],
        )

    def test_one_reply(self) -> None:
        """A connect is answered once; a second answer raises."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload())
        assert isinstance(event, Connect)
        peer.session.accept_connect(event)
        self.assertRaises(RtmpError, peer.session.accept_connect, event)
        self.assertRaises(RtmpError, peer.session.reject_connect, event)


class PublishTests(SynchronousTestCase):
    """
    The three kinds of publisher (``SrsRtmpServer::identify_client``).
    """

    def test_fmle(self) -> None:
        """releaseStream, FCPublish, createStream, publish: onFCPublish then onStatus on stream 1."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("releaseStream", 2, None, "s1"),
            _command("FCPublish", 3, None, "s1"),
            _command("createStream", 4, None),
            _command("publish", 5, None, "s1", "live", csid=5, stream_id=1),
        )
        self.assertEqual(
            events,
            [
                ReleaseStream(2.0, "s1"),
                FCPublish(3.0, "s1"),
                CreateStream(4.0),
                Publish(5.0, "s1", "live", 1, PublisherType.FMLE),
            ],
        )
        self.assertEqual(peer.session.state, ServerState.PUBLISHING_FMLE)
        release, fc, create, publish_event = events
        peer.session.reply_release_stream(release)  # type: ignore[arg-type]
        peer.session.reply_fc_publish(fc)  # type: ignore[arg-type]
        peer.session.accept_create_stream(create)  # type: ignore[arg-type]
        peer.session.start_publish(publish_event)  # type: ignore[arg-type]
        *_, on_fc, on_status = peer.read()
        self.assertEqual(_header(on_fc), (5, 20, STREAM_ID))
        self.assertEqual(
            _values(on_fc),
            [
                "onFCPublish",
                0.0,
                None,
                {"code": "NetStream.Publish.Start", "description": "Started publishing stream."},
            ],
        )
        self.assertEqual(_header(on_status), (5, 20, STREAM_ID))
        self.assertEqual(
            list(_values(on_status)[3].items()),  # type: ignore[attr-defined]
            [
                ("level", "status"),
                ("code", "NetStream.Publish.Start"),
                ("description", "Started publishing stream."),
                ("clientid", "ASAICiss"),
            ],
        )

    def test_flash(self) -> None:
        """createStream then publish: only onStatus Publish.Start."""
        peer = _Peer()
        peer.connect()
        create, publish = peer.feed(
            _command("createStream", 2, None),
            _command("publish", 0, None, "s", csid=8, stream_id=1),
        )
        self.assertEqual(publish, Publish(0.0, "s", "live", 1, PublisherType.FLASH))
        peer.session.accept_create_stream(create)  # type: ignore[arg-type]
        peer.session.start_publish(publish)  # type: ignore[arg-type]
        _, status = peer.read()
        self.assertEqual(_values(status)[0], "onStatus")
        self.assertEqual(peer.session.state, ServerState.PUBLISHING_FLASH)

    def test_haivision(self) -> None:
        """createStream, FCPublish, publish (#844): FMLE-style replies."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("_checkbw", 2, None),
            _command("createStream", 3, None),
            _command("FCPublish", 4, None, "s"),
            _command("publish", 5, None, "s", "live", csid=5, stream_id=1),
        )
        self.assertEqual(
            events,
            [
                Call("_checkbw", 2.0, None, (), 0),
                CreateStream(3.0),
                FCPublish(4.0, "s"),
                Publish(5.0, "s", "live", 1, PublisherType.HAIVISION),
            ],
        )
        peer.session.start_publish(events[3])  # type: ignore[arg-type]
        on_fc, _ = peer.read()
        self.assertEqual(_values(on_fc)[0], "onFCPublish")

    def test_media(self) -> None:
        """Audio, video, data and aggregates become Media events while publishing."""
        peer = _Peer()
        peer.fmle_publish()
        metadata = amf0.encode_values("@setDataFrame", "onMetaData", EcmaArray({"width": 320.0}))
        record = bytes([9]) + (3).to_bytes(3, "big") + bytes(7) + b"\x17\x01\x02" + bytes(4)
        events = peer.feed(
            _message(18, metadata, csid=4, stream_id=1),
            _message(9, b"\x17\x00vid", csid=6, stream_id=1, timestamp=40),
            _message(8, b"\xaf\x00", csid=4, stream_id=1, timestamp=41),
            _message(18, amf0.encode_values("onTextData", 1.0), csid=4, stream_id=1),
            _message(22, record, csid=6, stream_id=1, timestamp=80),
        )
        self.assertEqual(
            events,
            [
                Media(
                    MediaKind.DATA,
                    0,
                    1,
                    4,
                    metadata,
                    18,
                    "@setDataFrame",
                    EcmaArray({"width": 320.0}),
                ),
                Media(MediaKind.VIDEO, 40, 1, 6, b"\x17\x00vid", 9),
                Media(MediaKind.AUDIO, 41, 1, 4, b"\xaf\x00", 8),
                Media(
                    MediaKind.DATA, 0, 1, 4, amf0.encode_values("onTextData", 1.0), 18, "onTextData"
                ),
                Media(MediaKind.VIDEO, 80, 1, 6, b"\x17\x01\x02", 9),
            ],
        )

    def test_amf3_data(self) -> None:
        """Type-15 data is AMF0 from its first byte; a leading 00 is undecodable (SRS)."""
        peer = _Peer()
        peer.fmle_publish()
        payload = amf0.encode_values("onMetaData", Amf0Object(a=1.0))
        [event] = peer.feed(_message(15, payload, csid=4, stream_id=1))
        assert isinstance(event, Media)
        self.assertEqual((event.message_type_id, event.metadata), (15, {"a": 1.0}))
        self.assertRaises(RtmpError, peer.feed, _message(15, b"\x00" + payload, csid=4))

    def test_metadata_without_object(self) -> None:
        """Metadata whose value is not an Object or ECMA array gives an empty Object."""
        self.assertEqual(decode_metadata(amf0.encode_values("onMetaData", 1.0)), {})
        self.assertRaises(CommandError, decode_metadata, amf0.encode_values("onMetaData"))
        self.assertRaises(
            CommandError, decode_metadata, amf0.encode_values("@setDataFrame", 1.0, {})
        )

    def test_unpublish_and_republish(self) -> None:
        """FCUnpublish ends publishing with three replies; the encoder may publish again (#454)."""
        peer = _Peer()
        peer.fmle_publish("a")
        unpublish, delete = peer.feed(
            _command("FCUnpublish", 6, None, "a"),
            _command("deleteStream", 7, None, 1.0),
        )
        self.assertEqual(unpublish, FCUnpublish(6.0, "a"))
        self.assertEqual(delete, DeleteStream(7.0, 1.0, 0))
        self.assertEqual(peer.session.state, ServerState.IDENTIFY)
        peer.session.reply_fc_unpublish(unpublish)  # type: ignore[arg-type]
        peer.session.reply_call(delete)  # type: ignore[arg-type]
        on_fc, result, status, delete_result = peer.read()
        self.assertEqual(_header(on_fc), (5, 20, 1))
        self.assertEqual(
            _values(on_fc),
            [
                "onFCUnpublish",
                0.0,
                None,
                {"code": "NetStream.Unpublish.Success", "description": "Stop publishing stream."},
            ],
        )
        self.assertEqual(_header(result), (3, 20, 1))
        self.assertEqual(_values(result), ["_result", 6.0, None, UNDEFINED])
        self.assertEqual(_header(status), (5, 20, 1))
        self.assertEqual(
            _values(status)[3],
            {
                "level": "status",
                "code": "NetStream.Unpublish.Success",
                "description": "Stream is now unpublished",
                "clientid": "ASAICiss",
            },
        )
        self.assertEqual(_values(delete_result), ["_result", 7.0, None, None])
        # Republish on the same connection.
        events = peer.feed(
            _command("releaseStream", 8, None, "b"),
            _command("FCPublish", 9, None, "b"),
            _command("createStream", 10, None),
            _command("publish", 11, None, "b", csid=5, stream_id=1),
        )
        self.assertEqual(events[-1], Publish(11.0, "b", "live", 1, PublisherType.FMLE))

    def test_other_fmle_names_unpublish(self) -> None:
        """While FMLE-publishing, releaseStream also unpublishes; other commands are ignored."""
        peer = _Peer()
        peer.fmle_publish()
        ignored, unpublish = peer.feed(
            _command("closeStream", 0, None, csid=5, stream_id=1),
            _command("releaseStream", 6, None, "x"),
        )
        assert isinstance(ignored, Ignored)
        self.assertEqual(unpublish, FCUnpublish(6.0, "x", "releaseStream"))

    def test_flash_any_command_ends(self) -> None:
        """A Flash publisher's next command ends publishing, unanswered."""
        peer = _Peer()
        peer.connect()
        create, publish = peer.feed(
            _command("createStream", 2, None),
            _command("publish", 0, None, "s", csid=5, stream_id=1),
        )
        [ended] = peer.feed(_command("closeStream", 0, None, csid=5, stream_id=1))
        self.assertEqual(ended, PublishEnded("closeStream", 1))
        self.assertEqual(peer.session.state, ServerState.IDENTIFY)
        [ignored] = peer.feed(_message(9, b"\x17\x01", csid=6, stream_id=1))
        self.assertEqual(ignored, Ignored(9, None, "media while not publishing"))

    def test_fmle_waits_drop_others(self) -> None:
        """Between releaseStream and publish, unexpected commands are dropped."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("releaseStream", 2, None, "s"),
            _command("createStream", 3, None),
            _command("FCPublish", 4, None, "s"),
            _command("publish", 5, None, "s", csid=5, stream_id=1),
            _command("createStream", 6, None),
            _command("_checkbw", 7, None),
            _command("publish", 8, None, "s", csid=5, stream_id=1),
        )
        self.assertEqual(
            [type(e) for e in events],
            [ReleaseStream, Ignored, FCPublish, Ignored, CreateStream, Ignored, Publish],
        )


class PlayTests(SynchronousTestCase):
    """
    Players (``SrsRtmpServer::start_play``, ``on_play_client_pause``).
    """

    def test_start_play(self) -> None:
        """StreamBegin, Play.Reset, Play.Start, ``|RtmpSampleAccess``, Data.Start, exactly."""
        peer = _Peer()
        peer.connect()
        [create] = peer.feed(_command("createStream", 2, None))
        peer.session.accept_create_stream(create)  # type: ignore[arg-type]
        peer.read()
        [play] = peer.feed(_command("play", 0, None, "live", csid=8, stream_id=1))
        self.assertEqual(play, Play(0.0, "live", -2.0, -1.0, True, 1))
        peer.session.start_play(play)  # type: ignore[arg-type]
        begin, reset, start, access, data = peer.read()
        self.assertEqual(_header(begin), (2, 4, 0))
        self.assertEqual(decode_control(4, begin.payload), StreamBegin(1))
        for message, code, description in (
            (reset, "NetStream.Play.Reset", "Playing and resetting stream."),
            (start, "NetStream.Play.Start", "Started playing stream."),
        ):
            self.assertEqual(_header(message), (5, 20, 1))
            name, tid, null, info = _values(message)
            self.assertEqual((name, tid, null), ("onStatus", 0.0, None))
            self.assertEqual(
                list(info.items()),  # type: ignore[attr-defined]
                [
                    ("level", "status"),
                    ("code", code),
                    ("description", description),
                    ("details", "stream"),
                    ("clientid", "ASAICiss"),
                ],
            )
        self.assertEqual(_header(access), (5, 18, 1))
        self.assertEqual(_values(access), ["|RtmpSampleAccess", True, True])
        self.assertEqual(_header(data), (5, 18, 1))
        self.assertEqual(_values(data), ["onStatus", {"code": "NetStream.Data.Start"}])

    def test_play_arguments(self) -> None:
        """start, duration and reset (Boolean or Number) are read; others refused."""
        peer = _Peer()
        peer.connect()
        [play] = peer.feed(_command("play", 0, None, "s", 0.0, 1000.0, 0.0, csid=8, stream_id=1))
        self.assertEqual(play, Play(0.0, "s", 0.0, 1000.0, False, 1))
        peer = _Peer()
        peer.connect()
        self.assertRaises(RtmpError, peer.feed, _command("play", 0, None, "s", 0.0, 1.0, "yes"))
        peer = _Peer()
        peer.connect()
        self.assertRaises(RtmpError, peer.feed, _command("play", 0, None, 5.0))

    def test_pause_unpause(self) -> None:
        """Pause: Pause.Notify then StreamEOF; unpause: Unpause.Notify then StreamBegin."""
        peer = _Peer()
        peer.play()
        pause, unpause = peer.feed(
            _command("pause", 0, None, True, 1234.0, csid=8, stream_id=1),
            _command("pause", 0, None, False, 1234.0, csid=8, stream_id=1),
        )
        self.assertEqual(pause, Pause(0.0, True, 1234.0, 1))
        peer.session.reply_pause(pause)  # type: ignore[arg-type]
        peer.session.reply_pause(unpause)  # type: ignore[arg-type]
        notify, eof, unnotify, begin = peer.read()
        self.assertEqual(_header(notify), (5, 20, 1))
        self.assertEqual(
            _values(notify)[3],
            {"level": "status", "code": "NetStream.Pause.Notify", "description": "Paused stream."},
        )
        self.assertEqual(decode_control(4, eof.payload), StreamEOF(1))
        self.assertEqual(
            _values(unnotify)[3],
            {
                "level": "status",
                "code": "NetStream.Unpause.Notify",
                "description": "Unpaused stream.",
            },
        )
        self.assertEqual(decode_control(4, begin.payload), StreamBegin(1))

    def test_calls_while_playing(self) -> None:
        """While playing, calls with a transaction id are answered, tid 0 ones ignored."""
        peer = _Peer()
        peer.play()
        events = peer.feed(
            _command("getStreamLength", 3, None, "s"),
            _command("receiveAudio", 0, None, True, csid=8, stream_id=1),
            _command("deleteStream", 0, None, 1.0),
        )
        self.assertEqual(events[0], GetStreamLength(3.0, "s", 0))
        self.assertEqual([type(e) for e in events[1:]], [Ignored, Ignored])

    def test_close_stream(self) -> None:
        """closeStream ends playing and returns to identification (SRS #6)."""
        peer = _Peer()
        peer.play()
        [close] = peer.feed(_command("closeStream", 0, None, csid=8, stream_id=1))
        self.assertEqual(close, CloseStream(0.0, 1))
        self.assertEqual(peer.session.state, ServerState.IDENTIFY)
        self.assertEqual(peer.read(), [])
        [play] = peer.feed(_command("play", 0, None, "again", csid=8, stream_id=1))
        assert isinstance(play, Play)

    def test_play_without_create_stream(self) -> None:
        """A play right after connect identifies a player."""
        peer = _Peer()
        peer.connect()
        [play] = peer.feed(_command("play", 0, None, "s", csid=8, stream_id=0))
        self.assertEqual(play, Play(0.0, "s", -2.0, -1.0, True, 0))
        self.assertEqual(peer.session.state, ServerState.PLAYING)


class IdentifyTests(SynchronousTestCase):
    """
    What SRS ignores while identifying the client (``SrsRtmpServer::identify_client``).
    """

    def test_before_connect(self) -> None:
        """Commands and media before connect are decoded and dropped."""
        peer = _Peer()
        events = peer.feed(
            _command("createStream", 2, None),
            _message(9, b"\x17"),
        )
        self.assertEqual([type(e) for e in events], [Ignored, Ignored])
        self.assertEqual(peer.session.state, ServerState.AWAIT_CONNECT)
        self.assertRaises(RtmpError, peer.feed, _command("createStream", 3, 1.0))

    def test_identify_calls_always_answered(self) -> None:
        """During identification even a tid-0 call is reported for an answer."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("_checkbw", 0, None),
            _command("getStreamLength", 4, None, "s"),
            _command("deleteStream", 5, None, 1.0),
        )
        self.assertEqual(
            events,
            [
                Call("_checkbw", 0.0, None, (), 0),
                GetStreamLength(4.0, "s", 0),
                DeleteStream(5.0, 1.0, 0),
            ],
        )
        for event in events:
            peer.session.reply_call(event)  # type: ignore[arg-type]
        self.assertEqual(
            [_values(m) for m in peer.read()],
            [
                ["_result", 0.0, None, None],
                ["_result", 4.0, None, None],
                ["_result", 5.0, None, None],
            ],
        )

    def test_ignored_in_identify(self) -> None:
        """closeStream, pause, publish, a second connect and metadata commands are ignored."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("closeStream", 0, None),
            _command("pause", 0, None, True, 0.0),
            _command("publish", 0, None, "s"),
            _connect_payload(),
            _message(20, amf0.encode_values("onMetaData", {})),
            _command("onSrsBandCheckFinished", 0, None),
        )
        self.assertEqual([type(e) for e in events], [Ignored] * 6)
        self.assertEqual(peer.session.state, ServerState.IDENTIFY)

    def test_ignored_after_create_stream(self) -> None:
        """After createStream, generic calls are not answered; createStream again is."""
        peer = _Peer()
        peer.connect()
        events = peer.feed(
            _command("createStream", 2, None),
            _command("getStreamLength", 3, None, "s"),
            _command("createStream", 4, None),
        )
        self.assertEqual([type(e) for e in events], [CreateStream, Ignored, CreateStream])
        self.assertEqual(peer.session.state, ServerState.STREAM_CREATED)

    def test_pipelined_replies(self) -> None:
        """Replies are owed per event, so pipelined commands are answered in order."""
        peer = _Peer()
        events = peer.feed(
            _connect_payload(),
            _command("createStream", 2, None),
            _command("play", 0, None, "s", csid=8, stream_id=1),
        )
        self.assertEqual(peer.session.state, ServerState.PLAYING)
        connect, create, play = events
        peer.session.accept_connect(connect)  # type: ignore[arg-type]
        peer.session.accept_create_stream(create)  # type: ignore[arg-type]
        peer.session.start_play(play)  # type: ignore[arg-type]
        self.assertEqual(len(peer.read()), 5 + 1 + 5)


_VALID_COMMANDS = [
    _connect_payload(),
    _command("createStream", 2, None),
    _command("releaseStream", 3, None, "s"),
    _command("FCPublish", 4, None, "s"),
    _command("FCUnpublish", 5, None, "s"),
    _command("publish", 0, None, "s", "live", csid=5, stream_id=1),
    _command("play", 0, None, "s", csid=5, stream_id=1),
    _command("pause", 0, None, True, 10.0, csid=5, stream_id=1),
    _command("pause", 0, None, False, 10.0, csid=5, stream_id=1),
    _command("closeStream", 0, None, csid=5, stream_id=1),
    _command("deleteStream", 6, None, 1.0),
    _command("getStreamLength", 0, None, "s"),
    _command("_checkbw", 7, None),
    _message(20, amf0.encode_values("@setDataFrame", "onMetaData", {})),
    _message(9, b"\x17\x01", csid=6, stream_id=1),
    _message(18, amf0.encode_values("onTextData", {}), csid=4, stream_id=1),
]


def _answer(session: ServerSession, event: Event) -> None:
    """Reply to an event with the method its docstring names."""
    if isinstance(event, Connect):
        session.accept_connect(event)
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


class StateMachineTests(SynchronousTestCase):
    """
    Any order of well-formed commands keeps the state machine consistent.
    """

    @given(st.lists(st.sampled_from(_VALID_COMMANDS), max_size=25), st.booleans())
    def test_any_order(self, chunks: list[bytes], at_once: bool) -> None:
        """Every event is answerable exactly once, whatever the order and batching."""
        peer = _Peer()
        events: list[Event] = []
        for chunk in [b"".join(chunks)] if at_once else chunks:
            new = peer.feed(chunk)
            events.extend(new)
            if not at_once:
                for event in new:
                    _answer(peer.session, event)
        if at_once:
            for event in events:
                _answer(peer.session, event)
        self.assertEqual(len(events), len(chunks))
        self.assertNotEqual(peer.session.state, ServerState.CLOSED)
        for message in peer.read():
            self.assertIn(message.chunk_stream_id, (2, 3, 5))
        for event in events:
            if not isinstance(event, (Ignored, Media, PublishEnded, CloseStream)):
                self.assertRaises(RtmpError, _answer, peer.session, event)


class ControlTests(SynchronousTestCase):
    """
    Protocol control messages and the automatic replies (RTMP spec §5.4, §7.1.7).
    """

    def test_ping(self) -> None:
        """A PingRequest is reported and answered with the same timestamp (``ProtocolPingFlow``)."""
        peer = _Peer()
        events = peer.feed(_message(4, PingRequest(0x3456).encode(), csid=2))
        self.assertEqual(events, [UserControl(PingRequest(0x3456))])
        [reply] = peer.read()
        self.assertEqual(_header(reply), (2, 4, 0))
        self.assertEqual(decode_control(4, reply.payload), PingResponse(0x3456))

    def test_acknowledgement_flow(self) -> None:
        """Window 512 then 4096-byte messages: an Acknowledgement per message (``ProtocolAckSizeFlow``)."""
        peer = _Peer()
        peer.fmle_publish()
        before = peer.session.bytes_received
        window = _message(5, WindowAcknowledgementSize(512).encode(), csid=2)
        video = _message(9, bytes(4096), csid=6, stream_id=1)
        events = peer.feed(window, video)
        self.assertEqual(events[0], WindowAckSize(512))
        total = before + len(window) + len(video)
        [ack] = peer.read()
        self.assertEqual(decode_control(3, ack.payload), Acknowledgement(total))
        peer.feed(video)
        [ack] = peer.read()
        self.assertEqual(decode_control(3, ack.payload), Acknowledgement(total + len(video)))

    def test_acknowledge_half_window(self) -> None:
        """No Acknowledgement before half the window was received (#730)."""
        peer = _Peer()
        peer.fmle_publish()
        peer.feed(_message(5, WindowAcknowledgementSize(10**6).encode(), csid=2))
        peer.read()
        peer.feed(_message(9, bytes(1000), csid=6, stream_id=1))
        self.assertEqual(peer.read(), [])
        peer.feed(_message(9, bytes(500_000), csid=6, stream_id=1))
        [ack] = peer.read()
        self.assertEqual(ack.message_type_id, 3)

    def test_window_zero_ignored(self) -> None:
        """A window of 0 is reported but never triggers Acknowledgements."""
        peer = _Peer()
        events = peer.feed(
            _message(5, WindowAcknowledgementSize(0).encode(), csid=2),
            _message(9, bytes(1000)),
        )
        self.assertEqual(events[0], WindowAckSize(0))
        self.assertEqual(peer.session.ack_window, 0)
        self.assertEqual(peer.read(), [])

    def test_sequence_restart(self) -> None:
        """Past 0xF0000000 the sequence number restarts at the increment."""
        peer = _Peer()
        session = peer.session
        session._ack_sequence = 0xF0000000 - 10
        peer.feed(_message(5, WindowAcknowledgementSize(2).encode(), csid=2))
        peer.read()
        peer.feed(_message(8, b"\xaf\x01"))
        [ack] = peer.read()
        # The sum would pass 0xF0000000, so the increment alone is sent.
        self.assertEqual(decode_control(3, ack.payload), Acknowledgement(session.bytes_received))

    def test_peer_chunk_size(self) -> None:
        """A Set Chunk Size is applied by the decoder and reported."""
        peer = _Peer()
        events = peer.feed(
            _message(1, SetChunkSize(4096).encode(), csid=2),
            _message(9, bytes(3000), chunk_size=4096),
        )
        self.assertEqual(events[0], PeerChunkSize(4096))
        self.assertEqual(peer.session.in_chunk_size, 4096)
        self.assertEqual(len(events), 2)

    def test_chunk_size_too_small(self) -> None:
        """A Set Chunk Size below 128 closes the connection (#541)."""
        peer = _Peer()
        self.assertRaises(RtmpError, peer.feed, _message(1, (127).to_bytes(4, "big"), csid=2))

    def test_other_controls(self) -> None:
        """Acknowledgement and Peer Bandwidth are reported; Abort and short ones ignored."""
        peer = _Peer()
        events = peer.feed(
            _message(3, (77).to_bytes(4, "big"), csid=2),
            _message(6, bytes.fromhex("0000040001"), csid=2),
            _message(2, (3).to_bytes(4, "big"), csid=2),
            _message(3, b"\x01", csid=2),
            _message(7, b"x"),
        )
        self.assertEqual(
            events,
            [
                AcknowledgementReceived(77),
                PeerBandwidth(1024, 1),
                Ignored(2, None, "unsupported message type"),
                Ignored(3, None, "malformed control message"),
                Ignored(7, None, "unsupported message type"),
            ],
        )

    def test_user_control_short(self) -> None:
        """A User Control message too short for its event closes the connection."""
        peer = _Peer()
        self.assertRaises(RtmpError, peer.feed, _message(4, b"\x00\x06\x00", csid=2))


class ErrorTests(SynchronousTestCase):
    """
    Everything wrong raises RtmpError and nothing else.
    """

    def test_result_from_client(self) -> None:
        """``_result`` and ``_error`` from a client answer nothing and close (SRS)."""
        for name in ("_result", "_error"):
            peer = _Peer()
            peer.connect()
            self.assertRaises(RtmpError, peer.feed, _command(name, 1, None))
            self.assertTrue(peer.session.closed)

    def test_reply_without_request(self) -> None:
        """Answering what was not asked raises, in every state."""
        peer = _Peer()
        fake_connect = Connect(1.0, TC_URL, "", "", "", "", 0.0, Amf0Object())
        self.assertRaises(RtmpError, peer.session.accept_connect, fake_connect)
        peer.connect()
        self.assertRaises(RtmpError, peer.session.accept_create_stream, CreateStream(2.0))
        self.assertRaises(
            RtmpError,
            peer.session.start_publish,
            Publish(0.0, "s", "live", 1, PublisherType.FLASH),
        )
        self.assertRaises(RtmpError, peer.session.start_play, Play(0.0, "s", -2, -1, True, 1))
        self.assertRaises(RtmpError, peer.session.reply_pause, Pause(0.0, True, 0.0, 1))
        self.assertRaises(RtmpError, peer.session.reply_fc_unpublish, FCUnpublish(1.0, "s"))
        self.assertRaises(RtmpError, peer.session.reply_call, Call("x", 1.0, None, (), 0))
        self.assertRaises(
            RtmpError,
            peer.session.reply_release_stream,
            FCPublish(1.0, "s"),  # type: ignore[arg-type]
        )

    def test_before_handshake(self) -> None:
        """Nothing can be sent before the handshake is over."""
        session = ServerSession(_rnd().randbytes, EPOCH)
        self.assertEqual(session.state, ServerState.HANDSHAKE)
        self.assertRaises(RtmpError, session.send_media, MediaKind.AUDIO, 0, b"")
        self.assertRaises(RtmpError, session.set_chunk_size, 4096)

    def test_closed(self) -> None:
        """After close, receiving, replying and sending raise; queued data remains."""
        peer = _Peer()
        [event] = peer.feed(_connect_payload())
        peer.session.send_window_ack_size()
        peer.session.close()
        self.assertEqual(peer.session.state, ServerState.CLOSED)
        self.assertTrue(peer.session.data_to_send())
        self.assertRaises(RtmpError, peer.feed, b"")
        self.assertRaises(RtmpError, peer.session.accept_connect, event)
        self.assertRaises(RtmpError, peer.session.send_media, MediaKind.AUDIO, 0, b"")

    def test_after_error(self) -> None:
        """After an error the session stays closed."""
        peer = _Peer()
        self.assertRaises(RtmpError, peer.feed, b"\x43" + bytes(20))
        self.assertRaises(RtmpError, peer.feed, _connect_payload())

    def test_bad_handshake(self) -> None:
        """A C0 other than 3 raises RtmpError, wrapping the handshake error."""
        session = ServerSession(_rnd().randbytes, EPOCH)
        error = self.assertRaises(RtmpError, session.receive_data, b"\x06")
        self.assertIsNotNone(error.__cause__)

    def test_layouts(self) -> None:
        """Commands that break SRS's decoders raise."""
        for chunk in (
            _command("createStream", 2, 1.0),
            _message(20, amf0.encode_values("createStream", "x")),
            _message(20, amf0.encode_values("createStream")),
            _message(20, amf0.encode_values(1.0, 2.0)),
            _command("releaseStream", 2, None, 3.0),
            _command("publish", 0, None, "s", 1.0),
            _command("pause", 0, None, 1.0, 0.0),
            _command("pause", 0, None, True),
            _command("closeStream", 0, "x"),
            _command("someCall", 1),
            _message(20, b"\x02\x00\x04play\x09"),
        ):
            peer = _Peer()
            peer.connect()
            self.assertRaises(RtmpError, peer.feed, chunk)

    def test_too_many_values(self) -> None:
        """A command with more than MAX_COMMAND_VALUES values is refused."""
        peer = _Peer()
        peer.connect()
        nulls = [None] * MAX_COMMAND_VALUES
        self.assertRaises(RtmpError, peer.feed, _command("x", 1, *nulls))
        self.assertEqual(len(decode_command(20, build_command("x", 1, *nulls[:-2])).values), 63)

    def test_too_large(self) -> None:
        """A command larger than max_amf_size is refused before decoding."""
        session = ServerSession(_rnd().randbytes, EPOCH, max_amf_size=1000)
        peer = _Peer(session)
        self.assertRaises(RtmpError, peer.feed, _connect_payload(pad="x" * 1000))

    def test_deep_nesting(self) -> None:
        """Absurd nesting is refused by the AMF0 bound, as RtmpError."""
        peer = _Peer()
        peer.connect()
        payload = build_command("x", 1, None) + b"\x0a\x00\x00\x00\x01" * 100 + b"\x05"
        self.assertRaises(RtmpError, peer.feed, _message(20, payload))

    @given(st.binary(max_size=3000))
    def test_random_after_handshake(self, data: bytes) -> None:
        """Random bytes after a valid handshake raise nothing but RtmpError."""
        peer = _Peer()
        try:
            peer.feed(data)
        except RtmpError:
            pass

    @given(st.binary(max_size=2000))
    def test_random_while_publishing(self, data: bytes) -> None:
        """Random bytes from a publisher raise nothing but RtmpError."""
        peer = _Peer()
        peer.fmle_publish()
        try:
            peer.feed(data)
        except RtmpError:
            pass

    @given(
        st.lists(
            st.tuples(
                st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22]),
                st.sampled_from(
                    [
                        "connect",
                        "createStream",
                        "play",
                        "pause",
                        "publish",
                        "releaseStream",
                        "FCPublish",
                        "FCUnpublish",
                        "closeStream",
                        "deleteStream",
                        "getStreamLength",
                        "_result",
                        "@setDataFrame",
                        "onMetaData",
                        "onSrsBandCheckFinished",
                        "other",
                    ]
                ),
                st.lists(
                    st.one_of(
                        st.none(),
                        st.booleans(),
                        st.floats(),
                        st.text(max_size=5),
                        st.builds(
                            Amf0Object,
                            st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
                        ),
                    ),
                    max_size=6,
                ),
                st.binary(max_size=8),
            ),
            max_size=12,
        )
    )
    @settings(max_examples=max(300, settings().max_examples))
    def test_structured_fuzz(self, messages: list[tuple[int, str, list[object], bytes]]) -> None:
        """Well-framed messages with random AMF0 bodies raise nothing but RtmpError."""
        peer = _Peer()
        chunks = []
        for type_id, name, values, raw in messages:
            if type_id in (15, 17, 18, 20):
                payload = (b"\x00" if type_id == 17 else b"") + amf0.encode_values(name, *values)
            else:
                payload = raw
            chunks.append(_message(type_id, payload or b"\x00"))
        try:
            events = peer.feed(*chunks)
        except RtmpError:
            return
        for event in events:
            self.assertIsNotNone(event)


def _publish_stream() -> bytes:
    """A whole FMLE publisher's byte stream, handshake included."""
    c0c1, c2 = _client_hello(3)
    parts = [
        c0c1,
        c2,
        _connect_payload(),
        _message(5, WindowAcknowledgementSize(4096).encode(), csid=2),
        _command("releaseStream", 2, None, "s"),
        _command("FCPublish", 3, None, "s"),
        _command("createStream", 4, None),
        _command("publish", 5, None, "s", "live", csid=5, stream_id=1),
        _message(1, SetChunkSize(300).encode(), csid=2),
        _message(
            18,
            amf0.encode_values("@setDataFrame", "onMetaData", EcmaArray({"width": 1.0})),
            csid=4,
            stream_id=1,
            chunk_size=300,
        ),
        _message(4, PingRequest(9).encode(), csid=2, chunk_size=300),
    ]
    for i in range(12):
        parts.append(
            _message(
                9,
                bytes([i]) * (100 * i + 50),
                csid=6,
                stream_id=1,
                timestamp=40 * i,
                chunk_size=300,
            )
        )
        parts.append(
            _message(
                8, bytes([0xAF, i]) * 90, csid=4, stream_id=1, timestamp=40 * i + 1, chunk_size=300
            )
        )
    parts.append(_message(20, build_command("FCUnpublish", 6, None, "s"), chunk_size=300))
    return b"".join(parts)


def _replay(data: bytes, cuts: list[int] | None = None) -> list[Event]:
    session = ServerSession(_rnd(5).randbytes, EPOCH)
    if cuts is None:
        return session.receive_data(data)
    events: list[Event] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        events.extend(session.receive_data(data[start:cut]))
        start = cut
    return events


class ResplitTests(SynchronousTestCase):
    """
    The events do not depend on how the bytes are split.
    """

    def test_whole_stream(self) -> None:
        """The synthetic publisher stream gives the expected event kinds."""
        events = _replay(_publish_stream())
        kinds = [type(e) for e in events]
        self.assertEqual(
            kinds[:8],
            [
                HandshakeCompleted,
                Connect,
                WindowAckSize,
                ReleaseStream,
                FCPublish,
                CreateStream,
                Publish,
                PeerChunkSize,
            ],
        )
        self.assertEqual(kinds[-1], FCUnpublish)
        self.assertEqual(kinds.count(Media), 25)

    def test_byte_by_byte(self) -> None:
        """Fed one byte at a time, the events are the same."""
        data = _publish_stream()
        self.assertEqual(_replay(data, list(range(len(data)))), _replay(data))

    @given(st.data())
    @settings(max_examples=50)
    def test_random_splits(self, data: st.DataObject) -> None:
        """Re-split at random points, the events are the same."""
        stream = _publish_stream()
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=40))
        self.assertEqual(_replay(stream, cuts), _replay(stream))


def _capture(name: str) -> bytes:
    return (DATA / name).read_bytes()


class CaptureTests(SynchronousTestCase):
    """
    Real clients' byte streams, recorded by ``tests/data/rtmp/capture.py``
    while our ServerSession answered them.
    """

    def check_publish(self, events: list[Event]) -> None:
        media = [e for e in events if isinstance(e, Media)]
        others = [e for e in events if not isinstance(e, Media)]
        self.assertEqual(
            [type(e) for e in others],
            [
                HandshakeCompleted,
                Connect,
                PeerChunkSize,
                ReleaseStream,
                FCPublish,
                CreateStream,
                Ignored,
                Publish,
                FCUnpublish,
                DeleteStream,
            ],
        )
        connect = others[1]
        assert isinstance(connect, Connect)
        self.assertEqual(connect.app, "live")
        self.assertTrue(connect.tc_url.startswith("rtmp://127.0.0.1:"))
        self.assertTrue(connect.flash_ver.startswith("FMLE/3.0 (compatible; Lavf"))
        self.assertEqual(others[3], ReleaseStream(2.0, "stream"))
        self.assertEqual(others[4], FCPublish(3.0, "stream"))
        self.assertEqual(others[5], CreateStream(4.0))
        self.assertEqual(
            (others[6].name, others[7]),  # type: ignore[union-attr]
            ("_checkbw", Publish(6.0, "stream", "live", 1, PublisherType.FMLE)),
        )
        self.assertEqual(others[8], FCUnpublish(7.0, "stream"))
        self.assertEqual(others[9], DeleteStream(8.0, 1.0, 0))
        metadata, first_video, first_audio = media[:3]
        self.assertEqual(metadata.name, "@setDataFrame")
        assert metadata.metadata is not None
        self.assertEqual(
            (
                metadata.metadata["width"],
                metadata.metadata["height"],
                metadata.metadata["videocodecid"],
                metadata.metadata["audiocodecid"],
            ),
            (320.0, 240.0, 7.0, 10.0),
        )
        # AVC sequence header (keyframe, AVC, packet type 0), then AAC's.
        self.assertEqual(first_video.payload[:2], b"\x17\x00")
        self.assertEqual((first_audio.payload[0] >> 4, first_audio.payload[1]), (10, 0))
        videos = [m for m in media if m.kind is MediaKind.VIDEO]
        audios = [m for m in media if m.kind is MediaKind.AUDIO]
        self.assertEqual((len(videos), len(audios)), (77, 132))
        self.assertGreaterEqual(videos[-1].timestamp, 2900)
        self.assertEqual({m.stream_id for m in media}, {1})

    def test_ffmpeg_publish(self) -> None:
        """ffmpeg's publish: connect, releaseStream, FCPublish, createStream, publish, metadata, sequence headers, media."""
        self.check_publish(_replay(_capture("ffmpeg-publish.bin")))

    def test_ffmpeg_publish_byte_by_byte(self) -> None:
        """ffmpeg's publish fed one byte at a time gives the same events."""
        data = _capture("ffmpeg-publish.bin")
        session = ServerSession(_rnd(5).randbytes, EPOCH)
        events: list[Event] = []
        for i in range(len(data)):
            events.extend(session.receive_data(data[i : i + 1]))
        self.assertEqual(events, _replay(data))

    @given(st.lists(st.integers(0, 108293), max_size=60))
    @settings(max_examples=20)
    def test_ffmpeg_publish_resplit(self, cuts: list[int]) -> None:
        """ffmpeg's publish re-split at random points gives the same events."""
        data = _capture("ffmpeg-publish.bin")
        events = _replay(data, cuts)
        self.check_publish(events)

    def test_rtmpdump_play(self) -> None:
        """rtmpdump's play: connect, createStream, play with its --stop duration."""
        data = _capture("rtmpdump-play.bin")
        events = _replay(data)
        self.assertEqual(
            events[1:],
            [
                events[1],
                WindowAckSize(2500000),
                UserControl(SetBufferLength(0, 300)),
                CreateStream(2.0),
                events[5],
                Play(4.0, "stream", 0.0, 1000.0, True, 1),
                UserControl(SetBufferLength(1, 36000000)),
            ],
        )
        assert isinstance(events[1], Connect) and isinstance(events[5], Ignored)
        self.assertEqual(events[1].flash_ver, "LNX 10,0,32,18")
        self.assertEqual(events[0], HandshakeCompleted(None, False))
        self.assertEqual(_replay(data, list(range(len(data)))), events)

    def test_ffmpeg_play(self) -> None:
        """ffmpeg's play: getStreamLength is ignored after createStream, as in SRS."""
        data = _capture("ffmpeg-play.bin")
        events = _replay(data)
        self.assertEqual(events[0], HandshakeCompleted(1, True))
        self.assertEqual(
            [type(e) for e in events],
            [
                HandshakeCompleted,
                Connect,
                WindowAckSize,
                CreateStream,
                Ignored,
                Ignored,
                Play,
                UserControl,
            ],
        )
        self.assertEqual(
            [e.name for e in events if isinstance(e, Ignored)], ["_checkbw", "getStreamLength"]
        )
        self.assertEqual(events[6], Play(5.0, "stream", -2000.0, -1.0, True, 1))
        self.assertEqual(_replay(data, list(range(0, len(data), 7))), events)


class SendMediaTests(SynchronousTestCase):
    """
    Media to players.
    """

    def test_chunk_stream_and_type(self) -> None:
        """The publisher's chunk stream and an AMF3 data type can be kept."""
        peer = _Peer()
        peer.play()
        peer.session.send_media(
            MediaKind.DATA, 5, b"\x02\x00\x01x", chunk_stream_id=9, message_type_id=15
        )
        peer.session.send_media(MediaKind.AUDIO, 0xFFFFFF + 5, b"\xaf\x01" * 200)
        data, audio = peer.read()
        self.assertEqual((data.chunk_stream_id, data.message_type_id, data.timestamp), (9, 15, 5))
        self.assertEqual((audio.chunk_stream_id, audio.timestamp), (7, 0xFFFFFF + 5))
        self.assertEqual(audio.payload, b"\xaf\x01" * 200)

    def test_pieces_are_bytes(self) -> None:
        """Output pieces are bytes, as Twisted's writeSequence requires; a one-chunk payload is not copied."""
        peer = _Peer()
        peer.play()
        payload = bytes(200_000)
        peer.session.send_media(MediaKind.VIDEO, 0, payload)
        small = b"\xaf\x01" * 10
        peer.session.send_media(MediaKind.AUDIO, 0, small)
        pieces = peer.session.data_to_send()
        self.assertTrue(all(type(p) is bytes for p in pieces))
        self.assertIs(pieces[-1], small)

    def test_unencodable(self) -> None:
        """A timestamp beyond 32 bits raises RtmpError."""
        peer = _Peer()
        self.assertRaises(RtmpError, peer.session.send_media, MediaKind.AUDIO, 2**32, b"")
        self.assertRaises(RtmpError, peer.session.set_chunk_size, 100)

    def test_error_status(self) -> None:
        """``error_status`` sends an onStatus with the given level, code and description."""
        peer = _Peer()
        peer.play()
        peer.session.error_status("NetStream.Play.StreamNotFound", "no such stream")
        [status] = peer.read()
        self.assertEqual(_header(status), (5, 20, 1))
        self.assertEqual(
            _values(status)[3],
            {
                "level": "error",
                "code": "NetStream.Play.StreamNotFound",
                "description": "no such stream",
            },
        )


class ChunkErrorWrapTests(SynchronousTestCase):
    """
    Codec errors are wrapped, not leaked.
    """

    def test_chunk_error_wrapped(self) -> None:
        """A chunk-stream violation surfaces as RtmpError caused by ChunkError."""
        peer = _Peer()
        error = self.assertRaises(RtmpError, peer.feed, b"\x43" + bytes(10))
        self.assertIsInstance(error.__cause__, ChunkError)
