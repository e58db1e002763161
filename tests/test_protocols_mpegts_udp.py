"""
Tests for :mod:`srstwist.protocols.mpegts_udp`: ffmpeg's TS capture as
datagrams through a real stream controller on a Clock, with hooks, loss,
garbage, a second sender, silence and a republish.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from srstwist.codec.ts import PACKET_SIZE
from srstwist.interfaces import Stage
from srstwist.protocols.mpegts_udp import IDLE_TIMEOUT, MpegtsUdpCaster
from srstwist.stream.caster import output_request
from srstwist.stream.admission import Admission
from tests.rtmp_peer import Harness
from tests.test_codec_ts_demux import _capture
from tests.test_stream_controller import RecordingConsumer, RecordingHooks

_CONF = """
listen 1935;
vhost __defaultVhost__ {
    http_hooks { enabled on; on_connect http://h/c; on_publish http://h/p; on_unpublish http://h/u; on_close http://h/x; }
}
"""
_OUTPUT = "rtmp://127.0.0.1/live/cast"


def _datagrams(data: bytes, size: int = 7 * PACKET_SIZE) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class CasterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.harness = Harness(_CONF)
        self.hooks = RecordingHooks()
        self.harness.controller.hooks = self.hooks
        self.caster = MpegtsUdpCaster(self.harness.controller, _OUTPUT, self.harness.clock)
        self.sender = ("10.0.0.9", 4000)

    def play(self) -> RecordingConsumer:
        recorder = RecordingConsumer()
        handle = self.harness.controller.client(950, "10.0.0.8")
        request = output_request(_OUTPUT, "10.0.0.8", "memory")
        admitted: list[Admission] = []
        handle.admit(request, Stage.PLAY).addCallback(admitted.append)
        handle.play(admitted[0], recorder)
        return recorder

    def send(self, datagrams: list[bytes], sender: tuple[str, int] | None = None) -> None:
        for datagram in datagrams:
            self.caster.datagramReceived(datagram, sender or self.sender)

    def test_publishes_through_the_controller(self) -> None:
        recorder = self.play()
        self.send(_datagrams(_capture()))
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        video = [m for m in recorder.messages if m.is_video]
        audio = [m for m in recorder.messages if m.is_audio]
        self.assertTrue(video[0].is_sequence_header)
        self.assertGreaterEqual(len(video), 49)  # the last frame waits for the next PES
        self.assertTrue(audio[0].is_sequence_header)
        [cid] = {p["client_id"] for e, p in self.hooks.calls}
        self.assertEqual(self.hooks.events(cid), ["on_connect", "on_publish"])
        stats = self.harness.controller.stats.client(cid)
        self.assertEqual((stats.ip, stats.type), ("10.0.0.9", "fmle-publish"))  # type: ignore[union-attr]
        self.assertEqual(stats.bytes_recv, len(_capture()))  # type: ignore[union-attr]
        self.assertEqual(stats.to_api_dict(0)["transport"], "mpegts_udp")  # type: ignore[union-attr]

    def test_silence_ends_the_publish_and_anyone_republishes(self) -> None:
        recorder = self.play()
        self.send(_datagrams(_capture()))
        self.harness.clock.advance(6)  # publish_normal_timeout: 5 s
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        self.assertEqual(recorder.publishing, [True, False])
        self.assertIsNone(self.caster.session)
        self.send(_datagrams(_capture()), ("10.0.0.10", 5000))
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        self.assertEqual(recorder.publishing, [True, False, True])
        first = self.hooks.events()
        self.assertEqual(
            first, ["on_connect", "on_publish", "on_unpublish", "on_close", "on_connect", "on_publish"]
        )

    def test_second_sender_is_ignored(self) -> None:
        recorder = self.play()
        data = _datagrams(_capture())
        half = len(data) // 2
        self.send(data[:half])
        self.send([os.urandom(1316) for _ in range(20)], ("10.0.0.66", 1))
        self.send(data[half:])
        self.assertEqual(self.caster.session.demuxer.stats.skipped_bytes, 0)  # type: ignore[union-attr]
        self.assertGreaterEqual(len([m for m in recorder.messages if m.is_video]), 49)

    def test_loss_degrades_the_picture_only(self) -> None:
        recorder = self.play()
        packets = _datagrams(_capture(), PACKET_SIZE)
        self.send([p for i, p in enumerate(packets) if i % 17 != 5])
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        stats = self.caster.session.demuxer.stats  # type: ignore[union-attr]
        self.assertGreater(stats.continuity_errors, 0)
        self.assertGreater(len(recorder.messages), 10)

    def test_garbage_only_never_publishes(self) -> None:
        self.send([b"GET / HTTP/1.1\r\n\r\n", os.urandom(2000), b"\x47" * 500])
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        self.assertEqual(self.hooks.calls, [])
        self.harness.clock.advance(IDLE_TIMEOUT + 1)
        self.assertIsNone(self.caster.session)

    def test_refused_publish_closes_only_the_session(self) -> None:
        self.hooks.refuse = "on_publish"
        self.send(_datagrams(_capture())[:30])
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        self.assertEqual(self.hooks.events().count("on_publish"), 1)  # not asked per datagram
        self.harness.clock.advance(IDLE_TIMEOUT + 1)
        self.assertIsNone(self.caster.session)
        self.hooks.refuse = ""
        self.send(_datagrams(_capture()))
        self.assertTrue(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))

    def test_stop_unpublishes(self) -> None:
        self.send(_datagrams(_capture()))
        self.caster.stopProtocol()
        self.assertFalse(self.harness.controller.is_live("__defaultVhost__", "live", "cast"))
        self.assertIsNone(self.caster.session)
