# -*- test-case-name: tests.test_tap -*-
"""
``twistd srs``: command-line options and the service maker.

    twistd -n srs --config conf/srs.conf     run in the foreground
    twistd srs -c conf/srs.conf              run as a daemon if the config says ``daemon on``
    twistd srs --test -c conf/srs.conf       check the config, print the verdict, exit 0 or 1

The config is read while options are parsed, so a broken file stops the
server before anything starts, with the file, line and directive at fault.
The config then steers twistd itself: logging goes through our SRS-format
observer, ``daemon off`` means ``--nodaemon``, ``work_dir`` becomes
``--rundir``, and our ``pid`` directive replaces twistd's pid file.  Options
given explicitly to twistd win over the config.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.python import usage

from srstwist.config.loader import load_config
from srstwist.config.model import ServerConfig
from srstwist.config.parser import ConfigError
from srstwist.config.support import unsupported_directives

__all__ = ["Options", "makeService"]

_TWISTD_DEFAULT_PIDFILE = "twistd.pid"


class Options(usage.Options):
    """Options of ``twistd srs``."""

    synopsis = "[-c FILE] [--test]"
    optParameters = [
        ["config", "c", "conf/srs.conf", "The SRS configuration file."],
    ]
    optFlags = [
        ["test", "t", "Check the configuration file, print the verdict and exit (0: ok, 1: invalid)."],
    ]
    longdesc = (
        "A live-streaming server (RTMP, HTTP-FLV, HLS) that runs SRS 2.0 "
        "configuration files."
    )

    srs_config: ServerConfig | None = None

    def postOptions(self) -> None:
        path = self["config"]
        try:
            config = load_config(path)
        except ConfigError as e:
            print(f"srs: {e}", file=sys.stderr)
            if self["test"]:
                print(f"srs: the configuration file {path} is invalid", file=sys.stderr)
            raise SystemExit(1) from None
        if self["test"]:
            for line in config.warnings:
                print(f"srs: warning: {line}")
            if config.tree is not None:
                for line in unsupported_directives(config.tree):
                    print(f"srs: {line}")
            print(f"srs: the configuration file {path} is ok")
            raise SystemExit(0)
        self.srs_config = config
        self["config_path"] = os.path.abspath(path)
        self._steer_twistd(config, self.parent)

    @staticmethod
    def _steer_twistd(config: ServerConfig, parent: Any) -> None:
        """Map config directives onto twistd's options, unless given by hand."""
        if parent is None:
            return
        if parent.get("logger") is None:
            parent["logger"] = "srstwist.tracelog.twistd_observer"
        if parent.get("pidfile") == _TWISTD_DEFAULT_PIDFILE:
            parent["pidfile"] = ""
        if not config.daemon:
            parent["nodaemon"] = True
        if parent.get("rundir", ".") == "." and config.work_dir not in ("", ".", "./"):
            parent["rundir"] = config.work_dir


def makeService(options: Options) -> Any:
    """Build the server; the only place the global reactor is imported."""
    from twisted.internet import reactor

    from srstwist.services.server import buildService

    assert options.srs_config is not None
    return buildService(
        options.srs_config,
        reactor,
        config_path=options["config_path"],
        install_signals=True,
    )
