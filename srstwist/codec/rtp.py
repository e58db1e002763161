# -*- test-case-name: tests.test_codec_rtp -*-
"""
RTP (RFC 3550) for the RTSP caster: packets, RTCP sender reports, and the
depacketizers of H.264 (RFC 6184: single NAL unit, STAP-A, FU-A) and AAC
(RFC 3640 ``AAC-hbr``: AU headers), sans-IO.

Times: each stream's 32-bit RTP timestamps are unwrapped, then put on one
90 kHz timeline through the stream's first RTCP sender report (its NTP
time), so audio and video line up whatever their random RTP offsets; until
a report arrives, a stream starts at 0.  RTP carries no decoding time, so
:class:`DecodeTimes` derives H.264 DTS from the PTS sequence with a
reorder window (B-frames keep their composition time).

A lost packet (a sequence gap) drops the access unit it broke, never
raises.
"""

from __future__ import annotations

import heapq
import struct
from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "RtpError",
    "RtpPacket",
    "parse_rtp",
    "parse_sender_report",
    "Timeline",
    "H264Depacketizer",
    "AacDepacketizer",
    "DecodeTimes",
]

#: The largest access unit assembled from FU-A fragments.
MAX_ACCESS_UNIT = 4 * 1024 * 1024


class RtpError(ValueError):
    """A packet that is not RTP."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    marker: bool
    ssrc: int
    payload: bytes = field(repr=False)


def parse_rtp(data: bytes) -> RtpPacket:
    """
    :raises RtpError: shorter than its header, version not 2, or padding
        and extension lengths past the end.
    """
    if len(data) < 12 or data[0] >> 6 != 2:
        raise RtpError(f"not RTP ({len(data)} bytes)")
    csrc = data[0] & 0x0F
    offset = 12 + 4 * csrc
    if data[0] & 0x10:
        if len(data) < offset + 4:
            raise RtpError("RTP extension past the end")
        offset += 4 + 4 * struct.unpack_from(">H", data, offset + 2)[0]
    end = len(data)
    if data[0] & 0x20:
        end -= data[-1]
    if offset > end:
        raise RtpError("RTP header or padding past the end")
    sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
    return RtpPacket(data[1] & 0x7F, sequence, timestamp, bool(data[1] & 0x80), ssrc, data[offset:end])


def parse_sender_report(data: bytes) -> tuple[float, int] | None:
    """``(NTP seconds, RTP timestamp)`` of the first RTCP SR in a compound packet, else None."""
    if len(data) >= 28 and data[0] >> 6 == 2 and data[1] == 200:
        ntp_hi, ntp_lo, rtp = struct.unpack_from(">III", data, 8)
        return ntp_hi + ntp_lo / 2**32, rtp
    return None


class Timeline:
    """One stream's RTP clock to 90 kHz ticks on the session's shared timeline."""

    def __init__(self, clock_rate: int) -> None:
        self.rate = clock_rate
        self._last: int | None = None
        self._extended = 0
        #: (extended RTP timestamp, NTP seconds) of the first sender report.
        self._anchor: tuple[int, float] | None = None
        self._first: int | None = None

    def extend(self, timestamp: int) -> int:
        if self._last is None:
            self._extended = timestamp
        else:
            delta = (timestamp - self._last + 2**31) % 2**32 - 2**31
            self._extended += delta
        self._last = timestamp
        return self._extended

    def sender_report(self, ntp: float, timestamp: int) -> None:
        if self._anchor is None:
            self._anchor = (self.extend(timestamp) if self._last is None else self._near(timestamp), ntp)

    def _near(self, timestamp: int) -> int:
        assert self._last is not None
        return self._extended + (timestamp - self._last + 2**31) % 2**32 - 2**31

    def ticks(self, timestamp: int, epoch: list[float]) -> int:
        """
        90 kHz ticks of ``timestamp``; ``epoch`` (a one-item list shared by
        the session's streams) holds the NTP time of tick 0 once known.
        """
        extended = self.extend(timestamp)
        if self._anchor is not None and self._first is None:
            base, ntp = self._anchor
            seconds = ntp + (extended - base) / self.rate
            if not epoch:
                epoch.append(seconds)
            return int((seconds - epoch[0]) * 90000)
        if self._first is None:
            self._first = extended
        return (extended - self._first) * 90000 // self.rate


class H264Depacketizer:
    """RTP payloads (RFC 6184) to access units: ``(RTP timestamp, [NAL units])``."""

    def __init__(self) -> None:
        self._units: list[bytes] = []
        self._timestamp: int | None = None
        self._fragment: bytearray | None = None
        self._size = 0
        self._sequence: int | None = None
        self._broken = False
        self.lost = 0

    def push(self, packet: RtpPacket) -> list[tuple[int, list[bytes]]]:
        out: list[tuple[int, list[bytes]]] = []
        if self._sequence is not None and packet.sequence != (self._sequence + 1) & 0xFFFF:
            self.lost += 1
            self._broken = True
            self._fragment = None
        self._sequence = packet.sequence
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            self._finish(out)
        self._timestamp = packet.timestamp
        payload = packet.payload
        if not payload:
            return out
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            self._add(payload)
        elif kind == 24:  # STAP-A
            i = 1
            while i + 2 <= len(payload):
                size = payload[i] << 8 | payload[i + 1]
                if size == 0 or i + 2 + size > len(payload):
                    self._broken = True
                    break
                self._add(payload[i + 2 : i + 2 + size])
                i += 2 + size
        elif kind == 28 and len(payload) >= 2:  # FU-A
            start, end = payload[1] & 0x80, payload[1] & 0x40
            if start:
                self._fragment = bytearray(((payload[0] & 0xE0) | (payload[1] & 0x1F),))
            if self._fragment is None:
                self._broken = True
            else:
                self._fragment += payload[2:]
                if len(self._fragment) > MAX_ACCESS_UNIT:
                    self._fragment = None
                    self._broken = True
                elif end:
                    self._add(bytes(self._fragment))
                    self._fragment = None
        # other types (STAP-B, MTAP, FU-B: not sent in non-interleaved mode) are skipped
        if packet.marker:
            self._finish(out)
        return out

    def _add(self, unit: bytes) -> None:
        self._size += len(unit)
        if self._size > MAX_ACCESS_UNIT:
            self._broken = True
            return
        self._units.append(bytes(unit))

    def _finish(self, out: list[tuple[int, list[bytes]]]) -> None:
        if self._units and not self._broken and self._timestamp is not None:
            out.append((self._timestamp, self._units))
        elif self._units:
            # Keep parameter sets from a broken unit: the next IDR needs them.
            kept = [u for u in self._units if u[0] & 0x1F in (7, 8)]
            if kept and self._timestamp is not None:
                out.append((self._timestamp, kept))
        self._units = []
        self._size = 0
        self._broken = False
        self._fragment = None
        self._timestamp = None


class AacDepacketizer:
    """RTP payloads (RFC 3640 AAC-hbr) to ``(RTP timestamp, raw AAC frame)``."""

    def __init__(self, size_length: int = 13, index_length: int = 3, index_delta_length: int = 3) -> None:
        self.size_length = size_length
        self.index_length = index_length
        self.index_delta_length = index_delta_length
        self.lost = 0
        self._sequence: int | None = None

    def push(self, packet: RtpPacket) -> list[tuple[int, bytes]]:
        if self._sequence is not None and packet.sequence != (self._sequence + 1) & 0xFFFF:
            self.lost += 1
        self._sequence = packet.sequence
        payload = packet.payload
        if len(payload) < 2 or self.size_length <= 0:
            return []
        header_bits = payload[0] << 8 | payload[1]
        header_bytes = (header_bits + 7) // 8
        if 2 + header_bytes > len(payload):
            return []
        bits = int.from_bytes(payload[2 : 2 + header_bytes], "big") if header_bytes else 0
        total = header_bytes * 8
        position = 0
        sizes: list[int] = []
        first = True
        while position + self.size_length <= header_bits:
            width = self.size_length + (self.index_length if first else self.index_delta_length)
            if position + width > header_bits:
                break
            value = bits >> (total - position - width) & ((1 << width) - 1)
            sizes.append(value >> (width - self.size_length))
            position += width
            first = False
        out: list[tuple[int, bytes]] = []
        offset = 2 + header_bytes
        for index, size in enumerate(sizes):
            if offset + size > len(payload):
                break  # a fragmented AU (larger than one packet): dropped
            out.append((packet.timestamp + index * 1024, payload[offset : offset + size]))
            offset += size
        return out


class DecodeTimes:
    """
    H.264 decoding times from presentation times, for B-frames over RTP.

    Access units come in decoding order; the DTS of the n-th is the n-th
    smallest PTS, known once ``depth`` more units arrived (the reorder
    depth: x264's ``-bf 2`` needs 2).  Units wait in a bounded queue.
    """

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self._waiting: deque[tuple[int, list[bytes]]] = deque()
        self._heap: list[int] = []
        self._last: int | None = None

    def push(self, pts: int, units: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
        """:return: ``(pts, dts, units)`` of the units now due."""
        self._waiting.append((pts, units))
        heapq.heappush(self._heap, pts)
        out = []
        while len(self._waiting) > self.depth:
            out.append(self._pop())
        return out

    def _pop(self) -> tuple[int, int, list[bytes]]:
        pts, units = self._waiting.popleft()
        dts = heapq.heappop(self._heap)
        dts = min(dts, pts)
        if self._last is not None and dts < self._last:
            dts = self._last  # deeper reordering than the window: CTS may go negative
        self._last = dts
        return pts, dts, units
