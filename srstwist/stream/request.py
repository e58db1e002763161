# -*- test-case-name: tests.test_stream_controller -*-
"""
:class:`StreamRequest`: who asks for which stream, and how.

One value travels with every publisher and player from its first request
to its last hook, whatever protocol it came in by, so admission, hooks,
statistics, HLS and DVR read the client's ip, vhost, app, stream and query
directly instead of reaching into a protocol object.  It is SRS's
``SrsRequest`` (``trunk/src/protocol/srs_rtmp_stack.hpp``) as a frozen value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from srstwist.codec.rtmp_url import parse_tc_url

__all__ = ["StreamRequest"]


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """
    :ivar ip: the client's address.
    :ivar vhost: the vhost the client asked for (resolved by admission).
    :ivar app: the application, e.g. ``live``.
    :ivar stream: the stream name without its query; empty at connect.
    :ivar param: the query with its leading ``?``, empty without one.
    :ivar tc_url: the RTMP ``tcUrl`` (for HTTP: ``http://vhost/app``).
    :ivar page_url: the RTMP ``pageUrl`` or the HTTP ``Referer``.
    :ivar swf_url: the RTMP ``swfUrl``.
    :ivar client_type: the API's name of the client kind (``Play``,
        ``fmle-publish``, ...); empty until known.
    :ivar transport: how the client came in: ``rtmp``, ``http``, ...
    """

    ip: str
    vhost: str
    app: str
    stream: str = ""
    param: str = ""
    tc_url: str = ""
    page_url: str = ""
    swf_url: str = ""
    client_type: str = ""
    transport: str = "rtmp"

    @classmethod
    def from_rtmp(
        cls, ip: str, tc_url: str, page_url: str = "", swf_url: str = "", stream: str = ""
    ) -> StreamRequest:
        """The request an RTMP ``connect`` (and later ``publish``/``play``) makes."""
        url = parse_tc_url(tc_url, stream)
        return cls(
            ip=ip,
            vhost=url.vhost,
            app=url.app,
            stream=url.stream,
            param=url.param,
            tc_url=tc_url,
            page_url=page_url,
            swf_url=swf_url,
        )

    def for_stream(self, stream: str, client_type: str) -> StreamRequest:
        """
        The same client asking for ``stream`` (an RTMP stream name, maybe
        with a query that names the vhost, as SRS allows).
        """
        if self.transport != "rtmp":
            return dataclasses.replace(self, stream=stream, client_type=client_type)
        url = parse_tc_url(self.tc_url, stream)
        return dataclasses.replace(
            self,
            vhost=url.vhost,
            app=url.app,
            stream=url.stream,
            param=url.param,
            client_type=client_type,
        )

    @property
    def url(self) -> str:
        """``vhost/app/stream``, as SRS names a stream in its logs."""
        return f"{self.vhost}/{self.app}/{self.stream}"
