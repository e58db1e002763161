# -*- test-case-name: tests.test_media_hls -*-
"""
What the HLS segmenter (`srstwist.media.hls`) reads and what it emits.

Events are values: `srstwist.services.hls` carries them out on disk in
order, and tests compare them.  Paths are relative to ``hls_path``.  This
module imports nothing from Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "HlsEvent",
    "MediaMessage",
    "PlaylistUpdated",
    "SegmentClosed",
    "SegmentData",
    "SegmentDropped",
    "SegmentExpired",
    "SegmentOpened",
    "StreamDisposed",
]


class MediaMessage(Protocol):
    """
    What the segmenter reads from a message; `SharedMessage` is one.
    """

    @property
    def timestamp(self) -> int: ...
    @property
    def message_type_id(self) -> int: ...
    @property
    def payload(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class SegmentOpened:
    """
    A segment starts: create ``path + ".tmp"``.
    """

    sequence: int
    path: str
    uri: str


@dataclass(frozen=True, slots=True)
class SegmentData:
    """
    Bytes (whole TS packets) to append to the open segment.
    """

    sequence: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SegmentClosed:
    """
    A segment is finished and listed: rename ``path + ".tmp"`` to ``path``
    (before writing the playlist that follows), then tell the hooks.
    """

    sequence: int
    path: str
    uri: str
    duration: float
    discontinuity: bool


@dataclass(frozen=True, slots=True)
class SegmentDropped:
    """
    A segment is abandoned (too short, too long, or discarded): remove
    ``path + ".tmp"``.  Its sequence number goes to the next segment.
    """

    sequence: int
    path: str


@dataclass(frozen=True, slots=True)
class PlaylistUpdated:
    """
    The playlist's new text, to write atomically at ``path``.
    """

    path: str
    text: str
    ended: bool


@dataclass(frozen=True, slots=True)
class SegmentExpired:
    """
    A segment left the window (the playlist no longer lists it): remove
    ``path`` if ``hls_cleanup`` is on.
    """

    sequence: int
    path: str


@dataclass(frozen=True, slots=True)
class StreamDisposed:
    """
    ``hls_dispose``: remove these files (the listed segments and the
    playlist, ``SrsHlsMuxer::dispose``).
    """

    paths: tuple[str, ...]


HlsEvent = (
    SegmentOpened
    | SegmentData
    | SegmentClosed
    | SegmentDropped
    | PlaylistUpdated
    | SegmentExpired
    | StreamDisposed
)
