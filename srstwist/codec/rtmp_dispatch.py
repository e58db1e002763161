# -*- test-case-name: tests.test_codec_rtmp -*-
"""
SRS 2.0's command dispatch on the server side (``SrsProtocol::do_decode_message``): the
command name picks a decoder, the decoder checks the layout, and the kind
of command found is the input of the server's state table
(:mod:`srstwist.codec.rtmp`).

SRS decodes every command message it reads, whatever the state, and drops
the ones the state has no use for only afterwards; so a malformed command
closes the connection even where it would have been ignored.  The checks
below are those of SRS's packet decoders (``SrsConnectAppPacket`` and
friends): a Number transaction id, a Null command object for stream
commands, Strings where names go.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from srstwist.codec.amf0 import Amf0Object
from srstwist.codec.chunk import MessageType, RawMessage
from srstwist.codec.rtmp_commands import (
    BANDWIDTH_CHECK_NAMES,
    DEFAULT_MAX_AMF_SIZE,
    FMLE_START_NAMES,
    METADATA_NAMES,
    Command,
    CommandError,
    decode_command,
    decode_metadata,
    string_property,
)
from srstwist.codec.rtmp_events import (
    Call,
    CloseStream,
    Connect,
    CreateStream,
    DeleteStream,
    GetStreamLength,
    Pause,
    Play,
)

__all__ = [
    "CommandKind",
    "FmleStart",
    "PublishRequest",
    "ServerCommand",
    "parse_server_command",
]


class CommandKind(enum.Enum):
    """What kind of command arrived, as SRS's dispatch sees it."""

    CONNECT = "connect"
    CREATE_STREAM = "createStream"
    #: releaseStream, FCPublish or FCUnpublish: one decoder for all three.
    FMLE_START = "releaseStream/FCPublish/FCUnpublish"
    PUBLISH = "publish"
    PLAY = "play"
    PAUSE = "pause"
    CLOSE_STREAM = "closeStream"
    #: A generic call with a transaction id above 0.
    CALL = "call"
    #: A generic call with transaction id 0 (or below): no reply wanted.
    NOTIFY = "call without transaction"
    #: Metadata sent as a command, bandwidth-check packets.
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FmleStart:
    """
    A decoded releaseStream/FCPublish/FCUnpublish; which event it becomes
    depends on the state.
    """

    transaction_id: float
    stream_name: str


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """
    A decoded ``publish``; the state decides the publisher type.
    """

    transaction_id: float
    stream_name: str
    publish_type: str
    stream_id: int


ServerCommand: TypeAlias = (
    Connect
    | CreateStream
    | Play
    | Pause
    | CloseStream
    | Call
    | DeleteStream
    | GetStreamLength
    | FmleStart
    | PublishRequest
    | None
)
"""What :func:`parse_server_command` decodes a command into (``None``
for the kinds that are never reported)."""


