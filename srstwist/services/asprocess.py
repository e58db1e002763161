# -*- test-case-name: tests.test_services_asprocess -*-
"""
``asprocess on``: quit when the process that started us goes away.

For servers run under a supervisor that is not an init system (SRS 2.0's
``SrsServer::do_cycle`` in ``srs_app_server.cpp``): the parent pid is noted at start, and once a
second it is compared with the current one; a change stops the server
gracefully.  Starting with pid 1 as parent is refused, since nothing could
ever be noticed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from twisted.application.internet import TimerService
from twisted.logger import Logger

__all__ = ["ParentWatchService"]


class ParentWatchService(TimerService):
    """Stops the reactor when our parent process changes."""

    log = Logger()

    def __init__(
        self,
        stop: Callable[[], object],
        clock: object,
        getppid: Callable[[], int] = os.getppid,
    ) -> None:
        super().__init__(1.0, self._check)
        self.setName("asprocess")
        self.clock = clock
        self._stop = stop
        self._getppid = getppid
        self._parent = getppid()

    def startService(self) -> None:
        if self._parent == 1:
            raise RuntimeError("asprocess on, but the parent process is already pid 1")
        super().startService()

    def _check(self) -> None:
        now = self._getppid()
        if now != self._parent:
            self.log.warn(
                "asprocess: parent changed from {old} to {new}, quit", old=self._parent, new=now
            )
            self.stopService()
            self._stop()
