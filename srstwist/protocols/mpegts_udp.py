# -*- test-case-name: tests.test_protocols_mpegts_udp -*-
"""
The MPEG-TS-over-UDP caster: datagrams in, one live stream out.

SRS 2.0 (``trunk/src/app/srs_app_mpegts_udp.cpp``) appends every datagram
from anyone to one buffer and republishes it over an RTMP connection to
itself.  Here the caster is a publisher on the stream controller like any
other: the first sender to a quiet port owns the stream (connect and
publish admission, hooks and statistics as for RTMP); datagrams from other
senders meanwhile are ignored with one log line, so two encoders pointed at
the same port do not interleave into garbage.  When the owner goes silent,
the controller's publish timeouts (``publish_normal_timeout``) end the
publish and the next datagram, from anyone, starts a new one.

:class:`CasterPublication` is the publish half every caster front end
under ``protocols/`` shares (the RTSP caster will use it too).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.codec.ts_demux import EsToFlv, FlvMessage, TsDemuxer
from srstwist.interfaces import IClientHandle, IPublishLease, IStreamController, IStreamPublisher, Stage
from srstwist.media.message import SharedMessage
from srstwist.media.source import SourceError
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.request import StreamRequest
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH
from srstwist.tracelog import next_cid

__all__ = ["CasterPublication", "MpegtsUdpCaster", "output_request", "PENDING_MAX_BYTES", "PENDING_MAX_COUNT"]

#: What a caster holds while its admission hooks are asked: messages beyond
#: are dropped (the stream starts at a later keyframe instead).
PENDING_MAX_COUNT = 1024
PENDING_MAX_BYTES = 8 * 1024 * 1024
#: Seconds a sender that never got a stream published (only bad bytes, or
#: admission pending) may stay silent before its session is forgotten.
IDLE_TIMEOUT = 10.0


def output_request(output: str, ip: str, transport: str, app: str = "", stream: str = "") -> StreamRequest:
    """
    The publish request for a caster's ``output`` URL: ``[app]`` and
    ``[stream]`` replaced, then split at the last ``/`` into tcUrl and
    stream name, as SRS's casters do (``srs_app_caster_flv.cpp``,
    ``srs_app_rtsp.cpp``).
    """
    url = output.replace("[app]", app).replace("[stream]", stream)
    tc_url, _, name = url.rpartition("/")
    request = StreamRequest.from_rtmp(ip, tc_url, stream=name)
    return dataclasses.replace(request, client_type=CLIENT_FMLE_PUBLISH, transport=transport)


@implementer(IStreamPublisher)
class CasterPublication:
    """
    One caster session's publish: connect and publish admission, then each
    message to the lease.  Messages that come while the admission is asked
    wait in a queue bounded in count and bytes.

    :param on_closed: called once with this publication and the reason when the publish ends, by
        the caster (:meth:`close`) or by the server (a timeout, a kick).
    """

    log = Logger()

    def __init__(
        self,
        controller: IStreamController,
        request: StreamRequest,
        cid: int,
        on_closed: Callable[[CasterPublication, str], None],
    ) -> None:
        self.cid = cid
        self.request = request
        self.handle: IClientHandle = controller.client(cid, request.ip)
        self.lease: IPublishLease | None = None
        self.closed = False
        self._on_closed = on_closed
        self._pending: deque[SharedMessage] = deque()
        self._pending_bytes = 0
        self.dropped = 0
        #: Closed because of the sender (refused, bad media), not by silence.
        self.failed = False
        connect = dataclasses.replace(request, stream="", param="", client_type="")
        d: defer.Deferred[Any] = self.handle.admit(connect, Stage.CONNECT)
        d.addCallback(lambda _: self.handle.admit(request, Stage.PUBLISH))
        d.addCallback(self._publish)
        d.addErrback(self._refused)

    def _publish(self, admission: Admission) -> None:
        if self.closed:
            return
        self.lease = self.handle.publish(admission, self)
        if self.handle.stats is not None:
            self.handle.stats.transport = self.request.transport  # the API's ``transport`` (ours)
        self.log.info(
            "publish {url}, type={kind}, transport={transport}",
            url=self.lease.source.url,
            kind=self.request.client_type,
            transport=self.request.transport,
        )
        while self._pending and not self.closed:
            self._deliver(self._pending.popleft())
        self._pending_bytes = 0

    def _refused(self, failure: Failure) -> None:
        self.failed = True
        if failure.check(AccessDenied, SourceError):
            code = getattr(failure.value, "code", None)
            self.close(f"refused{f' ({code})' if code else ''}: {failure.value}")
        else:
            self.log.failure("bug while admitting a caster", failure)
            self.close("internal error")

    def received(self, size: int) -> None:
        """Count ``size`` bytes of input for the statistics."""
        if not self.closed:
            self.handle.received(size)

    def deliver(self, message: FlvMessage) -> None:
        """Publish one message, or hold it while admission is pending."""
        if self.closed:
            return
        shared = SharedMessage(message.timestamp, message.message_type, message.payload)
        if self.lease is not None:
            self._deliver(shared)
            return
        if len(self._pending) >= PENDING_MAX_COUNT or self._pending_bytes + len(message.payload) > PENDING_MAX_BYTES:
            self.dropped += 1
            return
        self._pending.append(shared)
        self._pending_bytes += len(message.payload)

    def _deliver(self, message: SharedMessage) -> None:
        assert self.lease is not None
        try:
            self.lease.deliver(message)
        except SourceError as e:
            self.failed = True
            self.close(f"bad media: {e}")

    def close(self, reason: str) -> None:
        """IStreamPublisher: end the publish (caster, timeout, kick, shutdown)."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        if self.lease is not None:
            self.lease.end(reason)
        self.handle.close()
        self._on_closed(self, reason)


