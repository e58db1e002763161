# -*- test-case-name: tests.test_hooks -*-
"""
SRS's HTTP callbacks as data: the JSON body each event POSTs, the URL an
``on_hls_notify`` GET asks for, and the rule that turns the hook server's
answer into accept or reject (SRS 2.0 ``trunk/src/app/srs_app_http_hooks.cpp``).

Pure functions and values, so the rule gets a table of tests and the
stream controller builds bodies without a network client;
:class:`srstwist.services.hooks.HookClient` sends them.

A hook server accepts by answering HTTP 200 with a body of ``0`` (or a JSON
object whose ``code`` is 0); anything else rejects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


from srstwist import SRS_COMPAT_VERSION, __version__

__all__ = [
    "ERROR_SOCKET_TIMEOUT",
    "ERROR_ST_CONNECT",
    "ERROR_HTTP_DATA_INVALID",
    "ERROR_RESPONSE_CODE",
    "ERROR_HTTP_STATUS_INVALID",
    "POST_TIMEOUT",
    "NOTIFY_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "HookRejected",
    "judge_hook_response",
    "hook_verdict",
    "encode_payload",
    "hook_param",
    "on_connect_payload",
    "on_close_payload",
    "on_publish_payload",
    "on_unpublish_payload",
    "on_play_payload",
    "on_stop_payload",
    "on_dvr_payload",
    "on_hls_payload",
    "hls_notify_url",
    "STOP_ON_FAILURE",
]

#: SRS error codes a failed hook is logged with (``SrsHttpHooks::do_post`` in
#: ``srs_app_http_hooks.cpp`` and the HTTP client beneath it).
ERROR_SOCKET_TIMEOUT = 1011
ERROR_ST_CONNECT = 1018
ERROR_HTTP_DATA_INVALID = 3008
ERROR_RESPONSE_CODE = 3064
ERROR_HTTP_STATUS_INVALID = 4005

#: Seconds a POST hook (or heartbeat) may take, request to last body byte;
#: SRS allows 30 s for each of connect, send and receive.
POST_TIMEOUT = 30.0
#: Seconds an ``on_hls_notify`` GET may take (SRS: 10 s).
NOTIFY_TIMEOUT = 10.0
#: The most of a hook server's answer we read; a longer answer rejects.
MAX_RESPONSE_BYTES = 64 * 1024

#: SRS's User-Agent, which hook servers may look for, then ours.
USER_AGENT = f"SRS(Simple RTMP Server){SRS_COMPAT_VERSION} srstwist/{__version__}"

# Events whose first failing URL stops the rest (the loop of SRS's
# ``SrsDvrAsyncCallOnHls::call`` and its siblings); the other notifications
# call every URL whatever happens.
STOP_ON_FAILURE = frozenset({"on_dvr", "on_hls", "on_hls_notify"})


class HookRejected(Exception):
    """
    A hook server refused, or could not be asked.

    :ivar url: the URL that failed.
    :ivar reason: what went wrong, for the log.
    :ivar code: the SRS error code SRS would log (:data:`ERROR_ST_CONNECT`,
        :data:`ERROR_SOCKET_TIMEOUT`, :data:`ERROR_HTTP_STATUS_INVALID`,
        :data:`ERROR_HTTP_DATA_INVALID` or :data:`ERROR_RESPONSE_CODE`).
    """

    def __init__(self, url: str, reason: str, code: int = ERROR_ST_CONNECT) -> None:
        super().__init__(url, reason, code)
        self.url = url
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"hook {self.url} failed: {self.reason} (code {self.code})"


def judge_hook_response(status: int, body: bytes) -> int:
    """
    SRS's judgement of a POST hook's answer (``SrsHttpHooks::do_post``): 0 to
    accept, else the error code of the rejection.

    Accepted are status 200 with the body exactly ``0``, or with a JSON
    object whose ``code`` is the integer 0 (other members ignored).
    """
    if status != 200:
        return ERROR_HTTP_STATUS_INVALID
    if not body:
        return ERROR_HTTP_DATA_INVALID
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ERROR_HTTP_DATA_INVALID
    if not isinstance(value, dict):
        return 0 if body == b"0" else ERROR_HTTP_DATA_INVALID
    code = value.get("code")
    # JSON true is a Python int; SRS wants a JSON integer.
    if not isinstance(code, int) or isinstance(code, bool) or code != 0:
        return ERROR_RESPONSE_CODE
    return 0


def hook_verdict(status: int, body: bytes) -> bool:
    """Whether a POST hook's answer accepts the client (see :func:`judge_hook_response`)."""
    return judge_hook_response(status, body) == 0


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """A hook body: compact JSON, keys in the order given (as ``SrsHttpHooks`` writes it)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- payloads (``SrsHttpHooks::on_*``; keys in SRS's emission order) ---------


def on_connect_payload(
    client_id: int, ip: str, vhost: str, app: str, tc_url: str, page_url: str
) -> dict[str, Any]:
    """The ``on_connect`` body."""
    return {
        "action": "on_connect",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "tcUrl": tc_url,
        "pageUrl": page_url,
    }


def on_close_payload(
    client_id: int, ip: str, vhost: str, app: str, send_bytes: int, recv_bytes: int
) -> dict[str, Any]:
    """The ``on_close`` body (SRS puts ``app`` last)."""
    return {
        "action": "on_close",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "send_bytes": send_bytes,
        "recv_bytes": recv_bytes,
        "app": app,
    }


def hook_param(param: str) -> str:
    """
    The ``param`` field: a query string with its leading ``?`` (as SRS's
    hooks send it), or ``""``.  HTTP players hand over the raw query of
    their URL, which has no ``?``; RTMP's already has one.
    """
    return param if not param or param.startswith("?") else "?" + param


def on_publish_payload(
    client_id: int, ip: str, vhost: str, app: str, tc_url: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_publish`` body."""
    return {
        "action": "on_publish",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "tcUrl": tc_url,
        "stream": stream,
        "param": hook_param(param),
    }


