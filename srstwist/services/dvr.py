# -*- test-case-name: tests.test_services_dvr -*-
"""
DVR output: the stream consumer that records a live stream to FLV files
(SRS 2.0's ``SrsDvr`` and ``SrsFlvSegment`` in ``srs_app_dvr.cpp``).

`DvrOutput` drives a `DvrPlanner` (sans-IO, :mod:`srstwist.media.dvr`) with
the messages the source delivers and carries out its events:

* a file is written as ``<path>.tmp`` (its directories created as needed)
  and renamed to ``<path>`` when closed, so a reader never sees a half
  file under the final name (SRS does the same, ``SrsFlvSegment::open``);
  ``append`` moves the existing file to the ``.tmp`` name while it writes;
* at close, the ``onMetaData`` reserved at the start of the file is
  overwritten in place with ``duration``, ``filesize`` and the
  ``keyframes`` index: one small write, whatever the file's size, where
  rewriting the file (yamdi, ffmpeg's ``add_keyframe_index``) would copy
  it all on the reactor thread;
* after the rename, the ``on_dvr`` hook is sent through ``notify`` with
  SRS's body (``SrsDvrAsyncCallOnDvr``); its verdict does not stop the
  recording (SRS logs it and goes on).

Writes are buffered: tags are joined and written when
:data:`FLUSH_BYTES` are pending, every :data:`FLUSH_INTERVAL` seconds (the
service's timer) and at close, so a 1 Mbit/s stream costs one ``write``
a second, not one per frame.  ``docs/performance.md`` ("DVR") has the
reactor's lag with 50 streams recording: small enough that the writes stay
on the reactor thread.

Failure isolation: an ``OSError`` (a full disk, a missing permission, a
path that cannot be created) stops that stream's recording until its next
publish with one error line under the publisher's cid; what was written is
kept as a playable file (its metadata not patched) when possible, else the
``.tmp`` is removed.  The stream and its players are not touched.

`DvrService` makes one output per publish (`DvrService.output_for`, for
:class:`srstwist.services.hub.OutputsPerPublish`) and closes every open file
when the server stops (SIGTERM), so no ``.tmp`` is left behind.  A reload
that enables, disables or changes ``dvr`` closes the output and makes a
new one (``reload_key``); the new one starts its file at the next live
keyframe (``join_live``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from twisted.application import service
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.config.model import DvrConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer, Replay
from srstwist.media.dvr import (
    CloseFile,
    DvrEvent,
    DvrPlanner,
    ExistingFile,
    OpenFile,
    WriteTags,
    read_existing,
)
from srstwist.media.message import SharedMessage
from srstwist.stream.request import StreamRequest

__all__ = ["DvrOutput", "DvrService", "Notify", "Recording", "FLUSH_BYTES", "FLUSH_INTERVAL"]

#: ``notify(payload)``: a file is finished; the payload has ``client_id``,
#: ``ip``, ``vhost``, ``app``, ``stream``, ``param``, ``cwd``, ``file``.
Notify = Callable[[dict[str, Any]], None]
#: ``recording((vhost, app, stream), on)``: a file opened or closed.
Recording = Callable[[tuple[str, str, str], bool], None]

#: Pending bytes that make an output write at once.
FLUSH_BYTES = 256 * 1024
#: Seconds between the service's writes of every output's pending bytes.
FLUSH_INTERVAL = 1.0
#: How much of an existing file ``append`` reads to find its metadata.
_HEAD_BYTES = 1024 * 1024
_DIR_MODE = 0o775


def _write_all(handle: IO[bytes], data: bytes) -> None:
    """Write every byte (an unbuffered file may take fewer than asked)."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError("write returned 0")
        view = view[written:]


