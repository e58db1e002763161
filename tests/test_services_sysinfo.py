"""
Tests for :mod:`srstwist.services.sysinfo`: the sampler service on a
``Clock`` over fake ``/proc`` text, and one read of the real ``/proc``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from srstwist.services.sysinfo import SAMPLE_INTERVAL, SystemSampler, read_proc_file
from srstwist.web.system import ISystemSampler

_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 227553630001 34690178    0 12810    0     0          0         0 227553630001 34690178    0    0    0     0       0          0
  eth0: 340930760   13419    0    0    0     0          0         0  1116211   10909    0    0    0     0       0          0
"""  # noqa: E501


class _Usage:
    ru_utime = 2.9
    ru_stime = 1.1
    ru_maxrss = 500

    def __getattr__(self, name: str) -> int:
        return 0


class _FakeProc:
    """``/proc`` as a dict of file name to text, with the names read."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.reads: list[str] = []

    def __call__(self, name: str) -> str:
        self.reads.append(name)
        return self.files.get(name, "")


class SamplerTests(SynchronousTestCase):
    """``SystemSampler`` on a ``Clock`` and a fake ``/proc``."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.proc = _FakeProc(
            {
                "self/stat": "9 (srs) S 1 9 9 0 -1 0 0 0 0 0 100 100 0 0 20 0 1 0 5 0 0 0",
                "stat": "cpu  100 0 100 800 0 0 0 0 0 0\n",
                "meminfo": "MemTotal: 1000 kB\nMemFree: 500 kB\n",
                "vmstat": "pgpgin 1000\npgpgout 5000\n",
                "diskstats": "   8 0 sda 1 0 1 1 1 0 1 1 0 1000 1\n",
                "net/dev": _NET_DEV,
                "net/sockstat": "TCP: inuse 1 orphan 0 tw 4 alloc 9 mem 187\nUDP: inuse 2\n",
                "net/snmp": "Tcp: RtoAlgorithm CurrEstab\nTcp: 1 42\n",
            }
        )
        self.sampler = SystemSampler(
            self.clock, read=self.proc, getrusage=_Usage, disks=lambda: ["sda"], cpus=(4, 2),
            clock_ticks=100, addresses=lambda: [("lo", "127.0.0.1"), ("eth0", "8.8.4.4")],
            interval=2.0,
        )  # fmt: skip

    def start(self) -> None:
        self.sampler.startService()
        self.addCleanup(self.sampler.stopService)

    def test_interface(self) -> None:
        """It provides what the API and the heartbeat read."""
        self.assertTrue(verifyObject(ISystemSampler, self.sampler))

    def test_before_first_sample(self) -> None:
        """Before any sample everything is zero and ``ok`` false, as SRS."""
        view = self.sampler.rusages_view()
        self.assertEqual((view["ok"], view["sample_time"], view["ru_maxrss"]), (False, 0, 0))
        self.assertIs(self.sampler.system_proc_stats_view()["ok"], False)
        self.assertEqual(self.sampler.self_proc_stats_view()["comm"], "")
        self.assertEqual(self.sampler.server_ip(0), "")
        self.assertEqual(self.proc.reads, [])

    def test_samples_at_start_then_every_interval(self) -> None:
        """The first sample is taken at start, the next ones on the clock."""
        self.start()
        self.assertEqual(self.sampler.rusages_view()["sample_time"], 1_000_000)
        self.assertIn("net/dev", self.proc.reads)
        self.clock.advance(1.9)
        self.assertEqual(self.sampler.sample_time, 1000.0)
        self.clock.advance(0.1)
        self.assertEqual(self.sampler.sample_time, 1002.0)

    def test_views_read_no_file(self) -> None:
        """The views answer from memory: reading them reads nothing."""
        self.start()
        reads = len(self.proc.reads)
        self.sampler.meminfos_view()
        self.sampler.summaries(now=1001.0, start_time=990.0, srs_recv_bytes=0,
                               srs_send_bytes=0, srs_sample_time=None, conn_srs=0)  # fmt: skip
        self.assertEqual(len(self.proc.reads), reads)

    def test_rates_between_samples(self) -> None:
        """CPU, self CPU, disk KB/s and busy come from the last two samples."""
        self.start()
        self.assertEqual(self.sampler.cpu_percent, 0.0)
        self.proc.files.update(
            {
                "self/stat": "9 (srs) S 1 9 9 0 -1 0 0 0 0 0 250 150 0 0 20 0 1 0 5 0 0 0",
                "stat": "cpu  250 0 150 1000 0 0 0 0 0 0\n",
                "vmstat": "pgpgin 3000\npgpgout 5000\n",
                "diskstats": "   8 0 sda 1 0 1 1 1 0 1 1 0 2000 1\n",
            }
        )
        self.clock.advance(2.0)
        # 200 busy jiffies of 400.
        self.assertEqual(self.sampler.system_proc_stats_view()["percent"], 0.5)
        # 200 jiffies of our own over 2 s at 100 Hz: one whole core.
        self.assertEqual(self.sampler.self_proc_stats_view()["percent"], 1.0)
        self.assertEqual((self.sampler.disk_read_kbps, self.sampler.disk_write_kbps), (1000, 0))
        self.assertEqual(self.sampler.disk_busy, 0.5)

    def test_summaries(self) -> None:
        """The summaries object: SRS's keys in order, network split by address kind."""
        self.start()
        body = self.sampler.summaries(
            now=1003.0, start_time=990.0, srs_recv_bytes=5, srs_send_bytes=6,
            srs_sample_time=1001.0, conn_srs=3, argv=["srs", "-c", "x.conf"], cwd="/w",
        )  # fmt: skip
        self.assertEqual(list(body), ["code", "data"])
        data = body["data"]
        self.assertEqual(list(data), ["ok", "now_ms", "self", "system"])
        self.assertEqual(
            list(data["self"]),
            ["version", "pid", "ppid", "argv", "cwd", "mem_kbyte", "mem_percent",
             "cpu_percent", "srs_uptime"],
        )  # fmt: skip
        self.assertEqual(data["self"]["argv"], "srs -c x.conf")
        self.assertEqual(data["self"]["srs_uptime"], 13.0)
        self.assertEqual(data["self"]["mem_percent"], 0.5)
        system = data["system"]
        self.assertEqual(
            list(system),
            ["cpu_percent", "disk_read_KBps", "disk_write_KBps", "disk_busy_percent",
             "mem_ram_kbyte", "mem_ram_percent", "mem_swap_kbyte", "mem_swap_percent", "cpus",
             "cpus_online", "uptime", "ilde_time", "load_1m", "load_5m", "load_15m",
             "net_sample_time", "net_recv_bytes", "net_send_bytes", "net_recvi_bytes",
             "net_sendi_bytes", "srs_sample_time", "srs_recv_bytes", "srs_send_bytes",
             "conn_sys", "conn_sys_et", "conn_sys_tw", "conn_sys_udp", "conn_srs"],
        )  # fmt: skip
        self.assertEqual((system["cpus"], system["cpus_online"]), (4, 2))
        self.assertEqual((system["net_recv_bytes"], system["net_send_bytes"]),
                         (340930760, 1116211))  # fmt: skip
        self.assertEqual(system["net_recvi_bytes"], 227553630001)
        self.assertEqual((system["srs_sample_time"], system["srs_recv_bytes"]), (1001000, 5))
        self.assertEqual((system["conn_sys"], system["conn_sys_et"]), (13, 42))
        self.assertEqual(system["conn_srs"], 3)

    def test_server_ip(self) -> None:
        """``stats.network`` picks among the sampled addresses, loopback left out."""
        self.start()
        self.assertEqual([self.sampler.server_ip(i) for i in range(2)], ["8.8.4.4"] * 2)

    def test_disks_follow_reload(self) -> None:
        """The disk list is asked for at each sample."""
        disks: list[str] = []
        sampler = SystemSampler(self.clock, read=self.proc, getrusage=_Usage,
                                addresses=lambda: [], disks=lambda: disks)  # fmt: skip
        sampler.sample()
        self.assertEqual(sampler.disk_ticks, 0)
        disks.append("sda")
        sampler.sample()
        self.assertEqual(sampler.disk_ticks, 1000)

    def test_missing_files(self) -> None:
        """Files a system lacks read as zeros, without an error."""
        sampler = SystemSampler(self.clock, read=lambda name: "", getrusage=_Usage,
                                addresses=lambda: [])  # fmt: skip
        sampler.sample()
        self.assertIs(sampler.meminfos_view()["ok"], True)
        self.assertEqual(sampler.meminfos_view()["MemTotal"], 0)

    def test_failure_keeps_sampling(self) -> None:
        """A sample that raises is logged, and the next one is still taken."""
        self.proc.files["self/stat"] = "garbage"
        self.start()
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertIs(self.sampler.ok, False)
        self.proc.files["self/stat"] = "9 (srs) S 1"
        self.clock.advance(2.0)
        self.assertIs(self.sampler.ok, True)

    def test_stop(self) -> None:
        """After stopService nothing is scheduled; the last sample stays readable."""
        self.sampler.startService()
        self.sampler.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIs(self.sampler.meminfos_view()["ok"], True)

    def test_default_interval(self) -> None:
        """A few seconds, like SRS's main loop."""
        self.assertEqual(SAMPLE_INTERVAL, 3.0)


