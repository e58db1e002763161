"""
Tests for :mod:`srstwist.codec.procfs`: the ``/proc`` parsers and the
rates between two samples, on fixed text.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.procfs import (
    SELF_STAT_FIELDS,
    NetDevice,
    NetworkBytes,
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

_SELF_STAT = (
    "27915 (my (odd) prog) R 27913 27913 25760 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 "
    "794874 3133440 417 18446744073709551615 93828293373952 93828293393833 140733420384624 "
    "0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 93828293409840 93828293411456\n"
)
_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 227553630001 34690178    0 12810    0     0          0         0 227553630001 34690178    0    0    0     0       0          0
  eth0: 340930760   13419    0    0    0     0          0         0  1116211   10909    0    0    0     0       0          0
"""  # noqa: E501
_DISKSTATS = """\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   8       0 sda 100 0 800 50 200 0 1600 70 0 1234 120
   8       1 sda1 10 0 80 5 20 0 160 7 0 99 12
 259       0 nvme0n1 5 0 40 2 3 0 24 1 0 66 3
"""


class ParserTests(SynchronousTestCase):
    """The pure parsers."""

    def test_self_stat(self) -> None:
        """Every field by name; ``comm`` with parentheses even when it has some inside."""
        stat = parse_self_stat(_SELF_STAT)
        self.assertEqual(list(stat), list(SELF_STAT_FIELDS))
        self.assertEqual(stat["pid"], 27915)
        self.assertEqual(stat["comm"], "(my (odd) prog)")
        self.assertEqual(stat["state"], "R")
        self.assertEqual((stat["ppid"], stat["utime"], stat["stime"]), (27913, 7, 3))
        self.assertEqual(stat["rsslim"], 18446744073709551615)
        self.assertEqual(stat["tpgid"], -1)

    def test_self_stat_short(self) -> None:
        """An old kernel's shorter line leaves the missing fields 0."""
        stat = parse_self_stat("1 (init) S 0 1 1 0 -1 4194560 5 6")
        self.assertEqual((stat["minflt"], stat["cminflt"], stat["cguest_time"]), (5, 6, 0))

    def test_self_stat_garbage(self) -> None:
        """A line without ``(comm)`` is refused."""
        self.assertRaises(ValueError, parse_self_stat, "garbage")

    def test_cpu_stat(self) -> None:
        """The aggregate line, guest_nice left out; per-CPU lines ignored."""
        cpu = parse_cpu_stat("cpu0 1 2 3 4\ncpu  341270 0 42443 1193919 706 0 8875 257 0 9\n")
        self.assertEqual(
            cpu,
            {"user": 341270, "nice": 0, "sys": 42443, "idle": 1193919, "iowait": 706,
             "irq": 0, "softirq": 8875, "steal": 257, "guest": 0},
        )  # fmt: skip
        self.assertEqual(sum(parse_cpu_stat("").values()), 0)

    def test_meminfo(self) -> None:
        """The six fields SRS reads, and the derived ones."""
        mem = parse_meminfo(
            "MemTotal:  1000 kB\nMemFree: 300 kB\nMemAvailable: 900 kB\nBuffers: 50 kB\n"
            "Cached: 150 kB\nSwapCached: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
        )
        self.assertEqual(mem["MemTotal"], 1000)
        view = meminfo_view(mem)
        self.assertEqual((view["MemActive"], view["RealInUse"], view["NotInUse"]),
                         (700, 500, 500))  # fmt: skip
        self.assertEqual((view["percent_ram"], view["percent_swap"]), (0.5, 0.0))

    def test_meminfo_empty(self) -> None:
        """No MemTotal gives zero percentages, not a division by zero."""
        self.assertEqual(meminfo_view(parse_meminfo(""))["percent_ram"], 0.0)

    def test_loadavg_and_uptime(self) -> None:
        """Load averages and uptime as floats."""
        self.assertEqual(parse_loadavg("0.12 0.39 0.51 1/78 27918\n"), (0.12, 0.39, 0.51))
        self.assertEqual(parse_uptime("7948.74 11939.19\n"), (7948.74, 11939.19))
        self.assertEqual(parse_uptime(""), (0.0, 0.0))

    def test_vmstat(self) -> None:
        """``pgpgin`` and ``pgpgout``."""
        self.assertEqual(
            parse_vmstat("nr_free_pages 5\npgpgin 1199653\npgpgout 3048200\npgpgoutclean 1\n"),
            (1199653, 3048200),
        )

    def test_diskstats(self) -> None:
        """``io_ticks`` summed over the named devices only."""
        self.assertEqual(parse_diskstats_ticks(_DISKSTATS, ["sda", "nvme0n1"]), 1234 + 66)
        self.assertEqual(parse_diskstats_ticks(_DISKSTATS, []), 0)

    def test_net_dev(self) -> None:
        """Interfaces with receive and transmit bytes."""
        self.assertEqual(
            parse_net_dev(_NET_DEV),
            [NetDevice("lo", 227553630001, 227553630001), NetDevice("eth0", 340930760, 1116211)],
        )

    def test_sockstat(self) -> None:
        """TCP alloc and TIME_WAIT, UDP in use."""
        self.assertEqual(
            parse_sockstat("sockets: used 10\nTCP: inuse 1 orphan 0 tw 4 alloc 9 mem 187\n"
                           "UDP: inuse 2 mem 0\nUDPLITE: inuse 0\n"),
            {"tcp_alloc": 9, "tcp_tw": 4, "udp_inuse": 2},
        )  # fmt: skip

    def test_snmp(self) -> None:
        """``CurrEstab`` found by its header, not its position."""
        self.assertEqual(
            parse_snmp_tcp_established(
                "Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm MaxConn CurrEstab InSegs\n"
                "Tcp: 1 -1 42 100\nUdp: InDatagrams\nUdp: 5\n"
            ),
            42,
        )

    def test_internet_addresses(self) -> None:
        """SRS's private ranges, and its odd loopback range of two addresses."""
        for address, public in (("127.0.0.1", False), ("127.0.0.2", True), ("10.1.2.3", False),
                                ("172.16.0.1", False), ("172.32.0.1", True),
                                ("192.168.1.1", False), ("8.8.8.8", True),
                                ("nonsense", False)):  # fmt: skip
            self.assertEqual(is_internet_address(address), public, address)

    def test_pick_server_ip(self) -> None:
        """The index wraps over the non-loopback addresses; none gives ``""``."""
        addresses = ["127.0.0.1", "10.0.0.1", "192.0.2.1"]
        self.assertEqual([pick_server_ip(addresses, i) for i in range(3)],
                         ["10.0.0.1", "192.0.2.1", "10.0.0.1"])  # fmt: skip
        self.assertEqual(pick_server_ip(["127.0.0.1"], 0), "")

    def test_rusage_view(self) -> None:
        """Whole seconds of CPU, every field by SRS's name."""
        view = rusage_view(_Usage())
        self.assertEqual(len(view), 16)
        self.assertEqual((view["ru_utime"], view["ru_stime"], view["ru_maxrss"]), (2, 1, 500))
        self.assertEqual(list(view)[:3], ["ru_utime", "ru_stime", "ru_maxrss"])

    def test_empty_self_stat(self) -> None:
        """Every field, all zero, before a sample."""
        stat = empty_self_stat()
        self.assertEqual(list(stat), list(SELF_STAT_FIELDS))
        self.assertEqual((stat["pid"], stat["comm"], stat["state"]), (0, "", ""))


