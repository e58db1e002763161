# -*- test-case-name: tests.test_services_edge -*-
"""
The edge of an RTMP cluster: a vhost with ``mode remote; origin ...;``
holds no stream of its own, it fetches each stream from an origin when a
player asks for it and pushes its publishers' streams up to the origin
(SRS's ``SrsPlayEdge`` / ``SrsPublishEdge``,
``trunk/src/app/srs_app_edge.cpp``).

Edge pull.  :class:`EdgeService` is the controller's ``play_watcher``: the
first player (RTMP or HTTP-FLV/TS/MP3/AAC, every player goes through the
controller) of a stream on an edge vhost starts one :class:`EdgePull`,
later players share it, and the last player's leaving stops it after
:data:`PULL_GRACE` seconds (a player that reconnects at once finds the
upstream still there).  The pull plays the stream from the origin with the
RTMP client library and is an ordinary publisher of the local source: each
upstream session is one publish, so HLS, DVR, the GOP cache and the
statistics work on the edge as on an origin.  On any failure the next
origin of the list is tried (round robin), after a capped backoff; the
players stay attached across the switch (a source keeps its consumers
across an unpublish, SRS #454) and go on at the new session's sequence
headers and keyframe.

Edge push.  :class:`EdgePushes` is a publish observer: a publisher (not an
edge pull) on an edge vhost gets an :class:`~srstwist.services.forward.UpstreamPusher`
to the origins, round robin, carrying its stream up with the publisher's
query.

Not built yet (issue 17, said in ``docs/cluster.md``): the edge accepts a
publisher before the origin has accepted it (SRS 2.0 disconnects the
publisher when the origin refuses; here the push retries and logs the
refusal); ``token_traverse``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.client.rtmp import RtmpClientError, RtmpClientProtocol, connect_rtmp
from srstwist.codec.amf0 import Amf0Object
from srstwist.codec.rtmp_events import Media
from srstwist.codec.rtmp_url import generate_tc_url
from srstwist.config.model import ServerConfig, VhostConfig
from srstwist.interfaces import IPublishObserver, IStreamConsumer, IStreamPublisher, Replay, Stage
from srstwist.media.message import SharedMessage
from srstwist.services.forward import (
    Backoff,
    Connector,
    Destination,
    PusherState,
    UpstreamLink,
    UpstreamPusher,
    _describe,
    parse_destination,
    upnode_args,
)
from srstwist.services.hub import exact_vhost
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.request import StreamRequest
from srstwist.tracelog import next_cid

__all__ = ["EdgePull", "EdgePushes", "EdgeService", "PULL_GRACE", "edge_tc_url", "origins_of"]

#: Seconds an edge pull outlives its last player.
PULL_GRACE = 3.0
#: Seconds for TCP connect, handshake, connect and play (SRS: 3 s for TCP).
CONNECT_TIMEOUT = 5.0
#: Seconds an origin-accepted push waits for its local publish.
PENDING_PUSH_TIMEOUT = 30.0
#: The codes in the log line of our refusals (ours, not SRS's numbers): an
#: edge push the origin refused or that is already running (SRS #180), and a
#: token traverse the origin refused (SRS closes with the socket error,
#: ``ERROR_SOCKET_TIMEOUT`` 1011 for a timeout).
ERROR_EDGE_PUSH = 3037
ERROR_EDGE_TOKEN = 1011


def origins_of(vhost: VhostConfig) -> list[Destination]:
    """The vhost's ``origin`` entries (``host[:port]``), the bad ones left out."""
    found = []
    for text in vhost.origin:
        try:
            found.append(parse_destination(text))
        except ValueError:
            continue
    return found


def edge_tc_url(vhost: VhostConfig, app: str, origin: Destination) -> str:
    """
    The tcUrl an edge sends its origin (SRS #372): the ``vhost`` directive
    with ``[vhost]`` replaced by the edge's vhost, the origin's address for
    the default vhost (``srs_generate_tc_url``).
    """
    name = vhost.vhost.replace("[vhost]", vhost.name) if vhost.vhost else vhost.name
    return generate_tc_url(origin.host, name, app, origin.port)


