"""
Tests for `srstwist.config.parser`.

The lexical rules and syntax errors are those of SRS 2.0's parser
(``SrsConfDirective::parse_conf`` and ``read_token`` in ``srs_app_config.cpp``).
"""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from srstwist.config.parser import (
    MAX_DEPTH,
    ConfigError,
    Directive,
    parse,
    parse_file,
)


def _shape(node: Directive) -> tuple:
    """A comparable form of a tree that includes ``is_block``."""
    return (
        node.name,
        node.args,
        node.is_block,
        tuple(_shape(child) for child in node.children),
    )


def _statements(text: str) -> list[tuple[str, tuple[str, ...], int]]:
    """Name, arguments and line of every top-level statement of ``text``."""
    return [(d.name, d.args, d.line) for d in parse(text, "x.conf").children]


class TokenTests(SynchronousTestCase):
    """Words, terminators and whitespace."""

    def test_simpleDirective(self) -> None:
        """A name, its arguments and a ``;`` make one directive located at its file and line."""
        root = parse("listen 1935 19350;\n", "conf/x.conf")
        [node] = root.children
        self.assertEqual(node, Directive("listen", ("1935", "19350")))
        self.assertEqual(node.filename, "conf/x.conf")
        self.assertEqual(node.line, 1)
        self.assertEqual(node.where, "conf/x.conf:1")
        self.assertFalse(node.is_block)

    def test_rootNode(self) -> None:
        """The root is a nameless block at line 1 of the file."""
        root = parse("pid x;", "conf/x.conf")
        self.assertEqual((root.name, root.args, root.is_block), ("", (), True))
        self.assertEqual(root.where, "conf/x.conf:1")

    def test_defaultFilename(self) -> None:
        """Without a file name, nodes are located in ``<string>``."""
        self.assertEqual(parse("a;").children[0].where, "<string>:1")

    def test_noSpaceBeforeTerminators(self) -> None:
        """
        ``;`` and ``{`` end the word before them: ``listen 1935;`` and ``vhost a{``
        need no space.
        """
        root = parse("listen 1935;vhost a{enabled on;}pid x;")
        self.assertEqual(
            root.children,
            (
                Directive("listen", ("1935",)),
                Directive("vhost", ("a",), (Directive("enabled", ("on",)),)),
                Directive("pid", ("x",)),
            ),
        )

    def test_whitespaceKinds(self) -> None:
        """Space, TAB, CR and LF all separate words."""
        self.assertEqual(_statements("a\tb\r\nc  \t d\r;"), [("a", ("b", "c", "d"), 1)])

    def test_otherWhitespaceIsPartOfAWord(self) -> None:
        """Characters outside space, TAB, CR and LF (a vertical tab, a form feed) are word characters."""
        self.assertEqual(_statements("a\x0bb\x0c c;"), [("a\x0bb\x0c", ("c",), 1)])

    def test_casePreserved(self) -> None:
        """Names and arguments keep their case."""
        self.assertEqual(_statements("Listen ON;"), [("Listen", ("ON",), 1)])

    def test_blockWithoutChildren(self) -> None:
        """``hls {}`` is an empty block, told apart from ``hls;``."""
        block, simple = parse("hls {}\nhls;").children
        self.assertTrue(block.is_block)
        self.assertFalse(simple.is_block)
        self.assertEqual(block, simple)

    def test_nesting(self) -> None:
        """Blocks nest, each child in file order, with arguments on blocks too."""
        root = parse(
            "vhost a {\n"
            "    hls { enabled on; hls_path ./x; }\n"
            "    ingest livestream { input { type file; } }\n"
            "}\n"
            "vhost b {}\n"
        )
        self.assertEqual(
            _shape(root),
            (
                "",
                (),
                True,
                (
                    (
                        "vhost",
                        ("a",),
                        True,
                        (
                            (
                                "hls",
                                (),
                                True,
                                (
                                    ("enabled", ("on",), False, ()),
                                    ("hls_path", ("./x",), False, ()),
                                ),
                            ),
                            (
                                "ingest",
                                ("livestream",),
                                True,
                                (
                                    (
                                        "input",
                                        (),
                                        True,
                                        (("type", ("file",), False, ()),),
                                    ),
                                ),
                            ),
                        ),
                    ),
                    ("vhost", ("b",), True, ()),
                ),
            ),
        )

    def test_getAndGetAll(self) -> None:
        """
        ``get`` returns the first child of a name (or ``None``); ``get_all`` every
        one in order.
        """
        root = parse("a 1; b 2; a 3;")
        self.assertEqual(root.get("a"), Directive("a", ("1",)))
        self.assertIsNone(root.get("c"))
        self.assertEqual(root.get_all("a"), [Directive("a", ("1",)), Directive("a", ("3",))])
        self.assertEqual(root.get_all("c"), [])

    def test_errorAtDirective(self) -> None:
        """``Directive.error`` builds a :class:`ConfigError` at the directive's file and line."""
        node = parse("a;\nb;", "conf/x.conf").children[1]
        error = node.error("bad b")
        self.assertEqual(str(error), "conf/x.conf:2: bad b")
        self.assertEqual((error.filename, error.line, error.message), ("conf/x.conf", 2, "bad b"))


