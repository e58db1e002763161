"""
Tests for `srstwist.config.model` and `srstwist.config.schema`.

Defaults are checked against SRS 2.0's (the ``get_*`` getters of ``SrsConfig`` in
``srs_app_config.cpp``); lookups against ``SrsConfig::get_vhost`` and the semantic
check against ``SrsConfig::check_config``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.loader import load_config, load_config_text
from srstwist.config.model import (
    DEFAULT_VHOST,
    AccessRule,
    BandcheckConfig,
    DvrConfig,
    EngineConfig,
    HdsConfig,
    HeartbeatConfig,
    HlsConfig,
    HttpApiConfig,
    HttpHooksConfig,
    HttpRemuxConfig,
    HttpServerConfig,
    HttpStaticConfig,
    IngestConfig,
    IngestInputConfig,
    MergedReadConfig,
    PublishConfig,
    SecurityConfig,
    ServerConfig,
    StatsConfig,
    StreamCasterConfig,
    TranscodeConfig,
    VhostConfig,
)
from srstwist.config.parser import ConfigError
from srstwist.config.schema import Endpoint, _directive_fields

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HTML = "./objs/nginx/html"


def _load(text: str | bytes, filename: str = "conf/x.conf") -> ServerConfig:
    return load_config_text(text, filename)


# ---------------------------------------------------------------------------
# Defaults against SRS 2.0's getters.
#
# Each section: a template that writes it with the given text inside (the
# containing blocks written too), how to reach it in the model, and its
# class.  Every row of _DEFAULTS is (section, directive, SRS 2.0's
# default, that default as SRS writes it).

_SECTIONS: dict[str, tuple[str, Callable[[ServerConfig], Any], type]] = {
    "global": ("{}", lambda c: c, ServerConfig),
    "heartbeat": ("heartbeat {{ {} }}", lambda c: c.heartbeat, HeartbeatConfig),
    "stats": ("stats {{ {} }}", lambda c: c.stats, StatsConfig),
    "http_api": ("http_api {{ {} }}", lambda c: c.http_api, HttpApiConfig),
    "http_server": ("http_server {{ {} }}", lambda c: c.http_server, HttpServerConfig),
    "stream_caster": (
        "stream_caster {{ {} }}",
        lambda c: c.stream_casters[0],
        StreamCasterConfig,
    ),
    "vhost": ("vhost v {{ {} }}", lambda c: c.vhosts[0], VhostConfig),
    "security": (
        "vhost v {{ security {{ {} }} }}",
        lambda c: c.vhosts[0].security,
        SecurityConfig,
    ),
    "mr": ("vhost v {{ mr {{ {} }} }}", lambda c: c.vhosts[0].mr, MergedReadConfig),
    "publish": (
        "vhost v {{ publish {{ {} }} }}",
        lambda c: c.vhosts[0].publish,
        PublishConfig,
    ),
    "http_hooks": (
        "vhost v {{ http_hooks {{ {} }} }}",
        lambda c: c.vhosts[0].http_hooks,
        HttpHooksConfig,
    ),
    "hls": ("vhost v {{ hls {{ {} }} }}", lambda c: c.vhosts[0].hls, HlsConfig),
    "hds": ("vhost v {{ hds {{ {} }} }}", lambda c: c.vhosts[0].hds, HdsConfig),
    "dvr": ("vhost v {{ dvr {{ {} }} }}", lambda c: c.vhosts[0].dvr, DvrConfig),
    "ingest": (
        "vhost v {{ ingest i {{ {} }} }}",
        lambda c: c.vhosts[0].ingests[0],
        IngestConfig,
    ),
    "ingest input": (
        "vhost v {{ ingest i {{ input {{ {} }} }} }}",
        lambda c: c.vhosts[0].ingests[0].input,
        IngestInputConfig,
    ),
    "ingest engine": (
        "vhost v {{ ingest i {{ engine e {{ {} }} }} }}",
        lambda c: c.vhosts[0].ingests[0].engines[0],
        EngineConfig,
    ),
    "transcode": (
        "vhost v {{ transcode t {{ {} }} }}",
        lambda c: c.vhosts[0].transcodes[0],
        TranscodeConfig,
    ),
    "transcode engine": (
        "vhost v {{ transcode t {{ engine e {{ {} }} }} }}",
        lambda c: c.vhosts[0].transcodes[0].engines[0],
        EngineConfig,
    ),
    "http_static": (
        "vhost v {{ http_static {{ {} }} }}",
        lambda c: c.vhosts[0].http_static,
        HttpStaticConfig,
    ),
    "http_remux": (
        "vhost v {{ http_remux {{ {} }} }}",
        lambda c: c.vhosts[0].http_remux,
        HttpRemuxConfig,
    ),
    "bandcheck": (
        "vhost v {{ bandcheck {{ {} }} }}",
        lambda c: c.vhosts[0].bandcheck,
        BandcheckConfig,
    ),
}

_ENGINE_DEFAULTS = [
    ("enabled", False, "off"),
    ("iformat", "flv", "flv"),
    ("vfilter", (), "none"),
    ("vcodec", "", '""'),
    ("vbitrate", 0, "0"),
    ("vfps", 0.0, "0"),
    ("vwidth", 0, "0"),
    ("vheight", 0, "0"),
    ("vthreads", 1, "1"),
    ("vprofile", "", '""'),
    ("vpreset", "", '""'),
    ("vparams", (), "none"),
    ("acodec", "", '""'),
    ("abitrate", 0, "0"),
    ("asample_rate", 0, "0"),
    ("achannels", 0, "0"),
    ("aparams", (), "none"),
    ("oformat", "flv", "flv"),
    ("output", "", '""'),
]

_DEFAULTS: list[tuple[str, str, Any, str]] = [
    # global; "listen" has no default (required), see test_listenRequired.
    ("global", "pid", "./objs/srs.pid", "./objs/srs.pid"),
    ("global", "chunk_size", 60000, "60000"),
    ("global", "ff_log_dir", "./objs", "./objs"),
    ("global", "srs_log_tank", "file", "file"),
    ("global", "srs_log_level", "trace", "trace"),
    ("global", "srs_log_file", "./objs/srs.log", "./objs/srs.log"),
    ("global", "max_connections", 1000, "1000"),
    ("global", "daemon", True, "on"),
    ("global", "utc_time", False, "off"),
    ("global", "work_dir", "./", "./"),
    ("global", "asprocess", False, "off"),
    ("global", "pithy_print_ms", 10000, "10000"),
    ("global", "query_latest_version", True, "on"),
    # heartbeat
    ("heartbeat", "enabled", False, "off"),
    ("heartbeat", "interval", 9.9, "9.9 (full.conf's 9.3 is only an example)"),
    (
        "heartbeat",
        "url",
        "http://127.0.0.1:8085/api/v1/servers",
        "http://127.0.0.1:8085/api/v1/servers",
    ),
    ("heartbeat", "device_id", "", '""'),
    ("heartbeat", "summaries", False, "off"),
    # stats
    ("stats", "network", 0, "0"),
    ("stats", "disk", (), "none"),
    # http_api
    ("http_api", "enabled", False, "off"),
    ("http_api", "listen", Endpoint("0.0.0.0", 1985), "1985"),
    ("http_api", "crossdomain", True, "on"),
    # http_server
    ("http_server", "enabled", False, "off"),
    ("http_server", "listen", Endpoint("0.0.0.0", 8080), "8080"),
    ("http_server", "dir", _HTML, "./objs/nginx/html"),
    # stream_caster
    ("stream_caster", "enabled", False, "off"),
    ("stream_caster", "caster", "", "none"),
    ("stream_caster", "output", "", '""'),
    ("stream_caster", "listen", 0, "0"),
    ("stream_caster", "rtp_port_min", 0, "0"),
    ("stream_caster", "rtp_port_max", 0, "0"),
    # vhost scalars; chunk_size is None here, "the global one", see
    # test_chunkSizeOf.
    ("vhost", "enabled", True, "on"),
    ("vhost", "chunk_size", None, "global chunk_size"),
    ("vhost", "mode", "local", "local"),
    ("vhost", "origin", (), "none"),
    ("vhost", "token_traverse", False, "off"),
    ("vhost", "vhost", "[vhost]", "[vhost]"),
    ("vhost", "gop_cache", True, "on"),
    ("vhost", "queue_length", 30, "30"),
    ("vhost", "time_jitter", "full", "full"),
    ("vhost", "mix_correct", False, "off"),
    ("vhost", "atc", False, "off"),
    ("vhost", "atc_auto", True, "on"),
    ("vhost", "debug_srs_upnode", True, "on"),
    ("vhost", "min_latency", False, "off"),
    ("vhost", "mw_latency", 350, "350"),
    ("vhost", "tcp_nodelay", False, "off"),
    ("vhost", "send_min_interval", 0.0, "0.0"),
    ("vhost", "reduce_sequence_header", False, "off"),
    ("vhost", "publish_1stpkt_timeout", 20000, "20000"),
    ("vhost", "publish_normal_timeout", 5000, "5000"),
    ("vhost", "forward", (), "none"),
    ("vhost", "refer", None, "none (allow all)"),
    ("vhost", "refer_play", None, "none"),
    ("vhost", "refer_publish", None, "none"),
    # security
    ("security", "enabled", False, "security off"),
    ("security", "allow", (), "security: no rules"),
    ("security", "deny", (), "security: no rules"),
    # mr
    ("mr", "enabled", False, "mr off"),
    ("mr", "latency", 350, "mr 350"),
    # publish
    ("publish", "parse_sps", True, "publish on"),
    # http_hooks
    ("http_hooks", "enabled", False, "http_hooks off"),
    ("http_hooks", "on_connect", (), "none"),
    ("http_hooks", "on_close", (), "none"),
    ("http_hooks", "on_publish", (), "none"),
    ("http_hooks", "on_unpublish", (), "none"),
    ("http_hooks", "on_play", (), "none"),
    ("http_hooks", "on_stop", (), "none"),
    ("http_hooks", "on_dvr", (), "none"),
    ("http_hooks", "on_hls", (), "none"),
    ("http_hooks", "on_hls_notify", (), "none"),
    # hls
    ("hls", "enabled", False, "hls off"),
    ("hls", "hls_fragment", 10.0, "10"),
    ("hls", "hls_td_ratio", 1.5, "1.5"),
    ("hls", "hls_aof_ratio", 2.0, "2.0"),
    ("hls", "hls_window", 60.0, "60"),
    ("hls", "hls_on_error", "continue", "continue"),
    ("hls", "hls_path", _HTML, "./objs/nginx/html"),
    ("hls", "hls_m3u8_file", "[app]/[stream].m3u8", "[app]/[stream].m3u8"),
    ("hls", "hls_ts_file", "[app]/[stream]-[seq].ts", "[app]/[stream]-[seq].ts"),
    ("hls", "hls_ts_floor", False, "off"),
    ("hls", "hls_entry_prefix", "", '""'),
    ("hls", "hls_acodec", "aac", "aac"),
    ("hls", "hls_vcodec", "h264", "h264"),
    ("hls", "hls_cleanup", True, "on"),
    ("hls", "hls_dispose", 0, "0"),
    ("hls", "hls_nb_notify", 64, "64"),
    ("hls", "hls_wait_keyframe", True, "on"),
    ("hls", "hls_storage", "", "accepted and ignored"),
    ("hls", "hls_mount", "", "accepted and ignored"),
    # hds
    ("hds", "enabled", False, "hds off"),
    ("hds", "hds_fragment", 10.0, "10"),
    ("hds", "hds_window", 60.0, "60"),
    ("hds", "hds_path", _HTML, "./objs/nginx/html"),
    # dvr
    ("dvr", "enabled", False, "dvr off"),
    ("dvr", "dvr_plan", "session", "session"),
    (
        "dvr",
        "dvr_path",
        "./objs/nginx/html/[app]/[stream].[timestamp].flv",
        "./objs/nginx/html/[app]/[stream].[timestamp].flv",
    ),
    ("dvr", "dvr_duration", 30, "30"),
    ("dvr", "dvr_wait_keyframe", True, "on"),
    ("dvr", "time_jitter", "full", "full"),
    # ingest
    ("ingest", "enabled", False, "ingest off"),
    ("ingest", "ffmpeg", "", '""'),
    ("ingest", "engine", (), "no engines"),
    ("ingest input", "type", "file", "type file"),
    ("ingest input", "url", "", "no url"),
    # transcode
    ("transcode", "enabled", False, "transcode off"),
    ("transcode", "ffmpeg", "", '""'),
    ("transcode", "engine", (), "no engines"),
    # http_static
    ("http_static", "enabled", False, "http_static off"),
    ("http_static", "mount", "[vhost]/", "[vhost]/"),
    ("http_static", "dir", _HTML, "./objs/nginx/html"),
    # http_remux
    ("http_remux", "enabled", False, "http_remux off"),
    ("http_remux", "mount", "[vhost]/[app]/[stream].flv", "[vhost]/[app]/[stream].flv"),
    ("http_remux", "fast_cache", 0.0, "0"),
    ("http_remux", "hstrs", True, "on"),
    # bandcheck
    ("bandcheck", "enabled", False, "bandcheck off"),
    ("bandcheck", "key", "", '""'),
    ("bandcheck", "interval", 30.0, "30"),
    ("bandcheck", "limit_kbps", 1000, "1000"),
]
# engine directives, shared by ingest and transcode engines.
for _section in ("ingest engine", "transcode engine"):
    _DEFAULTS += [
        (_section, name, value, f"engine {ref}") for name, value, ref in _ENGINE_DEFAULTS
    ]

# Directives that are not scalars: their "no argument" form is not a default.
_NOT_SCALAR = {
    ("global", "listen"),
    ("http_api", "listen"),
    ("http_server", "listen"),
    ("security", "allow"),
    ("security", "deny"),
    ("ingest", "engine"),
    ("transcode", "engine"),
    ("ingest engine", "vfilter"),
    ("ingest engine", "vparams"),
    ("ingest engine", "aparams"),
    ("transcode engine", "vfilter"),
    ("transcode engine", "vparams"),
    ("transcode engine", "aparams"),
}


def _value(section_object: Any, cls: type, directive: str) -> Any:
    """The model's value for ``directive`` in a built section."""
    f, _ = _directive_fields(cls)[directive]
    return getattr(section_object, f.name)


