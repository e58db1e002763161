# -*- test-case-name: tests.test_media_hls -*-
"""
The HLS segmenter: a stream's messages in, segment bytes and playlists out.

SRS 2.0 writes HLS from inside the source (``SrsHls``, ``SrsHlsCache``,
``SrsHlsMuxer``); here it is one sans-IO object per stream that turns
messages into events (`SegmentOpened`, `SegmentData`, `SegmentClosed`,
`SegmentDropped`, `PlaylistUpdated`, `SegmentExpired`, `StreamDisposed`)
for `srstwist.services.hls` to carry out on disk.  Paths in events are
relative to ``hls_path``.  Wall time, needed only for file names, is an
argument.  The object lives as long as the stream's HLS output, so
sequence numbers and TS continuity counters carry on across republish
(SRS #375).

The rules are SRS's (``SrsHlsMuxer`` and ``SrsHlsCache`` in ``srs_app_hls.cpp``): reap on a keyframe
once a segment reaches ``hls_fragment`` (any frame with
``hls_wait_keyframe off``), on audio once it reaches ``hls_aof_ratio``
times that; keep a closed segment only if it lasts 0.1 s to twice
``hls_fragment * hls_td_ratio``; slide the window; flag a segment in which
a sequence header arrives as a discontinuity; aggregate audio into 720 ms
PES when the program has no video; floor mode.  Where SRS gives players
something wrong, this does what players need:

* a segment's duration runs to the start of the next one (SRS stops at its
  last frame, so EXTINFs fall short by a frame), and a keyframe reaps when
  *it* reaches the fragment (SRS looks at the frame before, so with a GOP
  equal to the fragment it cuts every other GOP);
* a segment starts at its first frame (SRS starts the first segment at 0,
  so a publisher whose timestamps do not start near 0 gets a huge first
  EXTINF or a dropped segment);
* the PMT declares what the stream has, known from sequence headers,
  frames and ``onMetaData``: an audio-only stream gets no phantom H.264
  PID, its PCR rides on audio, and its audio is aggregated as with
  ``hls_vcodec vn``; a video-only stream gets no phantom AAC PID.
  ``hls_acodec`` still names the audio assumed before anything is known;
* the first segment of every publish is a discontinuity (not only those
  that happen to see a sequence header: MP3 has none), and so is the
  segment after one that was dropped mid-stream;
* ``#EXT-X-TARGETDURATION`` never goes down, and ``#EXT-X-ENDLIST`` ends
  the playlist at unpublish (removed again on republish);
* no lone-AUD PES for video packets without NALUs.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from srstwist.codec.aac import AacError
from srstwist.codec.avc import AvcError
from srstwist.codec.ts import (
    STREAM_TYPE_AAC,
    STREAM_TYPE_H264,
    STREAM_TYPE_MP3,
    TsError,
    TsMuxer,
)
from srstwist.codec.ts_es import FlvToEs
from srstwist.config.model import HlsConfig
from srstwist.media.hls_events import (
    HlsEvent,
    MediaMessage,
    PlaylistUpdated,
    SegmentClosed,
    SegmentData,
    SegmentDropped,
    SegmentExpired,
    SegmentOpened,
    StreamDisposed,
)
from srstwist.media.hls_playlist import (
    ListedSegment,
    expire,
    floor_accept,
    render_playlist,
    segment_path,
    segment_uri,
    stream_path,
    target_duration,
)
from srstwist.media.metadata import MetadataError, decode_metadata

__all__ = [
    "HlsError",
    "HlsEvent",
    "HlsSegmenter",
    "MediaMessage",
    "PlaylistUpdated",
    "SegmentClosed",
    "SegmentData",
    "SegmentDropped",
    "SegmentExpired",
    "SegmentOpened",
    "StreamDisposed",
]

_AUDIO: Final = 8
_VIDEO: Final = 9
_DATA_TYPES: Final = frozenset((15, 18))
_TICKS: Final = 90  # 90 kHz ticks per millisecond
_SOUND_AAC: Final = 10
_SOUND_MP3: Final = 2
_CODEC_AVC: Final = 7
_FRAME_KEY: Final = 1
_FRAME_INFO: Final = 5
#: Audio PES of a program without video gather this much audio (SRS).
_AGGREGATE: Final = 720 * _TICKS
#: No reap below this segment duration (s); segments shorter than
#: _MIN_KEEP are dropped at close.
_MIN_REAP: Final = 0.2
_MIN_KEEP: Final = 0.1
#: A frame this far (ticks) before the segment start is a timestamp jump.
_JUMP: Final = 300 * _TICKS
#: Floor mode shifts reap thresholds by this share of the deviation.
_FLOOR_REAP: Final = 0.3
_ACODECS: Final = {"aac": STREAM_TYPE_AAC, "mp3": STREAM_TYPE_MP3, "an": None}


class HlsError(Exception):
    """
    A message HLS cannot mux (a codec other than H.264, AAC or MP3, a
    malformed sequence header or frame), or a call made in the wrong state.
    The segmenter is unchanged by the message that raised it.
    """


@dataclass(slots=True)
class _Segment:
    sequence: int
    path: str
    uri: str
    start: int | None
    last: int | None = None
    duration: float = 0.0
    discontinuity: bool = False
    discarded: bool = False


@dataclass(slots=True)
class _PendingAudio:
    stream_type: int
    pts: int
    frames: list[bytes]
    #: The newest frame's PTS: the segment lasts at least until it.
    last: int = 0


class HlsSegmenter:
    """
    One stream's HLS state, alive across publishes.

    :param vhost: the vhost name, for ``[vhost]``.
    :param app: for ``[app]``.
    :param stream: for ``[stream]``.
    :param utc: the global ``utc_time``: time variables in UTC.
    """

    def __init__(self, vhost: str, app: str, stream: str, *, utc: bool = False) -> None:
        self.vhost, self.app, self.stream = vhost, app, stream
        self._utc = utc
        self._muxer = TsMuxer()
        self._es = FlvToEs()
        self._config = HlsConfig()
        self._publishing = False
        self._ended = False
        self._next_sequence = 0
        self._listed: list[ListedSegment] = []
        self._current: _Segment | None = None
        self._pending: _PendingAudio | None = None
        self._events: list[HlsEvent] = []
        self._m3u8_url = ""
        self._max_td = 0
        self._target = 0
        self._floor: int | None = None
        self._deviation = 0
        self._discontinuity_next = True
        self._video_seen = False
        self._audio_type: int | None = None
        self._hinted = False
        self._hint_video = False
        self._hint_audio: int | None = None

    # -- state -------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        """
        Between `on_publish` and `on_unpublish`.
        """
        return self._publishing

    @property
    def m3u8_url(self) -> str:
        """
        The playlist path relative to ``hls_path`` (set at publish).
        """
        return self._m3u8_url

    @property
    def segments(self) -> tuple[ListedSegment, ...]:
        """
        The segments the playlist lists, oldest first.
        """
        return tuple(self._listed)

    @property
    def current(self) -> tuple[int, str] | None:
        """
        ``(sequence, path)`` of the open segment, if any.
        """
        segment = self._current
        return None if segment is None else (segment.sequence, segment.path)

    @property
    def next_sequence(self) -> int:
        """
        The sequence number the next opened segment gets.
        """
        return self._next_sequence

    def playlist(self) -> str | None:
        """
        The playlist text now, or ``None`` while no segment is listed.
        """
        if not self._listed:
            return None
        self._target = max(self._target, target_duration(self._listed, self._max_td))
        return render_playlist(self._listed, self._target, self._ended)

    # -- input -------------------------------------------------------------

    def on_publish(
        self, config: HlsConfig, now: float, *, parse_sps: bool = True
    ) -> list[HlsEvent]:
        """
        A publisher starts: read the config (all of it is re-read at each
        publish, as in SRS) and open the first segment.  A second call
        while publishing does nothing.

        :param now: wall time, seconds since the epoch.
        :param parse_sps: the vhost's ``publish { parse_sps }``.
        """
        if self._publishing:
            return []
        self._config = config
        self._es.parse_sps = parse_sps
        self._m3u8_url = stream_path(config.hls_m3u8_file, self.vhost, self.app, self.stream)
        self._m3u8_url = self._m3u8_url.lstrip("/")
        self._max_td = int(config.hls_fragment * config.hls_td_ratio)
        self._floor = None
        self._deviation = 0
        self._es.reset()
        self._pending = None
        self._video_seen = False
        self._audio_type = None
        self._hinted = self._hint_video = False
        self._hint_audio = None
        self._ended = False
        self._publishing = True
        self._discontinuity_next = True
        self._playlist_event()
        self._open(now, None)
        return self._take()

    def on_message(self, message: MediaMessage, now: float) -> list[HlsEvent]:
        """
        Take one audio, video or data message (anything else is ignored, as
        is everything while not publishing).

        :param now: wall time, used if a segment opens.
        :raises HlsError: the message cannot be muxed; nothing changed.
        """
        if not self._publishing:
            return []
        kind = message.message_type_id
        try:
            if kind == _VIDEO:
                self._on_video(message.timestamp, message.payload, now)
            elif kind == _AUDIO:
                self._on_audio(message.timestamp, message.payload, now)
            elif kind in _DATA_TYPES:
                self._on_metadata(message.payload)
        except (TsError, AvcError, AacError) as error:
            raise HlsError(str(error)) from error
        return self._take()

    def on_unpublish(self) -> list[HlsEvent]:
        """
        The publisher stopped: write pending audio, close the segment, and
        write the playlist with ``#EXT-X-ENDLIST``.
        """
        if not self._publishing:
            return []
        self._flush_audio()
        self._ended = True
        self._close(None, mid_stream=False)
        self._publishing = False
        return self._take()

    def dispose(self) -> list[HlsEvent]:
        """
        ``hls_dispose``: unpublish if still publishing, then forget every
        listed segment and report them and the playlist for removal.
        Sequence numbers carry on.
        """
        self.on_unpublish()
        if self._m3u8_url:
            paths = tuple(segment.path for segment in self._listed) + (self._m3u8_url,)
            self._events.append(StreamDisposed(paths))
        self._listed.clear()
        self._target = 0
        return self._take()

    def discard(self, sequence: int) -> list[HlsEvent]:
        """
        The files of segment ``sequence`` could not be written
        (``hls_on_error continue``): if it is open, emit no more data for it
        and drop it at close; if it is listed, unlist it and rewrite the
        playlist.  The segment after it is a discontinuity.
        """
        current = self._current
        if current is not None and current.sequence == sequence:
            current.discarded = True
            return []
        kept = [segment for segment in self._listed if segment.sequence != sequence]
        if len(kept) == len(self._listed):
            return []
        self._listed = kept
        if current is not None:
            current.discontinuity = True
        else:
            self._discontinuity_next = True
        self._playlist_event()
        return self._take()

    # -- messages ------------------------------------------------------------

    def _on_metadata(self, payload: bytes) -> None:
        try:
            _, metadata = decode_metadata(payload)
        except MetadataError:
            return
        video = metadata.get("videocodecid")
        audio = metadata.get("audiocodecid")
        if video is None and audio is None:
            return
        self._hinted = True
        self._hint_video = video is not None
        if audio is None:
            self._hint_audio = None
        elif audio in (_SOUND_AAC, "mp4a"):
            self._hint_audio = STREAM_TYPE_AAC
        elif audio in (_SOUND_MP3, ".mp3", "mp3"):
            self._hint_audio = STREAM_TYPE_MP3
        else:
            self._hint_audio = _ACODECS.get(self._config.hls_acodec) or STREAM_TYPE_AAC

    def _on_video(self, timestamp: int, payload: bytes, now: float) -> None:
        if len(payload) < 2 or payload[0] >> 4 == _FRAME_INFO:
            return
        keyframe = payload[0] >> 4 == _FRAME_KEY
        header = payload[0] & 0x0F == _CODEC_AVC and payload[1] == 0
        dts = timestamp * _TICKS
        if self._config.hls_vcodec == "vn":
            # Pure audio: video is not written but still cuts segments.
            if header:
                self._mark_discontinuity()
                return
            if self._may_reap(dts, self._config.hls_fragment, keyframe):
                self._reap(dts, now)
            self._update_duration(dts)
            return
        frame = self._es.video(payload)
        if header:
            self._video_seen = True
            self._mark_discontinuity()
            return
        if frame is None:
            return
        es, composition = frame
        pts = dts + composition * _TICKS
        self._video_seen = True
        self._declare()
        self._flush_audio()
        if self._may_reap(dts, self._config.hls_fragment, keyframe):
            self._reap(dts, now)
        self._write(STREAM_TYPE_H264, es, pts, dts, keyframe)

    def _may_reap(self, timestamp: int, limit: float, keyframe: bool) -> bool:
        if not (keyframe or not self._config.hls_wait_keyframe):
            return False
        return self._overflow(timestamp, limit)

    def _on_audio(self, timestamp: int, payload: bytes, now: float) -> None:
        if not payload:
            return
        frame = self._es.audio(payload)
        if payload[0] >> 4 == _SOUND_AAC and len(payload) >= 2 and payload[1] == 0:
            self._audio_type = STREAM_TYPE_AAC
            self._mark_discontinuity()
            return
        if frame is None:
            return
        stream_type, es = frame
        pts = timestamp * _TICKS
        self._audio_type = stream_type
        program = self._declare()
        pending = self._pending
        if pending is not None and pending.stream_type != stream_type:
            self._flush_audio()
            pending = None
        if pending is None:
            pending = self._pending = _PendingAudio(stream_type, pts, [])
        pending.frames.append(es)
        pending.last = pts
        fragment = self._config.hls_fragment
        if self._overflow(pending.pts, self._config.hls_aof_ratio * fragment):
            self._reap(pending.pts, now)
        if program[0] is None and pts - pending.pts < _AGGREGATE:
            return
        self._flush_audio()

    # -- muxing ------------------------------------------------------------

    def _declare(self) -> tuple[int | None, int | None]:
        """
        Declare the streams known so far to the muxer (see the module
        docstring) and return ``(video type, audio type)``.
        """
        video: int | None = None
        if self._config.hls_vcodec != "vn" and (self._video_seen or self._hint_video):
            video = STREAM_TYPE_H264
        audio = self._audio_type or self._hint_audio
        if audio is None and not self._hinted:
            audio = _ACODECS.get(self._config.hls_acodec, STREAM_TYPE_AAC)
        program = (video, audio)
        if program != self._muxer.program:
            self._muxer.set_program(video, audio)
        return program

    def _flush_audio(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        pure = self._declare()[0] is None
        es = pending.frames[0] if len(pending.frames) == 1 else b"".join(pending.frames)
        self._write(pending.stream_type, es, pending.pts, pending.pts, pure)
        # The PES carries its first frame's PTS, but its later frames count
        # too: else the last segment of a publish loses up to 720 ms and
        # one holding a single PES is dropped as empty.
        if pending.last > pending.pts:
            self._update_duration(pending.last)

    def _write(self, stream_type: int, es: bytes, pts: int, dts: int, pcr: bool) -> None:
        segment = self._current
        assert segment is not None
        self._update_duration(dts)
        data = self._muxer.write_pes(stream_type, es, pts, dts, pcr=pcr, random_access=pcr)
        if not segment.discarded:
            self._events.append(SegmentData(segment.sequence, data))

    def _update_duration(self, timestamp: int) -> None:
        segment = self._current
        assert segment is not None
        if segment.start is None:
            segment.start = segment.last = timestamp
            return
        if timestamp < segment.start:
            if timestamp < segment.start - _JUMP:
                segment.start = timestamp
            return
        segment.last = timestamp
        segment.duration = (timestamp - segment.start) / 90000

    def _overflow(self, timestamp: int, limit: float) -> bool:
        segment = self._current
        if segment is None or segment.start is None:
            return False
        duration = segment.duration
        if timestamp >= segment.start:
            duration = max(duration, (timestamp - segment.start) / 90000)
        if duration < _MIN_REAP:
            return False
        deviation = 0.0
        if self._config.hls_ts_floor:
            deviation = _FLOOR_REAP * self._deviation * self._config.hls_fragment
        return duration >= limit + deviation

    def _mark_discontinuity(self) -> None:
        if self._current is not None:
            self._current.discontinuity = True

    # -- segments ----------------------------------------------------------

    def _reap(self, start: int, now: float) -> None:
        # Aggregated audio from before the cut belongs to the old segment;
        # in the new one it would look like a timestamp jump backwards.
        pending = self._pending
        if pending is not None and pending.pts < start:
            self._flush_audio()
        self._close(start, mid_stream=True)
        self._open(now, start)

    def _open(self, now: float, start: int | None) -> None:
        config = self._config
        sequence = self._next_sequence
        self._next_sequence += 1
        floor = None
        if config.hls_ts_floor:
            self._floor, self._deviation = floor_accept(now, config.hls_fragment, self._floor)
            floor = self._floor
        path = segment_path(
            config.hls_ts_file,
            self.vhost,
            self.app,
            self.stream,
            sequence,
            now,
            utc=self._utc,
            floor=floor,
        )
        uri = segment_uri(path, self._m3u8_url, config.hls_entry_prefix)
        self._current = _Segment(sequence, path, uri, start, discontinuity=self._discontinuity_next)
        self._discontinuity_next = False
        self._muxer.begin_segment()
        self._events.append(SegmentOpened(sequence, path, uri))

    def _close(self, until: int | None, *, mid_stream: bool) -> None:
        segment = self._current
        if segment is None:
            return
        self._current = None
        # Run the duration up to the next segment's start, unless that is a
        # timestamp jump away from the last frame.
        gap = max(1.0, self._config.hls_fragment) * 90000
        if (
            until is not None
            and segment.start is not None
            and segment.last is not None
            and 0 <= until - segment.last <= gap
        ):
            segment.duration = max(segment.duration, (until - segment.start) / 90000)
        duration = segment.duration
        keep = _MIN_KEEP <= duration and int(duration) <= 2 * self._max_td
        if keep and not segment.discarded:
            self._listed.append(
                ListedSegment(
                    segment.sequence, segment.path, segment.uri, duration, segment.discontinuity
                )
            )
            self._events.append(
                SegmentClosed(
                    segment.sequence, segment.path, segment.uri, duration, segment.discontinuity
                )
            )
        else:
            self._events.append(SegmentDropped(segment.sequence, segment.path))
            self._next_sequence = segment.sequence
            if mid_stream:
                self._discontinuity_next = True
        expired = expire(self._listed, self._config.hls_window)
        gone, self._listed = self._listed[:expired], self._listed[expired:]
        self._playlist_event()
        for old in gone:
            self._events.append(SegmentExpired(old.sequence, old.path))

    def _playlist_event(self) -> None:
        text = self.playlist()
        if text is not None:
            self._events.append(PlaylistUpdated(self._m3u8_url, text, self._ended))

    def _take(self) -> list[HlsEvent]:
        events, self._events = self._events, []
        return events
