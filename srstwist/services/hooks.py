# -*- test-case-name: tests.test_hooks -*-
"""
:class:`HookClient`: sends SRS's HTTP callbacks with treq.

The bodies and the accept/reject rule are pure (:mod:`srstwist.codec.hooks`);
this is only the transport.  The HTTP client is injected so tests run it
over ``treq.testing.StubTreq``, and the client owns its connection pool so
that stopping the service closes every socket it opened (trial's
dirty-reactor check, and a clean shutdown).

Every call is bounded as a whole, POST and body read together, by
``Deferred.addTimeout`` on the injected reactor: treq's own ``timeout=``
stops at the response headers, so a hook server that stalls mid-body would
otherwise hold a client forever.  Bodies are read up to a limit, never
whole.

Deviations from SRS, on purpose:

* The configured URL is requested as written, query string included; SRS
  drops the query of POST hooks and of the heartbeat.
* Connections are kept alive in the pool between calls; SRS opens one per
  call.  A hook server may close a kept connection after any answer
  (HTTP/1.0 servers such as Python's ``http.server``, proxies with
  keep-alive off), and the next call may go out on it before the close is
  seen; Twisted's pool retries only idempotent methods, so a call that
  fails because its connection closed before any answer came back
  (:func:`_closed_before_answer`) is sent once more on a fresh, unpooled
  connection (issue 15).  A server that is really down still fails the
  call at once: a refused connection is not retried.
* HTTPS URLs work when Twisted's TLS support is installed; SRS sends plain
  HTTP to port 80.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.application import service
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, succeed
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._newclient import RequestNotSent
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from zope.interface import implementer

from srstwist.codec.hooks import (
    ERROR_HTTP_DATA_INVALID,
    ERROR_SOCKET_TIMEOUT,
    ERROR_ST_CONNECT,
    MAX_RESPONSE_BYTES,
    NOTIFY_TIMEOUT,
    POST_TIMEOUT,
    STOP_ON_FAILURE,
    USER_AGENT,
    HookRejected,
    encode_payload,
    hls_notify_url,
    judge_hook_response,
)
from srstwist.interfaces import IHookClient

__all__ = ["HookClient"]


class _BodyReader(TwistedProtocol):
    """
    Collects a response body up to ``limit`` bytes.

    Past the limit it either stops with what it has (``truncate``: the
    ``on_hls_notify`` read) or fails with :class:`_TooLong`; either way it
    drops the connection so the server stops sending.
    """

    def __init__(self, limit: int, truncate: bool) -> None:
        self.done: Deferred[bytes] = Deferred(self._cancel)
        self._limit = limit
        self._truncate = truncate
        self._parts: list[bytes] = []
        self._size = 0

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        room = self._limit - self._size
        if len(data) <= room:
            self._parts.append(data)
            self._size += len(data)
            if not self._truncate or self._size < self._limit:
                return
        elif self._truncate:
            self._parts.append(data[:room])
        if self._truncate:
            self.done.callback(b"".join(self._parts))
        else:
            self.done.errback(_TooLong(f"answer longer than {self._limit} bytes"))
        _stop(self.transport)

    def _cancel(self, _: Deferred[bytes]) -> None:
        """Cancelled mid-body (a timeout): drop the connection."""
        _stop(self.transport)

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:  # noqa: B008
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self._parts))
        else:
            self.done.errback(reason)


def _timed_out(result: Any, timeout: float) -> Failure:
    """The result of a request cancelled by its timeout, whatever it was."""
    return Failure(TimeoutError(f"no answer within {timeout:g} s"))


def _stop(transport: Any) -> None:
    """Stop a response body's producer, which drops its connection."""
    if transport is not None:
        transport.stopProducing()


class _TooLong(Exception):
    """A hook server's answer exceeded what we read."""


def _closed_before_answer(error: BaseException) -> bool:
    """
    Whether a request failed because its connection closed before any
    answer: not sent (``RequestNotSent``), or failed in sending or before
    the response (``RequestTransmissionFailed``, ``ResponseNeverReceived``)
    with only ``ConnectionDone``/``ConnectionLost`` as reasons; never a
    cancel (a timeout) or an abort of ours.  This is what a kept connection
    the server closed looks like (Twisted's ``_RetryingHTTP11ClientProtocol``
    uses the same classes, for idempotent methods only).
    """
    if isinstance(error, RequestNotSent):
        return True
    if not isinstance(error, (RequestTransmissionFailed, ResponseNeverReceived)):
        return False
    reasons = error.reasons
    return bool(reasons) and all(
        isinstance(reason, Failure)
        and reason.check(ConnectionDone, ConnectionLost) is not None
        and reason.check(ConnectionAborted, CancelledError) is None
        for reason in reasons
    )


