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

The publish half is :class:`srstwist.stream.caster.CasterPublication`,
which every caster shares.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from srstwist.codec.ts_demux import EsToFlv, TsDemuxer
from srstwist.interfaces import IStreamController
from srstwist.stream.caster import CasterPublication, output_request
from srstwist.tracelog import next_cid

__all__ = ["MpegtsUdpCaster", "IDLE_TIMEOUT"]

#: Seconds a sender that never got a stream published (only bad bytes, or
#: admission pending) may stay silent before its session is forgotten.
IDLE_TIMEOUT = 10.0


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