class DefaultsTests(SynchronousTestCase):
    """Every directive defaults to SRS 2.0's value."""

    def test_tableCoversTheModel(self) -> None:
        """The table has a row for every directive each section accepts, and no other."""
        sub_sections = {
            "global": {
                "heartbeat",
                "stats",
                "http_api",
                "http_server",
                "http_stream",
                "stream_caster",
                "vhost",
                "listen",
            },
            "vhost": {
                "security",
                "mr",
                "publish",
                "http_hooks",
                "hls",
                "hds",
                "dvr",
                "ingest",
                "transcode",
                "http_static",
                "http",
                "http_remux",
                "bandcheck",
            },
            "ingest": {"input"},
        }
        for section, (_, _, cls) in _SECTIONS.items():
            accepted = set(_directive_fields(cls)) - sub_sections.get(section, set())
            tabled = {d for s, d, _, _ in _DEFAULTS if s == section}
            self.assertEqual(tabled, accepted, section)

    def test_absentSections(self) -> None:
        """With a section absent, every directive in it has SRS 2.0's default."""
        config = _load("listen 1935; vhost v {}")
        absent: dict[str, tuple[Any, type]] = {
            "global": (config, ServerConfig),
            "heartbeat": (config.heartbeat, HeartbeatConfig),
            "stats": (config.stats, StatsConfig),
            "http_api": (config.http_api, HttpApiConfig),
            "http_server": (config.http_server, HttpServerConfig),
            "vhost": (config.vhosts[0], VhostConfig),
            "security": (config.vhosts[0].security, SecurityConfig),
            "mr": (config.vhosts[0].mr, MergedReadConfig),
            "publish": (config.vhosts[0].publish, PublishConfig),
            "http_hooks": (config.vhosts[0].http_hooks, HttpHooksConfig),
            "hls": (config.vhosts[0].hls, HlsConfig),
            "hds": (config.vhosts[0].hds, HdsConfig),
            "dvr": (config.vhosts[0].dvr, DvrConfig),
            "http_static": (config.vhosts[0].http_static, HttpStaticConfig),
            "http_remux": (config.vhosts[0].http_remux, HttpRemuxConfig),
            "bandcheck": (config.vhosts[0].bandcheck, BandcheckConfig),
        }
        wrong = []
        for section, directive, expected, reference in _DEFAULTS:
            if section not in absent:
                continue  # repeatable sections only exist when written
            obj, cls = absent[section]
            actual = _value(obj, cls, directive)
            if actual != expected:
                wrong.append(f"{section} {directive}: {actual!r}, SRS 2.0 {reference}")
        self.assertEqual(wrong, [])

    def test_emptySections(self) -> None:
        """With a section present but empty, every directive in it has SRS 2.0's default."""
        wrong = []
        for section, directive, expected, reference in _DEFAULTS:
            template, get, cls = _SECTIONS[section]
            actual = _value(get(_load("listen 1935; " + template.format(""))), cls, directive)
            if actual != expected or type(actual) is not type(expected):
                wrong.append(f"{section} {directive}: {actual!r}, SRS 2.0 {reference}")
        self.assertEqual(wrong, [])

    def test_noArgument(self) -> None:
        """A scalar directive written with no argument (``pid;``) also takes its default."""
        wrong = []
        for section, directive, expected, reference in _DEFAULTS:
            if (section, directive) in _NOT_SCALAR or directive.startswith("refer"):
                continue
            template, get, cls = _SECTIONS[section]
            config = _load("listen 1935; " + template.format(f"{directive};"))
            actual = _value(get(config), cls, directive)
            if actual != expected:
                wrong.append(f"{section} {directive}: {actual!r}, SRS 2.0 {reference}")
        self.assertEqual(wrong, [])

    def test_emptyReferRefusesEveryone(self) -> None:
        """
        ``refer;`` with no domain differs from no refer: it allows nobody
        (``SrsRefer::check``).
        """
        config = _load("listen 1935; vhost v { refer; refer_play a.com; }")
        self.assertEqual(config.vhost("v").refer, ())
        self.assertEqual(config.vhost("v").refer_play, ("a.com",))
        self.assertIsNone(config.vhost("v").refer_publish)

    def test_listenRequired(self) -> None:
        """``listen`` has no default: a file without it is an error."""
        error = self.assertRaises(ConfigError, _load, "pid x;")
        self.assertEqual(str(error), "conf/x.conf:1: missing directive 'listen'")

    def test_listen(self) -> None:
        """``listen`` takes one or more endpoints, the ip defaulting to 0.0.0.0."""
        config = _load("listen 1935 127.0.0.1:19350;")
        self.assertEqual(config.listen, (Endpoint("0.0.0.0", 1935), Endpoint("127.0.0.1", 19350)))

    def test_emptyListen(self) -> None:
        """``listen;`` with no port is an error at its line (``SrsConfig::check_config``)."""
        error = self.assertRaises(ConfigError, _load, "pid x;\nlisten;")
        self.assertTrue(str(error).startswith("conf/x.conf:2: 'listen'"), str(error))

    def test_chunkSizeOf(self) -> None:
        """A vhost's chunk size is its own, else the global one."""
        config = _load("listen 1935; chunk_size 4096; vhost a {} vhost b { chunk_size 128; }")
        a, b = config.vhosts
        self.assertEqual(config.chunk_size_of(a), 4096)
        self.assertEqual(config.chunk_size_of(b), 128)
        self.assertEqual(_load("listen 1935; vhost a {}").chunk_size_of(a), 60000)


