# -*- test-case-name: tests.test_config_model -*-
"""
The machinery that turns a :class:`Directive` tree into typed, frozen dataclasses.

Each configuration section is a frozen dataclass whose fields are declared with
:func:`directive`, naming the value :class:`Kind` that converts the directive's arguments.
:func:`build_section` walks a block's children, rejects names the section does not
know, converts every value (so a bad value is reported with its file and
line), and leaves every absent directive at its SRS 2.0 default.

Values are stricter than SRS's ``atoi``: ``max_connections 1O00;`` is an error
here, where SRS silently reads 1.  Booleans must be ``on`` or ``off``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from srstwist.config.parser import ConfigError, Directive

__all__ = [
    "Kind",
    "Flag",
    "Int",
    "Float",
    "Text",
    "Choice",
    "Words",
    "Endpoint",
    "Listen",
    "Section",
    "NamedSections",
    "Pairs",
    "AccessRules",
    "AccessRule",
    "directive",
    "build_section",
    "section_name",
]

T = TypeVar("T")


class Kind:
    """
    How one directive's arguments become a value.

    Subclasses override :meth:`convert`.  ``repeatable`` kinds collect every
    occurrence into a tuple; the others keep the first occurrence, as SRS
    does, and report later ones as warnings.
    """

    repeatable = False
    takes_block = False

    def convert(self, node: Directive, context: BuildContext) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        """A short description of accepted values, for error messages."""
        return "a value"

    # Helpers shared by scalar kinds.
    def single(self, node: Directive) -> str | None:
        """The directive's only argument, ``None`` when it has none."""
        if node.is_block:
            raise node.error(f"'{node.name}' takes a value, not a block")
        if len(node.args) > 1:
            raise node.error(
                f"'{node.name}' takes one value, got {len(node.args)}: "
                + " ".join(node.args)
            )
        return node.args[0] if node.args else None

    def bad(self, node: Directive, value: str) -> ConfigError:
        return node.error(
            f"bad value '{value}' for '{node.name}': expected {self.describe()}"
        )


@dataclass
class BuildContext:
    """State shared while building one file: collected warnings."""

    warnings: list[str] = dataclasses.field(default_factory=list)

    def warn(self, node: Directive, message: str) -> None:
        self.warnings.append(f"{node.where}: {message}")


class Flag(Kind):
    """``on`` or ``off``."""

    def __init__(self, default: bool) -> None:
        self.default = default

    def describe(self) -> str:
        return "on or off"

    def convert(self, node: Directive, context: BuildContext) -> bool:
        value = self.single(node)
        if value is None:
            return self.default
        if value == "on":
            return True
        if value == "off":
            return False
        raise self.bad(node, value)


# ASCII digits only: Python's \d and int() also accept other scripts' digits.
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_PORT = re.compile(r"[0-9]+\Z")


class Int(Kind):
    """A decimal integer within optional bounds."""

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"an integer from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"an integer of at least {self.minimum}"
        return "an integer"

    def convert(self, node: Directive, context: BuildContext) -> int | None:
        value = self.single(node)
        if value is None:
            return None
        if not _INT.match(value):
            raise self.bad(node, value)
        number = int(value)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise self.bad(node, value)
        return number


class Float(Kind):
    """A decimal number of at least ``minimum``, and above it if ``exclusive``."""

    def __init__(self, minimum: float | None = None, exclusive: bool = False) -> None:
        self.minimum = minimum
        self.exclusive = exclusive

    def describe(self) -> str:
        if self.minimum is None:
            return "a number"
        return f"a number {'above' if self.exclusive else 'of at least'} {self.minimum:g}"

    def convert(self, node: Directive, context: BuildContext) -> float | None:
        value = self.single(node)
        if value is None:
            return None
        if not _FLOAT.match(value):
            raise self.bad(node, value)
        number = float(value)
        if not math.isfinite(number):
            raise self.bad(node, value)
        if self.minimum is not None and (
            number < self.minimum or (self.exclusive and number == self.minimum)
        ):
            raise self.bad(node, value)
        return number


class Text(Kind):
    """Any single word (a path, a URL, a name)."""

    def describe(self) -> str:
        return "one word"

    def convert(self, node: Directive, context: BuildContext) -> str | None:
        return self.single(node)


