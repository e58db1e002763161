# -*- test-case-name: tests.test_media_ffmpeg_argv -*-
"""
What ffmpeg children to run, and with which arguments: config in, argv out.

SRS 2.0 runs ffmpeg for ``ingest`` (``srs_app_ingest.cpp``, ``SrsIngester``)
and ``transcode`` (``srs_app_encoder.cpp``, ``SrsEncoder``); both build the
command line in ``srs_app_ffmpeg.cpp`` (``SrsFFMPEG::initialize_transcode``,
``initialize_copy`` and ``start``).  This module makes the same command
lines, in the same order, so that an ffmpeg log or a ``ps`` listing reads the
same under srstwist as under SRS; nothing here forks, waits or touches a
file (the supervision is :mod:`srstwist.services.ffmpeg`).

It also holds the restart schedule (:class:`RestartPolicy`), pure for the
same reason: tested without a clock.

Where we differ from SRS 2.0, on purpose:

* ``vcodec`` may be any encoder, not only ``libx264`` (SRS refuses the
  others in ``initialize_transcode``); ``vprofile`` and ``vpreset`` stay
  required when video is encoded, since the command line always names them.
* An ingest of ``type device`` runs like a stream (no ``-re``) and keeps the
  engine's ``iformat`` (``-f v4l2``, ``-f x11grab``...); SRS 2.0 refuses the
  type.
* The loop guard (a transcode's output is not transcoded again) compares
  streams by vhost/app/stream rather than by URL text; see :func:`stream_of_url`.
"""

from __future__ import annotations

from dataclasses import dataclass

from srstwist.codec.rtmp_url import parse_tc_url, split_rtmp_url
from srstwist.config.model import (
    EngineConfig,
    IngestConfig,
    ServerConfig,
    TranscodeConfig,
    VhostConfig,
)

__all__ = [
    "COPY",
    "NO_AUDIO",
    "NO_VIDEO",
    "NULL_LOG",
    "EngineError",
    "FfmpegJob",
    "RestartPolicy",
    "copy_argv",
    "engine_argv",
    "ingest_jobs",
    "log_file",
    "scope_transcodes",
    "stream_of_url",
    "transcode_input",
    "transcode_jobs",
]

#: ``vcodec copy`` / ``acodec copy``: pass the track through.
COPY = "copy"
#: ``vcodec vn``: no video in the output (``-vn``).
NO_VIDEO = "vn"
#: ``acodec an``: no audio in the output (``-an``).
NO_AUDIO = "an"
#: ``ff_log_dir /dev/null`` discards ffmpeg's output (``SRS_CONSTS_NULL_FILE``).
NULL_LOG = "/dev/null"
#: The address a transcode reads its source from and publishes back to
#: (``SRS_CONSTS_LOCALHOST``).
LOCALHOST = "127.0.0.1"


class EngineError(ValueError):
    """An engine (or ingest) that cannot make a command line; the message says why."""


@dataclass(frozen=True)
class FfmpegJob:
    """
    One ffmpeg child to keep running.  Two jobs with the same :attr:`key`
    are the same child; if anything else differs, a reload restarts it.

    :ivar kind: ``ingest`` or ``transcode``.
    :ivar key: what names the child across reloads: for an ingest
        ``(vhost, ingest id, engine index)``, for a transcode ``(vhost, app,
        stream, scope, engine index)``.
    :ivar argv: the command line, ``argv[0]`` the ffmpeg binary as configured.
    :ivar log: the file its standard output and error go to, or :data:`NULL_LOG`.
    :ivar vhost: the vhost it works for.
    :ivar name: the ingest id or the source stream ``app/stream``, for logs.
    :ivar engine: the engine name (may be empty).
    :ivar output: the URL it publishes to (the loop guard's key).
    """

    kind: str
    key: tuple[str | int, ...]
    argv: tuple[str, ...]
    log: str
    vhost: str
    name: str
    engine: str
    output: str

    @property
    def binary(self) -> str:
        """The ffmpeg to run, from the ``ffmpeg`` directive."""
        return self.argv[0]


