# -*- test-case-name: tests.test_services_sysinfo -*-
"""
The service that samples ``/proc`` for the system API routes and the
heartbeat.

SRS samples from its main loop every few seconds (``SrsServer::do_cycle``
in ``trunk/src/app/srs_app_server.cpp``) and its API prints the cached
samples; CPU and disk figures are deltas between two samples.  Here
:class:`SystemSampler` does the same on a ``LoopingCall``: it reads the
files through an injected reader, parses them with
:mod:`srstwist.codec.procfs`, keeps the previous sample for the rates, and
answers :class:`~srstwist.web.system.ISystemSampler`'s views from memory,
so an API request never touches the disk.  The clock, the reader,
``getrusage`` and the address lister are all injected, so tests run it on
a ``Clock`` over fixed text.

Deviation from SRS, on purpose: disk busy time is io ticks over the wall
time between samples; SRS divides by CPU jiffies assuming ``USER_HZ`` is
100.
"""

from __future__ import annotations

import fcntl
import os
import resource
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from srstwist import SRS_COMPAT_VERSION
from srstwist.codec.procfs import (
    CPU_FIELDS,
    MEMINFO_FIELDS,
    NetDevice,
    cpu_busy_fraction,
    empty_self_stat,
    is_internet_address,
    meminfo_view,
    parse_cpu_stat,
    parse_diskstats_ticks,
    parse_loadavg,
    parse_meminfo,
    parse_net_dev,
    parse_self_stat,
    parse_snmp_tcp_established,
    parse_sockstat,
    parse_uptime,
    parse_vmstat,
    pick_server_ip,
    process_cpu_fraction,
    rusage_view,
    split_network_bytes,
)
from srstwist.web.system import ISystemSampler

__all__ = ["SAMPLE_INTERVAL", "SystemSampler", "read_proc_file", "local_ipv4_addresses"]

#: Seconds between samples.
SAMPLE_INTERVAL = 3.0

_SIOCGIFADDR = 0x8915


