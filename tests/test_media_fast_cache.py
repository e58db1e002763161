"""
Tests for :mod:`srstwist.media.fast_cache`: the audio bucket new players start from.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from srstwist.config.loader import load_config_text
from srstwist.interfaces import IStreamConsumer
from srstwist.media.fast_cache import AudioFastCache, FastCaches
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source

_HEADER = SharedMessage(0, 8, b"\xaf\x00\x12\x10")


def _frame(timestamp: int) -> SharedMessage:
    return SharedMessage(timestamp, 8, b"\xaf\x01" + bytes(20))


class CacheTests(SynchronousTestCase):
    """The bucket fills, then empties to the headers."""

    def test_interface(self) -> None:
        """The cache is a stream consumer."""
        verifyObject(IStreamConsumer, AudioFastCache(1))

    def test_bucket(self) -> None:
        """Up to the capacity everything is kept; past it, only the headers."""
        cache = AudioFastCache(1.0)
        cache.deliver(_HEADER)
        for i in range(40):
            cache.deliver(_frame(i * 23))
        self.assertEqual(len(cache.messages()), 41)
        cache.deliver(_frame(1100))
        self.assertEqual(cache.messages(), [_HEADER])
        cache.deliver(_frame(1123))
        self.assertEqual(len(cache.messages()), 2)

    def test_flat_timestamps_bounded(self) -> None:
        """
        Issue 15 item 3: frames that all carry timestamp 0 never pass the
        time capacity; the count and byte caps (1 s: 1000 messages, 2.5 MB)
        empty the cache anyway, down to the headers.
        """
        cache = AudioFastCache(1.0)
        cache.deliver(_HEADER)
        for _ in range(5000):
            cache.deliver(_frame(0))
            self.assertLessEqual(len(cache.messages()), 1001)
        self.assertEqual(cache.overflows, 5)
        big = SharedMessage(0, 8, b"\xaf\x01" + bytes(100_000))
        for _ in range(100):
            cache.deliver(big)
            held = sum(len(m.payload) for m in cache.messages())
            self.assertLessEqual(held, 2_500_000)
        self.assertGreater(cache.overflows, 5)

    def test_unpublish_empties(self) -> None:
        """The end of the publisher empties the cache."""
        cache = AudioFastCache(5)
        cache.deliver(_frame(0))
        cache.publisher_changed(False)
        self.assertEqual(cache.messages(), [])


class MakerTests(SynchronousTestCase):
    """Which published streams get a cache."""

    def source(self, remux: str) -> Source:
        conf = load_config_text(f"listen 1935;\nvhost v {{ http_remux {{ {remux} }} }}\n", "t.conf")
        vhost = conf.vhost("v")
        assert vhost is not None
        return Source(vhost, "live", "s")

    def test_audio_mounts_only(self) -> None:
        """An enabled .mp3 or .aac mount with fast_cache gets one; .flv or 0 does not."""
        caches = FastCaches()
        self.assertIsNone(caches.output_for(self.source("enabled on; fast_cache 30;")))
        self.assertIsNone(
            caches.output_for(self.source("enabled on; mount [vhost]/[app]/[stream].mp3;"))
        )
        source = self.source("enabled on; fast_cache 2; mount [vhost]/[app]/[stream].aac;")
        cache = caches.output_for(source)
        assert cache is not None
        cache.deliver(_frame(0))
        self.assertEqual(len(caches.messages(source.key)), 1)

    def test_unpublish_forgets(self) -> None:
        """The registry lets a stream's cache go when its publisher stops."""
        caches = FastCaches()
        source = self.source("enabled on; fast_cache 2; mount [vhost]/[app]/[stream].mp3;")
        cache = caches.output_for(source)
        assert cache is not None
        cache.publisher_changed(False)
        self.assertEqual(caches._caches, {})
