"""Export roots and what they reach: the code torch.export traces.

A root is a class an export call of the project traces (its target resolved through names,
assignments, factories, ``functools.partial`` and calls of the exporting function), or a class a
configured ``export-roots`` glob names. From a root: ``forward`` and ``__call__``, the methods they
call on ``self``, submodules typed by ``self.x = ...`` assignments (``ModuleList``/``Sequential``
contents included) and the methods called on them, ``X.apply`` of ``autograd.Function`` classes,
helper functions, base classes -- across the project's files (:mod:`export_lint.analysis.index`).
The result, :class:`Reach`, names for every file the functions reached and the root reaching them.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fnmatch
import functools
import gc
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator

from export_lint.analysis import call_sites, untraced
from export_lint.analysis.call_scan import name_then_paren
from export_lint.analysis.index import FileFacts, ProjectIndex, dotted
from export_lint.analysis.outputs import OutputAnalysis, OutputFact
from export_lint.analysis.torch_names import EXPORT_FUNCTIONS
from export_lint.analysis.untraced import Ranges

#: Entry points that trace their first argument like torch.export does.
ROOT_FUNCTIONS = EXPORT_FUNCTIONS | {
    "torch.export.draft_export",
    "torch.export._draft_export.draft_export",
    "torch._dynamo.export",
    "torch._export.export",
    "torch._export.aot_compile",
    "torch.onnx.export",
}
#: Keyword names an entry point takes its target under.
_TARGET_KEYWORDS = ("mod", "model", "f", "module")
#: Methods returning the module they are called on.
_SELF_METHODS = frozenset(
    {"eval", "train", "to", "cpu", "cuda", "float", "half", "double", "bfloat16", "requires_grad_", "module"}
)
_CONSTRUCTORS = frozenset({"from_pretrained", "from_config", "_from_config"})
_PARTIAL = frozenset({"functools.partial"})
#: Last names of the entry points: an export call in a file says one of them, then ``(``.
_ROOT_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in ROOT_FUNCTIONS)
#: What a traced class's ``forward`` is reached as.
_ENTRY_METHODS = ("forward", "__call__")
_MAX_DEPTH = 6
#: Parent lookups of a file answered from the statements around the node's line before the whole
#: tree is mapped.
_LINE_LOOKUPS = 32

Label = str
#: Files larger than this are not analysed for the values their calls pass to other files (a
#: library's big model files would be analysed once more for every small helper file they call
#: into; torchvision's detection heads are 12-38 kB); their calls are not recorded.
CALLER_MAX_BYTES = 40_000
#: A call in traced code of another file: (its file, the qualname of the function holding it, the
#: called name, which call of that name in the function it is, counting from 0 in source order).
CallSite = tuple[str, str, str, int]


@dataclasses.dataclass(frozen=True)
class Reach:
    """The functions export roots reach, per file (real path -> ((qualname, root label), ...))."""

    project: str
    roots: tuple[str, ...]
    files: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    #: Whether some project file defines a ``forward`` (code ``all-modules`` would count as traced).
    has_forwards: bool = False
    #: Export targets built by installed packages (``transformers.AutoModel at export.py:12``):
    #: roots whose code is not in the project, named in the summary, not analysed.
    external: tuple[str, ...] = ()
    #: What roots' forwards return that export cannot flatten, per file (real path -> facts as
    #: tuples, see :class:`export_lint.analysis.outputs.OutputFact`).
    outputs: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()
    #: (real path, :func:`text_digest` of the text read) of the files that mention an export call
    #: but whose calls cannot be one (:func:`call_sites.may_call_export` on their ``ast``).
    export_free: tuple[tuple[str, str], ...] = ()
    #: Calls from other files of the functions reached, per file: real path -> ((qualname,
    #: (call site, ...)), ...); the value analysis reads what those calls pass (``CallSite``).
    callers: tuple[tuple[str, tuple[tuple[str, tuple[CallSite, ...]], ...]], ...] = ()
    #: (real path, :func:`text_digest` of the text read, line ranges) of the definitions no rule
    #: can look at in the files roots reach or that make an export call (:mod:`untraced`).
    blanks: tuple[tuple[str, str, Ranges], ...] = ()

    @functools.cached_property
    def _by_file(self) -> dict[str, dict[str, str]]:
        return {path: dict(entries) for path, entries in self.files}

    def for_file(self, path: str) -> dict[str, str]:
        """qualname -> root label of the functions of ``path`` export traces."""
        return self._by_file.get(os.path.realpath(path), {})

    def outputs_for(self, path: str) -> dict[str, list[OutputFact]]:
        """function qualname -> the unflattenable objects it returns as a root's ``forward``."""
        found: dict[str, list[OutputFact]] = {}
        wanted = os.path.realpath(path)
        for file, facts in self.outputs:
            if file == wanted:
                for fact in facts:
                    found.setdefault(fact[0], []).append(OutputFact(*fact))
        return found

    @functools.cached_property
    def _export_free(self) -> dict[str, str]:
        return dict(self.export_free)

    def makes_no_export_call(self, path: str, text: str) -> bool:
        """Whether the project index found that ``path``, with this very text, makes no call the
        semantic model would take for an export call (False when it does not know)."""
        digest = self._export_free.get(os.path.realpath(path))
        return digest is not None and digest == text_digest(text)

    @functools.cached_property
    def _blanks(self) -> dict[str, tuple[str, Ranges]]:
        return {path: (digest, ranges) for path, digest, ranges in self.blanks}

    def blank_ranges(self, path: str, text: str) -> Ranges | None:
        """The lines of the definitions of ``path`` that no rule can look at, when the project
        index read this very text (None when it did not, or found none)."""
        found = self._blanks.get(os.path.realpath(path))
        return found[1] if found is not None and found[0] == text_digest(text) else None

    @functools.cached_property
    def _callers_by_file(self) -> dict[str, dict[str, tuple[CallSite, ...]]]:
        return {path: dict(entries) for path, entries in self.callers}

    def callers_of(self, path: str) -> dict[str, tuple[CallSite, ...]]:
        """qualname -> the calls of it in traced code of other files, for the functions of ``path``."""
        return self._callers_by_file.get(os.path.realpath(path), {})


