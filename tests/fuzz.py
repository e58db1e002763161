"""
A long, coverage-guided fuzz of every parser srstwist exposes to the network
or to its operator; not part of the suite (trial only collects ``test_*``).

Run it with a time budget in seconds, shared equally between the targets::

    SRSTWIST_FUZZ=600 .venv/bin/python tests/fuzz.py            # every target
    SRSTWIST_FUZZ=60 .venv/bin/python tests/fuzz.py chunk amf0  # some of them
    .venv/bin/python tests/fuzz.py --list

Each target runs in a child process of its own (``tests/fuzz.py --target
NAME CORPUS``) under atheris (``pip install '.[fuzz]'``), which is
libFuzzer driving instrumented Python; without atheris the child falls back
to a plain random mutator of the same seeds, with no coverage guidance.
The seeds are the real captures in ``tests/data`` and a few hand-made
inputs.  The child is bounded by libFuzzer's ``-max_total_time``,
``-timeout`` (one input may take at most 10 s, so a quadratic path is a
finding) and ``-rss_limit_mb`` (memory stays bounded); the parent kills it
by its PID if it outlives its share by two minutes.

The property of every target: only the codec's own documented exception
class escapes (``ChunkError``, ``Amf0Error``, ``HandshakeError``,
``RtmpError``, ``FlvError``, ``TsError``/``AvcError``/``AacError``,
``ConfigError``), never ``IndexError``, ``struct.error``,
``RecursionError``, ``MemoryError`` or anything else, and the decoders'
buffers stay within their documented bounds.  The HTTP API must never
answer 500 or log a failure, and must not leak timers.  A finding is kept
as a file in the artifacts directory the script prints, and the script
exits with status 1; replay it with ``tests/fuzz.py --target NAME FILE``.

The short, derandomized version of the same properties runs in the suite
(the hypothesis tests in ``tests/test_codec_*.py``; ``SRSTWIST_FUZZ=1``
randomizes them, see ``tests/__init__.py`` and docs/testing.md).
"""

from __future__ import annotations

import glob
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_TESTS = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_TESTS)
_DATA = os.path.join(_TESTS, "data")
# Run as a script, tests/ is sys.path[0]; the package under test is the
# working tree's.
if _TESTS in sys.path:
    sys.path.remove(_TESTS)
sys.path.insert(0, _REPO)

try:
    import atheris  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None


@contextmanager
def _instrumented() -> Iterator[None]:
    """Instrument srstwist's modules for coverage in a child, when atheris is there."""
    if atheris is None or "--target" not in sys.argv:
        yield
    else:
        with atheris.instrument_imports(include=["srstwist"]):
            yield


with _instrumented():
    from srstwist.codec import amf0, chunk, control, flv, handshake, rtmp, ts, ts_es
    from srstwist.codec.aac import AacError
    from srstwist.codec.avc import AvcError
    from srstwist.codec.rtmp_events import (
        Call,
        Connect,
        CreateStream,
        DeleteStream,
        FCPublish,
        FCUnpublish,
        GetStreamLength,
        Pause,
        Play,
        Publish,
        ReleaseStream,
    )
    from srstwist.config.loader import load_config_text
    from srstwist.config.parser import ConfigError, parse
    from srstwist.services.sysinfo import SystemSampler
    from srstwist.stream.stats import CLIENT_FMLE_PUBLISH, CLIENT_PLAY, Statistics
    from srstwist.web.api import HttpApi

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

_EPOCH = 1_700_000_000


class Finding(AssertionError):
    """A property of a target does not hold for this input."""


def _pieces(data: bytes) -> Iterator[bytes]:
    """
    The input after its first byte, whole or (when that byte's high bit is
    set) in pieces of ``(byte & 0x7f) + 1`` bytes: decoders must give the
    same answer however their input is split, and the splits reach states
    a whole feed does not.
    """
    if not data:
        return
    head, rest = data[0], data[1:]
    if head & 0x80:
        size = (head & 0x7F) + 1
        for start in range(0, len(rest), size):
            yield rest[start : start + size]
    else:
        yield rest


# -- targets -----------------------------------------------------------------


