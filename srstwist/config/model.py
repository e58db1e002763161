# -*- test-case-name: tests.test_config_model -*-
"""
The typed configuration model: every SRS 2.0 directive, with its default.

Each section is a frozen dataclass; a field's default is SRS 2.0's default
(the ``get_*`` getters of ``SrsConfig`` in
``trunk/src/app/srs_app_config.cpp``).  Sections compare by value and ignore where they
were written, so a reload can ask "did the ``hls`` block of this vhost change?"
with ``old.hls != new.hls``.

These are values only: importing this module does not import the parser
(:mod:`srstwist.config.parser`), so every layer may hold and read a
configuration.  Reading a file into a :class:`ServerConfig` is
:mod:`srstwist.config.loader`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from srstwist.config.schema import (
    AccessRule,
    AccessRules,
    Choice,
    Endpoint,
    Flag,
    Float,
    Int,
    Listen,
    NamedSections,
    Pairs,
    Section,
    Text,
    Words,
    directive,
)

if TYPE_CHECKING:
    from srstwist.config.parser import Directive

__all__ = [
    "DEFAULT_VHOST",
    "ServerConfig",
    "HeartbeatConfig",
    "StatsConfig",
    "HttpApiConfig",
    "HttpServerConfig",
    "StreamCasterConfig",
    "VhostConfig",
    "SecurityConfig",
    "MergedReadConfig",
    "PublishConfig",
    "HttpHooksConfig",
    "HlsConfig",
    "HdsConfig",
    "DvrConfig",
    "IngestInputConfig",
    "IngestConfig",
    "EngineConfig",
    "TranscodeConfig",
    "HttpStaticConfig",
    "HttpRemuxConfig",
    "BandcheckConfig",
    "Endpoint",
    "AccessRule",
]

#: The vhost used when a client asks for one that is not configured (``SrsConfig::get_vhost``).
DEFAULT_VHOST = "__defaultVhost__"

_HTML = "./objs/nginx/html"


def _where() -> str:
    return field(default="", compare=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class HeartbeatConfig:
    """``heartbeat {}``: periodic POST of this server's identity (``srs_app_heartbeat.cpp``)."""

    SECTION = "heartbeat"
    enabled: bool = directive(Flag(False), False)
    interval: float = directive(Float(0, exclusive=True), 9.9)
    url: str = directive(Text(), "http://127.0.0.1:8085/api/v1/servers")
    device_id: str = directive(Text(), "")
    summaries: bool = directive(Flag(False), False)
    where: str = _where()


@dataclass(frozen=True)
class StatsConfig:
    """``stats {}``: which local address represents us; disks to sample."""

    SECTION = "stats"
    network: int = directive(Int(0), 0)
    disk: tuple[str, ...] = directive(Words(), ())
    where: str = _where()


@dataclass(frozen=True)
class HttpApiConfig:
    """``http_api {}``: the HTTP API listener."""

    SECTION = "http_api"
    enabled: bool = directive(Flag(False), False)
    listen: Endpoint = directive(Listen(single=True), Endpoint("0.0.0.0", 1985))
    crossdomain: bool = directive(Flag(True), True)
    where: str = _where()


@dataclass(frozen=True)
class HttpServerConfig:
    """``http_server {}`` (SRS 1: ``http_stream``): static files, HLS, HTTP live."""

    SECTION = "http_server"
    enabled: bool = directive(Flag(False), False)
    listen: Endpoint = directive(Listen(single=True), Endpoint("0.0.0.0", 8080))
    dir: str = directive(Text(), _HTML)
    where: str = _where()


@dataclass(frozen=True)
class StreamCasterConfig:
    """``stream_caster {}``: MPEG-TS/UDP, RTSP or FLV-over-HTTP ingest."""

    SECTION = "stream_caster"
    enabled: bool = directive(Flag(False), False)
    caster: str = directive(Choice("mpegts_over_udp", "rtsp", "flv"), "")
    output: str = directive(Text(), "")
    listen: int = directive(Int(0, 65535), 0)
    rtp_port_min: int = directive(Int(0, 65535), 0)
    rtp_port_max: int = directive(Int(0, 65535), 0)
    where: str = _where()


@dataclass(frozen=True)
class SecurityConfig:
    """``security {}``: allow/deny rules for play and publish (``srs_app_security.cpp``)."""

    SECTION = "vhost security"
    enabled: bool = directive(Flag(False), False)
    rules: tuple[AccessRule, ...] = directive(AccessRules(), names=("allow", "deny"))
    where: str = _where()


