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
from twisted.python.failure import Failure
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
from srstwist.stream.budget import BacklogBudget
from srstwist.stream.flv_batch import FlvBatch
from srstwist.stream.queued_player import QueuedPlayer
from srstwist.stream.request import StreamRequest
from srstwist.stream.rtmp_batch import RtmpBatch
from srstwist.stream.stats import AudioInfo, Statistics, VideoInfo

__all__ = ["SourceHub", "OutputsPerPublish", "BATCH_KINDS", "exact_vhost"]

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
        #: The bound on what all player queues hold, per stream and in all
        #: (issue 15; :mod:`srstwist.stream.budget`).
        self.budget = BacklogBudget(clock)
        # A configured vhost keeps its statistics entry (and id) while it
        # has no stream; others go with their last stream (issue 15).
        self.stats.keep_vhost = lambda name: any(v.name == name for v in holder.config.vhosts)

    # -- sources -----------------------------------------------------------

    def source(self, vhost: VhostConfig, app: str, stream: str) -> Source:
        """The source for ``vhost/app/stream``, created on first use."""
        key = (vhost.name, app, stream)
        found = self.sources.get(key)
        if found is None:
            found = Source(
                vhost,
                app,
                stream,
                warn=self._warn,
                on_codec=self._on_codec,
                on_consumer_error=self._consumer_failed,
            )
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
        if isinstance(consumer, QueuedPlayer):
            self.budget.join(source.key, consumer)
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
        if isinstance(consumer, QueuedPlayer):
            self.budget.leave(source.key, consumer)
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

    def _consumer_failed(self, source: Source, consumer: IStreamConsumer, error: Exception) -> None:
        """
        A consumer raised during ``source``'s fan-out (issue 15): log it,
        detach and close it; the publisher and the other consumers go on.
        A shared batch that fails is closed with its players.
        """
        self.log.failure(
            "consumer {consumer!r} of {url} failed: detached",
            Failure(error, type(error), error.__traceback__),
            consumer=consumer,
            url=source.url,
            cid=getattr(consumer, "cid", 0),
        )
        if isinstance(consumer, SharedBatch):
            for batch_key, found in list(self.batches.items()):
                if found is consumer:
                    del self.batches[batch_key]
        elif isinstance(consumer, QueuedPlayer):
            self.budget.leave(source.key, consumer)
        source.detach(consumer)
        try:
            consumer.close("internal error")
        except Exception:
            self.log.failure("closing the failed consumer {consumer!r} failed", consumer=consumer)

    def _warn(self, message: str) -> None:
        self.log.warn("{problem}", problem=message)

    # -- service -----------------------------------------------------------

    def reconfigure(self, config: ServerConfig) -> None:
        """
        Apply a reload to live streams (SRS's ``SrsSource::on_reload_vhost_*``):
        each source takes its vhost's new config, then every publish observer
        that can (:meth:`OutputsPerPublish.reconfigure`) attaches, detaches or
        restarts its outputs of live streams.

        A source whose vhost the reload removed or disabled keeps its old
        config and its outputs: the controller closes its clients
        (:meth:`srstwist.services.controller.StreamController.reconfigure`),
        and its outputs go at that unpublish.  The lookup is by exact name:
        ``ServerConfig.vhost`` would hand a removed vhost's streams
        ``__defaultVhost__``.
        """
        for source in list(self.sources.values()):
            vhost = exact_vhost(config, source.vhost.name)
            if vhost is not None and vhost.enabled:
                source.reconfigure(vhost)
        for observer in list(self.observers):
            reconfigure = getattr(observer, "reconfigure", None)
            if reconfigure is None:
                continue
            try:
                reconfigure(config)
            except Exception:
                self.log.failure("reload: publish observer {observer} failed", observer=observer)

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

    A reload (:meth:`reconfigure`) asks ``make`` again for every live
    stream whose output's settings changed, as SRS's
    ``SrsSource::on_reload_vhost_hls`` restarts HLS: an output's settings
    are what its optional ``reload_key(vhost)`` returns (e.g. the vhost's
    ``hls`` section), else the whole vhost config.
    """

    log = Logger()

    def __init__(
        self, hub: SourceHub, make: Callable[[Source, StreamRequest], IStreamConsumer | None]
    ) -> None:
        self._hub = hub
        self._make = make
        self._outputs: dict[tuple[str, str, str], IStreamConsumer] = {}
        #: Each live stream: its source, its publisher's request and the
        #: vhost config its output was made with.
        self._live: dict[tuple[str, str, str], tuple[Source, StreamRequest, VhostConfig]] = {}

    def on_publish(self, source: Source, request: StreamRequest) -> None:
        self._live[source.key] = (source, request, source.vhost)
        output = self._make(source, request)
        if output is not None:
            self._hub.attach(source, output)
            self._outputs[source.key] = output

    def on_unpublish(self, source: Source, request: StreamRequest) -> None:
        self._live.pop(source.key, None)
        output = self._outputs.pop(source.key, None)
        if output is not None:
            self._hub.detach(source, output)

    def reconfigure(self, config: ServerConfig) -> None:
        """
        Bring the outputs of live streams in line with ``config`` (the
        sources already have their new vhost config), without a republish
        and without touching players:

        * an output now off is detached and closed (HLS closes its segment
          and ends its playlist, as at unpublish);
        * an output now on is made and attached with its replay (HLS gets
          the GOP cache and starts on its keyframe; without one it waits
          for the next keyframe, see ``join_live``);
        * an output whose settings changed is closed, made again and
          attached the same way;
        * anything else is left alone.

        Streams of a vhost the reload removed or disabled are skipped: the
        controller closes their publishers.
        """
        for key, (source, request, made_with) in list(self._live.items()):
            vhost = exact_vhost(config, key[0])
            if vhost is None or not vhost.enabled or source.publisher is None:
                continue
            old = self._outputs.get(key)
            reload_key = getattr(old, "reload_key", None)
            if old is not None and reload_key is not None:
                unchanged = reload_key(made_with) == reload_key(vhost)
            else:
                unchanged = made_with == vhost
            self._live[key] = (source, request, vhost)
            if unchanged:
                continue
            if old is not None:
                del self._outputs[key]
                self._hub.detach(source, old)
                old.close("reload")
            output = self._make(source, request)
            if output is None:
                if old is not None:
                    self.log.info(
                        "reload: {output} of {url} stopped",
                        output=type(old).__name__,
                        url=source.url,
                        cid=source.cid,
                    )
                continue
            join_live = getattr(output, "join_live", None)
            if callable(join_live):
                join_live()
            self._hub.attach(source, output)
            self._outputs[key] = output
            self.log.info(
                "reload: {output} of {url} {what}",
                output=type(output).__name__,
                url=source.url,
                what="started" if old is None else "restarted",
                cid=source.cid,
            )


def exact_vhost(config: ServerConfig, name: str) -> VhostConfig | None:
    """
    The vhost called ``name`` in ``config``, without the fallback to
    ``__defaultVhost__`` that :meth:`ServerConfig.vhost` gives clients.
    """
    for vhost in config.vhosts:
        if vhost.name == name:
            return vhost
    return None
