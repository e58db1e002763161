"""
Tests for :mod:`srstwist.codec.hooks`: the accept/reject rule (SRS 2.0's
``SrsHttpHooks::do_post``), the payloads (``SrsHttpHooks::on_connect`` and
the others), the ``on_hls_notify`` URL (``SrsHttpHooks::on_hls_notify``),
and :class:`~srstwist.codec.hooks.HookClient` over ``treq.testing.StubTreq``
(ordered URLs, rejection, 500, garbage, a hanging server driven by a
``Clock``) and once over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from treq.testing import HasHeaders, RequestSequence, StringStubbingResource, StubTreq
from twisted.internet import reactor as _reactor
from twisted.internet.defer import CancelledError, Deferred, fail, inlineCallbacks, succeed
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.web._newclient import RequestNotSent, RequestTransmissionFailed
from twisted.web.client import ResponseDone, ResponseNeverReceived
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface.verify import verifyObject

from srstwist.interfaces import IHookClient
from srstwist.services.hooks import HookClient
from srstwist.codec.hooks import (
    ERROR_HTTP_DATA_INVALID,
    ERROR_HTTP_STATUS_INVALID,
    ERROR_RESPONSE_CODE,
    ERROR_SOCKET_TIMEOUT,
    ERROR_ST_CONNECT,
    HookRejected,
    encode_payload,
    hls_notify_url,
    hook_param,
    hook_verdict,
    judge_hook_response,
    on_close_payload,
    on_connect_payload,
    on_dvr_payload,
    on_hls_payload,
    on_play_payload,
    on_publish_payload,
    on_stop_payload,
    on_unpublish_payload,
)

reactor: Any = _reactor

_PUBLISH = on_publish_payload(
    107, "192.0.2.10", "__defaultVhost__", "live", "rtmp://192.0.2.1/live?token=abc",
    "livestream", "?token=abc",
)  # fmt: skip


class VerdictTests(SynchronousTestCase):
    """``hook_verdict`` and ``judge_hook_response`` over SRS's table."""

    TABLE = [
        (200, b"0", 0),
        (200, b'{"code":0}', 0),
        (200, b'{"code":0,"data":"whatever"}', 0),
        (200, b' {"code": 0}\n', 0),
        (200, b"", ERROR_HTTP_DATA_INVALID),
        (200, b"0\n", ERROR_HTTP_DATA_INVALID),
        (200, b"1", ERROR_HTTP_DATA_INVALID),
        (200, b'"0"', ERROR_HTTP_DATA_INVALID),
        (200, b"[0]", ERROR_HTTP_DATA_INVALID),
        (200, b"null", ERROR_HTTP_DATA_INVALID),
        (200, b"ok", ERROR_HTTP_DATA_INVALID),
        (200, b"\xff\xfe", ERROR_HTTP_DATA_INVALID),
        (200, b"{}", ERROR_RESPONSE_CODE),
        (200, b'{"code":"0"}', ERROR_RESPONSE_CODE),
        (200, b'{"code":0.0}', ERROR_RESPONSE_CODE),
        (200, b'{"code":false}', ERROR_RESPONSE_CODE),
        (200, b'{"code":1}', ERROR_RESPONSE_CODE),
        (200, b'{"code":-1}', ERROR_RESPONSE_CODE),
        (201, b"0", ERROR_HTTP_STATUS_INVALID),
        (302, b"0", ERROR_HTTP_STATUS_INVALID),
        (500, b'{"code":0}', ERROR_HTTP_STATUS_INVALID),
    ]

    def test_table(self) -> None:
        """Each answer is judged as SRS judges it."""
        for status, body, code in self.TABLE:
            self.assertEqual(judge_hook_response(status, body), code, (status, body))
            self.assertEqual(hook_verdict(status, body), code == 0, (status, body))


