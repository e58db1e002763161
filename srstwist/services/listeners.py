# -*- test-case-name: tests.test_services_listeners -*-
"""
Listening sockets as services, with the bookkeeping Twisted leaves to us.

``StreamServerEndpointService`` stops listening but leaves accepted
connections open.  SRS closes a port's clients when a reload removes the
port, and everyone's at shutdown, so each :class:`ListenerService` wraps its
factory in a :class:`TrackingFactory` that knows its live connections, gives each
one a cid (the traceable-log id) and enforces the process-wide
``max_connections``.

:class:`ListenerGroup` owns every listener and applies a new configuration by
difference: ports that stay keep their connections, removed ports close
theirs, added ports bind.  A port that cannot be bound on reload is logged
and skipped; the server keeps running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress, IProtocolFactory
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

from srstwist.stream.socket_send import register_transparent_wrapper
from srstwist.tracelog import next_cid

__all__ = [
    "ConnectionLimit",
    "TrackingFactory",
    "ListenerService",
    "ListenerSpec",
    "ListenerGroup",
    "CLOSE_GRACE_SECONDS",
]

#: How long closing connections may take to flush before they are aborted.
CLOSE_GRACE_SECONDS = 2.0


class ConnectionLimit:
    """
    The process-wide connection count behind ``max_connections`` (SRS's
    ``SrsServer::accept_client``).

    One instance is shared by every listener so the cap covers RTMP, API and
    HTTP connections together, as in SRS.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.count = 0

    def try_acquire(self) -> bool:
        if self.count >= self.maximum:
            return False
        self.count += 1
        return True

    def release(self) -> None:
        self.count -= 1


@register_transparent_wrapper
class _TrackedProtocol(ProtocolWrapper):
    """
    A ProtocolWrapper that carries the connection's cid.  Its writes reach
    the transport unchanged, so players may send through it directly.
    """

    cid: int = 0
    #: Fired when the connection is gone, while :meth:`TrackingFactory.close_all` waits.
    closed: defer.Deferred[None] | None = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        if self.closed is not None and not self.closed.called:
            self.closed.callback(None)


class TrackingFactory(WrappingFactory):
    """
    Wraps a protocol factory to track, number and cap its connections.

    The wrapped protocol gets a ``cid`` attribute (set before
    ``connectionMade``) so its log lines and hooks carry the connection id.
    """

    protocol = _TrackedProtocol
    log = Logger()
    # Our own "listen ..." lines say what Twisted's "Starting factory" would.
    noisy = False

    def __init__(
        self, wrapped: IProtocolFactory, limit: ConnectionLimit, label: str
    ) -> None:
        super().__init__(wrapped)
        wrapped.noisy = False  # type: ignore[attr-defined]
        self.limit = limit
        self.label = label

    # Returning None refuses the connection (IProtocolFactory.buildProtocol),
    # which the narrower stub of WrappingFactory does not allow for.
    def buildProtocol(self, addr: IAddress | None) -> _TrackedProtocol | None:  # type: ignore[override]
        if not self.limit.try_acquire():
            self.log.warn(
                "{label} connection from {peer} refused: max_connections={maximum} reached",
                label=self.label,
                peer=addr,
                maximum=self.limit.maximum,
            )
            return None
        wrapper = super().buildProtocol(addr)
        if wrapper is None:
            self.limit.release()
            return None
        assert isinstance(wrapper, _TrackedProtocol)
        cid = next_cid()
        wrapper.cid = cid
        try:
            wrapper.wrappedProtocol.cid = cid  # type: ignore[attr-defined]
        except AttributeError:  # a protocol with __slots__ simply has none
            pass
        return wrapper

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        super().unregisterProtocol(p)
        self.limit.release()

    @property
    def connections(self) -> list[_TrackedProtocol]:
        """The connections open right now."""
        return list(self.protocols)

    def close_all(self, clock: object, grace: float = CLOSE_GRACE_SECONDS) -> defer.Deferred[None]:
        """
        Close every connection: flush politely, abort after ``grace``
        seconds (at once when ``grace`` is 0).

        :return: a Deferred that fires once every connection is gone.
        """
        open_now = self.connections
        if not open_now:
            return defer.succeed(None)
        waiters = []
        for wrapper in open_now:
            done: defer.Deferred[None] = defer.Deferred()
            wrapper.closed = done
            waiters.append(done)
            assert wrapper.transport is not None
            if grace <= 0:
                wrapper.transport.abortConnection()  # type: ignore[attr-defined]
            else:
                wrapper.transport.loseConnection()
        timer = clock.callLater(max(grace, 0), self._abort_all, open_now)  # type: ignore[attr-defined]
        gathered = defer.DeferredList(waiters)

        def cancel_timer(result: object) -> None:
            if timer.active():
                timer.cancel()

        gathered.addCallback(cancel_timer)
        return gathered  # type: ignore[return-value]

    def force_close(self, cid: int, reason: str) -> bool:
        """
        Close the connection ``cid`` at once, dropping what is queued for it:
        through the protocol's own ``close(reason)`` when it has one (an
        RTMP client says why in the log, and aborts), else by aborting its
        transport.  ``loseConnection`` would wait for a peer that stopped
        reading (and for a registered producer) for ever.

        :return: whether such a connection was found.
        """
        for wrapper in self.connections:
            if wrapper.cid != cid:
                continue
            close = getattr(wrapper.wrappedProtocol, "close", None)
            if callable(close):
                close(reason)
            elif wrapper.transport is not None:
                self.log.info("closing: {reason}", reason=reason, cid=cid)
                wrapper.transport.abortConnection()  # type: ignore[attr-defined]
            return True
        return False

    def _abort_all(self, wrappers: Iterable[ProtocolWrapper]) -> None:
        for wrapper in wrappers:
            if wrapper in self.protocols and wrapper.transport is not None:
                wrapper.transport.abortConnection()  # type: ignore[attr-defined]


