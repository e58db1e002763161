"""
Tests for :mod:`srstwist.codec.rtsp` (framing) and :mod:`srstwist.codec.sdp`,
with ffmpeg's own SDP (``tests/data/casters/rtp.sdp``, see
``tests/test_codec_rtp.py``) and an ANNOUNCE body as ffmpeg 5.1 sends it.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.rtsp import Interleaved, RtspError, RtspParser, RtspRequest, parse_transport, response
from srstwist.codec.sdp import SdpError, parse_sdp

_SDP = os.path.join(os.path.dirname(__file__), "data", "casters", "rtp.sdp")

#: ffmpeg 5.1's ANNOUNCE SDP for -c:v libx264 (global header) -c:a aac, as sent.
ANNOUNCE_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "a=tool:libavformat 59.27.100\r\nm=video 0 RTP/AVP 96\r\nb=AS:200\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==; "
    "profile-level-id=42C01E\r\na=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 97\r\nb=AS:128\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n"
    "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; "
    "config=121056E500\r\na=control:streamid=1\r\n"
)


class SdpTests(SynchronousTestCase):
    def test_ffmpeg_announce(self) -> None:
        video, audio = parse_sdp(ANNOUNCE_SDP)
        self.assertEqual((video.encoding, video.clock_rate, video.control), ("H264", 90000, "streamid=0"))
        self.assertEqual(video.sps[0] & 0x1F, 7)
        self.assertEqual(video.pps[0] & 0x1F, 8)
        self.assertEqual((audio.encoding, audio.clock_rate, audio.channels), ("MPEG4-GENERIC", 44100, 2))
        self.assertEqual(audio.asc, bytes.fromhex("121056E500"))
        self.assertEqual(audio.fmtp["sizelength"], "13")

    def test_ffmpeg_rtp_sdp_file(self) -> None:
        with open(_SDP) as f:
            video, audio = parse_sdp(f.read())
        self.assertEqual((video.sps, video.pps), (b"", b""))  # in band only
        self.assertEqual(audio.asc, bytes.fromhex("120856E500"))

    def test_bad(self) -> None:
        for text in ("", "m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n",
                     ANNOUNCE_SDP.replace("aMuMsg==", "!!"), ANNOUNCE_SDP.replace("config=121056E500", "config=zz"),
                     "x" * 20000):  # fmt: skip
            with self.assertRaises(SdpError):
                parse_sdp(text)


def _session_bytes() -> bytes:
    body = ANNOUNCE_SDP.encode()
    return (
        b"OPTIONS rtsp://127.0.0.1/live/s.sdp RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        + b"ANNOUNCE rtsp://127.0.0.1/live/s.sdp RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
        + b"$\x00\x00\x05hello$\x01\x00\x00"
        + b"GET_PARAMETER rtsp://127.0.0.1/live/s.sdp RTSP/1.0\r\nCSeq: 3\r\n\r\n"
    )


class FramingTests(SynchronousTestCase):
    def expect(self, items: list) -> None:
        self.assertEqual([type(i) for i in items], [RtspRequest, RtspRequest, Interleaved, Interleaved, RtspRequest])
        self.assertEqual(items[1].body, ANNOUNCE_SDP.encode())
        self.assertEqual((items[2].channel, items[2].data), (0, b"hello"))
        self.assertEqual(items[4].cseq, "3")

    def test_whole(self) -> None:
        self.expect(RtspParser().receive_data(_session_bytes()))

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=200), max_size=40))
    def test_any_split(self, cuts: list[int]) -> None:
        data, parser, items, offset = _session_bytes(), RtspParser(), [], 0
        for cut in cuts:
            items += parser.receive_data(data[offset : offset + cut])
            offset += cut
        items += parser.receive_data(data[offset:])
        self.expect(items)

    def test_junk(self) -> None:
        for junk in (b"\x00\x01\x02\x03", b"GARBAGE\r\n\r\n", b"A" * 20000, b"OPTIONS x RTSP/1.0\r\nno colon\r\n\r\n",
                     b"ANNOUNCE x RTSP/1.0\r\nContent-Length: 999999\r\n\r\n"):  # fmt: skip
            with self.assertRaises(RtspError):
                RtspParser().receive_data(junk)

    def test_response_and_transport(self) -> None:
        self.assertEqual(response(200, "OK", "4", {"Session": "1"}), b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nServer: srstwist\r\nSession: 1\r\n\r\n")
        t = parse_transport("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record")
        self.assertEqual((t["interleaved"], "RTP/AVP/TCP" in t), ("0-1", True))
        t = parse_transport("RTP/AVP/UDP;unicast;client_port=5000-5001;mode=record")
        self.assertEqual(t["client_port"], "5000-5001")