class PayloadTests(SynchronousTestCase):
    """The JSON bodies: fields and their order."""

    def test_on_publish_example(self) -> None:
        """An on_publish body as ``SrsHttpHooks::on_publish`` writes it, byte for byte."""
        self.assertEqual(
            encode_payload(_PUBLISH),
            b'{"action":"on_publish","client_id":107,"ip":"192.0.2.10",'
            b'"vhost":"__defaultVhost__","app":"live","tcUrl":"rtmp://192.0.2.1/live?token=abc",'
            b'"stream":"livestream","param":"?token=abc"}',
        )

    def test_field_orders(self) -> None:
        """Every event has SRS's fields in SRS's order."""
        common = ["action", "client_id", "ip", "vhost", "app"]
        stream = common + ["stream", "param"]
        cases: list[tuple[dict[str, Any], list[str]]] = [
            (on_connect_payload(1, "i", "v", "a", "t", "p"), common + ["tcUrl", "pageUrl"]),
            (on_close_payload(1, "i", "v", "a", 10, 20),
             ["action", "client_id", "ip", "vhost", "send_bytes", "recv_bytes", "app"]),
            (on_unpublish_payload(1, "i", "v", "a", "s", ""), stream),
            (on_play_payload(1, "i", "v", "a", "s", "", "pg"), stream + ["pageUrl"]),
            (on_stop_payload(1, "i", "v", "a", "s", ""), stream),
            (on_dvr_payload(1, "i", "v", "a", "s", "", "/w", "f.flv"), stream + ["cwd", "file"]),
            (on_hls_payload(1, "i", "v", "a", "s", "", duration=9.5, cwd="/w", file="f.ts",
                            url="a/f.ts", m3u8="./a/s.m3u8", m3u8_url="a/s.m3u8", seq_no=3),
             stream + ["duration", "cwd", "file", "url", "m3u8", "m3u8_url", "seq_no"]),
        ]  # fmt: skip
        for payload, keys in cases:
            self.assertEqual(list(payload), keys, payload["action"])
        self.assertEqual(
            [payload["action"] for payload, _ in cases],
            ["on_connect", "on_close", "on_unpublish", "on_play", "on_stop", "on_dvr", "on_hls"],
        )

    def test_param_has_its_question_mark(self) -> None:
        """
        ``param`` is the query with its ``?`` whoever builds the payload: an
        HTTP player's raw query (``token=abc``) gets one, RTMP's keeps its own.
        """
        self.assertEqual(hook_param(""), "")
        self.assertEqual(hook_param("?token=abc"), "?token=abc")
        self.assertEqual(hook_param("token=abc"), "?token=abc")
        for payload in (
            on_play_payload(1, "i", "v", "a", "s", "token=abc", ""),
            on_stop_payload(1, "i", "v", "a", "s", "token=abc"),
            on_unpublish_payload(1, "i", "v", "a", "s", "?token=abc"),
            on_publish_payload(1, "i", "v", "a", "t", "s", "token=abc"),
        ):
            self.assertEqual(payload["param"], "?token=abc", payload["action"])

    def test_strings_escaped(self) -> None:
        """Quotes in client-supplied strings give valid JSON (SRS's Bug is not kept)."""
        body = encode_payload(on_connect_payload(1, "i", "v", "a", 'rtmp://h/a"b', "x\\y"))
        self.assertEqual(json.loads(body)["tcUrl"], 'rtmp://h/a"b')

    def test_hls_notify_url(self) -> None:
        """Variables are replaced; an absolute segment URI replaces the template."""
        self.assertEqual(
            hls_notify_url("http://cdn/[app]/[stream]/[ts_url][param]", "live", "s", "s-1.ts",
                           "?k=v"),
            "http://cdn/live/s/s-1.ts?k=v",
        )  # fmt: skip
        self.assertEqual(
            hls_notify_url("http://cdn/[ts_url]", "live", "s", "http://edge/live/s-1.ts", ""),
            "http://edge/live/s-1.ts",
        )


def _client(resource: Resource, clock: Clock | None = None) -> tuple[HookClient, Clock, StubTreq]:
    clock = clock or Clock()
    stub = StubTreq(resource)
    return HookClient(clock, http_client=stub), clock, stub


class _Hanging(Resource):
    """Answers nothing, or headers and part of a body, and never finishes."""

    isLeaf = True

    def __init__(self, partial: bytes | None = None) -> None:
        super().__init__()
        self.requests: list[Any] = []
        self.partial = partial

    def render(self, request: Any) -> Any:
        self.requests.append(request)
        if self.partial is not None:
            request.setHeader(b"content-length", b"1000")
            request.write(self.partial)
        return NOT_DONE_YET


