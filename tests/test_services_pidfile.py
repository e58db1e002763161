"""
Tests for :mod:`srstwist.services.pidfile`.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config_text
from srstwist.services.pidfile import PidFile, PidFileError, PidFileService


def _config(path: str):
    return load_config_text(f"listen 1935;\npid {path};\n", "mem.conf")


class PidFileTests(SynchronousTestCase):
    """The pid file is written, locked, moved on reload and removed at stop."""

    def setUp(self) -> None:
        self.directory = self.mktemp()

    def test_written_without_newline(self) -> None:
        """The file holds the decimal pid and nothing else; missing dirs are made."""
        path = os.path.join(self.directory, "objs", "srs.pid")
        service = PidFileService(_config(path), pid=31337)
        service.startService()
        with open(path) as f:
            self.assertEqual(f.read(), "31337")
        service.stopService()
        self.assertFalse(os.path.exists(path))

    def test_second_server_refused(self) -> None:
        """While one server holds the file, another cannot start on it."""
        path = os.path.join(self.directory, "srs.pid")
        os.makedirs(self.directory)
        held = PidFile(path, 1)
        self.addCleanup(held.release, True)
        service = PidFileService(_config(path), pid=2)
        error = self.assertRaises(PidFileError, service.privilegedStartService)
        self.assertIn("already running", str(error))

    def test_reload_moves_the_file(self) -> None:
        """A changed pid directive moves the lock to the new file."""
        old = os.path.join(self.directory, "a.pid")
        new = os.path.join(self.directory, "b.pid")
        service = PidFileService(_config(old), pid=7)
        service.startService()
        service.reconfigure(_config(new))
        self.assertFalse(os.path.exists(old))
        with open(new) as f:
            self.assertEqual(f.read(), "7")
        service.stopService()

    def test_reload_failure_keeps_the_old_file(self) -> None:
        """When the new pid file is locked by someone else, the old one stays."""
        old = os.path.join(self.directory, "a.pid")
        new = os.path.join(self.directory, "b.pid")
        service = PidFileService(_config(old), pid=7)
        service.startService()
        held = PidFile(new, 1)
        self.addCleanup(held.release, True)
        service.reconfigure(_config(new))
        self.assertTrue(os.path.exists(old))
        self.assertEqual(service.current.path, os.path.abspath(old))  # type: ignore[union-attr]
        service.stopService()
