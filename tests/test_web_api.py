"""
Tests for :mod:`srstwist.web.api`: every route of the SRS 2.0 HTTP API
and the console's files, through ``treq.testing.StubTreq`` over the Klein
resource, with a real :class:`~srstwist.stream.stats.Statistics` holding
one stream and two clients and a
:class:`~srstwist.services.sysinfo.SystemSampler` over fake ``/proc`` text;
and the API's site, its body limit, on an in-memory transport.
"""

from __future__ import annotations

import json
import os
from typing import Any

from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.config.model import ServerConfig
from srstwist.config.support import is_built
from srstwist.services.sysinfo import SystemSampler
from srstwist.stream.stats import (
    CLIENT_FMLE_PUBLISH,
    CLIENT_PLAY,
    AudioInfo,
    Statistics,
    VideoInfo,
)
from srstwist.web.api import CONSOLE_DIR, HttpApi
from srstwist.web.api_common import (
    API_MAX_BODY,
    BUILD_FEATURES,
    FEATURE_DIRECTIVES,
    built_features,
)
from srstwist.web.site import DEFAULT_MAX_BODY

_T0 = 1_700_000_000.0
_BASE = "http://127.0.0.1:1985"
_CONF = """
listen 1935;
http_api { enabled on; crossdomain on; }
vhost __defaultVhost__ { hls { enabled on; hls_fragment 5; } }
"""
_CORS = {
    b"Access-Control-Allow-Origin": [b"*"],
    b"Access-Control-Allow-Methods": [b"GET, POST, HEAD, PUT, DELETE"],
    b"Access-Control-Allow-Headers": [
        b"Cache-Control,X-Proxy-Authorization,X-Requested-With,Content-Type"
    ],
}

_PROC = {
    "self/stat": "4242 (twistd srs) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
    "150 50 0 0 20 0 3 0 1000 300000000 20000 18446744073709551615 1 1 0 0 0 0 0 "
    "4096 0 0 0 0 17 1 0 0 0 0 0\n",
    "stat": "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n",
    "meminfo": "MemTotal: 1000 kB\nMemFree: 400 kB\nBuffers: 100 kB\nCached: 100 kB\n"
    "SwapTotal: 200 kB\nSwapFree: 150 kB\n",
    "uptime": "1234.50 2000.25\n",
    "loadavg": "0.50 0.25 0.10 1/78 999\n",
    "vmstat": "pgpgin 1000\npgpgout 2000\n",
    "diskstats": "",
    "net/dev": "h1\nh2\n    lo: 10 1 0 0 0 0 0 0 20 1 0 0 0 0 0 0\n",
    "net/sockstat": "sockets: used 10\nTCP: inuse 3 orphan 0 tw 2 alloc 5 mem 1\n"
    "UDP: inuse 4 mem 0\n",
    "net/snmp": "Tcp: RtoAlgorithm CurrEstab\nTcp: 1 7\n",
}


class _Rusage:
    ru_utime = 1.5
    ru_stime = 0.5
    ru_maxrss = 250
    ru_ixrss = ru_idrss = ru_isrss = ru_majflt = ru_nswap = 0
    ru_minflt = 10
    ru_inblock = ru_oublock = ru_msgsnd = ru_msgrcv = ru_nsignals = 0
    ru_nvcsw = 3
    ru_nivcsw = 4


