# -*- test-case-name: tests.test_tools_bench -*-
"""
srs-bench's run: start clients at a fixed rate, hold them, close them all,
and never wait for anything without a deadline.

:class:`BenchClient` is the lifecycle every load client shares (RTMP
players and publishers, HTTP players): a phase with a deadline, a
:class:`~srstwist.tools.bench.scan.MediaTally`, one
:class:`~srstwist.tools.bench.stats.ClientResult`, and exactly one end
(failed, or finished by the run).  :class:`Runner` drives them on any
``IReactorTime``, so tests run it on a ``Clock`` with in-memory transports.

Timeline: client ``i`` (0-based) starts at ``i / rate`` seconds; all are
closed ``hold`` seconds after the last one started, so a run takes
``(N - 1) / rate + hold`` seconds.  A sweep every half second fails clients
whose phase has outlived ``timeout``; a client that is still streaming is
failed as ``stalled`` when nothing arrived for ``timeout`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from srstwist.tools.bench.scan import MediaTally
from srstwist.tools.bench.stats import ClientResult

__all__ = ["BenchClient", "OneClientFactory", "Runner", "tcp_connector"]

#: How often deadlines are checked, seconds.
SWEEP_INTERVAL = 0.5
#: How often publishers send what has become due, seconds.
PACE_INTERVAL = 0.02
#: How long the end of a run waits for connections to close, seconds.
CLOSE_GRACE = 3.0

#: The phase a client is in when it is receiving or sending media.
STREAMING = "streaming"
# What a phase's deadline passing is reported as.
_TIMEOUT_REASONS = {
    "tcp": "connect timeout",
    "handshake": "handshake timeout",
    "connect": "rtmp connect timeout",
    "createStream": "createStream timeout",
    "play": "play timeout",
    "publish": "publish timeout",
    "http": "play timeout",
    STREAMING: "stalled",
}


def _ignore_client(client: BenchClient) -> None:
    pass


class BenchClient(Protocol):
    """
    One load client; subclasses speak the protocol.

    :param index: the client's number.
    :param stream: what it plays or publishes (for the report).
    :param clock: seconds, for every figure and deadline.
    :param timeout: seconds any one phase may take.
    """

    def __init__(self, index: int, stream: str, clock: IReactorTime, timeout: float) -> None:
        self.result = ClientResult(index, stream)
        self.clock = clock
        self.timeout = timeout
        self.tally = MediaTally(clock.seconds)
        self.phase = "tcp"
        self.deadline = float("inf")
        self.done = False
        self.closed = False
        self.connector: Any = None
        self._started_at = 0.0
        self._connected_at: float | None = None
        self._on_done: Callable[[BenchClient], None] = _ignore_client
        self._on_closed: Callable[[BenchClient], None] = _ignore_client

    # -- lifecycle, driven by the runner -------------------------------------

    def start(
        self,
        connect: Callable[[BenchClient], Any],
        on_done: Callable[[BenchClient], None] = _ignore_client,
        on_closed: Callable[[BenchClient], None] = _ignore_client,
    ) -> None:
        """
        Start the TCP connection with ``connect``.  ``on_done`` is called
        when the result is final, ``on_closed`` when the connection is gone.
        """
        self._on_done = on_done
        self._on_closed = on_closed
        self._started_at = self.clock.seconds()
        self.enter("tcp")
        self.connector = connect(self)

    def connect_failed(self, reason: Failure) -> None:
        """The TCP connection could not be made."""
        self._set_closed()
        if reason.check(error.ConnectionRefusedError):
            self._fail("refused", str(reason.value))
        elif reason.check(error.TimeoutError, error.UserError):
            self._fail("connect timeout", str(reason.value))
        else:
            self._fail("connect failed", str(reason.value))

    def check(self, now: float) -> None:
        """Fail the client if its phase has outlived its deadline."""
        if not self.done and now > self.deadline:
            reason = _TIMEOUT_REASONS.get(self.phase, f"{self.phase} timeout")
            self._fail(reason, f"{self.phase}: nothing for {self.timeout:g}s")

    def finish(self) -> None:
        """The run is over: record the client as it is and close it."""
        if self.done:
            return
        if not self.tally.messages:
            self._fail("no media", f"ended in phase {self.phase} without audio or video")
            return
        self.result.ok = True
        self._end()
        self._close(abort=False)

    # -- for subclasses -------------------------------------------------------

    def enter(self, phase: str) -> None:
        """Move to ``phase``; it has ``timeout`` seconds from now."""
        self.phase = phase
        self.deadline = self.clock.seconds() + self.timeout

    def elapsed_ms(self) -> float:
        """Milliseconds since the TCP connect started."""
        return (self.clock.seconds() - self._started_at) * 1000.0

    def _fail(self, reason: str, detail: str = "") -> None:
        if self.done:
            return
        self.result.reason = reason
        self.result.detail = detail[:300]
        self._end()
        self._close(abort=True)

    def _end(self) -> None:
        self.done = True
        now = self.clock.seconds()
        result = self.result
        tally = self.tally
        if self._connected_at is not None:
            result.duration_s = now - self._connected_at
        result.media_bytes = tally.media_bytes
        result.messages = tally.messages
        result.span_ms = tally.span_ms
        if tally.first_media_at is not None:
            result.media_wall_s = now - tally.first_media_at
        if tally.first_video_at is not None:
            result.first_video_ms = (tally.first_video_at - self._started_at) * 1000.0
        if tally.first_keyframe_at is not None:
            result.first_keyframe_ms = (tally.first_keyframe_at - self._started_at) * 1000.0
        self._on_done(self)

    def _close(self, abort: bool) -> None:
        if self.closed:
            return
        if self.transport is not None:
            if abort:
                self.transport.abortConnection()  # type: ignore[attr-defined]
            else:
                self.transport.loseConnection()
            return
        # Not connected (yet): stop connecting.
        connector, self.connector = self.connector, None
        self._set_closed()
        if connector is not None:
            try:
                connector.disconnect()
            except Exception:
                pass

    def _set_closed(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_closed(self)

    # -- Protocol ---------------------------------------------------------------

    def connectionMade(self) -> None:
        self._connected_at = self.clock.seconds()
        self.result.connect_ms = (self._connected_at - self._started_at) * 1000.0
        if self.done:
            # Finished while connecting.
            self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.done:
            self._fail("closed early", f"in phase {self.phase}: {reason.getErrorMessage()}")
        self._set_closed()


class OneClientFactory(ClientFactory):
    """Connects one :class:`BenchClient`, quietly."""

    noisy = False

    def __init__(self, client: BenchClient) -> None:
        self.client = client

    def buildProtocol(self, addr: Any) -> BenchClient:
        return self.client

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.client.connect_failed(reason)


def tcp_connector(
    reactor: Any, host: str, port: int, timeout: float
) -> Callable[[BenchClient], Any]:
    """A ``connect`` for :class:`Runner`: ``reactor.connectTCP`` with a timeout."""

    def connect(client: BenchClient) -> Any:
        return reactor.connectTCP(host, port, OneClientFactory(client), timeout=timeout)

    return connect


class Runner:
    """
    Ramp, hold and close one set of clients; see the module docstring.

    :param clock: the reactor's time (a ``Clock`` in tests).
    :param connect: starts a client's connection (:func:`tcp_connector`).
    :param make_client: builds client ``i``.
    :param indices: the clients this runner starts (a worker's share).
    :param total: N over all workers, which fixes the end of the run.
    :param rate: clients per second over all workers.
    :param hold: seconds after the last start until the end.
    :param pace: called every ``PACE_INTERVAL`` while clients run
        (publishers send what is due), or ``None``.
    """

    def __init__(
        self,
        clock: IReactorTime,
        connect: Callable[[BenchClient], Any],
        make_client: Callable[[int], BenchClient],
        indices: Iterable[int],
        *,
        total: int,
        rate: float,
        hold: float,
        pace: Callable[[Iterable[BenchClient], float], None] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.clock = clock
        self._connect = connect
        self._make_client = make_client
        self._pending = sorted(indices, reverse=True)
        self.planned = len(self._pending)
        self._total = total
        self._rate = rate
        self._hold = hold
        self._pace = pace
        self.clients: list[BenchClient] = []
        self.active: set[BenchClient] = set()
        self.interrupted = False
        self.started_at = 0.0
        self.ended_at = 0.0
        self._finished = False
        self._loops: list[LoopingCall] = []
        self._end_call: Any = None
        self._grace_call: Any = None
        self._done: defer.Deferred[list[ClientResult]] = defer.Deferred()

    @property
    def end_time(self) -> float:
        """When the run ends, on the clock."""
        return self.started_at + max(self._total - 1, 0) / self._rate + self._hold

    def run(self) -> defer.Deferred[list[ClientResult]]:
        """
        Start now.  The Deferred fires with the results of every client
        started, once all of them have closed (or ``CLOSE_GRACE`` after the
        end).
        """
        self.started_at = self.clock.seconds()
        self._end_call = self.clock.callLater(self.end_time - self.started_at, self.finish)
        self._loop(self._ramp, min(0.05, 1.0 / self._rate))
        self._loop(self._sweep, SWEEP_INTERVAL)
        if self._pace is not None:
            self._loop(self._run_pace, PACE_INTERVAL)
        return self._done

    def finish(self, interrupted: bool = False) -> None:
        """End the run now (Ctrl-C: ``interrupted``) and close every client."""
        if self._finished:
            return
        self._finished = True
        self.interrupted = interrupted
        self.ended_at = self.clock.seconds()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self._end_call is not None and self._end_call.active():
            self._end_call.cancel()
        for client in list(self.active):
            client.finish()
        self._grace_call = self.clock.callLater(CLOSE_GRACE, self._deliver)
        self._maybe_deliver()

    def deliver_now(self) -> None:
        """End the run (if not yet) and report without waiting for closes."""
        self.finish(interrupted=True)
        self._deliver()

    # -- internals ----------------------------------------------------------------

    def _loop(self, function: Callable[[], None], interval: float) -> None:
        loop = LoopingCall(function)
        loop.clock = self.clock
        self._loops.append(loop)
        loop.start(interval, now=True)

    def _ramp(self) -> None:
        due = (self.clock.seconds() - self.started_at) * self._rate
        pending = self._pending
        while pending and pending[-1] <= due and not self._finished:
            client = self._make_client(pending.pop())
            self.clients.append(client)
            self.active.add(client)
            client.start(self._connect, self._client_done, self._client_closed)

    def _sweep(self) -> None:
        now = self.clock.seconds()
        for client in list(self.active):
            client.check(now)

    def _run_pace(self) -> None:
        assert self._pace is not None
        self._pace(self.active, self.clock.seconds())

    def _client_done(self, client: BenchClient) -> None:
        self.active.discard(client)
        if not self._pending and not self.active and not self._finished:
            # Every client has started and ended (failed): nothing to hold.
            self.clock.callLater(0, self.finish)

    def _client_closed(self, client: BenchClient) -> None:
        if self._finished:
            self._maybe_deliver()

    def _maybe_deliver(self) -> None:
        if all(c.closed for c in self.clients):
            self._deliver()

    def _deliver(self) -> None:
        if self._done.called:
            return
        if self._grace_call is not None and self._grace_call.active():
            self._grace_call.cancel()
        self._done.callback([c.result for c in self.clients])
