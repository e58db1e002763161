# -*- test-case-name: tests.test_services_sysinfo -*-
"""
What the HTTP API and the heartbeat read about the host and this process.

The sampler that reads ``/proc`` is a service
(:class:`srstwist.services.sysinfo.SystemSampler`); the web package may
not import services, so the routes and the heartbeat meet it through this
interface, and tests give them whatever provides it.  The views are the
``data`` objects of SRS 2.0's ``/api/v1/rusages``, ``self_proc_stats``,
``system_proc_stats`` and ``meminfos`` and the whole ``summaries`` object,
as ``SrsGoApiRusages`` and its siblings print them
(``trunk/src/app/srs_app_http_api.cpp``, with ``srs_api_dump_summaries``
in ``srs_app_utility.cpp``).

Every view answers from the last sample, without reading anything: before
the first sample its figures are 0 and ``ok`` is false, as in SRS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zope.interface import Interface

__all__ = ["ISystemSampler"]


class ISystemSampler(Interface):
    """The cached system figures, as the API routes and the heartbeat show them."""

    def rusages_view() -> dict[str, Any]:
        """The ``data`` of ``/api/v1/rusages``: this process's ``getrusage``."""

    def self_proc_stats_view() -> dict[str, Any]:
        """The ``data`` of ``/api/v1/self_proc_stats``: ``/proc/self/stat`` and CPU share."""

    def system_proc_stats_view() -> dict[str, Any]:
        """The ``data`` of ``/api/v1/system_proc_stats``: the ``cpu`` line of ``/proc/stat``."""

    def meminfos_view() -> dict[str, Any]:
        """The ``data`` of ``/api/v1/meminfos``: ``/proc/meminfo`` and derived figures."""

    def summaries(
        *,
        now: float,
        start_time: float,
        srs_recv_bytes: int,
        srs_send_bytes: int,
        srs_sample_time: float | None,
        conn_srs: int,
        argv: Sequence[str] | None = None,
        cwd: str | None = None,
    ) -> dict[str, Any]:
        """
        The whole ``/api/v1/summaries`` object, ``code`` included and
        ``server`` left out, as SRS's API and heartbeat send it.

        The figures about streams and connections are not the sampler's,
        so the caller passes them.

        :param now: seconds since the epoch, for ``now_ms``.
        :param start_time: when the server started, for ``srs_uptime``.
        :param srs_recv_bytes: bytes received from RTMP clients.
        :param srs_send_bytes: bytes sent to RTMP clients.
        :param srs_sample_time: when those byte counts were taken, or ``None``.
        :param conn_srs: connections the server holds.
        :param argv: the command line (default: this process's).
        :param cwd: the working directory (default: this process's).
        """

    def server_ip(network: int) -> str:
        """
        The address the heartbeat reports as this server's ``ip``: the
        ``network``-th IPv4 address other than ``127.0.0.1`` (modulo their
        number), ``""`` when there is none.

        :param network: the ``stats.network`` directive.
        """