class _Fixture:
    """An API over a statistics registry with one stream, a publisher and a player."""

    def __init__(self, case: SynchronousTestCase, conf: str = _CONF) -> None:
        self.config: ServerConfig = load_config_text(conf)
        self.clock = Clock()
        self.clock.advance(_T0)
        self.stats = Statistics(first_id=1000)
        now = self.clock.seconds()
        self.publisher = self.stats.on_client(
            201, vhost="__defaultVhost__", app="live", stream="livestream",
            ip="192.0.2.10", client_type=CLIENT_FMLE_PUBLISH, now=now,
            tc_url="rtmp://192.0.2.1/live", page_url="", swf_url="",
        )  # fmt: skip
        self.stats.on_publish("__defaultVhost__", "live", "livestream", 201, now)
        self.stats.on_video_info(
            "__defaultVhost__", "live", "livestream", VideoInfo("H264", "High", "3.1"), now
        )
        self.stats.on_audio_info(
            "__defaultVhost__", "live", "livestream", AudioInfo("AAC", 44100, 2, "LC"), now
        )
        self.player = self.stats.on_client(
            202, vhost="__defaultVhost__", app="live", stream="livestream",
            ip="192.0.2.11", client_type=CLIENT_PLAY, now=now,
            tc_url="rtmp://192.0.2.1/live", page_url="http://example.com/", swf_url="",
        )  # fmt: skip
        self.clock.advance(2.5)
        self.kicked: list[int] = []
        # Sampled once at _T0, on a clock of its own: the API never samples.
        sample_clock = Clock()
        sample_clock.advance(_T0)
        self.sampler = SystemSampler(
            sample_clock, read=lambda name: _PROC.get(name, ""), getrusage=_Rusage,
            addresses=lambda: [], cpus=(2, 2), clock_ticks=100,
        )  # fmt: skip
        self.sampler.sample()
        self.api = HttpApi(
            self.stats,
            lambda: self.config,
            self.clock,
            self.kick,
            start_time=_T0 - 10,
            sampler=self.sampler,
        )
        self.treq: Any = StubTreq(self.api.resource)

    def kick(self, cid: int) -> bool:
        self.kicked.append(cid)
        return self.stats.client(cid) is not None


class ApiTestCase(SynchronousTestCase):
    """Shared helpers: a fixture and a synchronous request."""

    def setUp(self) -> None:
        self.fixture = _Fixture(self)

    def request(
        self, method: str, path: str, data: bytes | None = None, **kwargs: Any
    ) -> tuple[int, Any, bytes]:
        """Make one request; return status, headers and body."""
        d = self.fixture.treq.request(
            method, _BASE + path, data=data, allow_redirects=False, **kwargs
        )
        response = self.successResultOf(d)
        body = self.successResultOf(response.content())
        return response.code, response.headers, body

    def get_json(self, path: str, method: str = "GET") -> dict[str, Any]:
        """A request whose answer must be 200 JSON; its decoded body."""
        code, headers, body = self.request(method, path)
        self.assertEqual(code, 200, body)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        value: dict[str, Any] = json.loads(body)
        return value


