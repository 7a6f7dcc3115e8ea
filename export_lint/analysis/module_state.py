"""What the attributes of an ``nn.Module`` class hold, as far as its source says.

torch.export treats module state by kind: registered buffers and parameters are program inputs
(their in-place updates are part of the program), plain tensor attributes are lifted as constants
(mutating one breaks ``run_decompositions``), Python numbers are read once at trace time. Rules ask
``attribute_kinds(semantic, info)`` for ``{"name": kind}`` and ``is_inplace_tensor_method(name)``.
"""

from __future__ import annotations

import re
import weakref
from typing import Literal

import libcst as cst

from export_lint.analysis.semantic import ClassInfo, SemanticModel, file_cache
from export_lint.traversal import EXPRESSION_TYPES, descendants, visit, walk

Kind = Literal["buffer", "parameter", "module", "tensor", "python", "unknown"]

#: torch functions that build a new plain tensor.
TENSOR_FACTORIES = frozenset(
    f"torch.{name}"
    for name in (
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "tensor",
        "as_tensor",
        "arange",
        "linspace",
        "eye",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "from_numpy",
    )
)
_PARAMETERS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_BUFFERS = frozenset({"torch.nn.Buffer", "torch.nn.parameter.Buffer"})

#: Trailing-underscore methods that do not write tensor data.
_NOT_DATA_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad_"})
_INPLACE_METHOD = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]_$")
_TRAINING = frozenset({"training"})


_KINDS_CACHE: weakref.WeakKeyDictionary[SemanticModel, dict[str, dict[str, Kind]]] = file_cache()


def is_inplace_tensor_method(name: str) -> bool:
    """``add_``, ``copy_``, ``masked_fill_``... (PyTorch's naming convention for in-place ops)."""
    return bool(_INPLACE_METHOD.match(name)) and name not in _NOT_DATA_WRITES


def self_name(method: cst.FunctionDef) -> str | None:
    params = method.params.params
    return params[0].name.value if params else None


def self_attribute(expr: cst.BaseExpression, receiver: str | None) -> str | None:
    """``attr`` when ``expr`` is ``<receiver>.attr``, else None."""
    if (
        receiver is not None
        and isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.value.value == receiver
    ):
        return expr.attr.value
    return None


def traced_self_attribute(semantic: SemanticModel, expr: cst.BaseExpression) -> tuple[ClassInfo, str, str] | None:
    """``(class, receiver, attr)`` when ``expr`` is ``<receiver>.attr`` in a traced method of a class
    of this file (``receiver`` being the method's first parameter), else None."""
    if not semantic.in_traced_code():
        return None
    enclosing = semantic.enclosing_method()
    if enclosing is None:
        return None
    info, method = enclosing
    receiver = self_name(method)
    attribute = self_attribute(expr, receiver)
    if attribute is None:
        return None
    return info, receiver, attribute


def _is_python_scalar(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.UnaryOperation):
        return _is_python_scalar(expr.expression)
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    return isinstance(expr, cst.Name) and expr.value in {"True", "False"}


def _value_kind(semantic: SemanticModel, value: cst.BaseExpression) -> Kind:
    if _is_python_scalar(value):
        return "python"
    if isinstance(value, cst.Call):
        qualified = semantic.qualified_name(value.func, [semantic.module])
        if qualified in _PARAMETERS:
            return "parameter"
        if qualified in _BUFFERS:
            return "buffer"
        if qualified in TENSOR_FACTORIES:
            return "tensor"
        if semantic.is_module_class_name(qualified):
            return "module"
    return "unknown"


