"""
End to end: the control plane (issue 10) through the real server: HTTP
hooks, the HTTP API and its kick, the heartbeat and the web console.

Each test starts its own ``twistd -n srs`` on free 127.0.0.1 ports in a
temporary directory, with a hook receiver (:class:`HookReceiver`, a real
``twisted.web`` site on 127.0.0.1 port 0) in this test process; ffmpeg,
curl and chromium are real, bounded in time, and stopped in cleanup.

The hook client's timeout (30 s, SRS's value) is not configurable, so a
hook server that never answers is tested for what a test can see in a few
seconds: the waiting client is not admitted, other clients are served
meanwhile, and a client that leaves while its hook hangs is not admitted
when the hook finally accepts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet import reactor as _reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from tests.integration.process import (
    Program,
    ServerHelpers,
    SrsServer,
    ffmpeg_play,
    free_port,
    lines_of,
    program,
    sleep,
)
from tests.integration.test_console import chromium

reactor: Any = _reactor

#: The body fields of each hook, in SRS's order (``SrsHttpHooks`` in ``srs_app_http_hooks.cpp``).
_FIELDS = {
    "on_connect": ["action", "client_id", "ip", "vhost", "app", "tcUrl", "pageUrl"],
    "on_close": ["action", "client_id", "ip", "vhost", "send_bytes", "recv_bytes", "app"],
    "on_publish": ["action", "client_id", "ip", "vhost", "app", "tcUrl", "stream", "param"],
    "on_unpublish": ["action", "client_id", "ip", "vhost", "app", "stream", "param"],
    "on_play": ["action", "client_id", "ip", "vhost", "app", "stream", "param", "pageUrl"],
    "on_stop": ["action", "client_id", "ip", "vhost", "app", "stream", "param"],
}


# -- the hook server ------------------------------------------------------------


class _Hooks(Resource):
    """
    Records every POST and answers per the first path segment:

    * ``zero``: ``0``; ``code0``: ``{"code":0}`` (and anything else);
    * ``deny``: ``{"code":403}``; ``status500``: status 500 (body
      ``{"code":0}``, so only the status rejects);
    * ``byparam``: ``{"code":403}`` when the payload's ``param`` contains
      ``deny``, else ``0``;
    * ``hang``: no answer until :meth:`HookReceiver.release`.
    """

    isLeaf = True

    def __init__(self, receiver: HookReceiver) -> None:
        super().__init__()
        self.receiver = receiver

    def render_POST(self, request: Any) -> Any:
        raw = request.content.read()
        payload = json.loads(raw.decode("utf-8"))
        policy = request.path.decode().strip("/").split("/")[0]
        self.receiver.records.append(
            {
                "path": request.path.decode(),
                "payload": payload,
                "raw": raw,
                "user_agent": (request.getHeader(b"user-agent") or b"").decode(),
                "content_type": (request.getHeader(b"content-type") or b"").decode(),
            }
        )
        if policy == "hang" and self.receiver.hanging:
            self.receiver.hung.append(request)
            request.notifyFinish().addErrback(lambda _: None)
            return NOT_DONE_YET
        if policy == "deny" or (policy == "byparam" and "deny" in str(payload.get("param"))):
            return b'{"code":403}'
        if policy == "status500":
            request.setResponseCode(500)
            return b'{"code":0}'
        return b"0" if policy in ("zero", "byparam") else b'{"code":0}'


class _TrackingSite(Site):
    """A site that knows its open connections, so cleanup can close them."""

    noisy = False

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource)
        self.open: set[Any] = set()

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        assert channel is not None
        lost = channel.connectionLost

        def connection_lost(reason: Any) -> None:
            self.open.discard(channel)
            lost(reason)

        channel.connectionLost = connection_lost  # type: ignore[method-assign]
        self.open.add(channel)
        return channel


class HookReceiver:
    """An HTTP hook server on 127.0.0.1, stopped (connections and all) in cleanup."""

    def __init__(self, testcase: TestCase) -> None:
        self.records: list[dict[str, Any]] = []
        self.hung: list[Any] = []
        #: Whether ``hang`` hooks hang (until :meth:`release`).
        self.hanging = True
        self.site = _TrackingSite(_Hooks(self))
        self.port: Any = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        testcase.addCleanup(self.stop)

    def url(self, policy: str, what: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port.getHost().port}/{policy}/{what}"

    def payloads(self, action: str | None = None) -> list[dict[str, Any]]:
        return [
            r["payload"]
            for r in self.records
            if action is None or r["payload"].get("action") == action
        ]

    def actions(self, client_id: int) -> list[str]:
        """The actions received for ``client_id``, in arrival order."""
        return [p["action"] for p in self.payloads() if p.get("client_id") == client_id]

    @defer.inlineCallbacks
    def until(self, condition: Callable[[], bool], what: str, timeout: float = 15.0) -> Any:
        """Wait until ``condition()`` holds, polling; fail after ``timeout``."""
        for _ in range(int(timeout / 0.05)):
            if condition():
                return
            yield sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; received {self.payloads()}")

    def release(self, body: bytes = b"0") -> None:
        """Answer every hung request still connected; ``hang`` hooks answer from now on."""
        self.hanging = False
        hung, self.hung = self.hung, []
        for request in hung:
            if not request.finished and not request._disconnected:
                request.write(body)
                request.finish()

    @defer.inlineCallbacks
    def stop(self) -> Any:
        yield self.port.stopListening()
        for channel in list(self.site.open):
            if channel.transport is not None:
                channel.transport.abortConnection()
        for _ in range(40):
            if not self.site.open:
                break
            yield sleep(0.05)


# -- the server under test --------------------------------------------------------


def _hooks_block(urls: dict[str, str]) -> str:
    lines = "".join(f"        {event} {url};\n" for event, url in urls.items())
    return f"    http_hooks {{\n        enabled on;\n{lines}    }}\n"


class _Base(ServerHelpers, TestCase):
    timeout = 45

    def setUp(self) -> None:
        self.receiver = HookReceiver(self)
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(self.pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=self.pool)

    @defer.inlineCallbacks
    def start_server(self, body: str, top: str = "", api: bool = False, http: bool = False) -> Any:
        self.api_port = free_port()
        self.http_port = free_port()
        if api:
            top += f"http_api {{ enabled on; listen 127.0.0.1:{self.api_port}; }}\n"
        if http:
            root = os.path.abspath(self.mktemp())
            os.makedirs(root)
            top += f"http_server {{ enabled on; listen 127.0.0.1:{self.http_port}; dir {root}; }}\n"
        self.server = SrsServer(self, body, top=top)
        yield self.server.started()
        if api:
            yield self.server.child.wait_for(f"listen http_api at tcp:port={self.api_port}")
        if http:
            yield self.server.child.wait_for(f"listen http_server at tcp:port={self.http_port}")

    def tearDown(self) -> None:
        server = getattr(self, "server", None)
        if server:
            self.assertNotIn("Traceback", server.output)

    def publish(self, path: str, seconds: float, **kwargs: Any) -> Program:
        return super().publish(path, seconds, size="160x120", **kwargs)

    def rtmp_play(self, path: str, seconds: float, out: str) -> Program:
        return self.start(ffmpeg_play(self.server.url(path), seconds, self.server.path(out)))

    def http_play(self, path: str, seconds: float) -> Program:
        url = self.http(path)
        return self.start(
            ["ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "5000000", "-i", url,
             "-t", str(seconds), "-f", "null", "-"]
        )  # fmt: skip

    @defer.inlineCallbacks
    def api(self, path: str, method: bytes = b"GET") -> Any:
        """``(status, headers, body)`` of one request to the HTTP API."""
        url = f"http://127.0.0.1:{self.api_port}{path}".encode()
        response = yield self.agent.request(method, url, Headers({}))
        body = yield readBody(response)
        return response.code, response.headers, body

    @defer.inlineCallbacks
    def api_json(self, path: str, method: bytes = b"GET") -> Any:
        status, _, body = yield self.api(path, method)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def assertExit(self, child: Program, ok: bool, result: Any) -> None:
        if ok:
            self.assertEqual(result[0], 0, f"exit {result}; output:\n{child.output}")
        else:
            self.assertNotEqual(result[0], 0, f"exit {result}; output:\n{child.output}")

    def assertFields(self, payload: dict[str, Any], **expected: Any) -> None:
        """The payload has exactly SRS's keys, in order, and the given values."""
        self.assertEqual(list(payload), _FIELDS[payload["action"]], payload)
        for key, value in expected.items():
            if key in payload:
                self.assertEqual(payload[key], value, (key, payload))