class _Endless(Resource):
    """Sends one large chunk of body and never finishes."""

    isLeaf = True

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def render(self, request: Any) -> Any:
        request.write(b"x" * self.size)
        return NOT_DONE_YET


class HookClientStubTests(SynchronousTestCase):
    """``HookClient`` over ``StubTreq``."""

    def sequence(self, responses: list[tuple[str, tuple[int, dict[str, Any], bytes]]]) -> Any:
        """A ``RequestSequence`` of POSTs of :data:`_PUBLISH` to the given URLs."""
        body = encode_payload(_PUBLISH)
        headers = HasHeaders({b"content-type": [b"application/json"]})
        return RequestSequence(
            [((b"post", url, {}, headers, body), response) for url, response in responses]
        )

    def test_interface(self) -> None:
        """``HookClient`` provides ``IHookClient``."""
        client, _, _ = _client(Resource())
        verifyObject(IHookClient, client)

    def test_admit_all_accept(self) -> None:
        """Every URL is POSTed in order with the JSON body, and the client is admitted."""
        seq = self.sequence([
            ("http://hooks.example/a/", (200, {}, b"0")),
            ("http://hooks.example/b/", (200, {}, b'{"code":0}')),
        ])  # fmt: skip
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.admit("on_publish",
                             ["http://hooks.example/a/", "http://hooks.example/b/"],
                             _PUBLISH, cid=107)  # fmt: skip
            self.assertIsNone(self.successResultOf(d))

    def test_admit_stops_at_first_rejection(self) -> None:
        """The first refusing URL rejects; later URLs are not called."""
        seq = self.sequence([
            ("http://hooks.example/a/", (200, {}, b'{"code":1}')),
        ])  # fmt: skip
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.admit("on_publish",
                             ["http://hooks.example/a/", "http://hooks.example/b/"],
                             _PUBLISH, cid=107)  # fmt: skip
            failure = self.failureResultOf(d, HookRejected)
        self.assertEqual(failure.value.url, "http://hooks.example/a/")
        self.assertEqual(failure.value.code, ERROR_RESPONSE_CODE)

    def test_admit_500(self) -> None:
        """A 500 rejects with 4005."""
        seq = self.sequence([("http://hooks.example/a/", (500, {}, b"0"))])
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.admit("on_publish", ["http://hooks.example/a/"], _PUBLISH, cid=107)
            self.assertEqual(self.failureResultOf(d, HookRejected).value.code,
                             ERROR_HTTP_STATUS_INVALID)  # fmt: skip

    def test_admit_garbage(self) -> None:
        """A body that is neither ``0`` nor JSON rejects with 3008."""
        seq = self.sequence([("http://hooks.example/a/", (200, {}, b"<html>ok</html>"))])
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.admit("on_publish", ["http://hooks.example/a/"], _PUBLISH, cid=107)
            self.assertEqual(self.failureResultOf(d, HookRejected).value.code,
                             ERROR_HTTP_DATA_INVALID)  # fmt: skip

    def test_admit_no_urls(self) -> None:
        """No URLs admits at once."""
        client, _, _ = _client(Resource())
        self.assertIsNone(self.successResultOf(client.admit("on_connect", [], {}, cid=1)))

    def test_admit_timeout(self) -> None:
        """A server that never answers rejects with 1011 once the timeout passes."""
        hanging = _Hanging()
        client, clock, _ = _client(hanging)
        d = client.admit("on_play", ["http://hooks.example/a"], _PUBLISH, cid=107)
        self.assertNoResult(d)
        self.assertEqual(len(hanging.requests), 1)
        clock.advance(29.9)
        self.assertNoResult(d)
        clock.advance(0.2)
        self.assertEqual(self.failureResultOf(d, HookRejected).value.code, ERROR_SOCKET_TIMEOUT)

    def test_admit_timeout_mid_body(self) -> None:
        """A server that stalls mid-body is covered by the same timeout."""
        hanging = _Hanging(partial=b'{"code"')
        client, clock, stub = _client(hanging)
        d = client.admit("on_play", ["http://hooks.example/a"], _PUBLISH, cid=107)
        stub.flush()
        self.assertNoResult(d)
        clock.advance(30)
        self.assertEqual(self.failureResultOf(d, HookRejected).value.code, ERROR_SOCKET_TIMEOUT)

    def test_admit_too_long(self) -> None:
        """An answer longer than the limit rejects with 3008 without reading it all."""
        client, _, stub = _client(_Endless(100_000))
        d = client.admit("on_play", ["http://hooks.example/a"], _PUBLISH, cid=107)
        stub.flush()
        self.assertEqual(self.failureResultOf(d, HookRejected).value.code,
                         ERROR_HTTP_DATA_INVALID)  # fmt: skip

    def test_admit_cancel(self) -> None:
        """Cancelling an admission in progress abandons it."""
        client, _, _ = _client(_Hanging())
        d = client.admit("on_play", ["http://hooks.example/a"], _PUBLISH, cid=107)
        d.cancel()
        self.failureResultOf(d)

    def test_notify_calls_every_url(self) -> None:
        """``on_stop`` calls every URL even after a failure, and never fails."""
        seq = self.sequence([
            ("http://hooks.example/a/", (500, {}, b"")),
            ("http://hooks.example/b/", (200, {}, b"0")),
        ])  # fmt: skip
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.notify("on_stop",
                              ["http://hooks.example/a/", "http://hooks.example/b/"],
                              _PUBLISH, cid=107)  # fmt: skip
            self.assertIsNone(self.successResultOf(d))

    def test_notify_hls_stops_at_failure(self) -> None:
        """``on_hls`` stops at its first failing URL, without failing."""
        seq = self.sequence([("http://hooks.example/a/", (200, {}, b"1"))])
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.notify("on_hls",
                              ["http://hooks.example/a/", "http://hooks.example/b/"],
                              _PUBLISH, cid=107)  # fmt: skip
            self.assertIsNone(self.successResultOf(d))

    def test_notify_timeout(self) -> None:
        """A hanging notification is logged and ends after the timeout."""
        client, clock, _ = _client(_Hanging())
        d = client.notify("on_close", ["http://hooks.example/a"], {"action": "on_close"}, cid=9)
        self.assertNoResult(d)
        clock.advance(30)
        self.assertIsNone(self.successResultOf(d))

    def test_notify_hls_get(self) -> None:
        """``on_hls_notify`` GETs each URL with its variables replaced; the status is ignored."""
        seq = RequestSequence([
            ((b"get", "http://cdn.example/live/s-1.ts", {b"k": [b"v"]}, HasHeaders({}), b""),
             (404, {}, b"not found")),
            ((b"get", "http://cdn2.example/live/s", {}, HasHeaders({}), b""),
             (200, {}, b"x" * 1000)),
        ])  # fmt: skip
        client, _, _ = _client(StringStubbingResource(seq))
        with seq.consume(self.fail):
            d = client.notify_hls(
                ["http://cdn.example/[app]/[ts_url][param]", "http://cdn2.example/[app]/[stream]"],
                app="live", stream="s", ts_url="s-1.ts", param="?k=v", nb_notify=64, cid=5,
            )  # fmt: skip
            self.assertIsNone(self.successResultOf(d))

    def test_notify_hls_reads_at_most(self) -> None:
        """``on_hls_notify`` stops reading after ``nb_notify`` bytes of an endless answer."""
        client, _, stub = _client(_Endless(10_000))
        d = client.notify_hls(["http://cdn.example/x"], app="live", stream="s", ts_url="t",
                              param="", nb_notify=64, cid=5)  # fmt: skip
        stub.flush()
        self.assertIsNone(self.successResultOf(d))

    def test_notify_hls_timeout(self) -> None:
        """``on_hls_notify`` gives up after 10 s and skips the rest."""
        hanging = _Hanging()
        client, clock, _ = _client(hanging)
        d = client.notify_hls(["http://cdn.example/a", "http://cdn.example/b"], app="live",
                              stream="s", ts_url="t", param="", nb_notify=64, cid=5)  # fmt: skip
        clock.advance(10)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(hanging.requests), 1)

    def test_close_without_pool(self) -> None:
        """With an injected client and no pool, close fires at once."""
        client, _, _ = _client(Resource())
        self.assertIsNone(self.successResultOf(client.close()))


