# -*- test-case-name: tests.test_access -*-
"""
Access control for RTMP clients: the vhost, ``security`` and ``refer``
checks SRS 2.0 makes in ``SrsRtmpConn::stream_service_cycle``
(``srs_app_rtmp_conn.cpp``), ``SrsSecurity::check`` (``srs_app_security.cpp``)
and ``SrsRefer::check`` (``srs_app_refer.cpp``).

Pure functions: they read the configuration they are given and the facts
about one client, and either return ``None`` (allowed) or raise
:class:`AccessDenied` carrying SRS's error code, which the caller logs
before closing the connection (as SRS does, no RTMP error status is sent).

The order of the checks is the caller's (SRS's ``stream_service_cycle``):
vhost (2014), ``refer`` (2015), ``on_connect``, ``security`` (1052/1053),
empty stream name (2050), then ``refer_play`` / ``refer_publish`` (2015).

Deviations from SRS 2.0, on purpose:

* ``refer`` matches on domain-label boundaries: ``github.com`` allows
  ``github.com`` and ``www.github.com`` but not ``evilgithub.com``, which
  SRS's plain suffix test lets through (``SrsRefer::check_single_refer``).
  That is what an operator writing a domain expects (nginx
  ``valid_referers`` behaves so), and a referrer check that any look-alike
  domain passes protects nothing.  An argument with a leading dot
  (``.github.com``) matches subdomains only, as SRS's suffix test also
  gives.
* SRS tests only the first occurrence of the argument in the domain, so
  ``a.com`` fails for ``a.com.a.com`` (a bug in SRS's ``check_single_refer``);
  we test the end.
* The domain is taken from the pageUrl's authority with RFC 3986 care:
  user info, query, fragment, IPv6 brackets and a trailing root dot are
  removed and case is folded.  SRS keeps all of these in the compared text,
  so it refuses ``HTTP://WWW.A.COM/`` for ``a.com``.
* An IPv4-mapped IPv6 peer address (``::ffff:10.0.0.1``, seen on a
  dual-stack listener) also matches a rule written for ``10.0.0.1``.
"""

from __future__ import annotations

from dataclasses import dataclass

from srstwist.config.model import SecurityConfig, VhostConfig
from srstwist.interfaces import Stage
from srstwist.stream.request import StreamRequest

__all__ = [
    "ERROR_SYSTEM_SECURITY",
    "ERROR_SYSTEM_SECURITY_DENY",
    "ERROR_RTMP_REQ_TCURL",
    "ERROR_RTMP_VHOST_NOT_FOUND",
    "ERROR_RTMP_ACCESS_DENIED",
    "ERROR_RTMP_STREAM_NAME_EMPTY",
    "AccessDenied",
    "Admission",
    "check_request",
    "check_vhost",
    "check_security",
    "check_refer",
    "check_stream_name",
    "refer_domain",
]

#: Security is on and no ``allow`` rule matched (SRS's ``SrsSecurity::allow_check``).
ERROR_SYSTEM_SECURITY = 1052
#: A ``deny`` rule matched (SRS's ``SrsSecurity::deny_check``).
ERROR_SYSTEM_SECURITY_DENY = 1053
#: The tcUrl lacks schema, vhost, port or app (SRS's ``SrsRtmpConn::stream_service_cycle``).
ERROR_RTMP_REQ_TCURL = 2006
#: The vhost is unknown or disabled (SRS's ``SrsRtmpConn::check_vhost``).
ERROR_RTMP_VHOST_NOT_FOUND = 2014
#: A ``refer`` check failed (SRS's ``SrsRefer::check``).
ERROR_RTMP_ACCESS_DENIED = 2015
#: The stream name is empty (SRS issue #834).
ERROR_RTMP_STREAM_NAME_EMPTY = 2050

_ROLES = ("play", "publish")
_MAPPED_IPV4 = "::ffff:"