# -- 1. hooks accept ------------------------------------------------------------------


class HooksAcceptTests(_Base):
    """Every hook of an RTMP publisher, an RTMP player and an HTTP-FLV player."""

    @defer.inlineCallbacks
    def test_all_hooks(self) -> Any:
        """
        Publisher, RTMP player and HTTP-FLV player are admitted (hooks answer
        ``0`` or ``{"code":0}``), and the receiver gets each client's hooks
        in order with SRS's exact fields.
        """
        r = self.receiver
        hooks = _hooks_block(
            {
                "on_connect": r.url("zero", "clients"),
                "on_close": r.url("code0", "clients"),
                "on_publish": r.url("zero", "streams"),
                "on_unpublish": r.url("code0", "streams"),
                "on_play": r.url("zero", "sessions"),
                "on_stop": r.url("code0", "sessions"),
            }
        )
        body = (
            "vhost __defaultVhost__ {\n"
            "    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
            f"{hooks}}}\n"
        )
        yield self.start_server(body, http=True)
        publisher = self.publish("live/s", 7)
        yield self.wait_publish("__defaultVhost__", "live/s")
        rtmp = self.rtmp_play("live/s", 2, "rtmp.flv")
        http = self.http_play("/live/s.flv?token=abc", 2)
        for child in (rtmp, http):
            self.assertExit(child, True, (yield child.ended))
        self.assertExit(publisher, True, (yield publisher.ended))
        yield r.until(lambda: len(r.payloads("on_close")) >= 2, "two on_close")
        yield r.until(lambda: len(r.payloads("on_stop")) >= 2, "two on_stop")

        tc_url = f"rtmp://127.0.0.1:{self.server.port}/live"
        common = {"ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live"}
        published = r.payloads("on_publish")
        self.assertEqual(len(published), 1, published)
        pub_id = published[0]["client_id"]
        connected = {p["client_id"] for p in r.payloads("on_connect")}
        plays = r.payloads("on_play")
        self.assertEqual(len(plays), 2, plays)
        rtmp_play = next(p for p in plays if p["client_id"] in connected)
        http_play = next(p for p in plays if p["client_id"] not in connected)
        player_id, viewer_id = rtmp_play["client_id"], http_play["client_id"]
        self.assertEqual(len({pub_id, player_id, viewer_id}), 3)

        self.assertEqual(
            r.actions(pub_id), ["on_connect", "on_publish", "on_unpublish", "on_close"]
        )
        self.assertEqual(r.actions(player_id), ["on_connect", "on_play", "on_stop", "on_close"])
        self.assertEqual(r.actions(viewer_id), ["on_play", "on_stop"])
        for payload in r.payloads():
            self.assertFields(payload, **common)
            self.assertIsInstance(payload["client_id"], int)
        for payload in r.payloads("on_connect"):
            self.assertFields(payload, tcUrl=tc_url, pageUrl="")
        self.assertFields(published[0], tcUrl=tc_url, stream="s", param="")
        self.assertFields(rtmp_play, stream="s", param="", pageUrl="")
        self.assertFields(http_play, stream="s", param="?token=abc", pageUrl="")
        for payload in r.payloads("on_stop") + r.payloads("on_unpublish"):
            self.assertEqual(payload["stream"], "s")
        closes = {p["client_id"]: p for p in r.payloads("on_close")}
        # The publisher sent seconds of video; the player received some.
        self.assertGreater(closes[pub_id]["recv_bytes"], 20_000)
        self.assertGreater(closes[player_id]["send_bytes"], 20_000)
        self.assertGreater(closes[pub_id]["send_bytes"], 0)
        self.assertGreater(closes[player_id]["recv_bytes"], 0)
        # Where each event went, and how it was sent.
        paths = {rec["payload"]["action"]: rec["path"] for rec in r.records}
        self.assertEqual(paths["on_connect"], "/zero/clients")
        self.assertEqual(paths["on_unpublish"], "/code0/streams")
        for record in r.records:
            self.assertEqual(record["content_type"], "application/json")
            self.assertTrue(record["user_agent"].startswith("SRS(Simple RTMP Server)"))
            self.assertNotIn(b" ", record["raw"])


