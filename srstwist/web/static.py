# -*- test-case-name: tests.test_web_http_server -*-
"""
Static files and FLV pseudo-streaming for the HTTP server (SRS's
``SrsHttpFileServer`` in ``srs_http_stack.cpp`` and ``SrsVodStream``).

Files are served by Twisted's own :class:`twisted.web.static.File`, which brings
HEAD, ``Range`` (206) and ``If-Modified-Since`` for free; SRS has none of
them, and players seeking in a VOD file or an HLS segment use them.  The
MIME table is SRS's.  ``*.flv?start=N`` is SRS's VOD: the file's FLV header
and its first audio and video tags (the sequence headers), then the file
from byte ``N``.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from twisted.web.static import File

from srstwist.codec.flv import FLV_HEADER_SIZE, TAG_HEADER_SIZE

__all__ = [
    "MIME_TYPES",
    "content_type",
    "file_resource",
    "VodError",
    "flv_vod_prefix",
]

#: SRS's MIME table by extension (``srs_http_stack.cpp``); anything else is
#: ``application/octet-stream``.
MIME_TYPES: dict[str, str] = {
    ".ts": "video/MP2T",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".flv": "video/x-flv",
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".3gp": "video/3gpp",
    ".3gpp": "video/3gpp",
    ".aac": "audio/x-aac",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/x-m4a",
    ".ogg": "audio/ogg",
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".xml": "text/xml",
    ".json": "application/json",
    ".rss": "application/rss+xml",
    ".swf": "application/x-shockwave-flash",
    ".zip": "application/zip",
    ".rar": "application/x-rar-compressed",
    ".doc": "application/msword",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".f4m": "application/f4m",
    ".abst": "application/octet-stream",
}

_DEFAULT_TYPE = "application/octet-stream"
_PREVIOUS_TAG_SIZE = 4
#: How far into a file the sequence headers are looked for.
_HEADER_SCAN_LIMIT = 4 * 1024 * 1024


def content_type(path: str) -> str:
    """The MIME type SRS gives a file name."""
    return MIME_TYPES.get(os.path.splitext(path)[1].lower(), _DEFAULT_TYPE)


def file_resource(path: str) -> File:
    """A leaf resource serving one existing file with SRS's MIME types."""
    resource = File(path, defaultType=_DEFAULT_TYPE)
    resource.contentTypes = MIME_TYPES
    resource.contentEncodings = {}  # serve .gz and friends as they are
    return resource


class VodError(ValueError):
    """An FLV file or start offset that FLV pseudo-streaming cannot serve."""


def flv_vod_prefix(file: BinaryIO, size: int, start: int) -> bytes:
    """
    What goes before byte ``start`` of an FLV file in a ``?start=`` response:
    the 13-byte file header, then the block from the first audio or video
    tag to the end of the first tag of the other type, which SRS takes for
    the sequence headers (``SrsVodStream::serve_flv_stream``).

    :param file: the file, readable and seekable.
    :param size: its size.
    :param start: the byte offset asked for, above 0.
    :raises VodError: ``start`` beyond the end, not an FLV file, or no audio
        or video tag near the start.
    """
    if start > size:
        raise VodError(f"start={start} is beyond the end of the file ({size} bytes)")
    file.seek(0)
    header = file.read(FLV_HEADER_SIZE)
    if len(header) < FLV_HEADER_SIZE or header[:3] != b"FLV":
        raise VodError("not an FLV file")
    offset = FLV_HEADER_SIZE
    block_start: int | None = None
    seen: set[int] = set()
    block_end = None
    while offset + TAG_HEADER_SIZE <= min(size, _HEADER_SCAN_LIMIT):
        file.seek(offset)
        tag = file.read(TAG_HEADER_SIZE)
        if len(tag) < TAG_HEADER_SIZE:
            break
        tag_type = tag[0] & 0x1F
        data_size = int.from_bytes(tag[1:4], "big")
        end = offset + TAG_HEADER_SIZE + data_size + _PREVIOUS_TAG_SIZE
        if tag_type in (8, 9):
            if tag_type in seen:
                break  # a second tag of a type already seen: the block is complete
            if block_start is None:
                block_start = offset
            seen.add(tag_type)
            block_end = end
            if len(seen) == 2:
                break
        offset = end
    if block_start is None or block_end is None:
        raise VodError("no audio or video tag at the start of the file")
    file.seek(block_start)
    block = file.read(block_end - block_start)
    return header + block