class RateTests(SynchronousTestCase):
    """The figures computed from two samples."""

    def test_cpu_busy(self) -> None:
        """Busy jiffies over all jiffies; ``None`` when none passed."""
        before = parse_cpu_stat("cpu  100 0 100 800 0 0 0 0 0 0\n")
        after = parse_cpu_stat("cpu  250 0 150 1000 0 0 0 0 0 0\n")
        self.assertEqual(cpu_busy_fraction(before, after), 0.5)
        self.assertIsNone(cpu_busy_fraction(after, after))

    def test_process_cpu(self) -> None:
        """Own jiffies over wall time at ``USER_HZ``, in cores; never negative."""
        before = parse_self_stat("9 (srs) S 1 9 9 0 -1 0 0 0 0 0 100 100")
        after = parse_self_stat("9 (srs) S 1 9 9 0 -1 0 0 0 0 0 250 150")
        self.assertEqual(process_cpu_fraction(before, after, 100, 2.0), 1.0)
        self.assertEqual(process_cpu_fraction(after, before, 100, 2.0), 0.0)
        self.assertEqual(process_cpu_fraction(before, after, 100, 0.0), 0.0)

    def test_network_split(self) -> None:
        """Internet interfaces apart from the rest; ``lo`` is never internet."""
        devices = parse_net_dev(_NET_DEV)
        self.assertEqual(
            split_network_bytes(devices, {"eth0": True, "lo": True}),
            NetworkBytes(340930760, 1116211, 227553630001, 227553630001),
        )
        self.assertEqual(
            split_network_bytes(devices, {}),
            NetworkBytes(0, 0, 227553630001 + 340930760, 227553630001 + 1116211),
        )


class _Usage:
    ru_utime = 2.9
    ru_stime = 1.1
    ru_maxrss = 500

    def __getattr__(self, name: str) -> int:
        return 0