@dataclass(frozen=True)
class MergedReadConfig:
    """``mr {}``: read publishers in batches."""

    SECTION = "vhost mr"
    enabled: bool = directive(Flag(False), False)
    latency: int = directive(Int(0), 350)
    where: str = _where()


@dataclass(frozen=True)
class PublishConfig:
    """``publish {}``: publisher options."""

    SECTION = "vhost publish"
    parse_sps: bool = directive(Flag(True), True)
    where: str = _where()


@dataclass(frozen=True)
class HttpHooksConfig:
    """``http_hooks {}``: URLs called on client and stream events (``srs_app_http_hooks.cpp``)."""

    SECTION = "vhost http_hooks"
    enabled: bool = directive(Flag(False), False)
    on_connect: tuple[str, ...] = directive(Words(), ())
    on_close: tuple[str, ...] = directive(Words(), ())
    on_publish: tuple[str, ...] = directive(Words(), ())
    on_unpublish: tuple[str, ...] = directive(Words(), ())
    on_play: tuple[str, ...] = directive(Words(), ())
    on_stop: tuple[str, ...] = directive(Words(), ())
    on_dvr: tuple[str, ...] = directive(Words(), ())
    on_hls: tuple[str, ...] = directive(Words(), ())
    on_hls_notify: tuple[str, ...] = directive(Words(), ())
    where: str = _where()


@dataclass(frozen=True)
class HlsConfig:
    """``hls {}``: Apple HLS output."""

    SECTION = "vhost hls"
    enabled: bool = directive(Flag(False), False)
    hls_fragment: float = directive(Float(0, exclusive=True), 10.0)
    hls_td_ratio: float = directive(Float(0, exclusive=True), 1.5)
    hls_aof_ratio: float = directive(Float(0, exclusive=True), 2.0)
    hls_window: float = directive(Float(0, exclusive=True), 60.0)
    hls_on_error: str = directive(Choice("ignore", "continue", "disconnect"), "continue")
    hls_path: str = directive(Text(), _HTML)
    hls_m3u8_file: str = directive(Text(), "[app]/[stream].m3u8")
    hls_ts_file: str = directive(Text(), "[app]/[stream]-[seq].ts")
    hls_ts_floor: bool = directive(Flag(False), False)
    hls_entry_prefix: str = directive(Text(), "")
    hls_acodec: str = directive(Choice("aac", "mp3", "an"), "aac")
    hls_vcodec: str = directive(Choice("h264", "vn"), "h264")
    hls_cleanup: bool = directive(Flag(True), True)
    hls_dispose: int = directive(Int(0), 0)
    hls_nb_notify: int = directive(Int(0), 64)
    hls_wait_keyframe: bool = directive(Flag(True), True)
    # SRS 1 in-memory HLS; SRS 2 accepts these and ignores them with a warning.
    hls_storage: str = directive(Text(), "")
    hls_mount: str = directive(Text(), "")
    where: str = _where()


@dataclass(frozen=True)
class HdsConfig:
    """``hds {}``: Adobe HDS output."""

    SECTION = "vhost hds"
    enabled: bool = directive(Flag(False), False)
    hds_fragment: float = directive(Float(0, exclusive=True), 10.0)
    hds_window: float = directive(Float(0, exclusive=True), 60.0)
    hds_path: str = directive(Text(), _HTML)
    where: str = _where()


@dataclass(frozen=True)
class DvrConfig:
    """``dvr {}``: record streams to FLV."""

    SECTION = "vhost dvr"
    enabled: bool = directive(Flag(False), False)
    dvr_plan: str = directive(Choice("session", "segment", "append"), "session")
    dvr_path: str = directive(Text(), "./objs/nginx/html/[app]/[stream].[timestamp].flv")
    dvr_duration: int = directive(Int(1), 30)
    dvr_wait_keyframe: bool = directive(Flag(True), True)
    time_jitter: str = directive(Choice("full", "zero", "off"), "full")
    where: str = _where()


@dataclass(frozen=True)
class EngineConfig:
    """``engine [name] {}``: one ffmpeg transcoding recipe (in ``transcode`` and ``ingest``)."""

    SECTION = "engine"
    name: str = ""
    enabled: bool = directive(Flag(False), False)
    iformat: str = directive(Text(), "flv")
    vfilter: tuple[tuple[str, str], ...] = directive(Pairs(), ())
    vcodec: str = directive(Text(), "")
    vbitrate: int = directive(Int(0), 0)
    vfps: float = directive(Float(0), 0.0)
    vwidth: int = directive(Int(0), 0)
    vheight: int = directive(Int(0), 0)
    vthreads: int = directive(Int(0), 1)
    vprofile: str = directive(Text(), "")
    vpreset: str = directive(Text(), "")
    vparams: tuple[tuple[str, str], ...] = directive(Pairs(), ())
    acodec: str = directive(Text(), "")
    abitrate: int = directive(Int(0), 0)
    asample_rate: int = directive(Int(0), 0)
    achannels: int = directive(Int(0, 2), 0)
    aparams: tuple[tuple[str, str], ...] = directive(Pairs(), ())
    oformat: str = directive(Text(), "flv")
    output: str = directive(Text(), "")
    where: str = _where()


