"""
Tests for :mod:`srstwist.client.flv_file`: reading and writing FLV files, and
publishing them at real-time pace with :func:`ingest`.

The media helpers at the top (ffmpeg-generated files, cached for the run)
are shared with the other client test modules.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from srstwist.client.flv_file import FlvFile, FlvWriter, ingest, metadata_payload, read_flv
from srstwist.client.rtmp import RtmpClientError, RtmpClientProtocol
from srstwist.codec.amf0 import Amf0Object, decode_all, encode_values
from srstwist.codec.flv import FlvError, FlvTag, TagType, encode_tag, flv_header
from srstwist.codec.rtmp_events import Media, MediaKind
from tests.rtmp_peer import Harness

# -- ffmpeg-made media, shared by the client tests ----------------------------

_MEDIA_DIR: str | None = None
_MEDIA: dict[str, str] = {}

_SOURCES = [
    "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
]  # fmt: skip
_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]


def _media_dir() -> str:
    global _MEDIA_DIR
    if _MEDIA_DIR is None:
        _MEDIA_DIR = tempfile.mkdtemp(prefix="srstwist-client-tests-")
        atexit.register(shutil.rmtree, _MEDIA_DIR, True)
    return _MEDIA_DIR


def require_ffmpeg() -> None:
    """Skip the calling test when ffmpeg or ffprobe is missing."""
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        raise SkipTest("ffmpeg and ffprobe are needed")


def generated(kind: str) -> str:
    """
    The path of a small file ffmpeg makes once per run: ``flv`` (2 s of
    H.264 with B-frames + AAC), ``h264`` (1 s Annex-B, no B-frames, an IDR
    every 10 frames) or ``aac``
    (1 s ADTS, stereo).
    """
    require_ffmpeg()
    if kind in _MEDIA:
        return _MEDIA[kind]
    path = os.path.join(_media_dir(), f"media.{kind}")
    if kind == "flv":
        args = [*_SOURCES, "-t", "2", *_H264, "-bf", "2", "-c:a", "aac", "-ac", "2", "-f", "flv"]
    elif kind == "h264":
        args = [*_SOURCES[:4], "-t", "1", *_H264, "-g", "10", "-bf", "0", "-f", "h264"]
    elif kind == "aac":
        args = [*_SOURCES[4:], "-t", "1", "-c:a", "aac", "-ac", "2", "-f", "adts"]
    else:
        raise ValueError(kind)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args, path],
        check=True,
        timeout=60,
    )
    _MEDIA[kind] = path
    return path


def ffprobe(path: str, *args: str) -> Any:
    """ffprobe's JSON for ``path``."""
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, path],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return json.loads(output)


def without_end_of_sequence(tags: list[FlvTag]) -> list[FlvTag]:
    """
    The tags without ffmpeg's closing AVC end-of-sequence tag.  It is
    stamped before the last audio tags, and the server's player queue holds
    a message whose timestamp went back until more arrive, so a player never
    gets it once the publisher stops (an RtmpPlayer issue, not the client's).
    """
    return [t for t in tags if t.payload[:2] != b"\x17\x02"]


def attach(harness: Harness, client: Protocol) -> None:
    """Connect a client protocol to the harness's server in memory."""
    harness.connect(client)  # type: ignore[arg-type]  # typed for its ScriptedClient


# -- helpers -------------------------------------------------------------------


def _flv_bytes(tags: list[FlvTag]) -> bytes:
    out = io.BytesIO()
    writer = FlvWriter(out)
    for tag in tags:
        writer.write(tag)
    return out.getvalue()


def _av(tag_type: int, timestamp: int, payload: bytes = b"\x17\x01xx") -> FlvTag:
    return FlvTag(tag_type, timestamp, payload)


_METADATA = encode_values("onMetaData", Amf0Object({"width": 320.0}))

_tags = st.lists(
    st.one_of(
        st.builds(
            FlvTag,
            st.sampled_from([TagType.AUDIO, TagType.VIDEO]),
            st.integers(0, 0x7FFFFFFF),
            st.binary(max_size=300),
        ),
        st.builds(FlvTag, st.just(TagType.SCRIPT), st.just(0), st.binary(max_size=100)),
    ),
    max_size=30,
)


