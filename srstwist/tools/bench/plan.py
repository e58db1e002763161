# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's options and targets: the parsed command line
(:class:`BenchOptions`), the URL taken apart and resolved (:class:`Plan`),
the loopback-only rule (:func:`resolve_target`), the stream name of each
client (:func:`stream_for`) and the clients each worker runs
(:func:`indices_of`).

Plain data and pure functions; the command line (:mod:`.cli`) builds the
options, everything else reads them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from srstwist.codec.rtmp_url import parse_tc_url, split_rtmp_url

__all__ = [
    "HTTP_MODES",
    "MODES",
    "BenchOptions",
    "Plan",
    "TargetRefused",
    "indices_of",
    "plan_run",
    "resolve_target",
    "stream_for",
]

#: Every ``MODE`` argument.
MODES = ("rtmp-play", "rtmp-publish", "http-flv-play", "ws-flv-play", "hls-play")
#: The modes that take an ``http://`` URL (``ws://`` for ws-flv-play).
HTTP_MODES = ("http-flv-play", "ws-flv-play", "hls-play")


class TargetRefused(Exception):
    """The URL's host is not a loopback address and --allow-remote is off."""


@dataclass(frozen=True)
class BenchOptions:
    """The parsed command line."""

    mode: str
    url: str
    n: int = 1
    rate: float = 100.0
    duration: float = 10.0
    workers: int = 1
    json: bool = False
    allow_remote: bool = False
    timeout: float = 10.0
    input: str | None = None
    full_parse: bool = False
    sample: int | None = None
    stall: int = 0
    worker: int | None = None


def resolve_target(
    host: str,
    port: int,
    allow_remote: bool,
    resolve: Callable[..., list[Any]] = socket.getaddrinfo,
) -> str:
    """
    Resolve ``host`` and return the address to connect to (IPv4 first).

    :raises TargetRefused: an address is outside 127.0.0.0/8 and ::1 and
        ``allow_remote`` is off, or the host does not resolve.
    """
    try:
        infos = resolve(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise TargetRefused(f"cannot resolve {host!r}: {e}") from e
    addresses = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise TargetRefused(f"{host!r} has no IP address")
    if not allow_remote:
        remote = [a for a in addresses if not _loopback(a)]
        if remote:
            raise TargetRefused(
                f"{host!r} resolves to {', '.join(remote)}, outside 127.0.0.0/8 and ::1; "
                "pass --allow-remote to load a remote server"
            )
    addresses.sort(key=lambda a: ":" in a)
    return addresses[0]


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def stream_for(template: str, index: int, n: int, mode: str) -> str:
    """
    Client ``index``'s stream name: ``{i}`` replaced by the index; else,
    for ``rtmp-publish`` with more than one client, ``-{index}`` appended
    (N publishers cannot share one stream); else the name itself.
    """
    if "{i}" in template:
        return template.replace("{i}", str(index))
    if mode == "rtmp-publish" and n > 1:
        return f"{template}-{index}"
    return template


@dataclass(frozen=True)
class Plan:
    """
    Where the clients go.

    :ivar address: the resolved address connected to.
    :ivar stream: RTMP: the stream name template (no query); HTTP: the
        path and query template.
    :ivar tc_url: RTMP: the connect tcUrl, the URL's query included.
    """

    host: str
    address: str
    port: int
    stream: str
    tc_url: str = ""
    app: str = ""


def plan_run(options: BenchOptions, resolve: Callable[..., list[Any]] = socket.getaddrinfo) -> Plan:
    """
    Take the URL apart and resolve its host.

    :raises ValueError: the URL is unusable.
    :raises TargetRefused: see :func:`resolve_target`.
    """
    if options.mode in HTTP_MODES:
        parts = urlsplit(options.url)
        if not parts.hostname:
            raise ValueError(f"no host in {options.url!r}")
        try:
            port = parts.port or 80
        except ValueError as e:
            raise ValueError(f"bad port in {options.url!r}") from e
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        address = resolve_target(parts.hostname, port, options.allow_remote, resolve)
        return Plan(parts.hostname, address, port, path)
    tc_url, stream = split_rtmp_url(options.url)
    name, _, query = stream.partition("?")
    if not name:
        raise ValueError(f"no stream name in {options.url!r}")
    if query:
        tc_url += "?" + query
    request = parse_tc_url(tc_url)
    if not request.host or not request.app:
        raise ValueError(f"no host or app in {options.url!r}")
    if not request.port.isdigit() or not 0 < int(request.port) < 65536:
        raise ValueError(f"bad port {request.port!r} in {options.url!r}")
    port = int(request.port)
    host = request.host.strip("[]")
    address = resolve_target(host, port, options.allow_remote, resolve)
    return Plan(host, address, port, name, tc_url, request.app)


def indices_of(worker: int | None, workers: int, n: int) -> range:
    """The clients a worker runs: every ``workers``-th from ``worker``."""
    if worker is None:
        return range(n)
    return range(worker, n, workers)