class UnknownDirectiveTests(SynchronousTestCase):
    """Names a section does not know are errors at their line (``SrsConfig::check_config``)."""

    def test_topLevel(self) -> None:
        """An unknown top-level name is ``file:line: unknown directive 'x'``."""
        error = self.assertRaises(
            ConfigError, _load, "listen 1935;\n\n# x\n\n\n\n\n\n\n\n\nlisen 1936;\n"
        )
        self.assertEqual(str(error), "conf/x.conf:12: unknown directive 'lisen'")
        self.assertEqual((error.filename, error.line), ("conf/x.conf", 12))

    def test_inVhost(self) -> None:
        """An unknown name inside a vhost names the vhost section."""
        error = self.assertRaises(ConfigError, _load, "listen 1935;\nvhost a {\n    lisen 1;\n}\n")
        self.assertEqual(str(error), "conf/x.conf:3: unknown directive 'lisen' in vhost")

    def test_sectionNames(self) -> None:
        """Every section names itself in the message, aliases by their modern name."""
        cases = [
            ("heartbeat { x; }", "heartbeat"),
            ("stats { x; }", "stats"),
            ("http_api { x; }", "http_api"),
            ("http_server { x; }", "http_server"),
            ("http_stream { x; }", "http_server"),
            ("stream_caster { x; }", "stream_caster"),
            ("vhost a { x; }", "vhost"),
            ("vhost a { security { x; } }", "vhost security"),
            ("vhost a { mr { x; } }", "vhost mr"),
            ("vhost a { publish { x; } }", "vhost publish"),
            ("vhost a { http_hooks { x; } }", "vhost http_hooks"),
            ("vhost a { hls { x; } }", "vhost hls"),
            ("vhost a { hds { x; } }", "vhost hds"),
            ("vhost a { dvr { x; } }", "vhost dvr"),
            ("vhost a { ingest i { x; } }", "vhost ingest"),
            ("vhost a { ingest i { input { x; } } }", "ingest input"),
            ("vhost a { ingest i { engine { x; } } }", "engine"),
            ("vhost a { transcode { x; } }", "vhost transcode"),
            ("vhost a { transcode { engine e { x; } } }", "engine"),
            ("vhost a { http_static { x; } }", "vhost http_static"),
            ("vhost a { http { x; } }", "vhost http_static"),
            ("vhost a { http_remux { x; } }", "vhost http_remux"),
            ("vhost a { bandcheck { x; } }", "vhost bandcheck"),
        ]
        for text, section in cases:
            error = self.assertRaises(ConfigError, _load, f"listen 1935;\n{text}")
            self.assertEqual(str(error), f"conf/x.conf:2: unknown directive 'x' in {section}", text)

    def test_undecodableName(self) -> None:
        """An unknown name with undecodable bytes is reported with them as ``\\xNN``."""
        error = self.assertRaises(ConfigError, _load, b"listen 1935;\n\xffpid x;")
        self.assertEqual(str(error), "conf/x.conf:2: unknown directive '\\xffpid'")

    def test_modelFieldNamesAreNotDirectives(self) -> None:
        """Internal field names (``where``, ``name``, ``vhosts``, ``rules``) are not directives."""
        for text, name in [
            ("where x;", "where"),
            ("vhosts x;", "vhosts"),
            ("filename x;", "filename"),
            ("vhost a { name b; }", "name"),
            ("vhost a { where b; }", "where"),
            ("vhost a { ingests b; }", "ingests"),
            ("vhost a { security { rules x; } }", "rules"),
        ]:
            error = self.assertRaises(ConfigError, _load, f"listen 1935; {text}")
            self.assertIn(f"unknown directive '{name}'", str(error))


