# -*- test-case-name: tests.test_protocols_mpegts_udp -*-
"""
The ``stream_caster`` blocks of the config as listeners (SRS 2.0:
``SrsServer::listen_stream_caster``, ``trunk/src/app/srs_app_server.cpp``).

* ``caster mpegts_over_udp``: a UDP port (:class:`UdpCasterService`, one
  per block) feeding :class:`srstwist.protocols.mpegts_udp.MpegtsUdpCaster`.
* ``caster flv``: a TCP port among the other listeners
  (:func:`caster_specs`), an HTTP site of
  :func:`srstwist.web.flv_post.flv_post_site`.
* ``caster rtsp``: a TCP port among the other listeners
  (:func:`caster_specs`) of
  :class:`srstwist.protocols.rtsp.RtspCasterFactory`, whose sessions take
  RTP ports from ``rtp_port_min``..``rtp_port_max``.

As in SRS, ports bind ``0.0.0.0`` and the blocks are read at start only.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.logger import Logger

from srstwist.config.holder import ConfigHolder
from srstwist.config.model import ServerConfig, StreamCasterConfig
from srstwist.interfaces import IStreamController
from srstwist.protocols.mpegts_udp import MpegtsUdpCaster
from srstwist.protocols.rtsp import RtspCasterFactory
from srstwist.services.listeners import ListenerSpec
from srstwist.web.flv_post import flv_post_site

__all__ = ["UdpCasterService", "CasterGroup", "CasterSpecs", "caster_specs"]

_log = Logger()


class UdpCasterService(service.Service):
    """One ``mpegts_over_udp`` caster's UDP port, bound at start."""

    def __init__(self, caster: StreamCasterConfig, controller: IStreamController, reactor: Any) -> None:
        self.caster = caster
        self.protocol = MpegtsUdpCaster(controller, caster.output, reactor)
        self._reactor = reactor
        self._port: Any = None
        self.setName(f"stream_caster mpegts_over_udp udp:{caster.listen}")

    def privilegedStartService(self) -> None:
        # Bound here, so a busy port stops twistd at start, as SRS exits.
        self._port = self._reactor.listenUDP(self.caster.listen, self.protocol, maxPacketSize=65536)
        super().privilegedStartService()

    def startService(self) -> None:
        if self._port is None:
            self._port = self._reactor.listenUDP(self.caster.listen, self.protocol, maxPacketSize=65536)
        super().startService()
        _log.info(
            "listen stream_caster mpegts_over_udp at udp:port={port}, output {output}",
            port=self.caster.listen,
            output=self.caster.output,
        )

    def stopService(self) -> Any:
        super().stopService()
        port, self._port = self._port, None
        if port is not None:
            return port.stopListening()
        return None


class CasterGroup(service.MultiService):
    """The UDP casters of a config; TCP casters are in :func:`caster_specs`."""

    def __init__(self, config: ServerConfig, controller: IStreamController, reactor: Any) -> None:
        super().__init__()
        self.setName("stream_casters")
        for caster in config.stream_casters:
            if not caster.enabled:
                continue
            if caster.caster == "mpegts_over_udp":
                UdpCasterService(caster, controller, reactor).setServiceParent(self)


class CasterSpecs:
    """
    The TCP listeners of the ``flv`` and ``rtsp`` casters, for the listener
    group, from the config the server started with: ``stream_caster`` is not
    reloaded (SRS 2.0 neither), so a reload keeps these listeners as they are.
    """

    def __init__(self, controller: IStreamController, holder: ConfigHolder, reactor: Any) -> None:
        self._args = (controller, holder, reactor)
        self._found: list[ListenerSpec] | None = None

    def __call__(self, config: ServerConfig) -> list[ListenerSpec]:
        if self._found is None:
            self._found = caster_specs(config, *self._args)
        return list(self._found)


def caster_specs(
    config: ServerConfig, controller: IStreamController, holder: ConfigHolder, reactor: Any
) -> list[ListenerSpec]:
    """The TCP listeners of the ``flv`` and ``rtsp`` casters of ``config``."""
    found = []
    for caster in config.stream_casters:
        if caster.enabled and caster.caster == "flv":

            def make(caster: StreamCasterConfig = caster) -> Any:
                return flv_post_site(controller, caster.output, reactor)

            found.append(ListenerSpec("stream_caster flv", f"tcp:{caster.listen}:backlog=511", make))
        elif caster.enabled and caster.caster == "rtsp":

            def make_rtsp(caster: StreamCasterConfig = caster) -> Any:
                return RtspCasterFactory(
                    controller, caster.output, reactor, caster.rtp_port_min, caster.rtp_port_max
                )

            found.append(ListenerSpec("stream_caster rtsp", f"tcp:{caster.listen}:backlog=511", make_rtsp))
    return found
