"""
Publisher-to-player latency of a running server, measured end to end.

A player (the sans-IO ClientSession over a blocking socket) connects and
starts playing first; then ffmpeg publishes a generated stream with -re,
which paces frames against the wall clock from its start.  For every audio
or video message the player receives:

    latency = (receive time - publisher start) - message timestamp

The publisher's start-up (encoder initialisation before the first frame)
counts as latency too, so the figure errs on the high side.  The second half
of the samples is reported (the start is a burst of catching up).

    python bench/latency.py 1935              # server on 127.0.0.1:1935
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from srstwist.codec.rtmp_client import ClientSession
from srstwist.codec.rtmp_events import HandshakeCompleted, Media, Result


def measure(port: int, stream: str, seconds: int) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(1)
    session = ClientSession(os.urandom, 0)
    started = 0.0
    samples: list[float] = []
    publisher: subprocess.Popen[bytes] | None = None
    deadline = time.monotonic() + seconds + 15
    try:
        for piece in session.data_to_send():
            sock.sendall(piece)
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = b""
            for event in session.receive_data(data) if data else ():
                if isinstance(event, HandshakeCompleted):
                    session.connect(f"rtmp://127.0.0.1:{port}/live", "live")
                elif isinstance(event, Result) and event.command == "connect":
                    session.create_stream()
                elif isinstance(event, Result) and event.command == "createStream":
                    session.play(stream)
                elif isinstance(event, Media) and event.message_type_id in (8, 9) and started:
                    samples.append((time.monotonic() - started) * 1000 - event.timestamp)
            for piece in session.data_to_send():
                sock.sendall(piece)
            if publisher is None and session.stream_id is not None:
                time.sleep(0.3)  # let the play reach the server
                started = time.monotonic()
                publisher = subprocess.Popen(
                    [
                        "timeout", str(seconds + 10), "ffmpeg", "-nostdin", "-loglevel", "error",
                        "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                        "-f", "lavfi", "-i", "sine", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                        "-g", "25", "-c:a", "aac", "-f", "flv",
                        f"rtmp://127.0.0.1:{port}/live/{stream}",
                    ]
                )
            if publisher is not None and publisher.poll() is not None:
                break
    finally:
        sock.close()
        if publisher is not None and publisher.poll() is None:
            publisher.terminate()
        if publisher is not None:
            publisher.wait(timeout=10)
    return samples[len(samples) // 2 :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int, help="the server's RTMP port on 127.0.0.1")
    parser.add_argument("--stream", default="latency")
    parser.add_argument("--seconds", type=int, default=12)
    args = parser.parse_args()
    samples = measure(args.port, args.stream, args.seconds)
    if not samples:
        print("no media received")
        return 1
    print(
        f"samples={len(samples)} latency_ms min={min(samples):.0f} "
        f"median={statistics.median(samples):.0f} max={max(samples):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