class BadValueTests(SynchronousTestCase):
    """Values that cannot be used are errors naming file, line and directive."""

    def assertBadValue(self, text: str, line: int, directive: str, value: str) -> None:
        error = self.assertRaises(ConfigError, _load, text)
        self.assertEqual(error.line, line, text)
        message = str(error)
        self.assertTrue(message.startswith(f"conf/x.conf:{line}: "), message)
        self.assertIn(f"'{directive}'", message)
        self.assertIn(value, message)

    def test_examples(self) -> None:
        """``enabled yes``, ``chunk_size 100``, ``max_connections abc``, ``listen 0``, ``hls_fragment -1`` are errors."""
        self.assertBadValue("listen 1935;\nvhost a {\n    enabled yes;\n}", 3, "enabled", "'yes'")
        self.assertBadValue("listen 1935;\nchunk_size 100;", 2, "chunk_size", "'100'")
        self.assertBadValue("listen 1935;\nmax_connections abc;", 2, "max_connections", "'abc'")
        self.assertBadValue("pid x;\nlisten 0;", 2, "listen", "'0'")
        self.assertBadValue(
            "listen 1935;\nvhost a {\n    hls {\n        hls_fragment -1;\n    }\n}",
            4,
            "hls_fragment",
            "'-1'",
        )

    def test_moreBadValues(self) -> None:
        """Numbers, booleans, choices and endpoints are all checked."""
        for text, directive, value in [
            ("listen 1935 abc;", "listen", "abc"),
            ("listen 65536;", "listen", "65536"),
            ("chunk_size 65537;", "chunk_size", "65537"),
            ("vhost a { chunk_size 127; }", "chunk_size", "127"),
            ("max_connections 0;", "max_connections", "0"),
            ("max_connections 1O00;", "max_connections", "1O00"),
            ("max_connections 1500kbps;", "max_connections", "1500kbps"),
            ("daemon On;", "daemon", "On"),
            ("srs_log_tank syslog;", "srs_log_tank", "syslog"),
            ("heartbeat { interval 0; }", "interval", "0"),
            ("heartbeat { interval nan; }", "interval", "nan"),
            ("heartbeat { interval 1e999; }", "interval", "1e999"),
            ("http_api { listen 1985 1986; }", "listen", "got 2"),
            ("stats { network -1; }", "network", "-1"),
            ("vhost a { mode edge; }", "mode", "edge"),
            ("vhost a { queue_length 1.5; }", "queue_length", "1.5"),
            ("vhost a { dvr { dvr_plan bad; } }", "dvr_plan", "bad"),
            ("vhost a { hls { hls_window 0; } }", "hls_window", "0"),
            ("vhost a { transcode { engine { achannels 3; } } }", "achannels", "3"),
            ("stream_caster { caster rtmp; }", "caster", "rtmp"),
        ]:
            self.assertBadValue(f"listen 1935;\n{text}", 2, directive, value)

    def test_nonAsciiDigits(self) -> None:
        """Digits of other scripts are not numbers, though Python's ``int()`` accepts them."""
        for text, directive in [
            ("max_connections \u0661\u0660\u0660\u0660;", "max_connections"),
            ("vhost a { hls { hls_fragment \u0665; } }", "hls_fragment"),
            ("pid x;\nlisten \uff11\uff19\uff13\uff15;", "listen"),
            ("http_api { listen 127.0.0.1:\u0661\u0669\u0668\u0665; }", "listen"),
        ]:
            error = self.assertRaises(ConfigError, _load, f"listen 1935;\n{text}")
            self.assertIn(f"'{directive}'", str(error))

    def test_extraArguments(self) -> None:
        """A scalar given two values is an error naming the directive."""
        self.assertBadValue("listen 1935;\npid a b;", 2, "pid", "a b")

    def test_scalarAsBlock(self) -> None:
        """A scalar written as a block is an error."""
        for text in [
            "pid {}",
            "pid x { }",
            "vhost a { gop_cache { on; } }",
            "vhost a { forward { x; } }",
            "vhost a { security { allow { play all; } } }",
        ]:
            error = self.assertRaises(ConfigError, _load, f"listen 1935;\n{text}")
            self.assertEqual(error.line, 2, text)

    def test_sectionWithArguments(self) -> None:
        """A section that takes no name rejects one."""
        error = self.assertRaises(ConfigError, _load, "listen 1935;\nhttp_api on {}")
        self.assertEqual(str(error), "conf/x.conf:2: 'http_api' takes no arguments")

    def test_badAccessRule(self) -> None:
        """``allow``/``deny`` need ``play|publish`` and one address."""
        for rule in ["allow all;", "deny play;", "allow record all;", "deny play a b;"]:
            error = self.assertRaises(
                ConfigError, _load, f"listen 1935;\nvhost a {{ security {{ {rule} }} }}"
            )
            self.assertEqual(error.line, 2, rule)

    def test_ffmpegParamBlocksAreFlat(self) -> None:
        """A block inside ``vfilter``/``vparams``/``aparams`` is an error."""
        error = self.assertRaises(
            ConfigError,
            _load,
            "listen 1935;\nvhost a { transcode { engine { vparams {\nx { y; } } } } }",
        )
        self.assertEqual(error.line, 3)


