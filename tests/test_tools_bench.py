"""
Tests for ``srs-bench`` (the :mod:`srstwist.tools.bench` package): the
statistics and the summary line, the command line and the remote-target
refusal, the package's import order, the fast chunk scanner against the
reference decoder, the HTTP readers, the runner on a Clock, bench clients
against the real server protocol in memory, and one run of the real
program against ``twistd -n srs`` and ffmpeg on 127.0.0.1.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from twisted.web.static import Data

from srstwist.codec.chunk import (
    ChunkDecoder,
    ChunkError,
    RawMessage,
    encode_chunks,
    encode_chunks_delta,
)
from srstwist.codec.control import SetChunkSize, WindowAcknowledgementSize
from srstwist.codec.flv import encode_tag, flv_header
from srstwist.tools import bench
from srstwist.tools.bench import (
    BenchOptions,
    TargetRefused,
    parse_args,
    plan_run,
    resolve_target,
    stream_for,
)
from srstwist.tools.bench.http import (
    FlvScanner,
    HlsClient,
    HttpError,
    HttpFlvClient,
    HttpResponseReader,
    parse_playlist,
    probe_blocking,
)
from srstwist.tools.bench.rtmp import (
    FlvSource,
    RtmpPlayClient,
    RtmpPublishClient,
    RtmpTarget,
    pace_publishers,
)
from srstwist.tools.bench.run import BenchClient, Runner
from srstwist.tools.bench.scan import ChunkScanner, MediaTally
from srstwist.tools.bench.stats import (
    ClientResult,
    CpuSample,
    build_report,
    distribution,
    failure_line,
    kbps,
    percentile,
    realtime_ratio,
    summary_line,
)
from srstwist.tools.bench.workers import worker_argv
from tests.rtmp_peer import Harness, ScriptedClient, captured_media

TARGET = RtmpTarget("127.0.0.1", 1935, "rtmp://127.0.0.1/live", "live")


# -- statistics -----------------------------------------------------------------------


class StatisticsTests(SynchronousTestCase):
    """Percentiles, rates, the real-time ratio and the report."""

    def test_percentile_interpolates(self) -> None:
        """Percentiles interpolate linearly between the closest ranks, as numpy does."""
        self.assertEqual(percentile([4, 1, 3, 2], 50), 2.5)
        self.assertEqual(percentile([1, 2, 3, 4], 0), 1)
        self.assertEqual(percentile([1, 2, 3, 4], 100), 4)
        self.assertAlmostEqual(percentile(list(range(101)), 5), 5.0)
        self.assertAlmostEqual(percentile([10, 20], 95), 19.5)
        self.assertEqual(percentile([7], 95), 7)

    def test_percentile_edges(self) -> None:
        """No values give None; a percentile outside 0..100 is an error."""
        self.assertIsNone(percentile([], 50))
        self.assertRaises(ValueError, percentile, [1], 101)

    def test_kbps(self) -> None:
        """kbps is bytes * 8 / 1000 / seconds, None without time."""
        self.assertEqual(kbps(125_000, 1.0), 1000.0)
        self.assertEqual(kbps(250_000, 4.0), 500.0)
        self.assertIsNone(kbps(1000, 0))

    def test_realtime_ratio(self) -> None:
        """The ratio is the media span over the wall time since the first media."""
        self.assertAlmostEqual(realtime_ratio(9900, 10.0), 0.99)
        self.assertAlmostEqual(realtime_ratio(12000, 10.0), 1.2)
        self.assertIsNone(realtime_ratio(1000, 0.0))

    def test_distribution_skips_missing(self) -> None:
        """Distributions ignore None and report count, percentiles and mean."""
        d = distribution([1.0, None, 3.0])
        self.assertEqual(d["count"], 2)
        self.assertEqual((d["min"], d["med"], d["max"], d["mean"]), (1.0, 2.0, 3.0, 2.0))
        self.assertEqual(distribution([])["med"], None)

    def test_client_result_round_trip(self) -> None:
        """A result survives to_dict/from_dict (the worker-to-parent path)."""
        result = ClientResult(
            3, "s", True, None, "", 1.5, 2.0, 3.0, 4.0, 5.0, 125_000, 120_000, 70, 990, 1.0, 1.0
        )
        data = json.loads(json.dumps(result.to_dict()))
        self.assertEqual(data["kbps"], 1000.0)
        self.assertEqual(data["rt"], 0.99)
        self.assertEqual(ClientResult.from_dict(data), result)

    def _results(self) -> list[ClientResult]:
        results = []
        for i in range(10):
            results.append(
                ClientResult(
                    i, "s", ok=True, connect_ms=1.0 + i, first_video_ms=60.0 + i * 10,
                    first_keyframe_ms=70.0 + i * 10, bytes=114_000 + i * 1000, messages=100,
                    span_ms=990 + i, media_wall_s=1.0, duration_s=1.0,
                )
            )  # fmt: skip
        results.append(ClientResult(10, "s", reason="refused", detail="Connection refused"))
        results.append(ClientResult(11, "s", reason="closed early", detail="gone"))
        results.append(ClientResult(12, "s", reason="refused", detail="again"))
        return results

    def test_summary_line_format(self) -> None:
        """The summary line has exactly the documented fields, in order."""
        report = build_report(
            self._results(), mode="rtmp-play", url="rtmp://x/l/s", planned=13, wall_s=2.0,
            cpu=[CpuSample(0, 0.3, 0.1, 2.0, 13), CpuSample(1, 0.2, 0.0, 2.0, 0)],
        )  # fmt: skip
        self.assertEqual(
            summary_line(report),
            "n=13 ok=10 failed=3 kbps_med=948 kbps_p5=916 rt_med=0.99 fv_med_ms=105 "
            "fv_p95_ms=146 fk_med_ms=115 connect_med_ms=6 cpu=30%",
        )
        self.assertEqual(report["summary"], summary_line(report))

    def test_report_failures_and_cpu(self) -> None:
        """The report counts failures by reason, keeps an example each, and sums CPU."""
        report = build_report(
            self._results(), mode="rtmp-play", url="u", planned=20, wall_s=2.0,
            cpu=[CpuSample(0, 1.0, 0.5, 2.0, 13), CpuSample(-1, 0.1, 0.0, 2.0)],
        )  # fmt: skip
        self.assertEqual(report["failures"], {"closed early": 1, "refused": 2})
        self.assertEqual(report["failure_examples"]["refused"], "Connection refused")
        self.assertEqual(report["cpu"]["percent"], 80.0)
        self.assertEqual([p["percent"] for p in report["cpu"]["processes"]], [75.0, 5.0])
        self.assertEqual((report["planned"], report["n"]), (20, 13))
        self.assertEqual(len(report["clients"]), 13)
        self.assertEqual(failure_line(report), "failures: closed early=1 refused=2")
        json.dumps(report)

    def test_summary_without_ok_clients(self) -> None:
        """Figures no client has print as '-'."""
        report = build_report(
            [ClientResult(0, reason="refused")], mode="rtmp-play", url="u", planned=1,
            wall_s=1.0, cpu=[],
        )  # fmt: skip
        self.assertEqual(
            report["summary"],
            "n=1 ok=0 failed=1 kbps_med=- kbps_p5=- rt_med=- fv_med_ms=- fv_p95_ms=- "
            "fk_med_ms=- connect_med_ms=- cpu=0%",
        )


# -- the package ------------------------------------------------------------------------

#: srs-bench's modules, each allowed to import only those before it.
_LAYERS = ("stats", "scan", "run", "rtmp", "http", "plan", "local", "workers", "cli")


class PackageTests(SynchronousTestCase):
    """The srs-bench package has no import cycle and runs with ``python -m``."""

    def test_modules_import_only_lower_layers(self) -> None:
        """No module imports the command line, or any module after it in the order."""
        directory = os.path.dirname(bench.__file__)
        modules = sorted(
            name[:-3] for name in os.listdir(directory) if name.endswith(".py")
        )
        self.assertEqual(sorted(set(modules) - set(_LAYERS)), ["__init__", "__main__"])
        for index, name in enumerate(_LAYERS):
            with open(os.path.join(directory, name + ".py"), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            imported = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)
                elif isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
            inside = {m for m in imported if m.startswith("srstwist.tools")}
            allowed = {f"srstwist.tools.bench.{lower}" for lower in _LAYERS[:index]}
            self.assertEqual(inside - allowed, set(), name)

    def test_run_as_module(self) -> None:
        """``python -m srstwist.tools.bench --help`` prints the usage, as the workers need."""
        done = subprocess.run(
            [sys.executable, "-m", "srstwist.tools.bench", "--help"],
            capture_output=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.startswith(b"usage: srs-bench "), done.stdout)


class MediaTallyTests(SynchronousTestCase):
    """What a client counts of the media it sees."""

    def test_keyframe_is_not_a_sequence_header(self) -> None:
        """An AVC sequence header is video but not the first key frame."""
        clock = Clock()
        tally = MediaTally(clock.seconds)
        clock.advance(1)
        tally.add(8, 0, 10, 0xAF, 0)
        clock.advance(1)
        tally.add(9, 0, 50, 0x17, 0)
        self.assertEqual((tally.first_media_at, tally.first_video_at), (1, 2))
        self.assertIsNone(tally.first_keyframe_at)
        clock.advance(1)
        tally.add(9, 0, 5000, 0x27, 1)
        self.assertIsNone(tally.first_keyframe_at)
        clock.advance(1)
        tally.add(9, 40, 5000, 0x17, 1)
        self.assertEqual(tally.first_keyframe_at, 4)
        tally.add(8, 30, 10, 0xAF, 1)
        self.assertEqual((tally.audio, tally.video, tally.messages), (2, 3, 5))
        self.assertEqual((tally.media_bytes, tally.span_ms), (10070, 40))


# -- command line -------------------------------------------------------------------


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, *args: Any) -> list[Any]:
        out = []
        for a in addresses:
            family = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, 6, "", (a, port)))
        return out

    return resolve


class CommandLineTests(SynchronousTestCase):
    """Argument parsing, target planning and the remote-target refusal."""

    def test_defaults(self) -> None:
        """Only MODE and URL are required; the rest has the documented defaults."""
        options = parse_args(["rtmp-play", "rtmp://127.0.0.1/live/s"])
        self.assertEqual(options, BenchOptions("rtmp-play", "rtmp://127.0.0.1/live/s"))
        self.assertEqual((options.n, options.rate, options.duration), (1, 100.0, 10.0))
        self.assertEqual((options.workers, options.timeout), (1, 10.0))

    def test_all_options(self) -> None:
        """Every option parses into BenchOptions."""
        options = parse_args(
            ["rtmp-publish", "rtmp://localhost:1936/live/s{i}", "-n", "500", "-r", "50",
             "-d", "30", "--workers", "4", "--json", "--allow-remote", "--timeout", "5",
             "-i", "in.flv"]
        )  # fmt: skip
        self.assertEqual(
            options,
            BenchOptions(
                "rtmp-publish", "rtmp://localhost:1936/live/s{i}", 500, 50.0, 30.0, 4, True,
                True, 5.0, "in.flv",
            ),
        )  # fmt: skip

    def test_workers_capped_at_clients(self) -> None:
        """More workers than clients makes one worker per client."""
        self.assertEqual(
            parse_args(["rtmp-play", "rtmp://h/a/s", "-n", "2", "--workers", "8"]).workers, 2
        )

    def test_bad_arguments(self) -> None:
        """Bad arguments exit with status 2 and a message."""
        for argv in (
            ["rtmp-play"],
            ["rtmp-dance", "rtmp://h/a/s"],
            ["rtmp-play", "http://h/a/s.flv"],
            ["http-flv-play", "rtmp://h/a/s"],
            ["rtmp-publish", "rtmp://h/a/s"],
            ["rtmp-play", "rtmp://h/a/s", "-n", "0"],
            ["rtmp-play", "rtmp://h/a/s", "-r", "0"],
            ["rtmp-play", "rtmp://h/a/s", "--timeout", "0"],
            ["rtmp-play", "rtmp://h/a/s", "--workers", "0"],
            ["rtmp-play", "rtmp://h/a/s", "-d", "-1"],
        ):
            with contextlib.redirect_stderr(io.StringIO()):
                with self.assertRaises(SystemExit) as caught:
                    parse_args(argv)
            self.assertEqual(caught.exception.code, 2, argv)

    def test_help_documents_skips_and_summary(self) -> None:
        """--help says HTTP modes skip without the output, and shows the summary line."""
        text = bench.build_parser().format_help()
        self.assertIn('"skipped: <reason>" and exit 0', text)
        self.assertIn("n=500 ok=500 failed=0 kbps_med=912", text)
        self.assertIn("--allow-remote", text)

    def test_loopback_targets_allowed(self) -> None:
        """127.0.0.0/8 and ::1 are accepted; IPv4 is preferred."""
        self.assertEqual(resolve_target("h", 1935, False, _resolver("127.0.0.1")), "127.0.0.1")
        self.assertEqual(resolve_target("h", 1935, False, _resolver("127.8.9.10")), "127.8.9.10")
        self.assertEqual(resolve_target("h", 1935, False, _resolver("::1")), "::1")
        self.assertEqual(
            resolve_target("h", 1935, False, _resolver("::1", "127.0.0.1")), "127.0.0.1"
        )
        self.assertEqual(
            resolve_target("localhost", 1935, False).split(".")[0] in ("127", "::1"), True
        )

    def test_remote_targets_refused(self) -> None:
        """Any non-loopback address is refused unless --allow-remote."""
        for addresses in (
            ("10.0.0.1",),
            ("127.0.0.1", "192.0.2.7"),
            ("2001:db8::1",),
            ("0.0.0.0",),
        ):
            with self.assertRaises(TargetRefused) as caught:
                resolve_target("far", 1935, False, _resolver(*addresses))
            self.assertIn("--allow-remote", str(caught.exception))
        self.assertEqual(resolve_target("far", 1935, True, _resolver("10.0.0.1")), "10.0.0.1")

    def test_unresolvable_target_refused(self) -> None:
        """A host that does not resolve is refused with the resolver's error."""

        def fail(*args: Any) -> Any:
            raise socket.gaierror(-2, "Name or service not known")

        self.assertRaises(TargetRefused, resolve_target, "nowhere.invalid", 1935, False, fail)

    def test_main_refuses_remote(self) -> None:
        """The program exits 2 before connecting when the target is remote."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as caught:
            bench.main(["rtmp-play", "rtmp://192.0.2.1/live/s", "-n", "1"])
        self.assertEqual(caught.exception.code, 2)
        self.assertIn("refused", err.getvalue())
        self.assertIn("192.0.2.1", err.getvalue())

    def test_plan_rtmp(self) -> None:
        """The URL's query goes on the tcUrl, not the stream name (srs-librtmp)."""
        options = parse_args(["rtmp-play", "rtmp://localhost:1936/live/s{i}?token=1"])
        plan = plan_run(options, _resolver("127.0.0.1"))
        self.assertEqual(
            (plan.address, plan.port, plan.tc_url, plan.app, plan.stream),
            ("127.0.0.1", 1936, "rtmp://localhost:1936/live?token=1", "live", "s{i}"),
        )

    def test_plan_errors(self) -> None:
        """A URL without a stream or with a bad port is a usage error."""
        for url in (
            "rtmp://127.0.0.1/live",
            "rtmp://127.0.0.1:x/live/s",
            "rtmp://127.0.0.1:0/live/s",
        ):
            with self.assertRaises(ValueError):
                plan_run(parse_args(["rtmp-play", url]), _resolver("127.0.0.1"))

    def test_plan_http(self) -> None:
        """HTTP URLs keep their path and query."""
        plan = plan_run(parse_args(["hls-play", "http://127.0.0.1:8080/live/s.m3u8?a=1"]))
        self.assertEqual((plan.port, plan.stream), (8080, "/live/s.m3u8?a=1"))

    def test_stream_names(self) -> None:
        """{i} is replaced; publishers get -i when N > 1; players share the stream."""
        self.assertEqual(stream_for("s{i}", 7, 10, "rtmp-play"), "s7")
        self.assertEqual(stream_for("s", 7, 10, "rtmp-publish"), "s-7")
        self.assertEqual(stream_for("s", 0, 1, "rtmp-publish"), "s")
        self.assertEqual(stream_for("s", 7, 10, "rtmp-play"), "s")

    def test_worker_command_line(self) -> None:
        """A worker's command line parses back to the same options plus its index."""
        options = parse_args(
            ["rtmp-publish", "rtmp://127.0.0.1/live/s", "-n", "9", "-r", "12.5", "-d", "3",
             "--workers", "3", "--timeout", "4", "-i", "x.flv", "--allow-remote"]
        )  # fmt: skip
        argv = worker_argv(options, 2)
        self.assertEqual(argv[:3], [sys.executable, "-m", "srstwist.tools.bench"])
        again = parse_args(argv[3:])
        self.assertEqual(again.worker, 2)
        self.assertEqual(again.input, os.path.abspath("x.flv"))
        self.assertEqual(
            (again.n, again.rate, again.duration, again.workers, again.timeout, again.allow_remote),
            (9, 12.5, 3.0, 3, 4.0, True),
        )
        self.assertEqual(list(bench.indices_of(2, 3, 9)), [2, 5, 8])