class ReadProcFileTests(SynchronousTestCase):
    """``read_proc_file``."""

    def test_reads_under_the_directory(self) -> None:
        """A name under the directory is read; a missing one is ``""``."""
        root = self.mktemp()
        os.makedirs(os.path.join(root, "net"))
        with open(os.path.join(root, "net", "dev"), "w") as f:
            f.write("text")
        self.assertEqual(read_proc_file("net/dev", proc=root), "text")
        self.assertEqual(read_proc_file("nothing", proc=root), "")


class RealProcTests(SynchronousTestCase):
    """One sample of the real ``/proc``."""

    def test_smoke(self) -> None:
        """On Linux, the real files give real, non-zero figures."""
        if not sys.platform.startswith("linux"):
            raise self.skipTest("no /proc here")
        clock: Any = Clock()
        clock.advance(1.0)
        sampler = SystemSampler(clock)
        sampler.sample()
        self.assertEqual(sampler.self_stat["pid"], os.getpid())
        self.assertGreater(sampler.meminfo["MemTotal"], 0)
        self.assertGreater(sum(sampler.cpu.values()), 0)
        self.assertGreater(sampler.uptime[0], 0)
        self.assertGreater(sampler.rusage["ru_maxrss"], 0)
        self.assertTrue(any(device.name == "lo" for device in sampler.net_devices))
        summaries = sampler.summaries(
            now=2.0,
            start_time=1.0,
            srs_recv_bytes=0,
            srs_send_bytes=0,
            srs_sample_time=None,
            conn_srs=0,
        )
        self.assertGreater(summaries["data"]["system"]["mem_ram_kbyte"], 0)
