"""
Tests for :mod:`srstwist.config.support`.

The sets :data:`BUILT` and :data:`NEVER` grow as features land, so these tests use
directive names no feature will ever have (``frob``) where they need an
unbuilt one, and read the sets themselves where they need built ones.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.parser import Directive, parse
from srstwist.config.support import BUILT, NEVER, is_built, unsupported_directives


def _tree(paths: list[str]) -> Directive:
    """A file holding one directive (or nested block) for each dotted path."""
    lines = []
    for path in paths:
        names = path.split(".")
        lines.append(
            " ".join(f"{name} {{" for name in names[:-1])
            + f" {names[-1]} x;"
            + " }" * (len(names) - 1)
        )
    return parse("\n".join(lines), "x.conf")


class UnsupportedDirectivesTests(SynchronousTestCase):
    """:func:`unsupported_directives` lists what is accepted but not acted on."""

    def test_unbuiltTopLevel(self) -> None:
        """An unbuilt top-level directive is reported with its file and line."""
        root = parse("listen 1935;\n\nfrob 1;\n", "conf/x.conf")
        self.assertEqual(unsupported_directives(root), ["not supported yet: frob (conf/x.conf:3)"])

    def test_topMostOnly(self) -> None:
        """An unbuilt block is reported once; its children are not looked at."""
        root = parse("frob {\n  a 1;\n  b { c; }\n}\n", "x.conf")
        self.assertEqual(unsupported_directives(root), ["not supported yet: frob (x.conf:1)"])

    def test_descendsIntoBuilt(self) -> None:
        """Children of a built block are checked, and reported by their dotted path."""
        self.assertIn("vhost", BUILT)
        root = parse(
            "listen 1935;\nvhost a {\n  frob on;\n  nested {\n    deeper 1;\n  }\n}\n",
            "x.conf",
        )
        self.assertEqual(
            unsupported_directives(root),
            [
                "not supported yet: vhost.frob (x.conf:3)",
                "not supported yet: vhost.nested (x.conf:4)",
            ],
        )

    def test_everyVhostReported(self) -> None:
        """The same unbuilt directive in two vhosts is reported at each location."""
        root = parse("vhost a { frob; }\nvhost b { frob; }", "x.conf")
        self.assertEqual(
            unsupported_directives(root),
            [
                "not supported yet: vhost.frob (x.conf:1)",
                "not supported yet: vhost.frob (x.conf:2)",
            ],
        )

    def test_builtNotReported(self) -> None:
        """Nothing is reported for a file using only built directives."""
        self.assertEqual(unsupported_directives(_tree(sorted(BUILT))), [])

    def test_never(self) -> None:
        """A directive that will never be acted on is reported as ignored, with the reason."""
        self.assertIn("query_latest_version", NEVER)
        root = parse("listen 1935;\nquery_latest_version on;\n", "conf/x.conf")
        self.assertEqual(
            unsupported_directives(root),
            ["ignored: query_latest_version (conf/x.conf:2): " + NEVER["query_latest_version"]],
        )

    def test_everyNeverPath(self) -> None:
        """Each path of :data:`NEVER` is reported as ignored and never as unsupported."""
        messages = unsupported_directives(_tree(sorted(NEVER)))
        self.assertEqual(
            [m.split(" (")[0] for m in messages],
            [f"ignored: {p}" for p in sorted(NEVER)],
        )

    def test_fileOrder(self) -> None:
        """Messages come in file order."""
        root = parse(
            "frob1;\nlisten 1935;\nvhost a { frob2; }\nquery_latest_version off;\nfrob3;",
            "x.conf",
        )
        self.assertEqual(
            unsupported_directives(root),
            [
                "not supported yet: frob1 (x.conf:1)",
                "not supported yet: vhost.frob2 (x.conf:3)",
                "ignored: query_latest_version (x.conf:4): " + NEVER["query_latest_version"],
                "not supported yet: frob3 (x.conf:5)",
            ],
        )

    def test_pathsAreDotted(self) -> None:
        """The sets hold dotted paths of real directive names."""
        for path in BUILT | set(NEVER):
            self.assertTrue(all(path.split(".")), path)
            self.assertNotIn(" ", path)


class AliasTests(SynchronousTestCase):
    """SRS 1 names are judged by the feature they stand for."""

    def test_aliases_follow_their_feature(self) -> None:
        """http_stream and vhost http count as the built http_server and http_static."""
        from srstwist.config.parser import parse
        from srstwist.config.support import ALIASES, unsupported_directives

        self.assertEqual(ALIASES["http_stream"], "http_server")
        root = parse(
            "listen 1935;\nhttp_stream { enabled on; }\nvhost v { http { enabled on; } hds { } }\n",
            "a.conf",
        )
        messages = unsupported_directives(root)
        self.assertEqual(messages, ["not supported yet: vhost.hds (a.conf:3)"])


class IsBuiltTests(SynchronousTestCase):
    """:func:`is_built` answers for one path what the file walk would."""

    def test_built_path(self) -> None:
        """A path of :data:`BUILT` whose blocks are all built is built."""
        for path in sorted(BUILT):
            self.assertTrue(is_built(path), path)

    def test_unbuilt(self) -> None:
        """A path missing from :data:`BUILT`, or under an unbuilt block, is not."""
        self.assertFalse(is_built("frob"))
        self.assertFalse(is_built("vhost.frob"))
        self.assertFalse(is_built("frob.enabled"))

    def test_never_is_not_built(self) -> None:
        """What srstwist will never act on is not built."""
        for path in NEVER:
            self.assertFalse(is_built(path), path)

    def test_aliases(self) -> None:
        """SRS 1 names count as the feature they stand for, at any level."""
        self.assertTrue(is_built("http_stream"))
        self.assertTrue(is_built("http_stream.enabled"))
        self.assertTrue(is_built("vhost.http.mount"))

    def test_agrees_with_the_walk(self) -> None:
        """A path is built exactly when a file holding it reports nothing."""
        for path in ("vhost.hls.hls_fragment", "vhost.dvr.dvr_path", "http_stream.listen",
                     "stream_caster.enabled", "vhost.frob"):  # fmt: skip
            self.assertEqual(is_built(path), unsupported_directives(_tree([path])) == [], path)
