"""## What it does
Finds Python `for` loops in traced code whose trip count comes from tensor data:
`range(n)` where `n` was read with `.item()`, `int(t)` or `.tolist()`, or is the size of a tensor
whose shape depends on data (`len(torch.nonzero(x))`, `x[x > 0].shape[0]`), and loops over such a
data-shaped tensor itself (`for row in torch.nonzero(x):`, also through `enumerate`, `zip` and
`reversed`).

## Why is this bad?
torch.export unrolls Python loops while tracing, so it needs the trip count as a plain int; a
count read from data is unknown then. Measured on torch 2.14.1 (scripts/measure_control_flow.py):

| construct | strict=True | strict=False |
|---|---|---|
| `for _ in range(n.item()):` | `UserError: Consider annotating your code using torch._check*(). Could not extract specialized integer from data-dependent expression u0` | `GuardOnDataDependentSymNode: Could not extract specialized integer from data-dependent expression u0` |
| `for i in range(len(torch.nonzero(x > 0))):` | `UserError: ... Could not extract specialized integer from data-dependent expression u0` | `GuardOnDataDependentSymNode` (same) |
| `for i, r in enumerate(x[x > 0]):`, `zip(x[x > 0], ...)`, `reversed(x[x > 0])` | `UserError: ... Could not extract specialized integer from data-dependent expression` | `GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 0)` |

Using the same numbers as sizes or slice bounds exports (`torch.zeros(n.item())`, `x[:n.item()]`,
`x.reshape(n.item(), -1)`), and `for v in t.tolist():` over a tensor of static length exports in
non-strict mode: those are not reported.

## Example
```python
class Model(torch.nn.Module):
    def forward(self, x, steps):
        for _ in range(steps.item()):
            x = x * 0.5
        return x
```

## Use instead
Express the repetition with tensor operations (`x * 0.5 ** steps`), make the count a Python
`int` argument (it is then a constant of the exported program), or use a static upper bound with
masking.
```python
class Model(torch.nn.Module):
    def forward(self, x, steps):
        return x * torch.pow(0.5, steps)
```

## Fix safety
No automatic fix: the loop body decides what the rewrite is.

## References
- torch.export, data-dependent values: https://pytorch.org/docs/stable/export.html
- ExportDB tag `torch.dynamic-value`
"""

from __future__ import annotations

import libcst as cst

from export_lint.analysis.values import guards, queries
from export_lint.analysis.values.lattice import Kind
from export_lint.analysis.values.queries import FunctionValues
from export_lint.rule import Invalid, Rule, Valid


class DataDependentLoop(Rule):
    """A Python loop whose trip count is read from tensor data in traced code."""

    code = "EXP302"
    requires = ("class",)
    traced_only = True
    name = "data-dependent-loop"
    message = "Loop over `{iterable}`, whose length is read from tensor data: torch.export cannot unroll it"

    VALID = [
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, n):
                    total = x.sum()
                    for v in n.tolist():
                        total = total + v
                    for i in range(x.shape[0]):
                        total = total + x[i].sum()
                    return total + torch.zeros(n.sum().item()).sum()

            torch.export.export(Model(), (torch.randn(3, 2), torch.tensor([1, 2])), strict=False)
            """
        ),
        Valid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, steps):
                    return x * torch.pow(0.5, steps)

            torch.export.export(Model(), (torch.randn(3), torch.tensor(3)))
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x, steps):
                    for _ in range(steps.item()):
                        x = x * 0.5
                    return x

            torch.export.export(Model(), (torch.randn(3), torch.tensor(3)))
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    idx = torch.nonzero(x > 0)
                    total = x.sum()
                    for i in range(len(idx)):
                        total = total + i
                    return total

            torch.export.export(Model(), (torch.randn(8),), strict=True)
            """
        ),
        Invalid(
            """
            import torch

            class Model(torch.nn.Module):
                def forward(self, x):
                    return sum(row.sum() for row in x.nonzero())

            torch.export.export(Model(), (torch.randn(4, 4),))
            """
        ),
    ]

    def visit_For(self, node: cst.For) -> None:
        self._check(node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._check(node.iter)

    def _check(self, iterable: cst.BaseExpression) -> None:
        flow = queries.function_values(self.semantic, self.context.torch_version)
        if flow is None or guards.guarded_by_compile_check(self.semantic):
            return
        if flow.kind(iterable) is Kind.DATA_SHAPED_TENSOR or self._data_dependent_range(flow, iterable):
            self.report(iterable, iterable=" ".join(self.context.code(iterable).split())[:60])

    def _data_dependent_range(self, flow: FunctionValues, iterable: cst.BaseExpression) -> bool:
        """``range(n.item())``; ``enumerate``/``zip``/``reversed`` of a data-shaped tensor."""
        if not isinstance(iterable, cst.Call):
            return False
        name = self.semantic.qualified_name(iterable.func)
        if name == "range":
            return any(flow.kind(arg.value) is Kind.DATA_SCALAR for arg in iterable.args)
        if name in ("enumerate", "zip", "reversed"):
            return any(flow.kind(arg.value) is Kind.DATA_SHAPED_TENSOR for arg in iterable.args)
        return False
