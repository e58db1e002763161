"""
Run a child process under the real reactor and wait for lines it prints.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.python.failure import Failure

__all__ = ["Child", "free_port", "REPO", "srs_command"]

#: The repository root, so children import this checkout's code.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def srs_command(*args: str) -> list[str]:
    """The argv of ``twistd srs ARGS`` run by this interpreter from this checkout."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args]


class Child(protocol.ProcessProtocol):
    """
    A child process whose output is collected and can be waited on.

    C{wait_for(text)} fires once C{text} has appeared in the combined output
    (from the point of the call's C{since} mark); C{ended} fires with
    C{(exit code, signal)}, one of them None.
    """

    def __init__(self) -> None:
        self.output = ""
        self.ended: defer.Deferred[tuple[int | None, int | None]] = defer.Deferred()
        self._waiters: list[tuple[str, int, defer.Deferred[None]]] = []
        self.transport: Any = None

    @classmethod
    def spawn(cls, argv: list[str], cwd: str, env: dict[str, str] | None = None) -> Child:
        child = cls()
        environment = dict(os.environ)
        environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
        environment.update(env or {})
        reactor.spawnProcess(child, argv[0], argv, env=environment, path=cwd)
        return child

    def mark(self) -> int:
        """A position in the output: wait_for(..., since=mark) looks after it."""
        return len(self.output)

    def wait_for(self, text: str, since: int = 0, timeout: float = 20.0) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append((text, since, d))
        self._check()
        return d.addTimeout(timeout, reactor).addErrback(self._explain, text)

    def _explain(self, failure: Failure, text: str) -> Failure:
        failure.value.args += (f"waiting for {text!r}; output so far:\n{self.output}",)
        return failure

    def _check(self) -> None:
        for waiter in list(self._waiters):
            text, since, d = waiter
            if text in self.output[since:]:
                self._waiters.remove(waiter)
                d.callback(None)

    def outReceived(self, data: bytes) -> None:
        self.output += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def signal(self, name: str) -> None:
        self.transport.signalProcess(name)

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(
            (getattr(reason.value, "exitCode", None), getattr(reason.value, "signal", None))
        )

    def kill_if_running(self) -> defer.Deferred[Any]:
        """Cleanup: KILL the child if it is still running, then wait for it."""
        if not self.ended.called:
            try:
                self.transport.signalProcess("KILL")
            except Exception:
                pass
        return self.ended
