# -*- test-case-name: tests.test_web_metrics -*-
"""
``/metrics`` in Prometheus' text exposition format, on the HTTP API
listener (issue 22).

``web/`` may not import ``services/``, where the collectors are
(:mod:`srstwist.services.metrics`), so this module is handed a render
function that returns the exposition bytes; it only answers the request.
The format is the text format 0.0.4 that ``generate_latest`` writes and
every Prometheus server scrapes; its content type is spelled here, since
newer ``prometheus_client`` releases call 1.0.0 their latest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["serve_metrics"]

_log = Logger()

#: The text exposition format, version 0.0.4.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def serve_metrics(request: Any, render: Callable[[], bytes] | None) -> bytes:
    """
    Answer one ``/metrics`` request.

    :param render: the registry's exposition, or ``None`` when the server
        was built without metrics (then 404, as for any unknown path).
    """
    method = request.method.decode("ascii", "replace").upper()
    if render is None:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"Not Found"
    if method not in ("GET", "HEAD"):
        request.setResponseCode(405)
        request.setHeader(b"allow", b"GET, HEAD")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"Method Not Allowed"
    try:
        body = render()
    except Exception:
        _log.failure("/metrics: a collector failed")
        request.setResponseCode(500)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"metrics collection failed"
    request.setHeader(b"content-type", CONTENT_TYPE)
    request.setHeader(b"cache-control", b"no-cache")
    return b"" if method == "HEAD" else body