# -- the fast scanner -------------------------------------------------------------------


def _server_stream() -> bytes:
    """
    A chunk stream as a server might send it: Set Chunk Size, commands, and
    media in fmt 0, fmt 1 and fmt 3 headers, interleaved chunks, extended
    timestamps with and without repetition, a zero-length message and a
    Window Acknowledgement Size.
    """
    out: list[bytes] = []
    out += encode_chunks(0, 1, 0, SetChunkSize(4096).encode(), 128, 2)
    out += encode_chunks(0, 5, 0, WindowAcknowledgementSize(2_500_000).encode(), 4096, 2)
    out += encode_chunks(0, 20, 0, b"\x02\x00\x07_result" + bytes(300), 4096, 3)
    out += encode_chunks(0, 18, 1, b"", 4096, 4)
    last: dict[int, int] = {}
    media = [m for m in captured_media() if m.message_type_id in (8, 9)][:80]
    held: list[bytes] = []
    for n, m in enumerate(media):
        csid = 6 if m.message_type_id == 9 else 7
        if csid in last and n % 3:
            pieces = encode_chunks_delta(
                m.timestamp - last[csid], m.message_type_id, m.payload, 4096, csid
            )
        else:
            pieces = encode_chunks(m.timestamp, m.message_type_id, 1, m.payload, 4096, csid)
        last[csid] = m.timestamp
        if csid == 7 and held:
            # Audio chunks between the chunks of a large video message.
            out += held[:2] + pieces + held[2:]
            held = []
        elif len(pieces) > 2 and not held:
            held = pieces
        else:
            out += pieces
    out += held
    big = bytes(range(256)) * 40
    out += encode_chunks(0x1000000, 9, 1, b"\x27\x01" + big, 4096, 6)
    # FFmpeg-style: the extended timestamp is not repeated on fmt 3.
    pieces = encode_chunks(0x1000040, 9, 1, b"\x27\x01" + big, 4096, 6)
    out += [p if i == 0 or i % 2 else p[:1] for i, p in enumerate(pieces)]
    out += encode_chunks(50, 1, 0, SetChunkSize(128).encode(), 4096, 2)
    out += encode_chunks(0x1000080, 8, 1, b"\xaf\x01" + bytes(300), 128, 7)
    return b"".join(out)