def text_digest(text: str) -> str:
    """What :attr:`Reach.export_free` records of a file's text, to know it is the text linted."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


#: The pseudo-dependency a cached result records for what export roots reach in its file.
REACH_DEPENDENCY = "<export-roots>"


def reach_digest(settings, path: str) -> str:
    """What a file's cached result depends on of the export roots: ``all-modules``, the digest of
    the functions the project's roots reach in it, or ``local`` (its own export calls only)."""
    if settings.traced != "roots":
        return "all-modules"
    if settings.reach is None:
        return "local"
    entries = sorted(settings.reach.for_file(path).items())
    outputs = sorted(
        (name, [fact.to_tuple() for fact in facts]) for name, facts in settings.reach.outputs_for(path).items()
    )
    callers = sorted(settings.reach.callers_of(path).items())
    extra = tuple(part for part in (outputs, callers) if part)
    return hashlib.sha256(repr((entries, *extra) if extra else entries).encode()).hexdigest()[:32]


# -- scopes -------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Scope:
    node: ast.AST
    #: name -> [(line, kind, node)]; kind: assign (node: value), class, function, import (qualified), param
    names: dict[str, list[tuple[int, str, object]]]


def _scope_names(node: ast.AST) -> dict[str, list[tuple[int, str, object]]]:
    names: dict[str, list[tuple[int, str, object]]] = {}

    def add(name: str, line: int, kind: str, value: object) -> None:
        names.setdefault(name, []).append((line, kind, value))

    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        for index, arg in enumerate([*args.posonlyargs, *args.args]):
            add(arg.arg, 0, "param", index)
        for arg in args.kwonlyargs:
            add(arg.arg, 0, "param", arg.arg)
    body = node.body if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []
    todo = list(body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, ast.ClassDef):
            add(stmt.name, stmt.lineno, "class", stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            add(stmt.name, stmt.lineno, "function", stmt)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    add(target.id, stmt.lineno, "assign", stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            add(stmt.target.id, stmt.lineno, "assign", stmt.value)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if isinstance(item.optional_vars, ast.Name):
                    add(item.optional_vars.id, stmt.lineno, "assign", item.context_expr)
        elif isinstance(stmt, ast.Import) and not isinstance(node, ast.Module):  # a function's own imports
            for alias in stmt.names:
                head = alias.name.split(".")[0]
                add(alias.asname or head, stmt.lineno, "import", alias.name if alias.asname else head)
        elif isinstance(stmt, ast.ImportFrom) and not isinstance(node, ast.Module) and not stmt.level and stmt.module:
            for alias in stmt.names:
                if alias.name != "*":
                    add(alias.asname or alias.name, stmt.lineno, "import", f"{stmt.module}.{alias.name}")
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            todo.extend(stmt.body)
            todo.extend(getattr(stmt, "orelse", []))
            todo.extend(getattr(stmt, "finalbody", []))
            for handler in getattr(stmt, "handlers", []):
                todo.extend(handler.body)
    for values in names.values():
        values.sort(key=lambda item: item[0])
    return names


class _File:
    """A project file's facts plus what resolution needs: parents of nodes, scopes, class qualnames.

    Parents are mapped for the statements around the lines asked about (those of the calls
    looked for, of the nodes whose parent is asked); the whole tree only for a node without a
    position."""

    def __init__(self, facts: FileFacts) -> None:
        self.facts = facts
        self._parents: dict[int, ast.AST] = {}
        self._all_parents = False
        self._line_lookups = 0
        self.qualname_of: dict[int, str] = {id(info.node): name for name, info in facts.classes.items()}
        self._scopes: dict[int, _Scope] = {}
        self._calls: dict[frozenset[str], list[ast.Call]] = {}
        self._imports: call_sites.Imports | None = None
        self._calls_by_name: dict[str, list[ast.Call]] | None = None

    @property
    def imports(self) -> call_sites.Imports:
        """What the file's import statements bind, anywhere in it."""
        if self._imports is None:
            self._imports = call_sites.imports_of(self.facts.tree)
        return self._imports

    def parent(self, node: ast.AST) -> ast.AST | None:
        found = self._parents.get(id(node))
        if found is not None or self._all_parents or node is self.facts.tree:
            return found
        line = getattr(node, "lineno", None)
        self._line_lookups += 1
        # The statements around its line hold it; past a few lookups (each descends from the module,
        # a file of 1,000 classes asks thousands), the whole tree is mapped once instead.
        if line is not None and self._line_lookups <= _LINE_LOOKUPS:
            self._parents.update(call_sites.parents_on_lines(self.facts.tree, [line]))
            found = self._parents.get(id(node))
        if found is None:  # no position (or not of this tree), or many lookups: map the whole tree
            self._parents = {
                id(child): parent for parent in ast.walk(self.facts.tree) for child in ast.iter_child_nodes(parent)
            }
            self._all_parents = True
            found = self._parents.get(id(node))
        return found

    def calls_saying(self, words: Iterable[str]) -> list[ast.Call]:
        """The calls of the file in :func:`ast.walk`'s order, except those in statements that say
        none of ``words``: every call whose text contains one of them is among them."""
        key = frozenset(words)
        found = self._calls.get(key)
        if found is None:
            found, parents = call_sites.calls_on_lines(self.facts.tree, call_sites.word_lines(self.facts.text, key))
            if not self._all_parents:
                self._parents.update(parents)
            self._calls[key] = found
        return found

    def calls_named(self, name: str) -> list[ast.Call]:
        """The file's calls whose callee's last name is ``name`` (``f(...)``, ``x.f(...)``)."""
        if self._calls_by_name is None:
            self._calls_by_name = {}
            for node in ast.walk(self.facts.tree):
                if isinstance(node, ast.Call):
                    last = _last_name(node.func)
                    if last is not None:
                        self._calls_by_name.setdefault(last, []).append(node)
        return self._calls_by_name.get(name, [])

    def scope(self, node: ast.AST) -> _Scope:
        found = self._scopes.get(id(node))
        if found is None:
            found = self._scopes[id(node)] = _Scope(node, _scope_names(node))
        return found

    def chain(self, node: ast.AST) -> list[ast.AST]:
        """Enclosing function scopes of a node, innermost first, then the module (classes skipped)."""
        found: list[ast.AST] = []
        current = self.parent(node)
        while current is not None:
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                found.append(current)
            current = self.parent(current)
        found.append(self.facts.tree)
        return found


# -- values ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Class:
    file: str
    qualname: str


@dataclasses.dataclass(frozen=True)
class _Function:
    file: str
    node_id: int
    name: str


class Resolver:
    """Resolves expressions of project files to the project classes and functions they denote."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self._files: dict[str, _File | None] = {}
        self.function_nodes: dict[int, ast.AST] = {}
        self._arguments_done: dict[tuple[int, object], set[_Class]] = {}

    def file(self, path: str) -> _File | None:
        if path not in self._files:
            facts = self.index.facts(path)
            self._files[path] = _File(facts) if facts is not None else None
        return self._files[path]

    # A value is a class (the class object), a function, or an instance of a class.
    def callables(self, file: _File, expr: ast.expr, depth: int = 0) -> set[_Class | _Function]:
        """What calling ``expr`` may call: project classes (construction) and functions."""
        if depth > _MAX_DEPTH:
            return set()
        if isinstance(expr, ast.Call):
            func = dotted(expr.func)
            qualified = self._qualified(file, func, expr) if func else None
            if (qualified in _PARTIAL or func in _PARTIAL) and expr.args:
                return self.callables(file, expr.args[0], depth + 1)
            return set()
        if isinstance(expr, ast.Name):
            return self._name_values(file, expr.id, expr, depth, "callable")
        if isinstance(expr, ast.Attribute):
            name = dotted(expr)
            if name is None:
                return set()
            head = name.split(".")[0]
            binding = self._binding(file, head, expr)
            if binding is not None and binding[1] == "import":
                return self._global(str(binding[2]) + name[len(head) :])
            if binding is None:
                return self._global(f"{file.facts.module}.{name}")
        return set()

    def instances(self, file: _File, expr: ast.expr, depth: int = 0) -> set[_Class]:
        """Project classes an expression's value may be an instance of."""
        if depth > _MAX_DEPTH:
            return set()
        found: set[_Class] = set()
        if isinstance(expr, ast.Call):
            for arg in [*expr.args, *(k.value for k in expr.keywords)]:
                if isinstance(arg, ast.Call):  # Wrapper(Encoder(...)): both are built
                    found |= self.instances(file, arg, depth + 1)
            func = expr.func
            if isinstance(func, ast.Attribute) and func.attr in _SELF_METHODS:
                found |= self.instances(file, func.value, depth + 1)
            if isinstance(func, ast.Attribute) and func.attr in _CONSTRUCTORS:
                found |= {c for c in self.callables(file, func.value, depth + 1) if isinstance(c, _Class)}
            for value in self.callables(file, func, depth + 1):
                if isinstance(value, _Class):
                    found.add(value)
                else:
                    found |= self._returns(value, depth + 1)
        elif isinstance(expr, ast.Name):
            for value in self._name_values(file, expr.id, expr, depth, "instance"):
                if isinstance(value, _Class):
                    found.add(value)
        elif isinstance(expr, ast.IfExp):
            found |= self.instances(file, expr.body, depth + 1) | self.instances(file, expr.orelse, depth + 1)
        elif isinstance(expr, (ast.Tuple, ast.List)):
            for element in expr.elts:
                found |= self.instances(file, element, depth + 1)
        return found

    def _returns(self, function: _Function, depth: int) -> set[_Class]:
        file = self.file(function.file)
        node = self.function_nodes.get(function.node_id)
        if file is None or node is None:
            return set()
        found: set[_Class] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Return) and child.value is not None:
                found |= self.instances(file, child.value, depth + 1)
        return found

    def _qualified(self, file: _File, name: str | None, at: ast.AST) -> str | None:
        if not name:
            return None
        head = name.split(".")[0]
        binding = self._binding(file, head, at)
        if binding is not None and binding[1] == "import":
            return str(binding[2]) + name[len(head) :]
        if binding is None:
            return name
        return None

    def _binding(self, file: _File, name: str, at: ast.AST) -> tuple[int, str, object] | None:
        line = getattr(at, "lineno", 10**9)
        for position, scope_node in enumerate(file.chain(at)):
            entries = file.scope(scope_node).names.get(name)
            if entries:
                if position == 0:
                    before = [entry for entry in entries if entry[0] < line or entry[1] == "param"]
                    if before:
                        return before[-1]
                    continue
                return entries[-1]
            if isinstance(scope_node, ast.Module) and name in file.facts.imports:
                return (0, "import", file.facts.imports[name])
        return None

    def _name_values(self, file: _File, name: str, at: ast.AST, depth: int, want: str) -> set:
        binding = self._binding(file, name, at)
        if binding is None:
            return set()
        _, kind, value = binding
        if kind == "class" and isinstance(value, ast.ClassDef):
            if want != "callable":
                return set()
            # A name defined as a class more than once (under ``if``/``try``, or redefined): which one
            # runs is a run-time fact, so every definition in that scope counts.
            scope = next(s for s in file.chain(at) if name in file.scope(s).names)
            return {
                _Class(file.facts.path, file.qualname_of[id(node)])
                for _, other, node in file.scope(scope).names[name]
                if other == "class" and id(node) in file.qualname_of
            }
        if kind == "function" and isinstance(value, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function_nodes[id(value)] = value
            return {_Function(file.facts.path, id(value), value.name)} if want == "callable" else set()
        if kind == "import":
            return self._global(str(value)) if want == "callable" else set()
        if kind == "assign" and isinstance(value, ast.expr):
            if want == "callable":
                return self.callables(file, value, depth + 1)
            return self.instances(file, value, depth + 1)
        if kind == "param" and want == "instance":
            return self._arguments(file, at, value, depth + 1)
        return set()

    def _arguments(self, file: _File, at: ast.AST, which: object, depth: int) -> set[_Class]:
        """Instances passed for a parameter by the calls of its function anywhere in the project:
        ``f(model)`` where ``f`` resolves to the function, ``self.f(model)`` in its class or a
        subclass, ``obj.f(model)`` where ``obj`` is an instance of one."""
        function = file.chain(at)[0]
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or depth > _MAX_DEPTH:
            return set()
        key = (id(function), which)
        if key in self._arguments_done:
            return self._arguments_done[key]
        self._arguments_done[key] = set()  # a recursive call of the function adds nothing new
        owner = file.parent(function)
        owner_class = _Class(file.facts.path, file.qualname_of[id(owner)]) if id(owner) in file.qualname_of else None
        params = [a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)]
        wanted = which if isinstance(which, str) else (params[which] if which < len(params) else None)
        found: set[_Class] = set()
        if function.name == "__init__" and owner_class is not None:
            found = self._constructor_arguments(owner_class, which, wanted, depth)
            self._arguments_done[key] = found
            return found
        callers = self.index.files_mentioning(function.name)
        if callers is None:  # a name too common to follow everywhere: the calls in its own file
            callers = [file.facts.path]
        for path in callers:
            caller = self.file(path)
            if caller is None:
                continue
            for node in caller.calls_saying((function.name,)):
                if _last_name(node.func) != function.name:
                    continue
                bound = isinstance(node.func, ast.Attribute) and owner_class is not None
                if not self._calls(caller, node, function, owner_class, depth):
                    continue
                argument: ast.expr | None = None
                if isinstance(which, int):
                    position = which - 1 if bound and _takes_self(function, owner) else which
                    if 0 <= position < len(node.args) and not isinstance(node.args[position], ast.Starred):
                        argument = node.args[position]
                for keyword in node.keywords:
                    if keyword.arg == wanted:
                        argument = keyword.value
                if argument is not None:
                    found |= self.instances(caller, argument, depth + 1)
        self._arguments_done[key] = found
        return found

    def _constructor_arguments(self, owner: _Class, which: object, wanted: str | None, depth: int) -> set[_Class]:
        """Instances passed for a parameter of ``owner.__init__``: by constructions of the class or of
        a subclass that keeps its ``__init__`` (``Owner(a, b)``), and by a subclass's
        ``super().__init__(a, b)`` or ``Owner.__init__(self, a, b)`` -- the way a detection model
        builds its heads and hands them to its base class, which stores ``self.heads = heads``."""
        found: set[_Class] = set()
        name = owner.qualname.rsplit(".", 1)[-1]
        callers = self.index.files_mentioning(name)
        for path in dict.fromkeys([owner.file, *(callers or ())]):
            caller = self.file(path)
            if caller is None:
                continue
            # Subclasses that keep the class's __init__ are built under their own names.
            names = {name, "__init__"} | {
                facts.qualname.rsplit(".", 1)[-1]
                for facts in caller.facts.classes.values()
                if "__init__" not in facts.methods and any(b.rsplit(".", 1)[-1] == name for b in facts.bases)
            }
            for node in [call for called in names for call in caller.calls_named(called)]:
                implicit_self = self._constructs(caller, node, owner, depth)
                if implicit_self is None:
                    continue
                argument: ast.expr | None = None
                if isinstance(which, int):
                    position = which - 1 if implicit_self else which
                    if 0 <= position < len(node.args) and not any(isinstance(a, ast.Starred) for a in node.args):
                        argument = node.args[position]
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg == wanted:
                        argument = keyword.value
                if argument is not None:
                    found |= self.instances(caller, argument, depth + 1)
        return found

    def _constructs(self, caller: _File, call: ast.Call, owner: _Class, depth: int) -> bool | None:
        """Whether ``call`` runs ``owner.__init__``: True when ``self`` is passed implicitly
        (``Owner(...)``, ``super().__init__(...)``), False when explicitly (``Owner.__init__(self, ...)``),
        None when it does not (as far as names tell)."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__":
            receiver = func.value
            if isinstance(receiver, ast.Call) and dotted(receiver.func) == "super":
                enclosing = _enclosing_class(caller, call)
                if enclosing is None or enclosing == owner:
                    return None
                bases = self.lineage(enclosing) - {enclosing}
                return True if owner in bases else None
            classes = {c for c in self.callables(caller, receiver, depth + 1) if isinstance(c, _Class)}
            return False if owner in classes else None
        if _last_name(func) is None:
            return None
        for cls in self.callables(caller, func, depth + 1):
            if isinstance(cls, _Class) and self._init_of(cls) == owner:
                return True
        return None

    def _init_of(self, cls: _Class, depth: int = 0) -> _Class | None:
        """The project class whose ``__init__`` constructing ``cls`` runs (first in its bases)."""
        file = self.file(cls.file)
        info = file.facts.classes.get(cls.qualname) if file is not None else None
        if info is None or depth > _MAX_DEPTH:
            return None
        if "__init__" in info.methods:
            return cls
        for base in info.node.bases:
            for value in self.callables(file, base):
                if isinstance(value, _Class):
                    found = self._init_of(value, depth + 1)
                    if found is not None:
                        return found
        return None

    def _calls(self, caller: _File, call: ast.Call, function: ast.AST, owner: _Class | None, depth: int) -> bool:
        """Whether ``call`` (in ``caller``) calls ``function`` (a method of ``owner`` when not None)."""
        if owner is None:
            return any(
                isinstance(value, _Function) and value.node_id == id(function)
                for value in self.callables(caller, call.func, depth + 1)
            )
        if not isinstance(call.func, ast.Attribute):
            return False
        receiver = call.func.value
        if dotted(receiver) in {"self", "cls"}:
            enclosing = _enclosing_class(caller, call)
            candidates = {enclosing} if enclosing is not None else set()
        else:  # what the receiver is, resolved cheaply (a receiver's own parameters are not followed)
            shallow = max(depth + 1, _MAX_DEPTH - 2)
            candidates = set(self.instances(caller, receiver, shallow))
            candidates |= {c for c in self.callables(caller, receiver, shallow) if isinstance(c, _Class)}
        return any(owner in self.lineage(cls) for cls in candidates)

    def lineage(self, cls: _Class, depth: int = 0) -> set[_Class]:
        """The class and its project base classes, transitively."""
        found = {cls}
        file = self.file(cls.file)
        info = file.facts.classes.get(cls.qualname) if file is not None else None
        if info is None or depth > _MAX_DEPTH:
            return found
        for base in info.node.bases:
            for value in self.callables(file, base):
                if isinstance(value, _Class) and value not in found:
                    found |= self.lineage(value, depth + 1)
        return found

    def external_builder(self, file: _File, expr: ast.expr, depth: int = 0) -> str | None:
        """The installed package's class or factory an export target is built by
        (``AutoModel.from_pretrained(...)`` -> ``transformers.AutoModel``, ``timm.create_model``),
        or None when it is not one (torch itself, the project's own code, unknown)."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, ast.Name):
            binding = self._binding(file, expr.id, expr)
            if binding is not None and binding[1] == "assign" and isinstance(binding[2], ast.expr):
                return self.external_builder(file, binding[2], depth + 1)
            return None
        if not isinstance(expr, ast.Call):
            return None
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in _SELF_METHODS:
            return self.external_builder(file, func.value, depth + 1)
        if isinstance(func, ast.Attribute) and func.attr in _CONSTRUCTORS:
            func = func.value
        qualified = self._qualified(file, dotted(func), func)
        if not qualified or "." not in qualified:
            return None
        head, _, rest = qualified.partition(".")
        if head in {"torch", "builtins"} or head in sys.stdlib_module_names or head in self.index.files:
            return None
        if self.index.resolve(qualified) is not None or self.index.resolve(rest) is not None:
            return None  # the project's own code, also under its installed name (``executorch.exir...``)
        return qualified

    def _global(self, qualified: str) -> set[_Class | _Function]:
        resolved = self.index.resolve(qualified)
        if resolved is None:
            return set()
        facts, kind, name = resolved
        if kind == "class":
            return {_Class(facts.path, name)}
        node = facts.functions[name]
        self.function_nodes[id(node)] = node
        return {_Function(facts.path, id(node), name)}


def _last_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _takes_self(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.AST | None) -> bool:
    """Whether a call through an instance or ``cls`` passes the first parameter implicitly."""
    if not isinstance(owner, ast.ClassDef):
        return False
    return not any(dotted(d) in {"staticmethod", "builtins.staticmethod"} for d in function.decorator_list)


def _enclosing_class(file: _File, node: ast.AST) -> _Class | None:
    current = file.parent(node)
    while current is not None and not isinstance(current, ast.ClassDef):
        current = file.parent(current)
    if current is None or id(current) not in file.qualname_of:
        return None
    return _Class(file.facts.path, file.qualname_of[id(current)])


# -- roots ----------------------------------------------------------------------------------------
def export_calls(resolver: Resolver, file: _File) -> Iterator[tuple[ast.Call, ast.expr | None]]:
    """The file's calls of an export entry point, with the expression they trace."""
    # Names an import renames an entry point to (``from torch.export import export as capture``).
    aliases = {
        local
        for local, imported in file.imports.export_aliases
        if imported.rsplit(".", 1)[-1].endswith(("export", "aot_compile"))
    }
    for node in file.calls_saying(file.imports.export_words):
        name = dotted(node.func)
        if name is None:
            continue
        if not name.rsplit(".", 1)[-1].endswith(("export", "aot_compile")) and name.split(".")[0] not in aliases:
            continue
        if resolver._qualified(file, name, node) not in ROOT_FUNCTIONS or _in_shadowed_function(file, node):
            continue
        target = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
        for keyword in node.keywords:
            if keyword.arg in _TARGET_KEYWORDS:
                target = keyword.value
        yield node, target


def _in_shadowed_function(file: _File, node: ast.AST) -> bool:
    """Whether ``node`` lies in a function (a method) that a later ``def`` of the same name in the
    same class or module body replaces: Python keeps the last one, so the earlier never runs (a test
    class's ``test_export`` defined twice)."""
    child, current = node, file.parent(node)
    while current is not None:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(
            current, (ast.ClassDef, ast.Module)
        ):
            later = current.body[current.body.index(child) + 1 :] if child in current.body else []
            if any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == child.name for s in later):
                return True
        child, current = current, file.parent(current)
    return False


def may_export(text: str) -> bool:
    """Whether a file's text can hold an export call: an entry point's name followed by ``(``, or
    a line that renames one (``import ... as``, ``= torch.export.export``). Linear in the text."""
    if "export" not in text and "aot_compile" not in text:
        return False
    if name_then_paren(text, _ROOT_NAMES):
        return True
    position = text.find("export")
    while position != -1:
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        end = len(text) if end == -1 else end
        line = text[start:end]
        if " as " in line or "=" in line:
            return True
        position = text.find("export", end)
    return False


def glob_matches(pattern: str, dotted_name: str) -> bool:
    """``*`` (and ``?``, ``[...]``) within one dotted part, ``**`` across any number of parts."""
    parts, names = pattern.split("."), dotted_name.split(".")

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(parts):
            return j == len(names)
        if parts[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(names) + 1))
        return j < len(names) and fnmatch.fnmatchcase(names[j], parts[i]) and match(i + 1, j + 1)

    return match(0, 0)


