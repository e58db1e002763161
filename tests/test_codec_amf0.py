"""
Tests for `srstwist.codec.amf0`.

Byte vectors are hand-built from the AMF0 spec and SRS's
``srs_utest_amf0.cpp``; the ffmpeg payloads were captured from ffmpeg 5.1
(Lavf59.27.100) talking to a throwaway RTMP responder on 127.0.0.1.  The
``test_srs_*`` tests reproduce the AMF0 items of SRS's ``srs_utest_amf0.cpp``.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.amf0 import (
    MAX_DEPTH,
    OBJECT_END,
    UNDEFINED,
    Amf0Date,
    Amf0Error,
    Amf0Object,
    Amf0Value,
    EcmaArray,
    decode,
    decode_all,
    encode,
    encode_values,
)

_F64 = struct.Struct(">d")


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# ffmpeg -f flv rtmp://127.0.0.1:19351/live/livestream (publishing).
FFMPEG_PUBLISH_CONNECT = _hex(
    "020007636f6e6e656374"  # "connect"
    "003ff0000000000000"  # 1
    "03"
    "0003617070" "0200046c697665"  # app: "live"
    "000474797065" "02000a6e6f6e70726976617465"  # type: "nonprivate"
    "0008666c617368566572"  # flashVer:
    "020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e31303029"
    "0005746355726c"  # tcUrl:
    "02001b72746d703a2f2f3132372e302e302e313a31393335312f6c697665"
    "000009"
)

# ffmpeg -i rtmp://127.0.0.1:19352/live/livestream (playing).
FFMPEG_PLAY_CONNECT = _hex(
    "020007636f6e6e656374"  # "connect"
    "003ff0000000000000"  # 1
    "03"
    "0003617070" "0200046c697665"  # app: "live"
    "0008666c617368566572" "02000d4c4e5820392c302c3132342c32"  # flashVer
    "0005746355726c"  # tcUrl:
    "02001b72746d703a2f2f3132372e302e302e313a31393335322f6c697665"
    "000466706164" "0100"  # fpad: false
    "000c6361706162696c6974696573" "00402e000000000000"  # capabilities: 15
    "000b617564696f436f64656373" "0040afce0000000000"  # audioCodecs: 4071
    "000b766964656f436f64656373" "00406f800000000000"  # videoCodecs: 252
    "000d766964656f46756e6374696f6e" "003ff0000000000000"  # videoFunction: 1
    "000009"
)

# The data message ffmpeg sends after publish (H.264 + AAC, 320x240@25).
FFMPEG_SET_DATA_FRAME = _hex(
    "02000d40736574446174614672616d65"  # "@setDataFrame"
    "02000a6f6e4d65746144617461"  # "onMetaData"
    "08" "0000000d"  # ECMA array, count 13
    "00086475726174696f6e" "004008000000000000"  # duration: 3
    "00057769647468" "004074000000000000"  # width: 320
    "0006686569676874" "00406e000000000000"  # height: 240
    "000d766964656f6461746172617465" "000000000000000000"  # videodatarate: 0
    "00096672616d6572617465" "004039000000000000"  # framerate: 25
    "000c766964656f636f6465636964" "00401c000000000000"  # videocodecid: 7
    "000d617564696f6461746172617465" "004050d88000000000"  # audiodatarate
    "000f617564696f73616d706c6572617465" "0040e5888000000000"  # 44100
    "000f617564696f73616d706c6573697a65" "004030000000000000"  # 16
    "000673746572656f" "0100"  # stereo: false
    "000c617564696f636f6465636964" "004024000000000000"  # audiocodecid: 10
    "0007656e636f646572" "02000d4c61766635392e32372e313030"  # encoder
    "000866696c6573697a65" "000000000000000000"  # filesize: 0
    "000009"
)

FFMPEG_PLAY = _hex(
    "020004706c6179"  # "play"
    "004010000000000000"  # 4
    "05"
    "02000a6c69766573747265616d"  # "livestream"
    "00c09f400000000000"  # -2000
)


def _canonical(value: object) -> object:
    """
    A form of ``value`` that compares equal only for the same AMF0 types,
    the same property order and the same float bits (so NaN equals NaN).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", _F64.pack(value))
    if isinstance(value, Amf0Date):
        return ("date", _F64.pack(value.timestamp_ms), value.timezone)
    if isinstance(value, (Amf0Object, EcmaArray)):
        return (
            type(value).__name__,
            tuple((k, _canonical(v)) for k, v in value.items()),
        )
    if isinstance(value, list):
        return ("list", tuple(_canonical(v) for v in value))
    if value is UNDEFINED or value is OBJECT_END:
        return value
    raise AssertionError(f"not a decoded AMF0 value: {value!r}")


def _number_safe(number: float) -> bool:
    # A double whose first two bytes are 00 09 encodes as 00 00 09 ...,
    # which SRS (and so we) read as an object end; see
    # test_number_colliding_with_object_end.
    return _F64.pack(number)[:2] != b"\x00\x09"


