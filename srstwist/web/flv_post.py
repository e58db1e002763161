# -*- test-case-name: tests.test_web_flv_post -*-
"""
The FLV-over-HTTP-POST caster: ``POST /[app]/[stream].flv`` with an FLV
body is published while the body arrives; the end of the body unpublishes
(SRS 2.0: ``trunk/src/app/srs_app_caster_flv.cpp``, which reads the body of
a sized or chunked request as an FLV stream).  ``PUT`` is taken as well, as
``curl -T`` sends it.

Twisted's ``Request`` collects the whole body before it renders, so this
caster has its own :class:`FlvPostRequest`: it starts the publish as soon as
the headers are in (:meth:`gotLength`), feeds each body chunk to a bounded
:class:`srstwist.codec.flv.FlvTagDecoder` instead of a temporary file, and
answers when the body ends.  A body that is not FLV gets one log line and a
400, and only that connection closes.  A sender silent for
:data:`IDLE_TIMEOUT` seconds is dropped by the channel's idle timeout.

The publish half is :class:`srstwist.stream.caster.CasterPublication`,
which every caster shares.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from srstwist.codec.flv import FlvError, FlvTagDecoder, TagType
from srstwist.interfaces import IStreamController
from srstwist.media.message import SharedMessage
from srstwist.stream.request import StreamRequest
from srstwist.stream.caster import BAD_MEDIA, INTERNAL, REFUSED, CasterPublication
from srstwist.stream.stats import CLIENT_FMLE_PUBLISH
from srstwist.tracelog import next_cid

__all__ = ["FlvPostRequest", "FlvPostResource", "flv_post_site", "IDLE_TIMEOUT"]

#: Seconds a POST body may pause before the connection is dropped.
IDLE_TIMEOUT = 30.0


def _request_for(output: str, ip: str, path: str) -> StreamRequest | None:
    """``/app/stream.flv`` -> the publish request for ``output``; None for other paths."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) < 2 or not parts[-1].endswith(".flv") or len(parts[-1]) <= 4:
        return None
    app = "/".join(parts[:-1])
    stream = parts[-1][:-4]
    url = output.replace("[app]", app).replace("[stream]", stream)
    if url.endswith(".flv"):
        url = url[:-4]
    tc_url, _, name = url.rpartition("/")
    request = StreamRequest.from_rtmp(ip, tc_url, stream=name)
    return dataclasses.replace(request, client_type=CLIENT_FMLE_PUBLISH, transport="flv_post")


class FlvPostRequest(Request):
    """One POST whose body is published as it arrives."""

    log = Logger()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cid = next_cid()
        self._publication: CasterPublication | None = None
        #: This request ends the publish itself (end of body, lost
        #: connection, a failure it found): the publication's callback
        #: has nothing to answer then.
        self._ending = False
        self._decoder: FlvTagDecoder | None = None
        self._failed: tuple[int, str] | None = None
        self._answered = False

    def gotLength(self, length: int | None) -> None:
        # The headers are in: the method and path are still on the channel.
        self.content = io.BytesIO()  # stays empty: the body is never stored
        channel: Any = self.channel
        command = getattr(channel, "_command", b"")
        path = getattr(channel, "_path", b"").decode("latin-1")
        if command not in (b"POST", b"PUT"):
            # PUT too: ``curl -T file`` uploads with PUT.
            self._failed = (405, f"{command.decode('latin-1')} is not POST or PUT")
            return
        resource: FlvPostResource = channel.site.resource
        peer = channel.transport.getPeer()
        request = _request_for(resource.output, getattr(peer, "host", str(peer)), path)
        if request is None:
            self._failed = (404, f"{path} is not /[app]/[stream].flv")
            return
        self.log.info("FLV POST {path} from {ip}", path=path, ip=request.ip, cid=self.cid)
        self._decoder = FlvTagDecoder()
        self._publication = CasterPublication(
            resource.controller, request, self.cid, self._publication_closed
        )

    def handleContentChunk(self, data: bytes) -> None:
        publication, decoder = self._publication, self._decoder
        if publication is None or decoder is None or publication.closed:
            return
        publication.received(len(data))
        try:
            tags = decoder.receive_data(data)
        except FlvError as e:
            self.fail(400, f"body is not FLV: {e}")
            return
        for tag in tags:
            if tag.tag_type in (TagType.AUDIO, TagType.VIDEO, TagType.SCRIPT):
                publication.deliver(SharedMessage(tag.timestamp, tag.tag_type, tag.payload))
            if publication.closed:
                return

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # The end of the body: unpublish, then render the answer.
        if self._publication is not None and not self._publication.closed:
            self._ending = True
            self._publication.close("end of the POST body")
            self.log.info("FLV POST ended, recv={recv} bytes", recv=self._publication.handle.bytes_in, cid=self.cid)
        super().requestReceived(command, path, version)

    def process(self) -> None:
        if self._answered:
            return  # fail() answered and is closing the connection
        self._answered = True
        code, reason = self._failed or (200, "")
        self.setResponseCode(code)
        self.setHeader(b"content-type", b"text/plain")
        self.write(b"" if code == 200 else reason.encode() + b"\n")
        self.finish()

    def fail(self, code: int | None, reason: str) -> None:
        """One log line, end the publish, answer ``code`` (if any) and close this connection only."""
        if self._failed is not None and self._failed[0] >= 400 and self._publication and self._publication.closed:
            return
        self.log.warn("closing FLV POST: {reason}", reason=reason, cid=self.cid)
        self._failed = (code or 500, reason)
        self._ending = True
        if self._publication is not None:
            self._publication.close(reason)
        transport = self.channel.transport if self.channel is not None else None
        if transport is None:
            return
        if code is not None and not self._answered:
            self._answered = True
            transport.write(
                f"HTTP/1.1 {code} {reason[:80]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(
                    "latin-1", "replace"
                )
            )
        transport.loseConnection()

    def _publication_closed(self, publication: CasterPublication, reason: str) -> None:
        """The publish ended without this request ending it: refused, bad media, or the server."""
        if self._ending:
            return
        code = {REFUSED: 403, BAD_MEDIA: 400, INTERNAL: 500}.get(publication.failure or "")
        self.fail(code, reason)

    def connectionLost(self, reason: Failure) -> None:
        if self._publication is not None and not self._publication.closed:
            self._ending = True
            self._publication.close("connection lost")
            self.log.info("FLV POST connection lost before the end of the body", cid=self.cid)
        super().connectionLost(reason)


class FlvPostResource(Resource):
    """The caster's settings, as the site's resource (requests answer themselves)."""

    isLeaf = True

    def __init__(self, controller: IStreamController, output: str, clock: Any) -> None:
        super().__init__()
        self.controller = controller
        self.output = output
        self.clock = clock

    def render(self, request: Any) -> Any:  # pragma: no cover - FlvPostRequest.process answers
        return NOT_DONE_YET


def flv_post_site(controller: IStreamController, output: str, reactor: Any) -> Site:
    """The HTTP site of one ``caster flv`` block."""
    site = Site(FlvPostResource(controller, output, reactor), timeout=IDLE_TIMEOUT, reactor=reactor)
    site.protocol = HTTPChannel  # type: ignore[assignment]
    site.requestFactory = FlvPostRequest  # type: ignore[assignment]
    site.displayTracebacks = False
    site.noisy = False
    site.log = lambda request: None  # type: ignore[method-assign]
    return site