class QuoteTests(SynchronousTestCase):
    """Quoted words."""

    def test_doubleQuotes(self) -> None:
        """
        Double quotes are removed and keep whitespace, ``;``, ``{``, ``}``, ``#``
        and ``'`` inside.
        """
        self.assertEqual(_statements('a "b c;{}# \'d";'), [("a", ("b c;{}# 'd",), 1)])

    def test_singleQuotes(self) -> None:
        """Single quotes work like double quotes and may hold a ``"``."""
        self.assertEqual(_statements("a 'b \"c\" d';"), [("a", ('b "c" d',), 1)])

    def test_quotedName(self) -> None:
        """The directive name itself may be quoted."""
        self.assertEqual(_statements('"listen" 1935;'), [("listen", ("1935",), 1)])

    def test_noEscapes(self) -> None:
        """A backslash is an ordinary character; the next quote ends the word."""
        self.assertEqual(_statements(r'a "b\" c;'), [("a", ("b\\", "c"), 1)])

    def test_quoteSpansLines(self) -> None:
        """A quoted word may span lines; the directive keeps the line it started on."""
        self.assertEqual(
            _statements('a "x\ny\nz";\nb;'),
            [("a", ("x\ny\nz",), 1), ("b", (), 4)],
        )

    def test_linesAfterQuotedArgumentSpanningLines(self) -> None:
        """Line numbers stay right after a multi-line quoted word, in and out of blocks."""
        root = parse("v {\n  a 'one\ntwo\nthree' b;\n  c;\n}\nd;\n")
        v, d = root.children
        a, c = v.children
        self.assertEqual([v.line, a.line, c.line, d.line], [1, 2, 5, 7])

    def test_quotedWordTerminatedDirectly(self) -> None:
        """A closing quote may be followed directly by ``;`` or ``{``."""
        self.assertEqual(
            _shape(parse('a "b";c "d"{e;}')),
            (
                "",
                (),
                True,
                (
                    ("a", ("b",), False, ()),
                    ("c", ("d",), True, (("e", (), False, ()),)),
                ),
            ),
        )

    def test_emptyWordsDropped(self) -> None:
        """Empty quoted words, ``""`` and ``''``, are dropped."""
        self.assertEqual(
            _statements('device_id "";\na \'\' b "" c;'),
            [("device_id", (), 1), ("a", ("b", "c"), 2)],
        )

    def test_quoteInsideWordIsLiteral(self) -> None:
        """A quote that does not start a word is an ordinary character."""
        self.assertEqual(_statements("a b\"c d'e;"), [("a", ('b"c', "d'e"), 1)])

    def test_characterAfterClosingQuote(self) -> None:
        """Any character other than whitespace, ``;`` or ``{`` after a closing quote is an error at the line of the quote's end."""
        for text, line, char in [
            ('a "b"c;', 1, "c"),
            ("a\n'b\n'x;", 3, "x"),
            ('v { a "b"}', 1, "}"),
            ('a "b"#c\n;', 1, "#"),
            ('a "b""c";', 1, '"'),
        ]:
            error = self.assertRaises(ConfigError, parse, text, "x.conf")
            self.assertEqual(error.line, line, text)
            self.assertTrue(
                str(error).startswith(f"x.conf:{line}: unexpected {char!r}"), str(error)
            )

    def test_unterminatedQuote(self) -> None:
        """A quote that is never closed is an error at the line where it opened."""
        error = self.assertRaises(ConfigError, parse, "a;\nb 'c;\n\n", "x.conf")
        self.assertEqual(error.line, 2)
        self.assertIn("unterminated", str(error))
        self.assertTrue(str(error).startswith("x.conf:2: "))


