# -*- test-case-name: tests.test_sysinfo -*-
"""
What the host and this process are doing, as the SRS 2.0 HTTP API reports
it: ``/api/v1/rusages``, ``self_proc_stats``, ``system_proc_stats``,
``meminfos`` and ``summaries`` (reference ``config-api-hooks.md``
§3.5.4-3.5.8), and the ``summaries`` the heartbeat embeds (§4.7).

SRS samples ``/proc`` from its main loop every few seconds and the API
prints the cached samples; CPU and disk figures are deltas between two
samples.  Here the parsing is pure (``parse_*`` take the text of one
``/proc`` file and return numbers), and :class:`SystemSampler` is the thin
part that reads the files, keeps the previous sample and computes the
deltas.  The sampler takes the ``/proc`` directory, ``getrusage`` and the
address lister as arguments, so tests feed it fixed text and a fake clock.

Deviations from SRS, on purpose:

* Disk busy time is io ticks over the wall time between samples; SRS
  divides by CPU jiffies assuming ``USER_HZ`` is 100.
* A field a kernel does not provide reads as 0 instead of leaving the
  previous sample's value in place.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import resource
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from srstwist import SRS_COMPAT_VERSION

__all__ = [
    "SELF_STAT_FIELDS",
    "CPU_FIELDS",
    "MEMINFO_FIELDS",
    "NetDevice",
    "parse_self_stat",
    "parse_cpu_stat",
    "parse_meminfo",
    "meminfo_view",
    "parse_loadavg",
    "parse_uptime",
    "parse_vmstat",
    "parse_diskstats_ticks",
    "parse_net_dev",
    "parse_sockstat",
    "parse_snmp_tcp_established",
    "is_internet_address",
    "rusage_view",
    "local_ipv4_addresses",
    "pick_server_ip",
    "SystemSampler",
]

#: The fields of ``/proc/<pid>/stat`` in file order, as the API names them
#: (``proc(5)``; SRS stops after ``cguest_time``).
SELF_STAT_FIELDS = (
    "pid", "comm", "state", "ppid", "pgrp", "session", "tty_nr", "tpgid", "flags",
    "minflt", "cminflt", "majflt", "cmajflt", "utime", "stime", "cutime", "cstime",
    "priority", "nice", "num_threads", "itrealvalue", "starttime", "vsize", "rss",
    "rsslim", "startcode", "endcode", "startstack", "kstkesp", "kstkeip", "signal",
    "blocked", "sigignore", "sigcatch", "wchan", "nswap", "cnswap", "exit_signal",
    "processor", "rt_priority", "policy", "delayacct_blkio_ticks", "guest_time",
    "cguest_time",
)  # fmt: skip

#: The aggregate ``cpu`` line of ``/proc/stat``, in order (SRS ignores the
#: tenth column, guest_nice).
CPU_FIELDS = ("user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal", "guest")

#: The ``/proc/meminfo`` keys SRS reads (kB).
MEMINFO_FIELDS = ("MemTotal", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree")

#: Fields of the rusage object, in the API's order.
_RUSAGE_FIELDS = (
    "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
    "ru_nvcsw", "ru_nivcsw",
)  # fmt: skip

_SIOCGIFADDR = 0x8915


def _int(text: str) -> int:
    """C ``atoi``-like: leading digits (with a sign), 0 when there are none."""
    text = text.strip()
    end = 0
    if text[:1] in ("-", "+"):
        end = 1
    while end < len(text) and text[end].isdigit():
        end += 1
    try:
        return int(text[:end])
    except ValueError:
        return 0


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def parse_self_stat(text: str) -> dict[str, Any]:
    """
    The fields of a ``/proc/<pid>/stat`` line by name (see
    :data:`SELF_STAT_FIELDS`).

    ``comm`` keeps its parentheses, as SRS prints it; it may itself contain
    spaces and parentheses, so the line is split at the last ``)``.  Fields
    the kernel does not write read as 0.
    """
    text = text.strip()
    open_at = text.find("(")
    close_at = text.rfind(")")
    if open_at < 0 or close_at < open_at:
        raise ValueError("not a /proc/<pid>/stat line")
    rest = text[close_at + 1 :].split()
    values: dict[str, Any] = {"pid": _int(text[:open_at]), "comm": text[open_at : close_at + 1]}
    values["state"] = rest[0] if rest else ""
    numbers = rest[1:]
    for index, name in enumerate(SELF_STAT_FIELDS[3:]):
        values[name] = _int(numbers[index]) if index < len(numbers) else 0
    return values


def parse_cpu_stat(text: str) -> dict[str, int]:
    """The aggregate ``cpu`` line of ``/proc/stat`` (jiffies), by :data:`CPU_FIELDS`."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            numbers = line.split()[1:]
            return {
                name: _int(numbers[i]) if i < len(numbers) else 0
                for i, name in enumerate(CPU_FIELDS)
            }
    return dict.fromkeys(CPU_FIELDS, 0)


