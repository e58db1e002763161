"""
Tests for :mod:`srstwist.web.mounts`: which live stream or file a request names.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.web.mounts import UnsafePath, live_route, request_path, static_route

_CONF = """
listen 1935;
http_server { enabled on; dir /srv/root; }
vhost __defaultVhost__ {
    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }
    http_static { enabled on; mount [vhost]/hls/; dir /srv/hls; }
}
vhost ossrs.net {
    http_remux { enabled on; mount [vhost]/[app]/[stream].mp3; }
    http_static { enabled on; mount [vhost]/; dir /srv/ossrs; }
}
vhost off.test { enabled off; http_remux { enabled on; mount /off/[app]/[stream].aac; } }
"""


def _config():
    return load_config_text(_CONF, "t.conf")


class RequestPathTests(SynchronousTestCase):
    """Decoding and traversal checks."""

    def test_plain_and_encoded(self) -> None:
        """Percent-encoding is decoded and the query dropped."""
        self.assertEqual(request_path(b"/live/a%20b.flv?x=1"), "/live/a b.flv")

    def test_traversal_refused(self) -> None:
        """'..' in plain or encoded form, NUL and backslash are refused."""
        for raw in (b"/../etc", b"/a/%2e%2e/b", b"/a/%2E%2E", b"/a%00b", b"/a%5c..%5cb"):
            self.assertRaises(UnsafePath, request_path, raw)


class LiveRouteTests(SynchronousTestCase):
    """http_remux mount templates."""

    def test_default_vhost_form(self) -> None:
        """[vhost]/ of the default vhost becomes /, on any Host."""
        route = live_route(_config(), "example.com:8080", "/live/stream.flv")
        assert route is not None
        self.assertEqual(
            (route.vhost.name, route.app, route.stream, route.extension),
            ("__defaultVhost__", "live", "stream", ".flv"),
        )

    def test_nested_app(self) -> None:
        """The last component is the stream, the rest the app."""
        route = live_route(_config(), "x", "/a/b/s.flv")
        assert route is not None
        self.assertEqual((route.app, route.stream), ("a/b", "s"))

    def test_vhost_mount_needs_its_host(self) -> None:
        """A mount starting with a vhost name matches only that Host."""
        self.assertIsNone(live_route(_config(), "other", "/live/s.mp3"))
        route = live_route(_config(), "ossrs.net:8080", "/live/s.mp3")
        assert route is not None
        self.assertEqual((route.vhost.name, route.extension), ("ossrs.net", ".mp3"))

    def test_disabled_vhost_and_other_extensions(self) -> None:
        """Disabled vhosts mount nothing; a wrong extension matches nothing."""
        self.assertIsNone(live_route(_config(), "x", "/off/live/s.aac"))
        self.assertIsNone(live_route(_config(), "x", "/live/s.ts"))


class StaticRouteTests(SynchronousTestCase):
    """http_static mounts and the server's dir."""

    def test_longest_mount_wins(self) -> None:
        """/hls/ beats the root; anything else falls to http_server dir."""
        route = static_route(_config(), "x", "/hls/live/s.m3u8")
        assert route is not None
        self.assertEqual((route.root, route.segments), ("/srv/hls", ("live", "s.m3u8")))
        route = static_route(_config(), "x", "/index.html")
        assert route is not None
        self.assertEqual((route.root, route.segments), ("/srv/root", ("index.html",)))

    def test_redirect_to_mount(self) -> None:
        """/hls redirects to /hls/."""
        route = static_route(_config(), "x", "/hls")
        assert route is not None
        self.assertEqual(route.redirect, "/hls/")

    def test_host_names_vhost(self) -> None:
        """A Host naming a vhost with its own mounts uses only those."""
        route = static_route(_config(), "ossrs.net", "/hls/x.ts")
        assert route is not None
        self.assertEqual((route.root, route.segments), ("/srv/ossrs", ("hls", "x.ts")))

    def test_directory(self) -> None:
        """A trailing slash asks for the directory's index."""
        route = static_route(_config(), "x", "/hls/")
        assert route is not None
        self.assertTrue(route.directory)
        self.assertEqual(route.segments, ())
