"""
The codec and media packages are sans-IO and Twisted-free (``STYLE.md`` 10):
importing them must not import any Twisted module.

Each check runs in a fresh interpreter, because this test process has long
since imported Twisted itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

_ROOT = Path(__file__).resolve().parents[1]

#: The modules known today, imported by name.
_NAMED = (
    "srstwist.codec.amf0",
    "srstwist.codec.handshake",
    "srstwist.codec.chunk",
    "srstwist.codec.control",
    "srstwist.codec.buffer",
    "srstwist.media.message",
)

#: Imports every module of both packages, including ones added later, and
#: reports what it imported and which Twisted modules got loaded.
_WALK = """
import importlib, json, pkgutil, sys
import srstwist.codec, srstwist.media
walked = []
for package in (srstwist.codec, srstwist.media):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        walked.append(info.name)
print(json.dumps({
    "walked": walked,
    "twisted": sorted(m for m in sys.modules if m.startswith("twisted")),
}))
"""


def run_python(code: str) -> str:
    """
    Run C{code} with C{python -c} in a new interpreter at the repository
    root.

    @return: its standard output.
    @raise AssertionError: if it fails.
    """
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise AssertionError(f"python -c failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


class CodecIsolationTests(SynchronousTestCase):
    """
    Nothing under C{srstwist.codec} or C{srstwist.media} imports Twisted.
    """

    def test_named_modules(self) -> None:
        """
        Importing the known codec and media modules loads no module whose
        name starts with C{twisted}.
        """
        code = (
            f"import sys, {', '.join(_NAMED)}\n"
            "bad = sorted(m for m in sys.modules if m.startswith('twisted'))\n"
            "assert not bad, bad\n"
            "print('ok')\n"
        )
        self.assertEqual(run_python(code).strip(), "ok")

    def test_every_module(self) -> None:
        """
        Importing every module found in the two packages (future ones too)
        loads no module whose name starts with C{twisted}.
        """
        report = json.loads(run_python(_WALK))
        self.assertEqual(report["twisted"], [])
        self.assertTrue(set(_NAMED) <= set(report["walked"]), report["walked"])
