# -*- test-case-name: tests.test_client_rtmp -*-
"""
RTMP URLs as srs-librtmp takes them apart (``srs_librtmp_context_parse_uri``), and the
client's one exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from srstwist.codec.rtmp_url import DEFAULT_VHOST, generate_tc_url, parse_tc_url, split_rtmp_url

__all__ = ["RtmpClientError", "RtmpUrl", "parse_rtmp_url"]


class RtmpClientError(Exception):
    """
    The one error of the RTMP client: a bad URL, a connection that could not
    be made or was lost, a call the server refused, a timeout, or a call made
    in the wrong state.  ``str(error)`` is a sentence a command-line tool can
    print as it is.
    """


@dataclass(frozen=True, slots=True)
class RtmpUrl:
    """
    An ``rtmp://host[:port]/app[/...]/stream[?query]`` URL taken apart as
    srs-librtmp does (``srs_librtmp_context_parse_uri``): the stream is the last path segment,
    its query moves into the connect ``tcUrl``.

    :ivar url: the URL as given.
    :ivar host: the host to connect to.
    :ivar port: the TCP port (1935 unless given).
    :ivar vhost: the host, or the vhost named in the query.
    :ivar app: the application, e.g. ``live`` or ``live/sub``.
    :ivar stream: the stream name without its query (``""`` if none).
    :ivar param: the query with its ``?``, or ``""``.
    :ivar tc_url: the ``tcUrl`` sent in connect (``srs_generate_tc_url``, plus
        the param, as srs-librtmp sends it).
    """

    url: str
    host: str
    port: int
    vhost: str
    app: str
    stream: str
    param: str
    tc_url: str


def parse_rtmp_url(url: str, *, require_stream: bool = True) -> RtmpUrl:
    """
    Take an RTMP URL apart.

    :param require_stream: refuse a URL without a stream name.
    :raises RtmpClientError: not an ``rtmp://`` URL, no host, a bad port, no
        app, or (with ``require_stream``) no stream.
    """
    expected = "expected rtmp://host[:port]/app/stream"
    if not url.lower().startswith("rtmp://"):
        raise RtmpClientError(f"bad RTMP URL {url!r}: {expected}")
    tc_url, stream = split_rtmp_url(url)
    parsed = parse_tc_url(tc_url, stream)
    if not parsed.host:
        # "rtmp://host/stream": everything before the last "/" is the host.
        raise RtmpClientError(f"bad RTMP URL {url!r}: no app; {expected}")
    port = parsed.port_number
    if port is None:
        raise RtmpClientError(f"bad RTMP URL {url!r}: invalid port {parsed.port!r}")
    if not parsed.app:
        raise RtmpClientError(f"bad RTMP URL {url!r}: no app; {expected}")
    if require_stream and not parsed.stream:
        raise RtmpClientError(f"bad RTMP URL {url!r}: no stream name; {expected}")
    vhost = parsed.vhost or parsed.host
    # The tcUrl names the host itself, unless the query chose another vhost.
    tc_vhost = DEFAULT_VHOST if vhost == parsed.host else vhost
    return RtmpUrl(
        url=url,
        host=parsed.host,
        port=port,
        vhost=vhost,
        app=parsed.app,
        stream=parsed.stream,
        param=parsed.param,
        tc_url=generate_tc_url(parsed.host, tc_vhost, parsed.app, port, parsed.param),
    )
