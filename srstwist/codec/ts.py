# -*- test-case-name: tests.test_codec_ts -*-
"""
An MPEG-TS muxer for HLS segments and HTTP-TS, sans-IO.

HLS cuts one long transport stream into files; a player that plays them in
a row sees one stream.  So the muxer is made once per stream and lives
across segments, and across unpublish/republish: its continuity counters
carry on from one segment into the next (SRS #375), and
the segmenter calls `TsMuxer.begin_segment` so that the next PES is
preceded by a PAT and a PMT (``SrsTsContext::encode_pat_pmt``).

What goes on the wire follows SRS 2.0 (``srs_kernel_ts.cpp``): PMT PID
0x1001, H.264 on 0x100, AAC (ADTS) on 0x101, MP3 on 0x102, one table per
packet padded with 0xFF, PTS/DTS at 90 kHz, PCR (equal to the DTS, #311) in
the first packet of a keyframe PES or of every audio PES when the program
has no video, stuffing in an adaptation field.  Where SRS is wrong or
wasteful, this muxer differs, each time towards ISO 13818-1 and what
players check:

* PAT and PMT continuity counters increment like any other PID (SRS writes
  0 every time, so each segment's tables repeat counter 0);
* the PMT version_number increments whenever the PMT content changes (SRS
  keeps 0, and demuxers such as ffmpeg ignore a changed PMT with the same
  version);
* a PCR packet of a keyframe sets random_access_indicator (SRS: 0);
* one byte of stuffing is an adaptation field of length 0 (SRS writes a
  two-byte field and spills the last byte into a packet of stuffing);
* a PTS below its DTS (a negative composition time) is raised to the DTS.

Bytes out: every method returns ``bytes`` made of whole 188-byte packets.
Errors raise `TsError`.  This module imports nothing from Twisted.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "AAC_PID",
    "MP3_PID",
    "PACKET_SIZE",
    "PAT_PID",
    "PMT_PID",
    "STREAM_ID_AUDIO",
    "STREAM_ID_VIDEO",
    "STREAM_TYPE_AAC",
    "STREAM_TYPE_H264",
    "STREAM_TYPE_MP3",
    "SYNC_BYTE",
    "TIMESTAMP_MASK",
    "VIDEO_PID",
    "TsError",
    "TsMuxer",
    "crc32_mpeg2",
    "encode_pcr",
    "encode_timestamp",
    "pat_section",
    "pes_header",
    "pid_of",
    "pmt_section",
    "psi_packet",
]

PACKET_SIZE: Final = 188
SYNC_BYTE: Final = 0x47
_PAYLOAD_SIZE: Final = PACKET_SIZE - 4

PAT_PID: Final = 0x0000
PMT_PID: Final = 0x1001
VIDEO_PID: Final = 0x100
AAC_PID: Final = 0x101
MP3_PID: Final = 0x102

STREAM_TYPE_H264: Final = 0x1B
STREAM_TYPE_AAC: Final = 0x0F
#: ISO 13818-3 audio: what SRS declares for MP3 (ISO/IEC 13818-1 Table 2-34).
STREAM_TYPE_MP3: Final = 0x04

STREAM_ID_VIDEO: Final = 0xE0
STREAM_ID_AUDIO: Final = 0xC0

_TRANSPORT_STREAM_ID: Final = 1
_PROGRAM_NUMBER: Final = 1

#: PTS, DTS and PCR base are 33-bit counters of a 90 kHz clock.
TIMESTAMP_MASK: Final = (1 << 33) - 1

_PIDS: Final = {STREAM_TYPE_H264: VIDEO_PID, STREAM_TYPE_AAC: AAC_PID, STREAM_TYPE_MP3: MP3_PID}
_STREAM_IDS: Final = {
    STREAM_TYPE_H264: STREAM_ID_VIDEO,
    STREAM_TYPE_AAC: STREAM_ID_AUDIO,
    STREAM_TYPE_MP3: STREAM_ID_AUDIO,
}
_VIDEO_TYPES: Final = frozenset((STREAM_TYPE_H264,))
_AUDIO_TYPES: Final = frozenset((STREAM_TYPE_AAC, STREAM_TYPE_MP3))

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_TS_HEADER: Final = struct.Struct(">BHB")
_TIMESTAMP: Final = struct.Struct(">BHH")
_PES_START: Final = struct.Struct(">3sBHBBB")
_PES_PREFIX: Final = b"\x00\x00\x01"
# Adaptation field flags (ISO 13818-1 2.4.3.5).
_AF_RANDOM_ACCESS: Final = 0x40
_AF_PCR: Final = 0x10


class TsError(ValueError):
    """
    A program or PES the muxer cannot write: no stream, an unknown stream
    type, a PES for a stream the program does not declare.
    """


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """
    The CRC of a PSI section: polynomial 0x04C11DB7, initial value
    0xFFFFFFFF, no reflection, no final XOR (ISO 13818-1 annex B).  A whole
    section including its CRC gives 0.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def _section(table_id: int, table_id_extension: int, version: int, body: bytes) -> bytes:
    # section_syntax_indicator 1, '0', reserved 11; section_length counts
    # from after itself to the end of the CRC.
    length = 5 + len(body) + 4
    head = bytes(
        (
            table_id,
            0xB0 | (length >> 8),
            length & 0xFF,
            table_id_extension >> 8,
            table_id_extension & 0xFF,
            0xC1 | (version & 0x1F) << 1,  # reserved 11, version, current_next 1
            0x00,  # section_number
            0x00,  # last_section_number
        )
    )
    section = head + body
    return section + _U32.pack(crc32_mpeg2(section))