_floats = st.floats()
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    _floats.filter(_number_safe),
    st.text(max_size=12),
    st.just(UNDEFINED),
    st.just(OBJECT_END),
    st.builds(Amf0Date, _floats, st.integers(-0x8000, 0x7FFF)),
)
_names = st.text(max_size=8)
_values: st.SearchStrategy[Amf0Value] = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_names, children, max_size=4).map(Amf0Object),
        st.dictionaries(_names, children, max_size=4).map(EcmaArray),
    ),
    max_leaves=20,
)


class MarkerVectorTests(SynchronousTestCase):
    """
    Each supported marker against hand-checked bytes, both directions.
    """

    def assertVector(self, value: Any, wire: bytes) -> None:
        self.assertEqual(encode(value), wire)
        decoded, offset = decode(wire)
        self.assertEqual(offset, len(wire))
        self.assertEqual(_canonical(decoded), _canonical(value))

    def test_number(self) -> None:
        """A Number is marker 00 and a big-endian double."""
        self.assertVector(10.0, _hex("00 4024000000000000"))
        self.assertVector(-100.0, _hex("00 c059000000000000"))

    def test_int_encodes_as_double(self) -> None:
        """An int is written as a double, e.g. stream id 1."""
        self.assertEqual(encode(1), _hex("00 3ff0000000000000"))
        self.assertEqual(decode(encode(1)), (1.0, 9))

    def test_boolean(self) -> None:
        """A Boolean is marker 01 and a byte, written as 01 or 00."""
        self.assertVector(True, _hex("01 01"))
        self.assertVector(False, _hex("01 00"))

    def test_boolean_any_nonzero_is_true(self) -> None:
        """Any non-zero Boolean byte decodes as true."""
        self.assertIs(decode(_hex("01 02"))[0], True)
        self.assertIs(decode(_hex("01 ff"))[0], True)

    def test_string(self) -> None:
        """A String is marker 02, a u16 length and the UTF-8 bytes."""
        self.assertVector("winlin", _hex("02 0006") + b"winlin")
        self.assertVector("", _hex("02 0000"))

    def test_string_length_counts_utf8_bytes(self) -> None:
        """The length of a non-ASCII string is its UTF-8 byte count."""
        self.assertVector("\u4e2d\u6587", _hex("02 0006 e4b8ad e69687"))

    def test_null_and_undefined(self) -> None:
        """Null is the single byte 05 and Undefined the single byte 06."""
        self.assertVector(None, _hex("05"))
        self.assertVector(UNDEFINED, _hex("06"))

    def test_object(self) -> None:
        """An Object is 03, (u16 name, value) pairs and 00 00 09."""
        self.assertVector(Amf0Object(), _hex("03 000009"))
        self.assertVector(
            Amf0Object(name="winlin", age=9.0),
            _hex("03 0004") + b"name" + _hex("02 0006") + b"winlin"
            + _hex("0003") + b"age" + _hex("00 4022000000000000 000009"),
        )

    def test_plain_dict_encodes_as_object(self) -> None:
        """A plain dict is written with the Object marker."""
        self.assertEqual(encode({"a": None}), _hex("03 0001 61 05 000009"))

    def test_ecma_array(self) -> None:
        """An ECMA array is 08, a u32 count, properties and 00 00 09."""
        self.assertVector(EcmaArray(), _hex("08 00000000 000009"))
        self.assertVector(
            EcmaArray({"p0": "function"}),
            _hex("08 00000000 0002 7030 02 0008") + b"function" + _hex("000009"),
        )

    def test_object_end(self) -> None:
        """OBJECT_END is written, and read where a value is due, as 00 00 09."""
        self.assertVector(OBJECT_END, _hex("000009"))

    def test_strict_array(self) -> None:
        """A strict array is 0A, the real u32 count and the values."""
        self.assertVector([], _hex("0a 00000000"))
        self.assertVector(
            [100.0, 101.0, "winlin"],
            _hex("0a 00000003 00 4059000000000000 00 4059400000000000 02 0006")
            + b"winlin",
        )

    def test_tuple_encodes_as_strict_array(self) -> None:
        """A tuple is written as a strict array."""
        self.assertEqual(encode((None, True)), _hex("0a 00000002 05 0101"))

    def test_date(self) -> None:
        """A Date is 0B, a double of milliseconds and a signed u16 time zone."""
        self.assertVector(Amf0Date(0.0, 0), _hex("0b 0000000000000000 0000"))
        self.assertVector(Amf0Date(1.0, -60), _hex("0b 3ff0000000000000 ffc4"))

    def test_date_timezone_defaults_to_zero(self) -> None:
        """A Date built without a time zone writes zero, as the spec asks."""
        self.assertEqual(encode(Amf0Date(10.0)), _hex("0b 4024000000000000 0000"))

    def test_long_string(self) -> None:
        """A Long string is 0C, a u32 length and the UTF-8 bytes."""
        self.assertEqual(decode(_hex("0c 00000003") + b"abc"), ("abc", 8))

    def test_long_string_threshold(self) -> None:
        """Strings up to 65535 bytes use 02; longer ones use 0C."""
        short = "a" * 0xFFFF
        self.assertEqual(encode(short)[:3], _hex("02 ffff"))
        self.assertEqual(decode(encode(short)), (short, 3 + 0xFFFF))
        long = "a" * 0x10000
        self.assertEqual(encode(long)[:5], _hex("0c 00010000"))
        self.assertEqual(decode(encode(long)), (long, 5 + 0x10000))

    def test_amf3_switch_rejected(self) -> None:
        """Marker 11 (switch to AMF3) raises, since SRS decodes no AMF3."""
        error = self.assertRaises(Amf0Error, decode, _hex("11 0a0b01"))
        self.assertIn("AMF3", str(error))

    def test_unsupported_markers_rejected(self) -> None:
        """MovieClip, Reference, Unsupported, RecordSet, XML, typed object and unknown markers raise."""
        for marker in (0x04, 0x07, 0x0D, 0x0E, 0x0F, 0x10, 0x12, 0xFF):
            self.assertRaises(Amf0Error, decode, bytes([marker]) + b"\x00" * 16)

    def test_bare_object_end_marker_rejected(self) -> None:
        """A lone 09 marker is not a value; only 00 00 09 is."""
        self.assertRaises(Amf0Error, decode, _hex("09"))
        self.assertRaises(Amf0Error, decode, _hex("09 000000"))


