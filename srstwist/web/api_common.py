# -*- test-case-name: tests.test_web_api -*-
"""
What every route of the HTTP API shares: SRS's error codes and our
additions, the fixed bodies (v1 index, authors, features), the CORS
headers, the error exception, the size-bounded request, and small request
helpers.  Kept apart from :mod:`srstwist.web.api` so the app module holds
only the routes and their handlers.

Codes: 0, 100, 2048 and 2049 are SRS's API codes (answered with HTTP 200);
the others are SRS error numbers we answer where SRS answers text, nothing
or a dropped connection, each with a real HTTP status: 3010
``ERROR_HTTP_HANDLER_MATCH_URL`` (404), 3011 ``ERROR_HTTP_HANDLER_INVALID``
(405), 4002 ``ERROR_HTTP_URL_NOT_CLEAN`` (400), 4003
``ERROR_HTTP_CONTENT_LENGTH`` (413), 3066 ``ERROR_REQUEST_DATA`` (400, a
bad JSONP callback), 1021 ``ERROR_SYSTEM_ASSERT_FAILED`` (500).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from twisted.web.server import Request

__all__ = [
    "ERROR_SUCCESS",
    "ERROR_TEST",
    "ERROR_STREAM_NOT_FOUND",
    "ERROR_CLIENT_NOT_FOUND",
    "ERROR_NOT_FOUND",
    "ERROR_METHOD_NOT_ALLOWED",
    "ERROR_URL_NOT_CLEAN",
    "ERROR_BODY_TOO_LARGE",
    "ERROR_BAD_CALLBACK",
    "ERROR_INTERNAL",
    "MAX_BODY",
    "SRS_FEATURES",
    "CORS_HEADERS",
    "V1_URLS",
    "AUTHORS",
    "ApiError",
    "BoundedRequest",
    "atoi",
    "encode_json",
    "fail_with",
    "query_arg",
    "path_suffix",
]

ERROR_SUCCESS = 0
ERROR_TEST = 100
ERROR_STREAM_NOT_FOUND = 2048
ERROR_CLIENT_NOT_FOUND = 2049
ERROR_NOT_FOUND = 3010
ERROR_METHOD_NOT_ALLOWED = 3011
ERROR_URL_NOT_CLEAN = 4002
ERROR_BODY_TOO_LARGE = 4003
ERROR_BAD_CALLBACK = 3066
ERROR_INTERNAL = 1021

#: The largest request body accepted (the API reads none; SRS discards them).
MAX_BODY = 64 * 1024


#: ``/api/v1/features`` of SRS's default x86-64 build (§3.5.10).
SRS_FEATURES: Mapping[str, bool] = {
    "ssl": True, "hls": True, "hds": True, "callback": True, "api": True, "httpd": True,
    "dvr": True, "transcode": True, "ingest": True, "stat": True, "nginx": False,
    "ffmpeg": False, "stream_caster": False, "complex_send": True, "tcp_nodelay": True,
    "so_sendbuf": False, "mr": True,
}  # fmt: skip

#: What a response carries with ``http_api.crossdomain on`` (§3.4).
CORS_HEADERS = (
    (b"Access-Control-Allow-Origin", b"*"),
    (b"Access-Control-Allow-Methods", b"GET, POST, HEAD, PUT, DELETE"),
    (
        b"Access-Control-Allow-Headers",
        b"Cache-Control,X-Proxy-Authorization,X-Requested-With,Content-Type",
    ),
)

#: The ``urls`` of the v1 index (§3.5.2), SRS's descriptions.
V1_URLS = {
    "versions": "the version of SRS",
    "summaries": "the summary(pid, argv, pwd, cpu, mem) of SRS",
    "rusages": "the rusage of SRS",
    "self_proc_stats": "the self process stats",
    "system_proc_stats": "the system process stats",
    "meminfos": "the meminfo of system",
    "authors": "the license, copyright, authors and contributors",
    "features": "the supported features of SRS",
    "requests": "the request itself, for http debug",
    "vhosts": "manage all vhosts or specified vhost",
    "streams": "manage all streams or specified stream",
    "clients": "manage all clients or specified client, default query top 10 clients",
    "tests": {
        "requests": "show the request info",
        "errors": "always return an error 100",
        "redirects": "always redirect to /api/v1/tests/errors",
        "[vhost]": "http vhost for http://error.srs.com:1985/api/v1/tests/errors",
    },
}

#: ``/api/v1/authors`` (§3.5.9); only SRS's two authors as contributors.
AUTHORS = {
    "primary": "SRS/2.0release",
    "license": "The MIT License (MIT)",
    "copyright": "Copyright (c) 2013-2015 SRS(ossrs)",
    "authors": "winlin,wenjie.zhao",
    "contributors_link": "https://github.com/ossrs/srs/blob/master/AUTHORS.txt",
    "contributors": "winlin wenjie.zhao ",
}


class ApiError(Exception):
    """
    Answer with ``{"code": code}`` and HTTP ``status``.

    SRS's own API errors use status 200; the failures it has no JSON for
    (see the module docstring) use the matching HTTP status.
    """

    def __init__(self, code: int, status: int = 200) -> None:
        super().__init__(code, status)
        self.code = code
        self.status = status


def atoi(text: str) -> int:
    """C ``atoi``: optional sign and leading digits, 0 when there are none (§3.3)."""
    match = re.match(r"\s*([-+]?\d+)", text)
    return int(match.group(1)) if match else 0


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class BoundedRequest(Request):
    """
    A ``Request`` that keeps at most :data:`MAX_BODY` bytes of a body and
    flags the rest, so a huge upload costs no memory; the API answers it
    with 413.
    """

    max_body = MAX_BODY
    body_too_large = False
    _body_seen = 0

    def handleContentChunk(self, data: bytes) -> None:
        self._body_seen += len(data)
        if self._body_seen > self.max_body:
            self.body_too_large = True
            return
        super().handleContentChunk(data)


def fail_with(code: int, status: int = 200) -> Callable[[str], dict[str, Any]]:
    """A handler that always answers ``{"code": code}``."""

    def handler(method: str) -> dict[str, Any]:
        raise ApiError(code, status)

    return handler


def query_arg(request: Any, name: str) -> str:
    """The first value of a query parameter, ``""`` when absent."""
    values = (request.args or {}).get(name.encode(), [])
    return values[0].decode("utf-8", "replace") if values else ""


def path_suffix(request: Any) -> str:
    """What follows a branch route's prefix (``12`` of ``/api/v1/streams/12``)."""
    return b"/".join(request.postpath).decode("utf-8", "replace")