_STREAM = _server_stream()


def _reference(data: bytes) -> tuple[list[tuple[int, ...]], list[tuple[Any, ...]]]:
    media: list[tuple[int, ...]] = []
    other: list[tuple[Any, ...]] = []
    for m in ChunkDecoder().receive_data(data):
        if m.message_type_id in (8, 9):
            p = m.payload
            media.append((m.message_type_id, m.timestamp, len(p), p[0], p[1] if len(p) > 1 else -1))
        else:
            other.append(
                (m.timestamp, m.message_type_id, m.message_stream_id, m.chunk_stream_id, m.payload)
            )
    return media, other


_REFERENCE = _reference(_STREAM)


class _LoggingTally(MediaTally):
    __slots__ = ("log",)

    def __init__(self) -> None:
        super().__init__(Clock().seconds)
        self.log: list[tuple[int, ...]] = []

    def add(self, *args: int) -> None:
        self.log.append(args)
        super().add(*args)


def _scan(pieces: list[bytes]) -> tuple[list[tuple[int, ...]], list[tuple[Any, ...]]]:
    tally = _LoggingTally()
    other: list[tuple[Any, ...]] = []
    scanner = ChunkScanner(tally, lambda *message: other.append(message))
    for piece in pieces:
        scanner.receive_data(piece)
    return tally.log, other


