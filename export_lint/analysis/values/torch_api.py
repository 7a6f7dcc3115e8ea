"""What torch functions, ``Tensor`` methods, builtins and annotations give, as abstract values.

Return kinds come from ``torch_facts`` (generated from torch's own stubs and operator tags);
what is named here is what the stubs cannot say: which comparisons give boolean tensors, which
methods give sizes, which functions return several tensors.
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis import torch_facts
from export_lint.analysis.semantic import dotted_name
from export_lint.analysis.values.exports import int_literal
from export_lint.analysis.values.lattice import (
    BOOL_TENSOR,
    DATA_LIST,
    DATA_SCALAR,
    DATA_SHAPED,
    SIZE,
    STATIC,
    TENSOR,
    UNKNOWN,
    Kind,
    Value,
    sequence_of,
)

TENSOR_ANNOTATIONS = frozenset(
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

BOOL_METHODS = frozenset(
    {
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
    }
)
#: Methods that give Python facts about a tensor that are not read from its data.
_STATIC_METHODS = frozenset({"dim", "ndimension", "is_floating_point", "is_complex", "element_size", "get_device"})
_STATIC_ATTRIBUTES = frozenset({"ndim", "dtype", "device", "is_cuda", "requires_grad", "layout", "is_sparse"})
TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag", "data"})
#: Methods and functions that return several tensors.
_SPLITTING = frozenset({"split", "chunk", "unbind", "tensor_split", "split_with_sizes", "hsplit", "vsplit"})

#: Methods whose every positional argument is a size of the result (a data-dependent one makes a
#: data-shaped tensor), and the one whose first argument is (``new_full(size, fill_value)``).
_SIZED_METHODS = frozenset({"view", "reshape", "expand", "repeat", "new_zeros", "new_ones", "new_empty"})
_FIRST_SIZED_METHODS = frozenset({"new_full"})
#: Reductions: with no argument their result has one element, whatever the input's shape.
_REDUCTIONS = frozenset({"sum", "mean", "max", "min", "amax", "amin", "any", "all", "prod", "std", "var", "norm"})
#: torch factories the same way: every positional argument a size, or only the first one.
_SIZED_FACTORIES = frozenset({"zeros", "ones", "empty", "rand", "randn", "arange", "eye"})
_FIRST_SIZED_FACTORIES = frozenset({"full"})

TORCH_NAMESPACES = ("torch.", "torch.nn.functional.", "torch.linalg.", "torch.special.", "torch.fft.")
#: torch functions returning a Python bool computed from tensor data.
_TORCH_DATA_BOOL = frozenset({"equal", "allclose", "is_nonzero"})
_TORCH_BOOL = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "isnan", "isinf", "isfinite", "isin"})
_TORCH_SKIP_NAMESPACES = ("torch.jit.", "torch.cuda.", "torch.compiler.", "torch._C.", "torch._dynamo.", "torch.fx.")

#: torch.nn modules whose call does not return one tensor.
NON_TENSOR_LAYERS = frozenset(
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


def annotation_is_tensor(annotation: cst.BaseExpression) -> bool:
    """``torch.Tensor``, ``Tensor``, ``Optional[Tensor]``, ``Tensor | None`` and friends."""
    if isinstance(annotation, (cst.Name, cst.Attribute)):
        name = dotted_name(annotation) or ""
        return name in TENSOR_ANNOTATIONS or name == "Tensor"
    if isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value if isinstance(annotation.evaluated_value, str) else ""
        try:
            return annotation_is_tensor(cst.parse_expression(text))
        except Exception:
            return False
    parts: list[cst.BaseExpression] = []
    if isinstance(annotation, cst.Subscript) and (dotted_name(annotation.value) or "").split(".")[-1] in {
        "Optional",
        "Union",
    }:
        parts = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
    elif isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        parts = [annotation.left, annotation.right]
    non_none = [p for p in parts if not (isinstance(p, cst.Name) and p.value == "None")]
    return bool(non_none) and all(annotation_is_tensor(p) for p in non_none)


def tensor_attribute(receiver: Value, attribute: str) -> Value:
    """``t.T``, ``t.shape``, ``t.dtype`` of a tensor value."""
    if attribute in TENSOR_ATTRIBUTES:
        return DATA_SHAPED if receiver.kind is Kind.DATA_SHAPED_TENSOR else TENSOR
    if attribute == "shape":
        return shape_of(receiver)
    if attribute in _STATIC_ATTRIBUTES:
        return STATIC
    return UNKNOWN


def shape_of(tensor: Value) -> Value:
    """``t.shape``: its sizes are data-dependent for a data-shaped tensor."""
    element = DATA_SCALAR if tensor.kind is Kind.DATA_SHAPED_TENSOR else SIZE
    return Value(Kind.SHAPE, tensor.param, tensor.dims, element=element)


def size_at(shape: Value, index: int | None) -> Value:
    """``shape[index]``: a dynamic size when the shape's tensor is an input with that dim dynamic."""
    if shape.element is not None and shape.element.kind is Kind.DATA_SCALAR:
        return DATA_SCALAR
    if index is not None and shape.param is not None:
        dims = shape.dynamic_dims()
        if index in dims:
            return Value(Kind.SIZE, dim=(shape.param, dims[index]))
    return SIZE


