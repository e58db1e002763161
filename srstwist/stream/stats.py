# -*- test-case-name: tests.test_stats -*-
"""
Statistics of vhosts, streams and RTMP clients: what the HTTP API reports
(SRS 2.0's ``SrsStatistic`` in ``srs_app_statistic.cpp``, served by
``srs_app_http_api.cpp``) and what the periodic status lines and the heartbeat summaries read.

There is no clock here: every method that needs the time takes ``now``,
seconds as a float (``reactor.seconds()``).  The hot path is plain
attribute arithmetic: a protocol keeps the :class:`ClientStats` that
:meth:`Statistics.on_client` returns and does ``client.bytes_recv += n``;
a timer calls :meth:`Statistics.sample` every few seconds, which moves the
new bytes of each client to its stream, vhost and the server totals and
updates every :class:`Kbps`.

Identities are SRS's (``srs_generate_id``): one counter, started at the value the caller
gives (SRS: the pid at program start), hands out the server id and then the
vhost and stream ids in creation order, never reused; client ids are the
connection ids.

Deviation from SRS 2.0, which never removes a stream or vhost entry (so
every name ever asked for stays in ``/api/v1/streams``): a stream is
forgotten once it has no client and is not published, and its vhost with
it once the vhost has no stream left, unless :attr:`Statistics.keep_vhost`
says it is configured (issue 15; SRS 3 removes streams too, in
``SrsStatistic::on_stream_close``).  A name asked for again gets a new id.

Deviations from SRS 2.0, on purpose:

* A connection that plays or publishes again (FMLE republish) is counted
  once; SRS counts it again each time and uncounts it once (a bug in
  ``SrsStatistic::on_client``).  If it switches stream, it moves to the new stream.
* A stream's ``publish`` and the vhost's ``streams`` count are changed only
  by a real change of state, so a duplicate unpublish cannot drive the
  count negative.
* Bytes a client moved since the last sample are credited to its stream,
  vhost and the server when it disconnects; SRS loses them.
* A kbps window closes when its length is reached (``>=``); SRS waits for
  the first sample strictly after it (``>``).

Kept from SRS for API compatibility: ``live_ms`` is the current time in ms,
not the stream's age (``SrsStatisticStream::dumps``); ``video``/``audio`` reset to ``null`` at
unpublish; the client listing is capped at the 10 lowest ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from srstwist.codec.flv import SOUND_RATES
from srstwist.codec.rtmp_url import stream_url
from srstwist.config.model import VhostConfig

__all__ = [
    "CLIENT_PLAY",
    "CLIENT_FMLE_PUBLISH",
    "CLIENT_FLASH_PUBLISH",
    "CLIENT_HAIVISION_PUBLISH",
    "CLIENT_UNKNOWN",
    "API_CLIENTS_LIMIT",
    "FLV_SAMPLE_RATES",
    "Kbps",
    "VideoInfo",
    "AudioInfo",
    "ClientStats",
    "StreamStats",
    "VhostStats",
    "Statistics",
]

#: Client types as the API spells them (``srs_client_type_string``).  The
#: publisher ones equal ``PublisherType.*.value`` of the RTMP codec.
CLIENT_PLAY = "Play"
CLIENT_FMLE_PUBLISH = "fmle-publish"
CLIENT_FLASH_PUBLISH = "flash-publish"
CLIENT_HAIVISION_PUBLISH = "haivision-publish"
CLIENT_UNKNOWN = "Unknown"

#: ``GET /api/v1/clients/`` lists at most this many clients (``SrsGoApiClients::serve_http``).
API_CLIENTS_LIMIT = 10

#: The FLV audio tag's 2-bit sound rate field, in Hz (``flv_sample_rates``).
FLV_SAMPLE_RATES = SOUND_RATES

class Kbps:
    """
    The bit rate of one byte counter, as SRS's ``SrsKbpsSlice``: fed with
    the counter's running total by :meth:`add_sample`, it keeps

    * ``kbps_now``: the rate over the interval since the previous sample;
    * ``kbps_30s``, ``kbps_5m``: the rate over the last completed 30 s and
      5 min windows.  A window starts at the first sample and closes at the
      first sample at least its length later; the value then holds until
      the next window closes, and is 0 before the first one closes (so the
      API shows 0 for a new stream's first 30 s, as SRS);
    * ``kbps_avg``: the rate since the first sample (what SRS prints as
      the first, "current", figure of its status lines).

    Rates are kilobits per second, truncated to integers like SRS's.
    """

    __slots__ = (
        "total_bytes",
        "kbps_now",
        "kbps_30s",
        "kbps_5m",
        "kbps_avg",
        "_first",
        "_last",
        "_w30",
        "_w5m",
    )

    def __init__(self) -> None:
        self.total_bytes = 0
        self.kbps_now = 0
        self.kbps_30s = 0
        self.kbps_5m = 0
        self.kbps_avg = 0
        # (time, total) at the first sample, the previous sample, and the
        # start of each window; None until the first sample.
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None
        self._w30: tuple[float, int] | None = None
        self._w5m: tuple[float, int] | None = None

    def add_sample(self, now: float, total_bytes: int) -> None:
        """
        Record the counter's total at ``now`` and update the rates.

        A total lower than the previous one (a counter restarted) starts
        every window afresh from it.

        :param now: seconds, from any clock that does not go backwards.
        :param total_bytes: bytes counted since the counter started.
        """
        point = (now, total_bytes)
        last = self._last
        if last is None or total_bytes < last[1] or now < last[0]:
            self._first = self._last = self._w30 = self._w5m = point
            self.total_bytes = total_bytes
            self.kbps_now = self.kbps_avg = self.kbps_30s = self.kbps_5m = 0
            return
        assert self._first is not None and self._w30 is not None and self._w5m is not None
        self.total_bytes = total_bytes
        self.kbps_now = _kbps(last, point)
        self.kbps_avg = _kbps(self._first, point)
        if now - self._w30[0] >= 30:
            self.kbps_30s = _kbps(self._w30, point)
            self._w30 = point
        if now - self._w5m[0] >= 300:
            self.kbps_5m = _kbps(self._w5m, point)
            self._w5m = point
        self._last = point


def _kbps(start: tuple[float, int], end: tuple[float, int]) -> int:
    """Kilobits per second between two (seconds, bytes) points; 0 if no time passed."""
    elapsed = end[0] - start[0]
    if elapsed <= 0:
        return 0
    return int((end[1] - start[1]) * 8 / (elapsed * 1000))


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """
    A stream's video as the API shows it, from its H.264 sequence header.

    ``codec`` is ``H264``; ``profile`` and ``level`` are API names (see
    :func:`avc_profile_name`, :func:`avc_level_name`).  ``width`` and
    ``height`` (0 when unknown) are kept for our own use: the SRS 2.0 API
    does not report them.
    """

    codec: str
    profile: str
    level: str
    width: int = 0
    height: int = 0

    def to_api_dict(self) -> dict[str, Any]:
        """The ``video`` object of SRS's ``SrsStatisticStream::dumps``."""
        return {"codec": self.codec, "profile": self.profile, "level": self.level}


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """
    A stream's audio as the API shows it, from its AAC sequence header.

    ``codec`` is ``AAC``; ``sample_rate`` is SRS's, from the FLV tag
    header (see :data:`FLV_SAMPLE_RATES`; 44100 for any AAC); ``channels``
    is 1 or 2 (FLV sound type + 1); ``profile`` an API name
    (:func:`aac_object_name`).
    """

    codec: str
    sample_rate: int
    channels: int
    profile: str

    def to_api_dict(self) -> dict[str, Any]:
        """The ``audio`` object of ``SrsStatisticStream::dumps`` (note the singular ``channel``)."""
        return {
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channel": self.channels,
            "profile": self.profile,
        }


class _Counted:
    """Byte totals and their rates, shared by vhosts, streams and the server."""

    def __init__(self) -> None:
        self.recv_bytes = 0
        self.send_bytes = 0
        self.kbps_in = Kbps()
        self.kbps_out = Kbps()

    def _sample(self, now: float) -> None:
        self.kbps_in.add_sample(now, self.recv_bytes)
        self.kbps_out.add_sample(now, self.send_bytes)

    def _kbps_dict(self) -> dict[str, int]:
        return {"recv_30s": self.kbps_in.kbps_30s, "send_30s": self.kbps_out.kbps_30s}


class VhostStats(_Counted):
    """
    One vhost that has had a client or a stream (SRS's ``SrsStatisticVhost``).

    :ivar id: stable id from the statistics counter.
    :ivar name: the resolved vhost name (``__defaultVhost__`` included).
    :ivar clients: clients currently registered on its streams.
    :ivar streams: its streams currently published.
    :ivar recv_bytes, send_bytes: bytes of its clients up to the last sample.
    :ivar kbps_in, kbps_out: their rates.
    """

    def __init__(self, id: int, name: str) -> None:
        super().__init__()
        self.id = id
        self.name = name
        self.clients = 0
        self.streams = 0

    def to_api_dict(self, enabled: bool, hls_fragment: float | None) -> dict[str, Any]:
        """
        The ``<vhost>`` object of SRS's ``SrsStatisticVhost::dumps``.

        :param enabled: the vhost's ``enabled`` in the live configuration.
        :param hls_fragment: ``hls_fragment`` when HLS is enabled, else ``None``.
        """
        hls: dict[str, Any] = {"enabled": hls_fragment is not None}
        if hls_fragment is not None:
            hls["fragment"] = hls_fragment
        return {
            "id": self.id,
            "name": self.name,
            "enabled": enabled,
            "clients": self.clients,
            "streams": self.streams,
            "send_bytes": self.send_bytes,
            "recv_bytes": self.recv_bytes,
            "kbps": self._kbps_dict(),
            "hls": hls,
        }


class StreamStats(_Counted):
    """
    One ``vhost/app/stream`` that has had a client or a publisher (SRS's
    ``SrsStatisticStream``).

    :ivar id: stable id from the statistics counter.
    :ivar vhost: the owning :class:`VhostStats`.
    :ivar app, name: application and stream names.
    :ivar url: ``vhost/app/stream`` (vhost left out for the default vhost).
    :ivar start_time: when the stream was first seen (seconds).
    :ivar clients: clients (players and publisher) currently on it.
    :ivar frames: video frames received from publishers, ever; the
        publishing protocol increments it directly.
    :ivar active: a publisher is publishing.
    :ivar publish_cid: connection id of the last publisher, -1 before any.
    :ivar publish_time: when the current or last publish started, or ``None``.
    :ivar video, audio: codec information, ``None`` until the sequence
        header and again after unpublish.
    """

    def __init__(self, id: int, vhost: VhostStats, app: str, name: str, now: float) -> None:
        super().__init__()
        self.id = id
        self.vhost = vhost
        self.app = app
        self.name = name
        self.url = stream_url(vhost.name, app, name)
        self.start_time = now
        self.clients = 0
        self.frames = 0
        self.active = False
        self.publish_cid = -1
        self.publish_time: float | None = None
        self.video: VideoInfo | None = None
        self.audio: AudioInfo | None = None
        #: A DVR file is being written (ours, not SRS's: ``recording`` in the API).
        self.recording = False

    def to_api_dict(self, now: float) -> dict[str, Any]:
        """
        The ``<stream>`` object of SRS's ``SrsStatisticStream::dumps``.

        :param now: the current time in seconds since the epoch; SRS reports
            it, in ms, as ``live_ms``.
        """
        return {
            "id": self.id,
            "name": self.name,
            "vhost": self.vhost.id,
            "app": self.app,
            "live_ms": int(now * 1000),
            "clients": self.clients,
            "frames": self.frames,
            "send_bytes": self.send_bytes,
            "recv_bytes": self.recv_bytes,
            "kbps": self._kbps_dict(),
            "publish": {"active": self.active, "cid": self.publish_cid},
            "video": None if self.video is None else self.video.to_api_dict(),
            "audio": None if self.audio is None else self.audio.to_api_dict(),
            "recording": self.recording,
        }


class ClientStats:
    """
    One identified RTMP connection (SRS's ``SrsStatisticClient``).

    The protocol adds to ``bytes_recv`` and ``bytes_sent`` as data moves;
    everything else is set by :class:`Statistics`.

    :ivar cid: the connection id.
    :ivar ip: the peer address.
    :ivar vhost, app, stream: the resolved request it plays or publishes.
    :ivar tc_url, page_url, swf_url: from the connect request.
    :ivar type: one of the ``CLIENT_*`` strings.
    :ivar start_time: when it was registered (seconds).
    :ivar bytes_recv, bytes_sent: bytes moved on the connection, ever.
    :ivar kbps_in, kbps_out: their rates.
    :ivar stream_stats: the :class:`StreamStats` it is counted in.
    """

    __slots__ = (
        "cid",
        "ip",
        "vhost",
        "app",
        "stream",
        "tc_url",
        "page_url",
        "swf_url",
        "type",
        "transport",
        "start_time",
        "bytes_recv",
        "bytes_sent",
        "kbps_in",
        "kbps_out",
        "stream_stats",
        "_credited_recv",
        "_credited_sent",
    )

    def __init__(self, cid: int, start_time: float, stream_stats: StreamStats) -> None:
        self.cid = cid
        self.ip = ""
        self.vhost = stream_stats.vhost.name
        self.app = stream_stats.app
        self.stream = stream_stats.name
        self.tc_url = ""
        self.page_url = ""
        self.swf_url = ""
        self.type = CLIENT_UNKNOWN
        #: How a stream caster's publisher came in (``mpegts_udp``, ``rtsp``,
        #: ``flv_post``), set by the caster; empty for RTMP and HTTP clients,
        #: whose API objects keep exactly SRS's fields.
        self.transport = ""
        self.start_time = start_time
        self.bytes_recv = 0
        self.bytes_sent = 0
        self.kbps_in = Kbps()
        self.kbps_out = Kbps()
        self.stream_stats = stream_stats
        # The part of bytes_recv/bytes_sent already added to the stream,
        # vhost and server totals.
        self._credited_recv = 0
        self._credited_sent = 0

    @property
    def publishing(self) -> bool:
        """True for every type but ``Play``, as the API's ``publish``."""
        return self.type != CLIENT_PLAY

    def to_api_dict(self, now: float) -> dict[str, Any]:
        """
        The ``<client>`` object of SRS's ``SrsStatisticClient::dumps``, plus
        ``transport`` (ours) for a stream caster's publisher.

        :param now: the current time in seconds, for ``alive`` (ms).
        """
        found: dict[str, Any] = {
            "id": self.cid,
            "vhost": self.stream_stats.vhost.id,
            "stream": self.stream_stats.id,
            "ip": self.ip,
            "pageUrl": self.page_url,
            "swfUrl": self.swf_url,
            "tcUrl": self.tc_url,
            "url": self.stream_stats.url,
            "type": self.type,
            "publish": self.publishing,
            "alive": int((now - self.start_time) * 1000),
        }
        if self.transport:
            found["transport"] = self.transport
        return found


class Statistics(_Counted):
    """
    The registry of vhosts, streams and clients.

    The server-wide ``recv_bytes``/``send_bytes``/``kbps_*`` (inherited)
    are the summaries' ``srs_recv_bytes``/``srs_send_bytes``; ``sample_time``
    is the ``now`` of the last :meth:`sample`.

    :param first_id: the first value of the id counter, which becomes
        :attr:`server_id`; SRS uses the process id at start.
    """

    def __init__(self, first_id: int) -> None:
        super().__init__()
        self._next_id = first_id
        self.server_id = self._new_id()
        self.sample_time: float | None = None
        self._vhosts: dict[str, VhostStats] = {}
        self._streams: dict[tuple[str, str, str], StreamStats] = {}
        self._vhosts_by_id: dict[int, VhostStats] = {}
        self._streams_by_id: dict[int, StreamStats] = {}
        self._clients: dict[int, ClientStats] = {}
        #: How many stream entries each vhost entry has, by vhost name.
        self._vhost_entries: dict[str, int] = {}
        #: Whether the vhost of this name is configured, so its entry (and
        #: id) is kept while it has no stream; the owner sets it from the
        #: live configuration.  By default none is.
        self.keep_vhost: Callable[[str], bool] = lambda name: False

    def _new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    # -- registration -------------------------------------------------------

    def vhost(self, name: str) -> VhostStats:
        """The vhost called ``name``, created (with the next id) if new."""
        found = self._vhosts.get(name)
        if found is None:
            found = VhostStats(self._new_id(), name)
            self._vhosts[name] = self._vhosts_by_id[found.id] = found
        return found

    def stream(self, vhost: str, app: str, stream: str, now: float) -> StreamStats:
        """
        The stream ``vhost/app/stream``, created with its vhost if new.

        A publishing protocol may keep the result to count ``frames``.

        :param now: the creation time if it is new.
        """
        key = (vhost, app, stream)
        found = self._streams.get(key)
        if found is None:
            owner = self.vhost(vhost)
            found = StreamStats(self._new_id(), owner, app, stream, now)
            self._streams[key] = self._streams_by_id[found.id] = found
            self._vhost_entries[vhost] = self._vhost_entries.get(vhost, 0) + 1
        return found

    def _forget_if_unused(self, stream: StreamStats) -> None:
        """
        Forget ``stream`` once it has no client and no publisher, then its
        vhost once that has no stream left and is not configured.
        """
        if stream.clients > 0 or stream.active:
            return
        key = (stream.vhost.name, stream.app, stream.name)
        if self._streams.get(key) is not stream:
            return
        del self._streams[key]
        del self._streams_by_id[stream.id]
        vhost = stream.vhost
        left = self._vhost_entries.get(vhost.name, 1) - 1
        if left > 0:
            self._vhost_entries[vhost.name] = left
            return
        self._vhost_entries.pop(vhost.name, None)
        if vhost.clients <= 0 and not self.keep_vhost(vhost.name):
            if self._vhosts.get(vhost.name) is vhost:
                del self._vhosts[vhost.name]
                del self._vhosts_by_id[vhost.id]

    def _find(self, vhost: str, app: str, stream: str) -> StreamStats | None:
        return self._streams.get((vhost, app, stream))

    def on_client(
        self,
        cid: int,
        *,
        vhost: str,
        app: str,
        stream: str,
        ip: str,
        client_type: str,
        now: float,
        tc_url: str = "",
        page_url: str = "",
        swf_url: str = "",
    ) -> ClientStats:
        """
        Register a connection that passed the checks before play/publish
        (where SRS's ``SrsRtmpConn::stream_service_cycle`` calls
        ``SrsStatistic::on_client``), or update one that plays or publishes again.

        :param client_type: one of the ``CLIENT_*`` strings.
        :param now: the registration time, for ``alive``, if new.
        :return: the client, whose byte counters the protocol updates.
        """
        target = self.stream(vhost, app, stream, now)
        client = self._clients.get(cid)
        if client is None:
            client = ClientStats(cid, now, target)
            self._clients[cid] = client
            _count(target, 1)
        elif client.stream_stats is not target:
            self._credit(client)
            left = client.stream_stats
            _count(left, -1)
            _count(target, 1)
            client.stream_stats = target
            self._forget_if_unused(left)
        client.vhost, client.app, client.stream = vhost, app, stream
        client.ip = ip
        client.type = client_type
        client.tc_url = tc_url
        client.page_url = page_url
        client.swf_url = swf_url
        return client

    def on_disconnect(self, cid: int) -> None:
        """
        Forget a connection, crediting its last bytes; unknown ids are
        ignored (a connection refused before registration).
        """
        client = self._clients.pop(cid, None)
        if client is None:
            return
        self._credit(client)
        _count(client.stream_stats, -1)
        self._forget_if_unused(client.stream_stats)

    def on_publish(self, vhost: str, app: str, stream: str, cid: int, now: float) -> None:
        """A publisher with connection id ``cid`` starts publishing the stream."""
        target = self.stream(vhost, app, stream, now)
        target.publish_cid = cid
        target.publish_time = now
        if not target.active:
            target.active = True
            target.vhost.streams += 1

    def on_unpublish(self, vhost: str, app: str, stream: str, now: float) -> None:
        """
        The stream's publisher stops: codec information is forgotten (and
        the stream, if it has no client left).
        """
        target = self._find(vhost, app, stream)
        if target is None:
            return
        target.video = target.audio = None
        if target.active:
            target.active = False
            target.vhost.streams -= 1
        self._forget_if_unused(target)

    def on_video_info(self, vhost: str, app: str, stream: str, info: VideoInfo, now: float) -> None:
        """A video sequence header was parsed for the stream (ignored if unknown)."""
        target = self._find(vhost, app, stream)
        if target is not None:
            target.video = info

    def on_audio_info(self, vhost: str, app: str, stream: str, info: AudioInfo, now: float) -> None:
        """An audio sequence header was parsed for the stream (ignored if unknown)."""
        target = self._find(vhost, app, stream)
        if target is not None:
            target.audio = info

    def on_recording(self, vhost: str, app: str, stream: str, recording: bool) -> None:
        """A DVR file of the stream opened or closed (ignored if the stream is unknown)."""
        target = self._streams.get((vhost, app, stream))
        if target is not None:
            target.recording = recording

    # -- sampling -----------------------------------------------------------

    def _credit(self, client: ClientStats) -> None:
        """Add a client's bytes since its last credit to its stream, vhost and us."""
        recv = client.bytes_recv - client._credited_recv
        sent = client.bytes_sent - client._credited_sent
        if not (recv or sent):
            return
        client._credited_recv = client.bytes_recv
        client._credited_sent = client.bytes_sent
        stream = client.stream_stats
        for counted in (stream, stream.vhost, self):
            counted.recv_bytes += recv
            counted.send_bytes += sent

    def sample(self, now: float) -> None:
        """
        Credit every client's new bytes and update every rate; called from
        a timer every few seconds (SRS: about 3 s).
        """
        for client in self._clients.values():
            self._credit(client)
            client.kbps_in.add_sample(now, client.bytes_recv)
            client.kbps_out.add_sample(now, client.bytes_sent)
        for stream in self._streams.values():
            stream._sample(now)
        for vhost in self._vhosts.values():
            vhost._sample(now)
        self._sample(now)
        self.sample_time = now

    # -- lookups ------------------------------------------------------------

    def vhost_by_id(self, id: int) -> VhostStats | None:
        """The vhost with this id, or ``None``."""
        return self._vhosts_by_id.get(id)

    def stream_by_id(self, id: int) -> StreamStats | None:
        """The stream with this id, or ``None``."""
        return self._streams_by_id.get(id)

    def client(self, cid: int) -> ClientStats | None:
        """The registered client with this connection id, or ``None``."""
        return self._clients.get(cid)

    def vhosts(self) -> Iterator[VhostStats]:
        """Every vhost, by id."""
        return iter(sorted(self._vhosts.values(), key=lambda one: one.id))

    def streams(self) -> Iterator[StreamStats]:
        """Every stream, published or not, by id."""
        return iter(sorted(self._streams.values(), key=lambda one: one.id))

    def clients(self) -> Iterator[ClientStats]:
        """Every registered client, by connection id."""
        return iter(sorted(self._clients.values(), key=lambda one: one.cid))

    @property
    def client_count(self) -> int:
        """How many clients are registered."""
        return len(self._clients)

    # -- API bodies ---------------------------------------------------------

    def api_vhost(
        self, vhost: VhostStats, config: Callable[[str], VhostConfig | None]
    ) -> dict[str, Any]:
        """
        One ``<vhost>`` object, ``enabled`` and ``hls`` from the live
        configuration.

        :param config: looks a vhost up by name (``ServerConfig.vhost``);
            a vhost it does not find shows as disabled, without HLS.
        """
        found = config(vhost.name)
        enabled = found is not None and found.enabled
        hls = found is not None and found.hls.enabled
        return vhost.to_api_dict(enabled, found.hls.hls_fragment if found and hls else None)

    def api_vhosts(self, config: Callable[[str], VhostConfig | None]) -> list[dict[str, Any]]:
        """The ``vhosts`` list (``SrsStatistic::dumps_vhosts``), by id; see :meth:`api_vhost`."""
        return [self.api_vhost(vhost, config) for vhost in self.vhosts()]

    def api_streams(self, now: float) -> list[dict[str, Any]]:
        """The ``streams`` list (SRS's ``SrsStatistic::dumps_streams``), by id."""
        return [stream.to_api_dict(now) for stream in self.streams()]

    def api_clients(self, now: float, limit: int = API_CLIENTS_LIMIT) -> list[dict[str, Any]]:
        """The ``clients`` list (``SrsStatistic::dumps_clients``): the ``limit`` lowest ids."""
        result: list[dict[str, Any]] = []
        for client in self.clients():
            if len(result) >= limit:
                break
            result.append(client.to_api_dict(now))
        return result


def _count(stream: StreamStats, delta: int) -> None:
    """Add ``delta`` to the client counts of a stream and its vhost."""
    stream.clients += delta
    stream.vhost.clients += delta
