"""What every fix result must pass before it is offered or applied.

LibCST accepts code CPython refuses (``f(a=1, a=2)``), and a fix that parses can still use a name
that is not bound where it runs (``Dim(...)`` above ``from torch.export import Dim``), or leave the
blank lines ``ruff format`` rewrites. A fixed text is judged against its original: it must compile
with CPython's own ``compile()``, and it must not add unbound names or blank-line faults (faults
the original already has are the user's, not the fix's).
"""

from __future__ import annotations

import ast
import builtins
import collections
import dataclasses
import symtable
from collections.abc import Sequence

from export_lint.diagnostics import Diagnostic, apply_edits
from export_lint.source import split_lines

#: Names every module can use without binding them.
_ALWAYS_BOUND = frozenset(dir(builtins)) | {
    "__name__",
    "__file__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__annotations__",
    "__path__",
    "__cached__",
}


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The original text's standing: whether it compiles, its unbound names and blank-line faults."""

    compiles: bool
    unbound: collections.Counter[str]
    blank_line_faults: int


def compiled(text: str, path: str) -> ast.Module | str:
    """The module's AST when CPython compiles the text, else the SyntaxError's message."""
    try:
        tree = compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, path, "exec", dont_inherit=True)  # repeated keywords etc. fail only here
    except SyntaxError as error:
        return f"{error.msg} (line {error.lineno})"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"{type(error).__name__}: {error}"
    return tree


def baseline(text: str, path: str) -> Baseline:
    tree = compiled(text, path)
    if isinstance(tree, str):
        return Baseline(False, collections.Counter(), 0)
    return Baseline(True, unbound_names(tree, text, path), blank_line_faults(tree, text))


def fix_problem(original: Baseline, fixed_text: str, path: str) -> str | None:
    """Why a fixed text must not be offered, or None when it passes every check."""
    if not original.compiles:
        return "the file does not compile with CPython before the fix"
    tree = compiled(fixed_text, path)
    if isinstance(tree, str):
        return f"the fixed code does not compile: {tree}"
    unbound = unbound_names(tree, fixed_text, path)
    added = sorted(name for name, count in unbound.items() if count > original.unbound[name])
    if added:
        return f"the fixed code uses {', '.join(f'`{name}`' for name in added)} where it is not bound"
    if blank_line_faults(tree, fixed_text) > original.blank_line_faults:
        return "the fixed code breaks `ruff format`'s blank lines around a top-level definition"
    return None