def _pairs(pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """
    ``vfilter``/``vparams``/``aparams`` blocks as arguments: ``-name value``
    each, empty pieces skipped (``SrsConfig::get_engine_vfilter`` and the loops
    of ``SrsFFMPEG::start``).
    """
    found: list[str] = []
    for name, value in pairs:
        for piece in ("-" + name, value):
            if piece and piece != "-":
                found.append(piece)
    return found


def _check_engine(engine: EngineConfig) -> None:
    """SRS's checks in ``SrsFFMPEG::initialize_transcode``, with their reasons."""
    vcodec, acodec = engine.vcodec, engine.acodec
    if vcodec == NO_VIDEO and acodec == NO_AUDIO:
        raise EngineError("video and audio disabled (vcodec vn and acodec an)")
    if vcodec not in (COPY, NO_VIDEO):
        if not vcodec:
            raise EngineError("no vcodec (use copy, vn or an encoder such as libx264)")
        if not engine.vprofile:
            raise EngineError(f"vcodec {vcodec} needs a vprofile")
        if not engine.vpreset:
            raise EngineError(f"vcodec {vcodec} needs a vpreset")
    if not acodec:
        raise EngineError("no acodec (use copy, an or an encoder such as aac)")
    if acodec == "libaacplus" and engine.abitrate != 0 and not 16 <= engine.abitrate <= 72:
        # https://github.com/ossrs/srs/issues/145
        raise EngineError(f"abitrate {engine.abitrate} for libaacplus must be in [16, 72]")
    if not engine.output:
        raise EngineError("empty output")


def engine_argv(
    binary: str,
    engine: EngineConfig,
    input_url: str,
    output: str,
    iparams: str = "",
    keep_iformat: bool = False,
) -> list[str]:
    """
    The command line of an enabled engine, in ``SrsFFMPEG::start``'s order::

        ffmpeg [iparams] [-f iformat] -i input [vfilter...]
               (-vcodec v [-b:v] [-r] [-s] [-aspect] [-threads] -profile:v -preset [vparams...] | -vn)
               (-acodec a [-b:a] [-ar] [-ac] [aparams...] | -an)
               [-f oformat] -y output

    :param iparams: ``-re`` for an ingested file.
    :param keep_iformat: keep ``-f iformat`` for an input that is not
        ``rtmp://`` (a device); SRS drops it for those (SRS #290).
    :raises EngineError: what SRS's checks refuse.
    """
    _check_engine(engine)
    iformat = engine.iformat
    if not input_url.startswith("rtmp://") and not keep_iformat:
        iformat = ""
    vcodec, acodec = engine.vcodec, engine.acodec
    # SRS makes the size even before using it.
    width, height = engine.vwidth - engine.vwidth % 2, engine.vheight - engine.vheight % 2
    argv = [binary]
    if iparams:
        argv.append(iparams)
    if iformat and iformat != "off":
        argv += ["-f", iformat]
    argv += ["-i", input_url]
    argv += _pairs(engine.vfilter)
    if vcodec == NO_VIDEO:
        argv.append("-vn")
    else:
        argv += ["-vcodec", vcodec]
    if vcodec not in (COPY, NO_VIDEO):
        if engine.vbitrate > 0:
            argv += ["-b:v", str(engine.vbitrate * 1000)]
        if engine.vfps > 0:
            argv += ["-r", f"{engine.vfps:.2f}"]
        if width > 0 and height > 0:
            argv += ["-s", f"{width}x{height}", "-aspect", f"{width}:{height}"]
        if engine.vthreads > 0:
            argv += ["-threads", str(engine.vthreads)]
        argv += ["-profile:v", engine.vprofile, "-preset", engine.vpreset]
        argv += _pairs(engine.vparams)
    if acodec == NO_AUDIO:
        argv.append("-an")
    else:
        argv += ["-acodec", acodec]
        if acodec != COPY:
            if engine.abitrate > 0:
                argv += ["-b:a", str(engine.abitrate * 1000)]
            if engine.asample_rate > 0:
                argv += ["-ar", str(engine.asample_rate)]
            if engine.achannels > 0:
                argv += ["-ac", str(engine.achannels)]
            argv += _pairs(engine.aparams)
        else:
            # For a copied track only the ADTS-to-ASC filter is kept.
            pairs = list(engine.aparams)
            for name, value in pairs:
                if name == "bsf:a" and value == "aac_adtstoasc":
                    argv += ["-bsf:a", "aac_adtstoasc"]
    if engine.oformat and engine.oformat != "off":
        argv += ["-f", engine.oformat]
    return [*argv, "-y", output]


def copy_argv(binary: str, input_url: str, output: str, iparams: str = "") -> list[str]:
    """
    The command line of an ingest whose engine is off or names no codecs
    (``SrsFFMPEG::initialize_copy``): both tracks copied into FLV.
    """
    argv = [binary]
    if iparams:
        argv.append(iparams)
    return [*argv, "-i", input_url, "-vcodec", COPY, "-acodec", COPY, "-f", "flv", "-y", output]


def log_file(ff_log_dir: str, kind: str, vhost: str, app: str, stream: str, engine: str = "") -> str:
    """
    Where one ffmpeg's output goes: ``<ff_log_dir>/ffmpeg-<kind>-<vhost>-<app>-<stream>[-<engine>].log``
    with SRS's kinds ``ingest`` and ``encoder``; :data:`NULL_LOG` when
    ``ff_log_dir`` is ``/dev/null`` (``SrsConfig::get_ffmpeg_log_enabled``).
    """
    if ff_log_dir == NULL_LOG:
        return NULL_LOG
    name = f"ffmpeg-{kind}-{vhost}-{app}-{stream}" + (f"-{engine}" if engine else "") + ".log"
    return f"{ff_log_dir}/{name}"


def _app_stream_of_output(output: str) -> tuple[str, str]:
    """The app and stream an ingest's output names, as ``SrsIngester::initialize_ffmpeg`` finds them."""
    url, stream, app = output, "", ""
    at = url.rfind("/")
    if at >= 0:
        stream, url = url[at + 1 :], url[:at]
    at = url.rfind("/")
    if at >= 0:
        app = url[at + 1 :]
    return app.split("?", 1)[0], stream


def stream_of_url(url: str) -> tuple[str, str, str] | None:
    """
    ``(vhost, app, stream)`` of an ``rtmp://`` URL, the way the server parses
    a client's ``tcUrl`` and stream name; ``None`` for another scheme.  The
    loop guard compares these, so ``rtmp://127.0.0.1:1935/live/s_sd`` and
    ``rtmp://127.0.0.1:1935/live?vhost=__defaultVhost__/s_sd`` are one stream.
    """
    if not url.startswith("rtmp://"):
        return None
    tc_url, stream = split_rtmp_url(url)
    parsed = parse_tc_url(tc_url, stream)
    return parsed.vhost, parsed.app, parsed.stream


def ingest_jobs(
    vhost: VhostConfig, ingest: IngestConfig, port: int, ff_log_dir: str
) -> list[FfmpegJob]:
    """
    The children of one ``ingest`` block (``SrsIngester::parse_engines``): one
    per engine, enabled or not (a disabled one copies); one copying child
    when there is no engine block, which then has no output and fails.

    :param port: the server's first ``listen`` port, for ``[port]``.
    :raises EngineError: disabled ingest excepted, what SRS refuses: no
        ``ffmpeg``, no input url, no output, a bad engine.
    """
    if not ingest.enabled:
        return []
    if not ingest.ffmpeg:
        raise EngineError("empty ffmpeg")
    engines = ingest.engines or (EngineConfig(),)
    jobs = []
    for index, engine in enumerate(engines):
        output = engine.output.replace("[vhost]", vhost.name).replace("[port]", str(port))
        if not output:
            raise EngineError("empty output url")
        app, stream = _app_stream_of_output(output)
        if not ingest.input.url:
            raise EngineError("empty input url")
        iparams = "-re" if ingest.input.type == "file" else ""
        if not engine.enabled or not engine.vcodec or not engine.acodec:
            argv = copy_argv(ingest.ffmpeg, ingest.input.url, output, iparams)
        else:
            argv = engine_argv(
                ingest.ffmpeg, engine, ingest.input.url, output, iparams,
                keep_iformat=ingest.input.type == "device",
            )  # fmt: skip
        jobs.append(
            FfmpegJob(
                kind="ingest",
                key=(vhost.name, ingest.name, index),
                argv=tuple(argv),
                log=log_file(ff_log_dir, "ingest", vhost.name, app, stream),
                vhost=vhost.name,
                name=ingest.name,
                engine=engine.name,
                output=output,
            )
        )
    return jobs


def scope_transcodes(vhost: VhostConfig, app: str, stream: str) -> list[tuple[str, TranscodeConfig]]:
    """
    The ``transcode`` blocks that apply to ``app/stream``, in SRS's order:
    the vhost's (no scope), then ``transcode <app>``, then ``transcode
    <app>/<stream>`` (``SrsEncoder::parse_scope_engines``).

    :return: ``(scope, TranscodeConfig)`` pairs.
    """
    found: list[tuple[str, TranscodeConfig]] = []
    for scope in ("", app, f"{app}/{stream}"):
        for transcode in vhost.transcodes:
            if transcode.name == scope:
                found.append((scope, transcode))
                break
    return found


def transcode_input(vhost: str, app: str, stream: str, port: int) -> str:
    """What a transcode reads: ``rtmp://127.0.0.1:<port>/<app>?vhost=<vhost>/<stream>``."""
    return f"rtmp://{LOCALHOST}:{port}/{app}?vhost={vhost}/{stream}"


def transcode_jobs(
    config: ServerConfig,
    vhost: VhostConfig,
    app: str,
    stream: str,
    param: str,
    port: int,
) -> tuple[list[FfmpegJob], list[str]]:
    """
    The children that transcode ``app/stream`` of ``vhost``
    (``SrsEncoder::parse_ffmpeg`` and ``initialize_ffmpeg``): one per enabled
    engine of each scope that applies.  Output templates fill ``[vhost]``
    ``[port]`` ``[app]`` ``[stream]`` ``[param]`` ``[engine]``.

    :param port: the port the publisher came in on (``req->port``).
    :return: the jobs, and one message per engine or block left out
        (disabled ones silently, as SRS traces them).  SRS fails the whole
        publish on a bad engine; we skip only that engine.
    """
    jobs: list[FfmpegJob] = []
    problems: list[str] = []
    source = transcode_input(vhost.name, app, stream, port)
    for scope, transcode in scope_transcodes(vhost, app, stream):
        if not transcode.enabled:
            continue
        binary = transcode.ffmpeg
        if not binary:
            problems.append(f"transcode '{scope}' ({transcode.where}): empty ffmpeg")
            continue
        for index, engine in enumerate(transcode.engines):
            if not engine.enabled:
                continue
            output = (
                engine.output.replace("[vhost]", vhost.name)
                .replace("[port]", str(port))
                .replace("[app]", app)
                .replace("[stream]", stream)
                .replace("[param]", param)
                .replace("[engine]", engine.name)
            )
            try:
                argv = engine_argv(binary, engine, source, output)
            except EngineError as e:
                problems.append(f"transcode '{scope}' engine '{engine.name}' ({engine.where}): {e}")
                continue
            jobs.append(
                FfmpegJob(
                    kind="transcode",
                    key=(vhost.name, app, stream, scope, index),
                    argv=tuple(argv),
                    log=log_file(config.ff_log_dir, "encoder", vhost.name, app, stream, engine.name),
                    vhost=vhost.name,
                    name=f"{app}/{stream}",
                    engine=engine.name,
                    output=output,
                )
            )
    return jobs, problems


@dataclass(frozen=True)
class RestartPolicy:
    """
    When to start a child again after it exits.  SRS retries every 3 s
    forever (``SRS_AUTO_INGESTER_SLEEP_US``, ``SRS_RTMP_ENCODER_SLEEP_US``);
    a child that cannot run (a dead source URL) then costs a fork and an
    ffmpeg start-up every 3 s.  We wait ``first`` seconds, doubling per
    quick exit up to ``cap``; a child that ran ``reset_after`` seconds or
    more counts as healthy again, and its next restart waits ``first``; so
    does one that exited with status 0, which is ffmpeg at the end of its
    input (an ingested file played to its end restarts at once, the loop
    SRS users expect).
    """

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, quick_exits: int) -> float:
        """Seconds to wait after the ``quick_exits``-th exit in a row (1 for the first)."""
        return min(self.cap, self.first * 2 ** max(0, quick_exits - 1))

    def quick_exits(self, before: int, uptime: float, clean: bool = False) -> int:
        """
        The count of failed exits in a row, this one included, after one
        that ran ``uptime`` seconds (``clean``: with exit status 0).
        """
        return 1 if clean or uptime >= self.reset_after else before + 1
