# -*- test-case-name: tests.test_codec_handshake -*-
"""
The RTMP handshake, sans-IO, in the server and the client role.

Wire format (RTMP spec §5.2; the complex handshake as in SRS's
``srs_rtmp_handshake.cpp``)::

    client -> server   C0 (1 byte, version 3) + C1 (1536 bytes)
    server -> client   S0 (1 byte, version 3) + S1 (1536) + S2 (1536), one write
    client -> server   C2 (1536 bytes)

Two flavours share those sizes.  In the *simple* handshake C1/S1 are a time,
four more bytes and random filler, and S2/C2 echo the peer's C1/S1.  In the
*complex* (Flash Player 9) handshake C1/S1 carry an HMAC-SHA256 digest at a
position derived from offset bytes, in one of two layouts:

* schema 0, "key-digest": ``time | version | key block | digest block``;
* schema 1, "digest-key": ``time | version | digest block | key block``.

S2/C2 then end with a digest keyed on the peer's C1/S1 digest.  Clients that
sign C1 (Flash Player, FFmpeg's native RTMP, librtmp with SWF verification)
may check S1 and S2, so a server must sign its answer; clients that do not
sign C1 (librtmp by default) get the simple handshake.

Like the rest of :mod:`srstwist.codec`, nothing here reads a clock or draws
random numbers: both roles take ``random_bytes`` (``n -> n bytes``) and
``epoch`` (the time field, in seconds) as arguments, so tests are
deterministic.  The codecs follow h2's shape: ``receive_data(bytes)`` returns
events and queues replies, ``data_to_send()`` hands the replies out.

Where srstwist differs from SRS 2.0, and why:

* The server rejects a C0 other than 3 at once, before C1 arrives.  SRS only
  checks C0 on its simple path; on the complex path it would answer a signed
  C1 after C0 = 6 (RTMPE) in plain RTMP, which that client cannot use.
* The 128-byte key slot of S1 holds random bytes.  SRS writes a
  Diffie-Hellman result there (``#148``), but no plain-RTMP client reads
  the slot and SRS never sends its own public key, so nothing could use
  it; random bytes save a 1024-bit modular exponentiation per connection.
  RTMPE is not supported, as in SRS.
* SRS verifies its own S1 and S2 before sending them and falls back to simple
  if that fails.  Here both are built by the same deterministic functions
  that the tests verify, so the self-check would be dead code.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "C1_SIZE",
    "CLIENT_VERSION",
    "FMS_KEY",
    "FP_KEY",
    "RTMP_VERSION",
    "SCHEMA_DIGEST_KEY",
    "SCHEMA_KEY_DIGEST",
    "SERVER_VERSION",
    "SRS_HANDSHAKE_TEXT",
    "ClientHandshake",
    "HandshakeDone",
    "HandshakeError",
    "RandomBytes",
    "ServerHandshake",
    "c1_digest_valid",
    "c1s1_digest",
    "c2_digest_valid",
    "c2s2_digest",
    "digest_position",
    "key_position",
    "make_c1",
    "make_c1s1",
    "make_c2",
    "make_s1",
    "make_s2",
    "make_simple_s1",
    "s1_digest_valid",
    "s2_digest_valid",
]

RandomBytes = Callable[[int], bytes]
"""A source of random bytes: called with ``n``, returns exactly ``n`` bytes."""

RTMP_VERSION = 3
"""C0/S0 of plain RTMP; 6 and 8 are the encrypted variants we do not speak."""

C1_SIZE = 1536
"""Size of each of C1, S1, C2 and S2."""

_C0C1_SIZE = 1 + C1_SIZE
_S0S1S2_SIZE = 1 + 2 * C1_SIZE

SCHEMA_KEY_DIGEST = 0
"""Schema 0: the key block comes first, the digest block second."""

SCHEMA_DIGEST_KEY = 1
"""Schema 1: the digest block comes first, the key block second."""

FMS_KEY = b"Genuine Adobe Flash Media Server 001" + bytes.fromhex(
    "f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae"
)
"""68 bytes; the first 36 sign S1, all 68 derive the S2 key."""

FP_KEY = b"Genuine Adobe Flash Player 001" + FMS_KEY[36:]
"""62 bytes; the first 30 sign C1, all 62 derive the C2 key."""

_C1_KEY = FP_KEY[:30]
_S1_KEY = FMS_KEY[:36]

SERVER_VERSION = b"\x01\x00\x05\x04"
"""S1 bytes 4..7 in SRS's complex answer.  FFmpeg checks S1 and S2 only when
byte 4 is at least 3, so 1 makes FFmpeg skip the check (it then echoes S1 as
C2); librtmp checks whenever byte 4 is not 0.  Both checks pass on our answer
(captures in ``tests/data/handshake``)."""

CLIENT_VERSION = b"\x80\x00\x07\x02"
"""C1 bytes 4..7 that SRS's client (and Flash Player) send when signing."""

