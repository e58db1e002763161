# -*- test-case-name: tests.test_config_support -*-
"""
Which configuration directives srstwist acts on today.

Every directive of SRS 2.0 is accepted and typed by :mod:`srstwist.config.model`,
but a feature may not be built yet.  Rather than ignore such a directive
silently, the server logs it once at start:
``not supported yet: vhost.hls (conf/hls.conf:23)``.

Paths are dotted directive names from the top of the file (``vhost.hls``,
``vhost.ingest.engine``).  A directive whose path is in :data:`BUILT` is acted on,
and its children are checked in turn; any other is reported, without
descending into its children.  When a feature lands, its paths are added
here, in the same change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from srstwist.config.parser import Directive

__all__ = ["BUILT", "OPAQUE", "NEVER", "ALIASES", "is_built", "unsupported_directives"]

#: Directive paths whose features are built.
BUILT: frozenset[str] = frozenset(
    {
        "listen",
        "pid",
        "srs_log_tank",
        "srs_log_level",
        "srs_log_file",
        "max_connections",
        "daemon",
        "utc_time",
        "work_dir",
        "asprocess",
        "chunk_size",
        "vhost",
        "vhost.enabled",
        "vhost.chunk_size",
        "vhost.gop_cache",
        "vhost.queue_length",
        "vhost.time_jitter",
        "vhost.mix_correct",
        "vhost.atc",
        "vhost.atc_auto",
        "vhost.min_latency",
        "vhost.mw_latency",
        "vhost.tcp_nodelay",
        "vhost.send_min_interval",
        "vhost.reduce_sequence_header",
        "vhost.publish_1stpkt_timeout",
        "vhost.publish_normal_timeout",
        "vhost.refer",
        "vhost.refer_play",
        "vhost.refer_publish",
        "vhost.security",
        "vhost.security.enabled",
        "vhost.security.allow",
        "vhost.security.deny",
        "vhost.publish",
        "vhost.publish.parse_sps",
        "http_server",
        "http_server.enabled",
        "http_server.listen",
        "http_server.dir",
        "vhost.http_static",
        "vhost.http_static.enabled",
        "vhost.http_static.mount",
        "vhost.http_static.dir",
        "vhost.http_remux",
        "vhost.http_remux.enabled",
        "vhost.http_remux.mount",
        "vhost.http_remux.hstrs",
        "vhost.http_remux.fast_cache",
        "http_api",
        "http_api.enabled",
        "http_api.listen",
        "http_api.crossdomain",
        "heartbeat",
        "heartbeat.enabled",
        "heartbeat.interval",
        "heartbeat.url",
        "heartbeat.device_id",
        "heartbeat.summaries",
        "stats",
        "stats.network",
        "stats.disk",
        "stream_caster",
        "stream_caster.enabled",
        "stream_caster.caster",
        "stream_caster.output",
        "stream_caster.listen",
        "stream_caster.rtp_port_min",
        "stream_caster.rtp_port_max",
        "vhost.http_hooks",
        "vhost.http_hooks.enabled",
        "vhost.http_hooks.on_connect",
        "vhost.http_hooks.on_close",
        "vhost.http_hooks.on_publish",
        "vhost.http_hooks.on_unpublish",
        "vhost.http_hooks.on_play",
        "vhost.http_hooks.on_stop",
        "vhost.hls",
        "vhost.hls.enabled",
        "vhost.hls.hls_fragment",
        "vhost.hls.hls_td_ratio",
        "vhost.hls.hls_aof_ratio",
        "vhost.hls.hls_window",
        "vhost.hls.hls_on_error",
        "vhost.hls.hls_path",
        "vhost.hls.hls_m3u8_file",
        "vhost.hls.hls_ts_file",
        "vhost.hls.hls_ts_floor",
        "vhost.hls.hls_entry_prefix",
        "vhost.hls.hls_acodec",
        "vhost.hls.hls_vcodec",
        "vhost.hls.hls_cleanup",
        "vhost.hls.hls_dispose",
        "vhost.hls.hls_nb_notify",
        "vhost.hls.hls_wait_keyframe",
        "vhost.http_hooks.on_hls",
        "vhost.http_hooks.on_hls_notify",
        "vhost.forward",
        "vhost.debug_srs_upnode",
        "vhost.mode",
        "vhost.origin",
        "vhost.vhost",
        "vhost.token_traverse",
        "vhost.dvr",
        "vhost.dvr.enabled",
        "vhost.dvr.dvr_path",
        "vhost.dvr.dvr_plan",
        "vhost.dvr.dvr_duration",
        "vhost.dvr.dvr_wait_keyframe",
        "vhost.dvr.time_jitter",
        "vhost.http_hooks.on_dvr",
        # ingest and transcode (services/ffmpeg, media/ffmpeg_argv)
        "ff_log_dir",
        "vhost.ingest",
        "vhost.ingest.enabled",
        "vhost.ingest.input",
        "vhost.ingest.input.type",
        "vhost.ingest.input.url",
        "vhost.ingest.ffmpeg",
        "vhost.ingest.engine",
        "vhost.ingest.engine.enabled",
        "vhost.ingest.engine.iformat",
        "vhost.ingest.engine.vfilter",
        "vhost.ingest.engine.vcodec",
        "vhost.ingest.engine.vbitrate",
        "vhost.ingest.engine.vfps",
        "vhost.ingest.engine.vwidth",
        "vhost.ingest.engine.vheight",
        "vhost.ingest.engine.vthreads",
        "vhost.ingest.engine.vprofile",
        "vhost.ingest.engine.vpreset",
        "vhost.ingest.engine.vparams",
        "vhost.ingest.engine.acodec",
        "vhost.ingest.engine.abitrate",
        "vhost.ingest.engine.asample_rate",
        "vhost.ingest.engine.achannels",
        "vhost.ingest.engine.aparams",
        "vhost.ingest.engine.oformat",
        "vhost.ingest.engine.output",
        "vhost.transcode",
        "vhost.transcode.enabled",
        "vhost.transcode.ffmpeg",
        "vhost.transcode.engine",
        "vhost.transcode.engine.enabled",
        "vhost.transcode.engine.iformat",
        "vhost.transcode.engine.vfilter",
        "vhost.transcode.engine.vcodec",
        "vhost.transcode.engine.vbitrate",
        "vhost.transcode.engine.vfps",
        "vhost.transcode.engine.vwidth",
        "vhost.transcode.engine.vheight",
        "vhost.transcode.engine.vthreads",
        "vhost.transcode.engine.vprofile",
        "vhost.transcode.engine.vpreset",
        "vhost.transcode.engine.vparams",
        "vhost.transcode.engine.acodec",
        "vhost.transcode.engine.abitrate",
        "vhost.transcode.engine.asample_rate",
        "vhost.transcode.engine.achannels",
        "vhost.transcode.engine.aparams",
        "vhost.transcode.engine.oformat",
        "vhost.transcode.engine.output",
    }
)

#: Built blocks whose children are another program's options (ffmpeg's
#: ``-name value`` pairs), passed on as they are: not checked one by one.
OPAQUE: frozenset[str] = frozenset(
    f"vhost.{kind}.engine.{block}"
    for kind in ("ingest", "transcode")
    for block in ("vfilter", "vparams", "aparams")
)

#: Directives accepted for compatibility that srstwist will never act on,
#: with the reason logged at start.
NEVER: dict[str, str] = {
    "query_latest_version": "srstwist never reports to a remote version server",
}


#: SRS 1 names and the paths they stand for, so that building a feature
#: covers both spellings.
ALIASES: dict[str, str] = {
    "http_stream": "http_server",
    "vhost.http": "vhost.http_static",
}


def is_built(path: str) -> bool:
    """
    Whether srstwist acts on the directive at the dotted ``path``: it and
    every block above it are in :data:`BUILT` (SRS 1 names resolved through
    :data:`ALIASES` at each level), the same walk :func:`unsupported_directives`
    makes over a file.
    """
    prefix = ""
    for name in path.split("."):
        resolved = f"{prefix}{name}"
        resolved = ALIASES.get(resolved, resolved)
        if resolved not in BUILT:
            return False
        prefix = resolved + "."
    return True


def unsupported_directives(root: Directive) -> list[str]:
    """
    The messages to log for directives that are accepted but not acted on.

    :param root: the parsed file.
    :return: one message per top-most directive whose feature is missing, in
        file order.
    """
    messages: list[str] = []

    def walk(node: Directive, prefix: str) -> None:
        for child in node.children:
            path = f"{prefix}{child.name}"
            path = ALIASES.get(path, path)
            if path in NEVER:
                messages.append(f"ignored: {path} ({child.where}): {NEVER[path]}")
            elif path in BUILT:
                if path not in OPAQUE:
                    walk(child, path + ".")
            else:
                messages.append(f"not supported yet: {path} ({child.where})")

    walk(root, "")
    return messages
