# -*- test-case-name: tests.test_web_http_server -*-
"""
The HTTP server (``http_server``): live HTTP streams, then static files.

One Klein app answers every request on the port, in SRS's order
(``SrsHttpStreamServer::hijack`` in ``srs_app_http_stream.cpp``, then
``SrsHttpStaticServer`` in ``srs_app_http_static.cpp``): a path under a
vhost's ``http_remux`` mount is a live stream (served while published, or
awaited with ``hstrs on``); any other path is a file under a
``http_static`` mount or the server's ``dir``.

Differences from SRS, on purpose: every response carries
``Access-Control-Allow-Origin: *`` (flv.js and hls.js on another origin need
it); live bodies and playlists say ``Cache-Control: no-cache``; static files
honour HEAD and ``Range``; a path with ``..`` gets a 400 rather than a
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
from twisted.web.resource import IResource
from twisted.web.server import Request

from srstwist.interfaces import IStreamController
from srstwist.media.remux import FORMATS, FlvLiveEncoder, encoder_for
from srstwist.stream.admission import Admission
from srstwist.stream.http_player import HttpLivePlayer
from srstwist.stream.socket_send import bound_send_buffer
from srstwist.web.mounts import (
    LiveRoute,
    StaticRoute,
    UnsafePath,
    live_route,
    request_path,
    static_route,
)
from srstwist.web.play import admit_player, plain, request_cid
from srstwist.web.site import SERVER_HEADER
from srstwist.web.static import VodError, content_type, file_resource, flv_vod_prefix
from srstwist.web.demo import demo_file
from srstwist.web.ws_flv import WsFlvServer, is_websocket_upgrade

__all__ = ["HttpStreamServer"]


_READ_METHODS = (b"GET", b"HEAD")




class HttpStreamServer:
    """
    The HTTP server's Klein app.

    :param controller: the stream controller every player goes through
        (admission with ``security`` and ``on_play``, statistics,
        ``on_stop``), as RTMP players do.
    :param holder: the config in force (read per request).
    :param clock: for players' timers.
    """

    app = Klein()
    log = Logger()

    def __init__(self, controller: IStreamController, holder: Any, clock: Any) -> None:
        self.controller = controller
        self.holder = holder
        self.clock = clock
        #: Live players now, for tests and the shutdown.
        self.players: set[HttpLivePlayer] = set()
        self._resource: IResource | None = None
        #: WebSocket-FLV on the FLV mounts (issue 22).
        self._ws_flv = WsFlvServer(controller, clock, self.players)

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
            self.log.warn("refused path {uri!r}", uri=request.uri, cid=request_cid(request))
            return plain(request, 400, "Bad Request")
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        config = self.holder.config
        live = live_route(config, host, path)
        if live is not None and self._serves_live(live):
            if live.extension == ".flv" and is_websocket_upgrade(request):
                return self._ws_flv.serve(request, live)
            return self._serve_live(request, live)
        static = static_route(config, host, path)
        if static is None:
            return plain(request, 404, "Not Found")
        return self._serve_static(request, static, config.http_server.dir)

    # -- live streams ------------------------------------------------------

    def _serves_live(self, route: LiveRoute) -> bool:
        """Live while published, or awaited with hstrs (SRS issue #465)."""
        if route.extension not in FORMATS:
            return False
        if route.vhost.http_remux.hstrs:
            return True
        return self.controller.is_live(route.vhost.name, route.app, route.stream)

    def _serve_live(self, request: Request, route: LiveRoute) -> Any:
        if request.method not in _READ_METHODS:
            request.setHeader(b"allow", b"GET, HEAD")
            return plain(request, 405, "Method Not Allowed")
        encoder = encoder_for(route.extension)
        request.setHeader(b"content-type", encoder.content_type.encode())
        request.setHeader(b"cache-control", b"no-cache")
        if request.method == b"HEAD":
            return b""
        return admit_player(
            self.controller,
            request,
            route,
            "http",
            _referer(request),
            lambda client, admission: self._start_live(request, route, encoder, client, admission),
        )

    def _start_live(
        self,
        request: Request,
        route: LiveRoute,
        encoder: Any,
        client: Any,
        admission: Admission,
    ) -> defer.Deferred[None]:
        cid = client.cid
        ended: defer.Deferred[None]
        channel_transport: Any = request.channel.transport
        shared = isinstance(encoder, FlvLiveEncoder)
        player = HttpLivePlayer(
            cid,
            admission.vhost,
            encoder,
            request.write,
            self.clock,
            lambda: leave(None),
            raw_write=channel_transport.write if shared else None,
            socket_transport=channel_transport,
        )
        bound_send_buffer(channel_transport, admission.vhost.mw_latency)
        lease: Any = None

        def leave(reason: object) -> None:
            if player not in self.players:
                return
            self.players.discard(player)
            player.stop()
            if lease is not None:
                lease.end("http player left")
            client.close()
            if request.channel is not None:  # None once the connection is gone
                request.unregisterProducer()
            self.log.info(
                "http {kind} play {url} done, {size} bytes",
                kind=route.extension[1:],
                url=admission.request.url,
                size=player.bytes_sent,
                cid=cid,
            )
            if not ended.called:
                ended.callback(None)

        ended = defer.Deferred(lambda d: leave(d))
        self.players.add(player)
        request.registerProducer(player, True)
        opening = encoder.start()
        if opening:
            request.write(opening)
        player.chunked = bool(getattr(request, "chunked", True))
        lease = client.play(admission, player)
        self.log.info(
            "http {kind} play {url}, publishing={live}",
            kind=route.extension[1:],
            url=lease.source.url,
            live=lease.source.publisher is not None,
            cid=cid,
        )
        return ended

    # -- static files ------------------------------------------------------

    def _serve_static(self, request: Request, route: StaticRoute, server_dir: str) -> Any:
        if route.redirect is not None:
            query = request.uri.partition(b"?")[2]
            target = route.redirect.encode() + (b"?" + query if query else b"")
            request.setResponseCode(302)
            request.setHeader(b"location", target)
            return b""
        if request.method not in _READ_METHODS:
            request.setHeader(b"allow", b"GET, HEAD")
            return plain(request, 405, "Method Not Allowed")
        path = os.path.join(route.root, *route.segments)
        if route.directory or os.path.isdir(path):
            if not route.directory:
                request.setResponseCode(302)
                request.setHeader(b"location", request.path + b"/")
                return b""
            path = os.path.join(path, "index.html")
        if not os.path.isfile(path):
            # The demo page stands in for a dir without one (issue 22).
            demo = demo_file(route.root, server_dir, route.segments)
            if demo is None or not os.path.isfile(demo):
                return plain(request, 404, "Not Found")
            path = demo
        if path.endswith(".m3u8"):
            request.setHeader(b"cache-control", b"no-cache")
        start = _start_offset(request)
        if start > 0 and path.endswith((".flv", ".fhv")):
            return self._serve_vod(request, path, start)
        request.postpath = []
        return file_resource(path)

    def _serve_vod(self, request: Request, path: str, start: int) -> Any:
        """FLV pseudo-streaming: the header and sequence headers, then from ``start``."""
        size = os.path.getsize(path)
        handle = open(path, "rb")
        try:
            prefix = flv_vod_prefix(handle, size, start)
        except (VodError, OSError) as error:
            handle.close()
            self.log.warn("vod {path}: {error}", path=path, error=str(error), cid=request_cid(request))
            return plain(request, 416, f"Cannot serve from start={start}: {error}")
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


def _start_offset(request: Request) -> int:
    """The ``start`` query argument as a byte offset, 0 when absent or bad."""
    values = request.args.get(b"start") if request.args else None
    if not values:
        return 0
    try:
        return max(0, int(values[0]))
    except ValueError:
        return 0








def _referer(request: Request) -> str:
    return (request.getHeader(b"referer") or b"").decode("latin-1")