SRS_HANDSHAKE_TEXT = b"SRS(2.0.276)"
"""SRS starts each random area of its complex C1/S1/C2/S2 with this text."""

_BLOCK_SIZE = 764
_DIGEST_SIZE = 32
_KEY_SIZE = 128
# The digest may start anywhere in the first 764 - 4 - 32 bytes after the
# block's 4 offset bytes; the key anywhere in the first 764 - 128 - 4 bytes
# of its block (the block's last 4 bytes hold the offset).
_DIGEST_RANGE = _BLOCK_SIZE - 4 - _DIGEST_SIZE
_KEY_RANGE = _BLOCK_SIZE - _KEY_SIZE - 4
_C2S2_RANDOM = C1_SIZE - _DIGEST_SIZE

_TIME_VERSION = struct.Struct(">I4s")


class HandshakeError(Exception):
    """
    The peer broke the handshake (wrong version byte) or the codec was used
    after it finished or failed.  The only exception this module raises on
    input from the network.
    """


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    """
    The handshake is over; the chunk stream starts with ``leftover``.

    :ivar leftover: bytes that arrived after the last handshake unit, in the
        same ``receive_data`` call; they belong to the chunk stream and must
        be fed to the next codec, or the start of ``connect`` is lost.
    :ivar schema: the complex-handshake schema in use (0 or 1), or ``None``
        for the simple handshake.
    :ivar peer_digest_valid: server role: C1 carried a valid digest (always
        equal to ``schema is not None``).  Client role: S1 carried a valid
        FMS digest; ``False`` for a simple client, which does not check.
    """

    leftover: bytes
    schema: int | None
    peer_digest_valid: bool


def _draw(random_bytes: RandomBytes, size: int) -> bytes:
    """Call the injected source and insist on the size, which layouts rely on."""
    data = random_bytes(size)
    if len(data) != size:
        raise ValueError(f"random_bytes({size}) returned {len(data)} bytes")
    return bytes(data)


def _filler(random_bytes: RandomBytes, size: int) -> bytes:
    """
    A random area as SRS fills it: random bytes starting with
    ``SRS_HANDSHAKE_TEXT`` and a NUL, cut to fit (C ``snprintf`` semantics),
    so captures of our server look like SRS's.
    """
    if size <= 0:
        return b""
    data = bytearray(_draw(random_bytes, size))
    text = SRS_HANDSHAKE_TEXT[: size - 1] + b"\0"
    data[: len(text)] = text
    return bytes(data)


def _check_schema(schema: int) -> None:
    if schema not in (SCHEMA_KEY_DIGEST, SCHEMA_DIGEST_KEY):
        raise ValueError(f"schema must be 0 or 1, not {schema!r}")


def _digest_block_start(schema: int) -> int:
    return 8 if schema == SCHEMA_DIGEST_KEY else 8 + _BLOCK_SIZE


def _key_block_start(schema: int) -> int:
    return 8 + _BLOCK_SIZE if schema == SCHEMA_DIGEST_KEY else 8


