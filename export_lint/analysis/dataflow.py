"""Which values in traced code come from tensor data, and which are sizes declared dynamic.

Rules about data-dependent control flow ask "is this expression a tensor derived from a forward
input?", "is this Python number read out of tensor data?" and "is this the size of a dim the
export call declared dynamic?". :class:`FunctionFlow` answers for one traced function with a small,
flow-insensitive analysis: parameters get a kind from their annotation, names get the kind every
assignment to them agrees on, and expressions combine their parts' kinds. Anything it cannot
classify is ``None`` (unknown), and rules stay silent on unknown values.

:func:`declared_dynamic_dims` reads the file's ``torch.export.export`` calls: for each local module
class exported with a literal ``dynamic_shapes``, which dims of which forward parameters are
dynamic (a ``Dim(...)`` or ``Dim.DYNAMIC``) and in what range.
"""

from __future__ import annotations

import dataclasses
import enum
import weakref

import libcst as cst

from export_lint import versions
from export_lint.analysis import torch_facts
from export_lint.analysis.semantic import SCOPE_TYPES, ClassInfo, SemanticModel, dotted_name, file_cache
from export_lint.traversal import TRIVIA_TYPES, children, descendants, walk


class Kind(enum.Enum):
    """What a value is, as far as the traced function shows."""

    #: A tensor computed from a forward input.
    TENSOR = "tensor"
    #: A tensor whose shape depends on tensor data (``nonzero``, boolean-mask indexing, ``unique``).
    DATA_SHAPED_TENSOR = "data-shaped tensor"
    #: A boolean tensor (a comparison of tensors): indexing with it gives a data-shaped tensor.
    BOOL_TENSOR = "bool tensor"
    #: A Python number (or list) read out of tensor data: ``.item()``, ``.tolist()``, ``int(t)``,
    #: or the size of a data-shaped tensor.
    DATA_SCALAR = "data-dependent scalar"
    #: The size of a dim the export call declares dynamic (an int; a SymInt while tracing).
    DYNAMIC_SIZE = "dynamic size"


TENSOR_KINDS = frozenset({Kind.TENSOR, Kind.DATA_SHAPED_TENSOR, Kind.BOOL_TENSOR})
DATA_DEPENDENT_KINDS = TENSOR_KINDS | {Kind.DATA_SCALAR}

_TENSOR_ANNOTATIONS = frozenset(
    {
        "torch.Tensor",
        "torch.FloatTensor",
        "torch.LongTensor",
        "torch.BoolTensor",
        "torch.IntTensor",
        "torch.HalfTensor",
        "torch.DoubleTensor",
        "torch.ByteTensor",
        "torch.BFloat16Tensor",
    }
)

_BOOL_METHODS = frozenset(
    [
        "bool",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "isnan",
        "isinf",
        "isfinite",
        "logical_and",
        "logical_or",
        "logical_not",
    ]
)
_SIZE_METHODS = frozenset({"size", "numel", "nelement"})
_TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag", "data"})

_TORCH_NAMESPACES = ("torch.", "torch.nn.functional.", "torch.linalg.", "torch.special.", "torch.fft.")
#: torch functions returning a Python bool computed from tensor data.
_TORCH_DATA_BOOL = frozenset({"equal", "allclose", "is_nonzero"})
_TORCH_BOOL = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "isnan", "isinf", "isfinite", "isin"})
_TORCH_SKIP_NAMESPACES = ("torch.jit.", "torch.cuda.", "torch.compiler.", "torch._C.", "torch._dynamo.", "torch.fx.")

#: Functions whose truth means "we are being traced/compiled": code guarded by them is not what
#: export runs, so rules stay silent under such a guard. Matched on the resolved name's last part.
COMPILE_GUARDS = frozenset(
    {
        "is_compiling",
        "is_exporting",
        "is_tracing",
        "is_scripting",
        "is_torchdynamo_compiling",
        "is_torchdynamo_exporting",
        "is_torch_fx_proxy",
        "is_fx_tracing",
        "is_dynamo_compiling",
    }
)


def _annotation_is_tensor(annotation: cst.BaseExpression) -> bool:
    """``torch.Tensor``, ``Tensor``, ``Optional[Tensor]``, ``Tensor | None`` and friends."""
    if isinstance(annotation, (cst.Name, cst.Attribute)):
        name = dotted_name(annotation) or ""
        return name in _TENSOR_ANNOTATIONS or name == "Tensor"
    if isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value if isinstance(annotation.evaluated_value, str) else ""
        try:
            return _annotation_is_tensor(cst.parse_expression(text))
        except Exception:
            return False
    if isinstance(annotation, cst.Subscript) and (dotted_name(annotation.value) or "").split(".")[-1] in {
        "Optional",
        "Union",
    }:
        parts = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        non_none = [p for p in parts if not (isinstance(p, cst.Name) and p.value == "None")]
        return bool(non_none) and all(_annotation_is_tensor(p) for p in non_none)
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        parts = [annotation.left, annotation.right]
        non_none = [p for p in parts if not (isinstance(p, cst.Name) and p.value == "None")]
        return bool(non_none) and all(_annotation_is_tensor(p) for p in non_none)
    return False


