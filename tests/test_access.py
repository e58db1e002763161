"""
Tests for :mod:`srstwist.stream.admission`: the vhost, ``security`` and ``refer``
checks of SRS 2.0 (``SrsRtmpConn::stream_service_cycle``, ``srs_app_security.cpp``,
``srs_app_refer.cpp``).
"""

from __future__ import annotations

import itertools

from twisted.trial.unittest import SynchronousTestCase

from srstwist.stream.admission import (
    ERROR_RTMP_ACCESS_DENIED,
    ERROR_RTMP_STREAM_NAME_EMPTY,
    ERROR_RTMP_VHOST_NOT_FOUND,
    ERROR_SYSTEM_SECURITY,
    ERROR_SYSTEM_SECURITY_DENY,
    AccessDenied,
    check_refer,
    check_security,
    check_stream_name,
    check_vhost,
    refer_domain,
)
from srstwist.config.loader import load_config_text
from srstwist.config.model import AccessRule, SecurityConfig, VhostConfig

_IP = "10.0.0.7"
_OTHER_IP = "10.0.0.8"


def _security(*rules: tuple[str, str, str], enabled: bool = True) -> SecurityConfig:
    """A ``security`` block with these (action, method, who) rules."""
    return SecurityConfig(enabled=enabled, rules=tuple(AccessRule(*rule) for rule in rules))


def _security_code(security: SecurityConfig, role: str, ip: str = _IP) -> int:
    """0 when allowed, else the error code raised."""
    try:
        check_security(security, role, ip)
    except AccessDenied as error:
        return error.code
    return 0


def _refer_code(allowed: tuple[str, ...] | None, page_url: str) -> int:
    """0 when allowed, else the error code raised."""
    try:
        check_refer(allowed, page_url)
    except AccessDenied as error:
        return error.code
    return 0


class AccessDeniedTests(SynchronousTestCase):
    """``AccessDenied`` carries the SRS code and a log message."""

    def test_attributes(self) -> None:
        """The code and message are kept and both appear in ``str``."""
        error = AccessDenied(2015, "refer failed")
        self.assertEqual((error.code, error.message), (2015, "refer failed"))
        self.assertEqual(str(error), "refer failed (code=2015)")