class RealPayloadTests(SynchronousTestCase):
    """
    Payloads as ffmpeg sends them.
    """

    def test_ffmpeg_publish_connect(self) -> None:
        """ffmpeg's publishing connect splits into name, tid and command object."""
        values = decode_all(FFMPEG_PUBLISH_CONNECT)
        self.assertEqual(len(values), 3)
        name, tid, command = values
        self.assertEqual((name, tid), ("connect", 1.0))
        self.assertIsInstance(command, Amf0Object)
        assert isinstance(command, Amf0Object)
        self.assertEqual(
            list(command.items()),
            [
                ("app", "live"),
                ("type", "nonprivate"),
                ("flashVer", "FMLE/3.0 (compatible; Lavf59.27.100)"),
                ("tcUrl", "rtmp://127.0.0.1:19351/live"),
            ],
        )
        self.assertEqual(encode_values(*values), FFMPEG_PUBLISH_CONNECT)

    def test_ffmpeg_play_connect(self) -> None:
        """ffmpeg's playing connect decodes with its booleans and codec numbers."""
        name, tid, command = decode_all(FFMPEG_PLAY_CONNECT)
        assert isinstance(command, Amf0Object)
        self.assertEqual(command["flashVer"], "LNX 9,0,124,2")
        self.assertIs(command["fpad"], False)
        self.assertEqual(command["capabilities"], 15.0)
        self.assertEqual(command["audioCodecs"], 4071.0)
        self.assertEqual(command["videoCodecs"], 252.0)
        self.assertEqual(list(command)[-1], "videoFunction")
        self.assertEqual(encode_values(name, tid, command), FFMPEG_PLAY_CONNECT)

    def test_ffmpeg_set_data_frame(self) -> None:
        """ffmpeg's @setDataFrame carries onMetaData in a counted ECMA array."""
        name, event, metadata = decode_all(FFMPEG_SET_DATA_FRAME)
        self.assertEqual((name, event), ("@setDataFrame", "onMetaData"))
        assert isinstance(metadata, EcmaArray)
        self.assertEqual(metadata.declared_count, 13)
        self.assertEqual(len(metadata), 13)
        self.assertEqual(metadata["width"], 320.0)
        self.assertEqual(metadata["videocodecid"], 7.0)
        self.assertEqual(metadata["audiocodecid"], 10.0)
        self.assertIs(metadata["stereo"], False)
        self.assertEqual(metadata["encoder"], "Lavf59.27.100")
        self.assertEqual(
            encode_values(name, event, metadata), FFMPEG_SET_DATA_FRAME
        )

    def test_ffmpeg_play(self) -> None:
        """ffmpeg's play command carries a null command object and start -2000."""
        self.assertEqual(
            decode_all(FFMPEG_PLAY), ["play", 4.0, None, "livestream", -2000.0]
        )

    def test_srs_on_bw_done(self) -> None:
        """The onBWDone payload matches the bytes of SRS's ``SrsOnBWDonePacket``."""
        self.assertEqual(
            encode_values("onBWDone", 0, None),
            _hex("02 0008") + b"onBWDone" + _hex("00 0000000000000000 05"),
        )

    def test_create_stream_result(self) -> None:
        """A createStream _result carries stream id 1 as a double."""
        self.assertEqual(
            encode_values("_result", 4.0, None, 1),
            _hex("02 0007") + b"_result"
            + _hex("00 4010000000000000 05 00 3ff0000000000000"),
        )

    def test_each_truncation_of_a_command(self) -> None:
        """Cutting a command anywhere but between values raises Amf0Error."""
        for payload in (FFMPEG_PLAY_CONNECT, FFMPEG_SET_DATA_FRAME, FFMPEG_PLAY):
            values = decode_all(payload)
            boundaries = {}
            offset = 0
            for index in range(len(values)):
                boundaries[offset] = index
                offset = decode(payload, offset)[1]
            for cut in range(len(payload)):
                if cut in boundaries:
                    prefix = decode_all(payload[:cut])
                    self.assertEqual(len(prefix), boundaries[cut])
                else:
                    self.assertRaises(Amf0Error, decode_all, payload[:cut])