def parse_meminfo(text: str) -> dict[str, int]:
    """The :data:`MEMINFO_FIELDS` of ``/proc/meminfo``, in kB (0 when absent)."""
    values = dict.fromkeys(MEMINFO_FIELDS, 0)
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = _int(rest)
    return values


def meminfo_view(mem: dict[str, int]) -> dict[str, Any]:
    """
    The memory figures SRS derives from :func:`parse_meminfo`'s result,
    in the ``meminfos`` order (without ``ok``/``sample_time``).
    """
    total = mem["MemTotal"]
    active = total - mem["MemFree"]
    real_in_use = active - mem["Buffers"] - mem["Cached"]
    swap_total = mem["SwapTotal"]
    return {
        "percent_ram": real_in_use / total if total > 0 else 0.0,
        "percent_swap": (swap_total - mem["SwapFree"]) / swap_total if swap_total > 0 else 0.0,
        "MemActive": active,
        "RealInUse": real_in_use,
        "NotInUse": total - real_in_use,
        "MemTotal": total,
        "MemFree": mem["MemFree"],
        "Buffers": mem["Buffers"],
        "Cached": mem["Cached"],
        "SwapTotal": swap_total,
        "SwapFree": mem["SwapFree"],
    }


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages of ``/proc/loadavg``."""
    parts = text.split()
    loads = [_float(parts[i]) if i < len(parts) else 0.0 for i in range(3)]
    return loads[0], loads[1], loads[2]


def parse_uptime(text: str) -> tuple[float, float]:
    """``/proc/uptime``: seconds since boot and idle seconds (summed over CPUs)."""
    parts = text.split()
    return (
        _float(parts[0]) if parts else 0.0,
        _float(parts[1]) if len(parts) > 1 else 0.0,
    )


def parse_vmstat(text: str) -> tuple[int, int]:
    """``pgpgin`` and ``pgpgout`` of ``/proc/vmstat``: kB paged in and out since boot."""
    pgpgin = pgpgout = 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "pgpgin":
            pgpgin = _int(value)
        elif key == "pgpgout":
            pgpgout = _int(value)
    return pgpgin, pgpgout


def parse_diskstats_ticks(text: str, devices: Iterable[str]) -> int:
    """
    The ``io_ticks`` (ms spent doing I/O, the tenth number after the
    device name) of ``/proc/diskstats``, summed over ``devices``.
    """
    wanted = set(devices)
    total = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 13 and parts[2] in wanted:
            total += _int(parts[12])
    return total


@dataclass(frozen=True, slots=True)
class NetDevice:
    """One interface of ``/proc/net/dev``: its name and byte counters."""

    name: str
    recv_bytes: int
    send_bytes: int


def parse_net_dev(text: str) -> list[NetDevice]:
    """The interfaces of ``/proc/net/dev`` in file order (the two title lines skipped)."""
    devices = []
    for line in text.splitlines()[2:]:
        name, colon, rest = line.partition(":")
        if not colon:
            continue
        numbers = rest.split()
        if len(numbers) < 9:
            continue
        devices.append(NetDevice(name.strip(), _int(numbers[0]), _int(numbers[8])))
    return devices


def parse_sockstat(text: str) -> dict[str, int]:
    """
    From ``/proc/net/sockstat``: TCP sockets allocated (``tcp_alloc``), in
    TIME_WAIT (``tcp_tw``) and UDP sockets in use (``udp_inuse``).
    """
    values = {"tcp_alloc": 0, "tcp_tw": 0, "udp_inuse": 0}
    for line in text.splitlines():
        label, _, rest = line.partition(":")
        parts = rest.split()
        pairs = dict(zip(parts[0::2], parts[1::2], strict=False))
        if label == "TCP":
            values["tcp_alloc"] = _int(pairs.get("alloc", "0"))
            values["tcp_tw"] = _int(pairs.get("tw", "0"))
        elif label == "UDP":
            values["udp_inuse"] = _int(pairs.get("inuse", "0"))
    return values


def parse_snmp_tcp_established(text: str) -> int:
    """``CurrEstab`` of the ``Tcp:`` table of ``/proc/net/snmp``."""
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("Tcp:"):
            continue
        fields = line.split()[1:]
        if header is None:
            header = fields
        elif "CurrEstab" in header:
            index = header.index("CurrEstab")
            return _int(fields[index]) if index < len(fields) else 0
    return 0


def is_internet_address(address: str) -> bool:
    """
    Whether SRS counts an IPv4 address as internet (public): not
    127.0.0.0-127.0.0.1, 10/8, 172.16/12 or 192.168/16.
    """
    try:
        value = int(ipaddress.IPv4Address(address))
    except ValueError:
        return False
    private = (
        (0x7F000000, 0x7F000001),
        (0x0A000000, 0x0AFFFFFF),
        (0xAC100000, 0xAC1FFFFF),
        (0xC0A80000, 0xC0A8FFFF),
    )
    return not any(low <= value <= high for low, high in private)


def rusage_view(usage: Any) -> dict[str, int]:
    """
    A ``resource.struct_rusage`` as the ``rusages`` fields (without
    ``ok``/``sample_time``); CPU times are whole seconds, as SRS prints
    ``tv_sec`` only.
    """
    view = {"ru_utime": int(usage.ru_utime), "ru_stime": int(usage.ru_stime)}
    for name in _RUSAGE_FIELDS:
        view[name] = int(getattr(usage, name))
    return view


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


def pick_server_ip(addresses: Sequence[str], network: int) -> str:
    """
    The address that represents this server (heartbeat ``ip``, §2.3): the
    one at ``stats.network`` modulo their number, ``127.0.0.1`` left out;
    ``""`` when there is none.
    """
    candidates = [one for one in addresses if one != "127.0.0.1"]
    if not candidates:
        return ""
    return candidates[network % len(candidates)]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


class SystemSampler:
    """
    The cached samples behind the system API routes, refreshed by
    :meth:`sample`.

    Each ``*_view`` method returns the ``data`` object of its route; before
    the first sample every figure is 0 and ``ok`` false, as in SRS.  Rates
    (CPU percent, disk KB/s and busy) compare the last two samples, so they
    are 0 until the second.

    :param proc: the ``/proc`` directory.
    :param getrusage: returns this process's ``struct_rusage``.
    :param addresses: lists ``(interface, IPv4 address)`` pairs.
    :param disks: returns the ``stats.disk`` device names, read at each
        sample so a reload applies.
    :param clock_ticks: ``USER_HZ``, jiffies per second.
    :param cpus: ``(configured, online)`` processor counts.
    """

    def __init__(
        self,
        proc: str = "/proc",
        getrusage: Callable[[], Any] = lambda: resource.getrusage(resource.RUSAGE_SELF),
        addresses: Callable[[], list[tuple[str, str]]] = local_ipv4_addresses,
        disks: Callable[[], Sequence[str]] = tuple,
        clock_ticks: int | None = None,
        cpus: tuple[int, int] | None = None,
    ) -> None:
        self._proc = proc
        self._getrusage = getrusage
        self._addresses = addresses
        self._disks = disks
        self._clock_ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
        if cpus is None:
            cpus = (os.sysconf("SC_NPROCESSORS_CONF"), os.sysconf("SC_NPROCESSORS_ONLN"))
        self.cpus = cpus
        self.ok = False
        self.sample_time: float | None = None
        self.rusage: dict[str, int] = rusage_view(_ZeroRusage())
        self.self_stat: dict[str, Any] = {name: 0 for name in SELF_STAT_FIELDS}
        self.self_stat.update(comm="", state="")
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
        self.internet: dict[str, bool] = {}
        self.sockstat = {"tcp_alloc": 0, "tcp_tw": 0, "udp_inuse": 0}
        self.tcp_established = 0

    def _text(self, *path: str) -> str:
        return _read(os.path.join(self._proc, *path)) or ""

    def sample(self, now: float) -> None:
        """
        Read everything again and update the rates against the previous
        sample.

        :param now: seconds since the epoch.
        """
        previous_time = self.sample_time
        elapsed = now - previous_time if previous_time is not None else 0.0

        self.rusage = rusage_view(self._getrusage())

        stat = self._text("self", "stat")
        if stat:
            new_self = parse_self_stat(stat)
            if elapsed > 0:
                used = (new_self["utime"] + new_self["stime"]) - (
                    self.self_stat["utime"] + self.self_stat["stime"]
                )
                self.self_percent = max(0.0, used / self._clock_ticks / elapsed)
            self.self_stat = new_self

        new_cpu = parse_cpu_stat(self._text("stat"))
        total_delta = sum(new_cpu.values()) - sum(self.cpu.values())
        if previous_time is not None and total_delta > 0:
            idle_delta = new_cpu["idle"] - self.cpu["idle"]
            self.cpu_percent = 1 - idle_delta / total_delta
        self.cpu = new_cpu

        self.meminfo = parse_meminfo(self._text("meminfo"))
        self.uptime = parse_uptime(self._text("uptime"))
        self.loadavg = parse_loadavg(self._text("loadavg"))

        new_vmstat = parse_vmstat(self._text("vmstat"))
        new_ticks = parse_diskstats_ticks(self._text("diskstats"), self._disks())
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

        self.net_devices = parse_net_dev(self._text("net", "dev"))
        internet: dict[str, bool] = {}
        for name, address in self._addresses():
            internet[name] = internet.get(name, False) or is_internet_address(address)
        self.internet = internet
        self.sockstat = parse_sockstat(self._text("net", "sockstat"))
        self.tcp_established = parse_snmp_tcp_established(self._text("net", "snmp"))

        self.sample_time = now
        self.ok = True

    def refresh(self, now: float, interval: float = 3.0) -> None:
        """Sample if the last sample is older than ``interval`` seconds (or there is none)."""
        if self.sample_time is None or now - self.sample_time >= interval:
            self.sample(now)

    # -- the API's data objects ----------------------------------------------

    def _head(self) -> dict[str, Any]:
        ms = int(self.sample_time * 1000) if self.sample_time is not None else 0
        return {"ok": self.ok, "sample_time": ms}

    def rusages_view(self) -> dict[str, Any]:
        """``data`` of ``/api/v1/rusages`` (§3.5.5)."""
        return {**self._head(), **self.rusage}

    def self_proc_stats_view(self) -> dict[str, Any]:
        """``data`` of ``/api/v1/self_proc_stats`` (§3.5.6)."""
        return {**self._head(), "percent": self.self_percent, **self.self_stat}

    def system_proc_stats_view(self) -> dict[str, Any]:
        """``data`` of ``/api/v1/system_proc_stats`` (§3.5.7)."""
        return {**self._head(), "percent": self.cpu_percent, **self.cpu}

    def meminfos_view(self) -> dict[str, Any]:
        """``data`` of ``/api/v1/meminfos`` (§3.5.8)."""
        return {**self._head(), **meminfo_view(self.meminfo)}

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
        """
        The whole ``/api/v1/summaries`` object (§3.5.4), ``code`` included
        and ``server`` left out, as SRS (and the heartbeat) send it.

        :param now: seconds since the epoch, for ``now_ms``.
        :param start_time: when the server started, for ``srs_uptime``.
        :param srs_recv_bytes, srs_send_bytes: RTMP client byte totals.
        :param srs_sample_time: when those were sampled, or ``None``.
        :param conn_srs: connections the server holds.
        :param argv: the command line (default ``sys.argv``).
        :param cwd: the working directory (default ``os.getcwd()``).
        """
        mem = meminfo_view(self.meminfo)
        maxrss = self.rusage["ru_maxrss"]
        total = self.meminfo["MemTotal"]
        recv = send = recv_i = send_i = 0
        for device in self.net_devices:
            if device.name != "lo" and self.internet.get(device.name, False):
                recv += device.recv_bytes
                send += device.send_bytes
            else:
                recv_i += device.recv_bytes
                send_i += device.send_bytes
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
                    "net_recv_bytes": recv,
                    "net_send_bytes": send,
                    "net_recvi_bytes": recv_i,
                    "net_sendi_bytes": send_i,
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


class _ZeroRusage:
    """An all-zero rusage, the value before the first sample."""

    def __getattr__(self, name: str) -> int:
        return 0
