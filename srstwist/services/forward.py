# -*- test-case-name: tests.test_services_forward -*-
"""
Forward: every stream published to a vhost with ``forward host[:port] ...;``
is published again to each of those servers (SRS's ``SrsForwarder``,
``trunk/src/app/srs_app_forward.cpp``, created by
``SrsSource::create_forwarders``).

A forward is an output like HLS or DVR: :meth:`ForwardService.output_for`
makes one :class:`ForwardOutput` per publish, registered with
``hub.observe(OutputsPerPublish(hub, forwards.output_for))``, and the
output holds one :class:`UpstreamPusher` per destination.  Each pusher is
independent of the source, of the players and of the other destinations:

* it has its own bounded queue (``queue_length`` seconds, count and bytes);
  when it overflows (the destination is down or slower than the stream) the
  queue is emptied and the pusher waits for the next video keyframe, as
  SRS's queue shrink keeps a player decodable (``SrsMessageQueue::shrink``);
* it reconnects after any failure, with a capped exponential backoff
  (1 s doubling to 30 s; SRS 2.0 sleeps a fixed 3 s);
* after each (re)connect it sends the source's metadata and sequence
  headers before anything else (SRS #150), so the destination's players
  can decode whatever comes next;
* messages keep their original timestamps (SRS forwards with jitter
  ``off``).

The same pusher carries an edge's publishers to the origin
(:mod:`srstwist.services.edge`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.client.rtmp import RtmpClientProtocol, connect_rtmp
from srstwist.codec.amf0 import Amf0Object
from srstwist.codec.rtmp_commands import ServerIdentity
from srstwist.codec.rtmp_url import generate_tc_url
from srstwist.config.model import VhostConfig
from srstwist.interfaces import IStreamConsumer, Replay
from srstwist.media.message import SharedMessage
from srstwist.stream.request import StreamRequest
from srstwist.tracelog import next_cid

__all__ = [
    "Backoff",
    "Destination",
    "ForwardOutput",
    "ForwardService",
    "UpstreamPusher",
    "parse_destination",
    "upnode_args",
]

#: A pusher's queue bounds: SRS bounds a forwarder's queue by
#: ``queue_length`` seconds; we bound it by what it holds, as every queue.
QUEUE_MAX_MESSAGES = 4096
QUEUE_MAX_BYTES = 16 * 1024 * 1024

#: Seconds for the TCP connect, handshake and connect (SRS: 3 s for TCP).
CONNECT_TIMEOUT = 5.0

#: The RTMP client connect function, replaceable in tests:
#: ``connect(reactor, url, **options) -> Deferred[RtmpClientProtocol]``.
Connector = Callable[..., "defer.Deferred[RtmpClientProtocol]"]


class Backoff:
    """
    Capped exponential delays between attempts: ``first``, doubling up to
    ``cap``; :meth:`reset` after a success.
    """

    def __init__(self, first: float = 1.0, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


@dataclass(frozen=True)
class Destination:
    """
    Where a pusher publishes: ``host:port``, and the vhost and app it
    names, when the destination names them (``host:port/app?vhost=v``, an
    addition of ours; SRS 2.0 takes ``host[:port]`` only).
    """

    host: str
    port: int
    app: str | None = None
    vhost: str | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_destination(text: str) -> Destination:
    """
    Parse a ``forward`` or ``origin`` entry: ``host[:port][/app][?vhost=v]``
    (``srs_parse_hostport``, port 1935 by default).

    :raises ValueError: no host, or a port that is not 1..65535.
    """
    rest, _, query = text.partition("?")
    hostport, _, app = rest.partition("/")
    host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError(f"bad destination {text!r}: no host")
    port = 1935
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad destination {text!r}: bad port {port_text!r}")
        port = int(port_text)
    vhost = None
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key == "vhost" and value:
            vhost = value
    return Destination(host, port, app.strip("/") or None, vhost)


def upnode_args(cid: int, extra: Any = None) -> Amf0Object:
    """
    The connect arguments an upstream connection sends with
    ``debug_srs_upnode on``: ``extra`` (the client's own connect args, when
    relayed) plus SRS's identity (``SrsRtmpClient::connect_app2``,
    SRS #147), so an upstream SRS logs which edge or forwarder it serves.
    """
    args = Amf0Object(extra or {})
    identity = ServerIdentity(pid=os.getpid(), connection_id=cid)
    for key, value in identity.data().items():
        if key.startswith("srs_"):
            args[key] = value
    return args


@dataclass
class PusherState:
    """What the API shows of a pusher (an addition of ours)."""

    url: str
    state: str = "connecting"
    connected_since: float | None = None
    bytes_sent: int = 0
    messages_sent: int = 0
    dropped: int = 0
    retries: int = 0
    last_error: str = ""


class UpstreamLink:
    """
    The reconnect plumbing an upstream session shares, whichever way its
    media flows (:class:`UpstreamPusher` for forward and edge push,
    :class:`srstwist.services.edge.EdgePull`): a retry scheduled with
    :class:`Backoff` after a failure, and a stop that cancels whatever is
    pending.  A subclass sets ``_reactor``, ``_backoff``, ``status``,
    ``cid``, ``_client``, ``_attempt``, ``_retry``, ``_stopped`` and
    provides ``_attempt_now`` and :meth:`_retry_line`.
    """

    log = Logger()
    _reactor: Any
    _backoff: Backoff
    status: PusherState
    cid: int
    _client: RtmpClientProtocol | None
    _attempt: defer.Deferred[Any] | None
    _retry: IDelayedCall | None
    _stopped: bool

    def _attempt_now(self) -> None:
        raise NotImplementedError

    def _retry_line(self, why: str, delay: float) -> None:
        """Log the failure and the wait before the next attempt."""
        raise NotImplementedError

    def _schedule_retry(self, why: str) -> None:
        if self._stopped or self._retry is not None:
            return
        delay = self._backoff.next()
        self.status.retries += 1
        self.status.state = "waiting"
        self._retry_line(why, delay)
        self._retry = self._reactor.callLater(delay, self._attempt_now)

    def _halt(self) -> RtmpClientProtocol | None:
        """
        Stop for good: no retry, no attempt pending; the connection is
        returned for the caller to close after its own cleanup.
        """
        self._stopped = True
        self.status.state = "stopped"
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.cancel()
        client, self._client = self._client, None
        return client


class UpstreamPusher(UpstreamLink):
    """
    Publishes one stream to one server (or to the next of a list of
    servers, round robin, for an edge push) until :meth:`stop`, reconnecting
    with :class:`Backoff` after any failure.

    :param targets: the servers, tried round robin from the first.
    :param app: the app published to, unless a target names its own.
    :param stream: the stream name plus its query (``livestream?key=v``).
    :param tc_url_for: the tcUrl to send to a target.
    :param headers: the source's metadata and sequence headers now, sent
        first after each connect (SRS #150).
    :param args: the connect arguments for a target (``None``: none).
    :param queue_length: seconds of stream the queue may hold (the vhost's
        ``queue_length``), besides its count and byte bounds.
    :param on_published: called with ``None`` at each publish start, or
        with the error of a failed attempt (edge push waits on it).
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        targets: list[Destination],
        app: str,
        stream: str,
        *,
        tc_url_for: Callable[[Destination], str],
        headers: Callable[[], list[SharedMessage]],
        args: Callable[[Destination], Amf0Object | None] = lambda d: None,
        page_url: str = "",
        swf_url: str = "",
        kind: str = "forward",
        connect: Connector = connect_rtmp,
        backoff: Backoff | None = None,
        max_messages: int = QUEUE_MAX_MESSAGES,
        max_bytes: int = QUEUE_MAX_BYTES,
        queue_length: float = 30.0,
        on_published: Callable[[Exception | None], None] | None = None,
    ) -> None:
        if not targets:
            raise ValueError("an upstream pusher needs at least one target")
        self.cid = next_cid()
        self._reactor = reactor
        self._targets = targets
        self._next_target = 0
        self._app = app
        self._stream = stream
        self._tc_url_for = tc_url_for
        self._headers = headers
        self._args = args
        self._page_url = page_url
        self._swf_url = swf_url
        self.kind = kind
        self._connect = connect
        self._backoff = backoff or Backoff()
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        #: Milliseconds of stream the queue may span (``queue_length``, as
        #: SRS's ``SrsMessageQueue`` shrinks); 0: no time bound.
        self._max_duration = queue_length * 1000
        self._on_published = on_published
        self._queue: deque[SharedMessage] = deque()
        self._queued_bytes = 0
        #: After an overflow: drop until the next video keyframe.
        self._want_keyframe = False
        self._client: RtmpClientProtocol | None = None
        self._publishing = False
        self._attempt: defer.Deferred[Any] | None = None
        self._retry: IDelayedCall | None = None
        self._stopped = False
        self._sending = False
        #: Whether a wait for the transport to drain is pending.
        self._waiting = False
        self._target: Destination = targets[0]
        self.status = PusherState(self._url(targets[0]))

    # -- the stream --------------------------------------------------------

    def start(self) -> None:
        self._attempt_now()

    def deliver(self, message: SharedMessage) -> None:
        """Queue one message (bounded); send what the socket takes."""
        if self._stopped:
            return
        if self._want_keyframe:
            if not (message.is_video and message.is_keyframe and not message.is_sequence_header):
                if not message.is_sequence_header:
                    self.status.dropped += 1
                    return
            else:
                self._want_keyframe = False
        size = len(message.payload)
        queue = self._queue
        too_long = (
            self._max_duration > 0
            and bool(queue)
            and message.timestamp - queue[0].timestamp > self._max_duration
        )
        too_big = self._queued_bytes + size > self._max_bytes
        if too_long or too_big or len(queue) >= self._max_messages:
            self.status.dropped += len(self._queue)
            self.log.warn(
                "{kind} {url}: queue full ({count} messages, {size} bytes), dropped; "
                "going on at the next keyframe",
                kind=self.kind,
                url=self.status.url,
                count=len(self._queue),
                size=self._queued_bytes,
                cid=self.cid,
            )
            self._queue.clear()
            self._queued_bytes = 0
            self._want_keyframe = True
            self.status.dropped += 1
            return
        self._queue.append(message)
        self._queued_bytes += size
        self._pump()

    @property
    def queued(self) -> tuple[int, int]:
        """How many messages and bytes wait."""
        return len(self._queue), self._queued_bytes

    def _pump(self) -> None:
        client = self._client
        if not self._publishing or client is None or self._sending:
            return
        self._sending = True
        try:
            while self._queue and client.writable:
                message = self._queue.popleft()
                self._queued_bytes -= len(message.payload)
                self._send(client, message)
            if self._queue and client.is_open and not self._waiting:
                # One waiter at a time, however many messages arrive meanwhile.
                self._waiting = True
                client.wait_writable().addBoth(self._writable_again)
        except Exception as e:  # a lost connection mid-send: the retry path
            self.log.warn(
                "{kind} {url}: send failed: {error}",
                kind=self.kind, url=self.status.url, error=e, cid=self.cid,
            )
        finally:
            self._sending = False

    def _writable_again(self, result: object) -> None:
        self._waiting = False
        if not isinstance(result, Failure):
            self._pump()

    def _send(self, client: RtmpClientProtocol, message: SharedMessage) -> None:
        client.send_message(message.message_type_id, message.timestamp, message.payload)
        self.status.messages_sent += 1
        self.status.bytes_sent = client.bytes_sent

    # -- connecting --------------------------------------------------------

    def _url(self, target: Destination) -> str:
        return f"rtmp://{target.endpoint}/{target.app or self._app}/{self._stream}"

    def _attempt_now(self) -> None:
        self._retry = None
        if self._stopped:
            return
        target = self._targets[self._next_target % len(self._targets)]
        self._next_target += 1
        self._target = target
        self.status.url = self._url(target)
        self.status.state = "connecting"
        url = self._url(target)
        # The client parses the stream from the URL; the query goes with
        # the published name, as SRS appends the publisher's param.
        name = self._stream
        attempt = self._connect(
            self._reactor,
            url.split("?", 1)[0] if "?" in self._stream else url,
            timeout=CONNECT_TIMEOUT,
            tc_url=self._tc_url_for(target),
            args=self._args(target),
            page_url=self._page_url,
            swf_url=self._swf_url,
        )
        self._attempt = attempt

        def connected(client: RtmpClientProtocol) -> defer.Deferred[None]:
            self._client = client
            client.wait_closed().addCallback(lambda _: self._lost(client))
            return client.publish(name, timeout=CONNECT_TIMEOUT * 2)

        def published(_: object) -> None:
            self._attempt = None
            client = self._client
            if self._stopped or client is None:
                return
            self._backoff.reset()
            self._publishing = True
            self.status.state = "publishing"
            self.status.connected_since = self._reactor.seconds()
            self.status.last_error = ""
            self.log.info(
                "{kind} {url}: publishing", kind=self.kind, url=url, cid=self.cid
            )
            # SRS #150: headers first after every (re)connect.
            for message in self._headers():
                self._send(client, message)
            if self._on_published is not None:
                self._on_published(None)
            self._pump()

        def failed(failure: Failure) -> None:
            self._attempt = None
            if self._stopped:
                return
            self.status.last_error = failure.getErrorMessage()
            if self._on_published is not None:
                self._on_published(failure.value)  # type: ignore[arg-type]
            client = self._client
            if client is not None and client.is_open:
                client._abort(f"{self.kind} failed")
                return  # _lost schedules the retry
            self._client = None
            self._schedule_retry(failure.getErrorMessage())

        attempt.addCallback(connected).addCallbacks(published, failed)

    def _lost(self, client: RtmpClientProtocol) -> None:
        if client is not self._client:
            return
        self._client = None
        was_publishing = self._publishing
        self._publishing = False
        self.status.connected_since = None
        if self._stopped:
            return
        why = self.status.last_error or "the connection closed"
        if was_publishing:
            why = "the connection closed"
            self.status.last_error = why
        self._schedule_retry(why)

    def _retry_line(self, why: str, delay: float) -> None:
        self.log.warn(
            "{kind} {url}: {why}; retry in {delay:g}s",
            kind=self.kind,
            url=self.status.url,
            why=why,
            delay=delay,
            cid=self.cid,
        )

    def stop(self, reason: str = "unpublish") -> None:
        """Stop for good: close the connection, forget the queue."""
        if self._stopped:
            return
        client = self._halt()
        self._publishing = False
        if client is not None:
            client.close()
        self._queue.clear()
        self._queued_bytes = 0
        self.log.info("{kind} {url}: stopped ({reason})", kind=self.kind,
                      url=self.status.url, reason=reason, cid=self.cid)


