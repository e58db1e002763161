# -*- test-case-name: tests.test_media_source -*-
"""
One live stream: its publisher, its caches and its consumers.

A :class:`Source` is SRS's ``SrsSource`` (``srs_app_source.cpp``) without the
I/O: the RTMP protocol hands it :class:`SharedMessage` objects, it checks and
caches them, and it passes each one, the same object, to every
:class:`IStreamConsumer`.

Per published message (``SrsSource::on_audio``, ``on_video``, ``on_meta_data``):
video with an unusable first byte is dropped (#421); an H.264 or AAC sequence
header must parse, else the publisher is refused (:class:`SourceError`);
metadata is rewritten as SRS does (``duration`` removed, server fields added,
``@setDataFrame`` dropped) and cached; non-AAC audio's first packet stands in
as the audio sequence header.  Then every consumer gets the message and the
GOP cache keeps it.

A new consumer first gets the cached metadata, the audio then the video
sequence header (#301) and the GOP cache (``SrsSource::create_consumer``), so
a player starts on a keyframe.  Consumers stay attached when the publisher
leaves and continue with the next one (#454).

Encoding once: before the fan-out the source stamps each message with
``stream_delta``, its timestamp minus the previous one on the same chunk
stream on the source's own corrected timeline.  A player's corrected
timeline differs from the source's by a constant, so its deltas are the same
and it can send the shared fmt-1 encoding (:meth:`SharedMessage.delta_chunks`);
see :mod:`srstwist.stream.rtmp_player`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from srstwist.codec.aac import AacError, parse_aac_sequence_header
from srstwist.codec.avc import AvcError, parse_avc_sequence_header
from srstwist.codec.chunk import MessageType
from srstwist.codec.flv import is_aac, is_acceptable_video
from srstwist.config.model import VhostConfig
from srstwist.interfaces import IStreamConsumer, IStreamPublisher
from srstwist.media.gop import GopCache
from srstwist.media.jitter import TimeJitter
from srstwist.media.message import SharedMessage
from srstwist.media.metadata import MetadataError, is_metadata, rewrite_metadata, wants_atc
from srstwist.media.mix import MixQueue

__all__ = ["Source", "SourceError", "SourceBusy", "SERVER_INFO"]

#: Properties SRS adds to published metadata (``SrsSource::on_meta_data``).
SERVER_INFO = {
    "server": "SRS/2.0.276(ZhouGuowen)",
    "srs_primary": "SRS/2.0release",
    "srs_authors": "winlin,wenjie.zhao",
    "server_version": "2.0.276",
}

_DATA_TYPES = (MessageType.AMF0_DATA, MessageType.AMF3_DATA)


class SourceError(Exception):
    """A published message the source cannot accept; the publisher is refused."""


class SourceBusy(SourceError):
    """The stream is already being published (SRS 1028)."""


class Source:
    """
    A live stream, keyed by (vhost, app, stream).

    :ivar codec_info: what the sequence headers said (``video``: an
        :class:`AvcConfig`, ``audio``: an :class:`AacConfig` or the sound format), for the
        statistics.
    """

    def __init__(
        self,
        vhost: VhostConfig,
        app: str,
        stream: str,
        warn: Callable[[str], None] = lambda message: None,
        on_codec: Callable[[Source, str, Any, SharedMessage], None] = lambda *args: None,
        on_consumer_error: Callable[[Source, IStreamConsumer, Exception], None] | None = None,
    ) -> None:
        """
        :param warn: called with a message for problems that do not stop the
            stream (this module is Twisted-free; the hub logs for it).
        :param on_codec: called with (source, "video" or "audio", the parsed
            configuration, the sequence header) when a sequence header
            parses, for the statistics.
        :param on_consumer_error: called with (source, consumer, exception)
            when a consumer's ``deliver`` or ``publisher_changed`` raises
            during a fan-out (issue 15): the consumer is to be detached
            (the hub logs the failure and detaches it); the fan-out goes on
            with the others, so one broken consumer never drops the stream.
            By default the source warns and detaches the consumer itself.
        """
        self.vhost = vhost
        self._warn = warn
        self._on_codec = on_codec
        self._on_consumer_error = on_consumer_error
        self.app = app
        self.stream = stream
        self.publisher: IStreamPublisher | None = None
        self.consumers: list[IStreamConsumer] = []
        self.metadata: SharedMessage | None = None
        self.video_sequence_header: SharedMessage | None = None
        self.audio_sequence_header: SharedMessage | None = None
        self.gop = GopCache(vhost.gop_cache)
        self.codec_info: dict[str, Any] = {}
        self.atc = vhost.atc
        self._mix: MixQueue | None = None
        self._timeline = TimeJitter(self._jitter_algorithm())
        self._last_on_csid: dict[int, int] = {}
        self._last_av_on_csid: dict[int, bool] = {}
        self._metadata_count = 0
        #: Messages taken from publishers, for statistics.
        self.messages_in = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vhost.name, self.app, self.stream)

    @property
    def url(self) -> str:
        """``vhost/app/stream``, as SRS names a stream in its logs."""
        return f"{self.vhost.name}/{self.app}/{self.stream}"

    @property
    def cid(self) -> int:
        """The publisher's cid, so the source's log lines join its publisher's."""
        return getattr(self.publisher, "cid", 0)

    @property
    def idle(self) -> bool:
        """No publisher and no consumer: the hub may forget this source."""
        return self.publisher is None and not self.consumers

    def _jitter_algorithm(self) -> str:
        return "off" if self.atc else self.vhost.time_jitter

    # -- publishing --------------------------------------------------------

    def can_publish(self) -> bool:
        return self.publisher is None

    def publish(self, publisher: IStreamPublisher) -> None:
        """
        Make ``publisher`` the one publisher.

        :raises SourceBusy: another publisher holds the stream (SRS 1028);
            only the newcomer is refused.
        """
        if self.publisher is not None:
            raise SourceBusy(f"stream {self.url} is already published by cid {self.publisher.cid}")
        self.publisher = publisher
        self._mix = MixQueue() if self.vhost.mix_correct else None
        self._timeline.reset()
        self._last_on_csid.clear()
        self._last_av_on_csid.clear()
        self._metadata_count = 0
        self._tell_consumers(True)

    def unpublish(self, publisher: IStreamPublisher) -> None:
        """
        ``publisher`` stopped: clear the GOP cache, keep sequence headers and
        metadata, let the next publisher in, keep the consumers
        (``SrsSource::on_unpublish``).
        """
        if self.publisher is not publisher:
            return
        self.publisher = None
        self.gop.clear()
        if self._mix is not None:
            self._mix.clear()
        self._tell_consumers(False)

    def _tell_consumers(self, publishing: bool) -> None:
        """``publisher_changed`` to every consumer, each failure isolated."""
        for consumer in list(self.consumers):
            try:
                consumer.publisher_changed(publishing)
            except Exception as error:
                self._consumer_failed(consumer, error)

    def _consumer_failed(self, consumer: IStreamConsumer, error: Exception) -> None:
        """
        ``consumer`` raised ``error``: report it and detach it (see the
        ``on_consumer_error`` parameter).
        """
        if self._on_consumer_error is not None:
            self._on_consumer_error(self, consumer, error)
        else:
            self._warn(f"source {self.url}: consumer {consumer!r} failed, detached: {error!r}")
        # Whatever the handler did, the consumer gets nothing more.
        self.detach(consumer)

    # -- consumers ---------------------------------------------------------

    def attach(self, consumer: IStreamConsumer, replay: bool = True) -> None:
        """
        Subscribe ``consumer``: it gets metadata, sequence headers and the GOP
        cache now (unless ``replay`` is false), then every live message.
        """
        self.consumers.append(consumer)
        if replay:
            for message in self.start_messages():
                consumer.deliver(message)

    @property
    def timeline(self) -> TimeJitter:
        """
        The source's own corrected timeline, as a consumer attached at
        publish time sees it; players in step with it differ by a constant.
        """
        return self._timeline

    @property
    def chunk_stream_times(self) -> dict[int, int]:
        """
        The corrected timestamp of the last message on each chunk stream
        (read only).
        """
        return self._last_on_csid

    def start_messages(self) -> list[SharedMessage]:
        """
        What a new consumer gets first (``SrsSource::create_consumer``):
        metadata, audio and video sequence headers, then the GOP cache.  With
        ATC the headers are stamped with the GOP's first timestamp (the same
        function).
        """
        headers = self.header_messages()
        if self.atc and not self.gop.empty:
            first = self.gop.first_timestamp
            assert first is not None
            headers = [_restamped(m, first) for m in headers]
        return headers + self.gop.messages()

    def header_messages(self) -> list[SharedMessage]:
        """Metadata, then the audio and video sequence headers, as cached."""
        return [
            m
            for m in (self.metadata, self.audio_sequence_header, self.video_sequence_header)
            if m is not None
        ]

    def detach(self, consumer: IStreamConsumer) -> None:
        if consumer in self.consumers:
            self.consumers.remove(consumer)

    # -- the ingest path ---------------------------------------------------

    def on_message(self, message: SharedMessage) -> None:
        """
        Take one message from the publisher (``SrsSource::on_audio``,
        ``on_video``, ``on_meta_data``) and fan it out.

        :raises SourceError: a sequence header or metadata that cannot be
            used; the caller drops the publisher.
        """
        self.messages_in += 1
        type_id = message.message_type_id
        if type_id in _DATA_TYPES:
            if not is_metadata(message.payload):
                return
            rewritten = self._on_metadata(message)
            if rewritten is None:
                return
            deliver = self._metadata_count == 1 or not self.vhost.reduce_sequence_header
            self._fan_out(rewritten, deliver)
            return
        if type_id == MessageType.VIDEO and not is_acceptable_video(message.payload):
            return
        if type_id not in (MessageType.AUDIO, MessageType.VIDEO):
            return
        if self._mix is not None:
            # mix_correct (#383): what goes on is whichever message the
            # queue releases, and that one is the one to examine.
            self._mix.push(message)
            released = self._mix.pop()
            if released is None:
                return
            message = released
        if message.is_video:
            deliver = True
            if message.is_sequence_header:
                deliver = self._on_video_sequence_header(message)
        else:
            deliver = self._on_audio(message)
        self._fan_out(message, deliver)

    def _fan_out(self, message: SharedMessage, deliver: bool) -> None:
        """Stamp ``message``, give it to every consumer and to the GOP cache."""
        self._stamp(message)
        if deliver:
            # One try around the whole loop: free until a consumer raises;
            # then the rest are served one by one (_fan_out_rest).
            consumer = None
            try:
                for consumer in self.consumers:
                    consumer.deliver(message)
            except Exception as error:
                self._fan_out_rest(message, consumer, error)
        if not message.is_sequence_header and message.message_type_id != MessageType.AMF0_DATA:
            if self.gop.cache(message):
                self._warn(
                    f"source {self.url}: GOP cache over {self.gop.max_bytes} bytes or "
                    f"{self.gop.max_messages} messages without a keyframe: emptied, caching "
                    f"resumes at the next keyframe"
                )

    def _fan_out_rest(
        self, message: SharedMessage, failed: IStreamConsumer | None, error: Exception
    ) -> None:
        """
        ``failed`` raised ``error`` on ``message``: detach it and give the
        message to the consumers after it, isolating each.
        """
        consumers = self.consumers
        index = next((i for i, c in enumerate(consumers) if c is failed), len(consumers))
        rest = consumers[index + 1 :]
        if failed is not None:
            self._consumer_failed(failed, error)
        for consumer in rest:
            try:
                consumer.deliver(message)
            except Exception as later:
                self._consumer_failed(consumer, later)

    def _stamp(self, message: SharedMessage) -> None:
        """
        Set ``stream_delta`` from the source's corrected timeline.

        With ``time_jitter full`` a player's A/V timestamps are the source's
        plus a constant, but metadata is stamped 0 for everyone: a delta
        from or to a metadata message differs between players, so it is
        left unset and nobody shares that encoding.
        """
        timestamp = self._timeline.correct(message)
        message.stream_time = timestamp
        csid = message.chunk_stream_id
        previous = self._last_on_csid.get(csid)
        if previous is None:
            message.stream_delta = None
        elif self._timeline.algorithm == "full" and not (
            message.is_av and self._last_av_on_csid.get(csid, False)
        ):
            message.stream_delta = None
        else:
            message.stream_delta = timestamp - previous
        self._last_on_csid[csid] = timestamp
        self._last_av_on_csid[csid] = message.is_av

    def _new_header(
        self, kind: str, previous: SharedMessage | None, header: SharedMessage, config: Any
    ) -> bool:
        """
        Record a parsed sequence header's codec; whether players get it
        (not when it repeats the previous one byte for byte and
        ``reduce_sequence_header`` is on).
        """
        self.codec_info[kind] = config
        self._on_codec(self, kind, config, header)
        repeat = previous is not None and previous.payload == header.payload
        return not (repeat and self.vhost.reduce_sequence_header)

    def _on_video_sequence_header(self, message: SharedMessage) -> bool:
        try:
            config = parse_avc_sequence_header(message.payload, self.vhost.publish.parse_sps)
        except AvcError as e:
            raise SourceError(f"bad H.264 sequence header: {e}") from e
        deliver = self._new_header("video", self.video_sequence_header, message, config)
        self.video_sequence_header = message
        return deliver

    def _on_audio(self, message: SharedMessage) -> bool:
        if message.is_sequence_header:
            try:
                config = parse_aac_sequence_header(message.payload)
            except AacError as e:
                raise SourceError(f"bad AAC sequence header: {e}") from e
            deliver = self._new_header("audio", self.audio_sequence_header, message, config)
            self.audio_sequence_header = message
            return deliver
        if self.audio_sequence_header is None and message.payload and not is_aac(message.payload):
            # MP3 and the other formats have no sequence header: SRS caches
            # the first packet in its place, so new players get it first.
            self.audio_sequence_header = message
            self.codec_info["audio"] = message.payload[0] >> 4
        return True

    def _on_metadata(self, message: SharedMessage) -> SharedMessage | None:
        try:
            payload, values = rewrite_metadata(message.payload, SERVER_INFO)
        except MetadataError as e:
            self._warn(f"source {self.url}: metadata ignored: {e}")
            return None
        if self.vhost.atc_auto:
            atc = self.vhost.atc or wants_atc(values)
            if atc != self.atc:
                self.atc = atc
                self._timeline = TimeJitter(self._jitter_algorithm())
        rewritten = SharedMessage(
            message.timestamp, MessageType.AMF0_DATA, payload, message.chunk_stream_id
        )
        self.metadata = rewritten
        self._metadata_count += 1
        return rewritten

    # -- lifecycle ---------------------------------------------------------

    def reconfigure(self, vhost: VhostConfig) -> None:
        """Apply a reloaded vhost config (SRS's ``SrsSource::on_reload_vhost_*``)."""
        if vhost.gop_cache != self.vhost.gop_cache:
            self.gop.enabled = vhost.gop_cache
        if vhost.atc != self.vhost.atc:
            self.gop.clear()
        self.vhost = vhost

    def close(self, reason: str) -> None:
        """Server shutdown: end the publisher and every consumer."""
        for consumer in list(self.consumers):
            consumer.close(reason)
        self.consumers.clear()
        if self.publisher is not None:
            publisher, self.publisher = self.publisher, None
            publisher.close(reason)


def _restamped(message: SharedMessage, timestamp: int) -> SharedMessage:
    return SharedMessage(
        timestamp, message.message_type_id, message.payload, message.chunk_stream_id
    )
