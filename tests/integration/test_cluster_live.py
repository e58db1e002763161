"""
End to end: the RTMP cluster with real programs (issue 17).

Every server is a real process on a free 127.0.0.1 port, started and
stopped by the test by PID: ``twistd -n srs`` for srstwist, and Debian's
``nginx`` with ``libnginx-mod-rtmp`` (one worker, foreground, a temporary
prefix) for nginx-rtmp.  ffmpeg publishes generated H.264/AAC in real time
and ffprobe checks every hop.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.process import (
    Program,
    SrsServer,
    free_port,
    ffmpeg_play,
    ffmpeg_publish,
    ffprobe,
    program,
)

NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
#: How long a publisher or an upstream may take to start.
_WAIT = 20.0
_DEFAULT = "vhost __defaultVhost__ { }\n"


def _edge(*origins: int) -> str:
    listed = " ".join(f"127.0.0.1:{port}" for port in origins)
    return f"vhost __defaultVhost__ {{ mode remote; origin {listed}; }}\n"


def _codecs(probe: object) -> dict[str, str]:
    assert isinstance(probe, dict), probe
    return {
        s["codec_type"]: s["codec_name"]
        for s in probe.get("streams", [])
        if s["codec_type"] in ("audio", "video")
    }


class _Nginx:
    """nginx-rtmp on a free port under a temporary prefix; ``rtmp`` is the body of ``server``."""

    def __init__(self, testcase: TestCase, rtmp: str) -> None:
        if shutil.which("nginx") is None or not os.path.exists(NGINX_MODULE):
            raise SkipTest("nginx with libnginx-mod-rtmp is not installed")
        self.port = free_port()
        self.prefix = os.path.abspath(testcase.mktemp())
        os.makedirs(os.path.join(self.prefix, "logs"))
        conf = os.path.join(self.prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                f"load_module {NGINX_MODULE};\n"
                "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                f"error_log {self.prefix}/logs/error.log info;\npid {self.prefix}/nginx.pid;\n"
                "events { worker_connections 1024; }\n"
                f"rtmp {{ server {{ listen 127.0.0.1:{self.port};\n{rtmp}\n}} }}\n"
            )
        self.child = program(testcase, ["nginx", "-p", self.prefix, "-c", conf], self.prefix, 120)

    def url(self, path: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/{path}"

    def started(self) -> defer.Deferred[None]:
        return _wait_port(self.port)


def _wait_port(port: int, within: float = 10.0) -> defer.Deferred[None]:
    """Fires once something accepts TCP on 127.0.0.1:port (polled every 50 ms)."""
    import socket

    from twisted.internet import reactor, task

    deadline = reactor.seconds() + within  # type: ignore[attr-defined]

    def poll() -> bool:
        s = socket.socket()
        try:
            s.settimeout(0.2)
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            if reactor.seconds() > deadline:  # type: ignore[attr-defined]
                raise TimeoutError(f"nothing listens on {port} after {within:g}s") from None
            return False
        finally:
            s.close()

    async def wait() -> None:
        while not poll():
            await task.deferLater(reactor, 0.05, lambda: None)

    return defer.Deferred.fromCoroutine(wait())


class _Base(TestCase):
    timeout = 90

    def publish(self, url: str, seconds: float, cwd: str) -> Program:
        return program(self, ffmpeg_publish(url, seconds), cwd, seconds + 15)

    @defer.inlineCallbacks
    def probe(self, url: str, cwd: str) -> Any:
        """ffprobe's streams of ``url``, retried until it sees audio and video."""
        last: Any = None
        for _ in range(5):
            child = program(self, ffprobe("-show_streams", url), cwd, 20)
            result = yield child.ended
            if result[0] == 0:
                last = json.loads(child.output[child.output.index("{"):])
                if set(_codecs(last)) == {"audio", "video"}:
                    return last
        self.fail(f"ffprobe of {url} never saw audio and video: {last}")

    def api(self, port: int, path: str, cwd: str) -> defer.Deferred[Any]:
        child = program(self, ["curl", "-s", f"http://127.0.0.1:{port}{path}"], cwd, 10)
        return child.ended.addCallback(lambda _: json.loads(child.output))