def forward_tc_url(request: StreamRequest, vhost: VhostConfig, target: Destination) -> str:
    """
    The tcUrl a forwarder sends: the publisher's own (SRS 2.0), unless the
    destination names a vhost or app, then one generated for them.
    """
    if target.vhost is None and target.app is None and request.tc_url:
        return request.tc_url
    name = target.vhost or vhost.name
    app = target.app or request.app
    return generate_tc_url(target.host, name, app, target.port)


@implementer(IStreamConsumer)
class ForwardOutput:
    """
    The forward of one publish: a consumer of the source that hands every
    message to each destination's :class:`UpstreamPusher`.
    """

    replay = Replay.NOTHING
    sharing_key = None

    @staticmethod
    def reload_key(vhost: VhostConfig) -> tuple[str, ...]:
        """A reload restarts the forwards of a stream only if ``forward`` changed."""
        return vhost.forward

    def __init__(
        self,
        source: Any,
        pushers: list[UpstreamPusher],
        on_close: Callable[[ForwardOutput], None] = lambda output: None,
    ) -> None:
        self.source = source
        self.cid = source.cid
        self.pushers = pushers
        self._on_close = on_close
        self.closed = False

    def deliver(self, message: SharedMessage) -> None:
        for pusher in self.pushers:
            pusher.deliver(message)

    def publisher_changed(self, publishing: bool) -> None:
        # Forwarders stop at unpublish (SrsSource::on_unpublish); the next
        # publish makes new ones.
        if not publishing:
            self.close("unpublish")

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for pusher in self.pushers:
            pusher.stop(reason)
        self._on_close(self)


