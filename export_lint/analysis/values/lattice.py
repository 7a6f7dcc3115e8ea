"""The abstract values of traced code and how they join.

A :class:`Value` says what an expression holds as far as the source shows: a tensor (plain,
boolean, or data-shaped: its shape depends on tensor data), a size (static, or the SymInt of a
dim the export call declares dynamic), a Python number read out of tensor data, a sequence of
those, a module, a Python constant, or nothing known (``UNKNOWN``). Rules stay silent on unknown
values, so every join that cannot keep a fact drops to ``UNKNOWN``.
"""

from __future__ import annotations

import dataclasses
import enum


class Kind(enum.Enum):
    """What a value is."""

    UNKNOWN = "unknown"
    #: A tensor computed in traced code.
    TENSOR = "tensor"
    #: A tensor whose shape depends on tensor data (``nonzero``, boolean-mask indexing, ``unique``).
    DATA_SHAPED_TENSOR = "data-shaped tensor"
    #: A boolean tensor (a comparison of tensors): indexing with it gives a data-shaped tensor.
    BOOL_TENSOR = "bool tensor"
    #: A Python number read out of tensor data: ``.item()``, ``int(t)``, an element of ``.tolist()``,
    #: or the size of a data-shaped tensor.
    DATA_SCALAR = "data-dependent scalar"
    #: A size of a tensor that is not data-shaped (``x.shape[0]``); ``Value.dim`` names a dynamic dim.
    SIZE = "size"
    #: ``x.shape`` / ``x.size()``: a sequence of sizes.
    SHAPE = "shape"
    #: A tuple, list or iterator of values (``items`` when known one by one, else ``element``).
    SEQUENCE = "sequence"
    #: An ``nn.Module`` of this file (``Value.cls`` is its class name).
    MODULE = "module"
    #: A Python value that does not come from tensor data (a literal, a flag); ``const`` when known.
    STATIC = "static"
    #: A function or method of this file (``const`` is the id of its ``FunctionDef``, ``cls`` the
    #: class of a bound method).
    CALLABLE = "callable"


TENSOR_KINDS = frozenset({Kind.TENSOR, Kind.DATA_SHAPED_TENSOR, Kind.BOOL_TENSOR})
DATA_DEPENDENT_KINDS = TENSOR_KINDS | {Kind.DATA_SCALAR}


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


#: (forward parameter, its dynamic dim)
SizeOf = tuple[str, DynamicDim]


@dataclasses.dataclass(frozen=True)
class Value:
    """An abstract value; fields other than ``kind`` refine it."""

    kind: Kind
    #: TENSOR/SHAPE: the forward input this tensor is (unchanged), and its dims declared dynamic.
    param: str | None = None
    dims: tuple[tuple[int, DynamicDim], ...] = ()
    #: SIZE: the dynamic dim it measures.
    dim: SizeOf | None = None
    #: SEQUENCE: the values one by one, when known.
    items: tuple[Value, ...] | None = None
    #: SEQUENCE/SHAPE: what every element is (iteration, unknown index).
    element: Value | None = None
    #: MODULE: the class name (in this file); STATIC: the constant, when known.
    cls: str | None = None
    const: object = None

    @property
    def is_tensor(self) -> bool:
        return self.kind in TENSOR_KINDS

    @property
    def data_dependent(self) -> bool:
        """A tensor or a number read from tensor data: Python cannot branch on it while tracing."""
        return self.kind in DATA_DEPENDENT_KINDS

    @property
    def holds_tensors(self) -> bool:
        """A tensor, or a sequence of tensors (``torch.stack(list)`` takes one)."""
        if self.is_tensor:
            return True
        if self.kind is Kind.SEQUENCE:
            parts = self.items if self.items is not None else (self.element,) if self.element else ()
            return bool(parts) and any(part.holds_tensors for part in parts)
        return False

    def dynamic_dims(self) -> dict[int, DynamicDim]:
        return dict(self.dims)


UNKNOWN = Value(Kind.UNKNOWN)
TENSOR = Value(Kind.TENSOR)
BOOL_TENSOR = Value(Kind.BOOL_TENSOR)
DATA_SHAPED = Value(Kind.DATA_SHAPED_TENSOR)
DATA_SCALAR = Value(Kind.DATA_SCALAR)
SIZE = Value(Kind.SIZE)
STATIC = Value(Kind.STATIC)
#: ``None`` (``const`` None means "some constant", so None itself is marked by its type).
NONE = Value(Kind.STATIC, const=type(None))
DATA_LIST = Value(Kind.SEQUENCE, element=DATA_SCALAR)


def static(const: object) -> Value:
    return Value(Kind.STATIC, const=const)


def sequence_of(element: Value) -> Value:
    return Value(Kind.SEQUENCE, element=element)


def element_of(value: Value) -> Value:
    """What iterating ``value`` yields."""
    if value.is_tensor:
        return TENSOR
    if value.kind is Kind.DATA_SCALAR:
        return DATA_SCALAR
    if value.kind in (Kind.SEQUENCE, Kind.SHAPE):
        if value.element is not None:
            return value.element
        if value.items:
            return join_all(value.items)
    return UNKNOWN


def join(a: Value, b: Value) -> Value:
    """The least value both ``a`` and ``b`` are (must-facts only: what differs is dropped)."""
    if a == b:
        return a
    if a.is_tensor and b.is_tensor:
        kind = a.kind if a.kind is b.kind else Kind.TENSOR
        same = a.param == b.param
        return Value(kind, a.param if same else None, a.dims if same else ())
    if a.kind is b.kind:
        kind = a.kind
        if kind is Kind.SIZE:
            return Value(kind, dim=a.dim if a.dim == b.dim else None)
        if kind is Kind.STATIC:
            return STATIC
        if kind in (Kind.SEQUENCE, Kind.SHAPE):
            items = None
            if a.items is not None and b.items is not None and len(a.items) == len(b.items):
                items = tuple(join(x, y) for x, y in zip(a.items, b.items, strict=True))
            # An empty list joined with a filled one (`parts = []` before a loop that appends).
            if a.items == ():
                element = element_of(b)
            elif b.items == ():
                element = element_of(a)
            else:
                element = join(element_of(a), element_of(b))
            same = a.param == b.param
            return Value(kind, a.param if same else None, a.dims if same else (), items=items, element=element)
        return UNKNOWN if kind in (Kind.MODULE, Kind.CALLABLE) else Value(kind)
    if {a.kind, b.kind} == {Kind.SIZE, Kind.STATIC}:
        return SIZE
    return UNKNOWN


def join_all(values) -> Value:
    values = list(values)
    if not values:
        return UNKNOWN
    result = values[0]
    for value in values[1:]:
        result = join(result, value)
    return result


def combine(left: Value, right: Value) -> Value:
    """The value of an arithmetic operation on two values (``a + b``, ``a * b``)."""
    kinds = {left.kind, right.kind}
    if Kind.DATA_SHAPED_TENSOR in kinds:
        return DATA_SHAPED
    if kinds & {Kind.TENSOR, Kind.BOOL_TENSOR}:
        return TENSOR
    if Kind.DATA_SCALAR in kinds:
        return DATA_SCALAR
    if Kind.UNKNOWN in kinds:
        return UNKNOWN
    if Kind.SIZE in kinds and kinds <= {Kind.SIZE, Kind.STATIC}:
        return SIZE
    if kinds == {Kind.STATIC}:
        return STATIC
    if kinds == {Kind.SEQUENCE}:
        return sequence_of(join(element_of(left), element_of(right)))
    return UNKNOWN
