# -*- test-case-name: tests.test_stream_controller -*-
"""
The stream controller: the one way any front end publishes or plays.

Every publisher (RTMP, the casters, edge pulls; ffmpeg publishes over RTMP) and every
player (RTMP, HTTP-FLV/TS/MP3/AAC) gets a :class:`ClientHandle` from
:meth:`StreamController.client` and goes through it::

    handle = controller.client(cid, ip)
    admission = yield handle.admit(request, Stage.PLAY)  # checks, then on_play
    lease = handle.play(admission, consumer)             # attach, statistics
    ...
    lease.end("client closed")                           # detach, on_stop
    handle.close()                                       # on_close, forget

The handle owns what SRS keeps in ``SrsRtmpConn``: the admission checks in
SRS's order (``srs_app_rtmp_conn.cpp``, ``stream_service_cycle``), the HTTP
hooks with their verdicts and their pairs (on_unpublish after on_publish,
on_stop after on_play, on_close after any connect that found its vhost),
sent one after another per client, the statistics entry, and the publish
timeouts.  Front ends only frame bytes and create their player or
publisher: policy is decided here (as Twisted's ``DNSServerFactory``
decides and ``DNSProtocol`` frames).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.codec.hooks import (
    HookRejected,
    on_close_payload,
    on_connect_payload,
    on_play_payload,
    on_publish_payload,
    on_stop_payload,
    on_unpublish_payload,
)
from srstwist.config.holder import ConfigHolder
from srstwist.config.model import ServerConfig, VhostConfig
from srstwist.interfaces import (
    IClientHandle,
    IHookClient,
    IPlayLease,
    IPublishLease,
    IStreamConsumer,
    IStreamController,
    IStreamPublisher,
    Stage,
)
from srstwist.media.message import SharedMessage
from srstwist.media.rate import RateMeter
from srstwist.media.source import Source, SourceBusy
from srstwist.services.hub import SourceHub
from srstwist.stream.admission import AccessDenied, Admission, check_request
from srstwist.stream.request import StreamRequest
from srstwist.stream.stats import ClientStats

__all__ = ["StreamController", "ClientHandle", "PublishLease", "PlayLease", "hook_payload"]

#: The hook that may refuse each stage, and the one that pairs with it
#: when the client leaves.
_ADMIT_HOOK = {Stage.CONNECT: "on_connect", Stage.PUBLISH: "on_publish", Stage.PLAY: "on_play"}
_LEAVE_HOOK = {Stage.CONNECT: "on_close", Stage.PUBLISH: "on_unpublish", Stage.PLAY: "on_stop"}


def hook_payload(
    event: str, cid: int, request: StreamRequest, vhost: str, sent: int = 0, received: int = 0
) -> dict[str, Any]:
    """
    The body of ``event`` for a client (SRS's ``SrsHttpHooks::on_*`` in
    ``srs_app_http_hooks.cpp``).

    :param sent: bytes sent to the client (``on_close`` only).
    :param received: bytes received from it (``on_close`` only).
    :raises ValueError: ``event`` is not a client event.
    """
    ip, app, stream, param = request.ip, request.app, request.stream, request.param
    if event == "on_connect":
        return on_connect_payload(cid, ip, vhost, app, request.tc_url, request.page_url)
    if event == "on_close":
        return on_close_payload(cid, ip, vhost, app, sent, received)
    if event == "on_publish":
        return on_publish_payload(cid, ip, vhost, app, request.tc_url, stream, param)
    if event == "on_unpublish":
        return on_unpublish_payload(cid, ip, vhost, app, stream, param)
    if event == "on_play":
        return on_play_payload(cid, ip, vhost, app, stream, param, request.page_url)
    if event == "on_stop":
        return on_stop_payload(cid, ip, vhost, app, stream, param)
    raise ValueError(f"{event!r} is not a client hook")


@implementer(IStreamController)
class StreamController(service.Service):
    """
    Admission, hooks, sources and statistics for every front end.

    :param hub: the source registry and consumer seam.
    :param holder: the config in force (read at each admission).
    :param clock: for timeouts and statistics times.
    :param hooks: the HTTP hook client; ``None``: hooks are never called.
    """

    log = Logger()

    def __init__(
        self, hub: SourceHub, holder: ConfigHolder, clock: Any, hooks: IHookClient | None = None
    ) -> None:
        self.setName("controller")
        self.hub = hub
        self.holder = holder
        self.clock = clock
        self.hooks = hooks
        #: Every client handle not yet garbage (closed ones are skipped), for
        #: :meth:`close_vhost`.
        self._handles: weakref.WeakSet[ClientHandle] = weakref.WeakSet()
        #: Closes the connection of a cid at once (``None``: the sibling
        #: service named ``listeners``'s ``kick``, if any), for players and
        #: clients between connect and publish or play.
        self.disconnect: Callable[[int, str], object] | None = None
        #: Hears of every player that starts and stops (``None``: nobody),
        #: with ``on_play(source, admission)`` and ``on_stop(source,
        #: admission)``: the edge (:mod:`srstwist.services.edge`) starts a
        #: pull from the origin at the first player of a stream on a
        #: ``mode remote`` vhost, as SRS's ``SrsSource::create_consumer``
        #: does, and stops it after the last (``on_consumer_destroy``).
        self.play_watcher: Any = None
        #: Asked last about every admission that passed its checks and hook,
        #: ``gate(admission, cid)``: ``None`` to admit at once, or a Deferred
        #: that admits when it fires and refuses when it fails with
        #: :class:`AccessDenied` (the edge: token traverse asks the origin
        #: about a connect, an edge push waits for the origin to accept the
        #: publish, as SRS's ``SrsRtmpConn`` does before it answers).
        self.admission_gate: Callable[[Admission, int], defer.Deferred[None] | None] | None = None

    @property
    def stats(self) -> Any:
        return self.hub.stats

    def client(self, cid: int, ip: str) -> ClientHandle:
        handle = ClientHandle(self, cid, ip)
        self._handles.add(handle)
        return handle

    # -- reload ------------------------------------------------------------

    def reconfigure(self, config: ServerConfig) -> None:
        """
        A reload (:meth:`srstwist.services.server.SrsService.reload`, before
        the holder has the new config): the clients of every vhost it
        removes or disables are closed (SRS's
        ``SrsRtmpConn::on_reload_vhost_removed``).

        Nothing else is done to admitted clients: ``security``, ``refer``
        and ``http_hooks`` judge the next admission only, as in SRS 2.0
        (each admission reads the config in force).
        """
        names = {vhost.name for vhost in config.vhosts if vhost.enabled}
        for name in sorted(self._vhosts_in_use() - names):
            self.close_vhost(name, f"vhost {name} removed or disabled by reload")

    def _vhosts_in_use(self) -> set[str]:
        found: set[str] = set()
        for handle in list(self._handles):
            if handle.closed:
                continue
            found.update(lease.vhost.name for lease in handle._leases)
            if handle._connected is not None:
                found.add(handle._connected[1].name)
        return found

    def close_vhost(self, name: str, reason: str) -> int:
        """
        Close every client of the vhost ``name``, with one log line each:
        publishers through their ``close`` (the stream is unpublished, its
        outputs end as at any unpublish), players and clients that only
        connected through :attr:`disconnect`.  Streams of other vhosts are
        untouched.

        Without a way to disconnect, a player is stopped and its lease
        ended, so that it gets nothing more; its connection is left to
        close.

        :return: how many clients were closed.
        """
        disconnect = self._disconnector()
        closed = 0
        for handle in sorted(self._handles, key=lambda h: h.cid):
            if handle.closed:
                continue
            leases = [lease for lease in handle._leases if lease.vhost.name == name]
            connected = handle._connected is not None and handle._connected[1].name == name
            if not leases and not connected:
                continue
            closed += 1
            url = leases[0].source.url if leases else f"{name}/{handle._connected[0].app}"  # type: ignore[index]
            self.log.info(
                "vhost {vhost} removed or disabled by reload, close client url={url}",
                vhost=name,
                url=url,
                cid=handle.cid,
            )
            publishing = [lease for lease in leases if isinstance(lease, PublishLease)]
            if publishing:
                for lease in publishing:
                    lease.publisher.close(reason)
                continue
            if disconnect is not None and disconnect(handle.cid, reason):
                continue
            for lease in leases:
                assert isinstance(lease, PlayLease)
                lease.consumer.close(reason)
                lease.end(reason)
        return closed

    def _disconnector(self) -> Callable[[int, str], object] | None:
        if self.disconnect is not None:
            return self.disconnect
        parent = self.parent
        if parent is None:
            return None
        try:
            listeners = parent.getServiceNamed("listeners")  # type: ignore[attr-defined]
        except KeyError:
            return None
        kick: Callable[[int, str], object] | None = getattr(listeners, "kick", None)
        return kick

    def is_live(self, vhost: str, app: str, stream: str) -> bool:
        source = self.hub.find(vhost, app, stream)
        return source is not None and source.publisher is not None


@implementer(IClientHandle)
class ClientHandle:
    """One client, from its first request to :meth:`close`."""

    log = Logger()

    def __init__(self, controller: StreamController, cid: int, ip: str) -> None:
        self._controller = controller
        self.cid = cid
        self.ip = ip
        self.bytes_in = 0
        #: Bytes written outside a player, plus what ended players sent.
        self.bytes_out = 0
        self.stats: ClientStats | None = None
        self.closed = False
        #: The stages passed whose leave hook is still due.
        self._passed: set[Stage] = set()
        #: The connect that found its vhost: on_close is due for it.
        self._connected: tuple[StreamRequest, VhostConfig] | None = None
        self._leases: list[PublishLease | PlayLease] = []
        self._notifications: defer.Deferred[None] = defer.succeed(None)
        #: Admission hooks in flight (on_close waits for them).
        self._asking = 0

    # -- traffic -----------------------------------------------------------

    def received(self, size: int) -> None:
        self.bytes_in += size
        if self.stats is not None:
            self.stats.bytes_recv += size

    def sent(self, size: int) -> None:
        self.bytes_out += size
        if self.stats is not None:
            self.stats.bytes_sent += size

    # -- admission ---------------------------------------------------------

    def admit(self, request: StreamRequest, stage: Stage) -> defer.Deferred[Admission]:
        if self.closed:
            return defer.fail(AccessDenied(0, "client gone"))
        vhost = self._controller.holder.config.vhost(request.vhost)
        if stage is Stage.CONNECT and vhost is not None and vhost.enabled:
            # SRS calls on_close after any connect that found its vhost,
            # even one that refer or on_connect then refused.
            self._connected = (request, vhost)
        try:
            vhost = check_request(stage, vhost, request)
        except AccessDenied as e:
            return defer.fail(e)
        admission = Admission(request, vhost, stage)
        event = _ADMIT_HOOK[stage]
        urls = self._urls(vhost.http_hooks, event)
        client = self._controller.hooks
        if not urls or client is None:
            self._passed.add(stage)
            return self._gated(admission)
        payload = hook_payload(event, self.cid, request, vhost.name)
        asked = client.admit(event, urls, payload, self.cid)
        self._asking += 1

        def passed(_: object) -> Admission:
            self._passed.add(stage)
            if self.closed:
                # The client left while its hook was asked: admitting it
                # now would create a source (or worse) for no one.  The hook
                # server accepted it, though, so it gets the pair (on_stop,
                # on_unpublish) as SRS sends it, or it would count a player
                # that never leaves.  (on_close went out at close.)
                if stage is not Stage.CONNECT:
                    self._notify(stage, request, vhost)
                raise AccessDenied(0, f"{event} hook answered after the client left")
            return admission

        def rejected(failure: Failure) -> None:
            failure.trap(HookRejected)
            raise AccessDenied(failure.value.code, f"{event} hook: {failure.value}")

        def answered(result: object) -> object:
            # on_close waits for a hook the client left during, so the hook
            # server hears on_unpublish/on_stop (if owed) before on_close.
            self._asking -= 1
            if self.closed and not self._asking:
                self._notify_close()
            return result

        asked.addCallbacks(passed, rejected).addBoth(answered)
        return asked.addCallback(self._gated)

    def _gated(self, admission: Admission) -> defer.Deferred[Admission]:
        """
        The last word on an admission: the controller's
        :attr:`~StreamController.admission_gate`, when it has one.
        """
        gate = self._controller.admission_gate
        waited = gate(admission, self.cid) if gate is not None else None
        if waited is None:
            return defer.succeed(admission)
        return waited.addCallback(lambda _: admission)

    @staticmethod
    def _urls(hooks: Any, event: str) -> tuple[str, ...]:
        if not hooks.enabled:
            return ()
        return tuple(getattr(hooks, event) or ())

    # -- publish and play --------------------------------------------------

    def publish(self, admission: Admission, publisher: IStreamPublisher) -> PublishLease:
        if admission.stage is not Stage.PUBLISH:
            raise ValueError(f"a {admission.stage.value} admission cannot publish")
        controller = self._controller
        request = admission.request
        source = controller.hub.source(admission.vhost, request.app, request.stream)
        if not source.can_publish():
            controller.hub.release(source)
            raise SourceBusy(f"stream {source.url} is already being published")
        controller.hub.publish(source, publisher, request)
        self._register(admission)
        controller.stats.on_publish(*source.key, cid=self.cid, now=controller.clock.seconds())
        lease = PublishLease(self, source, admission, publisher)
        self._leases.append(lease)
        return lease

    def play(self, admission: Admission, consumer: IStreamConsumer) -> PlayLease:
        if admission.stage is not Stage.PLAY:
            raise ValueError(f"a {admission.stage.value} admission cannot play")
        controller = self._controller
        request = admission.request
        source = controller.hub.source(admission.vhost, request.app, request.stream)
        self._register(admission)
        if hasattr(consumer, "stats"):
            consumer.stats = self.stats  # type: ignore[attr-defined]
        lease = PlayLease(self, source, admission, consumer)
        self._leases.append(lease)
        controller.hub.attach(source, consumer)
        if controller.play_watcher is not None:
            controller.play_watcher.on_play(source, admission)
        return lease

    def _register(self, admission: Admission) -> None:
        """Enter the statistics once admitted (SRS: ``SrsStatistic::on_client``)."""
        request = admission.request
        controller = self._controller
        self.stats = controller.stats.on_client(
            self.cid,
            vhost=admission.vhost.name,
            app=request.app,
            stream=request.stream,
            ip=request.ip,
            client_type=request.client_type,
            now=controller.clock.seconds(),
            tc_url=request.tc_url,
            page_url=request.page_url,
            swf_url=request.swf_url,
        )
        self.stats.bytes_recv = self.bytes_in

    # -- leaving -----------------------------------------------------------

    def _notify(self, stage: Stage, request: StreamRequest, vhost: VhostConfig) -> None:
        """
        Call the leave hook of ``stage`` if the client got past it (whether
        or not its admit hook had URLs), after the hooks before it; with
        the hooks of the vhost as the client was admitted to it.
        """
        event = _LEAVE_HOOK[stage]
        if stage is not Stage.CONNECT:
            if stage not in self._passed:
                return
            self._passed.discard(stage)
        client = self._controller.hooks
        urls = self._urls(vhost.http_hooks, event)
        if client is None or not urls:
            return
        payload = hook_payload(
            event, self.cid, request, vhost.name, self.bytes_out, self.bytes_in
        )
        # One after the other, as SRS calls them: on_stop (or on_unpublish)
        # reaches the hook server before on_close.
        self._notifications.addCallback(lambda _: client.notify(event, urls, payload, self.cid))

    def _ended(self, lease: PublishLease | PlayLease) -> None:
        if lease in self._leases:
            self._leases.remove(lease)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for lease in list(self._leases):
            lease.end("client closed")
        if not self._asking:
            self._notify_close()
        if self.stats is not None:
            self._controller.stats.on_disconnect(self.cid)

    def _notify_close(self) -> None:
        """on_close, once, after any connect that found its vhost."""
        if self._connected is not None:
            request, vhost = self._connected
            self._connected = None
            self._notify(Stage.CONNECT, request, vhost)


@implementer(IPublishLease)
class PublishLease:
    """
    A publisher's hold on its source.  It also watches the publisher's
    pace: nothing within ``publish_1stpkt_timeout`` of the publish, or
    within ``publish_normal_timeout`` of the last message, closes it
    (SRS's ``SrsRtmpConn::do_publishing``); so does a flood, more than
    10000 messages/s or 50 MB/s for 3 s (:class:`~srstwist.media.rate.RateMeter`,
    issue 15), which no real stream sends and SRS 2.0 does not refuse.
    """

    log = Logger()

    def __init__(
        self,
        client: ClientHandle,
        source: Source,
        admission: Admission,
        publisher: IStreamPublisher,
    ) -> None:
        self._client = client
        self.source = source
        self.request = admission.request
        self.vhost = admission.vhost
        self.publisher = publisher
        self.ended = False
        vhost = admission.vhost
        self._first_timeout = vhost.publish_1stpkt_timeout / 1000.0
        self._normal_timeout = vhost.publish_normal_timeout / 1000.0
        clock = client._controller.clock
        self._clock = clock
        self._last_message: float | None = None
        self._timer: IDelayedCall | None = clock.callLater(self._first_timeout, self._check_pace)
        self._rate = RateMeter()
        self._flooding = False

    def deliver(self, message: SharedMessage) -> None:
        # The hot path of every publisher: one clock read, then the source.
        now = self._clock.seconds()
        if self._last_message is None:
            # From the first message on, the normal timeout applies.
            self._reschedule(self._normal_timeout)
        self._last_message = now
        # RateMeter.feed, inlined: two additions, one comparison.
        rate = self._rate
        rate.messages += 1
        rate.bytes += len(message.payload)
        if now >= rate.due and self._over_rate(now):
            return
        self.source.on_message(message)

    def _over_rate(self, now: float) -> bool:
        """
        Judge the rate meter's bucket; a flood closes the publisher, and
        whatever it still sends is dropped.
        """
        if self._flooding:
            return True
        if not self._rate.judge(now):
            return False
        self._flooding = True
        self._rate.due = float("-inf")  # every later message comes back here
        reason = f"publisher flood: {self._rate.describe()}; closing"
        self.log.warn(
            "publish {url}: {reason}", url=self.source.url, reason=reason, cid=self._client.cid
        )
        self.publisher.close(reason)
        return True

    def _reschedule(self, delay: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._clock.callLater(delay, self._check_pace)

    def _check_pace(self) -> None:
        self._timer = None
        if self.ended:
            return
        last = self._last_message
        if last is None:
            self.publisher.close(
                f"publisher sent nothing within {self._first_timeout:g}s; closing"
            )
            return
        due = last + self._normal_timeout - self._clock.seconds()
        if due <= 0:
            self.publisher.close(
                f"publisher sent nothing for {self._normal_timeout:g}s; closing"
            )
            return
        self._timer = self._clock.callLater(due, self._check_pace)

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        client = self._client
        controller = client._controller
        source = self.source
        client._notify(Stage.PUBLISH, self.request, self.vhost)
        controller.hub.unpublish(source, self.publisher, self.request)
        controller.stats.on_unpublish(*source.key, controller.clock.seconds())
        controller.hub.release(source)
        client._ended(self)
        self.log.info("unpublish {url}: {reason}", url=source.url, reason=reason, cid=client.cid)


@implementer(IPlayLease)
class PlayLease:
    """A consumer's subscription to its source."""

    def __init__(
        self,
        client: ClientHandle,
        source: Source,
        admission: Admission,
        consumer: IStreamConsumer,
    ) -> None:
        self._client = client
        self.source = source
        self.request = admission.request
        self.vhost = admission.vhost
        self.consumer = consumer
        self.ended = False

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        client = self._client
        controller = client._controller
        client.bytes_out += getattr(self.consumer, "bytes_sent", 0)
        client._notify(Stage.PLAY, self.request, self.vhost)
        controller.hub.detach(self.source, self.consumer)
        controller.hub.release(self.source)
        client._ended(self)
        if controller.play_watcher is not None:
            admission = Admission(self.request, self.vhost, Stage.PLAY)
            controller.play_watcher.on_stop(self.source, admission)
