# -*- test-case-name: tests.test_codec_ts_demux -*-
"""
An MPEG-TS demuxer (ISO/IEC 13818-1) for the MPEG-TS-over-UDP caster, and
the elementary-stream-to-FLV step every caster shares.

:class:`TsDemuxer` takes bytes in any cut (UDP datagrams, a file read in
pieces) and returns the H.264 and AAC access units of the first program,
with their PTS and DTS unwrapped past the 33-bit wrap.  It is built for a
lossy network: a continuity-counter gap is counted and the PES it broke is
dropped, never raised; bytes that are not TS are skipped up to the next sync
byte; a bad PAT or PMT (CRC) is counted and ignored.  PCR is not read:
timing comes from PTS/DTS alone.

:class:`EsToFlv` turns those access units into RTMP audio and video
payloads: one video message per access unit (SRS 2.0 sends one per NALU, see
``trunk/src/app/srs_app_mpegts_udp.cpp``) with its composition time kept
from PTS - DTS (SRS 2.0 writes 0, so B-frames play in decode order), the
AVC sequence header whenever the SPS or PPS changes, and the AAC sequence
header from the ADTS header with the input's own sample rate (SRS 2.0
rounds 48 kHz down to 44.1 kHz).

Neither imports Twisted, reads a clock or does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from srstwist.codec.flv import (
    AAC_PACKET_RAW,
    AAC_PACKET_SEQUENCE_HEADER,
    AVC_PACKET_NALU,
    AVC_PACKET_SEQUENCE_HEADER,
    FrameType,
    SoundFormat,
    TagType,
    VideoCodec,
)
from srstwist.codec.ts import (
    PACKET_SIZE,
    PAT_PID,
    STREAM_TYPE_AAC,
    STREAM_TYPE_H264,
    SYNC_BYTE,
    TIMESTAMP_MASK,
    crc32_mpeg2,
)

__all__ = [
    "AudioFrame",
    "EsFrame",
    "EsToFlv",
    "FlvMessage",
    "TsDemuxer",
    "TsStats",
    "parse_adts_frames",
    "split_annexb",
]

#: The largest PES the demuxer assembles; a bigger one is dropped (and
#: counted).  4 MiB is far above any 1080p keyframe.
MAX_PES_SIZE: Final = 4 * 1024 * 1024
#: The most access units :meth:`TsDemuxer.receive_data` holds for one call.
MAX_FRAMES_PER_CALL: Final = 4096

_WRAP: Final = 1 << 33
_HALF: Final = 1 << 32
_NAL_SLICE_IDR: Final = 5
_NAL_SPS: Final = 7
_NAL_PPS: Final = 8
_NAL_AUD: Final = 9
#: PES stream ids without the optional PES header (13818-1 table 2-22):
#: program_stream_map, padding, private_stream_2, ECM, EMM, directory, DSMCC, H.222.1 E.
_NO_PES_HEADER: Final = frozenset((0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xFF, 0xF2, 0xF8))
_ADTS_RATES: Final = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


@dataclass(frozen=True, slots=True)
class EsFrame:
    """
    One access unit from the transport stream.

    :ivar stream_type: 0x1B (H.264, Annex B) or 0x0F (AAC in ADTS).
    :ivar pts: 90 kHz, unwrapped (may pass 2**33).
    :ivar dts: 90 kHz, unwrapped; the PTS when the PES carried none.
    :ivar data: the PES payload.
    """

    stream_type: int
    pts: int
    dts: int
    data: bytes = field(repr=False)


@dataclass
class TsStats:
    """What the demuxer survived, for the log and the tests."""

    packets: int = 0
    #: Bytes skipped to find a sync byte.
    skipped_bytes: int = 0
    #: Continuity-counter gaps (lost or reordered packets).
    continuity_errors: int = 0
    #: PES dropped: broken by a gap, too big, or without a timestamp.
    dropped_pes: int = 0
    #: PAT/PMT sections with a bad CRC or layout.
    bad_sections: int = 0


class _Pes:
    __slots__ = ("stream_type", "buffer", "expected", "cc", "broken")

    def __init__(self, stream_type: int) -> None:
        self.stream_type = stream_type
        self.buffer = bytearray()
        #: PES_packet_length + 6, or 0 when unbounded (video).
        self.expected = 0
        self.cc = -1
        self.broken = True


class TsDemuxer:
    """
    Read H.264 and AAC access units out of an MPEG-TS byte stream.

    Only the first program of the PAT is followed (a caster publishes one
    stream); stream types other than H.264 and AAC are ignored.  Memory is
    bounded by one PES per PID of at most ``max_pes_size`` bytes plus one
    partial packet.
    """

    def __init__(self, max_pes_size: int = MAX_PES_SIZE) -> None:
        self.stats = TsStats()
        self._max_pes = max_pes_size
        self._partial = b""
        self._pmt_pid = -1
        self._streams: dict[int, _Pes] = {}
        #: The last DTS out, unwrapped: the reference for the next ones.
        self._reference: int | None = None
        self._out: list[EsFrame] = []

    # -- input -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[EsFrame]:
        """
        Take more bytes, cut anywhere.

        :return: the access units they complete, in stream order.  An
            unbounded (video) PES completes when the next one on its PID
            starts, so it comes one frame late.
        """
        buffer = self._partial + bytes(data)
        offset = 0
        end = len(buffer)
        while end - offset >= PACKET_SIZE:
            if buffer[offset] != SYNC_BYTE:
                found = buffer.find(SYNC_BYTE, offset + 1)
                if found < 0:
                    found = end
                self.stats.skipped_bytes += found - offset
                offset = found
                continue
            self._packet(memoryview(buffer)[offset : offset + PACKET_SIZE])
            offset += PACKET_SIZE
        self._partial = buffer[offset:]
        out, self._out = self._out, []
        return out

    def flush(self) -> list[EsFrame]:
        """The end of input: return the unbounded PES still being assembled."""
        for pid, pes in self._streams.items():
            if pes.buffer and not pes.broken:
                self._complete(pes)
        out, self._out = self._out, []
        return out

    # -- packets -----------------------------------------------------------

    def _packet(self, packet: memoryview) -> None:
        self.stats.packets += 1
        pusi = packet[1] & 0x40
        pid = (packet[1] & 0x1F) << 8 | packet[2]
        control = packet[3] >> 4 & 0x3
        cc = packet[3] & 0xF
        start = 4
        discontinuity = False
        if control & 0x2:
            af_length = packet[4]
            if af_length > 183:
                self.stats.dropped_pes += 1
                return
            if af_length:
                discontinuity = bool(packet[5] & 0x80)
            start = 5 + af_length
        has_payload = bool(control & 0x1)
        if pid == PAT_PID or pid == self._pmt_pid:
            if has_payload and pusi:
                self._section(pid, packet[start:])
            return
        pes = self._streams.get(pid)
        if pes is None or not has_payload:
            return
        if pes.cc >= 0 and not discontinuity:
            if cc == pes.cc:
                return  # a duplicate packet (13818-1 2.4.3.3)
            if cc != (pes.cc + 1) & 0xF:
                self.stats.continuity_errors += 1
                if pes.buffer and not pes.broken:
                    self.stats.dropped_pes += 1
                pes.broken = True
                pes.buffer.clear()
        pes.cc = cc
        payload = packet[start:]
        if pusi:
            if pes.buffer and not pes.broken and pes.expected == 0:
                self._complete(pes)
            pes.buffer = bytearray(payload)
            pes.broken = False
            pes.expected = 0
            if len(payload) >= 6:
                length = payload[4] << 8 | payload[5]
                pes.expected = length + 6 if length else 0
        elif pes.broken:
            return
        else:
            if len(pes.buffer) + len(payload) > self._max_pes:
                self.stats.dropped_pes += 1
                pes.broken = True
                pes.buffer.clear()
                return
            pes.buffer += payload
        if pes.expected and len(pes.buffer) >= pes.expected:
            del pes.buffer[pes.expected :]
            self._complete(pes)

    def _section(self, pid: int, payload: memoryview) -> None:
        if not payload:
            return
        pointer = payload[0]
        section = bytes(payload[1 + pointer :])
        if len(section) < 3:
            self.stats.bad_sections += 1
            return
        length = (section[1] & 0x0F) << 8 | section[2]
        if length < 9 or 3 + length > len(section):
            # Sections spanning packets are not assembled: a caster's PAT
            # and PMT (ffmpeg's, an encoder's) fit one packet.
            self.stats.bad_sections += 1
            return
        section = section[: 3 + length]
        if crc32_mpeg2(section) != 0:
            self.stats.bad_sections += 1
            return
        body = section[8:-4]
        if pid == PAT_PID and section[0] == 0x00:
            for i in range(0, len(body) - 3, 4):
                program = body[i] << 8 | body[i + 1]
                if program != 0:
                    self._pmt_pid = (body[i + 2] & 0x1F) << 8 | body[i + 3]
                    break
        elif pid == self._pmt_pid and section[0] == 0x02:
            if len(body) < 4:
                self.stats.bad_sections += 1
                return
            info = (body[2] & 0x0F) << 8 | body[3]
            i = 4 + info
            wanted: dict[int, int] = {}
            while i + 5 <= len(body):
                stream_type = body[i]
                es_pid = (body[i + 1] & 0x1F) << 8 | body[i + 2]
                es_info = (body[i + 3] & 0x0F) << 8 | body[i + 4]
                if stream_type in (STREAM_TYPE_H264, STREAM_TYPE_AAC):
                    wanted[es_pid] = stream_type
                i += 5 + es_info
            for es_pid, stream_type in wanted.items():
                known = self._streams.get(es_pid)
                if known is None or known.stream_type != stream_type:
                    self._streams[es_pid] = _Pes(stream_type)
            for es_pid in list(self._streams):
                if es_pid not in wanted:
                    del self._streams[es_pid]

    # -- PES ---------------------------------------------------------------

    def _complete(self, pes: _Pes) -> None:
        data = bytes(pes.buffer)
        pes.buffer = bytearray()
        pes.broken = True
        if len(data) < 9 or data[:3] != b"\x00\x00\x01" or data[3] in _NO_PES_HEADER:
            self.stats.dropped_pes += 1
            return
        flags = data[7] >> 6
        header_end = 9 + data[8]
        if flags & 0x2 == 0 or len(data) < max(header_end, 14):
            self.stats.dropped_pes += 1
            return
        pts = _timestamp(data, 9)
        dts = _timestamp(data, 14) if flags == 0x3 and len(data) >= 19 else pts
        if len(self._out) >= MAX_FRAMES_PER_CALL:
            self.stats.dropped_pes += 1
            return
        dts = self._unwrap(dts)
        pts = self._unwrap(pts)
        self._reference = dts
        self._out.append(EsFrame(pes.stream_type, pts, dts, data[header_end:]))

    def _unwrap(self, value: int) -> int:
        reference = self._reference
        if reference is None:
            return value
        delta = ((value - (reference & TIMESTAMP_MASK) + _HALF) % _WRAP) - _HALF
        return reference + delta


def _timestamp(data: bytes, offset: int) -> int:
    """A 33-bit PTS or DTS (13818-1 2.4.3.7), marker bits not checked."""
    b = data[offset : offset + 5]
    return (
        (b[0] >> 1 & 0x07) << 30
        | b[1] << 22
        | (b[2] >> 1) << 15
        | b[3] << 7
        | b[4] >> 1
    )


# -- elementary streams ------------------------------------------------------


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (H.264 B.1), start codes removed."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        nxt = data.find(b"\x00\x00\x01", begin)
        end = len(data) if nxt < 0 else nxt
        unit = data[begin:end]
        if nxt >= 0:
            unit = unit.rstrip(b"\x00")  # the leading zero of the next 4-byte start code
        if unit:
            units.append(unit)
        start = nxt
    return units


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One raw AAC frame and the AudioSpecificConfig its ADTS header gives."""

    asc: bytes
    sample_rate: int
    channels: int
    raw: bytes = field(repr=False)


