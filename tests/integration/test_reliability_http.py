"""
End-to-end reliability of the two HTTP listeners against a real ``twistd
srs`` on 127.0.0.1, driven by curl (issue 15).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from srstwist.web.api import API_MAX_BODY
from srstwist.web.site import DEFAULT_MAX_BODY
from tests.integration.process import ServerHelpers, SrsServer, free_port


class ChunkedBodyTests(ServerHelpers, TestCase):
    """A chunked upload over a listener's body limit is refused on both listeners."""

    timeout = 60

    def setUp(self) -> None:
        if shutil.which("curl") is None:
            raise SkipTest("curl is not installed")

    @defer.inlineCallbacks
    def start_server(self) -> Any:
        self.api_port = free_port()
        self.http_port = free_port()
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("hello")
        top = (
            f"http_api {{ enabled on; listen 127.0.0.1:{self.api_port}; }}\n"
            f"http_server {{ enabled on; listen 127.0.0.1:{self.http_port}; dir {root}; }}\n"
        )
        self.server = SrsServer(self, "vhost __defaultVhost__ {}\n", top=top)
        yield self.server.started()
        yield self.server.child.wait_for(f"listen http_api at tcp:port={self.api_port}")
        yield self.server.child.wait_for(f"listen http_server at tcp:port={self.http_port}")

    def tearDown(self) -> None:
        server = getattr(self, "server", None)
        if server:
            self.assertNotIn("Traceback", server.output)

    def big_file(self, size: int) -> str:
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(b"x" * size)
        return path

    @defer.inlineCallbacks
    def curl(self, url: str, *args: str) -> Any:
        """``(http code or 0, exit code, output)`` of one curl run."""
        child = self.start(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "20",
             *args, url],
            limit=30,
        )  # fmt: skip
        code, _ = yield child.ended
        first = (child.stdout.strip().splitlines() or ["0"])[0]
        return int(first) if first.isdigit() else 0, code, child.output

    @defer.inlineCallbacks
    def test_chunked_over_limit(self) -> Any:
        """
        Every method, on the HTTP server (1 MiB) and the API (64 KiB): a
        chunked body eight times the limit gets 413, the server logs one
        line each, and both listeners still answer afterwards.
        """
        yield self.start_server()
        listeners = {
            "http_server": (f"http://127.0.0.1:{self.http_port}/index.html", DEFAULT_MAX_BODY),
            "http_api": (f"http://127.0.0.1:{self.api_port}/api/v1/versions", API_MAX_BODY),
        }
        refusals = 0
        for name, (url, limit) in listeners.items():
            path = self.big_file(limit * 8)
            for method in ("POST", "PUT", "GET", "DELETE"):
                status, code, output = yield self.curl(
                    url, "-X", method, "-H", "Transfer-Encoding: chunked",
                    "--data-binary", f"@{path}",
                )  # fmt: skip
                self.assertEqual(status, 413, (name, method, code, output))
                refusals += 1
            # Within the limit, a chunked body is taken and the resource
            # answers (the static files refuse POST with 405).
            small = self.big_file(limit // 2)
            status, code, output = yield self.curl(
                url, "-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{small}"
            )
            self.assertIn(status, (200, 405), (name, code, output))
        lines = [line for line in self.server.lines() if "chunked request body refused" in line]
        self.assertEqual(len(lines), refusals, lines)
        for url, _ in listeners.values():
            status, code, output = yield self.curl(url)
            self.assertEqual(status, 200, (url, code, output))