class SrsQuirkTests(SynchronousTestCase):
    """
    Where SRS's decoder (``srs_rtmp_amf0.cpp``) has a quirk, which we follow and
    which we deliberately do not.
    """

    def test_object_end_inside_strict_array(self) -> None:
        """00 00 09 where an array element is due decodes as OBJECT_END."""
        self.assertEqual(
            decode(_hex("0a 00000002 000009 05")), ([OBJECT_END, None], 9)
        )

    def test_object_end_as_property_value(self) -> None:
        """00 00 09 right after a property name is that property's value."""
        value, offset = decode(_hex("03 0001 78 000009 000009"))
        self.assertEqual(value, {"x": OBJECT_END})
        self.assertEqual(offset, 10)

    def test_stray_object_end_after_command(self) -> None:
        """A stray terminator after a command's values decodes rather than fails."""
        self.assertEqual(
            decode_all(FFMPEG_PLAY + _hex("000009"))[-1], OBJECT_END
        )

    def test_number_colliding_with_object_end(self) -> None:
        """A double whose bytes start 00 09 reads as OBJECT_END, as in SRS."""
        tiny = _F64.unpack(_hex("0009000000000001"))[0]
        wire = encode(tiny)
        self.assertEqual(wire[:3], _hex("000009"))
        self.assertEqual(decode(wire), (OBJECT_END, 3))

    def test_empty_property_name(self) -> None:
        """An empty name followed by a value is a property, not the end."""
        self.assertEqual(decode(_hex("03 0000 05 000009")), ({"": None}, 7))

    def test_duplicate_property_moves_to_end(self) -> None:
        """A repeated name keeps the later value, placed last."""
        wire = (
            _hex("03 0001 61 00 3ff0000000000000")
            + _hex("0001 62 00 4000000000000000")
            + _hex("0001 61 00 4008000000000000 000009")
        )
        value, _ = decode(wire)
        assert isinstance(value, Amf0Object)
        self.assertEqual(list(value.items()), [("b", 2.0), ("a", 3.0)])

    def test_ecma_count_not_trusted(self) -> None:
        """An ECMA array is read to its terminator whatever its count says."""
        for count in (0, 1, 100, 0xFFFFFFFF):
            wire = _hex("08") + struct.pack(">I", count) + _hex(
                "0001 61 05 0001 62 06 000009"
            )
            value, offset = decode(wire)
            self.assertEqual(offset, len(wire))
            self.assertEqual(value, {"a": None, "b": UNDEFINED})

    def test_ecma_count_kept_on_reencode(self) -> None:
        """A decoded ECMA array re-encodes with the count it was read with."""
        wire = _hex("08 00000064 0001 61 05 000009")
        value, _ = decode(wire)
        assert isinstance(value, EcmaArray)
        self.assertEqual(value.declared_count, 100)
        self.assertEqual(encode(value), wire)

    def test_ecma_count_zero_on_encode(self) -> None:
        """A new ECMA array is written with count 0, as SRS writes it."""
        array = EcmaArray({"version": "3,5,3,888", "srs_sig": "SRS"})
        self.assertEqual(encode(array)[:5], _hex("08 00000000"))
        array.declared_count = 2
        self.assertEqual(encode(array)[:5], _hex("08 00000002"))

    def test_long_string_length_not_signed(self) -> None:
        """Strings of 32768+ bytes decode whole; SRS's signed length empties them."""
        text = "x" * 40000
        wire = encode_values(text, 1)
        self.assertEqual(wire[:3], _hex("02 9c40"))
        self.assertEqual(decode_all(wire), [text, 1.0])

    def test_long_string_accepted(self) -> None:
        """Long strings decode although SRS 2.0 rejects them."""
        self.assertEqual(
            decode_all(_hex("0c 00000002 6869 05")), ["hi", None]
        )

    def test_invalid_utf8_kept(self) -> None:
        """Bytes that are not UTF-8 decode without error and encode back unchanged."""
        wire = _hex("02 0004 ff fe 61 c3")
        value, _ = decode(wire)
        assert isinstance(value, str)
        self.assertEqual(value[2], "a")
        self.assertEqual(encode(value), wire)
        name_wire = _hex("03 0002 c328 05 000009")
        self.assertEqual(encode(decode(name_wire)[0]), name_wire)

    def test_missing_terminator_raises(self) -> None:
        """A container cut at a property boundary raises; SRS accepts it."""
        self.assertRaises(Amf0Error, decode, _hex("03 0001 61 05"))
        self.assertRaises(Amf0Error, decode, _hex("08 00000001 0001 61 05"))

    def test_partial_terminator_raises(self) -> None:
        """A container ending in 00 or 00 00 raises."""
        self.assertRaises(Amf0Error, decode, _hex("03 00"))
        self.assertRaises(Amf0Error, decode, _hex("03 0000"))

    def test_strict_array_reads_exactly_count(self) -> None:
        """A strict array reads count values and leaves the rest alone."""
        self.assertEqual(decode(_hex("0a 00000001 05 06")), ([None], 6))

    def test_strict_array_short_raises(self) -> None:
        """A strict array with fewer values than its count raises; SRS stops quietly."""
        self.assertRaises(Amf0Error, decode, _hex("0a 00000003 05 05"))