class ForwardTests(_Base):
    @defer.inlineCallbacks
    def test_forward_master_to_slave(self) -> defer.Generator[Any, Any, None]:
        """A stream published to the master plays on the slave; the API shows the forward."""
        slave = SrsServer(self, _DEFAULT)
        yield slave.started()
        api_port = free_port()
        master = SrsServer(
            self,
            f"vhost __defaultVhost__ {{ forward 127.0.0.1:{slave.port}; }}\n",
            top=f"http_api {{ enabled on; listen {api_port}; }}\n",
        )
        yield master.started()
        self.publish(master.url("live/livestream"), 12, master.directory)
        yield slave.child.wait_for("] publish __defaultVhost__/live/livestream, ", timeout=_WAIT)
        probe = yield self.probe(slave.url("live/livestream"), slave.directory)
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})
        body = yield self.api(api_port, "/api/v1/clusters", master.directory)
        [forward] = body["forwards"]
        self.assertEqual(forward["url"], f"rtmp://127.0.0.1:{slave.port}/live/livestream")
        self.assertEqual(forward["state"], "publishing")
        self.assertGreater(forward["bytes_sent"], 0)

    @defer.inlineCallbacks
    def test_forward_to_nginx(self) -> defer.Generator[Any, Any, None]:
        nginx = _Nginx(self, "application live { live on; }")
        yield nginx.started()
        master = SrsServer(self, f"vhost __defaultVhost__ {{ forward 127.0.0.1:{nginx.port}; }}\n")
        yield master.started()
        self.publish(master.url("live/livestream"), 12, master.directory)
        yield master.child.wait_for("forward rtmp://", timeout=_WAIT)
        probe = yield self.probe(nginx.url("live/livestream"), nginx.prefix)
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})


