# -*- test-case-name: tests.test_tools_cli -*-
"""
``srs-flv-parser FILE``: print an FLV file's header and every tag, as
srs-librtmp's ``srs_flv_parser``
(``trunk/research/librtmp/srs_flv_parser.c``): the byte offset, type,
timestamp and size of each tag; for video the frame type, codec, AVC packet
type and composition time (and the profile, level and picture size of a
sequence header); for audio the format, rate, sample size, channels and AAC
packet type (and the AudioSpecificConfig of a sequence header); for script
data the AMF0 name and values.  ``--hex`` adds the first and last 16
bytes of each body, as ``srs_flv_parser`` prints them.

A broken file: every whole tag is printed, then one line on stderr says
what is wrong and where, and the exit status is 1.

:func:`describe_tag` is also what the other tools print with ``--verbose``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO, cast

from srstwist.client.flv_file import read_flv
from srstwist.codec.aac import AacError, parse_aac_sequence_header
from srstwist.codec.amf0 import Amf0Error, decode, decode_all
from srstwist.codec.avc import AvcError, parse_avc_sequence_header
from srstwist.codec.flv import (
    AAC_PACKET_SEQUENCE_HEADER,
    AVC_PACKET_SEQUENCE_HEADER,
    TAG_HEADER_SIZE,
    SoundFormat,
    TagType,
    VideoCodec,
    audio_tag_header,
)
from srstwist.codec.names import aac_object_name, avc_level_name, avc_profile_name
from srstwist.tools._run import EXPECTED_ERRORS, describe_error, fail, quiet_broken_pipe

__all__ = [
    "audio_format_name",
    "describe_tag",
    "format_amf0",
    "main",
    "parse_args",
    "script_lines",
    "video_codec_name",
]

PROG = "srs-flv-parser"

_FRAME_TYPES: dict[int, str] = {
    1: "keyframe",
    2: "inter-frame",
    3: "disposable-inter-frame",
    4: "generated-keyframe",
    5: "video-info-frame",
}
_VIDEO_CODECS: dict[int, str] = {
    VideoCodec.SORENSON_H263: "H.263",
    VideoCodec.SCREEN_VIDEO: "ScreenVideo",
    VideoCodec.ON2_VP6: "VP6",
    VideoCodec.ON2_VP6_ALPHA: "VP6-alpha",
    VideoCodec.SCREEN_VIDEO_V2: "ScreenVideo2",
    VideoCodec.AVC: "H.264",
}
_AVC_PACKETS: dict[int, str] = {0: "sequence-header", 1: "NALU", 2: "end-of-sequence"}
_SOUND_FORMATS: dict[int, str] = {
    SoundFormat.LINEAR_PCM_PLATFORM_ENDIAN: "PCM",
    SoundFormat.ADPCM: "ADPCM",
    SoundFormat.MP3: "MP3",
    SoundFormat.LINEAR_PCM_LITTLE_ENDIAN: "PCM-LE",
    SoundFormat.NELLYMOSER_16KHZ_MONO: "Nellymoser-16kHz",
    SoundFormat.NELLYMOSER_8KHZ_MONO: "Nellymoser-8kHz",
    SoundFormat.NELLYMOSER: "Nellymoser",
    SoundFormat.G711_A_LAW: "G.711-A",
    SoundFormat.G711_MU_LAW: "G.711-mu",
    SoundFormat.AAC: "AAC",
    SoundFormat.SPEEX: "Speex",
    SoundFormat.MP3_8KHZ: "MP3-8kHz",
    SoundFormat.DEVICE_SPECIFIC: "device-specific",
}
_AAC_PACKETS: dict[int, str] = {0: "sequence-header", 1: "raw"}
_TAG_NAMES: dict[int, str] = {
    TagType.AUDIO: "audio",
    TagType.VIDEO: "video",
    TagType.SCRIPT: "script",
}
# Strict arrays longer than this (keyframe tables) are summarized.
_MAX_ITEMS = 8


def video_codec_name(codec_id: int) -> str:
    """H.264, VP6..., or ``codec-N``."""
    return _VIDEO_CODECS.get(codec_id, f"codec-{codec_id}")


def audio_format_name(sound_format: int) -> str:
    """AAC, MP3..., or ``format-N``."""
    return _SOUND_FORMATS.get(sound_format, f"format-{sound_format}")


def _describe_video(timestamp: int, payload: bytes) -> str:
    if not payload:
        return "empty"
    frame_type, codec = payload[0] >> 4, payload[0] & 0x0F
    parts = [_FRAME_TYPES.get(frame_type, f"frame-type-{frame_type}"), video_codec_name(codec)]
    if codec != VideoCodec.AVC:
        return " ".join(parts)
    if len(payload) < 5:
        return " ".join([*parts, f"truncated AVC header ({len(payload)} bytes)"])
    packet_type = payload[1]
    parts.append(_AVC_PACKETS.get(packet_type, f"packet-type-{packet_type}"))
    if packet_type == AVC_PACKET_SEQUENCE_HEADER:
        try:
            config = parse_avc_sequence_header(payload)
        except AvcError as e:
            parts.append(f"(invalid: {e})")
        else:
            size = f", {config.width}x{config.height}" if config.width else ""
            profile = avc_profile_name(config.profile_idc)
            parts.append(f"({profile} {avc_level_name(config.level_idc)}{size})")
    else:
        cts = int.from_bytes(payload[2:5], "big", signed=True)
        parts.append(f"cts={cts} pts={timestamp + cts}")
    return " ".join(parts)


def _describe_audio(payload: bytes) -> str:
    if not payload:
        return "empty"
    header = audio_tag_header(payload)
    channels = "stereo" if header.channels == 2 else "mono"
    parts = [
        audio_format_name(header.sound_format),
        f"{header.sound_rate}Hz",
        f"{header.sample_size}bit",
        channels,
    ]
    if header.sound_format != SoundFormat.AAC:
        return " ".join(parts)
    if len(payload) < 2:
        return " ".join([*parts, "truncated AAC header"])
    packet_type = payload[1]
    parts.append(_AAC_PACKETS.get(packet_type, f"packet-type-{packet_type}"))
    if packet_type == AAC_PACKET_SEQUENCE_HEADER:
        try:
            config = parse_aac_sequence_header(payload)
        except AacError as e:
            parts.append(f"(invalid: {e})")
        else:
            name = aac_object_name(config.object_type)
            channels = f"{config.channels} channel{'s' if config.channels != 1 else ''}"
            parts.append(f"({name}, {config.sample_rate} Hz, {channels})")
    return " ".join(parts)


def _describe_script(payload: bytes) -> str:
    try:
        name, _ = decode(payload)
    except Amf0Error as e:
        return f"undecodable AMF0 ({e})"
    return str(name) if isinstance(name, str) else f"first value {format_amf0(name)}"


def describe_tag(tag_type: int, timestamp: int, payload: bytes) -> str:
    """
    One line about an FLV tag or RTMP media message: type, timestamp, size
    and what its first bytes say.
    """
    kind = _TAG_NAMES.get(tag_type, f"type-{tag_type}")
    head = f"{kind} ts={timestamp} size={len(payload)}"
    if tag_type == TagType.VIDEO:
        detail = _describe_video(timestamp, payload)
    elif tag_type == TagType.AUDIO:
        detail = _describe_audio(payload)
    elif tag_type in (TagType.SCRIPT, 15):
        detail = _describe_script(payload[1:] if tag_type == 15 else payload)
    else:
        detail = ""
    return f"{head} {detail}".rstrip()


def format_amf0(value: object) -> str:
    """An AMF0 value, compactly: integral numbers without ``.0``, long arrays summarized."""
    if isinstance(value, bool) or value is None:
        return repr(value).lower() if value is not None else "null"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {format_amf0(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        if len(value) > _MAX_ITEMS:
            return f"[{len(value)} items]"
        return "[" + ", ".join(format_amf0(v) for v in value) + "]"
    return str(value)


def script_lines(payload: bytes) -> list[str]:
    """
    The values of a script tag after its name, one property per line (for
    an Object or ECMA array) or one value per line.
    """
    try:
        values = decode_all(payload)
    except Amf0Error as e:
        return [f"undecodable AMF0: {e}"]
    lines: list[str] = []
    for value in values[1:]:
        if isinstance(value, dict):
            lines.extend(f"{key}: {format_amf0(item)}" for key, item in value.items())
        else:
            lines.append(format_amf0(value))
    return lines


def _hex16(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Print the header and every tag of an FLV file (as srs_flv_parser).",
        epilog="Exit status: 0 parsed, 1 unreadable or broken file (after the whole tags).",
    )
    parser.add_argument("file", metavar="FILE", help="the FLV file, - for standard input")
    parser.add_argument(
        "--hex", action="store_true", help="also print the first and last 16 bytes of each body"
    )
    parser.add_argument(
        "--no-metadata", action="store_true", help="do not print the values of script tags"
    )
    return parser.parse_args(argv)


def _header_line(head: bytes) -> tuple[str, int] | None:
    if len(head) < 9 or head[:3] != b"FLV":
        return None
    flags = head[4]
    has = [name for bit, name in ((0x04, "audio"), (0x01, "video")) if flags & bit]
    offset = int.from_bytes(head[5:9], "big")
    line = (
        f"FLV header: version={head[3]} flags=0x{flags:02x} ({' '.join(has) or 'none'}) "
        f"data-offset={offset}"
    )
    return line, offset


class _Prefixed:
    """A binary stream with bytes already read put back in front (pipes cannot seek)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest
        self.name = getattr(rest, "name", "<FLV stream>")

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        if len(data) < size:
            data += self.rest.read(size - len(data))
        return data