def int_literal(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = int_literal(expr.expression)
        return -inner if inner is not None else None
    return None


def _assignments(function: cst.FunctionDef) -> list[tuple[cst.BaseExpression, object, str]]:
    """(target, value, how) for every binding in a function body, without entering nested scopes."""
    pairs: list[tuple[cst.BaseExpression, object, str]] = []
    for node in descendants(function.body, SCOPE_TYPES):
        kind = type(node)
        if kind is cst.Assign:
            pairs.extend((target.target, node.value, "assign") for target in node.targets)
        elif kind is cst.AnnAssign or kind is cst.NamedExpr:
            pairs.append((node.target, node.value, "assign"))
        elif kind is cst.AugAssign:
            pairs.append((node.target, node, "augassign"))
        elif kind is cst.For or kind is cst.CompFor:
            pairs.append((node.target, node.iter, "for"))
        elif kind is cst.AsName:
            pairs.append((node.name, None, "unknown"))
    return pairs


def _ignore(node: cst.CSTNode) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class DynamicDim:
    """One dim the export call declares dynamic, with its declared range where it is a literal."""

    index: int
    name: str
    min: int | None = None
    max: int | None = None
    #: Whether the ``Dim(...)`` call gives a ``max`` (a literal or not).
    has_max: bool = False

    @property
    def named(self) -> bool:
        """A ``Dim(...)``: stricter than ``Dim.DYNAMIC``, which accepts guards that narrow its range."""
        return self.name != "Dim.DYNAMIC"

    def admits(self, size: int) -> bool:
        """Whether ``size`` lies in the declared range (unknown bounds admit it)."""
        return (self.min is None or size >= self.min) and (self.max is None or size <= self.max)


@dataclasses.dataclass(frozen=True)
class ExportMode:
    """What one file's export calls say about a module class: its dynamic dims and strictness."""

    dynamic: dict[str, dict[int, DynamicDim]]
    #: True strict, False non-strict, None when the export calls disagree.
    strict: bool | None
    #: Forward parameters every export call passes a tensor made by a torch factory.
    tensor_params: frozenset[str] = frozenset()


class FunctionFlow:
    """Kinds of the values in one traced function."""

    def __init__(
        self,
        semantic: SemanticModel,
        function: cst.FunctionDef,
        is_forward: bool,
        dynamic: dict[str, dict[int, DynamicDim]] | None = None,
        layers: frozenset[str] = frozenset(),
        tensor_params: frozenset[str] = frozenset(),
    ) -> None:
        self.semantic = semantic
        #: Forward parameters the file's export calls pass tensors for.
        self.tensor_params = tensor_params
        #: ``self.<name>`` attributes set to a torch.nn layer that maps tensors to one tensor.
        self.layers = layers
        self.function = function
        self.is_forward = is_forward
        #: Forward parameter -> its dims declared dynamic.
        self.dynamic = dynamic or {}
        self.names: dict[str, Kind | None] = {}
        #: Names bound to a dynamic size: which parameter and dim they measure.
        self.size_names: dict[str, tuple[str, DynamicDim]] = {}
        self._params: dict[str, Kind | None] = {}
        self._reassigned: set[str] = set()
        self._solve()

    # -- solving ----------------------------------------------------------------------
    def _param_kind(self, param: cst.Param, only: bool) -> Kind | None:
        """Annotated ``Tensor``; or, unannotated in ``forward``, the only input or one the file's
        export calls pass a tensor for (``forward(self, inputs_shape, device)`` is not all tensors)."""
        default = param.default
        if default is not None and not (isinstance(default, cst.Name) and default.value == "None"):
            return None  # `output_attentions: torch.Tensor | None = False` is a flag, whatever its annotation
        if param.annotation is not None:
            return Kind.TENSOR if _annotation_is_tensor(param.annotation.annotation) else None
        if not self.is_forward:
            return None
        if param.name.value in self.tensor_params or (only and param.default is None):
            return Kind.TENSOR
        return None

    def _solve(self) -> None:
        params = self.function.params
        listed = [*params.posonly_params, *params.params, *params.kwonly_params]
        if listed and listed[0].name.value in {"self", "cls"}:
            listed = listed[1:]
        only = len(listed) == 1 and params.star_arg in (None, cst.MaybeSentinel.DEFAULT) and params.star_kwarg is None
        for param in listed:
            self._params[param.name.value] = self._param_kind(param, only)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self._params[star.name.value] = None
        bound: dict[str, list[tuple[cst.BaseExpression | None, str, cst.BaseExpression]]] = {}
        for target, value, how in _assignments(self.function):
            self._bind_target(target, value, how, bound)
        self._reassigned = set(bound) & set(self._params)
        self.names = dict(self._params)
        for name in bound:
            self.names[name] = None
        # A name's kind is the one kind all its assignments agree on. Assignments that read the name
        # itself (`x = x + 1`, `kept = kept[1:]`) are checked against the kind the others give.
        # Kinds only grow from unknown to known, so a few rounds reach the fixpoint.
        for _ in range(4):
            changed = False
            for name, sources in bound.items():
                kind = self._agreed_kind(name, sources)
                if self.names.get(name) != kind:
                    self.names[name] = kind
                    changed = True
            if not changed:
                break
        self._solve_sizes(bound)

    def _agreed_kind(self, name: str, sources) -> Kind | None:
        reads_itself = [_mentions(whole if how == "augassign" else value, name) for value, how, whole in sources]
        own = [source for source, itself in zip(sources, reads_itself, strict=True) if itself]
        others = [source for source, itself in zip(sources, reads_itself, strict=True) if not itself]
        kinds = {self._source_kind(value, how, whole) for value, how, whole in others}
        if name in self._params:
            kinds.add(self._params[name])
        if len(kinds) != 1 or None in kinds:
            return None
        (kind,) = kinds
        previous = self.names.get(name)
        self.names[name] = kind
        agreed = all(self._source_kind(value, how, whole) == kind for value, how, whole in own)
        self.names[name] = previous
        return kind if agreed else None

    def _bind_target(self, target, value, how, bound) -> None:
        if isinstance(target, cst.Name):
            bound.setdefault(target.value, []).append((value, how, target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for position, element in enumerate(target.elements):
                inner = element.value
                if isinstance(inner, cst.Name):
                    bound.setdefault(inner.value, []).append((value, "unpack", cst.Integer(str(position))))
                else:
                    self._bind_target(inner, None, "unknown", bound)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None, "unknown", bound)

    def _source_kind(self, value, how: str, whole) -> Kind | None:
        if value is None or how == "unknown":
            return None
        if how == "assign":
            return self.kind(value)
        if how == "augassign":
            left, right = self.kind(value.target), self.kind(value.value)
            return _combine(left, right)
        if how == "for":
            # Iterating a tensor gives tensors; iterating `.tolist()` gives data-dependent numbers.
            kind = self.kind(value)
            if kind in TENSOR_KINDS:
                return Kind.TENSOR
            return Kind.DATA_SCALAR if kind is Kind.DATA_SCALAR else None
        if how == "unpack":
            kind = self.kind(value)
            if kind is Kind.DATA_SCALAR:
                return Kind.DATA_SCALAR
            if kind in TENSOR_KINDS and isinstance(value, cst.Call) and self._is_tensor_method(value, "tolist"):
                return Kind.DATA_SCALAR
            return None
        return None

    def _solve_sizes(self, bound) -> None:
        """Names that hold a dynamic size: ``b = x.shape[0]``, ``b, c = x.shape``, ``b = x.size(0)``."""
        for name, sources in bound.items():
            if len(sources) != 1 or name in self._params:
                continue
            value, how, whole = sources[0]
            found = None
            if how == "assign":
                found = self._size_of(value)
            elif how == "unpack" and isinstance(whole, cst.Integer):
                found = self._unpacked_size(value, int(whole.value))
            if found is not None:
                self.size_names[name] = found

    def _unpacked_size(self, value, position: int) -> tuple[str, DynamicDim] | None:
        owner = None
        if isinstance(value, cst.Attribute) and value.attr.value == "shape":
            owner = value.value
        elif isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "size":
            owner = value.func.value if not value.args else None
        param = self.dynamic_param(owner) if owner is not None else None
        if param is None:
            return None
        dim = self.dynamic[param].get(position)
        return (param, dim) if dim is not None else None

    # -- questions --------------------------------------------------------------------
    def dynamic_param(self, expr: cst.BaseExpression | None) -> str | None:
        """The forward parameter ``expr`` names, when it has dims declared dynamic and is never rebound."""
        if (
            isinstance(expr, cst.Name)
            and expr.value in self.dynamic
            and expr.value in self._params
            and expr.value not in self._reassigned
        ):
            return expr.value
        return None

    def _size_of(self, expr: cst.BaseExpression) -> tuple[str, DynamicDim] | None:
        """``x.shape[d]``, ``x.size(d)``, ``x.size()[d]``, ``len(x)`` for a dynamic dim d of x."""
        if isinstance(expr, cst.Name):
            return self.size_names.get(expr.value)
        owner: cst.BaseExpression | None = None
        index: cst.BaseExpression | None = None
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = expr.slice[0].slice.value
            base = expr.value
            if isinstance(base, cst.Attribute) and base.attr.value == "shape":
                owner = base.value
            elif (
                isinstance(base, cst.Call)
                and isinstance(base.func, cst.Attribute)
                and base.func.attr.value == "size"
                and not base.args
            ):
                owner = base.func.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "size":
            if len(expr.args) == 1 and expr.args[0].keyword is None:
                owner, index = expr.func.value, expr.args[0].value
        elif (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Name)
            and expr.func.value == "len"
            and self.semantic.binding("len").kind == "builtin"
            and len(expr.args) == 1
        ):
            owner, index = expr.args[0].value, cst.Integer("0")
        param = self.dynamic_param(owner)
        position = int_literal(index) if index is not None else None
        if param is None or position is None or position < 0:
            return None
        dim = self.dynamic[param].get(position)
        return (param, dim) if dim is not None else None

    def dynamic_size(self, expr: cst.BaseExpression) -> tuple[str, DynamicDim] | None:
        """The (parameter, dim) whose dynamic size ``expr`` is, directly or through a name."""
        return self._size_of(expr)

    def involves_dynamic_size(self, expr: cst.BaseExpression) -> tuple[str, DynamicDim] | None:
        """A dynamic size used anywhere inside ``expr`` (not inside lambdas)."""
        found = self._size_of(expr)
        if found is not None:
            return found
        if isinstance(expr, cst.Lambda):
            return None
        for child in children(expr, TRIVIA_TYPES):
            if isinstance(child, (cst.Arg, cst.Index, cst.SubscriptElement, cst.Element, cst.Slice)):
                parts = [part for part in children(child, TRIVIA_TYPES) if isinstance(part, cst.BaseExpression)]
            else:
                parts = [child] if isinstance(child, cst.BaseExpression) else []
            for part in parts:
                found = self.involves_dynamic_size(part)
                if found is not None:
                    return found
        return None

    def _is_tensor_method(self, call: cst.Call, *names: str) -> bool:
        return isinstance(call.func, cst.Attribute) and call.func.attr.value in names

    def kind(self, expr: cst.BaseExpression) -> Kind | None:
        """The kind of an expression's value; None when unknown or not data-dependent."""
        if isinstance(expr, cst.Name):
            return self.names.get(expr.value)
        if isinstance(expr, cst.Attribute):
            base = self.kind(expr.value)
            if base in TENSOR_KINDS and expr.attr.value in _TENSOR_ATTRIBUTES:
                return Kind.TENSOR if base is not Kind.DATA_SHAPED_TENSOR else base
            return None
        if isinstance(expr, cst.Subscript):
            return self._subscript_kind(expr)
        if isinstance(expr, cst.Call):
            return self._call_kind(expr)
        if isinstance(expr, cst.BinaryOperation):
            left, right = self.kind(expr.left), self.kind(expr.right)
            if isinstance(expr.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)) and Kind.BOOL_TENSOR in (left, right):
                return Kind.BOOL_TENSOR
            return _combine(left, right)
        if isinstance(expr, cst.UnaryOperation):
            inner = self.kind(expr.expression)
            if isinstance(expr.operator, cst.Not):
                return Kind.DATA_SCALAR if inner in DATA_DEPENDENT_KINDS else None
            return inner
        if isinstance(expr, cst.IfExp):
            body, orelse = self.kind(expr.body), self.kind(expr.orelse)
            return body if body == orelse else None
        if isinstance(expr, cst.Comparison):
            kinds = [self.kind(expr.left), *(self.kind(c.comparator) for c in expr.comparisons)]
            if any(isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for c in expr.comparisons):
                return None
            if any(k in TENSOR_KINDS for k in kinds):
                return Kind.BOOL_TENSOR
            return Kind.DATA_SCALAR if Kind.DATA_SCALAR in kinds else None
        return None

    def _subscript_kind(self, expr: cst.Subscript) -> Kind | None:
        base = expr.value
        # Sizes of data-shaped tensors are data-dependent: `idx.shape[0]`, `idx.size()[0]`.
        if isinstance(base, cst.Attribute) and base.attr.value == "shape":
            return Kind.DATA_SCALAR if self.kind(base.value) is Kind.DATA_SHAPED_TENSOR else None
        if isinstance(base, cst.Call) and self._is_tensor_method(base, "size") and not base.args:
            return Kind.DATA_SCALAR if self.kind(base.func.value) is Kind.DATA_SHAPED_TENSOR else None
        kind = self.kind(base)
        if kind is Kind.DATA_SCALAR:
            return Kind.DATA_SCALAR
        if kind not in TENSOR_KINDS:
            return None
        indices = [element.slice for element in expr.slice]
        if any(isinstance(i, cst.Index) and self.kind(i.value) is Kind.BOOL_TENSOR for i in indices):
            return Kind.DATA_SHAPED_TENSOR
        return Kind.DATA_SHAPED_TENSOR if kind is Kind.DATA_SHAPED_TENSOR else Kind.TENSOR

    def _call_kind(self, call: cst.Call) -> Kind | None:
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and func.attr.value in self.layers
        ):
            return Kind.TENSOR if any(self.kind(arg.value) in TENSOR_KINDS for arg in call.args) else None
        if isinstance(func, cst.Attribute) and not self._is_torch_callable(func):
            receiver = self.kind(func.value)
            if receiver not in TENSOR_KINDS:
                return None
            method = func.attr.value
            if method in torch_facts.data_reading_methods():
                return Kind.DATA_SCALAR
            if method in _SIZE_METHODS:
                return Kind.DATA_SCALAR if receiver is Kind.DATA_SHAPED_TENSOR else None
            if method in torch_facts.data_shaped_names():
                return Kind.DATA_SHAPED_TENSOR
            if method in _BOOL_METHODS and receiver is not Kind.DATA_SHAPED_TENSOR:
                return Kind.BOOL_TENSOR
            if torch_facts.method_returns_tensor(method) or method in _BOOL_METHODS:
                return Kind.DATA_SHAPED_TENSOR if receiver is Kind.DATA_SHAPED_TENSOR else Kind.TENSOR
            return None
        qualified = self.semantic.qualified_name(func)
        args = [arg.value for arg in call.args if not arg.star]
        arg_kinds = [self.kind(arg) for arg in args]
        if qualified in {"int", "float", "bool"} and len(args) == 1:
            return Kind.DATA_SCALAR if arg_kinds[0] in DATA_DEPENDENT_KINDS else None
        if qualified == "len" and len(args) == 1:
            return Kind.DATA_SCALAR if arg_kinds[0] is Kind.DATA_SHAPED_TENSOR else None
        if qualified in {"abs", "round", "min", "max"}:
            if any(k in TENSOR_KINDS for k in arg_kinds):
                return Kind.TENSOR if qualified in {"abs", "round"} else None
            return Kind.DATA_SCALAR if Kind.DATA_SCALAR in arg_kinds else None
        if qualified is None or not qualified.startswith(_TORCH_NAMESPACES):
            return None
        if qualified.startswith(_TORCH_SKIP_NAMESPACES):
            return None
        last = qualified.rsplit(".", 1)[-1]
        if not any(k in TENSOR_KINDS for k in arg_kinds):
            return None
        if last in _TORCH_DATA_BOOL:
            return Kind.DATA_SCALAR
        if torch_facts.function_returns_tensor(qualified) is False or not last[:1].islower():
            return None
        if last in torch_facts.data_shaped_names() and not _one_hot_with_classes(last, call):
            return Kind.DATA_SHAPED_TENSOR
        if last == "where" and len(call.args) == 1:
            return None  # a tuple of data-shaped tensors
        if last in _TORCH_BOOL:
            return Kind.BOOL_TENSOR
        return Kind.TENSOR

    def _is_torch_callable(self, func: cst.Attribute) -> bool:
        qualified = self.semantic.qualified_name(func)
        return qualified is not None and qualified.startswith("torch.")

    def is_data_dependent_test(self, test: cst.BaseExpression) -> cst.BaseExpression | None:
        """The part of a branch condition whose truth Python reads from tensor data, if any."""
        if isinstance(test, cst.BooleanOperation):
            return self.is_data_dependent_test(test.left) or self.is_data_dependent_test(test.right)
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self.is_data_dependent_test(test.expression)
        if isinstance(test, cst.Comparison) and any(
            isinstance(c.operator, (cst.In, cst.NotIn)) for c in test.comparisons
        ):
            # `0 in mask` reads tensor data through Tensor.__contains__.
            last = test.comparisons[-1]
            if len(test.comparisons) == 1 and self.kind(last.comparator) in TENSOR_KINDS:
                return test
            return None
        return test if self.kind(test) in DATA_DEPENDENT_KINDS else None