@implementer(IStreamPublisher)
class EdgePull(UpstreamLink):
    """
    Plays one stream from the origins into the local source, one upstream
    session at a time, until :meth:`stop`.

    :param controller: the stream controller (publishes into the source).
    :param vhost: the edge vhost's config when the pull started.
    :param request: the first player's request (its page and swf URLs go
        upstream, as SRS sends the client's).
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        controller: Any,
        vhost: VhostConfig,
        request: StreamRequest,
        *,
        connect: Connector = connect_rtmp,
        backoff: Backoff | None = None,
    ) -> None:
        self.cid = next_cid()
        self._reactor = reactor
        self._controller = controller
        self.vhost = vhost
        self._app = request.app
        self._stream = request.stream
        self._page_url = request.page_url
        self._swf_url = request.swf_url
        self._connect = connect
        self._backoff = backoff or Backoff()
        self._next_origin = 0
        self._client: RtmpClientProtocol | None = None
        self._handle: Any = None
        self._lease: Any = None
        self._attempt: defer.Deferred[Any] | None = None
        self._retry: IDelayedCall | None = None
        self._stopped = False
        self.kind = "edge-pull"
        self.status = PusherState(url="")
        #: Upstream sessions that reached Play.Start.
        self.sessions = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vhost.name, self._app, self._stream)

    @property
    def queued(self) -> tuple[int, int]:
        return (0, 0)

    def start(self) -> None:
        self._attempt_now()

    def reconfigure(self, vhost: VhostConfig) -> None:
        """
        A reload: with other origins, the current session ends and the
        next starts on the new list (players stay); else nothing changes.
        """
        changed = vhost.origin != self.vhost.origin or vhost.vhost != self.vhost.vhost
        self.vhost = vhost
        if changed and not self._stopped:
            self._next_origin = 0
            self._backoff.reset()
            self._drop("origin changed by reload")

    # -- one upstream session ----------------------------------------------

    def _attempt_now(self) -> None:
        self._retry = None
        if self._stopped:
            return
        origins = origins_of(self.vhost)
        if not origins:
            self.status.state = "no origin"
            self.log.error(
                "edge pull {url}: vhost {vhost} has no usable origin",
                url=self._url_path(), vhost=self.vhost.name, cid=self.cid,
            )
            return
        origin = origins[self._next_origin % len(origins)]
        self._next_origin += 1
        url = f"rtmp://{origin.endpoint}/{self._app}/{self._stream}"
        self.status.url = url
        self.status.state = "connecting"
        args: Amf0Object | None = upnode_args(self.cid) if self.vhost.debug_srs_upnode else None
        attempt = self._connect(
            self._reactor,
            url,
            timeout=CONNECT_TIMEOUT,
            tc_url=edge_tc_url(self.vhost, self._app, origin),
            args=args,
            page_url=self._page_url,
            swf_url=self._swf_url,
        )
        self._attempt = attempt

        def connected(client: RtmpClientProtocol) -> defer.Deferred[None]:
            self._client = client
            client.wait_closed().addCallback(lambda _: self._lost(client))
            return client.play(self._stream, sink=self._on_media, timeout=CONNECT_TIMEOUT)

        def playing(_: object) -> None:
            self._attempt = None
            if self._stopped or self._client is None:
                return
            self._begin_publish(url)

        def failed(failure: Failure) -> None:
            self._attempt = None
            if self._stopped:
                return
            self.status.last_error = failure.getErrorMessage()
            client = self._client
            if client is not None and client.is_open:
                client._abort("edge pull failed")
                return  # _lost schedules the retry
            self._client = None
            self._schedule_retry(failure.getErrorMessage())

        attempt.addCallback(connected).addCallbacks(playing, failed)

    def _url_path(self) -> str:
        return f"{self.vhost.name}/{self._app}/{self._stream}"

    def _begin_publish(self, url: str) -> None:
        """The origin plays: publish into the local source."""
        controller = self._controller
        handle = controller.client(self.cid, "127.0.0.1")
        request = StreamRequest(
            ip="127.0.0.1",
            vhost=self.vhost.name,
            app=self._app,
            stream=self._stream,
            tc_url=url.rsplit("/", 1)[0],
            page_url=self._page_url,
            swf_url=self._swf_url,
            client_type="edge-pull",
            transport="rtmp",
        )
        # No admission checks or on_publish hook: SRS's edge source is
        # published by the edge itself (SrsSource::on_edge_start_play).
        vhost = exact_vhost(controller.holder.config, self.vhost.name) or self.vhost
        try:
            self._lease = handle.publish(Admission(request, vhost, Stage.PUBLISH), self)
        except Exception as e:
            handle.close()
            self.log.error(
                "edge pull {url}: cannot publish locally: {error}",
                url=self._url_path(), error=e, cid=self.cid,
            )
            self._drop(f"cannot publish locally: {e}")
            return
        self._handle = handle
        self._backoff.reset()
        self.sessions += 1
        self.status.state = "playing"
        self.status.connected_since = self._reactor.seconds()
        self.status.last_error = ""
        self.log.info("edge pull {url}: playing from {origin}", url=self._url_path(),
                      origin=url, cid=self.cid)

    def _on_media(self, media: Media) -> None:
        lease = self._lease
        if lease is None or lease.ended:
            return
        if media.metadata is None and media.message_type_id not in (8, 9):
            return  # |RtmpSampleAccess, onStatus: not the stream (SRS ignores them)
        message = SharedMessage(
            media.timestamp, media.message_type_id, media.payload, media.chunk_stream_id
        )
        self.status.messages_sent += 1
        client = self._client
        if client is not None:
            self.status.bytes_sent = client.bytes_received
        lease.deliver(message)

    def _end_publish(self, reason: str) -> None:
        lease, self._lease = self._lease, None
        handle, self._handle = self._handle, None
        if lease is not None:
            lease.end(reason)
        if handle is not None:
            handle.close()

    def _drop(self, why: str) -> None:
        """End the current session; the retry follows from :meth:`_lost`."""
        self.status.last_error = why
        client = self._client
        if client is not None and client.is_open:
            client._abort(why)
        else:
            self._end_publish(why)
            self._schedule_retry(why)

    def _lost(self, client: RtmpClientProtocol) -> None:
        if client is not self._client:
            return
        self._client = None
        self.status.connected_since = None
        why = self.status.last_error or "the origin closed the connection"
        self._end_publish(why)
        if not self._stopped:
            self._schedule_retry(why)

    def _retry_line(self, why: str, delay: float) -> None:
        self.log.warn(
            "edge pull {url}: {why}; next origin in {delay:g}s",
            url=self._url_path(), why=why, delay=delay, cid=self.cid,
        )

    # -- IStreamPublisher --------------------------------------------------

    def close(self, reason: str) -> None:
        """
        The controller ends this publisher (the origin went silent past
        ``publish_normal_timeout``, a vhost removed by reload, shutdown):
        end this session and try the next origin, unless stopped.
        """
        if self._stopped:
            return
        if reason == "server shutdown":  # the hub closing every source at stop
            self.stop(reason)
            return
        self._drop(reason)

    def stop(self, reason: str) -> None:
        """Stop for good (the last player left, the vhost stopped being an edge)."""
        if self._stopped:
            return
        client = self._halt()
        self._end_publish(reason)
        if client is not None:
            client.close()
        self.log.info("edge pull {url}: stopped ({reason})", url=self._url_path(),
                      reason=reason, cid=self.cid)


@implementer(IPublishObserver)
class EdgeService:
    """
    The controller's ``play_watcher``: one :class:`EdgePull` per stream with
    players on an edge vhost; and, registered with ``hub.observe``, the
    publish observer of :class:`EdgePushes` for its publishers and the
    reload of both (``SourceHub.reconfigure`` asks every observer).
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        controller: Any,
        *,
        connect: Connector = connect_rtmp,
        grace: float = PULL_GRACE,
    ) -> None:
        self._reactor = reactor
        self._controller = controller
        self._connect = connect
        self._grace = grace
        self.pulls: dict[tuple[str, str, str], EdgePull] = {}
        self._players: dict[tuple[str, str, str], int] = {}
        self._stopping: dict[tuple[str, str, str], IDelayedCall] = {}
        self.pushes = EdgePushes(reactor, connect=connect)

    # -- play_watcher ------------------------------------------------------

    def on_play(self, source: Any, admission: Admission) -> None:
        vhost = admission.vhost
        if not vhost.is_edge:
            return
        key = source.key
        self._players[key] = self._players.get(key, 0) + 1
        timer = self._stopping.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()
        if key in self.pulls:
            return
        if source.publisher is not None:
            return  # published on the edge itself (an edge push): play it here
        pull = EdgePull(
            self._reactor, self._controller, vhost, admission.request, connect=self._connect
        )
        self.pulls[key] = pull
        self.log.info("edge pull {url}: first player, start", url=source.url, cid=pull.cid)
        pull.start()

    def on_stop(self, source: Any, admission: Admission) -> None:
        key = source.key
        if key not in self._players:
            return
        count = self._players.get(key, 0) - 1
        if count > 0:
            self._players[key] = count
            return
        self._players.pop(key, None)
        if key in self.pulls and key not in self._stopping:
            self._stopping[key] = self._reactor.callLater(self._grace, self._stop_pull, key)

    def _stop_pull(self, key: tuple[str, str, str]) -> None:
        self._stopping.pop(key, None)
        if self._players.get(key, 0) > 0:
            return
        pull = self.pulls.pop(key, None)
        if pull is not None:
            pull.stop("no player left")

    # -- admission_gate ----------------------------------------------------

    def gate(self, admission: Admission, cid: int) -> defer.Deferred[None] | None:
        """
        The controller's ``admission_gate``: on an edge vhost, a connect
        with ``token_traverse on`` is asked of the origin first; a publish
        is admitted once the origin accepted its push.
        """
        vhost = admission.vhost
        if not vhost.is_edge:
            return None
        if admission.stage is Stage.CONNECT and vhost.token_traverse:
            return defer.Deferred.fromCoroutine(self._traverse(admission, cid))
        if admission.stage is Stage.PUBLISH:
            return self.pushes.prepare(admission, cid)
        return None

    async def _traverse(self, admission: Admission, cid: int) -> None:
        """
        Token traverse (SRS's ``SrsRtmpConn::check_edge_token_traverse_auth``):
        the first origin that takes the TCP connection gets the client's
        connect (its tcUrl, pageUrl and swfUrl) and decides.

        :raises AccessDenied: the origin refused, or no origin answered.
        """
        request = admission.request
        vhost = admission.vhost
        failures = []
        for origin in origins_of(vhost):
            # Only connect is sent: the stream part of the URL is never used.
            url = f"rtmp://{origin.endpoint}/{request.app}/token-traverse"
            try:
                client = await self._connect(
                    self._reactor,
                    url,
                    timeout=CONNECT_TIMEOUT,
                    tc_url=request.tc_url or edge_tc_url(vhost, request.app, origin),
                    args=upnode_args(cid),
                    page_url=request.page_url,
                    swf_url=request.swf_url,
                )
            except RtmpClientError as e:
                if str(e).startswith("cannot connect to"):
                    failures.append(str(e))
                    continue  # no TCP: the next origin
                raise AccessDenied(ERROR_EDGE_TOKEN, f"token traverse: origin {origin.endpoint} "
                                   f"refused the connect: {e}") from e
            client.close()
            self.log.info("token traverse: origin {origin} accepted {tc_url}",
                          origin=origin.endpoint, tc_url=request.tc_url, cid=cid)
            return
        raise AccessDenied(ERROR_EDGE_TOKEN, "token traverse: no origin answered: "
                           + ("; ".join(failures) or "no origin configured"))

    # -- IPublishObserver, for the edge pushes ------------------------------

    def on_publish(self, source: Any, request: StreamRequest) -> None:
        self.pushes.on_publish(source, request)

    def on_unpublish(self, source: Any, request: StreamRequest) -> None:
        self.pushes.on_unpublish(source, request)

    # -- reload and shutdown -----------------------------------------------

    def reconfigure(self, config: ServerConfig) -> None:
        """
        A reload: pulls of a vhost that is no edge any more stop (its
        players stay, waiting for a local publisher); pulls whose origins
        changed switch to the new list; others go on.
        """
        for key, pull in list(self.pulls.items()):
            vhost = exact_vhost(config, key[0])
            if vhost is None or not vhost.enabled or not vhost.is_edge:
                del self.pulls[key]
                pull.stop("vhost no longer an edge (reload)")
                continue
            pull.reconfigure(vhost)

    def stop_all(self, reason: str) -> None:
        for timer in self._stopping.values():
            if timer.active():
                timer.cancel()
        self._stopping.clear()
        for pull in list(self.pulls.values()):
            pull.stop(reason)
        self.pulls.clear()

    def edges(self) -> list[dict[str, Any]]:
        """Each edge pull and push, for ``/api/v1/clusters``."""
        found = [_describe(*key, pull) for key, pull in sorted(self.pulls.items())]
        found.extend(self.pushes.describe())
        return found


