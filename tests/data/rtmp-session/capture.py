"""
Record what an RTMP publisher sends after the handshake.

A minimal, blocking, one-connection RTMP server made of srstwist's sans-IO
codecs and the standard library (no Twisted): it listens on 127.0.0.1 on a
free port, starts ffmpeg publishing to it (or waits for any publisher with
``--no-ffmpeg``), answers the handshake with :class:`ServerHandshake`, answers
``connect``, ``releaseStream``, ``FCPublish``, ``createStream`` and ``publish``
just enough for ffmpeg to start sending media, and writes every byte it
received after C2 (chunk stream only) to the output file until the client
closes the connection.

Usage::

    python tests/data/rtmp-session/capture.py [--no-ffmpeg] [-o OUT]

See README.md next to this file for the command that made ``session.bin``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(_ROOT))

from srstwist.codec import amf0  # noqa: E402
from srstwist.codec.chunk import (  # noqa: E402
    CSID_OVER_CONNECTION,
    CSID_OVER_STREAM,
    ChunkDecoder,
    ChunkEncoder,
    MessageType,
)
from srstwist.codec.handshake import ServerHandshake  # noqa: E402

#: ffmpeg's arguments; PORT is replaced with the listening port.
FFMPEG = (
    "timeout 30 ffmpeg -nostdin -loglevel error -re "
    "-f lavfi -i testsrc=size=640x360:rate=25,noise=alls=12:allf=t "
    "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 4 "
    "-c:v libx264 -preset veryfast -b:v 900k -maxrate 900k -bufsize 900k -g 50 "
    "-c:a aac -b:a 96k -f flv rtmp://127.0.0.1:PORT/live/bench"
)
_STREAM_ID = 1
_IDLE_TIMEOUT = 15.0


def _status(code: str, description: str) -> amf0.Amf0Object:
    """
    An info object of level status.
    """
    return amf0.Amf0Object(level="status", code=code, description=description)


class _Session:
    """
    The server side of one publishing connection, after the handshake.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = ChunkDecoder()
        self.encoder = ChunkEncoder()
        self.commands: list[str] = []

    def send(self, csid: int, stream_id: int, *values: object) -> None:
        """
        Send one AMF0 command message.
        """
        pieces = self.encoder.encode(
            0, MessageType.AMF0_COMMAND, stream_id, amf0.encode_values(*values), csid
        )
        self.sock.sendall(b"".join(pieces))

    def feed(self, data: bytes) -> None:
        """
        Decode what the client sent and answer its commands.
        """
        for message in self.decoder.receive_data(data):
            if message.message_type_id != MessageType.AMF0_COMMAND:
                continue
            values = amf0.decode_all(message.payload)
            name, txn = values[0], values[1]
            assert isinstance(name, str)
            self.commands.append(name)
            if name == "connect":
                self.send(
                    CSID_OVER_CONNECTION,
                    0,
                    "_result",
                    txn,
                    amf0.Amf0Object(fmsVer="FMS/3,5,3,888", capabilities=127.0, mode=1.0),
                    amf0.Amf0Object(
                        level="status",
                        code="NetConnection.Connect.Success",
                        description="Connection succeeded",
                        objectEncoding=0.0,
                    ),
                )
            elif name == "releaseStream":
                self.send(CSID_OVER_CONNECTION, 0, "_result", txn, None, amf0.UNDEFINED)
            elif name == "FCPublish":
                self.send(
                    CSID_OVER_STREAM,
                    0,
                    "onFCPublish",
                    0.0,
                    None,
                    _status("NetStream.Publish.Start", "Started publishing stream."),
                )
                self.send(CSID_OVER_CONNECTION, 0, "_result", txn, None, amf0.UNDEFINED)
            elif name == "createStream":
                self.send(CSID_OVER_CONNECTION, 0, "_result", txn, None, float(_STREAM_ID))
            elif name == "publish":
                self.send(
                    CSID_OVER_STREAM,
                    _STREAM_ID,
                    "onStatus",
                    0.0,
                    None,
                    _status("NetStream.Publish.Start", "Started publishing stream."),
                )


def serve(listener: socket.socket, out: Path) -> tuple[int, list[str]]:
    """
    Accept one client, run the session and write the chunk-stream bytes.

    :return: bytes recorded and the command names received.
    """
    conn, _ = listener.accept()
    conn.settimeout(_IDLE_TIMEOUT)
    handshake = ServerHandshake(os.urandom, int(time.time()))
    recorded = bytearray()
    session = _Session(conn)
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            if not handshake.done:
                done = handshake.receive_data(data)
                reply = handshake.data_to_send()
                if reply:
                    conn.sendall(reply)
                if not done:
                    continue
                data = done[0].leftover
            recorded += data
            session.feed(data)
    out.write_bytes(recorded)
    return len(recorded), session.commands


def main() -> int:
    """
    Run one capture.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=Path(__file__).with_name("session.bin")
    )
    parser.add_argument("--no-ffmpeg", action="store_true", help="only listen")
    args = parser.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(_IDLE_TIMEOUT)
    port = listener.getsockname()[1]
    command = shlex.split(FFMPEG.replace("PORT", str(port)))
    child = None
    if args.no_ffmpeg:
        print(f"listening on 127.0.0.1:{port}", flush=True)
    else:
        print(" ".join(command), flush=True)
        child = subprocess.Popen(command)
    try:
        size, commands = serve(listener, args.output)
    finally:
        listener.close()
        if child is not None:
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    print(f"recorded {size} bytes to {args.output}; commands: {commands}")
    if child is not None and child.returncode:
        print(f"ffmpeg exited with {child.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