def _one_hot_with_classes(name: str, call: cst.Call) -> bool:
    """``one_hot(x, num_classes)``: the shape is the given class count, not read from the data."""
    return name == "one_hot" and (
        sum(1 for arg in call.args if arg.keyword is None) > 1
        or any(arg.keyword is not None and arg.keyword.value == "num_classes" for arg in call.args)
    )


def _mentions(node: cst.CSTNode | None, name: str) -> bool:
    """Whether a Name ``name`` appears anywhere in ``node``."""
    if node is None:
        return False
    if isinstance(node, cst.Name):
        return node.value == name
    return any(_mentions(child, name) for child in children(node, TRIVIA_TYPES))


def _combine(left: Kind | None, right: Kind | None) -> Kind | None:
    kinds = {left, right} - {None}
    if Kind.DATA_SHAPED_TENSOR in kinds:
        return Kind.DATA_SHAPED_TENSOR
    if kinds & {Kind.TENSOR, Kind.BOOL_TENSOR}:
        return Kind.TENSOR
    if Kind.DATA_SCALAR in kinds:
        return Kind.DATA_SCALAR
    return None


def mentions_compile_guard(semantic: SemanticModel, expr: cst.CSTNode) -> bool:
    """Whether an expression calls ``torch.compiler.is_compiling()``-style functions or reads
    ``self.training``: what it guards may not run while export traces."""
    found = False

    def on_visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Call):
            name = semantic.qualified_name(node.func) or dotted_name(node.func) or ""
            found = found or name.rsplit(".", 1)[-1] in COMPILE_GUARDS
        elif isinstance(node, cst.Attribute) and node.attr.value == "training":
            found = found or (isinstance(node.value, cst.Name) and node.value.value == "self")
        return not found

    walk(expr, on_visit, _ignore)
    return found