class SecurityTests(SynchronousTestCase):
    """``check_security`` follows SRS's ``SrsSecurity::check`` (SRS issue #211)."""

    def test_disabled_allows_everyone(self) -> None:
        """With ``enabled`` off, even a ``deny all`` lets everyone through."""
        security = _security(("deny", "play", "all"), ("deny", "publish", "all"), enabled=False)
        for role in ("play", "publish"):
            self.assertEqual(_security_code(security, role), 0)

    def test_default_config_allows(self) -> None:
        """The default ``SecurityConfig`` (no block) allows both roles."""
        for role in ("play", "publish"):
            self.assertEqual(_security_code(SecurityConfig(), role), 0)

    def test_enabled_without_rules_refuses(self) -> None:
        """Security on with no rule refuses with 1052."""
        for role in ("play", "publish"):
            self.assertEqual(_security_code(_security(), role), ERROR_SYSTEM_SECURITY)

    def test_table(self) -> None:
        """
        Every combination of (allow matches, deny matches) for each role and
        both kinds of target (``all``, the exact IP) gives SRS's result,
        whatever order the rules are written in.
        """
        wrong = []
        for role, allow_who, deny_who in itertools.product(
            ("play", "publish"), (None, "all", _IP), (None, "all", _IP)
        ):
            rules = []
            if allow_who:
                rules.append(("allow", role, allow_who))
            if deny_who:
                rules.append(("deny", role, deny_who))
            if deny_who:
                expected = ERROR_SYSTEM_SECURITY_DENY
            elif allow_who:
                expected = 0
            else:
                expected = ERROR_SYSTEM_SECURITY
            for ordered in (rules, rules[::-1]):
                actual = _security_code(_security(*ordered), role)
                if actual != expected:
                    wrong.append((role, ordered, actual, expected))
        self.assertEqual(wrong, [])

    def test_deny_beats_allow(self) -> None:
        """A deny of the exact IP wins over an earlier ``allow all``."""
        security = _security(("allow", "play", "all"), ("deny", "play", _IP))
        self.assertEqual(_security_code(security, "play"), ERROR_SYSTEM_SECURITY_DENY)
        self.assertEqual(_security_code(security, "play", _OTHER_IP), 0)

    def test_rule_for_other_role_ignored(self) -> None:
        """Rules for the other role neither allow nor deny."""
        allow_publish = _security(("allow", "publish", "all"))
        self.assertEqual(_security_code(allow_publish, "play"), ERROR_SYSTEM_SECURITY)
        deny_play = _security(("allow", "publish", "all"), ("deny", "play", "all"))
        self.assertEqual(_security_code(deny_play, "publish"), 0)

    def test_exact_ip_only(self) -> None:
        """An IP rule matches only that exact text: no prefix, CIDR or wildcard."""
        for who in ("10.0.0.70", "10.0.0", "10.0.0.0/24", "10.0.0.*", "localhost"):
            security = _security(("allow", "play", who))
            self.assertEqual(_security_code(security, "play"), ERROR_SYSTEM_SECURITY, who)
        self.assertEqual(_security_code(_security(("allow", "play", _IP)), "play"), 0)

    def test_reference_example(self) -> None:
        """A typical setup: only local encoders publish; everyone plays."""
        security = _security(("allow", "publish", "127.0.0.1"), ("allow", "play", "all"))
        self.assertEqual(_security_code(security, "publish", "127.0.0.1"), 0)
        self.assertEqual(_security_code(security, "publish", _IP), ERROR_SYSTEM_SECURITY)
        self.assertEqual(_security_code(security, "play", _IP), 0)

    def test_ipv4_mapped(self) -> None:
        """A dual-stack peer ``::ffff:a.b.c.d`` matches rules written for ``a.b.c.d``."""
        security = _security(("allow", "play", _IP), ("deny", "publish", _IP))
        self.assertEqual(_security_code(security, "play", "::ffff:" + _IP), 0)
        self.assertEqual(
            _security_code(security, "publish", "::ffff:" + _IP), ERROR_SYSTEM_SECURITY_DENY
        )

    def test_from_config_file(self) -> None:
        """Rules parsed from a config file are applied as written."""
        config = load_config_text(
            "listen 1935; vhost v { security { enabled on; deny play 1.2.3.4;"
            " allow play all; allow publish 127.0.0.1; } }"
        )
        vhost = config.vhost("v")
        assert vhost is not None
        self.assertEqual(_security_code(vhost.security, "play", "1.2.3.4"), 1053)
        self.assertEqual(_security_code(vhost.security, "play", "5.6.7.8"), 0)
        self.assertEqual(_security_code(vhost.security, "publish", "5.6.7.8"), 1052)

    def test_bad_role(self) -> None:
        """A role other than play/publish is a programming error."""
        self.assertRaises(ValueError, check_security, SecurityConfig(), "fmle-publish", _IP)


class ReferDomainTests(SynchronousTestCase):
    """``refer_domain`` extracts the host as SRS's ``check_single_refer`` does, plus URL hygiene."""

    def test_reference_steps(self) -> None:
        """Drop up to ``://``, cut at the first ``/``, then at ``:``."""
        cases = [
            ("http://www.github.com/player.swf", "www.github.com"),
            ("https://ossrs.net:8080/players/srs_player.html", "ossrs.net"),
            ("http://ossrs.net", "ossrs.net"),
            ("ossrs.net/players", "ossrs.net"),
            ("", ""),
        ]
        self.assertEqual([refer_domain(url) for url, _ in cases], [d for _, d in cases])

    def test_hygiene(self) -> None:
        """Query, fragment, user info, IPv6 brackets, root dot and case are handled."""
        cases = [
            ("http://a.com?x=/y", "a.com"),
            ("http://a.com#frag", "a.com"),
            ("http://user:pw@a.com:80/", "a.com"),
            ("http://a.com@evil.com/", "evil.com"),
            ("http://[::1]:8080/", "::1"),
            ("HTTP://WWW.A.COM./", "www.a.com"),
        ]
        self.assertEqual([refer_domain(url) for url, _ in cases], [d for _, d in cases])


