"""What torch.export traces in one file, and what names mean there.

The semantic model answers the questions rules share: "is this call `torch.export.export`?",
"which classes are `nn.Module` subclasses?", "is this function traced by export?". Names are
resolved through imports with a light scope resolver (module scope, then enclosing functions),
computed lazily so files that never ask pay nothing.
"""

from __future__ import annotations

import bisect
import dataclasses
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

import libcst as cst

from export_lint.analysis import external
from export_lint.analysis.call_scan import name_then_paren
from export_lint.analysis.outputs import OutputFact
from export_lint.analysis.torch_names import EXPORT_FUNCTIONS, KNOWN_MODULE_BASES
from export_lint.traversal import EXPRESSION_TYPES, NODE_TYPES, TRIVIA_TYPES, children, descendants, visit

if TYPE_CHECKING:
    from export_lint.analysis.roots import Reach

#: The last names of ``EXPORT_FUNCTIONS``: a call ending in another name is not an export call.
_EXPORT_FUNCTION_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in EXPORT_FUNCTIONS)

#: Node types that open a scope (``type(node) in SCOPE_TYPES``; LibCST node classes are final).
SCOPE_TYPES = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})

_NOT_MODULES_IN_TORCH_NN = frozenset({"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"})


@dataclasses.dataclass(frozen=True)
class Binding:
    """What a name refers to at one point of the file."""

    kind: str  # "import", "function", "class", "param", "assign", "builtin"
    qualified_name: str | None
    node: cst.CSTNode | None = None