class ListenerService(StreamServerEndpointService):
    """
    Listens on one endpoint; on stop also closes the connections it accepted.

    Binding errors raise from ``privilegedStartService`` (TCP endpoints fail
    synchronously), so twistd refuses to start on a busy port, as SRS exits,
    and a reload can catch the error.
    """

    _raiseSynchronously = True
    log = Logger()

    def __init__(
        self,
        description: str,
        factory: IProtocolFactory,
        reactor: object,
        limit: ConnectionLimit,
        label: str,
    ) -> None:
        self.tracking = TrackingFactory(factory, limit, label)
        super().__init__(serverFromString(reactor, description), self.tracking)
        self.description = description
        self.label = label
        self._reactor = reactor

    #: Seconds connections get to flush when the listener stops; a listener
    #: a reload removes closes its connections at once (0).
    grace = CLOSE_GRACE_SECONDS

    def stopService(self) -> defer.Deferred[None]:
        stopped = super().stopService()
        closed = self.tracking.close_all(self._reactor, self.grace)
        return defer.gatherResults([stopped, closed], consumeErrors=True).addCallback(
            lambda _: None
        )


class ListenerSpec:
    """
    What one listener should be: a kind (``rtmp``, ``http_api``, ...), an
    address and a factory maker.  Two specs are the same listener when kind
    and address match.
    """

    def __init__(
        self, kind: str, description: str, make_factory: Callable[[], IProtocolFactory]
    ) -> None:
        self.kind = kind
        self.description = description
        self.make_factory = make_factory

    @property
    def key(self) -> str:
        return f"{self.kind} {self.description}"


class ListenerGroup(service.MultiService):
    """
    Every listening socket of the server, reconfigured by difference.

    :param specs_for: turns a configuration into the list of :class:`ListenerSpec` objects
        it asks for.
    """

    log = Logger()

    def __init__(
        self,
        config: object,
        reactor: object,
        limit: ConnectionLimit,
        specs_for: Callable[[object], list[ListenerSpec]],
    ) -> None:
        super().__init__()
        self.setName("listeners")
        self._reactor = reactor
        self.limit = limit
        self._specs_for = specs_for
        for spec in specs_for(config):
            self._make(spec).setServiceParent(self)

    def _make(self, spec: ListenerSpec) -> ListenerService:
        listener = ListenerService(
            spec.description, spec.make_factory(), self._reactor, self.limit, spec.kind
        )
        listener.setName(spec.key)
        return listener

    def startService(self) -> None:
        super().startService()
        for listener in self:
            self.log.info("listen {kind} at {where}", kind=listener.label, where=listener.description)

    def kick(self, cid: int, reason: str = "kicked off") -> bool:
        """
        Close the connection ``cid`` on any listener at once (the API's
        DELETE), see :meth:`TrackingFactory.force_close`.

        :return: whether such a connection was found.
        """
        for listener in self:
            assert isinstance(listener, ListenerService)
            if listener.tracking.force_close(cid, reason):
                return True
        return False

    @defer.inlineCallbacks
    def reconfigure(self, config: object) -> defer.Generator[defer.Deferred[object], object, None]:
        """
        Bind what the new config adds, close what it removes, keep the rest.

        Removed listeners stop (and drop their connections) before new ones
        bind, so moving a port from one address to another works.
        """
        maximum = getattr(config, "max_connections", None)
        if maximum:
            self.limit.maximum = maximum
        wanted = {spec.key: spec for spec in self._specs_for(config)}
        current = {listener.name: listener for listener in list(self)}
        removed = [listener for key, listener in current.items() if key not in wanted]
        for listener in removed:
            self.log.info("close {kind} at {where} (removed by reload)", kind=listener.label, where=listener.description)
            listener.grace = 0
            yield defer.maybeDeferred(self.removeService, listener)
        for key, spec in wanted.items():
            if key in current:
                continue
            listener = self._make(spec)
            try:
                listener.setServiceParent(self)
            except Exception as e:
                self.log.error(
                    "cannot listen {kind} at {where}: {error}; kept running without it",
                    kind=spec.kind,
                    where=spec.description,
                    error=e,
                )
                yield defer.maybeDeferred(self.removeService, listener)
            else:
                self.log.info("listen {kind} at {where} (added by reload)", kind=spec.kind, where=spec.description)