def parse_server_command(
    message: RawMessage, max_amf_size: int = DEFAULT_MAX_AMF_SIZE
) -> tuple[Command, CommandKind, ServerCommand]:
    """
    Decode a command message from a client and check its layout the way
    SRS's decoder for its name does.

    :return: the raw command, its kind, and what it decodes into.
    :raise CommandError: the layout is wrong, or the command is
        ``_result``/``_error``: a server has no request they could answer
        (SRS: ``ERROR_RTMP_NO_REQUEST``).
    :raise srstwist.codec.amf0.Amf0Error: undecodable AMF0.
    """
    command = decode_command(message.message_type_id, message.payload, max_amf_size)
    name = command.name
    stream_id = message.message_stream_id
    if name in ("_result", "_error"):
        _ = command.transaction_id  # SRS reads it before it gives up
        raise CommandError(f"{name} from a client: no request is waiting")
    if name == "connect":
        return command, CommandKind.CONNECT, _connect(command)
    if name == "play":
        return command, CommandKind.PLAY, _play(command, stream_id)
    if name in METADATA_NAMES:
        offset = 1 if message.message_type_id == MessageType.AMF3_COMMAND else 0
        decode_metadata(message.payload, offset, max_amf_size)
        return command, CommandKind.OTHER, None
    if name not in _STREAM_COMMANDS:
        return (command, *_call(command, stream_id))
    tid = command.transaction_id
    command.require_null()
    if name == "createStream":
        return command, CommandKind.CREATE_STREAM, CreateStream(tid)
    if name == "closeStream":
        return command, CommandKind.CLOSE_STREAM, CloseStream(tid, stream_id)
    if name in BANDWIDTH_CHECK_NAMES:
        return command, CommandKind.OTHER, None
    if name == "pause":
        is_pause = command.value(2)
        if not isinstance(is_pause, bool):
            raise CommandError("pause: value 4 is not a Boolean")
        return command, CommandKind.PAUSE, Pause(tid, is_pause, command.number(3), stream_id)
    stream_name = command.string(2)
    if name == "publish":
        publish_type = command.string(3) if len(command.values) > 3 else "live"
        request = PublishRequest(tid, stream_name, publish_type, stream_id)
        return command, CommandKind.PUBLISH, request
    return command, CommandKind.FMLE_START, FmleStart(tid, stream_name)


# Commands whose decoder wants a Number transaction id and a Null command
# object (the FMLE names and publish also a String stream name).
_STREAM_COMMANDS = frozenset(
    {"createStream", "closeStream", "pause", "publish", *FMLE_START_NAMES, *BANDWIDTH_CHECK_NAMES}
)


def _connect(command: Command) -> Connect:
    """SRS's connect decoder (``SrsConnectAppPacket::decode``)."""
    tid = command.transaction_id
    command_object = command.value(1)
    if not isinstance(command_object, Amf0Object):
        raise CommandError("connect: command object is not an Object")
    tc_url = command_object.get("tcUrl")
    if not isinstance(tc_url, str):
        raise CommandError("connect: tcUrl missing or not a String")
    encoding = command_object.get("objectEncoding")
    args = command.values[2] if len(command.values) > 2 else None
    return Connect(
        tid,
        tc_url,
        string_property(command_object, "app"),
        string_property(command_object, "pageUrl"),
        string_property(command_object, "swfUrl"),
        string_property(command_object, "flashVer"),
        encoding if isinstance(encoding, float) else 0.0,
        command_object,
        args if isinstance(args, Amf0Object) else None,
    )


def _play(command: Command, stream_id: int) -> Play:
    """SRS's play decoder (``SrsPlayPacket::decode``)."""
    tid = command.transaction_id
    command.require_null()
    stream_name = command.string(2)
    count = len(command.values)
    start = command.number(3) if count > 3 else -2.0
    duration = command.number(4) if count > 4 else -1.0
    reset = True
    if count > 5:
        value = command.values[5]
        if isinstance(value, bool):
            reset = value
        elif isinstance(value, float):
            reset = value != 0
        else:
            raise CommandError("play: reset is neither Boolean nor Number")
    return Play(tid, stream_name, start, duration, reset, stream_id)


def _call(
    command: Command, stream_id: int
) -> tuple[CommandKind, Call | DeleteStream | GetStreamLength]:
    """SRS's generic call decoder: tid, a command object, any arguments."""
    tid = command.transaction_id
    command_object = command.value(1)
    args = command.values[2:]
    kind = CommandKind.CALL if tid > 0 else CommandKind.NOTIFY
    if command.name == "deleteStream":
        deleted = args[0] if args and isinstance(args[0], float) else None
        return kind, DeleteStream(tid, deleted, stream_id)
    if command.name == "getStreamLength":
        name = args[0] if args and isinstance(args[0], str) else ""
        return kind, GetStreamLength(tid, name, stream_id)
    return kind, Call(command.name, tid, command_object, args, stream_id)