class CommentTests(SynchronousTestCase):
    """``#`` comments."""

    def test_wholeLine(self) -> None:
        """A line starting with ``#`` is ignored, and line counting goes on."""
        self.assertEqual(_statements("# a;\n  # b {\nc;"), [("c", (), 3)])

    def test_afterStatement(self) -> None:
        """A comment may follow a statement on the same line."""
        self.assertEqual(_statements("a 1; # b 2;\nc;"), [("a", ("1",), 1), ("c", (), 2)])

    def test_insideStatement(self) -> None:
        """A comment between words of a statement runs to the end of the line only."""
        self.assertEqual(_statements("a 1 #2;\n3;"), [("a", ("1", "3"), 1)])

    def test_afterTerminator(self) -> None:
        """A ``#`` right after ``;``, ``{`` or ``}`` starts a comment."""
        self.assertEqual(
            _shape(parse("v{#x\na;#y\n}#z\n")),
            ("", (), True, (("v", (), True, (("a", (), False, ()),)),)),
        )

    def test_hashInsideWord(self) -> None:
        """``#`` inside a word is an ordinary character: ``a#b`` is one word."""
        self.assertEqual(_statements("a#b c#d;"), [("a#b", ("c#d",), 1)])

    def test_hashInsideQuotes(self) -> None:
        """``#`` in a quoted word does not start a comment."""
        self.assertEqual(_statements("a '#b';"), [("a", ("#b",), 1)])

    def test_commentAtEndOfFileWithoutNewline(self) -> None:
        """A comment may end the file without a final newline."""
        self.assertEqual(_statements("a; # end"), [("a", (), 1)])


class SyntaxErrorTests(SynchronousTestCase):
    """Every syntax error of SRS's parser, located at ``file:line``."""

    def assertSyntaxError(self, text: str | bytes, line: int, start: str) -> ConfigError:
        """
        Parsing ``text`` as ``x.conf`` fails at ``line``, with a message
        starting with ``start``.
        """
        error = self.assertRaises(ConfigError, parse, text, "x.conf")
        self.assertEqual(error.filename, "x.conf")
        self.assertEqual(error.line, line)
        self.assertEqual(str(error), f"x.conf:{line}: {error.message}")
        self.assertTrue(
            error.message.startswith(start),
            f"{error.message!r} does not start with {start!r}",
        )
        return error

    def test_semicolonWithoutWord(self) -> None:
        """A ``;`` with no word before it is "unexpected ';'" at its line."""
        self.assertSyntaxError("a;\n\n;", 3, "unexpected ';'")

    def test_semicolonAfterBlock(self) -> None:
        """``};`` is an error: the ``;`` ends an empty statement."""
        self.assertSyntaxError("v {\n}\n;", 3, "unexpected ';'")
        self.assertSyntaxError("v {\n};", 2, "unexpected ';'")

    def test_openWithoutWord(self) -> None:
        """A ``{`` with no word before it is "unexpected '{'" at its line."""
        self.assertSyntaxError("a;\n{ b; }", 2, "unexpected '{'")

    def test_closeAfterWords(self) -> None:
        """
        A ``}`` while a statement lacks its ``;`` is an error at the ``}``, naming
        the statement.
        """
        error = self.assertSyntaxError("vhost a {\n    enabled on\n}\n", 3, "unexpected '}'")
        self.assertIn("enabled on", error.message)

    def test_closeGluedToWord(self) -> None:
        """``enabled on}`` is reported as a missing ``;``, not kept as the word ``on}``."""
        error = self.assertSyntaxError("vhost a {\n    enabled on}", 2, "unexpected '}'")
        self.assertIn("missing ';' after 'enabled on'", error.message)

    def test_endOfFileInStatement(self) -> None:
        """End of file in the middle of a statement is an error at the statement's first line."""
        self.assertSyntaxError("listen 1935;\npid\n  ./objs/srs.pid\n", 2, "unexpected end of file")
        error = self.assertRaises(ConfigError, parse, "a b", "x.conf")
        self.assertIn("expecting ';' or '}'", str(error))

    def test_emptyDirective(self) -> None:
        """A statement whose only words were empty (``"";``) is an error at its line."""
        self.assertSyntaxError("a;\n\"\" '';", 2, "")
        self.assertSyntaxError('a;\n"" {}', 2, "")

    def test_closeAtTopLevel(self) -> None:
        """A ``}`` at top level is "unexpected '}'" at its line."""
        self.assertSyntaxError("a;\nb;\n}\n", 3, "unexpected '}'")

    def test_unclosedBlock(self) -> None:
        """End of file inside an unclosed block is reported at the line the block started."""
        error = self.assertSyntaxError(
            "listen 1935;\nvhost a {\n    enabled on;\n\n", 2, "unexpected end of file"
        )
        self.assertIn("expecting '}'", error.message)

    def test_unclosedInnerBlock(self) -> None:
        """With nested unclosed blocks, the innermost block's start line is reported."""
        self.assertSyntaxError(
            "vhost a {\n    hls {\n        enabled on;\n", 2, "unexpected end of file"
        )

    def test_emptyFile(self) -> None:
        """A file of zero bytes has no directive: an error at line 1."""
        self.assertSyntaxError("", 1, "no directive")
        self.assertSyntaxError(b"", 1, "no directive")

    def test_onlyCommentsAndWhitespace(self) -> None:
        """A file with only comments and whitespace has no directive either."""
        error = self.assertSyntaxError("# nothing\n\n  \t# here\n", 1, "no directive")
        self.assertIn("conf is empty", error.message)

    def test_depthLimit(self) -> None:
        """Blocks nest up to :data:`MAX_DEPTH` deep; one more is an error at the line of the too-deep block."""
        ok = "".join(f"b{i} {{\n" for i in range(MAX_DEPTH)) + "}\n" * MAX_DEPTH
        node = parse(ok)
        for _ in range(MAX_DEPTH):
            [node] = node.children
        self.assertEqual(node.name, f"b{MAX_DEPTH - 1}")
        deep = "".join(f"b{i} {{\n" for i in range(MAX_DEPTH + 1)) + "}\n" * (MAX_DEPTH + 1)
        error = self.assertSyntaxError(deep, MAX_DEPTH + 1, "blocks nested deeper")
        self.assertIn(str(MAX_DEPTH), error.message)

    def test_veryDeepNestingIsAConfigError(self) -> None:
        """Absurd nesting is a :class:`ConfigError`, never a ``RecursionError``."""
        self.assertSyntaxError("a{" * 100_000, 1, "blocks nested deeper")


