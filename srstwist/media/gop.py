# -*- test-case-name: tests.test_media_gop -*-
"""
The source's GOP cache: the last group of pictures, for new players
(``SrsGopCache`` in ``srs_app_source.cpp``).

A player that joins gets the cached metadata and sequence headers, then
:meth:`GopCache.messages`, then live messages, so its decoder can start at the
last keyframe instead of waiting for the next one.  The rules are SRS's
``SrsGopCache``:

* sequence headers, metadata and any other non-A/V message are never
  cached (the source keeps its own copies of those);
* only H.264 video (FLV codec id 7) counts as video; other video is
  ignored, so a stream with another video codec caches nothing;
* until the cache holds an H.264 frame, nothing is cached (audio-only
  streams cache nothing);
* an H.264 keyframe (frame type 1) empties the cache and starts a new GOP
  with that frame;
* audio after the last video is counted, and the 116th such message
  (about 3 s of 26 ms AAC frames) empties the cache instead of being cached:
  the publisher is taken to have gone audio-only (SRS #124).  Caching then
  waits for the next H.264 frame.

Like SRS, the first H.264 frame cached after the cache was empty need not be
a keyframe: a publisher whose stream starts on an inter frame gets that
frame and what follows cached until its first keyframe.  Keyframes only
ever sit at the start of the cache.

Memory: one GOP of video plus the audio interleaved with it, and never more
than :data:`MAX_BYTES` (16 MB of payload) or :data:`MAX_MESSAGES` (4096
messages: 80 s of 25 fps video with its AAC): a publisher that never sends a
keyframe, or sends GOPs longer than that, would otherwise grow it without
bound (SRS 2.0 does; issue 15).  Past either cap the cache is emptied and
caches nothing until the next keyframe (new players then start on live
messages); :meth:`GopCache.cache` says so once per episode (consecutive
GOPs that overflow) and :attr:`GopCache.overflows` counts them all.

This module imports nothing from Twisted.
"""

from __future__ import annotations

from srstwist.codec.flv import is_avc
from srstwist.media.message import SharedMessage

__all__ = ["MAX_BYTES", "MAX_MESSAGES", "PURE_AUDIO_GUESS_COUNT", "GopCache"]

#: More audio messages than this after the last video message clear the
#: cache (SRS #124: 115 AAC frames of 26 ms are about 3 s).
PURE_AUDIO_GUESS_COUNT = 115
#: The most payload bytes the cache holds (16 MB: a 10 s GOP at 12 Mbit/s).
MAX_BYTES = 16 * 1024 * 1024
#: The most messages the cache holds.
MAX_MESSAGES = 4096

class GopCache:
    """
    The messages since the last H.264 keyframe.
    """

    __slots__ = (
        "_audio_after_video",
        "_awaiting_keyframe",
        "_enabled",
        "_episode",
        "_messages",
        "_video_count",
        "bytes",
        "max_bytes",
        "max_messages",
        "overflows",
    )

    def __init__(
        self, enabled: bool = True, max_bytes: int = MAX_BYTES, max_messages: int = MAX_MESSAGES
    ) -> None:
        """
        :param enabled: the vhost's ``gop_cache`` setting.
        :param max_bytes: the payload bytes past which the cache is emptied.
        :param max_messages: the message count past which it is emptied.
        """
        self._enabled = enabled
        self._messages: list[SharedMessage] = []
        self._video_count = 0
        self._audio_after_video = 0
        self._awaiting_keyframe = False
        self._episode = False
        self._episode = False
        #: The payload bytes cached now.
        self.bytes = 0
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        #: How many times a cap emptied the cache.
        self.overflows = 0

    def __repr__(self) -> str:
        state = "enabled" if self._enabled else "disabled"
        return f"<GopCache {state} size={len(self._messages)} first={self.first_timestamp}>"

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def enabled(self) -> bool:
        """
        Whether messages are cached; setting it to ``False`` also empties
        the cache.
        """
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        if not enabled:
            self.clear()

    @property
    def empty(self) -> bool:
        """
        Whether the cache holds no message.
        """
        return not self._messages

    @property
    def first_timestamp(self) -> int | None:
        """
        The timestamp of the first cached message, which ATC stamps the
        metadata and sequence headers with for a new player
        (``SrsSource::create_consumer``); ``None`` when the cache is empty
        (SRS says 0, but it never asks then).
        """
        return self._messages[0].timestamp if self._messages else None

    def cache(self, message: SharedMessage) -> bool:
        """
        Offer a message the source has just sent to its players; keep it
        if the rules in the module docstring say so.

        :return: whether this message made the cache pass a cap for the
            first time in an episode (the caller logs it then).
        """
        if not self._enabled or message.is_sequence_header:
            return False
        if message.is_video:
            if not is_avc(message.payload):
                return False
            self._video_count += 1
            self._audio_after_video = 0
        elif not message.is_audio:
            return False
        if self._video_count == 0:
            return False
        if message.is_audio:
            self._audio_after_video += 1
            if self._audio_after_video > PURE_AUDIO_GUESS_COUNT:
                self.clear()
                return False
        elif message.is_keyframe:
            if not self._awaiting_keyframe:
                self._episode = False  # a whole GOP fitted
            self._awaiting_keyframe = False
            self._messages.clear()
            self.bytes = 0
            self._video_count = 1
        if self._awaiting_keyframe:
            return False
        self._messages.append(message)
        self.bytes += len(message.payload)
        if self.bytes > self.max_bytes or len(self._messages) > self.max_messages:
            self._messages.clear()
            self.bytes = 0
            self._awaiting_keyframe = True
            self.overflows += 1
            first, self._episode = not self._episode, True
            return first
        return False

    def messages(self) -> list[SharedMessage]:
        """
        :return: the cached messages, oldest first (a new list).
        """
        return list(self._messages)

    def clear(self) -> None:
        """
        Empty the cache and its counters (unpublish, ATC reload); caching
        starts again with the next H.264 frame.
        """
        self._messages.clear()
        self.bytes = 0
        self._video_count = 0
        self._audio_after_video = 0
        self._awaiting_keyframe = False
        self._episode = False