class EdgeTests(_Base):
    @defer.inlineCallbacks
    def test_edge_pull_one_upstream_and_push(self) -> defer.Generator[Any, Any, None]:
        """
        Players on the edge share one upstream (the origin sees one play);
        a stream published to the edge plays on the origin.
        """
        origin = SrsServer(self, _DEFAULT)
        yield origin.started()
        edge = SrsServer(self, _edge(origin.port))
        yield edge.started()
        self.publish(origin.url("live/livestream"), 15, origin.directory)
        yield origin.child.wait_for("] publish __defaultVhost__/live/livestream, ", timeout=_WAIT)
        url = edge.url("live/livestream")
        probes = yield defer.gatherResults(
            [self.probe(url, edge.directory), self.probe(url, edge.directory)]
        )
        for probe in probes:
            self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})
        self.assertEqual(edge.output.count("first player, start"), 1, edge.output)
        # The origin saw one player: the edge's one upstream.
        self.assertEqual(origin.output.count("] play __defaultVhost__/live/livestream, "), 1)

        # Edge push: publish to the edge, play from the origin.
        self.publish(edge.url("live/pushed"), 12, edge.directory)
        yield origin.child.wait_for("] publish __defaultVhost__/live/pushed, ", timeout=_WAIT)
        probe = yield self.probe(origin.url("live/pushed"), origin.directory)
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})

    @defer.inlineCallbacks
    def test_http_flv_player_starts_the_pull(self) -> defer.Generator[Any, Any, None]:
        """An HTTP-FLV player alone (hstrs) makes a cold edge pull from the origin."""
        origin = SrsServer(self, _DEFAULT)
        yield origin.started()
        http_port = free_port()
        edge = SrsServer(
            self,
            f"vhost __defaultVhost__ {{ mode remote; origin 127.0.0.1:{origin.port};\n"
            "  http_remux { enabled on; mount [vhost]/[app]/[stream].flv; hstrs on; } }\n",
            top=f"http_server {{ enabled on; listen {http_port}; }}\n",
        )
        yield edge.started()
        self.publish(origin.url("live/livestream"), 15, origin.directory)
        yield origin.child.wait_for("] publish __defaultVhost__/live/livestream, ", timeout=_WAIT)
        probe = yield self.probe(
            f"http://127.0.0.1:{http_port}/live/livestream.flv", edge.directory
        )
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})
        self.assertIn("first player, start", edge.output)

    @defer.inlineCallbacks
    def test_vhost_transform(self) -> defer.Generator[Any, Any, None]:
        """conf/transform.edge.conf's vhosts: the edge vhost plays source.srs.com's stream."""
        origin = SrsServer(self, "vhost __defaultVhost__ { }\nvhost source.srs.com { }\n")
        yield origin.started()
        edge = SrsServer(
            self,
            "vhost __defaultVhost__ { }\nvhost transform.srs.edge.com {\n"
            f"  mode remote; origin 127.0.0.1:{origin.port}; vhost source.srs.com; }}\n",
        )
        yield edge.started()
        self.publish(origin.url("live?vhost=source.srs.com/livestream"), 15, origin.directory)
        yield origin.child.wait_for("] publish source.srs.com/live/livestream, ", timeout=_WAIT)
        probe = yield self.probe(
            edge.url("live?vhost=transform.srs.edge.com/livestream"), edge.directory
        )
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})
        self.assertIn("] play source.srs.com/live/livestream, ", origin.output)

    @defer.inlineCallbacks
    def test_token_traverse(self) -> defer.Generator[Any, Any, None]:
        """
        The origin's on_connect hook decides for the edge: it sees the
        client's own tcUrl (the edge's address); when it denies, the edge
        refuses the client.
        """
        from tests.integration.test_control_plane import HookReceiver

        receiver = HookReceiver(self)
        hooks = "vhost __defaultVhost__ {{ http_hooks {{ enabled on; on_connect {}; }} }}\n"
        allow = SrsServer(self, hooks.format(receiver.url("zero")))
        deny = SrsServer(self, hooks.format(receiver.url("deny")))
        yield defer.gatherResults([allow.started(), deny.started()])
        traverse = "token_traverse on; "
        edge = SrsServer(self, _edge(allow.port).replace("mode", traverse + "mode"))
        refusing = SrsServer(self, _edge(deny.port).replace("mode", traverse + "mode"))
        yield defer.gatherResults([edge.started(), refusing.started()])
        self.publish(edge.url("live/livestream?token=abc"), 12, edge.directory)
        yield allow.child.wait_for("] publish __defaultVhost__/live/livestream, ", timeout=_WAIT)
        tc_urls = [p.get("tcUrl") for p in receiver.payloads("on_connect")]
        self.assertIn(f"rtmp://127.0.0.1:{edge.port}/live", tc_urls)

        child = program(
            self, ffprobe("-show_streams", refusing.url("live/livestream")), refusing.directory, 20
        )
        result = yield child.ended
        self.assertNotEqual(result[0], 0)
        yield refusing.child.wait_for("token traverse: origin", timeout=_WAIT)

    @defer.inlineCallbacks
    def test_failover(self) -> defer.Generator[Any, Any, None]:
        """The first origin is killed by PID while a player plays: it goes on from the second."""
        first = SrsServer(self, _DEFAULT)
        second = SrsServer(self, _DEFAULT)
        yield defer.gatherResults([first.started(), second.started()])
        edge = SrsServer(self, _edge(first.port, second.port))
        yield edge.started()
        for origin in (first, second):
            self.publish(origin.url("live/livestream"), 30, origin.directory)
            yield origin.child.wait_for(
                "] publish __defaultVhost__/live/livestream, ", timeout=_WAIT
            )
        copy = program(
            self, ffmpeg_play(edge.url("live/livestream"), 12, "out.flv"), edge.directory, 40
        )
        yield edge.child.wait_for("playing from rtmp://127.0.0.1:%d" % first.port, timeout=_WAIT)
        os.kill(first.pid, 9)
        yield edge.child.wait_for("playing from rtmp://127.0.0.1:%d" % second.port, timeout=_WAIT)
        result = yield copy.ended
        self.assertEqual(result[0], 0, copy.output)
        probe = program(
            self, ffprobe("-show_format", os.path.join(edge.directory, "out.flv")), edge.directory
        )
        yield probe.ended
        duration = float(json.loads(probe.output)["format"]["duration"])
        self.assertGreater(duration, 10.0)

    @defer.inlineCallbacks
    def test_edge_before_nginx_and_nginx_pull(self) -> defer.Generator[Any, Any, None]:
        """srstwist edge in front of an nginx-rtmp origin; nginx-rtmp pulling from srstwist."""
        nginx_origin = _Nginx(self, "application live { live on; }")
        yield nginx_origin.started()
        edge = SrsServer(self, _edge(nginx_origin.port))
        yield edge.started()
        self.publish(nginx_origin.url("live/livestream"), 15, nginx_origin.prefix)
        probe = yield self.probe(edge.url("live/livestream"), edge.directory)
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})

        origin = SrsServer(self, _DEFAULT)
        yield origin.started()
        nginx_edge = _Nginx(
            self, f"application live {{ live on; pull rtmp://127.0.0.1:{origin.port}/live; }}"
        )
        yield nginx_edge.started()
        self.publish(origin.url("live/pulled"), 15, origin.directory)
        yield origin.child.wait_for("] publish __defaultVhost__/live/pulled, ", timeout=_WAIT)
        probe = yield self.probe(nginx_edge.url("live/pulled"), nginx_edge.prefix)
        self.assertEqual(_codecs(probe), {"video": "h264", "audio": "aac"})
