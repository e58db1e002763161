# -*- test-case-name: tests.test_services_server -*-
"""
The service tree that ``twistd srs`` runs, and its reload.

:func:`buildService` makes one :class:`SrsService` whose children are ordered so that
reverse order is the right shutdown order::

    log          first up, last down: every other service's last words get logged
    pidfile      before any port binds, so a second copy fails first
    asprocess    (only with ``asprocess on``)
    hub          the live sources and the consumer seam; stopped after every
                 connection is closed
    stats        samples the statistics' byte counters into kbps
    hooks        the HTTP hook client (its own connection pool, closed on stop)
    controller   admission, hooks, leases: what every front end goes through
    metrics      the Prometheus collectors and the reactor-lag probe
    sysinfo      samples /proc for the API and the heartbeat
    hls          HLS writers (attached to sources by the hub at publish)
    dvr          DVR recorders (the same; closes every open file at stop)
    ingest       the ingest ffmpegs (services/ffmpeg)
    transcode    the transcode ffmpegs, started at publish (services/ffmpeg)
    heartbeat    the periodic heartbeat POST (when enabled)
    stream_casters  the MPEG-TS/UDP casters (only with such a block)
    listeners    last up, first down: stop accepting, close connections
                 (RTMP, HTTP server, API, RTSP and FLV-POST casters)

Forwards and edge pulls/pushes are not children: they end with their
sources, which the hub closes at stop.

Shutdown stops the children one at a time in reverse order, each bounded by
:data:`CHILD_STOP_TIMEOUT`, so SIGTERM finishes in a few seconds whatever a child
does.  SIGHUP reloads (:meth:`SrsService.reload`): the file is parsed again; an
invalid file is logged with its file:line and the old config stays in force;
a valid one goes to every child's ``reconfigure``.  Unlike SRS 2.0, no reload
path shuts the server down.
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from srstwist import SRS_COMPAT_VERSION, __version__
from srstwist.codec.hooks import on_dvr_payload, on_hls_payload
from srstwist.config.holder import ConfigHolder
from srstwist.config.loader import load_config
from srstwist.config.model import ServerConfig
from srstwist.config.parser import ConfigError
from srstwist.config.support import unsupported_directives
from srstwist.protocols.rtmp import RtmpServerFactory
from srstwist.services.asprocess import ParentWatchService
from srstwist.services.casters import CasterGroup, CasterSpecs
from srstwist.services.controller import StreamController
from srstwist.services.ffmpeg import FfmpegService, IngestService, TranscodeService
from srstwist.services.metrics import ServerMetrics
from srstwist.services.heartbeat import HeartbeatService
from srstwist.services.dvr import DvrService
from srstwist.services.edge import EdgeService
from srstwist.services.forward import ForwardService
from srstwist.services.hls import HlsService
from srstwist.services.hooks import HookClient
from srstwist.services.hub import OutputsPerPublish, SourceHub
from srstwist.services.listeners import ConnectionLimit, ListenerGroup, ListenerSpec
from srstwist.services.log import LogService
from srstwist.services.pidfile import PidFileService
from srstwist.services.sysinfo import SystemSampler
from srstwist.tracelog import PROCESS_OBSERVER, SrsLogObserver, next_cid
from srstwist.web.api import HttpApi
from srstwist.services.stats import StatsSampler
from srstwist.stream.stats import Statistics
from srstwist.web.http_server import HttpStreamServer
from srstwist.web.site import make_site

__all__ = ["SrsService", "buildService", "CHILD_STOP_TIMEOUT", "listener_specs"]

#: Seconds one child may take to stop before shutdown moves on without it.
CHILD_STOP_TIMEOUT = 5.0

#: Pending connections the kernel keeps per listening socket.  Twisted's
#: default of 50 overflows when players arrive by the thousand per second
#: (a refused SYN costs the client a 1 s retransmission); Linux caps the
#: value at net.core.somaxconn.
LISTEN_BACKLOG = 1024

#: Directives that only take effect at start (SRS 2.0's ``SrsConfig::reload_conf`` skips them).
_RESTART_ONLY = ("daemon", "work_dir", "asprocess", "stream_casters")


def listener_specs(
    controller: StreamController,
    holder: ConfigHolder,
    reactor: Any,
    api: HttpApi | None = None,
) -> Callable[[ServerConfig], list[ListenerSpec]]:
    """A function giving the listening sockets a config asks for."""

    def api_site() -> Any:
        assert api is not None
        return api.site()

    def http_server() -> Any:
        app = HttpStreamServer(controller, holder, reactor)
        return make_site(app.resource(), reactor)

    casters = CasterSpecs(controller, holder, reactor)  # stream_caster: read at start only

    def specs(config: ServerConfig) -> list[ListenerSpec]:
        found = [
            ListenerSpec(
                "rtmp",
                f"{endpoint.strports()}:backlog={LISTEN_BACKLOG}",
                lambda: RtmpServerFactory(controller, holder, reactor),
            )
            for endpoint in config.listen
        ]
        if config.http_server.enabled:
            found.append(
                ListenerSpec(
                    "http_server",
                    f"{config.http_server.listen.strports()}:backlog={LISTEN_BACKLOG}",
                    http_server,
                )
            )
        if config.http_api.enabled and api is not None:
            found.append(
                ListenerSpec(
                    "http_api",
                    f"{config.http_api.listen.strports()}:backlog={LISTEN_BACKLOG}",
                    api_site,
                )
            )
        found.extend(casters(config))
        return found

    return specs


class SrsService(service.MultiService):
    """
    The root of the server: holds the config, stops children in order, reloads.
    """

    log = Logger()

    def __init__(
        self,
        config: ServerConfig,
        reactor: Any,
        config_path: str,
        main_cid: int,
        loader: Callable[[str, str], ServerConfig] = load_config,
        install_signals: bool = False,
        holder: ConfigHolder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.holder = holder or ConfigHolder(config)
        self.reactor = reactor
        self.config_path = config_path
        self.cid = main_cid
        self._loader = loader
        self._install_signals = install_signals
        self._previous_sighup: Any = None

    def startService(self) -> None:
        # MultiService.startService, with the banner logged as soon as the
        # log service has pointed the log where the config says.
        service.Service.startService(self)
        for child in self:
            child.startService()
            if child.name == "log":
                self._announce()
        if self._install_signals:
            self._previous_sighup = signal.signal(signal.SIGHUP, self._on_sighup)

    def _announce(self) -> None:
        self.log.info(
            "srstwist/{version} (SRS {srs} compatible) config={path}",
            version=__version__,
            srs=SRS_COMPAT_VERSION,
            path=self.config.filename,
        )
        self.log.info(
            "server main cid={cid}, pid={pid}, ppid={ppid}, asprocess={asprocess}",
            cid=self.cid,
            pid=os.getpid(),
            ppid=os.getppid(),
            asprocess=self.config.asprocess,
        )
        _log_findings(self.log, self.config, announced=set())
        ensure_open_file_limit(self.config, self.log)

    def _on_sighup(self, signum: int, frame: object) -> None:
        # A Python signal handler runs between bytecodes of the main thread;
        # callFromThread wakes the reactor and runs the reload on its turn.
        self.reactor.callFromThread(self.reload)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        if self._install_signals and self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
        self.log.info("stopping: {count} services, last started first", count=len(self.services))
        service.Service.stopService(self)
        for child in reversed(list(self)):
            if child.name == "log":
                self.log.info("srs terminated")
            stopping = defer.maybeDeferred(child.stopService)
            stopping.addTimeout(CHILD_STOP_TIMEOUT, self.reactor)
            try:
                yield stopping
            except defer.TimeoutError:
                self.log.warn(
                    "service {name} did not stop within {seconds}s; moving on",
                    name=child.name,
                    seconds=CHILD_STOP_TIMEOUT,
                )
            except Exception:
                self.log.failure("service {name} failed to stop", name=child.name)

    @defer.inlineCallbacks
    def reload(self) -> Any:
        """
        Re-read the config file and apply it (SIGHUP).

        :return: a Deferred firing with ``True`` when the new config was
            applied, ``False`` when it was invalid and the old one kept.
        """
        self.log.info("reload: reading {path}", path=self.config.filename)
        try:
            new = self._loader(self.config_path, self.config.filename)
        except ConfigError as e:
            self.log.error(
                "reload failed, still running on the old config: {error}", error=str(e)
            )
            return False
        for name in _RESTART_ONLY:
            if getattr(new, name) != getattr(self.config, name):
                self.log.warn("reload: '{name}' changed; it takes effect after a restart", name=name)
        old_findings = set(unsupported_directives(self.config.tree)) if self.config.tree else set()
        _log_findings(self.log, new, announced=old_findings)
        for child in list(self):
            reconfigure = getattr(child, "reconfigure", None)
            if reconfigure is None:
                continue
            try:
                yield defer.maybeDeferred(reconfigure, new)
            except Exception:
                self.log.failure("reload: service {name} failed to apply the new config", name=child.name)
        self.config = new
        self.holder.config = new
        self.log.info("reload: done")
        return True


#: File descriptors kept beside client sockets: listeners, log, pid file, stdio.
_SPARE_DESCRIPTORS = 32


def ensure_open_file_limit(
    config: ServerConfig,
    log: Logger,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> int:
    """
    Make room for ``max_connections`` sockets in the open-file limit.

    SRS refuses to start when ``max_connections`` exceeds the limit
    (``SrsConfig::check_config``) and tells the user to run ``ulimit -HSn``.  We raise the
    soft limit as far as the hard limit allows, and warn when that is still
    too low, since a refused accept is better than a refused start.

    :return: the soft limit in force afterwards.
    """
    needed = config.max_connections + len(config.listen) + _SPARE_DESCRIPTORS
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if soft < needed:
        log.warn(
            "max_connections={maximum} needs {needed} open files but the limit is {soft}; "
            "connections past it will fail. Lower max_connections or raise the limit "
            "(ulimit -HSn {needed})",
            maximum=config.max_connections,
            needed=needed,
            soft=soft,
        )
    return soft


def _log_findings(log: Logger, config: ServerConfig, announced: set[str]) -> None:
    """Log config warnings and, once each, the directives not acted on."""
    for warning in config.warnings:
        log.warn("config: {warning}", warning=warning)
    if config.tree is None:
        return
    for message in unsupported_directives(config.tree):
        if message in announced:
            continue
        log.warn("{finding}", finding=message)


def hls_notifier(
    holder: ConfigHolder, hooks: HookClient
) -> Callable[[str, dict[str, Any]], None]:
    """
    What HLS calls when a segment is done: the vhost's ``on_hls`` POST and
    ``on_hls_notify`` GET (SRS's ``SrsHls::on_update_notify`` hooks in
    ``srs_app_hls.cpp``), with the publisher's address and query as the
    output was started with.
    """

    def notify(event: str, payload: dict[str, Any]) -> None:
        vhost = holder.config.vhost(payload["vhost"])
        if vhost is None or not vhost.http_hooks.enabled:
            return
        urls = getattr(vhost.http_hooks, event)
        if not urls:
            return
        cid = payload["client_id"]
        app, stream, param = payload["app"], payload["stream"], payload["param"]
        if event == "on_hls_notify":
            hooks.notify_hls(urls, app, stream, payload["ts_url"], param, payload["nb_notify"], cid)
            return
        body = on_hls_payload(
            cid, payload["ip"], vhost.name, app, stream, param,
            duration=payload["duration"], cwd=payload["cwd"], file=payload["file"],
            url=payload["url"], m3u8=payload["m3u8"], m3u8_url=payload["m3u8_url"],
            seq_no=payload["seq_no"],
        )  # fmt: skip
        hooks.notify("on_hls", urls, body, cid)

    return notify


def dvr_notifier(holder: ConfigHolder, hooks: HookClient) -> Callable[[dict[str, Any]], None]:
    """
    What DVR calls when a file is closed: the vhost's ``on_dvr`` POST
    (``SrsDvrAsyncCallOnDvr`` in ``srs_app_dvr.cpp``), with the publisher's
    address and query as the output was started with.
    """

    def notify(payload: dict[str, Any]) -> None:
        vhost = holder.config.vhost(payload["vhost"])
        if vhost is None or not vhost.http_hooks.enabled or not vhost.http_hooks.on_dvr:
            return
        cid = payload["client_id"]
        body = on_dvr_payload(
            cid, payload["ip"], vhost.name, payload["app"], payload["stream"],
            payload["param"], cwd=payload["cwd"], file=payload["file"],
        )  # fmt: skip
        hooks.notify("on_dvr", vhost.http_hooks.on_dvr, body, cid)

    return notify


def buildService(
    config: ServerConfig,
    reactor: Any,
    *,
    config_path: str | None = None,
    observer: SrsLogObserver = PROCESS_OBSERVER,
    install_signals: bool = False,
    pid: int | None = None,
) -> SrsService:
    """
    Build the whole server for ``config``.

    :param reactor: everything that schedules or listens uses this one.
    :param config_path: the file to re-read on reload (absolute, so that a
        ``work_dir`` chdir does not lose it); defaults to ``config.filename``.
    :param install_signals: handle SIGHUP while running (twistd only).
    :param pid: the pid to write to the pid file (tests); defaults to ours.
    """
    main_cid = next_cid()
    holder = ConfigHolder(config)
    root = SrsService(
        config,
        reactor,
        config_path=config_path or os.path.abspath(config.filename),
        main_cid=main_cid,
        install_signals=install_signals,
        holder=holder,
    )
    LogService(config, observer, main_cid).setServiceParent(root)
    PidFileService(config, pid=pid).setServiceParent(root)
    if config.asprocess:
        ParentWatchService(stop=reactor.stop, clock=reactor).setServiceParent(root)
    stats = Statistics(first_id=os.getpid())
    hub = SourceHub(holder, reactor, stats)
    hub.setServiceParent(root)
    StatsSampler(stats, reactor).setServiceParent(root)
    hooks = HookClient(reactor)
    hooks.setName("hooks")
    hooks.setServiceParent(root)
    controller = StreamController(hub, holder, reactor, hooks)
    controller.setServiceParent(root)
    limit = ConnectionLimit(config.max_connections)
    kicker: list[ListenerGroup] = []
    sampler = SystemSampler(reactor, disks=lambda: holder.config.stats.disk)
    ffmpegs: list[FfmpegService] = []
    metrics = ServerMetrics(
        stats,
        reactor,
        connections=lambda: limit.count,
        ffmpegs=lambda: [info for group in ffmpegs for info in group.processes()],
    )
    metrics.lag.setName("metrics")
    metrics.lag.setServiceParent(root)
    hub.observe(metrics.publish_observer)
    api = HttpApi(
        stats,
        lambda: holder.config,
        reactor,
        lambda cid: bool(kicker) and kicker[0].kick(cid, "kicked off by the HTTP API"),
        reactor.seconds(),
        sampler=sampler,
        connections=lambda: limit.count,
        ffmpegs=lambda: [info for group in ffmpegs for info in group.processes()],
        metrics=metrics.render,
        cluster=lambda: {"forwards": forward.forwards(), "edges": edge.edges()},
    )
    sampler.setServiceParent(root)
    hls = HlsService(reactor, hls_notifier(holder, hooks), utc_time=config.utc_time)
    hls.setServiceParent(root)
    hub.observe(OutputsPerPublish(hub, hls.output_for))
    dvr = DvrService(
        reactor,
        dvr_notifier(holder, hooks),
        recording=lambda key, on: hub.stats.on_recording(*key, on),
        utc_time=config.utc_time,
    )
    dvr.setServiceParent(root)
    hub.observe(OutputsPerPublish(hub, dvr.output_for))
    # Not a child: forwards end with their sources (the hub closes them at stop).
    forward = ForwardService(reactor)
    hub.observe(OutputsPerPublish(hub, forward.output_for))
    # Edge pulls start at a player (the controller's play watcher); edge
    # pushes at a publish; both end with their sources, like forwards.
    edge = EdgeService(reactor, controller)
    controller.play_watcher = edge
    controller.admission_gate = edge.gate
    edge.pushes.bind(hub)
    hub.observe(edge)
    ingest = IngestService(config, reactor)
    ingest.setServiceParent(root)
    transcode = TranscodeService(config, reactor)
    transcode.setServiceParent(root)
    hub.observe(transcode)
    ffmpegs.extend([ingest, transcode])
    heartbeat = HeartbeatService(hooks, lambda: holder.config, reactor, sampler, api.summaries)
    heartbeat.setName("heartbeat")
    heartbeat.setServiceParent(root)
    casters = CasterGroup(config, controller, reactor)
    if list(casters):  # only with mpegts_over_udp blocks: the tree is unchanged without
        casters.setServiceParent(root)
    specs = listener_specs(controller, holder, reactor, api)
    group = ListenerGroup(config, reactor, limit, specs)  # type: ignore[arg-type]
    kicker.append(group)
    group.setServiceParent(root)
    return root
