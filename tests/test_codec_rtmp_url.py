"""
Tests for :mod:`srstwist.codec.rtmp_url`: SRS 2.0's tcUrl and vhost rules
(``srs_rtmp_utility.cpp``), with the vectors of SRS's ``ProtocolUtilityTest``
and ``ProtocolRTMPTest.RTMPRequest``.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.rtmp_url import (
    DEFAULT_VHOST,
    RtmpRequestUrl,
    generate_tc_url,
    parse_tc_url,
    resolve_vhost,
    split_rtmp_url,
    stream_url,
)


class ResolveVhostTests(SynchronousTestCase):
    """
    ``resolve_vhost`` is SRS's ``srs_vhost_resolve`` (``VhostResolve``).
    """

    def test_no_query(self) -> None:
        """A name without a query keeps the vhost and is unchanged."""
        self.assertEqual(resolve_vhost("vhost", "app", ""), ("vhost", "app", ""))

    def test_separators(self) -> None:
        """Every SRS query separator finds the vhost, wherever it is."""
        cases = [
            ("app?vhost=changed", "changed"),
            ("app?vhost=changed1&&query=true", "changed1"),
            ("app?vhost=changed1&query=true", "changed1"),
            ("app?other=true&&vhost=changed2&&query=true", "changed2"),
            ("app...other...true...vhost...changed3...query...true", "changed3"),
            ("app,vhost,changed4", "changed4"),
        ]
        for name, vhost in cases:
            self.assertEqual(resolve_vhost("vhost", name, "")[:2], (vhost, "app"))

    def test_param_from_first_question_mark(self) -> None:
        """The param is everything from the first ``?``; ``...`` alone makes none."""
        self.assertEqual(
            resolve_vhost("v", "show?key=abc&&vhost=demo.com", ""),
            ("demo.com", "show", "?key=abc&&vhost=demo.com"),
        )
        self.assertEqual(resolve_vhost("v", "app...vhost...x", "?old"), ("x", "app", "?old"))

    def test_substring_match(self) -> None:
        """``vhost?`` is a substring match, so ``myvhost=x`` also selects ``x``."""
        self.assertEqual(resolve_vhost("v", "app?myvhost=x", "")[0], "x")

    def test_empty_vhost_value(self) -> None:
        """An empty ``vhost=`` keeps the old vhost."""
        self.assertEqual(resolve_vhost("v", "app?vhost=", "")[0], "v")

    def test_name_cut_at_separator(self) -> None:
        """A name containing ``=``, ``&`` or ``,`` is cut there (SRS quirk)."""
        self.assertEqual(resolve_vhost("v", "a=b", "")[1], "a")
        self.assertEqual(resolve_vhost("v", "a&b", "")[1], "a")
        self.assertEqual(resolve_vhost("v", "a,b", "")[1], "a")

    def test_definst(self) -> None:
        """A trailing ``/_definst_`` is dropped."""
        self.assertEqual(resolve_vhost("v", "live/_definst_", "")[1], "live")


class ParseTcUrlTests(SynchronousTestCase):
    """
    ``parse_tc_url`` is ``srs_discovery_tc_url`` plus ``SrsRequest::strip``
    (``DiscoveryTcUrl``, ``RTMPRequest``).
    """

    def check(self, tc_url: str, name: str, **expected: str) -> RtmpRequestUrl:
        request = parse_tc_url(tc_url, name)
        for name, value in expected.items():
            self.assertEqual(getattr(request, name), value, name)
        return request

    def test_general(self) -> None:
        """Schema, host, vhost, app, stream and the default port."""
        self.check(
            "rtmp://winlin.cn/live",
            "show",
            schema="rtmp",
            host="winlin.cn",
            vhost="winlin.cn",
            app="live",
            stream="show",
            port="1935",
            param="",
        )

    def test_port(self) -> None:
        """An explicit port is split off the host."""
        request = self.check("rtmp://winlin.cn:19351/live", "show", host="winlin.cn", port="19351")
        self.assertEqual(request.port_number, 19351)

    def test_param_from_stream(self) -> None:
        """A stream query becomes the param and may name the vhost."""
        self.check("rtmp://winlin.cn/live", "show?key=abc", stream="show", param="?key=abc")
        self.check(
            "rtmp://winlin.cn/live",
            "show?key=abc&&vhost=demo.com",
            vhost="demo.com",
            stream="show",
            param="?key=abc&&vhost=demo.com",
        )

    def test_param_from_app(self) -> None:
        """An app query becomes the param and may name the vhost."""
        self.check("rtmp://winlin.cn/live?key=abc", "show", app="live", param="?key=abc")
        self.check(
            "rtmp://winlin.cn/live?key=abc&&vhost=demo.com",
            "show",
            vhost="demo.com",
            app="live",
            param="?key=abc&&vhost=demo.com",
        )

    def test_without_stream(self) -> None:
        """At connect time the stream is empty."""
        self.check("rtmp://127.0.0.1:1935/live", "", host="127.0.0.1", stream="", port="1935")
        self.check("rtmp://127.0.0.1:19351/live?vhost=demo", "", vhost="demo", port="19351")

    def test_ip_and_vhost_in_stream(self) -> None:
        """The vhost of the stream query wins over the IP host (SRS #1059)."""
        self.check(
            "rtmp://127.0.0.1:19351/live",
            "show?vhost=demo",
            host="127.0.0.1",
            vhost="demo",
            stream="show",
        )

    def test_stream_pass_wins(self) -> None:
        """The stream pass overrides the vhost and param found in the app."""
        self.check("rtmp://h/live?vhost=a", "s?vhost=b", vhost="b", param="?vhost=b")

    def test_definst(self) -> None:
        """Wowza's ``_definst_`` is dropped from the app."""
        self.check("rtmp://winlin.cn/live/_definst_", "show", app="live")

    def test_sub_app(self) -> None:
        """Everything after the host is the app, slashes included."""
        self.check("rtmp://h/live/sub", "s", app="live/sub")

    def test_default_vhost_param_dropped(self) -> None:
        """A param of exactly ``?vhost=__defaultVhost__`` becomes empty."""
        self.check("rtmp://h/live?vhost=__defaultVhost__", "", vhost=DEFAULT_VHOST, param="")

    def test_strip(self) -> None:
        """Spaces and line breaks are removed, slashes trimmed (``RTMPRequest``)."""
        for tc_url in (
            "rtmp://std.ossrs.net/live",
            "rtmp://s td.os srs.n et/li v e",
            "rtmp://s\ntd.o\rssrs.ne\nt/li\nve",
            "rtmp://std.ossrs.net/live ",
        ):
            self.check(
                tc_url,
                "livestream",
                schema="rtmp",
                host="std.ossrs.net",
                vhost="std.ossrs.net",
                app="live",
                port="1935",
            )
        self.check("rtmp://h//live//", "/s/", app="live", stream="s")

    def test_no_slash_after_host(self) -> None:
        """Without a ``/`` after the host, the host is empty and all is app."""
        self.check("rtmp://hostonly", "", host="", vhost="", app="hostonly")

    def test_broken_port(self) -> None:
        """An empty or non-numeric port is kept as written, without a number."""
        self.assertIsNone(parse_tc_url("rtmp://h:/live").port_number)
        self.assertIsNone(parse_tc_url("rtmp://h:x/live").port_number)
        self.assertIsNone(parse_tc_url("rtmp://h:0/live").port_number)

    def test_stream_url(self) -> None:
        """The source key leaves out the default vhost."""
        request = parse_tc_url("rtmp://h/live?vhost=__defaultVhost__", "s")
        self.assertEqual(request.stream_url, "/live/s")
        self.assertEqual(stream_url("demo", "live", "s"), "demo/live/s")

    @given(st.text(max_size=40), st.text(max_size=20))
    def test_total(self, tc_url: str, stream: str) -> None:
        """Any text parses without error and stripped fields contain no blanks."""
        request = parse_tc_url(tc_url, stream)
        for value in (request.host, request.vhost, request.app, request.stream):
            self.assertFalse(set(value) & set(" \n\r\t"))
        self.assertFalse(set(request.vhost) & {"/"})


class GenerateTests(SynchronousTestCase):
    """
    ``generate_tc_url`` (``GenerateTcUrl``) and ``split_rtmp_url``.
    """

    def test_generate(self) -> None:
        """The default vhost uses the IP; the port appears unless 1935."""
        self.assertEqual(
            generate_tc_url("127.0.0.1", DEFAULT_VHOST, "live", "1935"),
            "rtmp://127.0.0.1/live",
        )
        self.assertEqual(generate_tc_url("127.0.0.1", "demo", "live", "1935"), "rtmp://demo/live")
        self.assertEqual(
            generate_tc_url("127.0.0.1", "demo", "live", 19351, "?k=v"),
            "rtmp://demo:19351/live?k=v",
        )

    def test_split(self) -> None:
        """A full URL splits at its last ``/``."""
        self.assertEqual(
            split_rtmp_url("rtmp://h:1935/live/stream?k=v"),
            ("rtmp://h:1935/live", "stream?k=v"),
        )
        self.assertEqual(split_rtmp_url("rtmp://h"), ("rtmp://h", ""))