# -- 2. hooks reject ------------------------------------------------------------------


class HooksRejectTests(_Base):
    """A refusing, failing, unreachable or silent hook server refuses that client only."""

    @defer.inlineCallbacks
    def test_rejections(self) -> Any:
        """
        ``{"code":403}`` on on_publish, status 500 on on_connect and a hook
        server that is down refuse those publishers (ffmpeg fails); an
        on_play that refuses by param refuses that RTMP player
        only (on_close still follows); the stream's publisher and its other
        RTMP and HTTP players carry on.
        """
        r = self.receiver
        down = f"http://127.0.0.1:{free_port()}/api/v1/streams"
        body = (
            "vhost __defaultVhost__ {\n"
            "    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
            + _hooks_block({"on_play": r.url("byparam"), "on_stop": r.url("code0")})
            + "}\n"
            "vhost deny.test {\n"
            + _hooks_block({"on_publish": r.url("deny"), "on_unpublish": r.url("code0"),
                            "on_close": r.url("code0")})
            + "}\n"
            "vhost s500.test {\n"
            + _hooks_block({"on_connect": r.url("status500"), "on_close": r.url("code0")})
            + "}\n"
            "vhost down.test {\n" + _hooks_block({"on_publish": down}) + "}\n"
        )  # fmt: skip
        yield self.start_server(body, http=True)
        publisher = self.publish("live/s", 7)
        yield self.wait_publish("__defaultVhost__", "live/s")
        refused = {
            "403": self.publish("live?vhost=deny.test/x", 5),
            "500": self.publish("live?vhost=s500.test/y", 5),
            "down": self.publish("live?vhost=down.test/z", 5),
            "rtmp player": self.rtmp_play("live/s?deny=1", 2, "denied.flv"),
        }
        served = [self.rtmp_play("live/s", 2, "ok.flv"), self.http_play("/live/s.flv", 2)]
        for name, child in refused.items():
            result = yield child.ended
            self.assertNotEqual(result[0], 0, f"{name} was not refused: {child.output}")
        for child in served:
            self.assertExit(child, True, (yield child.ended))
        self.assertIsNone(publisher.ended.result if publisher.ended.called else None)
        self.assertGreater(os.path.getsize(self.server.path("ok.flv")), 20_000)

        # What the hook server was told, and what the server logged.
        yield r.until(lambda: len(r.payloads("on_close")) >= 2, "on_close of the refused")
        denied = r.payloads("on_publish")
        self.assertEqual([(p["vhost"], p["stream"]) for p in denied], [("deny.test", "x")])
        denied_id = denied[0]["client_id"]
        self.assertEqual(r.actions(denied_id), ["on_publish", "on_close"])
        connects = r.payloads("on_connect")
        self.assertEqual([p["vhost"] for p in connects], ["s500.test"])
        self.assertEqual(r.actions(connects[0]["client_id"]), ["on_connect", "on_close"])
        plays = r.payloads("on_play")
        self.assertEqual(len(plays), 3, plays)
        allowed = [p["client_id"] for p in plays if "deny" not in p["param"]]
        # The players' on_stop follows the server seeing them go, which
        # may be after they exited: wait for it, bounded (issue 15).
        yield r.until(lambda: len(r.payloads("on_stop")) >= len(allowed), "on_stop of the players")
        self.assertEqual(sorted(p["client_id"] for p in r.payloads("on_stop")), sorted(allowed))
        output = self.server.output
        self.assertNotIn("publish deny.test/live/x", output)
        self.assertNotIn("publish down.test/live/z", output)
        self.assertIn("(4005)", output)  # status 500
        self.assertIn("(3064)", output)  # {"code":403}
        self.assertIn("(1018)", output)  # the hook server is down
        self.assertExit(publisher, True, (yield publisher.ended))

    @defer.inlineCallbacks
    def test_http_player_refused(self) -> Any:
        """
        An HTTP-FLV player that on_play refuses gets a 403 (srstwist answers
        where SRS just closes) and no stream; on_stop does not follow.
        """
        r = self.receiver
        body = (
            "vhost __defaultVhost__ {\n"
            "    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
            + _hooks_block({"on_play": r.url("byparam"), "on_stop": r.url("code0")})
            + "}\n"
        )  # fmt: skip
        yield self.start_server(body, http=True)
        curl = self.start(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
             f"http://127.0.0.1:{self.http_port}/live/s.flv?deny=1"]
        )  # fmt: skip
        yield curl.ended
        yield r.until(lambda: len(r.payloads("on_play")) == 1, "the on_play")
        self.assertEqual(r.payloads("on_play")[0]["param"], "?deny=1")
        yield sleep(0.2)
        self.assertEqual(r.payloads("on_stop"), [])
        self.assertEqual(curl.stdout, "403")
        self.assertNotIn("Traceback", self.server.output)

    @defer.inlineCallbacks
    def test_hook_hangs(self) -> Any:
        """
        While an on_publish hook hangs, that publisher is not admitted and
        others are served; if it leaves and the hook then accepts, it is
        not admitted after the fact: the stream is free for the next
        publisher and the API does not list the gone client.
        """
        r = self.receiver
        body = (
            "vhost __defaultVhost__ { }\n"
            "vhost hang.test {\n"
            + _hooks_block({"on_publish": r.url("hang"), "on_unpublish": r.url("code0"),
                            "on_close": r.url("code0")})
            + "}\n"
        )  # fmt: skip
        yield self.start_server(body, api=True)
        stuck = self.publish("live?vhost=hang.test/h", 20)
        yield r.until(lambda: len(r.hung) == 1, "the hung on_publish")
        stuck_id = r.payloads("on_publish")[0]["client_id"]
        # Others are served meanwhile.
        other = self.publish("live/s", 4)
        yield self.wait_publish("__defaultVhost__", "live/s")
        player = self.rtmp_play("live/s", 1, "ok.flv")
        self.assertExit(player, True, (yield player.ended))
        self.assertNotIn("publish hang.test/live/h", self.server.output)
        # The stuck publisher gives up; then its hook accepts.
        yield stuck.stop()
        closed = f"[{stuck_id}] RTMP client closed"
        yield self.server.child.wait_for(closed)
        r.release(b"0")
        yield r.until(lambda: len(r.payloads("on_close")) == 1, "on_close of the stuck")
        yield sleep(0.3)
        self.assertNotIn("source hang.test/live/h created", self.server.output)
        clients = yield self.api_json("/api/v1/clients/")
        self.assertNotIn(stuck_id, [c["id"] for c in clients["clients"]])
        # The hook server accepted the publish, so it hears of its end, then
        # of the close (which waited for the answer).
        self.assertEqual(r.actions(stuck_id), ["on_publish", "on_unpublish", "on_close"])
        # The stream is not held by the gone client.
        mark = self.server.child.mark()
        again = self.publish("live?vhost=hang.test/h", 2)
        self.assertExit(again, True, (yield again.ended))
        self.assertIn("publish hang.test/live/h, ", self.server.output[mark:])
        self.assertNotIn("already being published", self.server.output)
        self.assertExit(other, True, (yield other.ended))


