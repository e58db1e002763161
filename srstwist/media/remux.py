# -*- test-case-name: tests.test_media_remux -*-
"""
Live HTTP stream bodies: what an HTTP-FLV, HTTP-TS, HTTP-MP3 or HTTP-AAC player
receives for each message of a source (SRS's ``srs_app_http_stream.cpp``).

Each encoder is sans-IO: :meth:`LiveEncoder.start` gives the bytes that open the
body (the FLV header, the MP3 ID3 tag), :meth:`LiveEncoder.encode` turns one
queued message and the timestamp this player sends it with into bytes
(possibly empty: an MP3 body has no room for video).  One encoder per
player, since AAC framing depends on the sequence header the player saw.

The FLV encoder takes its tags from :meth:`SharedMessage.flv_tag`, so players
that joined at the same point share the bytes; MP3 and AAC bodies are
audio only and cheap to frame per player.
"""

from __future__ import annotations

from typing import Protocol

from srstwist.codec.aac import AacConfig, AacError, adts_header, parse_aac_sequence_header
from srstwist.codec.avc import AvcError
from srstwist.codec.flv import SoundFormat, flv_header
from srstwist.codec.ts import STREAM_TYPE_H264, TsError, TsMuxer
from srstwist.codec.ts_es import FlvToEs
from srstwist.media.message import SharedMessage

__all__ = [
    "LiveEncoder",
    "FlvLiveEncoder",
    "Mp3LiveEncoder",
    "AacLiveEncoder",
    "TsLiveEncoder",
    "ID3_TAG",
    "RemuxError",
    "encoder_for",
    "FORMATS",
]

#: The empty ID3v2.3 tag SRS opens an MP3 stream with: "ID3", version 3.0,
#: no flags, a syncsafe size of 10, then ten zero bytes (``SrsMp3Encoder::write_header``).
ID3_TAG = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)


class RemuxError(ValueError):
    """A mount whose extension names no live format SRS knows."""


class LiveEncoder(Protocol):
    """What an HTTP live player needs from a format."""

    #: The response's Content-Type.
    content_type: str
    #: Whether a new player gets the GOP cache (video formats) or only the
    #: headers and the audio fast cache (audio formats).
    wants_gop: bool

    def start(self) -> bytes:
        """Bytes that open the body, sent as soon as the player is accepted."""

    def encode(self, message: SharedMessage, timestamp: int) -> bytes:
        """One message as this format's bytes (``b""`` when it has none)."""


class FlvLiveEncoder:
    """An FLV file without end: the 13-byte header, then one tag per message."""

    content_type = "video/x-flv"
    wants_gop = True

    def start(self) -> bytes:
        # Flags 0x05 whatever the stream has, as SRS does (SrsFlvEncoder::write_header).
        return flv_header()

    def encode(self, message: SharedMessage, timestamp: int) -> bytes:
        # Script tags at 0, as SRS writes them.
        return message.flv_tag(timestamp if message.is_av else 0)


class Mp3LiveEncoder:
    """An MP3 elementary stream: the ID3 tag, then each MP3 frame as published."""

    content_type = "audio/mpeg"
    wants_gop = False

    def start(self) -> bytes:
        return ID3_TAG

    def encode(self, message: SharedMessage, timestamp: int) -> bytes:
        payload = message.payload
        if not message.is_audio or not payload or payload[0] >> 4 != SoundFormat.MP3:
            return b""
        return payload[1:]


class AacLiveEncoder:
    """
    An ADTS stream: each raw AAC frame behind a 7-byte header built from the
    latest sequence header (the MPEG-4 variant SRS writes for ``.aac``).
    """

    content_type = "audio/x-aac"
    wants_gop = False

    def __init__(self) -> None:
        self._config: AacConfig | None = None

    def start(self) -> bytes:
        return b""

    def encode(self, message: SharedMessage, timestamp: int) -> bytes:
        payload = message.payload
        if not message.is_audio or len(payload) < 2 or payload[0] >> 4 != SoundFormat.AAC:
            return b""
        if message.is_sequence_header:
            try:
                self._config = parse_aac_sequence_header(payload)
            except AacError:
                self._config = None
            return b""
        if self._config is None:
            return b""  # no sequence header yet: no way to frame it
        raw = payload[2:]
        try:
            return adts_header(self._config, len(raw), http_aac=True) + raw
        except AacError:
            return b""


class TsLiveEncoder:
    """
    One endless MPEG-TS for an HTTP-TS player, from the HLS muxer
    (``SrsTsStreamEncoder``): PAT and PMT before the first frame and whenever
    the program changes, H.264 as Annex-B access units with SPS/PPS before
    each IDR, AAC as ADTS or MP3, one PES per frame, a PCR on every video
    keyframe (on every audio PES when there is no video, where SRS gives
    audio-only streams no PCR at all and players stall).

    The program lists what the player has seen so far; a stream whose
    audio starts after its video gets a new PMT version then.  Frames that
    cannot be muxed (no sequence header yet, a codec TS does not carry
    here) are skipped.
    """

    content_type = "video/MP2T"
    wants_gop = True

    def __init__(self) -> None:
        self._muxer = TsMuxer()
        self._es = FlvToEs()
        self._video: int | None = None
        self._audio: int | None = None

    def start(self) -> bytes:
        return b""  # SRS sends nothing, headers included, until media

    def encode(self, message: SharedMessage, timestamp: int) -> bytes:
        payload = message.payload
        if not payload:
            return b""
        try:
            if message.is_video:
                return self._encode_video(payload, timestamp, message.is_keyframe)
            if message.is_audio:
                return self._encode_audio(payload, timestamp)
        except (TsError, AvcError, AacError):
            return b""
        return b""

    def _encode_video(self, payload: bytes, timestamp: int, keyframe: bool) -> bytes:
        frame = self._es.video(payload)
        if frame is None:
            return b""
        es, composition = frame
        self._video = STREAM_TYPE_H264
        self._muxer.set_program(self._video, self._audio)
        dts = timestamp * 90
        pts = (timestamp + composition) * 90
        return self._muxer.write_pes(
            STREAM_TYPE_H264, es, pts, dts, pcr=keyframe, random_access=keyframe
        )

    def _encode_audio(self, payload: bytes, timestamp: int) -> bytes:
        frame = self._es.audio(payload)
        if frame is None:
            return b""
        self._audio, es = frame
        self._muxer.set_program(self._video, self._audio)
        return self._muxer.write_pes(self._audio, es, timestamp * 90, pcr=self._video is None)


#: The live formats by mount extension.
FORMATS: dict[str, type[LiveEncoder]] = {
    ".flv": FlvLiveEncoder,
    ".ts": TsLiveEncoder,
    ".mp3": Mp3LiveEncoder,
    ".aac": AacLiveEncoder,
}


def encoder_for(extension: str) -> LiveEncoder:
    """
    A new encoder for a mount's extension (``.flv``, ``.ts``, ``.mp3``, ``.aac``).

    :raises RemuxError: any other extension.
    """
    try:
        return FORMATS[extension]()
    except KeyError:
        raise RemuxError(f"no live HTTP format for {extension!r} mounts") from None