class Choice(Kind):
    """One word out of a fixed set."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def describe(self) -> str:
        return " or ".join(self.choices)

    def convert(self, node: Directive, context: BuildContext) -> str | None:
        value = self.single(node)
        if value is not None and value not in self.choices:
            raise self.bad(node, value)
        return value


class Words(Kind):
    """All the arguments, as a tuple (URLs, hosts, domain suffixes)."""

    def describe(self) -> str:
        return "zero or more words"

    def convert(self, node: Directive, context: BuildContext) -> tuple[str, ...]:
        if node.is_block:
            raise node.error(f"'{node.name}' takes values, not a block")
        return node.args


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A TCP listening address: ``port``, ``ip:port`` or ``[ipv6]:port``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_host: str = "0.0.0.0") -> Endpoint:
        """
        Parse ``text``; raise ``ValueError`` when it is not an address.

        SRS 2.0 rejects ``0.0.0.0:1935`` through a bug in its check
        (``SrsConfig::check_config``); we accept what the user means.
        """
        host, port = default_host, text
        if text.startswith("["):
            close = text.find("]:")
            if close < 0:
                raise ValueError(text)
            host, port = text[1:close], text[close + 2 :]
        elif ":" in text:
            host, _, port = text.rpartition(":")
            if ":" in host:  # an IPv6 host needs brackets: "::1" is not ":" port 1
                raise ValueError(text)
        if not host or not _PORT.match(port) or not 0 < int(port) < 65536:
            raise ValueError(text)
        return cls(host, int(port))

    def strports(self) -> str:
        """This address as a Twisted strports description."""
        interface = self.host.replace(":", "\\:")
        return f"tcp:port={self.port}:interface={interface}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Listen(Kind):
    """One or more ``[ip:]port`` endpoints (or exactly one when ``single``)."""

    def __init__(self, single: bool = False) -> None:
        self.single_endpoint = single

    def describe(self) -> str:
        return "a port or ip:port"

    def convert(self, node: Directive, context: BuildContext) -> Any:
        if node.is_block:
            raise node.error(f"'{node.name}' takes values, not a block")
        if not node.args:
            raise node.error(f"'{node.name}' needs at least one port")
        if self.single_endpoint and len(node.args) > 1:
            raise node.error(f"'{node.name}' takes one port, got {len(node.args)}")
        endpoints = []
        for arg in node.args:
            try:
                endpoints.append(Endpoint.parse(arg))
            except ValueError:
                raise self.bad(node, arg) from None
        return endpoints[0] if self.single_endpoint else tuple(endpoints)


class Section(Kind):
    """A block whose children are described by the dataclass ``cls``."""

    takes_block = True

    def __init__(self, cls: type, takes_name: bool = False) -> None:
        self.cls = cls
        self.takes_name = takes_name

    def convert(self, node: Directive, context: BuildContext) -> Any:
        return build_section(self.cls, node, context, takes_name=self.takes_name)


class NamedSections(Section):
    """A repeatable block (``vhost``, ``ingest``, ``engine``, ``stream_caster``)."""

    repeatable = True


class Pairs(Kind):
    """
    A block of free-form ``key value;`` lines, kept in order.

    Used for ffmpeg option blocks (``vfilter``, ``vparams``, ``aparams``) whose
    keys are ffmpeg's, not ours.
    """

    takes_block = True

    def convert(self, node: Directive, context: BuildContext) -> tuple[tuple[str, str], ...]:
        pairs = []
        for child in node.children:
            if child.is_block:
                raise child.error(f"'{child.name}' in {node.name} cannot be a block")
            pairs.append((child.name, " ".join(child.args)))
        return tuple(pairs)


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One ``allow``/``deny`` line of a vhost's ``security`` block."""

    action: str  # "allow" or "deny"
    method: str  # "play" or "publish"
    who: str  # "all" or an IP address