def offered(text: str, path: str, diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics, each fix kept only when its result alone passes the checks (a failing one
    is dropped: the diagnostic stays, not marked fixable)."""
    if not any(d.fix is not None for d in diagnostics):
        return list(diagnostics)
    original = baseline(text, path)
    kept = []
    for diagnostic in diagnostics:
        fix = diagnostic.fix
        if fix is not None and fix_problem(original, apply_edits(text, fix.edits), path) is not None:
            diagnostic = dataclasses.replace(diagnostic, fix=None)
        kept.append(diagnostic)
    return kept


# -- names bound at the point of use --------------------------------------------------------


def unbound_names(tree: ast.Module, text: str, path: str) -> collections.Counter[str]:
    """Names used where nothing binds them: module-level code in textual order, functions at call time.

    Module-level code (and class bodies in it) runs top to bottom, so a name it uses must be bound
    by an earlier statement; a function body runs later, so a binding anywhere at module level will
    do. A star import makes every name possibly bound: nothing is counted.
    """
    unbound: collections.Counter[str] = collections.Counter()
    if any(isinstance(node, ast.ImportFrom) and node.names[0].name == "*" for node in ast.walk(tree)):
        return unbound
    _ModuleOrder(unbound).run(tree.body)
    try:
        table = symtable.symtable(text, path, "exec")
    except (SyntaxError, ValueError, RecursionError):
        return unbound
    module_names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    nested = list(table.get_children())
    scopes = []
    while nested:
        scope = nested.pop()
        scopes.append(scope)
        nested.extend(scope.get_children())
    module_names |= {
        s.get_name() for t in scopes for s in t.get_symbols() if s.is_declared_global() and s.is_assigned()
    }
    for scope in scopes:
        if scope.get_type() == "class" and _is_top_level_class(scope, table):
            continue  # a top-level class body runs in textual order: _ModuleOrder judged it
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if symbol.is_referenced() and symbol.is_global() and name not in module_names | _ALWAYS_BOUND:
                unbound[name] += 1
    return unbound


def _is_top_level_class(scope: symtable.SymbolTable, table: symtable.SymbolTable) -> bool:
    return any(child is scope or child.get_id() == scope.get_id() for child in table.get_children())


class _ModuleOrder:
    """Walks module-level code in execution order, counting loads of names not yet bound."""

    def __init__(self, unbound: collections.Counter[str]) -> None:
        self.unbound = unbound
        self.bound: set[str] = set(_ALWAYS_BOUND)

    def run(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def load(self, node: ast.AST | None, extra: frozenset[str] = frozenset()) -> None:
        """Count the unbound names an expression evaluated now reads (not inside lambdas)."""
        if node is None:
            return
        todo = [node]
        while todo:
            current = todo.pop()
            if isinstance(current, ast.Name):
                if isinstance(current.ctx, ast.Load) and current.id not in self.bound and current.id not in extra:
                    self.unbound[current.id] += 1
                elif isinstance(current.ctx, ast.Store):
                    self.bound.add(current.id)
                continue
            if isinstance(current, ast.Lambda):
                todo.extend(current.args.defaults)
                todo.extend(d for d in current.args.kw_defaults if d is not None)
                continue
            if isinstance(current, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                self.load(current.generators[0].iter, extra)
                targets = frozenset(
                    n.id for g in current.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
                )
                inner = [*current.generators[1:]] + [x for g in current.generators for x in g.ifs]
                inner += [current.key, current.value] if isinstance(current, ast.DictComp) else [current.elt]
                for part in inner:
                    self.load(part.iter if isinstance(part, ast.comprehension) else part, extra | targets)
                continue
            if isinstance(current, ast.NamedExpr):
                self.load(current.value, extra)
                self.bound.add(current.target.id)
                continue
            todo.extend(ast.iter_child_nodes(current))

    def bind(self, target: ast.AST) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.bound.add(node.id)
            elif isinstance(node, (ast.Subscript, ast.Attribute)):
                self.load(node.value)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                self.load(decorator)
            self.load_defaults(node.args)
            self.bound.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for part in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.load(part)
            outer = set(self.bound)
            self.run(node.body)  # class-level names only live in the class body
            self.bound = outer | {node.name}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                self.bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign):
            self.load(node.value)
            for target in node.targets:
                self.bind(target)
        elif isinstance(node, ast.AnnAssign):
            self.load(node.value)
            if node.value is not None or not isinstance(node.target, ast.Name):
                self.bind(node.target)
        elif isinstance(node, ast.AugAssign):
            self.load(node.target if isinstance(node.target, ast.Name) else None)
            self.load(node.value)
            self.bind(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.load(node.iter)
            self.bind(node.target)
            self.run(node.body)
            self.run(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.load(item.context_expr)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars)
            self.run(node.body)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.run(node.body)
            for handler in node.handlers:
                self.load(handler.type)
                if handler.name:
                    self.bound.add(handler.name)
                self.run(handler.body)
            self.run(node.orelse)
            self.run(node.finalbody)
        elif isinstance(node, (ast.If, ast.While)):
            self.load(node.test)
            self.run(node.body)
            self.run(node.orelse)
        elif isinstance(node, ast.Match):
            self.load(node.subject)
            for case in node.cases:
                for pattern in ast.walk(case.pattern):
                    for field in ("name", "rest"):
                        if isinstance(getattr(pattern, field, None), str):
                            self.bound.add(getattr(pattern, field))
                self.load(case.guard)
                self.run(case.body)
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Delete)):
            return
        else:
            self.load(node)

    def load_defaults(self, arguments: ast.arguments) -> None:
        for default in [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]:
            self.load(default)


# -- ruff format's blank lines ----------------------------------------------------------------


def blank_line_faults(tree: ast.Module, text: str) -> int:
    """Gaps between top-level statements that ``ruff format`` would change.

    Around a top-level ``def``/``class`` it wants exactly two blank lines (at least two when
    comments sit in the gap); elsewhere at most two.
    """
    lines = [line.rstrip("\r\n") for line in split_lines(text)]
    faults = 0
    for previous, current in zip(tree.body, tree.body[1:], strict=False):
        start = min([current.lineno, *(d.lineno for d in getattr(current, "decorator_list", ()))])
        gap = lines[(previous.end_lineno or previous.lineno) : start - 1]
        blanks = sum(1 for line in gap if not line.strip())
        commented = any(line.strip().startswith("#") for line in gap)
        definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(previous, definitions) or isinstance(current, definitions):
            faults += blanks < 2 if commented else blanks != 2
        elif not commented:
            faults += blanks > 2
    return faults
