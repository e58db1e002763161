# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's HTTP clients: HTTP-FLV and HLS players, and the probe that
tells whether the server has that output at all.

:func:`probe_blocking` makes one GET before any client starts: connection
refused or 404 means the server has no such output (yet), and the bench
prints ``skipped: <reason>`` and exits 0.

:class:`HttpFlvClient` sends one ``GET`` and reads the FLV body (plain,
``Content-Length`` or chunked) with :class:`FlvScanner`, which like the
RTMP chunk scanner counts tags without copying them.  :class:`HlsClient`
keeps one HTTP/1.1 connection: it loads the playlist (following a master
playlist's first variant), starts at the newest segment as players do,
downloads each new segment in turn, and reloads the playlist every half
target duration; a segment counts as one key frame whose timestamps span
its ``#EXTINF``.
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from twisted.internet.interfaces import IReactorTime

from srstwist.tools.bench.run import STREAMING, BenchClient
from srstwist.tools.bench.scan import MediaTally

__all__ = [
    "FlvScanner",
    "HlsClient",
    "HttpError",
    "HttpFlvClient",
    "HttpResponseReader",
    "WsFlvClient",
    "make_http_client",
    "parse_playlist",
    "probe_blocking",
]

_MAX_HEAD = 64 * 1024
_MAX_TAG = 16 * 1024 * 1024
_MAX_PLAYLIST = 1024 * 1024
_USER_AGENT = "srs-bench (srstwist)"


class HttpError(Exception):
    """The server's HTTP response (or FLV body) is malformed."""


def request_bytes(host: str, port: int, path: str, keep_alive: bool = False) -> bytes:
    """A ``GET`` request."""
    authority = host if port == 80 else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        authority = f"[{host}]" if port == 80 else f"[{host}]:{port}"
    connection = "keep-alive" if keep_alive else "close"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {_USER_AGENT}\r\n"
        f"Accept: */*\r\nConnection: {connection}\r\n\r\n"
    ).encode("latin-1")


def probe_blocking(address: str, port: int, host: str, path: str, timeout: float) -> str | None:
    """
    GET ``path`` once and read the status line.

    :return: why the mode is skipped (refused, 404), or ``None`` to go on
        (any other answer, including a timeout, is left to the clients).
    """
    path = path.replace("{i}", "0")
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.sendall(request_bytes(host, port, path))
            head = b""
            while b"\r\n" not in head and len(head) < _MAX_HEAD:
                data = s.recv(4096)
                if not data:
                    break
                head += data
    except ConnectionRefusedError:
        return f"connection refused by {address}:{port} (no HTTP server there yet)"
    except OSError:
        return None
    parts = head.split(b"\r\n", 1)[0].split(None, 2)
    if len(parts) >= 2 and parts[1] == b"404":
        return f"{path} answers 404 Not Found (no such output on this server yet)"
    return None


