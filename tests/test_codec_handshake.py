"""
Tests for :mod:`srstwist.codec.handshake`.

The byte vectors come from SRS 2.0's unit tests and from real clients
(FFmpeg's native RTMP and librtmp's rtmpdump) talking to our
``ServerHandshake``; ``tests/data/handshake/README.md`` says how each file was
made.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec import handshake
from srstwist.codec.handshake import (
    C1_SIZE,
    CLIENT_VERSION,
    FMS_KEY,
    FP_KEY,
    SCHEMA_DIGEST_KEY,
    SCHEMA_KEY_DIGEST,
    SERVER_VERSION,
    SRS_HANDSHAKE_TEXT,
    ClientHandshake,
    HandshakeDone,
    HandshakeError,
    RandomBytes,
    ServerHandshake,
    c1_digest_valid,
    c1s1_digest,
    c2_digest_valid,
    c2s2_digest,
    digest_position,
    key_position,
    make_c1,
    make_c1s1,
    make_c2,
    make_s1,
    make_s2,
    make_simple_s1,
    s1_digest_valid,
    s2_digest_valid,
)

DATA = Path(__file__).parent / "data" / "handshake"
EPOCH = 0x5F5E1000
FMS_S1_VERSION = bytes.fromhex("04050001")
CONNECT = b"\x02\x00\x07connect"


def _data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _source(seed: int = 0) -> RandomBytes:
    """A deterministic stand-in for os.urandom."""
    return random.Random(seed).randbytes


def _digest_of(c1s1: bytes, schema: int) -> bytes:
    at = digest_position(c1s1, schema)
    return c1s1[at : at + 32]


def _feed(
    codec: ServerHandshake | ClientHandshake, pieces: list[bytes]
) -> tuple[list[HandshakeDone], bytes, bytes]:
    """
    Feed ``pieces`` to ``codec`` the way a protocol would: once the codec
    reports HandshakeDone, later bytes belong to the chunk stream.

    :return: (the HandshakeDone events, everything sent by the codec, the
        chunk-stream bytes that followed the handshake)
    """
    events: list[HandshakeDone] = []
    sent = codec.data_to_send()
    after = b""
    for piece in pieces:
        if events:
            after += piece
            continue
        events += codec.receive_data(piece)
        sent += codec.data_to_send()
        if events:
            after += events[0].leftover
    return events, sent, after


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given positions (clamped, sorted, may repeat)."""
    points = sorted(min(cut, len(data)) for cut in cuts)
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _one_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


Splitter = Callable[[bytes], list[bytes]]