def fuzz_chunk(data: bytes) -> None:
    """ChunkDecoder, then every control message it returns."""
    decoder = chunk.ChunkDecoder(honour_abort=bool(data[:1]) and data[0] & 0x40 != 0)
    try:
        for piece in _pieces(data):
            for message in decoder.receive_data(piece):
                if 1 <= message.message_type_id <= 6:
                    control.decode_control(message.message_type_id, message.payload)
            if decoder.pending_size > chunk.DEFAULT_MAX_PENDING_SIZE:
                raise Finding(f"pending {decoder.pending_size} over the bound")
            if decoder.chunk_stream_count > chunk.DEFAULT_MAX_CHUNK_STREAMS:
                raise Finding(f"{decoder.chunk_stream_count} chunk streams")
    except chunk.ChunkError:
        pass


def fuzz_amf0(data: bytes) -> None:
    """decode_all; whatever decodes encodes again and decodes the same."""
    try:
        values = amf0.decode_all(data)
    except amf0.Amf0Error:
        return
    again = amf0.decode_all(amf0.encode_values(*values))
    if repr(again) != repr(values):
        raise Finding(f"round trip changed {values!r} into {again!r}")


def _rng_bytes(size: int) -> bytes:
    """The handshakes' "random" bytes: zeros, so that a finding replays exactly."""
    return bytes(size)


def fuzz_handshake(data: bytes) -> None:
    """ServerHandshake on the input; ClientHandshake on the same input as S0S1S2."""
    for side in (
        handshake.ServerHandshake(_rng_bytes, _EPOCH, allow_complex=bool(data[:1]) and data[0] & 1 == 1),
        handshake.ClientHandshake(_rng_bytes, _EPOCH),
    ):
        try:
            side.data_to_send()
            for piece in _pieces(data):
                side.receive_data(piece)
                side.data_to_send()
                if side.buffered > 2 * 1537:
                    raise Finding(f"handshake holds {side.buffered} bytes")
        except handshake.HandshakeError:
            pass


def _capture_handshake() -> bytes:
    """C0C1 and C2 from ffmpeg's captured publish session."""
    with open(os.path.join(_DATA, "rtmp", "ffmpeg-publish.bin"), "rb") as f:
        return f.read(1537 + 1536)


_HANDSHAKE = _capture_handshake()
_ANSWERS: dict[type, str] = {
    Connect: "accept_connect",
    CreateStream: "accept_create_stream",
    Call: "reply_call",
    DeleteStream: "reply_call",
    GetStreamLength: "reply_call",
    ReleaseStream: "reply_release_stream",
    FCPublish: "reply_fc_publish",
    FCUnpublish: "reply_fc_unpublish",
    Publish: "start_publish",
    Play: "start_play",
    Pause: "reply_pause",
}


def fuzz_rtmp(data: bytes) -> None:
    """
    A ServerSession after ffmpeg's real handshake, fed the input as the
    chunk stream; every event that owes an answer gets it, as the server
    does, so that the input can walk the whole state machine.
    """
    session = rtmp.ServerSession(_rng_bytes, _EPOCH)
    session.receive_data(_HANDSHAKE)
    session.data_to_send()
    try:
        for piece in _pieces(data):
            for event in session.receive_data(piece):
                answer = _ANSWERS.get(type(event))
                if answer is not None:
                    getattr(session, answer)(event)
            session.data_to_send()
    except rtmp.RtmpError:
        pass


def fuzz_flv(data: bytes) -> None:
    """FlvTagDecoder, with and without the file header."""
    decoder = flv.FlvTagDecoder(expect_header=not (data[:1] and data[0] & 0x40))
    try:
        for piece in _pieces(data):
            for tag in decoder.receive_data(piece):
                if tag.tag_type == flv.TagType.AUDIO and tag.payload:
                    flv.audio_tag_header(tag.payload)
                elif tag.tag_type == flv.TagType.VIDEO and tag.payload:
                    flv.is_acceptable_video(tag.payload)
                    flv.is_avc_sequence_header(tag.payload)
            if decoder.buffered_size > 64 * 1024 + 11 + 4 * 1024 * 1024:
                raise Finding(f"decoder holds {decoder.buffered_size} bytes")
    except flv.FlvError:
        pass


def _flv_payloads(data: bytes) -> Iterator[tuple[bool, bytes]]:
    """The input as (is_video, payload) records: a flag-and-length byte, then the payload."""
    pos = 0
    while pos < len(data):
        head = data[pos]
        size = head & 0x7F
        if size == 0x7F and pos + 3 <= len(data):
            size = int.from_bytes(data[pos + 1 : pos + 3], "big")
            pos += 2
        yield bool(head & 0x80), data[pos + 1 : pos + 1 + size]
        pos += 1 + size