class ForwardService:
    """
    Makes the forwards of each publish and keeps them for the API
    (:meth:`forwards`).  It is no child of the service tree: a forward is a
    consumer of its source, and ends when the source does (unpublish, or
    the hub's stop closing every source at shutdown).
    """

    log = Logger()

    def __init__(self, reactor: Any, *, connect: Connector = connect_rtmp) -> None:
        self._reactor = reactor
        self._connect = connect
        self.outputs: dict[tuple[str, str, str], ForwardOutput] = {}

    def output_for(self, source: Any, request: StreamRequest) -> ForwardOutput | None:
        """
        The forward of ``source`` now that ``request`` publishes it; ``None``
        when its vhost forwards nowhere, or is an edge (SRS forwards from
        origins only).  A destination that is this stream's own endpoint
        (a loop, SRS's ``ERROR_SYSTEM_FORWARD_LOOP``) is skipped with one
        log line; SRS 2.0 refuses the publish instead.
        """
        vhost: VhostConfig = source.vhost
        previous = self.outputs.pop(source.key, None)
        if previous is not None:
            previous.close("restarted")
        if not vhost.forward or vhost.is_edge:
            return None
        pushers: list[UpstreamPusher] = []
        own = _own_endpoint(request)
        for text in vhost.forward:
            try:
                target = parse_destination(text)
            except ValueError as e:
                self.log.error("forward of {url}: {error}", url=source.url, error=e, cid=source.cid)
                continue
            if own is not None and own == (target.host, target.port) and target.vhost in (
                None,
                vhost.name,
            ):
                self.log.error(
                    "forward of {url} to {target} skipped: it is this stream's own server (loop)",
                    url=source.url,
                    target=text,
                    cid=source.cid,
                )
                continue
            debug = vhost.debug_srs_upnode
            pusher = UpstreamPusher(
                self._reactor,
                [target],
                request.app,
                source.stream + request.param,
                tc_url_for=lambda t, v=vhost: forward_tc_url(request, v, t),
                headers=source.header_messages,
                args=lambda t, debug=debug: upnode_args(source.cid) if debug else None,
                page_url=request.page_url,
                swf_url=request.swf_url,
                kind="forward",
                connect=self._connect,
                queue_length=vhost.queue_length,
            )
            pushers.append(pusher)
        if not pushers:
            return None
        output = ForwardOutput(source, pushers, self._forget)
        self.outputs[source.key] = output
        for pusher in pushers:
            pusher.start()
        return output

    def _forget(self, output: ForwardOutput) -> None:
        if self.outputs.get(output.source.key) is output:
            del self.outputs[output.source.key]

    def forwards(self) -> list[dict[str, Any]]:
        """Each live forward destination, for ``/api/v1/forwards``."""
        found = []
        for (vhost, app, stream), output in sorted(self.outputs.items()):
            for pusher in output.pushers:
                if pusher.status.state == "stopped":
                    continue
                found.append(_describe(vhost, app, stream, pusher))
        return found

    def close_all(self, reason: str) -> None:
        """Stop every forward (the sources close them at shutdown anyway)."""
        for output in list(self.outputs.values()):
            output.close(reason)


def _describe(vhost: str, app: str, stream: str, pusher: Any) -> dict[str, Any]:
    """One upstream for the API: an :class:`UpstreamPusher` or an edge pull."""
    status = pusher.status
    count, size = pusher.queued
    return {
        "kind": pusher.kind,
        "vhost": vhost,
        "app": app,
        "stream": stream,
        "cid": pusher.cid,
        "url": status.url,
        "state": status.state,
        "connected_since": status.connected_since,
        "bytes_sent": status.bytes_sent,
        "messages_sent": status.messages_sent,
        "dropped": status.dropped,
        "retries": status.retries,
        "queued_messages": count,
        "queued_bytes": size,
        "last_error": status.last_error,
    }


def _own_endpoint(request: StreamRequest) -> tuple[str, int] | None:
    """The host and port of the publisher's tcUrl (for the loop check)."""
    tc_url = request.tc_url
    if not tc_url.startswith("rtmp://"):
        return None
    hostport = tc_url[len("rtmp://"):].split("/", 1)[0]
    host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        return None
    return host, int(port) if port else 1935