def digest_position(c1s1: bytes, schema: int) -> int:
    """
    Where the 32-byte digest sits in a C1/S1 of ``schema``.

    The digest block opens with four offset bytes; the digest starts
    ``sum(offset bytes) % 728`` bytes after them.  Schema 0 gives
    ``776 + n``, schema 1 ``12 + n``.
    """
    _check_schema(schema)
    start = _digest_block_start(schema)
    return start + 4 + sum(c1s1[start : start + 4]) % _DIGEST_RANGE


def key_position(c1s1: bytes, schema: int) -> int:
    """
    Where the 128-byte key sits in a C1/S1 of ``schema``.

    The key block ends with four offset bytes; the key starts
    ``sum(offset bytes) % 632`` bytes into the block.  Schema 0 gives
    ``8 + n``, schema 1 ``772 + n``.
    """
    _check_schema(schema)
    start = _key_block_start(schema)
    offset_at = start + _BLOCK_SIZE - 4
    return start + sum(c1s1[offset_at : offset_at + 4]) % _KEY_RANGE


def c1s1_digest(c1s1: bytes, schema: int, key: bytes) -> bytes:
    """
    HMAC-SHA256 under ``key`` of the 1504 bytes of ``c1s1`` around its digest
    (everything before the digest, then everything after it).

    :param key: ``FP_KEY[:30]`` for C1, ``FMS_KEY[:36]`` for S1.
    """
    if len(c1s1) != C1_SIZE:
        raise ValueError(f"C1/S1 must be {C1_SIZE} bytes, not {len(c1s1)}")
    at = digest_position(c1s1, schema)
    view = memoryview(c1s1)
    mac = hmac.new(key, view[:at], hashlib.sha256)
    mac.update(view[at + _DIGEST_SIZE :])
    return mac.digest()


def _digest_matches(c1s1: bytes, schema: int, key: bytes) -> bool:
    at = digest_position(c1s1, schema)
    found = c1s1[at : at + _DIGEST_SIZE]
    return hmac.compare_digest(found, c1s1_digest(c1s1, schema, key))


def c1_digest_valid(c1: bytes) -> int | None:
    """
    The schema under which ``c1`` carries a valid Flash Player digest, or
    ``None`` for an unsigned C1 (the server then answers simple).

    Schema 0 is tried first, as SRS does "to make Flash happy" (Flash Player
    signs schema 0; FFmpeg signs schema 1).
    """
    for schema in (SCHEMA_KEY_DIGEST, SCHEMA_DIGEST_KEY):
        if _digest_matches(c1, schema, _C1_KEY):
            return schema
    return None


def s1_digest_valid(s1: bytes, schema: int) -> bool:
    """Whether ``s1`` carries a valid FMS digest in the layout of ``schema``."""
    return _digest_matches(s1, schema, _S1_KEY)


def c2s2_digest(random_part: bytes, peer_digest: bytes, key: bytes) -> bytes:
    """
    The digest ending a C2/S2: HMAC-SHA256 of the first 1504 bytes, keyed
    with HMAC-SHA256(``key``, ``peer_digest``).

    :param key: the full 68-byte ``FMS_KEY`` with C1's digest for S2; the
        full 62-byte ``FP_KEY`` with S1's digest for C2.
    """
    derived = hmac.new(key, peer_digest, hashlib.sha256).digest()
    return hmac.new(derived, random_part[:_C2S2_RANDOM], hashlib.sha256).digest()


def s2_digest_valid(s2: bytes, c1_digest: bytes) -> bool:
    """Whether ``s2`` ends with the digest derived from C1's digest."""
    expected = c2s2_digest(s2, c1_digest, FMS_KEY)
    return hmac.compare_digest(s2[_C2S2_RANDOM:C1_SIZE], expected)


def c2_digest_valid(c2: bytes, s1_digest: bytes) -> bool:
    """Whether ``c2`` ends with the digest derived from S1's digest."""
    expected = c2s2_digest(c2, s1_digest, FP_KEY)
    return hmac.compare_digest(c2[_C2S2_RANDOM:C1_SIZE], expected)


