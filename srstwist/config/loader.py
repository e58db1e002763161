# -*- test-case-name: tests.test_config_model -*-
"""
Reading a configuration: parse the text, build the typed model, cross-check.

:func:`load_config` (a file) and :func:`load_config_text` (a string) are the
entry points: each parses with :mod:`srstwist.config.parser`, builds a
:class:`~srstwist.config.model.ServerConfig` with
:func:`~srstwist.config.schema.build_section` and runs the checks that span
directives (SRS's ``SrsConfig::check_config`` in
``trunk/src/app/srs_app_config.cpp``).  Either returns the configuration or
raises :class:`~srstwist.config.parser.ConfigError` naming the file, line and
directive at fault.

This is the only module of :mod:`srstwist.config` that needs the parser at
run time; code that only reads a configuration imports
:mod:`srstwist.config.model`.
"""

from __future__ import annotations

from srstwist.config.model import ServerConfig
from srstwist.config.parser import Directive, parse, parse_file
from srstwist.config.schema import BuildContext, build_section

__all__ = ["load_config", "load_config_text"]


def _cross_check(config: ServerConfig, root: Directive, context: BuildContext) -> None:
    """
    The checks that span directives (``SrsConfig::check_config``), each
    reported at the line that breaks it.
    """
    if config.daemon and config.asprocess:
        node = root.get("asprocess") or root
        raise node.error("'asprocess on' cannot be combined with 'daemon on'")

    seen_vhosts: dict[str, Directive] = {}
    vhost_nodes = root.get_all("vhost")
    for vhost, node in zip(config.vhosts, vhost_nodes, strict=True):
        if not vhost.name:
            raise node.error("'vhost' needs a name")
        if vhost.name in seen_vhosts:
            raise node.error(
                f"duplicate vhost '{vhost.name}' (first at line "
                f"{seen_vhosts[vhost.name].line})"
            )
        seen_vhosts[vhost.name] = node
        ingest_nodes = node.get_all("ingest")
        seen_ingests: dict[str, Directive] = {}
        for ingest, ingest_node in zip(vhost.ingests, ingest_nodes, strict=True):
            if ingest.name in seen_ingests:
                raise ingest_node.error(
                    f"duplicate ingest id '{ingest.name}' in vhost '{vhost.name}'"
                )
            seen_ingests[ingest.name] = ingest_node
        hls = node.get("hls")
        if hls is not None:
            for legacy in ("hls_storage", "hls_mount"):
                legacy_node = hls.get(legacy)
                if legacy_node is not None:
                    context.warn(
                        legacy_node,
                        f"'{legacy}' is ignored: in-memory HLS was removed in SRS 2",
                    )

    caster_nodes = root.get_all("stream_caster")
    for caster, node in zip(config.stream_casters, caster_nodes, strict=True):
        if not caster.enabled:
            continue
        if not caster.caster:
            raise node.error("enabled stream_caster needs 'caster mpegts_over_udp|rtsp|flv'")
        if caster.listen <= 0:
            raise (node.get("listen") or node).error(
                "enabled stream_caster needs a 'listen' port above 0"
            )
        if caster.caster == "rtsp" and caster.rtp_port_max <= caster.rtp_port_min:
            raise node.error(
                "rtsp stream_caster needs rtp_port_min below rtp_port_max"
            )


def _build(root: Directive, filename: str) -> ServerConfig:
    context = BuildContext()
    built = build_section(ServerConfig, root, context)
    _cross_check(built, root, context)
    return ServerConfig(
        **{
            f: getattr(built, f)
            for f in built.__dataclass_fields__
            if f not in ("filename", "warnings", "tree")
        },
        filename=filename,
        warnings=tuple(context.warnings),
        tree=root,
    )


def load_config_text(text: str | bytes, filename: str = "<string>") -> ServerConfig:
    """
    Parse and check config text.

    :raises ConfigError: on a syntax error, an unknown directive, a bad value
        or a failed cross-check.
    """
    return _build(parse(text, filename), filename)


def load_config(path: str, display_name: str | None = None) -> ServerConfig:
    """
    Read, parse and check the config file at ``path``.

    :param display_name: the file name used in messages and kept as
        ``filename``; defaults to ``path``.  A reload re-reads an absolute path
        but keeps reporting the name the user gave.
    :raises ConfigError: as :func:`load_config_text`, or when the file cannot be read.
    """
    name = display_name or path
    return _build(parse_file(path, name), name)
