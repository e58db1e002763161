# -*- test-case-name: tests.test_codec_procfs -*-
"""
The ``/proc`` files behind the SRS 2.0 system API routes (``rusages``,
``self_proc_stats``, ``system_proc_stats``, ``meminfos``, ``summaries``)
and the heartbeat, as pure functions: the text of one file in, numbers
out.

SRS reads the same files with ``srs_update_proc_stat``,
``srs_update_meminfo``, ``srs_update_disk_stat``,
``srs_update_network_devices`` and friends
(``trunk/src/app/srs_app_utility.cpp``).  Reading the files, keeping the
previous sample and scheduling the reads is
:class:`srstwist.services.sysinfo.SystemSampler`'s job; nothing here
touches a file, the clock or Twisted, so every parser is tested on fixed
text.

Deviations from SRS, on purpose: a field a kernel does not provide reads
as 0 (SRS leaves whatever the previous sample had), and process CPU is
jiffies over the wall time between samples at the real ``USER_HZ``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SELF_STAT_FIELDS",
    "CPU_FIELDS",
    "MEMINFO_FIELDS",
    "RUSAGE_FIELDS",
    "NetDevice",
    "NetworkBytes",
    "parse_self_stat",
    "empty_self_stat",
    "parse_cpu_stat",
    "cpu_busy_fraction",
    "process_cpu_fraction",
    "parse_meminfo",
    "meminfo_view",
    "parse_loadavg",
    "parse_uptime",
    "parse_vmstat",
    "parse_diskstats_ticks",
    "parse_net_dev",
    "split_network_bytes",
    "parse_sockstat",
    "parse_snmp_tcp_established",
    "is_internet_address",
    "rusage_view",
    "pick_server_ip",
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

#: The fields of a ``struct rusage`` after the two CPU times, in the API's order.
RUSAGE_FIELDS = (
    "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
    "ru_nvcsw", "ru_nivcsw",
)  # fmt: skip

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


def empty_self_stat() -> dict[str, Any]:
    """
    What :func:`parse_self_stat` gives before any sample: every field 0,
    ``comm`` and ``state`` empty.
    """
    values: dict[str, Any] = dict.fromkeys(SELF_STAT_FIELDS, 0)
    values.update(comm="", state="")
    return values


def process_cpu_fraction(
    previous: Mapping[str, Any], current: Mapping[str, Any], clock_ticks: int, elapsed: float
) -> float:
    """
    This process's CPU use between two :func:`parse_self_stat` samples, in
    cores (1.0 is one core busy the whole time).

    :param clock_ticks: ``USER_HZ``, the jiffies per second of ``utime`` and ``stime``.
    :param elapsed: wall seconds between the samples; 0 or less gives 0.
    """
    if elapsed <= 0 or clock_ticks <= 0:
        return 0.0
    used = (current["utime"] + current["stime"]) - (previous["utime"] + previous["stime"])
    return max(0.0, used / clock_ticks / elapsed)


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


def cpu_busy_fraction(previous: Mapping[str, int], current: Mapping[str, int]) -> float | None:
    """
    The share of the host's CPU time that was not idle between two
    :func:`parse_cpu_stat` samples, or ``None`` when no jiffy passed (the
    previous figure then stands, as in SRS).
    """
    total = sum(current.values()) - sum(previous.values())
    if total <= 0:
        return None
    return 1 - (current["idle"] - previous["idle"]) / total


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


@dataclass(frozen=True, slots=True)
class NetworkBytes:
    """
    Interface byte counters summed the way ``summaries`` reports them:
    internet interfaces (``net_recv_bytes``, ``net_send_bytes``) and the
    rest, loopback and private networks (``net_recvi_bytes``,
    ``net_sendi_bytes``).
    """

    recv: int = 0
    send: int = 0
    recv_intranet: int = 0
    send_intranet: int = 0


def split_network_bytes(
    devices: Iterable[NetDevice], internet: Mapping[str, bool]
) -> NetworkBytes:
    """
    Sum :func:`parse_net_dev`'s counters into internet and intranet bytes.

    :param internet: per interface name, whether it has an address
        :func:`is_internet_address` accepts; ``lo`` is intranet whatever it says.
    """
    recv = send = recv_i = send_i = 0
    for device in devices:
        if device.name != "lo" and internet.get(device.name, False):
            recv += device.recv_bytes
            send += device.send_bytes
        else:
            recv_i += device.recv_bytes
            send_i += device.send_bytes
    return NetworkBytes(recv, send, recv_i, send_i)


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
    for name in RUSAGE_FIELDS:
        view[name] = int(getattr(usage, name))
    return view


def pick_server_ip(addresses: Sequence[str], network: int) -> str:
    """
    The address that represents this server, the heartbeat's ``ip``: the
    one at ``stats.network`` modulo their number, ``127.0.0.1`` left out;
    ``""`` when there is none (``SrsHttpHeartbeat::heartbeat`` in
    ``trunk/src/app/srs_app_heartbeat.cpp``).

    :param addresses: the IPv4 addresses of the interfaces, in interface order.
    :param network: the ``stats.network`` directive.
    """
    candidates = [one for one in addresses if one != "127.0.0.1"]
    if not candidates:
        return ""
    return candidates[network % len(candidates)]