class ReferTests(SynchronousTestCase):
    """``check_refer``: absent, present, and label-boundary suffix matching (SRS's ``SrsRefer``)."""

    def test_absent_allows_everyone(self) -> None:
        """``None`` (no directive) allows any pageUrl, including an empty one."""
        for url in ("", "http://evil.com/", "garbage"):
            self.assertEqual(_refer_code(None, url), 0)

    def test_no_arguments_refuses_everyone(self) -> None:
        """A directive with no arguments refuses every pageUrl."""
        for url in ("", "http://github.com/", "http://a.com/"):
            self.assertEqual(_refer_code((), url), ERROR_RTMP_ACCESS_DENIED)

    def test_empty_page_url_refused(self) -> None:
        """An empty pageUrl (encoders, non-Flash players) fails a present directive."""
        self.assertEqual(_refer_code(("github.com",), ""), ERROR_RTMP_ACCESS_DENIED)

    def test_reference_examples(self) -> None:
        """SRS's own cases: the domain or a subdomain passes, others do not."""
        allowed = ("github.com", "github.io")
        cases = [
            ("http://www.github.com/player.swf", 0),
            ("http://github.com", 0),
            ("https://ossrs.github.io:443/srs.html", 0),
            ("http://www.ossrs.net/players/", ERROR_RTMP_ACCESS_DENIED),
            ("http://github.com.cn/", ERROR_RTMP_ACCESS_DENIED),
        ]
        self.assertEqual(
            [(url, _refer_code(allowed, url)) for url, _ in cases],
            cases,
        )

    def test_label_boundary(self) -> None:
        """
        Deviation from SRS: ``github.com`` does not admit ``evilgithub.com``
        (SRS's plain suffix test does).
        """
        self.assertEqual(
            _refer_code(("github.com",), "http://evilgithub.com/"), ERROR_RTMP_ACCESS_DENIED
        )
        self.assertEqual(_refer_code(("github.com",), "http://a.b.github.com/"), 0)

    def test_leading_dot_subdomains_only(self) -> None:
        """An argument ``.github.com`` admits subdomains but not ``github.com`` itself."""
        self.assertEqual(_refer_code((".github.com",), "http://www.github.com/"), 0)
        self.assertEqual(
            _refer_code((".github.com",), "http://github.com/"), ERROR_RTMP_ACCESS_DENIED
        )

    def test_repeated_label(self) -> None:
        """
        SRS bug fixed: ``a.com`` admits ``a.com.a.com``, whose first
        occurrence of ``a.com`` is not at the end.
        """
        self.assertEqual(_refer_code(("a.com",), "http://a.com.a.com/"), 0)

    def test_any_argument(self) -> None:
        """The pageUrl passes when any one of several arguments matches."""
        self.assertEqual(_refer_code(("x.org", "y.org", "a.com"), "http://a.com/"), 0)

    def test_case_insensitive(self) -> None:
        """Domains compare without case, in both the pageUrl and the argument."""
        self.assertEqual(_refer_code(("GitHub.COM",), "http://WWW.github.com/"), 0)

    def test_empty_argument_matches_nothing(self) -> None:
        """A quoted empty argument admits no pageUrl, not even an empty one."""
        self.assertEqual(_refer_code(("",), ""), ERROR_RTMP_ACCESS_DENIED)
        self.assertEqual(_refer_code(("", "."), "http://a.com/"), ERROR_RTMP_ACCESS_DENIED)

    def test_from_config_file(self) -> None:
        """The model's absent (``None``) and empty (``()``) refer are honoured."""
        config = load_config_text("listen 1935; vhost v { refer; refer_play github.com; }")
        vhost = config.vhost("v")
        assert vhost is not None
        self.assertEqual(_refer_code(vhost.refer, "http://github.com/"), 2015)
        self.assertEqual(_refer_code(vhost.refer_play, "http://github.com/"), 0)
        self.assertEqual(_refer_code(vhost.refer_publish, ""), 0)

    def test_message(self) -> None:
        """The refusal names the pageUrl and the domain it yielded."""
        error = self.assertRaises(AccessDenied, check_refer, ("a.com",), "http://b.com/x")
        self.assertIn("http://b.com/x", error.message)
        self.assertIn("'b.com'", error.message)


class VhostAndStreamTests(SynchronousTestCase):
    """``check_vhost`` (2014) and ``check_stream_name`` (2050), as in ``stream_service_cycle``."""

    def test_vhost(self) -> None:
        """A missing or disabled vhost is refused with 2014; an enabled one passes."""
        error = self.assertRaises(AccessDenied, check_vhost, None, "x.com")
        self.assertEqual(error.code, ERROR_RTMP_VHOST_NOT_FOUND)
        disabled = VhostConfig(name="x.com", enabled=False)
        error = self.assertRaises(AccessDenied, check_vhost, disabled, "x.com")
        self.assertEqual(error.code, ERROR_RTMP_VHOST_NOT_FOUND)
        check_vhost(VhostConfig(name="x.com"), "x.com")

    def test_stream_name(self) -> None:
        """An empty stream name is refused with 2050."""
        error = self.assertRaises(AccessDenied, check_stream_name, "")
        self.assertEqual(error.code, ERROR_RTMP_STREAM_NAME_EMPTY)
        check_stream_name("livestream")
