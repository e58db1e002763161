# -*- test-case-name: tests.test_web_http_server -*-
"""
The HTTP server (C{http_server}): live HTTP streams, then static files.

One Klein app answers every request on the port, in SRS's order (reference
``media.md`` §7.6, §8): a path under a vhost's C{http_remux} mount is a
live stream (served while published, or awaited with C{hstrs on}); any
other path is a file under a C{http_static} mount or the server's C{dir}.

Differences from SRS, on purpose: every response carries
C{Access-Control-Allow-Origin: *} (flv.js and hls.js on another origin need
it); live bodies and playlists say C{Cache-Control: no-cache}; static files
honour HEAD and C{Range}; a path with C{..} gets a 400 rather than a
dropped connection; a live stream ends its chunked body properly when the
publisher stops.
"""

from __future__ import annotations

import os
from typing import Any

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import Request

from srstwist.hooks import HookRejected, IHookClient, on_play_payload, on_stop_payload
from srstwist.media.fast_cache import FastCaches
from srstwist.media.remux import FORMATS, FlvLiveEncoder, encoder_for
from srstwist.media.source import Source
from srstwist.protocols.sockets import bound_send_buffer
from srstwist.stats import CLIENT_PLAY
from srstwist.tracelog import next_cid
from srstwist.web.live import HttpLivePlayer
from srstwist.web.mounts import (
    LiveRoute,
    StaticRoute,
    UnsafePath,
    live_route,
    request_path,
    static_route,
)
from srstwist.web.site import SERVER_HEADER
from srstwist.web.static import VodError, content_type, file_resource, flv_vod_prefix

__all__ = ["HttpStreamServer", "HttpPlayHooks"]


_READ_METHODS = (b"GET", b"HEAD")


