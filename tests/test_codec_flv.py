"""
Tests for `srstwist.codec.flv`: payload prefixes, the FLV file header and
tags, and the incremental tag decoder.

Real data comes from the captured ffmpeg publish session
(``tests/data/rtmp-session``) and from FLV files made here with ffmpeg and
checked against ffprobe; those tests skip when ffmpeg/ffprobe are missing.
The helpers that make and probe the files are shared with the AVC and AAC
tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from random import Random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from srstwist.codec.chunk import ChunkDecoder, RawMessage
from srstwist.codec.flv import (
    AAC_PACKET_RAW,
    AVC_PACKET_NALU,
    DEFAULT_MAX_TAG_SIZE,
    FLV_HEADER_SIZE,
    AudioTagHeader,
    FlvError,
    FlvHeader,
    FlvTag,
    FlvTagDecoder,
    FrameType,
    SoundFormat,
    TagType,
    VideoCodec,
    audio_sound_format,
    audio_tag_header,
    encode_tag,
    flv_header,
    is_aac,
    is_aac_sequence_header,
    is_acceptable_video,
    is_avc,
    is_avc_sequence_header,
    is_keyframe,
    video_codec_id,
    video_frame_type,
)

_SESSION = Path(__file__).parent / "data" / "rtmp-session" / "session.bin"

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
#: Seconds any one ffmpeg/ffprobe run may take.
TOOL_TIMEOUT = 60

_VIDEO_ONLY = ["-an"]
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]

#: What `ffmpeg_flv` can make: name -> (video size or None, extra inputs,
#: codec arguments).  Each file lasts 0.4 s (10 video frames).
FLV_SPECS: dict[str, tuple[str | None, list[str], list[str]]] = {
    # 1280x720 High, AAC 48 kHz stereo.
    "high720": (
        "1280x720",
        ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        [*_X264, "-profile:v", "high", "-c:a", "aac", "-b:a", "128k", "-ac", "2"],
    ),
    # 320x240 Constrained Baseline, MP3 22.05 kHz mono.
    "baseline240": (
        "320x240",
        ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"],
        [*_X264, "-profile:v", "baseline", "-c:a", "libmp3lame", "-ac", "1"],
    ),
    # 1920x1080 Main (coded as 1088 lines and cropped), MP3 44.1 kHz stereo.
    "main1080": (
        "1920x1080",
        ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"],
        [*_X264, "-profile:v", "main", "-c:a", "libmp3lame", "-ac", "2"],
    ),
    # 720x576 interlaced: frame_mbs_only_flag 0, heights in field pairs.
    "interlaced576": ("720x576", [], [*_X264, "-x264-params", "interlaced=1", *_VIDEO_ONLY]),
    # 640x360 High 4:2:2: chroma_format_idc 2, vertical crop unit 1.
    "high422": (
        "640x360",
        [],
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv422p", *_VIDEO_ONLY],
    ),
    # 400x300 High: cropping of 4 lines from 304.
    "high300": ("400x300", [], [*_X264, "-profile:v", "high", *_VIDEO_ONLY]),
    # Audio only: AAC 22.05 kHz mono.
    "aac22050": (
        None,
        ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"],
        ["-c:a", "aac", "-b:a", "48k", "-ac", "1"],
    ),
}

_workdir: tempfile.TemporaryDirectory[str] | None = None
_made: dict[str, Path] = {}


def require_tools() -> None:
    """
    Skip the calling test unless ffmpeg and ffprobe are on the PATH.
    """
    if FFMPEG is None or FFPROBE is None:
        raise SkipTest("ffmpeg and ffprobe are needed for tests on generated files")


def work_dir() -> Path:
    """
    A directory for generated files, removed when the test process exits.
    """
    global _workdir
    if _workdir is None:
        _workdir = tempfile.TemporaryDirectory(prefix="srstwist-codec-")
    return Path(_workdir.name)


def run_tool(args: list[str]) -> bytes:
    """
    Run ffmpeg or ffprobe, bounded by `TOOL_TIMEOUT`.

    :return: its standard output.
    :raises SkipTest: it failed (an encoder missing from this build, say).
    """
    require_tools()
    try:
        result = subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SkipTest(f"{args[0]} took more than {TOOL_TIMEOUT} s") from None
    if result.returncode != 0:
        raise SkipTest(f"{' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def ffmpeg_flv(name: str) -> Path:
    """
    The FLV file `FLV_SPECS` describes under ``name``, made on first use.
    """
    if name in _made:
        return _made[name]
    size, inputs, codecs = FLV_SPECS[name]
    path = work_dir() / f"{name}.flv"
    video = [] if size is None else ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]
    run_tool(
        [FFMPEG or "ffmpeg", "-nostdin", "-loglevel", "error", "-y", *video, *inputs]
        + ["-t", "0.4", *codecs, "-f", "flv", str(path)]
    )
    _made[name] = path
    return path


def ffmpeg_convert(source: Path, suffix: str, args: list[str]) -> Path:
    """
    Run ``ffmpeg -i source <args> out`` and return the output file.
    """
    path = work_dir() / f"{source.stem}{suffix}"
    run_tool([FFMPEG or "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)]
             + [*args, str(path)])  # fmt: skip
    return path


def ffprobe_streams(path: Path) -> dict[str, dict[str, Any]]:
    """
    ffprobe's view of a file's streams, keyed by ``codec_type``, with packet
    counts (``nb_read_packets``).
    """
    output = run_tool(
        [FFPROBE or "ffprobe", "-v", "error", "-count_packets", "-show_streams"]
        + ["-of", "json", str(path)]
    )
    return {s["codec_type"]: s for s in json.loads(output)["streams"]}


def read_tags(path: Path) -> list[FlvTag]:
    """
    All tags of an FLV file, decoded in one call.
    """
    return FlvTagDecoder().receive_data(path.read_bytes())


def session_messages(type_id: int | None = None) -> list[RawMessage]:
    """
    The messages of the captured ffmpeg publish session, optionally only
    those of one message type.
    """
    messages = ChunkDecoder().receive_data(_SESSION.read_bytes())
    return [m for m in messages if type_id is None or m.message_type_id == type_id]


def decode_in_pieces(data: bytes, seed: int | None, **kwargs: Any) -> list[FlvTag]:
    """
    Decode ``data`` with a new decoder, fed one byte at a time when ``seed``
    is ``None``, else in pieces cut at seeded random points.
    """
    decoder = FlvTagDecoder(**kwargs)
    out: list[FlvTag] = []
    rng = Random(seed)
    offset = 0
    while offset < len(data):
        step = 1 if seed is None else rng.choice((1, 2, 7, rng.randint(1, 300), 70000))
        out += decoder.receive_data(data[offset : offset + step])
        offset += step
    return out


def encode_file(tags: list[FlvTag], header: bytes | None = None) -> bytes:
    """
    An FLV file: ``header`` (the default one if ``None``) and the tags.
    """
    pieces = [flv_header() if header is None else header]
    for tag in tags:
        pieces += encode_tag(tag.tag_type, tag.timestamp, tag.payload)
    return b"".join(pieces)


class PayloadPrefixTests(SynchronousTestCase):
    """
    The first payload bytes are classified as SRS's ``SrsFlvCodec`` does.
    """

    def test_video_fields(self) -> None:
        """
        The frame type is the high nibble and the codec id the low one.
        """
        self.assertEqual(video_frame_type(b"\x27\x01"), FrameType.INTER_FRAME)
        self.assertEqual(video_codec_id(b"\x27\x01"), VideoCodec.AVC)
        self.assertEqual(video_codec_id(b"\x12"), VideoCodec.SORENSON_H263)

    def test_audio_fields(self) -> None:
        """
        The sound format is the high nibble of the first audio byte.
        """
        self.assertEqual(audio_sound_format(b"\xaf\x01"), SoundFormat.AAC)
        self.assertEqual(audio_sound_format(b"\x2e"), SoundFormat.MP3)

    def test_empty_payload_fields(self) -> None:
        """
        Reading a field of an empty payload raises `FlvError`.
        """
        for reader in (video_frame_type, video_codec_id, audio_sound_format, audio_tag_header):
            self.assertRaises(FlvError, reader, b"")

    def test_acceptable_video(self) -> None:
        """
        Frame types 1..5 with codec ids 2..7 are kept; everything else,
        empty payloads included, is dropped (#421).
        """
        for byte in (0x12, 0x17, 0x27, 0x37, 0x47, 0x57, 0x22, 0x56, 0x14):
            self.assertTrue(is_acceptable_video(bytes((byte, 0))), hex(byte))
        for byte in (0x07, 0x67, 0xF7, 0x11, 0x18, 0x1F, 0x00, 0xFF):
            self.assertFalse(is_acceptable_video(bytes((byte, 0))), hex(byte))
        self.assertFalse(is_acceptable_video(b""))

    def test_sequence_headers(self) -> None:
        """
        ``17 00`` is an AVC sequence header and ``AF 00`` (any rate bits)
        an AAC one; other packet types, codecs or frame types are not.
        """
        self.assertTrue(is_avc_sequence_header(b"\x17\x00\x00\x00\x00"))
        for payload in (b"\x17\x01", b"\x27\x00", b"\x12\x00", b"\x17", b""):
            self.assertFalse(is_avc_sequence_header(payload), payload)
        self.assertTrue(is_aac_sequence_header(b"\xaf\x00\x12\x10"))
        self.assertTrue(is_aac_sequence_header(b"\xa0\x00"))
        for payload in (b"\xaf\x01", b"\x2f\x00", b"\xaf", b""):
            self.assertFalse(is_aac_sequence_header(payload), payload)

    def test_keyframe_and_codec_predicates(self) -> None:
        """
        Keyframe means frame type 1 whatever the codec; `is_avc` and `is_aac`
        check the codec nibble only.
        """
        self.assertTrue(is_keyframe(b"\x12"))
        self.assertTrue(is_keyframe(b"\x17\x01"))
        self.assertFalse(is_keyframe(b"\x27\x01"))
        self.assertFalse(is_keyframe(b""))
        self.assertTrue(is_avc(b"\x27"))
        self.assertFalse(is_avc(b"\x22"))
        self.assertTrue(is_aac(b"\xa2"))
        self.assertFalse(is_aac(b"\x2f"))
        self.assertFalse(is_avc(b"") or is_aac(b""))

    def test_audio_tag_header(self) -> None:
        """
        The first audio byte splits into format, rate in Hz, sample size and
        channel count.
        """
        self.assertEqual(audio_tag_header(b"\xaf"), AudioTagHeader(10, 44100, 16, 2))
        self.assertEqual(audio_tag_header(b"\x22"), AudioTagHeader(2, 5512, 16, 1))
        self.assertEqual(audio_tag_header(b"\x28"), AudioTagHeader(2, 22050, 8, 1))
        self.assertEqual(audio_tag_header(b"\x25"), AudioTagHeader(2, 11025, 8, 2))

    def test_session_capture(self) -> None:
        """
        In the captured ffmpeg session every video message is acceptable
        H.264, the first one is the sequence header and three are keyframe
        NALU packets; the first audio message is the AAC sequence header.
        """
        video = session_messages(TagType.VIDEO)
        audio = session_messages(TagType.AUDIO)
        self.assertEqual(len(video), 102)
        self.assertTrue(all(is_acceptable_video(m.payload) and is_avc(m.payload) for m in video))
        self.assertTrue(is_avc_sequence_header(video[0].payload))
        self.assertEqual([is_avc_sequence_header(m.payload) for m in video].count(True), 1)
        keyframes = [
            m.timestamp for m in video if is_keyframe(m.payload) and m.payload[1] == AVC_PACKET_NALU
        ]
        self.assertEqual(keyframes, [0, 1960, 3960])
        self.assertTrue(is_aac_sequence_header(audio[0].payload))
        self.assertFalse(any(is_aac_sequence_header(m.payload) for m in audio[1:]))
        self.assertEqual(audio_tag_header(audio[1].payload), AudioTagHeader(10, 44100, 16, 2))


class EncodeTests(SynchronousTestCase):
    """
    `flv_header` and `encode_tag` write the layout of the FLV spec (E.2, E.3, E.4.1).
    """

    def test_header(self) -> None:
        """
        The default header is SRS's: version 1, flags 0x05, DataOffset 9,
        then PreviousTagSize0.
        """
        self.assertEqual(flv_header(), bytes.fromhex("464c5601 05 00000009 00000000"))
        self.assertEqual(len(flv_header()), FLV_HEADER_SIZE)
        self.assertEqual(flv_header(has_audio=False)[4], 0x01)
        self.assertEqual(flv_header(has_video=False)[4], 0x04)
        self.assertEqual(flv_header(False, False)[4], 0x00)

    def test_reference_example(self) -> None:
        """
        A video tag at 0x01020304 ms with a 14-byte payload encodes as the FLV spec
        (E.4.1) lays it out, the payload itself being one of the pieces.
        """
        payload = bytes(range(14))
        pieces = encode_tag(TagType.VIDEO, 0x01020304, payload)
        self.assertEqual(pieces[0], bytes.fromhex("09 00000e 020304 01 000000"))
        self.assertIs(pieces[1], payload)
        self.assertEqual(pieces[2], bytes.fromhex("00000019"))

    def test_timestamp_cut_to_31_bits(self) -> None:
        """
        Timestamps are masked with 0x7FFFFFFF before they are written.
        """
        header = encode_tag(TagType.AUDIO, 0xFFFFFFFF, b"")[0]
        self.assertEqual(header[4:8], bytes.fromhex("ffffff7f"))

    def test_refused(self) -> None:
        """
        Unknown tag types, negative timestamps and bodies over 24 bits raise
        `FlvError`.
        """
        self.assertRaises(FlvError, encode_tag, 7, 0, b"")
        self.assertRaises(FlvError, encode_tag, TagType.VIDEO, -1, b"")
        self.assertRaises(FlvError, encode_tag, TagType.VIDEO, 0, bytes(DEFAULT_MAX_TAG_SIZE + 1))

    def test_empty_payload(self) -> None:
        """
        A tag may be empty; its PreviousTagSize is 11.
        """
        self.assertEqual(encode_tag(TagType.SCRIPT, 0, b"")[2], bytes.fromhex("0000000b"))


class DecoderTests(SynchronousTestCase):
    """
    `FlvTagDecoder` reads tags incrementally and within bounds.
    """

    def test_header_and_tags(self) -> None:
        """
        The header is decoded and exposed, and the tags come out in order.
        """
        tags = [FlvTag(18, 0, b"meta"), FlvTag(9, 40, b"\x17\x01"), FlvTag(8, 0x7FFFFFFF, b"")]
        decoder = FlvTagDecoder()
        self.assertIsNone(decoder.header)
        self.assertEqual(decoder.receive_data(encode_file(tags)), tags)
        self.assertEqual(decoder.header, FlvHeader(1, True, True, 9))
        self.assertEqual(decoder.buffered_size, 0)

    def test_tag_waits_for_its_body(self) -> None:
        """
        A tag is returned as soon as its body is complete, before the
        PreviousTagSize that follows it.
        """
        data = encode_file([FlvTag(9, 1, b"abc")])
        decoder = FlvTagDecoder()
        self.assertEqual(decoder.receive_data(data[:-5]), [])
        self.assertEqual(decoder.receive_data(data[-5:-4]), [FlvTag(9, 1, b"abc")])
        self.assertEqual(decoder.receive_data(data[-4:]), [])

    def test_data_offset_skipped(self) -> None:
        """
        Bytes between the 9-byte header and DataOffset are skipped.
        """
        header = b"FLV\x01\x01" + (20).to_bytes(4, "big") + b"x" * 11 + bytes(4)
        data = encode_file([FlvTag(9, 0, b"v")], header)
        self.assertEqual(decode_in_pieces(data, None), [FlvTag(9, 0, b"v")])
        decoder = FlvTagDecoder()
        decoder.receive_data(data)
        self.assertEqual(decoder.header, FlvHeader(1, False, True, 20))

    def test_filter_bit_masked(self) -> None:
        """
        The tag type's high bits (the filter bit) are ignored, as in SRS.
        """
        data = bytearray(encode_file([FlvTag(8, 0, b"a")]))
        data[FLV_HEADER_SIZE] |= 0x20
        self.assertEqual(FlvTagDecoder().receive_data(bytes(data)), [FlvTag(8, 0, b"a")])

    def test_without_header(self) -> None:
        """
        With ``expect_header=False`` the input is a bare tag sequence.
        """
        tags = [FlvTag(9, 5, b"x"), FlvTag(8, 6, b"yy")]
        data = encode_file(tags, header=b"")
        self.assertEqual(FlvTagDecoder(expect_header=False).receive_data(data), tags)

    def test_bad_signature(self) -> None:
        """
        Input that does not start with ``FLV`` raises `FlvError`, and so does
        any later call.
        """
        decoder = FlvTagDecoder()
        self.assertRaises(FlvError, decoder.receive_data, b"GIF89a\x00\x00\x00\x00")
        self.assertRaises(FlvError, decoder.receive_data, flv_header())

    def test_bad_data_offset(self) -> None:
        """
        A DataOffset below 9 raises `FlvError`.
        """
        self.assertRaises(FlvError, FlvTagDecoder().receive_data, b"FLV\x01\x05\x00\x00\x00\x08")

    def test_unknown_tag_type(self) -> None:
        """
        Tag types other than 8, 9 and 18 raise `FlvError`, as they end an SRS
        FLV caster session.
        """
        data = bytearray(encode_file([FlvTag(9, 0, b"v")]))
        data[FLV_HEADER_SIZE] = 15
        self.assertRaises(FlvError, FlvTagDecoder().receive_data, bytes(data))

    def test_tag_size_bound(self) -> None:
        """
        A tag declaring a body over ``max_tag_size`` raises at its header,
        before the body is buffered.
        """
        decoder = FlvTagDecoder(max_tag_size=1000)
        data = encode_file([FlvTag(9, 0, bytes(1001))])
        self.assertRaises(FlvError, decoder.receive_data, data[: FLV_HEADER_SIZE + 11])
        self.assertEqual(
            FlvTagDecoder(max_tag_size=1001).receive_data(data)[0].payload, bytes(1001)
        )
        self.assertRaises(ValueError, FlvTagDecoder, max_tag_size=0)
        self.assertRaises(ValueError, FlvTagDecoder, max_tag_size=DEFAULT_MAX_TAG_SIZE + 1)

    def test_buffer_bounded(self) -> None:
        """
        Input fed in one large call is buffered one tag at a time, and an
        incomplete tag is held whole but not more.
        """
        tags = [FlvTag(9, i, bytes(100_000)) for i in range(30)]
        data = encode_file(tags)
        decoder = FlvTagDecoder(max_tag_size=100_000)
        self.assertEqual(decoder.receive_data(data), tags)
        decoder = FlvTagDecoder(max_tag_size=100_000)
        decoder.receive_data(data[:-50])
        self.assertLess(decoder.buffered_size, 100_000 + 11)

    @given(
        st.lists(
            st.builds(
                FlvTag,
                st.sampled_from([8, 9, 18]),
                st.integers(0, 0x7FFFFFFF),
                st.binary(max_size=300),
            ),
            max_size=12,
        ),
        st.integers(0, 2**32),
    )
    def test_round_trip(self, tags: list[FlvTag], seed: int) -> None:
        """
        Encoded tags decode to themselves whether fed whole, byte by byte or
        in random pieces.
        """
        data = encode_file(tags)
        self.assertEqual(FlvTagDecoder().receive_data(data), tags)
        self.assertEqual(decode_in_pieces(data, None), tags)
        self.assertEqual(decode_in_pieces(data, seed), tags)

    @given(st.binary(max_size=400), st.booleans())
    def test_random_bytes(self, data: bytes, after_header: bool) -> None:
        """
        Arbitrary bytes, at the start or after a valid header, give tags or
        raise `FlvError`, nothing else.
        """
        if after_header:
            data = flv_header() + data
        try:
            decode_in_pieces(data, 1, max_tag_size=200)
        except FlvError:
            pass


class FfmpegFileTests(SynchronousTestCase):
    """
    FLV files written by ffmpeg decode, agree with ffprobe, and re-encode to
    the same bytes.
    """

    def test_files_against_ffprobe(self) -> None:
        """
        Each generated file's header flags match its streams, and its numbers
        of NALU and raw audio tags are ffprobe's packet counts.
        """
        for name, (size, _inputs, _codecs) in FLV_SPECS.items():
            path = ffmpeg_flv(name)
            streams = ffprobe_streams(path)
            decoder = FlvTagDecoder()
            tags = decoder.receive_data(path.read_bytes())
            self.assertEqual(decoder.buffered_size, 0)
            header = decoder.header
            assert header is not None
            self.assertEqual(
                (header.has_video, header.has_audio), ("video" in streams, "audio" in streams)
            )
            self.assertEqual(tags[0].tag_type, TagType.SCRIPT, name)
            video = [t for t in tags if t.tag_type == TagType.VIDEO]
            audio = [t for t in tags if t.tag_type == TagType.AUDIO]
            if size is not None:
                nalu_packets = [t for t in video if t.payload[1] == AVC_PACKET_NALU]
                self.assertEqual(len(nalu_packets), int(streams["video"]["nb_read_packets"]), name)
                self.assertTrue(is_avc_sequence_header(video[0].payload), name)
                self.assertTrue(all(is_acceptable_video(t.payload) for t in video), name)
            if "audio" in streams:
                raw = [t for t in audio if not is_aac_sequence_header(t.payload)]
                self.assertEqual(len(raw), int(streams["audio"]["nb_read_packets"]), name)

    def test_mp3_tag_header_against_ffprobe(self) -> None:
        """
        MP3 tags declare the rate and channel count ffprobe reports.
        """
        for name in ("baseline240", "main1080"):
            path = ffmpeg_flv(name)
            stream = ffprobe_streams(path)["audio"]
            self.assertEqual(stream["codec_name"], "mp3")
            audio = [t for t in read_tags(path) if t.tag_type == TagType.AUDIO]
            headers = {audio_tag_header(t.payload) for t in audio}
            self.assertEqual(
                headers, {AudioTagHeader(2, int(stream["sample_rate"]), 16, stream["channels"])}
            )
            # No sequence header: SRS caches the first MP3 packet instead.
            self.assertFalse(any(is_aac_sequence_header(t.payload) for t in audio))

    def test_aac_tags(self) -> None:
        """
        AAC tags start with ``AF``: 44 kHz, 16-bit, stereo in the FLV byte,
        whatever the real configuration is.
        """
        audio = [t for t in read_tags(ffmpeg_flv("aac22050")) if t.tag_type == TagType.AUDIO]
        self.assertTrue(is_aac_sequence_header(audio[0].payload))
        self.assertEqual({t.payload[0] for t in audio}, {0xAF})
        self.assertEqual({t.payload[1] for t in audio[1:]}, {AAC_PACKET_RAW})

    def test_reencode_identical(self) -> None:
        """
        Re-encoding the decoded tags behind a header with the same flags
        gives ffmpeg's file back byte for byte.
        """
        for name in FLV_SPECS:
            data = ffmpeg_flv(name).read_bytes()
            decoder = FlvTagDecoder()
            tags = decoder.receive_data(data)
            header = decoder.header
            assert header is not None
            self.assertEqual(
                encode_file(tags, flv_header(header.has_audio, header.has_video)), data, name
            )

    def test_split_feeding(self) -> None:
        """
        A real file fed in random pieces gives the same tags as fed whole.
        """
        data = ffmpeg_flv("high720").read_bytes()
        whole = FlvTagDecoder().receive_data(data)
        for seed in range(3):
            self.assertEqual(decode_in_pieces(data, seed), whole)
