# -*- test-case-name: tests.test_media_hls -*-
"""
HLS file names, segment URIs and the m3u8 text, as pure functions.

They follow SRS 2.0 (``srs_app_hls.cpp``, ``srs_path_build_stream``) so that existing
configs produce the same files and playlists, except where SRS gives
players something wrong; each such place says so:

* a segment that is not under the playlist's directory gets a ``../``
  relative URI (SRS strips a string prefix, so ``live2/x.ts`` next to
  ``live/x.m3u8`` became ``2/x.ts``);
* with an entry prefix, a playlist at the top of ``hls_path`` adds no
  directory (SRS adds the playlist's own name as one);
* ``#EXT-X-TARGETDURATION`` is passed in by the caller, who keeps it from
  ever going down (SRS can lower it when a long segment leaves the window,
  which the HLS specification forbids);
* ``#EXT-X-ENDLIST`` closes the playlist of a stream that has ended.

Wall time is always an argument: nothing here reads a clock.  This module
imports nothing from Twisted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ListedSegment",
    "expire",
    "floor_accept",
    "render_playlist",
    "segment_path",
    "segment_uri",
    "stream_path",
    "target_duration",
    "time_path",
]

#: Floor mode restarts its counter when it runs this far ahead of the clock.
_FLOOR_JUMP = 20


@dataclass(frozen=True, slots=True)
class ListedSegment:
    """
    A finished segment in the playlist.

    :ivar sequence: its media sequence number.
    :ivar path: the file, relative to ``hls_path``.
    :ivar uri: what the playlist lists.
    :ivar duration: seconds.
    :ivar discontinuity: an ``#EXT-X-DISCONTINUITY`` goes before it.
    """

    sequence: int
    path: str
    uri: str
    duration: float
    discontinuity: bool


def stream_path(template: str, vhost: str, app: str, stream: str) -> str:
    """
    Replace ``[vhost]``, ``[app]`` and ``[stream]`` (every occurrence).
    """
    return template.replace("[vhost]", vhost).replace("[app]", app).replace("[stream]", stream)


def time_path(template: str, now: float, utc: bool = False) -> str:
    """
    Replace the time variables ``[2006] [01] [02] [15] [04] [05] [999]
    [timestamp]`` for wall time ``now`` (seconds since the epoch), in local
    time unless ``utc`` (the global ``utc_time``).
    """
    seconds, millis = divmod(round(now * 1000), 1000)
    tm = time.gmtime(seconds) if utc else time.localtime(seconds)
    return (
        template.replace("[2006]", f"{tm.tm_year:04d}")
        .replace("[01]", f"{tm.tm_mon:02d}")
        .replace("[02]", f"{tm.tm_mday:02d}")
        .replace("[15]", f"{tm.tm_hour:02d}")
        .replace("[04]", f"{tm.tm_min:02d}")
        .replace("[05]", f"{tm.tm_sec:02d}")
        .replace("[999]", f"{millis:03d}")
        .replace("[timestamp]", str(seconds * 1000 + millis))
    )


def floor_accept(now: float, fragment: float, accept: int | None) -> tuple[int, int]:
    """
    Floor mode's next file number (``hls_ts_floor on``, ``SrsHlsMuxer::segment_open``).

    :param accept: the number given to the previous segment of this
        publish, ``None`` for its first.
    :return: ``(accept, deviation)``: the number for ``[timestamp]`` and how
        far it is ahead of (positive) or behind (negative) the wall clock,
        in fragments.
    """
    current = int(now * 1000 // (1000 * fragment))
    accept = current - 1 if accept is None else accept + 1
    if accept - current > _FLOOR_JUMP:
        accept = current - 1
    return accept, accept - current


def segment_path(
    template: str,
    vhost: str,
    app: str,
    stream: str,
    sequence: int,
    now: float,
    *,
    utc: bool = False,
    floor: int | None = None,
) -> str:
    """
    A segment's file name relative to ``hls_path``: stream variables, then
    (floor mode) ``[timestamp]`` from ``floor``, then the time variables,
    then ``[seq]``.  Leading slashes are dropped, since the name is joined
    to ``hls_path``.
    """
    name = stream_path(template, vhost, app, stream)
    if floor is not None:
        name = name.replace("[timestamp]", str(floor))
    name = time_path(name, now, utc).replace("[seq]", str(sequence))
    return name.lstrip("/")


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def _relative(path: str, directory: str) -> str:
    # posixpath.relpath would consult the working directory; both paths are
    # relative to hls_path, so compare them part by part.
    target, base = _parts(path), _parts(directory)
    common = 0
    while common < min(len(target), len(base)) and target[common] == base[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + target[common:])


def segment_uri(path: str, m3u8_url: str, entry_prefix: str = "") -> str:
    """
    The URI the playlist lists for a segment (``SrsHlsMuxer::segment_open``).

    :param path: the segment, relative to ``hls_path``.
    :param m3u8_url: the playlist, relative to ``hls_path``.
    :param entry_prefix: ``hls_entry_prefix``.  Without one the URI is
        relative to the playlist; with one not ending in ``/`` it is the
        prefix, ``/`` and the segment's path under ``hls_path``; with one
        ending in ``/`` it is the prefix and the URI relative to the
        playlist (an SRS rule that configs rely on).
    """
    directory = m3u8_url.rpartition("/")[0]
    relative = _relative(path, directory)
    if not entry_prefix:
        return relative
    if entry_prefix.endswith("/"):
        return entry_prefix + relative
    return entry_prefix + "/" + "/".join(_parts(path))


def target_duration(segments: Sequence[ListedSegment], floor: int) -> int:
    """
    ``#EXT-X-TARGETDURATION``: at least ``floor`` (``hls_fragment *
    hls_td_ratio``) and at least every listed EXTINF rounded up.
    """
    longest = max((math.ceil(segment.duration) for segment in segments), default=0)
    return max(floor, longest)


def render_playlist(segments: Sequence[ListedSegment], target: int, ended: bool = False) -> str:
    """
    The m3u8 text SRS writes (``SrsHlsMuxer::_refresh_m3u8``; RFC 8216 §4.3), LF line ends, plus
    ``#EXT-X-ENDLIST`` when ``ended``.

    :param segments: oldest first; at least one.
    :param target: ``#EXT-X-TARGETDURATION``; see `target_duration`.
    """
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-ALLOW-CACHE:YES",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].sequence}",
        f"#EXT-X-TARGETDURATION:{target}",
    ]
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{segment.duration:.3f}, no desc")
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def expire(segments: Sequence[ListedSegment], window: float) -> int:
    """
    How many of the oldest segments leave the playlist (``SrsHlsMuxer::segment_close``):
    summing durations from the newest, the segment at which the whole
    seconds first exceed ``window`` stays, everything older goes.
    """
    total = 0.0
    for index in range(len(segments) - 1, -1, -1):
        total += segments[index].duration
        if int(total) > window:
            return index
    return 0
