"""
Packaging: a plain ``pip install .`` installs every package and the plugin.
"""

from __future__ import annotations

import configparser
import os

from twisted.trial.unittest import SynchronousTestCase

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PackagesTests(SynchronousTestCase):
    """setup.cfg lists packages by hand, so a test keeps the list complete."""

    def test_every_package_listed(self) -> None:
        """Every directory of srstwist with an __init__.py is in setup.cfg."""
        parser = configparser.ConfigParser()
        parser.read(os.path.join(_REPO, "setup.cfg"))
        listed = set(parser["options"]["packages"].split())
        found = {
            os.path.relpath(root, _REPO).replace(os.sep, ".")
            for root, _, files in os.walk(os.path.join(_REPO, "srstwist"))
            if "__init__.py" in files
        }
        self.assertEqual(found - listed, set())
        self.assertIn("twisted.plugins", listed)