@implementer(IStreamConsumer)
class DvrOutput:
    """
    Records one publish of one stream.  `IStreamConsumer` API.

    :param vhost: the vhost's config (its ``dvr`` section is used).
    :param cid: the publisher's connection id, for the log and on_dvr.
    :param clock: ``seconds`` for the file names, ``callLater`` for
        :meth:`join_live`.
    :param notify: called after each file is closed, see `Notify`.
    :param recording: told when a file opens and closes, see `Recording`.
    """

    log = Logger()
    #: A file starts on a keyframe; outputs share no encoding.
    replay = Replay.GOP
    sharing_key = None

    @staticmethod
    def reload_key(vhost: VhostConfig) -> DvrConfig:
        """
        What a reload must change for this output to restart (see
        :class:`srstwist.services.hub.OutputsPerPublish`): the ``dvr`` section.
        """
        return vhost.dvr

    def __init__(
        self,
        vhost: VhostConfig,
        app: str,
        stream: str,
        clock: IReactorTime,
        *,
        cid: int = 0,
        ip: str = "",
        param: str = "",
        notify: Notify | None = None,
        recording: Recording | None = None,
        utc: bool = False,
    ) -> None:
        self.vhost, self.app, self.stream = vhost.name, app, stream
        self.config = vhost.dvr
        self.cid = cid
        self.ip, self.param = ip, param
        self._clock = clock
        self._notify = notify
        self._recording = recording
        self.planner = DvrPlanner(self.config, vhost.name, app, stream, utc=utc)
        self._handle: IO[bytes] | None = None
        self._path = ""
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flushed = 0
        #: No more files for this publish (unpublished, closed, or failed).
        self.finished = False
        self.failed = False
        #: :meth:`join_live`: drop what the attach replays.
        self._replaying = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vhost, self.app, self.stream)

    @property
    def recording(self) -> bool:
        """A file is open."""
        return self._handle is not None

    def _tmp(self, path: str) -> str:
        return path + ".tmp"

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """
        The publish starts: log the settings and, for ``append``, read the
        file to continue.  Files open at the first frame.
        """
        config = self.config
        self.log.info(
            "dvr: plan={plan}, path={path}, duration={duration}s, wait_keyframe={wait}, "
            "jitter={jitter}",
            plan=config.dvr_plan,
            path=config.dvr_path,
            duration=config.dvr_duration,
            wait=config.dvr_wait_keyframe,
            jitter=config.time_jitter,
            cid=self.cid,
        )
        existing: ExistingFile | None = None
        if config.dvr_plan == "append":
            path = self.planner.append_path(self._clock.seconds())
            try:
                existing = self._inspect(path)
            except OSError as error:
                self._fail(f"cannot continue {path}: {error}")
                return
        self._apply(self.planner.on_publish(existing))

    def _inspect(self, path: str) -> ExistingFile | None:
        """The state of ``path`` for ``append``; ``None`` if it is new."""
        for candidate in (path, self._tmp(path)):
            try:
                with open(candidate, "rb") as f:
                    head = f.read(_HEAD_BYTES)
                    size = os.fstat(f.fileno()).st_size
            except FileNotFoundError:
                continue
            if candidate != path:
                # A .tmp left by a crash: it is the file to continue.
                os.rename(candidate, path)
            found = read_existing(head, size)
            if found is None:
                raise OSError(f"{candidate} is not a DVR file srstwist wrote; not appending to it")
            return found
        return None

    def join_live(self) -> None:
        """
        This output is attached to a stream already live (a reload): the
        frames the attach replays now are dropped (the output it replaces
        wrote them), and the file starts at the next live keyframe.
        """
        self._replaying = True
        self.planner.wait_for_keyframe()
        self._clock.callLater(0, self._end_replay)

    def _end_replay(self) -> None:
        self._replaying = False

    def stop(self) -> None:
        """Close the open file; no more files for this publish."""
        if self.finished:
            return
        self.finished = True
        self._apply(self.planner.close())

    # -- IStreamConsumer ------------------------------------------------------

    def deliver(self, message: SharedMessage) -> None:
        if self.finished:
            return
        if self._replaying and message.is_av and not message.is_sequence_header:
            # The replay's frames are already in the previous output's file;
            # its metadata and sequence headers are what the next file needs.
            return
        self._apply(self.planner.on_message(message, self._clock.seconds()))

    def publisher_changed(self, publishing: bool) -> None:
        if not publishing:
            self.stop()

    def close(self, reason: str) -> None:
        """Shutdown, or a reload that turns DVR off or restarts it."""
        self.stop()

    # -- carrying out events ----------------------------------------------------

    def flush(self) -> None:
        """Write the pending bytes (the service's timer, and before a close)."""
        if not self._pending or self._handle is None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            _write_all(self._handle, data)
        except OSError as error:
            self._fail(f"cannot write {self._tmp(self._path)}: {error}")
            return
        self._flushed += len(data)

    def _apply(self, events: list[DvrEvent]) -> None:
        for event in events:
            if self.failed:
                return
            try:
                self._carry_out(event)
            except OSError as error:
                self._fail(f"{type(event).__name__} {event.path}: {error}")

    def _carry_out(self, event: DvrEvent) -> None:
        if isinstance(event, WriteTags):
            self._pending.append(event.data)
            self._pending_bytes += len(event.data)
            if self._pending_bytes >= FLUSH_BYTES:
                self.flush()
        elif isinstance(event, OpenFile):
            self._open(event)
        elif isinstance(event, CloseFile):
            self._close(event)

    def _open(self, event: OpenFile) -> None:
        path, tmp = event.path, self._tmp(event.path)
        self._path = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, _DIR_MODE, exist_ok=True)
        if event.append:
            os.rename(path, tmp)
            handle = open(tmp, "r+b", buffering=0)
            self._flushed = handle.seek(0, os.SEEK_END)
        else:
            handle = open(tmp, "wb", buffering=0)
            self._flushed = 0
        self._handle = handle
        self.log.info("dvr stream {stream} to file {path}", stream=self.stream, path=path, cid=self.cid)
        self._set_recording(True)

    def _close(self, event: CloseFile) -> None:
        self.flush()
        handle = self._handle
        if handle is None or self.failed:
            return
        handle.seek(event.patch_offset)
        _write_all(handle, event.patch)
        handle.close()
        os.rename(self._tmp(event.path), event.path)
        self._handle = None
        self._set_recording(False)
        self.log.info(
            "dvr: closed {path}, duration={duration:.3f}s, size={size}, keyframes={keyframes}",
            path=event.path,
            duration=event.duration,
            size=event.size,
            keyframes=event.keyframes,
            cid=self.cid,
        )
        self._announce(event.path)

    def _announce(self, path: str) -> None:
        if self._notify is None:
            return
        payload = {
            "client_id": self.cid,
            "ip": self.ip,
            "vhost": self.vhost,
            "app": self.app,
            "stream": self.stream,
            "param": self.param,
            "cwd": os.getcwd(),
            "file": path,
        }
        try:
            self._notify(payload)
        except Exception:
            self.log.failure("dvr on_dvr notify failed", cid=self.cid)

    def _set_recording(self, on: bool) -> None:
        if self._recording is None:
            return
        try:
            self._recording(self.key, on)
        except Exception:
            self.log.failure("dvr recording flag failed", cid=self.cid)

    def _fail(self, what: str) -> None:
        """
        Stop recording this publish: one log line, keep what was written
        (unpatched) when possible, else remove the ``.tmp``.
        """
        if self.failed:
            return
        self.failed = self.finished = True
        self.planner.abandon()
        self._pending.clear()
        self._pending_bytes = 0
        self.log.error(
            "dvr error, recording of {url} stopped until the next publish: {what}",
            url=f"{self.vhost}/{self.app}/{self.stream}",
            what=what,
            cid=self.cid,
        )
        handle, self._handle = self._handle, None
        tmp = self._tmp(self._path)
        if handle is None:
            # Failed before the file was open (append moves it first).
            if self._path and os.path.exists(tmp) and not os.path.exists(self._path):
                try:
                    os.rename(tmp, self._path)
                except OSError:
                    pass
            return
        try:
            try:
                if self._flushed > 0:
                    handle.truncate(self._flushed)
            finally:
                handle.close()
            if self._flushed > 0:
                os.rename(tmp, self._path)
            else:
                os.unlink(tmp)
        except (OSError, ValueError):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._set_recording(False)


