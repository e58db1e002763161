# -*- test-case-name: tests.test_web_mounts -*-
"""
Which handler an HTTP request on the HTTP server reaches: a live stream
(``http_remux`` mounts), a vhost's static directory (``http_static``), or
the server's document root (``http_server dir``).

SRS builds a mux of handlers at publish time
(``SrsHttpStreamServer::http_mount`` and ``hijack`` in ``srs_app_http_stream.cpp``,
``SrsHttpStaticServer`` in ``srs_app_http_static.cpp``).  Here the same rules
are pure functions of the config in force and the request's Host and path,
so a reload applies to the next request and nothing needs to be mounted or
unmounted:

* mount templates get ``[vhost]`` replaced, then ``__defaultVhost__/``
  becomes ``/``;
* a template that then starts with ``/`` matches any Host; one that starts
  with a vhost name matches only requests whose Host (port stripped) is
  that name, and when the Host names such a vhost only its mounts are
  tried;
* for static mounts the longest prefix wins, and ``/x`` redirects to ``/x/``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

from srstwist.config.model import DEFAULT_VHOST, ServerConfig, VhostConfig

__all__ = [
    "LiveRoute",
    "StaticRoute",
    "UnsafePath",
    "live_route",
    "static_route",
    "request_path",
]


class UnsafePath(ValueError):
    """A request path that tries to leave the document root."""


@dataclass(frozen=True, slots=True)
class LiveRoute:
    """A request for a live stream: which one, and in which format."""

    vhost: VhostConfig
    app: str
    stream: str
    #: The mount's extension: ``.flv``, ``.ts``, ``.mp3`` or ``.aac``.
    extension: str


@dataclass(frozen=True, slots=True)
class StaticRoute:
    """A request for a file under a mounted directory."""

    #: The directory mounted.
    root: str
    #: Path segments below it (never ``..``, never empty names).
    segments: tuple[str, ...]
    #: Whether the request path ended in ``/`` (then ``index.html`` is meant).
    directory: bool
    #: Set when the request named the mount without its slash: redirect there.
    redirect: str | None = None


def request_path(raw: bytes) -> str:
    """
    The decoded path of a request target, checked for traversal.

    :raises UnsafePath: a ``..`` segment (in any encoding), a NUL byte or a
        backslash; SRS closes such connections, we answer 400.
    """
    text = unquote(raw.split(b"?", 1)[0].decode("utf-8", "replace"))
    if "\x00" in text or "\\" in text:
        raise UnsafePath(text)
    if any(segment == ".." for segment in text.split("/")):
        raise UnsafePath(text)
    if not text.startswith("/"):
        text = "/" + text
    return text


def _host_only(host: str) -> str:
    """The Host header without its port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _split_template(vhost: VhostConfig, template: str) -> tuple[str | None, str]:
    """
    A mount template, expanded: (the Host it requires or ``None``, its path).
    """
    expanded = template.replace("[vhost]", vhost.name)
    expanded = expanded.replace(DEFAULT_VHOST + "/", "/")
    if expanded.startswith("/"):
        return None, expanded
    host, slash, rest = expanded.partition("/")
    return host, "/" + rest if slash else "/"


def _live_pattern(path_template: str) -> tuple[re.Pattern[str], str] | None:
    """A template path as a regular expression, and its extension."""
    extension = posixpath.splitext(path_template)[1]
    if not extension:
        return None
    pattern = re.escape(path_template)
    pattern = pattern.replace(re.escape("[app]"), "(?P<app>.+)", 1)
    pattern = pattern.replace(re.escape("[stream]"), "(?P<stream>[^/]+)", 1)
    return re.compile(f"^{pattern}$"), extension


def _candidates(config: ServerConfig, host: str) -> list[VhostConfig]:
    """Enabled vhosts, the one the Host names first."""
    found = [v for v in config.vhosts if v.enabled]
    found.sort(key=lambda v: v.name != host)
    return found


def live_route(config: ServerConfig, host: str, path: str) -> LiveRoute | None:
    """
    The live stream ``path`` names under the vhosts' ``http_remux`` mounts,
    or ``None``.

    Stream and app come from the template's ``[stream]`` and ``[app]``; a
    template without ``[app]`` takes the directory part of the path (SRS
    derives "the rest" of the path the same way for hstrs requests).
    """
    host = _host_only(host)
    generic: LiveRoute | None = None
    for vhost in _candidates(config, host):
        remux = vhost.http_remux
        if not remux.enabled:
            continue
        required, template = _split_template(vhost, remux.mount)
        if required is not None and required != host:
            continue
        compiled = _live_pattern(template)
        if compiled is None:
            continue
        pattern, extension = compiled
        match = pattern.match(path)
        if match is None:
            continue
        groups = match.groupdict()
        stream = groups.get("stream") or posixpath.splitext(posixpath.basename(path))[0]
        app = groups.get("app") or posixpath.dirname(path).strip("/")
        route = LiveRoute(vhost, app.strip("/"), stream, extension)
        if required is not None:
            return route
        if generic is None:
            generic = route
    return generic


def static_route(config: ServerConfig, host: str, path: str) -> StaticRoute | None:
    """
    The file ``path`` names under the static mounts, or ``None`` when no mount
    covers it.
    """
    host = _host_only(host)
    specific: list[tuple[str, str]] = []
    generic: list[tuple[str, str]] = []
    for vhost in _candidates(config, host):
        static = vhost.http_static
        if not static.enabled:
            continue
        required, mount = _split_template(vhost, static.mount)
        if not mount.endswith("/"):
            mount += "/"
        if required is None:
            generic.append((mount, static.dir))
        elif required == host:
            specific.append((mount, static.dir))
    mounts = specific or generic
    if not any(mount == "/" for mount, _ in mounts):
        mounts.append(("/", config.http_server.dir))
    best: tuple[str, str] | None = None
    for mount, root in mounts:
        if path + "/" == mount:
            return StaticRoute(root, (), True, redirect=mount)
        if path.startswith(mount) and (best is None or len(mount) > len(best[0])):
            best = (mount, root)
    if best is None:
        return None
    mount, root = best
    rest = path[len(mount) :]
    segments = tuple(s for s in rest.split("/") if s and s != ".")
    return StaticRoute(root, segments, path.endswith("/"))