def guarded_by_compile_check(semantic: SemanticModel, stack: list[cst.CSTNode] | None = None) -> bool:
    """Whether the current node lies under an ``if``/``while``/ternary whose test is a compile guard."""
    stack = semantic.stack if stack is None else stack
    for depth in range(len(stack) - 1, 0, -1):
        node = stack[depth]
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            return False
        if isinstance(node, (cst.If, cst.While, cst.IfExp)) and mentions_compile_guard(semantic, node.test):
            return True
    return False


# -- export call sites --------------------------------------------------------------------------


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == name), None)


def _resolve_literal(semantic: SemanticModel, expr: cst.BaseExpression, stack: list[cst.CSTNode]) -> cst.BaseExpression:
    """A name bound once to a value: that value (one step), else the expression itself."""
    if isinstance(expr, cst.Name):
        binding = semantic.binding(expr.value, stack)
        node = binding.node
        if binding.kind == "assign" and isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
            if isinstance(target, cst.Name) and target.value == expr.value:
                return node.value
    return expr


def _strip_module_calls(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``Model().eval()`` / ``Model().to(device)`` -> ``Model()``."""
    while (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in {"eval", "train", "to", "cpu", "cuda", "float", "half", "requires_grad_"}
    ):
        expr = expr.func.value
    return expr


def _export_calls(semantic: SemanticModel) -> list[tuple[cst.Call, list[cst.CSTNode]]]:
    """Every export call with the stack of nodes above it (for name resolution)."""
    stack: list[cst.CSTNode] = []
    calls: list[tuple[cst.Call, list[cst.CSTNode]]] = []
    if not semantic.may_call_export():
        return calls

    def on_visit(node: cst.CSTNode) -> bool:
        stack.append(node)
        if isinstance(node, cst.Call) and semantic.is_export_call(node, stack):
            calls.append((node, list(stack)))
        return True

    def on_leave(node: cst.CSTNode) -> None:
        stack.pop()

    walk(semantic.module, on_visit, on_leave)
    return calls


def _dim_of(
    semantic: SemanticModel, expr: cst.BaseExpression, stack: list[cst.CSTNode], index: int
) -> DynamicDim | None:
    expr = _resolve_literal(semantic, expr, stack)
    qualified = semantic.qualified_name(expr, stack) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    if qualified in {"torch.export.Dim.DYNAMIC", "torch.export.dynamic_shapes.Dim.DYNAMIC"}:
        return DynamicDim(index, "Dim.DYNAMIC")
    if isinstance(expr, cst.Call) and semantic.qualified_name(expr.func, stack) in {
        "torch.export.Dim",
        "torch.export.dynamic_shapes.Dim",
    }:
        name = expr.args[0].value if expr.args and expr.args[0].keyword is None else None
        label = name.evaluated_value if isinstance(name, cst.SimpleString) else "Dim"
        low, high = _keyword(expr, "min"), _keyword(expr, "max")
        return DynamicDim(
            index,
            str(label),
            int_literal(low) if low is not None else None,
            int_literal(high) if high is not None else None,
            high is not None,
        )
    return None


def _dims_of_spec(semantic: SemanticModel, spec: cst.BaseExpression, stack) -> dict[int, DynamicDim] | None:
    spec = _resolve_literal(semantic, spec, stack)
    if not isinstance(spec, cst.Dict):
        return None
    dims: dict[int, DynamicDim] = {}
    for element in spec.elements:
        if not isinstance(element, cst.DictElement):
            return None
        position = int_literal(element.key)
        if position is None or position < 0:
            return None
        dim = _dim_of(semantic, element.value, stack, position)
        if dim is not None:
            dims[position] = dim
    return dims


def _target_class(semantic: SemanticModel, call: cst.Call, stack) -> ClassInfo | None:
    target = next((arg.value for arg in call.args if arg.keyword is None and not arg.star), None)
    target = target if target is not None else _keyword(call, "mod")
    if target is None:
        return None
    target = _strip_module_calls(_resolve_literal(semantic, _strip_module_calls(target), stack))
    if not isinstance(target, cst.Call):
        return None
    qualified = semantic.qualified_name(target.func, stack)
    prefix = f"{semantic.module_name}."
    if qualified is None or not qualified.startswith(prefix):
        return None
    return semantic.classes.get(qualified[len(prefix) :])


def _strictness(call: cst.Call, torch_version: str) -> bool | None:
    value = _keyword(call, "strict")
    if value is None:
        return versions.strict_by_default(torch_version)
    if isinstance(value, cst.Name) and value.value in {"True", "False"}:
        return value.value == "True"
    return None


def export_modes(semantic: SemanticModel, torch_version: str) -> dict[str, ExportMode]:
    """Local module class name -> what the file's export calls declare for it."""
    found: dict[str, ExportMode] = {}
    for call, stack in _export_calls(semantic):
        info = _target_class(semantic, call, stack)
        if info is None:
            continue
        strict = _strictness(call, torch_version)
        dynamic: dict[str, dict[int, DynamicDim]] = {}
        spec = _keyword(call, "dynamic_shapes")
        forward = semantic.find_method(info, "forward")
        if spec is not None and forward is not None:
            dynamic = _dynamic_params(semantic, _resolve_literal(semantic, spec, stack), forward, stack) or {}
        previous = found.get(info.name)
        if previous is not None:
            # Several exports of one class: only what they all declare, strict only if all agree.
            dynamic = {
                param: {i: d for i, d in dims.items() if i in previous.dynamic.get(param, {})}
                for param, dims in dynamic.items()
                if param in previous.dynamic
            }
            strict = strict if strict == previous.strict else None
        tensors = _tensor_arguments(semantic, call, forward, stack) if forward is not None else frozenset()
        if previous is not None:
            tensors &= previous.tensor_params
        found[info.name] = ExportMode(dynamic, strict, tensors)
    return found


_TENSOR_FACTORIES = frozenset(
    {"randn", "rand", "randint", "zeros", "ones", "full", "empty", "tensor", "arange", "as_tensor", "randn_like"}
)


def _tensor_arguments(semantic: SemanticModel, call: cst.Call, forward: cst.FunctionDef, stack) -> frozenset[str]:
    """Forward parameters the export call's literal ``args`` tuple fills with ``torch.randn(...)``-made tensors."""
    args = next((arg.value for arg in call.args[1:2] if arg.keyword is None), None) or _keyword(call, "args")
    if args is None:
        return frozenset()
    args = _resolve_literal(semantic, args, stack)
    if not isinstance(args, (cst.Tuple, cst.List)):
        return frozenset()
    params = forward.params
    names = [p.name.value for p in (*params.posonly_params, *params.params)][1:]
    found = set()
    for name, element in zip(names, args.elements, strict=False):
        value = _resolve_literal(semantic, element.value, stack)
        while (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value
            in {
                "to",
                "float",
                "long",
                "abs",
                "__add__",
            }
        ):
            value = value.func.value
        if isinstance(value, cst.BinaryOperation):
            value = value.left
        if isinstance(value, cst.Call):
            qualified = semantic.qualified_name(value.func, stack) or ""
            if qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in _TENSOR_FACTORIES:
                found.add(name)
    return frozenset(found)


def _dynamic_params(semantic, spec, forward: cst.FunctionDef, stack) -> dict[str, dict[int, DynamicDim]] | None:
    params = forward.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)][1:]
    result: dict[str, dict[int, DynamicDim]] = {}
    if isinstance(spec, cst.Dict):
        for element in spec.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                return None
            key = element.key.evaluated_value
            if key not in names:
                return None
            dims = _dims_of_spec(semantic, element.value, stack)
            if dims:
                result[str(key)] = dims
        return result
    if isinstance(spec, (cst.Tuple, cst.List)):
        for position, element in enumerate(spec.elements):
            if position >= len(names) or element.value is None:
                return None
            if isinstance(element.value, cst.Name) and element.value.value == "None":
                continue
            dims = _dims_of_spec(semantic, element.value, stack)
            if dims:
                result[names[position]] = dims
        return result
    return None