class SrsVectorTests(SynchronousTestCase):
    """
    SRS 2.0's recorded handshake vectors (``ProtocolHandshakeTest`` in
    ``trunk/src/utest/srs_utest_protocol.cpp``).
    """

    def test_hmacSha256(self) -> None:
        """HMAC-SHA256 under the 30-byte FP key gives SRS's recorded digest."""
        digest = hmac.new(
            FP_KEY[:30], _data("srs-utest-sha256-input.bin"), hashlib.sha256
        ).digest()
        self.assertEqual(
            digest.hex(),
            "1bc7e614d5198d99420a2195269a8a56b4822a7fd31dc3d89297c461b74d5dd2",
        )

    def test_keys(self) -> None:
        """The FMS and FP keys have the sizes and texts of SRS's ``srs_rtmp_handshake.cpp``."""
        self.assertEqual(len(FMS_KEY), 68)
        self.assertEqual(len(FP_KEY), 62)
        self.assertEqual(FMS_KEY[:36], b"Genuine Adobe Flash Media Server 001")
        self.assertEqual(FP_KEY[:30], b"Genuine Adobe Flash Player 001")
        self.assertEqual(FP_KEY[30:], FMS_KEY[36:])

    def test_flashC1(self) -> None:
        """SRS's recorded Flash Player C1 is signed in schema 0 with the
        recorded time, version, key and digest (``VerifyFPC0C1``)."""
        c0c1 = _data("srs-utest-flash-c0c1.bin")
        c1 = c0c1[1:]
        self.assertEqual(c0c1[0], 3)
        self.assertEqual(c1_digest_valid(c1), SCHEMA_KEY_DIGEST)
        self.assertEqual(c1[:4], bytes.fromhex("000f64d0"))
        self.assertEqual(c1[4:8], CLIENT_VERSION)
        at = key_position(c1, SCHEMA_KEY_DIGEST)
        self.assertEqual(
            c1[at : at + 128].hex(),
            "01c6bae4b8d5bd7b43c9696b40f7dc65a4f7ca1fd8e5ba4cdfe4649e7dbd5413"
            "13c60cb81d310a49e243b6955f056e66f421a865cef88ecc161ebbd80ecbd248"
            "37af4e6745f17969d2eea4b501bf570f6837be4effc9b992230675a042e40a30"
            "f0afb054887cc0c10c6d013663f33dbc72f696c887ab8b0c912f422a11f62d5e",
        )
        self.assertEqual(
            _digest_of(c1, SCHEMA_KEY_DIGEST).hex(),
            "6c969f26ebdc61c48fd32b81866c9cc2b1b5bca6d6d61dce9378b3eca8641913",
        )

    def test_complexVector(self) -> None:
        """In SRS's ``ComplexHandshake`` vector C1, S1, S2 and C2 all
        validate, C1 and S1 in schema 0."""
        c1 = _data("srs-utest-complex-c0c1.bin")[1:]
        s0s1s2 = _data("srs-utest-complex-s0s1s2.bin")
        s1, s2 = s0s1s2[1:1537], s0s1s2[1537:]
        c2 = _data("srs-utest-complex-c2.bin")
        self.assertEqual(c1_digest_valid(c1), SCHEMA_KEY_DIGEST)
        self.assertTrue(s1_digest_valid(s1, SCHEMA_KEY_DIGEST))
        self.assertFalse(s1_digest_valid(s1, SCHEMA_DIGEST_KEY))
        self.assertEqual(s1[4:8], FMS_S1_VERSION)
        self.assertTrue(s2_digest_valid(s2, _digest_of(c1, SCHEMA_KEY_DIGEST)))
        self.assertTrue(c2_digest_valid(c2, _digest_of(s1, SCHEMA_KEY_DIGEST)))

    def test_signingReproducesRecordedS1(self) -> None:
        """Signing the recorded S1 with its digest blanked out rebuilds it
        byte for byte."""
        s1 = _data("srs-utest-complex-s0s1s2.bin")[1:1537]
        at = digest_position(s1, SCHEMA_KEY_DIGEST)
        blank = s1[:at] + bytes(32) + s1[at + 32 :]
        digest = c1s1_digest(blank, SCHEMA_KEY_DIGEST, FMS_KEY[:36])
        self.assertEqual(blank[:at] + digest + blank[at + 32 :], s1)

    def test_c2s2DeriveAsRecorded(self) -> None:
        """The recorded S2 and C2 digests derive from the recorded C1 and S1
        digests with the full FMS and FP keys."""
        c1 = _data("srs-utest-complex-c0c1.bin")[1:]
        s0s1s2 = _data("srs-utest-complex-s0s1s2.bin")
        s1, s2 = s0s1s2[1:1537], s0s1s2[1537:]
        c2 = _data("srs-utest-complex-c2.bin")
        c1_digest = _digest_of(c1, SCHEMA_KEY_DIGEST)
        s1_digest = _digest_of(s1, SCHEMA_KEY_DIGEST)
        self.assertEqual(c2s2_digest(s2[:1504], c1_digest, FMS_KEY), s2[1504:])
        self.assertEqual(c2s2_digest(c2[:1504], s1_digest, FP_KEY), c2[1504:])

    def test_serverAnswersRecordedFlashC1(self) -> None:
        """Our server answers the recorded Flash C0C1 with a schema 0 S1 and
        an S2 that a Flash client would accept, then takes the recorded C2."""
        c0c1 = _data("srs-utest-complex-c0c1.bin")
        server = ServerHandshake(_source(), EPOCH)
        self.assertEqual(server.receive_data(c0c1), [])
        reply = server.data_to_send()
        self.assertEqual(len(reply), 3073)
        s1, s2 = reply[1:1537], reply[1537:]
        self.assertEqual(reply[0], 3)
        self.assertEqual(s1[:8], EPOCH.to_bytes(4, "big") + SERVER_VERSION)
        self.assertTrue(s1_digest_valid(s1, SCHEMA_KEY_DIGEST))
        self.assertTrue(s2_digest_valid(s2, _digest_of(c0c1[1:], SCHEMA_KEY_DIGEST)))
        events = server.receive_data(_data("srs-utest-complex-c2.bin"))
        self.assertEqual(events, [HandshakeDone(b"", SCHEMA_KEY_DIGEST, True)])

    def test_simpleServerRecorded(self) -> None:
        """A server without the complex handshake answers the recorded C0C1
        simple, echoing C1 as S2 and C1's time in S1 (``SimpleHandshake``)."""
        c0c1 = _data("srs-utest-complex-c0c1.bin")
        server = ServerHandshake(_source(), EPOCH, allow_complex=False)
        server.receive_data(c0c1)
        reply = server.data_to_send()
        self.assertEqual(reply[0], 3)
        self.assertEqual(reply[1:5], EPOCH.to_bytes(4, "big"))
        self.assertEqual(reply[5:9], c0c1[1:5])
        self.assertEqual(reply[1537:], c0c1[1:])
        events = server.receive_data(_data("srs-utest-complex-c2.bin"))
        self.assertEqual(events, [HandshakeDone(b"", None, False)])

    def test_simpleClientRecorded(self) -> None:
        """A simple client given the recorded S0S1S2 answers with S1 as C2
        (SRS ``#418``)."""
        s0s1s2 = _data("srs-utest-complex-s0s1s2.bin")
        client = ClientHandshake(_source(), EPOCH, simple=True)
        client.data_to_send()
        events = client.receive_data(s0s1s2)
        self.assertEqual(events, [HandshakeDone(b"", None, False)])
        self.assertEqual(client.data_to_send(), s0s1s2[1:1537])

    def test_complexClientRecordedServer(self) -> None:
        """A schema 1 client accepts the recorded schema 0 FMS S1 through the
        other-schema check and signs C2 with that S1's digest."""
        s0s1s2 = _data("srs-utest-complex-s0s1s2.bin")
        client = ClientHandshake(_source(), EPOCH)
        client.data_to_send()
        events = client.receive_data(s0s1s2)
        self.assertEqual(events, [HandshakeDone(b"", SCHEMA_DIGEST_KEY, True)])
        c2 = client.data_to_send()
        s1_digest = _digest_of(s0s1s2[1:1537], SCHEMA_KEY_DIGEST)
        self.assertTrue(c2_digest_valid(c2, s1_digest))