class SrsChecklistTests(SynchronousTestCase):
    """
    The AMF0 items of SRS's ``ProtocolAMF0Test`` (``srs_utest_amf0.cpp``).
    """

    def test_srs_scenario_main(self) -> None:
        """A connect-_result-like props and info with a nested ECMA array round-trip."""
        props = Amf0Object()
        props["fmsVer"] = "FMS/3,5,3,888"
        props["capabilities"] = 253.0
        props["mode"] = 123.0
        data = EcmaArray()
        data["version"] = "FMS/3,5,3,888"
        data["srs_sig"] = "srs"
        info = Amf0Object()
        info["level"] = "info"
        info["code"] = "NetStream.Connnect.Success"
        info["descrption"] = "connected"
        info["objectEncoding"] = 3.0
        info["data"] = data
        wire = encode_values(props, info)
        self.assertEqual(wire[0], 0x03)
        self.assertEqual(wire[-1], 0x09)
        props_size = 1 + (2 + 6 + 3 + 13) + (2 + 12 + 9) + (2 + 4 + 9) + 3
        self.assertEqual(decode(wire)[1], props_size)
        decoded_props, decoded_info = decode_all(wire)
        assert isinstance(decoded_props, Amf0Object)
        assert isinstance(decoded_info, Amf0Object)
        self.assertEqual(decoded_props["fmsVer"], "FMS/3,5,3,888")
        self.assertEqual(decoded_info["level"], "info")
        decoded_data = decoded_info["data"]
        self.assertIsInstance(decoded_data, EcmaArray)
        assert isinstance(decoded_data, EcmaArray)
        self.assertEqual(decoded_data["srs_sig"], "srs")
        self.assertEqual(
            _canonical([decoded_props, decoded_info]), _canonical([props, info])
        )

    def test_srs_api_size(self) -> None:
        """Encoded sizes match SRS's SrsAmf0Size for scalars and containers."""

        def utf8(s: str) -> int:
            return 2 + len(s)

        self.assertEqual(len(encode("winlin")), 1 + utf8("winlin"))
        self.assertEqual(len(encode("")), 1 + utf8(""))
        self.assertEqual(len(encode(0.0)), 1 + 8)
        self.assertEqual(len(encode(None)), 1)
        self.assertEqual(len(encode(UNDEFINED)), 1)
        self.assertEqual(len(encode(True)), 1 + 1)
        self.assertEqual(len(encode(OBJECT_END)), 3)
        self.assertEqual(len(encode(Amf0Date(0.0))), 1 + 8 + 2)
        for container, empty in ((Amf0Object, 1 + 3), (EcmaArray, 1 + 4 + 3)):
            self.assertEqual(len(encode(container())), empty)
            scalars: list[tuple[str, Amf0Value, int]] = [
                ("name", "winlin", 1 + utf8("winlin")),
                ("age", 9.0, 9),
                ("email", None, 1),
                ("email", UNDEFINED, 1),
                ("sex", True, 2),
            ]
            for name, item, item_size in scalars:
                self.assertEqual(
                    len(encode(container({name: item}))),
                    empty + utf8(name) + item_size,
                )
        args = EcmaArray({"p0": "function"})
        params = Amf0Object({"p1": 10.0})
        outer = Amf0Object({"name": "winlin", "args": args, "params": params})
        self.assertEqual(
            len(encode(outer)),
            4
            + utf8("name") + len(encode("winlin"))
            + utf8("args") + len(encode(args))
            + utf8("params") + len(encode(params)),
        )

    def test_srs_api_any_elem(self) -> None:
        """Each scalar decodes to its Python type with its value."""
        cases: list[tuple[Amf0Value, type]] = [
            ("", str),
            ("winlin", str),
            (False, bool),
            (True, bool),
            (0.0, float),
            (100.0, float),
            (-100.0, float),
            (None, type(None)),
            (UNDEFINED, type(UNDEFINED)),
        ]
        for value, kind in cases:
            decoded, _ = decode(encode(value))
            self.assertIs(type(decoded), kind)
            self.assertEqual(decoded, value)

    def test_srs_api_any_io(self) -> None:
        """Object end is exactly 00 00 09; values read back in sequence, mutations included."""
        self.assertEqual(decode(_hex("000009")), (OBJECT_END, 3))
        self.assertEqual(encode(OBJECT_END), _hex("000009"))
        # 00 01 09 is the start of a Number, not an object end.
        self.assertRaises(Amf0Error, decode, _hex("000109"))
        wire = bytearray(encode("winlin"))
        self.assertEqual(wire[:3], _hex("02 0006"))
        wire[3] = ord("x")
        self.assertEqual(decode(wire), ("xinlin", 9))
        mixed = encode_values("winlin", 10, True, None, UNDEFINED)
        self.assertEqual(
            decode_all(mixed), ["winlin", 10.0, True, None, UNDEFINED]
        )

    def test_srs_api_any_type_assert(self) -> None:
        """Marker 0x12 raises; decoded containers have their own types and sizes."""
        self.assertRaises(Amf0Error, decode, _hex("12") + b"\x00" * 16)
        cases: list[tuple[Amf0Value, type, int]] = [
            (Amf0Object(), Amf0Object, 4),
            (EcmaArray(), EcmaArray, 8),
            ([], list, 5),
        ]
        for value, kind, size in cases:
            wire = encode(value)
            self.assertEqual(len(wire), size)
            self.assertIs(type(decode(wire)[0]), kind)

    def test_srs_api_object_props(self) -> None:
        """Object properties keep insertion order on the wire and setting twice keeps one."""
        obj = Amf0Object()
        obj["name"] = "winlin"
        obj["age"] = 100.0
        obj["name"] = "winlin"
        self.assertEqual(len(obj), 2)
        decoded, _ = decode(encode(obj))
        assert isinstance(decoded, Amf0Object)
        self.assertEqual(list(decoded.items()), [("name", "winlin"), ("age", 100.0)])
        self.assertIsInstance(decoded["name"], str)
        self.assertIsInstance(decoded["age"], float)

    def test_srs_api_ecma_array_props(self) -> None:
        """ECMA array properties keep insertion order and their values' types."""
        array = EcmaArray()
        array["name"] = "winlin"
        array["age"] = 100.0
        array["name"] = "winlin"
        self.assertEqual(len(array), 2)
        decoded, _ = decode(encode(array))
        assert isinstance(decoded, EcmaArray)
        self.assertEqual(list(decoded.items()), [("name", "winlin"), ("age", 100.0)])

    def test_srs_api_strict_array(self) -> None:
        """A strict array writes 0A and its count, then its values in order."""
        self.assertEqual(encode([]), _hex("0a 00000000"))
        self.assertEqual(len(encode([0.0])), 5 + 9)
        self.assertEqual(
            decode(encode([100.0, 101.0, "winlin"]))[0], [100.0, 101.0, "winlin"]
        )

    def test_srs_object_object_object(self) -> None:
        """Objects nested three deep round-trip byte for byte."""
        value = Amf0Object(child1=Amf0Object(child2=Amf0Object(child3=Amf0Object())))
        wire = (
            _hex("03 0006") + b"child1" + _hex("03 0006") + b"child2"
            + _hex("03 0006") + b"child3" + _hex("03 000009 000009 000009 000009")
        )
        self.assertEqual(encode(value), wire)
        self.assertEqual(_canonical(decode(wire)[0]), _canonical(value))

    def test_srs_ecma_ecma_ecma(self) -> None:
        """ECMA arrays nested three deep round-trip byte for byte."""
        value = EcmaArray(
            {"child1": EcmaArray({"child2": EcmaArray({"child3": EcmaArray()})})}
        )
        head = _hex("08 00000000 0006")
        wire = (
            head + b"child1" + head + b"child2" + head + b"child3"
            + _hex("08 00000000 000009 000009 000009 000009")
        )
        self.assertEqual(encode(value), wire)
        self.assertEqual(_canonical(decode(wire)[0]), _canonical(value))

    def test_srs_strict_strict_strict(self) -> None:
        """Strict arrays nested three deep round-trip byte for byte."""
        value: Amf0Value = [[[[]]]]
        wire = _hex("0a 00000001 0a 00000001 0a 00000001 0a 00000000")
        self.assertEqual(encode(value), wire)
        self.assertEqual(decode(wire), (value, len(wire)))

    def test_srs_object_ecma_strict(self) -> None:
        """An Object holding an ECMA array holding a strict array of an ECMA array round-trips."""
        inner: list[Amf0Value] = [EcmaArray()]
        value = Amf0Object(child1=EcmaArray({"child2": inner}))
        wire = (
            _hex("03 0006") + b"child1" + _hex("08 00000000 0006") + b"child2"
            + _hex("0a 00000001 08 00000000 000009 000009 000009")
        )
        self.assertEqual(encode(value), wire)
        decoded, _ = decode(wire)
        self.assertEqual(_canonical(decoded), _canonical(value))


