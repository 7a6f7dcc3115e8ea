"""The definitions of a file that no rule can look at, blanked out before LibCST parses it.

In roots mode a rule reports in code an export root reaches or at an export call, and reads
around them: the enclosing function, the module-level statements, the classes and helpers those
name. A test file that exports three models and defines forty unrelated helpers would pay
LibCST's parse and the rules' walk for all of them.

:func:`blank_ranges` keeps, from the file's ``ast``:

- every module-level statement that is not a ``def`` or ``class``;
- each ``def`` / ``class`` a root reaches (a class whole), that holds a call that may be an export
  call, that binds a name bound twice at module level, or that says ``global`` / ``nonlocal``;
- inside an unreached class holding such a call (a *shell*): its statements that are not
  definitions, the methods holding one, its dunder and ``setUp`` / ``tearDown`` methods;
- then, to a fixpoint, every definition whose name the kept code says (``f``, ``Model``,
  ``self.helper``: any word of its text), and the shells' methods that store a ``self.x`` that
  kept code reads.

The characters of every other definition become spaces, line breaks kept (:func:`blanked_text`),
so the text LibCST parses has the file's length, offsets, rows and columns: spans, edits and noqa
rows are unchanged. Words are read from the text, comments and strings included: saying more
only keeps more.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from export_lint.analysis.call_sites import first_line, spans_one_of, word_lines
from export_lint.source import line_starts

Ranges = tuple[tuple[int, int], ...]

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NOT_A_BREAK = re.compile(r"[^\r\n]+")
_WORD = re.compile(r"\w+")
_SELF_READ = re.compile(r"\bself\s*\.\s*(\w+)")
#: ``self.x =``, ``self.x: T =``, ``self.x +=``, ``self.a, self.b =``, ``as self.x``, ``for self.x in``.
_SELF_STORE = re.compile(
    r"\bself\s*\.\s*(\w+)\s*(?:(?::[^=\n]*|[-+*/%@&|^]|//|\*\*|<<|>>)?=(?!=)|,)"
    r"|\b(?:as|for)\s+self\s*\.\s*(\w+)"
)
#: Methods of an unreached class kept whatever names them: a framework calls them.
_CALLED_BY_FRAMEWORK = re.compile(r"__\w+__|setUp\w*|tearDown\w*")


def _lines(stmt: ast.stmt) -> tuple[int, int]:
    return first_line(stmt), stmt.end_lineno or stmt.lineno


def _lines_of(calls: Iterable[ast.Call]) -> list[int]:
    """Every line the calls span, sorted."""
    return sorted({line for call in calls for line in range(call.lineno, (call.end_lineno or call.lineno) + 1)})


def _bound_twice(tree: ast.Module) -> set[str]:
    """Module-level names bound by more than one module-level statement."""
    counts: dict[str, int] = {}
    for stmt in tree.body:
        if isinstance(stmt, _DEFINITIONS):
            bound = {stmt.name}
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            bound = {(alias.asname or alias.name).split(".")[0] for alias in stmt.names}
        else:
            bound = {
                node.id for node in ast.walk(stmt) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
            }
        for name in bound:
            counts[name] = counts.get(name, 0) + 1
    return {name for name, count in counts.items() if count > 1}


class _Text:
    """The text of line ranges of a file."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = line_starts(text)

    def of(self, first: int, last: int) -> str:
        end = self.starts[last] if last < len(self.starts) else len(self.text)
        return self.text[self.starts[first - 1] : end]


def blank_ranges(text: str, tree: ast.Module, reached: Iterable[str], export_calls: Iterable[ast.Call]) -> Ranges:
    """(first line, last line) of each definition of the file no rule can look at, in order (see
    the module's docstring); ``reached`` holds the qualnames roots reach in it, ``export_calls``
    its calls that may be export calls (``call_sites.may_call_export`` of each)."""
    hot = _lines_of(export_calls)
    declaring = word_lines(text, ("global", "nonlocal"))
    reached_heads = {qualname.split(".")[0] for qualname in reached}
    twice = _bound_twice(tree)
    source = _Text(text)
    kept: set[int] = set()
    shells: list[ast.ClassDef] = []
    candidates: list[ast.stmt] = []  # definitions kept only if the kept code names them
    members: set[int] = set()  # the shells' methods among the candidates
    said: list[str] = []  # the text kept
    for stmt in tree.body:
        if not isinstance(stmt, _DEFINITIONS):
            said.append(source.of(*_lines(stmt)))
        elif stmt.name in reached_heads or stmt.name in twice or spans_one_of(stmt, declaring):
            kept.add(id(stmt))
            said.append(source.of(*_lines(stmt)))
        elif isinstance(stmt, ast.ClassDef) and spans_one_of(stmt, hot):
            kept.add(id(stmt))
            shells.append(stmt)
            said.append(source.of(first_line(stmt), max(first_line(stmt), stmt.body[0].lineno - 1)))  # its header
            for member in stmt.body:
                if not isinstance(member, _DEFINITIONS):
                    said.append(source.of(*_lines(member)))
                elif (
                    spans_one_of(member, hot)
                    or _CALLED_BY_FRAMEWORK.fullmatch(member.name)
                    or spans_one_of(member, declaring)
                ):
                    kept.add(id(member))
                    said.append(source.of(*_lines(member)))
                else:
                    candidates.append(member)
                    members.add(id(member))
        elif spans_one_of(stmt, hot):
            kept.add(id(stmt))
            said.append(source.of(*_lines(stmt)))
        else:
            candidates.append(stmt)
    words = {word for chunk in said for word in _WORD.findall(chunk)}
    read = {name for chunk in said for name in _SELF_READ.findall(chunk)}
    stores: dict[int, set[str]] = {}
    while True:
        found = []
        for stmt in candidates:
            if id(stmt) in kept:
                continue
            if id(stmt) in members and id(stmt) not in stores:
                stores[id(stmt)] = {a or b for a, b in _SELF_STORE.findall(source.of(*_lines(stmt)))}
            if stmt.name in words or not read.isdisjoint(stores.get(id(stmt), ())):
                found.append(stmt)
        if not found:
            break
        for stmt in found:
            kept.add(id(stmt))
            chunk = source.of(*_lines(stmt))
            words.update(_WORD.findall(chunk))
            read.update(_SELF_READ.findall(chunk))
    ranges: list[tuple[int, int]] = []
    shell_ids = {id(shell) for shell in shells}
    for stmt in tree.body:
        if not isinstance(stmt, _DEFINITIONS):
            continue
        if id(stmt) not in kept:
            ranges.append(_lines(stmt))
        elif id(stmt) in shell_ids:
            dropped = [
                _lines(member) for member in stmt.body if isinstance(member, _DEFINITIONS) and id(member) not in kept
            ]
            if len(dropped) < len(stmt.body):  # something of the body stays: it is still a block
                ranges.extend(dropped)
    return tuple(ranges)


def blanked_text(text: str, ranges: Ranges) -> str:
    """``text`` with the lines of ``ranges`` turned into spaces, line breaks kept: the same length,
    offsets, rows and columns."""
    source = _Text(text)
    pieces: list[str] = []
    position = 0
    for first, last in ranges:
        begin = source.starts[first - 1]
        lines = source.of(first, last)
        pieces.append(text[position:begin])
        pieces.append(_NOT_A_BREAK.sub(lambda match: " " * len(match.group()), lines))
        position = begin + len(lines)
    pieces.append(text[position:])
    return "".join(pieces)