class ChunkScannerTests(SynchronousTestCase):
    """The fast path reads what ChunkDecoder reads."""

    def test_stream_covers_the_cases(self) -> None:
        """The test stream has media, an extended timestamp and reassembled messages."""
        media, other = _REFERENCE
        self.assertGreater(len(media), 80)
        self.assertIn(0x1000040, [m[1] for m in media])
        self.assertEqual([o[1] for o in other], [1, 5, 20, 1])

    def test_whole(self) -> None:
        """Fed at once, the scanner reports the decoder's media and other messages."""
        self.assertEqual(_scan([_STREAM]), _REFERENCE)

    def test_byte_by_byte(self) -> None:
        """Fed a byte at a time, it reports the same."""
        self.assertEqual(_scan([_STREAM[i : i + 1] for i in range(len(_STREAM))]), _REFERENCE)

    @given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=40))
    def test_any_split(self, cuts: list[int]) -> None:
        """Any re-split of the input gives the same result."""
        points = [0, *sorted(cuts), len(_STREAM)]
        self.assertEqual(
            _scan([_STREAM[a:b] for a, b in zip(points, points[1:], strict=False)]), _REFERENCE
        )

    def test_errors(self) -> None:
        """Malformed chunk streams raise ChunkError, and the scanner stays closed."""
        for data in (
            b"\xc5\x00",  # fmt 3 on a new chunk stream
            b"\x46" + bytes(7),  # fmt 1 on a new chunk stream other than 2
            b"\x05\x00\x00\x00\xff\xff\xff\x09\x01\x00\x00\x00",  # 16 MiB message
            b"".join(encode_chunks(0, 1, 0, b"\x00\x00\x00\x10", 128, 2)),  # chunk size 16
        ):
            scanner = ChunkScanner(MediaTally(Clock().seconds), lambda *m: None)
            self.assertRaises(ChunkError, scanner.receive_data, data)
            self.assertRaises(ChunkError, scanner.receive_data, b"")

    def test_fmt0_inside_a_message(self) -> None:
        """A fmt-0 header while a message is pending on its chunk stream is an error."""
        first = encode_chunks(0, 9, 1, bytes(300), 128, 6)
        scanner = ChunkScanner(MediaTally(Clock().seconds), lambda *m: None)
        scanner.receive_data(first[0] + first[1])
        self.assertRaises(ChunkError, scanner.receive_data, first[0])


# -- HTTP readers ----------------------------------------------------------------------


def _flv_body(messages: list[RawMessage]) -> bytes:
    out = [flv_header()]
    for m in messages:
        out += encode_tag(m.message_type_id, m.timestamp, m.payload)
    return b"".join(out)


