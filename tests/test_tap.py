"""
Tests for the twistd plugin and ``srstwist.tap``.
"""

from __future__ import annotations

import glob
import io
import os
import sys

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.scripts._twistd_unix import ServerOptions
from twisted.trial.unittest import SynchronousTestCase

from srstwist import tap

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PluginTests(SynchronousTestCase):
    """twistd finds the srs plugin."""

    def test_discovered(self) -> None:
        """getPlugins(IServiceMaker) yields a maker with tapname 'srs'."""
        makers = [m for m in getPlugins(IServiceMaker) if m.tapname == "srs"]
        self.assertTrue(makers)
        self.assertEqual(makers[0].module, "srstwist.tap")

    def test_no_package_init(self) -> None:
        """twisted/plugins has no __init__.py (it would hide Twisted's own plugins)."""
        self.assertFalse(os.path.exists(os.path.join(_REPO, "twisted", "__init__.py")))
        self.assertFalse(os.path.exists(os.path.join(_REPO, "twisted", "plugins", "__init__.py")))


class OptionsTests(SynchronousTestCase):
    """Option parsing reads the config and steers twistd from it."""

    def setUp(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.patch(sys, "stdout", self.stdout)
        self.patch(sys, "stderr", self.stderr)
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    def conf(self, text: str) -> str:
        path = os.path.join(self.directory, "srs.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_short_and_long_config(self) -> None:
        """Both --config and -c name the file."""
        path = self.conf("listen 1935;\n")
        for flag in ("--config", "-c"):
            options = tap.Options()
            options.parseOptions([flag, path])
            self.assertEqual(options.srs_config.listen[0].port, 1935)  # type: ignore[union-attr]

    def test_broken_config_exits_1(self) -> None:
        """A bad config stops option parsing with exit 1 and file:line on stderr."""
        path = self.conf("listen 1935;\nvhost a {\n    lisen 1;\n}\n")
        error = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-c", path])
        self.assertEqual(error.code, 1)
        self.assertIn(f"{path}:3: unknown directive 'lisen' in vhost", self.stderr.getvalue())

    def test_test_flag_ok(self) -> None:
        """--test on a good config prints the verdict and exits 0."""
        path = self.conf("listen 1935;\nvhost v { hds { enabled on; } }\n")
        error = self.assertRaises(SystemExit, tap.Options().parseOptions, ["--test", "-c", path])
        self.assertEqual(error.code, 0)
        self.assertIn("is ok", self.stdout.getvalue())
        self.assertIn("not supported yet: vhost.hds", self.stdout.getvalue())

    def test_test_flag_invalid(self) -> None:
        """--test on a broken config prints file:line and exits 1."""
        path = self.conf("listen 1935\n")
        error = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-t", "-c", path])
        self.assertEqual(error.code, 1)
        self.assertIn(f"{path}:1:", self.stderr.getvalue())
        self.assertIn("is invalid", self.stderr.getvalue())

    def test_every_sample_config_passes(self) -> None:
        """Every conf/*.conf shipped with srstwist passes --test."""
        files = sorted(glob.glob(os.path.join(_REPO, "conf", "*.conf")))
        self.assertGreaterEqual(len(files), 37)
        for path in files:
            error = self.assertRaises(SystemExit, tap.Options().parseOptions, ["--test", "-c", path])
            self.assertEqual(error.code, 0, f"{path}: {self.stderr.getvalue()}")

    def test_steers_twistd(self) -> None:
        """The config picks twistd's logger, pid file, daemon mode and rundir."""
        path = self.conf("listen 1935;\ndaemon off;\nwork_dir /tmp;\n")
        options = ServerOptions()
        options.parseOptions(["srs", "-c", path])
        self.assertEqual(options["logger"].__name__, "twistd_observer")
        self.assertEqual(options["pidfile"], "")
        self.assertTrue(options["nodaemon"])
        self.assertEqual(options["rundir"], "/tmp")

    def test_daemon_on_left_to_twistd(self) -> None:
        """With daemon on (the default), twistd daemonizes unless -n is given."""
        path = self.conf("listen 1935;\n")
        options = ServerOptions()
        options.parseOptions(["srs", "-c", path])
        self.assertFalse(options["nodaemon"])

    def test_explicit_twistd_options_win(self) -> None:
        """Options given to twistd by hand are not overridden by the config."""
        path = self.conf("listen 1935;\ndaemon off;\nwork_dir /tmp;\n")
        options = ServerOptions()
        options.parseOptions(
            ["--pidfile", "my.pid", "--rundir", "/var", "--logger", "twisted.logger.textFileLogObserver", "srs", "-c", path]
        )
        self.assertTrue(options["pidfile"].endswith("my.pid"))
        self.assertEqual(options["rundir"], "/var")
        self.assertEqual(options["logger"].__name__, "textFileLogObserver")
