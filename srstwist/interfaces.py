"""
The seams between a stream source and what feeds it or reads from it.

A L{srstwist.media.source.Source} has at most one L{IStreamPublisher} (an RTMP
publisher today; casters and edge pullers later) and any number of
L{IStreamConsumer}s (RTMP players today; HTTP-FLV viewers, HLS, DVR,
forwarders and transcoders later).  Every output subscribes the same way,
instead of the source calling each output by name as SRS does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from srstwist.media.message import SharedMessage

__all__ = ["IStreamConsumer", "IStreamPublisher"]


class IStreamConsumer(Interface):
    """
    Something that receives a stream's messages.

    The source calls L{deliver} for every message, starting with what a new
    consumer needs (metadata, sequence headers, the GOP cache) and then the
    live messages, in order.  The same L{SharedMessage} object goes to every
    consumer: a consumer must not change it, and should send its cached
    encodings rather than re-encode it.
    """

    cid = Attribute("The connection id of the consumer, for the traceable log.")

    def deliver(message: SharedMessage) -> None:
        """
        Take one message.

        Must not block and must bound its own memory: a consumer that cannot
        keep up drops messages (SRS's queue shrink), it never slows the
        publisher or the other consumers.
        """

    def publisher_changed(publishing: bool) -> None:
        """
        The source's publisher started (C{True}) or stopped (C{False}).

        Consumers stay attached across an unpublish and continue with the
        next publisher's data (SRS #454).
        """

    def close(reason: str) -> None:
        """
        The source is going away (server shutdown): end this consumer.
        """


class IStreamPublisher(Interface):
    """
    What feeds a source.
    """

    cid = Attribute("The connection id of the publisher, for the traceable log.")

    def close(reason: str) -> None:
        """
        Stop publishing and drop the connection (a fatal ingest error, a
        shutdown, or an API kick).
        """
