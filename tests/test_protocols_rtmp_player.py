"""
Tests for :mod:`srstwist.stream.rtmp_player`: merged writes, back-pressure,
the bounded queue and shared encodings.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from srstwist.codec.chunk import ChunkDecoder
from srstwist.config.loader import load_config_text
from srstwist.interfaces import IStreamConsumer
from srstwist.media.message import SharedMessage
from srstwist.stream.socket_send import DirectSend
from srstwist.stream.rtmp_player import RtmpPlayer


def _vhost(body: str = ""):
    return load_config_text(f"listen 1935;\nvhost v {{ {body} }}\n", "t.conf").vhost("v")


def _video(timestamp: int, key: bool = False, size: int = 100) -> SharedMessage:
    first = b"\x17\x01" if key else b"\x27\x01"
    message = SharedMessage(timestamp, 9, first + b"\x00" * size, 6)
    return message


def _audio(timestamp: int) -> SharedMessage:
    return SharedMessage(timestamp, 8, b"\xaf\x01" + b"\x00" * 20, 4)


class _Writer:
    """Collects what a player writes."""

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []

    def __call__(self, pieces: list[bytes]) -> None:
        self.writes.append(list(pieces))

    def data(self) -> bytes:
        return b"".join(b"".join(w) for w in self.writes)


class PlayerTests(SynchronousTestCase):
    """One player on a fake connection."""

    def make(self, body: str = "") -> tuple[RtmpPlayer, _Writer]:
        writer = _Writer()
        player = RtmpPlayer(200, _vhost(body), 60000, writer, lambda: [], Clock())
        return player, writer

    def stamped(self, messages: list[SharedMessage]) -> list[SharedMessage]:
        """Set stream_delta as a source with time_jitter full would."""
        last: dict[int, int] = {}
        for message in messages:
            previous = last.get(message.chunk_stream_id)
            message.stream_delta = None if previous is None else message.timestamp - previous
            last[message.chunk_stream_id] = message.timestamp
        return messages

    def test_interfaces(self) -> None:
        """A player is a stream consumer and a push producer."""
        player, _ = self.make()
        verifyObject(IStreamConsumer, player)
        verifyObject(IPushProducer, player)

    def test_merged_write(self) -> None:
        """Nothing is written until more than 8 messages span mw_latency; then one write."""
        player, writer = self.make()
        messages = self.stamped([_video(40 * i) for i in range(12)])
        for message in messages[:9]:
            player.deliver(message)
        self.assertEqual(writer.writes, [])
        for message in messages[9:]:
            player.deliver(message)
        self.assertEqual(len(writer.writes), 1)
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertEqual(len(decoded), 10)

    def test_min_latency_writes_at_once(self) -> None:
        """With min_latency on, each message is written as it arrives."""
        player, writer = self.make("min_latency on;")
        player.deliver(_video(0, key=True))
        self.assertEqual(len(writer.writes), 1)

    def test_paused_transport_bounds_the_queue(self) -> None:
        """A player whose transport is paused queues at most queue_length, then shrinks."""
        player, writer = self.make("queue_length 2; min_latency on;")
        player.pauseProducing()
        for i in range(500):
            player.deliver(_video(40 * i, key=(i % 50 == 0)))
        self.assertEqual(writer.writes, [])
        self.assertGreater(player.queue.shrinks, 0)
        self.assertLessEqual(player.queue.duration_ms, 2000 + 40)
        self.assertLess(len(player.queue), 2000 // 40 + 2)

    def test_resume_writes_what_is_queued(self) -> None:
        """When the transport resumes, the queued messages go out."""
        player, writer = self.make()
        player.pauseProducing()
        for i in range(20):
            player.deliver(_video(40 * i))
        player.resumeProducing()
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertEqual(len(decoded), 20)

    def test_shared_delta_encodings(self) -> None:
        """After the first message on a chunk stream, players send the shared fmt-1 bytes."""
        first, first_writer = self.make("min_latency on;")
        second, second_writer = self.make("min_latency on;")
        messages = self.stamped([_video(40 * i) for i in range(10)])
        for message in messages:
            first.deliver(message)
            second.deliver(message)
        self.assertEqual(first.own_sends, 1)
        self.assertEqual(first.shared_sends, 9)
        # The very same bytes objects were written by both players.
        for a, b in zip(first_writer.writes[1:], second_writer.writes[1:], strict=True):
            self.assertTrue(all(x is y for x, y in zip(a, b, strict=True)))

    def test_late_joiner_timestamps(self) -> None:
        """A player joining at 10 s starts near 0 and keeps the stream's deltas."""
        player, writer = self.make("min_latency on;")
        for message in self.stamped([_video(10000 + 40 * i) for i in range(5)]):
            player.deliver(message)
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertEqual([m.timestamp for m in decoded], [9, 49, 89, 129, 169])

    def test_shrink_restarts_chunk_streams(self) -> None:
        """After a shrink the next message on each chunk stream has a fmt-0 header."""
        player, writer = self.make("queue_length 1; min_latency on;")
        player.pauseProducing()
        messages = self.stamped([_video(40 * i) for i in range(100)])
        for message in messages:
            player.deliver(message)
        player.resumeProducing()
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        timestamps = [m.timestamp for m in decoded]
        self.assertEqual(timestamps, sorted(timestamps))
        self.assertEqual(player.own_sends, 1)

    def test_client_pause(self) -> None:
        """An RTMP pause stops delivery; unpause sends what queued meanwhile."""
        player, writer = self.make("min_latency on;")
        player.set_client_paused(True)
        player.deliver(_video(0, key=True))
        self.assertEqual(writer.writes, [])
        player.set_client_paused(False)
        self.assertEqual(len(writer.writes), 1)

    def test_duration(self) -> None:
        """A play duration stops the player after that much stream time (#45)."""
        done: list[bool] = []
        writer = _Writer()
        player = RtmpPlayer(
            1, _vhost("min_latency on;"), 60000, writer, lambda: [], Clock(),
            duration_ms=1000, on_complete=lambda: done.append(True),
        )
        for message in self.stamped([_audio(23 * i) for i in range(100)]):
            player.deliver(message)
        self.assertEqual(done, [True])
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertLessEqual(decoded[-1].timestamp - decoded[0].timestamp, 1000)


