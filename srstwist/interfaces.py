"""
The seams of the stream core, as zope Interfaces.

Everything that feeds a stream or reads one meets the rest of the server
here, and only here::

    front end (RTMP, HTTP, casters, edge, ingest)
        | IStreamController.client(...) -> IClientHandle
        |   .admit(request, stage)      vhost, refer, security, name, hooks
        |   .publish(admission, IStreamPublisher) -> IPublishLease
        |   .play(admission, IStreamConsumer)     -> IPlayLease
        |   .close()                    on_stop/on_unpublish, then on_close
        v
    source (srstwist.media.source.Source)  --deliver-->  IStreamConsumer*
        ^                                                  (players, HLS, DVR, ...)
        +-- IPublishObserver.on_publish / on_unpublish (what starts and
            stops with a stream: outputs, transcoders, edge pulls)

This module imports nothing but zope.interface, so every package may
depend on it.  SRS 2.0 has the same seams in C++: ``ISrsSourceHandler``
(``trunk/src/app/srs_app_source.hpp``) for the publish observers and
``SrsConsumer`` for the consumers; its admission and hook order is in
``SrsRtmpConn::stream_service_cycle`` (``srs_app_rtmp_conn.cpp``).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from srstwist.media.message import SharedMessage

__all__ = [
    "Replay",
    "Stage",
    "IStreamConsumer",
    "IBatchMember",
    "IStreamPublisher",
    "IPublishObserver",
    "IHookClient",
    "IClientHandle",
    "IPublishLease",
    "IPlayLease",
    "IStreamController",
]


class Replay(enum.Enum):
    """What a consumer gets first when it attaches to a source."""

    #: Metadata, sequence headers, then the GOP cache, so that playback
    #: starts on a keyframe (players, HLS, DVR).
    GOP = "gop"
    #: Metadata and sequence headers, then the stream's audio fast cache
    #: (HTTP-MP3 and HTTP-AAC players, which need no keyframe).
    HEADERS = "headers"
    #: Nothing: live messages only (a cache, the shared batch itself).
    NOTHING = "nothing"


class Stage(enum.Enum):
    """The admission stages, in the order a client goes through them."""

    CONNECT = "connect"
    PUBLISH = "publish"
    PLAY = "play"


class IStreamConsumer(Interface):
    """
    Something that receives a stream's messages.

    The source calls :meth:`deliver` for every message, starting with what
    :attr:`replay` asks for and then the live messages, in order.  The same
    :class:`~srstwist.media.message.SharedMessage` object goes to every
    consumer: a consumer must not change it, and should send its cached
    encodings rather than re-encode it.
    """

    cid = Attribute("The connection id of the consumer, for the traceable log.")
    replay = Attribute("A :class:`Replay`: what this consumer needs first.")
    sharing_key = Attribute(
        "``None``, or a :class:`srstwist.stream.batch.SharingKey`: consumers of a "
        "source with equal keys share one encoding per merged-write tick (they "
        "must provide :class:`IBatchMember`)."
    )

    def deliver(message: SharedMessage) -> None:
        """
        Take one message.

        Must not block and must bound its own memory: a consumer that cannot
        keep up drops messages (SRS's queue shrink), it never slows the
        publisher or the other consumers.
        """

    def publisher_changed(publishing: bool) -> None:
        """
        The source's publisher started (``True``) or stopped (``False``).

        Consumers stay attached across an unpublish and continue with the
        next publisher's data (SRS issue #454).
        """

    def close(reason: str) -> None:
        """The source is going away (server shutdown): end this consumer."""


class IBatchMember(IStreamConsumer):
    """
    A consumer that can take a shared batch (:mod:`srstwist.stream.batch`):
    one blob of bytes made once per tick for every member in step.
    """

    def drain() -> None:
        """Send everything queued now, if the transport takes data."""

    can_share = Attribute(
        "Whether the member may take a shared batch now: nothing of its own "
        "queued, its transport taking data, no pacing of its own."
    )

    def send_shared(blob: bytes, count: int) -> None:
        """Write a shared batch of ``count`` messages, as it is."""

    def leave_shared(timeline_state: tuple[int, int], offset: int) -> None:
        """
        Continue on the member's own queue from where the batch left it:
        the source's timeline was ``timeline_state`` and the member's
        timestamps were the source's plus ``offset``.
        """


class IStreamPublisher(Interface):
    """What feeds a source: an RTMP publisher, a caster, an edge pull, ..."""

    cid = Attribute("The connection id of the publisher, for the traceable log.")

    def close(reason: str) -> None:
        """
        Stop publishing and drop the connection (a fatal ingest error, a
        timeout, a shutdown, or an API kick).
        """


class IPublishObserver(Interface):
    """
    Told when a stream starts and stops being published (SRS's
    ``ISrsSourceHandler``): outputs that live per publish (HLS, DVR, the
    audio fast cache), and later transcoders and edge pushes.
    """

    def on_publish(source: Any, request: Any) -> None:
        """
        ``source`` has a publisher now; ``request`` is its
        :class:`srstwist.stream.request.StreamRequest`.
        """

    def on_unpublish(source: Any, request: Any) -> None:
        """``source`` lost its publisher (whose request was ``request``)."""


class IHookClient(Interface):
    """Sends SRS's HTTP callbacks on behalf of connections and streams."""

    def admit(event: str, urls: Any, payload: Any, cid: int) -> Any:
        """
        POST ``payload`` to each URL in order for a blocking event
        (``on_connect``, ``on_publish``, ``on_play``).

        :return: a Deferred that fires with ``None`` when every URL
            accepted, or fails with :class:`srstwist.codec.hooks.HookRejected`
            at the first that refused, failed or timed out (the rest are not
            called).  Cancelling it abandons the call in progress.
        """

    def notify(event: str, urls: Any, payload: Any, cid: int) -> Any:
        """
        POST ``payload`` to each URL for a notification; failures are
        logged.  ``on_dvr``/``on_hls`` stop at the first failing URL, the
        others call every URL.

        :return: a Deferred that fires with ``None`` when done; it never fails.
        """

    def notify_hls(
        urls: Any, app: str, stream: str, ts_url: str, param: str, nb_notify: int, cid: int
    ) -> Any:
        """
        GET each ``on_hls_notify`` URL, reading at most ``nb_notify``
        bytes; a failure is logged and skips the rest.

        :return: a Deferred that fires with ``None``; it never fails.
        """

    def close() -> Any:
        """Close every pooled connection; fires when they are closed."""


class IPublishLease(Interface):
    """A publisher's hold on its source, from publish to :meth:`end`."""

    source = Attribute("The :class:`srstwist.media.source.Source` being published.")
    request = Attribute("The publisher's :class:`srstwist.stream.request.StreamRequest`.")

    def deliver(message: SharedMessage) -> None:
        """
        Publish one message.

        :raises srstwist.media.source.SourceError: a sequence header or
            metadata the source cannot use; the caller drops the publisher.
        """

    def end(reason: str) -> None:
        """Unpublish (on_unpublish, statistics, outputs); idempotent."""


class IPlayLease(Interface):
    """A consumer's subscription to its source, from play to :meth:`end`."""

    source = Attribute("The :class:`srstwist.media.source.Source` played.")
    request = Attribute("The player's :class:`srstwist.stream.request.StreamRequest`.")

    def end(reason: str) -> None:
        """Detach the consumer (on_stop, statistics); idempotent."""


class IClientHandle(Interface):
    """
    One client of the server as the stream controller knows it: the stages
    it got past, its hooks (called in order), its statistics entry.
    """

    cid = Attribute("The client's connection id.")
    stats = Attribute(
        "Its :class:`srstwist.stream.stats.ClientStats` once publishing or playing, "
        "else ``None``."
    )

    def admit(request: Any, stage: Stage) -> Any:
        """
        Run the admission checks of ``stage`` for ``request``.

        :return: a Deferred firing with an
            :class:`srstwist.stream.admission.Admission` when every check
            passed, or failing with
            :class:`srstwist.stream.admission.AccessDenied` (SRS's code).
        """

    def publish(admission: Any, publisher: IStreamPublisher) -> IPublishLease:
        """
        Become the publisher of the admitted stream.

        :raises srstwist.media.source.SourceBusy: it is published already.
        """

    def play(admission: Any, consumer: IStreamConsumer) -> IPlayLease:
        """Attach ``consumer`` to the admitted stream."""

    def received(size: int) -> None:
        """Count ``size`` bytes read from the client."""

    def sent(size: int) -> None:
        """Count ``size`` bytes written to the client outside a player."""

    def close() -> None:
        """
        The client is gone: end its leases, send on_close if it connected,
        forget its statistics.  Idempotent.
        """


class IStreamController(Interface):
    """What every front end is given: the one way to publish and play."""

    def client(cid: int, ip: str) -> IClientHandle:
        """A handle for a new client connection."""

    def is_live(vhost: str, app: str, stream: str) -> bool:
        """Whether that stream has a publisher now."""