def fuzz_ts(data: bytes) -> None:
    """
    FLV audio and video payloads through FlvToEs (the AVC and AAC
    sequence-header and NALU parsers) into TsMuxer, as HLS and HTTP-TS do;
    the muxer's output is whole 188-byte packets.
    """
    es = ts_es.FlvToEs(parse_sps=True)
    muxer = ts.TsMuxer()
    muxer.set_program(ts.STREAM_TYPE_H264, ts.STREAM_TYPE_AAC)
    muxer.begin_segment()
    pts = 0
    for is_video, payload in _flv_payloads(data):
        pts += 3600
        try:
            if is_video:
                frame = es.video(payload)
                out = b"" if frame is None else muxer.write_pes(
                    ts.STREAM_TYPE_H264, frame[0], pts + frame[1] * 90, pts, pcr=True
                )
            else:
                audio = es.audio(payload)
                if audio is None or audio[0] != ts.STREAM_TYPE_AAC:
                    continue
                out = muxer.write_pes(audio[0], audio[1], pts)
        except (ts.TsError, AvcError, AacError):
            continue
        if len(out) % 188:
            raise Finding(f"TS output of {len(out)} bytes is not whole packets")


def fuzz_config(data: bytes) -> None:
    """The config parser, then the whole loader (model, checks)."""
    try:
        parse(data)
    except ConfigError:
        return
    try:
        load_config_text(data)
    except ConfigError:
        pass


class _ApiHarness:
    """One HttpApi over a registry with a publisher and a player, served on memory transports."""

    _PROC = {
        "self/stat": "4242 (twistd) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 3 0 "
        "1000 300000000 20000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
        "stat": "cpu  100 0 100 800 0 0 0 0 0 0\n",
        "meminfo": "MemTotal: 1000 kB\nMemFree: 400 kB\n",
        "uptime": "1234.50 2000.25\n",
        "loadavg": "0.50 0.25 0.10 1/78 999\n",
    }

    def __init__(self) -> None:
        self.config = load_config_text(
            "listen 1935; http_api { enabled on; crossdomain on; }\n"
            "vhost __defaultVhost__ { hls { enabled on; } }\n"
        )
        self.clock = Clock()
        self.clock.advance(_EPOCH)
        self.stats = Statistics(first_id=1000)
        now = self.clock.seconds()
        for cid, kind in ((201, CLIENT_FMLE_PUBLISH), (202, CLIENT_PLAY)):
            self.stats.on_client(
                cid, vhost="__defaultVhost__", app="live", stream="livestream",
                ip="192.0.2.10", client_type=kind, now=now,
                tc_url="rtmp://192.0.2.1/live", page_url="", swf_url="",
            )  # fmt: skip
        self.stats.on_publish("__defaultVhost__", "live", "livestream", 201, now)
        sampler = SystemSampler(
            self.clock, read=lambda name: self._PROC.get(name, ""),
            getrusage=lambda: _Rusage, addresses=lambda: [], cpus=(2, 2),
            clock_ticks=100,
        )  # fmt: skip
        sampler.sample()
        self.api = HttpApi(
            self.stats, lambda: self.config, self.clock,
            lambda cid: self.stats.client(cid) is not None,
            start_time=_EPOCH - 10, sampler=sampler,
        )  # fmt: skip
        self.site = self.api.site()
        self.failures: list[str] = []
        globalLogPublisher.addObserver(self._observe)
        self.timers = len(self.clock.getDelayedCalls())

    def _observe(self, event: dict[str, Any]) -> None:
        failure = event.get("log_failure")
        if failure is not None:
            self.failures.append(failure.getTraceback())

    def request(self, raw: bytes) -> bytes:
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(raw)
        channel.connectionLost(Failure(ConnectionError("done")))
        return bytes(transport.value())


class _Rusage:
    ru_utime = 1.5
    ru_stime = 0.5
    ru_maxrss = 250
    ru_ixrss = ru_idrss = ru_isrss = ru_majflt = ru_nswap = ru_minflt = 0
    ru_inblock = ru_oublock = ru_msgsnd = ru_msgrcv = ru_nsignals = 0
    ru_nvcsw = ru_nivcsw = 0


