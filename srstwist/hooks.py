# -*- test-case-name: tests.test_hooks -*-
"""
SRS's HTTP callbacks (reference ``config-api-hooks.md`` §4): the JSON each
event POSTs, the rule that turns the hook server's answer into accept or
reject, and :class:`HookClient`, which sends them with treq.

The rule is a pure function, :func:`hook_verdict` (with
:func:`judge_hook_response` naming the SRS error code of a rejection),
because it is the part worth a table of tests; treq is only the transport.
The HTTP client is injected so tests run it over ``treq.testing.StubTreq``,
and the client owns its connection pool so that stopping the service closes
every socket it opened (trial's dirty-reactor check, and a clean shutdown).

Every call is bounded as a whole, POST and body read together, by
``Deferred.addTimeout`` on the injected reactor: treq's own ``timeout=``
stops at the response headers, so a hook server that stalls mid-body would
otherwise hold a client forever.  Bodies are read up to a limit, never
whole.

Deviations from SRS, on purpose:

* The configured URL is requested as written, query string included; SRS
  drops the query of POST hooks and the heartbeat (**Bug** in §4.1).
* Connections are kept alive in the pool between calls; SRS opens one per
  call.
* HTTPS URLs work when Twisted's TLS support is installed; SRS sends plain
  HTTP to port 80.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.application import service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    TimeoutError,
    succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from zope.interface import Interface, implementer

from srstwist import SRS_COMPAT_VERSION, __version__

__all__ = [
    "ERROR_SOCKET_TIMEOUT",
    "ERROR_ST_CONNECT",
    "ERROR_HTTP_DATA_INVALID",
    "ERROR_RESPONSE_CODE",
    "ERROR_HTTP_STATUS_INVALID",
    "POST_TIMEOUT",
    "NOTIFY_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "HookRejected",
    "judge_hook_response",
    "hook_verdict",
    "encode_payload",
    "hook_param",
    "on_connect_payload",
    "on_close_payload",
    "on_publish_payload",
    "on_unpublish_payload",
    "on_play_payload",
    "on_stop_payload",
    "on_dvr_payload",
    "on_hls_payload",
    "hls_notify_url",
    "IHookClient",
    "HookClient",
]

#: SRS error codes a failed hook is logged with (§4.2, §7).
ERROR_SOCKET_TIMEOUT = 1011
ERROR_ST_CONNECT = 1018
ERROR_HTTP_DATA_INVALID = 3008
ERROR_RESPONSE_CODE = 3064
ERROR_HTTP_STATUS_INVALID = 4005

#: Seconds a POST hook (or heartbeat) may take, request to last body byte;
#: SRS allows 30 s for each of connect, send and receive.
POST_TIMEOUT = 30.0
#: Seconds an ``on_hls_notify`` GET may take (SRS: 10 s).
NOTIFY_TIMEOUT = 10.0
#: The most of a hook server's answer we read; a longer answer rejects.
MAX_RESPONSE_BYTES = 64 * 1024

#: SRS's User-Agent, which hook servers may look for, then ours.
USER_AGENT = f"SRS(Simple RTMP Server){SRS_COMPAT_VERSION} srstwist/{__version__}"

# Events whose first failing URL stops the rest (§4.1); the other
# notifications call every URL whatever happens.
_STOP_ON_FAILURE = frozenset({"on_dvr", "on_hls", "on_hls_notify"})


class HookRejected(Exception):
    """
    A hook server refused, or could not be asked.

    :ivar url: the URL that failed.
    :ivar reason: what went wrong, for the log.
    :ivar code: the SRS error code SRS would log (:data:`ERROR_ST_CONNECT`,
        :data:`ERROR_SOCKET_TIMEOUT`, :data:`ERROR_HTTP_STATUS_INVALID`,
        :data:`ERROR_HTTP_DATA_INVALID` or :data:`ERROR_RESPONSE_CODE`).
    """

    def __init__(self, url: str, reason: str, code: int = ERROR_ST_CONNECT) -> None:
        super().__init__(url, reason, code)
        self.url = url
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"hook {self.url} failed: {self.reason} (code {self.code})"


def judge_hook_response(status: int, body: bytes) -> int:
    """
    SRS's judgement of a POST hook's answer (§4.2): 0 to accept, else the
    error code of the rejection.

    Accepted are status 200 with the body exactly ``0``, or with a JSON
    object whose ``code`` is the integer 0 (other members ignored).
    """
    if status != 200:
        return ERROR_HTTP_STATUS_INVALID
    if not body:
        return ERROR_HTTP_DATA_INVALID
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ERROR_HTTP_DATA_INVALID
    if not isinstance(value, dict):
        return 0 if body == b"0" else ERROR_HTTP_DATA_INVALID
    code = value.get("code")
    # JSON true is a Python int; SRS wants a JSON integer.
    if not isinstance(code, int) or isinstance(code, bool) or code != 0:
        return ERROR_RESPONSE_CODE
    return 0


def hook_verdict(status: int, body: bytes) -> bool:
    """Whether a POST hook's answer accepts the client (see :func:`judge_hook_response`)."""
    return judge_hook_response(status, body) == 0


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """A hook body: compact JSON, keys in the order given (§4.1)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- payloads (§4.3; keys in SRS's emission order) ---------------------------


def on_connect_payload(
    client_id: int, ip: str, vhost: str, app: str, tc_url: str, page_url: str
) -> dict[str, Any]:
    """The ``on_connect`` body."""
    return {
        "action": "on_connect",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "tcUrl": tc_url,
        "pageUrl": page_url,
    }


def on_close_payload(
    client_id: int, ip: str, vhost: str, app: str, send_bytes: int, recv_bytes: int
) -> dict[str, Any]:
    """The ``on_close`` body (SRS puts ``app`` last)."""
    return {
        "action": "on_close",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "send_bytes": send_bytes,
        "recv_bytes": recv_bytes,
        "app": app,
    }


def hook_param(param: str) -> str:
    """
    The ``param`` field: a query string with its leading ``?`` (§4.3), or
    ``""``.  HTTP players hand over the raw query of their URL, which has
    no ``?``; RTMP's already has one.
    """
    return param if not param or param.startswith("?") else "?" + param


def on_publish_payload(
    client_id: int, ip: str, vhost: str, app: str, tc_url: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_publish`` body."""
    return {
        "action": "on_publish",
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "tcUrl": tc_url,
        "stream": stream,
        "param": hook_param(param),
    }


