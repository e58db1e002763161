# -*- test-case-name: tests.test_codec_rtmp -*-
"""
The events an RTMP session (:mod:`srstwist.codec.rtmp`) returns from
``receive_data``.

Every event is a frozen, slotted dataclass; compare them with ``==``.
Don't subclass them: sessions dispatch on the exact class.  AMF0 values
inside events (command objects, arguments, metadata) are the mutable
containers of :mod:`srstwist.codec.amf0`; treat them as read-only.

Transaction ids are the ``float`` the peer sent (AMF0 numbers are doubles).
``stream_id`` is always the *message stream id* the command or media
arrived on (0 for connection-level commands); for the stream a command is
*about*, see the event's own fields.

Server role.  The server session reports a command only where SRS 2.0 acts on
it (``srs_rtmp_stack.cpp``, ``srs_app_rtmp_conn.cpp``) and says which reply it
owes in the event's docstring; commands SRS ignores in the current state come
back as :class:`Ignored`.  Client role.  Replies to our own commands come back
as :class:`Result` or :class:`CallError`, status messages as :class:`OnStatus`,
anything else the server calls as :class:`Call`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from srstwist.codec.amf0 import Amf0Object, Amf0Value, EcmaArray
from srstwist.codec.control import UserControlMessage

__all__ = [
    "AcknowledgementReceived",
    "Call",
    "CloseStream",
    "Connect",
    "CreateStream",
    "DeleteStream",
    "CallError",
    "Event",
    "FCPublish",
    "FCUnpublish",
    "GetStreamLength",
    "HandshakeCompleted",
    "Ignored",
    "Media",
    "MediaKind",
    "OnStatus",
    "Pause",
    "PeerBandwidth",
    "PeerChunkSize",
    "Play",
    "Publish",
    "PublishEnded",
    "PublisherType",
    "ReleaseStream",
    "Result",
    "UserControl",
    "WindowAckSize",
]


class MediaKind(enum.Enum):
    """What a :class:`Media` message carries."""

    AUDIO = "audio"
    VIDEO = "video"
    DATA = "data"


class PublisherType(enum.Enum):
    """
    How a publisher introduced itself (``SrsRtmpServer::identify_client``),
    which decides the replies to ``publish`` and the end of publishing.
    """

    #: releaseStream, FCPublish, createStream, publish: FMLE, ffmpeg, OBS.
    FMLE = "fmle-publish"
    #: createStream, publish: Flash Player.
    FLASH = "flash-publish"
    #: createStream, FCPublish, publish: Haivision encoders (SRS #844).
    HAIVISION = "haivision-publish"


# -- both roles ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """
    The handshake is over; chunk-stream events follow.

    :ivar schema: 0 or 1 for the complex handshake, ``None`` for simple.
    :ivar peer_digest_valid: server role: the client signed C1; client
        role: the server's S1 carried a valid FMS digest.
    """

    schema: int | None
    peer_digest_valid: bool


@dataclass(frozen=True, slots=True)
class Media:
    """
    An audio, video or data message for (server role) a publisher's source
    or (client role) a player.

    ``payload`` is the message body exactly as received; the session keeps
    no reference to it, so the source may share it between consumers.
    Aggregate messages (type 22) arrive already split into their audio and
    video messages (RTMP spec §7.1.6).

    :ivar kind: audio (type 8), video (9) or data (18, or 15 for AMF3).
    :ivar timestamp: milliseconds, 31 bits.
    :ivar stream_id: the message stream id it arrived on.
    :ivar chunk_stream_id: the chunk stream it arrived on; SRS relays media
        on the publisher's chunk stream (``SrsSharedPtrMessage``).
    :ivar payload: the message body.
    :ivar message_type_id: 8, 9, 18 or 15.
    :ivar name: data messages: the first AMF0 string (``@setDataFrame``,
        ``onMetaData``, ``onTextData``, ``|RtmpSampleAccess``...); ``None``
        for audio and video.
    :ivar metadata: for a data message named ``@setDataFrame`` or
        ``onMetaData``, its decoded Object or ECMA array (an empty Object
        when it carries neither, as in SRS); ``None`` otherwise.
    """

    kind: MediaKind
    timestamp: int
    stream_id: int
    chunk_stream_id: int
    payload: bytes = field(repr=False)
    message_type_id: int
    name: str | None = None
    metadata: Amf0Object | EcmaArray | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PeerChunkSize:
    """
    The peer announced its chunk size; the decoder already applies it.
    """

    chunk_size: int


@dataclass(frozen=True, slots=True)
class WindowAckSize:
    """
    The peer asked to be acknowledged every ``window_size`` bytes; the
    session sends the Acknowledgements itself (RTMP spec §5.4.3, §5.4.4).  A window
    of 0 is reported and ignored, as in SRS.
    """

    window_size: int


@dataclass(frozen=True, slots=True)
class PeerBandwidth:
    """
    Set Peer Bandwidth from the peer; SRS ignores it.
    """

    bandwidth: int
    limit_type: int


@dataclass(frozen=True, slots=True)
class AcknowledgementReceived:
    """
    The peer acknowledged ``sequence_number`` bytes; SRS never throttles
    on it.
    """

    sequence_number: int


@dataclass(frozen=True, slots=True)
class UserControl:
    """
    A User Control event (RTMP spec §7.1.7): StreamBegin, StreamEOF,
    SetBufferLength, PingRequest, PingResponse...  A PingRequest has
    already been answered with a PingResponse when this is returned.
    """

    message: UserControlMessage


@dataclass(frozen=True, slots=True)
class Ignored:
    """
    A message the session dropped, as SRS does in the current state: a
    command SRS does not act on there, media from a client that is not
    publishing, Abort, or an unknown message type.  For logging only.

    :ivar name: the command or data name, ``None`` for other messages.
    """

    message_type_id: int
    name: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Call:
    """
    A command without a dedicated event.

    Server role: reported only where SRS answers it, during client
    identification (every transaction id) and while playing (transaction
    id above 0); answer with ``ServerSession.reply_call``.  Client role:
    any command from the server other than ``_result``, ``_error`` and
    ``onStatus`` (``onBWDone``, ``onFCPublish``, ``_onbwcheck``...); no
    reply is owed.

    :ivar command_object: the third value (SRS requires one).
    :ivar args: the values after it.
    """

    name: str
    transaction_id: float
    command_object: Amf0Value
    args: tuple[Amf0Value, ...]
    stream_id: int


# -- server role ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """
    ``connect`` (RTMP spec §7.2.1.1).  Answer with
    ``ServerSession.accept_connect`` (or ``reject_connect``).

    String properties that are missing or not strings read as ``""`` and
    a missing ``objectEncoding`` as 0, as in SRS; ``tcUrl`` is required.

    :ivar command_object: the whole command object, for hooks and logs.
    :ivar args: the optional fourth value if it is an Object (SRS #186),
        else ``None``; SRS edges send their identity there.
    """

    transaction_id: float
    tc_url: str
    app: str
    page_url: str
    swf_url: str
    flash_ver: str
    object_encoding: float
    command_object: Amf0Object = field(repr=False)
    args: Amf0Object | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CreateStream:
    """
    ``createStream``.  Answer with ``ServerSession.accept_create_stream``.
    """

    transaction_id: float


@dataclass(frozen=True, slots=True)
class ReleaseStream:
    """
    The first of ``releaseStream``, ``FCPublish`` or ``FCUnpublish`` from
    a connected client: it identifies an FMLE-style publisher of
    ``stream_name`` (``SrsRtmpServer::identify_client``).  Answer with
    ``ServerSession.reply_release_stream``.

    :ivar command_name: which of the three names arrived.
    """

    transaction_id: float
    stream_name: str
    command_name: str = "releaseStream"


@dataclass(frozen=True, slots=True)
class FCPublish:
    """
    ``FCPublish`` (or either of the other two FMLE names) after
    ``releaseStream``, or after ``createStream`` where it identifies a
    Haivision encoder (``SrsRtmpServer::start_fmle_publish``,
    ``start_haivision_publish``).  Answer with
    ``ServerSession.reply_fc_publish``.
    """

    transaction_id: float
    stream_name: str
    command_name: str = "FCPublish"


@dataclass(frozen=True, slots=True)
class Publish:
    """
    ``publish``: the client starts publishing ``stream_name``.  Answer with
    ``ServerSession.start_publish``, whose replies depend on
    ``publisher_type``.

    :ivar publish_type: ``live``, ``record`` or ``append``; ``live`` when
        the client sent none (SRS treats all of them as live).
    :ivar stream_id: the message stream id ``publish`` arrived on.
    """

    transaction_id: float
    stream_name: str
    publish_type: str
    stream_id: int
    publisher_type: PublisherType


@dataclass(frozen=True, slots=True)
class FCUnpublish:
    """
    ``FCUnpublish`` (or another FMLE name) from an FMLE or Haivision
    publisher: publishing ends and the client may publish again on the
    same connection (``SrsRtmpServer::fmle_unpublish``).  Answer with
    ``ServerSession.reply_fc_unpublish``.
    """

    transaction_id: float
    stream_name: str
    command_name: str = "FCUnpublish"


@dataclass(frozen=True, slots=True)
class PublishEnded:
    """
    A Flash publisher sent a command, which ends its publishing without any
    reply (``SrsRtmpConn::process_publish_message``); the connection returns to identification.

    :ivar command_name: the command that ended it.
    """

    command_name: str
    stream_id: int


@dataclass(frozen=True, slots=True)
class Play:
    """
    ``play`` (RTMP spec §7.2.2.1).  Answer with ``ServerSession.start_play``.

    :ivar start: -2 when absent (live or recorded), as in SRS.
    :ivar duration: milliseconds, -1 when absent; above 0 SRS stops
        after that much stream time (#45).
    :ivar reset: Boolean, or a Number where non-zero is true.
    """

    transaction_id: float
    stream_name: str
    start: float
    duration: float
    reset: bool
    stream_id: int


@dataclass(frozen=True, slots=True)
class Pause:
    """
    ``pause`` while playing.  Answer with ``ServerSession.reply_pause``.

    :ivar is_pause: ``True`` to pause, ``False`` to resume.
    :ivar time: the stream time in milliseconds (SRS ignores it).
    """

    transaction_id: float
    is_pause: bool
    time: float
    stream_id: int


@dataclass(frozen=True, slots=True)
class CloseStream:
    """
    ``closeStream`` while playing: playing ends and the connection returns
    to identification (jwplayer and flowplayer pause this way, SRS #6).
    No reply.
    """

    transaction_id: float
    stream_id: int


@dataclass(frozen=True, slots=True)
class DeleteStream:
    """
    ``deleteStream``, reported where SRS answers a generic call (see
    :class:`Call`).  Answer with ``ServerSession.reply_call``.

    :ivar deleted_stream_id: the stream id argument, ``None`` if absent or
        not a Number.
    """

    transaction_id: float
    deleted_stream_id: float | None
    stream_id: int


@dataclass(frozen=True, slots=True)
class GetStreamLength:
    """
    ``getStreamLength``, reported where SRS answers a generic call (see
    :class:`Call`).  Answer with ``ServerSession.reply_call``.

    :ivar stream_name: the name argument, ``""`` if absent.
    """

    transaction_id: float
    stream_name: str
    stream_id: int


# -- client role ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """
    ``_result`` answering one of our commands.

    :ivar command: the name of the command it answers (``connect``,
        ``createStream``...), found by transaction id.
    :ivar command_object: the third value (``None`` if absent); for
        ``connect`` the server's properties.
    :ivar args: the values after it: for ``connect`` the info Object
        (``code``, ``data`` with the ``srs_*`` identity...), for
        ``createStream`` the new stream id.
    """

    transaction_id: float
    command: str
    command_object: Amf0Value
    args: tuple[Amf0Value, ...]


@dataclass(frozen=True, slots=True)
class CallError:
    """
    ``_error`` answering one of our commands; fields as :class:`Result`.
    """

    transaction_id: float
    command: str
    command_object: Amf0Value
    args: tuple[Amf0Value, ...]


@dataclass(frozen=True, slots=True)
class OnStatus:
    """
    An ``onStatus`` command from the server.

    :ivar level: ``status``, ``warning`` or ``error``; ``""`` if absent.
    :ivar code: e.g. ``NetStream.Publish.Start``; ``""`` if absent.
    :ivar info: the whole info Object (empty if the server sent none).
    """

    level: str
    code: str
    description: str
    info: Amf0Object = field(repr=False)
    stream_id: int


Event: TypeAlias = (
    HandshakeCompleted
    | Media
    | PeerChunkSize
    | WindowAckSize
    | PeerBandwidth
    | AcknowledgementReceived
    | UserControl
    | Ignored
    | Call
    | Connect
    | CreateStream
    | ReleaseStream
    | FCPublish
    | Publish
    | FCUnpublish
    | PublishEnded
    | Play
    | Pause
    | CloseStream
    | DeleteStream
    | GetStreamLength
    | Result
    | CallError
    | OnStatus
)
"""Every event a session can return."""
