# -*- test-case-name: tests.test_config_parser -*-
"""
A pure parser for SRS's nginx-style configuration syntax.

It turns the text of a config file into a tree of :class:`Directive` nodes, each of
which remembers the file and line it came from so that every later error,
syntactic or semantic, can be reported as ``conf/x.conf:12: ...``.

The lexical rules are SRS 2.0's (``SrsConfDirective::read_token`` in
``srs_app_config.cpp``):

  - whitespace is space, TAB, CR and LF; lines are counted on LF;
  - a word ends at whitespace, ``;`` or ``{``; ``;`` ends a simple directive and
    ``{`` opens a block;
  - ``#`` starts a comment only at the start of a word (``a#b`` is one word);
  - a word starting with a quote runs to the matching quote, which may span
    lines; quotes are removed, there are no escapes, and the character after
    the closing quote must be whitespace, ``;`` or ``{``;
  - empty words (``""``) are dropped.

One deliberate difference: SRS keeps a ``}`` glued to a word (``enabled on}``)
inside the word and then fails much later with a confusing message.  We end
the word there, so the user is told at once that a ``;`` is missing.  Both
reject the file; only the message differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["ConfigError", "Directive", "parse", "parse_file", "MAX_DEPTH"]

#: Deepest block nesting we accept (SRS's deepest real use is 4).
MAX_DEPTH = 16

_WHITESPACE = frozenset(" \t\r\n")


def _printable(text: str) -> str:
    """
    ``text`` with undecodable bytes, which :func:`parse` keeps surrogate-escaped,
    shown as ``\\xff``: a lone surrogate cannot be written to a UTF-8 log.
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no undecodable byte made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ConfigError(Exception):
    """
    A configuration file is unusable.

    ``str(error)`` is the one-line message a user sees, in the form
    ``conf/srs.conf:12: unknown directive 'lisen'``.
    """

    def __init__(self, filename: str, line: int, message: str) -> None:
        message = _printable(message)
        super().__init__(f"{_printable(filename)}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Directive:
    """
    One statement of a config file: ``name args... ;`` or ``name args... { children }``.

    The root of a file is a directive with an empty name whose children are
    the top-level statements.
    """

    name: str
    args: tuple[str, ...] = ()
    children: tuple[Directive, ...] = ()
    filename: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    #: True when the statement was written as a block (``name {...}``), even
    #: an empty one; lets the model tell ``hls;`` from ``hls {}``.
    is_block: bool = field(default=False, compare=False)

    @property
    def where(self) -> str:
        """``file:line`` of this directive, for messages."""
        return f"{self.filename}:{self.line}"

    def error(self, message: str) -> ConfigError:
        """Build a :class:`ConfigError` located at this directive."""
        return ConfigError(self.filename, self.line, message)

    def get(self, name: str) -> Directive | None:
        """The first child called ``name`` (SRS: the first occurrence wins)."""
        for child in self.children:
            if child.name == name:
                return child
        return None

    def get_all(self, name: str) -> list[Directive]:
        """Every child called ``name``, in file order."""
        return [child for child in self.children if child.name == name]


# Token kinds produced by the lexer.
_WORD = "word"
_SEMICOLON = ";"
_OPEN = "{"
_CLOSE = "}"
_EOF = "eof"


def _tokens(text: str, filename: str) -> Iterator[tuple[str, str, int]]:
    """
    Split ``text`` into ``(kind, value, line)`` tokens, dropping comments and
    empty words.
    """
    i = 0
    n = len(text)
    line = 1
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            if c == "\n":
                line += 1
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == ";" or c == "{" or c == "}":
            yield (c, c, line)
            i += 1
        elif c == '"' or c == "'":
            start_line = line
            end = text.find(c, i + 1)
            if end < 0:
                raise ConfigError(
                    filename, start_line, f"unterminated {c}quoted string{c}"
                )
            word = text[i + 1 : end]
            line += word.count("\n")
            i = end + 1
            if i < n and text[i] not in _WHITESPACE and text[i] not in ";{":
                raise ConfigError(
                    filename, line, f"unexpected {text[i]!r} after quoted string"
                )
            if word:
                yield (_WORD, word, start_line)
        else:
            start = i
            while i < n:
                c = text[i]
                if c in _WHITESPACE or c == ";" or c == "{" or c == "}":
                    break
                i += 1
            yield (_WORD, text[start:i], line)
    yield (_EOF, "", line)


class _Parser:
    """Recursive descent over the token stream; one instance per file."""

    def __init__(self, text: str, filename: str) -> None:
        self._filename = filename
        self._tokens = _tokens(text, filename)

    def parse(self) -> Directive:
        children = self._block(depth=0, opened_at=0)
        return Directive(
            "", (), tuple(children), self._filename, 1, is_block=True
        )

    def _error(self, line: int, message: str) -> ConfigError:
        return ConfigError(self._filename, line, message)

    def _block(self, depth: int, opened_at: int) -> list[Directive]:
        """Parse statements until the ``}`` closing this block (or EOF at top)."""
        if depth > MAX_DEPTH:
            raise self._error(opened_at, f"blocks nested deeper than {MAX_DEPTH}")
        statements: list[Directive] = []
        words: list[str] = []
        first_line = 0
        for kind, value, line in self._tokens:
            if kind == _WORD:
                if not words:
                    first_line = line
                words.append(value)
            elif kind == _SEMICOLON:
                if not words:
                    raise self._error(line, "unexpected ';'")
                statements.append(
                    Directive(words[0], tuple(words[1:]), (), self._filename, first_line)
                )
                words = []
            elif kind == _OPEN:
                if not words:
                    raise self._error(line, "unexpected '{'")
                children = self._block(depth + 1, first_line)
                statements.append(
                    Directive(
                        words[0],
                        tuple(words[1:]),
                        tuple(children),
                        self._filename,
                        first_line,
                        is_block=True,
                    )
                )
                words = []
            elif kind == _CLOSE:
                if words:
                    raise self._error(
                        line, f"unexpected '}}': missing ';' after '{' '.join(words)}'"
                    )
                if depth == 0:
                    raise self._error(line, "unexpected '}' at top level")
                return statements
            else:  # _EOF
                if words:
                    raise self._error(
                        first_line,
                        f"unexpected end of file after '{' '.join(words)}', "
                        "expecting ';' or '}'",
                    )
                if depth > 0:
                    raise self._error(
                        opened_at, "unexpected end of file, expecting '}'"
                    )
                return statements
        raise AssertionError("the token stream always ends with EOF")


def parse(text: str | bytes, filename: str = "<string>") -> Directive:
    """
    Parse config text into a root :class:`Directive`.

    :param text: the file's contents; bytes are decoded as UTF-8, with
        undecodable bytes kept (surrogate-escaped) rather than rejected, as
        SRS reads bytes.
    :param filename: the name used in error messages.
    :raises ConfigError: on any syntax error, or when there is no directive.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    root = _Parser(text, filename).parse()
    if not root.children:
        raise ConfigError(filename, 1, "no directive in the file (conf is empty)")
    return root


def parse_file(path: str, display_name: str | None = None) -> Directive:
    """
    Read and parse the config file at ``path``.

    :param display_name: the name used in messages; defaults to ``path``.
    :raises ConfigError: when the file cannot be read or does not parse.
    """
    name = display_name or path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(name, 0, f"cannot read config file: {e.strerror}") from e
    return parse(data, name)
