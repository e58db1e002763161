# -*- test-case-name: tests.test_web_http_server,tests.test_web_ws_flv -*-
"""
How an HTTP request becomes a player: the one admission path of HTTP-FLV/
TS/MP3/AAC and WebSocket-FLV players.

Both build a :class:`~srstwist.stream.request.StreamRequest` from the request
and its live route, ask the stream controller to admit it (``security``,
``on_play``), answer a refusal with 403 and one log line, and start their
player once admitted.  One subtlety is worth writing once: Klein cancels
what a route returns when its client goes away.  Once playing, that cancel
must reach the player (it ends it); before, it must not cancel an on_play
already sent, because the hook server may accept, and is then owed an
on_stop, which the controller sends when the answer finds the client
closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from srstwist.interfaces import IClientHandle, IStreamController, Stage
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.request import StreamRequest
from srstwist.stream.stats import CLIENT_PLAY
from srstwist.tracelog import next_cid
from srstwist.web.mounts import LiveRoute

__all__ = ["admit_player", "plain", "request_cid", "peer_ip", "query_param"]

log = Logger()

#: Starts a player once admitted; returns what the route then returns.
Start = Callable[[IClientHandle, Admission], "defer.Deferred[Any]"]


def admit_player(
    controller: IStreamController,
    request: Any,
    route: LiveRoute,
    transport: str,
    page_url: str,
    start: Start,
) -> defer.Deferred[Any]:
    """
    Admit the player ``request`` asks for and ``start`` it.

    :param transport: the request's kind, for the statistics (``http``, ``ws``).
    :param page_url: what stands for the RTMP ``pageUrl`` (``Referer``).
    :return: what the route returns: the player's Deferred, or a 403 body.
    """
    cid = request_cid(request)
    ip = peer_ip(request)
    client = controller.client(cid, ip)
    wanted = StreamRequest(
        ip=ip,
        vhost=route.vhost.name,
        app=route.app,
        stream=route.stream,
        param=query_param(request),
        tc_url=f"http://{route.vhost.name}/{route.app}",
        page_url=page_url,
        client_type=CLIENT_PLAY,
        transport=transport,
    )

    def refused(failure: Failure) -> bytes:
        failure.trap(AccessDenied)
        client.close()
        log.warn(
            "{transport} play {url} refused: {why}",
            transport=transport,
            url=wanted.url,
            why=str(failure.value),
            cid=cid,
        )
        return plain(request, 403, f"Forbidden: {failure.value.message}")

    playing: list[bool] = []

    def begin(admission: Admission) -> defer.Deferred[Any]:
        playing.append(True)
        return start(client, admission)

    admitted = client.admit(wanted, Stage.PLAY)
    admitted.addCallbacks(begin, refused)

    def gone(_: object) -> None:
        if playing:
            admitted.cancel()
        else:
            client.close()

    shown: defer.Deferred[Any] = defer.Deferred(gone)

    def show(outcome: Any) -> None:
        if shown.called:
            return
        if isinstance(outcome, Failure):
            shown.errback(outcome)
        else:
            shown.callback(outcome)

    admitted.addBoth(show)
    return shown


def plain(request: IRequest, code: int, text: str) -> bytes:
    """An error answer: a status and a one-line text body (not cacheable)."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.responseHeaders.removeHeader(b"cache-control")
    return text.encode()


def request_cid(request: Any) -> int:
    """The connection's cid (set by the listener), or a fresh one."""
    channel = request.channel
    cid = getattr(channel, "cid", None)
    if cid is None:
        cid = next_cid()
        try:
            channel.cid = cid
        except AttributeError:
            pass
    return int(cid)


def peer_ip(request: Any) -> str:
    return str(getattr(request.getClientAddress(), "host", ""))


def query_param(request: Any) -> str:
    """The request's query with its ``?``, as SRS's ``param``; empty without one."""
    query = request.uri.partition(b"?")[2].decode("latin-1")
    return f"?{query}" if query else ""