@dataclasses.dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    base_names: list[str | None]
    methods: dict[str, cst.FunctionDef]


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` as text for a Name/Attribute chain, else None."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        head = dotted_name(expr.value)
        return f"{head}.{expr.attr.value}" if head else None
    return None


def _module_of_import_from(node: cst.ImportFrom) -> str:
    dots = "." * len(node.relative)
    return dots + (dotted_name(node.module) or "" if node.module else "")


def _import_bindings(node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, Binding]]:
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted_name(alias.name) or ""
            if alias.asname is not None:
                local = dotted_name(alias.asname.name) or full
                yield local, Binding("import", full, node)
            else:
                head = full.split(".")[0]
                yield head, Binding("import", head, node)
        return
    if isinstance(node.names, cst.ImportStar):
        return
    module = _module_of_import_from(node)
    for alias in node.names:
        name = dotted_name(alias.name) or ""
        local = dotted_name(alias.asname.name) if alias.asname is not None else name
        separator = "" if module.endswith(".") else "."
        yield local or name, Binding("import", f"{module}{separator}{name}", node)


def assigned_names(target: cst.BaseExpression) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from assigned_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from assigned_names(target.value)


def _agree(first: Binding, second: Binding) -> bool:
    if first.kind != second.kind or first.qualified_name != second.qualified_name:
        return False
    return first.kind == "import" or first.node is second.node


class _BindingCollector(cst.CSTVisitor):
    """Collects the names one scope binds, without entering nested scopes."""

    def __init__(self, module_name: str, scope_root: cst.CSTNode) -> None:
        self.module_name = module_name
        self.scope_root = scope_root
        self.bindings: dict[str, Binding] = {}

    def _bind(self, name: str, binding: Binding) -> None:
        previous = self.bindings.get(name)
        # A name bound twice in one scope is only known when both bindings agree: the same import,
        # or the same definition (nodes compare by identity: CSTNode equality is a deep walk).
        if previous is not None and not _agree(previous, binding):
            self.bindings[name] = Binding("assign", None, binding.node)
        else:
            self.bindings[name] = binding

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if node is self.scope_root:
            return True
        self._bind(node.name.value, Binding("function", f"{self.module_name}.{node.name.value}", node))
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        if node is self.scope_root:
            return True
        self._bind(node.name.value, Binding("class", f"{self.module_name}.{node.name.value}", node))
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        self._bind(node.name.value, Binding("param", None, node))
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        for name, binding in _import_bindings(node):
            self._bind(name, binding)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        for name, binding in _import_bindings(node):
            self._bind(name, binding)
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            for name in assigned_names(target.target):
                self._bind(name, Binding("assign", None, node))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        for name in assigned_names(node.target):
            self._bind(name, Binding("assign", None, node))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        for name in assigned_names(node.target):
            self._bind(name, Binding("assign", None, node))

    def visit_For(self, node: cst.For) -> None:
        for name in assigned_names(node.target):
            self._bind(name, Binding("assign", None, node))

    def visit_AsName(self, node: cst.AsName) -> None:
        for name in assigned_names(node.name):
            self._bind(name, Binding("assign", None, node))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        for name in assigned_names(node.target):
            self._bind(name, Binding("assign", None, node))

    # Comprehension variables live in their own scope.
    def visit_CompFor(self, node: cst.CompFor) -> bool:
        return False


#: Statements and the blocks and clauses that hold them: where an import can be.
_STATEMENT_CONTAINERS = frozenset(
    kind
    for kind in NODE_TYPES
    if {cst.Module, cst.BaseStatement, cst.BaseSuite} & set(kind.__mro__)  # issubclass: slow ABC checks
    or kind in {cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.MatchCase}
)


#: What a walk pruned to traced code enters outside traced functions: statements that can hold a
#: function definition (functions themselves are entered only when traced).
PRUNED_WALK_CONTAINERS = _STATEMENT_CONTAINERS - {cst.FunctionDef}

#: Where a scope's bindings can be when no expression binds (no ``:=`` in the file): statements,
#: blocks and clauses, and the parameter list and ``with`` items that hold binding nodes.
_BINDING_CONTAINERS = _STATEMENT_CONTAINERS | {cst.Parameters, cst.WithItem}
_BINDING_HOOKS = {
    kind: f"visit_{kind.__name__}" for kind in NODE_TYPES if hasattr(_BindingCollector, f"visit_{kind.__name__}")
}


def _visit_statements(scope: cst.CSTNode, collector: _BindingCollector) -> None:
    """``_BindingCollector``'s walk over a scope, in the same order, without entering expressions
    (where only ``:=`` binds): a fraction of the nodes."""
    todo: list[cst.CSTNode] = [scope]
    while todo:
        node = todo.pop()
        kind = type(node)
        hook = _BINDING_HOOKS.get(kind)
        if hook is not None and getattr(collector, hook)(node) is False:
            continue
        if kind in _BINDING_CONTAINERS or node is scope:
            todo.extend(reversed(children(node, TRIVIA_TYPES)))


@dataclasses.dataclass(frozen=True)
class ImportFacts:
    """What a file's import statements (anywhere in it) bind, read without entering expressions."""

    #: Names bound by ``import ... as name`` / ``from ... import x as name``.
    aliases: frozenset[str]
    #: First segments of the absolute modules imported (``transformers`` for ``from transformers.x import y``).
    roots: frozenset[str]
    #: Whether a ``from ... import *`` can bind names no statement shows.
    star: bool


def _import_facts(module: cst.Module) -> ImportFacts:
    aliases: set[str] = set()
    roots: set[str] = set()
    star = False
    todo: list[cst.CSTNode] = [module]
    while todo:
        node = todo.pop()
        kind = type(node)
        if kind is cst.Import:
            for alias in node.names:
                roots.add(dotted_name(alias.name).split(".")[0])
                if alias.asname is not None and type(alias.asname.name) is cst.Name:
                    aliases.add(alias.asname.name.value)
        elif kind is cst.ImportFrom:
            if not node.relative and node.module is not None:
                roots.add(dotted_name(node.module).split(".")[0])
            if isinstance(node.names, cst.ImportStar):
                star = True
            else:
                aliases.update(
                    alias.asname.name.value
                    for alias in node.names
                    if alias.asname is not None and type(alias.asname.name) is cst.Name
                )
        elif kind in _STATEMENT_CONTAINERS:
            todo.extend(children(node))
    return ImportFacts(frozenset(aliases), frozenset(roots), star)


#: Per-file caches other modules keep, keyed by the file's model. A value may refer back to its
#: model (a flow analysis holds it), which keeps a WeakKeyDictionary's key, and the whole tree,
#: alive: the engine empties them when the file is done (``SemanticModel.release``).
FILE_CACHES: list[weakref.WeakKeyDictionary] = []


def file_cache() -> weakref.WeakKeyDictionary:
    """A new per-file cache, emptied for each file when its lint ends."""
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    FILE_CACHES.append(cache)
    return cache


class SemanticModel:
    """Facts about one parsed file, shared by every rule."""

    def __init__(
        self,
        module: cst.Module,
        path: str,
        module_name: str = "<module>",
        text: str | None = None,
        reached: dict[str, str] | None = None,
        reach: Reach | None = None,
        outputs: dict[str, list[OutputFact]] | None = None,
    ) -> None:
        self.module = module
        #: The project's reach this file's lint runs with (its ``callers`` give values to functions
        #: other files call); None without one.
        self.reach = reach
        #: What export roots reach in this file (function qualname -> root label, see
        #: ``analysis.roots``); None: every module's forward counts as traced (``all-modules``).
        self.reached = reached
        #: Roots' forwards here -> what they return that export cannot flatten (``analysis.outputs``).
        self.output_facts = outputs or {}
        self._labels: dict[int, str] = {}
        self._all_classes: list[tuple[str, ClassInfo]] | None = None
        self._enclosing_functions: dict[int, list[int]] = {}  # class node id -> ids of the functions around it
        #: ids of untraced functions that hold a traced one (a model class defined in a test method).
        self.traced_holders: set[int] = set()
        #: The file's source: cheap text checks rule out whole questions before any tree walk.
        self.text = module.code if text is None else text
        self.path = path
        self.module_name = module_name
        self._scope_bindings: dict[int, dict[str, Binding]] = {}
        self._classes: dict[str, ClassInfo] | None = None
        self._module_class_cache: dict[str, bool] = {}
        self._traced: set[int] | None = None
        self._scope_chains: dict[int, list[cst.CSTNode]] = {}
        self._bindings: dict[tuple[int, ...], dict[str, Binding]] = {}
        self._traced_scopes: dict[int, bool] = {}
        self._imports: ImportFacts | None = None
        #: scope id -> (node id -> position in the scope's walk, (position, assignment) in order).
        self._assignment_walks: dict[int, tuple[dict[int, int], list[tuple[int, cst.Assign]]]] = {}
        # Filled by the engine while it walks the tree: every node above the current one, and the
        # functions, lambdas and classes among them.
        self.stack: list[cst.CSTNode] = []
        self.scope_stack: list[cst.CSTNode] = []

    def release(self) -> None:
        """Drop what other modules cached for this file (see ``FILE_CACHES``)."""
        for cache in FILE_CACHES:
            cache.pop(self, None)

    # -- scopes and names -------------------------------------------------------------
    def bindings_of(self, scope: cst.CSTNode) -> dict[str, Binding]:
        key = id(scope)
        found = self._scope_bindings.get(key)
        if found is None:
            collector = _BindingCollector(self.module_name, scope)
            if ":=" in self.text:  # an assignment expression can bind a name inside any expression
                visit(scope, collector)
            else:
                _visit_statements(scope, collector)
            found = collector.bindings
            self._scope_bindings[key] = found
        return found

    def scopes(self, stack: list[cst.CSTNode] | None = None) -> list[cst.CSTNode]:
        """Enclosing scopes, innermost first (class scopes only when directly inside them).

        The list is shared (cached per innermost scope for the engine's stack): do not modify it.
        """
        if stack is None:
            innermost = id(self.scope_stack[-1]) if self.scope_stack else 0
            found = self._scope_chains.get(innermost)
            if found is None:
                found = self._scope_chains[innermost] = self._scope_chain(self.scope_stack)
            return found
        return self._scope_chain([node for node in stack if type(node) in SCOPE_TYPES])

    def _scope_chain(self, scope_nodes: list[cst.CSTNode]) -> list[cst.CSTNode]:
        found: list[cst.CSTNode] = []
        for node in reversed(scope_nodes):
            if type(node) is not cst.ClassDef or not found:
                found.append(node)
        found.append(self.module)
        return found

    def binding(self, name: str, stack: list[cst.CSTNode] | None = None) -> Binding:
        scopes = self.scopes(stack)
        key = tuple(map(id, scopes))
        known = self._bindings.get(key)
        if known is None:
            known = self._bindings[key] = {}
        found = known.get(name)
        if found is None:
            found = known[name] = self._lookup(name, scopes)
        return found

    def _lookup(self, name: str, scopes: list[cst.CSTNode]) -> Binding:
        for scope in scopes:
            if type(scope) is cst.Lambda:
                if any(param.name.value == name for param in scope.params.params):
                    return Binding("param", None, scope)
                continue
            found = self.bindings_of(scope).get(name)
            if found is not None:
                return found
        return Binding("builtin", name)

    def qualified_name(self, expr: cst.BaseExpression, stack: list[cst.CSTNode] | None = None) -> str | None:
        """The fully qualified name an expression refers to, through imports; None when unknown."""
        if isinstance(expr, cst.Name):
            return self.binding(expr.value, stack).qualified_name
        if isinstance(expr, cst.Attribute):
            head = self.qualified_name(expr.value, stack)
            return f"{head}.{expr.attr.value}" if head else None
        return None

    def is_export_call(self, node: cst.Call, stack: list[cst.CSTNode] | None = None) -> bool:
        func = node.func
        # Cheap refusals first: most calls end in another name and no import renames them.
        if type(func) is cst.Attribute:
            if func.attr.value not in _EXPORT_FUNCTION_NAMES:
                return False
        elif type(func) is not cst.Name or (
            func.value not in _EXPORT_FUNCTION_NAMES and func.value not in self.import_aliases
        ):
            return False
        return self.qualified_name(func, stack) in EXPORT_FUNCTIONS

    def may_call_export(self) -> bool:
        """False when no export call can be in the file: no export function's name, nor a name an
        import renames, is followed by ``(`` (only whitespace and comments can come between)."""
        found = self.__dict__.get("_may_call_export")
        if found is None:
            found = name_then_paren(self.text, _EXPORT_FUNCTION_NAMES | self.import_aliases)
            self.__dict__["_may_call_export"] = found
        return found

    @property
    def imports(self) -> ImportFacts:
        """What the file's import statements bind (computed once)."""
        if self._imports is None:
            self._imports = _import_facts(self.module)
        return self._imports

    @property
    def import_aliases(self) -> frozenset[str]:
        """Every name an ``import ... as name`` binds anywhere in the file."""
        return self.imports.aliases

    # -- classes ------------------------------------------------------------------------
    @property
    def classes(self) -> dict[str, ClassInfo]:
        """Classes defined at module level (also inside top-level if/try blocks)."""
        if self._classes is None:
            self._classes = {}
            for node in self._top_level_statements(self.module.body):
                if isinstance(node, cst.ClassDef):
                    methods = {stmt.name.value: stmt for stmt in node.body.body if isinstance(stmt, cst.FunctionDef)}
                    bases = [self.qualified_name(arg.value, [self.module]) for arg in node.bases if arg.keyword is None]
                    self._classes[node.name.value] = ClassInfo(node.name.value, node, bases, methods)
        return self._classes

    def _top_level_statements(self, body) -> Iterator[cst.CSTNode]:
        for stmt in body:
            yield stmt
            if isinstance(stmt, (cst.If, cst.Try, cst.With)):
                yield from self._top_level_statements(stmt.body.body)
                orelse = getattr(stmt, "orelse", None)
                if isinstance(orelse, (cst.Else, cst.If)):
                    yield from self._top_level_statements(orelse.body.body)

    def is_module_class_name(self, qualified: str | None) -> bool:
        """Whether a qualified class name is an ``nn.Module`` subclass, as far as it can be known."""
        if qualified is None:
            return False
        cached = self._module_class_cache.get(qualified)
        if cached is not None:
            return cached
        self._module_class_cache[qualified] = False  # guards against cycles
        result = self._resolve_module_class(qualified)
        self._module_class_cache[qualified] = result
        return result

    def _resolve_module_class(self, qualified: str) -> bool:
        if qualified in KNOWN_MODULE_BASES:
            return True
        if qualified.startswith("torch.nn."):
            last = qualified.rsplit(".", 1)[-1]
            return (
                last[:1].isupper()
                and last not in _NOT_MODULES_IN_TORCH_NN
                and ".functional" not in qualified
                and ".init" not in qualified
                and ".utils" not in qualified
            )
        local_prefix = f"{self.module_name}."
        if qualified.startswith(local_prefix):
            info = self.classes.get(qualified[len(local_prefix) :])
            return info is not None and any(self.is_module_class_name(base) for base in info.base_names)
        return external.is_module_class(qualified, self.path)

    def class_info(self, node: cst.ClassDef) -> ClassInfo | None:
        info = self.classes.get(node.name.value)
        if info is not None and info.node is node:
            return info
        if self.reached is None:
            return None
        # A class nested in a function, or an earlier class of a name defined twice.
        return next((found for _, found in self.all_classes() if found.node is node), None)

    def all_classes(self) -> list[tuple[str, ClassInfo]]:
        """Every class of the file with its qualname (``make.Net``; ``Name#2`` for a later class
        of a qualname seen before), in source order: the names ``analysis.index`` gives them."""
        if self._all_classes is None:
            found: list[tuple[str, ClassInfo]] = []
            seen: dict[str, int] = {}

            def walk(node: cst.CSTNode, prefix: str, stack: list[cst.CSTNode]) -> None:
                for child in children(node, TRIVIA_TYPES):
                    kind = type(child)
                    if kind in EXPRESSION_TYPES:
                        continue
                    if kind is cst.ClassDef:
                        name = f"{prefix}{child.name.value}"
                        seen[name] = seen.get(name, 0) + 1
                        qualname = name if seen[name] == 1 else f"{name}#{seen[name]}"
                        info = self.classes.get(child.name.value)
                        if info is None or info.node is not child:
                            methods = {s.name.value: s for s in child.body.body if isinstance(s, cst.FunctionDef)}
                            bases = [self.qualified_name(a.value, stack) for a in child.bases if a.keyword is None]
                            info = ClassInfo(child.name.value, child, bases, methods)
                        found.append((qualname, info))
                        self._enclosing_functions[id(child)] = [id(n) for n in stack if type(n) is cst.FunctionDef]
                        walk(child, f"{qualname}.", [*stack, child])
                    elif kind is cst.FunctionDef:
                        walk(child, f"{prefix}{child.name.value}.", [*stack, child])
                    else:
                        walk(child, prefix, stack)

            walk(self.module, "", [self.module])
            self._all_classes = found
        return self._all_classes

    def is_module_class(self, node: cst.ClassDef) -> bool:
        info = self.class_info(node)
        if info is None or self.classes.get(info.name) is not info:  # unknown, nested or redefined
            bases = [self.qualified_name(arg.value) for arg in node.bases if arg.keyword is None]
            return any(self.is_module_class_name(base) for base in bases)
        return self.is_module_class_name(f"{self.module_name}.{info.name}")

    def find_method(self, info: ClassInfo, name: str) -> cst.FunctionDef | None:
        """A method defined by a class or its base classes in this file."""
        seen: set[str] = set()
        todo = [info]
        while todo:
            current = todo.pop(0)
            if current.name in seen:
                continue
            seen.add(current.name)
            if name in current.methods:
                return current.methods[name]
            for base in current.base_names:
                if base and base.startswith(f"{self.module_name}."):
                    base_info = self.classes.get(base[len(self.module_name) + 1 :])
                    if base_info is not None:
                        todo.append(base_info)
        return None

    def forward_params(self, qualified: str, importer: str | None = None) -> list[str] | None:
        """Parameter names (without ``self``) of a module class's ``forward``, in this file or an
        installed package's source (read, never imported); None when unknown or variadic."""
        local_prefix = f"{self.module_name}."
        if importer is None and qualified.startswith(local_prefix):
            info = self.classes.get(qualified[len(local_prefix) :])
            if info is None:
                return None
            forward = self.find_method(info, "forward")
            if forward is not None:
                params = forward.params
                if isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None:
                    return None
                names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
                return names[1:]
            external_bases = [b for b in info.base_names if b and not b.startswith(local_prefix)]
            return self.forward_params(external_bases[0], self.path) if len(external_bases) == 1 else None
        # method_params drops ``*args``/``**kwargs``: an empty list means "unknown" here.
        return external.method_params(qualified, importer or self.path) or None

    # -- enclosing nodes ----------------------------------------------------------------
    def enclosing(self, kind: type, stack: list[cst.CSTNode] | None = None) -> cst.CSTNode | None:
        stack = self.stack if stack is None else stack
        for node in reversed(stack):
            if isinstance(node, kind):
                return node
        return None

    def enclosing_method(self, stack: list[cst.CSTNode] | None = None) -> tuple[ClassInfo, cst.FunctionDef] | None:
        """The (class, method) whose body directly holds the current node."""
        stack = self.stack if stack is None else stack
        for depth in range(len(stack) - 1, 0, -1):
            node = stack[depth]
            if isinstance(node, cst.FunctionDef):
                for outer in reversed(stack[:depth]):
                    if isinstance(outer, cst.ClassDef):
                        info = self.class_info(outer)
                        return (info, node) if info is not None else None
                    if isinstance(outer, cst.FunctionDef):
                        return None
                return None
        return None

    # -- what export traces -------------------------------------------------------------
    def traced_functions(self) -> set[int]:
        """ids of the FunctionDefs torch.export traces: module forwards and what they call."""
        if self._traced is not None:
            return self._traced
        traced: set[int] = set()
        todo: list[tuple[cst.FunctionDef, ClassInfo | None]] = []
        labels = self._labels
        if self.reached is not None:
            todo = self._reached_functions()
        for info in self.classes.values() if self.reached is None else ():
            # The forward first: it is found in this file or not at all, while telling whether the
            # class is a module may read other files (its bases' sources).
            forward = self.find_method(info, "forward")
            if forward is not None and self.is_module_class_name(f"{self.module_name}.{info.name}"):
                todo.append((forward, info))
        module_functions = {
            node.name.value: node
            for node in self._top_level_statements(self.module.body)
            if isinstance(node, cst.FunctionDef)
        }
        while todo:
            function, owner = todo.pop()
            if id(function) in traced:
                continue
            traced.add(id(function))
            label = labels.get(id(function))
            for callee in _called_names(function):
                found = None
                if callee.startswith("self.") and owner is not None:
                    method = self.find_method(owner, callee[5:])
                    if method is not None:
                        found = (method, owner)
                elif callee in module_functions:
                    found = (module_functions[callee], None)
                if found is not None:
                    todo.append(found)
                    if label is not None:
                        labels.setdefault(id(found[0]), label)
        self._traced = traced
        return traced

    def _reached_functions(self) -> list[tuple[cst.FunctionDef, ClassInfo | None]]:
        """The functions export roots reach here (``self.reached``), labelled with their root."""
        reached = self.reached or {}
        found: list[tuple[cst.FunctionDef, ClassInfo | None]] = []
        if not reached:
            return found
        for node in self._top_level_statements(self.module.body):
            if isinstance(node, cst.FunctionDef) and node.name.value in reached:
                found.append((node, None))
                self._labels.setdefault(id(node), reached[node.name.value])
        for qualname, info in self.all_classes():
            for name, method in info.methods.items():
                label = reached.get(f"{qualname}.{name}")
                if label is not None:
                    found.append((method, info))
                    self._labels.setdefault(id(method), label)
                    self.traced_holders.update(self._enclosing_functions.get(id(info.node), ()))
        return found

    def function_qualname(self, node: cst.FunctionDef) -> str:
        """The qualname (``Model.forward``, as ``analysis.index`` names it) of a function the engine
        is visiting; a function inside another function gets its bare name."""
        for parent in reversed(self.stack):
            if parent is node:
                continue
            if type(parent) is cst.ClassDef:
                for qualname, info in self.all_classes():
                    if info.node is parent:
                        return f"{qualname}.{node.name.value}"
                break
            if type(parent) is cst.FunctionDef:
                break
        return node.name.value

    def root_label(self, stack: list[cst.CSTNode] | None = None) -> str | None:
        """The export root that makes the innermost traced function around a node traced."""
        if self.reached is None:
            return None
        self.traced_functions()
        for node in reversed(self.stack if stack is None else stack):
            if type(node) is cst.FunctionDef:
                label = self._labels.get(id(node))
                if label is not None:
                    return label
        return None

    def is_traced(self, function: cst.FunctionDef) -> bool:
        return id(function) in self.traced_functions()

    def in_traced_code(self, stack: list[cst.CSTNode] | None = None) -> bool:
        """Whether the current node lies in a function export traces."""
        if stack is not None:
            return any(type(node) is cst.FunctionDef and self.is_traced(node) for node in reversed(stack))
        if not self.scope_stack:
            return False
        key = id(self.scope_stack[-1])
        found = self._traced_scopes.get(key)
        if found is None:
            traced = self.traced_functions()
            found = self._traced_scopes[key] = any(
                type(node) is cst.FunctionDef and id(node) in traced for node in self.scope_stack
            )
        return found

    def constructed_class(self, expr: cst.BaseExpression, before: cst.CSTNode | None = None) -> str | None:
        """The qualified class an expression's object was built from, following names assigned
        earlier in the current scope: ``X(...)``, ``X.from_pretrained(...)``, ``X.from_config(...)``,
        and methods returning the module itself (``model.eval()``, ``.to(device)``)."""
        scope = self.scopes()[0]
        return self._constructed(expr, self.assignments_before(scope, before), 0)

    def assignments_before(self, scope: cst.CSTNode, before: cst.CSTNode | None) -> list[cst.Assign]:
        """The assignments of a scope, in source order, up to the node ``before`` (all of them when
        ``before`` is not in the scope's own code). The scope is walked once per file, however many
        export calls ask."""
        positions, assignments = self._assignment_walk(scope)
        cut = positions.get(id(before)) if before is not None else None
        if cut is None:
            return [node for _, node in assignments]
        return [node for _, node in assignments[: bisect.bisect_left(assignments, cut, key=lambda item: item[0])]]

    def _assignment_walk(self, scope: cst.CSTNode) -> tuple[dict[int, int], list[tuple[int, cst.Assign]]]:
        """Each node of the scope's own code (nested functions, classes and lambdas not entered;
        whitespace and punctuation left out) with its position in a walk of it, and the
        assignments with theirs."""
        found = self._assignment_walks.get(id(scope))
        if found is not None:
            return found
        positions: dict[int, int] = {}
        assignments: list[tuple[int, cst.Assign]] = []
        for node in descendants(scope, SCOPE_TYPES):
            position = positions.setdefault(id(node), len(positions))  # a shared node: its first visit
            if type(node) is cst.Assign:
                assignments.append((position, node))
        found = self._assignment_walks[id(scope)] = (positions, assignments)
        return found

    def _constructed(self, expr: cst.BaseExpression, assigns: list[cst.Assign], depth: int) -> str | None:
        if depth > 8:
            return None
        if isinstance(expr, cst.Name):
            for index in range(len(assigns) - 1, -1, -1):
                targets = [dotted_name(target.target) for target in assigns[index].targets]
                if expr.value in targets:
                    return self._constructed(assigns[index].value, assigns[:index], depth + 1)
            return None
        if not isinstance(expr, cst.Call):
            return None
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in MODULE_SELF_METHODS:
            found = self._constructed(func.value, assigns, depth + 1)
            if found is not None:
                return found
        qualified = self.qualified_name(func)
        if qualified is None:
            return None
        owner, _, method = qualified.rpartition(".")
        if method in {"from_pretrained", "from_config", "_from_config"}:
            return owner
        return qualified if method[:1].isupper() else None

    # -- Hugging Face objects -------------------------------------------------------------
    # A tokenizer is known by where it comes from, never by the name it is stored under: a call of a
    # ``transformers`` tokenizer/processor class (``BertTokenizerFast(...)``) or of its
    # ``from_pretrained``, a name or ``self.attr`` assigned from such a call (or from a function of
    # this file that returns one), or a parameter annotated with such a class.
    @property
    def mentions_tokenizers(self) -> bool:
        """Whether the file can refer to a tokenizer class at all. Every tokenizer the model knows
        of is traced back to a ``transformers``/``tokenizers`` class whose name has one of
        ``TOKENIZER_CLASS_SUFFIXES``: the file says that suffix and imports from one of those
        packages (or star-imports, which may bind them unseen)."""
        found = self.__dict__.get("_mentions_tokenizers")
        if found is None:
            imports = self.imports
            found = any(suffix in self.text for suffix in TOKENIZER_CLASS_SUFFIXES) and (
                imports.star or not imports.roots.isdisjoint(TOKENIZER_PACKAGES)
            )
            self.__dict__["_mentions_tokenizers"] = found
        return found

    def is_tokenizer_factory(self, expr: cst.BaseExpression, stack: list[cst.CSTNode] | None = None) -> bool:
        """Whether an expression creates a tokenizer (``AutoTokenizer.from_pretrained(...)``)."""
        if not isinstance(expr, cst.Call) or not self.mentions_tokenizers:
            return False
        qualified = self.qualified_name(expr.func, stack)
        if qualified is not None and qualified.endswith(".from_pretrained"):
            qualified = qualified.rsplit(".", 1)[0]
        if is_tokenizer_class_name(qualified):
            return True
        # ``init_tokenizer()``: a function of this file whose every return is a tokenizer.
        if isinstance(expr.func, cst.Name):
            binding = self.binding(expr.func.value, stack)
            if binding.kind == "function" and isinstance(binding.node, cst.FunctionDef):
                return self._returns_tokenizer(binding.node)
        return False

    def _returns_tokenizer(self, function: cst.FunctionDef) -> bool:
        cache: dict[int, bool] = self.__dict__.setdefault("_returns_tokenizer_cache", {})
        if id(function) not in cache:
            cache[id(function)] = False  # guards against recursion
            returns = [node.value for node in nodes_in(function.body, cst.Return) if node.value is not None]
            stack = [self.module, function]
            cache[id(function)] = bool(returns) and all(self.is_tokenizer(value, stack) for value in returns)
        return cache[id(function)]

    def is_tokenizer(
        self, expr: cst.BaseExpression, stack: list[cst.CSTNode] | None = None, owner: ClassInfo | None = None
    ) -> bool:
        """Whether an expression evaluates to a Hugging Face tokenizer or processor instance."""
        if not self.mentions_tokenizers:
            return False
        stack = self.stack if stack is None else stack
        if self.is_tokenizer_factory(expr, stack):
            return True
        if isinstance(expr, cst.Name):
            binding = self.binding(expr.value, stack)
            if binding.kind == "param" and isinstance(binding.node, cst.Param):
                annotation = binding.node.annotation
                return annotation is not None and is_tokenizer_class_name(
                    self.qualified_name(annotation.annotation, stack)
                )
            if binding.kind == "assign" and isinstance(binding.node, cst.Assign):
                return self.is_tokenizer_factory(binding.node.value, stack)
            return False
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
            if owner is None:
                enclosing = self.enclosing_method(stack)
                owner = enclosing[0] if enclosing is not None else None
            return owner is not None and self._attribute_is_tokenizer(owner, expr.attr.value)
        return False

    def _attribute_is_tokenizer(self, owner: ClassInfo, attribute: str) -> bool:
        """Whether some method of the class (or its bases here) assigns ``self.attribute`` a tokenizer."""
        cache: dict[int, set[str]] = self.__dict__.setdefault("_tokenizer_attributes", {})
        found = cache.get(id(owner.node))
        if found is None:
            found = set()
            cache[id(owner.node)] = found  # guards against recursion through the class's own methods
            for info in self.class_and_local_bases(owner):
                for method in info.methods.values():
                    for assign in nodes_in(method.body, cst.Assign):
                        for target in assign.targets:
                            name = dotted_name(target.target)
                            if (
                                name is not None
                                and name.startswith("self.")
                                and name.count(".") == 1
                                and self.is_tokenizer(assign.value, [self.module, info.node, method], info)
                            ):
                                found.add(name[5:])
        return attribute in found

    def class_and_local_bases(self, info: ClassInfo) -> list[ClassInfo]:
        found: list[ClassInfo] = []
        todo = [info]
        while todo:
            current = todo.pop(0)
            if current in found:
                continue
            found.append(current)
            for base in current.base_names:
                if base and base.startswith(f"{self.module_name}."):
                    base_info = self.classes.get(base[len(self.module_name) + 1 :])
                    if base_info is not None:
                        todo.append(base_info)
        return found

    def is_tokenizer_call(
        self, call: cst.Call, stack: list[cst.CSTNode] | None = None, owner: ClassInfo | None = None
    ) -> bool:
        """Whether a call tokenizes text: ``tok(text, ...)`` or ``tok.encode(...)`` on a tokenizer."""
        func = call.func
        if self.is_tokenizer(func, stack, owner):
            return True
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value in TOKENIZING_METHODS
            and self.is_tokenizer(func.value, stack, owner)
        )

    def owner_of(self, function: cst.FunctionDef) -> ClassInfo | None:
        """The module-level class that defines a method, if any."""
        for info in self.classes.values():
            if any(method is function for method in info.methods.values()):
                return info
        return None

    def traced_from(self, info: ClassInfo) -> list[cst.FunctionDef]:
        """The functions exporting an instance of a class of this file traces: its forward and callees."""
        forward = self.find_method(info, "forward")
        if forward is None:
            return []
        module_functions = {
            node.name.value: node
            for node in self._top_level_statements(self.module.body)
            if isinstance(node, cst.FunctionDef)
        }
        found: list[cst.FunctionDef] = []
        todo: list[cst.FunctionDef] = [forward]
        while todo:
            function = todo.pop()
            if any(function is seen for seen in found):
                continue
            found.append(function)
            for callee in _called_names(function):
                if callee.startswith("self."):
                    method = self.find_method(info, callee[5:])
                    if method is not None:
                        todo.append(method)
                elif callee in module_functions:
                    todo.append(module_functions[callee])
        return found


#: Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset({"eval", "train", "to", "cpu", "cuda", "float", "half", "double", "requires_grad_"})
#: ``transformers`` class-name endings of tokenizers and processors (they all preprocess in Python).
TOKENIZER_CLASS_SUFFIXES = ("Tokenizer", "TokenizerFast", "TokenizerBase", "Processor")
#: The packages tokenizer classes come from (see ``is_tokenizer_class_name``).
TOKENIZER_PACKAGES = frozenset({"transformers", "tokenizers"})
#: Tokenizer methods that turn text into ids (calling the tokenizer itself is the common one).
TOKENIZING_METHODS = frozenset({"encode", "encode_plus", "batch_encode_plus", "apply_chat_template", "pad"})


def is_tokenizer_class_name(qualified: str | None) -> bool:
    """A ``transformers`` (or ``tokenizers``) class that tokenizes: ``transformers.BertTokenizerFast``."""
    if qualified is None:
        return False
    if qualified in {"tokenizers.Tokenizer"}:
        return True
    return qualified.startswith("transformers.") and qualified.rsplit(".", 1)[-1].endswith(TOKENIZER_CLASS_SUFFIXES)


def nodes_in(root: cst.CSTNode, kind: type) -> list:
    """Nodes of one kind under ``root``, without entering nested functions, classes or lambdas."""
    return [node for node in descendants(root, SCOPE_TYPES) if isinstance(node, kind)]


class _CallCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted_name(node.func)
        if name is not None:
            self.names.append(name)


def _called_names(function: cst.FunctionDef) -> list[str]:
    collector = _CallCollector()
    visit(function.body, collector)
    return collector.names
