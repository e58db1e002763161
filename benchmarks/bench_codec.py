"""
Codec benchmarks on a captured ffmpeg publish session.

Measures, with ``time.perf_counter`` and the median of several repeats:

  (a) chunk-stream decode throughput: the capture fed to a fresh
      :class:`ChunkDecoder` in 4096-byte and 64 KiB reads, as captured (128-byte
      chunks) and re-encoded in 4096-byte chunks;
  (b) fan-out encoding cost per message: the first
      ``SharedMessage.chunks`` call (the encode) and a cached call (what
      each additional player costs), at chunk sizes 60000 and 4096, next to
      a bare ``encode_chunks`` call for reference;
  (c) the encode count when N players ask for every message (must be one
      per message, whatever N).

Usage: ``python benchmarks/bench_codec.py [--repeats N] [--capture PATH]
[--only decode|fanout|players]``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

from srstwist.codec.chunk import (  # noqa: E402
    ChunkDecoder,
    MessageType,
    RawMessage,
    encode_chunks,
)
from srstwist.codec.control import SetChunkSize  # noqa: E402
from srstwist.media.message import SharedMessage, total_encodes  # noqa: E402

_CAPTURE = _ROOT / "tests" / "data" / "rtmp-session" / "session.bin"
_READ_SIZES = (4096, 65536)
_CHUNK_SIZES = (60000, 4096)
_PLAYERS = (1, 10, 100, 1000)
_CACHED_PASSES = 200
_STREAM_ID = 1


def _median_time(run: Callable[[], object], repeats: int) -> float:
    """
    :return: the median wall time of ``run()`` in seconds, measured with the
        garbage collector off (as ``timeit`` does).
    """
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times)


def cpu_model() -> str:
    """
    :return: the first ``model name`` in ``/proc/cpuinfo``, or the platform's
        processor string.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rechunk(raw: list[RawMessage], chunk_size: int) -> bytes:
    """
    :return: the messages as a publisher with a larger chunk size would send
        them: a Set Chunk Size message, then every message in fmt-0/fmt-3
        chunks of ``chunk_size``.
    """
    pieces = encode_chunks(
        0, MessageType.SET_CHUNK_SIZE, 0, SetChunkSize(chunk_size).encode(), 128, 2
    )
    for m in raw:
        pieces += encode_chunks(
            m.timestamp,
            m.message_type_id,
            m.message_stream_id,
            m.payload,
            chunk_size,
            m.chunk_stream_id,
        )
    return b"".join(pieces)


def bench_decode(data: bytes, repeats: int) -> list[tuple[int, float, int]]:
    """
    :return: ``(read size, seconds, messages)`` per read size.
    """
    rows = []
    for read_size in _READ_SIZES:
        reads = [data[i : i + read_size] for i in range(0, len(data), read_size)]
        count = 0

        def run(reads: list[bytes] = reads) -> None:
            nonlocal count
            decoder = ChunkDecoder()
            count = 0
            for read in reads:
                count += len(decoder.receive_data(read))

        seconds = _median_time(run, repeats)
        rows.append((read_size, seconds, count))
    return rows


def bench_fanout(raw: list[RawMessage], repeats: int) -> list[tuple[int, float, float, float]]:
    """
    :return: ``(chunk size, bare encode_chunks s/msg, first chunks() s/msg,
        cached chunks() s/call)`` per chunk size.
    """
    rows = []
    count = len(raw)
    for chunk_size in _CHUNK_SIZES:

        def bare(chunk_size: int = chunk_size) -> None:
            for m in raw:
                encode_chunks(
                    m.timestamp,
                    m.message_type_id,
                    _STREAM_ID,
                    m.payload,
                    chunk_size,
                    m.chunk_stream_id,
                )

        first_times = []
        cached_times = []
        for _ in range(repeats):
            messages = [SharedMessage.from_raw(m) for m in raw]

            def first(
                chunk_size: int = chunk_size, messages: list[SharedMessage] = messages
            ) -> None:
                for m in messages:
                    m.chunks(chunk_size, m.chunk_stream_id, _STREAM_ID)

            def cached(
                chunk_size: int = chunk_size, messages: list[SharedMessage] = messages
            ) -> None:
                for _ in range(_CACHED_PASSES):
                    for m in messages:
                        m.chunks(chunk_size, m.chunk_stream_id, _STREAM_ID)

            first_times.append(_median_time(first, 1))
            cached_times.append(_median_time(cached, 1))
        rows.append(
            (
                chunk_size,
                _median_time(bare, repeats) / count,
                statistics.median(first_times) / count,
                statistics.median(cached_times) / (count * _CACHED_PASSES),
            )
        )
    return rows


