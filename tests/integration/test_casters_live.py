"""
End to end: the stream casters (issue 19) with real ffmpeg, ffprobe and curl.

MPEG-TS over UDP and FLV over HTTP POST go in; ffprobe reads the stream
back as RTMP and HTTP-FLV (and HLS): H.264 640x360 with B-frames (``-bf 2``, so
PTS != DTS must survive) and AAC.  RTSP push over TCP (interleaved) and UDP,
and a republish after ffmpeg is stopped.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.integration.process import Program, ServerHelpers, SrsServer, ffprobe, free_port, sleep

_SOURCE = [
    "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
    "-f", "lavfi", "-i", "sine=sample_rate=44100",
]  # fmt: skip
_ENCODE = [
    "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k",
]  # fmt: skip


class CasterTests(ServerHelpers, TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def start_server(self) -> Any:
        self.http_port = free_port()
        self.udp_port = free_port()
        self.flv_port = free_port()
        self.rtsp_port = free_port()
        self.rtp_low = 42000 + (os.getpid() % 500) * 20
        body = f"""
http_server {{ enabled on; listen 127.0.0.1:{self.http_port}; dir ./html; }}
stream_caster {{ enabled on; caster mpegts_over_udp; listen {self.udp_port};
    output rtmp://127.0.0.1/live/ts; }}
stream_caster {{ enabled on; caster flv; listen {self.flv_port};
    output rtmp://127.0.0.1/[app]/[stream]; }}
stream_caster {{ enabled on; caster rtsp; listen {self.rtsp_port};
    rtp_port_min {self.rtp_low}; rtp_port_max {self.rtp_low + 20};
    output rtmp://127.0.0.1/[app]/[stream]; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    hls {{ enabled on; hls_fragment 2; hls_window 10; hls_path ./html; }}
}}
"""
        self.server = SrsServer(self, body)
        yield self.server.started()

    def tearDown(self) -> None:
        self.assertNotIn("Traceback", self.server.output)

    def push(self, url_args: list[str], seconds: float) -> Program:
        argv = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", *_SOURCE,
            "-t", str(seconds), *_ENCODE, *url_args,
        ]  # fmt: skip
        return self.start(argv, seconds + 15)

    @defer.inlineCallbacks
    def hls_ready(self, path: str, within: float = 20.0) -> Any:
        """Wait (bounded) until the stream's playlist lists two segments; return its file."""
        playlist = self.server.path(f"html/{path}.m3u8")
        for _ in range(int(within * 10)):
            if os.path.exists(playlist):
                with open(playlist) as f:
                    if f.read().count("#EXTINF") >= 2:
                        return playlist
            yield sleep(0.1)
        self.fail(f"no HLS playlist with two segments at {playlist} within {within:g}s")

    @defer.inlineCallbacks
    def probe_both(self, path: str, hls: bool = False) -> Any:
        """ffprobe the stream as RTMP and HTTP-FLV (and HLS): streams and the first video packets."""
        urls = [self.server.url(path), self.http(f"/{path}.flv")]
        if hls:
            urls.append((yield self.hls_ready(path)))
        probes = [
            self.start(
                ffprobe("-show_streams", "-show_packets", "-select_streams", "v",
                        "-read_intervals", "%+#30", url)
            )  # fmt: skip
            for url in urls
        ]
        streams = [
            self.start(ffprobe("-show_streams", url)) for url in urls
        ]
        results = yield defer.gatherResults([p.ended for p in probes + streams])
        for child, result in zip(probes + streams, results, strict=True):
            self.assertEqual(result[0], 0, child.output)
        for probe, all_streams in zip(probes, streams, strict=True):
            kinds = {s["codec_type"]: s for s in all_streams.json()["streams"]}
            self.assertEqual(kinds["video"]["codec_name"], "h264")
            self.assertEqual((kinds["video"]["width"], kinds["video"]["height"]), (640, 360))
            self.assertEqual(kinds["audio"]["codec_name"], "aac")
            packets = probe.json()["packets"]
            self.assertGreater(len(packets), 10)
            # B-frames kept: presentation differs from decode time on some packets.
            self.assertTrue(any(p["pts"] != p["dts"] for p in packets), packets[:5])

    @defer.inlineCallbacks
    def test_mpegts_over_udp(self) -> Any:
        yield self.start_server()
        self.push(["-f", "mpegts", f"udp://127.0.0.1:{self.udp_port}?pkt_size=1316"], 14)
        yield self.wait_publish("__defaultVhost__", "live/ts")
        yield self.probe_both("live/ts", hls=True)
        self.assertIn("transport=mpegts_udp", self.server.output)

    @defer.inlineCallbacks
    def test_flv_post(self) -> Any:
        yield self.start_server()
        self.push(["-method", "POST", "-f", "flv", f"http://127.0.0.1:{self.flv_port}/live/post.flv"], 14)
        yield self.wait_publish("__defaultVhost__", "live/post")
        yield self.probe_both("live/post", hls=True)

    @defer.inlineCallbacks
    def test_flv_post_curl_sized_chunked_and_garbage(self) -> Any:
        yield self.start_server()
        flv = os.path.join(self.server.directory, "in.flv")
        made = self.start(["ffmpeg", "-nostdin", "-v", "error", *_SOURCE, "-t", "2", *_ENCODE, "-f", "flv", flv])
        self.assertEqual((yield made.ended)[0], 0, made.output)
        url = f"http://127.0.0.1:{self.flv_port}"
        sized = self.start(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", f"@{flv}",
                            f"{url}/live/sized.flv"])  # fmt: skip
        chunked = self.start(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                              "Transfer-Encoding: chunked", "-T", flv, f"{url}/live/chunked.flv"])  # fmt: skip
        garbage = self.start(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                              "this is not FLV at all", f"{url}/live/bad.flv"])  # fmt: skip
        results = yield defer.gatherResults([p.ended for p in (sized, chunked, garbage)])
        self.assertEqual([r[0] for r in results], [0, 0, 0], [p.output for p in (sized, chunked, garbage)])
        self.assertEqual(sized.stdout, "200")
        self.assertEqual(chunked.stdout, "200")
        self.assertEqual(garbage.stdout, "400")
        yield self.wait_publish("__defaultVhost__", "live/sized")
        yield self.wait_publish("__defaultVhost__", "live/chunked")
        bad = [line for line in self.server.lines() if "closing FLV POST: body is not FLV" in line]
        self.assertEqual(len(bad), 1, self.server.output)
        self.assertRegex(bad[0], r"\]\[\d+\] ")

    def rtsp_push(self, transport: str, stream: str, seconds: float) -> Program:
        return self.push(
            ["-f", "rtsp", "-rtsp_transport", transport, f"rtsp://127.0.0.1:{self.rtsp_port}/live/{stream}.sdp"],
            seconds,
        )

    @defer.inlineCallbacks
    def test_rtsp_tcp_and_udp(self) -> Any:
        yield self.start_server()
        self.rtsp_push("tcp", "tcp", 14)
        self.rtsp_push("udp", "udp", 14)
        yield self.wait_publish("__defaultVhost__", "live/tcp")
        yield self.wait_publish("__defaultVhost__", "live/udp")
        yield defer.gatherResults([self.probe_both("live/tcp", hls=True), self.probe_both("live/udp")])
        self.assertIn("transport=rtsp", self.server.output)

    @defer.inlineCallbacks
    def test_rtsp_republish_after_ffmpeg_is_stopped(self) -> Any:
        yield self.start_server()
        first = self.rtsp_push("udp", "again", 30)
        yield self.wait_publish("__defaultVhost__", "live/again")
        yield first.stop()
        yield self.server.child.wait_for("unpublish __defaultVhost__/live/again", timeout=15)
        since = self.server.child.mark()
        self.rtsp_push("udp", "again", 12)
        yield self.wait_publish("__defaultVhost__", "live/again", since=since)
        yield self.probe_both("live/again")