class ReadWriteTests(SynchronousTestCase):
    """FlvWriter writes what read_flv reads back."""

    @given(_tags)
    def test_round_trip(self, tags: list[FlvTag]) -> None:
        """Any tags written by FlvWriter come back from read_flv unchanged."""
        self.assertEqual(list(read_flv(io.BytesIO(_flv_bytes(tags)))), tags)

    def test_header(self) -> None:
        """The file starts with SRS's 13-byte header, flags 0x05."""
        self.assertEqual(_flv_bytes([]), b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")

    def test_script_tags_at_zero(self) -> None:
        """Script tags are written at timestamp 0 whatever they are given."""
        data = _flv_bytes([FlvTag(TagType.SCRIPT, 1234, _METADATA)])
        self.assertEqual(list(read_flv(io.BytesIO(data))), [FlvTag(TagType.SCRIPT, 0, _METADATA)])

    def test_path_and_file_object(self) -> None:
        """read_flv and FlvWriter take paths as well as file objects."""
        path = self.mktemp()
        tags = [_av(TagType.VIDEO, 0), _av(TagType.AUDIO, 23, b"\xaf\x01a")]
        with FlvWriter(path) as writer:
            for tag in tags:
                writer.write(tag)
        self.assertEqual(writer.tags_written, 2)
        self.assertEqual(list(read_flv(path)), tags)
        with open(path, "rb") as f:
            self.assertEqual(list(read_flv(f)), tags)

    def test_flv_file_iterates_again(self) -> None:
        """An FlvFile reads the file again on every iteration."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(_flv_bytes([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)]))
        flv = FlvFile(path)
        self.assertEqual(list(flv), list(flv))
        self.assertEqual(len(list(flv)), 2)

    def test_ffmpeg_file(self) -> None:
        """An ffmpeg FLV reads as metadata, sequence headers, then media, as ffprobe counts it."""
        path = generated("flv")
        tags = list(read_flv(path))
        self.assertEqual(tags[0].tag_type, TagType.SCRIPT)
        self.assertEqual(decode_all(tags[0].payload)[0], "onMetaData")
        self.assertEqual(tags[1].payload[:2], b"\x17\x00")
        self.assertEqual(tags[2].payload[:2], b"\xaf\x00")
        packets = ffprobe(path, "-show_entries", "packet=codec_type", "-show_packets")["packets"]
        # ffprobe counts neither the sequence headers nor the AVC end of sequence.
        frames = [t for t in tags if t.tag_type != TagType.SCRIPT and t.payload[1] == 1]
        self.assertEqual(len(frames), len(packets))

    def test_write_media(self) -> None:
        """write_media keeps audio, video and metadata (as onMetaData), and drops other data."""
        out = io.BytesIO()
        writer = FlvWriter(out)
        set_data_frame = encode_values("@setDataFrame", "onMetaData", Amf0Object({"a": 1.0}))
        metadata = Amf0Object({"a": 1.0})
        messages = [
            Media(MediaKind.DATA, 0, 1, 5, b"\x02\x00\x11|RtmpSampleAccess", 18, "|RtmpSampleAccess"),
            Media(MediaKind.DATA, 9, 1, 4, set_data_frame, 18, "@setDataFrame", metadata),
            Media(MediaKind.VIDEO, 10, 1, 6, b"\x17\x00abc", 9),
            Media(MediaKind.AUDIO, 11, 1, 7, b"\xaf\x00\x12\x10", 8),
        ]
        self.assertEqual([writer.write_media(m) for m in messages], [False, True, True, True])
        self.assertEqual(writer.dropped, 1)
        tags = list(read_flv(io.BytesIO(out.getvalue())))
        self.assertEqual(
            tags,
            [
                FlvTag(TagType.SCRIPT, 0, encode_values("onMetaData", Amf0Object({"a": 1.0}))),
                FlvTag(TagType.VIDEO, 10, b"\x17\x00abc"),
                FlvTag(TagType.AUDIO, 11, b"\xaf\x00\x12\x10"),
            ],
        )

    def test_metadata_payload(self) -> None:
        """metadata_payload strips @setDataFrame and leaves anything else alone."""
        self.assertEqual(
            metadata_payload(encode_values("@setDataFrame", "onMetaData", 1.0)),
            encode_values("onMetaData", 1.0),
        )
        self.assertEqual(metadata_payload(_METADATA), _METADATA)
        self.assertEqual(metadata_payload(b"\xff"), b"\xff")


class BrokenFileTests(SynchronousTestCase):
    """Broken files raise FlvError with a message naming the problem and the place."""

    def read(self, data: bytes, **kwargs: Any) -> tuple[list[FlvTag], FlvError | None]:
        f = io.BytesIO(data)
        f.name = "broken.flv"  # type: ignore[attr-defined]
        tags: list[FlvTag] = []
        try:
            for tag in read_flv(f, **kwargs):
                tags.append(tag)
        except FlvError as e:
            return tags, e
        return tags, None

    def test_empty(self) -> None:
        """An empty file is an error."""
        _, error = self.read(b"")
        self.assertEqual(str(error), "broken.flv: empty file, no FLV header")

    def test_short(self) -> None:
        """A file shorter than the header is an error."""
        _, error = self.read(b"FLV\x01")
        self.assertEqual(str(error), "broken.flv: not an FLV file: 4 bytes, less than an FLV header")

    def test_not_flv(self) -> None:
        """Another format is refused by its signature."""
        _, error = self.read(b"\x00\x00\x00\x20ftypisom" + bytes(40))
        assert error is not None
        self.assertEqual(str(error), "broken.flv: not an FLV file: signature b'\\x00\\x00\\x00'")

    def test_truncated_last_tag(self) -> None:
        """Every complete tag is produced, then the truncated one raises, with its offset."""
        data = _flv_bytes([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)])
        tags, error = self.read(data[:-6])
        self.assertEqual(tags, [_av(TagType.VIDEO, 0)])
        self.assertEqual(
            str(error),
            "broken.flv: truncated FLV file: the tag at byte 32 is cut short after 13 bytes",
        )

    def test_cut_in_previous_tag_size(self) -> None:
        """A file cut inside the last PreviousTagSize still has every tag whole."""
        data = _flv_bytes([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)])
        self.assertEqual(self.read(data[:-2]), ([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)], None))

    def test_data_offset(self) -> None:
        """Bytes between the header and its DataOffset are skipped."""
        data = b"FLV\x01\x05\x00\x00\x00\x0c" + b"xyz" + _flv_bytes([_av(TagType.VIDEO, 7)])[9:]
        self.assertEqual(self.read(data), ([_av(TagType.VIDEO, 7)], None))

    def test_truncated_allowed(self) -> None:
        """With allow_truncated, a cut-off last tag ends the iteration quietly."""
        data = _flv_bytes([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)])
        tags, error = self.read(data[:-6], allow_truncated=True)
        self.assertEqual((tags, error), ([_av(TagType.VIDEO, 0)], None))
        self.flushLoggedErrors()

    def test_unknown_tag_type(self) -> None:
        """A tag type other than audio, video and script is an error."""
        data = flv_header() + b"".join(encode_tag(TagType.VIDEO, 0, b"ab"))
        data += b"\x07" + bytes(10)
        tags, error = self.read(data)
        self.assertEqual(len(tags), 1)
        self.assertEqual(str(error), "broken.flv: unknown FLV tag type 7 at byte 30")

    def test_tag_over_limit(self) -> None:
        """A tag over max_tag_size is refused before its body is read."""
        data = _flv_bytes([_av(TagType.VIDEO, 0, bytes(2000))])
        _, error = self.read(data, max_tag_size=1000)
        assert error is not None
        self.assertEqual(
            str(error), "broken.flv: FLV tag of 2000 bytes at byte 13 exceeds the limit of 1000"
        )

    def test_missing_file(self) -> None:
        """A path that cannot be opened is an FlvError too."""
        with self.assertRaises(FlvError) as caught:
            list(read_flv(os.path.join(self.mktemp(), "nope.flv")))
        self.assertIn("cannot open: No such file or directory", str(caught.exception))


class _Publisher:
    """Stands in for a publishing RtmpClientProtocol."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, bytes]] = []
        self.writable = True
        self._waiters: list[defer.Deferred[None]] = []
        self.fail_after: int | None = None

    def wait_writable(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(d)
        return d

    def resume(self) -> None:
        self.writable = True
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def send_message(self, type_id: int, timestamp: int, payload: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise RtmpClientError("cannot send: the connection is closed")
        self.sent.append((type_id, timestamp, payload))


class IngestTests(SynchronousTestCase):
    """ingest paces by timestamps on the injected clock, honours back-pressure, loops."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.publisher = _Publisher()
        self.tags = [
            FlvTag(TagType.SCRIPT, 0, _METADATA),
            _av(TagType.VIDEO, 0),
            _av(TagType.AUDIO, 0, b"\xaf\x01"),
            _av(TagType.VIDEO, 40),
            _av(TagType.VIDEO, 80),
        ]

    def stamps(self) -> list[int]:
        return [timestamp for _, timestamp, _ in self.publisher.sent]

    def test_realtime(self) -> None:
        """Each tag leaves when its timestamp is due, counted from the first one."""
        done = ingest(self.publisher, self.tags, self.clock)
        self.assertEqual(self.stamps(), [0, 0, 0])
        self.clock.advance(0.039)
        self.assertEqual(len(self.publisher.sent), 3)
        self.clock.advance(0.001)
        self.assertEqual(self.stamps(), [0, 0, 0, 40])
        self.clock.advance(0.04)
        self.assertEqual(self.successResultOf(done), 5)

    def test_not_realtime(self) -> None:
        """Without realtime everything goes at once."""
        done = ingest(self.publisher, self.tags, self.clock, realtime=False)
        self.assertEqual(self.successResultOf(done), 5)
        self.assertEqual(self.stamps(), [0, 0, 0, 40, 80])

    def test_back_pressure(self) -> None:
        """Nothing is sent while the connection is not writable."""
        self.publisher.writable = False
        done = ingest(self.publisher, self.tags, self.clock, realtime=False)
        self.assertEqual(self.publisher.sent, [])
        self.publisher.resume()
        self.assertEqual(self.successResultOf(done), 5)

    def test_timestamp_jump_rebases(self) -> None:
        """A jump of more than MAX_DRIFT in the file does not stall the ingest."""
        tags = [_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 3_600_000), _av(TagType.VIDEO, 3_600_040)]
        done = ingest(self.publisher, tags, self.clock)
        self.assertEqual(self.stamps(), [0, 3_600_000])
        self.clock.advance(0.04)
        self.assertEqual(self.successResultOf(done), 3)

    def test_loop(self) -> None:
        """Looping continues the timestamps one frame after the last and skips metadata."""
        done = ingest(self.publisher, self.tags, self.clock, loop=True)
        for _ in range(10):
            self.clock.advance(0.04)
        self.assertEqual(self.publisher.sent[0][0], TagType.SCRIPT)
        self.assertEqual(
            self.stamps()[:11], [0, 0, 0, 40, 80, 120, 120, 160, 200, 240, 240]
        )
        self.assertEqual([t for t, _, _ in self.publisher.sent].count(TagType.SCRIPT), 1)
        done.cancel()
        self.failureResultOf(done, defer.CancelledError)
        sent = len(self.publisher.sent)
        self.clock.advance(1)
        self.assertEqual(len(self.publisher.sent), sent)

    def test_loop_needs_reiterable(self) -> None:
        """An iterator cannot be looped."""
        with self.assertRaises(ValueError):
            ingest(self.publisher, iter(self.tags), self.clock, loop=True)

    def test_send_failure(self) -> None:
        """A failing send ends the ingest with that error."""
        self.publisher.fail_after = 2
        done = ingest(self.publisher, self.tags, self.clock, realtime=False)
        self.failureResultOf(done, RtmpClientError)

    def test_broken_file(self) -> None:
        """A broken file fails the ingest with FlvError after its good tags."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(_flv_bytes([_av(TagType.VIDEO, 0), _av(TagType.VIDEO, 40)])[:-6])
        done = ingest(self.publisher, FlvFile(path), self.clock, realtime=False)
        self.failureResultOf(done, FlvError)
        self.assertEqual(len(self.publisher.sent), 1)

    def test_on_tag(self) -> None:
        """on_tag sees every tag as sent, loop offset included."""
        seen: list[FlvTag] = []
        done = ingest(self.publisher, self.tags[1:], self.clock, loop=True, on_tag=seen.append)
        self.clock.advance(0.12)
        done.cancel()
        self.failureResultOf(done, defer.CancelledError)
        self.assertEqual([t.timestamp for t in seen], [0, 0, 40, 80, 120, 120])


class IngestServerTests(SynchronousTestCase):
    """An ffmpeg FLV ingested into the in-memory server reaches a player intact."""

    def test_ingest_ffmpeg_file(self) -> None:
        """Every audio and video tag of the file arrives at a player, in real time."""
        path = generated("flv")
        # min_latency: every message reaches the player as soon as it is
        # published (see test_client_rtmp).
        harness = Harness("listen 1935;\nvhost __defaultVhost__ { min_latency on; }\n")
        publisher = RtmpClientProtocol(harness.clock)
        player = RtmpClientProtocol(harness.clock)
        received: list[Media] = []
        for client in (publisher, player):
            attach(harness, client)
            client.connect("rtmp://127.0.0.1/live")
        harness.flush()
        playing = player.play("file", sink=received.append)
        publishing = publisher.publish("file")
        harness.flush()
        self.successResultOf(playing)
        self.successResultOf(publishing)
        tags = list(read_flv(path))
        done = ingest(publisher, without_end_of_sequence(tags), harness.clock)
        while not done.called:
            harness.clock.advance(0.01)
            harness.flush()
        harness.flush()
        tags = [t for t in without_end_of_sequence(tags) if t.tag_type != TagType.SCRIPT]
        self.assertEqual(self.successResultOf(done), len(tags) + 1)  # + metadata
        self.assertGreaterEqual(harness.clock.seconds(), 1.9)
        av = [m for m in received if m.kind is not MediaKind.DATA]
        self.assertEqual([m.payload for m in av], [t.payload for t in tags])
        self.assertEqual(
            [m.timestamp - av[0].timestamp for m in av], [t.timestamp - tags[0].timestamp for t in tags]
        )