_api: _ApiHarness | None = None
_METHODS = (b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE")
_ROUTES = (
    b"/", b"/api", b"/api/", b"/api/v1", b"/api/v1/", b"/api/v1/versions",
    b"/api/v1/summaries", b"/api/v1/rusages", b"/api/v1/self_proc_stats",
    b"/api/v1/system_proc_stats", b"/api/v1/meminfos", b"/api/v1/authors",
    b"/api/v1/features", b"/api/v1/requests", b"/api/v1/vhosts", b"/api/v1/vhosts/",
    b"/api/v1/streams", b"/api/v1/streams/", b"/api/v1/clients", b"/api/v1/clients/",
    b"/api/v1/clients/1000", b"/api/v1/clients/1001", b"/api/v1/tests/requests",
    b"/api/v1/tests/errors", b"/api/v1/tests/redirects", b"/api/v1/tests/",
    b"/console", b"/console/", b"/console/index.html", b"/console/../setup.cfg",
)  # fmt: skip
_UNSAFE = re.compile(rb"[\x00-\x20\x7f-\xff]")


def fuzz_api(data: bytes) -> None:
    """
    One HTTP request to the API's site: method and route picked by the
    first two bytes, then the fuzzed path suffix (query, ``callback=``
    JSONP, ...) up to the first LF, then the body.  With bit 0x80 of the
    first byte the suffix goes raw onto the request line; otherwise unsafe
    bytes are percent-encoded, so most inputs reach Klein's routes.
    """
    global _api
    if _api is None:
        _api = _ApiHarness()
    if len(data) < 2:
        return
    method = _METHODS[data[0] & 0x07]
    route = _ROUTES[data[1] % len(_ROUTES)]
    suffix, _, body = data[2:].partition(b"\n")
    if not data[0] & 0x80:
        suffix = _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], suffix)
    raw = b"%s %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (
        method, route, suffix, len(body))
    if data[0] & 0x40:
        raw += b"Content-Type: application/json\r\n"
    raw += b"\r\n" + body
    del _api.failures[:]
    out = _api.request(raw)
    if _api.failures:
        raise Finding(f"{raw[:200]!r} logged a failure:\n{_api.failures[0]}")
    if out.startswith(b"HTTP/1.1 500"):
        raise Finding(f"{raw[:200]!r} answered {out[:300]!r}")
    timers = len(_api.clock.getDelayedCalls())
    if timers > _api.timers + 2:
        raise Finding(f"{timers} timers left after the request")


# -- seeds -------------------------------------------------------------------


def _read(*parts: str, limit: int | None = None) -> bytes:
    with open(os.path.join(_DATA, *parts), "rb") as f:
        return f.read(limit if limit is not None else -1)


def _session_messages(limit: int) -> list[chunk.RawMessage]:
    decoder = chunk.ChunkDecoder()
    with open(os.path.join(_DATA, "rtmp-session", "session.bin"), "rb") as f:
        return decoder.receive_data(f.read())[:limit]


def _seeds_chunk() -> list[bytes]:
    session = _read("rtmp-session", "session.bin", limit=6000)
    return [b"\x00" + session, b"\x80" + session[:3000], b"\xc0" + session[:1500]]


def _seeds_amf0() -> list[bytes]:
    seeds = [m.payload for m in _session_messages(12) if m.message_type_id in (18, 20)]
    seeds.append(
        amf0.encode_values(
            "x", 1.0, None, True, amf0.Amf0Object(a=1.0, b=[1.0, "s"]),
            amf0.EcmaArray({"k": "v"}), "y" * 70000,
        )  # fmt: skip
    )
    return seeds


def _seeds_handshake() -> list[bytes]:
    seeds = []
    for c0c1 in sorted(glob.glob(os.path.join(_DATA, "handshake", "*-c0c1.bin"))):
        c2 = c0c1[: -len("c0c1.bin")] + "c2.bin"
        with open(c0c1, "rb") as f:
            hello = f.read()
        tail = b""
        if os.path.exists(c2):
            with open(c2, "rb") as f:
                tail = f.read()
        seeds.append(b"\x01" + hello + tail)
    return seeds


def _seeds_rtmp() -> list[bytes]:
    seeds = [b"\x00" + _read("rtmp-session", "session.bin", limit=8000)]
    for name in ("ffmpeg-play.bin", "rtmpdump-play.bin", "ffmpeg-publish.bin"):
        seeds.append(b"\x00" + _read("rtmp", name)[len(_HANDSHAKE) :][:8000])
    return seeds


