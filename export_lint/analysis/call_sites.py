"""The calls of a file's ``ast`` that a question can be about, found without walking the whole tree.

A call whose callee is spelled ``...export`` has that word on one of its lines, and so has every
statement holding it. A walk that enters only the statements whose lines say one of the words
looked for visits the few statements around such calls, not the file: the project index asks
about export calls in every file that mentions them, and a full :func:`ast.walk` of each was most
of the time the reach took. The calls come back in :func:`ast.walk`'s order (breadth first), so a
caller that walked the whole tree before sees the same calls in the same order.

:func:`may_call_export` answers, on this ``ast``, the question the engine used to parse a file with
LibCST for: can one of its calls be an export call as the semantic model judges it
(:meth:`export_lint.analysis.semantic.SemanticModel.is_export_call`)?
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
from collections.abc import Iterable, Iterator

from export_lint.analysis.index import dotted
from export_lint.analysis.torch_names import EXPORT_FUNCTIONS
from export_lint.source import line_starts

#: Words an export entry point's name contains (``export``, ``_export``, ``export_for_training``,
#: ``draft_export``, ``aot_compile``): an import renaming one says one of them on its line.
EXPORT_WORDS = ("export", "aot_compile")


def word_lines(text: str, words: Iterable[str]) -> list[int]:
    """The numbers (1-based, lines split as Python splits them) of the lines of ``text`` that
    contain one of ``words`` anywhere (in strings and comments too), sorted."""
    starts: list[int] | None = None
    found: set[int] = set()
    for word in words:
        position = text.find(word) if word else -1
        while position != -1:
            if starts is None:
                starts = line_starts(text)
            line = bisect.bisect_right(starts, position)
            found.add(line)
            # One hit per line is enough: go on from the next line's start.
            position = text.find(word, starts[line]) if line < len(starts) else -1
    return sorted(found)


def first_line(stmt: ast.stmt) -> int:
    """The statement's first line: its first decorator's, above the ``def`` line, if it has one."""
    return min([stmt.lineno, *(decorator.lineno for decorator in getattr(stmt, "decorator_list", ()))])


def spans_one_of(stmt: ast.stmt, lines: list[int]) -> bool:
    """Whether one of ``lines`` (sorted) lies within the statement, its decorators included."""
    index = bisect.bisect_left(lines, first_line(stmt))
    return index < len(lines) and lines[index] <= (stmt.end_lineno or stmt.lineno)


def calls_on_lines(tree: ast.AST, lines: list[int]) -> tuple[list[ast.Call], dict[int, ast.AST]]:
    """The calls of ``tree`` inside statements that span one of ``lines`` (sorted), in
    :func:`ast.walk`'s order, and ``id(node) -> parent`` for every node visited to find them.

    A statement none of whose lines is in ``lines`` is not entered. Breadth-first order is the
    order of (depth, path of child indices), so the calls found depth first are sorted by it.
    """
    parents: dict[int, ast.AST] = {}
    found = [(path, node) for node, path in _descend(tree, lines, parents) if isinstance(node, ast.Call)]
    found.sort(key=lambda item: (len(item[0]), item[0]))
    return [call for _, call in found], parents


def parents_on_lines(tree: ast.AST, lines: list[int]) -> dict[int, ast.AST]:
    """``id(node) -> parent`` for the nodes of the statements that span one of ``lines`` (sorted)
    and of the statements around them: every node written on those lines is among them."""
    parents: dict[int, ast.AST] = {}
    for _ in _descend(tree, lines, parents):
        pass
    return parents


def _descend(tree: ast.AST, lines: list[int], parents: dict[int, ast.AST]) -> Iterator[tuple[ast.AST, tuple[int, ...]]]:
    """Each node of ``tree`` outside the statements that span none of ``lines``, with its path of
    child indices; records each one's parent in ``parents``."""
    todo: list[tuple[ast.AST, tuple[int, ...]]] = [(tree, ())]
    while todo:
        node, path = todo.pop()
        yield node, path
        for index, child in enumerate(ast.iter_child_nodes(node)):
            if isinstance(child, ast.stmt) and not spans_one_of(child, lines):
                continue
            parents[id(child)] = node
            todo.append((child, (*path, index)))


def statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement of a module, nested ones included (in no particular order)."""
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        stmt = todo.pop()
        yield stmt
        for field in ("body", "orelse", "finalbody"):
            block = getattr(stmt, field, None)
            if type(block) is list:  # a Lambda's or an IfExp's body is an expression, never a list
                todo.extend(block)
        for clause in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
            todo.extend(clause.body)


@dataclasses.dataclass(frozen=True)
class Imports:
    """What the import statements of a file, anywhere in it, bind."""

    #: Local name -> every absolute name an import binds it to, as the semantic model qualifies
    #: them (``import a.b``: ``a``; ``import a.b as c``: ``a.b``; ``from m import x as y``:
    #: ``m.x``). Relative imports never name torch and are left out.
    targets: dict[str, set[str]]
    #: (local name, imported name) of each import renaming an export entry point (``from
    #: torch.export import export as capture``): a call of one says neither ``export`` nor
    #: ``aot_compile``.
    export_aliases: frozenset[tuple[str, str]]

    @property
    def export_words(self) -> tuple[str, ...]:
        """The words a statement holding an export call says: ``EXPORT_WORDS`` and the aliases."""
        return (*EXPORT_WORDS, *sorted({local for local, _ in self.export_aliases}))


def imports_of(tree: ast.Module) -> Imports:
    """The file's :class:`Imports`, from one pass over its statements."""
    targets: dict[str, set[str]] = {}
    aliases: set[tuple[str, str]] = set()
    for stmt in statements(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                targets.setdefault(local, set()).add(alias.name if alias.asname else local)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*" and not stmt.level and stmt.module:
                    targets.setdefault(alias.asname or alias.name, set()).add(f"{stmt.module}.{alias.name}")
        else:
            continue
        aliases.update(
            (alias.asname, alias.name)
            for alias in stmt.names
            if alias.asname and any(word in alias.name.rsplit(".", 1)[-1] for word in EXPORT_WORDS)
        )
    return Imports(targets, frozenset(aliases))


def may_call_export(calls: Iterable[ast.Call], imports: dict[str, set[str]]) -> bool:
    """Whether one of ``calls`` can be an export call as the semantic model judges it: its callee,
    a dotted name, qualified through any import of its head (or left as it is, for a head no
    import binds), is one of ``EXPORT_FUNCTIONS``.

    A superset of :meth:`SemanticModel.is_export_call`: that resolves the head in its scope, to
    one import or to nothing, while here every import of the name in the file counts. ``calls``
    must hold every call saying one of the file's :attr:`Imports.export_words`.
    """
    for call in calls:
        name = dotted(call.func)
        if name is None:
            continue
        head, dot, rest = name.partition(".")
        for qualified in (head, *imports.get(head, ())):
            if qualified + dot + rest in EXPORT_FUNCTIONS:
                return True
    return False