def configured_roots(index: ProjectIndex, patterns: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(path, class qualname, label) for each class an ``export-roots`` pattern names: ``mod.glob``
    (every class with a ``forward`` in matching modules, or a class by its full name) or
    ``mod.glob:Class.glob``."""
    for pattern in patterns:
        module_pattern, _, class_pattern = pattern.partition(":")
        for module, path in sorted(index.files.items()):
            whole = glob_matches(module_pattern, module)
            if not whole and not class_pattern and not module_pattern.startswith(module + "."):
                continue
            if class_pattern and not whole:
                continue
            facts = index.facts(path)
            if facts is None:
                continue
            for qualname, info in facts.classes.items():
                if class_pattern:
                    chosen = glob_matches(class_pattern, qualname)
                elif whole:
                    chosen = "forward" in info.methods
                else:
                    chosen = glob_matches(module_pattern, f"{module}.{qualname}")
                if chosen:
                    yield path, qualname, f"export-roots entry {pattern!r}"


# -- reachability ---------------------------------------------------------------------------------
class _Reacher:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.reached: dict[str, dict[str, str]] = {}  # path -> qualname -> label
        self._done: set[tuple[str, str, str]] = set()
        self._attributes: dict[tuple[str, str], dict[str, set[_Class]]] = {}
        #: attributes assigned from names (``self.heads = heads``): (file, expression) per class and name
        self._deferred: dict[tuple[str, str], dict[str, list[tuple[_File, ast.expr]]]] = {}
        self._resolved: dict[tuple[str, str, str], set[_Class]] = {}
        #: (callee path, callee qualname) -> call sites in other files
        self.callers: dict[tuple[str, str], set[CallSite]] = {}
        self.todo: list[tuple[str, str, str, str]] = []  # (path, class qualname or "", method, label)

    def add_class(self, cls: _Class, methods: Iterable[str], label: str) -> None:
        for method in methods:
            self.todo.append((cls.file, cls.qualname, method, label))

    def add_function(self, function: _Function, label: str) -> None:
        self.todo.append((function.file, "", function.name, label))

    def run(self) -> None:
        while self.todo:
            path, qualname, method, label = self.todo.pop()
            key = (path, qualname, method)
            if key in self._done:
                continue
            self._done.add(key)
            file = self.resolver.file(path)
            if file is None:
                continue
            if not qualname:
                node = file.facts.functions.get(method)
                if node is not None:
                    self._mark(path, method, label)
                    self._scan(file, node, None, label, method)
                continue
            info = file.facts.classes.get(qualname)
            if info is None:
                continue
            for base in self._bases(file, qualname):
                self.todo.append((base.file, base.qualname, method, label))
            node = info.methods.get(method)
            if node is not None:
                self._mark(path, f"{qualname}.{method}", label)
                self._scan(file, node, _Class(path, qualname), label, f"{qualname}.{method}")

    def _mark(self, path: str, qualname: str, label: str) -> None:
        self.reached.setdefault(path, {}).setdefault(qualname, label)

    def _bases(self, file: _File, qualname: str) -> list[_Class]:
        info = file.facts.classes[qualname]
        found: list[_Class] = []
        for base in info.node.bases:
            for value in self.resolver.callables(file, base):
                if isinstance(value, _Class):
                    found.append(value)
        return found

    def attributes(self, cls: _Class) -> dict[str, set[_Class]]:
        """``self.x`` -> the project classes built into it by any method of the class or its bases."""
        key = (cls.file, cls.qualname)
        found = self._attributes.get(key)
        if found is not None:
            return found
        found = self._attributes[key] = {}
        deferred = self._deferred[key] = {}
        file = self.resolver.file(cls.file)
        if file is None:
            return found
        info = file.facts.classes.get(cls.qualname)
        if info is None:
            return found
        for method in info.methods.values():
            for node in ast.walk(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names = [_self_attribute(t) for t in targets]
                    names = [n for n in names if n]
                    if names and node.value is not None:
                        built = self._built(file, node.value)
                        if isinstance(node.value, (ast.Name, ast.IfExp, ast.BoolOp)):
                            # ``self.heads = heads``: what the constructor calls pass for the
                            # parameter, resolved when traced code uses the attribute
                            for name in names:
                                deferred.setdefault(name, []).append((file, node.value))
                        for name in names:
                            found.setdefault(name, set()).update(built)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = _self_attribute(node.func.value)
                    if owner and node.func.attr in {"append", "extend", "add_module", "insert", "update"}:
                        found.setdefault(owner, set()).update(self._built(file, node))
                    elif node.func.attr in {"add_module", "register_module"} and dotted(node.func.value) == "self":
                        found.setdefault("*", set()).update(self._built(file, node))
        for base in self._bases(file, cls.qualname):
            for name, classes in self.attributes(base).items():
                found.setdefault(name, set()).update(classes)
            for name, values in self._deferred.get((base.file, base.qualname), {}).items():
                deferred.setdefault(name, []).extend(values)
        return found

    def attribute(self, owner: _Class, attributes: dict[str, set[_Class]], name: str) -> set[_Class]:
        """The classes ``self.<name>`` of ``owner`` holds (``attributes`` is ``self.attributes(owner)``)."""
        found = attributes.get(name, set())
        pending = self._deferred.get((owner.file, owner.qualname), {}).get(name)
        if not pending:
            return found
        key = (owner.file, owner.qualname, name)
        passed = self._resolved.get(key)
        if passed is None:
            passed = self._resolved[key] = set()
            for file, expr in pending:
                passed |= self._passed(file, expr)
        return found | passed

    def _passed(self, file: _File, expr: ast.expr) -> set[_Class]:
        """The classes a name (or ``a if c else b``, ``a or B()``) in a method holds as an instance."""
        if isinstance(expr, ast.Name):
            return self.resolver.instances(file, expr)
        found: set[_Class] = set()
        for part in (expr.body, expr.orelse) if isinstance(expr, ast.IfExp) else getattr(expr, "values", ()):
            found |= self._passed(file, part)  # the values it may take, not its condition
        return found

    def _built(self, file: _File, expr: ast.expr) -> set[_Class]:
        found: set[_Class] = set()
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                found |= {value for value in self.resolver.callables(file, node.func) if isinstance(value, _Class)}
        return found

    def _scan(self, file: _File, function: ast.AST, owner: _Class | None, label: str, qualname: str = "") -> None:
        attributes = self.attributes(owner) if owner is not None else {}
        owner_info = file.facts.classes.get(owner.qualname) if owner is not None else None
        nodes = list(ast.walk(function))
        occurrences = _call_occurrences(nodes)
        # Calls in a larger file are not analysed for the values they pass (values.callers).
        small_caller = len(file.facts.text) <= CALLER_MAX_BYTES

        def called_from_here(callee_file: str, callee: str, call: ast.Call) -> None:
            name = _last_name(call.func)
            if callee_file != file.facts.path and name is not None and qualname and small_caller:
                site = (file.facts.path, qualname, name, occurrences[id(call)])
                self.callers.setdefault((callee_file, callee), set()).add(site)

        # ``self.vq`` in ``self.vq.encode(...)`` reaches ``encode``, not ``forward``.
        receivers = {
            id(node.func.value) for node in nodes if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        # What the constructor calls passed for ``self.x`` is looked for where ``self.x(...)`` is
        # called (``self.rpn(images)``), not where it is read (``self.config``, ``self.eps``).
        called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
        for node in nodes:
            if isinstance(node, ast.Attribute) and owner is not None and id(node) not in receivers:
                name = _self_attribute(node)
                if name is not None:
                    held = (
                        self.attribute(owner, attributes, name) if id(node) in called else attributes.get(name, set())
                    )
                    for cls in held | attributes.get("*", set()):
                        self.add_class(cls, _ENTRY_METHODS, label)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute):
                receiver = _self_attribute(func.value)
                if receiver is not None and owner is not None:  # self.vq.encode(...)
                    for cls in self.attribute(owner, attributes, receiver):
                        self.add_class(cls, (func.attr,), label)
                        called_from_here(cls.file, f"{cls.qualname}.{func.attr}", node)
                    continue
                if dotted(func.value) == "self" and owner is not None and owner_info is not None:
                    self.todo.append((owner.file, owner.qualname, func.attr, label))
                    for cls in self.attribute(owner, attributes, func.attr):  # self.head(x): its forward
                        called_from_here(cls.file, f"{cls.qualname}.forward", node)
                    continue
                if isinstance(func.value, ast.Call) and dotted(func.value.func) == "super" and owner is not None:
                    for base in self._bases(file, owner.qualname):
                        self.add_class(base, (func.attr,), label)
                    continue
                if func.attr == "apply":  # autograd.Function
                    for value in self.resolver.callables(file, func.value):
                        if isinstance(value, _Class):
                            self.add_class(value, ("forward",), label)
                    continue
            for value in self.resolver.callables(file, func):
                if isinstance(value, _Class):
                    self.add_class(value, _ENTRY_METHODS, label)
                elif value.node_id in self.resolver.function_nodes:
                    target = self.resolver.file(value.file)
                    node_def = self.resolver.function_nodes[value.node_id]
                    if target is not None and target.facts.functions.get(value.name) is node_def:
                        self.add_function(value, label)
                        called_from_here(value.file, value.name, node)


def _call_occurrences(nodes: list[ast.AST]) -> dict[int, int]:
    """id(call) -> how many calls of the same last name come before it in source order (an outer
    call before the calls inside it), the order LibCST's pre-order walk meets them in."""
    calls = sorted(
        (node for node in nodes if isinstance(node, ast.Call)),
        key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or 0), -(c.end_col_offset or 0)),
    )
    counts: dict[str | None, int] = {}
    found: dict[int, int] = {}
    for call in calls:
        name = _last_name(call.func)
        found[id(call)] = counts.get(name, 0)
        counts[name] = found[id(call)] + 1
    return found