# -- 3. the HTTP API, 5. the console ----------------------------------------------------


class ApiTests(_Base):
    """The HTTP API sees a real publisher and player, and kicks the player."""

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:  # type: ignore[override]
        super().setUp()
        r = self.receiver
        body = (
            "vhost __defaultVhost__ {\n"
            "    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
            + _hooks_block({"on_stop": r.url("code0"), "on_close": r.url("code0")})
            + "}\n"
        )
        yield self.start_server(body, api=True, http=True)
        self.publisher = self.publish("live/api_stream", 20)
        yield self.wait_publish("__defaultVhost__", "live/api_stream")

    @defer.inlineCallbacks
    def test_streams_clients_kick(self) -> Any:
        """
        streams lists H264/AAC with two clients, clients lists both, JSONP,
        CORS and unknown routes answer as documented; DELETE kicks the player
        (it ends, on_stop and on_close follow) and the publisher goes on.
        """
        r = self.receiver
        player = self.rtmp_play("live/api_stream", 20, "kicked.flv")
        found: dict[str, Any] = {}

        def both_seen() -> bool:
            return len(found.get("clients", [])) >= 2

        for _ in range(100):
            found = yield self.api_json("/api/v1/clients/")
            if both_seen():
                break
            yield sleep(0.1)
        kinds = {c["type"]: c for c in found["clients"]}
        self.assertEqual(set(kinds), {"fmle-publish", "Play"}, found)
        player_id = kinds["Play"]["id"]
        self.assertEqual(kinds["Play"]["url"], "/live/api_stream")
        self.assertFalse(kinds["Play"]["publish"])
        self.assertTrue(kinds["fmle-publish"]["publish"])
        self.assertEqual(kinds["Play"]["ip"], "127.0.0.1")

        streams = (yield self.api_json("/api/v1/streams/"))["streams"]
        stream = next(s for s in streams if s["name"] == "api_stream")
        self.assertEqual(stream["app"], "live")
        self.assertGreaterEqual(stream["clients"], 2)
        self.assertEqual(stream["video"]["codec"], "H264")
        self.assertEqual(stream["audio"]["codec"], "AAC")
        self.assertEqual(stream["publish"]["active"], True)
        self.assertEqual(stream["publish"]["cid"], kinds["fmle-publish"]["id"])

        # JSONP, through the bare path too (a redirect in SRS).
        status, headers, body = yield self.api("/api/v1/streams/?callback=cb")
        self.assertEqual(status, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"text/javascript"])
        self.assertTrue(body.startswith(b"cb({") and body.endswith(b"})"), body[:80])
        jsonp = json.loads(body[3:-1])
        self.assertIn("api_stream", [s["name"] for s in jsonp["streams"]])
        status, headers, body = yield self.api("/api/v1/streams?callback=cb")
        self.assertIn(status, (200, 302), body)
        # CORS, on a GET and on the preflight.
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        status, headers, _ = yield self.api("/api/v1/streams/", b"OPTIONS")
        self.assertEqual(status, 200)
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        self.assertIn(b"DELETE", headers.getRawHeaders(b"access-control-allow-methods")[0])
        # Unknown route (not under /api/, whose prefix answers the index): a JSON error.
        status, headers, body = yield self.api("/nothing/here")
        self.assertEqual(status, 404)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertNotEqual(json.loads(body)["code"], 0)
        self.assertEqual((yield self.api_json("/api/v1/clients/999999"))["code"], 2049)

        # Kick the player.
        mark = self.server.child.mark()
        kicked = yield self.api_json(f"/api/v1/clients/{player_id}", b"DELETE")
        self.assertEqual(kicked["code"], 0)
        yield self.server.child.wait_for("kicked off by the HTTP API", since=mark, timeout=5)
        yield player.ended.addTimeout(8, reactor)  # type: ignore[arg-type]
        self.assertTrue(any("kicked" in line for line in lines_of(self.server.output, player_id)))
        yield r.until(lambda: r.actions(player_id) == ["on_stop", "on_close"], "on_stop, on_close")
        self.assertFalse(self.publisher.ended.called)
        remaining = (yield self.api_json("/api/v1/clients/"))["clients"]
        self.assertEqual([c["type"] for c in remaining], ["fmle-publish"])
        stream = (yield self.api_json(f"/api/v1/streams/{stream['id']}"))["stream"]
        self.assertTrue(stream["publish"]["active"])
        # The publisher goes on: a new player gets its stream.
        again = self.rtmp_play("live/api_stream", 1, "again.flv")
        self.assertExit(again, True, (yield again.ended))
        self.assertFalse(self.publisher.ended.called)

    @defer.inlineCallbacks
    def test_console(self) -> Any:
        """
        Headless Chromium renders /console/ with the published stream's name
        and, asked to play it (?play=), loads the vendored flv.js and pulls
        the stream's HTTP-FLV from the HTTP server.
        """
        browser = chromium()
        if browser is None:
            raise self.skipTest("chromium is not installed")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        url = (
            f"http://127.0.0.1:{self.api_port}/console/?play=live/api_stream"
            f"&http=http://127.0.0.1:{self.http_port}&format=flv"
        )
        mark = self.server.child.mark()
        argv = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + os.path.join(workdir, "profile"),
            "--virtual-time-budget=5000", "--dump-dom", url,
        ]  # fmt: skip
        # Chromium's own timeout: it may keep helper processes; HOME is private.
        child = program(self, ["env", f"HOME={workdir}", *argv], workdir, 40)
        result = yield child.ended
        with open(os.path.join(workdir, "console.html"), "w") as f:
            f.write(child.stdout)
        self.assertEqual(result[0], 0, child.output[-2000:])
        self.assertIn('<td class="stream-name">api_stream</td>', child.stdout)
        self.assertIn("H264", child.stdout)
        self.assertIn("Playing live/api_stream", child.stdout)
        self.assertNotIn("flv.js is not loaded", child.stdout)
        self.assertIn(
            "] http flv play __defaultVhost__/live/api_stream", self.server.output[mark:]
        )