class ApiTests(SynchronousTestCase):
    """
    Offsets, empty input, encoder refusals and the container helpers.
    """

    def test_decode_at_offset(self) -> None:
        """decode starts at the offset and returns the offset after the value."""
        wire = encode_values("a", 2.0, None)
        self.assertEqual(decode(wire, 4), (2.0, 13))
        self.assertEqual(decode(wire, 13), (None, 14))

    def test_decode_accepts_buffers(self) -> None:
        """bytearray and memoryview inputs decode like bytes."""
        wire = encode_values("a", [1.0])
        for data in (bytearray(wire), memoryview(wire), memoryview(wire)[0:]):
            self.assertEqual(decode_all(data), ["a", [1.0]])

    def test_decode_bad_offset(self) -> None:
        """An offset outside the data, or at its end, raises Amf0Error."""
        self.assertRaises(Amf0Error, decode, b"\x05", -1)
        self.assertRaises(Amf0Error, decode, b"\x05", 2)
        self.assertRaises(Amf0Error, decode, b"\x05", 1)
        self.assertRaises(Amf0Error, decode, b"")

    def test_decode_all_empty(self) -> None:
        """decode_all of no bytes is no values."""
        self.assertEqual(decode_all(b""), [])

    def test_encode_values_empty(self) -> None:
        """encode_values of nothing is no bytes."""
        self.assertEqual(encode_values(), b"")

    def test_encode_refuses_unknown_types(self) -> None:
        """Types with no AMF0 form raise Amf0Error."""
        for value in (b"bytes", {1, 2}, object(), 1j, [b"nested"]):
            self.assertRaises(Amf0Error, encode, value)

    def test_encode_refuses_bad_names(self) -> None:
        """Non-str names and names over 65535 bytes raise Amf0Error."""
        self.assertRaises(Amf0Error, encode, {1: None})
        self.assertRaises(Amf0Error, encode, {"n" * 0x10000: None})
        self.assertEqual(len(encode({"n" * 0xFFFF: None})), 1 + 2 + 0xFFFF + 1 + 3)

    def test_encode_refuses_unrepresentable_numbers(self) -> None:
        """Ints beyond double range and out-of-range time zones raise Amf0Error."""
        self.assertRaises(Amf0Error, encode, 10**400)
        self.assertRaises(Amf0Error, encode, Amf0Date(0.0, 0x8000))
        self.assertRaises(Amf0Error, encode, EcmaArray(declared_count=-1))

    def test_encode_refuses_lone_surrogates(self) -> None:
        """A str that is not valid Unicode text for UTF-8 raises Amf0Error."""
        self.assertRaises(Amf0Error, encode, "\ud800")

    def test_encode_refuses_cycles(self) -> None:
        """A list that contains itself raises Amf0Error, not RecursionError."""
        cycle: list[object] = []
        cycle.append(cycle)
        self.assertRaises(Amf0Error, encode, cycle)
        loop = Amf0Object()
        loop["self"] = loop
        self.assertRaises(Amf0Error, encode, loop)

    def test_container_copies_keep_type(self) -> None:
        """copy() keeps the container type and the ECMA count."""
        obj = Amf0Object(a=1.0)
        self.assertIs(type(obj.copy()), Amf0Object)
        array = EcmaArray({"a": 1.0}, declared_count=7)
        copied = array.copy()
        self.assertIs(type(copied), EcmaArray)
        self.assertEqual(copied.declared_count, 7)
        self.assertEqual(copied, {"a": 1.0})

    def test_reprs(self) -> None:
        """Reprs name the AMF0 type so test failures are readable."""
        self.assertEqual(repr(Amf0Object(a=None)), "Amf0Object({'a': None})")
        self.assertEqual(
            repr(EcmaArray({"a": None}, declared_count=1)),
            "EcmaArray({'a': None}, declared_count=1)",
        )
        self.assertEqual(repr(EcmaArray()), "EcmaArray({})")
        self.assertEqual(repr([UNDEFINED, OBJECT_END]), "[UNDEFINED, OBJECT_END]")

    def test_amf0_error_is_value_error(self) -> None:
        """Amf0Error is a ValueError, so generic handlers catch it."""
        self.assertTrue(issubclass(Amf0Error, ValueError))


