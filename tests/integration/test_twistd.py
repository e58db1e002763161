"""
End to end: the real ``twistd -n srs`` starts, reloads on SIGHUP, refuses an
invalid reload, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket

from twisted.internet import defer, reactor, task, threads
from twisted.trial.unittest import TestCase

from tests.integration.process import Child, free_port, srs_command

_CONF = """\
listen {listen};
pid ./objs/srs.pid;
daemon off;
srs_log_tank console;
vhost __defaultVhost__ {{ }}
"""


def _accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


class TwistdTests(TestCase):
    """The server as a user runs it."""

    timeout = 90

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.conf = os.path.join(self.directory, "srs.conf")

    def write(self, text: str) -> None:
        with open(self.conf, "w") as f:
            f.write(text)

    @defer.inlineCallbacks
    def test_run_reload_stop(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """Start, reload (valid, then invalid), SIGTERM: clean exit, nothing left."""
        first, second = free_port(), free_port()
        self.write(_CONF.format(listen=f"127.0.0.1:{first}"))
        child = Child.spawn(srs_command("-n", "srs", "--config", "srs.conf"), cwd=self.directory)
        self.addCleanup(child.kill_if_running)

        yield child.wait_for(f"listen rtmp at tcp:port={first}")
        self.assertRegex(child.output, r"\[trace\]\[\d+\]\[\d+\] server main cid=\d+")
        pid_file = os.path.join(self.directory, "objs", "srs.pid")
        with open(pid_file) as f:
            self.assertEqual(int(f.read()), child.transport.pid)
        self.assertTrue((yield threads.deferToThread(_accepts, first)))

        # A valid edit: a second port is bound, the first one kept.
        self.write(_CONF.format(listen=f"127.0.0.1:{first} 127.0.0.1:{second}"))
        mark = child.mark()
        child.signal("HUP")
        yield child.wait_for("reload: done", since=mark)
        self.assertRegex(
            child.output[mark:],
            rf"listen rtmp at tcp:port={second}:interface=127\.0\.0\.1\S* \(added by reload\)",
        )
        self.assertTrue((yield threads.deferToThread(_accepts, second)))
        self.assertTrue((yield threads.deferToThread(_accepts, first)))

        # An invalid edit: logged with file:line, the server keeps running.
        self.write(_CONF.format(listen=f"127.0.0.1:{first}") + "vhost x {\n    lisen 1;\n}\n")
        mark = child.mark()
        child.signal("HUP")
        yield child.wait_for("reload failed", since=mark)
        self.assertIn("srs.conf:7: unknown directive 'lisen' in vhost", child.output[mark:])
        self.assertTrue((yield threads.deferToThread(_accepts, second)))

        child.signal("TERM")
        code, signal = yield child.ended
        # twistd shuts down in order, then re-raises SIGTERM on itself so
        # that its exit status reports the signal, as Unix tools expect.
        self.assertIn((code, signal), [(0, None), (None, 15)], child.output)
        self.assertIn("srs terminated", child.output)
        self.assertIn("Server Shut Down.", child.output)
        self.assertNotIn("Traceback", child.output)
        self.assertFalse(os.path.exists(pid_file))

    @defer.inlineCallbacks
    def test_test_flag_on_broken_config(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """twistd srs --test prints file:line for a broken config and exits 1."""
        self.write("listen 1935;\nvhost a {\n    enabled yes;\n}\n")
        child = Child.spawn(srs_command("srs", "--test", "-c", "srs.conf"), cwd=self.directory)
        self.addCleanup(child.kill_if_running)
        code, _ = yield child.ended
        self.assertEqual(code, 1)
        self.assertIn("srs.conf:3: bad value 'yes' for 'enabled': expected on or off", child.output)

    @defer.inlineCallbacks
    def test_busy_port_refuses_to_start(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """A listen port already in use stops the start with a non-zero exit."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            self.write(_CONF.format(listen=f"127.0.0.1:{port}"))
            child = Child.spawn(srs_command("-n", "srs", "-c", "srs.conf"), cwd=self.directory)
            self.addCleanup(child.kill_if_running)
            code, _ = yield child.ended
        self.assertNotEqual(code, 0)
        self.assertIn("Address already in use", child.output)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class DaemonTests(TestCase):
    """``daemon on`` without -n: twistd detaches, as SRS does."""

    timeout = 60

    @defer.inlineCallbacks
    def test_daemon(self) -> defer.Generator[defer.Deferred[object], object, None]:
        """The launcher exits 0, the daemon writes its pid and log, TERM stops it."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        port = free_port()
        with open(os.path.join(directory, "srs.conf"), "w") as f:
            f.write(
                f"listen 127.0.0.1:{port};\npid ./objs/srs.pid;\ndaemon on;\n"
                "srs_log_tank file;\nsrs_log_file ./objs/srs.log;\n"
            )
        launcher = Child.spawn(srs_command("srs", "-c", "srs.conf"), cwd=directory)
        self.addCleanup(launcher.kill_if_running)
        code, _ = yield launcher.ended
        self.assertEqual(code, 0, launcher.output)

        with open(os.path.join(directory, "objs", "srs.pid")) as f:
            pid = int(f.read())
        # We started this daemon; end it by its pid whatever happens below.
        self.addCleanup(lambda: _alive(pid) and os.kill(pid, signal.SIGKILL))
        self.assertNotEqual(pid, launcher.transport.pid)
        self.assertTrue(_alive(pid))
        self.assertTrue((yield threads.deferToThread(_accepts, port)))

        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(pid):
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertFalse(_alive(pid))
        with open(os.path.join(directory, "objs", "srs.log")) as f:
            log = f.read()
        self.assertRegex(log, rf"\[trace\]\[{pid}\]\[\d+\] server main cid=")
        self.assertIn("srs terminated", log)
        self.assertFalse(os.path.exists(os.path.join(directory, "objs", "srs.pid")))
