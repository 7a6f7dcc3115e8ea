"""## What it does
Finds slices of a forward input along a dim declared dynamic with a named `Dim(...)` whose bound is
a rounded fraction of that dim's size: `x[: x.shape[0] // 2]`, `x[round(b / 2):]`,
`x[:, : math.ceil(n / 2)]`.

## Why is this bad?
Slicing guards that the bound lies inside the dim, and torch's symbolic reasoning cannot prove
`s // 2 <= s` for the declared range, so export rejects the range. Measured on torch 2.14.1 with
`Dim("batch")` (and with `min=4, max=64`), strict and non-strict:

    torch._dynamo.exc.UserError: Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
      - Not all values of batch = L['x'].size()[0] in the specified range satisfy the generated guard (L['x'].size()[0] // 2) <= L['x'].size()[0].

The same for `round(s / 2)`, `math.ceil(s / 2)`, `int(s / 2)` and for the start bound `x[s // 2:]`.
Slices by `s - 1` or literals (`x[1:]`) export, and `Dim.DYNAMIC` accepts the guard: neither is
reported. The same halves used as sizes (`x.new_zeros(s // 2)`) or in arithmetic export.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x[: x.shape[0] // 2]

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
```

## Use instead
`torch.narrow`/`split` hit the same guard. Either declare the dim with `Dim.DYNAMIC` (which lets
export narrow the range), or derive the dim from a half-size `Dim`:
```python
half = Dim("half")
torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: 2 * half}})
```

## Fix safety
No automatic fix: the right `Dim` depends on which sizes the model must accept.

## References
- Dynamic shapes, derived dims: https://pytorch.org/docs/stable/export.html#expressing-dynamism
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.analysis.values.lattice import DynamicDim
from export_lint.analysis.values.queries import FunctionValues
from export_lint.rule import Invalid, Rule, Valid

_ROUNDING_CALLS = frozenset({"round", "int", "math.ceil", "math.floor"})


class DynamicDimRoundedSlice(Rule):
    """A slice along a dynamic dim bounded by a rounded fraction of its size."""

    code = "EXP108"
    requires = ("export", "class")
    traced_only = True
    name = "dynamic-dim-rounded-slice"
    message = (
        "Slice bound `{bound}` is a rounded fraction of `{param}` dim {index}, declared dynamic as `{dim}`: "
        "torch.export cannot prove it in range (`Constraints violated`)"
    )

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x[: x.shape[0] - 1].sum() + x[1:].sum() + x[:, : x.shape[1] // 2].sum()

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", min=4, max=1024)}})
            """
        ),
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x[: x.shape[0] // 2]

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim.DYNAMIC}})
            """,
            requires_torch=">=2.6",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return x[: x.shape[0] // 2]

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Invalid(
            """
            import math

            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    n = x.size(1)
                    return x[:, math.ceil(n / 2) :] * 2

            torch.export.export(
                Model(), (torch.randn(2, 8),), dynamic_shapes={"x": {1: Dim("seq", min=4, max=64)}}, strict=True
            )
            """
        ),
    ]

    def visit_Subscript(self, node: cst.Subscript) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        found = flow.dynamic_input(node.value)
        if found is None:
            return
        param, dims = found
        for position, element in enumerate(node.slice):
            if isinstance(element.slice, cst.Index) and (
                isinstance(element.slice.value, cst.Ellipsis)
                or (isinstance(element.slice.value, cst.Name) and element.slice.value.value == "None")
            ):
                return  # positions after `...` or `None` are not dims of the input
            dim = dims.get(position)
            if dim is None or not dim.named or not isinstance(element.slice, cst.Slice):
                continue
            for bound in (element.slice.lower, element.slice.upper):
                if bound is not None and self._rounded_fraction(flow, bound, param, dim):
                    self.report(bound, bound=self.context.code(bound), param=param, index=dim.index, dim=dim.name)

    def _rounded_fraction(self, flow: FunctionValues, bound, param: str, dim: DynamicDim) -> bool:
        """``s // k``, ``round(s / k)``, ``math.ceil(s / k)``, ``int(s / k)`` of this very dim."""
        if isinstance(bound, cst.BinaryOperation) and isinstance(bound.operator, cst.FloorDivide):
            return flow.dynamic_size(bound.left) == (param, dim)
        if isinstance(bound, cst.Call) and self.semantic.qualified_name(bound.func) in _ROUNDING_CALLS:
            inner = bound.args[0].value if len(bound.args) == 1 else None
            return (
                isinstance(inner, cst.BinaryOperation)
                and isinstance(inner.operator, cst.Divide)
                and flow.dynamic_size(inner.left) == (param, dim)
            )
        return False