class BytesTests(SynchronousTestCase):
    """Input given as bytes, as read from a file."""

    def test_utf8(self) -> None:
        """Bytes are decoded as UTF-8."""
        root = parse('a "h\u00e9 \u4e16";'.encode())
        self.assertEqual(root.children[0].args, ("h\u00e9 \u4e16",))

    def test_invalidUtf8Kept(self) -> None:
        """Undecodable bytes are kept, surrogate-escaped, and encode back to the original bytes."""
        root = parse(b"a b\xff\xfec '\xc3(\n';\nd;")
        a, d = root.children
        self.assertEqual([a.line, d.line], [1, 3])
        self.assertEqual(
            [arg.encode("utf-8", "surrogateescape") for arg in a.args],
            [b"b\xff\xfec", b"\xc3(\n"],
        )

    def test_invalidUtf8InErrorMessage(self) -> None:
        """Undecodable bytes in an error message are shown as ``\\xNN``, so it can be written as UTF-8."""
        error = self.assertRaises(ConfigError, parse, b"v { a\xff }", "x\udcfe.conf")
        self.assertEqual(str(error), "x\\xfe.conf:1: unexpected '}': missing ';' after 'a\\xff'")
        self.assertEqual(error.filename, "x\udcfe.conf")
        error = ConfigError("x.conf", 1, "lone \ud800 \u00e9")
        self.assertEqual(str(error), "x.conf:1: lone \\ud800 \u00e9")

    def test_invalidUtf8InErrorLine(self) -> None:
        """Syntax errors after undecodable bytes still report the right line."""
        error = self.assertRaises(ConfigError, parse, b"a \xff;\n\xfe b;\n}", "x.conf")
        self.assertEqual(error.line, 3)