class LayoutTests(SynchronousTestCase):
    """The pure helpers: positions, signing, S2/C2 layout."""

    def _with_offsets(self, offset: bytes, at: int) -> bytes:
        c1s1 = bytearray(C1_SIZE)
        c1s1[at : at + 4] = offset
        return bytes(c1s1)

    def test_digestPositions(self) -> None:
        """The digest starts 12 + n (schema 1) or 776 + n (schema 0) bytes
        in, with n the offset bytes' sum modulo 728."""
        self.assertEqual(digest_position(bytes(C1_SIZE), SCHEMA_DIGEST_KEY), 12)
        self.assertEqual(digest_position(bytes(C1_SIZE), SCHEMA_KEY_DIGEST), 776)
        full = b"\xff" * 4
        self.assertEqual(
            digest_position(self._with_offsets(full, 8), SCHEMA_DIGEST_KEY),
            12 + 1020 % 728,
        )
        self.assertEqual(
            digest_position(self._with_offsets(full, 772), SCHEMA_KEY_DIGEST),
            776 + 1020 % 728,
        )

    def test_keyPositions(self) -> None:
        """The key starts 772 + n (schema 1) or 8 + n (schema 0) bytes in,
        with n the sum of the key block's last four bytes modulo 632."""
        self.assertEqual(key_position(bytes(C1_SIZE), SCHEMA_DIGEST_KEY), 772)
        self.assertEqual(key_position(bytes(C1_SIZE), SCHEMA_KEY_DIGEST), 8)
        full = b"\xff" * 4
        self.assertEqual(
            key_position(self._with_offsets(full, 1532), SCHEMA_DIGEST_KEY),
            772 + 1020 % 632,
        )
        self.assertEqual(
            key_position(self._with_offsets(full, 768), SCHEMA_KEY_DIGEST),
            8 + 1020 % 632,
        )

    @given(st.binary(min_size=C1_SIZE, max_size=C1_SIZE), st.sampled_from([0, 1]))
    def test_positionsInBounds(self, c1s1: bytes, schema: int) -> None:
        """Whatever the offset bytes, digest and key lie inside their blocks
        and do not overlap."""
        digest = digest_position(c1s1, schema)
        key = key_position(c1s1, schema)
        digest_block = 8 if schema == SCHEMA_DIGEST_KEY else 772
        key_block = 772 if schema == SCHEMA_DIGEST_KEY else 8
        self.assertTrue(digest_block + 4 <= digest <= digest_block + 764 - 32)
        self.assertTrue(key_block <= key <= key_block + 764 - 4 - 128)

    def test_badSchema(self) -> None:
        """A schema other than 0 or 1 is a programming error."""
        self.assertRaises(ValueError, digest_position, bytes(C1_SIZE), 2)
        self.assertRaises(ValueError, make_c1, _source(), EPOCH, 2)
        self.assertRaises(ValueError, ClientHandshake, _source(), EPOCH, schema=2)

    def test_shortRandomSource(self) -> None:
        """A random source that returns the wrong size is refused."""
        self.assertRaises(ValueError, make_c1, lambda n: b"", EPOCH)

    def test_madeC1ValidatesOnlyInItsSchema(self) -> None:
        """A C1 we sign validates in its own schema only, and carries the
        time and the client version."""
        for schema in (SCHEMA_KEY_DIGEST, SCHEMA_DIGEST_KEY):
            for seed in range(20):
                c1 = make_c1(_source(seed), EPOCH, schema)
                self.assertEqual(len(c1), C1_SIZE)
                self.assertEqual(c1_digest_valid(c1), schema)
                self.assertEqual(c1[:4], EPOCH.to_bytes(4, "big"))
                self.assertEqual(c1[4:8], CLIENT_VERSION)

    def test_madeS1(self) -> None:
        """An S1 we sign validates with the FMS key in its schema, not with
        the FP key."""
        for schema in (SCHEMA_KEY_DIGEST, SCHEMA_DIGEST_KEY):
            s1 = make_s1(_source(schema), EPOCH, schema)
            self.assertTrue(s1_digest_valid(s1, schema))
            self.assertFalse(s1_digest_valid(s1, 1 - schema))
            self.assertIsNone(c1_digest_valid(s1))
            self.assertEqual(s1[4:8], SERVER_VERSION)

    def test_timeWraps(self) -> None:
        """The time field is the epoch modulo 2**32."""
        c1 = make_c1s1(2**32 + 5, SERVER_VERSION, 0, FMS_KEY[:36], _source())
        self.assertEqual(c1[:4], b"\x00\x00\x00\x05")

    def test_srsTextInRandomAreas(self) -> None:
        """Each random area of a signed C1 starts with SRS's text, cut to
        fit with a NUL, like SRS's snprintf."""
        for seed in range(50):
            c1 = make_c1(_source(seed), EPOCH, SCHEMA_DIGEST_KEY)
            digest_at = digest_position(c1, SCHEMA_DIGEST_KEY)
            key_at = key_position(c1, SCHEMA_DIGEST_KEY)
            areas = [
                (12, digest_at - 12),
                (digest_at + 32, 772 - digest_at - 32),
                (772, key_at - 772),
                (key_at + 128, 1532 - key_at - 128),
            ]
            for start, size in areas:
                if size:
                    expected = SRS_HANDSHAKE_TEXT[: size - 1] + b"\0"
                    self.assertEqual(c1[start : start + len(expected)], expected)

    def test_s2Layout(self) -> None:
        """S2 carries SRS's text at both ends of its random part and ends with
        the digest derived from C1's."""
        c1_digest = bytes(range(32))
        s2 = make_s2(c1_digest, _source())
        self.assertEqual(len(s2), C1_SIZE)
        self.assertEqual(s2[:13], SRS_HANDSHAKE_TEXT + b"\0")
        self.assertEqual(s2[1491:1504], SRS_HANDSHAKE_TEXT + b"\0")
        self.assertTrue(s2_digest_valid(s2, c1_digest))
        self.assertFalse(c2_digest_valid(s2, c1_digest))
        self.assertFalse(s2_digest_valid(s2, bytes(32)))

    def test_c2Layout(self) -> None:
        """C2 ends with the digest derived from S1's with the full FP key."""
        s1_digest = bytes(range(32, 64))
        c2 = make_c2(s1_digest, _source())
        self.assertTrue(c2_digest_valid(c2, s1_digest))
        self.assertFalse(s2_digest_valid(c2, s1_digest))

    def test_simpleS1(self) -> None:
        """A simple S1 is our time, the client's time, then random bytes."""
        c1 = bytes.fromhex("01020304") + bytes(C1_SIZE - 4)
        s1 = make_simple_s1(c1, _source(), EPOCH)
        self.assertEqual(len(s1), C1_SIZE)
        self.assertEqual(s1[:8], EPOCH.to_bytes(4, "big") + c1[:4])

    def test_noTwistedImport(self) -> None:
        """The codec imports only the standard library, never Twisted."""
        source = Path(handshake.__file__).read_text()
        modules: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module.split(".")[0])
        self.assertTrue(modules <= sys.stdlib_module_names, modules)