def bench_players(raw: list[RawMessage], repeats: int) -> list[tuple[int, int, int, float]]:
    """
    :return: ``(players, messages, encodes, s per player-message)``; the
        encode count is that of the first repeat, the time the median.
    """
    rows = []
    for players in _PLAYERS:
        encodes: list[int] = []
        times: list[float] = []
        for _ in range(repeats):
            messages = [SharedMessage.from_raw(m) for m in raw]
            before = total_encodes()

            def run(players: int = players, messages: list[SharedMessage] = messages) -> None:
                for m in messages:
                    csid = m.chunk_stream_id
                    for _ in range(players):
                        m.chunks(60000, csid, _STREAM_ID)

            times.append(_median_time(run, 1))
            encodes.append(total_encodes() - before)
        assert len(set(encodes)) == 1, encodes
        rows.append(
            (players, len(raw), encodes[0], statistics.median(times) / (players * len(raw)))
        )
    return rows


def main() -> int:
    """
    Run all benchmarks and print the tables.
    """
    parser = argparse.ArgumentParser(description="srstwist codec benchmarks")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--capture", type=Path, default=_CAPTURE)
    parser.add_argument(
        "--only",
        choices=("decode", "fanout", "players"),
        help="run one part (e.g. to profile the decoder alone)",
    )
    args = parser.parse_args()
    run = {args.only} if args.only else {"decode", "fanout", "players"}
    data = args.capture.read_bytes()
    raw = ChunkDecoder().receive_data(data)
    media = [m for m in raw if m.message_type_id in (8, 9)]
    duration = (media[-1].timestamp - media[0].timestamp) / 1000 or 1.0
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs: {cpu_model()}"
    )
    print(
        f"capture: {args.capture.name}, {len(data)} bytes, {len(raw)} messages "
        f"({len(media)} audio/video over {duration:.2f} s = "
        f"{len(data) * 8 / duration / 1e6:.2f} Mbit/s); repeats: {args.repeats}; "
        f"load average: {os.getloadavg()[0]:.2f}"
    )

    if "decode" in run:
        _print_decode(data, raw, args.repeats)
    if "fanout" in run:
        _print_fanout(raw, args.repeats)
    if "players" in run:
        return _print_players(raw, max(3, args.repeats // 3))
    return 0


def _print_decode(data: bytes, raw: list[RawMessage], repeats: int) -> None:
    """
    Run and print (a).
    """
    print("\n(a) decode (ChunkDecoder.receive_data, whole capture)")
    print(
        f"{'chunks':>17} {'read size':>10} {'ms':>8} {'MB/s':>8} {'msg/s':>10} "
        f"{'1 Mbit/s streams':>17}"
    )
    inputs = [("as captured (128)", data), ("re-chunked 4096", rechunk(raw, 4096))]
    for label, stream in inputs:
        for read_size, seconds, count in bench_decode(stream, repeats):
            mbps = len(stream) / seconds / 1e6
            print(
                f"{label:>17} {read_size:>10} {seconds * 1e3:>8.2f} {mbps:>8.1f} "
                f"{count / seconds:>10.0f} {mbps * 8:>17.0f}"
            )


def _print_fanout(raw: list[RawMessage], repeats: int) -> None:
    """
    Run and print (b).
    """
    print("\n(b) fan-out encoding, per message (mean over the capture's messages)")
    print(
        f"{'chunk size':>10} {'encode_chunks':>14} {'first chunks()':>15} {'cached chunks()':>16}"
    )
    for chunk_size, bare, first, cached in bench_fanout(raw, repeats):
        print(
            f"{chunk_size:>10} {bare * 1e6:>11.2f} us {first * 1e6:>12.2f} us "
            f"{cached * 1e9:>13.0f} ns"
        )


def _print_players(raw: list[RawMessage], repeats: int) -> int:
    """
    Run and print (c).

    :return: the exit status: 1 if some N caused more than one encoding
        per message.
    """
    print("\n(c) N players x every message, chunk size 60000")
    print(f"{'players':>8} {'messages':>9} {'encodes':>8} {'ns/player/msg':>14}")
    ok = True
    for players, count, encodes, per in bench_players(raw, repeats):
        ok = ok and encodes == count
        print(f"{players:>8} {count:>9} {encodes:>8} {per * 1e9:>14.0f}")
    print("encodes == messages for every N:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
