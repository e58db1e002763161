# -*- test-case-name: tests.test_codec_amf0 -*-
"""
AMF0, the value encoding of RTMP commands (message types 20 and 17) and of
data messages such as ``onMetaData`` (types 18 and 15).

Sans-IO: bytes in, Python values out, and back.  The format is Adobe's AMF 0
specification; where the comments below say what SRS does, they mean SRS
2.0's decoder, ``trunk/src/protocol/srs_rtmp_amf0.cpp``.

Value model
===========

==================  ======  =============================================
AMF0 type           marker  Python value
==================  ======  =============================================
Number              ``00``  ``float`` (``int`` accepted when encoding)
Boolean             ``01``  ``bool`` (any non-zero byte decodes as true)
String              ``02``  ``str``
Object              ``03``  `Amf0Object` (any other ``Mapping`` encodes
                            as an Object too)
Null                ``05``  ``None``
Undefined           ``06``  `UNDEFINED`
ECMA array          ``08``  `EcmaArray`
Object end          ``09``  `OBJECT_END` (the three bytes ``00 00 09``)
Strict array        ``0A``  ``list`` (``tuple`` accepted when encoding)
Date                ``0B``  `Amf0Date`
Long string         ``0C``  ``str``
==================  ======  =============================================

Every other marker, including ``11`` (switch to AMF3, "avmplus object"),
raises `Amf0Error`: SRS decodes no AMF3 values.  Skipping
the format byte of a type-17 command is the message layer's job.

Strings.  A ``str`` whose UTF-8 form is longer than 65535 bytes is written
as a Long string (``0C``, u32 length), as librtmp does; shorter ones always
use ``02``.  Property names cannot be long, so a longer name raises
`Amf0Error`.  Decoding does no UTF-8 validation, like SRS: bytes
that are not UTF-8 decode with the ``surrogateescape`` error handler and
encode back to the same bytes, so a stream name in a legacy code page still
matches between publisher and player.  Such strings contain lone surrogates;
code that logs or JSON-encodes them must allow for that.

Containers.  Property order is kept, and insertion order is encoding order.
When a decoded container repeats a name, the later value wins and moves to
the end, as in SRS.  Nesting deeper than `MAX_DEPTH` containers
raises `Amf0Error` when decoding and when encoding (which also catches
self-referencing lists and dicts).

Errors.  Truncated input raises `Amf0Error`: callers always hold whole
messages, so a value that runs past the end is a broken message, never a
reason to wait for more bytes.  Lengths and counts read from the wire are
checked against the bytes actually present before anything is read or
allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeAlias

__all__ = [
    "MAX_DEPTH",
    "OBJECT_END",
    "UNDEFINED",
    "Amf0Date",
    "Amf0Error",
    "Amf0Object",
    "Amf0Value",
    "EcmaArray",
    "decode",
    "decode_all",
    "encode",
    "encode_values",
]

#: The deepest nesting of containers (Object, ECMA array, strict array)
#: that `decode` and `encode` accept.  Real commands and metadata nest two
#: or three levels; the limit keeps hostile input far from Python's
#: recursion limit.
MAX_DEPTH: Final = 64

_NUMBER: Final = 0x00
_BOOLEAN: Final = 0x01
_STRING: Final = 0x02
_OBJECT: Final = 0x03
_NULL: Final = 0x05
_UNDEFINED: Final = 0x06
_ECMA_ARRAY: Final = 0x08
_OBJECT_END: Final = 0x09
_STRICT_ARRAY: Final = 0x0A
_DATE: Final = 0x0B
_LONG_STRING: Final = 0x0C
_AVMPLUS: Final = 0x11

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_F64: Final = struct.Struct(">d")
_DATE_BODY: Final = struct.Struct(">dh")
_MARKER_F64: Final = struct.Struct(">Bd")
_MARKER_U16: Final = struct.Struct(">BH")
_MARKER_U32: Final = struct.Struct(">BI")
_MARKER_DATE: Final = struct.Struct(">Bdh")

_END_BYTES: Final = b"\x00\x00\x09"
_NULL_BYTES: Final = b"\x05"
_UNDEFINED_BYTES: Final = b"\x06"
_TRUE_BYTES: Final = b"\x01\x01"
_FALSE_BYTES: Final = b"\x01\x00"

_MAX_U16: Final = 0xFFFF
_MAX_U32: Final = 0xFFFFFFFF


class Amf0Error(ValueError):
    """
    The one error this codec raises, for undecodable bytes (unknown or
    unsupported marker, truncation, excessive nesting) and for values that
    AMF0 cannot represent.  An RTMP session treats it as a broken message.
    """


class _Undefined(Enum):
    """
    The type of `UNDEFINED`; an enum so that it stays a singleton through
    copies and pickles and type checkers can name it.
    """

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


class _ObjectEnd(Enum):
    """
    The type of `OBJECT_END`.
    """

    OBJECT_END = "object-end"

    def __repr__(self) -> str:
        return "OBJECT_END"


#: AMF0 Undefined (``06``), kept apart from Null (``None``) so that a
#: decoded value re-encodes with the marker it came with.
UNDEFINED: Final = _Undefined.UNDEFINED

#: A stray object-end (``00 00 09``) where a value was expected.  SRS reads
#: those three bytes as an end marker before looking at the marker byte,
#: so they decode as this sentinel instead of failing; encoding it
#: writes the three bytes back.  Inside Objects and ECMA arrays the
#: terminator is consumed by the container and never shows up as a value.
#: The price, shared with SRS, is that a Number whose first two bytes are
#: ``00 09`` (subnormals from 1.25e-308 to 1.4e-308, which no client
#: sends) also reads as `OBJECT_END`.
OBJECT_END: Final = _ObjectEnd.OBJECT_END


@dataclass(frozen=True)
class Amf0Date:
    """
    AMF0 Date (``0B``): milliseconds since the Unix epoch, UTC, and a time
    zone field that the spec says to leave at zero.

    SRS copies the eight value bytes through unchanged (#185); a
    double read and written back as ``float`` gives the same bytes.

    :ivar timestamp_ms: Milliseconds since 1970-01-01T00:00:00Z.
    :ivar timezone: The signed 16-bit time-zone field, normally 0.
    """

    timestamp_ms: float
    timezone: int = 0


class Amf0Object(dict[str, "Amf0Value"]):
    """
    AMF0 Object (``03``): an anonymous object, a ``dict`` of property names
    to values kept in wire order.  Command objects, ``connect`` arguments
    and status infos are Objects.

    Comparison is ``dict`` comparison, so an `Amf0Object` equals an
    `EcmaArray` or plain ``dict`` with the same items; check the type where
    the marker matters.
    """

    def copy(self) -> Amf0Object:
        """
        A shallow copy that stays an `Amf0Object`.
        """
        return type(self)(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class EcmaArray(dict[str, "Amf0Value"]):
    """
    AMF0 ECMA array (``08``): an associative array, laid out like an Object
    after a u32 count.  ``onMetaData`` carries its properties in one, and
    SRS's connect ``_result`` puts its server information in one, so it is
    a separate type to keep the marker through a decode/encode round trip.

    :ivar declared_count: The count field to write.  Readers ignore it and
        parse until ``00 00 09``.  A decoded array keeps the count
        it was read with, so a relayed array re-encodes byte for byte;
        ``None`` (the default for new arrays) writes 0, as SRS, Flash and
        FMLE do (SRS #852).
    """

    declared_count: int | None

    def __init__(
        self,
        items: Mapping[str, Amf0Value] | Iterable[tuple[str, Amf0Value]] = (),
        /,
        *,
        declared_count: int | None = None,
    ) -> None:
        super().__init__(items)
        self.declared_count = declared_count

    def copy(self) -> EcmaArray:
        """
        A shallow copy that stays an `EcmaArray` with the same
        ``declared_count``.
        """
        return type(self)(self, declared_count=self.declared_count)

    def __repr__(self) -> str:
        count = ""
        if self.declared_count is not None:
            count = f", declared_count={self.declared_count}"
        return f"{type(self).__name__}({dict.__repr__(self)}{count})"


#: Every value `decode` can return.
Amf0Value: TypeAlias = (
    "float | bool | str | None | _Undefined | _ObjectEnd | Amf0Date"
    " | Amf0Object | EcmaArray | list[Amf0Value]"
)


# Decoding ----------------------------------------------------------------
#
# Every reader takes the whole message as a memoryview plus the offset just
# past the marker, and returns (value, offset after the value).  Nothing is
# sliced except to build the final str, so decoding is linear in the input.


def _truncated(what: str, offset: int) -> Amf0Error:
    return Amf0Error(f"AMF0 data ends inside {what} at offset {offset}")


def _read_u16(view: memoryview, offset: int, what: str) -> int:
    if offset + 2 > len(view):
        raise _truncated(what, offset)
    value: int = _U16.unpack_from(view, offset)[0]
    return value


def _read_u32(view: memoryview, offset: int, what: str) -> int:
    if offset + 4 > len(view):
        raise _truncated(what, offset)
    value: int = _U32.unpack_from(view, offset)[0]
    return value


def _read_text(view: memoryview, offset: int, length: int, what: str) -> str:
    end = offset + length
    if end > len(view):
        raise Amf0Error(
            f"AMF0 {what} at offset {offset} declares {length} bytes,"
            f" only {len(view) - offset} remain"
        )
    return str(view[offset:end], "utf-8", "surrogateescape")


def _is_object_end(view: memoryview, offset: int) -> bool:
    return (
        offset + 3 <= len(view)
        and view[offset] == 0
        and view[offset + 1] == 0
        and view[offset + 2] == _OBJECT_END
    )


def _read_name(view: memoryview, offset: int) -> tuple[str, int]:
    # SRS reads this length as signed 16 bits, so names and strings of
    # 32768 bytes or more come out empty and the packet mis-parses from
    # there.  The AMF 0 spec says unsigned; nothing gains from the bug.
    length = _read_u16(view, offset, "a string length")
    offset += 2
    return _read_text(view, offset, length, "string"), offset + length


def _read_properties(
    view: memoryview, offset: int, depth: int, into: dict[str, Amf0Value]
) -> int:
    # SRS accepts an Object or ECMA array whose data ends at a property
    # boundary without the terminator.  We raise instead: ffmpeg,
    # OBS, librtmp and Flash always terminate, and a missing terminator in a
    # whole message means a framing or length bug we want to see.
    while not _is_object_end(view, offset):
        name, offset = _read_name(view, offset)
        value, offset = _read_value(view, offset, depth)
        # A repeated name: the later value wins and moves to the end, like
        # SRS.
        into.pop(name, None)
        into[name] = value
    return offset + 3


def _read_value(view: memoryview, offset: int, depth: int) -> tuple[Amf0Value, int]:
    if offset >= len(view):
        raise _truncated("a value marker", offset)
    # SRS checks for 00 00 09 before it looks at the marker, so
    # those bytes are an object end even though 00 is the Number marker.
    if _is_object_end(view, offset):
        return OBJECT_END, offset + 3
    marker = view[offset]
    offset += 1
    if marker == _NUMBER:
        if offset + 8 > len(view):
            raise _truncated("a Number", offset)
        number: float = _F64.unpack_from(view, offset)[0]
        return number, offset + 8
    if marker == _BOOLEAN:
        if offset >= len(view):
            raise _truncated("a Boolean", offset)
        return view[offset] != 0, offset + 1
    if marker == _STRING:
        return _read_name(view, offset)
    if marker == _NULL:
        return None, offset
    if marker == _UNDEFINED:
        return UNDEFINED, offset
    if marker in (_OBJECT, _ECMA_ARRAY, _STRICT_ARRAY):
        if depth >= MAX_DEPTH:
            raise Amf0Error(
                f"AMF0 containers nested deeper than {MAX_DEPTH} at offset {offset - 1}"
            )
        depth += 1
        if marker == _OBJECT:
            obj = Amf0Object()
            return obj, _read_properties(view, offset, depth, obj)
        if marker == _ECMA_ARRAY:
            # The count is kept for re-encoding but never trusted.
            count = _read_u32(view, offset, "an ECMA array count")
            array = EcmaArray(declared_count=count)
            return array, _read_properties(view, offset + 4, depth, array)
        return _read_strict_array(view, offset, depth)
    if marker == _DATE:
        if offset + _DATE_BODY.size > len(view):
            raise _truncated("a Date", offset)
        timestamp, timezone = _DATE_BODY.unpack_from(view, offset)
        return Amf0Date(timestamp, timezone), offset + _DATE_BODY.size
    if marker == _LONG_STRING:
        # SRS 2.0 rejects Long strings.  librtmp writes one for
        # any string over 65535 bytes, so we read them rather than drop the
        # connection over an oversized tcUrl or metadata field.
        length = _read_u32(view, offset, "a Long string length")
        offset += 4
        return _read_text(view, offset, length, "Long string"), offset + length
    if marker == _AVMPLUS:
        raise Amf0Error(
            f"AMF3 value (avmplus marker 0x11) at offset {offset - 1}:"
            " AMF3 decoding is not supported"
        )
    raise Amf0Error(f"unsupported AMF0 marker 0x{marker:02x} at offset {offset - 1}")


def _read_strict_array(
    view: memoryview, offset: int, depth: int
) -> tuple[list[Amf0Value], int]:
    count = _read_u32(view, offset, "a strict array count")
    offset += 4
    # Every value takes at least one byte, so a count larger than what is
    # left is a lie; refuse it before looping.  SRS instead stops quietly at
    # the end of the data, which hides truncation.
    if count > len(view) - offset:
        raise Amf0Error(
            f"AMF0 strict array at offset {offset - 5} declares {count} values,"
            f" only {len(view) - offset} bytes remain"
        )
    items: list[Amf0Value] = []
    for _ in range(count):
        item, offset = _read_value(view, offset, depth)
        items.append(item)
    return items, offset


def _as_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def decode(
    data: bytes | bytearray | memoryview, offset: int = 0
) -> tuple[Amf0Value, int]:
    """
    Decode the one AMF0 value that starts at ``offset``.

    Decoders of fixed command layouts read one value at a time and keep
    the offset; the bytes after the value are not looked at.

    :param data: A whole message payload (or more).
    :param offset: Where the value's marker byte is.
    :return: The value and the offset just past it.
    :raises Amf0Error: The bytes at ``offset`` are not one complete value
        that this codec supports.
    """
    view = _as_view(data)
    if not 0 <= offset <= len(view):
        raise Amf0Error(f"offset {offset} is outside the {len(view)}-byte data")
    return _read_value(view, offset, 0)


def decode_all(data: bytes | bytearray | memoryview) -> list[Amf0Value]:
    """
    Decode consecutive AMF0 values until the data ends, which is how a
    command payload (name, transaction id, command object, arguments...)
    or a data message splits into its parts.

    :param data: A whole message payload.
    :return: The values in order; empty for empty data.
    :raises Amf0Error: Some value is undecodable or cut short.
    """
    view = _as_view(data)
    values: list[Amf0Value] = []
    offset = 0
    while offset < len(view):
        value, offset = _read_value(view, offset, 0)
        values.append(value)
    return values


# Encoding ----------------------------------------------------------------


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise Amf0Error(f"string cannot be encoded as UTF-8: {e}") from None


def _write_name(name: object, out: list[bytes]) -> None:
    if not isinstance(name, str):
        raise Amf0Error(f"AMF0 property names must be str, not {type(name).__name__}")
    raw = _utf8(name)
    if len(raw) > _MAX_U16:
        raise Amf0Error(f"AMF0 property name of {len(raw)} bytes exceeds 65535")
    out.append(_U16.pack(len(raw)))
    out.append(raw)


def _write_properties(
    mapping: Mapping[Any, object], out: list[bytes], depth: int
) -> None:
    for name, item in mapping.items():
        _write_name(name, out)
        _write_value(item, out, depth)
    out.append(_END_BYTES)


def _write_value(value: object, out: list[bytes], depth: int) -> None:
    # bool first: it is a subclass of int.
    if value is None:
        out.append(_NULL_BYTES)
    elif value is True:
        out.append(_TRUE_BYTES)
    elif value is False:
        out.append(_FALSE_BYTES)
    elif isinstance(value, (float, int)):
        try:
            out.append(_MARKER_F64.pack(_NUMBER, float(value)))
        except OverflowError:
            raise Amf0Error(f"{value!r} is too large for an AMF0 Number") from None
    elif isinstance(value, str):
        raw = _utf8(value)
        if len(raw) <= _MAX_U16:
            out.append(_MARKER_U16.pack(_STRING, len(raw)))
        elif len(raw) <= _MAX_U32:
            out.append(_MARKER_U32.pack(_LONG_STRING, len(raw)))
        else:
            raise Amf0Error(f"string of {len(raw)} bytes is too long for AMF0")
        out.append(raw)
    elif value is UNDEFINED:
        out.append(_UNDEFINED_BYTES)
    elif value is OBJECT_END:
        out.append(_END_BYTES)
    elif isinstance(value, Amf0Date):
        try:
            out.append(
                _MARKER_DATE.pack(_DATE, float(value.timestamp_ms), value.timezone)
            )
        except (struct.error, TypeError, ValueError, OverflowError) as e:
            raise Amf0Error(f"cannot encode {value!r}: {e}") from None
    elif isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_DEPTH:
            raise Amf0Error(f"AMF0 containers nested deeper than {MAX_DEPTH}")
        depth += 1
        if isinstance(value, EcmaArray):
            count = 0 if value.declared_count is None else value.declared_count
            if not 0 <= count <= _MAX_U32:
                raise Amf0Error(f"ECMA array count {count} does not fit in u32")
            out.append(_MARKER_U32.pack(_ECMA_ARRAY, count))
            _write_properties(value, out, depth)
        elif isinstance(value, Mapping):
            out.append(bytes((_OBJECT,)))
            _write_properties(value, out, depth)
        else:
            if len(value) > _MAX_U32:
                raise Amf0Error(f"strict array of {len(value)} values is too long")
            out.append(_MARKER_U32.pack(_STRICT_ARRAY, len(value)))
            for item in value:
                _write_value(item, out, depth)
    else:
        raise Amf0Error(f"cannot encode {type(value).__name__} as AMF0")


def encode(value: object) -> bytes:
    """
    Encode one value; see the module docstring for the type mapping.

    Numbers are always written as doubles (AMF 0's only Number type); strict arrays carry
    their real length; Objects and ECMA arrays end with ``00 00 09``.

    :param value: An `Amf0Value`, or an ``int``, ``tuple`` or other
        ``Mapping`` with ``str`` keys, which encode as Number, strict array
        and Object.
    :return: The encoded bytes.
    :raises Amf0Error: Some part of ``value`` has no AMF0 form: an unknown
        type, a non-``str`` property name, a name over 65535 bytes, an
        ``int`` beyond double range, or nesting deeper than `MAX_DEPTH`.
    """
    out: list[bytes] = []
    _write_value(value, out, 0)
    return b"".join(out)


def encode_values(*values: object) -> bytes:
    """
    Encode several values back to back, which is the layout of a command
    (``encode_values("_result", 1.0, props, info)``) or a data message.

    :raises Amf0Error: As for `encode`.
    """
    out: list[bytes] = []
    for value in values:
        _write_value(value, out, 0)
    return b"".join(out)