class PropertyTests(SynchronousTestCase):
    """
    Round trips over every value type.
    """

    @given(_values)
    def test_round_trip(self, value: Amf0Value) -> None:
        """decode(encode(x)) gives back x with the same types, order and float bits."""
        wire = encode(value)
        decoded, offset = decode(wire)
        self.assertEqual(offset, len(wire))
        self.assertEqual(_canonical(decoded), _canonical(value))
        self.assertEqual(encode(decoded), wire)

    @given(st.lists(_values, max_size=5))
    def test_round_trip_values(self, values: list[Amf0Value]) -> None:
        """decode_all(encode_values(*xs)) gives back xs."""
        decoded = decode_all(encode_values(*values))
        self.assertEqual(_canonical(decoded), _canonical(values))

    @given(st.floats())
    def test_numbers_round_trip(self, number: float) -> None:
        """Every double except the 00 09 prefix collision, NaN included, round-trips."""
        decoded, _ = decode(encode(number))
        if _number_safe(number):
            self.assertEqual(_F64.pack(decoded), _F64.pack(number))  # type: ignore[arg-type]
        else:
            self.assertIs(decoded, OBJECT_END)

    @given(st.text())
    def test_text_round_trip(self, text: str) -> None:
        """Any text, short or long, round-trips through a String."""
        self.assertEqual(decode(encode(text))[0], text)

    @given(st.binary(max_size=64))
    def test_string_bytes_round_trip(self, raw: bytes) -> None:
        """Any bytes inside a String, valid UTF-8 or not, encode back unchanged."""
        wire = struct.pack(">BH", 0x02, len(raw)) + raw
        self.assertEqual(encode(decode(wire)[0]), wire)


