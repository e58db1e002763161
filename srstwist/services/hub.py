# -*- test-case-name: tests.test_services_hub -*-
"""
The registry of live sources, keyed by (vhost, app, stream), and the one
seam every consumer attaches through.

The stream controller (:mod:`srstwist.services.controller`) asks the hub
for a source by name, creating it on first use, and the hub forgets a
source once it has neither publisher nor consumer, so the registry stays as
large as what is live.

:meth:`SourceHub.attach` is the only way a consumer subscribes, whether a
player, HLS, the audio fast cache or (later) DVR and forward: it gives the
consumer what its :attr:`~srstwist.interfaces.IStreamConsumer.replay` asks
for (metadata, sequence headers, then the GOP cache or the fast cache) and
then every live message.  Consumers that declare a ``sharing_key`` join
that key's shared batch instead (one encoding per merged-write tick for
every member in step, :mod:`srstwist.stream.batch`), an optimisation
invisible to them.

Publish observers (:class:`~srstwist.interfaces.IPublishObserver`, SRS's
``ISrsSourceHandler``) hear of every publish and unpublish; the outputs
that live per publish are attached by one (:class:`OutputsPerPublish`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.logger import Logger
from zope.interface import implementer

from srstwist.codec.aac import AacConfig
from srstwist.codec.avc import AvcConfig
from srstwist.codec.flv import audio_tag_header
from srstwist.codec.names import aac_object_name, avc_level_name, avc_profile_name
from srstwist.config.holder import ConfigHolder
from srstwist.config.model import ServerConfig, VhostConfig
from srstwist.interfaces import IPublishObserver, IStreamConsumer, IStreamPublisher, Replay
from srstwist.media.fast_cache import FastCaches
from srstwist.media.message import SharedMessage
from srstwist.media.source import Source
from srstwist.stream.batch import SharedBatch
from srstwist.stream.flv_batch import FlvBatch
from srstwist.stream.request import StreamRequest
from srstwist.stream.rtmp_batch import RtmpBatch
from srstwist.stream.stats import AudioInfo, Statistics, VideoInfo

__all__ = ["SourceHub", "OutputsPerPublish", "BATCH_KINDS"]

#: The shared batch for each kind of sharing key (the key's first item);
#: the rest of the key are the batch's parameters after the clock.
BATCH_KINDS: dict[str, Callable[..., SharedBatch]] = {"rtmp": RtmpBatch, "flv": FlvBatch}


class SourceHub(service.Service):
    """Every live source of the server, and how consumers attach to them."""

    log = Logger()

    def __init__(
        self, holder: ConfigHolder, clock: Any, stats: Statistics | None = None
    ) -> None:
        self.setName("hub")
        self.holder = holder
        self.clock = clock
        self.sources: dict[tuple[str, str, str], Source] = {}
        #: The shared batches, per source key and sharing key.
        self.batches: dict[tuple[tuple[str, str, str], Any], SharedBatch] = {}
        self._batch_of: dict[IStreamConsumer, SharedBatch] = {}
        self.observers: list[IPublishObserver] = []
        #: The audio fast caches that ``Replay.HEADERS`` consumers start from.
        self.fast_caches = FastCaches()
        self.observers.append(
            OutputsPerPublish(self, lambda source, request: self.fast_caches.output_for(source))
        )
        #: What the HTTP API and the heartbeat report.
        self.stats = stats if stats is not None else Statistics(first_id=os.getpid())

    # -- sources -----------------------------------------------------------

    def source(self, vhost: VhostConfig, app: str, stream: str) -> Source:
        """The source for ``vhost/app/stream``, created on first use."""
        key = (vhost.name, app, stream)
        found = self.sources.get(key)
        if found is None:
            found = Source(vhost, app, stream, warn=self._warn, on_codec=self._on_codec)
            self.sources[key] = found
            self.log.info("source {url} created", url=found.url)
        return found

    def find(self, vhost: str, app: str, stream: str) -> Source | None:
        return self.sources.get((vhost, app, stream))

    def release(self, source: Source) -> None:
        """Forget ``source`` if nothing uses it any more."""
        if source.idle and self.sources.get(source.key) is source:
            del self.sources[source.key]

    # -- publishing --------------------------------------------------------

    def observe(self, observer: IPublishObserver) -> None:
        """Tell ``observer`` of every publish and unpublish from now on."""
        self.observers.append(observer)

    def publish(self, source: Source, publisher: IStreamPublisher, request: StreamRequest) -> None:
        """
        Make ``publisher`` the source's publisher, then tell the observers
        (one that fails is logged and skipped: the stream goes on).

        :raises srstwist.media.source.SourceBusy: already published.
        """
        source.publish(publisher)
        for observer in list(self.observers):
            try:
                observer.on_publish(source, request)
            except Exception:
                self.log.failure("publish observer failed for {url}", url=source.url)

    def unpublish(
        self, source: Source, publisher: IStreamPublisher, request: StreamRequest
    ) -> None:
        """
        The publisher stopped: consumers see ``publisher_changed(False)``,
        then the observers are told.
        """
        source.unpublish(publisher)
        if source.publisher is not None:
            return
        for observer in list(self.observers):
            try:
                observer.on_unpublish(source, request)
            except Exception:
                self.log.failure("unpublish observer failed for {url}", url=source.url)

    # -- the consumer seam -------------------------------------------------

    def attach(self, source: Source, consumer: IStreamConsumer) -> None:
        """
        Subscribe ``consumer`` to ``source``: first what its ``replay``
        asks for, then every live message (through its shared batch when it
        declares a ``sharing_key`` of a known kind).
        """
        key = consumer.sharing_key
        make = BATCH_KINDS.get(key[0]) if key is not None else None
        if make is not None:
            batch_key = (source.key, key)
            batch = self.batches.get(batch_key)
            if batch is None or batch.source is not source:
                batch = self.batches[batch_key] = make(source, self.clock, *key[1:])
            self._batch_of[consumer] = batch
            batch.add(consumer)  # type: ignore[arg-type]
            return
        source.attach(consumer, replay=False)
        for message in self.start_messages(source, consumer.replay):
            consumer.deliver(message)

    def detach(self, source: Source, consumer: IStreamConsumer) -> None:
        """Unsubscribe ``consumer``; a shared batch goes with its last member."""
        batch = self._batch_of.pop(consumer, None)
        if batch is None:
            source.detach(consumer)
            return
        batch.remove(consumer)  # type: ignore[arg-type]
        if batch.empty:
            batch.stop()
            for batch_key, found in list(self.batches.items()):
                if found is batch:
                    del self.batches[batch_key]

    def start_messages(self, source: Source, replay: Replay) -> list[SharedMessage]:
        """What a consumer attaching now gets before the live messages."""
        if replay is Replay.GOP:
            return source.start_messages()
        if replay is Replay.HEADERS:
            return source.header_messages() + self.fast_caches.messages(source.key)
        return []

    # -- statistics --------------------------------------------------------

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

    # -- service -----------------------------------------------------------

    def reconfigure(self, config: ServerConfig) -> None:
        for source in self.sources.values():
            vhost = config.vhost(source.vhost.name)
            if vhost is not None:
                source.reconfigure(vhost)

    def stopService(self) -> Any:
        super().stopService()
        for source in list(self.sources.values()):
            source.close("server shutdown")
        self.sources.clear()
        return None


@implementer(IPublishObserver)
class OutputsPerPublish:
    """
    Attaches the consumer ``make(source, request)`` returns at each publish
    (``None``: that output is off for the stream) and detaches it at
    unpublish: HLS, the audio fast cache, and later DVR.
    """

    log = Logger()

    def __init__(
        self, hub: SourceHub, make: Callable[[Source, StreamRequest], IStreamConsumer | None]
    ) -> None:
        self._hub = hub
        self._make = make
        self._outputs: dict[tuple[str, str, str], IStreamConsumer] = {}

    def on_publish(self, source: Source, request: StreamRequest) -> None:
        output = self._make(source, request)
        if output is not None:
            self._hub.attach(source, output)
            self._outputs[source.key] = output

    def on_unpublish(self, source: Source, request: StreamRequest) -> None:
        output = self._outputs.pop(source.key, None)
        if output is not None:
            self._hub.detach(source, output)
