"""## What it does
Finds Python loops in a module's `forward` whose trip count is the size of a dim declared dynamic:
`for i in range(x.shape[0])`, `range(len(x))`, `range(b)` after `b, n = x.shape`, or iterating the
input itself (`for row in x`, also in comprehensions).

## Why is this bad?
Export unrolls Python loops, so the loop needs a concrete count and the dynamic dim is pinned to
the example's size. Measured on torch 2.14.1 with `Dim("batch", min=4, max=64)` and an example
batch of 8, strict and non-strict:

    torch._dynamo.exc.UserError: Constraints violated (batch)! For more information, run with TORCH_LOGS="+dynamic".
      - You marked batch as dynamic but your code specialized it to be a constant (8).

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return torch.stack([row.softmax(-1) for row in x])

torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
```

## Use instead
Batched tensor operations over the dynamic dim:
```python
class Model(torch.nn.Module):
    def forward(self, x):
        return x.softmax(-1)
```

## Fix safety
No automatic fix: vectorising a loop body is not mechanical.

## References
- Dynamic shapes: https://pytorch.org/docs/stable/export.html#expressing-dynamism
- ExportDB tag `python.control-flow`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import queries
from export_lint.analysis.values.lattice import SizeOf
from export_lint.analysis.values.queries import FunctionValues
from export_lint.rule import Invalid, Rule, Valid


class DynamicDimPythonLoop(Rule):
    """A Python loop over a dynamic dim in forward."""

    code = "EXP106"
    requires = ("export", "class")
    traced_only = True
    name = "dynamic-dim-python-loop"
    message = (
        "Loop over `{iterable}` unrolls `{param}` dim {index}, declared dynamic as `{dim}`: "
        "torch.export fails with `Constraints violated`"
    )

    VALID = [
        Valid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    total = x.sum(0)
                    for j in range(x.shape[1]):
                        total = total + x[:, j].sum()
                    return x.softmax(-1) + total

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch", max=1024)}})
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.stack([row.softmax(-1) for row in x])

            torch.export.export(Model(), (torch.randn(8, 4),))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    return torch.stack([row.softmax(-1) for row in x])

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes={"x": {0: Dim("batch")}})
            """
        ),
        Invalid(
            """
            import torch
            from torch.export import Dim

            class Model(torch.nn.Module):
                def forward(self, x):
                    b, n = x.shape
                    out = x[0]
                    for i in range(1, b):
                        out = out + x[i]
                    for i in range(len(x)):
                        out = out * 2
                    return out

            torch.export.export(Model(), (torch.randn(8, 4),), dynamic_shapes=({0: Dim("batch", min=4)},), strict=False)
            """,
            count=2,
        ),
    ]

    def visit_For(self, node: cst.For) -> None:
        self._check(node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._check(node.iter)

    def _check(self, iterable: cst.BaseExpression) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or not flow.dynamic:
            return
        found = _dynamic_leading_dim(flow, iterable)
        if (
            found is None
            and isinstance(iterable, cst.Call)
            and self.semantic.qualified_name(iterable.func) in {"range", "enumerate"}
        ):
            found = next((hit for arg in iterable.args for hit in [self._counted(flow, arg.value)] if hit), None)
        if found is not None:
            param, dim = found
            self.report(
                iterable,
                iterable=" ".join(self.context.code(iterable).split())[:60],
                param=param,
                index=dim.index,
                dim=dim.name,
            )

    def _counted(self, flow: FunctionValues, expr: cst.BaseExpression) -> SizeOf | None:
        size = flow.involves_dynamic_size(expr)
        if size is not None:
            return size
        return _dynamic_leading_dim(flow, expr)


def _dynamic_leading_dim(flow: FunctionValues, expr: cst.BaseExpression) -> SizeOf | None:
    """``(input, dim 0)`` when ``expr`` is an input whose dim 0 is dynamic (iterating it walks that dim)."""
    found = flow.dynamic_input(expr)
    if found is not None and 0 in found[1]:
        return found[0], found[1][0]
    return None
