# -*- test-case-name: tests.test_protocols_mpegts_udp,tests.test_protocols_rtsp,tests.test_web_flv_post -*-
"""
The publish half every stream caster shares (MPEG-TS over UDP, RTSP, FLV
over HTTP POST): the request its ``output`` URL names, connect and publish
admission through the stream controller, then each message to the lease,
held in a queue bounded in count and bytes while the admission hooks are
asked (SRS 2.0's casters publish over an RTMP connection to themselves,
``srs_app_caster_flv.cpp``, ``srs_app_rtsp.cpp``, ``srs_app_mpegts_udp.cpp``;
here they are publishers on the controller like any other).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from srstwist.interfaces import IClientHandle, IPublishLease, IStreamController, IStreamPublisher, Stage
from srstwist.media.message import SharedMessage
from srstwist.media.source import SourceError
from srstwist.stream.admission import AccessDenied, Admission
from srstwist.stream.request import StreamRequest
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH

__all__ = [
    "CasterPublication",
    "output_request",
    "PENDING_MAX_BYTES",
    "PENDING_MAX_COUNT",
    "REFUSED",
    "BAD_MEDIA",
    "INTERNAL",
]

#: Why a publication failed (:attr:`CasterPublication.failure`).
REFUSED = "refused"
BAD_MEDIA = "bad media"
INTERNAL = "internal error"

#: What a caster holds while its admission hooks are asked: messages beyond
#: are dropped (the stream starts at a later keyframe instead).
PENDING_MAX_COUNT = 1024
PENDING_MAX_BYTES = 8 * 1024 * 1024


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
        #: Why it failed (:data:`REFUSED`, :data:`BAD_MEDIA`, :data:`INTERNAL`),
        #: ``None`` while it has not (closed by silence, a kick, the caster).
        self.failure: str | None = None
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

    @property
    def failed(self) -> bool:
        """Closed because of the sender (refused, bad media), not by silence."""
        return self.failure is not None

    def _refused(self, failure: Failure) -> None:
        if failure.check(AccessDenied, SourceError):
            self.failure = REFUSED
            code = getattr(failure.value, "code", None)
            self.close(f"refused{f' ({code})' if code else ''}: {failure.value}")
        else:
            self.failure = INTERNAL
            self.log.failure("bug while admitting a caster", failure)
            self.close("internal error")

    def received(self, size: int) -> None:
        """Count ``size`` bytes of input for the statistics."""
        if not self.closed:
            self.handle.received(size)

    def deliver(self, message: Any) -> None:
        """
        Publish one message (a :class:`SharedMessage`, or anything with
        ``timestamp``, ``message_type`` and ``payload``, as the TS and RTP
        converters give), or hold it while admission is pending.
        """
        if self.closed:
            return
        if isinstance(message, SharedMessage):
            shared = message
        else:
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
            self.failure = BAD_MEDIA
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