# -- per-file cache shared by the rules ---------------------------------------------------------

_FILE_FACTS: weakref.WeakKeyDictionary[SemanticModel, _FileFacts] = file_cache()


class _FileFacts:
    def __init__(self, semantic: SemanticModel, torch_version: str) -> None:
        self.modes = export_modes(semantic, torch_version)
        self.flows: dict[int, FunctionFlow] = {}
        self.torch_version = torch_version


def _facts(semantic: SemanticModel, torch_version: str) -> _FileFacts:
    facts = _FILE_FACTS.get(semantic)
    if facts is None or facts.torch_version != torch_version:
        facts = _FileFacts(semantic, torch_version)
        _FILE_FACTS[semantic] = facts
    return facts


def _owner_of_forward(semantic: SemanticModel, stack: list[cst.CSTNode]) -> tuple[ClassInfo, cst.FunctionDef] | None:
    found = semantic.enclosing_method(stack)
    if found is None:
        return None
    info, method = found
    if method.name.value != "forward" or not semantic.is_module_class(info.node):
        return None
    return found


#: torch.nn modules whose call does not return one tensor.
_NON_TENSOR_LAYERS = frozenset(
    {
        "RNN",
        "LSTM",
        "GRU",
        "MultiheadAttention",
        "ModuleList",
        "ModuleDict",
        "ParameterList",
        "ParameterDict",
        "Identity",
        "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d",
    }
)