def _flv_file(limit: int) -> bytes:
    out = [flv.flv_header()]
    for message in _session_messages(40):
        if message.message_type_id in (8, 9, 18) and len(message.payload) < limit:
            out.extend(flv.encode_tag(message.message_type_id, message.timestamp, message.payload))
    return b"".join(out)


def _seeds_flv() -> list[bytes]:
    return [b"\x00" + _flv_file(4000), b"\x85" + _flv_file(600)]


def _seeds_ts() -> list[bytes]:
    seed = bytearray()
    for message in _session_messages(60):
        if message.message_type_id in (8, 9) and len(message.payload) < 0xFFFF:
            payload = message.payload
            if len(payload) > 1500:
                continue
            flag = 0x80 if message.message_type_id == 9 else 0
            seed += bytes([flag | 0x7F]) + len(payload).to_bytes(2, "big") + payload
    return [bytes(seed)]


def _seeds_config() -> list[bytes]:
    seeds = []
    for path in sorted(glob.glob(os.path.join(_REPO, "conf", "*.conf"))):
        with open(path, "rb") as f:
            seeds.append(f.read())
    return seeds


def _seeds_api() -> list[bytes]:
    return [
        bytes([0, i]) + suffix
        for i in range(len(_ROUTES))
        for suffix in (b"", b"?callback=cb&_=1")
    ] + [b"\x03\x14", b"\x41\x13?x=1\n{\"a\": 1}"]