def _self_attribute(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    if isinstance(expr, ast.Subscript):
        return _self_attribute(expr.value)
    return None


def _relative(path: str, root: str) -> str:
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative.replace(os.sep, "/")


def scan_text(text: str | None) -> tuple[bool, bool]:
    """(whether the file can hold an export call, whether it defines a ``forward``): what
    :func:`compute_reach` needs of a file no root is found in, so it can be cached per file hash."""
    if text is None:
        return False, False
    return "torch" in text and may_export(text), "def forward" in text


def compute_reach(
    index: ProjectIndex, patterns: Iterable[str] = (), scans: dict[str, tuple[bool, bool]] | None = None
) -> Reach:
    """Roots of the project (export calls in any file, configured patterns) and what they reach.
    ``scans`` holds :func:`scan_text` results already known (by real path; files missing from it are
    read and added to it)."""
    with _collector_paused():
        return _compute_reach(index, patterns, {} if scans is None else scans)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off meanwhile: the trees the index keeps are millions of
    objects and hold no cycles, yet every full collection walks them all (a quarter of the reach's
    time on executorch). What refcounting cannot free is collected once it is back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compute_reach(index: ProjectIndex, patterns: Iterable[str], scans: dict[str, tuple[bool, bool]]) -> Reach:
    resolver = Resolver(index)
    reacher = _Reacher(resolver)
    returned = OutputAnalysis(reacher)
    outputs: dict[str, dict[OutputFact, None]] = {}
    labels: list[str] = []
    external: list[str] = []
    export_free: list[tuple[str, str]] = []
    parsed: list[_File] = []  # the files making an export call: LibCST parses them
    has_forwards = False
    for path in sorted(set(index.files.values())):
        if path not in scans:
            scans[path] = scan_text(index.text(path))
        exports, forwards = scans[path]
        has_forwards = has_forwards or forwards
        if not exports:
            continue
        file = resolver.file(path)
        if file is None:
            continue
        if not call_sites.may_call_export(file.calls_saying(file.imports.export_words), file.imports.targets):
            export_free.append((path, text_digest(file.facts.text)))
        else:
            parsed.append(file)
        for call, target in export_calls(resolver, file):
            if target is None:
                continue
            returned.registry.export_path(file, call)
            for cls in sorted(resolver.instances(file, target), key=lambda c: (c.file, c.qualname)):
                label = f"export of {cls.qualname} at {_relative(path, index.root)}:{call.lineno}"
                labels.append(label)
                reacher.add_class(cls, _ENTRY_METHODS, label)
                for where, fact in returned.of_root(cls):
                    outputs.setdefault(where, {})[fact] = None
            found = False
            for value in resolver.callables(file, target):  # export of a plain function
                if isinstance(value, _Function):
                    label = f"export of {value.name} at {_relative(path, index.root)}:{call.lineno}"
                    labels.append(label)
                    reacher.add_function(value, label)
                    found = True
            if not found and not resolver.instances(file, target):
                builder = resolver.external_builder(file, target)
                if builder is not None:
                    external.append(f"{builder} at {_relative(path, index.root)}:{call.lineno}")
            reacher.run()
    returned.registry.export_path(None, None)
    for path, qualname, label in configured_roots(index, patterns):
        labels.append(label)
        reacher.add_class(_Class(path, qualname), _ENTRY_METHODS, label)
        for where, fact in returned.of_root(_Class(path, qualname)):
            outputs.setdefault(where, {})[fact] = None
    reacher.run()
    files = tuple(
        (path, tuple(sorted(entries.items()))) for path, entries in sorted(reacher.reached.items()) if entries
    )
    returns = tuple((path, tuple(fact.to_tuple() for fact in facts)) for path, facts in sorted(outputs.items()))
    blanks = _blanks(resolver, parsed, reacher.reached)
    callers: dict[str, dict[str, tuple[CallSite, ...]]] = {}
    for (path, qualname), sites in sorted(reacher.callers.items()):
        callers.setdefault(path, {})[qualname] = tuple(sorted(sites))
    return Reach(
        index.root,
        tuple(dict.fromkeys(labels)),
        files,
        has_forwards,
        tuple(dict.fromkeys(external)),
        returns,
        tuple(export_free),
        callers=tuple((path, tuple(entries.items())) for path, entries in callers.items()),
        blanks=blanks,
    )


def _blanks(
    resolver: Resolver, parsed: list[_File], reached: dict[str, dict[str, str]]
) -> tuple[tuple[str, str, Ranges], ...]:
    """:attr:`Reach.blanks` of the files making an export call and those roots reach."""
    files = {file.facts.path: file for file in parsed}
    for path, entries in reached.items():
        if entries and path not in files:
            file = resolver.file(path)
            if file is not None:
                files[path] = file
    found = []
    for path, file in sorted(files.items()):
        targets = file.imports.targets
        calls = [
            call for call in file.calls_saying(file.imports.export_words) if call_sites.may_call_export([call], targets)
        ]
        ranges = untraced.blank_ranges(file.facts.text, file.facts.tree, reached.get(path, {}), calls)
        if ranges:
            found.append((path, text_digest(file.facts.text), ranges))
    return tuple(found)