def parse_adts_frames(data: bytes) -> list[AudioFrame]:
    """
    The frames of an ADTS stream (ISO 14496-3 1.A.2): bytes up to a sync
    word are skipped, a truncated last frame is dropped.
    """
    frames: list[AudioFrame] = []
    i = 0
    end = len(data)
    while i + 7 <= end:
        if data[i] != 0xFF or data[i + 1] & 0xF6 != 0xF0:
            i += 1
            continue
        protection_absent = data[i + 1] & 0x01
        profile = data[i + 2] >> 6
        rate_index = data[i + 2] >> 2 & 0x0F
        channels = (data[i + 2] & 0x01) << 2 | data[i + 3] >> 6
        length = (data[i + 3] & 0x03) << 11 | data[i + 4] << 3 | data[i + 5] >> 5
        header = 7 if protection_absent else 9
        if length < header or rate_index >= len(_ADTS_RATES):
            i += 1
            continue
        if i + length > end:
            break
        object_type = profile + 1
        asc = (object_type << 11 | rate_index << 7 | channels << 3).to_bytes(2, "big")
        frames.append(AudioFrame(asc, _ADTS_RATES[rate_index], channels, data[i + header : i + length]))
        i += length
    return frames


@dataclass(frozen=True, slots=True)
class FlvMessage:
    """An RTMP message a caster publishes: type 8 or 9, ms timestamp, payload."""

    message_type: int
    timestamp: int
    payload: bytes = field(repr=False)