def _plain(request: IRequest, code: int, text: str) -> bytes:
    """An error answer: a status and a one-line text body."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return text.encode()


class HttpStreamServer:
    """
    The HTTP server's Klein app.

    @param hub: the source registry (L{srstwist.services.hub.SourceHub}).
    @param holder: the config in force (read per request).
    @param clock: for players' timers.
    @param hooks: optional L{HttpPlayHooks}: C{on_play}/C{on_stop} (HTTP
        players go through the same hooks as RTMP players).
    @param fast_caches: the audio fast caches new C{.mp3}/C{.aac} players
        start from.
    """

    app = Klein()
    log = Logger()

    def __init__(
        self,
        hub: Any,
        holder: Any,
        clock: Any,
        hooks: Any = None,
        fast_caches: FastCaches | None = None,
    ) -> None:
        self.hub = hub
        self.fast_caches = fast_caches
        self.holder = holder
        self.clock = clock
        self.hooks = hooks
        #: Live players now, for tests and the shutdown.
        self.players: set[HttpLivePlayer] = set()
        self._resource: IResource | None = None

    def resource(self) -> IResource:
        """The app as one resource (made once: Klein binds per instance)."""
        if self._resource is None:
            self._resource = self.app.resource()
        return self._resource

    @app.route("/", branch=True, methods=None)
    def serve(self, request: Request) -> Any:
        request.setHeader(b"server", SERVER_HEADER)
        request.setHeader(b"access-control-allow-origin", b"*")
        try:
            path = request_path(request.uri)
        except UnsafePath:
            self.log.warn("refused path {uri!r}", uri=request.uri, cid=_cid(request))
            return _plain(request, 400, "Bad Request")
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        config = self.holder.config
        live = live_route(config, host, path)
        if live is not None and self._serves_live(live):
            return self._serve_live(request, live)
        static = static_route(config, host, path)
        if static is None:
            return _plain(request, 404, "Not Found")
        return self._serve_static(request, static)

    # -- live streams ------------------------------------------------------

    def _serves_live(self, route: LiveRoute) -> bool:
        """Live while published, or awaited with hstrs (§7.6)."""
        if route.extension not in FORMATS:
            return False
        if route.vhost.http_remux.hstrs:
            return True
        source = self.hub.find(route.vhost.name, route.app, route.stream)
        return source is not None and source.publisher is not None

    def _serve_live(self, request: Request, route: LiveRoute) -> Any:
        if request.method not in _READ_METHODS:
            request.setHeader(b"allow", b"GET, HEAD")
            return _plain(request, 405, "Method Not Allowed")
        encoder = encoder_for(route.extension)
        request.setHeader(b"content-type", encoder.content_type.encode())
        request.setHeader(b"cache-control", b"no-cache")
        if request.method == b"HEAD":
            return b""
        cid = _cid(request)
        hooks = self.hooks
        if hooks is None:
            return self._start_live(request, route, encoder, cid)
        admitted = hooks.play(request, route, cid)

        def refused(failure: Failure) -> bytes:
            failure.trap(HookRejected)
            self.log.warn(
                "http play {vhost}/{app}/{stream} rejected by on_play: {why}",
                vhost=route.vhost.name,
                app=route.app,
                stream=route.stream,
                why=str(failure.value),
                cid=cid,
            )
            request.responseHeaders.removeHeader(b"cache-control")
            return _plain(request, 403, "Forbidden: rejected by the on_play hook")

        admitted.addCallbacks(
            lambda _: self._start_live(request, route, encoder, cid), refused
        )
        return admitted

    def _start_live(
        self, request: Request, route: LiveRoute, encoder: Any, cid: int
    ) -> defer.Deferred[None]:
        source: Source = self.hub.source(route.vhost, route.app, route.stream)
        ended: defer.Deferred[None]
        channel_transport: Any = request.channel.transport
        # Behind the listener's ProtocolWrapper is the TCP connection.
        connection = getattr(channel_transport, "transport", channel_transport)
        shared = isinstance(encoder, FlvLiveEncoder)
        player = HttpLivePlayer(
            cid,
            route.vhost,
            encoder,
            request.write,
            self.clock,
            lambda: leave(None),
            raw_write=channel_transport.write if shared else None,
            socket_transport=connection,
        )
        bound_send_buffer(connection, route.vhost.mw_latency)
        fanout: Any = None

        def leave(reason: object) -> None:
            if player not in self.players:
                return
            self.players.discard(player)
            player.stop()
            if fanout is not None:
                self.hub.part(fanout, player)
            else:
                source.detach(player)
            self.hub.release(source)
            self.hub.stats.on_disconnect(cid)
            if request.channel is not None:  # None once the connection is gone
                request.unregisterProducer()
            if self.hooks is not None:
                self.hooks.stop(request, route, cid)
            self.log.info(
                "http {kind} play {url} done, {size} bytes",
                kind=route.extension[1:],
                url=source.url,
                size=player.bytes_sent,
                cid=cid,
            )
            if not ended.called:
                ended.callback(None)

        ended = defer.Deferred(lambda d: leave(d))
        self.players.add(player)
        player.stats = self.hub.stats.on_client(
            cid,
            vhost=route.vhost.name,
            app=route.app,
            stream=route.stream,
            ip=_peer(request),
            client_type=CLIENT_PLAY,
            now=self.clock.seconds(),
            tc_url=f"http://{route.vhost.name}/{route.app}",
            page_url=_referer(request),
        )
        request.registerProducer(player, True)
        opening = encoder.start()
        if opening:
            request.write(opening)
        player.chunked = bool(getattr(request, "chunked", True))
        if shared:
            fanout = self.hub.join_http_flv(source, player)
        elif encoder.wants_gop:
            source.attach(player)
        else:
            # Audio formats start from the headers, without the GOP cache.
            source.attach(player, replay=False)
            cached = self.fast_caches.messages(source.key) if self.fast_caches else []
            for message in _headers(source) + cached:
                player.deliver(message)
        self.log.info(
            "http {kind} play {url}, publishing={live}",
            kind=route.extension[1:],
            url=source.url,
            live=source.publisher is not None,
            cid=cid,
        )
        return ended

    # -- static files ------------------------------------------------------

    def _serve_static(self, request: Request, route: StaticRoute) -> Any:
        if route.redirect is not None:
            query = request.uri.partition(b"?")[2]
            target = route.redirect.encode() + (b"?" + query if query else b"")
            request.setResponseCode(302)
            request.setHeader(b"location", target)
            return b""
        if request.method not in _READ_METHODS:
            request.setHeader(b"allow", b"GET, HEAD")
            return _plain(request, 405, "Method Not Allowed")
        path = os.path.join(route.root, *route.segments)
        if route.directory or os.path.isdir(path):
            if not route.directory:
                request.setResponseCode(302)
                request.setHeader(b"location", request.path + b"/")
                return b""
            path = os.path.join(path, "index.html")
        if not os.path.isfile(path):
            return _plain(request, 404, "Not Found")
        if path.endswith(".m3u8"):
            request.setHeader(b"cache-control", b"no-cache")
        start = _start_offset(request)
        if start > 0 and path.endswith((".flv", ".fhv")):
            return self._serve_vod(request, path, start)
        request.postpath = []
        return file_resource(path)

    def _serve_vod(self, request: Request, path: str, start: int) -> Any:
        """FLV pseudo-streaming: the header and sequence headers, then from C{start}."""
        size = os.path.getsize(path)
        handle = open(path, "rb")
        try:
            prefix = flv_vod_prefix(handle, size, start)
        except (VodError, OSError) as error:
            handle.close()
            self.log.warn("vod {path}: {error}", path=path, error=str(error), cid=_cid(request))
            return _plain(request, 416, f"Cannot serve from start={start}: {error}")
        request.setHeader(b"content-type", content_type(path).encode())
        request.setHeader(b"content-length", str(len(prefix) + size - start).encode())
        if request.method == b"HEAD":
            handle.close()
            return b""
        request.write(prefix)
        handle.seek(start)
        sending = FileSender().beginFileTransfer(handle, request)

        def closed(result: object) -> None:
            handle.close()

        sending.addBoth(closed)
        return sending


class HttpPlayHooks:
    """
    C{on_play} and C{on_stop} for HTTP players, as SRS's HTTP stream calls
    them (reference ``config-api-hooks.md`` §4), through the server's hook
    client.
    """

    def __init__(self, client: IHookClient) -> None:
        self.client = client

    def play(self, request: Request, route: LiveRoute, cid: int) -> defer.Deferred[None]:
        """Ask the vhost's C{on_play} URLs; fails with L{HookRejected}."""
        hooks = route.vhost.http_hooks
        if not hooks.enabled or not hooks.on_play:
            return defer.succeed(None)
        payload = on_play_payload(
            cid, _peer(request), route.vhost.name, route.app, route.stream, _query(request),
            _referer(request),
        )  # fmt: skip
        return self.client.admit("on_play", hooks.on_play, payload, cid)

    def stop(self, request: Request, route: LiveRoute, cid: int) -> None:
        """Tell the vhost's C{on_stop} URLs (failures are logged there)."""
        hooks = route.vhost.http_hooks
        if not hooks.enabled or not hooks.on_stop:
            return
        payload = on_stop_payload(
            cid, _peer(request), route.vhost.name, route.app, route.stream, _query(request)
        )
        self.client.notify("on_stop", hooks.on_stop, payload, cid)


def _start_offset(request: Request) -> int:
    """The C{start} query argument as a byte offset, 0 when absent or bad."""
    values = request.args.get(b"start") if request.args else None
    if not values:
        return 0
    try:
        return max(0, int(values[0]))
    except ValueError:
        return 0


def _headers(source: Source) -> list[Any]:
    """Metadata and sequence headers, without the GOP cache."""
    return [
        m
        for m in (source.metadata, source.audio_sequence_header, source.video_sequence_header)
        if m is not None
    ]


def _query(request: Request) -> str:
    """The request's query with its C{?}, as SRS's C{param}; empty without one."""
    query = request.uri.partition(b"?")[2].decode("latin-1")
    return f"?{query}" if query else ""


def _cid(request: Request) -> int:
    """The connection's cid (set by the listener), or a fresh one."""
    channel = request.channel
    cid = getattr(channel, "cid", None)
    if cid is None:
        cid = next_cid()
        try:
            channel.cid = cid  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return int(cid)


def _peer(request: Request) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", ""))


def _referer(request: Request) -> str:
    return (request.getHeader(b"referer") or b"").decode("latin-1")