class AccessDenied(Exception):
    """
    A client is refused.

    :ivar code: SRS's error code (1052, 1053, 2006, 2014, 2015 or 2050),
        for the log line and for tests.
    :ivar message: what was refused and why, for the log line.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (code={self.code})"


def check_vhost(vhost: VhostConfig | None, name: str) -> None:
    """
    Refuse a client whose vhost is not configured or is disabled (SRS's
    ``SrsRtmpConn::check_vhost``).

    :param vhost: the configured vhost the request resolved to, default
        vhost fallback already applied, or ``None``.
    :param name: the vhost the client asked for, for the message.
    :raises AccessDenied: code 2014.
    """
    if vhost is None:
        raise AccessDenied(ERROR_RTMP_VHOST_NOT_FOUND, f"vhost {name!r} not found")
    if not vhost.enabled:
        raise AccessDenied(ERROR_RTMP_VHOST_NOT_FOUND, f"vhost {vhost.name!r} is disabled")


def check_stream_name(stream: str) -> None:
    """
    Refuse a play or publish of an empty stream name (SRS issue #834).

    :raises AccessDenied: code 2050.
    """
    if not stream:
        raise AccessDenied(ERROR_RTMP_STREAM_NAME_EMPTY, "empty stream name")


def check_security(security: SecurityConfig, role: str, ip: str) -> None:
    """
    Apply a vhost's ``security`` rules to a player or publisher (SRS's
    ``SrsSecurity::check``).

    With ``enabled`` off everyone passes.  With it on, a matching ``deny``
    refuses whatever the ``allow`` rules say, and a client no ``allow``
    matches is refused too; rule order does not matter.  A rule matches
    when its method equals ``role`` and its target is ``all`` or textually
    equal to ``ip`` (no CIDR, ranges or names, as SRS).

    :param role: ``"play"`` for a player, ``"publish"`` for any publisher
        (FMLE, Flash, Haivision).
    :param ip: the client's address as text (``"10.0.0.1"``).
    :raises AccessDenied: 1053 when a ``deny`` rule matches, 1052 when
        no ``allow`` rule does.
    :raises ValueError: ``role`` is neither ``"play"`` nor ``"publish"``.
    """
    if role not in _ROLES:
        raise ValueError(f"role must be 'play' or 'publish', not {role!r}")
    if not security.enabled:
        return
    whos = {"all", ip}
    if ip.lower().startswith(_MAPPED_IPV4) and "." in ip:
        whos.add(ip[len(_MAPPED_IPV4) :])
    matched = {rule.action for rule in security.rules if rule.method == role and rule.who in whos}
    if "deny" in matched:
        raise AccessDenied(ERROR_SYSTEM_SECURITY_DENY, f"security: {role} denied for ip={ip}")
    if "allow" not in matched:
        raise AccessDenied(ERROR_SYSTEM_SECURITY, f"security: {role} not allowed for ip={ip}")


def refer_domain(page_url: str) -> str:
    """
    The host a pageUrl names, as the ``refer`` checks compare it (SRS's
    ``SrsRefer::check_single_refer``).

    Like SRS: drop everything up to and including ``://`` (a URL without
    it is all authority), and keep the text up to the first ``/``.  Then,
    unlike SRS, also stop at ``?`` or ``#``, drop user info up to the last
    ``@``, the port (after the closing ``]`` of an IPv6 literal, whose
    brackets are removed), a trailing ``.``, and fold to lower case.

    :return: the domain, possibly empty (an empty pageUrl gives ``""``).
    """
    rest = page_url.partition("://")[2] if "://" in page_url else page_url
    end = len(rest)
    for stop in "/?#":
        position = rest.find(stop)
        if position != -1:
            end = min(end, position)
    host = rest[:end].rpartition("@")[2]
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    else:
        host = host.partition(":")[0]
    return host.rstrip(".").lower()


def _refer_matches(domain: str, allowed: str) -> bool:
    """
    Whether one ``refer`` argument admits ``domain``, on label boundaries.
    """
    allowed = allowed.rstrip(".").lower()
    if not allowed or allowed == ".":
        return False
    if allowed.startswith("."):
        return domain.endswith(allowed)
    return domain == allowed or domain.endswith("." + allowed)


def check_refer(allowed: tuple[str, ...] | None, page_url: str) -> None:
    """
    Apply one of ``refer``, ``refer_play`` or ``refer_publish`` (SRS's
    ``SrsRefer::check``).

    :param allowed: the directive's arguments: ``None`` when the directive
        is absent (everyone passes), a tuple when it is present; an empty
        tuple (the directive written without arguments) refuses everyone.
        The configuration model keeps the two apart (``VhostConfig.refer``
        is ``None`` when absent); callers must not collapse ``None`` to
        ``()``.
    :param page_url: the ``pageUrl`` of the client's connect request;
        empty for most encoders and non-Flash players, which are therefore
        refused whenever the directive is present.
    :raises AccessDenied: code 2015 when no argument matches.
    """
    if allowed is None:
        return
    domain = refer_domain(page_url)
    if domain and any(_refer_matches(domain, one) for one in allowed):
        return
    raise AccessDenied(
        ERROR_RTMP_ACCESS_DENIED,
        f"refer: pageUrl={page_url!r} (domain {domain!r}) matches none of {list(allowed)}",
    )


@dataclass(frozen=True, slots=True)
class Admission:
    """
    Proof that a request passed a stage's checks: what the stream
    controller's ``publish`` and ``play`` take.

    :ivar request: the admitted request.
    :ivar vhost: the configured vhost it resolved to.
    :ivar stage: the stage it passed.
    """

    request: StreamRequest
    vhost: VhostConfig
    stage: Stage


def check_request(stage: Stage, vhost: VhostConfig | None, request: StreamRequest) -> VhostConfig:
    """
    The checks of one stage before its hook, in SRS's order
    (``SrsRtmpConn::stream_service_cycle``): connect checks the vhost and
    ``refer``; publish and play check the vhost, ``security``, the stream
    name, then ``refer_publish`` or ``refer_play``.

    The ``refer`` checks compare an RTMP ``pageUrl``; SRS 2.0 applies none
    of them to HTTP players, and neither do we (a ``Referer`` header is
    absent from most non-browser players).  ``security`` applies to every
    client: a ``deny`` rule for an address would protect nothing if the
    same stream played over HTTP.

    :param vhost: the configured vhost the request resolved to, or ``None``.
    :return: ``vhost``, known to be usable.
    :raises AccessDenied: the first check that failed, with SRS's code.
    """
    check_vhost(vhost, request.vhost)
    assert vhost is not None
    by_rtmp = request.transport == "rtmp"
    if stage is Stage.CONNECT:
        if by_rtmp:
            check_refer(vhost.refer, request.page_url)
        return vhost
    check_security(vhost.security, stage.value, request.ip)
    check_stream_name(request.stream)
    if by_rtmp:
        allowed = vhost.refer_play if stage is Stage.PLAY else vhost.refer_publish
        check_refer(allowed, request.page_url)
    return vhost