def pat_section() -> bytes:
    """
    The program association section: program 1 on PMT PID 0x1001
    (ISO/IEC 13818-1 2.4.4.3; SRS's ``SrsTsContext::encode_pat_pmt``).
    """
    return _section(
        0x00,
        _TRANSPORT_STREAM_ID,
        0,
        _U16.pack(_PROGRAM_NUMBER) + _U16.pack(0xE000 | PMT_PID),
    )


def pid_of(stream_type: int) -> int:
    """
    The PID SRS uses for a stream type.

    :raises TsError: a stream type the muxer does not write.
    """
    try:
        return _PIDS[stream_type]
    except KeyError:
        raise TsError(f"stream type 0x{stream_type:02x} is not H.264, AAC or MP3") from None


def pmt_section(video_type: int | None, audio_type: int | None, version: int = 0) -> bytes:
    """
    The program map section: audio listed before video, PCR on the video PID
    when there is video, else on the audio PID (ISO/IEC 13818-1 2.4.4.8;
    SRS's ``SrsTsContext::encode_pat_pmt``).

    :raises TsError: neither stream, or an unknown stream type.
    """
    if video_type is not None and video_type not in _VIDEO_TYPES:
        raise TsError(f"stream type 0x{video_type:02x} is not a video type the muxer writes")
    if audio_type is not None and audio_type not in _AUDIO_TYPES:
        raise TsError(f"stream type 0x{audio_type:02x} is not an audio type the muxer writes")
    if video_type is None and audio_type is None:
        raise TsError("a program needs an audio or a video stream")
    pcr_pid = pid_of(video_type) if video_type is not None else pid_of(audio_type)  # type: ignore[arg-type]
    body = bytearray(_U16.pack(0xE000 | pcr_pid))
    body += b"\xf0\x00"  # reserved, program_info_length 0
    for stream_type in (audio_type, video_type):
        if stream_type is not None:
            body.append(stream_type)
            body += _U16.pack(0xE000 | pid_of(stream_type))
            body += b"\xf0\x00"  # reserved, ES_info_length 0
    return _section(0x02, _PROGRAM_NUMBER, version, bytes(body))


def psi_packet(pid: int, section: bytes, continuity_counter: int) -> bytes:
    """
    One TS packet carrying a whole section: PUSI set, payload only, a
    pointer_field of 0, then the section, then 0xFF fill.
    """
    head = _TS_HEADER.pack(SYNC_BYTE, 0x4000 | pid, 0x10 | (continuity_counter & 0x0F))
    packet = head + b"\x00" + section
    if len(packet) > PACKET_SIZE:
        raise TsError(f"section of {len(section)} bytes does not fit one packet")
    return packet + b"\xff" * (PACKET_SIZE - len(packet))


def encode_timestamp(prefix: int, value: int) -> bytes:
    """
    The 5-byte PTS or DTS field: ``prefix`` 2 for a lone PTS, 3 for a PTS
    followed by a DTS, 1 for that DTS; marker bits set (ISO/IEC 13818-1 2.4.3.6).
    """
    value &= TIMESTAMP_MASK
    return _TIMESTAMP.pack(
        prefix << 4 | ((value >> 30) & 0x07) << 1 | 1,
        ((value >> 15) & 0x7FFF) << 1 | 1,
        (value & 0x7FFF) << 1 | 1,
    )


def encode_pcr(base: int) -> bytes:
    """
    The 6-byte PCR field: 33-bit base, 6 reserved bits set, extension 0.
    """
    base &= TIMESTAMP_MASK
    return _U32.pack(base >> 1) + bytes(((base & 1) << 7 | 0x7E, 0x00))


def pes_header(stream_id: int, es_length: int, pts: int, dts: int) -> bytes:
    """
    A PES header: no scrambling, data_alignment_indicator 0, PTS only when
    it equals the DTS, else PTS and DTS.  PES_packet_length is 0 when the
    packet would be longer than 16 bits can say, as for large video frames.
    """
    if pts == dts:
        flags, optional = 0x80, encode_timestamp(2, pts)
    else:
        flags, optional = 0xC0, encode_timestamp(3, pts) + encode_timestamp(1, dts)
    length = es_length + 3 + len(optional)
    if length > 0xFFFF:
        length = 0
    return _PES_START.pack(_PES_PREFIX, stream_id, length, 0x80, flags, len(optional)) + optional


