# -*- test-case-name: tests.test_services_hub -*-
"""
The registry of live sources, keyed by (vhost, app, stream).

Protocols ask the hub for a source by name (creating it on first use), and
the hub forgets a source once it has neither publisher nor consumer, so the
registry stays as large as what is live.  On reload it hands each source its
vhost's new config; on shutdown it ends every publisher and consumer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from srstwist.codec.aac import AacConfig
from srstwist.codec.avc import AvcConfig
from srstwist.codec.flv import audio_tag_header
from srstwist.config.model import ServerConfig, VhostConfig
from srstwist.interfaces import IStreamConsumer, IStreamPublisher
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source
from srstwist.stats import (
    AudioInfo,
    Statistics,
    VideoInfo,
    aac_object_name,
    avc_level_name,
    avc_profile_name,
)

#: Seconds between two samples of the byte counters (kbps), as SRS's 3 ticks.
SAMPLE_INTERVAL = 3.0

__all__ = ["SourceHub", "ConfigHolder"]


class ConfigHolder:
    """
    The config in force, shared by everything that reads it per connection.

    The root service replaces C{config} on a successful reload; protocols
    read it when a client connects, so new connections see the new config
    at once and existing ones keep what they started with.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config


class SourceHub(service.Service):
    """Every live source of the server."""

    log = Logger()

    def __init__(self, holder: ConfigHolder, clock: Any) -> None:
        self.setName("hub")
        self.holder = holder
        self.clock = clock
        self.sources: dict[tuple[str, str, str], Source] = {}
        #: The shared-batch groups of players, per source and RTMP chunk
        #: size (0: HTTP-FLV players).
        self.fanouts: dict[tuple[tuple[str, str, str], int], Any] = {}
        #: Makers of the outputs every published source feeds (HLS, the
        #: audio fast cache, ...): each takes the source and returns a
        #: consumer to attach, or None when that output is off for it.
        self.output_makers: list[Callable[[Source], IStreamConsumer | None]] = []
        self._outputs: dict[tuple[str, str, str], list[IStreamConsumer]] = {}
        #: What the HTTP API and the heartbeat report.
        self.stats = Statistics(first_id=os.getpid())
        self._sampler = LoopingCall(lambda: self.stats.sample(self.clock.seconds()))
        self._sampler.clock = clock

    def startService(self) -> None:
        super().startService()
        self._sampler.start(SAMPLE_INTERVAL, now=False)

    def source(self, vhost: VhostConfig, app: str, stream: str) -> Source:
        """The source for C{vhost/app/stream}, created on first use."""
        key = (vhost.name, app, stream)
        found = self.sources.get(key)
        if found is None:
            found = Source(vhost, app, stream, warn=self._warn, on_codec=self._on_codec)
            self.sources[key] = found
            self.log.info("source {url} created", url=found.url)
        return found

    def publish(self, source: Source, publisher: IStreamPublisher) -> None:
        """
        Make C{publisher} the source's publisher and attach the outputs
        that feed on it (they get the source's headers and GOP cache, then
        every message).

        @raise srstwist.media.source.SourceBusy: already published.
        """
        source.publish(publisher)
        outputs = []
        for make in self.output_makers:
            try:
                output = make(source)
            except Exception:
                self.log.failure("output for {url} failed to start", url=source.url)
                continue
            if output is not None:
                source.attach(output)
                outputs.append(output)
        if outputs:
            self._outputs[source.key] = outputs

    def unpublish(self, source: Source, publisher: IStreamPublisher) -> None:
        """
        The publisher stopped: the outputs close their work (they see
        C{publisher_changed(False)}) and are detached.
        """
        source.unpublish(publisher)
        if source.publisher is not None:
            return
        for output in self._outputs.pop(source.key, []):
            source.detach(output)

    def join(self, source: Source, player: Any, chunk_size: int) -> Any:
        """Add an RTMP player to its source's shared batch (made on demand)."""
        # Imported here: the RTMP protocol modules import this one.
        from srstwist.protocols.rtmp_fanout import FanOut

        return self._join(
            (source.key, chunk_size),
            source,
            player,
            lambda: FanOut(source, chunk_size, source.vhost, self.clock),
        )

    def join_http_flv(self, source: Source, player: Any) -> Any:
        """Add an HTTP-FLV player to its source's shared batch (made on demand)."""
        # Imported here: the web modules import this one.
        from srstwist.web.flv_fanout import FlvFanOut

        return self._join(
            (source.key, 0), source, player, lambda: FlvFanOut(source, source.vhost, self.clock)
        )

    def _join(self, key: tuple[Any, int], source: Source, player: Any, make: Any) -> Any:
        fanout = self.fanouts.get(key)
        if fanout is None or fanout.source is not source:
            fanout = self.fanouts[key] = make()
        fanout.add(player)
        return fanout

    def part(self, fanout: Any, player: Any) -> None:
        """Remove a player; the batch goes when its last player does."""
        fanout.remove(player)
        if fanout.empty:
            fanout.stop()
            key: Any = fanout.key
            if self.fanouts.get(key) is fanout:
                del self.fanouts[key]

    def _on_codec(self, source: Source, kind: str, config: Any, header: SharedMessage) -> None:
        now = self.clock.seconds()
        vhost, app, stream = source.key
        if kind == "video" and isinstance(config, AvcConfig):
            info = VideoInfo(
                "H264",
                avc_profile_name(config.profile_idc),
                avc_level_name(config.level_idc),
                config.width or 0,
                config.height or 0,
            )
            self.stats.on_video_info(vhost, app, stream, info, now)
        elif kind == "audio" and isinstance(config, AacConfig):
            tag = audio_tag_header(header.payload)
            audio = AudioInfo(
                "AAC", tag.sound_rate, tag.channels, aac_object_name(config.object_type)
            )
            self.stats.on_audio_info(vhost, app, stream, audio, now)

    def _warn(self, message: str) -> None:
        self.log.warn("{problem}", problem=message)

    def release(self, source: Source) -> None:
        """Forget C{source} if nothing uses it any more."""
        if source.idle and self.sources.get(source.key) is source:
            del self.sources[source.key]

    def find(self, vhost: str, app: str, stream: str) -> Source | None:
        return self.sources.get((vhost, app, stream))

    def reconfigure(self, config: ServerConfig) -> None:
        for source in self.sources.values():
            vhost = config.vhost(source.vhost.name)
            if vhost is not None:
                source.reconfigure(vhost)

    def stopService(self) -> Any:
        super().stopService()
        if self._sampler.running:
            self._sampler.stop()
        for source in list(self.sources.values()):
            source.close("server shutdown")
        self.sources.clear()
        return None
