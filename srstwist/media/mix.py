# -*- test-case-name: tests.test_media_mix -*-
"""
SRS's ``mix_correct`` queue: interleave a publisher's audio and video by
timestamp (SRS #383, ``SrsMixQueue`` in ``srs_app_source.cpp``).

Some encoders send audio and video each in order but not in order with each
other.  With ``mix_correct on`` the source pushes every incoming A/V message
here and then pops at most one, which it processes as if it had just
arrived.  A message is released only when the queue can tell what comes
first:

* it holds at least one video and at least one audio message, or
* it holds at least 10 video messages and no audio (a video-only stream), or
* it holds at least 10 audio messages and no video (an audio-only stream).

The one released is the one with the smallest timestamp; equal timestamps
leave in the order they came (as ``std::multimap`` inserts them in SRS).
Anything that is not video counts as audio, as in SRS; the source only
pushes audio and video.

Memory: with one pop after each push the queue holds at most 9 messages
between pushes (10 for a moment), whatever the timestamps (flat or jumping
ones included: a pop depends on the kinds held, not on time), so its bytes
are at most 10 of the largest message the RTMP chunk decoder accepts; no
byte cap of its own is needed (issue 15).  The source clears it on each publish; what is still
queued at unpublish is dropped then, as in SRS.

This module imports nothing from Twisted.
"""

from __future__ import annotations

import heapq
from itertools import count

from srstwist.media.message import SharedMessage

__all__ = ["PURE_AV_COUNT", "MixQueue"]

#: How many messages of one kind, with none of the other, release one.
PURE_AV_COUNT = 10


class MixQueue:
    """
    A timestamp-ordered holding queue for a publisher's audio and video.
    """

    __slots__ = ("_audios", "_heap", "_order", "_videos")

    def __init__(self) -> None:
        # (timestamp, arrival number, message): the arrival number keeps
        # equal timestamps first-in first-out and the messages uncompared.
        self._heap: list[tuple[int, int, SharedMessage]] = []
        self._order = count()
        self._videos = 0
        self._audios = 0

    def __repr__(self) -> str:
        return f"<MixQueue videos={self._videos} audios={self._audios}>"

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, message: SharedMessage) -> None:
        """
        Hold ``message`` until :meth:`pop` releases it.
        """
        heapq.heappush(self._heap, (message.timestamp, next(self._order), message))
        if message.is_video:
            self._videos += 1
        else:
            self._audios += 1

    def pop(self) -> SharedMessage | None:
        """
        Release the earliest message if the queue holds enough to know it
        is the earliest (see the module docstring).

        :return: that message, or ``None`` when the queue must wait for more.
        """
        videos, audios = self._videos, self._audios
        if not (
            (videos >= 1 and audios >= 1)
            or (videos >= PURE_AV_COUNT and audios == 0)
            or (audios >= PURE_AV_COUNT and videos == 0)
        ):
            return None
        message = heapq.heappop(self._heap)[2]
        if message.is_video:
            self._videos -= 1
        else:
            self._audios -= 1
        return message

    def clear(self) -> None:
        """
        Drop everything held (a new publish).
        """
        self._heap.clear()
        self._videos = 0
        self._audios = 0