def torch_layers(semantic: SemanticModel, info: ClassInfo) -> frozenset[str]:
    """Attributes ``__init__`` sets to a ``torch.nn`` layer: calling them maps tensors to a tensor."""
    init = info.methods.get("__init__")
    if init is None:
        return frozenset()
    found: dict[str, bool] = {}
    for target, value, how in _assignments(init):
        if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)):
            continue
        if target.value.value != "self":
            continue
        name = target.attr.value
        layer = False
        if how == "assign" and isinstance(value, cst.Call):
            qualified = semantic.qualified_name(value.func, [semantic.module]) or ""
            last = qualified.rsplit(".", 1)[-1]
            layer = (
                qualified.startswith("torch.nn.")
                and last not in _NON_TENSOR_LAYERS
                and semantic.is_module_class_name(qualified)
                and not (
                    last.startswith("MaxPool")
                    and any(arg.keyword and arg.keyword.value == "return_indices" for arg in value.args)
                )
            )
        found[name] = found.get(name, True) and layer
    return frozenset(name for name, layer in found.items() if layer)


#: Class decorators that swap ``forward`` for another implementation by default (transformers'
#: experts dispatch picks ``grouped_mm``), so the class's own ``forward`` is not what export traces.
FORWARD_REPLACING_DECORATORS = frozenset({"use_experts_implementation"})


