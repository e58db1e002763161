# -*- test-case-name: tests.test_media_dvr -*-
"""
The DVR planner: which FLV file each message of a live stream goes to, and
the bytes of those files (SRS 2.0's ``SrsDvrPlan``, ``SrsDvrSessionPlan``,
``SrsDvrSegmentPlan``, ``SrsDvrAppendPlan`` and ``SrsFlvSegment`` in
``srs_app_dvr.cpp``).

Sans-IO: :class:`DvrPlanner` takes messages and the wall time as arguments
and returns events (:class:`OpenFile`, :class:`WriteTags`,
:class:`CloseFile`) that :mod:`srstwist.services.dvr` carries out.  The
plans (``dvr_plan``):

* ``session``: one file per publish, closed at unpublish;
* ``segment``: a new file once the current one holds ``dvr_duration``
  seconds, cut at the next video keyframe with ``dvr_wait_keyframe on``
  (SRS #177).  An audio-only stream is cut on an audio frame: SRS 2.0 only
  ever cuts on a video keyframe, so its audio-only segments never end;
* ``append``: one file across publishes; each publish continues the
  timestamps where the file ends (:class:`ExistingFile`, read by the
  service from the file's own metadata), where SRS 2.0 restarts them
  (its ``SrsFlvSegment::create_jitter`` leaves loading them from the file
  as a TODO).

Paths (``dvr_path``): ``[vhost] [app] [stream]`` and the time variables
``[2006] [01] [02] [15] [04] [05] [999] [timestamp]``
(``srs_path_build_stream``, ``srs_path_build_timestamp`` in
``srs_app_utility.cpp``); a path that does not end in ``.flv`` is a
directory, and ``/[stream].[timestamp].flv`` is added
(``SrsFlvSegment::generate_path``).

Every file starts with the FLV header, a fixed-size ``onMetaData`` (the
stream's metadata as known when the file opens, plus ``duration``,
``filesize``, a ``keyframes`` index and padding), then the sequence headers
at timestamp 0, then the frames.  The metadata's size is reserved when the
file opens so that closing it costs one small write in place
(:attr:`CloseFile.patch` at :attr:`CloseFile.patch_offset`) instead of a
copy of the whole file: ``keyframes`` (``times`` in seconds and
``filepositions`` in bytes, the index yamdi and ffmpeg's ``-flvflags
add_keyframe_index`` write, which players and ``?start=`` seeking read)
gets room for :func:`index_capacity` entries; a longer file keeps an even
subset of its keyframes.  An audio-only stream is indexed every second of
audio instead.

Timestamps follow ``time_jitter`` (:class:`srstwist.media.jitter.TimeJitter`),
corrected anew for each file as SRS does (a fresh ``SrsRtmpJitter`` per
segment), so a file starts near 0 with ``full`` and ``zero``; a timestamp
that would be negative is written as 0.

This module imports nothing from Twisted and does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

from srstwist.codec.amf0 import Amf0Error, Amf0Object, decode, encode_values
from srstwist.codec.flv import TAG_HEADER_SIZE, TagType, encode_tag, flv_header
from srstwist.config.model import DvrConfig
from srstwist.media.hls_playlist import stream_path, time_path
from srstwist.media.jitter import DEFAULT_FRAME_TIME_MS, TimeJitter
from srstwist.media.message import SharedMessage
from srstwist.media.metadata import ON_METADATA, MetadataError, decode_metadata

__all__ = [
    "CloseFile",
    "DvrEvent",
    "DvrPlanner",
    "ExistingFile",
    "OpenFile",
    "PLANS",
    "WriteTags",
    "build_path",
    "index_capacity",
    "metadata_tag",
    "read_existing",
]

#: The plans SRS 2.0 knows (``srs_config_dvr_is_plan_*``).
PLANS = ("session", "segment", "append")

#: The name of the property that fills the reserved metadata: a strict
#: array of AMF0 nulls (one byte each), which players skip and ffprobe does
#: not list as a tag, where a string would show up as one.
PADDING = "srstwist_padding"
#: What the reserved metadata says the file is written by (SRS sets ``service``).
SERVICE = "srstwist"
#: Most keyframes a session or append file indexes before thinning.
MAX_INDEX = 2048
#: Seconds between index entries of an audio-only stream.
AUDIO_INDEX_INTERVAL_MS = 1000

_FLV_HEADER = flv_header()
_FLV_HEADER_SIZE = len(_FLV_HEADER)
#: AMF0 bytes per keyframe entry: one Number in ``times``, one in ``filepositions``.
_ENTRY_SIZE = 18
#: The padding property: u16 name length + name + marker + u32 count.
_PAD_OVERHEAD = 2 + len(PADDING) + 1 + 4
#: Room left in the reservation for later values that grow when encoded.
_SLACK = 64


@dataclass(frozen=True)
class OpenFile:
    """
    Create ``path`` (its directories too) as ``path + ".tmp"``; with
    ``append``, continue the existing ``path`` (moved to the ``.tmp`` name
    first) from its end.
    """

    path: str
    append: bool = False


@dataclass(frozen=True)
class WriteTags:
    """Append ``data`` (whole FLV tags, or the header) to the open file."""

    path: str
    data: bytes


@dataclass(frozen=True)
class CloseFile:
    """
    The file is complete: write ``patch`` at ``patch_offset`` (the final
    ``onMetaData`` in its reserved place), close it and rename the ``.tmp``
    to ``path``.

    :ivar duration: seconds of stream in the file.
    :ivar size: the file's size in bytes.
    :ivar keyframes: how many keyframes the index lists.
    """

    path: str
    patch: bytes
    patch_offset: int
    duration: float
    size: int
    keyframes: int


DvrEvent = Union[OpenFile, WriteTags, CloseFile]


@dataclass(frozen=True)
class ExistingFile:
    """
    What ``append`` needs of a file it continues, read from its metadata
    (:func:`read_existing`).

    :ivar size: its size in bytes.
    :ivar duration_ms: its duration; the next publish starts after it.
    :ivar reserved: the metadata tag's body size.
    :ivar metadata: its properties, without ours.
    :ivar times: the index's times, seconds.
    :ivar positions: the index's file positions.
    """

    size: int
    duration_ms: int
    reserved: int
    metadata: Amf0Object
    times: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)


def build_path(template: str, vhost: str, app: str, stream: str, now: float, utc: bool) -> str:
    """
    The file for ``dvr_path`` ``template`` opened at wall time ``now``.
    """
    if not template.endswith(".flv"):
        template = template.rstrip("/") + "/[stream].[timestamp].flv"
    return time_path(stream_path(template, vhost, app, stream), now, utc)


def index_capacity(config: DvrConfig) -> int:
    """
    How many keyframe entries a file's metadata has room for: a segment
    needs two per second of ``dvr_duration`` (GOPs down to 0.5 s) and some
    slack for the wait for a keyframe; a session or append file is
    unbounded, so it gets :data:`MAX_INDEX` (37 KiB) and is thinned past it.
    """
    if config.dvr_plan == "segment":
        return min(MAX_INDEX, 2 * config.dvr_duration + 32)
    return MAX_INDEX


def _thin(entries: Sequence[tuple[float, int]], limit: int) -> list[tuple[float, int]]:
    """An even subset of at most ``limit`` entries, the first one kept."""
    if len(entries) <= limit:
        return list(entries)
    if limit <= 0:
        return []
    step = len(entries) / limit
    return [entries[int(i * step)] for i in range(limit)]


def _properties(
    metadata: Mapping[str, object], duration: float, size: int, entries: Sequence[tuple[float, int]]
) -> Amf0Object:
    props = Amf0Object(
        (k, v)
        for k, v in metadata.items()
        if k not in ("duration", "filesize", "keyframes", "service", PADDING)
    )
    props["service"] = SERVICE
    props["duration"] = float(duration)
    props["filesize"] = float(size)
    props["keyframes"] = Amf0Object(
        [
            ("times", [float(t) for t, _ in entries]),
            ("filepositions", [float(p) for _, p in entries]),
        ]
    )
    return props


def metadata_tag(
    metadata: Mapping[str, object],
    reserved: int,
    duration: float = 0.0,
    size: int = 0,
    entries: Sequence[tuple[float, int]] = (),
) -> bytes:
    """
    The ``onMetaData`` script tag whose body is exactly ``reserved`` bytes:
    ``metadata`` plus ``duration``, ``filesize``, ``keyframes`` and the
    padding (:data:`PADDING`).  Entries that do not fit are thinned (:func:`_thin`).

    :raises ValueError: not even the metadata without an index fits.
    """
    limit = len(entries)
    while True:
        chosen = _thin(entries, limit)
        props = _properties(metadata, duration, size, chosen)
        body = encode_values(ON_METADATA, props)
        # The padding goes before the object end (3 bytes).
        room = reserved - len(body) - _PAD_OVERHEAD
        if room >= 0:
            props[PADDING] = [None] * room
            body = encode_values(ON_METADATA, props)
            assert len(body) == reserved, (len(body), reserved)
            return b"".join(encode_tag(TagType.SCRIPT, 0, body))
        if limit == 0:
            raise ValueError(f"metadata of {len(body)} bytes does not fit in {reserved}")
        limit = max(0, min(limit - 1, limit + room // _ENTRY_SIZE))


def _reservation(metadata: Mapping[str, object], capacity: int) -> int:
    """The body size that holds ``metadata`` and ``capacity`` index entries."""
    base = len(encode_values(ON_METADATA, _properties(metadata, 0.0, 0, [])))
    return base + capacity * _ENTRY_SIZE + _PAD_OVERHEAD + _SLACK


def read_existing(head: bytes, size: int) -> ExistingFile | None:
    """
    Read what :class:`DvrPlanner` left at the start of a file it wrote:
    ``head`` is at least the first script tag (the service reads 1 MiB).

    :return: ``None`` when the file is not one of ours (no FLV header, no
        reserved ``onMetaData`` right after it): it cannot be continued.
    """
    if len(head) < _FLV_HEADER_SIZE + TAG_HEADER_SIZE or head[:3] != b"FLV":
        return None
    offset = _FLV_HEADER_SIZE
    tag = head[offset : offset + TAG_HEADER_SIZE]
    if tag[0] & 0x1F != TagType.SCRIPT:
        return None
    reserved = int.from_bytes(tag[1:4], "big")
    body = head[offset + TAG_HEADER_SIZE : offset + TAG_HEADER_SIZE + reserved]
    if len(body) < reserved:
        return None
    try:
        _, props = decode_metadata(body)
    except MetadataError:
        return None
    if PADDING not in props or not isinstance(props.get("keyframes"), Mapping):
        return None
    keyframes = props["keyframes"]
    assert isinstance(keyframes, Mapping)
    times = keyframes.get("times") or []
    positions = keyframes.get("filepositions") or []
    duration = props.get("duration")
    if not isinstance(times, list) or not isinstance(positions, list):
        return None
    if not isinstance(duration, float) or len(times) != len(positions):
        return None
    metadata = Amf0Object(
        (k, v)
        for k, v in props.items()
        if k not in ("duration", "filesize", "keyframes", "service", PADDING)
    )
    return ExistingFile(
        size=size,
        duration_ms=round(duration * 1000),
        reserved=reserved,
        metadata=metadata,
        times=[float(t) for t in times],  # type: ignore[arg-type]
        positions=[int(p) for p in positions],  # type: ignore[call-overload]
    )


def _decode_props(payload: bytes) -> Amf0Object:
    try:
        return decode_metadata(payload)[1]
    except MetadataError:
        return Amf0Object()


class _File:
    """One open file's state."""

    __slots__ = (
        "path",
        "size",
        "reserved",
        "metadata",
        "entries",
        "duration_ms",
        "first_ms",
        "last_ms",
        "jitter",
        "offset",
        "last_index_ms",
        "audio_header",
        "video_header",
    )

    def __init__(self, path: str, jitter: str) -> None:
        self.path = path
        self.size = 0
        self.reserved = 0
        self.metadata: Amf0Object = Amf0Object()
        self.entries: list[tuple[float, int]] = []
        self.duration_ms = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.jitter = TimeJitter(jitter)
        #: Added to corrected timestamps (``append`` continuity).
        self.offset: int | None = 0
        self.last_index_ms: int | None = None
        self.audio_header: SharedMessage | None = None
        self.video_header: SharedMessage | None = None