class IndexTests(ApiTestCase):
    """The index routes, redirects and the root."""

    def test_api_index(self) -> None:
        """``/api/`` lists ``v1`` with the server id."""
        self.assertEqual(
            self.get_json("/api/"),
            {"code": 0, "server": 1000, "urls": {"v1": "the api version 1.0"}},
        )

    def test_v1_index(self) -> None:
        """``/api/v1/`` lists every route SRS lists, in SRS's order, and ours (ffmpegs, clusters)."""
        body = self.get_json("/api/v1/")
        self.assertEqual(
            list(body["urls"]),
            ["versions", "summaries", "rusages", "self_proc_stats", "system_proc_stats",
             "meminfos", "authors", "features", "requests", "vhosts", "streams", "clients",
             "ffmpegs", "clusters", "tests"],
        )  # fmt: skip
        self.assertEqual(list(body["urls"]["tests"]), ["requests", "errors", "redirects",
                                                       "[vhost]"])  # fmt: skip

    def test_unknown_under_v1_is_index(self) -> None:
        """An unknown ``/api/v1/...`` path answers the v1 index, as SRS's prefix match."""
        self.assertIn("urls", self.get_json("/api/v1/nothing"))
        self.assertIn("urls", self.get_json("/api/v1/versions/"))
        self.assertEqual(self.get_json("/api/whatever")["urls"], {"v1": "the api version 1.0"})

    def test_bare_redirects(self) -> None:
        """``/api``, ``/api/v1`` and ``/console`` redirect (302) to the slash form."""
        for bare in ("/api", "/api/v1", "/console"):
            code, headers, body = self.request("GET", bare)
            self.assertEqual(code, 302, bare)
            self.assertEqual(headers.getRawHeaders(b"location"), [bare.encode() + b"/"])
            self.assertEqual(body, b"Redirect to" + bare.encode() + b"/")

    def test_redirect_keeps_query(self) -> None:
        """The query string follows the redirect."""
        code, headers, _ = self.request("GET", "/api/v1?callback=cb")
        self.assertEqual(headers.getRawHeaders(b"location"), [b"/api/v1/?callback=cb"])

    def test_bare_lists_answered(self) -> None:
        """``/api/v1/streams`` (no slash) answers like ``/api/v1/streams/``, unlike SRS."""
        for name in ("vhosts", "streams", "clients"):
            self.assertEqual(
                self.get_json(f"/api/v1/{name}"), self.get_json(f"/api/v1/{name}/"), name
            )

    def test_root_is_not_found(self) -> None:
        """``/`` and unknown paths are 404 with a JSON code, never HTML."""
        for path in ("/", "/nothing", "/live/livestream.flv"):
            code, headers, body = self.request("GET", path)
            self.assertEqual((code, json.loads(body)), (404, {"code": 3010}))
            self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])

    def test_versions(self) -> None:
        """``versions`` reports SRS 2.0.276."""
        self.assertEqual(
            self.get_json("/api/v1/versions"),
            {"code": 0, "server": 1000,
             "data": {"major": 2, "minor": 0, "revision": 276, "version": "2.0.276"}},
        )  # fmt: skip

    def test_versions_any_method(self) -> None:
        """The informational routes answer any method, as SRS."""
        self.assertEqual(self.get_json("/api/v1/versions", "POST")["data"]["major"], 2)

    def test_authors_and_features(self) -> None:
        """``authors`` and ``features`` have SRS's keys."""
        authors = self.get_json("/api/v1/authors")["data"]
        self.assertEqual(
            list(authors),
            ["primary", "license", "copyright", "authors", "contributors_link", "contributors"],
        )
        features = self.get_json("/api/v1/features")["data"]
        self.assertEqual(
            list(features),
            ["ssl", "hls", "hds", "callback", "api", "httpd", "dvr", "transcode", "ingest",
             "stat", "nginx", "ffmpeg", "stream_caster", "complex_send", "tcp_nodelay",
             "so_sendbuf", "mr"],
        )  # fmt: skip
        self.assertIs(features["hls"], True)
        self.assertIs(features["nginx"], False)

    def test_features_follow_support(self) -> None:
        """
        No feature is on that ``config.support`` marks unbuilt, and every
        built one is on: the API says what is built, not what SRS builds.
        """
        features = self.get_json("/api/v1/features")["data"]
        for name, path in FEATURE_DIRECTIVES.items():
            self.assertIs(features[name], is_built(path), name)
        for name, value in BUILD_FEATURES.items():
            self.assertIs(features[name], value, name)
        # Not built today, though SRS's default build has it.
        self.assertIs(features["hds"], False)

    def test_features_derived(self) -> None:
        """``built_features`` turns each directive flag on only when its path is built."""
        self.assertFalse(any(built_features(lambda path: False)[n] for n in FEATURE_DIRECTIVES))
        self.assertTrue(all(built_features(lambda path: True)[n] for n in FEATURE_DIRECTIVES))
        seen: list[str] = []
        built_features(lambda path: seen.append(path) or False)
        self.assertEqual(sorted(seen), sorted(FEATURE_DIRECTIVES.values()))

    def test_requests_echo(self) -> None:
        """``tests/requests`` (and ``requests``) echo the URI, path, method and headers."""
        for path in ("/api/v1/tests/requests", "/api/v1/requests"):
            data = self.get_json(path)["data"]
            self.assertEqual(data["uri"], "http://127.0.0.1:1985" + path)
            self.assertEqual(data["path"], path)
            self.assertEqual(data["METHOD"], "GET")
            self.assertEqual(data["headers"]["Host"], "127.0.0.1:1985")
            self.assertEqual(data["server"]["sigature"], "SRS")
            self.assertEqual(data["server"]["time"], int((_T0 + 2.5) * 1000))

    def test_tests_errors_and_redirects(self) -> None:
        """``tests/errors`` is code 100 with status 200; ``tests/redirects`` is a 301 to it."""
        self.assertEqual(self.get_json("/api/v1/tests/errors"), {"code": 100})
        code, headers, _ = self.request("GET", "/api/v1/tests/redirects")
        self.assertEqual(code, 301)
        self.assertEqual(headers.getRawHeaders(b"location"), [b"/api/v1/tests/errors"])


