# -*- test-case-name: tests.test_media_fast_cache -*-
"""
The audio fast cache of HTTP-MP3 and HTTP-AAC streams (``fast_cache``,
SRS's ``SrsStreamCache`` in ``srs_app_http_stream.cpp``).

Audio players start without the GOP cache, so a player that has just
connected hears nothing until the next frames arrive, and some mobile
players give up first.  With ``fast_cache N`` a published stream keeps up
to N seconds of its messages, and each new ``.mp3``/``.aac`` player gets
them in one burst.

SRS's cache is a bucket, not a sliding window: when the span of what it
holds passes N seconds it is emptied, keeping only the latest sequence
headers, and fills again.  That is kept: a player therefore gets between
0 and N seconds at once.

Time is no bound when the publisher's timestamps never advance (issue 15),
so the cache is emptied the same way when it holds more than N seconds at
20 Mbit/s in payload bytes or N seconds at 1000 messages/s
(:func:`srstwist.media.queue.default_limits`, at least one second's worth).

This module imports nothing from Twisted.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from zope.interface import implementer

from srstwist.config.model import HttpRemuxConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer, Replay
from srstwist.media.message import SharedMessage
from srstwist.media.queue import default_limits

if TYPE_CHECKING:
    from srstwist.media.source import Source

__all__ = ["AudioFastCache", "FastCaches"]

_AUDIO_EXTENSIONS = (".mp3", ".aac")


@implementer(IStreamConsumer)
class AudioFastCache:
    """Up to ``seconds`` of one stream's messages, for new audio players."""

    #: Attached at publish, when the GOP cache is empty: of the replay it
    #: gets only headers, which it skips.
    replay = Replay.GOP
    sharing_key = None

    @staticmethod
    def reload_key(vhost: VhostConfig) -> HttpRemuxConfig:
        """
        What a reload must change for the hub to make this cache again
        (``OutputsPerPublish.reconfigure``): the vhost's ``http_remux``.
        """
        return vhost.http_remux

    def __init__(
        self, seconds: float, cid: int = 0, on_unpublish: Callable[[], None] | None = None
    ) -> None:
        """
        :param on_unpublish: called when the publisher stops (the registry
            forgets this cache then).
        """
        self.cid = cid
        self._on_unpublish = on_unpublish
        self._max_ms = int(seconds * 1000)
        #: The payload bytes and message count past which the cache empties.
        self.max_bytes, self.max_count = default_limits(max(seconds, 1.0))
        self._messages: list[SharedMessage] = []
        self._bytes = 0
        self._first_av = -1
        #: How many times the cache was emptied by a cap (not by time).
        self.overflows = 0

    def messages(self) -> list[SharedMessage]:
        """What a new player gets first (a copy)."""
        return list(self._messages)

    def deliver(self, message: SharedMessage) -> None:
        if message.message_type_id not in (8, 9):
            return  # metadata comes with the headers a player gets anyway
        self._messages.append(message)
        self._bytes += len(message.payload)
        if self._first_av < 0:
            self._first_av = message.timestamp
        if message.timestamp - self._first_av > self._max_ms:
            self._empty()
        elif self._bytes > self.max_bytes or len(self._messages) > self.max_count:
            self.overflows += 1
            self._empty()

    def _empty(self) -> None:
        """Keep the latest sequence headers, drop the rest (SRS's shrink)."""
        kept: dict[int, SharedMessage] = {}
        for message in self._messages:
            if message.is_sequence_header:
                kept[message.message_type_id] = message
        self._messages = [kept[t] for t in (9, 8) if t in kept]
        self._bytes = sum(len(m.payload) for m in self._messages)
        self._first_av = -1

    def publisher_changed(self, publishing: bool) -> None:
        if not publishing:
            self._messages = []
            self._bytes = 0
            self._first_av = -1
            if self._on_unpublish is not None:
                self._on_unpublish()

    def close(self, reason: str) -> None:
        self._messages = []
        self._bytes = 0


class FastCaches:
    """
    The fast cache of every published audio stream that asks for one.

    :meth:`output_for` is an output maker for the hub: at publish it returns a
    new cache when the vhost's ``http_remux`` mount is ``.mp3`` or ``.aac``
    with ``fast_cache`` above 0.
    """

    def __init__(self) -> None:
        self._caches: dict[tuple[str, str, str], AudioFastCache] = {}

    def output_for(self, source: Source) -> AudioFastCache | None:
        remux = source.vhost.http_remux
        extension = posixpath.splitext(remux.mount)[1]
        if not remux.enabled or remux.fast_cache <= 0 or extension not in _AUDIO_EXTENSIONS:
            self._caches.pop(source.key, None)
            return None
        key = source.key

        def forget() -> None:
            if self._caches.get(key) is cache:
                del self._caches[key]

        cache = AudioFastCache(remux.fast_cache, source.cid, forget)
        self._caches[key] = cache
        return cache

    def messages(self, key: tuple[str, str, str]) -> list[SharedMessage]:
        """The cached messages of the stream ``key``, if any."""
        cache = self._caches.get(key)
        return cache.messages() if cache is not None else []
