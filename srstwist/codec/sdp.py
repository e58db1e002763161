# -*- test-case-name: tests.test_codec_rtsp -*-
"""
The part of SDP (RFC 4566) an RTSP ``ANNOUNCE`` needs: each media's payload
type, encoding, clock rate, control URL and format parameters, with the H.264
``sprop-parameter-sets`` (RFC 6184 8.1) and the AAC ``mpeg4-generic``
``config`` (RFC 3640 4.1) decoded.  Sans-IO.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

__all__ = ["SdpError", "SdpMedia", "parse_sdp", "MAX_SDP_SIZE"]

#: The longest SDP accepted (an ANNOUNCE body); real ones are under 1 KiB.
MAX_SDP_SIZE = 16 * 1024


class SdpError(ValueError):
    """An SDP the RTSP caster cannot publish."""


@dataclass
class SdpMedia:
    """
    One ``m=`` section.

    :ivar kind: ``video`` or ``audio``.
    :ivar encoding: ``H264`` or ``MPEG4-GENERIC`` (upper case).
    :ivar sps, pps: from ``sprop-parameter-sets`` (H.264).
    :ivar asc: the AudioSpecificConfig from ``config`` (AAC).
    """

    kind: str
    payload_type: int
    encoding: str = ""
    clock_rate: int = 0
    channels: int = 1
    control: str = ""
    fmtp: dict[str, str] = field(default_factory=dict)
    sps: bytes = b""
    pps: bytes = b""
    asc: bytes = b""


def parse_sdp(text: str) -> list[SdpMedia]:
    """
    The H.264 and AAC media of an SDP; other media are skipped.

    :raises SdpError: too long, no usable media, or a bad parameter set or
        config.
    """
    if len(text) > MAX_SDP_SIZE:
        raise SdpError(f"SDP of {len(text)} bytes is too long")
    media: list[SdpMedia] = []
    current: SdpMedia | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        key, value = line[0], line[2:]
        if key == "m":
            parts = value.split()
            current = None
            if len(parts) >= 4 and parts[0] in ("video", "audio"):
                try:
                    current = SdpMedia(parts[0], int(parts[3]))
                except ValueError as e:
                    raise SdpError(f"bad m= line {value!r}") from e
                media.append(current)
        elif key == "a" and current is not None:
            name, _, rest = value.partition(":")
            if name == "rtpmap":
                pt, _, codec = rest.partition(" ")
                pieces = codec.split("/")
                if pt.strip() == str(current.payload_type) and len(pieces) >= 2:
                    current.encoding = pieces[0].upper()
                    try:
                        current.clock_rate = int(pieces[1])
                        current.channels = int(pieces[2]) if len(pieces) > 2 else 1
                    except ValueError as e:
                        raise SdpError(f"bad rtpmap {rest!r}") from e
            elif name == "control":
                current.control = rest.strip()
            elif name == "fmtp":
                _, _, params = rest.partition(" ")
                for item in params.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k:
                        current.fmtp[k.lower()] = v.strip()
    usable = [m for m in media if m.encoding in ("H264", "MPEG4-GENERIC")]
    for m in usable:
        if m.clock_rate <= 0:
            raise SdpError(f"{m.kind} without a clock rate")
        if m.encoding == "H264":
            sets = m.fmtp.get("sprop-parameter-sets", "")
            try:
                units = [base64.b64decode(s + "=" * (-len(s) % 4), validate=True) for s in sets.split(",") if s]
            except (binascii.Error, ValueError) as e:
                raise SdpError(f"bad sprop-parameter-sets {sets!r}") from e
            for unit in units:
                if unit and unit[0] & 0x1F == 7:
                    m.sps = unit
                elif unit and unit[0] & 0x1F == 8:
                    m.pps = unit
        else:
            try:
                m.asc = bytes.fromhex(m.fmtp.get("config", ""))
            except ValueError as e:
                raise SdpError(f"bad AAC config {m.fmtp.get('config')!r}") from e
            if len(m.asc) < 2:
                raise SdpError("AAC without a config")
            if m.fmtp.get("mode", "").lower() not in ("aac-hbr", ""):
                raise SdpError(f"AAC mode {m.fmtp.get('mode')!r} is not AAC-hbr")
    if not usable:
        names = ", ".join(f"{m.kind} {m.encoding or m.payload_type}" for m in media) or "none"
        raise SdpError(f"no H.264 or AAC media (found: {names})")
    return usable