class SystemRouteTests(ApiTestCase):
    """``summaries``, ``rusages``, ``self_proc_stats``, ``system_proc_stats``, ``meminfos``."""

    def test_summaries(self) -> None:
        """``summaries`` has no ``server`` key and the sampler's and registry's figures."""
        self.fixture.stats.sample(self.fixture.clock.seconds())
        body = self.get_json("/api/v1/summaries")
        self.assertEqual(list(body), ["code", "data"])
        data = body["data"]
        self.assertIs(data["ok"], True)
        self.assertEqual(data["now_ms"], int((_T0 + 2.5) * 1000))
        self.assertEqual(data["self"]["version"], "2.0.276")
        self.assertEqual(data["self"]["pid"], os.getpid())
        self.assertEqual(data["self"]["ppid"], 1)
        self.assertEqual(data["self"]["mem_kbyte"], 250)
        self.assertEqual(data["self"]["mem_percent"], 0.25)
        self.assertEqual(data["self"]["srs_uptime"], 12.5)
        system = data["system"]
        self.assertEqual(system["mem_ram_kbyte"], 1000)
        self.assertEqual(system["mem_ram_percent"], 0.4)
        self.assertEqual(system["mem_swap_percent"], 0.25)
        self.assertEqual((system["cpus"], system["cpus_online"]), (2, 2))
        self.assertEqual((system["uptime"], system["ilde_time"]), (1234.5, 2000.25))
        self.assertEqual(
            (system["load_1m"], system["load_5m"], system["load_15m"]), (0.5, 0.25, 0.1)
        )
        self.assertEqual((system["net_recvi_bytes"], system["net_sendi_bytes"]), (10, 20))
        self.assertEqual((system["conn_sys"], system["conn_sys_et"]), (7, 7))
        self.assertEqual((system["conn_sys_tw"], system["conn_sys_udp"]), (2, 4))
        self.assertEqual(system["conn_srs"], 2)
        self.assertEqual(system["srs_sample_time"], int((_T0 + 2.5) * 1000))

    def test_rusages(self) -> None:
        """``rusages`` has whole-second CPU times and SRS's keys in order."""
        data = self.get_json("/api/v1/rusages")["data"]
        self.assertEqual(list(data)[:5], ["ok", "sample_time", "ru_utime", "ru_stime", "ru_maxrss"])
        self.assertEqual((data["ru_utime"], data["ru_stime"], data["ru_maxrss"]), (1, 0, 250))
        self.assertEqual(len(data), 18)

    def test_self_proc_stats(self) -> None:
        """``self_proc_stats`` has every ``/proc/self/stat`` field, ``comm`` with parentheses."""
        data = self.get_json("/api/v1/self_proc_stats")["data"]
        self.assertEqual(len(data), 3 + 44)
        self.assertEqual((data["pid"], data["comm"], data["state"]), (4242, "(twistd srs)", "S"))
        self.assertEqual((data["utime"], data["stime"]), (150, 50))
        self.assertEqual(data["cguest_time"], 0)

    def test_system_proc_stats(self) -> None:
        """``system_proc_stats`` has the aggregate cpu line."""
        data = self.get_json("/api/v1/system_proc_stats")["data"]
        self.assertEqual(
            list(data),
            ["ok", "sample_time", "percent", "user", "nice", "sys", "idle", "iowait", "irq",
             "softirq", "steal", "guest"],
        )  # fmt: skip
        self.assertEqual((data["user"], data["idle"]), (100, 800))

    def test_meminfos(self) -> None:
        """``meminfos`` derives MemActive, RealInUse and NotInUse."""
        data = self.get_json("/api/v1/meminfos")["data"]
        self.assertEqual((data["MemActive"], data["RealInUse"], data["NotInUse"]), (600, 400, 600))
        self.assertEqual((data["percent_ram"], data["percent_swap"]), (0.4, 0.25))

    def test_requests_do_not_sample(self) -> None:
        """The routes show the sampler's last sample; sampling is the sampler service's."""
        self.fixture.clock.advance(5)
        data = self.get_json("/api/v1/rusages")["data"]
        self.assertEqual(data["sample_time"], int(_T0 * 1000))