@implementer(IPublishObserver)
class EdgePushes:
    """
    Pushes every publisher of an edge vhost to the origins
    (``SrsPublishEdge``): an :class:`UpstreamPusher` attached to the source
    from publish to unpublish, round robin over the origins.
    """

    log = Logger()

    def __init__(self, reactor: Any, *, connect: Connector = connect_rtmp) -> None:
        self._reactor = reactor
        self._connect = connect
        self._hub: Any = None
        self.pushers: dict[tuple[str, str, str], tuple[Any, UpstreamPusher]] = {}
        #: Pushes the origin accepted whose local publish is still to come.
        self._pending: dict[tuple[str, str, str], tuple[UpstreamPusher, IDelayedCall]] = {}

    def bind(self, hub: Any) -> None:
        self._hub = hub

    def _pusher(
        self,
        vhost: VhostConfig,
        request: StreamRequest,
        cid: int,
        on_published: Callable[[Exception | None], None] | None = None,
    ) -> UpstreamPusher | None:
        origins = origins_of(vhost)
        if not origins:
            return None
        key = (vhost.name, request.app, request.stream)
        debug = vhost.debug_srs_upnode
        return UpstreamPusher(
            self._reactor,
            origins,
            request.app,
            request.stream + request.param,
            tc_url_for=lambda origin: edge_tc_url(vhost, request.app, origin),
            headers=lambda: self._headers(key),
            args=lambda origin: upnode_args(cid) if debug else None,
            page_url=request.page_url,
            swf_url=request.swf_url,
            kind="edge-push",
            connect=self._connect,
            queue_length=vhost.queue_length,
            on_published=on_published,
        )

    def _headers(self, key: tuple[str, str, str]) -> list[SharedMessage]:
        source = self._hub.find(*key) if self._hub is not None else None
        return source.header_messages() if source is not None else []

    def prepare(self, admission: Admission, cid: int) -> defer.Deferred[None]:
        """
        Push ``admission``'s stream to the origin before the edge accepts
        its publisher (``SrsPublishEdge::on_client_publish``).

        :return: fires once the origin answered Publish.Start; fails with
            :class:`AccessDenied` with the origin's reason, or when the edge
            already pushes this stream (SRS #180).
        """
        request = admission.request
        key = (admission.vhost.name, request.app, request.stream)
        if key in self.pushers or key in self._pending:
            return defer.fail(AccessDenied(ERROR_EDGE_PUSH, f"edge push {'/'.join(key)}: "
                                           "already pushing this stream to the origin"))
        answered: defer.Deferred[None] = defer.Deferred()

        def published(error: Exception | None) -> None:
            if answered.called:
                return
            if error is None:
                answered.callback(None)
                return
            self._drop_pending(key, "origin refused")
            answered.errback(AccessDenied(ERROR_EDGE_PUSH, f"edge push: origin refused: {error}"))

        pusher = self._pusher(admission.vhost, request, cid, published)
        if pusher is None:
            return defer.fail(AccessDenied(ERROR_EDGE_PUSH, "edge push: no usable origin"))
        timer = self._reactor.callLater(PENDING_PUSH_TIMEOUT, self._drop_pending, key, "no publish")
        self._pending[key] = (pusher, timer)
        pusher.start()
        return answered

    def _drop_pending(self, key: tuple[str, str, str], reason: str) -> None:
        found = self._pending.pop(key, None)
        if found is None:
            return
        pusher, timer = found
        if timer.active():
            timer.cancel()
        pusher.stop(reason)

    def on_publish(self, source: Any, request: StreamRequest) -> None:
        vhost: VhostConfig = source.vhost
        if not vhost.is_edge or isinstance(source.publisher, EdgePull):
            return
        found = self._pending.pop(source.key, None)
        if found is not None:
            pusher, timer = found
            if timer.active():
                timer.cancel()
        else:
            made = self._pusher(vhost, request, source.cid)
            if made is None:
                self.log.error("edge push {url}: no usable origin", url=source.url, cid=source.cid)
                return
            pusher = made
            pusher.start()
        consumer = _PushConsumer(source.cid, pusher)
        self.pushers[source.key] = (consumer, pusher)
        if self._hub is not None:
            self._hub.attach(source, consumer)
        else:
            source.attach(consumer, replay=False)

    def on_unpublish(self, source: Any, request: StreamRequest) -> None:
        found = self.pushers.pop(source.key, None)
        if found is None:
            return
        consumer, pusher = found
        if self._hub is not None:
            self._hub.detach(source, consumer)
        else:
            source.detach(consumer)
        pusher.stop("unpublish")

    def describe(self) -> list[dict[str, Any]]:
        return [_describe(*key, pusher) for key, (_, pusher) in sorted(self.pushers.items())]


@implementer(IStreamConsumer)
class _PushConsumer:
    """The source's side of an edge push: every message to the pusher."""

    replay = Replay.NOTHING
    sharing_key = None

    def __init__(self, cid: int, pusher: UpstreamPusher) -> None:
        self.cid = cid
        self._pusher = pusher
        self.deliver: Callable[[SharedMessage], None] = pusher.deliver

    def publisher_changed(self, publishing: bool) -> None:
        pass

    def close(self, reason: str) -> None:
        self._pusher.stop(reason)