class HttpReaderTests(SynchronousTestCase):
    """The HTTP response reader, the FLV scanner and the playlist parser."""

    def _read(self, response: bytes, step: int) -> tuple[HttpResponseReader, bytes, bytes]:
        body: list[bytes] = []
        heads: list[int] = []
        reader = HttpResponseReader(lambda status, headers: heads.append(status), body.append)
        rest = b""
        for i in range(0, len(response), step):
            rest += reader.receive_data(response[i : i + step])
        self.assertEqual(heads, [reader.status])
        return reader, b"".join(body), rest

    def test_flv_count_only(self) -> None:
        """
        An HTTP-FLV client with count_only stops parsing after its first key
        frame but keeps counting bytes; a parsing client counts every tag.
        """
        from twisted.internet.testing import StringTransport

        body = _flv_body(captured_media())
        response = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n" + body
        clients = []
        for count_only in (False, True):
            client = HttpFlvClient(0, "/live/s.flv", "127.0.0.1", 80, Clock(), 5.0, count_only=count_only)
            client.start(lambda c: None)
            client.makeConnection(StringTransport())
            for i in range(0, len(response), 4096):
                client.dataReceived(response[i : i + 4096])
            clients.append(client)
        parsed, counted = clients
        self.assertEqual(parsed.result.bytes, counted.result.bytes)
        self.assertFalse(parsed.result.counted_only)
        self.assertTrue(counted.result.counted_only)
        self.assertIsNotNone(counted.tally.first_keyframe_at)
        self.assertLess(counted.tally.messages, parsed.tally.messages)

    def test_content_length(self) -> None:
        """A Content-Length body completes and leaves what follows."""
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloNEXT"
        for step in (1, 3, len(response)):
            reader, body, rest = self._read(response, step)
            self.assertEqual((reader.status, body, reader.complete), (200, b"hello", True))
            self.assertEqual(reader.headers["x-a"], "b")
            self.assertEqual(rest, b"NEXT")

    def test_chunked(self) -> None:
        """A chunked body is de-chunked, split anywhere."""
        response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
        for step in (1, 2, 7, len(response)):
            reader, body, _ = self._read(response, step)
            self.assertEqual((body, reader.complete), (b"hello!", True))

    def test_until_close(self) -> None:
        """Without a length the body runs until the connection closes."""
        reader, body, _ = self._read(b"HTTP/1.0 404 Not Found\r\n\r\nnothing", 4)
        self.assertEqual((reader.status, body, reader.complete), (404, b"nothing", False))

    def test_bad_responses(self) -> None:
        """A bad status line or chunk size raises HttpError."""
        for response in (
            b"SSH-2.0-x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ):
            reader = HttpResponseReader(lambda s, h: None, lambda b: None)
            self.assertRaises(HttpError, reader.receive_data, response)

    def test_flv_scanner(self) -> None:
        """The FLV scanner counts every audio and video tag, split anywhere."""
        messages = captured_media()
        body = _flv_body(messages)
        av = [m for m in messages if m.message_type_id in (8, 9)]
        for seed in range(5):
            tally = MediaTally(Clock().seconds)
            scanner = FlvScanner(tally)
            rng = random.Random(seed)
            pos = 0
            while pos < len(body):
                step = rng.choice([1, 5, 11, 100, 5000])
                scanner.receive_data(body[pos : pos + step])
                pos += step
            self.assertEqual(tally.messages, len(av))
            self.assertEqual(tally.media_bytes, sum(len(m.payload) for m in av))
            self.assertEqual(tally.span_ms, max(m.timestamp for m in av))
        self.assertRaises(
            HttpError, FlvScanner(MediaTally(Clock().seconds)).receive_data, b"GIF89a" + bytes(20)
        )

    def test_playlists(self) -> None:
        """Media and master playlists are taken apart; others refused."""
        media = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:9.8,\ns-7.ts\n#EXTINF:10.0,\ns-8.ts\n"
        self.assertEqual(
            parse_playlist(media), (None, 10.0, 7, [(9.8, "s-7.ts"), (10.0, "s-8.ts")], False)
        )
        master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlive/s.m3u8\n"
        self.assertEqual(parse_playlist(master)[0], "live/s.m3u8")
        self.assertTrue(parse_playlist(media + "#EXT-X-ENDLIST\n")[4])
        self.assertRaises(HttpError, parse_playlist, "<html>")


class _OneShotServer:
    """A blocking TCP server on 127.0.0.1 that answers one request, in a thread."""

    def __init__(self, answer: bytes) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(1)
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(answer,), daemon=True)
        self.thread.start()

    def _serve(self, answer: bytes) -> None:
        connection, _ = self.socket.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(answer)

    def close(self) -> None:
        self.thread.join(5)
        self.socket.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProbeTests(SynchronousTestCase):
    """The HTTP modes skip when the server has no such output."""

    def test_refused(self) -> None:
        """Connection refused is a skip."""
        reason = probe_blocking("127.0.0.1", _closed_port(), "127.0.0.1", "/live/s.flv", 2)
        self.assertIn("connection refused", reason or "")

    def test_not_found(self) -> None:
        """404 is a skip."""
        server = _OneShotServer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        self.addCleanup(server.close)
        reason = probe_blocking("127.0.0.1", server.port, "localhost", "/live/s{i}.m3u8", 2)
        self.assertIn("/live/s0.m3u8 answers 404", reason or "")

    def test_found(self) -> None:
        """200 is no skip."""
        server = _OneShotServer(b"HTTP/1.1 200 OK\r\n\r\nFLV")
        self.addCleanup(server.close)
        self.assertIsNone(probe_blocking("127.0.0.1", server.port, "localhost", "/live/s.flv", 2))

    def test_main_prints_skipped(self) -> None:
        """srs-bench http-flv-play prints 'skipped: <reason>' and exits 0."""
        out = io.StringIO()
        url = f"http://127.0.0.1:{_closed_port()}/live/s.flv"
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as caught:
            bench.main(["http-flv-play", url, "-n", "5"])
        self.assertEqual(caught.exception.code, 0)
        self.assertTrue(out.getvalue().startswith("skipped: connection refused"), out.getvalue())


# -- the runner ---------------------------------------------------------------------------


class _Idle(BenchClient):
    """A client whose connection never comes."""


