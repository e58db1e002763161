# -*- test-case-name: tests.test_services_hls -*-
"""
HLS output: the stream consumer that writes segments and playlists to disk.

`HlsOutput` drives an `HlsSegmenter` (sans-IO, `srstwist.media.hls`) with
the messages the source delivers and carries out its events under
``hls_path``: segments are written to ``<name>.tmp`` and renamed when
finished, the playlist is written to ``<name>.temp`` and renamed over the
old one (``SrsHlsMuxer::refresh_m3u8``), segments that leave the window are deleted
with ``hls_cleanup on``, and with ``hls_dispose N`` everything is deleted N
seconds after unpublish (and at shutdown, SRS #865).  Each finished segment
is reported through the optional ``notify(event, payload)`` callable, for
the on_hls and on_hls_notify hooks (``SrsDvrAsyncCallOnHls`` and
``SrsDvrAsyncCallOnHlsNotify`` in ``srs_app_hls.cpp``).

Errors obey ``hls_on_error`` (SRS #264; ``SrsSource::on_audio_imp`` and
``on_video_imp``), with this output's meaning of each value:

* ``ignore``: log, close what can be closed, and stop HLS for this
  stream until the next publish;
* ``continue``: log and keep going; a message that cannot be muxed is
  dropped (logged once per kind of error per publish), a segment that
  cannot be written is dropped and the next one starts clean;
* ``disconnect``: log and ask for the publisher to be disconnected.

`HlsService` owns one output per stream, kept across republish so that
sequence numbers and continuity counters carry on, and hands the hub the
consumer to attach at each publish (`HlsService.output_for`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from twisted.application import service
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.config.model import HlsConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer, Replay
from srstwist.media.hls import (
    HlsError,
    HlsEvent,
    HlsSegmenter,
    MediaMessage,
    PlaylistUpdated,
    SegmentClosed,
    SegmentData,
    SegmentDropped,
    SegmentExpired,
    SegmentOpened,
    StreamDisposed,
)
from srstwist.stream.request import StreamRequest

__all__ = ["HlsOutput", "HlsService", "Notify"]

#: ``notify(event_name, payload)``: ``"on_hls"`` or ``"on_hls_notify"``.
Notify = Callable[[str, dict[str, Any]], None]

#: Distinct mux errors logged per publish under ``hls_on_error continue``.
_MAX_LOGGED = 32
_DIR_MODE = 0o775


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@implementer(IStreamConsumer)
class HlsOutput:
    """
    Writes one stream's HLS files.  `IStreamConsumer` API.

    :param clock: ``callLater`` for ``hls_dispose``, ``seconds`` for the
        wall time in file names.
    :param notify: called with each finished segment, see `Notify`.
    :param utc: the global ``utc_time``.
    """

    log = Logger()
    #: A segment starts on a keyframe; outputs share no encoding.
    replay = Replay.GOP
    sharing_key = None

    @staticmethod
    def reload_key(vhost: VhostConfig) -> tuple[HlsConfig, bool]:
        """
        What a reload must change for this output to restart (see
        :class:`srstwist.services.hub.OutputsPerPublish`): the ``hls``
        section and ``publish { parse_sps }``.
        """
        return (vhost.hls, vhost.publish.parse_sps)

    def __init__(
        self,
        vhost: str,
        app: str,
        stream: str,
        clock: IReactorTime,
        *,
        notify: Notify | None = None,
        utc: bool = False,
    ) -> None:
        self.vhost, self.app, self.stream = vhost, app, stream
        self.cid = 0
        #: The publisher's address and query, for on_hls (SRS sends them).
        self.ip = ""
        self.param = ""
        self._clock = clock
        self._notify = notify
        self._segmenter = HlsSegmenter(vhost, app, stream, utc=utc)
        self._config = HlsConfig()
        self._vhost_config: VhostConfig | None = None
        self._disconnect: Callable[[str], None] | None = None
        self._muxing = False
        self._file: IO[bytes] | None = None
        self._file_sequence: int | None = None
        self._file_path = ""
        self._dispose_call: IDelayedCall | None = None
        self._logged: set[str] = set()
        #: Joined a live stream (:meth:`join_live`): frames are dropped
        #: until the first video keyframe, and those this output muxed
        #: already (up to ``_floor``) are not muxed again.
        self._awaiting_keyframe = False
        self._has_video = False
        self._floor: int | None = None
        #: The publisher's cid and the timestamp of the last audio or
        #: video message muxed.
        self._last_media: tuple[int, int] | None = None

    @property
    def segmenter(self) -> HlsSegmenter:
        """
        The sans-IO state this output carries out.
        """
        return self._segmenter

    @property
    def muxing(self) -> bool:
        """
        Messages are being written (published, and no error stopped HLS).
        """
        return self._muxing

    def _full(self, relative: str) -> str:
        return self._config.hls_path + "/" + relative

    # -- lifecycle -----------------------------------------------------------

    def start(
        self,
        vhost: VhostConfig,
        cid: int,
        disconnect_publisher: Callable[[str], None] | None = None,
        *,
        ip: str = "",
        param: str = "",
    ) -> None:
        """
        A publisher starts: read the vhost's ``hls`` config and open the
        first segment.  Cancels a pending dispose.

        :param disconnect_publisher: for ``hls_on_error disconnect``;
            called with a reason.
        """
        self._cancel_dispose()
        self._vhost_config = vhost
        self._config = vhost.hls
        self.cid = cid
        self.ip, self.param = ip, param
        self._disconnect = disconnect_publisher
        self._logged.clear()
        self._muxing = True
        config = self._config
        self.log.info(
            "hls: win={window}, frag={fragment}, prefix={prefix}, path={path}, "
            "m3u8={m3u8}, ts={ts}, aof={aof}, floor={floor}, clean={cleanup}, "
            "waitk={wait}, dispose={dispose}",
            window=config.hls_window,
            fragment=config.hls_fragment,
            prefix=config.hls_entry_prefix,
            path=config.hls_path,
            m3u8=config.hls_m3u8_file,
            ts=config.hls_ts_file,
            aof=config.hls_aof_ratio,
            floor=config.hls_ts_floor,
            cleanup=config.hls_cleanup,
            wait=config.hls_wait_keyframe,
            dispose=config.hls_dispose,
            cid=self.cid,
        )
        events = self._segmenter.on_publish(
            config, self._clock.seconds(), parse_sps=vhost.publish.parse_sps
        )
        self._apply(events)

    def join_live(self) -> None:
        """
        This output was started on a stream already live (a reload turned
        HLS on or changed its settings): start the first segment on a
        video keyframe.  The GOP cache replayed at attach begins with one;
        without a GOP cache the frames before the next keyframe (and the
        audio among them, when the stream has video) are dropped, where
        SRS would open the segment on whatever frame comes next.
        """
        self._awaiting_keyframe = True
        self._has_video = False
        last = self._last_media
        self._floor = last[1] if last is not None and last[0] == self.cid else None

    def _before_keyframe(self, message: MediaMessage) -> bool:
        """
        While :meth:`join_live` waits: whether ``message`` is dropped,
        being older than what this output muxed of the same publish (a
        restart gets the GOP cache again) or before the first keyframe.
        Sequence headers and metadata pass.
        """
        kind, payload = message.message_type_id, message.payload
        if kind not in (8, 9) or len(payload) < 2:
            return False
        header = payload[1] == 0 and (
            (kind == 9 and payload[0] & 0x0F == 7) or (kind == 8 and payload[0] >> 4 == 10)
        )
        if header:
            self._has_video = self._has_video or kind == 9
            return False
        if self._floor is not None:
            if message.timestamp <= self._floor:
                return True
            self._floor = None
        if kind == 9:
            if payload[0] >> 4 == 1:
                self._awaiting_keyframe = False
                return False
            return True
        return self._has_video

    def stop(self) -> None:
        """
        The publisher stopped: close the segment, write the final playlist,
        and schedule ``hls_dispose``.
        """
        self._muxing = False
        self._awaiting_keyframe = False
        if self._segmenter.publishing:
            self._apply(self._segmenter.on_unpublish(), quiet=True)
            self.log.info(
                "hls unpublished, next seq={seq}", seq=self._segmenter.next_sequence, cid=self.cid
            )
        if self._config.hls_dispose > 0 and self._dispose_call is None:
            self._dispose_call = self._clock.callLater(
                self._config.hls_dispose, self._timed_dispose
            )

    def dispose(self) -> None:
        """
        Delete the stream's listed segments and playlist now (unpublishing
        first if needed).
        """
        self._cancel_dispose()
        self._muxing = False
        self._apply(self._segmenter.dispose(), quiet=True)
        self.log.info("hls disposed {url}", url=self._segmenter.m3u8_url, cid=self.cid)

    def shutdown(self) -> None:
        """
        Server shutdown: close the segment and, with ``hls_dispose``, delete
        the files (SRS #865).
        """
        self.stop()
        self._cancel_dispose()
        if self._config.hls_dispose > 0:
            self.dispose()

    def _timed_dispose(self) -> None:
        self._dispose_call = None
        if not self._segmenter.publishing:
            self.dispose()

    def _cancel_dispose(self) -> None:
        call, self._dispose_call = self._dispose_call, None
        if call is not None and call.active():
            call.cancel()

    # -- IStreamConsumer -----------------------------------------------------

    def deliver(self, message: MediaMessage) -> None:
        if not self._muxing:
            return
        if self._awaiting_keyframe and self._before_keyframe(message):
            return
        if message.message_type_id in (8, 9):
            self._last_media = (self.cid, message.timestamp)
        try:
            events = self._segmenter.on_message(message, self._clock.seconds())
        except HlsError as error:
            self._failed(f"cannot mux type {message.message_type_id}: {error}", io=False)
            return
        self._apply(events)

    def publisher_changed(self, publishing: bool) -> None:
        if not publishing:
            self.stop()
        elif not self._segmenter.publishing and self._vhost_config is not None:
            self.start(self._vhost_config, self.cid, self._disconnect)

    def close(self, reason: str) -> None:
        """
        Server shutdown, or a reload that turns HLS off or restarts it:
        close the segment and end the playlist, as at unpublish.
        """
        if self._segmenter.publishing:
            self.stop()

    # -- errors ----------------------------------------------------------------

    def _failed(self, what: str, *, io: bool) -> bool:
        """
        Apply ``hls_on_error``; return whether to keep going.
        """
        policy = self._config.hls_on_error
        if policy == "continue":
            if io or what not in self._logged:
                if not io and len(self._logged) < _MAX_LOGGED:
                    self._logged.add(what)
                self.log.error("hls error, continue: {what}", what=what, cid=self.cid)
            return True
        self._muxing = False
        if policy == "ignore" or self._disconnect is None:
            self.log.error(
                "hls error, HLS stopped for this publish: {what}", what=what, cid=self.cid
            )
            if self._segmenter.publishing:
                self._apply(self._segmenter.on_unpublish(), quiet=True)
            return False
        self.log.error("hls error, disconnecting the publisher: {what}", what=what, cid=self.cid)
        self._clock.callLater(0, self._disconnect, f"hls error: {what}")
        return False

    # -- carrying out events ---------------------------------------------------

    def _apply(self, events: list[HlsEvent], *, quiet: bool = False) -> None:
        """
        Carry out ``events`` in order.  When a file operation fails, the
        segment it concerns is discarded (so the playlist never lists a
        file that is not there) and the events still queued for it are
        skipped; with ``quiet`` the error is only logged.
        """
        queue = list(events)
        index = 0
        while index < len(queue):
            event = queue[index]
            index += 1
            try:
                self._carry_out(event)
            except OSError as error:
                self._abandon_file()
                if quiet:
                    self.log.warn("hls file error: {error}", error=error, cid=self.cid)
                elif not self._failed(f"file error: {error}", io=True):
                    return
                sequence = getattr(event, "sequence", None)
                if sequence is None:
                    continue
                replacement = self._segmenter.discard(sequence)
                stale_playlist = any(isinstance(e, PlaylistUpdated) for e in replacement)
                rest = [
                    e
                    for e in queue[index:]
                    if getattr(e, "sequence", None) != sequence
                    and not (stale_playlist and isinstance(e, PlaylistUpdated))
                ]
                queue, index = replacement + rest, 0

    def _carry_out(self, event: HlsEvent) -> None:
        if isinstance(event, SegmentData):
            if self._file is not None and self._file_sequence == event.sequence:
                self._file.write(event.data)
        elif isinstance(event, SegmentOpened):
            self._abandon_file()
            path = self._full(event.path)
            os.makedirs(os.path.dirname(path) or ".", _DIR_MODE, exist_ok=True)
            self._file = open(path + ".tmp", "wb")
            self._file_sequence, self._file_path = event.sequence, path
        elif isinstance(event, SegmentClosed):
            path = self._full(event.path)
            self._close_file()
            os.rename(path + ".tmp", path)
            self.log.debug(
                "hls reap seq={seq}, uri={uri}, duration={duration:.3f}",
                seq=event.sequence,
                uri=event.uri,
                duration=event.duration,
                cid=self.cid,
            )
            self._announce(event, path)
        elif isinstance(event, SegmentDropped):
            self._abandon_file()
            _remove(self._full(event.path) + ".tmp")
        elif isinstance(event, PlaylistUpdated):
            self._write_playlist(self._full(event.path), event.text)
        elif isinstance(event, SegmentExpired):
            if self._config.hls_cleanup:
                self._remove_quietly(self._full(event.path))
        elif isinstance(event, StreamDisposed):
            for relative in event.paths:
                self._remove_quietly(self._full(relative))

    def _write_playlist(self, path: str, text: str) -> None:
        temp = path + ".temp"
        try:
            os.makedirs(os.path.dirname(path) or ".", _DIR_MODE, exist_ok=True)
            with open(temp, "wb") as out:
                out.write(text.encode("utf-8"))
            os.rename(temp, path)
        except OSError:
            self._remove_quietly(temp)
            raise

    def _remove_quietly(self, path: str) -> None:
        try:
            _remove(path)
        except OSError as error:
            self.log.warn("hls cannot remove {path}: {error}", path=path, error=error, cid=self.cid)

    def _close_file(self) -> None:
        handle, self._file = self._file, None
        self._file_sequence = None
        if handle is not None:
            handle.close()

    def _abandon_file(self) -> None:
        """
        Close and delete the open segment's ``.tmp`` file, if any.
        """
        handle, path = self._file, self._file_path
        if handle is None:
            return
        try:
            self._close_file()
        except OSError:
            pass
        self._remove_quietly(path + ".tmp")

    def _announce(self, event: SegmentClosed, path: str) -> None:
        if self._notify is None:
            return
        m3u8_url = self._segmenter.m3u8_url
        url = event.uri
        directory = m3u8_url.rpartition("/")[0]
        if directory and not url.startswith(("http://", "https://")):
            url = directory + "/" + url
        on_hls = {
            "client_id": self.cid,
            "ip": self.ip,
            "param": self.param,
            "vhost": self.vhost,
            "app": self.app,
            "stream": self.stream,
            "duration": event.duration,
            "cwd": os.getcwd(),
            "file": path,
            "url": url,
            "m3u8": self._full(m3u8_url),
            "m3u8_url": m3u8_url,
            "seq_no": event.sequence,
            "ts_url": event.uri,
        }
        on_hls_notify = {
            "client_id": self.cid,
            "param": self.param,
            "vhost": self.vhost,
            "app": self.app,
            "stream": self.stream,
            "ts_url": event.uri,
            "nb_notify": self._config.hls_nb_notify,
        }
        for name, payload in (("on_hls", on_hls), ("on_hls_notify", on_hls_notify)):
            try:
                self._notify(name, payload)
            except Exception:
                self.log.failure("hls {name} notify failed", name=name, cid=self.cid)


def _disconnect_publisher(source: Any, reason: str) -> None:
    publisher = getattr(source, "publisher", None)
    if publisher is not None:
        publisher.close(reason)


class HlsService(service.Service):
    """
    Every stream's HLS output, kept for the life of the server.

    :param clock: the reactor (``callLater``, ``seconds``).
    :param notify: passed to every output, see `Notify`.
    :param utc_time: the global ``utc_time``.
    """

    log = Logger()

    def __init__(
        self, clock: IReactorTime, notify: Notify | None = None, *, utc_time: bool = False
    ) -> None:
        self.setName("hls")
        self._clock = clock
        self._notify = notify
        self._utc = utc_time
        self.outputs: dict[tuple[str, str, str], HlsOutput] = {}

    def output_for(self, source: Any, request: StreamRequest) -> IStreamConsumer | None:
        """
        The consumer to attach to ``source`` now that the publisher of
        ``request`` starts, already started; ``None`` when the vhost's
        ``hls`` is not enabled.

        :param source: a `srstwist.media.source.Source` (``vhost``,
            ``app``, ``stream``, ``key``, ``cid``, ``publisher``).
        """
        vhost: VhostConfig = source.vhost
        if not vhost.hls.enabled:
            return None
        output = self.outputs.get(source.key)
        if output is None:
            output = HlsOutput(
                vhost.name,
                source.app,
                source.stream,
                self._clock,
                notify=self._notify,
                utc=self._utc,
            )
            self.outputs[source.key] = output
        output.start(
            vhost,
            source.cid,
            lambda reason: _disconnect_publisher(source, reason),
            ip=request.ip,
            param=request.param,
        )
        return output

    def stopService(self) -> Any:
        for output in self.outputs.values():
            output.shutdown()
        return super().stopService()