class _Receiver(Resource):
    """A hook server: records each body and answers by path."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[tuple[bytes, dict[str, Any]]] = []

    def render_POST(self, request: Any) -> bytes:
        self.bodies.append((request.path, json.loads(request.content.read())))
        if request.path == b"/reject":
            return b'{"code":403}'
        if request.path == b"/error":
            request.setResponseCode(500)
            return b"oops"
        return b"0"


class HookClientEndToEndTests(TestCase):
    """``HookClient`` with its own pool against a real server on 127.0.0.1."""

    def setUp(self) -> None:
        self.receiver = _Receiver()
        self.port = reactor.listenTCP(0, Site(self.receiver), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.client = HookClient(reactor)
        self.addCleanup(self.client.close)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"

    @inlineCallbacks
    def test_accept(self) -> Any:
        """Both URLs receive the JSON body in order and the client is admitted."""
        yield self.client.admit(
            "on_publish", [self.base + "/a", self.base + "/b?x=1"], _PUBLISH, cid=107
        )
        self.assertEqual([path for path, _ in self.receiver.bodies], [b"/a", b"/b"])
        self.assertEqual(self.receiver.bodies[0][1], _PUBLISH)

    @inlineCallbacks
    def test_reject(self) -> Any:
        """A ``code`` other than 0 rejects and the next URL is not called."""
        d = self.client.admit(
            "on_play", [self.base + "/reject", self.base + "/a"], _PUBLISH, cid=107
        )
        failure = yield self.assertFailure(d, HookRejected)
        self.assertEqual(failure.code, ERROR_RESPONSE_CODE)
        self.assertEqual([path for path, _ in self.receiver.bodies], [b"/reject"])

    @inlineCallbacks
    def test_error_status(self) -> Any:
        """A 500 rejects with 4005."""
        d = self.client.admit("on_connect", [self.base + "/error"], _PUBLISH, cid=107)
        failure = yield self.assertFailure(d, HookRejected)
        self.assertEqual(failure.code, ERROR_HTTP_STATUS_INVALID)

    @inlineCallbacks
    def test_down_server(self) -> Any:
        """A server that refuses connections rejects with 1018."""
        port = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
        address = port.getHost()
        yield port.stopListening()
        d = self.client.admit(
            "on_connect", [f"http://127.0.0.1:{address.port}/"], _PUBLISH, cid=107
        )
        failure = yield self.assertFailure(d, HookRejected)
        self.assertEqual(failure.code, ERROR_ST_CONNECT)

    @inlineCallbacks
    def test_service_stop_closes_pool(self) -> Any:
        """Stopping the client as a service closes its kept-alive connections."""
        yield self.client.notify("on_close", [self.base + "/a"], {"action": "on_close"}, cid=1)
        self.client.startService()
        done: Deferred[None] = self.client.stopService()
        yield done
        self.assertEqual(len(self.receiver.bodies), 1)


class _OneShotHandler(BaseHTTPRequestHandler):
    """
    A hook server that closes its connection after each answer, as
    Python's ``http.server`` does in HTTP/1.0 mode, and no ``Connection:
    close`` header, so the client may pool the connection.
    """

    protocol_version = "HTTP/1.0"
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        self.received.append(json.loads(self.rfile.read(size)))
        self.send_response(200)
        self.send_header("Content-Length", "1")
        self.end_headers()
        self.wfile.write(b"0")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OneShotServerTests(TestCase):
    """
    Issue 15, item 5: a hook server that closes after each answer loses no
    hook, through a real ``HookClient`` on the real reactor.
    """

    timeout = 30

    def setUp(self) -> None:
        self.received: list[dict[str, Any]] = []
        handler = type("Handler", (_OneShotHandler,), {"received": self.received})
        self.server = HTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()

        def stop() -> None:
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)

        self.addCleanup(stop)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.client = HookClient(reactor)
        self.addCleanup(self.client.close)

    @inlineCallbacks
    def until(self, condition: Any, what: str, timeout: float = 10.0) -> Any:
        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() > deadline:
                self.fail(f"timed out waiting for {what}; received {self.received}")
            yield deferLater(reactor, 0.02, lambda: None)

    @inlineCallbacks
    def test_stop_then_close(self) -> Any:
        """on_stop then on_close back to back, as the controller sends them, both arrive."""
        for cid in range(5):
            stop = on_stop_payload(cid, "10.0.0.1", "__defaultVhost__", "live", "s", "")
            close = on_close_payload(cid, "10.0.0.1", "__defaultVhost__", "live", 10, 20)
            done = self.client.notify("on_stop", [self.url], stop, cid)
            done.addCallback(lambda _, c=close, i=cid: self.client.notify("on_close", [self.url], c, i))
            yield done
        yield self.until(lambda: len(self.received) >= 10, "ten hooks")
        self.assertEqual(
            [(p["action"], p["client_id"]) for p in self.received],
            [(a, c) for c in range(5) for a in ("on_stop", "on_close")],
        )

    @inlineCallbacks
    def test_admit_after_answer(self) -> Any:
        """A blocking hook after another to the same server is admitted, not refused."""
        yield self.client.admit("on_publish", [self.url], _PUBLISH, cid=107)
        yield self.client.admit("on_publish", [self.url], _PUBLISH, cid=108)
        self.assertEqual(len(self.received), 2)


class _FailingThenAnswering:
    """An HTTP client whose first ``failures`` requests fail, then answers 0."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
        self.calls.append(url)
        if self.failures:
            return fail(self.failures.pop(0))
        return succeed(_Answer(b"0"))