class RunnerTests(SynchronousTestCase):
    """The schedule, the deadlines and the end of a run, on a Clock."""

    def _start_run(
        self,
        connect: Any,
        indices: range,
        total: int,
        rate: float = 10.0,
        hold: float = 1.0,
        timeout: float = 5.0,
    ) -> tuple[Clock, Runner, list[list[ClientResult]]]:
        clock = Clock()
        runner = Runner(
            clock,
            connect,
            lambda i: _Idle(i, "s", clock, timeout),
            indices,
            total=total,
            rate=rate,
            hold=hold,
        )
        results: list[list[ClientResult]] = []
        runner.run().addCallback(results.append)
        return clock, runner, results

    def test_schedule(self) -> None:
        """Client i starts at i/rate; the run ends hold seconds after the last start."""
        clock = Clock()
        started: list[tuple[int, float]] = []

        def connect(client: BenchClient) -> None:
            started.append((client.result.index, clock.seconds()))

        runner = Runner(
            clock,
            connect,
            lambda i: _Idle(i, "s", clock, 100),
            range(1, 10, 3),
            total=10,
            rate=10,
            hold=2,
        )
        results: list[list[ClientResult]] = []
        runner.run().addCallback(results.append)
        for _ in range(300):
            clock.advance(0.01)
        self.assertEqual([i for i, _ in started], [1, 4, 7])
        for i, at in started:
            # The ramp ticks every 50 ms at most.
            self.assertTrue(i / 10 <= at <= i / 10 + 0.051, (i, at))
        self.assertAlmostEqual(runner.end_time, 0.9 + 2)
        self.assertEqual(len(results), 1)
        self.assertEqual([r.reason for r in results[0]], ["no media"] * 3)

    def test_refused(self) -> None:
        """A refused connection is reported as refused, and the run ends early."""

        def connect(client: BenchClient) -> None:
            client.connect_failed(Failure(error.ConnectionRefusedError()))

        clock, runner, results = self._start_run(connect, range(3), 3, hold=60)
        clock.advance(0.1)
        clock.advance(0.1)
        clock.advance(0.1)
        clock.advance(0)
        self.assertEqual([r.reason for r in results[0]], ["refused"] * 3)
        self.assertLess(runner.ended_at, 1)

    def test_connect_timeout(self) -> None:
        """A connection that never completes fails after the timeout."""
        disconnected: list[int] = []

        class Connector:
            def disconnect(self) -> None:
                disconnected.append(1)

        clock, runner, results = self._start_run(
            lambda client: Connector(), range(2), 2, hold=60, timeout=2
        )
        for _ in range(40):
            clock.advance(0.1)
        self.assertEqual([r.reason for r in results[0]], ["connect timeout"] * 2)
        self.assertEqual(disconnected, [1, 1])

    def test_interrupt(self) -> None:
        """finish(interrupted) ends the run with the clients started so far."""
        clock, runner, results = self._start_run(lambda client: None, range(100), 100, rate=10)
        clock.advance(0.45)
        runner.finish(interrupted=True)
        self.assertTrue(runner.interrupted)
        clock.advance(5)
        self.assertEqual(len(results[0]), 5)
        self.assertEqual(runner.planned, 100)


# -- in memory against the server -------------------------------------------------------


class _Feed:
    """A ScriptedClient publisher sending the captured media on the Clock."""

    def __init__(self, harness: Harness, stream: str = "b") -> None:
        self.harness = harness
        self.publisher = ScriptedClient("rtmp://127.0.0.1/live", stream, "publish")
        harness.connect(self.publisher)
        self.media = captured_media()
        self.span = 4000
        self.sent = 0
        self.start = harness.clock.seconds()
        self.stopped = False

    def step(self, seconds: float = 0.01) -> None:
        now_ms = (self.harness.clock.seconds() - self.start) * 1000
        while not self.stopped:
            loop, k = divmod(self.sent, len(self.media))
            m = self.media[k]
            if loop and m.message_type_id == 18:
                self.sent += 1
                continue
            timestamp = m.timestamp + loop * self.span
            if timestamp > now_ms:
                break
            self.publisher.send(
                RawMessage(timestamp, m.message_type_id, 0, m.chunk_stream_id, m.payload)
            )
            self.sent += 1
        self.harness.clock.advance(seconds)
        self.harness.flush()


def _run_players(
    fast: bool, n: int = 20, sample: int | None = None, stall: int = 0
) -> list[ClientResult]:
    harness = Harness()
    feed = _Feed(harness)
    for _ in range(100):
        feed.step()
    clock = harness.clock
    runner = Runner(
        clock,
        lambda client: harness.connect(client) and None,
        lambda i: RtmpPlayClient(
            i,
            "b",
            TARGET,
            clock,
            5.0,
            fast=fast,
            count_only=sample is not None and i >= sample,
            stall=i >= n - stall,
        ),
        range(n),
        total=n,
        rate=100,
        hold=2.0,
    )
    results: list[list[ClientResult]] = []
    runner.run().addCallback(results.append)
    for _ in range(1000):
        if results:
            break
        feed.step()
    assert results, "the run did not end"
    return results[0]


