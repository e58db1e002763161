# -*- test-case-name: tests.test_media_metadata -*-
"""
A publisher's ``onMetaData``, as the source stores and relays it.

SRS 2.0 (FLV spec E.5; ``SrsOnMetaDataPacket::decode``
and ``SrsSource::on_meta_data``):

* an AMF0 data message (type 18, or type 15 read as AMF0) whose first
  string is ``@setDataFrame`` or ``onMetaData`` is metadata; after
  ``@setDataFrame`` the second string (normally ``onMetaData``) is the name;
* the value after the name may be an Object or an ECMA array, which becomes
  an Object with the same key order; any other value gives an empty Object;
  bytes after the value are ignored;
* ``duration`` is removed (ExoPlayer, SRS #828), and the server fields are
  set, each appended at the end (an existing key is removed first);
* the result is re-encoded as the name and an AMF0 Object (marker ``03``),
  never an ECMA array; the ``@setDataFrame`` wrapper is gone.

`decode_metadata` gives the object as the publisher sent it, which DVR
wants (``SrsDvr::on_meta_data``); `rewrite_metadata` gives what players get.
`wants_atc` is the ``atc_auto`` test (``SrsSource::on_meta_data``).

This module imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from srstwist.codec.amf0 import (
    Amf0Error,
    Amf0Object,
    Amf0Value,
    EcmaArray,
    decode,
    encode_values,
)

__all__ = [
    "ON_METADATA",
    "SET_DATA_FRAME",
    "MetadataError",
    "decode_metadata",
    "is_metadata",
    "rewrite_metadata",
    "wants_atc",
]

SET_DATA_FRAME: Final = "@setDataFrame"
ON_METADATA: Final = "onMetaData"

# The two names as they start an AMF0 data payload: String marker, u16
# length, bytes.
_PREFIXES: Final = tuple(
    b"\x02" + len(name).to_bytes(2, "big") + name.encode() for name in (SET_DATA_FRAME, ON_METADATA)
)


class MetadataError(ValueError):
    """
    A data message that claims to be metadata but cannot be decoded: not
    AMF0, no name, a non-string name after ``@setDataFrame``, or no value.
    """


def is_metadata(payload: bytes) -> bool:
    """
    Whether a data message's first AMF0 value is the string
    ``@setDataFrame`` or ``onMetaData``, without decoding the rest.  Other
    data messages (``onTextData``, ``|RtmpSampleAccess`` ...) are dropped at
    ingest.
    """
    return payload.startswith(_PREFIXES)


def decode_metadata(payload: bytes) -> tuple[str, Amf0Object]:
    """
    Decode a metadata message as SRS does, without rewriting it.

    :return: the name (normally ``onMetaData``) and a new `Amf0Object`
        holding the properties in wire order.
    :raises MetadataError: see the class; also when `is_metadata` is false.
    """
    if not is_metadata(payload):
        raise MetadataError("data message is not @setDataFrame or onMetaData")
    set_data_frame, on_metadata = _PREFIXES
    name: Amf0Value = ON_METADATA
    offset = len(on_metadata)
    try:
        if payload.startswith(set_data_frame):
            name, offset = decode(payload, len(set_data_frame))
        if not isinstance(name, str):
            raise MetadataError(
                f"@setDataFrame followed by {type(name).__name__}, not a name string"
            )
        if offset >= len(payload):
            raise MetadataError(f"metadata {name!r} has no value")
        value, _ = decode(payload, offset)
    except Amf0Error as e:
        raise MetadataError(f"undecodable metadata: {e}") from e
    if isinstance(value, (Amf0Object, EcmaArray)):
        return name, Amf0Object(value)
    return name, Amf0Object()


def rewrite_metadata(payload: bytes, server_info: Mapping[str, str]) -> tuple[bytes, Amf0Object]:
    """
    Turn a publisher's metadata message into what the source caches and
    sends to players.

    :param payload: the data message payload.
    :param server_info: the fields to set, in order; SRS sets ``server``,
        ``srs_primary``, ``srs_authors`` and ``server_version``.
    :return: the new payload (name, then the Object) and the rewritten
        object (which keeps ``bravo_atc`` for `wants_atc`).
    :raises MetadataError: as `decode_metadata`.
    """
    name, metadata = decode_metadata(payload)
    metadata.pop("duration", None)
    for key, value in server_info.items():
        metadata.pop(key, None)
        metadata[key] = value
    try:
        encoded = encode_values(name, metadata)
    except Amf0Error as e:  # only a pathological server_info gets here
        raise MetadataError(f"cannot encode metadata: {e}") from e
    return encoded, metadata


def wants_atc(metadata: Mapping[str, object]) -> bool:
    """
    Whether metadata asks for absolute timestamps: property ``bravo_atc``
    is the string ``"true"`` (``atc_auto``, ``SrsSource::on_meta_data``).
    """
    return metadata.get("bravo_atc") == "true"