class SrsBugTests(SynchronousTestCase):
    """Configurations SRS 2.0 rejects by mistake (``SrsConfig::check_config``) are accepted."""

    def test_listenAnyAddress(self) -> None:
        """``listen 0.0.0.0:1935;`` means port 1935 on every address."""
        self.assertEqual(_load("listen 0.0.0.0:1935;").listen, (Endpoint("0.0.0.0", 1935),))

    def test_queryLatestVersion(self) -> None:
        """``query_latest_version`` is accepted, on or off."""
        self.assertTrue(_load("listen 1935; query_latest_version on;").query_latest_version)
        self.assertFalse(_load("listen 1935; query_latest_version off;").query_latest_version)


class AliasTests(SynchronousTestCase):
    """SRS 1 names."""

    def test_httpStream(self) -> None:
        """``http_stream`` is read as ``http_server``."""
        config = _load("listen 1935; http_stream { enabled on; listen 8081; }")
        self.assertEqual(config.http_server, HttpServerConfig(True, Endpoint("0.0.0.0", 8081)))
        self.assertEqual(config.warnings, ())

    def test_httpStreamWins(self) -> None:
        """With both ``http_stream`` and ``http_server``, ``http_stream`` wins whichever comes first, with a warning."""
        for text in [
            "http_stream { listen 1; }\nhttp_server { listen 2; }",
            "http_server { listen 2; }\nhttp_stream { listen 1; }",
        ]:
            config = _load(f"listen 1935;\n{text}")
            self.assertEqual(config.http_server.listen.port, 1, text)
            [warning] = config.warnings
            self.assertIn("'http_server' ignored", warning)
            self.assertIn("conf/x.conf:", warning)

    def test_http(self) -> None:
        """Inside a vhost, ``http`` is read as ``http_static``."""
        config = _load("listen 1935; vhost a { http { enabled on; mount /x; } }")
        self.assertEqual(config.vhosts[0].http_static.mount, "/x")
        self.assertTrue(config.vhosts[0].http_static.enabled)

    def test_httpWins(self) -> None:
        """With both ``http`` and ``http_static``, ``http`` wins whichever comes first, with a warning at the ignored one."""
        for text, ignored_line in (
            [
                "vhost a {\nhttp { dir /one; }\nhttp_static { dir /two; }\n}",
                3,
            ],
            ["vhost a {\nhttp_static { dir /two; }\nhttp { dir /one; }\n}", 2],
        ):
            config = _load(f"listen 1935;\n{text}")
            self.assertEqual(config.vhosts[0].http_static.dir, "/one", text)
            [warning] = config.warnings
            self.assertTrue(warning.startswith(f"conf/x.conf:{ignored_line + 1}: "), warning)
            self.assertIn("'http_static' ignored", warning)