class ServerHandshakeTests(SynchronousTestCase):
    """``ServerHandshake`` on crafted input."""

    def test_badVersionAtFirstByte(self) -> None:
        """A C0 other than 3 fails on the first byte, and the codec stays
        failed."""
        server = ServerHandshake(_source(), EPOCH)
        self.assertRaises(HandshakeError, server.receive_data, b"\x06")
        self.assertRaises(HandshakeError, server.receive_data, b"\x03")
        self.assertEqual(server.data_to_send(), b"")

    def test_nothingBeforeWholeC0C1(self) -> None:
        """Nothing is sent until all 1537 bytes of C0C1 are in, then
        S0S1S2 goes out as one 3073-byte unit."""
        c0c1 = b"\x03" + make_c1(_source(1), EPOCH)
        server = ServerHandshake(_source(), EPOCH)
        self.assertEqual(server.receive_data(c0c1[:-1]), [])
        self.assertEqual(server.data_to_send(), b"")
        self.assertEqual(server.buffered, 1536)
        self.assertEqual(server.receive_data(c0c1[-1:]), [])
        self.assertEqual(len(server.data_to_send()), 3073)
        self.assertEqual(server.buffered, 0)

    def test_emptyData(self) -> None:
        """Empty input produces nothing."""
        server = ServerHandshake(_source(), EPOCH)
        self.assertEqual(server.receive_data(b""), [])
        self.assertFalse(server.done)

    def test_unsignedC1GetsSimple(self) -> None:
        """An unsigned C1 gets the simple answer: S2 echoes C1."""
        c1 = bytes(range(256)) * 6
        server = ServerHandshake(_source(), EPOCH)
        server.receive_data(b"\x03" + c1)
        reply = server.data_to_send()
        self.assertEqual(reply[1537:], c1)
        self.assertEqual(reply[5:9], c1[:4])

    def test_c2IgnoredAndLeftoverKept(self) -> None:
        """Any 1536 bytes are accepted as C2 and whatever follows in the same
        call is handed back as leftover."""
        server = ServerHandshake(_source(), EPOCH)
        server.receive_data(b"\x03" + make_c1(_source(1), EPOCH))
        server.data_to_send()
        events = server.receive_data(b"\xee" * 1536 + b"chunk stream")
        self.assertEqual(
            events, [HandshakeDone(b"chunk stream", SCHEMA_DIGEST_KEY, True)]
        )
        self.assertTrue(server.done)

    def test_allInOneCall(self) -> None:
        """C0C1, C2 and chunk bytes in one call give the reply and the
        leftover at once."""
        server = ServerHandshake(_source(), EPOCH)
        events = server.receive_data(
            b"\x03" + make_c1(_source(1), EPOCH, 0) + bytes(1536) + b"xyz"
        )
        self.assertEqual(events, [HandshakeDone(b"xyz", SCHEMA_KEY_DIGEST, True)])
        self.assertEqual(len(server.data_to_send()), 3073)

    def test_afterDone(self) -> None:
        """Feeding the codec after the handshake is a HandshakeError."""
        server = ServerHandshake(_source(), EPOCH)
        server.receive_data(b"\x03" + bytes(1536) + bytes(1536))
        self.assertRaises(HandshakeError, server.receive_data, b"\x03")

    def test_s1Version(self) -> None:
        """The version bytes of a complex S1 can be set, e.g. to FMS's."""
        server = ServerHandshake(_source(), EPOCH, s1_version=FMS_S1_VERSION)
        server.receive_data(b"\x03" + make_c1(_source(1), EPOCH))
        s1 = server.data_to_send()[1:1537]
        self.assertEqual(s1[4:8], FMS_S1_VERSION)
        self.assertTrue(s1_digest_valid(s1, SCHEMA_DIGEST_KEY))
        self.assertRaises(
            ValueError, ServerHandshake, _source(), EPOCH, s1_version=b"\x01"
        )