def _forward_replaced(semantic: SemanticModel) -> bool:
    for node in semantic.stack:
        if isinstance(node, cst.ClassDef):
            for decorator in node.decorators:
                target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
                name = semantic.qualified_name(target) or dotted_name(target) or ""
                if name.rsplit(".", 1)[-1] in FORWARD_REPLACING_DECORATORS:
                    return True
    return False


def current_flow(semantic: SemanticModel, torch_version: str) -> FunctionFlow | None:
    """The flow of the innermost function around the current node, when export traces it."""
    function = semantic.enclosing(cst.FunctionDef)
    if function is None or not semantic.in_traced_code() or _forward_replaced(semantic):
        return None
    facts = _facts(semantic, torch_version)
    flow = facts.flows.get(id(function))
    if flow is None:
        owner = _owner_of_forward(semantic, semantic.stack[: semantic.stack.index(function) + 1])
        is_forward = owner is not None and owner[1] is function
        dynamic = None
        tensor_params: frozenset[str] = frozenset()
        if is_forward:
            mode = facts.modes.get(owner[0].name)
            dynamic = mode.dynamic if mode is not None else None
            tensor_params = mode.tensor_params if mode is not None else frozenset()
        method = semantic.enclosing_method(semantic.stack[: semantic.stack.index(function) + 1])
        layers = torch_layers(semantic, method[0]) if method is not None and method[1] is function else frozenset()
        flow = FunctionFlow(semantic, function, is_forward, dynamic, layers, tensor_params)
        facts.flows[id(function)] = flow
    return flow


def traced_non_strict(semantic: SemanticModel, torch_version: str) -> bool:
    """Whether the current traced code is exported in non-strict mode, as far as the file shows:
    the class's export calls say so, or none is visible and the target torch defaults to it."""
    facts = _facts(semantic, torch_version)
    owner = None
    for depth in range(len(semantic.stack) - 1, 0, -1):
        if isinstance(semantic.stack[depth], cst.ClassDef):
            owner = semantic.stack[depth]
            break
    mode = facts.modes.get(owner.name.value) if owner is not None else None
    if mode is not None:
        return mode.strict is False
    if any(m.strict is True for m in facts.modes.values()) and not any(m.strict is False for m in facts.modes.values()):
        return False
    return not versions.strict_by_default(torch_version)