class EndOfStreamTests(SynchronousTestCase):
    """Nothing is held back at the end of a stream or after a timestamp jump."""

    def make(self, body: str = "") -> tuple[RtmpPlayer, _Writer]:
        writer = _Writer()
        return RtmpPlayer(1, _vhost(body), 60000, writer, lambda: [], Clock()), writer

    def test_unpublish_flushes(self) -> None:
        """When the publisher stops, the messages waiting for a merged write go out."""
        player, writer = self.make()
        for i in range(5):
            player.deliver(_video(40 * i))
        self.assertEqual(writer.writes, [])
        player.publisher_changed(False)
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertEqual(len(decoded), 5)

    def test_backwards_timestamp_does_not_stall(self) -> None:
        """A message older than the one before is sent, not held (min_latency)."""
        player, writer = self.make("min_latency on; time_jitter off;")
        player.deliver(_video(1000))
        player.deliver(_video(500))
        decoded = ChunkDecoder(in_chunk_size=60000).receive_data(writer.data())
        self.assertEqual([m.timestamp for m in decoded], [1000, 500])


class _SocketTransport:
    """The parts of a Twisted TCP transport the direct send looks at."""

    def __init__(self, takes: int | object) -> None:
        self.takes = takes
        self.connected = True
        self.disconnecting = False
        self.dataBuffer = b""
        self._tempDataBuffer: list[bytes] = []
        self.sent: list[bytes] = []
        self.written: list[bytes] = []
        self.aborted = False

    def writeSomeData(self, data: bytes) -> int | object:
        if not isinstance(self.takes, int):
            return self.takes
        taken = data[: self.takes]
        self.sent.append(taken)
        return len(taken)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abortConnection(self) -> None:
        self.aborted = True


class DirectSendTests(SynchronousTestCase):
    """Shared batches go straight to the socket when nothing is buffered."""

    def make(self, transport: _SocketTransport) -> tuple[RtmpPlayer, _Writer]:
        writer = _Writer()
        player = RtmpPlayer(1, _vhost(), 60000, writer, lambda: [], Clock())
        # A real TCP transport would be found by DirectSend.of; this fake is
        # given to the sender directly (tests.test_stream_socket_send pins
        # what DirectSend reads of the real one).
        player._direct = DirectSend(transport)  # type: ignore[arg-type]
        return player, writer

    def test_all_sent(self) -> None:
        """A socket that takes the whole batch gets it in one send."""
        transport = _SocketTransport(10_000)
        player, writer = self.make(transport)
        player.send_shared(b"x" * 500, 3)
        self.assertEqual(transport.sent, [b"x" * 500])
        self.assertEqual(transport.written, [])
        self.assertEqual(writer.writes, [])
        self.assertEqual(player.bytes_sent, 500)

    def test_rest_buffered_in_order(self) -> None:
        """What the socket does not take is written after it, through the player's write."""
        transport = _SocketTransport(200)
        player, writer = self.make(transport)
        player.send_shared(b"a" * 200 + b"b" * 300, 3)
        self.assertEqual(transport.sent, [b"a" * 200])
        self.assertEqual(writer.writes, [[b"b" * 300]])
        self.assertEqual(player.bytes_sent, 500)

    def test_buffered_transport_uses_write(self) -> None:
        """With data already buffered, the batch queues behind it (order kept)."""
        transport = _SocketTransport(10_000)
        transport._tempDataBuffer.append(b"earlier")
        player, writer = self.make(transport)
        player.send_shared(b"y" * 50, 1)
        self.assertEqual(transport.sent, [])
        self.assertEqual(writer.writes, [[b"y" * 50]])

    def test_connection_lost(self) -> None:
        """A failed send aborts the connection and counts nothing as sent."""
        transport = _SocketTransport(object())
        player, writer = self.make(transport)
        player.send_shared(b"z" * 50, 1)
        self.assertEqual(transport.written, [])
        self.assertEqual(writer.writes, [])
        self.assertTrue(transport.aborted)
        self.assertEqual(player.bytes_sent, 0)


