"""
Tests for `srstwist.media.metadata`: SRS's ``onMetaData`` rewrite.

Real data: ffmpeg's ``@setDataFrame`` payload from the captured publish
session, and the bare ``onMetaData`` script tag of an FLV file ffmpeg
wrote.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.amf0 import Amf0Object, EcmaArray, decode_all, encode_values
from srstwist.codec.flv import TagType
from srstwist.media.metadata import (
    MetadataError,
    decode_metadata,
    is_metadata,
    rewrite_metadata,
    wants_atc,
)
from tests.test_codec_flv import ffmpeg_flv, read_tags, session_messages

#: What SRS 2.0.276 adds (``SrsSource::on_meta_data``).
SRS_INFO = {
    "server": "SRS/2.0.276(ZhouGuowen)",
    "srs_primary": "SRS/2.0release",
    "srs_authors": "winlin,wenjie.zhao",
    "server_version": "2.0.276",
}

_FFMPEG_KEYS = [
    "width",
    "height",
    "videodatarate",
    "framerate",
    "videocodecid",
    "audiodatarate",
    "audiosamplerate",
    "audiosamplesize",
    "stereo",
    "audiocodecid",
    "encoder",
    "filesize",
]


def captured_metadata() -> bytes:
    """
    The ``@setDataFrame`` data message ffmpeg sent in the captured session.
    """
    (message,) = session_messages(TagType.SCRIPT)
    return message.payload


class RewriteTests(SynchronousTestCase):
    """
    `rewrite_metadata` produces what SRS caches and sends to players.
    """

    def test_ffmpeg_set_data_frame(self) -> None:
        """
        ffmpeg's ``@setDataFrame`` + ECMA array becomes ``onMetaData`` + an
        Object: ``duration`` gone, ffmpeg's other fields kept in order, the
        server fields appended in the order given.
        """
        payload = captured_metadata()
        self.assertEqual(decode_all(payload)[:2], ["@setDataFrame", "onMetaData"])
        encoded, metadata = rewrite_metadata(payload, SRS_INFO)
        self.assertIs(type(metadata), Amf0Object)
        self.assertEqual(list(metadata), [*_FFMPEG_KEYS, *SRS_INFO])
        self.assertEqual(metadata["width"], 640.0)
        self.assertEqual(metadata["audiosamplerate"], 44100.0)
        self.assertEqual(metadata["server"], "SRS/2.0.276(ZhouGuowen)")
        self.assertNotIn("duration", metadata)
        # Name, then an AMF0 Object (marker 03) ending in 00 00 09.
        self.assertEqual(encoded[:13], b"\x02\x00\x0aonMetaData")
        self.assertEqual(encoded[13], 0x03)
        self.assertTrue(encoded.endswith(b"\x00\x00\x09"))
        self.assertEqual(encoded, encode_values("onMetaData", metadata))
        name, value = decode_all(encoded)
        self.assertEqual(name, "onMetaData")
        assert isinstance(value, Amf0Object)
        self.assertEqual(list(value), list(metadata))

    def test_ffmpeg_file_script_tag(self) -> None:
        """
        The bare ``onMetaData`` script tag of an ffmpeg FLV file is rewritten
        the same way.
        """
        tag = read_tags(ffmpeg_flv("high720"))[0]
        self.assertTrue(is_metadata(tag.payload))
        encoded, metadata = rewrite_metadata(tag.payload, SRS_INFO)
        self.assertNotIn("duration", metadata)
        self.assertEqual((metadata["width"], metadata["height"]), (1280.0, 720.0))
        self.assertEqual(list(metadata)[-4:], list(SRS_INFO))
        self.assertEqual(decode_all(encoded), ["onMetaData", metadata])

    def test_decode_keeps_original(self) -> None:
        """
        `decode_metadata` gives the publisher's object, duration included,
        as DVR wants it.
        """
        name, metadata = decode_metadata(captured_metadata())
        self.assertEqual(name, "onMetaData")
        self.assertEqual(list(metadata), ["duration", *_FFMPEG_KEYS])
        self.assertIs(type(metadata), Amf0Object)

    def test_object_value(self) -> None:
        """
        An Object value (Flash's form) is kept as an Object.
        """
        payload = encode_values("onMetaData", Amf0Object(a=1.0, duration=3.0))
        self.assertEqual(rewrite_metadata(payload, {"s": "x"})[1], {"a": 1.0, "s": "x"})

    def test_other_values_give_empty_object(self) -> None:
        """
        A value that is neither Object nor ECMA array gives an empty Object,
        to which the server fields are added.
        """
        for value in ("text", 1.0, None, [1.0]):
            payload = encode_values("@setDataFrame", "onMetaData", value)
            encoded, metadata = rewrite_metadata(payload, SRS_INFO)
            self.assertEqual(metadata, SRS_INFO)
            self.assertEqual(decode_all(encoded), ["onMetaData", SRS_INFO])

    def test_existing_server_field_moves_to_end(self) -> None:
        """
        A field the publisher already set is replaced and moved to the end.
        """
        payload = encode_values("onMetaData", EcmaArray({"server": "evil", "width": 2.0}))
        metadata = rewrite_metadata(payload, SRS_INFO)[1]
        self.assertEqual(list(metadata), ["width", *SRS_INFO])
        self.assertEqual(metadata["server"], SRS_INFO["server"])

    def test_name_after_set_data_frame_kept(self) -> None:
        """
        After ``@setDataFrame`` the second string is the name, whatever it is,
        as in SRS.
        """
        payload = encode_values("@setDataFrame", "onCustom", EcmaArray({"a": 1.0}))
        self.assertEqual(decode_all(rewrite_metadata(payload, {})[0])[0], "onCustom")

    def test_trailing_values_ignored(self) -> None:
        """
        Values after the metadata value are ignored.
        """
        payload = encode_values("onMetaData", EcmaArray({"a": 1.0}), "extra", 2.0)
        self.assertEqual(decode_all(rewrite_metadata(payload, {})[0]), ["onMetaData", {"a": 1.0}])

    def test_errors(self) -> None:
        """
        Non-metadata, a missing value, a non-string name after
        ``@setDataFrame`` and undecodable AMF0 raise `MetadataError`.
        """
        bad = [
            b"",
            encode_values("onTextData", Amf0Object()),
            encode_values("onMetaData"),
            encode_values("@setDataFrame"),
            encode_values("@setDataFrame", 1.0, Amf0Object()),
            encode_values("onMetaData") + b"\x0d",
            encode_values("onMetaData") + b"\x03\x00\x01a",
        ]
        for payload in bad:
            self.assertRaises(MetadataError, rewrite_metadata, payload, SRS_INFO)
            self.assertRaises(MetadataError, decode_metadata, payload)

    @given(st.sampled_from([b"", b"\x02\x00\x0aonMetaData"]), st.binary(max_size=60))
    def test_random_bytes(self, prefix: bytes, data: bytes) -> None:
        """
        Arbitrary bytes, bare or after the ``onMetaData`` name, are rewritten
        or raise `MetadataError`, nothing else.
        """
        payload = b"\x02\x00\x0d@setDataFrame" + prefix + data
        try:
            rewrite_metadata(payload, SRS_INFO)
        except MetadataError:
            pass

    @given(
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(st.floats(allow_nan=False), st.text(max_size=8), st.booleans()),
            max_size=10,
        )
    )
    def test_properties_kept(self, properties: dict[str, float | str | bool]) -> None:
        """
        Every property but ``duration`` survives, in order, before the server
        fields, and the payload decodes to the returned object.
        """
        payload = encode_values("@setDataFrame", "onMetaData", EcmaArray(properties))
        encoded, metadata = rewrite_metadata(payload, SRS_INFO)
        kept = [k for k in properties if k != "duration" and k not in SRS_INFO]
        self.assertEqual(list(metadata), [*kept, *SRS_INFO])
        self.assertEqual(decode_all(encoded), ["onMetaData", metadata])


class PredicateTests(SynchronousTestCase):
    """
    `is_metadata` and `wants_atc`.
    """

    def test_is_metadata(self) -> None:
        """
        Only data messages named ``@setDataFrame`` or ``onMetaData`` are
        metadata.
        """
        self.assertTrue(is_metadata(captured_metadata()))
        self.assertTrue(is_metadata(encode_values("onMetaData", Amf0Object())))
        for payload in (
            encode_values("onTextData", "x"),
            encode_values("|RtmpSampleAccess", False, False),
            encode_values("onMetaDataX"),
            b"\x02\x00\x0aonMeta",
            b"",
        ):
            self.assertFalse(is_metadata(payload), payload)

    def test_wants_atc(self) -> None:
        """
        ATC is wanted only when ``bravo_atc`` is the string ``"true"``.
        """
        self.assertTrue(wants_atc(Amf0Object(bravo_atc="true")))
        for value in ("True", "false", True, 1.0, ""):
            self.assertFalse(wants_atc(Amf0Object(bravo_atc=value)), value)
        self.assertFalse(wants_atc(Amf0Object()))
        payload = encode_values("onMetaData", EcmaArray({"bravo_atc": "true"}))
        self.assertTrue(wants_atc(rewrite_metadata(payload, SRS_INFO)[1]))