def _stream_payload(
    action: str, client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    return {
        "action": action,
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "stream": stream,
        "param": hook_param(param),
    }


def on_unpublish_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_unpublish`` body."""
    return _stream_payload("on_unpublish", client_id, ip, vhost, app, stream, param)


def on_play_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str, page_url: str
) -> dict[str, Any]:
    """The ``on_play`` body (RTMP and HTTP live players)."""
    payload = _stream_payload("on_play", client_id, ip, vhost, app, stream, param)
    payload["pageUrl"] = page_url
    return payload


def on_stop_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_stop`` body."""
    return _stream_payload("on_stop", client_id, ip, vhost, app, stream, param)


def on_dvr_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str, cwd: str, file: str
) -> dict[str, Any]:
    """The ``on_dvr`` body, after a DVR file is finished."""
    payload = _stream_payload("on_dvr", client_id, ip, vhost, app, stream, param)
    payload["cwd"] = cwd
    payload["file"] = file
    return payload


def on_hls_payload(
    client_id: int,
    ip: str,
    vhost: str,
    app: str,
    stream: str,
    param: str,
    *,
    duration: float,
    cwd: str,
    file: str,
    url: str,
    m3u8: str,
    m3u8_url: str,
    seq_no: int,
) -> dict[str, Any]:
    """The ``on_hls`` body, after a TS segment is closed and kept."""
    payload = _stream_payload("on_hls", client_id, ip, vhost, app, stream, param)
    payload.update(
        duration=duration, cwd=cwd, file=file, url=url, m3u8=m3u8, m3u8_url=m3u8_url,
        seq_no=seq_no,
    )  # fmt: skip
    return payload


def hls_notify_url(template: str, app: str, stream: str, ts_url: str, param: str) -> str:
    """
    The URL ``on_hls_notify`` fetches (``SrsHttpHooks::on_hls_notify``): the
    configured one, or the segment URI itself when that is absolute, with
    ``[app]``, ``[stream]``, ``[ts_url]`` and ``[param]`` replaced.
    """
    url = ts_url if ts_url.startswith(("http://", "https://")) else template
    for name, value in (("[app]", app), ("[stream]", stream), ("[ts_url]", ts_url),
                        ("[param]", param)):  # fmt: skip
        url = url.replace(name, value)
    return url
