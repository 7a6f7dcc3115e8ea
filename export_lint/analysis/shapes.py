"""What example tensors look like: a small straight-line value flow through one scope.

Rules about dynamic shapes ask "what shape does this example input have?" and "where is the
exported program called, and with what?". :class:`ScopeFlow` answers by walking the statements of
one function (or of a module-level script) in order, binding names to the few values it can know:

- tensors made by ``torch.randn/rand/zeros/ones/empty/full/randint/tensor`` with literal sizes,
  reshaped by ``np.transpose``, ``.permute``, ``.transpose``, ``.unsqueeze``, ``.squeeze``,
  ``.reshape``/``.view`` and kept by ``.to``, ``.float()``, ``.clone()``, ...;
- tuples of such values (the ``args`` of an export), ints, ``torch.export.Dim`` objects;
- module instances (``Model()``, ``Model.from_pretrained(...)``, a factory annotated ``-> Model``);
- exported programs (``torch.export.export(...)``) and their ``.module()``.

Anything else is unknown, and a name assigned in a branch or a loop becomes unknown after it:
rules stay silent on what this module cannot know.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator

import libcst as cst

from export_lint.analysis import external
from export_lint.analysis.semantic import SemanticModel, file_cache
from export_lint.analysis.semantic import assigned_names as target_names
from export_lint.analysis.torch_names import EXPORT_FUNCTIONS
from export_lint.traversal import visit

# -- values -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TensorValue:
    """A tensor of known rank; a size is None where it is unknown."""

    sizes: tuple[int | None, ...]
    #: The integer literal each size was written as, where there is one (for suggested edits).
    origins: tuple[cst.CSTNode | None, ...] = dataclasses.field(repr=False, compare=False)

    def same_sizes(self, other: TensorValue) -> bool:
        return self.sizes == other.sizes


@dataclasses.dataclass(frozen=True)
class IntValue:
    value: int
    origin: cst.CSTNode | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class TupleValue:
    items: tuple[Value | None, ...]
    #: The tuple or list literal written in the source, when there is one.
    node: cst.CSTNode | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class DimValue:
    """``Dim("name", min=, max=)`` (kind "dim") or ``Dim.DYNAMIC``/``Dim.AUTO``/``Dim.STATIC``."""

    kind: str
    node: cst.CSTNode


@dataclasses.dataclass(frozen=True)
class DictValue:
    node: cst.Dict


@dataclasses.dataclass(frozen=True)
class ModuleInstance:
    """An instance of an ``nn.Module`` class, named as the file at ``importer`` would import it
    (``importer`` None: a class of the linted file)."""

    qualified: str
    importer: str | None


@dataclasses.dataclass(frozen=True)
class ExportedProgram:
    call: cst.Call


@dataclasses.dataclass(frozen=True)
class ExportedModule:
    """``ep.module()``: calling it runs the exported graph behind its shape guards."""

    call: cst.Call


Value = TensorValue | IntValue | TupleValue | DimValue | DictValue | ModuleInstance | ExportedProgram | ExportedModule
Env = dict[str, Value]

_FACTORIES = frozenset({"randn", "rand", "zeros", "ones", "empty"})
_LIKE = frozenset({"randn_like", "rand_like", "zeros_like", "ones_like", "empty_like", "full_like", "randint_like"})
#: Tensor methods that keep the shape.
_SAME_SHAPE_METHODS = frozenset(
    {
        "to",
        "float",
        "double",
        "half",
        "bfloat16",
        "int",
        "long",
        "bool",
        "cpu",
        "cuda",
        "contiguous",
        "clone",
        "detach",
        "requires_grad_",
        "type",
        "abs",
        "neg",
        "sin",
        "cos",
        "exp",
        "sigmoid",
        "relu",
        "tanh",
    }
)
#: Module methods that return the module itself.
_MODULE_SELF_METHODS = frozenset({"eval", "train", "to", "cpu", "cuda", "float", "half", "double", "requires_grad_"})
_DIM_NAMES = frozenset({"torch.export.Dim", "torch.export.dynamic_shapes.Dim"})


# -- the export call's arguments --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExportCall:
    """The parts of a ``torch.export.export(mod, args, kwargs, *, dynamic_shapes=...)`` call."""

    call: cst.Call
    target: cst.BaseExpression | None
    args: cst.BaseExpression | None
    kwargs: cst.BaseExpression | None
    dynamic_shapes: cst.Arg | None


def export_call_parts(call: cst.Call) -> ExportCall:
    positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
    keywords = {arg.keyword.value: arg for arg in call.args if arg.keyword is not None}

    def pick(index: int, name: str) -> cst.BaseExpression | None:
        if name in keywords:
            return keywords[name].value
        return positional[index] if len(positional) > index else None

    return ExportCall(call, pick(0, "mod"), pick(1, "args"), pick(2, "kwargs"), keywords.get("dynamic_shapes"))


def has_star_arguments(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


# -- the flow through one scope ---------------------------------------------------------------


@dataclasses.dataclass
class ExportEvent:
    """An export call and the names known just before it ran."""

    call: cst.Call
    env: Env


@dataclasses.dataclass
class Invocation:
    """A call of an exported module, with the values of its positional arguments."""

    call: cst.Call
    export: cst.Call
    args: tuple[Value | None, ...] | None  # None when a ``*rest`` could not be expanded


class _AssignedNames(cst.CSTVisitor):
    """Names a statement (and the blocks inside it) binds, without entering nested scopes."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def _targets(self, target: cst.BaseExpression) -> None:
        self.names.update(target_names(target))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._targets(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._targets(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._targets(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._targets(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._targets(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._targets(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._targets(node.target)

    def visit_Call(self, node: cst.Call) -> None:
        # ``x.unsqueeze_(0)``: an in-place method may change the shape of ``x``.
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value.endswith("_"):
            self.names.add(func.value.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        return False


def assigned_names(node: cst.CSTNode) -> set[str]:
    collector = _AssignedNames()
    visit(node, collector)
    return collector.names


class _Calls(cst.CSTVisitor):
    """Calls in one simple statement, in evaluation order (callee first), outside nested scopes."""

    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return False

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return False

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return False


class ScopeFlow:
    """Values of names along the statements of one scope, the export calls, and the calls of their modules."""

    def __init__(self, semantic: SemanticModel, stack: list[cst.CSTNode], initial: Env | None = None) -> None:
        self.semantic = semantic
        self.stack = stack
        self.exports: dict[int, ExportEvent] = {}
        self.invocations: list[Invocation] = []
        scope = stack[-1]
        env: Env = dict(initial or {})
        body = scope.body.body if isinstance(scope, cst.FunctionDef) else getattr(scope, "body", [])
        if isinstance(body, cst.BaseSuite):
            body = body.body
        self._block(body, env)
        #: What is known when the scope's last statement has run.
        self.final_env = env

    # -- statements ---------------------------------------------------------------------
    def _block(self, statements, env: Env) -> None:
        for statement in statements:
            self._statement(statement, env)

    def _statement(self, statement: cst.CSTNode, env: Env) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self._simple(small, env)
        elif isinstance(statement, cst.If):
            branch = dict(env)
            self._block(statement.body.body, branch)
            other = dict(env)
            if isinstance(statement.orelse, cst.If):
                self._statement(statement.orelse, other)
            elif isinstance(statement.orelse, cst.Else):
                self._block(statement.orelse.body.body, other)
            self._forget(env, assigned_names(statement))
        elif isinstance(statement, (cst.For, cst.While)):
            # A loop body runs with whatever an earlier iteration left behind.
            names = assigned_names(statement)
            self._forget(env, names)
            inner = dict(env)
            self._block(statement.body.body, inner)
            if statement.orelse is not None:
                self._block(statement.orelse.body.body, dict(env))
            self._forget(env, names)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self._scan(item.item, env)
            self._forget(env, {n for item in statement.items if item.asname for n in assigned_names(item.asname)})
            self._block(statement.body.body, env)
        elif isinstance(statement, cst.Try):
            self._block(statement.body.body, env)
            for handler in statement.handlers:
                self._block(handler.body.body, dict(env))
            if statement.orelse is not None:
                self._block(statement.orelse.body.body, dict(env))
            if statement.finalbody is not None:
                self._block(statement.finalbody.body.body, dict(env))
            self._forget(
                env, {n for part in (*statement.handlers, statement.orelse) if part for n in assigned_names(part)}
            )
            if statement.finalbody is not None:
                self._forget(env, assigned_names(statement.finalbody))
        else:  # function and class definitions, match, ...
            self._forget(env, assigned_names(statement))

    @staticmethod
    def _forget(env: Env, names: set[str]) -> None:
        for name in names:
            env.pop(name, None)

    def _simple(self, small: cst.BaseSmallStatement, env: Env) -> None:
        self._scan(small, env)
        if isinstance(small, cst.Assign):
            value = self.evaluate(small.value, env)
            for target in small.targets:
                self._bind(target.target, value, env)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind(small.target, self.evaluate(small.value, env), env)
        else:
            self._forget(env, assigned_names(small))

    def _bind(self, target: cst.BaseExpression, value: Value | None, env: Env) -> None:
        if isinstance(target, cst.Name):
            if value is None:
                env.pop(target.value, None)
            else:
                env[target.value] = value
            return
        if (
            isinstance(target, (cst.Tuple, cst.List))
            and isinstance(value, TupleValue)
            and len(value.items) == len(target.elements)
            and not any(isinstance(e, cst.StarredElement) for e in target.elements)
        ):
            for element, item in zip(target.elements, value.items, strict=True):
                self._bind(element.value, item, env)
            return
        # Attribute and subscript targets (``x[0] = ...``) leave names alone: shapes do not change.
        collector = _AssignedNames()
        collector._targets(target)
        self._forget(env, collector.names)

    def _scan(self, node: cst.CSTNode, env: Env) -> None:
        """Record export calls and calls of exported modules in one statement."""
        collector = _Calls()
        visit(node, collector)
        for call in collector.calls:
            if self.semantic.qualified_name(call.func, self.stack) in EXPORT_FUNCTIONS:
                self.exports[id(call)] = ExportEvent(call, dict(env))
                continue
            callee = self.evaluate(call.func, env)
            if isinstance(callee, ExportedModule):
                self.invocations.append(Invocation(call, callee.call, self.positional_values(call.args, env)))

    def positional_values(self, args, env: Env) -> tuple[Value | None, ...] | None:
        values: list[Value | None] = []
        for arg in args:
            if arg.keyword is not None or arg.star == "**":
                continue
            value = self.evaluate(arg.value, env)
            if arg.star == "*":
                if not isinstance(value, TupleValue):
                    return None
                values.extend(value.items)
            else:
                values.append(value)
        return tuple(values)

    # -- expressions --------------------------------------------------------------------
    def qualified(self, expr: cst.BaseExpression) -> str | None:
        return self.semantic.qualified_name(expr, self.stack)

    def evaluate(self, expr: cst.BaseExpression, env: Env) -> Value | None:
        if isinstance(expr, cst.Name):
            return env.get(expr.value)
        if isinstance(expr, cst.Integer):
            return IntValue(int(expr.value, 0), expr)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self.evaluate(expr.expression, env)
            return IntValue(-inner.value) if isinstance(inner, IntValue) else None
        if isinstance(expr, (cst.Tuple, cst.List)):
            return self._sequence(expr.elements, env, expr)
        if isinstance(expr, cst.Dict):
            return DictValue(expr)
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr, env)
        if isinstance(expr, cst.BinaryOperation):
            return self._binary(expr, env)
        if isinstance(expr, cst.Attribute):
            qualified = self.qualified(expr)
            if qualified and qualified.rpartition(".")[0] in _DIM_NAMES:
                kind = qualified.rpartition(".")[2]
                return DimValue(kind, expr) if kind in {"DYNAMIC", "AUTO", "STATIC"} else None
            return None
        if isinstance(expr, cst.Call):
            return self._call(expr, env)
        return None

    def _sequence(self, elements, env: Env, node: cst.CSTNode | None = None) -> TupleValue | None:
        items: list[Value | None] = []
        for element in elements:
            value = self.evaluate(element.value, env)
            if isinstance(element, cst.StarredElement):
                if not isinstance(value, TupleValue):
                    return None
                items.extend(value.items)
                node = None
            else:
                items.append(value)
        return TupleValue(tuple(items), node)

    def _subscript(self, expr: cst.Subscript, env: Env) -> Value | None:
        container = self.evaluate(expr.value, env)
        if not isinstance(container, TupleValue) or len(expr.slice) != 1:
            return None
        index = expr.slice[0].slice
        if isinstance(index, cst.Index):
            position = self.evaluate(index.value, env)
            if isinstance(position, IntValue) and -len(container.items) <= position.value < len(container.items):
                return container.items[position.value]
        return None

    def _binary(self, expr: cst.BinaryOperation, env: Env) -> Value | None:
        left, right = self.evaluate(expr.left, env), self.evaluate(expr.right, env)
        if isinstance(left, IntValue) and isinstance(right, IntValue):
            if isinstance(expr.operator, cst.Multiply):
                return IntValue(left.value * right.value)
            if isinstance(expr.operator, cst.Add):
                return IntValue(left.value + right.value)
            return None
        numbers = (cst.Integer, cst.Float)
        if isinstance(left, TensorValue) and (isinstance(expr.right, numbers) or isinstance(right, IntValue)):
            return left
        if isinstance(right, TensorValue) and (isinstance(expr.left, numbers) or isinstance(left, IntValue)):
            return right
        if isinstance(left, TensorValue) and isinstance(right, TensorValue) and left.same_sizes(right):
            return left
        return None

    def _call(self, call: cst.Call, env: Env) -> Value | None:
        qualified = self.qualified(call.func)
        if qualified in EXPORT_FUNCTIONS:
            return ExportedProgram(call)
        if qualified is not None:
            found = self._qualified_call(qualified, call, env)
            if found is not None:
                return found
        if isinstance(call.func, cst.Attribute):
            receiver = self.evaluate(call.func.value, env)
            method = call.func.attr.value
            if isinstance(receiver, TensorValue):
                return _tensor_method(receiver, method, self._int_args(call, env))
            if isinstance(receiver, ExportedProgram) and method == "module" and not call.args:
                return ExportedModule(receiver.call)
            if isinstance(receiver, ModuleInstance) and method in _MODULE_SELF_METHODS:
                return receiver
        return None

    def _qualified_call(self, qualified: str, call: cst.Call, env: Env) -> Value | None:
        module, _, function = qualified.rpartition(".")
        positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        keywords = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
        if any(arg.star for arg in call.args):
            return None
        if module == "torch":
            if function in _FACTORIES:
                if "size" in keywords:
                    return self._tensor_of_sizes([keywords["size"]], env)
                return self._tensor_of_sizes(positional, env)
            if function == "full" and positional:
                return self._tensor_of_sizes(positional[:1], env)
            if function == "randint":
                size = keywords.get("size") or (positional[-1] if len(positional) in (2, 3) else None)
                return self._tensor_of_sizes([size], env) if size is not None else None
            if function == "tensor" and positional:
                return _literal_tensor(positional[0])
            if function in _LIKE and positional:
                found = self.evaluate(positional[0], env)
                return found if isinstance(found, TensorValue) else None
            if function in {"permute", "transpose", "unsqueeze", "squeeze", "reshape"} and positional:
                tensor = self.evaluate(positional[0], env)
                if isinstance(tensor, TensorValue):
                    rest = cst.Call(call.func, [cst.Arg(value) for value in positional[1:]])
                    return _tensor_method(tensor, function, self._int_args(rest, env))
            return None
        if qualified == "numpy.transpose" and positional:
            tensor = self.evaluate(positional[0], env)
            axes = keywords.get("axes") or (positional[1] if len(positional) > 1 else None)
            if isinstance(tensor, TensorValue) and axes is not None:
                order = self.evaluate(axes, env)
                if isinstance(order, TupleValue):
                    return _permute(tensor, _ints(order.items))
            return None
        if qualified in _DIM_NAMES:
            return DimValue("dim", call)
        return self._module_instance(qualified, call)

    def _module_instance(self, qualified: str, call: cst.Call) -> ModuleInstance | None:
        """``Model(...)``, ``Model.from_pretrained(...)`` or a factory function annotated ``-> Model``."""
        semantic = self.semantic
        local = f"{semantic.module_name}."
        owner, _, method = qualified.rpartition(".")
        if method in {"from_pretrained", "from_config", "_from_config"}:
            qualified = owner
        if semantic.is_module_class_name(qualified):
            return ModuleInstance(qualified, None if qualified.startswith(local) else semantic.path)
        if qualified.startswith(local) or qualified.startswith("torch."):
            return None
        returned = external.function_return_class(qualified, semantic.path)
        if returned is not None and external.is_module_class(*returned):
            return ModuleInstance(*returned)
        return None

    def _tensor_of_sizes(self, arguments: list[cst.BaseExpression], env: Env) -> TensorValue | None:
        if len(arguments) == 1:
            single = self.evaluate(arguments[0], env)
            if isinstance(single, TupleValue):
                return _tensor(single.items)
            if not isinstance(single, IntValue):
                return None  # ``torch.randn(shape)``: not even the rank is known
        return _tensor([self.evaluate(argument, env) for argument in arguments])

    def _int_args(self, call: cst.Call, env: Env) -> list[int] | None:
        values: list[Value | None] = []
        for arg in call.args:
            if arg.star or arg.keyword is not None:
                return None
            values.append(self.evaluate(arg.value, env))
        if len(values) == 1 and isinstance(values[0], TupleValue):
            values = list(values[0].items)
        return _ints(values)


def _ints(values) -> list[int] | None:
    if all(isinstance(value, IntValue) for value in values):
        return [value.value for value in values]
    return None


def _tensor(values) -> TensorValue | None:
    """A tensor whose sizes are these values: ints where known, None where not."""
    if not values:
        return None
    sizes = tuple(v.value if isinstance(v, IntValue) else None for v in values)
    if any(size is not None and size < 0 for size in sizes):
        return None
    return TensorValue(sizes, tuple(v.origin if isinstance(v, IntValue) else None for v in values))


def _literal_tensor(expr: cst.BaseExpression) -> TensorValue | None:
    """The shape of ``torch.tensor([[1, 2], [3, 4]])``; None for ragged or non-literal data."""

    def shape(node: cst.BaseExpression) -> tuple[int, ...] | None:
        if isinstance(node, (cst.Integer, cst.Float)):
            return ()
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return shape(node.expression)
        if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
            if any(isinstance(element, cst.StarredElement) for element in node.elements):
                return None
            inner = {shape(element.value) for element in node.elements}
            if len(inner) != 1 or None in inner:
                return None
            return (len(node.elements), *inner.pop())
        return None

    sizes = shape(expr)
    if not sizes:
        return None
    return TensorValue(sizes, (None,) * len(sizes))


def _permute(tensor: TensorValue, order: list[int] | None) -> TensorValue | None:
    rank = len(tensor.sizes)
    if order is None or sorted(d % rank for d in order) != list(range(rank)) or len(order) != rank:
        return None
    order = [d % rank for d in order]
    return TensorValue(tuple(tensor.sizes[d] for d in order), tuple(tensor.origins[d] for d in order))


def _tensor_method(tensor: TensorValue, method: str, ints: list[int] | None) -> TensorValue | None:
    sizes, origins, rank = list(tensor.sizes), list(tensor.origins), len(tensor.sizes)
    if method in _SAME_SHAPE_METHODS:
        return tensor
    if ints is None:
        return None
    if method == "permute":
        return _permute(tensor, ints)
    if method == "transpose" and len(ints) == 2 and all(-rank <= d < rank for d in ints):
        a, b = (d % rank for d in ints)
        sizes[a], sizes[b] = sizes[b], sizes[a]
        origins[a], origins[b] = origins[b], origins[a]
        return TensorValue(tuple(sizes), tuple(origins))
    if method == "unsqueeze" and len(ints) == 1 and -rank - 1 <= ints[0] <= rank:
        at = ints[0] % (rank + 1)
        return TensorValue((*sizes[:at], 1, *sizes[at:]), (*origins[:at], None, *origins[at:]))
    if method == "squeeze" and len(ints) == 1 and -rank <= ints[0] < rank:
        at = ints[0] % rank
        if sizes[at] is None:
            return None
        if sizes[at] != 1:
            return tensor
        return TensorValue((*sizes[:at], *sizes[at + 1 :]), (*origins[:at], *origins[at + 1 :]))
    if method in {"reshape", "view"} and ints and all(d > 0 or d == -1 for d in ints) and ints.count(-1) <= 1:
        if None in sizes:
            return None
        total = 1
        for size in sizes:
            total *= size
        known = 1
        for d in ints:
            known *= d if d > 0 else 1
        if -1 in ints:
            if known == 0 or total % known:
                return None
            ints = [d if d > 0 else total // known for d in ints]
        elif known != total:
            return None
        return TensorValue(tuple(ints), (None,) * len(ints))
    return None


# -- one flow per scope, shared by every rule ------------------------------------------------

_FLOWS: weakref.WeakKeyDictionary[SemanticModel, dict[int, ScopeFlow]] = file_cache()


def _scope_stack(stack: list[cst.CSTNode]) -> list[cst.CSTNode] | None:
    """The stack down to the innermost function (or the module); None inside a lambda or class body."""
    for depth in range(len(stack) - 1, -1, -1):
        node = stack[depth]
        if isinstance(node, cst.FunctionDef):
            return stack[: depth + 1]
        if isinstance(node, (cst.Lambda, cst.ClassDef)):
            return None
    return stack[:1]


def flow_at(semantic: SemanticModel, stack: list[cst.CSTNode] | None = None) -> ScopeFlow | None:
    """The flow of the scope that holds the current node (the engine's stack), computed once."""
    scope_stack = _scope_stack(semantic.stack if stack is None else stack)
    if not scope_stack:
        return None
    flows = _FLOWS.setdefault(semantic, {})
    scope = scope_stack[-1]
    found = flows.get(id(scope))
    if found is None:
        initial = _module_constants(semantic) if isinstance(scope, cst.FunctionDef) else None
        if initial:
            local = semantic.bindings_of(scope)
            initial = {name: value for name, value in initial.items() if name not in local}
        found = ScopeFlow(semantic, scope_stack, initial)
        flows[id(scope)] = found
    return found


def export_event_at(semantic: SemanticModel, call: cst.Call) -> tuple[ScopeFlow, ExportEvent] | None:
    """The current scope's flow and what it knew just before the export ``call``; None where it was not followed."""
    flow = flow_at(semantic)
    event = flow.exports.get(id(call)) if flow is not None else None
    return None if event is None else (flow, event)


def dynamic_export_at(semantic: SemanticModel, call: cst.Call) -> tuple[ExportCall, ScopeFlow, ExportEvent] | None:
    """An export call passing both example args and ``dynamic_shapes``, with the flow just before it."""
    if not semantic.is_export_call(call):
        return None
    parts = export_call_parts(call)
    if parts.dynamic_shapes is None or parts.args is None:
        return None
    followed = export_event_at(semantic, call)
    return None if followed is None else (parts, *followed)


_CONSTANTS: weakref.WeakKeyDictionary[SemanticModel, Env] = file_cache()


def _module_constants(semantic: SemanticModel) -> Env:
    """Module-level names assigned exactly once at top level, with their known values (a copy of
    what is found once per file)."""
    found = _CONSTANTS.get(semantic)
    if found is None:
        found = _CONSTANTS[semantic] = _find_module_constants(semantic)
    return dict(found)


def _find_module_constants(semantic: SemanticModel) -> Env:
    module_flow = flow_at(semantic, [semantic.module])
    if module_flow is None:
        return {}
    counts: dict[str, int] = {}
    for statement in semantic.module.body:
        for name in assigned_names(statement):
            counts[name] = counts.get(name, 0) + 1
    return {name: value for name, value in module_flow.final_env.items() if counts.get(name) == 1}


def iter_tensors(value: Value | None) -> Iterator[TensorValue]:
    if isinstance(value, TensorValue):
        yield value
    elif isinstance(value, TupleValue):
        for item in value.items:
            yield from iter_tensors(item)


def target_forward_params(semantic: SemanticModel, flow: ScopeFlow, event: ExportEvent, target) -> list[str] | None:
    """Parameter names of the forward of an export target, when its class can be known.

    The target is a module instance the flow knows (``Model()``, ``mvit_v1_b(...)``, a name bound to
    one), or ``self`` inside an ``nn.Module`` subclass's method.
    """
    if target is None:
        return None
    value = flow.evaluate(target, event.env)
    if isinstance(value, ModuleInstance):
        return semantic.forward_params(value.qualified, value.importer)
    if isinstance(target, cst.Name) and target.value == "self":
        enclosing = semantic.enclosing_method()
        if enclosing is None:
            return None
        info, method = enclosing
        params = method.params.params
        qualified = f"{semantic.module_name}.{info.name}"
        if params and params[0].name.value == "self" and semantic.is_module_class_name(qualified):
            return semantic.forward_params(qualified)
    return None