class InMemoryTests(SynchronousTestCase):
    """Bench clients against the real RTMP server protocol, in memory."""

    def test_twenty_players(self) -> None:
        """20 fast-path players all end ok with sane figures."""
        results = _run_players(fast=True)
        report = build_report(results, mode="rtmp-play", url="u", planned=20, wall_s=2.2, cpu=[])
        self.assertEqual(
            (report["n"], report["ok"], report["failed"]), (20, 20, 0), report["failures"]
        )
        for r in results:
            self.assertGreater(r.messages, 50)
            assert r.start_ms is not None and r.first_video_ms is not None
            assert r.first_keyframe_ms is not None
            self.assertLessEqual(r.first_video_ms, r.first_keyframe_ms)
        # The captured stream is about 1 Mbit/s; a 2 s hold includes the
        # GOP cache burst.
        self.assertTrue(700 < report["kbps"]["med"] < 2000, report["kbps"])
        self.assertTrue(0.9 <= report["rt"]["med"] < 2.0, report["rt"])
        self.assertTrue(0 <= report["first_video_ms"]["p95"] < 1000, report["first_video_ms"])
        self.assertEqual(report["connect_ms"]["max"], 0)

    def test_fast_path_matches_full_session(self) -> None:
        """The fast path's figures equal the full session's, client by client."""
        fast = _run_players(fast=True, n=5)
        full = _run_players(fast=False, n=5)
        self.assertEqual([r.to_dict() for r in fast], [r.to_dict() for r in full])

    def test_sampled(self) -> None:
        """
        With a sample, the other clients count bytes past their first key
        frame: same bytes and start times as parsing clients, no rt.
        """
        results = _run_players(fast=True, n=6, sample=2)
        parsed, counted = results[:2], results[2:]
        self.assertTrue(all(r.ok for r in results), [r.reason for r in results])
        self.assertEqual([r.counted_only for r in results], [False] * 2 + [True] * 4)
        for r in counted:
            self.assertIsNone(r.rt)
            self.assertIsNotNone(r.first_keyframe_ms)
            self.assertLess(r.messages, parsed[0].messages)
            self.assertGreater(r.bytes, parsed[0].bytes * 0.9)
        report = build_report(results, mode="rtmp-play", url="u", planned=6, wall_s=2.2, cpu=[])
        self.assertEqual(report["ok"], 6)
        self.assertIsNotNone(report["rt"]["med"])

    def test_stalled_readers(self) -> None:
        """
        Clients that stop reading on purpose do not fail as stalled and are
        reported apart; the others are unaffected.
        """
        results = _run_players(fast=True, n=5, stall=2)
        self.assertEqual([r.reader_stalled for r in results], [False] * 3 + [True] * 2)
        report = build_report(results, mode="rtmp-play", url="u", planned=5, wall_s=2.2, cpu=[])
        self.assertEqual((report["n"], report["ok"], report["failed"]), (3, 3, 0))
        self.assertEqual(report["stalled_readers"], {"n": 2, "ok": 2})
        self.assertLess(results[3].messages, results[0].messages)

    def _player(self, harness: Harness, stream: str, fast: bool = True) -> RtmpPlayClient:
        client = RtmpPlayClient(0, stream, TARGET, harness.clock, 2.0, fast=fast)
        client.start(lambda c: harness.connect(c) and None)
        return client

    def test_stall(self) -> None:
        """A player that receives nothing for the timeout fails as stalled."""
        harness = Harness()
        feed = _Feed(harness)
        player = self._player(harness, "b")
        for _ in range(100):
            feed.step()
        self.assertEqual(player.phase, "streaming")
        feed.stopped = True
        for _ in range(300):
            feed.step()
            player.check(harness.clock.seconds())
        self.assertEqual(player.result.reason, "stalled")

    def test_play_timeout(self) -> None:
        """A player of a stream nobody publishes fails as play timeout."""
        harness = Harness()
        player = self._player(harness, "nobody")
        for _ in range(30):
            harness.clock.advance(0.1)
            harness.flush()
            player.check(harness.clock.seconds())
        self.assertEqual(player.result.reason, "play timeout")
        self.assertIsNotNone(player.result.start_ms)

    def test_closed_early(self) -> None:
        """The server closing the connection mid-stream is 'closed early'."""
        harness = Harness()
        feed = _Feed(harness)
        player = self._player(harness, "b")
        for _ in range(50):
            feed.step()
        player.transport.loseConnection()  # type: ignore[union-attr]
        feed.step()
        self.assertEqual(player.result.reason, "closed early")

    def test_protocol_error(self) -> None:
        """A broken chunk stream after the handshake is a protocol error, in both paths."""
        from twisted.internet.testing import StringTransport

        s0s1s2 = b"\x03" + bytes(1536 * 2)
        for fast in (True, False):
            player = RtmpPlayClient(0, "b", TARGET, Clock(), 2.0, fast=fast)
            player.start(lambda c: None)
            player.makeConnection(StringTransport())
            player.dataReceived(s0s1s2 + b"\xc5\x00\x00")
            self.assertEqual(player.result.reason, "protocol error", fast)

    def test_publishers(self) -> None:
        """Bench publishers publish an FLV file in real time, looped; players get it."""
        harness = Harness()
        clock = harness.clock
        source = FlvSource(_flv_body(captured_media()))
        last = max(m.timestamp for m in captured_media())
        self.assertTrue(last < source.span_ms <= last + 40, source.span_ms)
        runner = Runner(
            clock,
            lambda client: harness.connect(client) and None,
            lambda i: RtmpPublishClient(
                i, stream_for("p", i, 2, "rtmp-publish"), TARGET, clock, 5.0, source
            ),
            range(2),
            total=2,
            rate=100,
            hold=6.0,
            pace=pace_publishers,
        )
        results: list[list[ClientResult]] = []
        runner.run().addCallback(results.append)
        clock.advance(0.1)
        harness.flush()
        player = ScriptedClient("rtmp://127.0.0.1/live", "p-1", "play")
        harness.connect(player)
        for _ in range(800):
            if results:
                break
            clock.advance(0.01)
            harness.flush()
        self.assertTrue(results)
        report = build_report(results[0], mode="rtmp-publish", url="u", planned=2, wall_s=6, cpu=[])
        self.assertEqual(report["ok"], 2, report["failures"])
        self.assertEqual([r.stream for r in results[0]], ["p-0", "p-1"])
        for r in results[0]:
            # Six seconds of a 4 s file: it looped, in real time.
            self.assertTrue(5500 < r.span_ms < 6100, r.span_ms)
            self.assertTrue(0.95 < r.rt < 1.05, r.rt)  # type: ignore[operator]
        self.assertGreater(len([m for m in player.media() if m.kind.value == "video"]), 100)


