# -*- test-case-name: tests.test_codec_rtmp -*-
"""
RTMP command and data messages (types 20, 17, 18, 15): decoding the AMF0
values the peer sent, and building, field for field, every message SRS 2.0
sends (the packets of ``srs_rtmp_stack.cpp``; RTMP spec §7.2).

The sessions in :mod:`srstwist.codec.rtmp` and
:mod:`srstwist.codec.rtmp_client` decide *when* to send; this module only
knows the layouts.  Everything here is a pure function of its arguments.

Decoding follows SRS's packet decoders: a type-17 command loses its first
byte (the AMF3 format selector) and the rest is AMF0; a type-15 data
message is AMF0 from its first byte (a leading ``00`` therefore fails, as in
SRS).  The checks of each command's layout (a Number transaction id, a Null
command object for stream commands, a String stream name...) are SRS's; a
command that fails them raises :class:`CommandError`, which closes the
connection in SRS.  Beyond SRS, a command or metadata payload larger than a
bound, or with more than :data:`MAX_COMMAND_VALUES` top-level values, is
refused before or while decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from srstwist.codec import amf0
from srstwist.codec.amf0 import UNDEFINED, Amf0Object, Amf0Value, EcmaArray
from srstwist.codec.chunk import MessageType

__all__ = [
    "BANDWIDTH_CHECK_NAMES",
    "CLIENT_ID",
    "DEFAULT_MAX_AMF_SIZE",
    "FMLE_START_NAMES",
    "FMS_VERSION",
    "MAX_COMMAND_VALUES",
    "METADATA_NAMES",
    "Command",
    "CommandError",
    "ServerIdentity",
    "build_command",
    "connect_command",
    "connect_result",
    "data_name",
    "decode_command",
    "decode_metadata",
    "on_status_call",
    "on_status_data",
    "sample_access",
    "status_info",
    "string_property",
    "undefined_result",
]

#: Most top-level AMF0 values accepted in one command (name and
#: transaction id included).  Real commands have 3 to 7; Flash
#: applications may pass a few extra ``connect`` arguments.
MAX_COMMAND_VALUES = 64
#: Default bound on the payload of a command or metadata message that is
#: decoded; media messages are not decoded and only bounded by the chunk
#: decoder.
DEFAULT_MAX_AMF_SIZE = 1024 * 1024

#: The FMS version SRS claims, in ``fmsVer`` and ``data.version``.
FMS_VERSION = "3,5,3,888"
#: The ``clientid`` SRS puts in its status objects.
CLIENT_ID = "ASAICiss"

#: Commands SRS decodes as its "FMLE start" packet (``SrsFMLEStartPacket``).
FMLE_START_NAMES = frozenset({"releaseStream", "FCPublish", "FCUnpublish"})
#: Data (or command) names SRS decodes as metadata.
METADATA_NAMES = frozenset({"@setDataFrame", "onMetaData"})
#: Commands of SRS's bandwidth check (``srs_app_bandwidth.cpp``), which this codec
#: does not implement; a server session ignores them.
BANDWIDTH_CHECK_NAMES = frozenset(
    {
        "onSrsBandCheckStartPlayBytes",
        "onSrsBandCheckStartingPlayBytes",
        "onSrsBandCheckPlaying",
        "onSrsBandCheckStopPlayBytes",
        "onSrsBandCheckStoppedPlayBytes",
        "onSrsBandCheckStartPublishBytes",
        "onSrsBandCheckStartingPublishBytes",
        "onSrsBandCheckPublishing",
        "onSrsBandCheckStopPublishBytes",
        "onSrsBandCheckStoppedPublishBytes",
        "onSrsBandCheckFinished",
        "finalClientPacket",
    }
)


class CommandError(ValueError):
    """
    A command or data message that SRS would fail to decode, or that
    exceeds one of our bounds.
    """


@dataclass(frozen=True, slots=True)
class Command:
    """
    A decoded command message: its name and the values after it.

    :ivar values: every value after the name; ``values[0]`` is the
        transaction id for all commands but metadata.
    """

    name: str
    values: tuple[Amf0Value, ...]

    @property
    def transaction_id(self) -> float:
        """
        The second value, which SRS reads as a Number for every command.

        :raise CommandError: if it is missing or not a Number.
        """
        if not self.values or not isinstance(self.values[0], float):
            raise CommandError(f"{self.name}: transaction id is not a Number")
        return self.values[0]

    def value(self, index: int) -> Amf0Value:
        """
        The value at ``index`` in :attr:`values`.

        :raise CommandError: if there are not that many values.
        """
        if index >= len(self.values):
            raise CommandError(f"{self.name}: value {index + 2} missing")
        return self.values[index]

    def require_null(self, index: int = 1) -> None:
        """
        Check that the command object (by default) is AMF0 Null, as SRS
        insists for stream commands.

        :raise CommandError: otherwise.
        """
        if self.value(index) is not None:
            raise CommandError(f"{self.name}: value {index + 2} is not Null")

    def string(self, index: int) -> str:
        """
        :raise CommandError: unless the value at ``index`` is a String.
        """
        value = self.value(index)
        if not isinstance(value, str):
            raise CommandError(f"{self.name}: value {index + 2} is not a String")
        return value

    def number(self, index: int) -> float:
        """
        :raise CommandError: unless the value at ``index`` is a Number.
        """
        value = self.value(index)
        if not isinstance(value, float):
            raise CommandError(f"{self.name}: value {index + 2} is not a Number")
        return value


def _decode_values(view: memoryview, offset: int, max_values: int) -> list[Amf0Value]:
    values: list[Amf0Value] = []
    while offset < len(view):
        if len(values) >= max_values:
            raise CommandError(f"more than {max_values} AMF0 values in one message")
        value, offset = amf0.decode(view, offset)
        values.append(value)
    return values


def _check_size(payload: bytes, max_size: int) -> None:
    if len(payload) > max_size:
        raise CommandError(f"AMF message of {len(payload)} bytes exceeds the limit of {max_size}")


def decode_command(type_id: int, payload: bytes, max_size: int = DEFAULT_MAX_AMF_SIZE) -> Command:
    """
    Decode a command message (type 20, or 17 with its first byte skipped).

    :raise CommandError: the name is not a String, the payload exceeds
        ``max_size`` or :data:`MAX_COMMAND_VALUES` values.
    :raise srstwist.codec.amf0.Amf0Error: a value is undecodable.
    """
    _check_size(payload, max_size)
    view = memoryview(payload)
    offset = 1 if type_id == MessageType.AMF3_COMMAND and len(view) else 0
    values = _decode_values(view, offset, MAX_COMMAND_VALUES)
    if not values or not isinstance(values[0], str):
        raise CommandError("command name is not a String")
    return Command(values[0], tuple(values[1:]))


def data_name(payload: bytes) -> str:
    """
    The first value of a data message (types 18 and 15, no byte skipped),
    which SRS reads to tell metadata from other data.

    :raise CommandError: it is not a String.
    :raise srstwist.codec.amf0.Amf0Error: it is undecodable.
    """
    name, _ = amf0.decode(payload, 0)
    if not isinstance(name, str):
        raise CommandError("data message name is not a String")
    return name


def decode_metadata(
    payload: bytes, offset: int = 0, max_size: int = DEFAULT_MAX_AMF_SIZE
) -> Amf0Object | EcmaArray:
    """
    Decode ``@setDataFrame``/``onMetaData`` the way SRS does: the name, a
    second name after ``@setDataFrame``, then one value of any type; an
    Object or ECMA array is the metadata, anything else gives an empty
    Object.  Values after it are not looked at.

    :param offset: 1 for a type-17 command message.
    :raise CommandError: a name is not a String, the value is missing, or
        the payload exceeds ``max_size``.
    :raise srstwist.codec.amf0.Amf0Error: undecodable AMF0.
    """
    _check_size(payload, max_size)
    name, offset = amf0.decode(payload, offset)
    if name == "@setDataFrame":
        name, offset = amf0.decode(payload, offset)
    if not isinstance(name, str):
        raise CommandError("metadata name is not a String")
    if offset >= len(payload):
        raise CommandError("metadata without a value")
    value, _ = amf0.decode(payload, offset)
    if isinstance(value, (Amf0Object, EcmaArray)):
        return value
    return Amf0Object()


def string_property(obj: Mapping[str, object], key: str) -> str:
    """
    A String property, or ``""`` when it is missing or of another type (SRS
    matches typed lookups only, ``srs_rtmp_amf0.cpp``).
    """
    value = obj.get(key)
    return value if isinstance(value, str) else ""


# -- building ------------------------------------------------------------------


def build_command(name: str, transaction_id: float, *values: object) -> bytes:
    """
    The payload of a command: name, transaction id, then the values (the
    command object first), each AMF0 as in :func:`amf0.encode_values`.
    """
    return amf0.encode_values(name, float(transaction_id), *values)


def status_info(level: str | None, code: str, description: str, **extra: str) -> Amf0Object:
    """
    A status Object with SRS's property order: ``level`` (left out when
    ``None``), ``code``, ``description``, then ``extra`` in order
    (``details``, ``clientid``).
    """
    info = Amf0Object()
    if level is not None:
        info["level"] = level
    info["code"] = code
    info["description"] = description
    info.update(extra)
    return info


def on_status_call(info: Mapping[str, Amf0Value], name: str = "onStatus") -> bytes:
    """
    An ``onStatus`` command as SRS sends it (``SrsOnStatusCallPacket``):
    ``name, 0, null, info``; ``name`` may be ``onFCPublish`` or
    ``onFCUnpublish``.
    """
    return build_command(name, 0, None, info)


def on_status_data(code: str) -> bytes:
    """
    The ``onStatus`` *data* message SRS sends when play starts
    (``SrsOnStatusDataPacket``): ``"onStatus", {code}``.
    """
    return amf0.encode_values("onStatus", Amf0Object(code=code))


def sample_access(audio: bool = True, video: bool = True) -> bytes:
    """
    The ``|RtmpSampleAccess`` data message (SRS #49): video access first,
    then audio, both true in SRS.
    """
    return amf0.encode_values("|RtmpSampleAccess", video, audio)


def undefined_result(transaction_id: float) -> bytes:
    """
    SRS's answer to releaseStream, FCPublish and FCUnpublish
    (``SrsFMLEStartResPacket``): ``"_result", tid, null, undefined``.
    """
    return build_command("_result", transaction_id, None, UNDEFINED)


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """
    The ``srs_*`` properties of the connect ``_result``'s ``data`` array
    (``SrsRtmpServer::response_connect_app``), which SRS edges and srs-librtmp read to
    log which server they reached.  The defaults are SRS 2.0.276's.

    :ivar server_ip: the local address of the client's socket; the
        property is left out when ``None``, as in SRS.
    :ivar pid: the server's process id.
    :ivar connection_id: the connection's log id (``srs_id``).
    """

    sig: str = "SRS"
    server: str = "SRS/2.0.276(ZhouGuowen)"
    license: str = "The MIT License (MIT)"
    role: str = "cluster"
    url: str = "https://github.com/ossrs/srs"
    version: str = "2.0.276"
    site: str = "http://ossrs.net"
    email: str = "winlin@vip.126.com"
    copyright: str = "Copyright (c) 2013-2015 SRS(ossrs)"
    primary: str = "SRS/2.0release"
    authors: str = "winlin,wenjie.zhao"
    server_ip: str | None = None
    pid: int = 0
    connection_id: int = 0

    def data(self) -> EcmaArray:
        """
        The ``data`` ECMA array, in SRS's order, written with count 0.
        """
        data = EcmaArray(
            [
                ("version", FMS_VERSION),
                ("srs_sig", self.sig),
                ("srs_server", self.server),
                ("srs_license", self.license),
                ("srs_role", self.role),
                ("srs_url", self.url),
                ("srs_version", self.version),
                ("srs_site", self.site),
                ("srs_email", self.email),
                ("srs_copyright", self.copyright),
                ("srs_primary", self.primary),
                ("srs_authors", self.authors),
            ]
        )
        if self.server_ip is not None:
            data["srs_server_ip"] = self.server_ip
        data["srs_pid"] = float(self.pid)
        data["srs_id"] = float(self.connection_id)
        return data


def connect_result(object_encoding: float, identity: ServerIdentity) -> bytes:
    """
    The connect ``_result`` (``SrsRtmpServer::response_connect_app``): transaction id always 1,
    the FMS properties, then the success info with the client's
    ``objectEncoding`` and the identity ``data``.
    """
    props = Amf0Object(fmsVer="FMS/" + FMS_VERSION, capabilities=127.0, mode=1.0)
    info = status_info("status", "NetConnection.Connect.Success", "Connection succeeded")
    info["objectEncoding"] = float(object_encoding)
    info["data"] = identity.data()
    return build_command("_result", 1, props, info)


def connect_command(
    transaction_id: float,
    app: str,
    tc_url: str,
    *,
    swf_url: str = "",
    page_url: str = "",
    flash_ver: str = "WIN 15,0,0,239",
    args: Mapping[str, Amf0Value] | None = None,
) -> bytes:
    """
    ``connect`` as SRS sends it as a client (``SrsRtmpClient::connect_app``), with the
    optional args Object as the fourth value.
    """
    command_object = Amf0Object(
        [
            ("app", app),
            ("flashVer", flash_ver),
            ("swfUrl", swf_url),
            ("tcUrl", tc_url),
            ("fpad", False),
            ("capabilities", 239.0),
            ("audioCodecs", 3575.0),
            ("videoCodecs", 252.0),
            ("videoFunction", 1.0),
            ("pageUrl", page_url),
            ("objectEncoding", 0.0),
        ]
    )
    if args is None:
        return build_command("connect", transaction_id, command_object)
    return build_command("connect", transaction_id, command_object, args)