class EsToFlv:
    """
    H.264 access units and AAC frames with 90 kHz times to RTMP messages.

    Timestamps are milliseconds from the first frame's DTS (earlier ones are
    clamped to 0).  Video before the first SPS and PPS is dropped: a player
    could not decode it.  Shared by the TS and RTSP casters.
    """

    def __init__(self) -> None:
        self._base: int | None = None
        self._sps = b""
        self._pps = b""
        self._sent_video_header = b""
        self._sent_audio_header = b""

    def _ms(self, ticks: int) -> int:
        if self._base is None:
            self._base = ticks
        return max(0, (ticks - self._base) // 90)

    def video(self, pts: int, dts: int, nalus: list[bytes]) -> list[FlvMessage]:
        """One access unit (its NAL units, no start codes) at 90 kHz times."""
        timestamp = self._ms(dts)
        keep: list[bytes] = []
        keyframe = False
        for nalu in nalus:
            kind = nalu[0] & 0x1F
            if kind == _NAL_SPS:
                self._sps = nalu
            elif kind == _NAL_PPS:
                self._pps = nalu
            elif kind != _NAL_AUD:
                keyframe = keyframe or kind == _NAL_SLICE_IDR
                keep.append(nalu)
        out: list[FlvMessage] = []
        if self._sps and self._pps and len(self._sps) >= 4:
            record = (
                bytes((1, self._sps[1], self._sps[2], self._sps[3], 0xFF, 0xE1))
                + len(self._sps).to_bytes(2, "big")
                + self._sps
                + b"\x01"
                + len(self._pps).to_bytes(2, "big")
                + self._pps
            )
            if record != self._sent_video_header:
                self._sent_video_header = record
                prefix = bytes((FrameType.KEYFRAME << 4 | VideoCodec.AVC, AVC_PACKET_SEQUENCE_HEADER, 0, 0, 0))
                out.append(FlvMessage(TagType.VIDEO, timestamp, prefix + record))
        if not keep or not self._sent_video_header:
            return out
        cts = max(-0x800000, min(0x7FFFFF, (pts - dts) // 90))
        frame_type = FrameType.KEYFRAME if keyframe else FrameType.INTER_FRAME
        body = [bytes((frame_type << 4 | VideoCodec.AVC, AVC_PACKET_NALU)), cts.to_bytes(3, "big", signed=True)]
        for nalu in keep:
            body.append(len(nalu).to_bytes(4, "big"))
            body.append(nalu)
        out.append(FlvMessage(TagType.VIDEO, timestamp, b"".join(body)))
        return out

    def audio(self, pts: int, frames: list[AudioFrame]) -> list[FlvMessage]:
        """
        AAC frames, the first at ``pts`` (90 kHz), each 1024 samples after
        the one before (ISO 14496-3: an AAC frame is 1024 samples).
        """
        out: list[FlvMessage] = []
        for index, frame in enumerate(frames):
            timestamp = self._ms(pts + index * 1024 * 90000 // frame.sample_rate)
            # SoundFormat 10, SoundRate 3 and SoundSize 1 as FLV E.4.2.1 asks for AAC;
            # SoundType from the channels (decoders read the ASC anyway).
            flags = SoundFormat.AAC << 4 | 3 << 2 | 1 << 1 | (1 if frame.channels != 1 else 0)
            if frame.asc != self._sent_audio_header:
                self._sent_audio_header = frame.asc
                out.append(FlvMessage(TagType.AUDIO, timestamp, bytes((flags, AAC_PACKET_SEQUENCE_HEADER)) + frame.asc))
            out.append(FlvMessage(TagType.AUDIO, timestamp, bytes((flags, AAC_PACKET_RAW)) + frame.raw))
        return out

    def frame(self, frame: EsFrame) -> list[FlvMessage]:
        """A :class:`TsDemuxer` access unit to messages."""
        if frame.stream_type == STREAM_TYPE_H264:
            return self.video(frame.pts, frame.dts, split_annexb(frame.data))
        return self.audio(frame.pts, parse_adts_frames(frame.data))