def _words(paths: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    words = set(extra)
    for path in paths:
        with open(path, errors="replace") as f:
            words.update(re.findall(r"[A-Za-z_][A-Za-z_0-9]{2,}", f.read()))
    return sorted(words)


def _dict_config() -> list[str]:
    return _words(sorted(glob.glob(os.path.join(_REPO, "conf", "*.conf"))), ("{", "}", ";", "#", '"'))


def _dict_api() -> list[str]:
    return ["?callback=", "&callback=", "?", "&", "=", "%", "..", "/", "vhost", "clients",
            "streams", "1000", "1001", "-1", "99999999999999999999", "__defaultVhost__"]  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One fuzz target: the function, its seeds, its libFuzzer bounds."""

    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    max_len: int
    words: Callable[[], list[str]] | None = None


TARGETS: dict[str, Target] = {
    "chunk": Target(fuzz_chunk, _seeds_chunk, 8192),
    "amf0": Target(fuzz_amf0, _seeds_amf0, 4096),
    "handshake": Target(fuzz_handshake, _seeds_handshake, 4096),
    "rtmp": Target(fuzz_rtmp, _seeds_rtmp, 8192),
    "flv": Target(fuzz_flv, _seeds_flv, 8192),
    "ts": Target(fuzz_ts, _seeds_ts, 8192),
    "config": Target(fuzz_config, _seeds_config, 8192, _dict_config),
    "api": Target(fuzz_api, _seeds_api, 2048, _dict_api),
}


# -- the child: one target -----------------------------------------------------


def _mutate(rng: random.Random, seeds: list[bytes], max_len: int) -> bytes:
    """The fallback without atheris: a few random edits of a random seed."""
    data = bytearray(rng.choice(seeds) if seeds else b"")
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        pos = rng.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 64)]
        elif op == 3 and data:
            data[min(pos, len(data) - 1)] = rng.choice((0, 0xFF, 0x7F, 0x80))
        elif op == 4 and seeds:
            other = rng.choice(seeds)
            cut = rng.randint(0, len(other))
            data[pos:] = other[cut:]
    return bytes(data[:max_len])


def _child(name: str, args: list[str]) -> None:
    target = TARGETS[name]
    sys.setrecursionlimit(10_000)
    if atheris is not None:
        atheris.Setup([sys.argv[0], *args], target.run)
        atheris.Fuzz()
        return
    paths = [a for a in args if not a.startswith("-")]
    options = dict(a[1:].split("=", 1) for a in args if a.startswith("-") and "=" in a)
    files = [p for p in paths if os.path.isfile(p)]
    if files:  # replay
        for path in files:
            with open(path, "rb") as f:
                target.run(f.read())
        return
    seeds = []
    for directory in paths:
        for path in sorted(glob.glob(os.path.join(directory, "*"))):
            with open(path, "rb") as f:
                seeds.append(f.read())
    deadline = time.monotonic() + float(options.get("max_total_time", "10"))
    prefix = options.get("artifact_prefix", "./")
    rng = random.Random()
    runs, start = 0, time.monotonic()
    while time.monotonic() < deadline:
        data = _mutate(rng, seeds, int(options.get("max_len", "4096")))
        try:
            target.run(data)
        except BaseException:
            path = f"{prefix}crash-{runs}"
            with open(path, "wb") as f:
                f.write(data)
            print(f"==fallback== crash; input written to {path}", file=sys.stderr)
            raise
        runs += 1
    print(f"Done {runs} runs in {int(time.monotonic() - start)} second(s)", file=sys.stderr)


# -- the parent: every target in turn ----------------------------------------


@dataclass
class Result:
    """What one child reported."""

    name: str
    seconds: float
    runs: int
    coverage: str
    peak_rss_mb: str
    status: str


def _write_corpus(directory: str, target: Target) -> None:
    os.makedirs(directory)
    for i, seed in enumerate(target.seeds()):
        with open(os.path.join(directory, f"seed-{i}"), "wb") as f:
            f.write(seed[: target.max_len])


def _write_dict(path: str, words: list[str]) -> None:
    with open(path, "w") as f:
        for word in words:
            escaped = "".join(c if c.isalnum() or c in "_-/?&=%.{};#" else f"\\x{ord(c):02x}" for c in word)
            f.write(f'"{escaped}"\n')


def _run_target(name: str, seconds: int, work: str) -> Result:
    target = TARGETS[name]
    corpus = os.path.join(work, name)
    _write_corpus(corpus, target)
    command = [
        sys.executable, os.path.abspath(__file__), "--target", name, corpus,
        f"-max_total_time={seconds}", f"-max_len={target.max_len}", "-timeout=10",
        "-rss_limit_mb=2048", f"-artifact_prefix={work}/{name}-", "-print_final_stats=1",
    ]  # fmt: skip
    if target.words is not None and atheris is not None:
        dict_path = os.path.join(work, f"{name}.dict")
        _write_dict(dict_path, target.words())
        command.append(f"-dict={dict_path}")
    log_path = os.path.join(work, f"{name}.log")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            code = child.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            code = -9
    elapsed = time.monotonic() - started
    with open(log_path, errors="replace") as f:
        text = f.read()
    runs = re.findall(r"Done (\d+) runs", text) or re.findall(r"stat::number_of_executed_units:\s+(\d+)", text)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    rss = re.findall(r"stat::peak_rss_mb:\s+(\d+)", text)
    status = "ok" if code == 0 else f"FINDING (exit {code}), see {log_path}"
    if code != 0:
        print(text[-6000:], file=sys.stderr)
    return Result(
        name, elapsed, int(runs[-1]) if runs else 0,
        f"cov {cov[-1][0]} ft {cov[-1][1]}" if cov else "-", rss[-1] if rss else "-", status,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    """
    ``--list``, ``--target NAME ARGS...`` (one child), or the names of the
    targets to run (default all) for ``$SRSTWIST_FUZZ`` seconds in all.
    """
    if argv[:1] == ["--list"]:
        print("\n".join(TARGETS))
        return 0
    if argv[:1] == ["--target"]:
        _child(argv[1], argv[2:])
        return 0
    names = argv or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown targets {unknown}; --list lists them", file=sys.stderr)
        return 2
    budget = int(os.environ.get("SRSTWIST_FUZZ") or "60")
    share = max(1, budget // len(names))
    work = tempfile.mkdtemp(prefix="srstwist-fuzz-")
    engine = "atheris (libFuzzer)" if atheris is not None else "random mutation (no atheris)"
    print(f"{engine}; {len(names)} targets, {share} s each; work dir {work}", flush=True)
    results = []
    for name in names:
        result = _run_target(name, share, work)
        results.append(result)
        print(f"{name}: {result.runs} runs in {result.seconds:.0f} s, {result.status}", flush=True)
    print()
    print("| target | seconds | executions | coverage | peak RSS (MB) | result |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.seconds:.0f} | {r.runs} | {r.coverage} | {r.peak_rss_mb} | {r.status} |")
    failed = [r for r in results if r.status != "ok"]
    if failed:
        print(f"\nfindings kept in {work}")
        return 1
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