@dataclass(frozen=True)
class IngestInputConfig:
    """``input {}`` of an ingest: what ffmpeg reads."""

    SECTION = "ingest input"
    type: str = directive(Choice("file", "stream", "device"), "file")
    url: str = directive(Text(), "")
    where: str = _where()


@dataclass(frozen=True)
class IngestConfig:
    """``ingest <id> {}``: an ffmpeg that pulls a file or stream into a vhost."""

    SECTION = "vhost ingest"
    name: str = ""
    enabled: bool = directive(Flag(False), False)
    input: IngestInputConfig = directive(Section(IngestInputConfig), IngestInputConfig())
    ffmpeg: str = directive(Text(), "")
    engines: tuple[EngineConfig, ...] = directive(
        NamedSections(EngineConfig, takes_name=True), names=("engine",)
    )
    where: str = _where()


@dataclass(frozen=True)
class TranscodeConfig:
    """``transcode [scope] {}``: ffmpeg re-encodes published streams."""

    SECTION = "vhost transcode"
    name: str = ""  # the scope: "", "<app>" or "<app>/<stream>"
    enabled: bool = directive(Flag(False), False)
    ffmpeg: str = directive(Text(), "")
    engines: tuple[EngineConfig, ...] = directive(
        NamedSections(EngineConfig, takes_name=True), names=("engine",)
    )
    where: str = _where()


@dataclass(frozen=True)
class HttpStaticConfig:
    """``http_static {}`` (SRS 1: ``http``): serve this vhost's files."""

    SECTION = "vhost http_static"
    enabled: bool = directive(Flag(False), False)
    mount: str = directive(Text(), "[vhost]/")
    dir: str = directive(Text(), _HTML)
    where: str = _where()


@dataclass(frozen=True)
class HttpRemuxConfig:
    """``http_remux {}``: HTTP-FLV/TS/MP3/AAC live streams."""

    SECTION = "vhost http_remux"
    enabled: bool = directive(Flag(False), False)
    mount: str = directive(Text(), "[vhost]/[app]/[stream].flv")
    fast_cache: float = directive(Float(0), 0.0)
    hstrs: bool = directive(Flag(True), True)
    where: str = _where()


@dataclass(frozen=True)
class BandcheckConfig:
    """``bandcheck {}``: the vhost is a bandwidth-test endpoint."""

    SECTION = "vhost bandcheck"
    enabled: bool = directive(Flag(False), False)
    key: str = directive(Text(), "")
    interval: float = directive(Float(0), 30.0)
    limit_kbps: int = directive(Int(0), 1000)
    where: str = _where()