class ParseFileTests(SynchronousTestCase):
    """:func:`parse_file` reads a file from disk."""

    def test_readsFile(self) -> None:
        """The file's statements are located at the path given."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"listen 1935;\n\npid x;\n")
        root = parse_file(path)
        self.assertEqual([d.where for d in root.children], [f"{path}:1", f"{path}:3"])

    def test_displayName(self) -> None:
        """``display_name`` replaces the path in locations and errors."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"listen 1935;\n}\n")
        error = self.assertRaises(ConfigError, parse_file, path, "conf/srs.conf")
        self.assertTrue(str(error).startswith("conf/srs.conf:2: unexpected '}'"))

    def test_missingFile(self) -> None:
        """A file that cannot be opened is a :class:`ConfigError` naming the file."""
        path = os.path.join(self.mktemp(), "nothing.conf")
        error = self.assertRaises(ConfigError, parse_file, path, "conf/nothing.conf")
        self.assertEqual(error.filename, "conf/nothing.conf")
        self.assertIn("cannot read config file", str(error))
        self.assertTrue(str(error).startswith("conf/nothing.conf:"))

    def test_emptyFile(self) -> None:
        """A file of zero bytes is an error."""
        path = self.mktemp()
        open(path, "wb").close()
        error = self.assertRaises(ConfigError, parse_file, path)
        self.assertEqual(str(error), f"{path}:1: {error.message}")


# ---------------------------------------------------------------------------
# Round trip: random trees rendered to text with random whitespace, quoting and
# comments parse back to the same tree, at the lines where they were written.

_SPECIAL = " \t\r\n;{}#\"'"
_word = st.text(
    st.one_of(
        st.sampled_from(_SPECIAL),
        st.sampled_from("abcxyz019_./:[]"),
        st.characters(codec="utf-8", exclude_characters=_SPECIAL),
    ),
    min_size=1,
    max_size=8,
)


def _bare(word: str) -> bool:
    """Whether ``word`` can be written without quotes."""
    return not any(c in " \t\r\n;{}" for c in word) and word[0] not in "#\"'"


_words = _word.filter(lambda w: _bare(w) or '"' not in w or "'" not in w)


def _tree(depth: int) -> st.SearchStrategy[Directive]:
    leaf = st.builds(Directive, _words, st.lists(_words, max_size=3).map(tuple))
    if depth == 0:
        return leaf
    block = st.builds(
        lambda name, args, children: Directive(name, args, children, is_block=True),
        _words,
        st.lists(_words, max_size=3).map(tuple),
        st.lists(_tree(depth - 1), max_size=3).map(tuple),
    )
    return st.one_of(leaf, block)


_roots = st.lists(_tree(3), min_size=1, max_size=4).map(
    lambda children: Directive("", (), tuple(children), is_block=True)
)

# Separators: at least one whitespace, possibly with a comment.
_separator = st.sampled_from([" ", "\t", "\n", "\r\n", "  \n\t", " # c;{}'\"\n", "\n#\n"])
# Before a terminator or between statements nothing is needed.
_optional = st.one_of(st.just(""), _separator)


class _Renderer:
    """Writes a tree as text, remembering where every statement starts."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.text = ""
        self.starts: list[int] = []

    def word(self, word: str) -> None:
        quotes = [q for q in "\"'" if q not in word]
        if _bare(word) and (not quotes or self.draw(st.booleans())):
            self.text += word
        else:
            quote = self.draw(st.sampled_from(quotes))
            self.text += quote + word + quote

    def statement(self, node: Directive) -> None:
        self.text += self.draw(_optional)
        self.starts.append(len(self.text))
        self.word(node.name)
        for arg in node.args:
            self.text += self.draw(_separator)
            self.word(arg)
            if self.draw(st.booleans()):
                # Empty words are dropped wherever they appear.
                self.text += self.draw(_separator) + self.draw(st.sampled_from(['""', "''"]))
        self.text += self.draw(_optional)
        if node.is_block:
            self.text += "{"
            for child in node.children:
                self.statement(child)
            self.text += self.draw(_optional) + "}"
        else:
            self.text += ";"


def _preorder(node: Directive) -> list[Directive]:
    nodes = []
    for child in node.children:
        nodes.append(child)
        nodes.extend(_preorder(child))
    return nodes


class RoundTripTests(SynchronousTestCase):
    """Random trees survive rendering and parsing."""

    @given(_roots, st.data())
    def test_renderThenParse(self, tree: Directive, data: st.DataObject) -> None:
        """A rendered tree parses back to itself, each node at the line where it was written."""
        renderer = _Renderer(data.draw)
        for child in tree.children:
            renderer.statement(child)
        renderer.text += data.draw(_optional)
        text = renderer.text
        as_bytes = data.draw(st.booleans())
        parsed = parse(text.encode() if as_bytes else text, "r.conf")
        self.assertEqual(_shape(parsed), _shape(tree))
        self.assertEqual(
            [node.line for node in _preorder(parsed)],
            [text.count("\n", 0, start) + 1 for start in renderer.starts],
        )
        self.assertEqual({node.filename for node in _preorder(parsed)}, {"r.conf"})