class ClientHandshakeTests(SynchronousTestCase):
    """``ClientHandshake`` on crafted input."""

    def test_c0c1Complex(self) -> None:
        """C0C1 is queued at construction: version 3, our time, SRS's client
        version and a schema 1 digest."""
        client = ClientHandshake(_source(), EPOCH)
        c0c1 = client.data_to_send()
        self.assertEqual(len(c0c1), 1537)
        self.assertEqual(c0c1[0], 3)
        self.assertEqual(c0c1[1:9], EPOCH.to_bytes(4, "big") + CLIENT_VERSION)
        self.assertEqual(c1_digest_valid(c0c1[1:]), SCHEMA_DIGEST_KEY)
        self.assertEqual(client.data_to_send(), b"")

    def test_c0c1Simple(self) -> None:
        """A simple client's C1 is our time, four zero bytes and random."""
        client = ClientHandshake(_source(), EPOCH, simple=True)
        c0c1 = client.data_to_send()
        self.assertEqual(c0c1[:9], b"\x03" + EPOCH.to_bytes(4, "big") + bytes(4))

    def test_badS0(self) -> None:
        """An S0 other than 3 fails on the first byte."""
        client = ClientHandshake(_source(), EPOCH)
        self.assertRaises(HandshakeError, client.receive_data, b"\x08")
        self.assertRaises(HandshakeError, client.receive_data, b"\x03")

    def test_unsignedS1StillCompletes(self) -> None:
        """An unsigned S1 is reported but does not stop a complex client,
        which signs C2 with the bytes at its schema's digest position, as
        SRS does."""
        client = ClientHandshake(_source(), EPOCH)
        client.data_to_send()
        s1 = bytes(range(256)) * 6
        events = client.receive_data(b"\x03" + s1 + bytes(1536) + b"rest")
        self.assertEqual(events, [HandshakeDone(b"rest", SCHEMA_DIGEST_KEY, False)])
        c2 = client.data_to_send()
        self.assertTrue(c2_digest_valid(c2, _digest_of(s1, SCHEMA_DIGEST_KEY)))

    def test_boundedBuffer(self) -> None:
        """The client holds at most one S0S1S2 and hands the rest back."""
        client = ClientHandshake(_source(), EPOCH)
        self.assertEqual(client.receive_data(b"\x03" + bytes(3071)), [])
        self.assertEqual(client.buffered, 3072)
        events = client.receive_data(bytes(5000))
        self.assertEqual(len(events[0].leftover), 4999)
        self.assertEqual(client.buffered, 0)

    def test_afterDone(self) -> None:
        """Feeding the client after the handshake is a HandshakeError."""
        client = ClientHandshake(_source(), EPOCH)
        client.receive_data(b"\x03" + bytes(3072))
        self.assertTrue(client.done)
        self.assertRaises(HandshakeError, client.receive_data, b"")