class HostileInputTests(SynchronousTestCase):
    """
    Input from a peer never raises anything but Amf0Error and never makes
    the decoder allocate or loop beyond the size of the input.
    """

    def assertOnlyAmf0Error(self, data: bytes) -> None:
        try:
            decode_all(data)
        except Amf0Error:
            pass

    @given(st.binary(max_size=256))
    def test_random_bytes(self, data: bytes) -> None:
        """Random bytes decode or raise Amf0Error, nothing else."""
        self.assertOnlyAmf0Error(data)

    @given(
        st.lists(
            st.sampled_from(
                [b"\x00", b"\x01", b"\x02", b"\x03", b"\x05", b"\x06", b"\x08",
                 b"\x09", b"\x0a", b"\x0b", b"\x0c", b"\x00\x00\x09", b"\xff"]
            )
            | st.binary(max_size=4),
            max_size=64,
        )
    )
    def test_marker_soup(self, pieces: list[bytes]) -> None:
        """Byte strings dense in valid markers decode or raise Amf0Error."""
        self.assertOnlyAmf0Error(b"".join(pieces))

    @given(_values, st.data())
    def test_corrupted_encodings(self, value: Amf0Value, data: st.DataObject) -> None:
        """A valid encoding with bytes overwritten decodes or raises Amf0Error."""
        wire = bytearray(encode(value))
        for _ in range(data.draw(st.integers(1, 4))):
            index = data.draw(st.integers(0, len(wire) - 1))
            wire[index] = data.draw(st.integers(0, 255))
        self.assertOnlyAmf0Error(bytes(wire))

    @given(_values)
    def test_every_truncation_raises(self, value: Amf0Value) -> None:
        """Every proper prefix of one value's encoding raises Amf0Error."""
        wire = encode(value)
        for cut in range(len(wire)):
            self.assertRaises(Amf0Error, decode, wire[:cut])

    def test_nesting_limit(self) -> None:
        """MAX_DEPTH nested containers decode; one more raises Amf0Error."""
        for opener in (_hex("0a 00000001"), _hex("03 0001 61"), _hex("08 00000000 0001 61")):
            closer = b"" if opener[0] == 0x0A else _hex("000009")
            fits = opener * MAX_DEPTH + _hex("05") + closer * MAX_DEPTH
            decode(fits)
            deeper = opener * (MAX_DEPTH + 1) + _hex("05") + closer * (MAX_DEPTH + 1)
            self.assertRaises(Amf0Error, decode, deeper)

    def test_very_deep_nesting(self) -> None:
        """Nesting far past Python's recursion limit raises Amf0Error."""
        self.assertRaises(Amf0Error, decode, _hex("0a 00000001") * 100000)
        self.assertRaises(Amf0Error, decode, _hex("03 0000") * 100000)

    def test_encode_nesting_limit(self) -> None:
        """Encoding more than MAX_DEPTH nested containers raises Amf0Error."""
        value: Amf0Value = None
        for _ in range(MAX_DEPTH):
            value = [value]
        encode(value)
        self.assertRaises(Amf0Error, encode, [value])

    def test_huge_string_length(self) -> None:
        """A String or Long string longer than the data raises Amf0Error."""
        self.assertRaises(Amf0Error, decode, _hex("02 ffff") + b"a" * 100)
        self.assertRaises(Amf0Error, decode, _hex("0c ffffffff") + b"a" * 100)
        self.assertRaises(Amf0Error, decode, _hex("03 ffff") + b"a" * 100)

    def test_huge_strict_array_count(self) -> None:
        """A strict array count beyond the remaining bytes raises before reading values."""
        self.assertRaises(Amf0Error, decode, _hex("0a ffffffff") + b"\x05" * 1000)
        self.assertRaises(Amf0Error, decode, _hex("0a 00000005 05050505"))

    def test_truncated_scalars(self) -> None:
        """Numbers, Booleans, Dates and counts cut short raise Amf0Error."""
        for wire in (
            _hex("00 40240000"),
            _hex("01"),
            _hex("0b 0000000000000000 00"),
            _hex("02 00"),
            _hex("08 000000"),
            _hex("0a 00"),
            _hex("0c 000000"),
        ):
            self.assertRaises(Amf0Error, decode, wire)