@implementer(IHookClient)
class HookClient(service.Service):
    """
    ``IHookClient`` over an injected treq HTTP client; as a service, it
    closes its pool when stopped.

    :param reactor: the clock for timeouts (and, when ``http_client`` is
        not given, the reactor the default agent connects with).
    :param http_client: a ``treq.client.HTTPClient``, or anything with its
        ``request(method, url, **kwargs)`` (``treq.testing.StubTreq`` in
        tests); by default one over ``Agent(reactor, pool=pool)``.
    :param pool: the connection pool :meth:`close` closes; made here when
        neither it nor ``http_client`` is given.
    :param fresh_client: what a call whose kept connection closed before
        the answer is sent again with, once; by default a client over a
        pool that keeps no connection (with an injected ``http_client``,
        that same client).
    :param timeout: seconds a POST may take, request to last body byte.
    :param notify_timeout: seconds an ``on_hls_notify`` GET may take.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        http_client: Any = None,
        pool: HTTPConnectionPool | None = None,
        timeout: float = POST_TIMEOUT,
        notify_timeout: float = NOTIFY_TIMEOUT,
        fresh_client: Any = None,
    ) -> None:
        self._clock: IReactorTime = reactor
        if http_client is None:
            from treq.client import HTTPClient

            if pool is None:
                pool = HTTPConnectionPool(reactor, persistent=True)
            http_client = HTTPClient(Agent(reactor, pool=pool))
            if fresh_client is None:
                fresh_pool = HTTPConnectionPool(reactor, persistent=False)
                fresh_client = HTTPClient(Agent(reactor, pool=fresh_pool))
        self.http_client: Any = http_client
        self.fresh_client: Any = fresh_client if fresh_client is not None else http_client
        self._pool = pool
        self.timeout = timeout
        self.notify_timeout = notify_timeout

    # -- transport -------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        *,
        timeout: float,
        limit: int = MAX_RESPONSE_BYTES,
        truncate: bool = False,
    ) -> Deferred[tuple[int, bytes]]:
        """
        One HTTP request, bounded as a whole by ``timeout``.

        :param body: the JSON body of a POST, or ``None`` for a GET (sent
            with ``Content-Length: 0``, as SRS does).
        :param limit: the most bytes of the answer read.
        :param truncate: past ``limit``, keep what was read instead of
            failing.
        :return: fires with ``(status, body)``; fails with the transport's
            error, ``TimeoutError``, or :class:`_TooLong`.
        """
        headers = {"User-Agent": [USER_AGENT], "Content-Type": ["application/json"]}

        def send(client: Any) -> Deferred[Any]:
            sent: Deferred[Any] = client.request(
                method,
                url,
                data=body if body is not None else b"",
                headers=headers,
                allow_redirects=False,
                unbuffered=True,
            )
            return sent

        def again(failure: Failure) -> Any:
            # Once, before any answer: a kept connection the server had
            # closed.  Within the one timeout below.
            if not _closed_before_answer(failure.value):
                return failure
            self.log.info(
                "http hook connection to {url} closed before the answer ({reason}); "
                "sending again on a new connection",
                url=url, reason=_describe(failure.value),
            )  # fmt: skip
            return send(self.fresh_client)

        requested = send(self.http_client).addErrback(again)

        def read(response: Any) -> Deferred[tuple[int, bytes]]:
            reader = _BodyReader(limit, truncate)
            response.deliverBody(reader)
            return reader.done.addCallback(lambda data: (response.code, data))

        whole = requested.addCallback(read)
        # Cancelled before the headers, the agent fails with its own
        # ResponseNeverReceived wrapping the cancel; a timeout is a timeout
        # whatever the cancel turned into.
        whole.addTimeout(timeout, self._clock, onTimeoutCancel=_timed_out)
        return whole

    def post_json(
        self, url: str, payload: Mapping[str, Any], *, timeout: float | None = None
    ) -> Deferred[tuple[int, bytes]]:
        """POST ``payload`` as compact JSON; see :meth:`request`."""
        return self.request(
            "POST", url, encode_payload(payload),
            timeout=self.timeout if timeout is None else timeout,
        )  # fmt: skip

    async def _call(self, event: str, url: str, payload: Mapping[str, Any], cid: int) -> None:
        """One POST hook; raises :class:`HookRejected` unless it accepts."""
        try:
            status, body = await self.post_json(url, payload)
        except TimeoutError:
            raise HookRejected(
                url, f"no answer within {self.timeout:g} s", ERROR_SOCKET_TIMEOUT
            ) from None
        except CancelledError:
            raise
        except _TooLong as e:
            raise HookRejected(url, str(e), ERROR_HTTP_DATA_INVALID) from None
        except Exception as e:
            raise HookRejected(url, _describe(e), ERROR_ST_CONNECT) from None
        code = judge_hook_response(status, body)
        if code:
            raise HookRejected(url, f"status={status} body={body[:200]!r}", code)
        self.log.info(
            "http hook {event} ok, url={url}, status={status}, body={body!r}",
            event=event, url=url, status=status, body=body[:200], cid=cid,
        )  # fmt: skip

    # -- IHookClient -----------------------------------------------------------

    def admit(
        self, event: str, urls: Sequence[str], payload: Mapping[str, Any], cid: int
    ) -> Deferred[None]:
        """``IHookClient`` API."""

        async def run() -> None:
            for url in urls:
                try:
                    await self._call(event, url, payload, cid)
                except HookRejected as e:
                    self.log.warn(
                        "http hook {event} rejected, url={url}: {reason}",
                        event=event, url=url, reason=e.reason, errno=e.code, cid=cid,
                    )  # fmt: skip
                    raise

        return Deferred.fromCoroutine(run())

    def notify(
        self, event: str, urls: Sequence[str], payload: Mapping[str, Any], cid: int
    ) -> Deferred[None]:
        """``IHookClient`` API."""
        stop_on_failure = event in STOP_ON_FAILURE

        async def run() -> None:
            for url in urls:
                try:
                    await self._call(event, url, payload, cid)
                except HookRejected as e:
                    self.log.warn(
                        "http hook {event} failed, url={url}: {reason}",
                        event=event, url=url, reason=e.reason, errno=e.code, cid=cid,
                    )  # fmt: skip
                    if stop_on_failure:
                        return
                except CancelledError:
                    return
                except Exception:
                    self.log.failure("http hook {event} url={url}", event=event, url=url, cid=cid)
                    if stop_on_failure:
                        return

        return Deferred.fromCoroutine(run())

    def notify_hls(
        self,
        urls: Sequence[str],
        app: str,
        stream: str,
        ts_url: str,
        param: str,
        nb_notify: int,
        cid: int,
    ) -> Deferred[None]:
        """``IHookClient`` API."""

        async def run() -> None:
            for template in urls:
                url = hls_notify_url(template, app, stream, ts_url, param)
                try:
                    status, body = await self.request(
                        "GET", url, None, timeout=self.notify_timeout,
                        limit=max(0, nb_notify), truncate=True,
                    )  # fmt: skip
                except CancelledError:
                    return
                except Exception as e:
                    reason = (
                        f"no answer within {self.notify_timeout:g} s"
                        if isinstance(e, TimeoutError)
                        else _describe(e)
                    )
                    self.log.warn(
                        "http hook on_hls_notify failed, url={url}: {reason}",
                        url=url, reason=reason, errno=ERROR_ST_CONNECT, cid=cid,
                    )  # fmt: skip
                    return
                self.log.info(
                    "http hook on_hls_notify ok, url={url}, status={status}, read={read}",
                    url=url, status=status, read=len(body), cid=cid,
                )  # fmt: skip

        return Deferred.fromCoroutine(run())

    def stopService(self) -> Deferred[None]:
        """Stop, closing the pool; the Deferred fires when its connections are closed."""
        super().stopService()
        return self.close()

    def close(self) -> Deferred[None]:
        """``IHookClient`` API."""
        if self._pool is None:
            return succeed(None)
        return self._pool.closeCachedConnections()


def _describe(error: BaseException) -> str:
    """A short description of a transport error (treq wraps them in lists)."""
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(
            f"{type(r.value).__name__}: {r.getErrorMessage()}"
            if isinstance(r, Failure)
            else repr(r)
            for r in reasons
        )
    return f"{type(error).__name__}: {error}"