class VhostTests(ApiTestCase):
    """``/api/v1/vhosts/``."""

    def test_list(self) -> None:
        """The list has the default vhost with HLS from the live config."""
        body = self.get_json("/api/v1/vhosts/")
        self.assertEqual(list(body), ["code", "server", "vhosts"])
        [vhost] = body["vhosts"]
        self.assertEqual((vhost["id"], vhost["name"]), (1001, "__defaultVhost__"))
        self.assertEqual((vhost["clients"], vhost["streams"]), (2, 1))
        self.assertEqual(vhost["hls"], {"enabled": True, "fragment": 5.0})

    def test_one(self) -> None:
        """An id gives that vhost; ``1001abc`` reads as 1001 (atoi)."""
        for suffix in ("1001", "1001abc"):
            self.assertEqual(self.get_json("/api/v1/vhosts/" + suffix)["vhost"]["id"], 1001)

    def test_non_positive_lists(self) -> None:
        """An id of 0 or below, or junk, lists them all (SRS)."""
        for suffix in ("0", "-3", "abc"):
            self.assertIn("vhosts", self.get_json("/api/v1/vhosts/" + suffix))

    def test_unknown(self) -> None:
        """An unknown id is code 2048 with status 200."""
        self.assertEqual(self.get_json("/api/v1/vhosts/999"), {"code": 2048})

    def test_reload_applies(self) -> None:
        """``enabled`` and ``hls`` are read from the config in force."""
        self.fixture.config = load_config_text("listen 1935; vhost __defaultVhost__ { }")
        [vhost] = self.get_json("/api/v1/vhosts/")["vhosts"]
        self.assertEqual(vhost["hls"], {"enabled": False})

    def test_post_refused(self) -> None:
        """Methods other than GET are 405 with a JSON code."""
        code, _, body = self.request("POST", "/api/v1/vhosts/1001")
        self.assertEqual((code, json.loads(body)), (405, {"code": 3011}))


