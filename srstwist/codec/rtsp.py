# -*- test-case-name: tests.test_codec_rtsp -*-
"""
RTSP 1.0 (RFC 2326) framing for a server that takes a push: requests with
their headers and body, and interleaved binary data (``$``, channel, 16-bit
length: RFC 2326 10.12) on the same connection, in any cut.  Sans-IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "RtspError",
    "RtspRequest",
    "Interleaved",
    "RtspParser",
    "response",
    "parse_transport",
    "MAX_HEADER_SIZE",
    "MAX_BODY_SIZE",
]

#: A request line and headers longer than this are refused.
MAX_HEADER_SIZE = 16 * 1024
#: A request body (an SDP) longer than this is refused.
MAX_BODY_SIZE = 64 * 1024


class RtspError(ValueError):
    """Bytes that are not RTSP: the connection is closed."""


@dataclass(frozen=True, slots=True)
class RtspRequest:
    method: str
    uri: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False, default=b"")

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


@dataclass(frozen=True, slots=True)
class Interleaved:
    channel: int
    data: bytes = field(repr=False)


class RtspParser:
    """
    Requests and interleaved frames out of a byte stream.  Holds at most
    one header block, one body and one frame (64 KiB) at a time.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: tuple[str, str, dict[str, str], int] | None = None

    def receive_data(self, data: bytes) -> list[RtspRequest | Interleaved]:
        """:raises RtspError: not RTSP, or over a bound."""
        buffer = self._buffer
        buffer += data
        out: list[RtspRequest | Interleaved] = []
        while buffer or self._pending is not None:
            if self._pending is not None:
                method, uri, headers, length = self._pending
                if len(buffer) < length:
                    break
                out.append(RtspRequest(method, uri, headers, bytes(buffer[:length])))
                del buffer[:length]
                self._pending = None
                continue
            if buffer[0] == 0x24:  # '$'
                if len(buffer) < 4:
                    break
                size = buffer[2] << 8 | buffer[3]
                if len(buffer) < 4 + size:
                    break
                out.append(Interleaved(buffer[1], bytes(buffer[4 : 4 + size])))
                del buffer[: 4 + size]
                continue
            if buffer[0] in (0x0D, 0x0A):
                del buffer[:1]
                continue
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEADER_SIZE:
                    raise RtspError(f"no end of headers in {len(buffer)} bytes")
                if not buffer[:1].isalpha():
                    raise RtspError(f"junk byte 0x{buffer[0]:02x} where a request or '$' frame starts")
                break
            if end > MAX_HEADER_SIZE:
                raise RtspError("headers too long")
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("RTSP/1."):
                raise RtspError(f"bad request line {lines[0][:80]!r}")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise RtspError(f"bad header line {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError as e:
                raise RtspError("bad Content-Length") from e
            if not 0 <= length <= MAX_BODY_SIZE:
                raise RtspError(f"body of {length} bytes is over {MAX_BODY_SIZE}")
            self._pending = (parts[0], parts[1], headers, length)
        return out


def response(code: int, reason: str, cseq: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One RTSP response."""
    lines = [f"RTSP/1.0 {code} {reason}", f"CSeq: {cseq}", "Server: srstwist"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_transport(value: str) -> dict[str, str]:
    """The first choice of a ``Transport`` header: ``{'RTP/AVP/TCP': '', 'interleaved': '0-1', ...}``."""
    first = value.split(",")[0]
    out: dict[str, str] = {}
    for item in first.split(";"):
        name, _, setting = item.strip().partition("=")
        if name:
            out[name.lower() if "=" in item else name.upper()] = setting
    return out