class _FlvResource(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []

    def render_GET(self, request: Any) -> Any:
        request.setHeader(b"content-type", b"video/x-flv")
        request.write(flv_header())
        self.requests.append(request)
        return NOT_DONE_YET


def _http_connect(site: Site, client: BenchClient, clock: Clock, pumps: list[iosim.IOPump]) -> None:
    server = site.buildProtocol(None)
    pump = iosim.connect(
        server, iosim.FakeTransport(server, isServer=True), client,
        iosim.FakeTransport(client, isServer=False), greet=False, clock=clock,
    )  # fmt: skip
    pumps.append(pump)


class HttpClientTests(SynchronousTestCase):
    """The HTTP-FLV and HLS players against twisted.web, in memory."""

    def test_http_flv(self) -> None:
        """An HTTP-FLV player counts the tags the server streams."""
        clock = Clock()
        resource = _FlvResource()
        site = Site(resource, reactor=clock)
        pumps: list[iosim.IOPump] = []
        client = HttpFlvClient(0, "/live/s.flv", "127.0.0.1", 8080, clock, 5.0)
        client.start(lambda c: _http_connect(site, c, clock, pumps))
        pumps[0].flush()
        self.assertEqual(len(resource.requests), 1)
        av = [m for m in captured_media() if m.message_type_id in (8, 9)]
        for m in av:
            resource.requests[0].write(
                b"".join(encode_tag(m.message_type_id, m.timestamp, m.payload))
            )
        pumps[0].flush()
        self.assertEqual(client.tally.messages, len(av))
        self.assertEqual(client.phase, "streaming")
        client.finish()
        pumps[0].flush()
        self.assertTrue(client.result.ok)
        self.assertEqual(client.result.span_ms, max(m.timestamp for m in av))

    def test_http_404(self) -> None:
        """A status other than 200 fails the client as an HTTP error."""
        clock = Clock()
        site = Site(Resource(), reactor=clock)
        pumps: list[iosim.IOPump] = []
        client = HttpFlvClient(0, "/live/none.flv", "127.0.0.1", 8080, clock, 5.0)
        client.start(lambda c: _http_connect(site, c, clock, pumps))
        pumps[0].flush()
        self.assertEqual(client.result.reason, "http error")
        self.assertIn("404", client.result.detail)

    def test_hls_live(self) -> None:
        """An HLS player starts at the newest segment and follows the playlist."""
        clock = Clock()
        root = Resource()
        live = Resource()
        root.putChild(b"live", live)

        def playlist(first: int, count: int) -> bytes:
            lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
            for i in range(first, first + count):
                lines += ["#EXTINF:2.0,", f"s-{i}.ts"]
            return ("\n".join(lines) + "\n").encode()

        live.putChild(b"s.m3u8", Data(playlist(0, 3), "application/vnd.apple.mpegurl"))
        for i in range(5):
            live.putChild(f"s-{i}.ts".encode(), Data(bytes(1000 + i), "video/mp2t"))
        site = Site(root, reactor=clock)
        pumps: list[iosim.IOPump] = []
        client = HlsClient(0, "/live/s.m3u8", "127.0.0.1", 8080, clock, 5.0)
        client.start(lambda c: _http_connect(site, c, clock, pumps))
        pumps[0].flush()
        self.assertEqual(client.tally.messages, 1)  # s-2.ts, the newest
        self.assertEqual(client.tally.media_bytes, 1002)
        live.putChild(b"s.m3u8", Data(playlist(1, 3), "application/vnd.apple.mpegurl"))
        for _ in range(15):
            clock.advance(0.1)
            pumps[0].flush()
        self.assertEqual(client.tally.messages, 2)
        self.assertEqual(client.tally.media_bytes, 1002 + 1003)
        self.assertEqual(client.tally.span_ms, 4000)
        client.finish()
        pumps[0].flush()
        self.assertTrue(client.result.ok)


# -- the real program on loopback -----------------------------------------------------------


class LoopbackTests(TestCase):
    """
    srs-bench as a child process against ``twistd -n srs`` and an ffmpeg
    publisher, all on 127.0.0.1.
    """

    timeout = 90

    @defer.inlineCallbacks
    def test_rtmp_play(self) -> Any:
        """20 players of an ffmpeg stream all end ok, in about real time."""
        from tests.integration.process import REPO, Child, free_port, srs_command

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        port = free_port()
        with open(os.path.join(directory, "srs.conf"), "w") as f:
            f.write(
                f"listen 127.0.0.1:{port};\ndaemon off;\nsrs_log_tank console;\n"
                "pid ./objs/srs.pid;\nvhost __defaultVhost__ { }\n"
            )
        server = Child.spawn(srs_command("-n", "srs", "-c", "srs.conf"), cwd=directory)
        self.addCleanup(server.kill_if_running)
        yield server.wait_for(f"listen rtmp at tcp:port={port}")
        url = f"rtmp://127.0.0.1:{port}/live/b"
        ffmpeg = Child.spawn(
            ["timeout", "-k", "2", "30", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
             "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
             "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac",
             "-f", "flv", url],
            cwd=directory,
        )  # fmt: skip
        self.addCleanup(ffmpeg.kill_if_running)
        yield server.wait_for("publish __defaultVhost__/live/b", timeout=15)
        tester = Child.spawn(
            [
                sys.executable,
                "-m",
                "srstwist.tools.bench",
                "rtmp-play",
                url,
                "-n",
                "20",
                "-d",
                "3",
                "--json",
            ],
            cwd=REPO,
        )
        self.addCleanup(tester.kill_if_running)
        code, _ = yield tester.ended
        lines = [line for line in tester.output.splitlines() if line.startswith("{")]
        self.assertEqual((code, len(lines)), (0, 1), tester.output)
        report = json.loads(lines[0])
        self.assertEqual(
            (report["n"], report["ok"], report["failed"]), (20, 20, 0), report["failures"]
        )
        self.assertGreaterEqual(report["rt"]["med"], 0.9)
        self.assertGreater(report["kbps"]["p5"], 0)
        self.assertIsNotNone(report["first_keyframe_ms"]["med"])
        self.assertTrue(report["summary"].startswith("n=20 ok=20 failed=0 kbps_med="))
        self.assertNotIn("Traceback", server.output)
