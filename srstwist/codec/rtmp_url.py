# -*- test-case-name: tests.test_codec_rtmp_url -*-
"""
RTMP URL rules: how SRS 2.0 takes a ``tcUrl`` and a stream name apart
(``srs_discovery_tc_url`` and ``srs_vhost_resolve`` in ``srs_rtmp_utility.cpp``)
and how it builds a ``tcUrl`` as a client (``srs_generate_tc_url``).

Pure functions on ``str``; nothing here looks at a configuration.  Matching
the resolved vhost against the configured vhosts is the caller's job.

The rules are SRS's, quirks included, because clients depend on them:

* the host is everything up to the first ``/`` after ``://``; a ``tcUrl``
  without such a ``/`` has an empty host and is all app;
* the port stays a string (``"1935"`` by default), because SRS closes the
  connection when it comes out empty (``rtmp://host:/live``);
* ``,``, ``...``, ``&&``, ``&`` and ``=`` all separate query fields, so
  ``live...vhost...demo`` selects vhost ``demo``, and an app or stream name
  containing one of them is cut there;
* ``vhost?`` is matched as a substring, so ``myvhost=x`` also selects ``x``;
* a trailing ``/_definst_`` (Wowza) is dropped from the app.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_VHOST",
    "RtmpRequestUrl",
    "generate_tc_url",
    "parse_tc_url",
    "resolve_vhost",
    "split_rtmp_url",
    "stream_url",
]

#: The vhost a request falls back to when no configured vhost matches.
DEFAULT_VHOST = "__defaultVhost__"
#: The RTMP port SRS assumes when the ``tcUrl`` names none, as a string.
DEFAULT_PORT = "1935"

# Replaced by "?" in this order before the query is searched (srs_vhost_resolve).
_SEPARATORS = (",", "...", "&&", "&", "=")
_DEFINST = "/_definst_"


@dataclass(frozen=True, slots=True)
class RtmpRequestUrl:
    """
    What SRS derives from a ``tcUrl`` and a stream name
    (``srs_discovery_tc_url`` followed by ``SrsRequest::strip``).

    :ivar schema: the text before ``://`` (``rtmp``), empty without one.
    :ivar host: the host as written, without port.
    :ivar vhost: the host, or the vhost named in the app or stream query.
    :ivar port: the port as a string; ``"1935"`` when absent, and possibly
        empty or not a number when the ``tcUrl`` is broken.
    :ivar app: the application, e.g. ``live`` or ``live/sub``.
    :ivar stream: the stream name without its query.
    :ivar param: the query, including its leading ``?``, from the stream
        name if that has one, else from the app; empty when it was exactly
        ``?vhost=__defaultVhost__``.
    """

    schema: str
    host: str
    vhost: str
    port: str
    app: str
    stream: str
    param: str

    @property
    def port_number(self) -> int | None:
        """
        The port as an integer, or ``None`` unless it is 1..65535 in
        decimal digits.
        """
        if not self.port.isascii() or not self.port.isdigit():
            return None
        port = int(self.port)
        return port if 0 < port < 65536 else None

    @property
    def stream_url(self) -> str:
        """
        The source key ``vhost/app/stream``, see :func:`stream_url`.
        """
        return stream_url(self.vhost, self.app, self.stream)


def resolve_vhost(vhost: str, name: str, param: str) -> tuple[str, str, str]:
    """
    Take the query off an app or stream name and look for a vhost in it
    (``srs_vhost_resolve``).

    :param vhost: the vhost so far.
    :param name: the app or stream name, possibly with a query.
    :param param: the query found so far.
    :return: ``(vhost, name, param)``: the vhost named in the query or the
        one given; the name without query or ``/_definst_``; the query from
        its ``?`` to the end if there is one, else the ``param`` given.
    """
    at = name.find("?")
    if at >= 0:
        param = name[at:]
    for separator in _SEPARATORS:
        name = name.replace(separator, "?")
    if name.endswith(_DEFINST):
        name = name[: -len(_DEFINST)]
    at = name.find("?")
    if at >= 0:
        query = name[at + 1 :]
        name = name[:at]
        at = query.find("vhost?")
        if at >= 0:
            query = query[at + 6 :]
            if query:
                vhost = query
            vhost = vhost.split("?", 1)[0]
    return vhost, name, param


def _remove(text: str, chars: str) -> str:
    return "".join(c for c in text if c not in chars)


def parse_tc_url(tc_url: str, stream: str = "") -> RtmpRequestUrl:
    """
    Split a ``tcUrl`` and a stream name the way SRS does (``srs_discovery_tc_url``).

    At connect time the stream is not known yet; once the client has
    said what it plays or publishes, call again with the stream name so
    that a ``?vhost=`` there wins (SRS #1059).

    :param tc_url: the ``tcUrl`` of the connect command.
    :param stream: the play or publish name, possibly with a query.
    """
    url = tc_url
    schema = host = ""
    at = url.find("://")
    if at >= 0:
        schema = url[:at]
        url = url[at + 3 :]
    at = url.find("/")
    if at >= 0:
        host = url[:at]
        url = url[at + 1 :]
    port = DEFAULT_PORT
    at = host.find(":")
    if at >= 0:
        port = host[at + 1 :]
        host = host[:at]
    vhost, app, param = resolve_vhost(host, url, "")
    vhost, stream, param = resolve_vhost(vhost, stream, param)
    if param == "?vhost=" + DEFAULT_VHOST:
        param = ""
    return RtmpRequestUrl(
        schema=schema,
        host=_remove(host, "/ \n\r\t"),
        vhost=_remove(vhost, "/ \n\r\t"),
        port=port,
        app=_remove(app, " \n\r\t").strip("/"),
        stream=_remove(stream, " \n\r\t").strip("/"),
        param=param,
    )


def generate_tc_url(
    ip: str, vhost: str, app: str, port: str | int = DEFAULT_PORT, param: str = ""
) -> str:
    """
    The ``tcUrl`` SRS sends as a client (``srs_generate_tc_url``):
    the IP for the default vhost, else the vhost name;
    ``:port`` only when it is not 1935.
    """
    port = str(port)
    host = ip if vhost == DEFAULT_VHOST else vhost
    if port != DEFAULT_PORT:
        host += ":" + port
    return f"rtmp://{host}/{app}{param}"


def stream_url(vhost: str, app: str, stream: str) -> str:
    """
    The key of a stream source, ``vhost/app/stream``, with the vhost left
    out for the default vhost (``/live/livestream``, ``srs_generate_stream_url``).
    """
    prefix = "" if vhost == DEFAULT_VHOST else vhost
    return f"{prefix}/{app}/{stream}"


def split_rtmp_url(url: str) -> tuple[str, str]:
    """
    Split a full URL such as ``rtmp://host/live/livestream?key=1`` at its
    last ``/`` into the ``tcUrl`` and the stream name, as srs-librtmp does
    (``srs_librtmp_context_parse_uri``).  The query stays on the stream name; pass both to
    :func:`parse_tc_url` to take it apart.

    :return: ``(tc_url, stream)``; the stream is empty when the URL has
        no ``/`` after its ``://``.
    """
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    at = url.rfind("/")
    if at < start:
        return url, ""
    return url[:at], url[at + 1 :]