class StreamTests(ApiTestCase):
    """``/api/v1/streams/``."""

    def test_list(self) -> None:
        """The list has the stream with its codecs, publisher and clients."""
        [stream] = self.get_json("/api/v1/streams/")["streams"]
        self.assertEqual(
            (stream["id"], stream["name"], stream["app"]), (1002, "livestream", "live")
        )
        self.assertEqual(stream["publish"], {"active": True, "cid": 201})
        self.assertEqual(stream["video"], {"codec": "H264", "profile": "High", "level": "3.1"})
        self.assertEqual(
            stream["audio"], {"codec": "AAC", "sample_rate": 44100, "channel": 2, "profile": "LC"}
        )
        self.assertEqual(stream["clients"], 2)
        self.assertEqual(stream["live_ms"], int((_T0 + 2.5) * 1000))

    def test_one(self) -> None:
        """An id gives that stream."""
        self.assertEqual(self.get_json("/api/v1/streams/1002")["stream"]["name"], "livestream")

    def test_unknown_and_junk(self) -> None:
        """Unknown ids and junk (atoi 0) are code 2048; negative ids list them all."""
        for suffix in ("999", "abc"):
            self.assertEqual(self.get_json("/api/v1/streams/" + suffix), {"code": 2048})
        self.assertIn("streams", self.get_json("/api/v1/streams/-1"))

    def test_delete_refused(self) -> None:
        """DELETE on a stream is 405 (SRS never answers: a Bug)."""
        code, _, body = self.request("DELETE", "/api/v1/streams/1002")
        self.assertEqual((code, json.loads(body)), (405, {"code": 3011}))

    def test_forgotten(self) -> None:
        """
        Once its publisher and players are gone, the stream's id is code
        2048 and the lists are empty; so is its vhost's, not configured
        here (issue 15, item 4).
        """
        stats = self.fixture.stats
        stats.on_disconnect(202)
        stats.on_unpublish("__defaultVhost__", "live", "livestream", _T0)
        self.assertEqual(len(self.get_json("/api/v1/streams/")["streams"]), 1)
        stats.on_disconnect(201)
        self.assertEqual(self.get_json("/api/v1/streams/1002"), {"code": 2048})
        self.assertEqual(self.get_json("/api/v1/streams/")["streams"], [])
        self.assertEqual(self.get_json("/api/v1/vhosts/1001"), {"code": 2048})
        self.assertEqual(self.get_json("/api/v1/vhosts/")["vhosts"], [])
        self.assertEqual(self.get_json("/api/v1/clients/")["clients"], [])


class ClientTests(ApiTestCase):
    """``/api/v1/clients/`` and kicking."""

    def test_list(self) -> None:
        """The list has both clients, by id, with SRS's fields."""
        clients = self.get_json("/api/v1/clients/")["clients"]
        self.assertEqual([c["id"] for c in clients], [201, 202])
        self.assertEqual(
            list(clients[1]),
            ["id", "vhost", "stream", "ip", "pageUrl", "swfUrl", "tcUrl", "url", "type",
             "publish", "alive"],
        )  # fmt: skip
        self.assertEqual(clients[1]["type"], "Play")
        self.assertIs(clients[1]["publish"], False)
        self.assertEqual(clients[1]["alive"], 2500)
        self.assertEqual(clients[0]["url"], "/live/livestream")

    def test_one_and_unknown(self) -> None:
        """An id gives that client; an unknown one is code 2049."""
        self.assertEqual(self.get_json("/api/v1/clients/202")["client"]["ip"], "192.0.2.11")
        self.assertEqual(self.get_json("/api/v1/clients/7"), {"code": 2049})

    def test_kick(self) -> None:
        """DELETE with a known id calls kick and answers code 0."""
        self.assertEqual(self.get_json("/api/v1/clients/202", "DELETE"), {"code": 0})
        self.assertEqual(self.fixture.kicked, [202])

    def test_kick_unknown(self) -> None:
        """DELETE of an id kick does not know is code 2049."""
        self.assertEqual(self.get_json("/api/v1/clients/7", "DELETE"), {"code": 2049})
        self.assertEqual(self.fixture.kicked, [7])

    def test_kick_without_id(self) -> None:
        """DELETE without an id is code 2049 and kicks nobody."""
        self.assertEqual(self.get_json("/api/v1/clients/", "DELETE"), {"code": 2049})
        self.assertEqual(self.fixture.kicked, [])

    def test_put_refused(self) -> None:
        """PUT and POST are 405."""
        for method in ("PUT", "POST"):
            code, _, body = self.request(method, "/api/v1/clients/202")
            self.assertEqual((code, json.loads(body)), (405, {"code": 3011}))
        self.assertEqual(self.fixture.kicked, [])

    def test_jsonp_method_delete(self) -> None:
        """In JSONP mode ``method=DELETE`` stands in for the verb, as SRS."""
        code, _, body = self.request("GET", "/api/v1/clients/202?callback=cb&method=DELETE")
        self.assertEqual((code, body), (200, b'cb({"code":0})'))
        self.assertEqual(self.fixture.kicked, [202])

    def test_method_param_without_jsonp(self) -> None:
        """Without a callback, ``method=`` is ignored."""
        self.get_json("/api/v1/clients/202?method=DELETE")
        self.assertEqual(self.fixture.kicked, [])