# name: (client options, server options, server's schema, client's schema)
_PAIRS: dict[str, tuple[dict[str, Any], dict[str, Any], int | None, int | None]] = {
    "complex schema 0": ({"schema": 0}, {}, 0, 0),
    "complex schema 1": ({"schema": 1}, {}, 1, 1),
    "simple client": ({"simple": True}, {}, None, None),
    "simple server": ({}, {"allow_complex": False}, None, 1),
}


class PairTests(SynchronousTestCase):
    """Our client against our server, in memory."""

    def _pair(
        self,
        name: str,
        split: Splitter,
        trailer: bytes = b"\x03chunk",
    ) -> tuple[list[HandshakeDone], list[HandshakeDone], bytes, bytes, bytes]:
        client_kw, server_kw, _, _ = _PAIRS[name]
        client = ClientHandshake(_source(1), EPOCH, **client_kw)
        server = ServerHandshake(_source(2), EPOCH + 1, **server_kw)
        c0c1 = client.data_to_send()
        server_events, s0s1s2, _ = _feed(server, split(c0c1))
        client_events, c2, client_after = _feed(client, split(s0s1s2))
        more, _, server_after = _feed(server, split(c2 + trailer))
        self.assertEqual(client_after, b"")
        self.assertEqual(server_after, trailer)
        # How much of the trailer comes as leftover depends on the split;
        # _feed has already checked that none of it is lost.
        server_events = [replace(e, leftover=b"") for e in server_events + more]
        return server_events, client_events, c0c1, s0s1s2, c2

    def _check_pair(self, name: str, split: Splitter) -> tuple[bytes, bytes, bytes]:
        _, _, server_schema, client_schema = _PAIRS[name]
        server_events, client_events, c0c1, s0s1s2, c2 = self._pair(name, split)
        self.assertEqual(
            server_events,
            [HandshakeDone(b"", server_schema, server_schema is not None)],
        )
        self.assertEqual(
            client_events,
            [HandshakeDone(b"", client_schema, server_schema is not None)],
        )
        c1, s1, s2 = c0c1[1:], s0s1s2[1:1537], s0s1s2[1537:]
        if server_schema is None:
            self.assertEqual(s2, c1)
        else:
            self.assertTrue(s2_digest_valid(s2, _digest_of(c1, server_schema)))
        if client_schema is None:
            self.assertEqual(c2, s1)
        elif server_schema is not None:
            self.assertTrue(c2_digest_valid(c2, _digest_of(s1, server_schema)))
        return c0c1, s0s1s2, c2

    def test_pairs(self) -> None:
        """Each client/server combination completes with the expected
        schema, and the signed parts validate, whole or byte by byte with
        the same bytes."""
        for name in _PAIRS:
            whole = self._check_pair(name, lambda data: [data])
            bytewise = self._check_pair(name, _one_at_a_time)
            self.assertEqual(whole, bytewise, name)

    @given(
        st.sampled_from(sorted(_PAIRS)),
        st.lists(st.integers(min_value=0, max_value=3100), max_size=8),
    )
    def test_randomSplits(self, name: str, cuts: list[int]) -> None:
        """Any re-split of either direction gives the same bytes and events
        as feeding each direction whole."""
        whole = self._pair(name, lambda data: [data])
        resplit = self._pair(name, lambda data: _split(data, cuts))
        self.assertEqual(whole, resplit)