class FlatTimestampTests(SynchronousTestCase):
    """
    Issue 15 item 3: a publisher whose timestamps never advance must not
    grow a stalled player's queue without bound.
    """

    def setUp(self) -> None:
        from twisted.logger import globalLogPublisher

        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def test_paused_player_bounded_by_bytes(self) -> None:
        """
        200 kB keyframes all at timestamp 0 to a paused player: its queue
        stays under the byte cap (queue_length 2: 5 MB), and one warning
        says so for the whole episode.
        """
        player = RtmpPlayer(200, _vhost("queue_length 2;"), 60000, _Writer(), lambda: [], Clock())
        player.pauseProducing()
        self.assertEqual(player.queue.max_bytes, 5_000_000)
        for _ in range(1000):
            player.deliver(_video(0, key=True, size=200_000))
            self.assertLessEqual(player.queue.bytes, 5_000_000)
        self.assertGreater(player.queue.shrinks, 10)
        warnings = [e for e in self.events if "player queue" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["reason"], "over 5000000 bytes")

    def test_paused_player_bounded_by_count(self) -> None:
        """Small messages at one timestamp: the count cap (1000 per second)."""
        player = RtmpPlayer(200, _vhost("queue_length 2;"), 60000, _Writer(), lambda: [], Clock())
        player.pauseProducing()
        for i in range(10_000):
            player.deliver(_video(0, key=i % 10 == 0))
            self.assertLessEqual(len(player.queue), 2000)
        warnings = [e for e in self.events if "player queue" in e.get("log_format", "")]
        self.assertEqual([w["reason"] for w in warnings], ["over 2000 messages"])

    def test_new_episode_after_catching_up(self) -> None:
        """A player that caught up and falls behind again warns again."""
        writer = _Writer()
        player = RtmpPlayer(200, _vhost("queue_length 2;"), 60000, writer, lambda: [], Clock())
        for episode in range(2):
            player.pauseProducing()
            for i in range(5000):
                player.deliver(_video(0, key=i % 10 == 0))
            player.resumeProducing()
            self.assertEqual(len(player.queue), 0)
        warnings = [e for e in self.events if "player queue" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 2)


class BatchIsolationTests(SynchronousTestCase):
    """
    Issue 15 item 7: a player of a shared batch that raises is removed and
    closed; the batch's other players and the publisher go on.
    """

    def test_member_raises(self) -> None:
        from twisted.logger import globalLogPublisher

        from tests.rtmp_peer import Harness

        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        class Broken(RtmpPlayer):
            def deliver(self, message: SharedMessage) -> None:
                raise RuntimeError("player bug")

        harness = Harness("listen 1935;\nvhost __defaultVhost__ { }\n")
        vhost = harness.holder.config.vhost("__defaultVhost__")
        source = harness.hub.source(vhost, "live", "s")
        source.publish(type("P", (), {"cid": 1, "close": lambda self, r: None})())
        writers = [_Writer() for _ in range(3)]
        players = [
            cls(300 + i, vhost, 60000, writers[i], lambda: [], harness.clock)
            for i, cls in enumerate([RtmpPlayer, Broken, RtmpPlayer])
        ]
        for player in players:
            player.pauseProducing()  # stay on their own queues
            harness.hub.attach(source, player)
        for i in range(20):
            source.on_message(_video(40 * i, key=i == 0))
        self.assertTrue(players[1].closed)
        self.assertEqual(len(players[0].queue), 20)
        self.assertEqual(len(players[2].queue), 20)
        self.assertIsNotNone(source.publisher)
        failures = [
            e for e in events if "log_failure" in e and "player bug" in str(e["log_failure"])
        ]
        self.assertEqual(len(failures), 1)
        self.flushLoggedErrors(RuntimeError)