class _Session:
    """The datagrams of one sender: demuxer, converter, publication."""

    def __init__(self, caster: MpegtsUdpCaster, address: tuple[str, int]) -> None:
        self.caster = caster
        self.address = address
        self.cid = next_cid()
        self.demuxer = TsDemuxer()
        self.converter = EsToFlv()
        self.publication: CasterPublication | None = None
        self.reported_skips = False
        self.reported_others = False
        self.bytes_in = 0
        self.timer = caster.clock.callLater(IDLE_TIMEOUT, self._idle)

    def datagram(self, data: bytes) -> None:
        self.timer.reset(IDLE_TIMEOUT)
        self.bytes_in += len(data)
        if self.publication is not None and self.publication.closed:
            # Refused or bad: ignored until the sender has been silent for
            # IDLE_TIMEOUT, rather than asking the hooks again per datagram.
            return
        frames = self.demuxer.receive_data(data)
        if self.demuxer.stats.skipped_bytes and not self.reported_skips:
            self.reported_skips = True
            self.caster.log.warn(
                "mpegts caster: {size} bytes from {ip}:{port} are not TS, skipped (later ones counted)",
                size=self.demuxer.stats.skipped_bytes,
                ip=self.address[0],
                port=self.address[1],
                cid=self.cid,
            )
        if self.publication is None and frames:
            self.publication = CasterPublication(
                self.caster.controller,
                output_request(self.caster.output, self.address[0], "mpegts_udp"),
                self.cid,
                self._closed,
            )
            self.publication.received(self.bytes_in - len(data))
        publication = self.publication
        if publication is None:
            return
        publication.received(len(data))
        for frame in frames:
            for message in self.converter.frame(frame):
                publication.deliver(message)
                if publication.closed:
                    return

    def _idle(self) -> None:
        self.end(f"sender silent for {IDLE_TIMEOUT:g}s")

    def _closed(self, publication: CasterPublication | None, reason: str) -> None:
        stats = self.demuxer.stats
        self.caster.log.info(
            "mpegts caster closing: {reason}; packets={packets}, continuity errors={cc}, "
            "dropped PES={dropped}, skipped bytes={skipped}",
            reason=reason,
            packets=stats.packets,
            cc=stats.continuity_errors,
            dropped=stats.dropped_pes,
            skipped=stats.skipped_bytes,
            cid=self.cid,
        )
        if publication is not None and publication.failed and self.timer.active():
            self.publication = publication
            return  # kept, closed, until the sender goes silent (see datagram)
        self.caster.forget(self)

    def end(self, reason: str) -> None:
        if self.timer.active():
            self.timer.cancel()
        if self.publication is not None and not self.publication.closed:
            self.publication.close(reason)
        elif self.publication is None:
            self._closed(None, reason)
        else:
            self.caster.forget(self)


class MpegtsUdpCaster(DatagramProtocol):
    """
    ``stream_caster { caster mpegts_over_udp; listen PORT; output URL; }``:
    TS datagrams from one sender at a time published as ``output``.
    """

    log = Logger()
    #: Twisted's own "starting protocol" lines say nothing our listen line does not.
    noisy = False

    def __init__(self, controller: IStreamController, output: str, clock: Any) -> None:
        self.controller = controller
        self.output = output
        self.clock = clock
        self.session: _Session | None = None

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        address = (str(addr[0]), int(addr[1]))
        session = self.session
        if session is None:
            session = self.session = _Session(self, address)
            self.log.info(
                "mpegts caster: datagrams from {ip}:{port}, output {output}",
                ip=address[0],
                port=address[1],
                output=self.output,
                cid=session.cid,
            )
        elif session.address != address:
            if not session.reported_others:
                session.reported_others = True
                self.log.warn(
                    "mpegts caster: datagrams from {ip}:{port} ignored while {owner} publishes",
                    ip=address[0],
                    port=address[1],
                    owner=f"{session.address[0]}:{session.address[1]}",
                    cid=session.cid,
                )
            return
        try:
            session.datagram(datagram)
        except Exception:
            self.log.failure("bug in the mpegts caster", cid=session.cid)
            session.end("internal error")

    def forget(self, session: _Session) -> None:
        if self.session is session:
            if session.timer.active():
                session.timer.cancel()
            self.session = None

    def stopProtocol(self) -> None:
        if self.session is not None:
            self.session.end("caster stopped")