def make_c1s1(
    time: int, version: bytes, schema: int, key: bytes, random_bytes: RandomBytes
) -> bytes:
    """
    Build and sign a complex C1 or S1 laid out in ``schema``.

    Offsets and the 128-byte key are random; each random area starts with
    ``SRS_HANDSHAKE_TEXT`` as in SRS.

    :param time: seconds, stored modulo 2**32.
    :param version: the four version bytes.
    :param key: the signing key, ``FP_KEY[:30]`` or ``FMS_KEY[:36]``.
    """
    _check_schema(schema)
    digest_offset = _draw(random_bytes, 4)
    before_digest = sum(digest_offset) % _DIGEST_RANGE
    digest_block = b"".join(
        (
            digest_offset,
            _filler(random_bytes, before_digest),
            bytes(_DIGEST_SIZE),
            _filler(random_bytes, _DIGEST_RANGE - before_digest),
        )
    )
    key_offset = _draw(random_bytes, 4)
    before_key = sum(key_offset) % _KEY_RANGE
    key_block = b"".join(
        (
            _filler(random_bytes, before_key),
            _draw(random_bytes, _KEY_SIZE),
            _filler(random_bytes, _KEY_RANGE - before_key),
            key_offset,
        )
    )
    blocks = (
        (digest_block, key_block)
        if schema == SCHEMA_DIGEST_KEY
        else (key_block, digest_block)
    )
    unsigned = _TIME_VERSION.pack(time & 0xFFFFFFFF, version) + b"".join(blocks)
    at = digest_position(unsigned, schema)
    digest = c1s1_digest(unsigned, schema, key)
    return unsigned[:at] + digest + unsigned[at + _DIGEST_SIZE :]


def make_c1(
    random_bytes: RandomBytes, epoch: int, schema: int = SCHEMA_DIGEST_KEY
) -> bytes:
    """
    A signed client C1 as SRS's client sends it: schema 1 by default, since
    FMS refuses digest-last C1s from clients.
    """
    return make_c1s1(epoch, CLIENT_VERSION, schema, _C1_KEY, random_bytes)


def make_s1(
    random_bytes: RandomBytes,
    epoch: int,
    schema: int,
    version: bytes = SERVER_VERSION,
) -> bytes:
    """A signed server S1 in the schema of the client's C1."""
    return make_c1s1(epoch, version, schema, _S1_KEY, random_bytes)


def _make_c2s2(peer_digest: bytes, key: bytes, random_bytes: RandomBytes) -> bytes:
    # SRS marks both ends of the 1504 random bytes with its text and a NUL.
    body = bytearray(_filler(random_bytes, _C2S2_RANDOM))
    mark = SRS_HANDSHAKE_TEXT + b"\0"
    body[_C2S2_RANDOM - len(mark) :] = mark
    return bytes(body) + c2s2_digest(bytes(body), peer_digest, key)


def make_s2(c1_digest: bytes, random_bytes: RandomBytes) -> bytes:
    """A complex S2: 1504 random bytes, then the digest derived from C1's."""
    return _make_c2s2(c1_digest, FMS_KEY, random_bytes)


def make_c2(s1_digest: bytes, random_bytes: RandomBytes) -> bytes:
    """A complex C2: 1504 random bytes, then the digest derived from S1's."""
    return _make_c2s2(s1_digest, FP_KEY, random_bytes)


def make_simple_s1(c1: bytes, random_bytes: RandomBytes, epoch: int) -> bytes:
    """
    A simple S1: our time, the client's time echoed in bytes 4..7, then
    random bytes (no SRS text, as in SRS).
    """
    return (
        struct.pack(">I", epoch & 0xFFFFFFFF)
        + c1[:4]
        + _draw(random_bytes, C1_SIZE - 8)
    )


def _make_simple_c1(random_bytes: RandomBytes, epoch: int) -> bytes:
    return (
        struct.pack(">I", epoch & 0xFFFFFFFF)
        + bytes(4)
        + _draw(random_bytes, C1_SIZE - 8)
    )