@dataclass(frozen=True)
class VhostConfig:
    """``vhost <name> {}``: everything about one virtual host."""

    SECTION = "vhost"
    name: str = DEFAULT_VHOST
    enabled: bool = directive(Flag(True), True)
    #: None means "the global chunk_size"; see :meth:`ServerConfig.chunk_size_of`.
    chunk_size: int | None = directive(Int(128, 65536), None)
    mode: str = directive(Choice("local", "remote"), "local")
    origin: tuple[str, ...] = directive(Words(), ())
    token_traverse: bool = directive(Flag(False), False)
    vhost: str = directive(Text(), "[vhost]")
    gop_cache: bool = directive(Flag(True), True)
    queue_length: int = directive(Int(0), 30)
    time_jitter: str = directive(Choice("full", "zero", "off"), "full")
    mix_correct: bool = directive(Flag(False), False)
    atc: bool = directive(Flag(False), False)
    atc_auto: bool = directive(Flag(True), True)
    debug_srs_upnode: bool = directive(Flag(True), True)
    min_latency: bool = directive(Flag(False), False)
    mw_latency: int = directive(Int(0), 350)
    tcp_nodelay: bool = directive(Flag(False), False)
    send_min_interval: float = directive(Float(0), 0.0)
    reduce_sequence_header: bool = directive(Flag(False), False)
    publish_1stpkt_timeout: int = directive(Int(0), 20000)
    publish_normal_timeout: int = directive(Int(0), 5000)
    forward: tuple[str, ...] = directive(Words(), ())
    # None: the directive is absent and everyone passes; () (present without
    # arguments) refuses everyone (``SrsRefer::check``).
    refer: tuple[str, ...] | None = directive(Words(), None)
    refer_play: tuple[str, ...] | None = directive(Words(), None)
    refer_publish: tuple[str, ...] | None = directive(Words(), None)
    security: SecurityConfig = directive(Section(SecurityConfig), SecurityConfig())
    mr: MergedReadConfig = directive(Section(MergedReadConfig), MergedReadConfig())
    publish: PublishConfig = directive(Section(PublishConfig), PublishConfig())
    http_hooks: HttpHooksConfig = directive(Section(HttpHooksConfig), HttpHooksConfig())
    hls: HlsConfig = directive(Section(HlsConfig), HlsConfig())
    hds: HdsConfig = directive(Section(HdsConfig), HdsConfig())
    dvr: DvrConfig = directive(Section(DvrConfig), DvrConfig())
    ingests: tuple[IngestConfig, ...] = directive(
        NamedSections(IngestConfig, takes_name=True), names=("ingest",)
    )
    transcodes: tuple[TranscodeConfig, ...] = directive(
        NamedSections(TranscodeConfig, takes_name=True), names=("transcode",)
    )
    http_static: HttpStaticConfig = directive(
        Section(HttpStaticConfig), HttpStaticConfig(), names=("http", "http_static")
    )
    http_remux: HttpRemuxConfig = directive(Section(HttpRemuxConfig), HttpRemuxConfig())
    bandcheck: BandcheckConfig = directive(Section(BandcheckConfig), BandcheckConfig())
    where: str = _where()

    @property
    def is_edge(self) -> bool:
        """``mode remote``: this vhost pulls from / pushes to an origin."""
        return self.mode == "remote"


@dataclass(frozen=True)
class ServerConfig:
    """
    The whole configuration file: global directives and every section.

    ``filename`` is the file as named on the command line; ``warnings`` are
    non-fatal findings (duplicates, ignored directives) to log at start.
    """

    SECTION = ""
    listen: tuple[Endpoint, ...] = directive(Listen())
    pid: str = directive(Text(), "./objs/srs.pid")
    chunk_size: int = directive(Int(128, 65536), 60000)
    ff_log_dir: str = directive(Text(), "./objs")
    srs_log_tank: str = directive(Choice("console", "file"), "file")
    srs_log_level: str = directive(
        Choice("verbose", "info", "trace", "warn", "error"), "trace"
    )
    srs_log_file: str = directive(Text(), "./objs/srs.log")
    max_connections: int = directive(Int(1, 1_000_000), 1000)
    daemon: bool = directive(Flag(True), True)
    utc_time: bool = directive(Flag(False), False)
    work_dir: str = directive(Text(), "./")
    asprocess: bool = directive(Flag(False), False)
    pithy_print_ms: int = directive(Int(1), 10000)
    # SRS's check rejects this directive by mistake (``SrsConfig::check_config``); we
    # accept it, and never phone home whatever it says.
    query_latest_version: bool = directive(Flag(True), True)
    heartbeat: HeartbeatConfig = directive(Section(HeartbeatConfig), HeartbeatConfig())
    stats: StatsConfig = directive(Section(StatsConfig), StatsConfig())
    http_api: HttpApiConfig = directive(Section(HttpApiConfig), HttpApiConfig())
    http_server: HttpServerConfig = directive(
        Section(HttpServerConfig), HttpServerConfig(), names=("http_stream", "http_server")
    )
    stream_casters: tuple[StreamCasterConfig, ...] = directive(
        NamedSections(StreamCasterConfig), names=("stream_caster",)
    )
    vhosts: tuple[VhostConfig, ...] = directive(
        NamedSections(VhostConfig, takes_name=True), names=("vhost",)
    )
    where: str = _where()
    filename: str = field(default="", compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: The parsed tree, kept to report directives whose feature is not built.
    tree: Directive | None = field(default=None, compare=False, repr=False)

    def vhost(self, name: str) -> VhostConfig | None:
        """
        The vhost a client asking for ``name`` gets: the one of that name, else
        ``__defaultVhost__``, else ``None`` (``SrsConfig::get_vhost``).  Disabled vhosts are
        returned too; callers check ``enabled``.
        """
        fallback = None
        for vhost in self.vhosts:
            if vhost.name == name:
                return vhost
            if vhost.name == DEFAULT_VHOST:
                fallback = vhost
        return fallback

    def chunk_size_of(self, vhost: VhostConfig) -> int:
        """The RTMP output chunk size for ``vhost``: its own, else the global one."""
        return vhost.chunk_size if vhost.chunk_size is not None else self.chunk_size
