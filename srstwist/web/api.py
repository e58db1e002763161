# -*- test-case-name: tests.test_web_api -*-
"""
SRS 2.0's HTTP API (``trunk/src/app/srs_app_http_api.cpp``) as a class-based
Klein app, plus the web console under ``/console/``.

Everything the API reports is read from injected collaborators (the
statistics registry, the live config, a clock and an
:class:`~srstwist.web.system.ISystemSampler`), and the one thing it does,
kicking a client, goes through an injected ``kick(cid) -> bool``; so every
route is tested through ``treq.testing.StubTreq`` with no socket and no
server around it.  :meth:`HttpApi.site` is the one way to serve it.

What SRS does and we keep: the routes and their JSON shapes and key
order; errors as ``{"code":N}`` with HTTP status 200 (2048 unknown vhost or
stream, 2049 unknown client, 100 for ``tests/errors``); prefix routes
(``/api/v1/whatever`` answers the v1 index); the 302 from ``/api/v1/vhosts``
to ``/api/v1/vhosts/``; C ``atoi`` ids; JSONP through ``?callback=`` with
``?method=`` standing in for the HTTP verb; ``OPTIONS`` answered per
``http_api.crossdomain``.

What we do differently, on purpose:

* With ``crossdomain on`` every response carries the CORS headers; SRS adds
  them only after the connection has seen an ``OPTIONS``.
* Failures SRS answers with text, silence or a dropped connection get a
  JSON ``{"code":N}`` and a real HTTP status: an unknown path 404 with
  3010 (``ERROR_HTTP_HANDLER_MATCH_URL``); a method a route does not take
  (non-GET on vhosts and streams, where SRS answers nothing or an empty
  200; PUT/POST on clients) 405 with 3011 (``ERROR_HTTP_HANDLER_INVALID``);
  ``..`` in the URL 400 with 4002 (``ERROR_HTTP_URL_NOT_CLEAN``); a body
  over :data:`~srstwist.web.api_common.API_MAX_BODY` 413 (a declared
  length is refused by the listener before the body is read, with an
  empty body; an undeclared one, once read, with 4003,
  ``ERROR_HTTP_CONTENT_LENGTH``); a JSONP callback that is not a JavaScript name 400 with 3066
  (``ERROR_REQUEST_DATA``); a handler crash 500 with 1021.
* JSON strings are escaped (SRS emits them raw: **Bug**), floats print as
  Python does, and query strings are percent-decoded.
* ``/api/v1/requests``, which the v1 index advertises, echoes the request
  like ``/api/v1/tests/requests``; ``GET /`` is the 404 as in SRS.
* The host-specific ``error.srs.com`` test route is not served.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from werkzeug.exceptions import NotFound

from srstwist import SRS_COMPAT_VERSION
from srstwist.config.model import ServerConfig
from srstwist.stream.stats import Statistics
from srstwist.web.api_common import (
    AUTHORS,
    CORS_HEADERS,
    ERROR_BAD_CALLBACK,
    ERROR_BODY_TOO_LARGE,
    ERROR_CLIENT_NOT_FOUND,
    ERROR_INTERNAL,
    ERROR_METHOD_NOT_ALLOWED,
    ERROR_NOT_FOUND,
    ERROR_STREAM_NOT_FOUND,
    ERROR_SUCCESS,
    ERROR_TEST,
    ERROR_URL_NOT_CLEAN,
    API_MAX_BODY,
    V1_URLS,
    ApiError,
    atoi,
    built_features,
    encode_json,
    fail_with,
    path_suffix,
    query_arg,
)
from srstwist.web.metrics import serve_metrics
from srstwist.web.site import SERVER_HEADER, BoundedSite, make_site
from srstwist.web.system import ISystemSampler

__all__ = ["CONSOLE_DIR", "HttpApi"]

#: Where the console's files are (installed as package data).
CONSOLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "console")

_JSONP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE"})
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")
_CONSOLE_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"application/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".json": b"application/json",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".svg": b"image/svg+xml",
}


class HttpApi:
    """
    The API and console as one Klein app; serve :meth:`site` on
    ``http_api.listen`` (:attr:`resource` is the bare resource, for tests).

    :param stats: the statistics registry of vhosts, streams and clients.
    :param config: returns the configuration in force (read per request,
        so ``http_api.crossdomain`` and vhost settings follow reloads).
    :param clock: ``seconds()`` for ``now_ms``, ``live_ms``, ``alive``;
        also the reactor of :meth:`site`'s timeouts.
    :param kick: disconnects the client with that connection id; returns
        whether there was one.
    :param start_time: when the server started (``clock`` seconds), for
        ``srs_uptime``.
    :param sampler: the host and process figures, sampled elsewhere (the
        API only reads them).
    :param connections: how many connections the server holds
        (``conn_srs``); by default the number of registered clients.
    :param features: ``/api/v1/features``; by default what
        :func:`~srstwist.web.api_common.built_features` derives from the
        directives srstwist acts on.
    :param console_dir: where the console's files are.
    :param ffmpegs: the ffmpeg children running for ingest and transcode,
        one dict each, for ``/api/v1/ffmpegs`` (ours, not SRS's: SRS shows
        them nowhere but in ``ps``); a callable because ``web/`` may not
        import the services that own them.
    :param cluster: the edge and forward upstreams, for
        ``/api/v1/clusters`` (ours, issue 17: SRS 2.0 shows them only in its
        log): ``{"forwards": [...], "edges": [...]}``, one dict per upstream
        (url, state, connected since, bytes, retries).
    :param metrics: the Prometheus exposition for ``/metrics`` (ours,
        issue 22; :mod:`srstwist.web.metrics`); ``None``: 404.
    """

    app = Klein()
    log = Logger()

    def __init__(
        self,
        stats: Statistics,
        config: Callable[[], ServerConfig],
        clock: IReactorTime,
        kick: Callable[[int], bool],
        start_time: float,
        *,
        sampler: ISystemSampler,
        connections: Callable[[], int] | None = None,
        features: Mapping[str, bool] | None = None,
        console_dir: str = CONSOLE_DIR,
        ffmpegs: Callable[[], list[dict[str, Any]]] | None = None,
        metrics: Callable[[], bytes] | None = None,
        cluster: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.stats = stats
        self._config = config
        self._clock = clock
        self._kick = kick
        self.start_time = start_time
        self.sampler = sampler
        self._connections = connections or (lambda: self.stats.client_count)
        self._features = dict(built_features() if features is None else features)
        self._console_dir = console_dir
        self._ffmpegs = ffmpegs or (lambda: [])
        self._metrics = metrics
        self._cluster = cluster or (lambda: {"forwards": [], "edges": []})
        self.resource = self.app.resource()

    def site(self) -> BoundedSite:
        """
        The site to listen with: the hardened channel of
        :func:`~srstwist.web.site.make_site`, on this API's clock, with the
        API's one body limit, :data:`~srstwist.web.api_common.API_MAX_BODY`.
        """
        return make_site(self.resource, self._clock, max_body=API_MAX_BODY)

    # -- what the routes and the heartbeat share ------------------------------

    def summaries(self) -> dict[str, Any]:
        """The ``/api/v1/summaries`` object, also the heartbeat's ``summaries``."""
        return self.sampler.summaries(
            now=self._clock.seconds(),
            start_time=self.start_time,
            srs_recv_bytes=self.stats.recv_bytes,
            srs_send_bytes=self.stats.send_bytes,
            srs_sample_time=self.stats.sample_time,
            conn_srs=self._connections(),
        )

    def _ok(self, **fields: Any) -> dict[str, Any]:
        return {"code": ERROR_SUCCESS, "server": self.stats.server_id, **fields}

    def _system(self, view: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return self._ok(data=view())

    # -- the request pipeline ---------------------------------------------------

    def _cors(self, request: Any) -> bool:
        crossdomain = self._config().http_api.crossdomain
        if crossdomain:
            for name, value in CORS_HEADERS:
                request.setHeader(name, value)
        return crossdomain

    def _serve(self, request: Any, handler: Callable[[str], dict[str, Any]]) -> bytes:
        """
        Run one API handler: the checks, JSONP, CORS and error mapping
        every route shares.

        :param handler: takes the effective method and returns the
            success body, or raises :class:`ApiError`.
        """
        request.setHeader(b"Server", SERVER_HEADER)
        callback = ""
        try:
            crossdomain = self._cors(request)
            self._check(request)
            callback = self._callback(request)
            method = request.method.decode("ascii", "replace").upper()
            if method == "OPTIONS":
                request.setResponseCode(200 if crossdomain else 405)
                request.defaultContentType = None
                return b""
            override = query_arg(request, "method")
            if callback and override in _JSONP_METHODS:
                method = override
            body = handler(method)
        except ApiError as e:
            request.setResponseCode(e.status)
            body = {"code": e.code}
        except Exception:
            self.log.failure("HTTP API {method} {uri}", method=request.method, uri=request.uri)
            request.setResponseCode(500)
            body = {"code": ERROR_INTERNAL}
        data = encode_json(body)
        if callback:
            request.setHeader(b"Content-Type", b"text/javascript")
            return callback.encode("ascii") + b"(" + data + b")"
        request.setHeader(b"Content-Type", b"application/json")
        return data

    def _check(self, request: Any) -> None:
        """
        Refuse ``..`` in the URL, and a body the site's request cut short
        (:attr:`~srstwist.web.site.BoundedRequest.body_too_large`; the
        limit itself is the site's, see :meth:`site`).
        """
        if b".." in request.uri:
            raise ApiError(ERROR_URL_NOT_CLEAN, 400)
        if getattr(request, "body_too_large", False):
            raise ApiError(ERROR_BODY_TOO_LARGE, 413)

    def _callback(self, request: Any) -> str:
        """The JSONP callback name, ``""`` without one; a bad one is refused."""
        callback = query_arg(request, "callback")
        if callback and (len(callback) > 128 or not _CALLBACK.fullmatch(callback)):
            raise ApiError(ERROR_BAD_CALLBACK, 400)
        return callback

    def _redirect(self, request: Any, target: str, status: int = 302) -> bytes:
        """SRS's redirect of a bare ``/x`` to ``/x/``, query kept."""
        request.setHeader(b"Server", SERVER_HEADER)
        self._cors(request)
        query = request.uri.partition(b"?")[2]
        location = target.encode() + (b"?" + query if query else b"")
        request.setResponseCode(status)
        request.setHeader(b"Location", location)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Redirect to" + location

    # -- routes -----------------------------------------------------------------

    @app.handle_errors(NotFound)
    def not_found(self, request: Any, failure: Any) -> bytes:
        """Anything the routes do not match (none should reach here)."""
        return self._serve(request, fail_with(ERROR_NOT_FOUND, 404))

    @app.route("/", branch=True)
    def root(self, request: Any) -> bytes:
        """``/`` and every unknown path: 404 (SRS registers no root handler)."""
        return self._serve(request, fail_with(ERROR_NOT_FOUND, 404))

    @app.route("/api")
    def api_bare(self, request: Any) -> bytes:
        """``/api`` → ``/api/``."""
        return self._redirect(request, "/api/")

    @app.route("/api/", branch=True)
    def api_index(self, request: Any) -> bytes:
        """The API index; also any ``/api/...`` not matched below."""
        return self._serve(request, lambda _: self._ok(urls={"v1": "the api version 1.0"}))

    @app.route("/api/v1")
    def v1_bare(self, request: Any) -> bytes:
        """``/api/v1`` → ``/api/v1/``."""
        return self._redirect(request, "/api/v1/")

    @app.route("/api/v1/", branch=True)
    def v1_index(self, request: Any) -> bytes:
        """The v1 index; also any ``/api/v1/...`` not matched below."""
        return self._serve(request, lambda _: self._ok(urls=V1_URLS))

    @app.route("/api/v1/versions")
    def versions(self, request: Any) -> bytes:
        """SRS's version, by parts."""
        major, minor, revision = (int(part) for part in SRS_COMPAT_VERSION.split("."))
        data = {"major": major, "minor": minor, "revision": revision,
                "version": SRS_COMPAT_VERSION}  # fmt: skip
        return self._serve(request, lambda _: self._ok(data=data))

    @app.route("/api/v1/summaries")
    def summaries_route(self, request: Any) -> bytes:
        """Process and host figures (no ``server`` key, as SRS)."""
        return self._serve(request, lambda _: self.summaries())

    @app.route("/api/v1/rusages")
    def rusages(self, request: Any) -> bytes:
        """This process's ``getrusage``."""
        return self._serve(request, lambda _: self._system(self.sampler.rusages_view))

    @app.route("/api/v1/self_proc_stats")
    def self_proc_stats(self, request: Any) -> bytes:
        """This process's ``/proc/self/stat``."""
        return self._serve(request, lambda _: self._system(self.sampler.self_proc_stats_view))

    @app.route("/api/v1/system_proc_stats")
    def system_proc_stats(self, request: Any) -> bytes:
        """The host's CPU line of ``/proc/stat``."""
        return self._serve(request, lambda _: self._system(self.sampler.system_proc_stats_view))

    @app.route("/api/v1/meminfos")
    def meminfos(self, request: Any) -> bytes:
        """The host's ``/proc/meminfo``."""
        return self._serve(request, lambda _: self._system(self.sampler.meminfos_view))

    @app.route("/api/v1/authors")
    def authors(self, request: Any) -> bytes:
        """License and authors."""
        return self._serve(request, lambda _: self._ok(data=AUTHORS))

    @app.route("/api/v1/features")
    def features(self, request: Any) -> bytes:
        """Which features are built (see :func:`~srstwist.web.api_common.built_features`)."""
        return self._serve(request, lambda _: self._ok(data=self._features))

    @app.route("/api/v1/requests")
    @app.route("/api/v1/tests/requests")
    def requests(self, request: Any) -> bytes:
        """The request echoed."""
        return self._serve(request, lambda method: self._echo(request, method))

    @app.route("/api/v1/tests/errors")
    def test_errors(self, request: Any) -> bytes:
        """Always ``{"code":100}``."""
        return self._serve(request, fail_with(ERROR_TEST))

    @app.route("/api/v1/tests/redirects")
    def test_redirects(self, request: Any) -> bytes:
        """301 to ``/api/v1/tests/errors``."""
        return self._redirect(request, "/api/v1/tests/errors", 301)

    # SRS answers the bare form with a redirect, which "curl .../vhosts"
    # shows as an empty 302; it is answered directly instead.
    @app.route("/api/v1/vhosts")
    @app.route("/api/v1/vhosts/", branch=True)
    def vhosts(self, request: Any) -> bytes:
        """Every vhost, or the one whose id follows."""
        return self._serve(request, lambda method: self._vhosts(method, path_suffix(request)))

    # SRS answers the bare form with a redirect, which "curl .../streams"
    # shows as an empty 302; it is answered directly instead.
    @app.route("/api/v1/streams")
    @app.route("/api/v1/streams/", branch=True)
    def streams(self, request: Any) -> bytes:
        """Every stream, or the one whose id follows."""
        return self._serve(request, lambda method: self._streams(method, path_suffix(request)))

    # SRS answers the bare form with a redirect, which "curl .../clients"
    # shows as an empty 302; it is answered directly instead.
    @app.route("/api/v1/clients")
    @app.route("/api/v1/clients/", branch=True)
    def clients(self, request: Any) -> bytes:
        """The first clients, one client, or ``DELETE`` to kick it."""
        return self._serve(request, lambda method: self._clients(method, path_suffix(request)))

    @app.route("/api/v1/ffmpegs")
    @app.route("/api/v1/ffmpegs/", branch=True)
    def ffmpegs(self, request: Any) -> bytes:
        """
        The ingest and transcode ffmpeg children: id, kind, pid, command
        line, uptime, restarts (an addition of ours; ``GET`` only).
        """
        return self._serve(request, self._ffmpegs_view)

    def _ffmpegs_view(self, method: str) -> dict[str, Any]:
        if method != "GET":
            raise ApiError(ERROR_METHOD_NOT_ALLOWED, 405)
        return self._ok(ffmpegs=self._ffmpegs())

    @app.route("/api/v1/clusters")
    @app.route("/api/v1/clusters/", branch=True)
    def clusters(self, request: Any) -> bytes:
        """
        The edge pulls and pushes and the forwards of live streams, with
        their upstream url, state, connected since, bytes and retries (an
        addition of ours, issue 17; ``GET`` only).
        """
        return self._serve(request, self._clusters_view)

    def _clusters_view(self, method: str) -> dict[str, Any]:
        if method != "GET":
            raise ApiError(ERROR_METHOD_NOT_ALLOWED, 405)
        return self._ok(**self._cluster())

    @app.route("/metrics")
    def metrics(self, request: Any) -> bytes:
        """Prometheus' text format (ours, not SRS's: ``docs/monitoring.md``)."""
        request.setHeader(b"Server", SERVER_HEADER)
        return serve_metrics(request, self._metrics)

    @app.route("/console")
    def console_bare(self, request: Any) -> bytes:
        """``/console`` → ``/console/``."""
        return self._redirect(request, "/console/")

    @app.route("/console/", branch=True)
    def console(self, request: Any) -> bytes:
        """The web console's files; JSON errors for anything else."""
        name = path_suffix(request) or "index.html"
        method = request.method.decode("ascii", "replace").upper()
        if method not in ("GET", "HEAD"):
            return self._serve(request, fail_with(ERROR_METHOD_NOT_ALLOWED, 405))
        path = os.path.join(self._console_dir, name)
        if not _CONSOLE_FILE.fullmatch(name) or not os.path.isfile(path):
            return self._serve(request, fail_with(ERROR_NOT_FOUND, 404))
        with open(path, "rb") as f:
            data = f.read()
        request.setHeader(b"Server", SERVER_HEADER)
        self._cors(request)
        content_type = _CONTENT_TYPES.get(os.path.splitext(name)[1], b"application/octet-stream")
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"Cache-Control", b"no-cache")
        return data

    # -- handlers ---------------------------------------------------------------

    def _echo(self, request: Any, method: str) -> dict[str, Any]:
        host = request.getHeader(b"host")
        if host is None:
            address = request.getHost()
            host = f"{getattr(address, 'host', '')}:{getattr(address, 'port', '')}".encode()
        headers = {
            name.decode("latin-1"): values[0].decode("latin-1")
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        return self._ok(
            data={
                "uri": "http://" + host.decode("latin-1") + request.path.decode("latin-1"),
                "path": request.path.decode("latin-1"),
                "METHOD": method,
                "headers": headers,
                "server": {
                    # Misspelled in SRS.
                    "sigature": "SRS",
                    "name": "SRS(Simple RTMP Server)",
                    "version": SRS_COMPAT_VERSION,
                    "link": "https://github.com/ossrs/srs",
                    "time": int(self._clock.seconds() * 1000),
                },
            }
        )

    def _vhosts(self, method: str, suffix: str) -> dict[str, Any]:
        if method != "GET":
            raise ApiError(ERROR_METHOD_NOT_ALLOWED, 405)
        config = self._config()
        vhost_id = atoi(suffix)
        if vhost_id <= 0:
            return self._ok(vhosts=self.stats.api_vhosts(config.vhost))
        found = self.stats.vhost_by_id(vhost_id)
        if found is None:
            raise ApiError(ERROR_STREAM_NOT_FOUND)
        return self._ok(vhost=self.stats.api_vhost(found, config.vhost))

    def _streams(self, method: str, suffix: str) -> dict[str, Any]:
        if method != "GET":
            raise ApiError(ERROR_METHOD_NOT_ALLOWED, 405)
        now = self._clock.seconds()
        stream_id = atoi(suffix)
        if not suffix or stream_id < 0:
            return self._ok(streams=self.stats.api_streams(now))
        found = self.stats.stream_by_id(stream_id)
        if found is None:
            raise ApiError(ERROR_STREAM_NOT_FOUND)
        return self._ok(stream=found.to_api_dict(now))

    def _clients(self, method: str, suffix: str) -> dict[str, Any]:
        client_id = atoi(suffix)
        if method == "DELETE":
            if not suffix or not self._kick(client_id):
                raise ApiError(ERROR_CLIENT_NOT_FOUND)
            self.log.info("HTTP API kicked client, id={id}", id=client_id)
            return {"code": ERROR_SUCCESS}
        if method != "GET":
            raise ApiError(ERROR_METHOD_NOT_ALLOWED, 405)
        now = self._clock.seconds()
        if not suffix or client_id < 0:
            return self._ok(clients=self.stats.api_clients(now))
        found = self.stats.client(client_id)
        if found is None:
            raise ApiError(ERROR_CLIENT_NOT_FOUND)
        return self._ok(client=found.to_api_dict(now))