class RepeatableTests(SynchronousTestCase):
    """Sections and rules that may appear many times keep every occurrence in order."""

    def test_vhosts(self) -> None:
        """Every ``vhost`` is kept, in file order, with its name."""
        config = _load("listen 1935; vhost a {} vhost b { enabled off; } vhost c;")
        self.assertEqual([v.name for v in config.vhosts], ["a", "b", "c"])
        self.assertFalse(config.vhosts[1].enabled)

    def test_ingestsAndEngines(self) -> None:
        """Every ``ingest`` and every ``engine`` in it is kept, engines with or without a name."""
        config = _load(
            "listen 1935; vhost a {"
            " ingest one { input { type stream; url rtmp://x/y; } engine hd { vcodec copy; }"
            " engine { output rtmp://z; } }"
            " ingest two {} }"
        )
        one, two = config.vhosts[0].ingests
        self.assertEqual((one.name, two.name), ("one", "two"))
        self.assertEqual(one.input, IngestInputConfig("stream", "rtmp://x/y"))
        self.assertEqual([e.name for e in one.engines], ["hd", ""])
        self.assertEqual(one.engines[0].vcodec, "copy")
        self.assertEqual(one.engines[1].output, "rtmp://z")
        self.assertEqual(two.engines, ())

    def test_transcodes(self) -> None:
        """Every ``transcode`` is kept with its scope (empty, app, or app/stream)."""
        config = _load(
            "listen 1935; vhost a { transcode {} transcode live {}"
            " transcode live/livestream { engine e { vfilter { i a.png; filter_complex x; } } } }"
        )
        transcodes = config.vhosts[0].transcodes
        self.assertEqual([t.name for t in transcodes], ["", "live", "live/livestream"])
        self.assertEqual(
            transcodes[2].engines[0].vfilter, (("i", "a.png"), ("filter_complex", "x"))
        )

    def test_streamCasters(self) -> None:
        """Every ``stream_caster`` is kept."""
        config = _load(
            "listen 1935;"
            " stream_caster { enabled on; caster mpegts_over_udp; listen 8935; }"
            " stream_caster { enabled on; caster flv; listen 8936; output rtmp://x; }"
        )
        self.assertEqual([c.caster for c in config.stream_casters], ["mpegts_over_udp", "flv"])
        self.assertEqual([c.listen for c in config.stream_casters], [8935, 8936])

    def test_accessRules(self) -> None:
        """``allow`` and ``deny`` lines are kept together, in file order."""
        config = _load(
            "listen 1935; vhost a { security { enabled on;"
            " deny publish all; allow play all; allow publish 127.0.0.1; } }"
        )
        self.assertEqual(
            config.vhosts[0].security.rules,
            (
                AccessRule("deny", "publish", "all"),
                AccessRule("allow", "play", "all"),
                AccessRule("allow", "publish", "127.0.0.1"),
            ),
        )

    def test_multipleWords(self) -> None:
        """Multi-value directives keep all their words."""
        config = _load(
            "listen 1935; stats { disk sda sdb; } vhost a { mode remote;"
            " origin 1.2.3.4:1935 5.6.7.8; forward x:19350 y;"
            " http_hooks { on_connect http://a http://b; } }"
        )
        self.assertEqual(config.stats.disk, ("sda", "sdb"))
        vhost = config.vhosts[0]
        self.assertTrue(vhost.is_edge)
        self.assertEqual(vhost.origin, ("1.2.3.4:1935", "5.6.7.8"))
        self.assertEqual(vhost.forward, ("x:19350", "y"))
        self.assertEqual(vhost.http_hooks.on_connect, ("http://a", "http://b"))