class HttpResponseReader:
    """
    One HTTP/1.1 response, incrementally: status line and headers, then the
    body by ``Content-Length``, chunked, or until the connection closes.

    :param on_head: ``(status, headers)`` once the head is complete;
        header names are lower case.
    :param on_body: each piece of body, de-chunked.
    """

    def __init__(
        self,
        on_head: Callable[[int, dict[str, str]], None],
        on_body: Callable[[bytes], None],
    ) -> None:
        self._on_head = on_head
        self._on_body = on_body
        self._buffer = b""
        self._state = "head"
        self._left = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.complete = False

    def receive_data(self, data: bytes) -> bytes:
        """
        Take bytes; return what follows the end of this response.

        :raises HttpError: the response is malformed.
        """
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        pos = 0
        end = len(data)
        while pos < end and not self.complete:
            state = self._state
            if state == "body":
                take = min(self._left, end - pos)
                self._on_body(data[pos : pos + take] if pos or take < end else data)
                pos += take
                self._left -= take
                if not self._left:
                    self.complete = True
            elif state == "close":
                self._on_body(data[pos:] if pos else data)
                pos = end
            elif state == "chunk data":
                take = min(self._left, end - pos)
                self._on_body(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = "chunk end"
            else:
                at = data.find(b"\r\n\r\n" if state == "head" else b"\r\n", pos)
                if at < 0:
                    if end - pos > _MAX_HEAD:
                        raise HttpError(f"HTTP {state} line too long")
                    self._buffer = data[pos:]
                    return b""
                line = data[pos:at]
                pos = at + (4 if state == "head" else 2)
                self._line(state, line)
        return data[pos:] if pos < end else b""

    def _line(self, state: str, line: bytes) -> None:
        if state == "head":
            self._head(line)
        elif state == "chunk size":
            try:
                self._left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise HttpError(f"bad chunk size {line[:20]!r}") from e
            self._state = "chunk data" if self._left else "trailer"
        elif state == "chunk end":
            if line:
                raise HttpError("chunk not followed by CRLF")
            self._state = "chunk size"
        elif state == "trailer":
            if not line:
                self.complete = True

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise HttpError(f"bad status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise HttpError(f"bad header line {line[:80]!r}")
            self.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._state = "chunk size"
        elif "content-length" in self.headers:
            try:
                self._left = int(self.headers["content-length"])
            except ValueError as e:
                raise HttpError("bad Content-Length") from e
            self._state = "body"
            if not self._left:
                self.complete = True
        else:
            self._state = "close"
        self._on_head(self.status, self.headers)


class FlvScanner:
    """
    Read an FLV stream's tags without copying their bodies: audio and video
    tags are counted in ``tally``; script tags are skipped.

    :raises HttpError: from :meth:`receive_data`: not FLV, an unknown tag
        type, or a tag above 16 MiB.
    """

    def __init__(self, tally: MediaTally) -> None:
        self._tally = tally
        self._carry = b""
        self._header_done = False
        self._skip = 0  # bytes to skip before the next tag header
        self._left = 0  # body bytes of the current tag still to come
        self._type = 0
        self._timestamp = 0
        self._size = 0
        self._b0 = -1
        self._b1 = -1

    def receive_data(self, data: bytes) -> None:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        pos = 0
        end = len(data)
        while pos < end:
            if self._left:
                take = min(self._left, end - pos)
                if self._left == self._size:
                    self._b0 = data[pos]
                    self._b1 = data[pos + 1] if take > 1 else -1
                elif self._b1 < 0 and self._left == self._size - 1:
                    self._b1 = data[pos]
                pos += take
                self._left -= take
                if not self._left:
                    self._tally.add(self._type, self._timestamp, self._size, self._b0, self._b1)
                    self._skip = 4
                continue
            if self._skip:
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
                continue
            if not self._header_done:
                if end - pos < 9:
                    self._carry = data[pos:]
                    return
                if data[pos : pos + 3] != b"FLV":
                    raise HttpError("the body is not FLV")
                offset = int.from_bytes(data[pos + 5 : pos + 9], "big")
                self._header_done = True
                pos += 9
                self._skip = max(offset - 9, 0) + 4
                continue
            if end - pos < 11:
                self._carry = data[pos:]
                return
            tag_type = data[pos] & 0x1F
            size = int.from_bytes(data[pos + 1 : pos + 4], "big")
            timestamp = int.from_bytes(data[pos + 4 : pos + 7], "big") | data[pos + 7] << 24
            if tag_type not in (8, 9, 18):
                raise HttpError(f"FLV tag type {tag_type}")
            if size > _MAX_TAG:
                raise HttpError(f"FLV tag of {size} bytes")
            pos += 11
            if tag_type == 18 or not size:
                self._skip = size + 4
            else:
                self._type = tag_type
                self._timestamp = timestamp & 0x7FFFFFFF
                self._size = self._left = size
                self._b0 = self._b1 = -1


class _HttpClient(BenchClient):
    """Sends GETs and reads the responses; subclasses use the bodies."""

    keep_alive = False

    def __init__(
        self, index: int, path: str, host: str, port: int, clock: IReactorTime, timeout: float
    ) -> None:
        super().__init__(index, path, clock, timeout)
        self.host = host
        self.port = port
        self.reader: HttpResponseReader | None = None

    def get(self, path: str) -> None:
        self.reader = HttpResponseReader(self.on_head, self.on_body)
        self.transport.write(request_bytes(self.host, self.port, path, self.keep_alive))  # type: ignore[union-attr]

    def connectionMade(self) -> None:
        super().connectionMade()
        if not self.done:
            self.enter("http")
            self.get(self.result.stream)

    def dataReceived(self, data: bytes) -> None:
        if self.done:
            return
        self.result.bytes += len(data)
        try:
            while data and self.reader is not None and not self.done:
                reader = self.reader
                data = reader.receive_data(data)
                if reader.complete and not self.done:
                    self.reader = None
                    self.on_complete()
        except HttpError as e:
            self._fail("http error", str(e))
            return
        if self.done:
            return
        if self.phase == STREAMING:
            self.deadline = max(self.deadline, self.clock.seconds() + self.timeout)
        elif self.tally.first_media_at is not None:
            self.enter(STREAMING)

    def on_head(self, status: int, headers: dict[str, str]) -> None:
        if status != 200:
            self._fail("http error", f"HTTP {status} for {self.result.stream}")

    def on_body(self, data: bytes) -> None:
        raise NotImplementedError

    def on_complete(self) -> None:
        raise NotImplementedError


class HttpFlvClient(_HttpClient):
    """
    Plays an HTTP-FLV stream until the run ends.

    :param count_only: once the first key frame is in, stop parsing and
        only count bytes (``--sample``, as for RTMP players).
    """

    def __init__(self, *args: Any, count_only: bool = False) -> None:
        super().__init__(*args)
        self._flv = FlvScanner(self.tally)
        self._count_only = count_only
        self._counting = False

    def dataReceived(self, data: bytes) -> None:
        if self._counting:
            if not self.done:
                self.result.bytes += len(data)
                self.deadline = self.clock.seconds() + self.timeout
            return
        super().dataReceived(data)
        if (
            self._count_only
            and not self.done
            and self.phase == STREAMING
            and self.tally.first_keyframe_at is not None
        ):
            self._counting = True
            self.result.counted_only = True

    def on_body(self, data: bytes) -> None:
        self._flv.receive_data(data)

    def on_complete(self) -> None:
        self._fail("closed early", "the FLV response ended")


class WsFlvClient(HttpFlvClient):
    """
    Plays WebSocket-FLV (``ws-flv-play``): an upgrade ``GET``, then the
    server's binary messages (RFC 6455 section 5.2: unmasked, maybe
    fragmented) are unframed and their payload read as one FLV stream.
    """

    def __init__(self, *args: Any, count_only: bool = False) -> None:
        super().__init__(*args, count_only=count_only)
        self._frames = WsUnframer(super().on_body)

    def get(self, path: str) -> None:
        self.reader = HttpResponseReader(self.on_head, self.on_body)
        self.transport.write(upgrade_request_bytes(self.host, self.port, path))  # type: ignore[union-attr]

    def on_head(self, status: int, headers: dict[str, str]) -> None:
        if status != 101:
            self._fail("http error", f"HTTP {status} for {self.result.stream} (no upgrade)")

    def on_body(self, data: bytes) -> None:
        self._frames.receive_data(data)

    def on_complete(self) -> None:
        self._fail("closed early", "the WebSocket connection ended")


def upgrade_request_bytes(host: str, port: int, path: str) -> bytes:
    """A WebSocket opening handshake (RFC 6455 section 4.1)."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {_USER_AGENT}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("latin-1")


class WsUnframer:
    """
    The payload of a server's WebSocket frames, in order, to ``on_data``
    (data frames only; control frames are skipped, a close ends it).

    :raises HttpError: from :meth:`receive_data`: a masked or oversized
        frame, or the server's close frame.
    """

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data
        self._carry = b""
        self._left = 0
        self._control = False

    def receive_data(self, data: bytes) -> None:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        pos = 0
        end = len(data)
        while pos < end:
            if self._left:
                take = min(self._left, end - pos)
                if not self._control:
                    self._on_data(data[pos : pos + take] if pos or take < end else data)
                pos += take
                self._left -= take
                continue
            if end - pos < 2:
                self._carry = data[pos:]
                return
            opcode = data[pos] & 0x0F
            length = data[pos + 1] & 0x7F
            if data[pos + 1] & 0x80:
                raise HttpError("masked frame from the server")
            head = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if end - pos < head:
                self._carry = data[pos:]
                return
            if length == 126:
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            if length > _MAX_TAG:
                raise HttpError(f"WebSocket frame of {length} bytes")
            if opcode == 0x8:
                raise HttpError("the server closed the WebSocket")
            self._control = opcode >= 0x8
            self._left = length
            pos += head


def parse_playlist(text: str) -> tuple[str | None, float, int, list[tuple[float, str]], bool]:
    """
    Take an M3U8 playlist apart.

    :return: ``(variant, target_duration, media_sequence, segments,
        endlist)``: the first variant URI of a master playlist (else
        ``None``), and the ``(duration, uri)`` of each segment.
    :raises HttpError: not a playlist.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise HttpError("not an M3U8 playlist")
    target = 0.0
    sequence = 0
    segments: list[tuple[float, str]] = []
    endlist = False
    duration: float | None = None
    variant_next = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF"):
            variant_next = True
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = _number(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(_number(line.split(":", 1)[1]))
        elif line.startswith("#EXTINF:"):
            duration = _number(line.split(":", 1)[1].split(",", 1)[0])
        elif line.startswith("#EXT-X-ENDLIST"):
            endlist = True
        elif not line.startswith("#"):
            if variant_next:
                return line, target, sequence, [], endlist
            segments.append((duration or target, line))
            duration = None
    return None, target, sequence, segments, endlist


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError as e:
        raise HttpError(f"bad number {text!r} in the playlist") from e


class HlsClient(_HttpClient):
    """Plays an HLS stream, segment by segment, until the run ends."""

    keep_alive = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._playlist = self.result.stream
        self._body: list[bytes] = []
        self._body_size = 0
        self._kind = "playlist"
        self._next_sequence: int | None = None
        self._queue: list[tuple[float, str]] = []
        self._target = 1.0
        self._endlist = False
        self._media_ms = 0.0
        self._reload: Any = None

    def on_body(self, data: bytes) -> None:
        self._body_size += len(data)
        if self._kind == "playlist":
            if self._body_size > _MAX_PLAYLIST:
                raise HttpError("playlist above 1 MiB")
            self._body.append(data)

    def on_complete(self) -> None:
        if self._kind == "playlist":
            text = b"".join(self._body).decode("utf-8", "replace")
            if self._playlist_loaded(text):
                self.get(self._playlist)  # a master playlist's variant
                return
        else:
            duration_ms = self._queue.pop(0)[0] * 1000.0
            self.tally.add_segment(self._media_ms, self._media_ms + duration_ms, self._body_size)
            self._media_ms += duration_ms
        if not self.done:
            self._next()

    def _playlist_loaded(self, text: str) -> bool:
        """Queue the new segments; return whether to load a variant instead."""
        variant, target, sequence, segments, endlist = parse_playlist(text)
        if variant is not None:
            self._playlist = _resolve(self._playlist, variant)
            return True
        self._target = target or 1.0
        self._endlist = endlist
        if self._next_sequence is None:
            # Start where a live player starts: the newest segment.
            self._next_sequence = sequence + (0 if endlist else max(len(segments) - 1, 0))
        start = self._next_sequence - sequence
        for duration, uri in segments[max(start, 0) :]:
            self._queue.append((duration, _resolve(self._playlist, uri)))
        self._next_sequence = max(self._next_sequence, sequence + len(segments))
        return False

    def _next(self) -> None:
        self._body = []
        self._body_size = 0
        if self._queue:
            self._kind = "segment"
            self.get(self._queue[0][1])
        elif self._endlist:
            self.deadline = float("inf")  # VOD played out: idle to the end
        else:
            wait = self._target / 2
            self.deadline = self.clock.seconds() + wait + self.timeout
            self._reload = self.clock.callLater(wait, self._reload_playlist)

    def _reload_playlist(self) -> None:
        self._reload = None
        if not self.done:
            self._kind = "playlist"
            self.get(self._playlist)

    def _end(self) -> None:
        if self._reload is not None and self._reload.active():
            self._reload.cancel()
        super()._end()

    def get(self, path: str) -> None:
        if self._kind == "playlist":
            self._body = []
            self._body_size = 0
        super().get(path)


def _resolve(base: str, uri: str) -> str:
    """A playlist URI as a path on the same server."""
    parts = urlsplit(urljoin(base, uri))
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def make_http_client(
    mode: str,
    host: str,
    port: int,
    path: str,
    n: int,
    clock: IReactorTime,
    timeout: float,
    sample: int | None = None,
) -> Callable[[int], BenchClient]:
    """
    The client builder for ``http-flv-play``, ``ws-flv-play`` or
    ``hls-play``; with ``sample``, FLV clients from that index on only
    count bytes past their first key frame.
    """

    def make(i: int) -> BenchClient:
        stream = path.replace("{i}", str(i))
        if mode == "hls-play":
            return HlsClient(i, stream, host, port, clock, timeout)
        count_only = sample is not None and i >= sample
        if mode == "ws-flv-play":
            return WsFlvClient(i, stream, host, port, clock, timeout, count_only=count_only)
        return HttpFlvClient(i, stream, host, port, clock, timeout, count_only=count_only)

    return make