class _UnitReader:
    """
    Collects fixed-size units from a byte stream.

    Each input byte is copied at most twice (into the buffer, then out as
    the unit), so the cost is linear however the stream is split, and the
    buffer never holds more than one unit.
    """

    __slots__ = ("_buffer", "size")

    def __init__(self, size: int) -> None:
        self._buffer = bytearray()
        self.size = size

    @property
    def buffered(self) -> int:
        """How many bytes of the current unit have arrived."""
        return len(self._buffer)

    def feed(self, data: memoryview, pos: int) -> tuple[bytes | None, int]:
        """
        Take what the current unit still lacks from ``data`` at ``pos``.

        :return: the unit if now complete (else ``None``), and the position
            after the bytes consumed.
        """
        take = data[pos : pos + self.size - len(self._buffer)]
        self._buffer += take
        pos += len(take)
        if len(self._buffer) < self.size:
            return None, pos
        unit = bytes(self._buffer)
        self._buffer.clear()
        return unit, pos


class _State(enum.Enum):
    AWAIT_C0C1 = "await C0C1"
    AWAIT_C2 = "await C2"
    AWAIT_S0S1S2 = "await S0S1S2"
    DONE = "done"
    FAILED = "failed"


class _Handshake:
    """What both roles share: the outbound queue and the terminal states."""

    def __init__(self, random_bytes: RandomBytes, epoch: int, unit: int) -> None:
        self._random_bytes = random_bytes
        self._epoch = epoch
        self._outbound = bytearray()
        self._reader = _UnitReader(unit)
        self._state = _State.FAILED

    @property
    def done(self) -> bool:
        """Whether :class:`HandshakeDone` has been emitted."""
        return self._state is _State.DONE

    @property
    def buffered(self) -> int:
        """
        Bytes held while waiting for the rest of a handshake unit; never more
        than the unit (1537, 1536 or 3073 bytes).
        """
        return self._reader.buffered

    def data_to_send(self) -> bytes:
        """Return, and forget, the bytes queued for the peer."""
        data = bytes(self._outbound)
        self._outbound.clear()
        return data

    def _check_open(self) -> None:
        if self._state is _State.DONE:
            raise HandshakeError("handshake already finished; feed the chunk codec")
        if self._state is _State.FAILED:
            raise HandshakeError("handshake already failed")

    def _check_version(self, byte: int, what: str) -> None:
        if byte != RTMP_VERSION:
            self._state = _State.FAILED
            raise HandshakeError(
                f"{what} is {byte:#04x}; only plain RTMP (3) is supported"
            )


class ServerHandshake(_Handshake):
    """
    The server side: read C0C1, answer S0S1S2 in one write, read C2.

    A C1 signed under either schema (schema 0 tried first) gets the complex
    answer in the same schema; any other C1 gets the simple answer with S2 an
    exact copy of C1 (SRS ``#46``).  C2 is read and ignored, as SRS does,
    because FFmpeg's C2 would fail a check.

    :param random_bytes: source for S1/S2 filler, offsets and key.
    :param epoch: the S1 time field, seconds.
    :param allow_complex: ``False`` answers every client simple (SRS built
        without OpenSSL).
    :param s1_version: the version bytes of a complex S1.  SRS's
        ``SERVER_VERSION`` makes FFmpeg players skip their S1/S2 check; a
        first byte of 3 or more (FMS sends ``04 05 00 01``) makes them
        check, which the interop tests use.
    """

    def __init__(
        self,
        random_bytes: RandomBytes,
        epoch: int,
        *,
        allow_complex: bool = True,
        s1_version: bytes = SERVER_VERSION,
    ) -> None:
        super().__init__(random_bytes, epoch, _C0C1_SIZE)
        if len(s1_version) != 4:
            raise ValueError("s1_version must be 4 bytes")
        self._allow_complex = allow_complex
        self._s1_version = s1_version
        self._state = _State.AWAIT_C0C1
        self._schema: int | None = None

    def receive_data(self, data: bytes) -> list[HandshakeDone]:
        """
        Feed bytes from the client.

        :return: ``[HandshakeDone]`` once C2 is complete, else ``[]``.
            S0S1S2 is queued for :meth:`data_to_send` as soon as C0C1 is
            complete.
        :raise HandshakeError: C0 is not 3, or the handshake is over.
        """
        self._check_open()
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._state is _State.AWAIT_C0C1 and self._reader.buffered == 0:
                self._check_version(view[pos], "C0")
            unit, pos = self._reader.feed(view, pos)
            if unit is None:
                break
            if self._state is _State.AWAIT_C0C1:
                self._answer(unit[1:])
                self._reader = _UnitReader(C1_SIZE)
                self._state = _State.AWAIT_C2
            else:
                self._state = _State.DONE
                self._reader = _UnitReader(0)
                leftover = bytes(view[pos:])
                return [HandshakeDone(leftover, self._schema, self._schema is not None)]
        return []

    def _answer(self, c1: bytes) -> None:
        schema = c1_digest_valid(c1) if self._allow_complex else None
        self._schema = schema
        self._outbound.append(RTMP_VERSION)
        if schema is None:
            self._outbound += make_simple_s1(c1, self._random_bytes, self._epoch)
            self._outbound += c1
            return
        at = digest_position(c1, schema)
        self._outbound += make_s1(
            self._random_bytes, self._epoch, schema, self._s1_version
        )
        self._outbound += make_s2(c1[at : at + _DIGEST_SIZE], self._random_bytes)