class EnvelopeTests(ApiTestCase):
    """JSONP, CORS, OPTIONS and the guards every route shares."""

    def test_jsonp(self) -> None:
        """``?callback=`` wraps the JSON and answers text/javascript."""
        code, headers, body = self.request("GET", "/api/v1/versions?callback=jQuery_1.cb")
        self.assertEqual(code, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"text/javascript"])
        self.assertTrue(body.startswith(b"jQuery_1.cb({") and body.endswith(b"})"))
        self.assertEqual(json.loads(body[len(b"jQuery_1.cb(") : -1])["data"]["major"], 2)

    def test_jsonp_error(self) -> None:
        """Error envelopes are wrapped too."""
        _, _, body = self.request("GET", "/api/v1/streams/999?callback=cb")
        self.assertEqual(body, b'cb({"code":2048})')

    def test_jsonp_bad_callback(self) -> None:
        """A callback that is not a JavaScript name is refused, unwrapped."""
        for callback in ("alert(1)//", "a b", "1abc", "x" * 200):
            code, headers, body = self.request(
                "GET", "/api/v1/versions", params={"callback": callback}
            )
            self.assertEqual((code, json.loads(body)), (400, {"code": 3066}), callback)
            self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])

    def test_cors_everywhere(self) -> None:
        """With crossdomain on, every response has the CORS headers, errors included."""
        for method, path in (("GET", "/api/v1/versions"), ("GET", "/nothing"),
                             ("PUT", "/api/v1/clients/1"), ("GET", "/api/v1"),
                             ("GET", "/console/")):  # fmt: skip
            _, headers, _ = self.request(method, path)
            for name, value in _CORS.items():
                self.assertEqual(headers.getRawHeaders(name), value, (method, path))

    def test_options(self) -> None:
        """OPTIONS with crossdomain on is an empty 200 with the CORS headers."""
        code, headers, body = self.request("OPTIONS", "/api/v1/clients/")
        self.assertEqual((code, body), (200, b""))
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])

    def test_crossdomain_off(self) -> None:
        """With crossdomain off, OPTIONS is an empty 405 and no response has CORS headers."""
        self.fixture.config = load_config_text("listen 1935; http_api { crossdomain off; }")
        code, headers, body = self.request("OPTIONS", "/api/v1/clients/")
        self.assertEqual((code, body), (405, b""))
        self.assertIsNone(headers.getRawHeaders(b"access-control-allow-origin"))
        _, headers, _ = self.request("GET", "/api/v1/versions")
        self.assertIsNone(headers.getRawHeaders(b"access-control-allow-origin"))

    def test_server_header(self) -> None:
        """Responses name SRS's version in ``Server``."""
        _, headers, _ = self.request("GET", "/api/v1/versions")
        [server] = headers.getRawHeaders(b"server")
        self.assertTrue(server.startswith(b"SRS/2.0.276"))

    def test_dot_dot(self) -> None:
        """``..`` in the URL is refused with 400 and code 4002."""
        code, _, body = self.request("GET", "/api/v1/streams/..%2f..%2fetc")
        self.assertEqual((code, json.loads(body)), (400, {"code": 4002}))

    def test_small_body_ignored(self) -> None:
        """A small body is read and ignored."""
        code, _, _ = self.request("POST", "/api/v1/versions", data=b"{}")
        self.assertEqual(code, 200)

    def test_handler_crash(self) -> None:
        """A failing collaborator gives 500 with a JSON code, not a traceback."""

        def broken() -> ServerConfig:
            raise RuntimeError("boom")

        self.fixture.api._config = broken
        code, _, body = self.request("GET", "/api/v1/vhosts/")
        self.assertEqual((code, json.loads(body)), (500, {"code": 1021}))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class SiteTests(SynchronousTestCase):
    """``HttpApi.site``: the API's listener, with its one body limit."""

    def connect(self) -> tuple[StringTransport, Any]:
        site = _Fixture(self).api.site()
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        channel.makeConnection(transport)
        return transport, channel

    def test_limit(self) -> None:
        """The API's limit is 64 KiB, below the HTTP server's."""
        self.assertEqual(_Fixture(self).api.site().max_body, API_MAX_BODY)
        self.assertEqual(API_MAX_BODY, 64 * 1024)
        self.assertLess(API_MAX_BODY, DEFAULT_MAX_BODY)

    def test_served(self) -> None:
        """A request through the site is answered by the API, with a small body."""
        transport, channel = self.connect()
        channel.dataReceived(
            b"POST /api/v1/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 "))
        self.assertIn(b'"version":"2.0.276"', transport.value())

    def test_declared_over_limit(self) -> None:
        """A declared body one byte over the limit gets 413 before it is sent."""
        transport, channel = self.connect()
        channel.dataReceived(
            b"POST /api/v1/versions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (API_MAX_BODY + 1)
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)

    def test_declared_at_limit(self) -> None:
        """A body of exactly the limit is taken."""
        transport, channel = self.connect()
        channel.dataReceived(
            b"POST /api/v1/versions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % API_MAX_BODY
            + b"x" * API_MAX_BODY
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 "))

    def test_undeclared_over_limit(self) -> None:
        """
        A chunked body gets 413 and the connection closes the moment it
        passes the API's limit, before the chunk ends (issue 15, item 2).
        """
        transport, channel = self.connect()
        channel.dataReceived(
            b"POST /api/v1/versions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n" % (API_MAX_BODY * 2)
            + b"x" * (API_MAX_BODY + 1)
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        self.assertNotIn(b"version", transport.value())


class ConsoleTests(ApiTestCase):
    """The console's files under ``/console/``."""

    def test_index(self) -> None:
        """``/console/`` is the HTML page, which loads console.js."""
        code, headers, body = self.request("GET", "/console/")
        self.assertEqual(code, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"text/html; charset=utf-8"])
        with open(os.path.join(CONSOLE_DIR, "index.html"), "rb") as f:
            self.assertEqual(body, f.read())
        self.assertIn(b'src="console.js"', body)

    def test_script_and_style(self) -> None:
        """The script and the style sheet are served with their types."""
        for name, kind in (("console.js", b"application/javascript; charset=utf-8"),
                           ("console.css", b"text/css; charset=utf-8")):  # fmt: skip
            code, headers, body = self.request("GET", "/console/" + name)
            self.assertEqual(code, 200)
            self.assertEqual(headers.getRawHeaders(b"content-type"), [kind])
            self.assertTrue(body)

    def test_missing_and_traversal(self) -> None:
        """Missing files, hidden names and nested paths are JSON 404s."""
        for path in ("/console/nothing.js", "/console/.hidden", "/console/a/b.js"):
            code, _, body = self.request("GET", path)
            self.assertEqual((code, json.loads(body)), (404, {"code": 3010}), path)

    def test_post_refused(self) -> None:
        """The console takes GET and HEAD only."""
        code, _, body = self.request("POST", "/console/")
        self.assertEqual((code, json.loads(body)), (405, {"code": 3011}))