def read_proc_file(name: str, proc: str = "/proc") -> str:
    """
    The text of ``/proc/<name>`` (``name`` like ``net/dev``), ``""`` when
    it cannot be read: a system without a file reports zeros, not an error.
    """
    try:
        with open(os.path.join(proc, name), encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def local_ipv4_addresses() -> list[tuple[str, str]]:
    """
    ``(interface, address)`` for every interface with an IPv4 address, in
    interface index order (the primary address of each, via
    ``SIOCGIFADDR``).  Empty where the platform has no such ioctl.
    """
    result: list[tuple[str, str]] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return result
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue
            result.append((name, socket.inet_ntoa(answer[20:24])))
    return result


def _own_rusage() -> Any:
    return resource.getrusage(resource.RUSAGE_SELF)


class _ZeroRusage:
    """An all-zero rusage, the value before the first sample."""

    def __getattr__(self, name: str) -> int:
        return 0


@implementer(ISystemSampler)
class SystemSampler(service.Service):
    """
    Samples ``/proc`` every :data:`SAMPLE_INTERVAL` seconds while running,
    the first time at start.

    Rates (CPU shares, disk KB/s and busy) compare the last two samples,
    so they are 0 until the second.  A sample that fails is logged and the
    next one is still taken.

    :param clock: schedules the samples and stamps them.
    :param read: returns the text of a ``/proc`` file by its name under
        ``/proc`` (``"stat"``, ``"net/dev"``), ``""`` when missing.
    :param getrusage: returns this process's ``struct_rusage``.
    :param addresses: lists ``(interface, IPv4 address)`` pairs.
    :param disks: returns the ``stats.disk`` device names; called at each
        sample, so a reload applies.
    :param clock_ticks: ``USER_HZ``, jiffies per second (default: the system's).
    :param cpus: ``(configured, online)`` processor counts (default: the system's).
    :param interval: seconds between samples.
    """

    name = "sysinfo"
    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        read: Callable[[str], str] = read_proc_file,
        getrusage: Callable[[], Any] = _own_rusage,
        addresses: Callable[[], list[tuple[str, str]]] = local_ipv4_addresses,
        disks: Callable[[], Sequence[str]] = tuple,
        clock_ticks: int | None = None,
        cpus: tuple[int, int] | None = None,
        interval: float = SAMPLE_INTERVAL,
    ) -> None:
        self._clock = clock
        self._read = read
        self._getrusage = getrusage
        self._addresses = addresses
        self._disks = disks
        self._clock_ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
        if cpus is None:
            cpus = (os.sysconf("SC_NPROCESSORS_CONF"), os.sysconf("SC_NPROCESSORS_ONLN"))
        self.cpus = cpus
        self._interval = interval
        self._loop: LoopingCall | None = None
        self.ok = False
        self.sample_time: float | None = None
        self.rusage: dict[str, int] = rusage_view(_ZeroRusage())
        self.self_stat: dict[str, Any] = empty_self_stat()
        self.self_percent = 0.0
        self.cpu: dict[str, int] = dict.fromkeys(CPU_FIELDS, 0)
        self.cpu_percent = 0.0
        self.meminfo: dict[str, int] = dict.fromkeys(MEMINFO_FIELDS, 0)
        self.uptime = (0.0, 0.0)
        self.loadavg = (0.0, 0.0, 0.0)
        self.vmstat = (0, 0)
        self.disk_read_kbps = 0
        self.disk_write_kbps = 0
        self.disk_ticks = 0
        self.disk_busy = 0.0
        self.net_devices: list[NetDevice] = []
        self.interface_addresses: list[tuple[str, str]] = []
        self.sockstat = {"tcp_alloc": 0, "tcp_tw": 0, "udp_inuse": 0}
        self.tcp_established = 0

    # -- the service ------------------------------------------------------------

    def startService(self) -> None:
        """Sample now, then every interval."""
        super().startService()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._clock
        self._loop.start(self._interval, now=True)

    def stopService(self) -> None:
        """Stop sampling; the views keep the last sample."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _tick(self) -> None:
        # An exception would stop the LoopingCall for good.
        try:
            self.sample()
        except Exception:
            self.log.failure("system sample")

    def sample(self) -> None:
        """Read everything again and update the rates against the previous sample."""
        now = self._clock.seconds()
        previous_time = self.sample_time
        elapsed = now - previous_time if previous_time is not None else 0.0

        self.rusage = rusage_view(self._getrusage())

        stat = self._read("self/stat")
        if stat:
            new_self = parse_self_stat(stat)
            if elapsed > 0:
                self.self_percent = process_cpu_fraction(
                    self.self_stat, new_self, self._clock_ticks, elapsed
                )
            self.self_stat = new_self

        new_cpu = parse_cpu_stat(self._read("stat"))
        busy = cpu_busy_fraction(self.cpu, new_cpu)
        if previous_time is not None and busy is not None:
            self.cpu_percent = busy
        self.cpu = new_cpu

        self.meminfo = parse_meminfo(self._read("meminfo"))
        self.uptime = parse_uptime(self._read("uptime"))
        self.loadavg = parse_loadavg(self._read("loadavg"))

        new_vmstat = parse_vmstat(self._read("vmstat"))
        new_ticks = parse_diskstats_ticks(self._read("diskstats"), self._disks())
        if elapsed > 0:
            old_in, old_out = self.vmstat
            self.disk_read_kbps = int(max(0, new_vmstat[0] - old_in) / elapsed)
            self.disk_write_kbps = int(max(0, new_vmstat[1] - old_out) / elapsed)
            if new_ticks > self.disk_ticks:
                self.disk_busy = (new_ticks - self.disk_ticks) / (elapsed * 1000)
            else:
                self.disk_busy = 0.0
        self.vmstat = new_vmstat
        self.disk_ticks = new_ticks

        self.net_devices = parse_net_dev(self._read("net/dev"))
        self.interface_addresses = list(self._addresses())
        self.sockstat = parse_sockstat(self._read("net/sockstat"))
        self.tcp_established = parse_snmp_tcp_established(self._read("net/snmp"))

        self.sample_time = now
        self.ok = True

    # -- ISystemSampler -----------------------------------------------------------

    def _head(self) -> dict[str, Any]:
        ms = int(self.sample_time * 1000) if self.sample_time is not None else 0
        return {"ok": self.ok, "sample_time": ms}

    def rusages_view(self) -> dict[str, Any]:
        """The ``data`` of ``/api/v1/rusages``."""
        return {**self._head(), **self.rusage}

    def self_proc_stats_view(self) -> dict[str, Any]:
        """The ``data`` of ``/api/v1/self_proc_stats``."""
        return {**self._head(), "percent": self.self_percent, **self.self_stat}

    def system_proc_stats_view(self) -> dict[str, Any]:
        """The ``data`` of ``/api/v1/system_proc_stats``."""
        return {**self._head(), "percent": self.cpu_percent, **self.cpu}

    def meminfos_view(self) -> dict[str, Any]:
        """The ``data`` of ``/api/v1/meminfos``."""
        return {**self._head(), **meminfo_view(self.meminfo)}

    def server_ip(self, network: int) -> str:
        """The heartbeat's ``ip`` among the last sample's addresses (see the interface)."""
        return pick_server_ip([address for _, address in self.interface_addresses], network)

    def _internet_interfaces(self) -> dict[str, bool]:
        internet: dict[str, bool] = {}
        for name, address in self.interface_addresses:
            internet[name] = internet.get(name, False) or is_internet_address(address)
        return internet

    def summaries(
        self,
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
        """The whole ``/api/v1/summaries`` object (see the interface for the parameters)."""
        mem = meminfo_view(self.meminfo)
        maxrss = self.rusage["ru_maxrss"]
        total = self.meminfo["MemTotal"]
        net = split_network_bytes(self.net_devices, self._internet_interfaces())
        net_ms = int(self.sample_time * 1000) if self.net_devices and self.sample_time else 0
        uptime = int((now - start_time) * 10) / 10.0
        return {
            "code": 0,
            "data": {
                "ok": self.ok,
                "now_ms": int(now * 1000),
                "self": {
                    "version": SRS_COMPAT_VERSION,
                    "pid": os.getpid(),
                    "ppid": self.self_stat["ppid"] or os.getppid(),
                    "argv": " ".join(sys.argv if argv is None else argv),
                    "cwd": os.getcwd() if cwd is None else cwd,
                    "mem_kbyte": maxrss,
                    "mem_percent": maxrss / total if total > 0 else 0.0,
                    "cpu_percent": self.self_percent,
                    "srs_uptime": max(0.0, uptime),
                },
                "system": {
                    "cpu_percent": self.cpu_percent,
                    "disk_read_KBps": self.disk_read_kbps,
                    "disk_write_KBps": self.disk_write_kbps,
                    "disk_busy_percent": self.disk_busy,
                    "mem_ram_kbyte": total,
                    "mem_ram_percent": mem["percent_ram"],
                    "mem_swap_kbyte": self.meminfo["SwapTotal"],
                    "mem_swap_percent": mem["percent_swap"],
                    "cpus": self.cpus[0],
                    "cpus_online": self.cpus[1],
                    "uptime": self.uptime[0],
                    # Misspelled in SRS; clients read it by this name.
                    "ilde_time": self.uptime[1],
                    "load_1m": self.loadavg[0],
                    "load_5m": self.loadavg[1],
                    "load_15m": self.loadavg[2],
                    "net_sample_time": net_ms,
                    "net_recv_bytes": net.recv,
                    "net_send_bytes": net.send,
                    "net_recvi_bytes": net.recv_intranet,
                    "net_sendi_bytes": net.send_intranet,
                    "srs_sample_time": (
                        int(srs_sample_time * 1000) if srs_sample_time is not None else 0
                    ),
                    "srs_recv_bytes": srs_recv_bytes,
                    "srs_send_bytes": srs_send_bytes,
                    "conn_sys": self.sockstat["tcp_alloc"] + self.sockstat["tcp_tw"],
                    "conn_sys_et": self.tcp_established,
                    "conn_sys_tw": self.sockstat["tcp_tw"],
                    "conn_sys_udp": self.sockstat["udp_inuse"],
                    "conn_srs": conn_srs,
                },
            },
        }