class _InitCollector(cst.CSTVisitor):
    """Collects ``self.x = ...`` and ``self.register_buffer/parameter("x", ...)`` in one method."""

    def __init__(self, semantic: SemanticModel, receiver: str) -> None:
        self.semantic = semantic
        self.receiver = receiver
        self.found: list[tuple[str, Kind, cst.CSTNode]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # nested functions have their own `self`, if any

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            name = self_attribute(target.target, self.receiver)
            if name is not None:
                self.found.append((name, _value_kind(self.semantic, node.value), node))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        name = self_attribute(node.target, self.receiver)
        if name is not None and node.value is not None:
            self.found.append((name, _value_kind(self.semantic, node.value), node))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        name = self_attribute(node.target, self.receiver)
        if name is not None:
            self.found.append((name, "unknown", node))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3:
            owner, name, value = (arg.value for arg in node.args)
            if isinstance(owner, cst.Name) and owner.value == self.receiver:
                if isinstance(name, cst.SimpleString):
                    self.found.append((name.evaluated_value, _value_kind(self.semantic, value), node))
                else:
                    self.found.append(("*", "unknown", node))
            return
        if not (isinstance(func, cst.Attribute) and self_attribute(func, self.receiver) is not None):
            return
        kind: Kind | None = {"register_buffer": "buffer", "register_parameter": "parameter"}.get(func.attr.value)
        registers = {"register_buffer", "register_parameter", "add_module", "register_module"}
        if not node.args:
            return
        if not isinstance(node.args[0].value, cst.SimpleString):
            if func.attr.value in registers:
                self.found.append(("*", "unknown", node))  # a computed name: any attribute may be registered
            return
        if kind is None:
            return
        self.found.append((node.args[0].value.evaluated_value, kind, node))


def _merge(kinds: list[Kind]) -> Kind:
    unique = set(kinds)
    return unique.pop() if len(unique) == 1 else "unknown"


def attribute_kinds(semantic: SemanticModel, info: ClassInfo) -> dict[str, Kind]:
    """Kind of each attribute the class (and its bases in this file) sets in ``__init__`` or class body.

    A name set in two ways, or a class whose ``__init__`` registers computed names (``"*"`` key), maps
    to ``"unknown"``; rules stay silent on those.
    """
    cache = _KINDS_CACHE.setdefault(semantic, {})
    cached = cache.get(info.name)
    if cached is not None:
        return cached
    collected: dict[str, list[Kind]] = {}
    for current in semantic.class_and_local_bases(info):
        for stmt in current.node.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for part in stmt.body:
                    if isinstance(part, cst.Assign):
                        for target in part.targets:
                            if isinstance(target.target, cst.Name):
                                kind = "python" if _is_python_scalar(part.value) else "unknown"
                                collected.setdefault(target.target.value, []).append(kind)
        init = current.methods.get("__init__")
        receiver = self_name(init) if init is not None else None
        if init is None or receiver is None:
            continue
        for name, kind, _node in _init_assignments(semantic, init, receiver):
            collected.setdefault(name, []).append(kind)
    kinds = {name: _merge(values) for name, values in collected.items()}
    if "*" in kinds:
        kinds = dict.fromkeys(kinds, "unknown")
    cache[info.name] = kinds
    return kinds


def _init_assignments(
    semantic: SemanticModel, init: cst.FunctionDef, receiver: str
) -> list[tuple[str, Kind, cst.CSTNode]]:
    """What ``_InitCollector`` finds in one ``__init__``, collected once per file."""
    cache: dict[int, list[tuple[str, Kind, cst.CSTNode]]] = semantic.__dict__.setdefault("_init_assignments", {})
    found = cache.get(id(init))
    if found is None:
        collector = _InitCollector(semantic, receiver)
        visit(init.body, collector)
        found = cache[id(init)] = collector.found
    return found


def init_assignment(semantic: SemanticModel, info: ClassInfo, attribute: str) -> cst.Assign | None:
    """The single ``self.<attribute> = value`` statement in the class's own ``__init__``, if exactly one."""
    init = info.methods.get("__init__")
    receiver = self_name(init) if init is not None else None
    if init is None or receiver is None:
        return None
    found = [node for name, _kind, node in _init_assignments(semantic, init, receiver) if name == attribute]
    return found[0] if len(found) == 1 and isinstance(found[0], cst.Assign) else None


def under_training_branch(stack: list[cst.CSTNode]) -> bool:
    """Whether the innermost node only runs when ``<x>.training`` is true, judged inside its function.

    Two shapes count: a branch whose condition implies training (``if self.training and p < q:``,
    the ``else`` of ``if not self.training:``), and code after an early exit taken when not training
    (``if not self.training: return x``). An exported model is usually in eval mode, so rules about
    state and trace-time values stay silent there.
    """
    for depth, node in enumerate(stack[:-1]):
        child = stack[depth + 1]
        if isinstance(node, (cst.If, cst.IfExp)):
            if child is node.body and implies_training(node.test):
                return True
            if child is node.orelse and falsy_implies_training(node.test):
                return True
        if isinstance(node, cst.BooleanOperation) and child is node.right:
            # Short-circuit: `self.training and <child>`, `not self.training or <child>`.
            left = node.left
            if implies_training(left) if isinstance(node.operator, cst.And) else falsy_implies_training(left):
                return True
        if isinstance(node, (cst.IndentedBlock, cst.Module)) and _after_training_exit(node.body, child):
            return True
    return False


def implies_training(expr: cst.BaseExpression) -> bool:
    """True when ``expr`` being truthy means ``<x>.training`` is true."""
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "training"
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return falsy_implies_training(expr.expression)
    if isinstance(expr, cst.BooleanOperation):
        left, right = implies_training(expr.left), implies_training(expr.right)
        return left or right if isinstance(expr.operator, cst.And) else left and right
    return False


def falsy_implies_training(expr: cst.BaseExpression) -> bool:
    """True when ``expr`` being falsy means ``<x>.training`` is true."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return implies_training(expr.expression)
    if isinstance(expr, cst.BooleanOperation):
        left, right = falsy_implies_training(expr.left), falsy_implies_training(expr.right)
        return left and right if isinstance(expr.operator, cst.And) else left or right
    return False


def _after_training_exit(body, child: cst.CSTNode) -> bool:
    for statement in body:
        if statement is child:
            return False
        if (
            isinstance(statement, cst.If)
            and statement.orelse is None
            and falsy_implies_training(statement.test)
            and _exits(statement.body)
        ):
            return True
    return False


def _exits(block: cst.BaseSuite) -> bool:
    statements = block.body if isinstance(block, cst.IndentedBlock) else [block]
    last = statements[-1] if statements else None
    if isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        return isinstance(last.body[-1], (cst.Return, cst.Raise, cst.Continue, cst.Break))
    return False


def mentions_attribute(expr: cst.CSTNode, names: frozenset[str]) -> bool:
    """Whether ``expr`` contains an attribute access ``<x>.<name>`` with ``name`` in ``names``."""
    found = False

    class _Finder(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            found = found or node.attr.value in names

    visit(expr, _Finder())
    return found


def mentions_training(expr: cst.CSTNode) -> bool:
    """Whether ``expr`` reads ``<x>.training``."""
    return mentions_attribute(expr, _TRAINING)


def mentions_name(expr: cst.CSTNode, name: str) -> bool:
    """Whether the name ``name`` occurs anywhere in ``expr``."""
    found = False

    class _Names(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            nonlocal found
            found = found or node.value == name

    visit(expr, _Names())
    return found


def _call_sites(semantic: SemanticModel) -> dict[str, list[list[cst.CSTNode]]]:
    """Every call ``f(...)`` / ``x.m(...)`` of a function or method defined in the file, with the
    stack above it; ``x.m`` is keyed ``.m``, whatever the receiver (``self``, ``cls``, the class)."""
    defined = {
        node.name.value for node in descendants(semantic.module, EXPRESSION_TYPES) if type(node) is cst.FunctionDef
    }
    wanted = defined | {f".{name}" for name in defined}
    stack: list[cst.CSTNode] = []
    sites: dict[str, list[list[cst.CSTNode]]] = {}

    def on_visit(node: cst.CSTNode) -> None:
        stack.append(node)
        if type(node) is cst.Call:
            func = node.func
            name = None
            if type(func) is cst.Name:
                name = func.value
            elif type(func) is cst.Attribute and type(func.value) is cst.Name:
                name = "." + func.attr.value
            if name in wanted:
                sites.setdefault(name, []).append(list(stack))

    walk(semantic.module, on_visit, lambda node: stack.pop())
    return sites


_TRAINING_ONLY_CACHE: weakref.WeakKeyDictionary[SemanticModel, dict[int, bool]] = file_cache()
_CALL_SITES_CACHE: weakref.WeakKeyDictionary[SemanticModel, dict] = file_cache()


def training_only(semantic: SemanticModel, stack: list[cst.CSTNode] | None = None) -> bool:
    """Whether the current node runs only in training mode: under a training branch of its own
    function, or in a function (or method) whose every call site in this file runs only in training.
    """
    stack = semantic.stack if stack is None else stack
    if under_training_branch(stack):
        return True
    function = next((node for node in reversed(stack) if isinstance(node, cst.FunctionDef)), None)
    if function is None:
        return False
    depth = stack.index(function)
    return _function_training_only(semantic, function, stack[:depth], set())


def _function_training_only(
    semantic: SemanticModel, function: cst.FunctionDef, outer: list[cst.CSTNode], visiting: set[int]
) -> bool:
    cache = _TRAINING_ONLY_CACHE.setdefault(semantic, {})
    key = id(function)
    if key in cache:
        return cache[key]
    if key in visiting or function.name.value in {"forward", "__call__"}:
        return False
    visiting.add(key)
    sites = _CALL_SITES_CACHE.get(semantic)
    if sites is None:
        sites = _CALL_SITES_CACHE[semantic] = _call_sites(semantic)
    is_method = len(outer) >= 2 and isinstance(outer[-2], cst.ClassDef)
    name = ("." if is_method else "") + function.name.value
    calls = sites.get(name, [])
    result = bool(calls) and all(_site_training_only(semantic, site, visiting) for site in calls)
    visiting.discard(key)
    cache[key] = result
    return result


def _site_training_only(semantic: SemanticModel, site: list[cst.CSTNode], visiting: set[int]) -> bool:
    if under_training_branch(site):
        return True
    for depth in range(len(site) - 1, -1, -1):
        if isinstance(site[depth], cst.FunctionDef):
            return _function_training_only(semantic, site[depth], site[:depth], visiting)
    return False