def _stream_payload(
    action: str, client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    return {
        "action": action,
        "client_id": client_id,
        "ip": ip,
        "vhost": vhost,
        "app": app,
        "stream": stream,
        "param": hook_param(param),
    }


def on_unpublish_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_unpublish`` body."""
    return _stream_payload("on_unpublish", client_id, ip, vhost, app, stream, param)


def on_play_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str, page_url: str
) -> dict[str, Any]:
    """The ``on_play`` body (RTMP and HTTP live players)."""
    payload = _stream_payload("on_play", client_id, ip, vhost, app, stream, param)
    payload["pageUrl"] = page_url
    return payload


def on_stop_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str
) -> dict[str, Any]:
    """The ``on_stop`` body."""
    return _stream_payload("on_stop", client_id, ip, vhost, app, stream, param)


def on_dvr_payload(
    client_id: int, ip: str, vhost: str, app: str, stream: str, param: str, cwd: str, file: str
) -> dict[str, Any]:
    """The ``on_dvr`` body, after a DVR file is finished."""
    payload = _stream_payload("on_dvr", client_id, ip, vhost, app, stream, param)
    payload["cwd"] = cwd
    payload["file"] = file
    return payload


def on_hls_payload(
    client_id: int,
    ip: str,
    vhost: str,
    app: str,
    stream: str,
    param: str,
    *,
    duration: float,
    cwd: str,
    file: str,
    url: str,
    m3u8: str,
    m3u8_url: str,
    seq_no: int,
) -> dict[str, Any]:
    """The ``on_hls`` body, after a TS segment is closed and kept."""
    payload = _stream_payload("on_hls", client_id, ip, vhost, app, stream, param)
    payload.update(
        duration=duration, cwd=cwd, file=file, url=url, m3u8=m3u8, m3u8_url=m3u8_url,
        seq_no=seq_no,
    )  # fmt: skip
    return payload


def hls_notify_url(template: str, app: str, stream: str, ts_url: str, param: str) -> str:
    """
    The URL ``on_hls_notify`` fetches (§4.4): the configured one, or the
    segment URI itself when that is absolute, with ``[app]``, ``[stream]``,
    ``[ts_url]`` and ``[param]`` replaced.
    """
    url = ts_url if ts_url.startswith(("http://", "https://")) else template
    for name, value in (("[app]", app), ("[stream]", stream), ("[ts_url]", ts_url),
                        ("[param]", param)):  # fmt: skip
        url = url.replace(name, value)
    return url


# -- the client ----------------------------------------------------------------


class IHookClient(Interface):
    """Sends the HTTP callbacks of §4 on behalf of connections and streams."""

    def admit(event: str, urls: Sequence[str], payload: Mapping[str, Any], cid: int) -> Deferred:
        """
        POST ``payload`` to each URL in order for a blocking event
        (``on_connect``, ``on_publish``, ``on_play``).

        :return: a Deferred that fires with ``None`` when every URL
            accepted, or fails with :class:`HookRejected` at the first that
            refused, failed or timed out (the rest are not called).
            Cancelling it abandons the call in progress.
        """

    def notify(event: str, urls: Sequence[str], payload: Mapping[str, Any], cid: int) -> Deferred:
        """
        POST ``payload`` to each URL for a notification; failures are
        logged.  ``on_dvr``/``on_hls`` stop at the first failing URL, the
        others call every URL.

        :return: a Deferred that fires with ``None`` when done; it never fails.
        """

    def notify_hls(
        urls: Sequence[str], app: str, stream: str, ts_url: str, param: str,
        nb_notify: int, cid: int,
    ) -> Deferred:  # fmt: skip
        """
        GET each ``on_hls_notify`` URL (see :func:`hls_notify_url`),
        reading at most ``nb_notify`` bytes; a failure is logged and skips
        the rest.

        :return: a Deferred that fires with ``None``; it never fails.
        """

    def close() -> Deferred:
        """Close every pooled connection; fires when they are closed."""


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
    ) -> None:
        self._clock: IReactorTime = reactor
        if http_client is None:
            from treq.client import HTTPClient

            if pool is None:
                pool = HTTPConnectionPool(reactor, persistent=True)
            http_client = HTTPClient(Agent(reactor, pool=pool))
        self.http_client: Any = http_client
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
        requested = self.http_client.request(
            method,
            url,
            data=body if body is not None else b"",
            headers=headers,
            allow_redirects=False,
            unbuffered=True,
        )

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
        stop_on_failure = event in _STOP_ON_FAILURE

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