# -- 4. the heartbeat ------------------------------------------------------------------


class HeartbeatTests(_Base):
    """The heartbeat reaches a real receiver."""

    @defer.inlineCallbacks
    def test_heartbeat(self) -> Any:
        """
        With ``interval 1`` the receiver gets beats about a second apart,
        each with device_id, ip and the summaries of this very server.
        """
        r = self.receiver
        top = (
            f"heartbeat {{ enabled on; interval 1; url {r.url('code0', 'api/v1/servers')};\n"
            '    device_id "test"; summaries on; }\n'
        )
        yield self.start_server("vhost __defaultVhost__ { }\n", top=top)
        yield r.until(lambda: len(r.records) >= 2, "two heartbeats", timeout=6)
        first, second = r.records[:2]
        self.assertEqual(first["path"], "/code0/api/v1/servers")
        payload = first["payload"]
        self.assertEqual(list(payload), ["device_id", "ip", "summaries"])
        self.assertEqual(payload["device_id"], "test")
        self.assertIsInstance(payload["ip"], str)
        self.assertNotEqual(payload["ip"], "127.0.0.1")
        summaries = payload["summaries"]
        self.assertEqual(summaries["code"], 0)
        self.assertEqual(summaries["data"]["self"]["pid"], self.server.pid)
        self.assertIn("system", summaries["data"])
        self.assertEqual(first["content_type"], "application/json")
        delta = second["payload"]["summaries"]["data"]["now_ms"] - summaries["data"]["now_ms"]
        self.assertTrue(500 <= delta <= 2500, delta)