class TsMuxer:
    """
    Turns elementary-stream frames into TS packets, keeping the continuity
    counters of every PID for as long as it lives.

    Declare the program with `set_program` (again whenever it changes), call
    `begin_segment` when a new file starts, then `write_pes` per frame: the
    PAT and PMT come out in front of the first PES of a segment and of the
    first PES after the program changed.
    """

    __slots__ = ("_continuity", "_last_pmt", "_program", "_version", "_written")

    def __init__(self) -> None:
        self._continuity: dict[int, int] = {}
        self._program: tuple[int | None, int | None] | None = None
        # What the tables in the current segment declare (None: none yet).
        self._written: tuple[int | None, int | None] | None = None
        self._last_pmt: tuple[int | None, int | None] | None = None
        self._version = 0

    @property
    def program(self) -> tuple[int | None, int | None] | None:
        """
        ``(video stream type, audio stream type)`` as last declared, either
        ``None`` when absent; ``None`` before `set_program`.
        """
        return self._program

    def continuity_counter(self, pid: int) -> int:
        """
        The counter the next packet on ``pid`` will carry.
        """
        return self._continuity.get(pid, 0)

    def set_program(self, video_type: int | None, audio_type: int | None) -> None:
        """
        Declare the streams of the program.

        :raises TsError: neither stream, or a stream type not written here.
        """
        program = (video_type, audio_type)
        if program == self._program:
            return
        pmt_section(video_type, audio_type)  # validates
        self._program = program

    def begin_segment(self) -> None:
        """
        A new file starts: the next PES is preceded by a PAT and a PMT.
        """
        self._written = None

    def program_tables(self) -> bytes:
        """
        A PAT and a PMT packet for the declared program, now; later PES go
        without tables until the program changes or a segment begins.

        :raises TsError: no program declared.
        """
        if self._program is None:
            raise TsError("no program declared")
        if self._last_pmt is not None and self._last_pmt != self._program:
            self._version = (self._version + 1) & 0x1F
        self._last_pmt = self._written = self._program
        video_type, audio_type = self._program
        return psi_packet(PAT_PID, pat_section(), self._next_counter(PAT_PID)) + psi_packet(
            PMT_PID,
            pmt_section(video_type, audio_type, self._version),
            self._next_counter(PMT_PID),
        )

    def write_pes(
        self,
        stream_type: int,
        es: bytes,
        pts: int,
        dts: int | None = None,
        *,
        pcr: bool = False,
        random_access: bool = False,
    ) -> bytes:
        """
        One frame (or aggregate of audio frames) as one PES, in as many TS
        packets as it takes, preceded by the tables when they are due.

        :param stream_type: a type the program declares.
        :param es: the elementary-stream bytes (Annex-B H.264, ADTS AAC, MP3
            frames); empty writes nothing.
        :param pts: presentation time, 90 kHz.
        :param dts: decoding time, 90 kHz; ``None`` means equal to ``pts``.
        :param pcr: put a PCR equal to the DTS in the first packet.
        :param random_access: set random_access_indicator with the PCR.
        :raises TsError: the program does not declare ``stream_type``.
        """
        if self._program is None or stream_type not in self._program:
            raise TsError(f"stream type 0x{stream_type:02x} is not in the program {self._program}")
        if not es:
            return b""
        if dts is None:
            dts = pts
        elif pts < dts:
            pts = dts
        tables = b"" if self._written == self._program else self.program_tables()
        header = pes_header(_STREAM_IDS[stream_type], len(es), pts, dts)
        adaptation = b""
        if pcr:
            flags = _AF_PCR | (_AF_RANDOM_ACCESS if random_access else 0)
            adaptation = bytes((flags,)) + encode_pcr(dts)
        return tables + self._packetize(_PIDS[stream_type], header + es, adaptation)

    def _next_counter(self, pid: int) -> int:
        counter = self._continuity.get(pid, 0)
        self._continuity[pid] = (counter + 1) & 0x0F
        return counter

    def _packetize(self, pid: int, data: bytes, adaptation: bytes) -> bytes:
        """
        Cut one PES into packets.  ``adaptation`` is the first packet's
        adaptation field without its length byte (flags and PCR), or empty.
        """
        size = len(data)
        view = memoryview(data)
        out = bytearray()
        counter = self._continuity.get(pid, 0)
        pack = _TS_HEADER.pack
        flags_pid = 0x4000 | pid  # payload_unit_start_indicator on the first
        position = 0
        while position < size:
            left = size - position
            room = _PAYLOAD_SIZE - (len(adaptation) + 1 if adaptation else 0)
            field = b""
            if left < room:
                stuffing = room - left
                if adaptation:
                    adaptation += b"\xff" * stuffing
                elif stuffing == 1:
                    field = b"\x00"  # adaptation_field_length 0
                else:
                    field = bytes((stuffing - 1, 0x00)) + b"\xff" * (stuffing - 2)
                room = left
            if adaptation:
                field = bytes((len(adaptation),)) + adaptation
                adaptation = b""
            out += pack(SYNC_BYTE, flags_pid, (0x30 if field else 0x10) | counter)
            if field:
                out += field
            out += view[position : position + room]
            position += room
            counter = (counter + 1) & 0x0F
            flags_pid = pid
        self._continuity[pid] = counter
        return bytes(out)
