# -*- test-case-name: tests.test_services_pidfile -*-
"""
The ``pid`` directive: a locked pid file that keeps a second server away.

As in SRS (``SrsServer::acquire_pid_file`` in ``srs_app_server.cpp``) the file is locked for
the life of the process and holds the decimal pid without a newline.  SRS
uses a POSIX record lock; we use ``flock``, whose lock belongs to the open
file rather than the process, so a second acquisition conflicts even from
the same process (and a test can show it).  A second server on the same file refuses to
start ("srs is already running").  Unlike twistd's own pid file it follows
reloads: a changed ``pid`` moves the lock to the new file, and a failure to
do so is logged while the old file stays in force.
"""

from __future__ import annotations

import fcntl
import os

from twisted.application import service
from twisted.logger import Logger

from srstwist.config.model import ServerConfig

__all__ = ["PidFileError", "PidFile", "PidFileService"]


class PidFileError(Exception):
    """The pid file cannot be created or is locked by a running server."""


class PidFile:
    """One acquired, locked pid file."""

    def __init__(self, path: str, pid: int) -> None:
        self.path = path
        directory = os.path.dirname(path)
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise PidFileError(f"cannot open pid file {path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise PidFileError(
                f"srs is already running! pid file {path} is locked by another process"
            ) from e
        os.ftruncate(fd, 0)
        os.write(fd, str(pid).encode("ascii"))
        self._fd: int | None = fd

    def release(self, remove: bool) -> None:
        """Unlock (and optionally delete) the file."""
        if self._fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self._fd)
        self._fd = None


class PidFileService(service.Service):
    """Holds the pid file while the server runs."""

    log = Logger()

    def __init__(self, config: ServerConfig, pid: int | None = None) -> None:
        self.setName("pidfile")
        self.config = config
        self._pid = pid
        self.current: PidFile | None = None

    def privilegedStartService(self) -> None:
        # Acquire before any port binds, so a second copy fails first.
        if self.current is None:
            self.current = PidFile(self._path(self.config), self._pid or os.getpid())
            self.log.info("write pid={pid} to {path}", pid=self._pid or os.getpid(), path=self.current.path)
        super().privilegedStartService()

    def startService(self) -> None:
        if self.current is None:
            self.privilegedStartService()
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        if self.current is not None:
            self.current.release(remove=True)
            self.current = None

    @staticmethod
    def _path(config: ServerConfig) -> str:
        return os.path.abspath(config.pid)

    def reconfigure(self, config: ServerConfig) -> None:
        """Move the lock when ``pid`` changed; on failure keep the old file."""
        self.config = config
        if self.current is None or self.current.path == self._path(config):
            return
        try:
            new = PidFile(self._path(config), self._pid or os.getpid())
        except PidFileError as e:
            self.log.error("reload: {error}; still using {old}", error=e, old=self.current.path)
            return
        self.current.release(remove=True)
        self.current = new
        self.log.info("reload: pid file moved to {path}", path=new.path)
