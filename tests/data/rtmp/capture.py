"""
Capture what a real RTMP client sends to srstwist's ServerSession.

A small blocking server for one connection, standard library plus our
codecs only: it listens on 127.0.0.1 on a free port, starts the client
command (``{port}`` in its arguments is replaced by the port) under
``timeout``, answers every event the way SRS 2.0 does with the
ServerSession reply methods, and writes every byte the client sent
(handshake included) to ``--out``, up to ``--limit`` bytes.  The client is
still served after the limit; only the recording stops.

With ``--media PUBLISH_CAPTURE``, a ``play`` is answered with
``start_play`` and then the media of that earlier publish capture, in its
order and with its timestamps: the metadata (re-encoded as ``onMetaData``,
the way SRS hands it to players), the sequence headers, then audio and
video.  A play duration above 0 ends the connection once that much stream
time was sent, as SRS does (#45).

It prints a JSON summary: the events in order (runs of Media collapsed
into counts), the client's exit status and the last lines of its stderr.

Example (see README.md)::

    timeout 60 python3 tests/data/rtmp/capture.py --out x.bin -- \\
        ffmpeg -re -f lavfi -i testsrc ... -f flv rtmp://127.0.0.1:{port}/live/stream

Only ever 127.0.0.1; the client is terminated (by its PID) if it outlives
the connection by more than ``--grace`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from srstwist.codec import amf0  # noqa: E402
from srstwist.codec import rtmp_events as ev  # noqa: E402
from srstwist.codec.rtmp import RtmpError, ServerSession  # noqa: E402
from srstwist.codec.rtmp_commands import ServerIdentity  # noqa: E402
from srstwist.codec.rtmp_events import Media, MediaKind  # noqa: E402


def load_media(path: Path) -> list[Media]:
    """The Media events of a publish capture, replayed through a session."""
    session = ServerSession(os.urandom, 0)
    media: list[Media] = []
    for event in session.receive_data(path.read_bytes()):
        if isinstance(event, Media):
            media.append(event)
    return media


def answer(session: ServerSession, event: ev.Event, state: dict) -> None:
    """Reply to one event as SRS 2.0 does (``SrsRtmpServer``)."""
    if isinstance(event, ev.Connect):
        session.accept_connect(
            event,
            identity=ServerIdentity(server_ip="127.0.0.1", pid=os.getpid(), connection_id=1),
        )
    elif isinstance(event, (ev.Call, ev.DeleteStream, ev.GetStreamLength)):
        session.reply_call(event)
    elif isinstance(event, ev.CreateStream):
        session.accept_create_stream(event)
    elif isinstance(event, ev.ReleaseStream):
        session.reply_release_stream(event)
    elif isinstance(event, ev.FCPublish):
        session.reply_fc_publish(event)
    elif isinstance(event, ev.Publish):
        session.start_publish(event)
    elif isinstance(event, ev.FCUnpublish):
        session.reply_fc_unpublish(event)
    elif isinstance(event, ev.Pause):
        session.reply_pause(event)
    elif isinstance(event, ev.Play):
        session.start_play(event)
        state["play"] = event


def send_media(session: ServerSession, media: list[Media], duration: float) -> bool:
    """
    Send a publish capture's media to a player, metadata first.  Like SRS
    (#45), a play ``duration`` above 0 ends playing once that much stream
    time was sent, after the message that reaches it.

    :return: whether the duration was reached (SRS then disconnects).
    """
    start = None
    for item in media:
        if item.kind is MediaKind.DATA:
            if item.metadata is None:
                continue
            payload = amf0.encode_values("onMetaData", item.metadata)
            session.send_media(MediaKind.DATA, 0, payload, chunk_stream_id=item.chunk_stream_id)
            continue
        start = item.timestamp if start is None else start
        session.send_media(
            item.kind, item.timestamp, item.payload, chunk_stream_id=item.chunk_stream_id
        )
        if duration > 0 and item.timestamp - start >= duration:
            return True
    return False


def summarize(events: list[ev.Event]) -> list[str]:
    """Event class names; each run of Media becomes one line of counts."""
    out: list[str] = []
    counts: dict[str, int] = {}
    for event in events + [None]:  # type: ignore[list-item]
        if isinstance(event, Media):
            key = event.name or event.kind.value
            counts[key] = counts.get(key, 0) + 1
            continue
        if counts:
            out.append("Media " + ", ".join(f"{k} x {n}" for k, n in counts.items()))
            counts = {}
        if isinstance(event, ev.Ignored):
            out.append(f"Ignored({event.name or event.message_type_id})")
        elif event is not None:
            out.append(type(event).__name__)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=256 * 1024)
    parser.add_argument("--media", type=Path, help="publish capture to play out")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--stderr-lines", type=int, default=8)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    command = [a for a in options.command if a != "--"]
    media = load_media(options.media) if options.media else []

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    argv = [
        "timeout",
        str(int(options.timeout)),
        *(a.replace("{port}", str(port)) for a in command),
    ]
    client = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    recorded = bytearray()
    events: list[ev.Event] = []
    error = None
    state: dict = {}
    try:
        listener.settimeout(options.timeout)
        conn, _ = listener.accept()
        conn.settimeout(options.timeout)
        session = ServerSession(os.urandom, int(time.time()))
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                room = options.limit - len(recorded)
                if room > 0:
                    recorded += data[:room]
                try:
                    new = session.receive_data(data)
                except RtmpError as e:
                    error = str(e)
                    break
                events.extend(new)
                for event in new:
                    answer(session, event, state)
                play = state.pop("play", None)
                exceeded = play is not None and send_media(session, media, play.duration)
                out = session.data_to_send()
                if out:
                    conn.sendall(b"".join(out))
                if exceeded:
                    break
    except (TimeoutError, OSError) as e:
        error = error or f"{type(e).__name__}: {e}"
    finally:
        listener.close()
        try:
            client.wait(options.grace)
        except subprocess.TimeoutExpired:
            client.terminate()
            try:
                client.wait(options.grace)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()
    stderr = client.stderr.read().decode("utf-8", "replace") if client.stderr else ""
    options.out.write_bytes(bytes(recorded))
    print(
        json.dumps(
            {
                "port": port,
                "recorded_bytes": len(recorded),
                "events": summarize(events),
                "session_error": error,
                "client_exit": client.returncode,
                "client_stderr_tail": stderr.strip().splitlines()[-options.stderr_lines :],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