class CaptureTests(SynchronousTestCase):
    """
    Real clients: C0C1, the S0S1S2 our ServerHandshake sent back, the client's
    C2 and the first bytes after it, captured on 127.0.0.1 (see README.md).
    """

    def _capture(self, name: str) -> tuple[bytes, bytes, bytes, bytes]:
        return (
            _data(f"{name}-c0c1.bin"),
            _data(f"{name}-s0s1s2.bin"),
            _data(f"{name}-c2.bin"),
            _data(f"{name}-after-c2.bin"),
        )

    def _replay(self, name: str, **server_kw: Any) -> tuple[HandshakeDone, bytes]:
        c0c1, _, c2, after = self._capture(name)
        server = ServerHandshake(_source(), EPOCH, **server_kw)
        events, reply, rest = _feed(server, [c0c1 + c2 + after])
        self.assertEqual(rest, after)
        self.assertEqual(len(events), 1)
        return events[0], reply

    def test_ffmpegPublish(self) -> None:
        """FFmpeg's native client signs C1 in schema 1 with version
        09 00 7c 02 and time 0; it got a complex answer and, with SRS's S1
        version, echoed S1 as C2 and sent connect."""
        c0c1, s0s1s2, c2, after = self._capture("ffmpeg-publish")
        self.assertEqual(c0c1[1:9], bytes.fromhex("0000000009007c02"))
        self.assertEqual(c1_digest_valid(c0c1[1:]), SCHEMA_DIGEST_KEY)
        self.assertEqual(s0s1s2[5:9], SERVER_VERSION)
        self.assertEqual(c2, s0s1s2[1:1537])
        self.assertTrue(after.startswith(b"\x03"))
        self.assertIn(CONNECT, after)
        event, reply = self._replay("ffmpeg-publish")
        self.assertEqual(event.schema, SCHEMA_DIGEST_KEY)
        self.assertTrue(s1_digest_valid(reply[1:1537], SCHEMA_DIGEST_KEY))

    def test_ffmpegPlayValidates(self) -> None:
        """Given an S1 with FMS's version, FFmpeg playing checked our S1
        digest and S2 signature, accepted them, and signed its C2 with our
        S1 digest, which our C2 check accepts."""
        c0c1, s0s1s2, c2, after = self._capture("ffmpeg-play")
        s1, s2 = s0s1s2[1:1537], s0s1s2[1537:]
        self.assertEqual(c1_digest_valid(c0c1[1:]), SCHEMA_DIGEST_KEY)
        self.assertEqual(s1[4:8], FMS_S1_VERSION)
        self.assertTrue(s2_digest_valid(s2, _digest_of(c0c1[1:], 1)))
        self.assertTrue(c2_digest_valid(c2, _digest_of(s1, SCHEMA_DIGEST_KEY)))
        self.assertIn(CONNECT, after)
        event, _ = self._replay("ffmpeg-play", s1_version=FMS_S1_VERSION)
        self.assertEqual(event.schema, SCHEMA_DIGEST_KEY)

    def test_rtmpdumpSimple(self) -> None:
        """librtmp (rtmpdump) sends an unsigned C1 (version 0), gets the
        simple answer, echoes S1 as C2 and sends connect with it."""
        c0c1, s0s1s2, c2, after = self._capture("rtmpdump")
        self.assertEqual(c0c1[5:9], bytes(4))
        self.assertIsNone(c1_digest_valid(c0c1[1:]))
        self.assertEqual(s0s1s2[1537:], c0c1[1:])
        self.assertEqual(c2, s0s1s2[1:1537])
        self.assertIn(CONNECT, after)
        event, reply = self._replay("rtmpdump")
        self.assertEqual(event.schema, None)
        self.assertEqual(reply[1537:], c0c1[1:])
        self.assertEqual(reply[5:9], c0c1[1:5])

    def test_rtmpdumpSwfVerify(self) -> None:
        """librtmp with SWF verification signs C1 in schema 1 with version
        0a 00 2d 02, validated our complex answer (SRS's S1 version) and
        signed C2 with our S1 digest."""
        c0c1, s0s1s2, c2, after = self._capture("rtmpdump-swfvfy")
        s1, s2 = s0s1s2[1:1537], s0s1s2[1537:]
        self.assertEqual(c0c1[5:9], bytes.fromhex("0a002d02"))
        self.assertEqual(c1_digest_valid(c0c1[1:]), SCHEMA_DIGEST_KEY)
        self.assertEqual(s1[4:8], SERVER_VERSION)
        self.assertTrue(s2_digest_valid(s2, _digest_of(c0c1[1:], 1)))
        self.assertTrue(c2_digest_valid(c2, _digest_of(s1, SCHEMA_DIGEST_KEY)))
        self.assertIn(CONNECT, after)
        event, _ = self._replay("rtmpdump-swfvfy")
        self.assertEqual(event, HandshakeDone(event.leftover, 1, True))

    def test_rtmpeRejected(self) -> None:
        """librtmp's RTMPE C0 (6) is refused on the first byte although its
        C1 is signed (schema 0)."""
        c0c1 = _data("rtmpdump-rtmpe-c0c1.bin")
        self.assertEqual(c0c1[0], 6)
        self.assertEqual(c1_digest_valid(c0c1[1:]), SCHEMA_KEY_DIGEST)
        server = ServerHandshake(_source(), EPOCH)
        self.assertRaises(HandshakeError, server.receive_data, c0c1)

    def test_afterC2IsOneConnect(self) -> None:
        """What each client sent after C2 is exactly one AMF0 command
        message (type 20) on chunk stream 3, in 128-byte chunks."""
        for name in ("ffmpeg-publish", "ffmpeg-play", "rtmpdump", "rtmpdump-swfvfy"):
            after = _data(f"{name}-after-c2.bin")
            length = int.from_bytes(after[4:7], "big")
            self.assertEqual((after[0], after[7]), (0x03, 20), name)
            self.assertEqual(len(after), 12 + length + (length - 1) // 128, name)
            self.assertEqual(after[12 : 12 + len(CONNECT)], CONNECT, name)

    def test_capturesByteAtATime(self) -> None:
        """Every capture replayed one byte at a time gives the same reply,
        event and chunk-stream bytes as replayed whole."""
        for name in ("ffmpeg-publish", "rtmpdump", "rtmpdump-swfvfy"):
            c0c1, _, c2, after = self._capture(name)
            stream = c0c1 + c2 + after
            whole = _feed(ServerHandshake(_source(), EPOCH), [stream])
            bytewise = _feed(ServerHandshake(_source(), EPOCH), _one_at_a_time(stream))
            self.assertEqual(whole[1:], bytewise[1:], name)
            self.assertEqual(whole[0][0].schema, bytewise[0][0].schema)
            self.assertEqual(bytewise[2], after)


class HostileInputTests(SynchronousTestCase):
    """Arbitrary bytes only ever raise HandshakeError or get a simple answer."""

    @given(st.binary(max_size=4000), st.lists(st.integers(0, 4000), max_size=6))
    def test_serverRandomBytes(self, data: bytes, cuts: list[int]) -> None:
        """Random client bytes raise HandshakeError iff C0 is not 3; otherwise
        a complete C0C1 gets the simple answer."""
        server = ServerHandshake(_source(), EPOCH)
        try:
            _, reply, _ = _feed(server, _split(data, cuts))
        except HandshakeError:
            self.assertNotEqual(data[0], 3)
            return
        self.assertTrue(not data or data[0] == 3)
        self.assertLessEqual(server.buffered, 1537)
        if len(data) >= 1537:
            self.assertEqual(reply[1537:], data[1:1537])
        else:
            self.assertEqual(reply, b"")

    @given(st.binary(max_size=7000), st.lists(st.integers(0, 7000), max_size=6))
    def test_clientRandomBytes(self, data: bytes, cuts: list[int]) -> None:
        """Random server bytes raise HandshakeError iff S0 is not 3; otherwise
        a complete S0S1S2 finishes the handshake with the rest as leftover."""
        client = ClientHandshake(_source(), EPOCH)
        try:
            events, _, after = _feed(client, _split(data, cuts))
        except HandshakeError:
            self.assertNotEqual(data[0], 3)
            return
        self.assertLessEqual(client.buffered, 3073)
        if len(data) >= 3073:
            self.assertEqual(events, [HandshakeDone(events[0].leftover, 1, False)])
            self.assertEqual(after, data[3073:])
        else:
            self.assertEqual(events, [])

    @given(st.integers(0, 255).filter(lambda b: b != 3))
    def test_anyWrongVersion(self, version: int) -> None:
        """Every C0 but 3 is a HandshakeError."""
        server = ServerHandshake(_source(), EPOCH)
        self.assertRaises(HandshakeError, server.receive_data, bytes([version]))

    @given(st.binary(min_size=C1_SIZE, max_size=C1_SIZE))
    def test_randomC1Unsigned(self, c1: bytes) -> None:
        """Random C1s carry no valid digest."""
        self.assertIsNone(c1_digest_valid(c1))