class AccessRules(Kind):
    """``allow|deny play|publish all|<ip>;``, repeatable."""

    repeatable = True

    def describe(self) -> str:
        return "play|publish followed by all or an ip"

    def convert(self, node: Directive, context: BuildContext) -> AccessRule:
        if node.is_block or len(node.args) != 2 or node.args[0] not in (
            "play",
            "publish",
        ):
            raise node.error(
                f"bad '{node.name}': expected '{node.name} play|publish all|<ip>;'"
            )
        return AccessRule(node.name, node.args[0], node.args[1])


# ---------------------------------------------------------------------------
# Declaring and building sections.

_KIND = "srs_kind"
_NAMES = "srs_names"


def directive(
    kind: Kind, default: Any = MISSING, *, names: Iterable[str] = (), factory: Callable[[], Any] | None = None
) -> Any:
    """
    Declare a dataclass field read from a directive.

    :param kind: converts the directive's arguments.
    :param default: the SRS 2.0 default, used when the directive is absent.
    :param names: the directive names for this field when they differ from
        the field's own (SRS 1 aliases such as ``http_stream``); the first one
        listed wins when several appear, as in SRS.
    """
    metadata = {_KIND: kind, _NAMES: tuple(names)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    if default is MISSING and kind.repeatable:
        return dataclasses.field(default=(), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section_name(cls: type) -> str:
    """The name a section class uses in messages (its ``SECTION`` attribute)."""
    return getattr(cls, "SECTION", cls.__name__)


def _directive_fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], int]]:
    """Map every directive name a section accepts to its field and priority."""
    table: dict[str, tuple[dataclasses.Field[Any], int]] = {}
    for f in fields(cls):
        if _KIND not in f.metadata:
            continue
        names = f.metadata[_NAMES] or (f.name,)
        for priority, name in enumerate(names):
            table[name] = (f, priority)
    return table


def build_section(
    cls: type[T], node: Directive, context: BuildContext, takes_name: bool = False
) -> T:
    """
    Build the section dataclass ``cls`` from the block directive ``node``.

    :param takes_name: the block carries a name argument (``vhost x {}``,
        ``engine hd {}``); it is stored in the dataclass's ``name`` field.
    :raises ConfigError: on an unknown directive, a bad value or a missing
        required directive, located at the offending line.
    """
    where = section_name(cls)
    table = _directive_fields(cls)
    values: dict[str, Any] = {}
    seen: dict[str, tuple[int, Directive]] = {}
    for child in node.children:
        entry = table.get(child.name)
        if entry is None:
            suffix = f" in {where}" if where else ""
            raise child.error(f"unknown directive '{child.name}'{suffix}")
        f, priority = entry
        kind: Kind = f.metadata[_KIND]
        if child.children and not kind.takes_block:
            raise child.error(f"'{child.name}' takes a value, not a block")
        if kind.repeatable:
            values.setdefault(f.name, []).append(kind.convert(child, context))
            continue
        value = kind.convert(child, context)
        previous = seen.get(f.name)
        if previous is not None:
            if previous[0] <= priority:
                context.warn(
                    child,
                    f"duplicate '{child.name}' ignored; the one at line "
                    f"{previous[1].line} is used",
                )
                continue
            # An earlier alias of lower priority is overridden (SRS: the
            # first name listed wins whatever the order); say so too.
            context.warn(
                previous[1],
                f"'{previous[1].name}' ignored; '{child.name}' at line "
                f"{child.line} is used",
            )
        seen[f.name] = (priority, child)
        if value is not None:
            values[f.name] = value
        else:
            values.pop(f.name, None)
    for name, collected in list(values.items()):
        if isinstance(collected, list):
            values[name] = tuple(collected)
    if takes_name:
        if len(node.args) > 1:
            raise node.error(f"'{node.name}' takes at most one name")
        values["name"] = node.args[0] if node.args else ""
    elif node.args and node.name:
        raise node.error(f"'{node.name}' takes no arguments")
    values["where"] = node.where
    try:
        return cls(**values)
    except TypeError as e:  # a required directive is missing
        missing = [
            f.name
            for f in fields(cls)  # type: ignore[arg-type]
            if f.default is MISSING and f.default_factory is MISSING and f.name not in values
        ]
        raise node.error(
            f"missing directive '{missing[0] if missing else '?'}'"
            + (f" in {where}" if where else "")
        ) from e