class DvrPlanner:
    """
    One stream's recording, for one publish (``session``, ``segment``) or
    across publishes (``append``: make one per publish, handing it the
    file's :class:`ExistingFile`).

    :param config: the vhost's ``dvr`` section (enabled or not: the caller
        decides whether to record).
    :param utc: the global ``utc_time``, for the time variables.
    """

    def __init__(
        self, config: DvrConfig, vhost: str, app: str, stream: str, *, utc: bool = False
    ) -> None:
        if config.dvr_plan not in PLANS:
            raise ValueError(f"unknown dvr_plan {config.dvr_plan!r}")
        self.config = config
        self.vhost, self.app, self.stream = vhost, app, stream
        self._utc = utc
        self._file: _File | None = None
        self._metadata: SharedMessage | None = None
        self._audio_header: SharedMessage | None = None
        self._video_header: SharedMessage | None = None
        self._has_video = False
        #: ``append``: the path chosen at publish and what is already there.
        self._append_path: str | None = None
        self._existing: ExistingFile | None = None
        #: Drop frames until a video keyframe (a file that must start on one).
        self._await_keyframe = False
        self.files_closed = 0

    # -- what the service asks ---------------------------------------------

    @property
    def recording(self) -> bool:
        """A file is open."""
        return self._file is not None

    @property
    def path(self) -> str | None:
        """The file open now."""
        return self._file.path if self._file is not None else None

    def append_path(self, now: float) -> str:
        """
        ``append``: the file this publish continues, chosen now; the service
        reads it (:func:`read_existing`) and passes the result to
        :meth:`on_publish`.
        """
        self._append_path = build_path(
            self.config.dvr_path, self.vhost, self.app, self.stream, now, self._utc
        )
        return self._append_path

    def on_publish(self, existing: ExistingFile | None = None) -> list[DvrEvent]:
        """
        A publish starts.  Files open at the first frame (when metadata and
        sequence headers are known), so nothing happens yet.

        :param existing: ``append`` only, the file to continue.
        """
        self._existing = existing
        return []

    def wait_for_keyframe(self) -> None:
        """
        Start the next file on a video keyframe whatever
        ``dvr_wait_keyframe`` says (a reload joining a live stream).
        """
        self._await_keyframe = True

    def on_message(self, message: SharedMessage, now: float) -> list[DvrEvent]:
        """
        Take one message as the source delivers it (original timestamps).
        """
        events: list[DvrEvent] = []
        type_id = message.message_type_id
        if not message.is_av:
            if type_id == TagType.SCRIPT:
                self._metadata = message
            return events
        if message.is_sequence_header:
            if message.is_video:
                self._has_video = True
                self._video_header = message
            else:
                self._audio_header = message
            file = self._file
            if file is not None:
                self._write_header_inline(file, message, events)
            return events
        if message.is_video:
            self._has_video = True
        keyframe = message.is_video and message.is_keyframe
        file = self._file
        if file is None:
            if not self._may_start(message, keyframe):
                return events
            self._await_keyframe = False
            file = self._open(now, events)
        elif self._should_cut(file, message, keyframe):
            self._close(file, events)
            file = self._open(now, events)
        self._write_frame(file, message, keyframe, events)
        return events

    def on_unpublish(self) -> list[DvrEvent]:
        """The publisher stopped: close the file (every plan: see the module docstring)."""
        return self.close()

    def close(self) -> list[DvrEvent]:
        """Close the open file, if any (unpublish, reload, shutdown)."""
        events: list[DvrEvent] = []
        if self._file is not None:
            self._close(self._file, events)
        return events

    def abandon(self) -> None:
        """The service gave up on the open file (an I/O error): forget it."""
        self._file = None

    # -- files ---------------------------------------------------------------

    def _may_start(self, message: SharedMessage, keyframe: bool) -> bool:
        """
        Whether a file may start with ``message``: with
        ``dvr_wait_keyframe on`` (or after :meth:`wait_for_keyframe`) a
        stream with video starts on a keyframe, its audio before that
        dropped so that the file starts with both; an audio-only stream
        starts on any frame.
        """
        if keyframe:
            return True
        if not (self.config.dvr_wait_keyframe or self._await_keyframe):
            return True
        return message.is_audio and not self._has_video

    def _should_cut(self, file: _File, message: SharedMessage, keyframe: bool) -> bool:
        if self.config.dvr_plan != "segment":
            return False
        if file.duration_ms < self.config.dvr_duration * 1000:
            return False
        if not self.config.dvr_wait_keyframe:
            return True
        return keyframe or (message.is_audio and not self._has_video)

    def _open(self, now: float, events: list[DvrEvent]) -> _File:
        existing = self._existing if self.config.dvr_plan == "append" else None
        if self.config.dvr_plan == "append" and self._append_path is not None:
            path = self._append_path
        else:
            path = build_path(
                self.config.dvr_path, self.vhost, self.app, self.stream, now, self._utc
            )
        file = _File(path, self.config.time_jitter)
        if existing is not None:
            # Continue: the next frame goes one frame step after the end.
            self._existing = None
            events.append(OpenFile(path, append=True))
            file.size = existing.size
            file.reserved = existing.reserved
            file.metadata = existing.metadata
            file.entries = list(zip(existing.times, existing.positions))
            file.duration_ms = existing.duration_ms
            file.last_ms = existing.duration_ms
            file.first_ms = 0
            file.offset = None
            self._file = file
            self._write_headers_inline(file, events)
            return file
        events.append(OpenFile(path))
        if self.config.dvr_plan == "append":
            file.offset = None  # an append file starts at 0, whatever the jitter
        metadata = _decode_props(self._metadata.payload) if self._metadata is not None else {}
        file.metadata = Amf0Object(metadata)
        file.reserved = _reservation(file.metadata, index_capacity(self.config))
        head = _FLV_HEADER + metadata_tag(file.metadata, file.reserved)
        for header in (self._video_header, self._audio_header):
            if header is not None:
                head += header.flv_tag(0)
        file.video_header, file.audio_header = self._video_header, self._audio_header
        file.size = len(head)
        events.append(WriteTags(path, head))
        self._file = file
        return file

    def _write_headers_inline(self, file: _File, events: list[DvrEvent]) -> None:
        """The sequence headers again, at the file's end (``append`` continues)."""
        timestamp = file.last_ms or 0
        data = b""
        for header in (self._video_header, self._audio_header):
            if header is not None:
                data += header.flv_tag(timestamp)
        file.video_header, file.audio_header = self._video_header, self._audio_header
        if data:
            file.size += len(data)
            events.append(WriteTags(file.path, data))

    def _write_header_inline(
        self, file: _File, message: SharedMessage, events: list[DvrEvent]
    ) -> None:
        """A sequence header that changes in the middle of a file."""
        current = file.video_header if message.is_video else file.audio_header
        if current is not None and current.payload == message.payload:
            return
        if message.is_video:
            file.video_header = message
        else:
            file.audio_header = message
        tag = message.flv_tag(max(0, file.last_ms or 0))
        file.size += len(tag)
        events.append(WriteTags(file.path, tag))

    def _write_frame(
        self, file: _File, message: SharedMessage, keyframe: bool, events: list[DvrEvent]
    ) -> None:
        corrected = file.jitter.correct(message)
        if file.offset is None:
            start = 0 if file.last_ms is None else file.last_ms + DEFAULT_FRAME_TIME_MS
            file.offset = start - corrected
        timestamp = max(0, corrected + file.offset)
        if file.first_ms is None:
            file.first_ms = timestamp
        if file.last_ms is not None and timestamp > file.last_ms:
            file.duration_ms += timestamp - file.last_ms
        file.last_ms = timestamp
        if keyframe or (
            message.is_audio
            and not self._has_video
            and (
                file.last_index_ms is None
                or timestamp - file.last_index_ms >= AUDIO_INDEX_INTERVAL_MS
            )
        ):
            file.entries.append((timestamp / 1000, file.size))
            file.last_index_ms = timestamp
        tag = message.flv_tag(timestamp & 0x7FFFFFFF)
        file.size += len(tag)
        events.append(WriteTags(file.path, tag))

    def _close(self, file: _File, events: list[DvrEvent]) -> None:
        self._file = None
        duration = file.duration_ms / 1000
        tag = metadata_tag(file.metadata, file.reserved, duration, file.size, file.entries)
        listed = _count_entries(tag)
        events.append(
            CloseFile(file.path, tag, _FLV_HEADER_SIZE, duration, file.size, listed)
        )
        self.files_closed += 1


def _count_entries(tag: bytes) -> int:
    """How many keyframes a metadata tag made by :func:`metadata_tag` lists."""
    body = tag[TAG_HEADER_SIZE:-4]
    try:
        _, offset = decode(body, 0)
        props, _ = decode(body, offset)
    except Amf0Error:
        return 0
    keyframes = props.get("keyframes") if isinstance(props, Mapping) else None
    times = keyframes.get("times") if isinstance(keyframes, Mapping) else None
    return len(times) if isinstance(times, list) else 0