class CrossCheckTests(SynchronousTestCase):
    """
    Checks spanning several directives (``SrsConfig::check_config``), reported
    at the offending line.
    """

    def test_duplicateVhost(self) -> None:
        """Two vhosts of one name are an error at the second, naming the first's line."""
        error = self.assertRaises(
            ConfigError, _load, "listen 1935;\nvhost a {}\nvhost b {}\nvhost a {}"
        )
        self.assertEqual(str(error), "conf/x.conf:4: duplicate vhost 'a' (first at line 2)")

    def test_vhostNeedsName(self) -> None:
        """A vhost without a name is an error."""
        error = self.assertRaises(ConfigError, _load, "listen 1935;\nvhost {}")
        self.assertEqual(error.line, 2)

    def test_vhostTakesOneName(self) -> None:
        """A vhost with two names is an error."""
        error = self.assertRaises(ConfigError, _load, "listen 1935;\nvhost a b {}")
        self.assertEqual(error.line, 2)

    def test_duplicateIngest(self) -> None:
        """Two ingests of one id in a vhost are an error naming the id and the vhost."""
        error = self.assertRaises(
            ConfigError,
            _load,
            "listen 1935;\nvhost v {\ningest a {}\ningest a {}\n}",
        )
        self.assertEqual(str(error), "conf/x.conf:4: duplicate ingest id 'a' in vhost 'v'")

    def test_sameIngestInTwoVhosts(self) -> None:
        """Ingest ids need only be unique within their vhost."""
        config = _load("listen 1935; vhost v { ingest a {} } vhost w { ingest a {} }")
        self.assertEqual(len(config.vhosts), 2)

    def test_daemonAndAsprocess(self) -> None:
        """
        ``asprocess on`` with ``daemon`` on (its default) is an error at the
        ``asprocess`` line.
        """
        for text in [
            "listen 1935;\nasprocess on;",
            "listen 1935; daemon on;\nasprocess on;",
        ]:
            error = self.assertRaises(ConfigError, _load, text)
            self.assertEqual(error.line, 2, text)
            self.assertIn("asprocess", str(error))
        self.assertTrue(_load("listen 1935; daemon off; asprocess on;").asprocess)

    def test_streamCasterWithoutCaster(self) -> None:
        """An enabled ``stream_caster`` needs a ``caster``."""
        error = self.assertRaises(
            ConfigError,
            _load,
            "listen 1935;\nstream_caster {\nenabled on; listen 8935;\n}",
        )
        self.assertEqual(error.line, 2)
        self.assertIn("caster", str(error))

    def test_streamCasterWithoutListen(self) -> None:
        """An enabled ``stream_caster`` needs a ``listen`` port above 0."""
        error = self.assertRaises(
            ConfigError,
            _load,
            "listen 1935;\nstream_caster {\nenabled on; caster flv;\n}",
        )
        self.assertEqual(error.line, 2)
        self.assertIn("listen", str(error))
        error = self.assertRaises(
            ConfigError,
            _load,
            "listen 1935;\nstream_caster {\nenabled on; caster flv;\nlisten 0;\n}",
        )
        self.assertEqual(error.line, 4)

    def test_disabledStreamCaster(self) -> None:
        """A disabled ``stream_caster`` needs neither ``caster`` nor ``listen``."""
        self.assertFalse(_load("listen 1935; stream_caster {}").stream_casters[0].enabled)

    def test_legacyHlsWarnings(self) -> None:
        """``hls_storage`` and ``hls_mount`` are accepted with a warning at their line."""
        config = _load("listen 1935;\nvhost a { hls {\nhls_storage ram;\nhls_mount /x;\n} }")
        self.assertEqual(
            [w.split(": ")[0] for w in config.warnings],
            ["conf/x.conf:3", "conf/x.conf:4"],
        )


class DuplicateTests(SynchronousTestCase):
    """A non-repeatable directive written twice: the first wins, with a warning."""

    def test_globalScalar(self) -> None:
        """The first ``pid`` is used and the second reported at its line."""
        config = _load("listen 1935;\npid /a;\npid /b;")
        self.assertEqual(config.pid, "/a")
        self.assertEqual(
            config.warnings,
            ("conf/x.conf:3: duplicate 'pid' ignored; the one at line 2 is used",),
        )

    def test_listen(self) -> None:
        """A second ``listen`` is ignored, not merged."""
        config = _load("listen 1935;\nlisten 1936;")
        self.assertEqual(config.listen, (Endpoint("0.0.0.0", 1935),))
        self.assertEqual(len(config.warnings), 1)

    def test_firstWithoutValue(self) -> None:
        """A first occurrence without a value still wins: the default is used."""
        config = _load("listen 1935;\nchunk_size;\nchunk_size 4096;")
        self.assertEqual(config.chunk_size, 60000)
        self.assertEqual(len(config.warnings), 1)

    def test_inSections(self) -> None:
        """Duplicates inside sections, and duplicate sections, are handled the same way."""
        config = _load(
            "listen 1935;\nvhost a {\ngop_cache off;\ngop_cache on;\n"
            "hls { enabled on; }\nhls { enabled off; hls_fragment 2; }\n}"
        )
        vhost = config.vhosts[0]
        self.assertFalse(vhost.gop_cache)
        self.assertEqual(vhost.hls, HlsConfig(enabled=True))
        self.assertEqual(
            [w.split(": ")[0] for w in config.warnings],
            ["conf/x.conf:4", "conf/x.conf:6"],
        )