class DvrService(service.Service):
    """
    Every live stream's DVR output; writes their pending bytes every
    :data:`FLUSH_INTERVAL` seconds and closes their files at stop.

    :param clock: the reactor (``callLater``, ``seconds``, the timer).
    :param notify: passed to every output, see `Notify`.
    :param recording: passed to every output, see `Recording`.
    :param utc_time: the global ``utc_time``, for the time variables.
    """

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        notify: Notify | None = None,
        *,
        recording: Recording | None = None,
        utc_time: bool = False,
    ) -> None:
        self.setName("dvr")
        self._clock = clock
        self._notify = notify
        self._recording = recording
        self._utc = utc_time
        self.outputs: dict[tuple[str, str, str], DvrOutput] = {}
        self._timer: task.LoopingCall | None = None

    def output_for(self, source: Any, request: StreamRequest) -> IStreamConsumer | None:
        """
        The consumer to attach to ``source`` now that the publisher of
        ``request`` starts (or a reload asks again), already started;
        ``None`` when the vhost's ``dvr`` is not enabled.

        :param source: a :class:`srstwist.media.source.Source` (``vhost``,
            ``app``, ``stream``, ``key``, ``cid``).
        """
        vhost: VhostConfig = source.vhost
        if not vhost.dvr.enabled:
            return None
        previous = self.outputs.get(source.key)
        if previous is not None:
            previous.stop()
        output = DvrOutput(
            vhost,
            source.app,
            source.stream,
            self._clock,
            cid=source.cid,
            ip=request.ip,
            param=request.param,
            notify=self._notify,
            recording=self._recording,
            utc=self._utc,
        )
        self.outputs[source.key] = output
        output.start()
        return output

    def flush(self) -> None:
        """Write every output's pending bytes; forget finished outputs."""
        for key, output in list(self.outputs.items()):
            if output.finished:
                if self.outputs.get(key) is output:
                    del self.outputs[key]
                continue
            output.flush()

    def startService(self) -> None:
        super().startService()
        timer = self._timer = task.LoopingCall(self.flush)
        timer.clock = self._clock
        timer.start(FLUSH_INTERVAL, now=False)

    def stopService(self) -> Any:
        timer, self._timer = self._timer, None
        if timer is not None and timer.running:
            timer.stop()
        for output in list(self.outputs.values()):
            output.close("shutdown")
        self.outputs.clear()
        return super().stopService()
