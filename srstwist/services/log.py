# -*- test-case-name: tests.test_services_log -*-
"""
The first service up and the last down: points the process log where
``srs_log_tank``, ``srs_log_file``, ``srs_log_level`` and ``utc_time`` say.
"""

from __future__ import annotations

from twisted.application import service
from twisted.logger import ILogObserver, LogPublisher, globalLogPublisher

from srstwist.config.model import ServerConfig
from srstwist.tracelog import SrsLogObserver

__all__ = ["LogService"]


class LogService(service.Service):
    """
    Configures the process's :class:`SrsLogObserver`.

    Under twistd the observer is already twistd's own (installed through the
    plugin's ``--logger``); anywhere else this service adds it to ``publisher``
    while running, so the SRS format holds either way.
    """

    def __init__(
        self,
        config: ServerConfig,
        observer: SrsLogObserver,
        main_cid: int,
        publisher: LogPublisher | None = None,
    ) -> None:
        self.setName("log")
        self.config = config
        self.observer = observer
        self._publisher = publisher if publisher is not None else globalLogPublisher
        self._added = False
        observer.default_cid = main_cid

    def _apply(self, config: ServerConfig) -> None:
        self.observer.configure(
            config.srs_log_tank,
            config.srs_log_level,
            config.srs_log_file,
            config.utc_time,
        )

    def startService(self) -> None:
        self._apply(self.config)
        if not self.observer.installed:
            self._publisher.addObserver(ILogObserver(self.observer))
            self.observer.installed = self._added = True
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        if self._added:
            self._publisher.removeObserver(ILogObserver(self.observer))
            self.observer.installed = self._added = False
        self.observer.reset()

    def reconfigure(self, config: ServerConfig) -> None:
        """
        Apply new log settings.  A log file that cannot be opened keeps the
        old target, and the error is logged there.
        """
        self._apply(config)
        self.config = config