class ClientHandshake(_Handshake):
    """
    The client side: C0C1 is queued at construction, S0S1S2 is read, C2 is
    queued, and the handshake is done (the server speaks next only after C2,
    so there is nothing more to wait for).

    Complex by default, as SRS's edge and forwarder: C1 is signed in
    schema 1, the layout FMS insists on.  S1 is checked in C1's schema, then
    in the other one (as librtmp does), and the outcome is reported in
    :attr:`HandshakeDone.peer_digest_valid`.  An unsigned or wrongly signed
    S1 does not stop the handshake: SRS never validates S1 (nginx-rtmp's
    would fail) and SRS ignores C2.  C2 is signed with S1's digest as found
    by the schema that validated or, when none did, with the 32 bytes at the
    digest position of C1's schema, which is all SRS ever does.  S2 is not
    checked, as in SRS.

    :param random_bytes: source for C1/C2 filler, offsets and key.
    :param epoch: the C1 time field, seconds.
    :param simple: send an unsigned C1 and echo S1 as C2 (SRS ``#418``), like
        srs-librtmp's default handshake.
    :param schema: the layout of a signed C1; 0 imitates Flash Player.
    """

    def __init__(
        self,
        random_bytes: RandomBytes,
        epoch: int,
        *,
        simple: bool = False,
        schema: int = SCHEMA_DIGEST_KEY,
    ) -> None:
        super().__init__(random_bytes, epoch, _S0S1S2_SIZE)
        _check_schema(schema)
        self._schema: int | None = None if simple else schema
        self._state = _State.AWAIT_S0S1S2
        self._outbound.append(RTMP_VERSION)
        if self._schema is None:
            self._outbound += _make_simple_c1(random_bytes, epoch)
        else:
            self._outbound += make_c1(random_bytes, epoch, self._schema)

    def receive_data(self, data: bytes) -> list[HandshakeDone]:
        """
        Feed bytes from the server.

        :return: ``[HandshakeDone]`` once S0S1S2 is complete (C2 is then
            queued for :meth:`data_to_send`), else ``[]``.
        :raise HandshakeError: S0 is not 3, or the handshake is over.
        """
        self._check_open()
        view = memoryview(data)
        if len(view) and self._reader.buffered == 0:
            self._check_version(view[0], "S0")
        unit, pos = self._reader.feed(view, 0)
        if unit is None:
            return []
        s1 = unit[1 : 1 + C1_SIZE]
        valid = False
        if self._schema is None:
            self._outbound += s1
        else:
            used = self._schema
            for schema in (self._schema, 1 - self._schema):
                if s1_digest_valid(s1, schema):
                    used, valid = schema, True
                    break
            at = digest_position(s1, used)
            self._outbound += make_c2(s1[at : at + _DIGEST_SIZE], self._random_bytes)
        self._state = _State.DONE
        self._reader = _UnitReader(0)
        return [HandshakeDone(bytes(view[pos:]), self._schema, valid)]