def _parse(path: str, out: IO[str], hex_bytes: bool, metadata: bool) -> None:
    if path == "-":
        _parse_stream(sys.stdin.buffer, "<stdin>", out, hex_bytes, metadata)
        return
    with open(path, "rb") as f:
        _parse_stream(f, path, out, hex_bytes, metadata)


def _parse_stream(f: IO[bytes], name: str, out: IO[str], hex_bytes: bool, metadata: bool) -> None:
    counts = {TagType.VIDEO: 0, TagType.AUDIO: 0, TagType.SCRIPT: 0}
    first_ts: int | None = None
    last_ts = 0
    head = f.read(9)
    header = _header_line(head)
    stream = _Prefixed(head, f)
    stream.name = name
    offset = 13
    if header is not None:
        out.write(header[0] + "\n")
        offset = header[1] + 4
    number = 0
    for tag in read_flv(cast(IO[bytes], stream)):
        number += 1
        counts[TagType(tag.tag_type)] += 1
        if tag.tag_type != TagType.SCRIPT:
            first_ts = tag.timestamp if first_ts is None else first_ts
            last_ts = max(last_ts, tag.timestamp)
        out.write(
            f"#{number} offset={offset} {describe_tag(tag.tag_type, tag.timestamp, tag.payload)}\n"
        )
        if metadata and tag.tag_type == TagType.SCRIPT:
            out.writelines(f"    {line}\n" for line in script_lines(tag.payload))
        if hex_bytes:
            body = tag.payload
            out.write(f"    first: {_hex16(body[:16])}\n    last:  {_hex16(body[-16:])}\n")
        offset += TAG_HEADER_SIZE + len(tag.payload) + 4
    span = 0 if first_ts is None else last_ts - first_ts
    out.write(
        f"{number} tags: {counts[TagType.VIDEO]} video, {counts[TagType.AUDIO]} audio, "
        f"{counts[TagType.SCRIPT]} script; {offset} bytes; duration {span / 1000:.3f} s\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``srs-flv-parser`` command; returns the exit status."""
    args = parse_args(argv)
    try:
        _parse(args.file, sys.stdout, args.hex, not args.no_metadata)
    except BrokenPipeError:
        quiet_broken_pipe()
        return 0
    except EXPECTED_ERRORS as e:
        sys.stdout.flush()
        return fail(PROG, describe_error(e))
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_broken_pipe()
    return 0


if __name__ == "__main__":
    sys.exit(main())
