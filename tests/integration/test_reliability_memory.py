"""
End to end: a publisher whose timestamps never advance, with players that
never read, keeps the server's memory bounded (issue 15 item 3).

Time alone bounds no queue when every message is stamped 0: before the byte
and count caps (:mod:`srstwist.media.queue`), three stalled players and one
such publisher took the server from 100 MB to 3.7 GB in 20 s.
"""

from __future__ import annotations

import time

from twisted.internet import defer, reactor, threads
from twisted.python import log
from twisted.trial.unittest import TestCase

from srstwist.client.rtmp import connect_rtmp
from srstwist.codec.rtmp_events import MediaKind
from tests.integration.process import RawPlayer, ServerHelpers, SrsServer, rss_kb, sleep

#: The publisher's message: 200 kB of H.264 (a keyframe every 25 messages).
_SIZE = 200_000
#: Messages per second: 40 MB/s, under the 50 MB/s that closes a flood.
_RATE = 200
#: Seconds of flat-timestamp publishing once the players have stalled.
_SECONDS = 12
#: ``queue_length 10``: each player queue holds at most 25 MB (10 s at
#: 20 Mbit/s) or 10000 messages.
_CONF = "vhost __defaultVhost__ {\n    queue_length 10;\n}\n"
#: How much the server's RSS may grow over its level once the players have
#: stalled.  Bounded: 3 queues of at most 25 MB each (their payloads may be
#: distinct messages), the up-to-128 messages (25 MB) each stalled player
#: wrote into its transport before it paused, the GOP cache (at most 25
#: messages, 5 MB) and the publisher's read buffers, with room for the
#: allocator: about 200 MB.  Unbounded, the queues would keep every message
#: published after the stall alive: 12 s at 40 MB/s is 480 MB.
_RSS_GROWTH_KB = 300 * 1024
#: Payload bytes to publish after the stall: 1.6 x the bound.
_ENOUGH = int(1.6 * _RSS_GROWTH_KB * 1024)


class FlatTimestampMemoryTests(ServerHelpers, TestCase):
    """A flat-timestamp publisher and three stalled players: bounded RSS."""

    timeout = 2 * _SECONDS + 60

    @defer.inlineCallbacks
    def test_flat_timestamps_stalled_players(
        self,
    ) -> defer.Generator[defer.Deferred[object], object, None]:
        server = self.server = SrsServer(self, _CONF)
        yield server.started()
        client = yield connect_rtmp(reactor, server.url("live/flat"))
        self.addCleanup(lambda: client.transport.abortConnection() if client.is_open else None)
        yield client.publish()
        yield self.wait_publish("__defaultVhost__", "live/flat")

        keyframe = b"\x17\x01\x00\x00\x00" + bytes(_SIZE - 5)
        inter = b"\x27\x01\x00\x00\x00" + bytes(_SIZE - 5)
        sent = [0]
        stop = [False]

        @defer.inlineCallbacks
        def publish() -> defer.Generator[defer.Deferred[object], object, None]:
            # Paced to _RATE, every message at timestamp 0.
            start = time.monotonic()
            while not stop[0] and client.is_open:
                due = start + sent[0] / _RATE
                if time.monotonic() < due:
                    yield sleep(min(0.01, due - time.monotonic()))
                    continue
                if not client.writable:
                    yield client.wait_writable()
                    continue
                client.send_media(MediaKind.VIDEO, 0, keyframe if sent[0] % 25 == 0 else inter)
                sent[0] += 1

        publishing = publish()

        # Three players that play, get their first message, then never read.
        players = [RawPlayer(server.port, "live", "flat", rcvbuf=4096) for _ in range(3)]
        for player in players:
            self.addCleanup(player.close)
        yield defer.gatherResults([threads.deferToThread(p.play, 20.0) for p in players])
        # Let their send buffers fill and the server pause their transports.
        yield sleep(1.0)
        baseline = rss_kb(server.pid)
        counted = sent[0]
        samples = [baseline]
        started = time.monotonic()
        # At least _SECONDS, and until enough was published that unbounded
        # queues would break the bound by far (a loaded machine publishes
        # slower), within 2 x _SECONDS.
        while time.monotonic() - started < 2 * _SECONDS and (
            time.monotonic() - started < _SECONDS or (sent[0] - counted) * _SIZE < _ENOUGH
        ):
            yield sleep(0.5)
            samples.append(rss_kb(server.pid))
        stop[0] = True
        yield publishing
        published = sent[0] - counted

        growth = max(samples) - baseline
        self.assertLess(
            growth, _RSS_GROWTH_KB, f"RSS kB every 0.5 s: {samples}; {published} messages sent"
        )
        log.msg(f"flat-timestamp publish: {published} messages, RSS growth {growth} kB: {samples}")
        # Enough was published that unbounded queues would have broken the
        # bound.
        self.assertGreater(published * _SIZE, _ENOUGH, f"{published} messages")
        # The caps did it, warned once per player (one episode each), and the
        # publisher was not taken for a flood.
        warnings = [line for line in server.lines() if "player queue over" in line]
        self.assertTrue(warnings, server.output[-3000:])
        self.assertLessEqual(len(warnings), 3, "\n".join(warnings))
        self.assertNotIn("publisher flood", server.output)
        self.assertNotIn("Traceback", server.output)
        yield client.close()
