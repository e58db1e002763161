"""
End to end: HTTP-FLV, HTTP-MP3 and HTTP-AAC live streams and the static
server, with real ffmpeg, ffprobe and curl (issue 8).

Each test starts its own ``twistd -n srs`` on free 127.0.0.1 ports in a
temporary directory; every child is bounded in time and stopped in cleanup.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import TestCase

from srstwist.codec.flv import FlvTagDecoder
from tests.integration.process import (
    Program,
    ServerHelpers,
    SrsServer,
    ffprobe,
    free_port,
    rss_kb,
    sleep,
)


def _http_conf(http_port: int, root: str) -> str:
    return f"""
http_server {{ enabled on; listen 127.0.0.1:{http_port}; dir {root}; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; hstrs on; }}
}}
vhost mp3.test {{
    http_remux {{ enabled on; mount /mp3/[app]/[stream].mp3; }}
}}
vhost aac.test {{
    http_remux {{ enabled on; mount /aac/[app]/[stream].aac; fast_cache 2; }}
}}
vhost ts.test {{
    http_remux {{ enabled on; mount /ts/[app]/[stream].ts; }}
}}
vhost static.test {{
    http_static {{ enabled on; mount [vhost]/; dir {root}/static.test; }}
}}
"""


class _HttpBase(ServerHelpers, TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def start_server(self, extra: str = "") -> Any:
        self.http_port = free_port()
        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "static.test"))
        self.root = root
        self.server = SrsServer(self, _http_conf(self.http_port, root) + extra)
        yield self.server.started()

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)


class LiveFormatsTests(_HttpBase):
    """FLV, MP3 and AAC live streams probe and play as real players expect."""

    @defer.inlineCallbacks
    def test_flv_ts_mp3_aac(self) -> Any:
        """
        ffprobe sees H.264+AAC in the FLV and the TS, MP3 in the .mp3 and
        AAC in the .aac stream; ffmpeg reads FLV and TS without a warning.
        """
        yield self.start_server()
        self.publish("live/s", 14)
        self.publish("live?vhost=mp3.test/m", 14, video=False, audio_codec="libmp3lame")
        self.publish("live?vhost=aac.test/a", 14, video=False)
        self.publish("live?vhost=ts.test/t", 14, size="160x120")
        yield self.wait_publish("__defaultVhost__", "live/s")
        yield self.wait_publish("ts.test", "live/t")
        yield self.wait_publish("mp3.test", "live/m")
        yield self.wait_publish("aac.test", "live/a")

        probes = [
            self.start(ffprobe("-show_streams", self.http(path)))
            for path in ("/live/s.flv", "/mp3/live/m.mp3", "/aac/live/a.aac", "/ts/live/t.ts")
        ]
        read_ts = self.start(
            ["ffmpeg", "-nostdin", "-v", "warning", "-i", self.http("/ts/live/t.ts"),
             "-t", "4", "-f", "null", "-"]
        )  # fmt: skip
        read = self.start(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", self.http("/live/s.flv"),
             "-t", "5", "-f", "null", "-"]
        )  # fmt: skip
        everyone = [*probes, read, read_ts]
        results = yield defer.gatherResults([p.ended for p in everyone])
        for child, result in zip(everyone, results, strict=True):
            self.assertEqual(result[0], 0, child.output)

        def codecs(probe: Program) -> dict[str, str]:
            return {s["codec_type"]: s["codec_name"] for s in probe.json()["streams"]}

        self.assertEqual(codecs(probes[0]), {"video": "h264", "audio": "aac"})
        self.assertEqual(codecs(probes[1]), {"audio": "mp3"})
        self.assertEqual(codecs(probes[2]), {"audio": "aac"})
        self.assertEqual(codecs(probes[3]), {"video": "h264", "audio": "aac"})
        self.assertEqual(read.output.strip(), "", "ffmpeg reported errors reading HTTP-FLV")
        self.assertEqual(read_ts.output.strip(), "", "ffmpeg reported problems reading HTTP-TS")

    @defer.inlineCallbacks
    def test_static_files_and_vod(self) -> Any:
        """
        curl gets files with SRS's MIME types, ranges, 404s and a refused
        traversal; an FLV with ?start= begins with the header and the
        sequence headers and ffprobe reads it.
        """
        yield self.start_server()
        with open(os.path.join(self.root, "index.html"), "w") as f:
            f.write("<p>root</p>")
        with open(os.path.join(self.root, "static.test", "hello.m3u8"), "w") as f:
            f.write("#EXTM3U\n")
        vod = self.start(
            ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
             "-f", "lavfi", "-i", "sine", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
             "-g", "25", "-c:a", "aac", "-f", "flv", os.path.join(self.root, "vod.flv")]
        )  # fmt: skip
        self.assertEqual((yield vod.ended)[0], 0, vod.output)
        size = os.path.getsize(os.path.join(self.root, "vod.flv"))

        def curl(*args: str) -> Program:
            return self.start(["curl", "-s", "-S", "--max-time", "10", *args])

        index = curl("-i", self.http("/"))
        ranged = curl("-i", "-r", "0-3", self.http("/vod.flv"))
        missing = curl("-i", self.http("/nothing.html"))
        traversal = curl("-i", "--path-as-is", self.http("/%2e%2e/%2e%2e/etc/passwd"))
        vhosted = curl("-i", "-H", "Host: static.test", self.http("/hello.m3u8"))
        start = size // 2
        seek = curl("-o", "seek.flv", self.http(f"/vod.flv?start={start}"))
        children = [index, ranged, missing, traversal, vhosted, seek]
        yield defer.gatherResults([c.ended for c in children])

        self.assertIn("200 OK", index.stdout)
        self.assertIn("Content-Type: text/html", index.stdout)
        self.assertIn("<p>root</p>", index.stdout)
        self.assertIn("206 Partial Content", ranged.stdout)
        self.assertIn("Content-Type: video/x-flv", ranged.stdout)
        self.assertTrue(ranged.stdout.endswith("FLV\x01"), ranged.stdout[-20:])
        self.assertIn("404 Not Found", missing.stdout)
        self.assertIn("400 Bad Request", traversal.stdout)
        self.assertNotIn("root:", traversal.stdout)
        self.assertIn("Content-Type: application/vnd.apple.mpegurl", vhosted.stdout)
        self.assertIn("Cache-Control: no-cache", vhosted.stdout)
        self.assertIn("Access-Control-Allow-Origin: *", vhosted.stdout)

        seek_path = self.server.path("seek.flv")
        with open(seek_path, "rb") as f:
            head = f.read(13)
        self.assertEqual(head[:3], b"FLV")
        self.assertLess(os.path.getsize(seek_path), size)
        self.assertGreater(os.path.getsize(seek_path), size - start)
        probe = self.start(ffprobe("-show_streams", seek_path))
        self.assertEqual((yield probe.ended)[0], 0, probe.output)
        kinds = sorted(s["codec_type"] for s in probe.json()["streams"])
        self.assertEqual(kinds, ["audio", "video"])


class _FlvReader(protocol.Protocol):
    """A raw HTTP-FLV client that counts bytes and tracks the last tag time."""

    def __init__(self, path: str, stall: bool = False) -> None:
        self.path = path
        self.stall = stall
        self.bytes = 0
        self.last_timestamp = -1
        self._decoder: _ChunkedFlv | None = None
        self._head = b""
        self.lost = defer.Deferred[None]()

    def connectionMade(self) -> None:
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        if self.stall:
            self.transport.pauseProducing()

    def dataReceived(self, data: bytes) -> None:
        self.bytes += len(data)
        if self._decoder is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            data, self._head = self._head[end + 4 :], b""
            self._decoder = _ChunkedFlv()
        for tag in self._decoder.feed(data):
            self.last_timestamp = max(self.last_timestamp, tag.timestamp)

    def connectionLost(self, reason: Any) -> None:
        self.lost.callback(None)


class _ChunkedFlv:
    """Undoes HTTP chunked framing, then decodes FLV tags."""

    def __init__(self) -> None:
        self._buffer = b""
        self._flv = FlvTagDecoder()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        body = b""
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self._buffer[:line_end], 16)
            if len(self._buffer) < line_end + 2 + size + 2:
                break
            body += self._buffer[line_end + 2 : line_end + 2 + size]
            self._buffer = self._buffer[line_end + 2 + size + 2 :]
        return self._flv.receive_data(body)


class FanOutTests(_HttpBase):
    """Many HTTP-FLV players and one that stops reading."""

    @defer.inlineCallbacks
    def test_fifty_players_and_a_stalled_one(self) -> Any:
        """
        50 players keep real time while one stops reading; the server's
        memory stays bounded; when all leave, every consumer is gone.
        """
        yield self.start_server()
        seconds = 12
        self.publish("live/fan", seconds + 4, size="640x360")
        yield self.wait_publish("__defaultVhost__", "live/fan")
        rss_before = rss_kb(self.server.pid)

        players = [_FlvReader("/live/fan.flv") for _ in range(50)]
        stalled = _FlvReader("/live/fan.flv", stall=True)
        endpoints = []
        for reader in [*players, stalled]:
            factory = protocol.ClientFactory.forProtocol(lambda r=reader: r)
            endpoints.append(reactor.connectTCP("127.0.0.1", self.http_port, factory))
        yield sleep(seconds - 2)

        newest = max(p.last_timestamp for p in players)
        self.assertGreater(newest, (seconds - 4) * 1000, "players fell behind real time")
        for reader in players:
            self.assertGreater(reader.last_timestamp, newest - 1500, "a player lagged")
        rss_during = rss_kb(self.server.pid)
        self.assertLess(rss_during - rss_before, 60_000, "server memory grew by more than 60 MB")

        for reader in [*players, stalled]:
            reader.transport.loseConnection()
        yield defer.gatherResults([r.lost for r in [*players, stalled]])
        for _ in range(50):
            if self.server.output.count("] http flv play __defaultVhost__/live/fan done") == 51:
                break
            yield sleep(0.1)
        self.assertEqual(
            self.server.output.count("] http flv play __defaultVhost__/live/fan done"), 51
        )