def holds_data_scalar(value: Value) -> bool:
    """A number read from tensor data, or a sequence holding one (``t.tolist()``, ``(n.item(), 4)``)."""
    if value.kind is Kind.DATA_SCALAR:
        return True
    if value.kind is Kind.SEQUENCE:
        parts = [*(value.items or ()), *((value.element,) if value.element is not None else ())]
        return any(part.kind is Kind.DATA_SCALAR for part in parts)
    return False


def _sized_by_data(args: list[Value], first_only: bool) -> bool:
    return any(holds_data_scalar(arg) for arg in (args[:1] if first_only else args))


def tensor_method(receiver: Value, method: str, args: list[Value], call: cst.Call) -> Value:
    """``t.method(...)`` on a tensor value."""
    data_shaped = receiver.kind is Kind.DATA_SHAPED_TENSOR
    if (method in _SIZED_METHODS or method in _FIRST_SIZED_METHODS) and _sized_by_data(
        args, method in _FIRST_SIZED_METHODS
    ):
        return DATA_SHAPED
    if method in torch_facts.data_reading_methods():
        return DATA_LIST if method == "tolist" else DATA_SCALAR
    if method == "size":
        if not call.args:
            return shape_of(receiver)
        return size_at(shape_of(receiver), int_literal(call.args[0].value) if len(call.args) == 1 else None)
    if method in ("numel", "nelement"):
        return DATA_SCALAR if data_shaped else SIZE
    if method in _STATIC_METHODS:
        return STATIC
    if method in torch_facts.data_shaped_names():
        return DATA_SHAPED
    if method in _SPLITTING or torch_facts.table()["tensor_methods"].get(method) == "tensors":
        return sequence_of(DATA_SHAPED if data_shaped else TENSOR)
    if method in BOOL_METHODS and not data_shaped:
        return BOOL_TENSOR
    if method in _REDUCTIONS and not call.args:
        return TENSOR
    if torch_facts.method_returns_tensor(method) or method in BOOL_METHODS:
        return DATA_SHAPED if data_shaped else TENSOR
    return UNKNOWN


def one_hot_with_classes(name: str, call: cst.Call) -> bool:
    """``one_hot(x, num_classes)``: the shape is the given class count, not read from the data."""
    return name == "one_hot" and (
        sum(1 for arg in call.args if arg.keyword is None) > 1
        or any(arg.keyword is not None and arg.keyword.value == "num_classes" for arg in call.args)
    )


def torch_function(qualified: str, args: list[Value], call: cst.Call) -> Value:
    """``torch.f(...)`` / ``F.f(...)``: a tensor when it takes a tensor (or a list of them)."""
    if not qualified.startswith(TORCH_NAMESPACES) or qualified.startswith(_TORCH_SKIP_NAMESPACES):
        return UNKNOWN
    last = qualified.rsplit(".", 1)[-1]
    factory = qualified.count(".") == 1 and (last in _SIZED_FACTORIES or last in _FIRST_SIZED_FACTORIES)
    if factory and _sized_by_data(args, last in _FIRST_SIZED_FACTORIES):
        return DATA_SHAPED
    if factory:  # `torch.ones(shape)`: a new tensor whatever its sizes are
        return TENSOR
    if not any(arg.holds_tensors for arg in args):
        return UNKNOWN
    if last in _TORCH_DATA_BOOL:
        return DATA_SCALAR
    if last == "where" and len(call.args) == 1:
        return sequence_of(DATA_SHAPED)
    if last in _SPLITTING or torch_facts.table()["functions"].get(last) == "tensors":
        return sequence_of(TENSOR)
    if torch_facts.function_returns_tensor(qualified) is False or not last[:1].islower():
        return UNKNOWN
    if last in torch_facts.data_shaped_names() and not one_hot_with_classes(last, call):
        return DATA_SHAPED
    if last in _TORCH_BOOL:
        return BOOL_TENSOR
    return TENSOR
