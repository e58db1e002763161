# -*- test-case-name: tests.test_web_api -*-
"""
What every route of the HTTP API shares: SRS's error codes and our
additions, the fixed bodies (v1 index, authors), the features as built,
the CORS headers, the listener's body limit, the error exception, and
small request helpers.  Kept apart from :mod:`srstwist.web.api` so the app module holds
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

from srstwist.config.support import is_built

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
    "API_MAX_BODY",
    "FEATURE_DIRECTIVES",
    "BUILD_FEATURES",
    "built_features",
    "CORS_HEADERS",
    "V1_URLS",
    "AUTHORS",
    "ApiError",
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

#: The API listener's request body limit, in bytes: the API reads no body
#: (SRS discards them), so a small JSON one is plenty.
API_MAX_BODY = 64 * 1024

#: The ``/api/v1/features`` flags that stand for a feature configured by a
#: directive, and that directive's path: a flag is on only when
#: :func:`srstwist.config.support.is_built` says srstwist acts on it.
#: (SRS sets them from its ``configure`` options, ``SRS_AUTO_HLS`` and so
#: on, in ``SrsGoApiFeatures::serve_http``,
#: ``trunk/src/app/srs_app_http_api.cpp``; ``stat`` is its system sampler,
#: configured by ``stats``; ``tcp_nodelay`` and ``mr`` are the switches
#: that make those vhost directives work.)
FEATURE_DIRECTIVES: Mapping[str, str] = {
    "hls": "vhost.hls", "hds": "vhost.hds", "callback": "vhost.http_hooks",
    "api": "http_api", "httpd": "http_server", "dvr": "vhost.dvr",
    "transcode": "vhost.transcode", "ingest": "vhost.ingest", "stat": "stats",
    "stream_caster": "stream_caster", "tcp_nodelay": "vhost.tcp_nodelay", "mr": "vhost.mr",
}  # fmt: skip

#: The flags that are facts of the build rather than directives: ``ssl``
#: (the complex handshake, which srstwist does), ``nginx`` and ``ffmpeg``
#: (tools SRS can compile alongside), ``complex_send`` and ``so_sendbuf``
#: (SRS's send-path switches, left at SRS's defaults).
BUILD_FEATURES: Mapping[str, bool] = {
    "ssl": True, "nginx": False, "ffmpeg": False, "complex_send": True, "so_sendbuf": False,
}  # fmt: skip

#: The flags in SRS's order.
_FEATURE_ORDER = (
    "ssl", "hls", "hds", "callback", "api", "httpd", "dvr", "transcode", "ingest", "stat",
    "nginx", "ffmpeg", "stream_caster", "complex_send", "tcp_nodelay", "so_sendbuf", "mr",
)  # fmt: skip


def built_features(built: Callable[[str], bool] = is_built) -> dict[str, bool]:
    """
    The ``data`` of ``/api/v1/features``, in SRS's order: each directive
    flag of :data:`FEATURE_DIRECTIVES` as ``built`` says, the others from
    :data:`BUILD_FEATURES`.

    :param built: whether srstwist acts on a directive path.
    """
    return {
        name: built(FEATURE_DIRECTIVES[name]) if name in FEATURE_DIRECTIVES
        else BUILD_FEATURES[name]
        for name in _FEATURE_ORDER
    }  # fmt: skip

#: What a response carries with ``http_api.crossdomain on``.
CORS_HEADERS = (
    (b"Access-Control-Allow-Origin", b"*"),
    (b"Access-Control-Allow-Methods", b"GET, POST, HEAD, PUT, DELETE"),
    (
        b"Access-Control-Allow-Headers",
        b"Cache-Control,X-Proxy-Authorization,X-Requested-With,Content-Type",
    ),
)

#: The ``urls`` of the v1 index, SRS's descriptions.
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
    # Ours, not SRS 2.0's (docs/ffmpeg.md).
    "ffmpegs": "the ffmpeg children of ingest and transcode (srstwist)",
    "clusters": "the forward and edge upstreams (srstwist)",
    "tests": {
        "requests": "show the request info",
        "errors": "always return an error 100",
        "redirects": "always redirect to /api/v1/tests/errors",
        "[vhost]": "http vhost for http://error.srs.com:1985/api/v1/tests/errors",
    },
}

#: ``/api/v1/authors``; only SRS's two authors as contributors.
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
    """C ``atoi``, as SRS reads ids: optional sign and leading digits, 0 when there are none."""
    match = re.match(r"\s*([-+]?\d+)", text)
    return int(match.group(1)) if match else 0


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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