class LookupTests(SynchronousTestCase):
    """:meth:`ServerConfig.vhost` (``SrsConfig::get_vhost``)."""

    def test_byName(self) -> None:
        """A configured vhost is found by its name."""
        config = _load(f"listen 1935; vhost {DEFAULT_VHOST} {{}} vhost a {{ gop_cache off; }}")
        self.assertEqual(config.vhost("a").name, "a")

    def test_fallback(self) -> None:
        """An unknown name gets ``__defaultVhost__``."""
        config = _load(f"listen 1935; vhost a {{}} vhost {DEFAULT_VHOST} {{}}")
        self.assertEqual(config.vhost("b").name, DEFAULT_VHOST)

    def test_noFallback(self) -> None:
        """Without ``__defaultVhost__``, an unknown name finds nothing."""
        self.assertIsNone(_load("listen 1935; vhost a {}").vhost("b"))
        self.assertIsNone(_load("listen 1935;").vhost(DEFAULT_VHOST))

    def test_disabledReturned(self) -> None:
        """A disabled vhost is returned; the caller checks ``enabled``."""
        config = _load(f"listen 1935; vhost a {{ enabled off; }} vhost {DEFAULT_VHOST} {{}}")
        self.assertFalse(config.vhost("a").enabled)


class EndpointTests(SynchronousTestCase):
    """:class:`Endpoint` parsing and formatting."""

    def test_parse(self) -> None:
        """A port, ``ip:port`` and ``[ipv6]:port`` are addresses."""
        for text, expected in [
            ("1935", Endpoint("0.0.0.0", 1935)),
            ("127.0.0.1:1935", Endpoint("127.0.0.1", 1935)),
            ("0.0.0.0:1", Endpoint("0.0.0.0", 1)),
            ("[::1]:1935", Endpoint("::1", 1935)),
            ("[::]:65535", Endpoint("::", 65535)),
            ("localhost:8080", Endpoint("localhost", 8080)),
        ]:
            self.assertEqual(Endpoint.parse(text), expected, text)

    def test_defaultHost(self) -> None:
        """A bare port uses ``default_host``."""
        self.assertEqual(Endpoint.parse("1985", "127.0.0.1"), Endpoint("127.0.0.1", 1985))

    def test_bad(self) -> None:
        """Anything else raises ``ValueError``."""
        for text in [
            "",
            "0",
            "65536",
            "-1",
            "+1935",
            " 1935",
            "abc",
            "1935abc",
            "1e3",
            ":1935",
            "127.0.0.1:",
            "127.0.0.1:x",
            "[::1]",
            "[::1]1935",
            "[]:1935",
            "::1",
            "::1:1935",
            "1.2.3.4::1935",
            "[::1]:",
            "\uff11\uff19\uff13\uff15",
        ]:
            self.assertRaises(ValueError, Endpoint.parse, text)

    def test_str(self) -> None:
        """``str`` gives ``host:port``, bracketing IPv6 hosts."""
        self.assertEqual(str(Endpoint("0.0.0.0", 1935)), "0.0.0.0:1935")
        self.assertEqual(str(Endpoint("::1", 1935)), "[::1]:1935")

    def test_strRoundTrip(self) -> None:
        """``str`` output parses back to the same endpoint."""
        for endpoint in [Endpoint("0.0.0.0", 1935), Endpoint("::1", 80)]:
            self.assertEqual(Endpoint.parse(str(endpoint)), endpoint)

    def test_strports(self) -> None:
        """``strports()`` is a Twisted description, colons of IPv6 hosts escaped."""
        self.assertEqual(Endpoint("0.0.0.0", 1935).strports(), "tcp:port=1935:interface=0.0.0.0")
        self.assertEqual(Endpoint("::1", 1935).strports(), "tcp:port=1935:interface=\\:\\:1")

    def test_strportsListens(self) -> None:
        """Twisted's ``serverFromString`` listens on the described port and interface."""
        for endpoint in [Endpoint("127.0.0.1", 1935), Endpoint("::1", 19350)]:
            reactor = MemoryReactor()
            serverFromString(reactor, endpoint.strports()).listen(Factory())
            [(port, _, _, interface)] = reactor.tcpServers
            self.assertEqual((port, interface), (endpoint.port, endpoint.host))


class LoadTests(SynchronousTestCase):
    """Loading files."""

    def test_sampleConfigs(self) -> None:
        """Every sample config in ``conf/`` loads."""
        paths = sorted(glob.glob(os.path.join(_REPO, "conf", "*.conf")))
        self.assertGreaterEqual(len(paths), 37)
        for path in paths:
            name = os.path.relpath(path, _REPO)
            config = load_config(path, name)
            self.assertEqual(config.filename, name)
            self.assertTrue(config.listen, name)

    def test_loadConfig(self) -> None:
        """``load_config`` keeps the display name, the warnings and the tree."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("listen 1935;\npid a;\npid b;\n")
        config = load_config(path, "conf/srs.conf")
        self.assertEqual(config.filename, "conf/srs.conf")
        self.assertEqual(config.warnings[0].split(": ")[0], "conf/srs.conf:3")
        self.assertEqual(config.tree.children[0].name, "listen")
        self.assertEqual(load_config(path).filename, path)

    def test_unreadable(self) -> None:
        """A missing file is a :class:`ConfigError` naming it."""
        error = self.assertRaises(
            ConfigError, load_config, os.path.join(self.mktemp(), "x"), "conf/x.conf"
        )
        self.assertEqual(error.filename, "conf/x.conf")

    def test_equalityIgnoresLocation(self) -> None:
        """Sections compare by value, not by where they were written."""
        one = _load("listen 1935;\nvhost a { hls { enabled on; } }", "one.conf")
        two = _load("listen 1935;\n\n\nvhost a {\n hls {\n enabled on;\n }\n}\n", "two.conf")
        self.assertEqual(one, two)
        self.assertEqual(one.vhosts[0].hls, two.vhosts[0].hls)
        self.assertNotEqual(one.vhosts[0].where, two.vhosts[0].where)
        self.assertEqual(two.vhosts[0].where, "two.conf:4")