class _Answer:
    code = 200

    def __init__(self, body: bytes) -> None:
        self.body = body

    def deliverBody(self, protocol: Any) -> None:
        protocol.makeConnection(None)
        protocol.dataReceived(self.body)
        protocol.connectionLost(Failure(ResponseDone()))


class RetryRuleTests(SynchronousTestCase):
    """When a hook is sent again: once, and only if the connection closed before an answer."""

    def client(self, *failures: Exception) -> tuple[HookClient, _FailingThenAnswering, _FailingThenAnswering]:
        pooled = _FailingThenAnswering(list(failures))
        fresh = _FailingThenAnswering([])
        return HookClient(Clock(), pooled, fresh_client=fresh), pooled, fresh

    def test_closed_before_answer_retried_once(self) -> None:
        """A pooled connection closed before the answer: sent again on a fresh one."""
        for reason in (ConnectionDone(), ConnectionLost()):
            for error in (ResponseNeverReceived, RequestTransmissionFailed, RequestNotSent):
                stale = error([Failure(reason)]) if error is not RequestNotSent else error()
                client, pooled, fresh = self.client(stale)
                self.successResultOf(client.admit("on_play", ["http://h/a"], _PUBLISH, 1))
                self.assertEqual((pooled.calls, fresh.calls), (["http://h/a"], ["http://h/a"]))

    def test_other_failures_not_retried(self) -> None:
        """A refused connection, a timeout or a cancel is not sent again."""
        for error in (
            ConnectionRefusedError(),
            ResponseNeverReceived([Failure(CancelledError())]),
            ResponseNeverReceived([Failure(ValueError("parse"))]),
        ):
            client, pooled, fresh = self.client(error)
            failure = self.failureResultOf(
                client.admit("on_play", ["http://h/a"], _PUBLISH, 1), HookRejected
            )
            self.assertEqual(failure.value.code, ERROR_ST_CONNECT)
            self.assertEqual((len(pooled.calls), fresh.calls), (1, []), error)

    def test_retried_only_once(self) -> None:
        """The fresh connection failing too rejects the client: no loop."""
        pooled = _FailingThenAnswering([ResponseNeverReceived([Failure(ConnectionDone())])])
        fresh = _FailingThenAnswering([ResponseNeverReceived([Failure(ConnectionDone())])] * 3)
        client = HookClient(Clock(), pooled, fresh_client=fresh)
        self.failureResultOf(client.admit("on_play", ["http://h/a"], _PUBLISH, 1), HookRejected)
        self.assertEqual((len(pooled.calls), len(fresh.calls)), (1, 1))
