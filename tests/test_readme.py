"""
The README's two commands and CI stay in step.
"""

from __future__ import annotations

import os
import re

from twisted.trial.unittest import SynchronousTestCase

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts: str) -> str:
    with open(os.path.join(_REPO, *parts)) as f:
        return f.read()


class ReadmeTests(SynchronousTestCase):
    """The README starts with the install-and-run and the test commands."""

    def commands(self) -> list[str]:
        return re.findall(r"```sh\n(.*?)\n```", _read("README.md"), re.S)

    def test_first_command_runs_srs_conf(self) -> None:
        """The first command installs and runs twistd srs on conf/srs.conf."""
        first = self.commands()[0]
        self.assertIn("pip install .", first)
        self.assertIn("twistd -n srs --config conf/srs.conf", first)

    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run runs the README's second command, character for character."""
        second = self.commands()[1]
        self.assertIn("apt-get install -y ffmpeg rtmpdump", second)
        self.assertIn("twisted.trial tests", second)
        ci_lines = _read(".ci", "run").splitlines()
        self.assertIn(second, ci_lines)
