"""
The layering of :mod:`srstwist`'s packages, checked from the source.

Every module under ``srstwist/`` is parsed with :mod:`ast`, and every import it
holds is collected: module-level ones, ones inside functions and classes, and
ones under ``if TYPE_CHECKING:``, so that no import can hide a layering
violation by being deferred.  Relative imports are resolved, and
``from package import name`` counts as importing the submodule
``package.name`` when there is one.  Each contract below is a predicate over
one import; the tests list every import that breaks one, as
``module -> imported module (file:line)``.

From the bottom up:

- :mod:`srstwist.config` depends on nothing else of srstwist;
- :mod:`srstwist.codec` and :mod:`srstwist.media` are sans-IO: no Twisted, and
  nothing of srstwist but each other (codec below media), config and
  :mod:`srstwist.interfaces`;
- :mod:`srstwist.stream` and :mod:`srstwist.client` sit on those;
- :mod:`srstwist.protocols` and :mod:`srstwist.web` are peers on top of
  stream, and :mod:`srstwist.services` assembles everything;
- only config, services and :mod:`srstwist.tap` read configuration text, so
  only they import :mod:`srstwist.config.parser`; everyone else holds the
  values of :mod:`srstwist.config.model`.

The import scan is a pure function over a map of file paths to source text
(:func:`collect_imports`), so the checker itself is tested on small synthetic
trees as well.  :class:`RuntimeIsolationTests` adds the one thing a static
scan cannot see: what importing the modules loads, in a fresh interpreter.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

_ROOT = Path(__file__).resolve().parents[1]
_TOP = "srstwist"


# ---------------------------------------------------------------------------
# Collecting imports.


@dataclass(frozen=True)
class Import:
    """
    One module importing another.

    :param importer: the dotted name of the importing module.
    :param target: the dotted name of the imported module, relative imports
        resolved.
    :param path: the importing file, relative to the repository.
    :param line: the line of the ``import`` statement.
    :param type_only: the import is under ``if TYPE_CHECKING:``.
    """

    importer: str
    target: str
    path: str
    line: int
    type_only: bool = False

    def __str__(self) -> str:
        suffix = " [TYPE_CHECKING]" if self.type_only else ""
        return f"{self.importer} -> {self.target} ({self.path}:{self.line}){suffix}"


def module_name(path: str) -> str:
    """
    The dotted module name of the file ``path`` (``srstwist/a/b.py`` is
    ``srstwist.a.b``; ``srstwist/a/__init__.py`` is ``srstwist.a``).
    """
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def within(name: str, *packages: str) -> bool:
    """Whether the module ``name`` is one of ``packages`` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _ImportFinder(ast.NodeVisitor):
    """Collects every import of one module, wherever in the module it is."""

    def __init__(self, path: str, known: frozenset[str]) -> None:
        self.path = path
        self.module = module_name(path)
        self.is_package = path.endswith("/__init__.py")
        self.known = known
        self.type_only = False
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.stmt | ast.expr) -> None:
        found = Import(self.module, target, self.path, node.lineno, self.type_only)
        if found not in self.found:  # ``from m import a, b`` is one import of m
            self.found.append(found)

    def _resolve(self, module: str | None, level: int, node: ast.ImportFrom) -> str:
        """The absolute name ``from <level dots><module> import`` refers to."""
        if level == 0:
            return module or ""
        parts = self.module.split(".")
        if not self.is_package:
            parts.pop()
        if level - 1 >= len(parts):
            raise AssertionError(
                f"{self.path}:{node.lineno}: relative import beyond {_TOP}"
            )
        base = parts[: len(parts) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer, self.type_only = self.type_only, True
        for statement in node.body:
            self.visit(statement)
        self.type_only = outer
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node.module, node.level, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.known else base, node)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("x") and __import__("x") with a literal name.
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if (
            name in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            self._add(node.args[0].value, node)
        self.generic_visit(node)


def collect_imports(sources: Mapping[str, str]) -> list[Import]:
    """
    Every import in ``sources``, in file and line order.

    :param sources: maps each file's path relative to the repository
        (``srstwist/codec/amf0.py``) to its text.
    """
    known = frozenset(module_name(path) for path in sources)
    found: list[Import] = []
    for path in sorted(sources):
        finder = _ImportFinder(path, known)
        finder.visit(ast.parse(sources[path], path))
        found.extend(finder.found)
    return found


def read_sources(root: Path = _ROOT) -> dict[str, str]:
    """Every ``.py`` file under ``root/srstwist``, keyed by its relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((root / _TOP).rglob("*.py"))
    }


@functools.cache
def _tree_imports() -> tuple[Import, ...]:
    """The imports of the real tree, read once per test run."""
    return tuple(collect_imports(read_sources()))


# ---------------------------------------------------------------------------
# Contracts.

Rule = Callable[[Import], bool]


def violations(imports: Iterable[Import], rule: Rule) -> list[Import]:
    """The imports that ``rule`` (true for a forbidden import) rejects."""
    return [i for i in imports if rule(i)]


def _sans_io(i: Import) -> bool:
    """Contract 1: codec and media use no I/O framework and sit low."""
    if not within(i.importer, "srstwist.codec", "srstwist.media"):
        return False
    if within(i.target, "twisted", "treq", "klein"):
        return True
    return (
        within(i.target, _TOP)
        and i.target != _TOP
        and not within(
            i.target, "srstwist.codec", "srstwist.media", "srstwist.config", "srstwist.interfaces"
        )
    )


def _codec_below_media(i: Import) -> bool:
    """Contract 1: codec does not import media."""
    return within(i.importer, "srstwist.codec") and within(i.target, "srstwist.media")


def _config_alone(i: Import) -> bool:
    """Contract 2: config needs nothing of srstwist but itself and the root package."""
    return (
        within(i.importer, "srstwist.config")
        and within(i.target, _TOP)
        and i.target != _TOP
        and not within(i.target, "srstwist.config")
    )


_FRONT_ENDS = ("srstwist.protocols", "srstwist.web", "srstwist.services")


def _stream_below_front_ends(i: Import) -> bool:
    """Contract 3: stream knows no front end, service, client or tool."""
    return within(i.importer, "srstwist.stream") and within(
        i.target, *_FRONT_ENDS, "srstwist.client", "srstwist.tools"
    )


def _front_ends_are_peers(i: Import) -> bool:
    """Contract 4: protocols and web import no services, and not each other."""
    if within(i.importer, "srstwist.protocols"):
        return within(i.target, "srstwist.services", "srstwist.web")
    if within(i.importer, "srstwist.web"):
        return within(i.target, "srstwist.services", "srstwist.protocols")
    return False


def _client_apart(i: Import) -> bool:
    """Contract 5: the client stack shares codec and media, not the server."""
    return within(i.importer, "srstwist.client") and within(
        i.target, *_FRONT_ENDS, "srstwist.stream", "srstwist.tools"
    )


def _parser_readers(i: Import) -> bool:
    """Contract 7: only config, services and tap import the parser."""
    return within(i.target, "srstwist.config.parser") and not within(
        i.importer, "srstwist.config", "srstwist.services", "srstwist.tap"
    )


def _interfaces_bare(i: Import) -> bool:
    """
    Contract 8: interfaces imports zope.interface and the standard library,
    and srstwist types only under ``TYPE_CHECKING``.
    """
    if i.importer != "srstwist.interfaces":
        return False
    if within(i.target, "zope.interface"):
        return False
    if i.target.partition(".")[0] in sys.stdlib_module_names:
        return False
    return not (i.type_only and within(i.target, _TOP))


def _interfaces_type_names(i: Import) -> bool:
    """An import of srstwist types by interfaces, for annotations only (contract 8)."""
    return i.importer == "srstwist.interfaces" and i.type_only and within(i.target, _TOP)


def cycle_graph_imports(imports: Iterable[Import]) -> list[Import]:
    """The imports contract 6 counts: all but :func:`_interfaces_type_names`."""
    return [i for i in imports if not _interfaces_type_names(i)]


# ---------------------------------------------------------------------------
# Cycles between packages.

#: The units of the package graph: the subpackages and top-level modules.
UNITS = (
    "codec",
    "media",
    "config",
    "stream",
    "protocols",
    "web",
    "services",
    "client",
    "tools",
    "interfaces",
    "tracelog",
    "tap",
)


def unit_of(module: str) -> str | None:
    """
    The graph unit holding ``module`` (``srstwist.codec.amf0`` is ``codec``),
    ``srstwist`` for the root package, ``None`` outside srstwist.
    """
    if not within(module, _TOP):
        return None
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else _TOP


def find_cycles(imports: Iterable[Import]) -> list[tuple[list[str], list[Import]]]:
    """
    The import cycles between units.

    :returns: one entry per strongly connected group of units: a shortest
        cycle through its first unit, as ``[a, b, ..., a]``, and every import
        that makes up an edge of that cycle.  Empty when the graph is acyclic.
    """
    edges: dict[str, dict[str, list[Import]]] = {}
    for i in imports:
        source, target = unit_of(i.importer), unit_of(i.target)
        if source is None or target is None or source == target:
            continue
        edges.setdefault(source, {}).setdefault(target, []).append(i)
        edges.setdefault(target, {})

    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    cycles = []
    for group in sorted(groups):
        first, members = group[0], set(group)
        # Breadth-first from the first unit back to itself, inside the group.
        came_from: dict[str, str] = {}
        frontier = [first]
        while first not in came_from:
            following = []
            for node in frontier:
                for successor in sorted(edges[node]):
                    if successor in members and successor not in came_from:
                        came_from[successor] = node
                        following.append(successor)
            frontier = following
        path = [first]
        node = came_from[first]
        while node != first:
            path.append(node)
            node = came_from[node]
        path.append(first)
        path.reverse()
        evidence = [i for a, b in zip(path, path[1:]) for i in edges[a][b]]
        cycles.append((path, evidence))
    return cycles


def describe_cycles(cycles: list[tuple[list[str], list[Import]]]) -> str:
    """A failure message naming each cycle and the imports along it."""
    lines = []
    for path, evidence in cycles:
        lines.append("import cycle between packages: " + " -> ".join(path))
        lines.extend(f"  {i}" for i in evidence)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The tests.


class LayeringTests(SynchronousTestCase):
    """
    The real tree keeps every contract; each failure lists every offending
    import.
    """

    def assertContract(self, contract: str, rule: Rule) -> None:
        """Fail with every import of the tree that ``rule`` rejects."""
        bad = violations(_tree_imports(), rule)
        if bad:
            self.fail(
                f"{contract}\n{len(bad)} offending import(s):\n"
                + "\n".join(f"  {i}" for i in bad)
            )

    def test_scan_sees_the_tree(self) -> None:
        """
        The scan finds the packages the contracts are about, so that an
        empty result means "no violation", not "nothing read".
        """
        importers = {unit_of(i.importer) for i in _tree_imports()}
        self.assertTrue(set(UNITS) <= importers, sorted(importers - {None}))

    def test_codec_media_sans_io(self) -> None:
        """
        Contract 1: ``srstwist/codec/`` and ``srstwist/media/`` import no
        ``twisted``, ``treq`` or ``klein``, and nothing of srstwist outside
        codec, media, config, interfaces and the root package.
        """
        self.assertContract(
            "contract 1: srstwist/codec/ and srstwist/media/ import no twisted, treq or klein, "
            "and from srstwist only codec, media, config, interfaces and srstwist itself",
            _sans_io,
        )

    def test_codec_below_media(self) -> None:
        """Contract 1: ``srstwist/codec/`` does not import ``srstwist/media/``."""
        self.assertContract(
            "contract 1: srstwist/codec/ does not import srstwist/media/", _codec_below_media
        )

    def test_config_alone(self) -> None:
        """Contract 2: ``srstwist/config/`` imports nothing of srstwist but config/."""
        self.assertContract(
            "contract 2: srstwist/config/ imports nothing from srstwist outside config/ "
            "(and the root package)",
            _config_alone,
        )

    def test_stream_below_front_ends(self) -> None:
        """
        Contract 3: ``srstwist/stream/`` imports nothing from protocols, web,
        services, client or tools.
        """
        self.assertContract(
            "contract 3: srstwist/stream/ imports nothing from protocols/, web/, services/, "
            "client/, tools/",
            _stream_below_front_ends,
        )

    def test_front_ends_are_peers(self) -> None:
        """
        Contract 4: ``srstwist/protocols/`` and ``srstwist/web/`` import
        nothing from ``srstwist.services``, and neither imports the other.
        """
        self.assertContract(
            "contract 4: srstwist/protocols/ and srstwist/web/ import nothing from "
            "srstwist.services, and neither imports the other",
            _front_ends_are_peers,
        )

    def test_client_apart(self) -> None:
        """
        Contract 5: ``srstwist/client/`` imports nothing from protocols, web,
        services, stream or tools.
        """
        self.assertContract(
            "contract 5: srstwist/client/ imports nothing from protocols/, web/, services/, "
            "stream/, tools/",
            _client_apart,
        )

    def test_no_cycles(self) -> None:
        """
        Contract 6: the graph of :data:`UNITS` (and the root package) has no
        cycle.  Every import counts, function-level and ``TYPE_CHECKING`` ones
        included, but one kind: the ``TYPE_CHECKING`` imports of srstwist
        types by :mod:`srstwist.interfaces`, which contract 8 allows so that
        the interfaces can name the types they pass (``SharedMessage``) while
        every package, media included, depends on them.
        """
        cycles = find_cycles(cycle_graph_imports(_tree_imports()))
        if cycles:
            self.fail("contract 6: no import cycles between packages\n" + describe_cycles(cycles))

    def test_parser_readers(self) -> None:
        """
        Contract 7: :mod:`srstwist.config.parser` is imported only from
        ``srstwist/config/``, ``srstwist/services/`` and ``srstwist/tap.py``.
        """
        self.assertContract(
            "contract 7: srstwist.config.parser is imported only from srstwist/config/, "
            "srstwist/services/ and srstwist/tap.py (others use srstwist.config.model)",
            _parser_readers,
        )

    def test_interfaces_bare(self) -> None:
        """
        Contract 8: ``srstwist/interfaces.py`` imports only ``zope.interface``
        and the standard library, and srstwist types only under
        ``TYPE_CHECKING``.
        """
        self.assertContract(
            "contract 8: srstwist/interfaces.py imports only zope.interface, the standard "
            "library and (under TYPE_CHECKING) srstwist types",
            _interfaces_bare,
        )


def _tree(**files: str) -> dict[str, str]:
    """
    A synthetic source map: each keyword is a path with ``__`` for ``/``
    (``protocols__rtmp`` is ``srstwist/protocols/rtmp.py``); every package
    on the way gets an empty ``__init__.py``.
    """
    sources = {f"{_TOP}/__init__.py": ""}
    for key, text in files.items():
        parts = key.split("__")
        for depth in range(1, len(parts)):
            sources.setdefault("/".join([_TOP, *parts[:depth], "__init__.py"]), "")
        sources["/".join([_TOP, *parts]) + ".py"] = text
    return sources


class CheckerTests(SynchronousTestCase):
    """The checker reports what it must, on synthetic trees."""

    def test_function_level_relative_import(self) -> None:
        """
        An import inside a function, written relative, is found, resolved and
        reported by the contract it breaks.
        """
        imports = collect_imports(
            _tree(
                protocols__rtmp="import os\n\ndef f():\n    from ..services.hub import SourceHub\n",
                services__hub="class SourceHub: pass\n",
            )
        )
        self.assertEqual(
            violations(imports, _front_ends_are_peers),
            [
                Import(
                    "srstwist.protocols.rtmp",
                    "srstwist.services.hub",
                    "srstwist/protocols/rtmp.py",
                    4,
                )
            ],
        )

    def test_type_checking_import(self) -> None:
        """An import under ``if TYPE_CHECKING:`` is found, and marked."""
        imports = collect_imports(
            _tree(
                codec__x=(
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from twisted.internet.protocol import Protocol\n"
                    "else:\n"
                    "    import json\n"
                )
            )
        )
        self.assertEqual(
            violations(imports, _sans_io),
            [
                Import(
                    "srstwist.codec.x", "twisted.internet.protocol", "srstwist/codec/x.py", 3, True
                )
            ],
        )
        self.assertIn(Import("srstwist.codec.x", "json", "srstwist/codec/x.py", 5), imports)

    def test_submodule_by_from_import(self) -> None:
        """
        ``from srstwist.config import parser`` imports the module
        ``srstwist.config.parser``; ``from srstwist.config.parser import
        parse`` does too, and ``from . import x`` in a package resolves to
        its own submodule.
        """
        imports = collect_imports(
            _tree(
                web__a="from srstwist.config import parser\n",
                web__b="from srstwist.config.parser import parse\n",
                config__parser="def parse(): pass\n",
                config__model="from . import parser\n",
                services__s="from srstwist.config import parser\n",
            )
        )
        self.assertEqual(
            [(i.importer, i.target) for i in violations(imports, _parser_readers)],
            [
                ("srstwist.web.a", "srstwist.config.parser"),
                ("srstwist.web.b", "srstwist.config.parser"),
            ],
        )
        self.assertIn(
            ("srstwist.config.model", "srstwist.config.parser"),
            [(i.importer, i.target) for i in imports],
        )

    def test_clean_tree(self) -> None:
        """A tree that keeps every contract yields no violation and no cycle."""
        imports = collect_imports(
            _tree(
                codec__amf0="import struct\n",
                media__m="from srstwist.codec import amf0\nfrom srstwist import interfaces\n",
                interfaces="from zope.interface import Interface\n",
                stream__s="from srstwist.media import m\n",
                protocols__p="from srstwist.stream import s\n",
                services__svc="from srstwist.protocols import p\n",
            )
        )
        for rule in (
            _sans_io,
            _codec_below_media,
            _config_alone,
            _stream_below_front_ends,
            _front_ends_are_peers,
            _client_apart,
            _parser_readers,
            _interfaces_bare,
        ):
            self.assertEqual(violations(imports, rule), [], rule.__name__)
        self.assertEqual(find_cycles(imports), [])

    def test_cycle_reported(self) -> None:
        """
        A cycle through three packages, closed by a function-level import,
        is reported with its path and the imports along it.
        """
        imports = collect_imports(
            _tree(
                media__m="from srstwist.codec import c\n",
                codec__c="def f():\n    import srstwist.stream.s\n",
                stream__s="from srstwist.media.m import X\n",
                client__k="from srstwist.media import m\n",
            )
        )
        cycles = find_cycles(imports)
        self.assertEqual([path for path, _ in cycles], [["codec", "stream", "media", "codec"]])
        message = describe_cycles(cycles)
        self.assertIn("import cycle between packages: codec -> stream -> media -> codec", message)
        self.assertIn("srstwist.codec.c -> srstwist.stream.s (srstwist/codec/c.py:2)", message)
        self.assertIn("srstwist.stream.s -> srstwist.media.m (srstwist/stream/s.py:1)", message)
        self.assertIn("srstwist.media.m -> srstwist.codec.c (srstwist/media/m.py:1)", message)
        self.assertNotIn("client", message)

    def test_type_checking_cycle(self) -> None:
        """
        A cycle closed by a ``TYPE_CHECKING`` import is a cycle; only the
        interfaces' type names (contract 8) are left out of the graph.
        """
        imports = collect_imports(
            _tree(
                interfaces=(
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from srstwist.media.message import SharedMessage\n"
                ),
                media__message="from srstwist.interfaces import IStreamConsumer\n",
                stream__s=(
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from srstwist.services.hub import SourceHub\n"
                ),
                services__hub="from srstwist.stream import s\n",
            )
        )
        self.assertEqual(
            [path for path, _ in find_cycles(imports)],
            [["interfaces", "media", "interfaces"], ["services", "stream", "services"]],
        )
        self.assertEqual(
            [path for path, _ in find_cycles(cycle_graph_imports(imports))],
            [["services", "stream", "services"]],
        )

    def test_interfaces_runtime_srstwist_import(self) -> None:
        """
        :mod:`srstwist.interfaces` may name srstwist types under
        ``TYPE_CHECKING`` only.
        """
        imports = collect_imports(
            _tree(
                interfaces=(
                    "import enum\n"
                    "from typing import TYPE_CHECKING\n"
                    "from zope.interface import Interface\n"
                    "if TYPE_CHECKING:\n"
                    "    from srstwist.media.message import SharedMessage\n"
                    "from srstwist.media.message import Other\n"
                    "import attr\n"
                ),
                media__message="",
            )
        )
        self.assertEqual(
            [(i.target, i.line) for i in violations(imports, _interfaces_bare)],
            [("srstwist.media.message", 6), ("attr", 7)],
        )

    def test_failure_message(self) -> None:
        """
        A broken contract fails its test, and the message lists the import
        as ``module -> imported module (file:line)``.
        """
        imports = collect_imports(_tree(stream__s="def f():\n    from srstwist.web import site\n"))

        class Probe(LayeringTests):
            def runTest(self) -> None:
                pass

        probe = Probe()
        self.patch(sys.modules[__name__], "_tree_imports", lambda: tuple(imports))
        error = self.assertRaises(
            probe.failureException,
            probe.test_stream_below_front_ends,
        )
        self.assertIn(
            "srstwist.stream.s -> srstwist.web (srstwist/stream/s.py:2)", str(error)
        )


# ---------------------------------------------------------------------------
# What importing loads, in a fresh interpreter.

#: Imports every module of codec and media (ones added later too), then the
#: configuration value modules, and reports what got loaded.
_WALK = """
import importlib, json, pkgutil, sys
import srstwist.codec, srstwist.media
walked = []
for package in (srstwist.codec, srstwist.media):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        walked.append(info.name)
twisted = sorted(m for m in sys.modules if m.partition(".")[0] in ("twisted", "treq", "klein"))
import srstwist.config.model, srstwist.config.holder, srstwist.config.support
print(json.dumps({
    "walked": walked,
    "twisted": twisted,
    "parser": "srstwist.config.parser" in sys.modules,
}))
"""


def run_python(code: str) -> str:
    """
    Run ``code`` with ``python -c`` in a new interpreter at the repository
    root.

    :returns: its standard output.
    :raises AssertionError: if it fails.
    """
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise AssertionError(f"python -c failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


class RuntimeIsolationTests(SynchronousTestCase):
    """
    Importing the low layers loads nothing they must not depend on, whatever
    a third-party module they use might import in turn.  Each check runs in
    a fresh interpreter, because this test process has long since imported
    Twisted itself.
    """

    def test_imports(self) -> None:
        """
        Importing every module of ``srstwist.codec`` and ``srstwist.media``
        loads no Twisted (nor ``treq``, ``klein``); importing the
        configuration values (:mod:`srstwist.config.model`, ``holder``,
        ``support``) does not load the parser.  The walk covers every module
        the static scan found in the two packages.
        """
        report = json.loads(run_python(_WALK))
        self.assertEqual(report["twisted"], [])
        self.assertFalse(report["parser"], "srstwist.config.model imported the parser")
        scanned = {
            name
            for name in map(module_name, read_sources())
            if within(name, "srstwist.codec", "srstwist.media")
            and name not in ("srstwist.codec", "srstwist.media")
        }
        self.assertTrue(scanned, "the scan found no codec or media module")
        self.assertEqual(scanned - set(report["walked"]), set())
